//! Ground-truth masks, resized exactly as the official RD++ code resizes them.
//!
//! The official test loader opens a mask with PIL and applies
//! `transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])`; the metrics
//! then binarise with `> 0.5`. On a PIL image, torchvision's `Resize` is Pillow's
//! `Image.resize((size, size), BILINEAR)`, which is an antialiased triangle filter whose support
//! widens with the downscale factor (not OpenCV's 2-tap bilinear), computed in fixed point and
//! rounded to 8 bits. `ToTensor` divides by 255, so `> 0.5` means "8-bit value ≥ 128".
//!
//! Pillow's resampler is hand-written here ([`pil_resize_bilinear`], [`pil_resize_nearest`]): no
//! Rust crate reproduces its coefficients and 8-bit rounding bit for bit (the `image` crate's
//! triangle filter differs). It is checked against Pillow 13 on generated masks
//! (`tests/make_mask_reference.py`, reference files in `tests/data/masks/`).
//!
//! Pillow resizes images of mode `"1"` (1-bit) and `"P"` (palette) with NEAREST whatever filter
//! is asked; [`pil_filter_for`] detects those from the PNG/BMP header so such masks follow the
//! same rule. Differences from the official pipeline, all on inputs MVTec AD and BTAD do not
//! contain: colour masks are converted to gray with Pillow's `L` formula (the official code
//! would get a 3-channel mask); for palette images the palette colour is used (the official
//! `ToTensor` would use the palette *index*); 16-bit masks are reduced to 8 bits first.

use std::path::Path;

use image::RgbImage;
use rdpp_inference::image_io::{DecodeLimits, ImageError, decode_rgb8};

/// Which of Pillow's resampling filters applies to a mask file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PilFilter {
    /// `Image.BILINEAR` (antialiased triangle filter): 8-bit gray and colour images.
    Bilinear,
    /// `Image.NEAREST`: what Pillow uses for mode `"1"` and `"P"` images.
    Nearest,
}

/// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS` in `Resample.c`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel along one axis: the first input index and the fixed-point weights.
struct Coeffs {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1)
/// over the full image (`box = (0, 0, w, h)`).
fn pil_coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0 × filterscale
    let ss = 1.0 / filterscale;
    let mut start = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's `(int)` truncates toward zero; negatives are clamped to 0 right after.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut k: Vec<f64> = (0..n)
            .map(|x| {
                let t = (((x + xmin) as f64 - center) + 0.5) * ss;
                let t = t.abs();
                if t < 1.0 { 1.0 - t } else { 0.0 }
            })
            .collect();
        let ww: f64 = k.iter().sum();
        if ww != 0.0 {
            for v in &mut k {
                *v /= ww;
            }
        }
        let one = f64::from(1u32 << PRECISION_BITS);
        let fixed = k
            .iter()
            .map(|&v| {
                if v < 0.0 {
                    (-0.5 + v * one) as i32
                } else {
                    (0.5 + v * one) as i32
                }
            })
            .collect();
        start.push(xmin);
        weights.push(fixed);
    }
    Coeffs { start, weights }
}

