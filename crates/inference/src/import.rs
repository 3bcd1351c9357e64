//! Importers for the official PyTorch weights (`.pth`): torchvision teachers, EfficientNet-Lite0's
//! legacy pickle, and the official RD++ checkpoint `{proj, bn, decoder}`.
//!
//! Each importer reads every tensor, maps names (see [`crate::weights`]) and refuses to finish
//! when anything is missing, unexpected or mis-shaped, listing them by name: no layer is ever
//! left with its random initialization.

use std::path::Path;

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ModuleStore, PytorchStore};
use rdpp_model::{Backbone, Rdpp};

use crate::error::ImportError;
use crate::weights::{LoadReport, StateDict, apply_official};

/// Read every tensor of a `.pth` file (optionally the sub-dict under `top_level_key`).
pub fn read_pth(path: &Path, top_level_key: Option<&str>) -> Result<Vec<PackTensor>, ImportError> {
    if !path.is_file() {
        return Err(ImportError::Read {
            path: path.into(),
            detail: "no such file".into(),
        });
    }
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    if let Some(key) = top_level_key {
        store = store.with_top_level_key(key);
    }
    let tensors = store.get_all_tensors().map_err(|e| ImportError::Read {
        path: path.into(),
        detail: e.to_string(),
    })?;
    Ok(tensors.values().cloned().collect())
}

fn check(path: &Path, what: String, report: LoadReport) -> Result<LoadReport, ImportError> {
    if report.applied == 0 && report.unexpected.is_empty() && report.mismatched.is_empty() {
        return Err(ImportError::Mismatch {
            path: path.into(),
            what,
            report: "  no usable tensor found (is this the right file?)\n".into(),
        });
    }
    if report.is_complete() {
        Ok(report)
    } else {
        Err(ImportError::Mismatch {
            path: path.into(),
            what,
            report: report.problems(12),
        })
    }
}

/// Load a teacher state dict (torchvision `wide_resnet50_2` / `resnet18`, or EfficientNet-Lite0's
/// `.pth`) into `model.teacher`.
pub fn import_teacher(
    model: &mut Rdpp,
    backbone: Backbone,
    path: &Path,
) -> Result<LoadReport, ImportError> {
    let tensors = read_pth(path, None)?;
    let report = apply_official(model, StateDict::Teacher(backbone), tensors);
    check(path, format!("a {backbone} teacher state dict"), report)
}

/// Load an official RD++ checkpoint (`{proj, bn, decoder}`) into the projection, OCBE and decoder.
pub fn import_checkpoint(
    model: &mut Rdpp,
    backbone: Backbone,
    path: &Path,
) -> Result<LoadReport, ImportError> {
    let mut total = LoadReport::default();
    for part in [
        StateDict::Projection,
        StateDict::Bottleneck,
        StateDict::Decoder,
    ] {
        let key = part.checkpoint_key().unwrap_or_default();
        let tensors = read_pth(path, Some(key)).map_err(|e| match e {
            ImportError::Read { path, detail } => ImportError::Read {
                path,
                detail: format!("no '{key}' state dict in the checkpoint ({detail}); expected an official RD++ checkpoint {{proj, bn, decoder}}"),
            },
            other => other,
        })?;
        let report = apply_official(model, part, tensors);
        let report = check(
            path,
            format!("the '{key}' part of a {backbone} RD++ checkpoint"),
            report,
        )?;
        total.applied += report.applied;
        total.ignored.extend(report.ignored);
    }
    Ok(total)
}
