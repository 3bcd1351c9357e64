//! The evaluation report: every metric of a test set in one serialisable value.

use crate::curve::check_scores;
use crate::pixels::SortedPixels;
use crate::thresholds::{OperatingPoint, RECALL99, ThresholdRule, f1_threshold, recall_threshold};
use crate::{
    AUPRO_FPR_LIMIT, MetricError, check_dims, check_maps, f1_max, image_auroc, official_pro,
};
use serde::{Deserialize, Serialize};

/// How much test data a report is based on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationCounts {
    /// Test images.
    pub images: usize,
    /// Images whose mask has at least one anomalous pixel.
    pub anomalous_images: usize,
    /// Images whose mask is all normal.
    pub normal_images: usize,
    /// Images whose pixels the pixel metrics use: every normal image and the anomalous images
    /// that have a mask (anomalous images without one are left out of pixel metrics only).
    #[serde(default)]
    pub pixel_images: usize,
    /// Map width in pixels.
    pub width: usize,
    /// Map height in pixels.
    pub height: usize,
    /// Pixels of all maps.
    pub pixels: u64,
    /// Anomalous pixels of all masks.
    pub anomalous_pixels: u64,
    /// Ground-truth regions (8-connected components) of all masks.
    pub regions: u64,
}

/// Every metric of one test set. A metric that is undefined for this test set (e.g. AUROC when
/// every image is anomalous, the official PRO where the official code returns NaN) is `None`
/// (`null` in JSON) and [`notes`](Self::notes) says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Image AUROC (image score vs "mask has an anomalous pixel"), see
    /// [`image_auroc`](crate::image_auroc).
    pub image_auroc: Option<f64>,
    /// Pixel AUROC over all pixels, see [`pixel_auroc`](crate::pixel_auroc).
    pub pixel_auroc: Option<f64>,
    /// AUPRO up to [`aupro_fpr_limit`](Self::aupro_fpr_limit), see [`aupro`](crate::aupro).
    pub aupro: Option<f64>,
    /// The FPR limit of [`aupro`](Self::aupro) (0.3).
    pub aupro_fpr_limit: f64,
    /// The official RD++ code's non-standard "PRO" (compatibility metric), see
    /// [`official_pro`](crate::official_pro).
    pub official_pro: Option<f64>,
    /// Image-level F1-max, see [`f1_max`](crate::f1_max).
    pub image_f1_max: Option<f64>,
    /// The image-score threshold reaching [`image_f1_max`](Self::image_f1_max) (images with
    /// `score >= threshold` are called anomalous).
    pub image_f1_threshold: Option<f64>,
    /// The thresholds a user can choose between, with the verdicts each gives on this set:
    /// the calibrated one when known, and, when the set has defects, the F1-optimal one and the
    /// highest one catching ≥ 99% of them (see [`crate::thresholds`]).
    #[serde(default)]
    pub operating_points: Vec<OperatingPoint>,
    /// What the metrics are based on.
    pub counts: EvaluationCounts,
    /// Why a metric is `None`, one line each.
    pub notes: Vec<String>,
}

/// `Some(value)`, or `None` with a note when the metric is undefined for valid input; malformed
/// input stays an error.
fn keep(
    notes: &mut Vec<String>,
    name: &str,
    r: Result<f64, MetricError>,
) -> Result<Option<f64>, MetricError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_invalid_input() => Err(e),
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            Ok(None)
        }
    }
}

/// The largest value of a map (the official image score).
fn map_max(map: &[f32]) -> f64 {
    map.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64))
}

impl EvaluationReport {
    /// Computes every metric of a test set where every image has a mask (MVTec AD, BTAD).
    ///
    /// `maps[i]` / `masks[i]`: image `i`'s anomaly map and ground-truth mask, row-major
    /// `width × height`. `image_scores`: one score per image, or `None` for the map's maximum
    /// (the official image score). An image is anomalous when its mask has an anomalous pixel.
    ///
    /// Errors only for malformed input (empty, mismatched sizes, non-finite scores); a metric
    /// that is undefined for valid input becomes `None` with a note.
    pub fn compute(
        maps: &[&[f32]],
        masks: &[&[bool]],
        width: usize,
        height: usize,
        image_scores: Option<&[f64]>,
    ) -> Result<Self, MetricError> {
        let n = check_dims(width, height)?;
        check_maps(maps, masks, Some(n))?;
        let scores: Vec<f64> = match image_scores {
            Some(s) => s.to_vec(),
            None => maps.iter().map(|m| map_max(m)).collect(),
        };
        let labels: Vec<bool> = masks.iter().map(|m| m.iter().any(|&v| v)).collect();
        let truth: Vec<Option<&[bool]>> = masks.iter().map(|m| Some(*m)).collect();
        Self::compute_labelled(&scores, &labels, maps, &truth, width, height, None)
    }

