//! # rdpp-model
//!
//! One definition of the RD++ network (Tien et al., CVPR 2023, "Revisiting Reverse Distillation
//! for Anomaly Detection") for every burn backend: training, the native CLI and the browser all
//! use these modules.
//!
//! - [`teacher`]: the frozen encoder E (`wide_resnet50_2`, `resnet18`, `efficientnet_lite0`,
//!   `efficientnet_lite2`).
//! - [`projection`]: RD++'s feature projection P.
//! - [`bottleneck`]: the OCBE (multi-scale fusion + one-class embedding).
//! - [`decoder`]: the student decoder D.
//! - [`rdpp`]: the assembled model.
//! - [`fold`]: its inference form (BatchNorms folded into the convolutions).
//! - [`conv`]: how every convolution runs (burn's, or one GEMM per image on the CPU).
//! - [`anomaly_map`]: per-scale distances and the official map post-processing.
//! - [`preprocess`]: the official image preprocessing (OpenCV-exact resize, normalization).
//!
//! Module field names mirror the official PyTorch state dicts so weights load by name.
#![warn(missing_docs)]

extern crate alloc;

pub mod anomaly_map;
pub mod blocks;
pub mod bottleneck;
pub mod conv;
pub mod decoder;
pub mod fold;
pub mod preprocess;
pub mod projection;
pub mod rdpp;
pub mod teacher;

pub use burn;
pub use fold::FoldBatchNorm;
pub use rdpp::{Rdpp, RdppConfig, RdppFeatures};
pub use teacher::{Backbone, Normalization};