/// Pillow's `clip8`: the accumulator's integer part, clamped to `[0, 255]`.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize((out_w, out_h), Image.BILINEAR)` for an 8-bit single-channel image
/// (`src` row-major, `w × h`): horizontal pass then vertical pass, each rounded to 8 bits, and a
/// pass is skipped when its size does not change (so an unchanged size returns a copy).
///
/// # Panics
/// If `src.len() != w * h` or a size is zero.
pub fn pil_resize_bilinear(src: &[u8], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    assert_eq!(src.len(), w * h, "mask buffer does not match its size");
    assert!(w > 0 && h > 0 && out_w > 0 && out_h > 0, "empty mask size");
    let horizontal: Vec<u8>;
    let (tmp, tw) = if out_w != w {
        let c = pil_coeffs(w, out_w);
        let mut out = vec![0u8; out_w * h];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for xx in 0..out_w {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (i, &k) in c.weights[xx].iter().enumerate() {
                    acc += i64::from(row[c.start[xx] + i]) * i64::from(k);
                }
                out[y * out_w + xx] = clip8(acc);
            }
        }
        horizontal = out;
        (&horizontal[..], out_w)
    } else {
        (src, w)
    };
    if out_h == h {
        return tmp.to_vec();
    }
    let c = pil_coeffs(h, out_h);
    let mut out = vec![0u8; tw * out_h];
    for yy in 0..out_h {
        for x in 0..tw {
            let mut acc: i64 = 1 << (PRECISION_BITS - 1);
            for (i, &k) in c.weights[yy].iter().enumerate() {
                acc += i64::from(tmp[(c.start[yy] + i) * tw + x]) * i64::from(k);
            }
            out[yy * tw + x] = clip8(acc);
        }
    }
    out
}

/// Pillow's `Image.resize((out_w, out_h), Image.NEAREST)` (`ImagingScaleAffine`): the source
/// index is `trunc(scale / 2 + i · scale)` with the position accumulated in f64 as Pillow does.
///
/// # Panics
/// If `src.len() != w * h` or a size is zero.
pub fn pil_resize_nearest(src: &[u8], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    assert_eq!(src.len(), w * h, "mask buffer does not match its size");
    assert!(w > 0 && h > 0 && out_w > 0 && out_h > 0, "empty mask size");
    if out_w == w && out_h == h {
        return src.to_vec();
    }
    let table = |n_in: usize, n_out: usize| -> Vec<usize> {
        let a = n_in as f64 / n_out as f64;
        let mut pos = a * 0.5;
        (0..n_out)
            .map(|_| {
                let i = (pos.max(0.0) as usize).min(n_in - 1);
                pos += a;
                i
            })
            .collect()
    };
    let xs = table(w, out_w);
    let ys = table(h, out_h);
    let mut out = Vec::with_capacity(out_w * out_h);
    for &y in &ys {
        out.extend(xs.iter().map(|&x| src[y * w + x]));
    }
    out
}

/// The filter Pillow would use for this file: [`PilFilter::Nearest`] for what Pillow opens as
/// mode `"1"` or `"P"` (1-bit gray PNG, palette PNG, 1/4/8-bit BMP without a gray-ramp
/// palette), [`PilFilter::Bilinear`] for everything else.
pub fn pil_filter_for(bytes: &[u8]) -> PilFilter {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() >= 26 && bytes.starts_with(PNG) && &bytes[12..16] == b"IHDR" {
        let (depth, color) = (bytes[24], bytes[25]);
        return if color == 3 || (color == 0 && depth == 1) {
            PilFilter::Nearest
        } else {
            PilFilter::Bilinear
        };
    }
    if bytes.starts_with(b"BM") {
        return bmp_filter(bytes).unwrap_or(PilFilter::Bilinear);
    }
    PilFilter::Bilinear
}

/// Pillow's BMP rule (`BmpImagePlugin`): 1/4/8 bits per pixel are palette images; the mode is
/// `"L"` (`"1"` for two colours) when palette entry `i` is gray `i` (entries 0 and 255 for two
/// colours), otherwise `"P"`.
fn bmp_filter(b: &[u8]) -> Option<PilFilter> {
    let u16_at = |o: usize| Some(u16::from_le_bytes([*b.get(o)?, *b.get(o + 1)?]));
    let u32_at = |o: usize| {
        Some(u32::from_le_bytes([
            *b.get(o)?,
            *b.get(o + 1)?,
            *b.get(o + 2)?,
            *b.get(o + 3)?,
        ]))
    };
    let header = u32_at(14)? as usize;
    let (bits, colors_used, entry) = if header == 12 {
        (u16_at(24)?, 0, 3)
    } else {
        (u16_at(28)?, u32_at(46)? as usize, 4)
    };
    if !matches!(bits, 1 | 4 | 8) {
        return Some(PilFilter::Bilinear);
    }
    let colors = if colors_used == 0 {
        1usize << bits
    } else {
        colors_used
    };
    if colors == 2 {
        return Some(PilFilter::Nearest); // mode "1" or "P": both nearest
    }
    let palette = 14 + header;
    let gray = (0..colors).all(|i| {
        let o = palette + i * entry;
        // BMP palettes are stored BGR(A); a gray entry has three equal bytes.
        b.get(o..o + 3)
            .is_some_and(|p| p.iter().all(|&v| usize::from(v) == i))
    });
    Some(if gray {
        PilFilter::Bilinear
    } else {
        PilFilter::Nearest
    })
}

