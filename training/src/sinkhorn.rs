//! Debiased Sinkhorn divergence between point clouds, in the log domain with ε-scaling
//! (the algorithm of Feydy et al. 2019, as in geomloss's `SamplesLoss("sinkhorn", p=2)`).
//!
//! Written here because no maintained Rust crate computes it on burn tensors with gradients.
//! Cost `C(x, y) = |x − y|² / 2`, uniform weights, symmetric (averaged) updates, ε decreasing
//! geometrically from the cloud diameter² to `blur²`; the loop runs without gradients and one
//! last extrapolation step carries them (geomloss's `last_extrapolation`).

use burn::prelude::*;

/// Sinkhorn settings (paper: p = 2, blur 0.05, scaling 0.95).
#[derive(Clone, Copy, Debug)]
pub struct SinkhornConfig {
    /// Target blur; ε = blur².
    pub blur: f64,
    /// ε-scaling factor per iteration (applied to the blur, so ε shrinks by scaling²).
    pub scaling: f64,
}

impl Default for SinkhornConfig {
    fn default() -> Self {
        Self {
            blur: 0.05,
            scaling: 0.95,
        }
    }
}

/// `C[p, i, j] = |x[p,i] − y[p,j]|² / 2` for batches of clouds `[P, N, D]`, `[P, M, D]`.
fn half_sq_dist(x: Tensor<3>, y: Tensor<3>) -> Tensor<3> {
    let xx = x.clone().square().sum_dim(2); // [P, N, 1]
    let yy = y.clone().square().sum_dim(2).swap_dims(1, 2); // [P, 1, M]
    let xy = x.matmul(y.swap_dims(1, 2)); // [P, N, M]
    (xx + yy - xy * 2.0).clamp_min(0.0) / 2.0
}

/// `softmin_ε(C, h)_i = −ε log Σ_j exp(h_j − C_ij / ε)` over the last axis; `h` is `[P, 1, M]`.
fn softmin(eps: f64, c: Tensor<3>, h: Tensor<3>) -> Tensor<3> {
    let z = h - c / eps;
    let m = z.clone().max_dim(2); // [P, N, 1]
    let lse = (z - m.clone()).exp().sum_dim(2).log() + m;
    lse * (-eps) // [P, N, 1]
}

/// ε schedule: diameter², then geometric steps of scaling² down to blur² (geomloss).
fn epsilon_schedule(diameter: f64, cfg: &SinkhornConfig) -> Vec<f64> {
    let target = cfg.blur * cfg.blur;
    let mut eps = vec![diameter * diameter];
    let mut e = diameter * diameter;
    let factor = cfg.scaling * cfg.scaling;
    while e * factor > target {
        e *= factor;
        eps.push(e);
    }
    eps.push(target);
    eps
}

