//! The RD++ pseudo-anomaly (docs/method.md §7.2; official `MVTecDataset_train.__getitem__`).
//!
//! For every training sample the official code draws, with numpy's `randint` (high excluded):
//!
//! ```text
//! h    = randint(10, 256 // 8)      # 10..=31
//! w    = randint(10, 256 // 8)
//! top  = randint(1, 256 - h)        # 1..=size-h-1
//! left = randint(1, 256 - w)
//! ```
//!
//! and adds `0.2 × rand_3d_octaves((3, h, w), 6, 0.6)` (channel-first, transposed to HWC) to the
//! resized `[0, 1]` image inside that rectangle, before normalisation, without clipping. See
//! [`OpenSimplex::rand_3d_octaves`] for the octave schedule: feature size 32, 16, 8, 4, 2, 1 px,
//! weights 1, 0.6, 0.36, 0.216, 0.1296, 0.07776 (sum ≈ 2.383), no normalisation; so each added
//! value lies within ±0.2 × 2.383 ≈ ±0.477 (in practice: at most ≈ ±0.25 over a 3 × 31 × 31 field,
//! typically ≈ ±0.19; measured over 30 seeds). The three channels sample z = 0, 1, 2 of the same
//! field, so at the coarse octaves (z / 32, z / 16) they are nearly equal: the noise is mostly a
//! brightness change with weaker colour in the fine octaves.
//!
//! The official code builds ONE noise generator (`Simplex_CLASS()`, seeded once from numpy's
//! global RNG) for the whole data set, and always samples the grid from the origin, so every
//! pseudo-anomaly of a run is the top-left `h × w` crop of the same fixed 3 × 31 × 31 noise
//! field; only the rectangle's size and place change. [`add_pseudo_anomaly`] takes the generator
//! from the caller: create one [`OpenSimplex`] per run to do what the official code does, or a
//! new one per sample ([`OpenSimplex::from_rng`]) for varied noise.

use rand_core::RngCore;

use crate::DataError;
use crate::rng::randint;
use crate::simplex::OpenSimplex;

/// Number of noise octaves.
pub const NOISE_OCTAVES: u32 = 6;
/// Amplitude ratio between successive octaves.
pub const NOISE_PERSISTENCE: f64 = 0.6;
/// Feature size of the first octave, in pixels (halved at each octave).
pub const NOISE_FREQUENCY: f64 = 32.0;
/// Factor applied to the noise before it is added to the image.
pub const NOISE_SCALE: f64 = 0.2;
/// Smallest rectangle side (inclusive).
pub const RECT_MIN: usize = 10;
/// Largest rectangle side (inclusive): `256 / 8 − 1`.
pub const RECT_MAX: usize = 31;
/// Smallest image side [`add_pseudo_anomaly`] accepts (`RECT_MAX + 2`: room for the margin of
/// one pixel the official draw keeps on the top/left side).
pub const MIN_PSEUDO_ANOMALY_SIZE: usize = RECT_MAX + 2;

/// The rectangle a pseudo-anomaly was added to, in pixels of the `size × size` image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseRect {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Number of rows (10..=31).
    pub height: usize,
    /// Number of columns (10..=31).
    pub width: usize,
}

impl NoiseRect {
    /// `true` if pixel `(row, col)` is inside the rectangle.
    pub fn contains(&self, row: usize, col: usize) -> bool {
        (self.top..self.top + self.height).contains(&row)
            && (self.left..self.left + self.width).contains(&col)
    }
}

/// Draws the rectangle as the official code does: `height`, `width`, `top`, `left`, in that
/// order, each with numpy `randint` semantics.
///
/// # Errors
/// [`DataError::InvalidSize`] if `size < MIN_PSEUDO_ANOMALY_SIZE`.
pub fn draw_rect<R: RngCore + ?Sized>(size: usize, rng: &mut R) -> Result<NoiseRect, DataError> {
    if size < MIN_PSEUDO_ANOMALY_SIZE {
        return Err(DataError::InvalidSize {
            size,
            reason: "the pseudo-anomaly needs images of at least 33×33 pixels",
        });
    }
    let s = size as i64;
    let height = randint(rng, RECT_MIN as i64, RECT_MAX as i64 + 1);
    let width = randint(rng, RECT_MIN as i64, RECT_MAX as i64 + 1);
    let top = randint(rng, 1, s - height);
    let left = randint(rng, 1, s - width);
    Ok(NoiseRect {
        top: top as usize,
        left: left as usize,
        height: height as usize,
        width: width as usize,
    })
}

/// The noise of a `height × width` rectangle, already scaled by [`NOISE_SCALE`], channel-first
/// (`[c][y][x]`, 3 channels) as the official `0.2 * rand_3d_octaves((3, h, w), 6, 0.6)`.
pub fn pseudo_anomaly_noise(noise: &OpenSimplex, height: usize, width: usize) -> Vec<f64> {
    let mut n = noise.rand_3d_octaves(
        [3, height, width],
        NOISE_OCTAVES,
        NOISE_PERSISTENCE,
        NOISE_FREQUENCY,
    );
    for v in &mut n {
        *v *= NOISE_SCALE;
    }
    n
}

