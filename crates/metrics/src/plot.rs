//! PNG plots of a ROC curve and a PRO curve, drawn with `plotters`' bitmap backend into a
//! buffer and encoded with `image`. No text is drawn (no font backend, no system fonts): axes,
//! a 0.1 grid and the curves only.

use crate::curve::thin_indices;
use crate::{AUPRO_FPR_LIMIT, MetricError, ProCurve, RocCurve};
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
    let err = |reason: String| MetricError::Output {
        path: path.to_path_buf(),
        reason,
    };
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
    image::save_buffer_with_format(
        path,
        &buf,
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|e| err(e.to_string()))
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
