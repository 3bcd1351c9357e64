//! # rdpp-training
//!
//! Native RD++ training (docs/method.md §7): a frozen teacher, the projection, OCBE and decoder
//! trained with two Adam optimizers and gradient accumulation on the four losses;
//! pseudo-anomalies from 3-D simplex noise; atomic checkpoints with exact resume; calibration on
//! held-out normal images; export as an rdpp bundle.
#![warn(missing_docs)]

pub mod config;
pub mod losses;
pub mod noise;
pub mod pipeline;
pub mod sinkhorn;
pub mod trainer;

pub use config::TrainConfig;
