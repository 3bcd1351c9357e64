//! The rdpp weights bundle: a folder with `manifest.json` and one safetensors file.
//!
//! ```text
//! BUNDLE_DIR/
//!   manifest.json        what the model is, how to preprocess, calibration, provenance, sha256
//!   model.safetensors    all weights (teacher included), f32 or f16, burn module paths
//! ```
//!
//! The manifest is checked before anything is loaded (format, version, backbone, input size),
//! then the weights' sha256, then every tensor's name and shape. Loading works from bytes, so the
//! browser uses the same code as the CLI.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{HalfPrecisionAdapter, ModuleStore, SafetensorsStore};
use burn::tensor::DType;
use rdpp_model::{Backbone, Rdpp, RdppConfig};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BundleError;
use crate::weights::{LoadReport, apply_named};

/// The `format` string every manifest carries.
pub const FORMAT: &str = "rdpp-bundle";
/// Highest manifest version this build reads (and the one it writes).
pub const FORMAT_VERSION: u32 = 1;
/// File name of the manifest inside a bundle folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Default file name of the weights.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Storage precision of the weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum WeightsDType {
    /// 32-bit floats (exact).
    F32,
    /// 16-bit floats (half the size; BatchNorm statistics stay f32). Loaded as f32.
    F16,
}

/// The weights file entry of the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsEntry {
    /// File name relative to the bundle folder.
    pub file: String,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Storage precision.
    pub dtype: WeightsDType,
}

/// How to put raw anomaly maps and scores on a fixed, meaningful scale. Computed from held-out
/// normal images only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Image-score threshold: scores above it are flagged as anomalous.
    pub image_threshold: f64,
    /// Map value shown as "cold" (e.g. a low quantile of normal pixel scores).
    pub map_low: f64,
    /// Map value shown as "hot" (e.g. a high quantile of normal pixel scores).
    pub map_high: f64,
    /// How the numbers were obtained (e.g. "p99.5 of 40 held-out normal images").
    pub method: String,
}

impl Calibration {
    /// `(map_low, map_high)`: the colour range of heatmaps (see `overlay::display_range`).
    pub fn map_range(&self) -> (f64, f64) {
        (self.map_low, self.map_high)
    }
}

/// Where the weights came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Tool and version that wrote the bundle (e.g. "rdpp 0.1.0").
    pub created_by: String,
    /// How it was made ("import", "training", ...).
    pub source: String,
    /// Input files with their sha256, when imported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputFile>,
    /// Dataset and category, when trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Free-form details (training epochs, metrics, licence notes, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// An input file of an import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// Its role ("teacher", "checkpoint").
    pub role: String,
    /// File name as given.
    pub name: String,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// Short display name.
    pub name: String,
    /// Teacher backbone; the rest of the architecture follows from it.
    pub backbone: Backbone,
    /// Square input size in pixels (the map has this size too).
    pub input_size: usize,
    /// The weights file.
    pub weights: WeightsEntry,
    /// Score calibration, when the bundle was calibrated.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// Where it came from.
    #[serde(default)]
    pub provenance: Provenance,
}

impl Manifest {
    /// Parse and validate a manifest. `path` only labels errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, BundleError> {
        // Look at format/version first, so a newer bundle gets "upgrade" rather than a parse error
        // about a field this build does not know.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Manifest {
                path: path.into(),
                detail: e.to_string(),
            })?;
        let format = value
            .get("format")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if format != FORMAT {
            return Err(BundleError::NotABundle {
                path: path.into(),
                found: format,
            });
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v > FORMAT_VERSION as u64 => {
                return Err(BundleError::UnsupportedVersion {
                    path: path.into(),
                    found: v.min(u32::MAX as u64) as u32,
                    supported: FORMAT_VERSION,
                });
            }
            _ => {}
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| BundleError::Manifest {
            path: path.into(),
            detail: e.to_string(),
        })?;
        if !(32..=4096).contains(&m.input_size) || m.input_size % 32 != 0 {
            return Err(BundleError::Invalid {
                path: path.into(),
                detail: format!(
                    "input_size {} is not supported (a multiple of 32 between 32 and 4096)",
                    m.input_size
                ),
            });
        }
        if m.weights.file.contains('/')
            || m.weights.file.contains('\\')
            || m.weights.file.starts_with('.')
        {
            return Err(BundleError::Invalid {
                path: path.into(),
                detail: format!(
                    "weights file {:?} must be a plain file name inside the bundle",
                    m.weights.file
                ),
            });
        }
        Ok(m)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Load the weights described by `manifest` from `bytes` into a new model on `device`.
