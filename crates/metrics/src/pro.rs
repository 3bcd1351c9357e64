//! The per-region overlap (PRO) curve and AUPRO, the standard MVTec AD definition (Bergmann et
//! al., "The MVTec Anomaly Detection Dataset", IJCV 2021, and the MVTec AD evaluation code).

use crate::curve::thin_indices;
use crate::pixels::SortedPixels;
use crate::{CompensatedSum, MetricError};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// The customary FPR integration limit of AUPRO (AUPRO@0.3).
pub const AUPRO_FPR_LIMIT: f64 = 0.3;

/// A per-region overlap curve: for each threshold `t` (decreasing), the false-positive rate over
/// all normal pixels of all images and the PRO, the overlap `|region ∩ {score >= t}| / |region|`
/// averaged over all ground-truth regions of all images.
///
/// The first point is `(0, 0)` with threshold `+inf` (serialised as `null`); the last is
/// `(1, 1)`, the smallest score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProCurve {
    /// False-positive rates over all normal pixels, non-decreasing.
    pub fpr: Vec<f64>,
    /// Mean per-region overlaps, non-decreasing.
    pub pro: Vec<f64>,
    /// The thresholds, decreasing; the first is `+inf` (`null` in JSON).
    #[serde(with = "crate::thresholds_serde")]
    pub thresholds: Vec<f64>,
}

impl ProCurve {
    /// The area under the curve from FPR 0 to `fpr_limit`, the curve linearly interpolated at the
    /// limit, divided by the limit: the AUPRO of the curve's maps, as [`aupro`] computes it
    /// (exactly when the curve is not thinned). Errors: `fpr_limit` outside (0, 1].
    pub fn area(&self, fpr_limit: f64) -> Result<f64, MetricError> {
        check_limit(fpr_limit)?;
        let mut integ = LimitIntegrator::new(fpr_limit);
        for (&x, &y) in self.fpr.iter().zip(&self.pro) {
            if integ.push(x, y).is_break() {
                break;
            }
        }
        Ok(integ.area() / fpr_limit)
    }

    /// The curve with points dropped until consecutive kept points differ by at least `min_step`
    /// in FPR or PRO (first and last points always kept), for plotting.
    pub fn thinned(&self, min_step: f64) -> ProCurve {
        let n = self
            .fpr
            .len()
            .min(self.pro.len())
            .min(self.thresholds.len());
        let keep = thin_indices(&self.fpr[..n], &self.pro[..n], min_step);
        ProCurve {
            fpr: keep.iter().map(|&i| self.fpr[i]).collect(),
            pro: keep.iter().map(|&i| self.pro[i]).collect(),
            thresholds: keep.iter().map(|&i| self.thresholds[i]).collect(),
        }
    }
}

fn check_limit(fpr_limit: f64) -> Result<(), MetricError> {
    if fpr_limit > 0.0 && fpr_limit <= 1.0 {
        Ok(())
    } else {
        Err(MetricError::InvalidArgument(format!(
            "FPR limit {fpr_limit} is not in (0, 1]"
        )))
    }
}

/// Trapezoidal area under a curve given point by point in increasing x from `(0, 0)`, up to
/// `limit`, with the point at the limit interpolated linearly between the last point at or
/// below it and the first beyond it (the MVTec evaluation code's `trapezoid(x, y, x_max)`).
struct LimitIntegrator {
    limit: f64,
    prev: (f64, f64),
    area: CompensatedSum,
}

impl LimitIntegrator {
    fn new(limit: f64) -> Self {
        LimitIntegrator {
            limit,
            prev: (0.0, 0.0),
            area: CompensatedSum::default(),
        }
    }

    /// Adds the next point; breaks once the limit has been passed (the area is then final).
    fn push(&mut self, x: f64, y: f64) -> ControlFlow<()> {
        let (px, py) = self.prev;
        if x <= self.limit {
            self.area.add(0.5 * (y + py) * (x - px));
            self.prev = (x, y);
            ControlFlow::Continue(())
        } else {
            if px < self.limit {
                let y_at = py + (y - py) * (self.limit - px) / (x - px);
                self.area.add(0.5 * (y_at + py) * (self.limit - px));
            }
            ControlFlow::Break(())
        }
    }

    fn area(&self) -> f64 {
        self.area.value()
    }
}

