//! 3-D OpenSimplex noise (Kurt Spencer's 2014 algorithm) exactly as the official RD++ code
//! computes it.
//!
//! The official `dataset/noise.py` carries a copy of the Python `opensimplex` package
//! (lmas/opensimplex): a 256-entry permutation shuffled by a 64-bit LCG from a seed, 24 skewed
//! rhombicuboctahedron gradients, and a result divided by 103. This is a hand-written port of
//! that algorithm rather than the `noise` crate, because the crate's OpenSimplex uses another
//! permutation set-up and scaling, so its values (and range) would differ from the official
//! pseudo-anomalies; this port matches the Python package value for value
//! (`tests/make_noise_reference.py`, `tests/data/noise_reference.json`).

/// 3-D gradients, three components each.
const GRADIENTS3: [i64; 72] = [
    -11, 4, 4, -4, 11, 4, -4, 4, 11, //
    11, 4, 4, 4, 11, 4, 4, 4, 11, //
    -11, -4, 4, -4, -11, 4, -4, -4, 11, //
    11, -4, 4, 4, -11, 4, 4, -4, 11, //
    -11, 4, -4, -4, 11, -4, -4, 4, -11, //
    11, 4, -4, 4, 11, -4, 4, 4, -11, //
    -11, -4, -4, -4, -11, -4, -4, -4, -11, //
    11, -4, -4, 4, -11, -4, 4, -4, -11,
];
const STRETCH3: f64 = -1.0 / 6.0;
const SQUISH3: f64 = 1.0 / 3.0;
const NORM3: f64 = 103.0;

/// A seeded OpenSimplex noise generator (the official `Simplex_CLASS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSimplex {
    perm: [u8; 256],
    grad_index: [u8; 256],
}

impl OpenSimplex {
    /// The generator for `seed`, with the permutation the Python package builds for the same
    /// seed (`_init`: three LCG steps, then a Fisher–Yates-style draw with one step each).
    pub fn new(seed: i64) -> Self {
        const MUL: i64 = 6_364_136_223_846_793_005;
        const INC: i64 = 1_442_695_040_888_963_407;
        let step = |s: i64| s.wrapping_mul(MUL).wrapping_add(INC);
        let mut s = step(step(step(seed)));
        let mut source: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut perm = [0u8; 256];
        let mut grad_index = [0u8; 256];
        for i in (0..256usize).rev() {
            s = step(s);
            // Python computes `(seed + 31) % (i + 1)` on unbounded integers: floor modulo.
            let r = (i128::from(s) + 31).rem_euclid(i as i128 + 1) as usize;
            perm[i] = source[r];
            grad_index[i] = (perm[i] % 24) * 3;
            source[r] = source[i];
        }
        Self { perm, grad_index }
    }

    /// A generator whose seed is drawn from `rng` in `[-10^10, 10^10)`, the range the official
    /// code draws it from (`np.random.randint(-10000000000, 10000000000)`).
    pub fn from_rng<R: rand_core::RngCore + ?Sized>(rng: &mut R) -> Self {
        Self::new(crate::rng::randint(rng, -10_000_000_000, 10_000_000_000))
    }

    /// The permutation table (for tests against the Python package).
    pub fn permutation(&self) -> &[u8; 256] {
        &self.perm
    }

    fn extrapolate(&self, xsb: i64, ysb: i64, zsb: i64, dx: f64, dy: f64, dz: f64) -> f64 {
        let p = |i: i64| i64::from(self.perm[(i & 0xFF) as usize]);
        let idx = usize::from(self.grad_index[((p(p(xsb) + ysb) + zsb) & 0xFF) as usize]);
        GRADIENTS3[idx] as f64 * dx
            + GRADIENTS3[idx + 1] as f64 * dy
            + GRADIENTS3[idx + 2] as f64 * dz
    }

    /// One lattice point's contribution: `attn⁴ · (gradient · d)` when `attn = 2 − |d|² > 0`.
    fn contrib(&self, xsb: i64, ysb: i64, zsb: i64, dx: f64, dy: f64, dz: f64) -> f64 {
        let attn = 2.0 - dx * dx - dy * dy - dz * dz;
        if attn > 0.0 {
            let a2 = attn * attn;
            a2 * a2 * self.extrapolate(xsb, ysb, zsb, dx, dy, dz)
        } else {
            0.0
        }
    }

