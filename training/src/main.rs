//! `rdpp-train`: train RD++ on a folder of normal images and export an rdpp bundle.

mod bench;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rdpp_data::{Layout, SyntheticKind, SyntheticSpec};
use rdpp_inference::bundle::{self, Provenance, WeightsDType};
use rdpp_inference::image_io::DecodeLimits;
use rdpp_model::{Backbone, RdppConfig};
use rdpp_training::evaluate::{calibrate, evaluate, score_images};
use rdpp_training::trainer::{EpochLog, TrainSet, Trainer};
use rdpp_training::{TrainConfig, noise};

/// Train RD++ (Tien et al., CVPR 2023) on normal images.
#[derive(Parser, Debug)]
#[command(name = "rdpp-train", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train on a data set, evaluate it honestly, calibrate, export a bundle.
    Train(TrainArgs),
    /// Write a synthetic data set with defects and masks (MVTec layout).
    Synth(SynthArgs),
    /// Benchmark the training step (images/s, peak memory) side by side with PyTorch.
    Bench(bench::BenchArgs),
    /// (internal) one training-step measurement in a fresh process.
    #[command(hide = true)]
    BenchWorker(bench::WorkerArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LayoutKind {
    Mvtec,
    Btad,
    Folder,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum BackendArg {
    Flex,
    Wgpu,
    Cuda,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Data root (MVTec/BTAD root, or the folder of normal images for --layout folder).
    #[arg(long)]
    data: PathBuf,
    /// Data layout.
    #[arg(long, value_enum, default_value = "mvtec")]
    layout: LayoutKind,
    /// MVTec category / BTAD product (01, 02, 03).
    #[arg(long)]
    category: Option<String>,
    /// Folder layout: normal test images.
    #[arg(long)]
    test_good: Option<PathBuf>,
    /// Folder layout: anomalous test images.
    #[arg(long)]
    test_defect: Option<PathBuf>,
    /// Folder layout: masks of the anomalous test images.
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Teacher weights: a `.pth` state dict or an rdpp bundle folder (e.g. from `rdpp import`).
    #[arg(long)]
    teacher: PathBuf,
    /// Output folder: checkpoint/, metrics.csv, report.json/.md, curves.png, bundle/.
    #[arg(long)]
    out: PathBuf,
    /// TOML config over the paper's defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override: teacher backbone.
    #[arg(long)]
    backbone: Option<String>,
    /// Override: epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override: batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Override: image size.
    #[arg(long)]
    image_size: Option<usize>,
    /// Override: seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Ablations: turn losses off (comma separated: kd, reconstruction, contrast, ssot).
    #[arg(long, value_enum, value_delimiter = ',')]
    without: Vec<LossName>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Reproduce the official protocol: evaluate on the test set every epoch and export the best
    /// epoch. This selects on the test set (leakage); the report says so.
    #[arg(long)]
    paper_protocol: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    backend: BackendArg,
    /// Bundle precision.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: DTypeArg,
    /// Stop after this many optimizer steps (a checkpoint is written; continue with --resume).
    #[arg(long, hide = true)]
    max_steps: Option<usize>,
}

/// A loss term that `--without` can turn off.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LossName {
    Kd,
    Reconstruction,
    Contrast,
    Ssot,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DTypeArg {
    F32,
    F16,
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Output root (the category folder is created inside).
    #[arg(long)]
    out: PathBuf,
    /// Procedural image family: texture (a woven fabric) or object (a disc with a mark)
    /// [default: texture]. Not allowed with --photo.
    #[arg(long)]
    kind: Option<String>,
    /// A texture photo (any image format; grayscale is read as RGB): random windows of it replace
    /// the procedural images.
    #[arg(long, conflicts_with = "kind")]
    photo: Option<PathBuf>,
    /// Category folder written under --out [default: synthetic_texture, synthetic_object, or the
    /// photo's file stem].
    #[arg(long)]
    category: Option<String>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image size.
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Normal training images.
    #[arg(long, default_value_t = 20)]
    n_train: usize,
    /// Normal test images.
    #[arg(long, default_value_t = 5)]
    n_test_good: usize,
    /// Anomalous test images per defect type.
    #[arg(long, default_value_t = 3)]
    n_test_defect: usize,
    /// Defect types, comma-separated: cut_paste, hole, scratch, stain [default: all four].
    #[arg(long, value_delimiter = ',')]
    defects: Vec<String>,
}

fn device(b: BackendArg) -> Result<Device> {
    match b {
        BackendArg::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        BackendArg::Wgpu => Device::wgpu_options().init().map_err(|e| {
            anyhow::anyhow!("no usable GPU adapter for wgpu ({e}); use --backend flex")
        }),
        #[cfg(not(feature = "wgpu"))]
        BackendArg::Wgpu => bail!("built without the wgpu feature"),
        #[cfg(feature = "cuda")]
        BackendArg::Cuda => Ok(Device::cuda(0)),
        #[cfg(not(feature = "cuda"))]
        BackendArg::Cuda => bail!(
            "built without CUDA; rebuild with `--features cuda` on a machine with an NVIDIA driver"
        ),
    }
}

fn synth(args: SynthArgs) -> Result<ExitCode> {
    let kind = match args.kind.as_deref().unwrap_or("texture") {
        "texture" => SyntheticKind::Texture,
        "object" => SyntheticKind::Object,
        other => bail!("unknown kind {other:?}: texture or object"),
    };
    let mut spec = SyntheticSpec::new(kind, args.seed);
    spec.size = args.size;
    spec.n_train = args.n_train;
    spec.n_test_good = args.n_test_good;
    spec.n_test_defect = args.n_test_defect;
    if !args.defects.is_empty() {
        spec.defects = args
            .defects
            .iter()
            .map(|name| {
                rdpp_data::DefectKind::ALL
                    .into_iter()
                    .find(|d| d.name() == name.trim())
                    .with_context(|| {
                        format!("unknown defect {name:?}: cut_paste, hole, scratch or stain")
                    })
            })
            .collect::<Result<_>>()?;
    }
    let g = match &args.photo {
        None => {
            if let Some(c) = &args.category {
                spec.category = c.clone();
            }
            rdpp_data::generate(&args.out, &spec)?
        }
        Some(path) => {
            spec.category = match &args.category {
                Some(c) => c.clone(),
                None => path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(str::to_owned)
                    .with_context(|| {
                        format!("{}: no file stem; pass --category", path.display())
                    })?,
            };
            // Decoded as `rdpp infer` decodes (OpenCV-like): grayscale, palette, 16-bit and
            // alpha images all become 8-bit RGB.
            let photo = rdpp_inference::image_io::read_rgb8(path, &DecodeLimits::default())?;
            rdpp_data::generate_from_texture(&args.out, &photo, &spec)?
        }
    };
    eprintln!("wrote {} ({} files)", g.dir.display(), g.files.len());
    Ok(ExitCode::SUCCESS)
}

fn train(args: TrainArgs) -> Result<ExitCode> {
    let mut cfg = match &args.config {
        Some(p) => TrainConfig::from_toml_file(p)?,
        None => TrainConfig::default(),
    };
    if let Some(b) = &args.backbone {
        cfg.backbone = Backbone::from_name(b).with_context(|| format!("unknown backbone {b:?}"))?;
    }
    if let Some(v) = args.epochs {
        cfg.epochs = Some(v);
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.image_size {
        cfg.image_size = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    for loss in &args.without {
        match loss {
            LossName::Kd => cfg.losses.kd = false,
            LossName::Reconstruction => cfg.losses.reconstruction = false,
            LossName::Contrast => cfg.losses.contrast = false,
            LossName::Ssot => cfg.losses.ssot = false,
        }
    }
    cfg.validate()?;
    let layout = match args.layout {
        LayoutKind::Mvtec => Layout::MvTec {
            root: args.data.clone(),
            category: args
                .category
                .clone()
                .context("--category is required for --layout mvtec")?,
        },
        LayoutKind::Btad => Layout::Btad {
            root: args.data.clone(),
            product: args
                .category
                .clone()
                .context("--category (01, 02 or 03) is required for --layout btad")?,
        },
        LayoutKind::Folder => Layout::Folder {
            train: args.data.clone(),
            test_good: args.test_good.clone(),
            test_defect: args.test_defect.clone(),
            masks: args.masks.clone(),
        },
    };
    let size = cfg.image_size;
    let index = rdpp_data::scan(&layout)?;
    let limits = DecodeLimits::default();
    let (train_images, report) = rdpp_data::load_train(&index, size, &limits)?;
    for (path, why) in &report.skipped {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    eprintln!(
        "training images: {} loaded, {} skipped",
        report.loaded,
        report.skipped.len()
    );
    let (test, test_report) = rdpp_data::load_test(&index, size, &limits)?;
    for (path, why) in &test_report.skipped {
        eprintln!("warning: skipped test image {}: {why}", path.display());
    }

    // Hold-out normal images for calibration, chosen deterministically from the seed.
    let n_hold = ((train_images.len() as f64) * cfg.holdout_fraction).round() as usize;
    let n_hold = if train_images.len() - n_hold < 1 {
        0
    } else {
        n_hold
    };
    let order = rdpp_training::trainer::epoch_order(train_images.len(), cfg.seed ^ 0xCA11B, 0);
    let (hold_idx, train_idx) = order.split_at(n_hold);
    let data = TrainSet {
        size,
        images: train_idx
            .iter()
            .map(|&i| train_images[i].rgb.clone())
            .collect(),
    };
    let holdout: Vec<&[f32]> = hold_idx
        .iter()
        .map(|&i| train_images[i].rgb.as_slice())
        .collect();

    let device = device(args.backend)?;
    // Seeded initialisation: the same seed gives the same student, run after run.
    device.seed(cfg.seed);
    let mut model = RdppConfig::new(cfg.backbone).init(&device);
    load_teacher(&mut model, &cfg, &args.teacher, &device)?;
    let epochs = cfg.epochs_for(args.category.as_deref());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    std::fs::write(args.out.join("config.toml"), toml::to_string_pretty(&cfg)?)?;

    let batches = data.images.len().div_ceil(cfg.batch_size);
    let bar = ProgressBar::new((epochs * batches) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} epoch {msg} [{elapsed_precise}] {bar:30} {pos}/{len} batches, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let csv_path = args.out.join("metrics.csv");
    if !args.resume || !csv_path.exists() {
        std::fs::write(
            &csv_path,
            "epoch,loss,kd,reconstruction,contrast,ssot,images_per_s,image_auroc,pixel_auroc,aupro\n",
        )?;
    }
    let test_masks: Option<Vec<Vec<bool>>> = test
        .iter()
        .map(|s| s.mask.as_ref().map(|m| m.iter().map(|&v| v > 0).collect()))
        .collect();
    let mut best: Option<(f64, usize, rdpp_model::Rdpp)> = None;
    let mut hook = |log: &EpochLog, model: &rdpp_model::Rdpp| -> Result<()> {
        bar.set_position((log.epoch * batches) as u64);
        bar.set_message(format!(
            "{}/{epochs} loss {:.4} (kd {:.4}) {:.1} img/s",
            log.epoch, log.total, log.kd, log.images_per_s
        ));
        let mut metrics = (String::new(), String::new(), String::new());
        if args.paper_protocol && !test.is_empty() {
            if let Some(masks) = &test_masks {
                let imgs: Vec<&[f32]> = test.iter().map(|s| s.image.rgb.as_slice()).collect();
                let (maps, _) = score_images(model, &imgs, size, &cfg, &device)?;
                let r = evaluate(&maps, masks, size)?;
                let mean = [r.image_auroc, r.pixel_auroc, r.aupro]
                    .iter()
                    .map(|v| v.unwrap_or(0.0))
                    .sum::<f64>()
                    / 3.0;
                metrics = (fmt(r.image_auroc), fmt(r.pixel_auroc), fmt(r.aupro));
                if best.as_ref().is_none_or(|(b, _, _)| mean > *b) {
                    best = Some((mean, log.epoch, model.clone()));
                }
            }
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(&csv_path)?;
        writeln!(
            f,
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.2},{},{},{}",
            log.epoch,
            log.total,
            log.kd,
            log.reconstruction,
            log.contrast,
            log.ssot,
            log.images_per_s,
            metrics.0,
            metrics.1,
            metrics.2
        )?;
        Ok(())
    };
    let trainer = Trainer {
        cfg: cfg.clone(),
        epochs,
        data: &data,
        noise: &noise::official_pseudo_anomaly,
        out_dir: args.out.clone(),
        device: device.clone(),
        max_steps: args.max_steps,
    };
    let trained = trainer.run(model, args.resume, &mut hook)?;
    bar.finish_and_clear();
    if !trained.finished {
        eprintln!("stopped after --max-steps; continue with --resume");
        return Ok(ExitCode::SUCCESS);
    }
    let (model, selection) = match best {
        Some((_, epoch, mut m)) if args.paper_protocol => {
            m.teacher = trained.model.teacher.clone();
            (
                m,
                format!(
                    "paper protocol: epoch {epoch} selected ON THE TEST SET (optimistic; not a fair estimate)"
                ),
            )
        }
        _ => (
            trained.model,
            format!("last epoch ({epochs}); the test set was not used for selection"),
        ),
    };

    // Calibration on held-out normals, evaluation on the test set.
    let (hold_maps, hold_scores) = score_images(&model, &holdout, size, &cfg, &device)?;
    let calibration = calibrate(&hold_maps, &hold_scores);
    let mut details = serde_json::Map::new();
    details.insert("epochs".into(), epochs.into());
    details.insert("selection".into(), selection.clone().into());
    details.insert("train_images".into(), data.images.len().into());
    details.insert("holdout_images".into(), holdout.len().into());
    if let Some(masks) = &test_masks {
        if !test.is_empty() {
            let imgs: Vec<&[f32]> = test.iter().map(|s| s.image.rgb.as_slice()).collect();
            let (maps, _) = score_images(&model, &imgs, size, &cfg, &device)?;
            let report = evaluate(&maps, masks, size)?;
            if let Err(e) = rdpp_training::evaluate::write_curves(
                &args.out.join("curves.png"),
                &maps,
                masks,
                size,
            ) {
                eprintln!("warning: no curves.png: {e:#}");
            }
            let mut md = format!("# RD++ evaluation\n\nModel selection: {selection}\n\n");
            md.push_str(&report.to_markdown());
            std::fs::write(args.out.join("report.md"), md)?;
            std::fs::write(
                args.out.join("report.json"),
                serde_json::to_string_pretty(&report)?,
            )?;
            details.insert("metrics".into(), serde_json::to_value(&report)?);
            eprintln!(
                "test set: image AUROC {}, pixel AUROC {}, AUPRO@0.3 {} ({selection})",
                fmt(report.image_auroc),
                fmt(report.pixel_auroc),
                fmt(report.aupro)
            );
        }
    }
    let dtype = match args.dtype {
        DTypeArg::F32 => WeightsDType::F32,
        DTypeArg::F16 => WeightsDType::F16,
    };
    let weights = bundle::weights_to_bytes(&model, dtype)?;
    let provenance = Provenance {
        created_by: format!("rdpp-train {}", env!("CARGO_PKG_VERSION")),
        source: "training".into(),
        dataset: Some(format!(
            "{}{}",
            args.data.display(),
            args.category
                .as_ref()
                .map(|c| format!(" / {c}"))
                .unwrap_or_default()
        )),
        details,
        ..Default::default()
    };
    let name = args.category.clone().unwrap_or_else(|| "rdpp".into());
    let manifest = bundle::manifest_for(
        &name,
        cfg.backbone,
        size,
        &weights,
        dtype,
        calibration,
        provenance,
    );
    let bundle_dir = args.out.join("bundle");
    bundle::write_bundle(&bundle_dir, &manifest, &weights)?;
    eprintln!("bundle: {}", bundle_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// Teacher weights from a `.pth` or from a bundle folder (only its teacher is used).
fn load_teacher(
    model: &mut rdpp_model::Rdpp,
    cfg: &TrainConfig,
    path: &std::path::Path,
    device: &Device,
) -> Result<()> {
    if path.is_dir() {
        let b = bundle::load_bundle(path, device)?;
        if b.manifest.backbone != cfg.backbone {
            bail!(
                "{}: a {} bundle, but the config trains {}",
                path.display(),
                b.manifest.backbone,
                cfg.backbone
            );
        }
        model.teacher = b.model.teacher;
    } else {
        let r = rdpp_inference::import::import_teacher(model, cfg.backbone, path)?;
        eprintln!("teacher: {} tensors from {}", r.applied, path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Synth(a) => synth(a),
        Command::Bench(a) => bench::run(a),
        Command::BenchWorker(a) => bench::worker(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