/// Debiased Sinkhorn divergence `S(α_p, β_p)` for each pair of clouds, `[P]`.
///
/// `x`: `[P, N, D]`, `y`: `[P, M, D]`, uniform weights. `S(α, α) = 0` exactly, `S(α, β) =
/// S(β, α)` and `S ≥ 0` (up to rounding).
pub fn sinkhorn_divergence(x: Tensor<3>, y: Tensor<3>, cfg: &SinkhornConfig) -> Tensor<1> {
    let [p, n, _] = x.dims();
    let m = y.dims()[1];
    let device = x.device();
    let a_log = Tensor::<3>::full([p, 1, n], -(n as f64).ln(), &device);
    let b_log = Tensor::<3>::full([p, 1, m], -(m as f64).ln(), &device);

    // Costs without gradients for the loop.
    let (xd, yd) = (x.clone().detach(), y.clone().detach());
    let c_xy = half_sq_dist(xd.clone(), yd.clone());
    let c_yx = c_xy.clone().swap_dims(1, 2);
    let c_xx = half_sq_dist(xd.clone(), xd.clone());
    let c_yy = half_sq_dist(yd.clone(), yd);
    // Diameter of the union of clouds (upper bound through the largest cost), as geomloss. The
    // ε schedule depends on it, so it is read back: once per call (geomloss's `.item()`).
    let max_cost = Tensor::cat(
        vec![c_xy.clone().max(), c_xx.clone().max(), c_yy.clone().max()],
        0,
    )
    .max()
    .into_scalar::<f32>() as f64;
    let diameter = (2.0 * max_cost).sqrt().max(cfg.blur);
    let eps_list = epsilon_schedule(diameter, cfg);

    let t = |v: Tensor<3>| v.swap_dims(1, 2); // [P, N, 1] ↔ [P, 1, N]
    let e0 = eps_list[0];
    let mut g_ab = softmin(e0, c_yx.clone(), a_log.clone()); // [P, M, 1]
    let mut f_ba = softmin(e0, c_xy.clone(), b_log.clone()); // [P, N, 1]
    let mut f_aa = softmin(e0, c_xx.clone(), a_log.clone());
    let mut g_bb = softmin(e0, c_yy.clone(), b_log.clone());
    for &eps in &eps_list {
        let ft_ba = softmin(eps, c_xy.clone(), b_log.clone() + t(g_ab.clone()) / eps);
        let gt_ab = softmin(eps, c_yx.clone(), a_log.clone() + t(f_ba.clone()) / eps);
        let ft_aa = softmin(eps, c_xx.clone(), a_log.clone() + t(f_aa.clone()) / eps);
        let gt_bb = softmin(eps, c_yy.clone(), b_log.clone() + t(g_bb.clone()) / eps);
        f_ba = (f_ba + ft_ba) / 2.0;
        g_ab = (g_ab + gt_ab) / 2.0;
        f_aa = (f_aa + ft_aa) / 2.0;
        g_bb = (g_bb + gt_bb) / 2.0;
    }

    // Last extrapolation with gradients through the costs.
    let eps = *eps_list.last().unwrap_or(&(cfg.blur * cfg.blur));
    let c_xy = half_sq_dist(x.clone(), y.clone());
    let c_yx = c_xy.clone().swap_dims(1, 2);
    let c_xx = half_sq_dist(x.clone(), x);
    let c_yy = half_sq_dist(y.clone(), y);
    let f_ba_new = softmin(eps, c_xy, b_log.clone() + t(g_ab.clone().detach()) / eps);
    let g_ab_new = softmin(eps, c_yx, a_log.clone() + t(f_ba.detach()) / eps);
    let f_aa_new = softmin(eps, c_xx, a_log + t(f_aa.detach()) / eps);
    let g_bb_new = softmin(eps, c_yy, b_log + t(g_bb.detach()) / eps);
    let s = (f_ba_new - f_aa_new).mean_dim(1) + (g_ab_new - g_bb_new).mean_dim(1); // [P, 1, 1]
    s.reshape([p])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloud(values: &[f32], p: usize, n: usize, d: usize) -> Tensor<3> {
        Tensor::from_data(TensorData::new(values.to_vec(), [p, n, d]), &Device::flex())
    }

    fn vals(t: Tensor<1>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn zero_on_identical_clouds() {
        let x: Vec<f32> = (0..2 * 5 * 3)
            .map(|i| ((i * 7 % 11) as f32) / 11.0)
            .collect();
        let s = vals(sinkhorn_divergence(
            cloud(&x, 2, 5, 3),
            cloud(&x, 2, 5, 3),
            &SinkhornConfig::default(),
        ));
        assert!(s.iter().all(|v| *v == 0.0), "{s:?}");
    }

    #[test]
    fn positive_and_symmetric_on_different_clouds() {
        let x: Vec<f32> = (0..6 * 2).map(|i| ((i * 7 % 11) as f32) / 11.0).collect();
        let y: Vec<f32> = (0..6 * 2)
            .map(|i| ((i * 5 % 13) as f32) / 13.0 + 0.3)
            .collect();
        let cfg = SinkhornConfig::default();
        let xy = vals(sinkhorn_divergence(
            cloud(&x, 1, 6, 2),
            cloud(&y, 1, 6, 2),
            &cfg,
        ))[0];
        let yx = vals(sinkhorn_divergence(
            cloud(&y, 1, 6, 2),
            cloud(&x, 1, 6, 2),
            &cfg,
        ))[0];
        assert!(xy > 1e-3, "S(α,β) = {xy}");
        assert!((xy - yx).abs() <= 1e-4 * xy.abs().max(1e-3), "{xy} vs {yx}");
    }

    #[test]
    fn translation_by_t_costs_about_half_t_squared() {
        // Two identical clouds shifted by t: W2²/2 = |t|²/2; the debiased divergence at a small
        // blur is close to it.
        let x: Vec<f32> = (0..8 * 2).map(|i| ((i * 3 % 7) as f32) / 7.0).collect();
        let y: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 2 == 0 { v + 0.5 } else { *v })
            .collect();
        let s = vals(sinkhorn_divergence(
            cloud(&x, 1, 8, 2),
            cloud(&y, 1, 8, 2),
            &SinkhornConfig::default(),
        ))[0];
        assert!((s - 0.125).abs() < 0.01, "S = {s}, expected ≈ 0.125");
    }
}
