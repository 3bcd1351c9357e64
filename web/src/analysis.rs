//! What the page computes from a finished anomaly map without running the network again:
//! the verdict for a threshold, the heatmap's colours, the predicted-defect contour, the CSV.
//! Pure functions, so they are tested natively and in the browser alike.

use rdpp_inference::bundle::Calibration;
use rdpp_inference::overlay::{colorize_jet, display_range, resize_map_bilinear};
pub use rdpp_inference::verdict::{ScoreRow, Verdict, scores_csv};

/// The decision threshold and heatmap range the page uses for one model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Image-score threshold at the default sensitivity (the bundle's calibrated threshold);
    /// `None` without a calibration (no verdict is shown).
    pub threshold: Option<f64>,
    /// Map value drawn as the coldest colour.
    pub low: f64,
    /// Map value drawn as the hottest colour.
    pub high: f64,
    /// False when the bundle had no calibration and the numbers are per-image guesses.
    pub calibrated: bool,
}

impl Scale {
    /// From the bundle's calibration; without one, colours follow each map's own range and the
    /// threshold is unknown.
    pub fn from_calibration(c: Option<&Calibration>) -> Self {
        match c {
            Some(c) => Self {
                threshold: Some(c.image_threshold),
                low: c.map_low,
                high: c.map_high,
                calibrated: true,
            },
            None => Self {
                threshold: None,
                low: f64::NAN,
                high: f64::NAN,
                calibrated: false,
            },
        }
    }

    /// The threshold at a sensitivity in [0, 1]; 0.5 is the calibrated threshold. Higher
    /// sensitivity lowers the threshold (more is flagged), geometrically, so the slider moves
    /// by the same factor per step: ×4 at 0 and ÷4 at 1.
    pub fn threshold_at(&self, sensitivity: f64) -> Option<f64> {
        let s = sensitivity.clamp(0.0, 1.0);
        self.threshold.map(|t| t * 4f64.powf(1.0 - 2.0 * s))
    }
}

/// A finished anomaly map at the model's input size, as f32 (display precision).
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    /// Width and height (the model's square input size).
    pub size: usize,
    /// `size × size` values, row-major.
    pub values: Vec<f32>,
}

impl HeatMap {
    /// The colour range: the calibrated one, else this map's own min/max (as the official code).
    pub fn range(&self, scale: &Scale) -> (f32, f32) {
        display_range(
            &self.values,
            scale.calibrated.then_some((scale.low, scale.high)),
        )
    }

    /// Where the map peaks, as fractions of width and height (the pixel's centre).
    pub fn peak(&self) -> (f64, f64) {
        let (mut best, mut at) = (f32::NEG_INFINITY, 0usize);
        for (i, &v) in self.values.iter().enumerate() {
            if v > best {
                best = v;
                at = i;
            }
        }
        let n = self.size.max(1);
        let s = n as f64;
        (((at % n) as f64 + 0.5) / s, ((at / n) as f64 + 0.5) / s)
    }

    /// RGBA pixels (`size × size × 4`) of the JET heatmap, fully opaque; the page sets the
    /// opacity with CSS so the slider does not redraw.
    pub fn rgba(&self, scale: &Scale) -> Vec<u8> {
        let (lo, hi) = self.range(scale);
        let span = hi - lo;
        let mut out = Vec::with_capacity(self.values.len() * 4);
        for &v in &self.values {
            let n = if span > 0.0 && span.is_finite() {
                (v - lo) / span
            } else {
                0.0
            };
            let [r, g, b] = colorize_jet(n);
            out.extend_from_slice(&[r, g, b, 255]);
        }
        out
    }

    /// RGBA pixels (`out × out × 4`) of the predicted-defect contour at `threshold`: the border
    /// pixels of the region where the (bilinearly upsampled) map exceeds it, opaque white with a
    /// dark edge; transparent elsewhere. Drawn at `out` ≥ the map size so the line is thin.
    pub fn contour_rgba(&self, threshold: Option<f64>, out: usize) -> Vec<u8> {
        let mut rgba = vec![0u8; out * out * 4];
        let Some(threshold) = threshold else {
            return rgba;
        };
        if self.size == 0 || out == 0 {
            return rgba;
        }
        let up = if out == self.size {
            self.values.clone()
        } else {
            resize_map_bilinear(
                &self.values,
                (self.size as u32, self.size as u32),
                (out as u32, out as u32),
            )
        };
        let t = threshold as f32;
        let inside = |x: usize, y: usize| up[y * out + x] > t;
        for y in 0..out {
            for x in 0..out {
                if !inside(x, y) {
                    continue;
                }
                let border = x == 0
                    || y == 0
                    || x + 1 == out
                    || y + 1 == out
                    || !inside(x - 1, y)
                    || !inside(x + 1, y)
                    || !inside(x, y - 1)
                    || !inside(x, y + 1);
                if border {
                    let i = (y * out + x) * 4;
                    rgba[i..i + 4].copy_from_slice(&[255, 255, 255, 255]);
                }
            }
        }
        rgba
    }

