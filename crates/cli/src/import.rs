//! `rdpp import`: official PyTorch weights → rdpp bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rdpp_inference::bundle::{self, InputFile, Provenance, WeightsDType, sha256_hex};
use rdpp_inference::import::{import_checkpoint, import_teacher};
use rdpp_inference::rdpp_model::burn::prelude::*;
use rdpp_inference::rdpp_model::{Backbone, RdppConfig};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Teacher backbone.
    #[arg(long, value_enum)]
    backbone: Backbone,
    /// Teacher state dict (torchvision `wide_resnet50_2-95faca4d.pth`, `resnet18-f37072fd.pth`,
    /// or EfficientNet-Lite0's `efficientnet-lite0-57934424.pth`).
    #[arg(long)]
    teacher: PathBuf,
    /// Official RD++ checkpoint (`{proj, bn, decoder}`); omit for a teacher-only start
    /// (student weights random, for training).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Output bundle folder.
    #[arg(long)]
    out: PathBuf,
    /// Storage precision of the weights.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: WeightsDType,
    /// Input size the bundle declares (the official models use 256).
    #[arg(long, default_value_t = 256, alias = "image-size", alias = "size")]
    input_size: usize,
    /// Display name (defaults to the output folder's name).
    #[arg(long)]
    name: Option<String>,
}

fn file_sha(path: &PathBuf) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(sha256_hex(&bytes))
}

pub fn run(args: ImportArgs) -> Result<ExitCode> {
    let device = Device::flex();
    let mut model = RdppConfig::new(args.backbone).init(&device);
    let mut inputs = Vec::new();

    let report = import_teacher(&mut model, args.backbone, &args.teacher)?;
    eprintln!(
        "teacher     {} tensors from {} ({} ignored: not used by RD++)",
        report.applied,
        args.teacher.display(),
        report.ignored.len()
    );
    inputs.push(InputFile {
        role: "teacher".into(),
        name: file_name(&args.teacher),
        sha256: file_sha(&args.teacher)?,
    });

    let source = if let Some(ckpt) = &args.checkpoint {
        let report = import_checkpoint(&mut model, args.backbone, ckpt)?;
        eprintln!(
            "checkpoint  {} tensors from {} ({} ignored: {})",
            report.applied,
            ckpt.display(),
            report.ignored.len(),
            report
                .ignored
                .iter()
                .map(|(n, _)| n.as_str())
                .take(4)
                .collect::<Vec<_>>()
                .join(", ")
        );
        inputs.push(InputFile {
            role: "checkpoint".into(),
            name: file_name(ckpt),
            sha256: file_sha(ckpt)?,
        });
        "import of an official RD++ checkpoint"
    } else {
        eprintln!(
            "checkpoint  none: projection, OCBE and decoder are randomly initialised (train before use)"
        );
        "import of a teacher only (student untrained)"
    };

    let dtype = args.dtype;
    let weights = bundle::weights_to_bytes(&model, dtype)?;
    let name = args.name.clone().unwrap_or_else(|| file_name(&args.out));
    let provenance = Provenance {
        created_by: format!("rdpp {}", env!("CARGO_PKG_VERSION")),
        source: source.into(),
        inputs,
        ..Default::default()
    };
    let manifest = bundle::manifest_for(
        &name,
        args.backbone,
        args.input_size,
        &weights,
        dtype,
        None,
        provenance,
    );
    // Validate what we are about to write exactly as a reader would.
    bundle::Manifest::parse(
        manifest.to_json().as_bytes(),
        &args.out.join(bundle::MANIFEST_FILE),
    )?;
    bundle::write_bundle(&args.out, &manifest, &weights)?;
    eprintln!(
        "wrote       {} ({:.1} MB, {:?})",
        args.out.display(),
        weights.len() as f64 / 1e6,
        dtype
    );
    Ok(ExitCode::SUCCESS)
}

fn file_name(p: &PathBuf) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
