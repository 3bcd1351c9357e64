//! The steps of a training run, in the order `rdpp-train train` takes them: prepare the data,
//! build the model, train (with [`crate::trainer::Trainer`]), select the model, calibrate it on
//! held-out normal images, evaluate it on the test set, write the report, export the bundle.
//! Each step is a function, so other front ends and the tests can run the same run.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use rdpp_data::{Layout, TestSample};
use rdpp_eval::{Evaluation, LabelledSet, ReportContext, calibrate, score_files};
use rdpp_inference::bundle::{self, Provenance, WeightsDType};
use rdpp_inference::image_io::DecodeLimits;
use rdpp_inference::{Calibration, Detector};
use rdpp_metrics::EvaluationReport;
use rdpp_model::{Rdpp, RdppConfig};

use crate::TrainConfig;
use crate::trainer::{EpochLog, TrainSet, epoch_order};

/// What a run trains on, calibrates on and is tested on.
pub struct RunData {
    /// Normal training images (the hold-out removed).
    pub train: TrainSet,
    /// Held-out normal image files, for calibration only.
    pub holdout: Vec<PathBuf>,
    /// The labelled test images (may be empty; decoded when evaluated).
    pub test: Vec<TestSample>,
    /// Training images loaded, before the hold-out was taken out.
    pub loaded: usize,
    /// Unreadable training images, with why.
    pub skipped_train: Vec<(PathBuf, String)>,
}

/// Load the data set of `layout` at the configured size and hold out a fraction of the normal
/// training images for calibration, chosen deterministically from the seed.
pub fn prepare_data(layout: &Layout, cfg: &TrainConfig) -> Result<RunData> {
    let size = cfg.image_size;
    let index = rdpp_data::scan(layout)?;
    let limits = DecodeLimits::default();
    let (train_images, report) = rdpp_data::load_train(&index, size, &limits)?;
    let n = train_images.len();
    let n_hold = ((n as f64) * cfg.holdout_fraction).round() as usize;
    // Never hold out every image: at least one must remain to train on.
    let n_hold = if n - n_hold.min(n) < 1 { 0 } else { n_hold };
    let order = epoch_order(n, cfg.seed ^ 0xCA11B, 0);
    let (hold_idx, train_idx) = order.split_at(n_hold);
    Ok(RunData {
        train: TrainSet {
            size,
            images: train_idx
                .iter()
                .map(|&i| train_images[i].rgb.clone())
                .collect(),
        },
        holdout: hold_idx
            .iter()
            .map(|&i| train_images[i].path.clone())
            .collect(),
        test: index.test,
        loaded: report.loaded,
        skipped_train: report.skipped,
    })
}

/// A freshly initialised student (seeded: the same seed gives the same student, run after run)
/// under the teacher from `teacher`: a `.pth` state dict, or a bundle folder (only its teacher is
/// used). Returns the model and a line saying where the teacher came from.
pub fn build_model(cfg: &TrainConfig, teacher: &Path, device: &Device) -> Result<(Rdpp, String)> {
    device.seed(cfg.seed);
    let mut model = RdppConfig::new(cfg.backbone).init(device);
    let said = if teacher.is_dir() {
        let b = bundle::load_bundle(teacher, device)?;
        if b.manifest.backbone != cfg.backbone {
            bail!(
                "{}: a {} bundle, but the config trains {}",
                teacher.display(),
                b.manifest.backbone,
                cfg.backbone
            );
        }
        model.teacher = b.model.teacher;
        format!("teacher: from the bundle {}", teacher.display())
    } else {
        let r = rdpp_inference::import::import_teacher(&mut model, cfg.backbone, teacher)?;
        format!("teacher: {} tensors from {}", r.applied, teacher.display())
    };
    Ok((model, said))
}

/// The labelled test set with its masks at the configured size: `None` without test images.
/// Images are decoded when evaluated (unreadable ones are listed then, not dropped silently).
pub fn test_set(test: &[TestSample], cfg: &TrainConfig) -> Result<Option<LabelledSet>> {
    LabelledSet::load(test, cfg.image_size)
}

/// A [`Detector`] for a model that has no bundle yet.
pub fn detector_for(model: Rdpp, cfg: &TrainConfig, device: &Device) -> Detector {
    Detector::uncalibrated(model, cfg.backbone, cfg.image_size, device.clone())
}