/// Adds an RD++ pseudo-anomaly to `img`, an interleaved RGB (HWC) `size × size` image in
/// `[0, 1]`: draws the rectangle with [`draw_rect`], then adds [`pseudo_anomaly_noise`] inside it
/// (computed in f64, stored as f32), without clipping. Pixels outside the rectangle are not
/// touched. Deterministic for a given generator and `rng` state.
///
/// # Errors
/// [`DataError::BufferSize`] if `img.len() != size * size * 3`; [`DataError::InvalidSize`] as
/// [`draw_rect`]. Nothing is drawn from `rng` on error.
pub fn add_pseudo_anomaly<R: RngCore + ?Sized>(
    img: &mut [f32],
    size: usize,
    noise: &OpenSimplex,
    rng: &mut R,
) -> Result<NoiseRect, DataError> {
    if img.len() != size * size * 3 {
        return Err(DataError::BufferSize {
            len: img.len(),
            size,
        });
    }
    let rect = draw_rect(size, rng)?;
    let field = pseudo_anomaly_noise(noise, rect.height, rect.width);
    let plane = rect.height * rect.width;
    for y in 0..rect.height {
        for x in 0..rect.width {
            let p = ((rect.top + y) * size + rect.left + x) * 3;
            for c in 0..3 {
                let v = f64::from(img[p + c]) + field[c * plane + y * rect.width + x];
                img[p + c] = v as f32;
            }
        }
    }
    Ok(rect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{seeded, unit};

    fn image(size: usize, seed: u64) -> Vec<f32> {
        let mut r = seeded(seed, 99);
        (0..size * size * 3).map(|_| unit(&mut r) as f32).collect()
    }

    #[test]
    fn rectangle_bounds_follow_numpy_randint() {
        let mut rng = seeded(1, 0);
        let (mut min_hw, mut max_hw, mut min_tl, mut max_end) = (usize::MAX, 0, usize::MAX, 0);
        for _ in 0..5000 {
            let r = draw_rect(256, &mut rng).expect("rect");
            min_hw = min_hw.min(r.height.min(r.width));
            max_hw = max_hw.max(r.height.max(r.width));
            min_tl = min_tl.min(r.top.min(r.left));
            max_end = max_end.max((r.top + r.height).max(r.left + r.width));
        }
        assert_eq!((min_hw, max_hw), (10, 31));
        assert_eq!(min_tl, 1);
        // top <= size - h - 1, so the rectangle ends at most at size - 1 (exclusive end).
        assert_eq!(max_end, 255);
        let r = draw_rect(33, &mut rng).expect("smallest size");
        assert!(r.top + r.height < 33 && r.left + r.width < 33);
        assert!(matches!(
            draw_rect(32, &mut rng),
            Err(DataError::InvalidSize { .. })
        ));
    }

    #[test]
    fn bounded_deterministic_and_local() {
        let size = 64;
        let noise = OpenSimplex::new(12345);
        let bound = (NOISE_SCALE * (1.0 - 0.6f64.powi(6)) / 0.4) as f32 + 1e-6;
        let mut max_delta = 0.0f32;
        for seed in 0..40 {
            let clean = image(size, seed);
            let mut a = clean.clone();
            let ra = add_pseudo_anomaly(&mut a, size, &noise, &mut seeded(seed, 0)).expect("noise");
            let mut b = clean.clone();
            let rb = add_pseudo_anomaly(&mut b, size, &noise, &mut seeded(seed, 0)).expect("noise");
            assert_eq!(ra, rb);
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "same seed, same bytes"
            );
            let mut changed = 0;
            for row in 0..size {
                for col in 0..size {
                    for c in 0..3 {
                        let i = (row * size + col) * 3 + c;
                        let d = a[i] - clean[i];
                        if ra.contains(row, col) {
                            assert!(d.abs() <= bound, "delta {d} over {bound}");
                            max_delta = max_delta.max(d.abs());
                            changed += usize::from(d != 0.0);
                        } else {
                            assert_eq!(a[i].to_bits(), clean[i].to_bits(), "outside pixel changed");
                        }
                    }
                }
            }
            // The noise vanishes at the grid origin only (and, rarely, by chance).
            assert!(changed * 100 >= ra.height * ra.width * 3 * 95, "{changed}");
        }
        assert!(max_delta > 0.1, "noise too weak: {max_delta}");
    }

    #[test]
    fn noise_is_the_official_field_crop() {
        #[derive(serde::Deserialize)]
        struct Case {
            seed: i64,
            octaves_shape: [usize; 3],
            octaves: Vec<f64>,
        }
        #[derive(serde::Deserialize)]
        struct Reference {
            cases: Vec<Case>,
        }
        let path = crate::test_data("noise_reference.json");
        let r: Reference =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("parse");
        let case = &r.cases[1];
        let [_, rh, rw] = case.octaves_shape;
        let noise = OpenSimplex::new(case.seed);
        let size = 80;
        let mut rng = seeded(3, 0);
        let clean = vec![0.5f32; size * size * 3];
        let mut img = clean.clone();
        let rect = add_pseudo_anomaly(&mut img, size, &noise, &mut rng).expect("noise");
        for y in 0..rect.height.min(rh) {
            for x in 0..rect.width.min(rw) {
                for c in 0..3 {
                    let want = (0.5f64 + 0.2 * case.octaves[(c * rh + y) * rw + x]) as f32;
                    let got = img[((rect.top + y) * size + rect.left + x) * 3 + c];
                    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn buffer_errors() {
        let noise = OpenSimplex::new(1);
        let mut small = vec![0.0f32; 10];
        let e = add_pseudo_anomaly(&mut small, 64, &noise, &mut seeded(0, 0)).unwrap_err();
        assert!(matches!(e, DataError::BufferSize { len: 10, size: 64 }));
    }
}
