//! The rdpp demo site: drop images, see RD++ anomaly heatmaps computed in the browser on WebGPU
//! (or the CPU), with the same model crate and bundle loader as the command line.
//!
//! - [`analysis`]: verdicts, heatmap colours, contours, CSV (pure, tested natively);
//! - [`catalog`]: the site's model list and bundle URLs;
//! - [`engine`]: backend choice, model loading, scoring;
//! - [`net`]: fetch with progress, Cache Storage, downloads;
//! - [`app`]: the Leptos page.

pub mod analysis;
pub mod app;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod net;

pub use app::mount;