    /// Computes every metric of a labelled test set whose masks may be missing (a folder of
    /// defects someone called bad, with masks for some of them or none).
    ///
    /// `scores[i]` / `labels[i]`: image `i`'s score and label (`true` = defect); the image
    /// metrics use every image. `maps[i]` / `masks[i]`: its anomaly map and, when known, its
    /// pixel ground truth (normal images: all `false`); the pixel metrics use the images with a
    /// mask, and without any mask of a defect they are not computed (a note says so).
    /// `calibrated`: the threshold from held-out normal images, reported as an operating point.
    ///
    /// Errors only for malformed input (empty, mismatched lengths, non-finite scores).
    pub fn compute_labelled(
        scores: &[f64],
        labels: &[bool],
        maps: &[&[f32]],
        masks: &[Option<&[bool]>],
        width: usize,
        height: usize,
        calibrated: Option<f64>,
    ) -> Result<Self, MetricError> {
        let n = check_dims(width, height)?;
        check_scores(scores, labels)?;
        for (what, len) in [("maps", maps.len()), ("masks", masks.len())] {
            if len != scores.len() {
                return Err(MetricError::LengthMismatch {
                    what: format!("image scores and {what}"),
                    left: scores.len(),
                    right: len,
                });
            }
        }
        let anomalous_images = labels.iter().filter(|&&l| l).count();
        let (pixel_maps, pixel_masks): (Vec<&[f32]>, Vec<&[bool]>) = maps
            .iter()
            .zip(masks)
            .filter_map(|(m, t)| t.map(|t| (*m, t)))
            .unzip();
        let masked_defects = labels
            .iter()
            .zip(masks)
            .filter(|(l, m)| **l && m.is_some())
            .count();

        let mut notes = Vec::new();
        let image_auroc = keep(&mut notes, "image AUROC", image_auroc(scores, labels))?;
        let f1 = f1_max(scores, labels);
        let image_f1_threshold = f1.as_ref().ok().map(|f| f.threshold);
        let mut operating_points = Vec::new();
        if let Some(t) = calibrated.filter(|t| t.is_finite()) {
            operating_points.push(OperatingPoint::new(
                ThresholdRule::Calibrated,
                t,
                scores,
                labels,
            ));
        }
        if let Ok(f) = &f1 {
            operating_points.push(OperatingPoint::new(
                ThresholdRule::F1,
                f1_threshold(f, scores),
                scores,
                labels,
            ));
        }
        if let Ok(t) = recall_threshold(scores, labels, RECALL99) {
            operating_points.push(OperatingPoint::new(
                ThresholdRule::Recall99,
                t,
                scores,
                labels,
            ));
        }
        let image_f1_max = keep(&mut notes, "image F1-max", f1.map(|f| f.f1))?;

        let mut counts = EvaluationCounts {
            images: scores.len(),
            anomalous_images,
            normal_images: scores.len() - anomalous_images,
            pixel_images: pixel_maps.len(),
            width,
            height,
            pixels: 0,
            anomalous_pixels: 0,
            regions: 0,
        };
        let (mut pixel_auroc, mut aupro, mut official) = (None, None, None);
        if masked_defects == 0 {
            notes.push(if anomalous_images == 0 {
                "pixel metrics: not computed (no defective image)".to_owned()
            } else {
                "pixel metrics: not computed (no defective image has a mask); image metrics only"
                    .to_owned()
            });
        } else {
            check_maps(&pixel_maps, &pixel_masks, Some(n))?;
            if masked_defects < anomalous_images {
                notes.push(format!(
                    "pixel metrics: over the {} images with a mask ({} of {} defective images have one)",
                    pixel_maps.len(),
                    masked_defects,
                    anomalous_images
                ));
            }
            let pixels = SortedPixels::new(&pixel_maps, &pixel_masks, Some((width, height)))?;
            counts.pixels = pixels.n_normal + pixels.n_anomalous;
            counts.anomalous_pixels = pixels.n_anomalous;
            counts.regions = pixels.n_regions;
            pixel_auroc = keep(&mut notes, "pixel AUROC", pixels.auroc())?;
            aupro = keep(&mut notes, "AUPRO", pixels.aupro(AUPRO_FPR_LIMIT))?;
            drop(pixels);
            official = keep(
                &mut notes,
                "official PRO",
                official_pro(&pixel_maps, &pixel_masks, width, height),
            )?;
        }
        Ok(EvaluationReport {
            image_auroc,
            pixel_auroc,
            aupro,
            aupro_fpr_limit: AUPRO_FPR_LIMIT,
            official_pro: official,
            image_f1_max,
            image_f1_threshold,
            operating_points,
            counts,
            notes,
        })
    }

