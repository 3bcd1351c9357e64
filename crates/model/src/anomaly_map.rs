//! The anomaly map exactly as the official RD++ code computes it.
//!
//! On the device: per scale `1 − cos(f_i, d_i)` over channels. On the host (these maps are tiny):
//! bilinear upsampling with `align_corners = true` in f32 (as PyTorch's CPU kernel), summation in
//! f64 (the official code adds f32 maps into a float64 numpy array), then scipy's
//! `gaussian_filter(σ = 4)` with 'reflect' borders in f64. The image score is the map's maximum.

use alloc::vec;
use alloc::vec::Vec;
use burn::prelude::*;

/// `F.cosine_similarity`'s epsilon.
pub const COSINE_EPS: f64 = 1e-8;
/// Gaussian σ of the official post-processing.
pub const GAUSSIAN_SIGMA: f64 = 4.0;
/// scipy's default truncation (radius = ⌊4σ + 0.5⌋ = 16, 33 taps).
pub const GAUSSIAN_TRUNCATE: f64 = 4.0;

/// `1 − cosine_similarity(a, b, dim = 1)` for NCHW tensors → `[N, H, W]`.
///
/// Same formulation as PyTorch 2.x: each vector is divided by its norm clamped to eps, then the
/// products are summed.
pub fn cosine_distance_map(a: Tensor<4>, b: Tensor<4>) -> Tensor<3> {
    let na = a.clone().square().sum_dim(1).sqrt().clamp_min(COSINE_EPS);
    let nb = b.clone().square().sum_dim(1).sqrt().clamp_min(COSINE_EPS);
    let cos = ((a / na) * (b / nb)).sum_dim(1);
    cos.neg().add_scalar(1.0).squeeze_dim(1)
}

/// A single-channel map on the host, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Map<T> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height × width` values, row-major.
    pub data: Vec<T>,
}

impl<T: Copy + PartialOrd> Map<T> {
    /// Largest value (the image score for a final map). `None` for an empty map.
    pub fn max(&self) -> Option<T> {
        self.data.iter().copied().fold(None, |m, v| match m {
            Some(m) if m >= v => Some(m),
            _ => Some(v),
        })
    }
}

/// Source index and weight pairs of PyTorch's `align_corners = true` linear resampling in f32.
fn align_corners_taps(input: usize, output: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale: f32 = if output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        0.0
    };
    (0..output)
        .map(|o| {
            if input == output {
                return (o, o, 1.0, 0.0);
            }
            let real = scale * o as f32;
            let i0 = (real.floor() as usize).min(input - 1);
            let l1 = (real - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            (i0, i1, 1.0 - l1, l1)
        })
        .collect()
}

/// `F.interpolate(mode = "bilinear", align_corners = True)` of one f32 map, bit-compatible with
/// PyTorch's generic CPU kernel: `(x00·w0 + x01·w1)·h0 + (x10·w0 + x11·w1)·h1` in f32.
pub fn upsample_align_corners(map: &Map<f32>, width: usize, height: usize) -> Map<f32> {
    let ys = align_corners_taps(map.height, height);
    let xs = align_corners_taps(map.width, width);
    let mut data = Vec::with_capacity(width * height);
    for &(y0, y1, h0, h1) in &ys {
        let r0 = &map.data[y0 * map.width..(y0 + 1) * map.width];
        let r1 = &map.data[y1 * map.width..(y1 + 1) * map.width];
        for &(x0, x1, w0, w1) in &xs {
            let t0 = r0[x0] * w0 + r0[x1] * w1;
            let t1 = r1[x0] * w0 + r1[x1] * w1;
            data.push(t0 * h0 + t1 * h1);
        }
    }
    Map {
        width,
        height,
        data,
    }
}

/// Normalized 1-D Gaussian kernel as scipy builds it (`exp(−x²/(2σ²))`, summed and divided).
pub fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let radius = (truncate * sigma + 0.5) as i64;
    let k = -0.5 / (sigma * sigma);
    let phi: Vec<f64> = (-radius..=radius)
        .map(|x| (k * (x * x) as f64).exp())
        .collect();
    let sum = pairwise_sum(&phi);
    phi.into_iter().map(|v| v / sum).collect()
}

/// numpy's summation order for short arrays (eight interleaved accumulators), so the kernel
/// normalization matches to the last bit where it can.
fn pairwise_sum(v: &[f64]) -> f64 {
    if v.len() < 8 {
        return v.iter().sum();
    }
    let mut r = [0.0f64; 8];
    r.copy_from_slice(&v[..8]);
    let mut i = 8;
    while i + 8 <= v.len() {
        for j in 0..8 {
            r[j] += v[i + j];
        }
        i += 8;
    }
    let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for x in &v[i..] {
        res += x;
    }
    res
}

/// scipy 'reflect' border: `d c b a | a b c d | d c b a`, repeated for any distance.
fn reflect_index(i: i64, n: usize) -> usize {
    let n = n as i64;
    if n == 1 {
        return 0;
    }
    let period = 2 * n;
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - 1 - m;
    }
    m as usize
}

