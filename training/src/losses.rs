//! RD++'s four losses (docs/method.md §7.3). Each is switchable for ablations.

use burn::prelude::*;
use burn::tensor::module::adaptive_avg_pool2d;
use serde::{Deserialize, Serialize};

use crate::sinkhorn::{SinkhornConfig, sinkhorn_divergence};

const EPS: f64 = 1e-8;

/// The official `CosineEmbeddingLoss(margin = −0.5)`'s margin (docs/method.md §7.3).
pub const CONTRAST_MARGIN: f64 = -0.5;

/// What the contrast loss does with noisy teacher features and clean projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContrastMode {
    /// The paper (docs/method.md §7.3): push them apart, `CosineEmbeddingLoss` with the official
    /// margin −0.5 and target −1, i.e. `max(0, cos − margin) = max(0, cos + 0.5)`.
    Push,
    /// What the official code computes: `CosineEmbeddingLoss(margin=−0.5)` with target +1, i.e.
    /// `1 − cos` (pulls them together; the margin is unused for positive targets).
    OfficialPull,
}

/// Which losses are on, and their settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Knowledge distillation (teacher vs decoder).
    pub kd: bool,
    /// Projection reconstruction (noisy vs clean projections).
    pub reconstruction: bool,
    /// Contrast (noisy teacher features vs clean projections).
    pub contrast: bool,
    /// Self-supervised optimal transport between different normal samples.
    pub ssot: bool,
    /// Contrast direction.
    pub contrast_mode: ContrastMode,
    /// Weight of the projection losses in the total (official 0.2).
    pub weight_projection: f64,
    /// SSOT point clouds: each sample's projected features average-pooled to `grid × grid`
    /// positions (points in channel space, softmax-normalised as the official code does).
    pub ssot_grid: usize,
    /// Sinkhorn blur (ε = blur²).
    pub ssot_blur: f64,
    /// Sinkhorn ε-scaling.
    pub ssot_scaling: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            kd: true,
            reconstruction: true,
            contrast: true,
            ssot: true,
            contrast_mode: ContrastMode::Push,
            weight_projection: 0.2,
            ssot_grid: 8,
            ssot_blur: 0.05,
            ssot_scaling: 0.95,
        }
    }
}

/// Per-sample cosine of flattened feature maps → `[B]`.
fn flat_cosine(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = a.dims();
    let a = a.reshape([n, c * h * w]);
    let b = b.reshape([n, c * h * w]);
    let na = a.clone().square().sum_dim(1).sqrt().clamp_min(EPS);
    let nb = b.clone().square().sum_dim(1).sqrt().clamp_min(EPS);
    ((a / na) * (b / nb)).sum_dim(1).reshape([n])
}

/// Channel cosine per pixel → `[B, H, W]` flattened.
fn channel_cosine(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let na = a.clone().square().sum_dim(1).sqrt().clamp_min(EPS);
    let nb = b.clone().square().sum_dim(1).sqrt().clamp_min(EPS);
    ((a / na) * (b / nb)).sum_dim(1).flatten(0, 3)
}

/// L_KD = Σ_i mean_b [1 − cos(flatten(E_i[b]), flatten(D_i[b]))] (the official per-sample form).
pub fn kd_loss(teacher: &[Tensor<4>; 3], decoded: &[Tensor<4>; 3]) -> Tensor<1> {
    sum3(|i| {
        flat_cosine(teacher[i].clone(), decoded[i].clone())
            .neg()
            .add_scalar(1.0)
            .mean()
    })
}

/// L_rec = Σ_i mean_{b,h,w} [1 − cos_channel(P̃_i, P_i)].
pub fn reconstruction_loss(
    projected_noisy: &[Tensor<4>; 3],
    projected: &[Tensor<4>; 3],
) -> Tensor<1> {
    sum3(|i| {
        channel_cosine(projected_noisy[i].clone(), projected[i].clone())
            .neg()
            .add_scalar(1.0)
            .mean()
    })
}

/// L_con between noisy teacher features Ñ_i and clean projections P_i (see [`ContrastMode`]).
pub fn contrast_loss(
    teacher_noisy: &[Tensor<4>; 3],
    projected: &[Tensor<4>; 3],
    mode: ContrastMode,
) -> Tensor<1> {
    sum3(|i| {
        let cos = flat_cosine(teacher_noisy[i].clone(), projected[i].clone());
        match mode {
            ContrastMode::Push => cos.sub_scalar(CONTRAST_MARGIN).clamp_min(0.0).mean(),
            ContrastMode::OfficialPull => cos.neg().add_scalar(1.0).mean(),
        }
    })
}