/// 8-bit gray from decoded RGB: the red channel when the three agree (gray images), otherwise
/// Pillow's `convert("L")`: `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16`.
pub fn rgb_to_gray(rgb: &RgbImage) -> Vec<u8> {
    rgb.pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            if r == g && g == b {
                r
            } else {
                ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16)
                    as u8
            }
        })
        .collect()
}

/// Decodes a mask file (any format [`decode_rgb8`] reads) and resizes it to `size × size` as
/// the official code does, returning the 8-bit values before binarisation (`ToTensor` × 255).
///
/// # Errors
/// Any [`ImageError`] of reading or decoding the file; it names `path`.
pub fn read_mask_u8(
    path: &Path,
    size: usize,
    limits: &DecodeLimits,
) -> Result<Vec<u8>, ImageError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| ImageError::Io {
        file: file.clone(),
        error,
    })?;
    let filter = pil_filter_for(&bytes);
    let rgb = decode_rgb8(&bytes, &file, limits)?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let gray = rgb_to_gray(&rgb);
    Ok(match filter {
        PilFilter::Bilinear => pil_resize_bilinear(&gray, w, h, size, size),
        PilFilter::Nearest => pil_resize_nearest(&gray, w, h, size, size),
    })
}

/// Binarises resized 8-bit mask values the way the official metrics do (`ToTensor` then
/// `> 0.5`): 1 where the value is ≥ 128, else 0.
pub fn binarize(resized: &[u8]) -> Vec<u8> {
    resized.iter().map(|&v| u8::from(v >= 128)).collect()
}

/// [`read_mask_u8`] then [`binarize`]: a `size × size` row-major mask of 0/1 values.
///
/// # Errors
/// As [`read_mask_u8`].
pub fn read_mask(path: &Path, size: usize, limits: &DecodeLimits) -> Result<Vec<u8>, ImageError> {
    read_mask_u8(path, size, limits).map(|m| binarize(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_sum_to_one_in_fixed_point() {
        for (i, o) in [(1024, 256), (300, 64), (37, 64), (97, 40), (5, 3)] {
            let c = pil_coeffs(i, o);
            for k in &c.weights {
                let s: i64 = k.iter().map(|&v| i64::from(v)).sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= k.len() as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        for v in [0u8, 1, 127, 128, 255] {
            let src = vec![v; 61 * 97];
            let out = pil_resize_bilinear(&src, 97, 61, 40, 33);
            assert!(out.iter().all(|&x| x == v), "value {v}");
        }
    }

    #[test]
    fn binarize_threshold_is_half() {
        assert_eq!(binarize(&[0, 127, 128, 255]), [0, 0, 1, 1]);
    }

    #[test]
    fn header_sniffing() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10".to_vec();
        png.extend([8, 0, 0, 0, 0]);
        assert_eq!(pil_filter_for(&png), PilFilter::Bilinear);
        png[24] = 1;
        assert_eq!(pil_filter_for(&png), PilFilter::Nearest);
        png[24] = 8;
        png[25] = 3;
        assert_eq!(pil_filter_for(&png), PilFilter::Nearest);
        assert_eq!(pil_filter_for(b"not an image"), PilFilter::Bilinear);
    }
}