/// One separable pass of scipy's `correlate1d` with a symmetric kernel, in its exact
/// accumulation order: centre tap first, then pairs from the outermost inwards.
fn correlate_symmetric(line: &[f64], kernel: &[f64], out: &mut [f64]) {
    let r = (kernel.len() / 2) as i64;
    let n = line.len();
    for (i, o) in out.iter_mut().enumerate() {
        let i = i as i64;
        let mut acc = line[i as usize] * kernel[r as usize];
        for j in (1..=r).rev() {
            let a = line[reflect_index(i - j, n)];
            let b = line[reflect_index(i + j, n)];
            acc += (a + b) * kernel[(r - j) as usize];
        }
        *o = acc;
    }
}

/// scipy.ndimage.gaussian_filter(map, σ) with 'reflect' borders: axis 0 (rows) then axis 1.
pub fn gaussian_filter(map: &Map<f64>, sigma: f64) -> Map<f64> {
    let kernel = gaussian_kernel(sigma, GAUSSIAN_TRUNCATE);
    let (w, h) = (map.width, map.height);
    let mut tmp = vec![0.0; w * h];
    let mut column = vec![0.0; h];
    let mut column_out = vec![0.0; h];
    for x in 0..w {
        for y in 0..h {
            column[y] = map.data[y * w + x];
        }
        correlate_symmetric(&column, &kernel, &mut column_out);
        for y in 0..h {
            tmp[y * w + x] = column_out[y];
        }
    }
    let mut data = vec![0.0; w * h];
    for y in 0..h {
        correlate_symmetric(
            &tmp[y * w..(y + 1) * w],
            &kernel,
            &mut data[y * w..(y + 1) * w],
        );
    }
    Map {
        width: w,
        height: h,
        data,
    }
}

/// The official post-processing of one image's per-scale maps: upsample each to `size × size`,
/// sum in f64 (scale order f1, f2, f3), smooth with σ = 4. Returns (summed, smoothed).
pub fn combine_scale_maps(scales: &[Map<f32>], size: usize) -> (Map<f64>, Map<f64>) {
    let mut sum = Map {
        width: size,
        height: size,
        data: vec![0.0f64; size * size],
    };
    for m in scales {
        let up = upsample_align_corners(m, size, size);
        for (s, v) in sum.data.iter_mut().zip(up.data) {
            *s += v as f64;
        }
    }
    let smooth = gaussian_filter(&sum, GAUSSIAN_SIGMA);
    (sum, smooth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_has_33_taps_and_unit_sum() {
        let k = gaussian_kernel(4.0, 4.0);
        assert_eq!(k.len(), 33);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(k[0], k[32]);
        // exp(−256/32) / Σ: the outermost tap relative to the centre.
        assert!((k[0] / k[16] - (-8.0f64).exp()).abs() < 1e-15);
        // The centre tap, 1 / Σ_{x=−16..16} exp(−x²/32), computed independently with
        // `python3 -c "import math; print(1/math.fsum(math.exp(-x*x/32) for x in range(-16,17)))"`
        // (scipy's `_gaussian_kernel1d(4, 0, 16)` builds the same values).
        assert!(
            (k[16] - 0.099_739_099_530_986_32).abs() < 1e-16,
            "{}",
            k[16]
        );
    }

    #[test]
    fn reflect_repeats_edge_pixel() {
        let n = 4;
        let got: Vec<usize> = (-5..9).map(|i| reflect_index(i, n)).collect();
        assert_eq!(got, vec![3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]);
    }

    #[test]
    fn gaussian_preserves_constant_and_mass_of_an_impulse() {
        let c = Map {
            width: 20,
            height: 20,
            data: vec![2.5; 400],
        };
        let s = gaussian_filter(&c, 4.0);
        assert!(s.data.iter().all(|v| (v - 2.5).abs() < 1e-12));
        // An impulse far from the borders keeps its mass and peaks at the same place.
        let mut d = vec![0.0; 80 * 80];
        d[40 * 80 + 40] = 1.0;
        let s = gaussian_filter(
            &Map {
                width: 80,
                height: 80,
                data: d,
            },
            4.0,
        );
        assert!((s.data.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // The peak is the squared centre tap of the hand-checked kernel above (python3, as in
        // `kernel_has_33_taps_and_unit_sum`: (1/fsum(...))**2 = 0.009947887975251996).
        assert!((s.data[40 * 80 + 40] - 0.009_947_887_975_251_996).abs() < 1e-15);
        let peak = s
            .data
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        assert_eq!(peak.0, 40 * 80 + 40, "the impulse stays where it was");
    }

    #[test]
    fn align_corners_keeps_corners_and_interpolates_linearly() {
        let m = Map {
            width: 2,
            height: 2,
            data: vec![0.0, 1.0, 2.0, 3.0],
        };
        let up = upsample_align_corners(&m, 5, 5);
        assert_eq!(up.data[0], 0.0);
        assert_eq!(up.data[4], 1.0);
        assert_eq!(up.data[20], 2.0);
        assert_eq!(up.data[24], 3.0);
        assert!((up.data[2 * 5 + 2] - 1.5).abs() < 1e-6);
        assert!((up.data[2] - 0.5).abs() < 1e-6);
    }
}
