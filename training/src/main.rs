//! `rdpp-train`: train RD++ on a folder of normal images and export an rdpp bundle. The steps
//! of a run are library functions ([`rdpp_training::pipeline`]); this file holds the command
//! line and the progress display.

mod bench;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use rdpp_data::{Layout, SyntheticKind, SyntheticSpec};
use rdpp_inference::Backend;
use rdpp_inference::bundle::{Provenance, WeightsDType};
use rdpp_inference::image_io::DecodeLimits;
use rdpp_model::Backbone;
use rdpp_training::pipeline::{self, BestEpoch, MetricsLog, fmt_metric};
use rdpp_training::trainer::{EpochLog, Trainer};
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
    #[arg(long, value_enum)]
    backbone: Option<Backbone>,
    /// Override: epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override: batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Override: the network's input size (images are resized to it; a multiple of 32).
    #[arg(long = "input-size", alias = "image-size", alias = "size")]
    input_size: Option<usize>,
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
    backend: Backend,
    /// Bundle precision.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: WeightsDType,
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
    /// Image size (square).
    #[arg(
        long = "input-size",
        alias = "size",
        alias = "image-size",
        default_value_t = 256
    )]
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

/// The configuration: the paper's defaults, then the TOML file, then the flags.
fn config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(p) => TrainConfig::from_toml_file(p)?,
        None => TrainConfig::default(),
    };
    if let Some(b) = args.backbone {
        cfg.backbone = b;
    }
    if let Some(v) = args.epochs {
        cfg.epochs = Some(v);
    }
    if let Some(v) = args.batch_size {
        cfg.batch_size = v;
    }
    if let Some(v) = args.input_size {
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
    Ok(cfg)
}

fn layout(args: &TrainArgs) -> Result<Layout> {
    Ok(match args.layout {
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
    })
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} epoch {msg} [{elapsed_precise}] {bar:30} {pos}/{len} batches, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// One line per finished epoch on stderr, for logs (when the progress bar is hidden).
struct EpochLines {
    enabled: bool,
    epochs: usize,
    /// When this invocation started and at which epoch (a resumed run starts part-way).
    start: Option<(Instant, usize)>,
}

impl EpochLines {
    fn new(enabled: bool, epochs: usize) -> Self {
        EpochLines {
            enabled,
            epochs,
            start: None,
        }
    }

    fn print(&mut self, log: &EpochLog) {
        if !self.enabled {
            return;
        }
        let (start, first) = *self
            .start
            .get_or_insert_with(|| (Instant::now(), log.epoch.saturating_sub(1)));
        let done = log.epoch.saturating_sub(first).max(1);
        let per_epoch = start.elapsed() / done as u32;
        let eta = per_epoch * self.epochs.saturating_sub(log.epoch) as u32;
        eprintln!(
            "epoch {}/{}: loss {:.4} (kd {:.4}, reconstruction {:.4}, contrast {:.4}, ssot {:.6}), \
             {:.1} img/s, eta {}",
            log.epoch,
            self.epochs,
            log.total,
            log.kd,
            log.reconstruction,
            log.contrast,
            log.ssot,
            log.images_per_s,
            HumanDuration(eta)
        );
    }
}