/// Checks the sha256, then that every parameter is present with the right shape and nothing else
/// is in the file.
pub fn load_model(
    manifest: &Manifest,
    bytes: Vec<u8>,
    weights_path: &Path,
    device: &Device,
) -> Result<Rdpp, BundleError> {
    let found = sha256_hex(&bytes);
    if found != manifest.weights.sha256.to_ascii_lowercase() {
        return Err(BundleError::Checksum {
            path: weights_path.into(),
            expected: manifest.weights.sha256.clone(),
            found,
        });
    }
    // Read the tensors first so a malformed file is reported as such.
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).skip_enum_variants(true);
    let tensors: Vec<_> = store
        .get_all_tensors()
        .map_err(|e| BundleError::Weights {
            path: weights_path.into(),
            detail: e.to_string(),
        })?
        .values()
        .cloned()
        .collect();
    let mut model = RdppConfig::new(manifest.backbone).init(device);
    let report = apply_f32(&mut model, tensors);
    if !report.is_complete() {
        return Err(BundleError::Mismatch {
            path: weights_path.into(),
            backbone: manifest.backbone.to_string(),
            report: report.problems(10),
        });
    }
    Ok(model)
}

/// Apply bundle tensors (burn names), converting f16 storage to f32 first.
fn apply_f32(model: &mut Rdpp, tensors: Vec<burn::store::burn_pack::Tensor>) -> LoadReport {
    let mut converted = Vec::with_capacity(tensors.len());
    let mut report = LoadReport::default();
    for t in tensors {
        match to_f32(t) {
            Ok(t) => converted.push(t),
            Err(msg) => report.mismatched.push(msg),
        }
    }
    let applied = apply_named(model, converted, None, false);
    report.applied = applied.applied;
    report.missing = applied.missing;
    report.unexpected = applied.unexpected;
    report.mismatched.extend(applied.mismatched);
    report
}

/// f16 tensors → f32 (the CPU backends compute in f32; a half tensor in an f32 model panics
/// there).
fn to_f32(t: burn::store::burn_pack::Tensor) -> Result<burn::store::burn_pack::Tensor, String> {
    use burn::store::burn_pack::{Bytes, Tensor as PackTensor};
    match t.dtype {
        DType::F32 => Ok(t),
        DType::F16 => {
            let name = t.name.clone();
            let (name, _, shape, id, bytes) = t
                .into_parts()
                .map_err(|e| format!("{name}: unreadable data: {e}"))?;
            let mut out = Vec::with_capacity(bytes.len() * 2);
            for c in bytes.chunks_exact(2) {
                let v = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                out.extend_from_slice(&v.to_le_bytes());
            }
            Ok(PackTensor::new(
                name,
                DType::F32,
                shape,
                id,
                Bytes::from_bytes_vec(out),
            ))
        }
        other => Err(format!(
            "{}: unsupported dtype {other:?} (expected f32 or f16)",
            t.name
        )),
    }
}

