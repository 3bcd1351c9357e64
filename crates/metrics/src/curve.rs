//! ROC curves, AUROC and F1-max with scikit-learn's tie semantics (hand-written: scikit-learn's
//! `_binary_clf_curve`, `roc_curve`, `roc_auc_score` and `precision_recall_curve` have no
//! maintained Rust equivalent).

use crate::MetricError;
use crate::pixels::{Group, SortedPixels};
use serde::{Deserialize, Serialize};

/// A receiver operating characteristic curve, as `sklearn.metrics.roc_curve` returns it.
///
/// Points are ordered by decreasing threshold. The first point is `(0, 0)` with threshold
/// `+inf` (scikit-learn ≥ 1.3; serialised as `null` in JSON); then one point per kept distinct
/// score `t`, where a sample is predicted positive when `score >= t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// False-positive rates, non-decreasing, from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing, from 0 to 1.
    pub tpr: Vec<f64>,
    /// The decision thresholds, decreasing; the first is `+inf` (`null` in JSON).
    #[serde(with = "crate::thresholds_serde")]
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// The curve with points dropped until consecutive kept points differ by at least `min_step`
    /// in FPR or TPR (the first and last points are always kept): for plotting huge curves.
    /// This is not scikit-learn's `drop_intermediate` (which drops collinear points only).
    pub fn thinned(&self, min_step: f64) -> RocCurve {
        let n = self
            .fpr
            .len()
            .min(self.tpr.len())
            .min(self.thresholds.len());
        let keep = thin_indices(&self.fpr[..n], &self.tpr[..n], min_step);
        RocCurve {
            fpr: keep.iter().map(|&i| self.fpr[i]).collect(),
            tpr: keep.iter().map(|&i| self.tpr[i]).collect(),
            thresholds: keep.iter().map(|&i| self.thresholds[i]).collect(),
        }
    }

    /// Area under the curve by the trapezoidal rule (`sklearn.metrics.auc`).
    pub fn area(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
            .sum()
    }
}

/// Indices of the points kept by thinning with `min_step` (see [`RocCurve::thinned`]).
pub(crate) fn thin_indices(x: &[f64], y: &[f64], min_step: f64) -> Vec<usize> {
    let n = x.len().min(y.len());
    let mut keep = Vec::new();
    if n == 0 {
        return keep;
    }
    keep.push(0);
    let (mut lx, mut ly) = (x[0], y[0]);
    for i in 1..n {
        if i + 1 == n || (x[i] - lx).abs() >= min_step || (y[i] - ly).abs() >= min_step {
            keep.push(i);
            lx = x[i];
            ly = y[i];
        }
    }
    keep
}

/// The maximum F1 score over all decision thresholds and where it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct F1Max {
    /// The largest F1 = 2·precision·recall / (precision + recall).
    pub f1: f64,
    /// The threshold reaching it: samples with `score >= threshold` are predicted anomalous. When
    /// several thresholds reach the same F1, the smallest one (what `np.argmax` over
    /// `precision_recall_curve`'s increasing thresholds picks).
    pub threshold: f64,
}

/// Maps an `f64` to a `u64` whose unsigned order is the float's numeric order (finite values;
/// `-0.0` is folded onto `+0.0`, as NumPy's comparisons treat them as equal).
pub(crate) fn f64_key(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// Checks 1-D image scores and labels: the same length, not empty, finite scores.
pub(crate) fn check_scores(scores: &[f64], labels: &[bool]) -> Result<(), MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::LengthMismatch {
            what: "scores and labels".into(),
            left: scores.len(),
            right: labels.len(),
        });
    }
    if scores.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some(i) = scores.iter().position(|v| !v.is_finite()) {
        return Err(MetricError::NonFinite {
            image: None,
            index: i,
        });
    }
    Ok(())
}

/// Validates 1-D scores/labels and returns the samples sorted by decreasing score.
fn sorted_samples(scores: &[f64], labels: &[bool]) -> Result<Vec<(u64, f64, bool)>, MetricError> {
    check_scores(scores, labels)?;
    let mut v: Vec<(u64, f64, bool)> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &l)| (f64_key(s), s + 0.0, l))
        .collect();
    v.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
    Ok(v)
}

/// Calls `f` once per distinct score, in decreasing order, with the group's counts.
fn sample_groups(sorted: &[(u64, f64, bool)], mut f: impl FnMut(Group)) {
    let mut i = 0;
    while i < sorted.len() {
        let key = sorted[i].0;
        let mut g = Group {
            threshold: sorted[i].1,
            pos: 0,
            neg: 0,
        };
        while i < sorted.len() && sorted[i].0 == key {
            if sorted[i].2 {
                g.pos += 1;
            } else {
                g.neg += 1;
            }
            i += 1;
        }
        f(g);
    }
}

