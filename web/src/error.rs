//! Every failure the page can show, each with what went wrong and what to do. JavaScript
//! exceptions and library errors are converted here, in one place.

use rdpp_inference::error::{BundleError, InferenceError};
use rdpp_inference::image_io::ImageError;

/// An error shown to the user; the page keeps working after any of them.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A request failed before an answer came (offline, blocked, CORS).
    #[error("{url}: could not be fetched ({detail})")]
    Network {
        /// The URL.
        url: String,
        /// The browser's message.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status}{hint}")]
    Http {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// A hint for common statuses.
        hint: &'static str,
    },
    /// The site's model list is unreadable.
    #[error("{url}: not a usable model list: {detail}")]
    Catalog {
        /// Its URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// A bundle manifest names a file outside its folder.
    #[error(
        "the bundle names its weights file {name:?}; only a plain file name in the bundle's folder is allowed"
    )]
    BadBundleFile {
        /// The name in the manifest.
        name: String,
    },
    /// Manifest, checksum or weights problem (shared with the CLI).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Files dropped as a model are not a complete bundle.
    #[error("{0}")]
    DroppedBundle(String),
    /// An image could not be decoded (shared with the CLI).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The GPU could not run the model.
    #[error("{0}")]
    Gpu(String),
    /// The network or post-processing failed (shared with the CLI).
    #[error("running the model failed: {0}")]
    Inference(#[from] InferenceError),
    /// The network returned no result for an image.
    #[error("running the model failed: it returned no result")]
    NoResult,
    /// A browser API is missing or refused.
    #[error("{0}")]
    Browser(String),
}

impl AppError {
    /// An HTTP error status with a hint.
    pub fn http(url: &str, status: u16) -> Self {
        let hint = match status {
            404 => {
                " (not found: check the URL; a bundle folder holds manifest.json and model.safetensors)"
            }
            401 | 403 => " (access denied)",
            500..=599 => " (server error; try again later)",
            _ => "",
        };
        AppError::Http {
            url: url.to_owned(),
            status,
            hint,
        }
    }
}

/// A JavaScript exception as text (its `message` when it is an `Error`).
pub fn js_message(v: &wasm_bindgen::JsValue) -> String {
    if let Some(e) = wasm_bindgen::JsCast::dyn_ref::<js_sys::Error>(v) {
        return String::from(e.message());
    }
    v.as_string().unwrap_or_else(|| format!("{v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn http_errors_say_what_to_do() {
        let e = AppError::http("https://x/m/manifest.json", 404).to_string();
        assert!(
            e.contains("404") && e.contains("manifest.json and model.safetensors"),
            "{e}"
        );
        assert!(AppError::http("u", 503).to_string().contains("try again"));
    }
}