    /// The operating point of `rule`, when the report has it.
    pub fn operating_point(&self, rule: ThresholdRule) -> Option<&OperatingPoint> {
        self.operating_points.iter().find(|p| p.rule == rule)
    }

    /// Which metrics were computed, in words (for logs and reports).
    pub fn computed(&self) -> &'static str {
        if self.counts.anomalous_pixels > 0 {
            "image and pixel metrics"
        } else {
            "image metrics only"
        }
    }

    /// The report as a Markdown table (metrics in percent, two decimals, as papers print them;
    /// `n/a` for undefined metrics), followed by the counts and the notes.
    pub fn to_markdown(&self) -> String {
        let pct =
            |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{:.2}", v * 100.0));
        let c = &self.counts;
        let mut s = String::new();
        s.push_str("| Metric | Value (%) |\n|---|---:|\n");
        s.push_str(&format!("| Image AUROC | {} |\n", pct(self.image_auroc)));
        s.push_str(&format!("| Pixel AUROC | {} |\n", pct(self.pixel_auroc)));
        s.push_str(&format!(
            "| AUPRO (FPR ≤ {}) | {} |\n",
            self.aupro_fpr_limit,
            pct(self.aupro)
        ));
        s.push_str(&format!(
            "| Official RD++ PRO (compatibility) | {} |\n",
            pct(self.official_pro)
        ));
        s.push_str(&format!("| Image F1-max | {} |\n", pct(self.image_f1_max)));
        s.push_str(&format!(
            "\n{} test images ({} anomalous, {} normal) of {}×{} px; {} pixels, {} anomalous, in {} ground-truth regions.\n",
            c.images, c.anomalous_images, c.normal_images, c.width, c.height, c.pixels, c.anomalous_pixels, c.regions
        ));
        if c.pixel_images < c.images {
            s.push_str(&format!(
                "Pixel metrics over {} of the {} images ({}).\n",
                c.pixel_images,
                c.images,
                self.computed()
            ));
        }
        if let Some(t) = self.image_f1_threshold {
            s.push_str(&format!("Image F1-max threshold: {t}.\n"));
        }
        if !self.operating_points.is_empty() {
            s.push_str(
                "\n| Threshold | Value | Defects caught | Missed | False alarms | Normal passed |\n\
                 |---|---:|---:|---:|---:|---:|\n",
            );
            let share =
                |v: Option<f64>| v.map_or_else(String::new, |v| format!(" ({:.1}%)", v * 100.0));
            for p in &self.operating_points {
                let k = &p.confusion;
                s.push_str(&format!(
                    "| {} | {:.6} | {}{} | {} | {}{} | {} |\n",
                    p.rule,
                    p.threshold,
                    k.caught,
                    share(k.recall()),
                    k.missed,
                    k.false_alarms,
                    share(k.false_alarm_rate()),
                    k.passed
                ));
            }
            s.push_str("\nAn image is called a defect when its score is above the threshold.\n");
            for p in &self.operating_points {
                s.push_str(&format!("- `{}`: {}.\n", p.rule, p.rule.describe()));
            }
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }
}