/// L_SSOT: per scale, the mean debiased Sinkhorn divergence between sample b's projected
/// features and sample b+1's (a cyclic shift: every pair compares two DIFFERENT images, unlike
/// the official code, whose shuffled batch is the same point cloud and gives exactly zero).
/// Zero for a batch of one.
pub fn ssot_loss(projected: &[Tensor<4>; 3], grid: usize, cfg: &SinkhornConfig) -> Tensor<1> {
    let device = projected[0].device();
    let b = projected[0].dims()[0];
    if b < 2 {
        return Tensor::zeros([1], &device);
    }
    sum3(|i| {
        let p = &projected[i];
        let [_, c, h, w] = p.dims();
        let g = grid.min(h).min(w).max(1);
        let pooled = adaptive_avg_pool2d(p.clone(), [g, g]); // [B, C, g, g]
        let points =
            burn::tensor::activation::softmax(pooled.reshape([b, c, g * g]).swap_dims(1, 2), 2); // [B, g², C]
        let shifted = Tensor::cat(
            vec![
                points.clone().slice(s![1..b]),
                points.clone().slice(s![0..1]),
            ],
            0,
        );
        sinkhorn_divergence(points, shifted, cfg).mean()
    })
}

fn sum3(f: impl Fn(usize) -> Tensor<1>) -> Tensor<1> {
    f(0) + f(1) + f(2)
}

/// The loss terms of one batch (scalars, `[1]`) and their combination.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// L_KD.
    pub kd: Tensor<1>,
    /// L_rec.
    pub reconstruction: Tensor<1>,
    /// L_con.
    pub contrast: Tensor<1>,
    /// L_SSOT.
    pub ssot: Tensor<1>,
    /// L = L_KD + w·(L_SSOT + 0.01·L_rec + 0.1·L_con)/1.11, disabled terms left out.
    pub total: Tensor<1>,
}

/// Everything the losses need from one forward pass.
pub struct LossInputs<'a> {
    /// Clean teacher features E.
    pub teacher: &'a [Tensor<4>; 3],
    /// Noisy teacher features Ñ.
    pub teacher_noisy: &'a [Tensor<4>; 3],
    /// Clean projections P.
    pub projected: &'a [Tensor<4>; 3],
    /// Noisy projections P̃.
    pub projected_noisy: &'a [Tensor<4>; 3],
    /// Decoder outputs D.
    pub decoded: &'a [Tensor<4>; 3],
}

