//! From official PyTorch state-dict names to this crate's module paths, and applying named
//! tensors to a model with a full report (applied, missing, unexpected, mis-shaped, ignored).
//!
//! The modules mirror PyTorch, so the mapping is small: a prefix per state dict, `Sequential`
//! indices turned into field names (`downsample.0 → downsample.conv`, `proj.3 → proj.1`), and
//! EfficientNet's leading underscores dropped. Tensors that RD++ never uses (layer4, classifier
//! heads, the OCBE's dead `conv4`/`bn4`, BN step counters) are ignored by name, with the reason.

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyError, ModuleSnapshot, PathFilter, PyTorchToBurnAdapter};
use rdpp_model::{Backbone, Rdpp};

/// Which official state dict a tensor comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateDict {
    /// A torchvision / EfficientNet-Lite teacher state dict.
    Teacher(Backbone),
    /// The official checkpoint's `proj` (projection).
    Projection,
    /// The official checkpoint's `bn` (OCBE bottleneck).
    Bottleneck,
    /// The official checkpoint's `decoder`.
    Decoder,
}

impl StateDict {
    /// The key of this part in an official checkpoint (`None` for teachers).
    pub fn checkpoint_key(self) -> Option<&'static str> {
        match self {
            StateDict::Teacher(_) => None,
            StateDict::Projection => Some("proj"),
            StateDict::Bottleneck => Some("bn"),
            StateDict::Decoder => Some("decoder"),
        }
    }

    /// The model field the part loads into.
    pub fn module_prefix(self) -> &'static str {
        match self {
            StateDict::Teacher(_) => "teacher",
            StateDict::Projection => "projection",
            StateDict::Bottleneck => "bottleneck",
            StateDict::Decoder => "decoder",
        }
    }
}

/// Map one official key to a module path, or say why the tensor is ignored.
pub fn module_path(part: StateDict, key: &str) -> Result<String, &'static str> {
    if key.ends_with("num_batches_tracked") {
        return Err("BatchNorm step counter, not a weight");
    }
    let mapped = match part {
        StateDict::Teacher(b) if b.lite_spec().is_some() => lite_path(key, b)?,
        StateDict::Teacher(_) => {
            if key.starts_with("layer4.") || key.starts_with("fc.") {
                return Err("layer4/fc come after the last tap (layer3)");
            }
            sequential_to_fields(key)
        }
        StateDict::Bottleneck => {
            if key.starts_with("conv4.") || key.starts_with("bn4.") {
                return Err("conv4/bn4 are defined but never used by the official forward");
            }
            sequential_to_fields(key)
        }
        StateDict::Decoder => sequential_to_fields(key),
        StateDict::Projection => projection_path(key),
    };
    Ok(format!("{}.{}", part.module_prefix(), mapped))
}

/// `downsample.0/1` and `upsample.0/1` (PyTorch `Sequential(conv, bn)`) → `.conv` / `.bn`.
fn sequential_to_fields(key: &str) -> String {
    let mut out = Vec::new();
    let mut parts = key.split('.').peekable();
    while let Some(p) = parts.next() {
        out.push(p.to_string());
        if p == "downsample" || p == "upsample" {
            if let Some(idx) = parts.next() {
                out.push(match idx {
                    "0" => "conv".to_string(),
                    "1" => "bn".to_string(),
                    other => other.to_string(),
                });
            }
        }
    }
    out.join(".")
}

/// `proj_a.proj.{0,3,6,9}` (conv, InstanceNorm, LeakyReLU repeated) → `proj_a.proj.{0,1,2,3}`.
fn projection_path(key: &str) -> String {
    let segs: Vec<&str> = key.split('.').collect();
    let mut out: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    for i in 1..segs.len() {
        if segs[i - 1] == "proj" {
            if let Ok(n) = segs[i].parse::<usize>() {
                if n % 3 == 0 {
                    out[i] = (n / 3).to_string();
                }
            }
        }
    }
    out.join(".")
}

/// EfficientNet-Lite keys: drop leading underscores; ignore the classifier head and blocks after
/// the last tap.
fn lite_path(key: &str, backbone: Backbone) -> Result<String, &'static str> {
    let last_tap = backbone.lite_spec().map_or(0, |s| s.tap_blocks[2]);
    let segs: Vec<&str> = key.split('.').collect();
    match segs.first().copied() {
        Some("_conv_head") | Some("_fc") => return Err("classifier head, after the last tap"),
        Some("_bn1") => return Err("classifier head, after the last tap"),
        Some("_blocks") => {
            if let Some(n) = segs.get(1).and_then(|s| s.parse::<usize>().ok()) {
                if n > last_tap {
                    return Err("block after the last tap (stride-16 stage)");
                }
            }
        }
        _ => {}
    }
    Ok(segs
        .iter()
        .map(|s| s.trim_start_matches('_'))
        .collect::<Vec<_>>()
        .join("."))
}

