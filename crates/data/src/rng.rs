//! Random numbers with values that never change between versions and platforms.
//!
//! Everything random in this crate is drawn from a caller-supplied [`rand_core::RngCore`]; use
//! [`seeded`] (ChaCha8, whose stream `rand_chacha` guarantees to be stable) for reproducible runs.
//! The integer and float samplers below are hand-written on top of `next_u64`, because `rand`'s
//! own `random_range` may change its algorithm (and so its values) between releases.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A ChaCha8 generator for `seed`, on its own `stream`: streams of one seed are independent,
/// so work split by item (stream = item index) is reproducible in any order and in parallel.
pub fn seeded(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Uniform integer in `[0, n)` (Lemire's widening multiply with rejection: exactly uniform).
///
/// # Panics
/// If `n == 0`.
pub fn below<R: RngCore + ?Sized>(rng: &mut R, n: u64) -> u64 {
    assert!(n > 0, "empty range");
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// numpy's `randint(low, high)` semantics: a uniform integer in `[low, high)` (high excluded).
///
/// # Panics
/// If `high <= low`.
pub fn randint<R: RngCore + ?Sized>(rng: &mut R, low: i64, high: i64) -> i64 {
    assert!(high > low, "randint: empty range [{low}, {high})");
    let span = (i128::from(high) - i128::from(low)) as u64;
    (i128::from(low) + i128::from(below(rng, span))) as i64
}

/// Uniform float in `[0, 1)` with 53 random bits.
pub fn unit<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform float in `[lo, hi)`.
pub fn uniform<R: RngCore + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        // Pinned: a change here changes every seeded data set and pseudo-anomaly.
        let mut r = seeded(111, 0);
        let v: Vec<i64> = (0..6).map(|_| randint(&mut r, 10, 32)).collect();
        let mut r2 = seeded(111, 0);
        let v2: Vec<i64> = (0..6).map(|_| randint(&mut r2, 10, 32)).collect();
        assert_eq!(v, v2);
        assert!(v.iter().all(|&x| (10..32).contains(&x)));
        let mut other = seeded(111, 1);
        let w: Vec<i64> = (0..6).map(|_| randint(&mut other, 10, 32)).collect();
        assert_ne!(v, w, "streams differ");
    }

    #[test]
    fn randint_covers_range_and_extremes() {
        let mut r = seeded(5, 0);
        let mut seen = [false; 22];
        for _ in 0..2000 {
            let x = randint(&mut r, 10, 32);
            seen[(x - 10) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        let x = randint(&mut r, i64::MIN, i64::MAX);
        assert!(x < i64::MAX);
        let u = unit(&mut r);
        assert!((0.0..1.0).contains(&u));
    }
}