    /// Fraction of the image the predicted-defect region covers at `threshold`.
    pub fn area_above(&self, threshold: Option<f64>) -> f64 {
        let Some(threshold) = threshold else {
            return 0.0;
        };
        if self.values.is_empty() {
            return 0.0;
        }
        let t = threshold as f32;
        self.values.iter().filter(|&&v| v > t).count() as f64 / self.values.len() as f64
    }
}

/// Human-readable size (`3.4 MB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn calibrated() -> Scale {
        Scale::from_calibration(Some(&Calibration {
            image_threshold: 0.2,
            map_low: 0.05,
            map_high: 0.4,
            method: "test".into(),
        }))
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn sensitivity_half_is_the_calibrated_threshold_and_higher_flags_more() {
        let s = calibrated();
        let t = |x| s.threshold_at(x).unwrap();
        assert!((t(0.5) - 0.2).abs() < 1e-12);
        assert!((t(0.0) - 0.8).abs() < 1e-12);
        assert!((t(1.0) - 0.05).abs() < 1e-12);
        assert!(t(0.7) < t(0.6));
        assert!(t(-3.0) == t(0.0));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_sensitivity_moves_the_verdict_across_the_threshold() {
        let s = calibrated();
        assert_eq!(Verdict::of(0.3, s.threshold_at(0.5)), Verdict::Defect);
        assert_eq!(Verdict::of(0.3, s.threshold_at(0.2)), Verdict::Good);
        let un = Scale::from_calibration(None);
        assert_eq!(
            Verdict::of(1.0, un.threshold_at(0.5)),
            Verdict::Uncalibrated
        );
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn heatmap_uses_calibrated_range_else_its_own() {
        let m = HeatMap {
            size: 2,
            values: vec![0.05, 0.4, 0.9, 0.1],
        };
        let rgba = m.rgba(&calibrated());
        assert_eq!(rgba.len(), 16);
        assert_eq!(&rgba[0..3], &colorize_jet(0.0));
        assert_eq!(&rgba[4..7], &colorize_jet(1.0));
        assert_eq!(&rgba[8..11], &colorize_jet(1.0)); // clipped above the range
        assert!(rgba.chunks(4).all(|p| p[3] == 255));
        let own = m.rgba(&Scale::from_calibration(None));
        assert_eq!(&own[8..11], &colorize_jet(1.0));
        assert_eq!(&own[0..3], &colorize_jet(0.0));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn contour_is_the_border_of_the_region_above_threshold() {
        // A 3×3 hot square in the middle of a 7×7 map.
        let mut values = vec![0.0f32; 49];
        for y in 2..5 {
            for x in 2..5 {
                values[y * 7 + x] = 1.0;
            }
        }
        let m = HeatMap { size: 7, values };
        let c = m.contour_rgba(Some(0.5), 7);
        let on = |x: usize, y: usize| c[(y * 7 + x) * 4 + 3] == 255;
        assert!(on(2, 2) && on(3, 2) && on(4, 4));
        assert!(!on(3, 3), "the centre is inside, not on the border");
        assert!(!on(0, 0) && !on(5, 3));
        assert_eq!((0..49).filter(|i| c[i * 4 + 3] == 255).count(), 8);
        assert!((m.area_above(Some(0.5)) - 9.0 / 49.0).abs() < 1e-12);
        // Nothing above the threshold: no contour. Unknown threshold: none either.
        assert!(m.contour_rgba(Some(2.0), 14).iter().all(|&b| b == 0));
        assert!(m.contour_rgba(None, 7).iter().all(|&b| b == 0));
        assert_eq!(m.area_above(None), 0.0);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn sizes_read_like_a_human_wrote_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3_400_000), "3.4 MB");
        assert_eq!(human_bytes(1_500), "1.5 kB");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_peak_is_the_hottest_pixel_centre() {
        let mut values = vec![0.0f32; 16];
        values[2 * 4 + 3] = 5.0; // row 2, column 3
        let m = HeatMap { size: 4, values };
        assert_eq!(m.peak(), (3.5 / 4.0, 2.5 / 4.0));
    }
}