/// What happened when named tensors were applied to a model.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Tensors applied.
    pub applied: usize,
    /// Module parameters (in the loaded part) that no tensor provided.
    pub missing: Vec<String>,
    /// Tensors that match no parameter.
    pub unexpected: Vec<String>,
    /// Tensors whose shape or dtype does not fit.
    pub mismatched: Vec<String>,
    /// Tensors ignored on purpose, with the reason.
    pub ignored: Vec<(String, &'static str)>,
}

impl LoadReport {
    /// Every parameter got a tensor and every tensor found its place.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// A human-readable listing of the problems (at most `limit` names per kind).
    pub fn problems(&self, limit: usize) -> String {
        let mut s = String::new();
        let mut list = |title: &str, items: &[String]| {
            if items.is_empty() {
                return;
            }
            s.push_str(&format!("  {} {}:\n", items.len(), title));
            for it in items.iter().take(limit) {
                s.push_str(&format!("    {it}\n"));
            }
            if items.len() > limit {
                s.push_str(&format!("    ... and {} more\n", items.len() - limit));
            }
        };
        list(
            "missing (the model needs them, the file lacks them)",
            &self.missing,
        );
        list(
            "unexpected (in the file, not in the model)",
            &self.unexpected,
        );
        list("with the wrong shape or dtype", &self.mismatched);
        s
    }

    fn merge(&mut self, other: LoadReport) {
        self.applied += other.applied;
        self.missing.extend(other.missing);
        self.unexpected.extend(other.unexpected);
        self.mismatched.extend(other.mismatched);
        self.ignored.extend(other.ignored);
    }
}

/// Rename official tensors of `part` to module paths (ignored ones are recorded in the report).
pub fn rename(
    part: StateDict,
    tensors: Vec<PackTensor>,
    report: &mut LoadReport,
) -> Vec<PackTensor> {
    let mut out = Vec::with_capacity(tensors.len());
    for mut t in tensors {
        match module_path(part, &t.name) {
            Ok(path) => {
                t.name = path;
                out.push(t);
            }
            Err(why) => report.ignored.push((t.name.clone(), why)),
        }
    }
    out
}

/// Apply official (PyTorch-named) tensors of one state dict to the model. Only the parameters of
/// that part count as missing.
pub fn apply_official(model: &mut Rdpp, part: StateDict, tensors: Vec<PackTensor>) -> LoadReport {
    let mut report = LoadReport::default();
    let renamed = rename(part, tensors, &mut report);
    let prefix = format!("{}.", part.module_prefix());
    // Plain predicates (burn-store's regex filters need its `std` feature, absent in the browser).
    let in_part: fn(&str, &str) -> bool = match part {
        StateDict::Teacher(_) => |path, _| path.starts_with("teacher."),
        StateDict::Projection => |path, _| path.starts_with("projection."),
        StateDict::Bottleneck => |path, _| path.starts_with("bottleneck."),
        StateDict::Decoder => |path, _| path.starts_with("decoder."),
    };
    let filter = PathFilter::new().with_predicate(in_part);
    let mut applied = apply_named(model, renamed, Some(filter), true);
    // The other parts' parameters are not this state dict's business.
    applied.missing.retain(|p| p.starts_with(&prefix));
    report.merge(applied);
    report
}

/// Apply tensors already named by module path. `pytorch_layout` converts BN `weight/bias` to
/// burn's `gamma/beta` (PyTorch names); bundles are written with burn names.
pub fn apply_named(
    model: &mut Rdpp,
    tensors: Vec<PackTensor>,
    filter: Option<PathFilter>,
    pytorch_layout: bool,
) -> LoadReport {
    let adapter: Option<Box<dyn burn::store::ModuleAdapter>> = if pytorch_layout {
        Some(Box::new(PyTorchToBurnAdapter))
    } else {
        None
    };
    let result = model.apply(tensors, filter, adapter, true);
    let mut report = LoadReport {
        applied: result.applied.len(),
        ..Default::default()
    };
    report.missing = result.missing.into_iter().map(|(p, _)| p).collect();
    report.unexpected = result.unused;
    for e in result.errors {
        let line = match e {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => {
                format!(
                    "{path}: model expects {:?}, file has {:?}",
                    expected.as_slice(),
                    found.as_slice()
                )
            }
            other => other.to_string(),
        };
        report.mismatched.push(line);
    }
    report
}
