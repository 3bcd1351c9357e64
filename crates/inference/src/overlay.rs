//! Anomaly-map rendering: bilinear upsampling, OpenCV-compatible JET colouring, blending.
//!
//! The official RD++ code visualises an anomaly map with
//! `cv2.applyColorMap(np.uint8(norm * 255), cv2.COLORMAP_JET)`; [`colorize_jet`] reproduces
//! that colour for colour (the 256-entry table below was exported from OpenCV), so heatmaps
//! from this crate and from the Python reference can be compared side by side.

use image::RgbImage;

#[cfg(test)]
use crate::bundle::Calibration;

/// Resizes a row-major `f32` map of `size = (w, h)` to `out_size = (out_w, out_h)` with
/// bilinear interpolation.
///
/// Sample positions use half-pixel centres (`src = (dst + 0.5) · w / out_w − 0.5`, clamped to
/// the border), the convention of `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` and
/// PyTorch's `align_corners=False`, so a map computed at model resolution lines up with the
/// original image instead of drifting by half a model pixel. Like `INTER_LINEAR`, downscaling
/// does no anti-aliasing. Returns an empty vector when `out_w` or `out_h` is zero.
///
/// # Panics
/// If `map.len() != w * h`, or if the map is empty while the output is not: both are
/// programming errors (the map always comes from the model with a known size).
pub fn resize_map_bilinear(map: &[f32], size: (u32, u32), out_size: (u32, u32)) -> Vec<f32> {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let (out_w, out_h) = (out_size.0 as usize, out_size.1 as usize);
    assert_eq!(
        map.len(),
        w * h,
        "map length does not match its {w}×{h} size"
    );
    if out_w == 0 || out_h == 0 {
        return Vec::new();
    }
    assert!(
        w > 0 && h > 0,
        "cannot resize an empty {w}×{h} map to {out_w}×{out_h}"
    );

    // Precompute, per output column/row, the two source indices and the weight of the second.
    let xs = axis_weights(w, out_w);
    let ys = axis_weights(h, out_h);
    let mut out = Vec::with_capacity(out_w * out_h);
    for &(y0, y1, fy) in &ys {
        let (r0, r1) = (&map[y0 * w..(y0 + 1) * w], &map[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, fx) in &xs {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
            out.push(top + (bottom - top) * fy);
        }
    }
    out
}

/// For each of `n_out` positions along an axis of `n_in` samples: (left index, right index,
/// weight of the right one), with half-pixel centres and border clamping.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    // src = (i + 0.5) · n_in / n_out − 0.5 = ((2i + 1) · n_in − n_out) / (2 · n_out), done in
    // integers so that positions landing exactly on a source sample give exactly that sample
    // (floating point could give 1.9999999 and blend in the neighbour). i128 cannot overflow
    // for any u32 sizes.
    let last = n_in - 1;
    let den = 2 * n_out as i128;
    (0..n_out)
        .map(|i| {
            let num = ((2 * i as i128 + 1) * n_in as i128 - n_out as i128).max(0);
            let (i0, rem) = ((num / den) as usize, num % den);
            if i0 >= last {
                (last, last, 0.0)
            } else {
                (i0, i0 + 1, (rem as f64 / den as f64) as f32)
            }
        })
        .collect()
}