/// `metrics.csv`: one row per epoch (losses, throughput, and the test metrics when the paper
/// protocol evaluates every epoch).
pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    /// The header of `metrics.csv`.
    pub const HEADER: &str =
        "epoch,loss,kd,reconstruction,contrast,ssot,images_per_s,image_auroc,pixel_auroc,aupro";

    /// Open `out/metrics.csv`, starting it unless a resumed run appends to it.
    pub fn open(out: &Path, resume: bool) -> Result<MetricsLog> {
        let path = out.join("metrics.csv");
        if !resume || !path.exists() {
            std::fs::write(&path, format!("{}\n", Self::HEADER))
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
        Ok(MetricsLog { path })
    }

    /// Append one epoch.
    pub fn append(&self, log: &EpochLog, report: Option<&EvaluationReport>) -> Result<()> {
        let m = |f: fn(&EvaluationReport) -> Option<f64>| fmt_metric(report.and_then(f));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .with_context(|| format!("{}: cannot append", self.path.display()))?;
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
            m(|r| r.image_auroc),
            m(|r| r.pixel_auroc),
            m(|r| r.aupro),
        )
        .with_context(|| format!("{}: cannot append", self.path.display()))
    }
}

/// A metric with 4 decimals, or empty when it was not computed.
pub fn fmt_metric(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

/// The official protocol's model selection: the epoch with the best mean of image AUROC, pixel
/// AUROC and AUPRO on the test set. This selects on the test set (leakage); [`Selection`] says so.
#[derive(Default)]
pub struct BestEpoch {
    best: Option<(f64, usize, Rdpp)>,
}

impl BestEpoch {
    /// Consider `model` of `epoch` with its test metrics.
    pub fn observe(&mut self, epoch: usize, model: &Rdpp, report: &EvaluationReport) {
        let mean = [report.image_auroc, report.pixel_auroc, report.aupro]
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .sum::<f64>()
            / 3.0;
        if self.best.as_ref().is_none_or(|(b, _, _)| mean > *b) {
            self.best = Some((mean, epoch, model.clone()));
        }
    }
}

/// The model a run exports, and how it was chosen.
pub struct Selection {
    /// The chosen model.
    pub model: Rdpp,
    /// How it was chosen, for the report.
    pub description: String,
}

/// Select the model to export: the last epoch's, or (paper protocol) the best epoch's.
pub fn select(last: Rdpp, epochs: usize, best: BestEpoch) -> Selection {
    match best.best {
        Some((_, epoch, model)) => Selection {
            model,
            description: format!(
                "paper protocol: epoch {epoch} selected ON THE TEST SET (optimistic; not a fair estimate)"
            ),
        },
        None => Selection {
            model: last,
            description: format!("last epoch ({epochs}); the test set was not used for selection"),
        },
    }
}

/// Calibrate on the held-out normal images (scored as inference scores them); `None` without
/// a hold-out.
pub fn calibrate_on_holdout(
    detector: &Detector,
    holdout: &[PathBuf],
) -> Result<Option<Calibration>> {
    let files = score_files(detector, holdout, &DecodeLimits::default(), &mut |_, _| {})?;
    // These images were read for training moments ago: one that fails now is an error, not a
    // calibration on fewer images.
    if let Some((_, why)) = files.skipped.first() {
        bail!("reading the held-out calibration images: {why}");
    }
    Ok(calibrate(&files.scored.maps, &files.scored.scores))
}

/// Write the evaluation's files into `out` (`report.md`, `report.json`, `scores.csv`, plots,
/// the worst images; see [`rdpp_eval::write_outputs`]) and print its warnings.
pub fn write_report(
    out: &Path,
    selection: &str,
    eval: &Evaluation,
    calibration: Option<&Calibration>,
) -> Result<()> {
    let ctx = ReportContext {
        title: "RD++ evaluation".into(),
        lines: vec![format!("Model selection: {selection}")],
        threshold: calibration.map(|c| c.image_threshold),
        map_range: calibration.map(Calibration::map_range),
    };
    for w in rdpp_eval::write_outputs(out, eval, &ctx)? {
        eprintln!("warning: {w}");
    }
    Ok(())
}

/// Write the trained model as a bundle into `dir`.
pub fn export_bundle(
    dir: &Path,
    name: &str,
    cfg: &TrainConfig,
    model: &Rdpp,
    dtype: WeightsDType,
    calibration: Option<Calibration>,
    provenance: Provenance,
) -> Result<()> {
    let weights = bundle::weights_to_bytes(model, dtype)?;
    let manifest = bundle::manifest_for(
        name,
        cfg.backbone,
        cfg.image_size,
        &weights,
        dtype,
        calibration,
        provenance,
    );
    bundle::write_bundle(dir, &manifest, &weights)?;
    Ok(())
}