/// Exact AUROC from tie groups in decreasing score order: twice the trapezoid area in integer
/// units, Σ Δfp·(tp_before + tp_after), divided once by 2·P·N.
#[derive(Default)]
pub(crate) struct AucAccumulator {
    tp: u64,
    fp: u64,
    twice_area: u128,
}

impl AucAccumulator {
    pub(crate) fn push(&mut self, g: &Group) {
        self.twice_area += g.neg as u128 * (2 * self.tp as u128 + g.pos as u128);
        self.tp += g.pos;
        self.fp += g.neg;
    }

    pub(crate) fn finish(&self, metric: &'static str) -> Result<f64, MetricError> {
        if self.tp == 0 || self.fp == 0 {
            return Err(MetricError::OneClass {
                metric,
                positives: self.tp,
                negatives: self.fp,
            });
        }
        Ok(self.twice_area as f64 / (2.0 * self.tp as f64 * self.fp as f64))
    }
}

/// Area under the ROC curve of image scores; equal to `sklearn.metrics.roc_auc_score(labels,
/// scores)`, ties included (a tie between a positive and a negative counts ½).
///
/// `labels[i]` is `true` for an anomalous sample. Errors: empty or mismatched input, a
/// non-finite score, or only one class present.
///
/// ```
/// let auc = rdpp_metrics::image_auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])?;
/// assert_eq!(auc, 0.75);
/// # Ok::<(), rdpp_metrics::MetricError>(())
/// ```
pub fn image_auroc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let sorted = sorted_samples(scores, labels)?;
    let mut acc = AucAccumulator::default();
    sample_groups(&sorted, |g| acc.push(&g));
    acc.finish("image AUROC")
}

/// Area under the ROC curve of all pixels of all images pooled (`roc_auc_score` on the
/// concatenated, flattened maps and masks), ties included.
///
/// `maps[i]` and `masks[i]` are image `i`'s pixel scores and ground truth (`true` = anomalous),
/// of equal length; images may differ in size. Memory: one sorted `u64` per pixel (e.g. 52 MB for
/// 100 maps of 256×256), no per-threshold pass. Errors as [`image_auroc`].
pub fn pixel_auroc(maps: &[&[f32]], masks: &[&[bool]]) -> Result<f64, MetricError> {
    SortedPixels::new(maps, masks, None)?.auroc()
}

/// Builds sklearn's (fps, tps, thresholds) from tie groups and turns it into a [`RocCurve`].
#[derive(Default)]
struct RocBuilder {
    fps: Vec<u64>,
    tps: Vec<u64>,
    thresholds: Vec<f64>,
    tp: u64,
    fp: u64,
}

impl RocBuilder {
    fn push(&mut self, g: &Group) {
        self.tp += g.pos;
        self.fp += g.neg;
        self.fps.push(self.fp);
        self.tps.push(self.tp);
        self.thresholds.push(g.threshold);
    }

    fn finish(
        self,
        drop_intermediate: bool,
        metric: &'static str,
    ) -> Result<RocCurve, MetricError> {
        if self.tp == 0 || self.fp == 0 {
            return Err(MetricError::OneClass {
                metric,
                positives: self.tp,
                negatives: self.fp,
            });
        }
        let n = self.fps.len();
        // sklearn: optimal_idxs = where(r_[True, diff(fps, 2) | diff(tps, 2), True]).
        let second_diff = |v: &[u64], i: usize| v[i - 1] + v[i + 1] != 2 * v[i];
        let keep: Vec<usize> = if drop_intermediate && n > 2 {
            (0..n)
                .filter(|&i| {
                    i == 0 || i == n - 1 || second_diff(&self.fps, i) || second_diff(&self.tps, i)
                })
                .collect()
        } else {
            (0..n).collect()
        };
        let (p, q) = (self.tp as f64, self.fp as f64);
        let mut curve = RocCurve {
            fpr: Vec::with_capacity(keep.len() + 1),
            tpr: Vec::with_capacity(keep.len() + 1),
            thresholds: Vec::with_capacity(keep.len() + 1),
        };
        curve.fpr.push(0.0);
        curve.tpr.push(0.0);
        curve.thresholds.push(f64::INFINITY);
        for i in keep {
            curve.fpr.push(self.fps[i] as f64 / q);
            curve.tpr.push(self.tps[i] as f64 / p);
            curve.thresholds.push(self.thresholds[i]);
        }
        Ok(curve)
    }
}

/// The ROC curve of image scores, point for point what `sklearn.metrics.roc_curve(labels,
/// scores, drop_intermediate=…)` returns (scikit-learn ≥ 1.3: the first threshold is `+inf`).
///
/// `drop_intermediate = true` drops the points scikit-learn drops (collinear points, which do
/// not change the area); `false` keeps one point per distinct score. Errors as [`image_auroc`].
pub fn roc_curve(
    scores: &[f64],
    labels: &[bool],
    drop_intermediate: bool,
) -> Result<RocCurve, MetricError> {
    let sorted = sorted_samples(scores, labels)?;
    let mut b = RocBuilder::default();
    sample_groups(&sorted, |g| b.push(&g));
    b.finish(drop_intermediate, "ROC curve")
}

