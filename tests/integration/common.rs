//! Shared helpers: fixture paths, formula weights under official names, tolerances.

use std::path::PathBuf;

use rdpp_model::burn::prelude::*;
use rdpp_model::{Backbone, Rdpp, RdppConfig};
use rdpp_testkit::fill_official_formula;
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    // From the environment `cargo test` sets, so a build cache shared between checkouts never
    // points at another checkout's files.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

/// Build a model of `backbone` whose every weight comes from the formula through the official
/// names (exercising the same renaming as the `.pth` importers). Panics with the report when
/// anything is missing, unexpected or mis-shaped.
pub fn formula_model(backbone: Backbone, keys_json: &Value, device: &Device) -> Rdpp {
    let mut model = RdppConfig::new(backbone).init(device);
    fill_official_formula(&mut model, backbone, keys_json).unwrap_or_else(|e| panic!("{e}"));
    model
}

/// max |a − b| / max |b|: the relative error measure of the parity suite.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs() as f64))
        .max(1e-12);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    diff / scale
}

/// Same for f64 data.
pub fn rel_err64(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// Device tensor → host f32 values.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}
