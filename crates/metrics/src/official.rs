//! The official RD++ code's "PRO" — a compatibility metric, NOT the standard AUPRO.
//!
//! Reproduces `compute_pro` in `utils/utils_test.py` of the official RD++ repository
//! (tientrandinh/Revisiting-Reverse-Distillation, inherited from the RD code) as its
//! `evaluation_multi_proj` calls it: once per anomalous test image, then `np.mean` over those
//! images. Per image:
//!
//! 1. thresholds `np.arange(min, max, (max - min) / 200)` over that image's own map (200 or, by
//!    floating-point rounding of the length, 201 values; see [`official_pro_thresholds`]);
//! 2. at each threshold `th`, pixels with `score > th` are positive; PRO = mean over the image's
//!    regions (`skimage.measure.label`, 8-connectivity) of the covered fraction; FPR = positive
//!    normal pixels / normal pixels of that image;
//! 3. keep the thresholds with FPR < 0.3 (strictly), divide their FPRs by the largest kept FPR
//!    (so the FPR axis is rescaled to end at 1 instead of being cut at 0.3: no interpolation at
//!    the limit, and the area depends on where the 200-step grid happens to fall);
//! 4. `sklearn.metrics.auc(fpr, pro)` (trapezoids).
//!
//! Why it differs from [`aupro`](crate::aupro): per image instead of pooled, FPR per image,
//! normal images ignored, a coarse per-image threshold grid, rescaled FPR axis. It is provided to
//! compare with published RD/RD++ numbers ("PRO" columns) only.

use crate::regions::label_into;
use crate::{CompensatedSum, MetricError, check_dims, check_maps};

/// Number of threshold steps of the official PRO (`num_th = 200`).
pub const OFFICIAL_PRO_THRESHOLDS: usize = 200;

/// The official PRO keeps thresholds whose FPR is strictly below this.
pub const OFFICIAL_PRO_FPR_LIMIT: f64 = 0.3;

const METRIC: &str = "official RD++ PRO";

/// The official PRO's thresholds for a map whose scores span `[min, max]`, value for value what
/// `np.arange(min, max, (max - min) / 200)` returns in `float64`: length
/// `ceil((max - min) / step)` (200, or 201 when the division rounds up: about 6% of random
/// ranges), values `min`, `min + step`, then `min + i·((min + step) − min)` (NumPy's fill rule).
///
/// Errors: non-finite bounds; `max <= min` (a constant map: NumPy raises there too).
pub fn official_pro_thresholds(min: f64, max: f64) -> Result<Vec<f64>, MetricError> {
    if !(min.is_finite() && max.is_finite()) {
        return Err(MetricError::InvalidArgument(format!(
            "threshold range [{min}, {max}] is not finite"
        )));
    }
    if max <= min {
        return Err(MetricError::Undefined {
            metric: METRIC,
            reason: "the anomaly map is constant (np.arange with a zero step raises)".into(),
        });
    }
    let step = (max - min) / OFFICIAL_PRO_THRESHOLDS as f64;
    if step <= 0.0 {
        return Err(MetricError::Undefined {
            metric: METRIC,
            reason: "the threshold step underflows to 0".into(),
        });
    }
    let len = ((max - min) / step).ceil();
    if !(len >= 1.0 && len <= 10.0 * OFFICIAL_PRO_THRESHOLDS as f64) {
        return Err(MetricError::Undefined {
            metric: METRIC,
            reason: format!("np.arange length {len}"),
        });
    }
    let len = len as usize;
    let mut v = Vec::with_capacity(len);
    v.push(min);
    if len > 1 {
        v.push(min + step);
    }
    let fill_step = (min + step) - min;
    for i in 2..len {
        v.push(min + i as f64 * fill_step);
    }
    Ok(v)
}

/// The official RD++ PRO of one anomalous image (see the module documentation for the exact
/// procedure). `map` and `mask` are row-major `width × height`.
///
/// Errors where the official code raises or returns NaN: a mask without anomalous or without
/// normal pixels (its `assert set(masks) == {0, 1}`), a constant map (`np.arange` with step 0),
/// fewer than two thresholds with FPR < 0.3 (`auc` needs two points), every kept FPR 0 (its
/// rescaling divides 0 by 0: NaN) — plus mismatched sizes and non-finite scores.
pub fn official_pro_image(
    map: &[f32],
    mask: &[bool],
    width: usize,
    height: usize,
) -> Result<f64, MetricError> {
    let n = check_dims(width, height)?;
    check_maps(&[map], &[mask], Some(n))?;
    let mut labels = Vec::new();
    let mut sizes = Vec::new();
    official_pro_checked(map, mask, width, height, &mut labels, &mut sizes)
}