/// The pixel-level ROC curve (all pixels pooled) for plotting: one point per distinct pixel score
/// (scikit-learn's `drop_intermediate=False`), then thinned with `min_step` (see
/// [`RocCurve::thinned`]; `0.0` keeps every point — up to one per pixel, 24 bytes each, so pass
/// e.g. `1e-3` for large test sets). Errors as [`pixel_auroc`], plus a negative or non-finite
/// `min_step`.
pub fn pixel_roc_curve(
    maps: &[&[f32]],
    masks: &[&[bool]],
    min_step: f64,
) -> Result<RocCurve, MetricError> {
    if !(min_step >= 0.0 && min_step.is_finite()) {
        return Err(MetricError::InvalidArgument(format!(
            "min_step {min_step} must be finite and ≥ 0"
        )));
    }
    let pixels = SortedPixels::new(maps, masks, None)?;
    pixels.roc_curve(min_step)
}

impl SortedPixels {
    /// Pixel AUROC of the pooled pixels.
    pub(crate) fn auroc(&self) -> Result<f64, MetricError> {
        let mut acc = AucAccumulator::default();
        self.for_each_group(|g| {
            acc.push(&g);
            std::ops::ControlFlow::Continue(())
        });
        acc.finish("pixel AUROC")
    }

    /// Pixel ROC curve, thinned while it is built (never holds more than the kept points).
    pub(crate) fn roc_curve(&self, min_step: f64) -> Result<RocCurve, MetricError> {
        let (p, q) = (self.n_anomalous, self.n_normal);
        if p == 0 || q == 0 {
            return Err(MetricError::OneClass {
                metric: "pixel ROC curve",
                positives: p,
                negatives: q,
            });
        }
        let mut curve = RocCurve {
            fpr: vec![0.0],
            tpr: vec![0.0],
            thresholds: vec![f64::INFINITY],
        };
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut pending: Option<(f64, f64, f64)> = None;
        self.for_each_group(|g| {
            tp += g.pos;
            fp += g.neg;
            let (x, y) = (fp as f64 / q as f64, tp as f64 / p as f64);
            let (lx, ly) = (
                curve.fpr[curve.fpr.len() - 1],
                curve.tpr[curve.tpr.len() - 1],
            );
            if (x - lx).abs() >= min_step || (y - ly).abs() >= min_step {
                curve.fpr.push(x);
                curve.tpr.push(y);
                curve.thresholds.push(g.threshold);
                pending = None;
            } else {
                pending = Some((x, y, g.threshold));
            }
            std::ops::ControlFlow::Continue(())
        });
        if let Some((x, y, t)) = pending {
            curve.fpr.push(x);
            curve.tpr.push(y);
            curve.thresholds.push(t);
        }
        Ok(curve)
    }
}

/// The maximum F1 score over all thresholds of image scores, with `precision_recall_curve`
/// semantics: for each distinct score `t`, samples with `score >= t` are predicted positive;
/// F1 = 2·TP / (2·TP + FP + FN) (= 2PR/(P+R); 0 where TP = 0).
///
/// Computed exactly from integer counts (maxima compared as fractions), so it may differ from
/// `np.max(2*p*r/(p+r))` in the last bit. Errors: empty, mismatched or non-finite input, or no
/// positive sample (negatives are optional).
pub fn f1_max(scores: &[f64], labels: &[bool]) -> Result<F1Max, MetricError> {
    let sorted = sorted_samples(scores, labels)?;
    let positives = labels.iter().filter(|&&l| l).count() as u64;
    if positives == 0 {
        return Err(MetricError::OneClass {
            metric: "F1-max",
            positives: 0,
            negatives: labels.len() as u64,
        });
    }
    let (mut tp, mut fp) = (0u64, 0u64);
    // Best F1 as the fraction num/den = 2·TP / (TP + FP + P).
    let mut best: Option<(u128, u128, f64)> = None;
    sample_groups(&sorted, |g| {
        tp += g.pos;
        fp += g.neg;
        let (num, den) = (2 * tp as u128, (tp + fp + positives) as u128);
        // Thresholds decrease: `>=` keeps the smallest threshold among equal maxima.
        let better = match best {
            None => true,
            Some((bn, bd, _)) => num * bd >= bn * den,
        };
        if better {
            best = Some((num, den, g.threshold));
        }
    });
    let (num, den, threshold) = best.ok_or(MetricError::Empty)?;
    Ok(F1Max {
        f1: num as f64 / den as f64,
        threshold,
    })
}
