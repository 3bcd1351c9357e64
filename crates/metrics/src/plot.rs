//! PNG plots: pixel ROC and PRO curves, image ROC and precision–recall curves, the image-score
//! histogram with the thresholds. The plots are drawn with `plotters`' bitmap backend into a
//! buffer and encoded with `image`. No text is drawn (no font backend, no system fonts): axes,
//! a 0.1 grid and the curves only.

use crate::curve::{check_scores, thin_indices};
use crate::thresholds::{OperatingPoint, ThresholdRule};
use crate::{AUPRO_FPR_LIMIT, MetricError, ProCurve, RocCurve, roc_curve};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 480;

/// Writes a 960×480 PNG: on the left the ROC curve (FPR 0–1 across, TPR 0–1 up, with the
/// chance diagonal dashed in grey), on the right the PRO curve over FPR 0–0.3 (the AUPRO
/// integration range; the curve interpolated at 0.3), PRO 0–1 up. Grid lines every tenth of each
/// axis. There are no text labels (drawing text would need a font). Curves are thinned to the
/// image's resolution before drawing.
///
/// Errors: a curve with no points, mismatched lengths or non-finite rates, or the file cannot be
/// written.
pub fn write_curves_png(
    path: impl AsRef<Path>,
    roc: &RocCurve,
    pro: &ProCurve,
) -> Result<(), MetricError> {
    let path = path.as_ref();
    let err = |reason: String| output_error(path, reason);
    if roc.fpr.is_empty() || roc.fpr.len() != roc.tpr.len() {
        return Err(MetricError::InvalidArgument(
            "the ROC curve is empty or its lengths differ".into(),
        ));
    }
    if pro.fpr.is_empty() || pro.fpr.len() != pro.pro.len() {
        return Err(MetricError::InvalidArgument(
            "the PRO curve is empty or its lengths differ".into(),
        ));
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    if !(finite(&roc.fpr) && finite(&roc.tpr) && finite(&pro.fpr) && finite(&pro.pro)) {
        return Err(MetricError::InvalidArgument(
            "a curve has non-finite FPR/TPR/PRO values".into(),
        ));
    }
    let roc_points: Vec<(f64, f64)> = thin_indices(&roc.fpr, &roc.tpr, 1e-3)
        .into_iter()
        .map(|i| (roc.fpr[i], roc.tpr[i]))
        .collect();
    let pro_points = clip_to_limit(&pro.fpr, &pro.pro, AUPRO_FPR_LIMIT);

    let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        let (left, right) = root.split_horizontally(WIDTH / 2);
        panel(&left, 1.0, &roc_points, true).map_err(|e| err(e.to_string()))?;
        panel(&right, AUPRO_FPR_LIMIT, &pro_points, false).map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    save_rgb(path, &buf)
}

/// The points with FPR ≤ `limit`, plus the curve's linear interpolation at the limit, thinned.
fn clip_to_limit(x: &[f64], y: &[f64], limit: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (&a, &b) in x.iter().zip(y) {
        if a <= limit {
            out.push((a, b));
        } else {
            if let Some(&(pa, pb)) = out.last()
                && pa < limit
            {
                out.push((limit, pb + (b - pb) * (limit - pa) / (a - pa)));
            }
            break;
        }
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = out.iter().copied().unzip();
    thin_indices(&xs, &ys, 1e-3)
        .into_iter()
        .map(|i| out[i])
        .collect()
}

type DrawResult =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    x_max: f64,
    points: &[(f64, f64)],
    diagonal: bool,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin(24)
        .build_cartesian_2d(0f64..x_max, 0f64..1f64)?;
    let grid = RGBColor(225, 225, 225);
    for i in 1..10 {
        let t = i as f64 / 10.0;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(t * x_max, 0.0), (t * x_max, 1.0)],
            grid,
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, t), (x_max, t)],
            grid,
        )))?;
    }
    if diagonal {
        let grey = RGBColor(150, 150, 150);
        chart.draw_series((0..20).map(|k| {
            let (a, b) = (k as f64 / 20.0, (k as f64 + 0.5) / 20.0);
            PathElement::new(vec![(a, a), (b, b)], grey)
        }))?;
    }
    chart.draw_series(LineSeries::new(
        points.iter().copied(),
        BLUE.stroke_width(2),
    ))?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 0.0), (x_max, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    Ok(())
}

