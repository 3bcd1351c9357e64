//! `rdpp eval`: how well a bundle separates good from bad on labelled folders: metrics, the
//! thresholds to choose from, plots, the worst images, and optionally a copy of the bundle with
//! the chosen threshold.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use rdpp_eval::{LabelledSet, ReportContext, chosen_threshold};
use rdpp_inference::bundle::{self, Manifest};
use rdpp_inference::{Calibration, Detector};
use rdpp_metrics::ThresholdRule;

use crate::Backend;
use crate::infer::{ProgressLines, images_bar};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Bundle folder.
    #[arg(long)]
    model: PathBuf,
    /// Folder of images known to be good.
    #[arg(long)]
    good: PathBuf,
    /// Folder of images known to be defective.
    #[arg(long)]
    defect: PathBuf,
    /// Masks of the defective images (`<name>.<ext>` or `<name>_mask.<ext>`, the image's size);
    /// defects without one count in the image metrics only.
    #[arg(long)]
    masks: Option<PathBuf>,
    /// Output folder (created): report.md, report.json, scores.csv, plots, worst/.
    #[arg(long)]
    out: PathBuf,
    /// Also write OUT/bundle, a copy of the bundle whose threshold is chosen by this rule:
    /// calibrated (the bundle's own), f1 (best F1 on these images) or recall99 (catches ≥ 99% of
    /// these defects).
    #[arg(long, value_name = "calibrated|f1|recall99")]
    set_threshold: Option<ThresholdRule>,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    let samples =
        rdpp_data::scan_labelled(Some(&args.good), Some(&args.defect), args.masks.as_deref())?;
    let (detector, manifest) = Detector::load(&args.model, args.backend.device()?)?;
    let set = LabelledSet::load(&samples, detector.input_size())?.context("no labelled images")?;
    let n = samples.len();
    let n_defects = samples.iter().filter(|s| s.label).count();
    eprintln!(
        "evaluating {} on {n} images ({} good, {n_defects} defective, {} with a mask)",
        manifest.name,
        n - n_defects,
        samples
            .iter()
            .filter(|s| s.label && s.mask.is_some())
            .count()
    );

    let bar = images_bar(n);
    // The bar hides itself when stderr is no terminal: progress lines then.
    let mut lines = ProgressLines::new(!std::io::stderr().is_terminal(), n);
    let eval = set.evaluate(&detector, detector.threshold(), &mut |done, _| {
        bar.set_position(done as u64);
        lines.print(done);
    })?;
    bar.finish_and_clear();

    let chosen = match args.set_threshold {
        Some(rule) => Some((rule, chosen_threshold(&eval, rule)?)),
        None => None,
    };
    let threshold = chosen.map(|(_, t)| t).or(detector.threshold());
    let calibration = chosen
        .map(|(rule, t)| threshold_calibration(&manifest, rule, t, &eval))
        .or(manifest.calibration.clone());
    let ctx = ReportContext {
        title: format!("RD++ evaluation of {}", manifest.name),
        lines: vec![
            format!(
                "Model: {} ({}, {} px)",
                args.model.display(),
                manifest.backbone,
                manifest.input_size
            ),
            format!("Good images: {}", args.good.display()),
            format!("Defective images: {}", args.defect.display()),
            match &args.masks {
                Some(m) => format!("Masks: {}", m.display()),
                None => "Masks: none (image labels only)".into(),
            },
        ],
        threshold,
        map_range: calibration.as_ref().map(Calibration::map_range),
    };
    for w in rdpp_eval::write_outputs(&args.out, &eval, &ctx)? {
        eprintln!("warning: {w}");
    }

    let r = &eval.report;
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"));
    eprintln!(
        "image AUROC {}, F1-max {}, pixel AUROC {}, AUPRO@0.3 {} ({})",
        fmt(r.image_auroc),
        fmt(r.image_f1_max),
        fmt(r.pixel_auroc),
        fmt(r.aupro),
        r.computed()
    );
    for p in &r.operating_points {
        let c = &p.confusion;
        eprintln!(
            "  {:>10} threshold {:.6}: {}/{} defects caught, {}/{} false alarms",
            p.rule.name(),
            p.threshold,
            c.caught,
            c.caught + c.missed,
            c.false_alarms,
            c.false_alarms + c.passed
        );
    }
    if let (Some((rule, t)), Some(cal)) = (chosen, calibration) {
        let dir = args.out.join("bundle");
        write_bundle_copy(&args.model, &dir, cal)?;
        eprintln!("bundle with the {rule} threshold {t:.6}: {}", dir.display());
    }
    eprintln!("report: {}", args.out.join("report.md").display());
    if eval.skipped.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} file(s) could not be read and are in no metric:",
        eval.skipped.len()
    );
    for (path, why) in &eval.skipped {
        eprintln!("  {}: {why}", path.display());
    }
    Ok(ExitCode::from(1))
}

/// The bundle's calibration with `threshold` chosen by `rule`. A bundle without calibration gets
/// its heatmap colour range from these normal images, as calibration would make it.
fn threshold_calibration(
    manifest: &Manifest,
    rule: ThresholdRule,
    threshold: f64,
    eval: &rdpp_eval::Evaluation,
) -> Calibration {
    let (map_low, map_high) = match &manifest.calibration {
        Some(c) => (c.map_low, c.map_high),
        None => rdpp_eval::calibrate::map_range(
            threshold,
            rdpp_eval::calibrate::normal_pixel_median(&eval.normal_maps()),
        ),
    };
    let c = &eval.report.counts;
    Calibration {
        image_threshold: threshold,
        map_low,
        map_high,
        method: format!(
            "rdpp eval --set-threshold {rule}: {} on {} good and {} defective images{}",
            rule.describe(),
            c.normal_images,
            c.anomalous_images,
            manifest
                .calibration
                .as_ref()
                .map(|old| format!(" (was {:.6}: {})", old.image_threshold, old.method))
                .unwrap_or_default()
        ),
    }
}

/// Copy the bundle in `src` to `dst` with `calibration` (the weights are copied, not re-encoded).
fn write_bundle_copy(src: &Path, dst: &Path, calibration: Calibration) -> Result<()> {
    let (dir, mut manifest) = bundle::read_manifest(src)?;
    let weights_path = dir.join(&manifest.weights.file);
    let weights = std::fs::read(&weights_path)
        .with_context(|| format!("{}: cannot read", weights_path.display()))?;
    manifest.calibration = Some(calibration);
    bundle::write_bundle(dst, &manifest, &weights)?;
    Ok(())
}