/// OpenCV's `COLORMAP_JET` as RGB, indexed by the 8-bit input value.
///
/// Exported from opencv-python 5.0.0 with
/// `cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_JET)[0, :, ::-1]`.
/// Kept as a table because no closed-form jet formula reproduces OpenCV's rounding exactly
/// (the classic `1.5 − |4t − k|` form is off by one in 115 of the 768 channels).
#[rustfmt::skip]
const JET: [[u8; 3]; 256] = [
    [0, 0, 128], [0, 0, 132], [0, 0, 136], [0, 0, 140], [0, 0, 144], [0, 0, 148], [0, 0, 152], [0, 0, 156],
    [0, 0, 160], [0, 0, 164], [0, 0, 168], [0, 0, 172], [0, 0, 176], [0, 0, 180], [0, 0, 184], [0, 0, 188],
    [0, 0, 192], [0, 0, 196], [0, 0, 200], [0, 0, 204], [0, 0, 208], [0, 0, 212], [0, 0, 216], [0, 0, 220],
    [0, 0, 224], [0, 0, 228], [0, 0, 232], [0, 0, 236], [0, 0, 240], [0, 0, 244], [0, 0, 248], [0, 0, 252],
    [0, 0, 255], [0, 4, 255], [0, 8, 255], [0, 12, 255], [0, 16, 255], [0, 20, 255], [0, 24, 255], [0, 28, 255],
    [0, 32, 255], [0, 36, 255], [0, 40, 255], [0, 44, 255], [0, 48, 255], [0, 52, 255], [0, 56, 255], [0, 60, 255],
    [0, 64, 255], [0, 68, 255], [0, 72, 255], [0, 76, 255], [0, 80, 255], [0, 84, 255], [0, 88, 255], [0, 92, 255],
    [0, 96, 255], [0, 100, 255], [0, 104, 255], [0, 108, 255], [0, 112, 255], [0, 116, 255], [0, 120, 255], [0, 124, 255],
    [0, 128, 255], [0, 132, 255], [0, 136, 255], [0, 140, 255], [0, 144, 255], [0, 148, 255], [0, 152, 255], [0, 156, 255],
    [0, 160, 255], [0, 164, 255], [0, 168, 255], [0, 172, 255], [0, 176, 255], [0, 180, 255], [0, 184, 255], [0, 188, 255],
    [0, 192, 255], [0, 196, 255], [0, 200, 255], [0, 204, 255], [0, 208, 255], [0, 212, 255], [0, 216, 255], [0, 220, 255],
    [0, 224, 255], [0, 228, 255], [0, 232, 255], [0, 236, 255], [0, 240, 255], [0, 244, 255], [0, 248, 255], [0, 252, 255],
    [2, 255, 254], [6, 255, 250], [10, 255, 246], [14, 255, 242], [18, 255, 238], [22, 255, 234], [26, 255, 230], [30, 255, 226],
    [34, 255, 222], [38, 255, 218], [42, 255, 214], [46, 255, 210], [50, 255, 206], [54, 255, 202], [58, 255, 198], [62, 255, 194],
    [66, 255, 190], [70, 255, 186], [74, 255, 182], [78, 255, 178], [82, 255, 174], [86, 255, 170], [90, 255, 166], [94, 255, 162],
    [98, 255, 158], [102, 255, 154], [106, 255, 150], [110, 255, 146], [114, 255, 142], [118, 255, 138], [122, 255, 134], [126, 255, 130],
    [130, 255, 126], [134, 255, 122], [138, 255, 118], [142, 255, 114], [146, 255, 110], [150, 255, 106], [154, 255, 102], [158, 255, 98],
    [162, 255, 94], [166, 255, 90], [170, 255, 86], [174, 255, 82], [178, 255, 78], [182, 255, 74], [186, 255, 70], [190, 255, 66],
    [194, 255, 62], [198, 255, 58], [202, 255, 54], [206, 255, 50], [210, 255, 46], [214, 255, 42], [218, 255, 38], [222, 255, 34],
    [226, 255, 30], [230, 255, 26], [234, 255, 22], [238, 255, 18], [242, 255, 14], [246, 255, 10], [250, 255, 6], [254, 255, 1],
    [255, 252, 0], [255, 248, 0], [255, 244, 0], [255, 240, 0], [255, 236, 0], [255, 232, 0], [255, 228, 0], [255, 224, 0],
    [255, 220, 0], [255, 216, 0], [255, 212, 0], [255, 208, 0], [255, 204, 0], [255, 200, 0], [255, 196, 0], [255, 192, 0],
    [255, 188, 0], [255, 184, 0], [255, 180, 0], [255, 176, 0], [255, 172, 0], [255, 168, 0], [255, 164, 0], [255, 160, 0],
    [255, 156, 0], [255, 152, 0], [255, 148, 0], [255, 144, 0], [255, 140, 0], [255, 136, 0], [255, 132, 0], [255, 128, 0],
    [255, 124, 0], [255, 120, 0], [255, 116, 0], [255, 112, 0], [255, 108, 0], [255, 104, 0], [255, 100, 0], [255, 96, 0],
    [255, 92, 0], [255, 88, 0], [255, 84, 0], [255, 80, 0], [255, 76, 0], [255, 72, 0], [255, 68, 0], [255, 64, 0],
    [255, 60, 0], [255, 56, 0], [255, 52, 0], [255, 48, 0], [255, 44, 0], [255, 40, 0], [255, 36, 0], [255, 32, 0],
    [255, 28, 0], [255, 24, 0], [255, 20, 0], [255, 16, 0], [255, 12, 0], [255, 8, 0], [255, 4, 0], [255, 0, 0],
    [252, 0, 0], [248, 0, 0], [244, 0, 0], [240, 0, 0], [236, 0, 0], [232, 0, 0], [228, 0, 0], [224, 0, 0],
    [220, 0, 0], [216, 0, 0], [212, 0, 0], [208, 0, 0], [204, 0, 0], [200, 0, 0], [196, 0, 0], [192, 0, 0],
    [188, 0, 0], [184, 0, 0], [180, 0, 0], [176, 0, 0], [172, 0, 0], [168, 0, 0], [164, 0, 0], [160, 0, 0],
    [156, 0, 0], [152, 0, 0], [148, 0, 0], [144, 0, 0], [140, 0, 0], [136, 0, 0], [132, 0, 0], [128, 0, 0],
];

