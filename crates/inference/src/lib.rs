//! # rdpp-inference
//!
//! Everything around the RD++ network that turns files into answers: the weights bundle format
//! ([`bundle`]), importers for the official PyTorch weights ([`import`], native only), the naming
//! bridge between PyTorch state dicts and the model ([`weights`]), image decoding that refuses
//! bad input with a clear message ([`image_io`]), heatmap rendering ([`overlay`]) and the
//! detector that runs a model on images ([`engine`]); [`measure`] serves the benchmark commands.
#![warn(missing_docs)]

pub mod bundle;
pub mod engine;
pub mod error;
pub mod image_io;
#[cfg(feature = "pytorch")]
pub mod import;
pub mod measure;
pub mod overlay;
pub mod synthetic;
pub mod weights;

pub use bundle::{Calibration, Manifest, Provenance, WeightsDType};
pub use engine::{Detection, Detector, RgbView};
pub use error::{BundleError, ImportError};
pub use rdpp_model;