impl SortedPixels {
    /// Calls `f(fpr, pro, threshold)` for each distinct score in decreasing order until it breaks.
    fn pro_points(
        &self,
        mut f: impl FnMut(f64, f64, f64) -> ControlFlow<()>,
    ) -> Result<(), MetricError> {
        if self.n_normal == 0 || self.n_regions == 0 {
            return Err(MetricError::OneClass {
                metric: "PRO curve",
                positives: self.n_anomalous,
                negatives: self.n_normal,
            });
        }
        let (n_ok, n_regions) = (self.n_normal as f64, self.n_regions as f64);
        let mut fp = 0u64;
        let mut pro = CompensatedSum::default();
        self.for_each_group_pro(|g, pro_increment| {
            fp += g.neg;
            pro.add(pro_increment);
            f(
                fp as f64 / n_ok,
                (pro.value() / n_regions).min(1.0),
                g.threshold,
            )
        });
        Ok(())
    }
}

/// AUPRO: the area under the PRO curve (see [`ProCurve`]) from FPR 0 to `fpr_limit`, the curve
/// interpolated linearly at the limit, divided by `fpr_limit` — the standard MVTec AD definition
/// (customarily `fpr_limit` = [`AUPRO_FPR_LIMIT`] = 0.3).
///
/// - Ground-truth regions are the 8-connected components of each mask (see
///   [`label_regions`](crate::label_regions)); every region of every image counts once in the
///   average, whatever its size.
/// - The FPR is over all normal pixels of all images, including the normal images'.
/// - Thresholds: every distinct pixel score (no binning), ties handled together; the curve starts
///   at `(0, 0)`.
///
/// All maps must have `width * height` pixels (row-major). Memory: one `u64` per pixel plus a
/// label buffer for one image. Differences from anomalib's `AUPRO`: anomalib resamples each
/// region's ROC curve on a common index grid, normalises by its last FPR and works in `f32`, so
/// it approximates this value; the MVTec evaluation code computes this value.
///
/// Errors: empty, mismatched or non-finite input, a zero dimension, `fpr_limit` outside (0, 1],
/// no anomalous pixel or no normal pixel.
pub fn aupro(
    maps: &[&[f32]],
    masks: &[&[bool]],
    width: usize,
    height: usize,
    fpr_limit: f64,
) -> Result<f64, MetricError> {
    check_limit(fpr_limit)?;
    let pixels = SortedPixels::new(maps, masks, Some((width, height)))?;
    pixels.aupro(fpr_limit)
}

impl SortedPixels {
    /// AUPRO of pixels sorted with region labels.
    pub(crate) fn aupro(&self, fpr_limit: f64) -> Result<f64, MetricError> {
        check_limit(fpr_limit)?;
        let mut integ = LimitIntegrator::new(fpr_limit);
        self.pro_points(|x, y, _| integ.push(x, y))?;
        Ok(integ.area() / fpr_limit)
    }

    /// The PRO curve, thinned while it is built.
    pub(crate) fn pro_curve(&self, min_step: f64) -> Result<ProCurve, MetricError> {
        let mut curve = ProCurve {
            fpr: vec![0.0],
            pro: vec![0.0],
            thresholds: vec![f64::INFINITY],
        };
        let mut pending = None;
        self.pro_points(|x, y, t| {
            let (lx, ly) = (
                curve.fpr[curve.fpr.len() - 1],
                curve.pro[curve.pro.len() - 1],
            );
            if (x - lx).abs() >= min_step || (y - ly).abs() >= min_step {
                curve.fpr.push(x);
                curve.pro.push(y);
                curve.thresholds.push(t);
                pending = None;
            } else {
                pending = Some((x, y, t));
            }
            ControlFlow::Continue(())
        })?;
        if let Some((x, y, t)) = pending {
            curve.fpr.push(x);
            curve.pro.push(y);
            curve.thresholds.push(t);
        }
        Ok(curve)
    }
}

/// The PRO curve of the maps (all thresholds, see [`ProCurve`]), thinned with `min_step` (`0.0`
/// keeps one point per distinct pixel score — up to one per pixel, 24 bytes each; pass e.g.
/// `1e-3` for plotting large test sets). Errors as [`aupro`], plus a negative or non-finite
/// `min_step`.
pub fn pro_curve(
    maps: &[&[f32]],
    masks: &[&[bool]],
    width: usize,
    height: usize,
    min_step: f64,
) -> Result<ProCurve, MetricError> {
    if !(min_step >= 0.0 && min_step.is_finite()) {
        return Err(MetricError::InvalidArgument(format!(
            "min_step {min_step} must be finite and ≥ 0"
        )));
    }
    let pixels = SortedPixels::new(maps, masks, Some((width, height)))?;
    pixels.pro_curve(min_step)
}
