//! Shared helpers: fixture paths, formula weights under official names, tolerances.

use std::path::PathBuf;

use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use rdpp_inference::synthetic::formula_tensor;
use rdpp_inference::weights::{StateDict, apply_official};
use rdpp_model::burn;
use rdpp_model::burn::prelude::*;
use rdpp_model::{Backbone, Rdpp, RdppConfig};
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(rel)
}

/// Tensors of one official state dict, with values from the shared formula, named as PyTorch
/// names them (`keys` from the fixture's `.keys.json`).
pub fn formula_state_dict(prefix: &str, keys: &[Value]) -> Vec<PackTensor> {
    let mut out = Vec::new();
    for entry in keys {
        let key = entry["key"].as_str().expect("key is a string");
        let shape: Vec<usize> = entry["shape"]
            .as_array()
            .expect("shape is an array")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let Some(values) = formula_tensor(&format!("{prefix}.{key}"), &shape) else {
            continue; // num_batches_tracked: not a float weight
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.push(PackTensor::new(
            key.to_string(),
            DType::F32,
            shape,
            None,
            Bytes::from_bytes_vec(bytes),
        ));
    }
    out
}

/// Build a model of `backbone` whose every weight comes from the formula through the official
/// names (exercising the same renaming as the `.pth` importers). Panics with the report when
/// anything is missing, unexpected or mis-shaped.
pub fn formula_model(backbone: Backbone, keys_json: &Value, device: &Device) -> Rdpp {
    let mut model = RdppConfig::new(backbone).init(device);
    let parts = [
        (StateDict::Teacher(backbone), "teacher"),
        (StateDict::Projection, "proj"),
        (StateDict::Bottleneck, "bn"),
        (StateDict::Decoder, "decoder"),
    ];
    for (part, prefix) in parts {
        let keys = keys_json[prefix]
            .as_array()
            .unwrap_or_else(|| panic!("keys.json has no {prefix}"));
        let report = apply_official(&mut model, part, formula_state_dict(prefix, keys));
        assert!(report.is_complete(), "{prefix}: {}", report.problems(20));
        assert!(report.applied > 0, "{prefix}: nothing applied");
    }
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
