//! # rdpp-inference
//!
//! Everything around the RD++ network that turns files into answers: the weights bundle format
//! ([`bundle`]), importers for the official PyTorch weights ([`import`], native only), the naming
//! bridge between PyTorch state dicts and the model ([`weights`]), image decoding that refuses
//! bad input with a clear message ([`image_io`]), heatmap rendering ([`overlay`]), the detector
//! that runs a model on images ([`engine`]: the one inference path of the CLI, the page, the
//! trainer's evaluation and the tests), what a score means ([`verdict`]: the verdict words and
//! `scores.csv`), and the compute backends by name ([`backend`]).
#![warn(missing_docs)]

pub mod backend;
pub mod bundle;
pub mod engine;
pub mod error;
pub mod image_io;
#[cfg(feature = "pytorch")]
pub mod import;
pub mod overlay;
pub mod verdict;
pub mod weights;

pub use backend::{Backend, BackendError};
pub use bundle::{Calibration, Manifest, Provenance, WeightsDType};
pub use engine::{Detection, Detector, RgbView};
pub use error::{BundleError, ImportError, InferenceError};
pub use rdpp_model;
pub use verdict::{ScoreRow, Verdict};
