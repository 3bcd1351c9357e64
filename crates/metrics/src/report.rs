//! The evaluation report: every metric of a test set in one serialisable value.

use crate::pixels::SortedPixels;
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
    /// What the metrics are based on.
    pub counts: EvaluationCounts,
    /// Why a metric is `None`, one line each.
    pub notes: Vec<String>,
}

impl EvaluationReport {
    /// Computes every metric of a test set.
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
            Some(s) => {
                if s.len() != maps.len() {
                    return Err(MetricError::LengthMismatch {
                        what: "image scores and maps".into(),
                        left: s.len(),
                        right: maps.len(),
                    });
                }
                if let Some(i) = s.iter().position(|v| !v.is_finite()) {
                    return Err(MetricError::NonFinite {
                        image: None,
                        index: i,
                    });
                }
                s.to_vec()
            }
            None => maps
                .iter()
                .map(|m| m.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64)))
                .collect(),
        };
        let labels: Vec<bool> = masks.iter().map(|m| m.iter().any(|&v| v)).collect();
        let anomalous_images = labels.iter().filter(|&&l| l).count();

        let pixels = SortedPixels::new(maps, masks, Some((width, height)))?;
        let counts = EvaluationCounts {
            images: maps.len(),
            anomalous_images,
            normal_images: maps.len() - anomalous_images,
            width,
            height,
            pixels: pixels.n_normal + pixels.n_anomalous,
            anomalous_pixels: pixels.n_anomalous,
            regions: pixels.n_regions,
        };

        let mut notes = Vec::new();
        let mut keep =
            |name: &str, r: Result<f64, MetricError>| -> Result<Option<f64>, MetricError> {
                match r {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.is_invalid_input() => Err(e),
                    Err(e) => {
                        notes.push(format!("{name}: {e}"));
                        Ok(None)
                    }
                }
            };
        let image_auroc = keep("image AUROC", image_auroc(&scores, &labels))?;
        let pixel_auroc = keep("pixel AUROC", pixels.auroc())?;
        let aupro = keep("AUPRO", pixels.aupro(AUPRO_FPR_LIMIT))?;
        drop(pixels);
        let official_pro = keep("official PRO", official_pro(maps, masks, width, height))?;
        let f1 = f1_max(&scores, &labels);
        let image_f1_threshold = f1.as_ref().ok().map(|f| f.threshold);
        let image_f1_max = keep("image F1-max", f1.map(|f| f.f1))?;
        Ok(EvaluationReport {
            image_auroc,
            pixel_auroc,
            aupro,
            aupro_fpr_limit: AUPRO_FPR_LIMIT,
            official_pro,
            image_f1_max,
            image_f1_threshold,
            counts,
            notes,
        })
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
        if let Some(t) = self.image_f1_threshold {
            s.push_str(&format!("Image F1-max threshold: {t}.\n"));
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