fn train(args: TrainArgs) -> Result<ExitCode> {
    let cfg = config(&args)?;
    let data = pipeline::prepare_data(&layout(&args)?, &cfg)?;
    for (path, why) in &data.skipped_train {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    eprintln!(
        "training images: {} loaded, {} skipped",
        data.loaded,
        data.skipped_train.len()
    );
    let test = pipeline::test_set(&data.test, &cfg)?;
    let device = args.backend.device()?;
    let (model, teacher_said) = pipeline::build_model(&cfg, &args.teacher, &device)?;
    eprintln!("{teacher_said}");
    let epochs = cfg.epochs_for(args.category.as_deref());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    std::fs::write(args.out.join("config.toml"), toml::to_string_pretty(&cfg)?)?;

    // The paper protocol evaluates on the test set after every epoch (masks read once, images
    // decoded per evaluation, so they are not held in memory through the whole run).
    let epoch_test = if args.paper_protocol {
        test.as_ref()
    } else {
        None
    };
    let batches = data.train.images.len().div_ceil(cfg.batch_size);
    let bar = progress_bar((epochs * batches) as u64);
    let metrics = MetricsLog::open(&args.out, args.resume)?;
    let mut best = BestEpoch::default();
    // The bar hides itself when stderr is no terminal (CI, nohup, a pipe): a line per epoch then.
    let mut epoch_lines = EpochLines::new(!std::io::stderr().is_terminal(), epochs);
    let mut hook = |log: &EpochLog, model: &rdpp_model::Rdpp| -> Result<()> {
        bar.set_position((log.epoch * batches) as u64);
        bar.set_message(format!(
            "{}/{epochs} loss {:.4} (kd {:.4}) {:.1} img/s",
            log.epoch, log.total, log.kd, log.images_per_s
        ));
        epoch_lines.print(log);
        let mut report = None;
        if let Some(test) = epoch_test {
            let detector = pipeline::detector_for(model.clone(), &cfg, &device);
            let r = test.evaluate(&detector, None, &mut |_, _| {})?.report;
            best.observe(log.epoch, model, &r);
            report = Some(r);
        }
        metrics.append(log, report.as_ref())
    };
    let trainer = Trainer {
        cfg: cfg.clone(),
        epochs,
        data: &data.train,
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
    let selection = pipeline::select(trained.model, epochs, best);

    // Calibration on held-out normals, evaluation on the test set: both scored as inference is.
    let detector = pipeline::detector_for(selection.model.clone(), &cfg, &device);
    let calibration = pipeline::calibrate_on_holdout(&detector, &data.holdout)?;
    let mut details = serde_json::Map::new();
    details.insert("epochs".into(), epochs.into());
    details.insert("selection".into(), selection.description.clone().into());
    details.insert("train_images".into(), data.train.images.len().into());
    details.insert("holdout_images".into(), data.holdout.len().into());
    match &test {
        Some(test) => {
            let threshold = calibration.as_ref().map(|c| c.image_threshold);
            let bar = ProgressBar::new(test.samples().len() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} evaluating [{elapsed_precise}] {bar:30} {pos}/{len} test images, eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let eval = test.evaluate(&detector, threshold, &mut |done, _| {
                bar.set_position(done as u64)
            })?;
            bar.finish_and_clear();
            for (path, why) in &eval.skipped {
                eprintln!("warning: skipped test image {}: {why}", path.display());
            }
            pipeline::write_report(
                &args.out,
                &selection.description,
                &eval,
                calibration.as_ref(),
            )?;
            let report = &eval.report;
            details.insert("metrics".into(), serde_json::to_value(report)?);
            eprintln!(
                "test set ({} images, {}): image AUROC {}, pixel AUROC {}, AUPRO@0.3 {} ({})",
                report.counts.images,
                report.computed(),
                fmt_metric(report.image_auroc),
                fmt_metric(report.pixel_auroc),
                fmt_metric(report.aupro),
                selection.description
            );
            if let Some(p) = report.operating_point(rdpp_metrics::ThresholdRule::Calibrated) {
                let c = &p.confusion;
                eprintln!(
                    "at the calibrated threshold {:.6}: {} of {} defects caught, {} false alarm(s) in {} normal images",
                    p.threshold,
                    c.caught,
                    c.caught + c.missed,
                    c.false_alarms,
                    c.false_alarms + c.passed
                );
            }
            eprintln!("report: {}", args.out.join("report.md").display());
        }
        None => eprintln!(
            "no test images: no report (give --test-good/--test-defect, or a data set with a test split)"
        ),
    }
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
    let bundle_dir = args.out.join("bundle");
    pipeline::export_bundle(
        &bundle_dir,
        &name,
        &cfg,
        &selection.model,
        args.dtype,
        calibration,
        provenance,
    )?;
    eprintln!("bundle: {}", bundle_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn run() -> Result<ExitCode> {
    match Cli::parse().command {
        Command::Train(a) => train(a),
        Command::Synth(a) => synth(a),
        Command::Bench(a) => bench::run(a),
        Command::BenchWorker(a) => bench::worker(a),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