/// Serialize a model's weights to safetensors bytes.
pub fn weights_to_bytes(model: &Rdpp, dtype: WeightsDType) -> Result<Vec<u8>, BundleError> {
    let mut store = SafetensorsStore::from_bytes(None).skip_enum_variants(true);
    if dtype == WeightsDType::F16 {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    store
        .collect_from(model)
        .map_err(|e| BundleError::Weights {
            path: PathBuf::from(WEIGHTS_FILE),
            detail: e.to_string(),
        })?;
    let bytes = store.get_bytes().map_err(|e| BundleError::Weights {
        path: PathBuf::from(WEIGHTS_FILE),
        detail: e.to_string(),
    })?;
    Ok(canonical_metadata(bytes))
}

/// burn's safetensors writer emits the header's `__metadata__` entries from a hash map, in an
/// order that changes from process to process, so the same weights would get another sha256 on
/// every export. Rewrite that object with its entries sorted (same length, nothing else moves).
fn canonical_metadata(mut bytes: Vec<u8>) -> Vec<u8> {
    const KEY: &str = "\"__metadata__\":";
    let Some(n) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes
        .get(8..8 + n)
        .and_then(|h| std::str::from_utf8(h).ok())
    else {
        return bytes;
    };
    let Some(start) = header.find(KEY).map(|i| i + KEY.len()) else {
        return bytes;
    };
    let Some(len) = header[start..].find('}').map(|i| i + 1) else {
        return bytes;
    };
    let object = &header[start..start + len];
    let Ok(entries) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(object)
    else {
        return bytes;
    };
    let Ok(sorted) = serde_json::to_string(&entries) else {
        return bytes;
    };
    if sorted.len() == len {
        bytes[8 + start..8 + start + len].copy_from_slice(sorted.as_bytes());
    }
    bytes
}

/// Build a manifest for weights bytes.
pub fn manifest_for(
    name: &str,
    backbone: Backbone,
    input_size: usize,
    weights: &[u8],
    dtype: WeightsDType,
    calibration: Option<Calibration>,
    provenance: Provenance,
) -> Manifest {
    Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        name: name.into(),
        backbone,
        input_size,
        weights: WeightsEntry {
            file: WEIGHTS_FILE.into(),
            sha256: sha256_hex(weights),
            bytes: weights.len() as u64,
            dtype,
        },
        calibration,
        provenance,
    }
}

/// A bundle read from disk.
#[cfg(feature = "std")]
pub struct Bundle {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The loaded model.
    pub model: Rdpp,
}

#[cfg(feature = "std")]
fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|source| BundleError::Io {
        path: path.into(),
        source,
    })
}

/// Read only the manifest of a bundle folder (or a `manifest.json` path).
#[cfg(feature = "std")]
pub fn read_manifest(dir: &Path) -> Result<(PathBuf, Manifest), BundleError> {
    let (dir, path) = if dir.is_file() {
        (
            dir.parent().unwrap_or(Path::new(".")).to_path_buf(),
            dir.to_path_buf(),
        )
    } else {
        (dir.to_path_buf(), dir.join(MANIFEST_FILE))
    };
    let bytes = read(&path)?;
    Ok((dir, Manifest::parse(&bytes, &path)?))
}

/// Read and verify a bundle folder and load its model on `device`.
#[cfg(feature = "std")]
pub fn load_bundle(dir: &Path, device: &Device) -> Result<Bundle, BundleError> {
    let (dir, manifest) = read_manifest(dir)?;
    let weights_path = dir.join(&manifest.weights.file);
    let bytes = read(&weights_path)?;
    let model = load_model(&manifest, bytes, &weights_path, device)?;
    Ok(Bundle {
        dir,
        manifest,
        model,
    })
}

/// Write a bundle folder atomically per file (temp file + rename), weights first, manifest last,
/// so a half-written bundle never has a manifest that vouches for it.
#[cfg(feature = "std")]
pub fn write_bundle(dir: &Path, manifest: &Manifest, weights: &[u8]) -> Result<(), BundleError> {
    std::fs::create_dir_all(dir).map_err(|source| BundleError::Io {
        path: dir.into(),
        source,
    })?;
    write_atomic(&dir.join(&manifest.weights.file), weights)?;
    write_atomic(&dir.join(MANIFEST_FILE), manifest.to_json().as_bytes())
}

#[cfg(feature = "std")]
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let tmp = path.with_extension("partial");
    let io = |source| BundleError::Io {
        path: path.into(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