/// Colours a normalised anomaly value like
/// `cv2.applyColorMap(np.uint8(value01 * 255), cv2.COLORMAP_JET)`, returned as RGB.
///
/// The index is `floor(value01 · 255)` because `np.uint8(float)` truncates; 0 is dark blue,
/// 1 is dark red. Values outside [0, 1] are clamped and NaN is treated as 0 (where NumPy's
/// result would be platform-dependent).
pub fn colorize_jet(value01: f32) -> [u8; 3] {
    // `clamp` passes NaN through and `as u8` maps NaN to 0, which is the documented choice.
    let index = (value01.clamp(0.0, 1.0) * 255.0) as u8;
    JET[usize::from(index)]
}

/// Draws an anomaly map over `image` as a JET heatmap.
///
/// `map` (row-major, `map_size = (w, h)`, typically at model resolution) is normalised with
/// `range = (low, high)` to `(v − low) / (high − low)` and clipped to [0, 1], upsampled
/// bilinearly to the image size (see [`resize_map_bilinear`]), coloured with
/// [`colorize_jet`] and alpha-blended: `out = (1 − opacity) · image + opacity · heatmap`,
/// rounded. `opacity` is clamped to [0, 1], so 0 returns the image and 1 the heatmap exactly.
///
/// Use a fixed `range` (e.g. 0 to the decision threshold × 2) to make colours comparable
/// across images; the official code uses each map's own min/max. A degenerate range
/// (`high <= low`, or NaN) maps everything to 0 (blue), as the official min/max
/// normalisation does for a constant map; NaN map values also count as 0.
///
/// # Panics
/// If `map.len()` differs from `map_size.0 * map_size.1`, or the map is empty while the image
/// is not (programming errors, see [`resize_map_bilinear`]).
pub fn render_overlay(
    image: &RgbImage,
    map: &[f32],
    map_size: (u32, u32),
    range: (f32, f32),
    opacity: f32,
) -> RgbImage {
    let (low, high) = range;
    let span = high - low;
    // `!(span > 0)` also catches NaN and infinite bounds that would produce NaN below.
    let degenerate = !(span > 0.0 && span.is_finite());
    let normalised: Vec<f32> = map
        .iter()
        .map(|&v| {
            let n = if degenerate { 0.0 } else { (v - low) / span };
            // NaN would otherwise smear through the interpolation.
            if n.is_nan() { 0.0 } else { n.clamp(0.0, 1.0) }
        })
        .collect();
    let heat = resize_map_bilinear(&normalised, map_size, image.dimensions());

    // NaN opacity behaves as 0 (image unchanged): the safe choice for a display setting.
    let alpha = if opacity.is_nan() {
        0.0
    } else {
        opacity.clamp(0.0, 1.0)
    };
    let mut out = image.clone();
    for (pixel, &value) in out.pixels_mut().zip(&heat) {
        let colour = colorize_jet(value);
        for (channel, c) in pixel.0.iter_mut().zip(colour) {
            let blended = (1.0 - alpha) * f32::from(*channel) + alpha * f32::from(c);
            // A convex combination of two u8 values stays in [0, 255]; round to nearest.
            *channel = blended.round() as u8;
        }
    }
    out
}

