//! Score calibration from held-out NORMAL images only (docs/method.md §8.2): the threshold a
//! bundle ships with, chosen without looking at a single defect.

use rdpp_inference::Calibration;

/// Quantile (linear interpolation, like numpy's default) of unsorted values; NaN when none is
/// finite.
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

/// The median pixel score of normal images' maps (every 7th pixel keeps this cheap for big
/// sets): the cold end of the heatmap colour scale.
pub fn normal_pixel_median(maps: &[Vec<f32>]) -> f64 {
    let pixels: Vec<f64> = maps
        .iter()
        .flat_map(|m| m.iter().step_by(7).map(|&v| v as f64))
        .collect();
    quantile(&pixels, 0.5)
}

/// The colour range that puts `threshold` in the upper half of the scale: from the normal
/// pixels' median to twice the threshold's distance above it.
pub fn map_range(threshold: f64, normal_median: f64) -> (f64, f64) {
    (
        normal_median,
        threshold + (threshold - normal_median).max(1e-6),
    )
}

/// Calibration from held-out normal images: the image threshold is the largest held-out score
/// plus a tenth of the spread of held-out scores (so every held-out normal image passes), the
/// display range is [`map_range`]. `None` without images.
pub fn calibrate(maps: &[Vec<f32>], scores: &[f64]) -> Option<Calibration> {
    if scores.is_empty() {
        return None;
    }
    let max = scores.iter().copied().fold(f64::MIN, f64::max);
    let min = scores.iter().copied().fold(f64::MAX, f64::min);
    let threshold = max + 0.1 * (max - min).max(1e-6);
    let (low, high) = map_range(threshold, normal_pixel_median(maps));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 1.0), 3.0);
        assert!((quantile(&[0.0, 10.0], 0.25) - 2.5).abs() < 1e-12);
        assert!(quantile(&[f64::NAN], 0.5).is_nan());
    }

    #[test]
    fn calibration_passes_every_held_out_normal_image() {
        let maps = vec![vec![0.1f32, 0.2, 0.3], vec![0.2, 0.4, 0.5]];
        let c = calibrate(&maps, &[0.3, 0.5]).unwrap();
        assert!(c.image_threshold > 0.5 && (c.image_threshold - 0.52).abs() < 1e-9);
        assert!(c.map_low < c.image_threshold && c.image_threshold < c.map_high);
        assert!(calibrate(&[], &[]).is_none());
    }
}