/// Compute the enabled terms and the total.
pub fn rdpp_loss(x: &LossInputs<'_>, cfg: &LossConfig) -> LossTerms {
    let device = x.teacher[0].device();
    let zero = || Tensor::<1>::zeros([1], &device);
    let kd = if cfg.kd {
        kd_loss(x.teacher, x.decoded)
    } else {
        zero()
    };
    let reconstruction = if cfg.reconstruction {
        reconstruction_loss(x.projected_noisy, x.projected)
    } else {
        zero()
    };
    let contrast = if cfg.contrast {
        contrast_loss(x.teacher_noisy, x.projected, cfg.contrast_mode)
    } else {
        zero()
    };
    let sinkhorn = SinkhornConfig {
        blur: cfg.ssot_blur,
        scaling: cfg.ssot_scaling,
    };
    let ssot = if cfg.ssot {
        ssot_loss(x.projected, cfg.ssot_grid, &sinkhorn)
    } else {
        zero()
    };
    let projection = (ssot.clone() + reconstruction.clone() * 0.01 + contrast.clone() * 0.1) / 1.11;
    let total = kd.clone() + projection * cfg.weight_projection;
    LossTerms {
        kd,
        reconstruction,
        contrast,
        ssot,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t4(v: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn kd_is_one_minus_flattened_cosine_summed_over_scales() {
        // Sample 0: identical (cos 1); sample 1: orthogonal (cos 0) → mean 0.5 per scale, 1.5 total.
        let a = t4(vec![1.0, 0.0, 0.0, 1.0], [2, 2, 1, 1]);
        let b = t4(vec![2.0, 0.0, 1.0, 0.0], [2, 2, 1, 1]);
        let l = kd_loss(&[a.clone(), a.clone(), a], &[b.clone(), b.clone(), b]);
        assert!((scalar(l) - 1.5).abs() < 1e-6);
    }

    #[test]
    fn kd_flattens_space_and_channels_together() {
        // Pixels [3,4]·[3,4] (cos 1) and [1,0]·[0,1] (cos 0): the per-pixel form would give a
        // loss of 0.5; the flattened vectors give 1 − 25/26.
        let a = t4(vec![3.0, 1.0, 4.0, 0.0], [1, 2, 1, 2]); // channel-major: c0=[3,1], c1=[4,0]
        let b = t4(vec![3.0, 0.0, 4.0, 1.0], [1, 2, 1, 2]);
        // flattened: a=[3,1,4,0], b=[3,0,4,1]; cos = 25/26.
        let l = kd_loss(&[a.clone(), a.clone(), a], &[b.clone(), b.clone(), b]);
        assert!((scalar(l) - 3.0 * (1.0 - 25.0 / 26.0)).abs() < 1e-6);
    }

    #[test]
    fn reconstruction_is_per_pixel_channel_cosine() {
        let a = t4(vec![3.0, 1.0, 4.0, 0.0], [1, 2, 1, 2]);
        let b = t4(vec![3.0, 0.0, 4.0, 1.0], [1, 2, 1, 2]);
        // pixel 0: [3,4]·[3,4] → cos 1; pixel 1: [1,0]·[0,1] → cos 0 → mean loss 0.5 per scale.
        let l = reconstruction_loss(&[a.clone(), a.clone(), a], &[b.clone(), b.clone(), b]);
        assert!((scalar(l) - 1.5).abs() < 1e-6);
    }

    #[test]
    fn contrast_push_has_a_margin_and_official_pull_is_one_minus_cos() {
        let a = t4(vec![1.0, 0.0, 1.0, 0.0], [2, 2, 1, 1]);
        let b = t4(vec![1.0, 0.0, 1.0, 1.0], [2, 2, 1, 1]); // cos 1 and 1/√2
        let c = 1.0 / 2f64.sqrt();
        let push = contrast_loss(
            &[a.clone(), a.clone(), a.clone()],
            &[b.clone(), b.clone(), b.clone()],
            ContrastMode::Push,
        );
        // max(0, cos + 0.5): 1.5 and c + 0.5. (The margin's sign matters: `cos − 0.5` was dead,
        // exactly 0, on real features whose cosine stays far below 0.5.)
        assert!((scalar(push) - 3.0 * ((1.5 + (c + 0.5)) / 2.0)).abs() < 1e-6);
        let pull = contrast_loss(
            &[a.clone(), a.clone(), a],
            &[b.clone(), b.clone(), b],
            ContrastMode::OfficialPull,
        );
        assert!((scalar(pull) - 3.0 * ((0.0 + (1.0 - c)) / 2.0)).abs() < 1e-6);
    }

    #[test]
    fn ssot_is_zero_for_identical_samples_and_positive_for_different_ones() {
        let same = t4(
            (0..2 * 4 * 2 * 2).map(|i| ((i % 8) as f32) / 8.0).collect(),
            [2, 4, 2, 2],
        );
        let cfg = SinkhornConfig::default();
        assert_eq!(
            scalar(ssot_loss(&[same.clone(), same.clone(), same], 2, &cfg)),
            0.0
        );
        let diff = t4(
            (0..2 * 4 * 2 * 2)
                .map(|i| ((i * 7 % 13) as f32) / 3.0)
                .collect(),
            [2, 4, 2, 2],
        );
        assert!(scalar(ssot_loss(&[diff.clone(), diff.clone(), diff], 2, &cfg)) > 1e-4);
    }

    #[test]
    fn disabled_terms_are_zero_and_total_combines_as_the_paper() {
        let a = t4(vec![1.0, 0.0, 0.0, 1.0], [2, 2, 1, 1]);
        let b = t4(vec![2.0, 0.0, 1.0, 0.0], [2, 2, 1, 1]);
        let f = [a.clone(), a.clone(), a.clone()];
        let g = [b.clone(), b.clone(), b.clone()];
        let inputs = LossInputs {
            teacher: &f,
            teacher_noisy: &g,
            projected: &f,
            projected_noisy: &g,
            decoded: &g,
        };
        let cfg = LossConfig {
            ssot: false,
            ..LossConfig::default()
        };
        let t = rdpp_loss(&inputs, &cfg);
        assert_eq!(scalar(t.ssot.clone()), 0.0);
        // Each term by hand. Samples: f = (1, 0), (0, 1); g = (2, 0), (1, 0); cosines 1 and 0.
        // KD(E = f, D = g): mean(0, 1) = 0.5 per scale -> 1.5.
        assert!((scalar(t.kd.clone()) - 1.5).abs() < 1e-6);
        // Reconstruction(P̃ = g, P = f), one pixel per sample: also 0.5 per scale -> 1.5.
        assert!((scalar(t.reconstruction.clone()) - 1.5).abs() < 1e-6);
        // Contrast (push) between Ñ = g and P = f: mean(max(0, 1 + 0.5), max(0, 0 + 0.5)) = 1
        // per scale -> 3 (Ñ = P would give 4.5: the test tells the inputs apart).
        assert!((scalar(t.contrast.clone()) - 3.0).abs() < 1e-6);
        // Total: 1.5 + 0.2·(0 + 0.01·1.5 + 0.1·3)/1.11 = 1.5 + 0.063/1.11.
        assert!((scalar(t.total) - (1.5 + 0.063 / 1.11)).abs() < 1e-6);
    }
}
