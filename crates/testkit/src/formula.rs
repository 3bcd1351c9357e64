//! Deterministic weights from a formula that the Python reference computes identically
//! (`tests/parity/reference.py`, `tests/parity/make_fixtures.py`). They let the parity suite check
//! the full-width network against PyTorch without committing hundreds of megabytes of weights, and
//! give benchmarks a model when no trained bundle is at hand.
//!
//! For a tensor named `name` (PyTorch key with a part prefix, e.g. `teacher.conv1.weight`,
//! `bn.bn_layer.0.conv1.weight`) and flat index `i`:
//! `z = splitmix64(fnv1a64(name) + (i+1)·φ)`, `u = (z >> 40) / 2²⁴`, `r = 2u − 1`
//! ([`rdpp_data::rng::uniform_at`]); the value depends on the tensor's role (see
//! [`formula_value`]).
//!
//! Three ways to fill a model:
//! * [`fill_with_formula`] keys the formula by burn module paths (quick, self-consistent);
//! * [`fill_official_formula`] keys it by the official names of a parity key list
//!   (`<backbone>.keys.json`), through the same renaming as the `.pth` importers;
//! * [`fill_official_names`] does the same with the official names derived from the model itself
//!   ([`official_keys`]), so no key list has to be at hand.

use rdpp_data::rng::{fnv1a64, uniform_at};
use rdpp_inference::weights::{StateDict, apply_named, apply_official};
use rdpp_model::burn;
use rdpp_model::{Backbone, Rdpp};

use burn::store::ModuleSnapshot;
use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};

/// The value of element `i` of tensor `name` with `shape`, or `None` for tensors outside the
/// formula (`num_batches_tracked`). `seed` is `fnv1a64(name)`.
pub fn formula_value(name: &str, shape: &[usize], seed: u64, i: u64) -> Option<f64> {
    if name.ends_with("num_batches_tracked") {
        return None;
    }
    let u = uniform_at(seed, i);
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

fn pack(name: String, shape: Vec<usize>, values: &[f32]) -> PackTensor {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    PackTensor::new(name, DType::F32, shape, None, Bytes::from_bytes_vec(bytes))
}

/// Give every parameter of `model` a formula value, keyed by its module path (BatchNorm's
/// `gamma/beta` follow the `weight/bias` rules). A randomly initialised RD++ is badly conditioned
/// (activations vanish through the teacher, then InstanceNorm amplifies rounding noise); these
/// weights keep every stage at a sane scale, which tests that compare backends need.
pub fn fill_with_formula(model: &mut Rdpp) {
    let tensors: Vec<PackTensor> = model
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let rule_name = burn_to_pytorch_leaf(&t.name);
            let shape: Vec<usize> = t.shape.to_vec();
            let values = formula_tensor(&rule_name, &shape).unwrap_or_default();
            pack(t.name, shape, &values)
        })
        .collect();
    let report = apply_named(model, tensors, None, false);
    debug_assert!(report.is_complete(), "{}", report.problems(5));
}

/// One tensor of an official PyTorch state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialKey {
    /// The state dict it belongs to.
    pub part: StateDict,
    /// Its key in that state dict (e.g. `layer1.0.downsample.0.weight`).
    pub key: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

impl OfficialKey {
    /// The name the formula is keyed by: the key with its part's prefix (`teacher.`, `proj.`,
    /// `bn.`, `decoder.`), as the parity key lists and the Python reference name it.
    pub fn formula_name(&self) -> String {
        format!("{}.{}", part_prefix(self.part), self.key)
    }
}

/// The formula-name prefix of a state dict.
fn part_prefix(part: StateDict) -> &'static str {
    part.checkpoint_key().unwrap_or("teacher")
}

/// The four state dicts of a model, in the order of the key lists.
fn parts(backbone: Backbone) -> [StateDict; 4] {
    [
        StateDict::Teacher(backbone),
        StateDict::Projection,
        StateDict::Bottleneck,
        StateDict::Decoder,
    ]
}

