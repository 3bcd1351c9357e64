//! The files of an evaluation, the same for `rdpp eval` and `rdpp-train`: `report.md`,
//! `report.json`, `scores.csv`, the plots and the worst images as overlays.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::overlay::{display_range, render_overlay};
use rdpp_inference::verdict::{Verdict, csv_field};
use rdpp_metrics::{EvaluationReport, ThresholdRule};
use serde::Serialize;

use crate::labelled::Evaluation;

/// How many of the worst false alarms and misses become overlays.
pub const WORST: usize = 5;

/// What the report says around the metrics.
#[derive(Clone, Debug, Default)]
pub struct ReportContext {
    /// First heading of `report.md`.
    pub title: String,
    /// Lines printed under the title (model, data, how the model was selected, …).
    pub lines: Vec<String>,
    /// The threshold of the `verdict` column of `scores.csv` (`None`: uncalibrated).
    pub threshold: Option<f64>,
    /// The heatmap colour range of the overlays (`None`: each map's own range).
    pub map_range: Option<(f64, f64)>,
}

/// `report.json`: the metrics (at the top level, as [`EvaluationReport`] serializes them) and
/// the images left out because they could not be read.
#[derive(Serialize)]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a EvaluationReport,
    skipped: Vec<Skipped>,
}

#[derive(Serialize)]
struct Skipped {
    file: String,
    why: String,
}

/// The header of an evaluation's `scores.csv`.
pub const SCORES_HEADER: &str = "file,label,score,verdict,threshold";

/// `scores.csv` of an evaluation: one row per scored image (label `good`/`defect`, score with 8
/// decimals, the verdict at `threshold` in `rdpp infer`'s words, the threshold with 9 decimals).
pub fn scores_csv(eval: &Evaluation, threshold: Option<f64>) -> String {
    let mut out = format!("{SCORES_HEADER}\n");
    let t = threshold
        .filter(|t| t.is_finite())
        .map(|t| format!("{t:.9}"))
        .unwrap_or_default();
    for i in &eval.images {
        let _ = writeln!(
            out,
            "{},{},{:.8},{},{t}",
            csv_field(&i.path.display().to_string()),
            if i.defect { "defect" } else { "good" },
            i.score,
            Verdict::of(i.score, threshold).csv_word()
        );
    }
    out
}

/// Write every file of `eval` into `out` (created). Returns warnings (a plot that could not be
/// drawn, an overlay whose image vanished) for the caller to print; errors only when a file
/// cannot be written.
pub fn write_outputs(out: &Path, eval: &Evaluation, ctx: &ReportContext) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let write = |name: &str, text: &str| -> Result<PathBuf> {
        let p = out.join(name);
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))?;
        Ok(p)
    };
    let mut warnings = Vec::new();
    let (scores, labels) = (eval.scores(), eval.labels());
    let points = &eval.report.operating_points;
    // A plot that cannot be drawn is a warning, not a failed evaluation.
    let mut plots = Vec::new();
    let mut plot = |name: &'static str, drawn: Result<()>| match drawn {
        Ok(()) => plots.push(name),
        Err(e) => warnings.push(format!("no {name}: {e:#}")),
    };
    plot(
        "histogram.png",
        rdpp_metrics::write_score_histogram_png(
            out.join("histogram.png"),
            &scores,
            &labels,
            points,
        )
        .map_err(Into::into),
    );
    if eval.report.image_auroc.is_some() {
        plot(
            "image_curves.png",
            rdpp_metrics::write_image_curves_png(
                out.join("image_curves.png"),
                &scores,
                &labels,
                points,
            )
            .map_err(Into::into),
        );
    }
    if eval.report.pixel_auroc.is_some() {
        plot(
            "curves.png",
            write_pixel_curves(&out.join("curves.png"), eval),
        );
    }
    let worst = write_worst(out, eval, ctx, &mut warnings)?;

    write("scores.csv", &scores_csv(eval, ctx.threshold))?;
    write(
        "report.json",
        &serde_json::to_string_pretty(&ReportJson {
            report: &eval.report,
            skipped: eval
                .skipped
                .iter()
                .map(|(p, why)| Skipped {
                    file: p.display().to_string(),
                    why: why.clone(),
                })
                .collect(),
        })?,
    )?;
    write("report.md", &markdown(eval, ctx, &plots, &worst))?;
    Ok(warnings)
}

/// Pixel ROC and PRO curves of the images with masks (`curves.png`).
fn write_pixel_curves(path: &Path, eval: &Evaluation) -> Result<()> {
    let (maps, masks): (Vec<&[f32]>, Vec<&[bool]>) = eval
        .maps
        .iter()
        .zip(&eval.masks)
        .filter_map(|(m, t)| t.as_deref().map(|t| (m.as_slice(), t)))
        .unzip();
    let size = eval.report.counts.width;
    let roc = rdpp_metrics::pixel_roc_curve(&maps, &masks, 1e-3)?;
    let pro = rdpp_metrics::pro_curve(&maps, &masks, size, size, 1e-3)?;
    rdpp_metrics::write_curves_png(path, &roc, &pro)?;
    Ok(())
}