    /// Noise at one point; designed to lie in `[-1, 1]` (about ±0.94 measured).
    #[allow(clippy::many_single_char_names)]
    pub fn noise3(&self, x: f64, y: f64, z: f64) -> f64 {
        const SQ: f64 = SQUISH3;
        let stretch = (x + y + z) * STRETCH3;
        let (xs, ys, zs) = (x + stretch, y + stretch, z + stretch);
        let (xsb, ysb, zsb) = (xs.floor(), ys.floor(), zs.floor());
        let squish = (xsb + ysb + zsb) * SQ;
        let (xb, yb, zb) = (xsb + squish, ysb + squish, zsb + squish);
        let (xins, yins, zins) = (xs - xsb, ys - ysb, zs - zsb);
        let in_sum = xins + yins + zins;
        let (dx0, dy0, dz0) = (x - xb, y - yb, z - zb);
        let (xsb, ysb, zsb) = (xsb as i64, ysb as i64, zsb as i64);

        let mut value = 0.0;
        let (xsv0, ysv0, zsv0, dx_e0, dy_e0, dz_e0);
        let (xsv1, ysv1, zsv1, dx_e1, dy_e1, dz_e1);

        if in_sum <= 1.0 {
            // Inside the tetrahedron at (0,0,0).
            let (mut a_point, mut a_score, mut b_point, mut b_score) = (0x01u8, xins, 0x02u8, yins);
            if a_score >= b_score && zins > b_score {
                b_score = zins;
                b_point = 0x04;
            } else if a_score < b_score && zins > a_score {
                a_score = zins;
                a_point = 0x04;
            }
            let wins = 1.0 - in_sum;
            if wins > a_score || wins > b_score {
                let c = if b_score > a_score { b_point } else { a_point };
                if c & 0x01 == 0 {
                    (xsv0, xsv1, dx_e0, dx_e1) = (xsb - 1, xsb, dx0 + 1.0, dx0);
                } else {
                    (xsv0, xsv1, dx_e0, dx_e1) = (xsb + 1, xsb + 1, dx0 - 1.0, dx0 - 1.0);
                }
                if c & 0x02 == 0 {
                    let (mut y0, mut y1, mut d0, mut d1) = (ysb, ysb, dy0, dy0);
                    if c & 0x01 == 0 {
                        y1 -= 1;
                        d1 += 1.0;
                    } else {
                        y0 -= 1;
                        d0 += 1.0;
                    }
                    (ysv0, ysv1, dy_e0, dy_e1) = (y0, y1, d0, d1);
                } else {
                    (ysv0, ysv1, dy_e0, dy_e1) = (ysb + 1, ysb + 1, dy0 - 1.0, dy0 - 1.0);
                }
                if c & 0x04 == 0 {
                    (zsv0, zsv1, dz_e0, dz_e1) = (zsb, zsb - 1, dz0, dz0 + 1.0);
                } else {
                    (zsv0, zsv1, dz_e0, dz_e1) = (zsb + 1, zsb + 1, dz0 - 1.0, dz0 - 1.0);
                }
            } else {
                let c = a_point | b_point;
                if c & 0x01 == 0 {
                    (xsv0, xsv1, dx_e0, dx_e1) = (xsb, xsb - 1, dx0 - 2.0 * SQ, dx0 + 1.0 - SQ);
                } else {
                    (xsv0, xsv1, dx_e0, dx_e1) =
                        (xsb + 1, xsb + 1, dx0 - 1.0 - 2.0 * SQ, dx0 - 1.0 - SQ);
                }
                if c & 0x02 == 0 {
                    (ysv0, ysv1, dy_e0, dy_e1) = (ysb, ysb - 1, dy0 - 2.0 * SQ, dy0 + 1.0 - SQ);
                } else {
                    (ysv0, ysv1, dy_e0, dy_e1) =
                        (ysb + 1, ysb + 1, dy0 - 1.0 - 2.0 * SQ, dy0 - 1.0 - SQ);
                }
                if c & 0x04 == 0 {
                    (zsv0, zsv1, dz_e0, dz_e1) = (zsb, zsb - 1, dz0 - 2.0 * SQ, dz0 + 1.0 - SQ);
                } else {
                    (zsv0, zsv1, dz_e0, dz_e1) =
                        (zsb + 1, zsb + 1, dz0 - 1.0 - 2.0 * SQ, dz0 - 1.0 - SQ);
                }
            }
            value += self.contrib(xsb, ysb, zsb, dx0, dy0, dz0);
            let (dx1, dy1, dz1) = (dx0 - 1.0 - SQ, dy0 - SQ, dz0 - SQ);
            value += self.contrib(xsb + 1, ysb, zsb, dx1, dy1, dz1);
            let (dx2, dy2, dz2) = (dx0 - SQ, dy0 - 1.0 - SQ, dz1);
            value += self.contrib(xsb, ysb + 1, zsb, dx2, dy2, dz2);
            let (dx3, dy3, dz3) = (dx2, dy1, dz0 - 1.0 - SQ);
            value += self.contrib(xsb, ysb, zsb + 1, dx3, dy3, dz3);
        } else if in_sum >= 2.0 {
            // Inside the tetrahedron at (1,1,1).
            let (mut a_point, mut a_score, mut b_point, mut b_score) = (0x06u8, xins, 0x05u8, yins);
            if a_score <= b_score && zins < b_score {
                b_score = zins;
                b_point = 0x03;
            } else if a_score > b_score && zins < a_score {
                a_score = zins;
                a_point = 0x03;
            }
            let wins = 3.0 - in_sum;
            if wins < a_score || wins < b_score {
                let c = if b_score < a_score { b_point } else { a_point };
                if c & 0x01 != 0 {
                    (xsv0, xsv1, dx_e0, dx_e1) =
                        (xsb + 2, xsb + 1, dx0 - 2.0 - 3.0 * SQ, dx0 - 1.0 - 3.0 * SQ);
                } else {
                    (xsv0, xsv1, dx_e0, dx_e1) = (xsb, xsb, dx0 - 3.0 * SQ, dx0 - 3.0 * SQ);
                }
                if c & 0x02 != 0 {
                    let (mut y0, mut y1) = (ysb + 1, ysb + 1);
                    let (mut d0, mut d1) = (dy0 - 1.0 - 3.0 * SQ, dy0 - 1.0 - 3.0 * SQ);
                    if c & 0x01 != 0 {
                        y1 += 1;
                        d1 -= 1.0;
                    } else {
                        y0 += 1;
                        d0 -= 1.0;
                    }
                    (ysv0, ysv1, dy_e0, dy_e1) = (y0, y1, d0, d1);
                } else {
                    (ysv0, ysv1, dy_e0, dy_e1) = (ysb, ysb, dy0 - 3.0 * SQ, dy0 - 3.0 * SQ);
                }
                if c & 0x04 != 0 {
                    (zsv0, zsv1, dz_e0, dz_e1) =
                        (zsb + 1, zsb + 2, dz0 - 1.0 - 3.0 * SQ, dz0 - 2.0 - 3.0 * SQ);
                } else {
                    (zsv0, zsv1, dz_e0, dz_e1) = (zsb, zsb, dz0 - 3.0 * SQ, dz0 - 3.0 * SQ);
                }
            } else {
                let c = a_point & b_point;
                if c & 0x01 != 0 {
                    (xsv0, xsv1, dx_e0, dx_e1) =
                        (xsb + 1, xsb + 2, dx0 - 1.0 - SQ, dx0 - 2.0 - 2.0 * SQ);
                } else {
                    (xsv0, xsv1, dx_e0, dx_e1) = (xsb, xsb, dx0 - SQ, dx0 - 2.0 * SQ);
                }
                if c & 0x02 != 0 {
                    (ysv0, ysv1, dy_e0, dy_e1) =
                        (ysb + 1, ysb + 2, dy0 - 1.0 - SQ, dy0 - 2.0 - 2.0 * SQ);
                } else {
                    (ysv0, ysv1, dy_e0, dy_e1) = (ysb, ysb, dy0 - SQ, dy0 - 2.0 * SQ);
                }
                if c & 0x04 != 0 {
                    (zsv0, zsv1, dz_e0, dz_e1) =
                        (zsb + 1, zsb + 2, dz0 - 1.0 - SQ, dz0 - 2.0 - 2.0 * SQ);
                } else {
                    (zsv0, zsv1, dz_e0, dz_e1) = (zsb, zsb, dz0 - SQ, dz0 - 2.0 * SQ);
                }
            }
            let (dx3, dy3, dz3) = (dx0 - 1.0 - 2.0 * SQ, dy0 - 1.0 - 2.0 * SQ, dz0 - 2.0 * SQ);
            value += self.contrib(xsb + 1, ysb + 1, zsb, dx3, dy3, dz3);
            let (dx2, dy2, dz2) = (dx3, dy0 - 2.0 * SQ, dz0 - 1.0 - 2.0 * SQ);
            value += self.contrib(xsb + 1, ysb, zsb + 1, dx2, dy2, dz2);
            let (dx1, dy1, dz1) = (dx0 - 2.0 * SQ, dy3, dz2);
            value += self.contrib(xsb, ysb + 1, zsb + 1, dx1, dy1, dz1);
            value += self.contrib(
                xsb + 1,
                ysb + 1,
                zsb + 1,
                dx0 - 1.0 - 3.0 * SQ,
                dy0 - 1.0 - 3.0 * SQ,
                dz0 - 1.0 - 3.0 * SQ,
            );
        } else {
            // Inside the octahedron (rectified 3-simplex) in between.
            let p1 = xins + yins;
            let (a_score, mut a_point, mut a_further) = if p1 > 1.0 {
                (p1 - 1.0, 0x03u8, true)
            } else {
                (1.0 - p1, 0x04u8, false)
            };
            let p2 = xins + zins;
            let (b_score, mut b_point, mut b_further) = if p2 > 1.0 {
                (p2 - 1.0, 0x05u8, true)
            } else {
                (1.0 - p2, 0x02u8, false)
            };
            let p3 = yins + zins;
            if p3 > 1.0 {
                let score = p3 - 1.0;
                if a_score <= b_score && a_score < score {
                    a_point = 0x06;
                    a_further = true;
                } else if a_score > b_score && b_score < score {
                    b_point = 0x06;
                    b_further = true;
                }
            } else {
                let score = 1.0 - p3;
                if a_score <= b_score && a_score < score {
                    a_point = 0x01;
                    a_further = false;
                } else if a_score > b_score && b_score < score {
                    b_point = 0x01;
                    b_further = false;
                }
            }
            if a_further == b_further {
                if a_further {
                    // Both closest points on the (1,1,1) side: one extra point is (1,1,1).
                    (dx_e0, dy_e0, dz_e0) = (
                        dx0 - 1.0 - 3.0 * SQ,
                        dy0 - 1.0 - 3.0 * SQ,
                        dz0 - 1.0 - 3.0 * SQ,
                    );
                    (xsv0, ysv0, zsv0) = (xsb + 1, ysb + 1, zsb + 1);
                    let c = a_point & b_point;
                    if c & 0x01 != 0 {
                        (dx_e1, dy_e1, dz_e1) =
                            (dx0 - 2.0 - 2.0 * SQ, dy0 - 2.0 * SQ, dz0 - 2.0 * SQ);
                        (xsv1, ysv1, zsv1) = (xsb + 2, ysb, zsb);
                    } else if c & 0x02 != 0 {
                        (dx_e1, dy_e1, dz_e1) =
                            (dx0 - 2.0 * SQ, dy0 - 2.0 - 2.0 * SQ, dz0 - 2.0 * SQ);
                        (xsv1, ysv1, zsv1) = (xsb, ysb + 2, zsb);
                    } else {
                        (dx_e1, dy_e1, dz_e1) =
                            (dx0 - 2.0 * SQ, dy0 - 2.0 * SQ, dz0 - 2.0 - 2.0 * SQ);
                        (xsv1, ysv1, zsv1) = (xsb, ysb, zsb + 2);
                    }
                } else {
                    // Both on the (0,0,0) side: one extra point is (0,0,0).
                    (dx_e0, dy_e0, dz_e0) = (dx0, dy0, dz0);
                    (xsv0, ysv0, zsv0) = (xsb, ysb, zsb);
                    let c = a_point | b_point;
                    if c & 0x01 == 0 {
                        (dx_e1, dy_e1, dz_e1) = (dx0 + 1.0 - SQ, dy0 - 1.0 - SQ, dz0 - 1.0 - SQ);
                        (xsv1, ysv1, zsv1) = (xsb - 1, ysb + 1, zsb + 1);
                    } else if c & 0x02 == 0 {
                        (dx_e1, dy_e1, dz_e1) = (dx0 - 1.0 - SQ, dy0 + 1.0 - SQ, dz0 - 1.0 - SQ);
                        (xsv1, ysv1, zsv1) = (xsb + 1, ysb - 1, zsb + 1);
                    } else {
                        (dx_e1, dy_e1, dz_e1) = (dx0 - 1.0 - SQ, dy0 - 1.0 - SQ, dz0 + 1.0 - SQ);
                        (xsv1, ysv1, zsv1) = (xsb + 1, ysb + 1, zsb - 1);
                    }
                }
            } else {
                // One point on each side.
                let (c1, c2) = if a_further {
                    (a_point, b_point)
                } else {
                    (b_point, a_point)
                };
                if c1 & 0x01 == 0 {
                    (dx_e0, dy_e0, dz_e0) = (dx0 + 1.0 - SQ, dy0 - 1.0 - SQ, dz0 - 1.0 - SQ);
                    (xsv0, ysv0, zsv0) = (xsb - 1, ysb + 1, zsb + 1);
                } else if c1 & 0x02 == 0 {
                    (dx_e0, dy_e0, dz_e0) = (dx0 - 1.0 - SQ, dy0 + 1.0 - SQ, dz0 - 1.0 - SQ);
                    (xsv0, ysv0, zsv0) = (xsb + 1, ysb - 1, zsb + 1);
                } else {
                    (dx_e0, dy_e0, dz_e0) = (dx0 - 1.0 - SQ, dy0 - 1.0 - SQ, dz0 + 1.0 - SQ);
                    (xsv0, ysv0, zsv0) = (xsb + 1, ysb + 1, zsb - 1);
                }
                let (mut dx, mut dy, mut dz) = (dx0 - 2.0 * SQ, dy0 - 2.0 * SQ, dz0 - 2.0 * SQ);
                let (mut xv, mut yv, mut zv) = (xsb, ysb, zsb);
                if c2 & 0x01 != 0 {
                    dx -= 2.0;
                    xv += 2;
                } else if c2 & 0x02 != 0 {
                    dy -= 2.0;
                    yv += 2;
                } else {
                    dz -= 2.0;
                    zv += 2;
                }
                (dx_e1, dy_e1, dz_e1, xsv1, ysv1, zsv1) = (dx, dy, dz, xv, yv, zv);
            }
            let (dx1, dy1, dz1) = (dx0 - 1.0 - SQ, dy0 - SQ, dz0 - SQ);
            value += self.contrib(xsb + 1, ysb, zsb, dx1, dy1, dz1);
            let (dx2, dy2, dz2) = (dx0 - SQ, dy0 - 1.0 - SQ, dz1);
            value += self.contrib(xsb, ysb + 1, zsb, dx2, dy2, dz2);
            let (dx3, dy3, dz3) = (dx2, dy1, dz0 - 1.0 - SQ);
            value += self.contrib(xsb, ysb, zsb + 1, dx3, dy3, dz3);
            let (dx4, dy4, dz4) = (dx0 - 1.0 - 2.0 * SQ, dy0 - 1.0 - 2.0 * SQ, dz0 - 2.0 * SQ);
            value += self.contrib(xsb + 1, ysb + 1, zsb, dx4, dy4, dz4);
            let (dx5, dy5, dz5) = (dx4, dy0 - 2.0 * SQ, dz0 - 1.0 - 2.0 * SQ);
            value += self.contrib(xsb + 1, ysb, zsb + 1, dx5, dy5, dz5);
            let (dx6, dy6, dz6) = (dx0 - 2.0 * SQ, dy4, dz5);
            value += self.contrib(xsb, ysb + 1, zsb + 1, dx6, dy6, dz6);
        }
        value += self.contrib(xsv0, ysv0, zsv0, dx_e0, dy_e0, dz_e0);
        value += self.contrib(xsv1, ysv1, zsv1, dx_e1, dy_e1, dz_e1);
        value / NORM3
    }