/// burn's BatchNorm `gamma`/`beta` under their PyTorch names `weight`/`bias`.
fn burn_to_pytorch_leaf(path: &str) -> String {
    if let Some(stem) = path.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = path.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        path.to_string()
    }
}

/// The official key of one module path of a `backbone` model: the inverse of
/// [`rdpp_inference::weights::module_path`] (`downsample.conv → downsample.0`,
/// `proj.1 → proj.3`, EfficientNet's leading underscores put back, `gamma/beta → weight/bias`).
fn official_key(backbone: Backbone, path: &str) -> Option<(StateDict, String)> {
    let path = burn_to_pytorch_leaf(path);
    let (field, rest) = path.split_once('.')?;
    let part = parts(backbone)
        .into_iter()
        .find(|p| p.module_prefix() == field)?;
    let segs: Vec<&str> = rest.split('.').collect();
    let last = segs.len() - 1;
    let key: Vec<String> = match part {
        StateDict::Teacher(b) if b.lite_spec().is_some() => segs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == last || s.parse::<usize>().is_ok() {
                    s.to_string()
                } else {
                    format!("_{s}")
                }
            })
            .collect(),
        StateDict::Projection => segs
            .iter()
            .enumerate()
            .map(|(i, s)| match s.parse::<usize>() {
                Ok(n) if i > 0 && segs[i - 1] == "proj" => (3 * n).to_string(),
                _ => s.to_string(),
            })
            .collect(),
        _ => segs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let after_sequential = i > 0 && matches!(segs[i - 1], "downsample" | "upsample");
                match *s {
                    "conv" if after_sequential => "0".to_string(),
                    "bn" if after_sequential => "1".to_string(),
                    other => other.to_string(),
                }
            })
            .collect(),
    };
    Some((part, key.join(".")))
}

/// The official PyTorch names and shapes of every tensor `model` (of `backbone`) holds, derived
/// from its module paths, in the model's order. Tensors the official state dicts have but RD++
/// never uses (layer4, classifier heads, OCBE's `conv4`/`bn4`, BN step counters) are not in the
/// model and so not listed; the formula values of the others do not depend on them.
///
/// # Errors
/// A module path outside the four parts (a model that is not RD++'s).
pub fn official_keys(model: &Rdpp, backbone: Backbone) -> Result<Vec<OfficialKey>, String> {
    model
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let (part, key) = official_key(backbone, &t.name)
                .ok_or_else(|| format!("{}: not a parameter of an RD++ part", t.name))?;
            Ok(OfficialKey {
                part,
                key,
                shape: t.shape.to_vec(),
            })
        })
        .collect()
}

/// Apply formula values for `keys` part by part through the official renaming.
fn fill_keys(model: &mut Rdpp, backbone: Backbone, keys: &[OfficialKey]) -> Result<(), String> {
    for part in parts(backbone) {
        let tensors: Vec<PackTensor> = keys
            .iter()
            .filter(|k| k.part == part)
            .filter_map(|k| {
                // `None`: num_batches_tracked, not a float weight.
                let values = formula_tensor(&k.formula_name(), &k.shape)?;
                Some(pack(k.key.clone(), k.shape.clone(), &values))
            })
            .collect();
        let report = apply_official(model, part, tensors);
        if !report.is_complete() || report.applied == 0 {
            return Err(format!(
                "the {} keys do not fit this {backbone} model: {}",
                part_prefix(part),
                report.problems(10)
            ));
        }
    }
    Ok(())
}