/// One overlay written for the report.
struct Worst {
    file: String,
    image: PathBuf,
    score: f64,
    wrong: Option<bool>,
}

/// The worst false alarms and misses as overlays under `worst/`.
fn write_worst(
    out: &Path,
    eval: &Evaluation,
    ctx: &ReportContext,
    warnings: &mut Vec<String>,
) -> Result<[Vec<Worst>; 2]> {
    let (alarms, misses) = eval.worst(WORST);
    let dir = out.join("worst");
    let mut written: [Vec<Worst>; 2] = [Vec::new(), Vec::new()];
    for (k, (kind, list)) in [("false_alarm", alarms), ("miss", misses)]
        .into_iter()
        .enumerate()
    {
        for (rank, i) in list.into_iter().enumerate() {
            let img = &eval.images[i];
            let rgb = match read_rgb8(&img.path, &DecodeLimits::default()) {
                Ok(rgb) => rgb,
                Err(e) => {
                    warnings.push(format!("no overlay of {}: {e}", img.path.display()));
                    continue;
                }
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            let map = &eval.maps[i];
            let size = eval.report.counts.width as u32;
            let overlay = render_overlay(
                &rgb,
                map,
                (size, size),
                display_range(map, ctx.map_range),
                0.5,
            );
            let stem = img
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = format!("{kind}_{}_{stem}.png", rank + 1);
            let path = dir.join(&file);
            overlay
                .save(&path)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            let wrong = match Verdict::of(img.score, ctx.threshold) {
                Verdict::Uncalibrated => None,
                v => Some((v == Verdict::Defect) != img.defect),
            };
            written[k].push(Worst {
                file: format!("worst/{file}"),
                image: img.path.clone(),
                score: img.score,
                wrong,
            });
        }
    }
    Ok(written)
}

fn markdown(
    eval: &Evaluation,
    ctx: &ReportContext,
    plots: &[&str],
    worst: &[Vec<Worst>; 2],
) -> String {
    let mut md = format!("# {}\n\n", ctx.title);
    for l in &ctx.lines {
        let _ = writeln!(md, "{l}  ");
    }
    let _ = writeln!(md, "\nComputed: {}.\n", eval.report.computed());
    md.push_str(&eval.report.to_markdown());
    if !plots.is_empty() {
        md.push_str("\n## Plots\n\n");
        for p in plots {
            let what = match *p {
                "histogram.png" => {
                    "image scores: normal images as green bars above the line, defects as red bars below"
                }
                "image_curves.png" => {
                    "image ROC (left: false-alarm rate across, share of defects caught up) and precision–recall (right: recall across, precision up)"
                }
                _ => {
                    "pixel ROC (left) and PRO up to a false-positive rate of 0.3 (right), over the images with masks"
                }
            };
            let _ = writeln!(md, "- `{p}`: {what}.");
        }
        let colours: Vec<String> = eval
            .report
            .operating_points
            .iter()
            .map(|p| format!("{} = {}", p.rule, rdpp_metrics::rule_colour(p.rule).0))
            .collect();
        if !colours.is_empty() {
            let _ = writeln!(
                md,
                "\nThresholds are drawn as lines (histogram) and dots (curves): {}.",
                colours.join(", ")
            );
        }
    }
    for (k, title) in [
        "Worst false alarms (highest-scoring normal images)",
        "Worst misses (lowest-scoring defects)",
    ]
    .iter()
    .enumerate()
    {
        if worst[k].is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\n## {title}\n\n| overlay | image | score | at the threshold in use |\n|---|---|---:|---|"
        );
        for w in &worst[k] {
            let verdict = match w.wrong {
                Some(true) => "wrong",
                Some(false) => "right",
                None => "no threshold",
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.6} | {verdict} |",
                w.file,
                w.image.display(),
                w.score
            );
        }
    }
    if !eval.skipped.is_empty() {
        let _ = writeln!(
            md,
            "\n## Left out\n\n{} image(s) could not be read and are in no metric:\n",
            eval.skipped.len()
        );
        for (p, why) in &eval.skipped {
            let _ = writeln!(md, "- {}: {why}", p.display());
        }
    }
    if let Some(t) = ctx.threshold {
        let _ = writeln!(
            md,
            "\n`scores.csv` gives each image's verdict at the threshold {t:.9}."
        );
    }
    md
}

/// The threshold of `rule` in `eval`, or why there is none.
pub fn chosen_threshold(eval: &Evaluation, rule: ThresholdRule) -> Result<f64> {
    eval.report
        .operating_point(rule)
        .map(|p| p.threshold)
        .with_context(|| match rule {
            ThresholdRule::Calibrated => {
                "the bundle has no calibrated threshold; choose f1 or recall99".to_owned()
            }
            _ => format!(
                "no {rule} threshold: it needs labelled defects and normal images ({} defect(s), {} normal)",
                eval.report.counts.anomalous_images, eval.report.counts.normal_images
            ),
        })
}