/// The map values drawn as the coldest and the hottest colour: the calibrated range
/// ([`Calibration::map_range`]) when there is a usable one (so a colour means the same on every
/// image), else the map's own minimum and maximum, as the official code normalises each map.
/// Non-finite values are ignored; a map without finite values gives `(0, 0)`, which
/// [`render_overlay`] draws as all cold.
pub fn display_range(map: &[f32], calibrated: Option<(f64, f64)>) -> (f32, f32) {
    if let Some((low, high)) = calibrated {
        if high > low {
            return (low as f32, high as f32);
        }
    }
    let (lo, hi) = map
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_range_is_the_calibrated_one_else_the_maps_own() {
        let map = [0.05, 0.4, f32::NAN, 0.9, 0.1];
        let c = Calibration {
            image_threshold: 0.2,
            map_low: 0.05,
            map_high: 0.4,
            method: "test".into(),
        };
        assert_eq!(display_range(&map, Some(c.map_range())), (0.05, 0.4));
        assert_eq!(display_range(&map, None), (0.05, 0.9));
        let flat = Calibration {
            map_high: 0.05,
            ..c
        };
        assert_eq!(display_range(&map, Some(flat.map_range())), (0.05, 0.9));
        assert_eq!(display_range(&[f32::NAN], None), (0.0, 0.0));
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-5, "element {i}: got {a}, expected {e}");
        }
    }

    #[test]
    fn resize_matches_cv2_inter_linear() {
        // References: cv2.resize(np.float32(...), (out_w, out_h), interpolation=INTER_LINEAR),
        // opencv-python 5.0.0.
        let a = [0.0, 1.0, 2.0, 3.0];
        assert_close(
            &resize_map_bilinear(&a, (2, 2), (4, 4)),
            &[
                0.0, 0.25, 0.75, 1.0, //
                0.5, 0.75, 1.25, 1.5, //
                1.5, 1.75, 2.25, 2.5, //
                2.0, 2.25, 2.75, 3.0,
            ],
        );
        let b = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0];
        assert_close(
            &resize_map_bilinear(&b, (3, 2), (5, 3)),
            &[
                0.0, 4.0, 10.0, 16.0, 20.0, //
                15.0, 19.0, 25.0, 31.0, 35.0, //
                30.0, 34.0, 40.0, 46.0, 50.0,
            ],
        );
        assert_close(&resize_map_bilinear(&b, (3, 2), (2, 1)), &[17.5, 32.5]);
    }

    #[test]
    fn resize_shapes_and_identity() {
        let m: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_map_bilinear(&m, (4, 3), (4, 3)), m);
        assert_eq!(resize_map_bilinear(&m, (4, 3), (7, 5)).len(), 35);
        assert_eq!(resize_map_bilinear(&m, (4, 3), (1, 1)).len(), 1);
        assert!(resize_map_bilinear(&m, (4, 3), (0, 9)).is_empty());
        // A constant map stays constant at any size.
        let c = vec![0.3; 6];
        assert!(
            resize_map_bilinear(&c, (3, 2), (17, 11))
                .iter()
                .all(|&v| (v - 0.3).abs() < 1e-6)
        );
    }

    #[test]
    #[should_panic(expected = "map length")]
    fn resize_rejects_wrong_length() {
        let _ = resize_map_bilinear(&[0.0; 5], (3, 2), (6, 4));
    }

    #[test]
    fn jet_matches_opencv() {
        // cv2.applyColorMap(np.uint8([[i]]), cv2.COLORMAP_JET)[0, 0, ::-1], opencv-python 5.0.0.
        let reference: [(u8, [u8; 3]); 12] = [
            (0, [0, 0, 128]),
            (1, [0, 0, 132]),
            (32, [0, 0, 255]),
            (63, [0, 124, 255]),
            (96, [2, 255, 254]),
            (127, [126, 255, 130]),
            (128, [130, 255, 126]),
            (159, [254, 255, 1]),
            (160, [255, 252, 0]),
            (191, [255, 128, 0]),
            (224, [252, 0, 0]),
            (255, [128, 0, 0]),
        ];
        for (i, rgb) in reference {
            assert_eq!(JET[usize::from(i)], rgb, "index {i}");
            // The middle of each 1/255 bucket selects exactly that entry.
            assert_eq!(
                colorize_jet((f32::from(i) + 0.5) / 255.0),
                rgb,
                "value for index {i}"
            );
        }
    }

    #[test]
    fn jet_indexing_truncates_like_np_uint8() {
        assert_eq!(colorize_jet(0.0), [0, 0, 128]);
        assert_eq!(colorize_jet(1.0), [128, 0, 0]);
        // 0.5 * 255 = 127.5 -> np.uint8 truncates to 127.
        assert_eq!(colorize_jet(0.5), [126, 255, 130]);
        // Just below 1/255 is still index 0.
        assert_eq!(colorize_jet(0.99 / 255.0), [0, 0, 128]);
        assert_eq!(colorize_jet(1.5 / 255.0), [0, 0, 132]);
        // Clamping and NaN.
        assert_eq!(colorize_jet(-3.0), [0, 0, 128]);
        assert_eq!(colorize_jet(7.0), [128, 0, 0]);
        assert_eq!(colorize_jet(f32::NAN), [0, 0, 128]);
    }

    fn test_image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, 200])
        })
    }

    #[test]
    fn opacity_extremes_are_exact() {
        let img = test_image(9, 6);
        let map = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0];
        let plain = render_overlay(&img, &map, (3, 2), (0.0, 4.0), 0.0);
        assert_eq!(plain, img);

        let heat = render_overlay(&img, &map, (3, 2), (0.0, 4.0), 1.0);
        assert_eq!(heat.dimensions(), (9, 6));
        let values = resize_map_bilinear(&map.map(|v| v / 4.0), (3, 2), (9, 6));
        for (p, v) in heat.pixels().zip(values) {
            assert_eq!(p.0, colorize_jet(v));
        }
        // Out-of-range opacities clamp to the extremes.
        assert_eq!(render_overlay(&img, &map, (3, 2), (0.0, 4.0), -1.0), img);
        assert_eq!(render_overlay(&img, &map, (3, 2), (0.0, 4.0), 5.0), heat);
    }

    #[test]
    fn half_opacity_blends() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([100, 100, 100]));
        // Everything at the top of the range: dark red (128, 0, 0).
        let out = render_overlay(&img, &[9.0], (1, 1), (0.0, 1.0), 0.5);
        assert!(out.pixels().all(|p| p.0 == [114, 50, 50]));
    }

    #[test]
    fn hot_spot_lands_where_expected() {
        // 4×4 map with one hot cell at (col 2, row 1), drawn on a 44×20 image: each map cell
        // covers 11×5 image pixels, so the cell centre is pixel (2·11 + 5, 1·5 + 2) = (27, 7),
        // whose half-pixel-centre source position is exactly (2.0, 1.0).
        let mut map = [0.0_f32; 16];
        map[4 + 2] = 1.0;
        let up = resize_map_bilinear(&map, (4, 4), (44, 20));
        let (argmax, max) =
            up.iter().enumerate().fold(
                (0, f32::MIN),
                |best, (i, &v)| if v > best.1 { (i, v) } else { best },
            );
        assert_eq!((argmax % 44, argmax / 44), (27, 7));
        assert_eq!(max, 1.0);
        assert_eq!(up.iter().filter(|&&v| v == 1.0).count(), 1, "single peak");

        let out = render_overlay(&RgbImage::new(44, 20), &map, (4, 4), (0.0, 1.0), 1.0);
        assert_eq!(out.dimensions(), (44, 20));
        assert_eq!(out.get_pixel(27, 7).0, colorize_jet(1.0));
        // Cells away from the hot one stay cold (dark blue).
        for (x, y) in [(0, 0), (43, 19), (5, 17), (43, 0)] {
            assert_eq!(out.get_pixel(x, y).0, colorize_jet(0.0), "({x}, {y})");
        }
    }

    #[test]
    fn range_is_clipped_and_degenerate_range_is_cold() {
        let img = RgbImage::new(2, 1);
        let out = render_overlay(&img, &[-5.0, 50.0], (2, 1), (0.0, 10.0), 1.0);
        assert_eq!(out.get_pixel(0, 0).0, colorize_jet(0.0));
        assert_eq!(out.get_pixel(1, 0).0, colorize_jet(1.0));
        for range in [(3.0, 3.0), (5.0, 1.0), (f32::NAN, 1.0)] {
            let out = render_overlay(&img, &[-5.0, 50.0], (2, 1), range, 1.0);
            assert!(out.pixels().all(|p| p.0 == colorize_jet(0.0)), "{range:?}");
        }
        let out = render_overlay(&img, &[f32::NAN, 1.0], (2, 1), (0.0, 1.0), 1.0);
        assert_eq!(out.get_pixel(0, 0).0, colorize_jet(0.0));
    }
}