/// Fill every weight of `model` from the formula through the official PyTorch names listed in a
/// parity key file (`tests/parity/make_fixtures.py` writes `<backbone>.keys.json`: per state dict
/// `teacher`, `proj`, `bn`, `decoder`, entries `{"key", "shape"}`). This goes through the same
/// renaming as the `.pth` importers and gives exactly the values the PyTorch reference fills.
///
/// # Errors
/// A malformed key list, or keys that do not fit this backbone (the load report, by name).
pub fn fill_official_formula(
    model: &mut Rdpp,
    backbone: Backbone,
    keys: &serde_json::Value,
) -> Result<(), String> {
    let mut list = Vec::new();
    for part in parts(backbone) {
        let prefix = part_prefix(part);
        let entries = keys[prefix]
            .as_array()
            .ok_or_else(|| format!("no {prefix:?} key list"))?;
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
            list.push(OfficialKey {
                part,
                key: key.to_string(),
                shape,
            });
        }
    }
    fill_keys(model, backbone, &list)
}

/// Fill every weight of `model` from the formula through the official PyTorch names derived from
/// the model itself ([`official_keys`]): the same values as [`fill_official_formula`] with the
/// backbone's parity key list, and the same values the PyTorch reference (and the PyTorch
/// benchmark scripts) fill, without the key list at hand.
///
/// # Errors
/// Names that do not map back onto the model (the load report, by name): a bug of the inverse
/// renaming, never expected.
pub fn fill_official_names(model: &mut Rdpp, backbone: Backbone) -> Result<(), String> {
    let keys = official_keys(model, backbone)?;
    fill_keys(model, backbone, &keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;
    use rdpp_model::RdppConfig;
    use std::collections::BTreeSet;

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

    fn key_list(backbone: Backbone) -> serde_json::Value {
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        );
        let path = root
            .join("../../tests/fixtures/parity")
            .join(format!("{}.keys.json", backbone.name()));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// The `used` entries of a parity key list, as `(formula name, shape)`.
    fn used_keys(json: &serde_json::Value) -> BTreeSet<(String, Vec<usize>)> {
        ["teacher", "proj", "bn", "decoder"]
            .into_iter()
            .flat_map(|prefix| {
                json[prefix]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["used"].as_bool() == Some(true))
                    .filter(|e| !e["key"].as_str().unwrap().ends_with("num_batches_tracked"))
                    .map(move |e| {
                        let shape = e["shape"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| d.as_u64().unwrap() as usize)
                            .collect();
                        (format!("{prefix}.{}", e["key"].as_str().unwrap()), shape)
                    })
            })
            .collect()
    }

    #[test]
    fn derived_official_names_are_the_parity_key_lists() {
        let device = Device::flex();
        for backbone in Backbone::ALL {
            let model = RdppConfig::new(backbone).init(&device);
            let derived: BTreeSet<(String, Vec<usize>)> = official_keys(&model, backbone)
                .unwrap()
                .into_iter()
                .map(|k| (k.formula_name(), k.shape))
                .collect();
            let listed = used_keys(&key_list(backbone));
            let only_derived: Vec<_> = derived.difference(&listed).take(5).collect();
            let only_listed: Vec<_> = listed.difference(&derived).take(5).collect();
            assert!(
                only_derived.is_empty() && only_listed.is_empty(),
                "{backbone}: derived only {only_derived:?}; listed only {only_listed:?}"
            );
        }
    }

    #[test]
    fn derived_names_fill_the_same_weights_as_the_key_list() {
        let device = Device::flex();
        let backbone = Backbone::Resnet18;
        let mut a = RdppConfig::new(backbone).init(&device);
        fill_official_formula(&mut a, backbone, &key_list(backbone)).unwrap();
        let mut b = RdppConfig::new(backbone).init(&device);
        fill_official_names(&mut b, backbone).unwrap();
        let (ta, tb) = (a.collect(None, None, true), b.collect(None, None, true));
        assert_eq!(ta.len(), tb.len());
        for (x, y) in ta.iter().zip(&tb) {
            assert_eq!(x.name, y.name);
            let (bx, by) = (x.to_bytes().unwrap(), y.to_bytes().unwrap());
            assert!(bx[..] == by[..], "{} differs", x.name);
        }
    }
}