    /// The official `rand_3d_octaves(shape, octaves, persistence, frequency)`: fractal noise on
    /// the integer grid `shape = [d, h, w]` (row-major `[z][y][x]`).
    ///
    /// Octave `k` (from 0) samples `noise3(x / f_k, y / f_k, z / f_k)` with `f_k = frequency / 2^k`
    /// — `frequency` is really a feature size in pixels, so each octave has twice the spatial
    /// frequency of the one before — weighted by `persistence^k`, and the octaves are summed
    /// without normalisation (RD++: 6 octaves, persistence 0.6, frequency 32, so the weights
    /// are 1, 0.6, 0.36, … and their sum is ≈ 2.383). The grid always starts at 0, so for one
    /// generator the values at a given `(z, y, x)` do not depend on `shape`.
    pub fn rand_3d_octaves(
        &self,
        shape: [usize; 3],
        octaves: u32,
        persistence: f64,
        frequency: f64,
    ) -> Vec<f64> {
        let [d, h, w] = shape;
        let mut out = vec![0.0f64; d * h * w];
        let mut frequency = frequency;
        let mut amplitude = 1.0f64;
        for _ in 0..octaves {
            for z in 0..d {
                for y in 0..h {
                    for x in 0..w {
                        let n = self.noise3(
                            x as f64 / frequency,
                            y as f64 / frequency,
                            z as f64 / frequency,
                        );
                        out[(z * h + y) * w + x] += amplitude * n;
                    }
                }
            }
            frequency /= 2.0;
            amplitude *= persistence;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        seed: i64,
        perm: Vec<u8>,
        noise3: Vec<[f64; 4]>,
        octaves_shape: [usize; 3],
        octaves: Vec<f64>,
    }
    #[derive(serde::Deserialize)]
    struct Reference {
        cases: Vec<Case>,
    }

    fn reference() -> Reference {
        let path = crate::test_data("noise_reference.json");
        let text = std::fs::read_to_string(path).expect("noise_reference.json");
        serde_json::from_str(&text).expect("parse noise reference")
    }

    #[test]
    fn matches_python_opensimplex() {
        let r = reference();
        assert_eq!(r.cases.len(), 6);
        let mut max_err = 0.0f64;
        for case in &r.cases {
            let g = OpenSimplex::new(case.seed);
            assert_eq!(
                g.permutation().as_slice(),
                case.perm.as_slice(),
                "seed {}",
                case.seed
            );
            for &[x, y, z, v] in &case.noise3 {
                let got = g.noise3(x, y, z);
                max_err = max_err.max((got - v).abs());
                assert!(
                    got.to_bits() == v.to_bits(),
                    "seed {} at ({x},{y},{z}): {got} vs {v}",
                    case.seed
                );
            }
            let got = g.rand_3d_octaves(case.octaves_shape, 6, 0.6, 32.0);
            assert_eq!(got.len(), case.octaves.len());
            for (a, b) in got.iter().zip(&case.octaves) {
                max_err = max_err.max((a - b).abs());
                assert!(a.to_bits() == b.to_bits(), "seed {}: {a} vs {b}", case.seed);
            }
        }
        eprintln!("max |rust - python| = {max_err:e}");
    }

    #[test]
    fn range_is_within_one() {
        let g = OpenSimplex::new(42);
        let mut lo = f64::MAX;
        let mut hi = f64::MIN;
        for i in 0..60_000u32 {
            let f = f64::from(i);
            let v = g.noise3(
                (f * 0.173).sin() * 50.0,
                (f * 0.071).cos() * 50.0,
                f * 0.0123,
            );
            lo = lo.min(v);
            hi = hi.max(v);
        }
        assert!(lo >= -1.0 && hi <= 1.0, "{lo} {hi}");
        assert!(
            lo < -0.5 && hi > 0.5,
            "noise should use its range: {lo} {hi}"
        );
    }
}
