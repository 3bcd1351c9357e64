//! The site's model list (`models/manifest.json`) and where a bundle's files live.
//!
//! ```text
//! models/manifest.json   {"format": "rdpp-models", "version": 1, "default": "brick",
//!                         "models": [{"id": "brick", "name": ..., "description": ...,
//!                                     "bundle": "brick/", "bytes": 3400000,
//!                                     "samples": [{"image": "samples/brick/defect_000.png",
//!                                                  "mask": "...", "label": "defect"}]}]}
//! models/brick/manifest.json + model.safetensors   an rdpp bundle (crates/inference)
//! ```
//! Paths in the list are relative to the list's own URL's folder (bundles) or to the site root
//! (samples), so the site works under any sub-path.

use serde::Deserialize;

use crate::error::AppError;

/// `format` of the site's model list.
pub const CATALOG_FORMAT: &str = "rdpp-models";
/// Highest list version this build reads.
pub const CATALOG_VERSION: u32 = 1;

/// The site's model list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Catalog {
    /// Always [`CATALOG_FORMAT`].
    pub format: String,
    /// List version.
    pub version: u32,
    /// Id of the preselected model.
    #[serde(default)]
    pub default: Option<String>,
    /// The models.
    pub models: Vec<CatalogModel>,
}

/// One model of the list.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct CatalogModel {
    /// Short id (also the `?model=` shorthand).
    pub id: String,
    /// Display name.
    pub name: String,
    /// One line on what it detects and how it was made.
    #[serde(default)]
    pub description: String,
    /// Bundle folder relative to the list (ends with `/`).
    pub bundle: String,
    /// Weights size in bytes (shown before download).
    #[serde(default)]
    pub bytes: u64,
    /// Sample images shipped with the site.
    #[serde(default)]
    pub samples: Vec<Sample>,
}

/// A sample image of a model's category.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Sample {
    /// Image path relative to the site root.
    pub image: String,
    /// Ground-truth mask, for defective samples.
    #[serde(default)]
    pub mask: Option<String>,
    /// "good" or "defect".
    pub label: String,
    /// Score recorded when the bundle was built (checked by the tests).
    #[serde(default)]
    pub score: Option<f64>,
}

impl Catalog {
    /// Parse and check the list; `url` only labels errors.
    pub fn parse(bytes: &[u8], url: &str) -> Result<Catalog, AppError> {
        let c: Catalog = serde_json::from_slice(bytes).map_err(|e| AppError::Catalog {
            url: url.to_owned(),
            detail: e.to_string(),
        })?;
        if c.format != CATALOG_FORMAT {
            return Err(AppError::Catalog {
                url: url.to_owned(),
                detail: format!("format is {:?}, expected {CATALOG_FORMAT:?}", c.format),
            });
        }
        if c.version > CATALOG_VERSION {
            return Err(AppError::Catalog {
                url: url.to_owned(),
                detail: format!(
                    "version {} is newer than this page reads (up to {CATALOG_VERSION}); reload the page",
                    c.version
                ),
            });
        }
        Ok(c)
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The preselected model: the list's default, else the first.
    pub fn default_model(&self) -> Option<&CatalogModel> {
        self.default
            .as_deref()
            .and_then(|id| self.model(id))
            .or_else(|| self.models.first())
    }
}

/// Where a bundle's manifest is, and the folder its weights file is relative to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleLocation {
    /// URL of `manifest.json`.
    pub manifest_url: String,
    /// Folder URL (ends with `/`).
    pub base_url: String,
}

impl BundleLocation {
    /// A bundle given as a folder URL (`…/brick/` or `…/brick`) or as its `manifest.json` URL.
    pub fn from_url(url: &str) -> Self {
        let url = url.trim();
        if url.ends_with(".json") {
            let base = match url.rfind('/') {
                Some(i) => url[..=i].to_owned(),
                None => String::new(),
            };
            Self {
                manifest_url: url.to_owned(),
                base_url: base,
            }
        } else {
            let base = if url.ends_with('/') {
                url.to_owned()
            } else {
                format!("{url}/")
            };
            Self {
                manifest_url: format!("{base}manifest.json"),
                base_url: base,
            }
        }
    }

    /// URL of a file named in the bundle's manifest. Names with a path or a scheme are refused:
    /// a manifest must not send the page elsewhere.
    pub fn file_url(&self, name: &str) -> Result<String, AppError> {
        if name.is_empty()
            || name.contains('/')
            || name.contains('\\')
            || name.contains(':')
            || name.starts_with('.')
        {
            return Err(AppError::BadBundleFile {
                name: name.to_owned(),
            });
        }
        Ok(format!("{}{}", self.base_url, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    const LIST: &str = r#"{"format":"rdpp-models","version":1,"default":"b",
        "models":[{"id":"a","name":"A","bundle":"a/"},
                  {"id":"b","name":"B","bundle":"b/","bytes":12,
                   "samples":[{"image":"samples/b/d.png","mask":"samples/b/d_mask.png","label":"defect","score":0.5}]}]}"#;

    #[wasm_bindgen_test(unsupported = test)]
    fn list_parses_and_picks_its_default() {
        let c = Catalog::parse(LIST.as_bytes(), "models/manifest.json").unwrap();
        assert_eq!(c.default_model().unwrap().id, "b");
        assert_eq!(c.models[1].samples[0].score, Some(0.5));
        let no_default = LIST.replace("\"default\":\"b\",", "");
        let c = Catalog::parse(no_default.as_bytes(), "x").unwrap();
        assert_eq!(c.default_model().unwrap().id, "a");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn foreign_or_newer_lists_are_refused_with_the_reason() {
        let other = LIST.replace("rdpp-models", "something");
        let e = Catalog::parse(other.as_bytes(), "u")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected \"rdpp-models\""), "{e}");
        let newer = LIST.replace("\"version\":1", "\"version\":9");
        let e = Catalog::parse(newer.as_bytes(), "u")
            .unwrap_err()
            .to_string();
        assert!(e.contains("newer"), "{e}");
        let e = Catalog::parse(b"<html>", "u").unwrap_err().to_string();
        assert!(e.starts_with("u:"), "{e}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bundle_urls_from_folder_or_manifest() {
        let a = BundleLocation::from_url("https://x.org/m/brick");
        assert_eq!(a.manifest_url, "https://x.org/m/brick/manifest.json");
        assert_eq!(
            a.file_url("model.safetensors").unwrap(),
            "https://x.org/m/brick/model.safetensors"
        );
        let b = BundleLocation::from_url("models/brick/manifest.json");
        assert_eq!(b.base_url, "models/brick/");
        // A folder with or without its trailing slash: the same, known, location.
        let folder = BundleLocation {
            manifest_url: "models/brick/manifest.json".into(),
            base_url: "models/brick/".into(),
        };
        assert_eq!(BundleLocation::from_url("models/brick/"), folder);
        assert_eq!(BundleLocation::from_url("models/brick"), folder);
        assert_eq!(b, folder);
        for bad in ["../x", "a/b", "https://evil/x", ""] {
            assert!(b.file_url(bad).is_err(), "{bad}");
        }
    }
}
