//! Scoring image files with a (trained) model exactly as inference does, evaluation on a
//! labelled test set, and score calibration on held-out normal images.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::{Calibration, Detector, RgbView};
use rdpp_metrics::EvaluationReport;

/// Anomaly maps (f32, at the model's input size) and image scores of a list of images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scored {
    /// One map per image.
    pub maps: Vec<Vec<f32>>,
    /// One score per image (the map's maximum).
    pub scores: Vec<f64>,
}

/// Images per forward pass when scoring files.
const SCORE_BATCH: usize = 8;

/// Decode image files as `rdpp infer` does (the same decoder and limits).
pub fn read_images<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<image::RgbImage>> {
    let limits = DecodeLimits::default();
    paths
        .iter()
        .map(|p| read_rgb8(p.as_ref(), &limits).context("reading the evaluation images"))
        .collect()
}

/// Score decoded images exactly as `rdpp infer` does (the same resize, normalization and map
/// post-processing, through [`Detector`]), so that calibration and evaluation see the inputs a
/// user's images get.
pub fn score_images(detector: &Detector, images: &[image::RgbImage]) -> Result<Scored> {
    let mut out = Scored::default();
    for chunk in images.chunks(SCORE_BATCH) {
        let views: Vec<RgbView> = chunk.iter().map(RgbView::from).collect();
        for d in detector.detect(&views)? {
            out.scores.push(d.score);
            out.maps.push(d.map_f32());
        }
    }
    Ok(out)
}

/// Quantile (linear interpolation, like numpy's default) of unsorted values.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Calibration from held-out NORMAL images only: the image threshold is the largest held-out
/// score plus a tenth of the spread of held-out scores (so every held-out normal image passes),
/// the display range runs from the median held-out pixel score to twice the threshold's distance
/// above it (the threshold sits in the upper half of the colour scale).
pub fn calibrate(maps: &[Vec<f32>], scores: &[f64]) -> Option<Calibration> {
    if scores.is_empty() {
        return None;
    }
    let max = scores.iter().copied().fold(f64::MIN, f64::max);
    let min = scores.iter().copied().fold(f64::MAX, f64::min);
    let threshold = max + 0.1 * (max - min).max(1e-6);
    // Pixel median from a subsample (every 7th pixel) keeps this cheap for big hold-outs.
    let pixels: Vec<f64> = maps
        .iter()
        .flat_map(|m| m.iter().step_by(7).map(|&v| v as f64))
        .collect();
    let low = quantile(&pixels, 0.5);
    let high = threshold + (threshold - low).max(1e-6);
    Some(Calibration {
        image_threshold: threshold,
        map_low: low,
        map_high: high,
        method: format!(
            "held-out normal images ({}): threshold = max score + 10% of the score spread; map range = median pixel .. 2·threshold − median",
            scores.len()
        ),
    })
}

/// Metrics of a test set with masks for every anomalous image.
pub fn evaluate(maps: &[Vec<f32>], masks: &[Vec<bool>], size: usize) -> Result<EvaluationReport> {
    let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let masks: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();
    EvaluationReport::compute(&maps, &masks, size, size, None)
        .map_err(|e| anyhow!("evaluation failed: {e}"))
}

/// ROC (pixel level) and PRO curves of a test set as one PNG (no text; see `report.md`).
pub fn write_curves(
    path: &std::path::Path,
    maps: &[Vec<f32>],
    masks: &[Vec<bool>],
    size: usize,
) -> Result<()> {
    let maps: Vec<&[f32]> = maps.iter().map(|m| m.as_slice()).collect();
    let masks: Vec<&[bool]> = masks.iter().map(|m| m.as_slice()).collect();
    let roc = rdpp_metrics::pixel_roc_curve(&maps, &masks, 1e-3)
        .map_err(|e| anyhow!("ROC curve: {e}"))?;
    let pro = rdpp_metrics::pro_curve(&maps, &masks, size, size, 1e-3)
        .map_err(|e| anyhow!("PRO curve: {e}"))?;
    rdpp_metrics::write_curves_png(path, &roc, &pro).map_err(|e| anyhow!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1.0), 3.0);
        assert!((quantile(&[0.0, 10.0], 0.25) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn calibration_passes_every_held_out_normal_image() {
        let maps = vec![vec![0.1f32, 0.2, 0.3], vec![0.2, 0.4, 0.5]];
        let c = calibrate(&maps, &[0.3, 0.5]).unwrap();
        assert!(c.image_threshold > 0.5 && (c.image_threshold - 0.52).abs() < 1e-9);
        assert!(c.map_low < c.image_threshold && c.image_threshold < c.map_high);
    }
}
