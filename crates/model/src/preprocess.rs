//! The official RD++ preprocessing: RGB u8 → `/255` in f64 → OpenCV `resize(INTER_LINEAR)` to the
//! model size → per-channel normalization in f64 → f32 NCHW.
//!
//! The resampler is what `cv2.resize` really computes for float64 images in the OpenCV wheels the
//! official code runs on x86-64: Intel IPP's linear resize (measured bit for bit against OpenCV
//! 4.7 and 5.0, see `tests/parity/README.md`). Per axis the source position is
//! `fma(d + 0.5, in/out, −0.5)` in f64, clamped to `[0, in − 1]`; each value is
//! `fma(t, b − a, a)`; rows first, then columns. OpenCV's own (non-IPP) code differs by at most
//! 2.2e-16 at the sizes RD++ uses. Bit-level differences with PyTorch pipelines usually come from
//! here, so it is kept separate and tested against OpenCV's output.

use alloc::vec;
use alloc::vec::Vec;

use crate::teacher::Normalization;

/// Per-output-position taps along one axis: (i0, i1, t) with value = a + t·(b − a).
fn linear_taps(src: usize, dst: usize) -> Vec<(usize, usize, f64)> {
    let scale = src as f64 / dst as f64;
    let last = (src - 1) as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5).mul_add(scale, -0.5).clamp(0.0, last);
            let i0 = f.floor();
            let t = f - i0;
            let i0 = i0 as usize;
            (i0, (i0 + 1).min(src - 1), t)
        })
        .collect()
}

/// `cv2.resize(src, (dw, dh), interpolation=INTER_LINEAR)` for an interleaved f64 image with
/// `channels` channels (IPP's computation, see the module docs).
pub fn resize_linear_opencv(
    src: &[f64],
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Vec<f64> {
    assert_eq!(
        src.len(),
        sw * sh * channels,
        "image buffer does not match its size"
    );
    resize_with(|i| src[i], sw, sh, channels, dw, dh)
}

/// The resampler over any source: `at(i)` is the value of interleaved element `i`. Only the
/// source pixels that contribute are read, so a huge photo is never converted whole.
fn resize_with(
    at: impl Fn(usize) -> f64,
    sw: usize,
    sh: usize,
    channels: usize,
    dw: usize,
    dh: usize,
) -> Vec<f64> {
    if sw == dw && sh == dh {
        return (0..sw * sh * channels).map(at).collect();
    }
    let xs = linear_taps(sw, dw);
    let ys = linear_taps(sh, dh);
    let lerp = |a: f64, b: f64, t: f64| t.mul_add(b - a, a);
    // Horizontal pass over the source rows that are needed, then the vertical blend.
    let row_len = dw * channels;
    let hrow = |y: usize| -> Vec<f64> {
        let base = y * sw * channels;
        let mut out = Vec::with_capacity(row_len);
        for &(x0, x1, t) in &xs {
            for c in 0..channels {
                out.push(lerp(
                    at(base + x0 * channels + c),
                    at(base + x1 * channels + c),
                    t,
                ));
            }
        }
        out
    };
    let mut dst = vec![0.0f64; dh * row_len];
    for (dy, &(y0, y1, t)) in ys.iter().enumerate() {
        let (r0, r1) = (hrow(y0), hrow(y1));
        let out = &mut dst[dy * row_len..(dy + 1) * row_len];
        for i in 0..row_len {
            out[i] = lerp(r0[i], r1[i], t);
        }
    }
    dst
}

/// Resize an RGB u8 image (interleaved, `width × height × 3`) to `size × size` as the official
/// code does (`cv2.resize(img / 255., (size, size))`); returns interleaved f64 in [0, 1].
pub fn resize_rgb_u8(rgb: &[u8], width: usize, height: usize, size: usize) -> Vec<f64> {
    assert_eq!(
        rgb.len(),
        width * height * 3,
        "image buffer does not match its size"
    );
    resize_with(|i| rgb[i] as f64 / 255.0, width, height, 3, size, size)
}

/// Normalize an interleaved `size × size × 3` image in [0, 1] (f64 from [`resize_rgb_u8`], or
/// the trainer's f32 images) in f64 and lay it out as f32 CHW.
pub fn normalize_to_chw<T: Copy + Into<f64>>(
    resized: &[T],
    size: usize,
    norm: &Normalization,
) -> Vec<f32> {
    let plane = size * size;
    let mut out = vec![0.0f32; 3 * plane];
    for p in 0..plane {
        for c in 0..3 {
            out[c * plane + p] = norm.apply(c, resized[p * 3 + c].into()) as f32;
        }
    }
    out
}

/// The whole preprocessing of one RGB u8 image → f32 CHW `[3, size, size]`.
pub fn preprocess_rgb_u8(
    rgb: &[u8],
    width: usize,
    height: usize,
    size: usize,
    norm: &Normalization,
) -> Vec<f32> {
    normalize_to_chw(&resize_rgb_u8(rgb, width, height, size), size, norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_is_a_copy() {
        let src: Vec<f64> = (0..12).map(|v| v as f64).collect();
        assert_eq!(resize_linear_opencv(&src, 2, 2, 3, 2, 2), src);
    }

    #[test]
    fn upscale_matches_hand_computed_positions() {
        // 2 → 4 pixels: positions −0.25, 0.25, 0.75, 1.25 → clamped to 0, 0.25, 0.75, 1.
        let out = resize_linear_opencv(&[0.0, 1.0], 2, 1, 1, 4, 1);
        assert_eq!(out, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn exact_half_is_a_box_mean() {
        let src = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(resize_linear_opencv(&src, 2, 2, 1, 1, 1), vec![2.5]);
    }

    #[test]
    fn normalization_is_channel_planar() {
        let norm = Normalization::IMAGENET;
        let resized = vec![0.485, 0.456, 0.406];
        let chw = normalize_to_chw(&resized, 1, &norm);
        assert!(chw.iter().all(|v| v.abs() < 1e-7));
        // One pixel cannot tell HWC from CHW: a 2×2 image of red, green, blue and the mean.
        // Expected values by hand, (v − mean) / std with ImageNet's statistics:
        // R: 0.515/0.229 = 2.2489083, −0.485/0.229 = −2.1179039; G: 0.544/0.224 = 2.4285714,
        // −0.456/0.224 = −2.0357143; B: 0.594/0.225 = 2.64, −0.406/0.225 = −1.8044444.
        let hwc = [
            1.0, 0.0, 0.0, //
            0.0, 1.0, 0.0, //
            0.0, 0.0, 1.0, //
            0.485, 0.456, 0.406,
        ];
        let chw = normalize_to_chw(&hwc, 2, &norm);
        let want: [f32; 12] = [
            2.248_908_3,
            -2.117_903_9,
            -2.117_903_9,
            0.0, // R plane
            -2.035_714_3,
            2.428_571_4,
            -2.035_714_3,
            0.0, // G plane
            -1.804_444_4,
            -1.804_444_4,
            2.64,
            0.0, // B plane
        ];
        assert_eq!(chw.len(), want.len());
        for (i, (a, b)) in chw.iter().zip(&want).enumerate() {
            assert!((a - b).abs() < 1e-6, "element {i}: {a} vs {b}");
        }
    }
}
