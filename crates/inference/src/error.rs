//! Errors of this crate, each naming the file and what is wrong with it.

use std::path::PathBuf;

/// A weights bundle could not be read, verified or written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file of the bundle could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `manifest.json` is not valid JSON or lacks a field.
    #[error("{path}: not a valid rdpp manifest: {detail}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What the JSON parser said.
        detail: String,
    },
    /// The manifest is not an rdpp bundle.
    #[error("{path}: not an rdpp bundle (format is {found:?}, expected \"rdpp-bundle\")")]
    NotABundle {
        /// The manifest file.
        path: PathBuf,
        /// Its `format` field.
        found: String,
    },
    /// Written by a newer rdpp.
    #[error(
        "{path}: bundle format version {found} is newer than this rdpp understands (up to {supported}); upgrade rdpp"
    )]
    UnsupportedVersion {
        /// The manifest file.
        path: PathBuf,
        /// Version in the manifest.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
    /// The weights file does not match the manifest's checksum (corrupt or replaced).
    #[error(
        "{path}: sha256 mismatch (manifest says {expected}, file has {found}); the file is corrupt or does not belong to this bundle"
    )]
    Checksum {
        /// The weights file.
        path: PathBuf,
        /// From the manifest.
        expected: String,
        /// Computed.
        found: String,
    },
    /// The weights file is not valid safetensors.
    #[error("{path}: not a readable safetensors file: {detail}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Details.
        detail: String,
    },
    /// Tensors missing, unexpected or of the wrong shape for the manifest's architecture.
    #[error("{path}: weights do not fit a {backbone} RD++ model:\n{report}")]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// The architecture from the manifest.
        backbone: String,
        /// Missing / unexpected / mis-shaped tensors by name.
        report: String,
    },
    /// An invalid value in the manifest.
    #[error("{path}: {detail}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// PyTorch weights could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The `.pth` could not be read at all.
    #[error("{path}: cannot read as a PyTorch checkpoint: {detail}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        detail: String,
    },
    /// Readable, but not the expected state dict.
    #[error("{path}: does not fit {what}:\n{report}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What it was expected to hold (e.g. "a wide_resnet50_2 teacher").
        what: String,
        /// Missing / unexpected / mis-shaped tensors by name.
        report: String,
    },
}

/// The network could not score a batch of images.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferenceError {
    /// An image with no pixels.
    #[error("image {index} is empty ({width}×{height})")]
    EmptyImage {
        /// Its position in the batch.
        index: usize,
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// A pixel buffer whose length does not match its size.
    #[error("image {index}: {bytes} bytes for {width}×{height} RGB (expected {expected})")]
    BufferSize {
        /// Its position in the batch.
        index: usize,
        /// The buffer's length.
        bytes: usize,
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// `width × height × 3`.
        expected: usize,
    },
    /// Reading the maps back from the device failed (a lost GPU device, out of memory).
    #[error("reading the anomaly maps back from the device failed: {0}")]
    ReadBack(String),
    /// The device returned maps of an unexpected type or shape.
    #[error("the device returned unexpected map data: {0}")]
    MapData(String),
}
