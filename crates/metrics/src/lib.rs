//! Anomaly-detection metrics for rdpp: image/pixel AUROC, ROC curves, AUPRO (the standard MVTec AD
//! definition), the official RD++ code's non-standard "PRO" (as a named compatibility metric),
//! F1-max, and a serialisable [`EvaluationReport`].
//!
//! Conventions (docs/method.md §8):
//! - an anomaly map is a row-major `width × height` slice of `f32` pixel scores (higher = more
//!   anomalous); its mask is a slice of the same length, `true` = anomalous pixel;
//! - an image is anomalous when its mask has any `true` pixel; its score is the map's maximum
//!   unless the caller gives image scores;
//! - every metric checks its input and returns a [`MetricError`] (never panics) for empty,
//!   mismatched or non-finite input and where the metric is undefined (one class only, …).
//!
//! Exactness: the AUROCs are computed exactly from integer counts (scikit-learn's
//! `roc_auc_score` computes the same trapezoid in floating point: they agree to ~1e-15); ties are
//! handled as scikit-learn does (one ROC point per distinct score). Pixel metrics sort the pooled
//! pixels once (8 bytes per pixel) instead of binarising the maps once per threshold.
//!
//! What this crate hand-writes instead of calling a library (there is no maintained Rust crate for
//! these metrics): the ROC/PR curves (`sklearn.metrics`), connected-component labelling
//! (`scipy.ndimage.label` / `skimage.measure.label`, see [`label_regions`]), `np.arange`'s exact
//! threshold sequence (see [`official_pro_thresholds`]), trapezoidal integration (`np.trapz`,
//! `sklearn.metrics.auc`) and compensated summation. All of it is checked against values that
//! `tests/sklearn_reference.py` computed with scikit-learn, SciPy and scikit-image
//! (`tests/reference.json`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod curve;
mod official;
mod pixels;
mod plot;
mod pro;
mod regions;
mod report;
pub mod thresholds;

pub use curve::{F1Max, RocCurve, f1_max, image_auroc, pixel_auroc, pixel_roc_curve, roc_curve};
pub use official::{
    OFFICIAL_PRO_FPR_LIMIT, OFFICIAL_PRO_THRESHOLDS, official_pro, official_pro_image,
    official_pro_thresholds,
};
pub use plot::{rule_colour, write_curves_png, write_image_curves_png, write_score_histogram_png};
pub use pro::{AUPRO_FPR_LIMIT, ProCurve, aupro, pro_curve};
pub use regions::label_regions;
pub use report::{EvaluationCounts, EvaluationReport};
pub use thresholds::{Confusion, OperatingPoint, ThresholdRule};

use std::path::PathBuf;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// No samples (no scores, no images or no pixels).
    #[error("no samples to evaluate")]
    Empty,
    /// Two inputs that must have the same length do not.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LengthMismatch {
        /// Which inputs disagree.
        what: String,
        /// The first length.
        left: usize,
        /// The second length.
        right: usize,
    },
    /// A score is NaN or infinite.
    #[error("non-finite score (NaN or ±inf) at {}index {index}", image.map(|i| format!("image {i}, pixel ")).unwrap_or_default())]
    NonFinite {
        /// The image, for per-pixel inputs.
        image: Option<usize>,
        /// The sample (or the pixel within the image).
        index: usize,
    },
    /// Only one class is present, so the metric is undefined (scikit-learn raises or returns NaN
    /// with a warning here).
    #[error(
        "{metric} is undefined with only one class present ({positives} positive, {negatives} negative)"
    )]
    OneClass {
        /// The metric.
        metric: &'static str,
        /// Number of positive (anomalous) samples.
        positives: u64,
        /// Number of negative (normal) samples.
        negatives: u64,
    },
    /// An argument is out of its range (e.g. an FPR limit outside (0, 1], a zero width).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The metric is undefined for this input for another reason (e.g. where the official RD++
    /// PRO code would raise or return NaN).
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        /// The metric.
        metric: &'static str,
        /// Why.
        reason: String,
    },
    /// Writing an output file failed.
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl MetricError {
    /// `true` when the input itself is malformed (empty, mismatched, non-finite, bad argument),
    /// `false` when the input is valid but the metric is undefined for it (one class only, …) or
    /// an output could not be written.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            MetricError::Empty
                | MetricError::LengthMismatch { .. }
                | MetricError::NonFinite { .. }
                | MetricError::InvalidArgument(_)
        )
    }
}

/// Neumaier's compensated summation (what `math.fsum` approximates): keeps the cumulative PRO
/// sums of millions of `1/region_size` terms accurate to ~1 ulp.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Serde for threshold lists whose first entry is `+inf`: JSON has no infinity, so non-finite
/// values are written as `null` and `null` is read back as `+inf`.
pub(crate) mod thresholds_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let opt: Vec<Option<f64>> = v.iter().map(|&x| x.is_finite().then_some(x)).collect();
        opt.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let opt = Vec::<Option<f64>>::deserialize(d)?;
        Ok(opt
            .into_iter()
            .map(|x| x.unwrap_or(f64::INFINITY))
            .collect())
    }
}

/// Checks that per-image maps and masks are consistent: same number of images, same length per
/// image, equal to `expected_len` when given, and finite scores. Returns the total pixel count.
pub(crate) fn check_maps(
    maps: &[&[f32]],
    masks: &[&[bool]],
    expected_len: Option<usize>,
) -> Result<usize, MetricError> {
    if maps.len() != masks.len() {
        return Err(MetricError::LengthMismatch {
            what: "number of maps and masks".into(),
            left: maps.len(),
            right: masks.len(),
        });
    }
    if maps.is_empty() {
        return Err(MetricError::Empty);
    }
    let mut total = 0usize;
    for (i, (map, mask)) in maps.iter().zip(masks).enumerate() {
        if map.len() != mask.len() {
            return Err(MetricError::LengthMismatch {
                what: format!("image {i}: map and mask pixels"),
                left: map.len(),
                right: mask.len(),
            });
        }
        if let Some(n) = expected_len
            && map.len() != n
        {
            return Err(MetricError::LengthMismatch {
                what: format!("image {i}: pixels and width × height"),
                left: map.len(),
                right: n,
            });
        }
        if let Some(j) = map.iter().position(|v| !v.is_finite()) {
            return Err(MetricError::NonFinite {
                image: Some(i),
                index: j,
            });
        }
        total += map.len();
    }
    if total == 0 {
        return Err(MetricError::Empty);
    }
    Ok(total)
}

/// Checks width/height against u32 limits and returns `width * height`.
pub(crate) fn check_dims(width: usize, height: usize) -> Result<usize, MetricError> {
    if width == 0 || height == 0 {
        return Err(MetricError::InvalidArgument(format!(
            "map size {width}×{height} is empty"
        )));
    }
    width
        .checked_mul(height)
        .ok_or_else(|| MetricError::InvalidArgument(format!("map size {width}×{height} overflows")))
}
