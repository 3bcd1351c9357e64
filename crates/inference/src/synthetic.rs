//! Deterministic weights from a formula that the Python reference computes identically
//! (`tests/parity/make_fixtures.py`). They let the parity suite check the full-width network
//! against PyTorch without committing hundreds of megabytes of weights, and give benchmarks a
//! model when no trained bundle is at hand.
//!
//! For a tensor named `name` (PyTorch key with a part prefix, e.g. `teacher.conv1.weight`,
//! `bn.bn_layer.0.conv1.weight`) and flat index `i`:
//! `z = splitmix64(fnv1a64(name) + (i+1)·φ)`, `u = (z >> 40) / 2²⁴`, `r = 2u − 1`; the value depends
//! on the tensor's role (see [`formula_value`]).

/// FNV-1a, 64 bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Uniform value in [0, 1) (24-bit resolution, exact in f32 and f64) for element `i`.
pub fn uniform(seed: u64, i: u64) -> f64 {
    let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f64 / (1u64 << 24) as f64
}

/// The value of element `i` of tensor `name` with `shape`, or `None` for tensors outside the
/// formula (`num_batches_tracked`).
pub fn formula_value(name: &str, shape: &[usize], seed: u64, i: u64) -> Option<f64> {
    if name.ends_with("num_batches_tracked") {
        return None;
    }
    let u = uniform(seed, i);
    let r = 2.0 * u - 1.0;
    Some(if name.ends_with("running_mean") {
        0.1 * r
    } else if name.ends_with("running_var") {
        1.0 + 0.5 * u
    } else if shape.len() == 4 {
        r * (3.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt()
    } else if name.ends_with(".weight") {
        1.0 + 0.1 * r
    } else {
        0.1 * r
    })
}

/// A whole f32 tensor from the formula (`None` for tensors outside it).
pub fn formula_tensor(name: &str, shape: &[usize]) -> Option<Vec<f32>> {
    let seed = fnv1a64(name.as_bytes());
    let n: usize = shape.iter().product();
    (0..n as u64)
        .map(|i| formula_value(name, shape, seed, i).map(|v| v as f32))
        .collect()
}

/// Give every parameter of `model` a formula value, keyed by its module path (BatchNorm's
/// `gamma/beta` follow the `weight/bias` rules). A randomly initialised RD++ is badly conditioned
/// (activations vanish through the teacher, then InstanceNorm amplifies rounding noise); these
/// weights keep every stage at a sane scale, which tests that compare backends need.
pub fn fill_with_formula(model: &mut rdpp_model::Rdpp) {
    use burn::store::ModuleSnapshot;
    use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
    use rdpp_model::burn;

    let tensors: Vec<PackTensor> = model
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let rule_name = t
                .name
                .replace(".gamma", ".weight")
                .replace(".beta", ".bias");
            let shape: Vec<usize> = t.shape.to_vec();
            let values = formula_tensor(&rule_name, &shape).unwrap_or_default();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            PackTensor::new(
                t.name,
                DType::F32,
                shape,
                None,
                Bytes::from_bytes_vec(bytes),
            )
        })
        .collect();
    let report = crate::weights::apply_named(model, tensors, None, false);
    debug_assert!(report.is_complete(), "{}", report.problems(5));
}

/// Fill every weight of `model` from the formula through the official PyTorch names listed in a
/// parity key file (`tests/parity/make_fixtures.py` writes `<backbone>.keys.json`: per state dict
/// `teacher`, `proj`, `bn`, `decoder`, entries `{"key", "shape"}`). This goes through the same
/// renaming as the `.pth` importers and gives exactly the values the PyTorch reference fills.
///
/// # Errors
/// A malformed key list, or keys that do not fit this backbone (the load report, by name).
pub fn fill_official_formula(
    model: &mut rdpp_model::Rdpp,
    backbone: rdpp_model::Backbone,
    keys: &serde_json::Value,
) -> Result<(), String> {
    use crate::weights::{StateDict, apply_official};
    use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
    use rdpp_model::burn;

    let parts = [
        (StateDict::Teacher(backbone), "teacher"),
        (StateDict::Projection, "proj"),
        (StateDict::Bottleneck, "bn"),
        (StateDict::Decoder, "decoder"),
    ];
    for (part, prefix) in parts {
        let entries = keys[prefix]
            .as_array()
            .ok_or_else(|| format!("no {prefix:?} key list"))?;
        let mut tensors = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = entry["key"]
                .as_str()
                .ok_or_else(|| format!("{prefix}: a key is not a string"))?;
            let shape: Vec<usize> = entry["shape"]
                .as_array()
                .and_then(|dims| {
                    dims.iter()
                        .map(|d| d.as_u64().map(|d| d as usize))
                        .collect()
                })
                .ok_or_else(|| format!("{prefix}.{key}: no valid shape"))?;
            let Some(values) = formula_tensor(&format!("{prefix}.{key}"), &shape) else {
                continue; // num_batches_tracked: not a float weight
            };
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push(PackTensor::new(
                key.to_string(),
                DType::F32,
                shape,
                None,
                Bytes::from_bytes_vec(bytes),
            ));
        }
        let report = apply_official(model, part, tensors);
        if !report.is_complete() || report.applied == 0 {
            return Err(format!(
                "the {prefix} keys do not fit this {backbone} model: {}",
                report.problems(10)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn values_are_in_range_and_deterministic() {
        let a = formula_tensor("teacher.conv1.weight", &[64, 3, 7, 7]).unwrap();
        let b = formula_tensor("teacher.conv1.weight", &[64, 3, 7, 7]).unwrap();
        assert_eq!(a, b);
        let bound = (3.0f64 / 147.0).sqrt() as f32;
        assert!(a.iter().all(|v| v.abs() <= bound));
        let var = formula_tensor("bn.bn1.running_var", &[512]).unwrap();
        assert!(var.iter().all(|v| (1.0..1.5).contains(v)));
        assert!(formula_tensor("bn.bn1.num_batches_tracked", &[]).is_none());
    }
}