fn official_pro_checked(
    map: &[f32],
    mask: &[bool],
    width: usize,
    height: usize,
    labels: &mut Vec<u32>,
    sizes: &mut Vec<u32>,
) -> Result<f64, MetricError> {
    let n_regions = label_into(mask, width, height, labels, sizes);
    let n_anomalous: usize = sizes.iter().map(|&s| s as usize).sum();
    let n_normal = mask.len() - n_anomalous;
    if n_regions == 0 || n_normal == 0 {
        return Err(MetricError::OneClass {
            metric: METRIC,
            positives: n_anomalous as u64,
            negatives: n_normal as u64,
        });
    }
    // The official maps are float64; ours are f32, widened exactly.
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in map {
        min = min.min(v as f64);
        max = max.max(v as f64);
    }
    let thresholds = official_pro_thresholds(min, max)?;

    // Sorted scores of the normal pixels and of each region: counting `score > th` is then a
    // binary search (same counts as binarising the map per threshold, far fewer operations).
    let mut normal: Vec<f64> = Vec::with_capacity(n_normal);
    let mut regions: Vec<Vec<f64>> = sizes
        .iter()
        .map(|&s| Vec::with_capacity(s as usize))
        .collect();
    for (&v, &l) in map.iter().zip(labels.iter()) {
        if l == 0 {
            normal.push(v as f64);
        } else {
            regions[l as usize - 1].push(v as f64);
        }
    }
    let sort = |v: &mut Vec<f64>| v.sort_unstable_by(f64::total_cmp);
    sort(&mut normal);
    regions.iter_mut().for_each(sort);
    let above = |sorted: &[f64], th: f64| sorted.len() - sorted.partition_point(|&v| v <= th);

    // (fpr, pro) per threshold, increasing thresholds; kept only where fpr < 0.3.
    let mut kept: Vec<(f64, f64)> = Vec::with_capacity(thresholds.len());
    for &th in &thresholds {
        let mut pros = CompensatedSum::default();
        for r in &regions {
            pros.add(above(r, th) as f64 / r.len() as f64);
        }
        let pro = pros.value() / n_regions as f64; // statistics.mean (exact in Python)
        let fpr = above(&normal, th) as f64 / n_normal as f64;
        if fpr < OFFICIAL_PRO_FPR_LIMIT {
            kept.push((fpr, pro));
        }
    }
    if kept.len() < 2 {
        return Err(MetricError::Undefined {
            metric: METRIC,
            reason: format!(
                "{} threshold(s) with FPR < 0.3 (sklearn.metrics.auc needs at least 2)",
                kept.len()
            ),
        });
    }
    let max_fpr = kept.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if max_fpr <= 0.0 {
        return Err(MetricError::Undefined {
            metric: METRIC,
            reason: "every threshold with FPR < 0.3 has FPR 0: the official rescaling divides 0 by 0 (NaN)"
                .into(),
        });
    }
    // sklearn.metrics.auc: direction from the x differences, then np.trapz(y, x).
    let x: Vec<f64> = kept.iter().map(|p| p.0 / max_fpr).collect();
    let dx: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let direction = if dx.iter().any(|&d| d < 0.0) {
        if dx.iter().all(|&d| d <= 0.0) {
            -1.0
        } else {
            return Err(MetricError::Undefined {
                metric: METRIC,
                reason: "FPR is not monotonic (sklearn.metrics.auc raises)".into(),
            });
        }
    } else {
        1.0
    };
    let mut area = CompensatedSum::default();
    for (i, d) in dx.iter().enumerate() {
        area.add(d * (kept[i + 1].1 + kept[i].1) / 2.0);
    }
    Ok(direction * area.value() + 0.0)
}

/// The official RD++ "PRO" of a test set: [`official_pro_image`] of every anomalous image (mask
/// with any `true` pixel; normal images are skipped, as the official code skips label-0 images),
/// averaged (`np.mean`). A compatibility metric for comparing with published RD/RD++ "PRO"
/// numbers — use [`aupro`](crate::aupro) for the standard metric. The official code rounds to 4
/// decimals for printing; this does not round.
///
/// Differences from running the official code: our maps are `f32` (the official ones `float64`
/// before thresholding); Python's `statistics.mean` of the per-region overlaps is exact while this
/// uses compensated summation (≤ 1e-15 apart).
///
/// Errors: as [`official_pro_image`] for any anomalous image (the official mean would then raise
/// or be NaN), or no anomalous image at all.
pub fn official_pro(
    maps: &[&[f32]],
    masks: &[&[bool]],
    width: usize,
    height: usize,
) -> Result<f64, MetricError> {
    let n = check_dims(width, height)?;
    check_maps(maps, masks, Some(n))?;
    let (mut labels, mut sizes) = (Vec::new(), Vec::new());
    let mut sum = CompensatedSum::default();
    let mut count = 0usize;
    for (i, (map, mask)) in maps.iter().zip(masks).enumerate() {
        if !mask.iter().any(|&m| m) {
            continue;
        }
        let v = official_pro_checked(map, mask, width, height, &mut labels, &mut sizes).map_err(|e| match e {
            MetricError::Undefined { metric, reason } => {
                MetricError::Undefined { metric, reason: format!("image {i}: {reason}") }
            }
            MetricError::OneClass { metric, .. } => MetricError::Undefined {
                metric,
                reason: format!("image {i}: the mask has no normal pixel (the official code asserts both classes)"),
            },
            other => other,
        })?;
        sum.add(v);
        count += 1;
    }
    if count == 0 {
        return Err(MetricError::OneClass {
            metric: METRIC,
            positives: 0,
            negatives: maps.len() as u64,
        });
    }
    Ok(sum.value() / count as f64)
}
