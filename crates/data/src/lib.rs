//! Data for RD++: MVTec AD, BTAD and plain-folder layouts, in-memory loading with the official
//! preprocessing, the official pseudo-anomaly noise, and a synthetic defect data set generator.
//!
//! * [`scan`] lists a data set's files for a [`Layout`] (docs/method.md §9) into a
//!   [`DatasetIndex`];
//! * [`load_train`] / [`load_test`] decode them in parallel, resize them as the official code does
//!   (images: OpenCV-exact bilinear to `[0, 1]`; masks: Pillow's antialiased bilinear, then
//!   `> 0.5`) and keep them in memory as f32;
//! * [`add_pseudo_anomaly`] adds the RD++ training noise (docs/method.md §7.2) with an
//!   [`OpenSimplex`] port that matches the official values;
//! * [`synthetic::generate`] writes a small procedural data set in the MVTec AD layout, and
//!   [`synthetic::generate_from_texture`] one made from a texture photo.
//!
//! Random draws come from a caller-supplied [`rand_core::RngCore`]; [`rng::seeded`] gives
//! value-stable ChaCha8 streams.

#![warn(missing_docs)]

pub mod error;
pub mod layout;
pub mod load;
pub mod mask;
pub mod pseudo;
pub mod rng;
pub mod simplex;
pub mod synthetic;

/// A file under this crate's `tests/data/`. The directory comes from the environment `cargo test`
/// sets when it runs the tests, so a build cache shared between checkouts never points a test at
/// another checkout's files; the compile-time value is the fallback.
#[cfg(test)]
pub(crate) fn test_data(name: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        )
        .join("tests/data")
        .join(name)
}

pub use error::DataError;
pub use layout::{DatasetIndex, Layout, TestSample, scan, scan_labelled};
pub use load::{
    LoadReport, LoadedImage, LoadedSample, load_image, load_images, load_masks, load_test,
    load_train,
};
pub use mask::{read_mask, read_mask_u8};
pub use pseudo::{NoiseRect, add_pseudo_anomaly};
pub use rand_chacha::ChaCha8Rng;
pub use rand_core;
pub use rdpp_inference::image_io::DecodeLimits;
pub use simplex::OpenSimplex;
pub use synthetic::{
    DefectKind, GeneratedDataset, SyntheticKind, SyntheticSpec, generate, generate_from_texture,
};

/// File extensions (compared without case) that scanning treats as images.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"];