/// The colour of an operating point's marks in every plot (named in `report.md`).
pub fn rule_colour(rule: ThresholdRule) -> (&'static str, RGBColor) {
    match rule {
        ThresholdRule::Calibrated => ("black", RGBColor(0, 0, 0)),
        ThresholdRule::F1 => ("green", RGBColor(0, 150, 60)),
        ThresholdRule::Recall99 => ("orange", RGBColor(240, 140, 0)),
    }
}

/// The error of writing the plot `path`.
fn output_error(path: &Path, reason: impl ToString) -> MetricError {
    MetricError::Output {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn save_rgb(path: &Path, buf: &[u8]) -> Result<(), MetricError> {
    image::save_buffer_with_format(
        path,
        buf,
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| output_error(path, e))
}

/// Writes a 960×480 PNG of the image scores' curves: on the left the ROC curve (FPR across, TPR
/// up, chance diagonal dashed), on the right the precision–recall curve (recall across,
/// precision up). Each operating point is a filled dot in its [`rule_colour`] on both curves.
/// No text (see [`write_curves_png`]).
///
/// Errors: empty, mismatched or non-finite input, one class only, or the file cannot be written.
pub fn write_image_curves_png(
    path: impl AsRef<Path>,
    scores: &[f64],
    labels: &[bool],
    points: &[OperatingPoint],
) -> Result<(), MetricError> {
    let path = path.as_ref();
    let err = |reason: String| output_error(path, reason);
    let roc = roc_curve(scores, labels, false)?;
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let roc_points: Vec<(f64, f64)> = roc
        .fpr
        .iter()
        .copied()
        .zip(roc.tpr.iter().copied())
        .collect();
    // Precision from the same counts: TP = tpr·P, FP = fpr·N (the first ROC point flags nothing).
    let pr_points: Vec<(f64, f64)> = roc_points
        .iter()
        .filter_map(|&(fpr, tpr)| {
            let (tp, fp) = (tpr * positives, fpr * negatives);
            (tp + fp > 0.0).then(|| (tpr, tp / (tp + fp)))
        })
        .collect();
    let marks = |roc_side: bool| -> Vec<((f64, f64), RGBColor)> {
        points
            .iter()
            .filter_map(|p| {
                let c = &p.confusion;
                let (recall, far) = (c.recall()?, c.false_alarm_rate()?);
                let xy = if roc_side {
                    (far, recall)
                } else {
                    (recall, c.precision().unwrap_or(1.0))
                };
                Some((xy, rule_colour(p.rule).1))
            })
            .collect()
    };
    let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        let (left, right) = root.split_horizontally(WIDTH / 2);
        for (area, pts, roc_side) in [(&left, &roc_points, true), (&right, &pr_points, false)] {
            panel(area, 1.0, pts, roc_side).map_err(|e| err(e.to_string()))?;
            dots(area, &marks(roc_side)).map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    save_rgb(path, &buf)
}

/// Operating-point dots over a panel drawn by [`panel`] (same margins and unit square).
fn dots(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    marks: &[((f64, f64), RGBColor)],
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin(24)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
    chart.draw_series(
        marks
            .iter()
            .map(|&(xy, colour)| Circle::new(xy, 6, colour.filled())),
    )?;
    Ok(())
}

/// Bins of the score histogram.
const BINS: usize = 40;

/// Writes a 960×480 PNG histogram of image scores: normal images' counts as green bars rising
/// from the middle line, defects' as red bars hanging below it (so neither hides the other),
/// 40 bins over the range of the scores and thresholds, and each operating point's threshold as
/// a vertical line in its [`rule_colour`]. No text (see [`write_curves_png`]).
///
/// Errors: empty, mismatched or non-finite input, or the file cannot be written.
pub fn write_score_histogram_png(
    path: impl AsRef<Path>,
    scores: &[f64],
    labels: &[bool],
    points: &[OperatingPoint],
) -> Result<(), MetricError> {
    let path = path.as_ref();
    check_scores(scores, labels)?;
    let err = |reason: String| output_error(path, reason);
    let values = scores
        .iter()
        .chain(points.iter().map(|p| &p.threshold))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let width = (hi - lo) / BINS as f64;
    let mut normal = [0u32; BINS];
    let mut defect = [0u32; BINS];
    for (&s, &l) in scores.iter().zip(labels) {
        let bin = (((s - lo) / width) as usize).min(BINS - 1);
        if l {
            defect[bin] += 1;
        } else {
            normal[bin] += 1;
        }
    }
    let top = normal
        .iter()
        .chain(&defect)
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> DrawResult {
            let mut chart = ChartBuilder::on(&root)
                .margin(24)
                .build_cartesian_2d(lo..hi, -top..top)?;
            let x = |i: usize| lo + i as f64 * width;
            let bar = |i: usize, h: f64, colour: RGBColor| {
                Rectangle::new([(x(i), 0.0), (x(i + 1), h)], colour.filled())
            };
            chart.draw_series(
                (0..BINS)
                    .filter(|&i| normal[i] > 0)
                    .map(|i| bar(i, normal[i] as f64, RGBColor(60, 170, 90))),
            )?;
            chart.draw_series(
                (0..BINS)
                    .filter(|&i| defect[i] > 0)
                    .map(|i| bar(i, -(defect[i] as f64), RGBColor(210, 60, 50))),
            )?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lo, 0.0), (hi, 0.0)],
                RGBColor(120, 120, 120),
            )))?;
            chart.draw_series(points.iter().filter(|p| p.threshold.is_finite()).map(|p| {
                PathElement::new(
                    vec![(p.threshold, -top), (p.threshold, top)],
                    rule_colour(p.rule).1.stroke_width(2),
                )
            }))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(lo, -top), (hi, top)],
                BLACK.stroke_width(1),
            )))?;
            Ok(())
        };
        draw().map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    save_rgb(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixels(path: &Path) -> image::RgbImage {
        image::open(path).unwrap().to_rgb8()
    }

    fn has_colour(img: &image::RgbImage, c: RGBColor) -> bool {
        img.pixels().any(|p| p.0 == [c.0, c.1, c.2])
    }

    #[test]
    fn image_curves_and_histogram_mark_the_operating_points() {
        let t = tempfile::tempdir().unwrap();
        let scores = [0.1, 0.2, 0.3, 0.35, 0.6, 0.9];
        let labels = [false, false, true, false, true, true];
        let points = [
            OperatingPoint::new(ThresholdRule::Calibrated, 0.36, &scores, &labels),
            OperatingPoint::new(ThresholdRule::Recall99, 0.29, &scores, &labels),
        ];
        let curves = t.path().join("c.png");
        write_image_curves_png(&curves, &scores, &labels, &points).unwrap();
        let img = pixels(&curves);
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        let orange = rule_colour(ThresholdRule::Recall99).1;
        assert!(has_colour(&img, orange));
        assert!(!has_colour(&img, rule_colour(ThresholdRule::F1).1));
        let hist = t.path().join("h.png");
        write_score_histogram_png(&hist, &scores, &labels, &points).unwrap();
        let img = pixels(&hist);
        assert!(has_colour(&img, RGBColor(60, 170, 90)) && has_colour(&img, RGBColor(210, 60, 50)));
        assert!(has_colour(&img, orange));
        // One class only: no ROC curve, but a histogram.
        assert!(write_image_curves_png(&curves, &scores[..2], &labels[..2], &[]).is_err());
        write_score_histogram_png(&hist, &scores[..2], &labels[..2], &[]).unwrap();
        assert!(write_score_histogram_png(&hist, &[f64::NAN], &[true], &[]).is_err());
    }
}
