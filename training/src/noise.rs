//! The official pseudo-anomaly as a [`crate::trainer::NoiseFn`].

use rdpp_data::{OpenSimplex, add_pseudo_anomaly, rng};

/// Add the official simplex-noise rectangle to an HWC [0,1] image, seeded per sample.
pub fn official_pseudo_anomaly(img: &mut [f32], size: usize, seed: u64) {
    let mut r = rng::seeded(seed, 0);
    let noise = OpenSimplex::from_rng(&mut r);
    // The buffer and size come from the trainer itself; a mismatch is a programming error.
    if let Err(e) = add_pseudo_anomaly(img, size, &noise, &mut r) {
        panic!("pseudo-anomaly on a malformed buffer: {e}");
    }
}
