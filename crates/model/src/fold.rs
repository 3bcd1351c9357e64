//! The inference form of the network: every eval-mode BatchNorm folded into the convolution
//! before it (docs/method.md §12).
//!
//! In eval mode a BatchNorm is a per-channel affine map, `bn(y) = y·s + t` with
//! `s = γ / √(var + ε)` and `t = β − mean·s`, so `bn(conv(x)) = conv'(x)` where `conv'` has its
//! weight scaled by `s` along the output channels and the bias `b·s + t`. Folding removes one
//! full pass over every activation per BatchNorm (the teacher and the student have one after
//! almost every convolution) and leaves the same function up to f32 rounding.
//!
//! It is derived from the one model at load time, never stored: a folded model has no
//! BatchNorm keys and convolution biases where the official checkpoints have none, so bundles
//! and checkpoints are always written from the model as trained. The student is folded only
//! for inference; training needs its BatchNorms (batch statistics).

use burn::module::Param;
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use crate::blocks::{ConvBn, DeconvBn, ResidualBlock, SpatialConv};
use crate::bottleneck::Ocbe;
use crate::decoder::Decoder;
use crate::rdpp::Rdpp;
use crate::teacher::{EfficientNetLite, MbConv, ResNet, Teacher};

/// A module whose eval-mode BatchNorms can be folded into its convolutions.
pub trait FoldBatchNorm: Sized {
    /// The same function with every BatchNorm folded into the convolution before it (eval
    /// mode: running statistics). Idempotent: a folded module is returned unchanged.
    fn fold_batch_norms(self) -> Self;
}

/// `(s, t)` with `bn(y) = y·s + t` per channel, from the running statistics.
fn affine(bn: &BatchNorm) -> (Tensor<1>, Tensor<1>) {
    let mean = bn.running_mean.value();
    let var = bn.running_var.value();
    let scale = bn.gamma.val() / (var + bn.epsilon).sqrt();
    let shift = bn.beta.val() - mean * scale.clone();
    (scale, shift)
}

/// `(W·s, b·s + t)` for a weight whose output channels lie along `out_dim` (`t` where the
/// convolution had no bias).
fn fold_into(
    weight: Param<Tensor<4>>,
    bias: Option<Param<Tensor<1>>>,
    bn: &BatchNorm,
    out_dim: usize,
) -> (Param<Tensor<4>>, Option<Param<Tensor<1>>>) {
    let (scale, shift) = affine(bn);
    let mut shape = [1usize; 4];
    shape[out_dim] = weight.dims()[out_dim];
    let weight = weight.val() * scale.clone().reshape(shape);
    let bias = match bias {
        Some(b) => b.val() * scale + shift,
        None => shift,
    };
    (Param::from_tensor(weight), Some(Param::from_tensor(bias)))
}

/// `bn(conv(x))` as one convolution. The weight is `[out, in/groups, kh, kw]`: scaled along dim 0.
pub fn fold_conv(mut conv: Conv2d, bn: Option<BatchNorm>) -> Conv2d {
    if let Some(bn) = bn {
        (conv.weight, conv.bias) = fold_into(conv.weight, conv.bias, &bn, 0);
    }
    conv
}

/// `bn(deconv(x))` as one transposed convolution. The weight is `[in, out/groups, kh, kw]`:
/// scaled along dim 1 (rdpp's transposed convolutions have one group).
pub fn fold_deconv(mut conv: ConvTranspose2d, bn: Option<BatchNorm>) -> ConvTranspose2d {
    if let Some(bn) = bn {
        debug_assert_eq!(
            conv.groups, 1,
            "grouped transposed convolutions are not folded"
        );
        (conv.weight, conv.bias) = fold_into(conv.weight, conv.bias, &bn, 1);
    }
    conv
}

fn fold_spatial(conv: SpatialConv, bn: Option<BatchNorm>) -> SpatialConv {
    match conv {
        SpatialConv::Conv(c) => SpatialConv::Conv(fold_conv(c, bn)),
        SpatialConv::Deconv(c) => SpatialConv::Deconv(fold_deconv(c, bn)),
    }
}

impl FoldBatchNorm for ConvBn {
    fn fold_batch_norms(self) -> Self {
        ConvBn {
            conv: fold_conv(self.conv, self.bn),
            bn: None,
        }
    }
}

impl FoldBatchNorm for DeconvBn {
    fn fold_batch_norms(self) -> Self {
        DeconvBn {
            conv: fold_deconv(self.conv, self.bn),
            bn: None,
        }
    }
}

impl FoldBatchNorm for ResidualBlock {
    fn fold_batch_norms(self) -> Self {
        match self {
            ResidualBlock::Basic(mut b) => {
                b.conv1 = fold_spatial(b.conv1, b.bn1.take());
                b.conv2 = fold_conv(b.conv2, b.bn2.take());
                b.downsample = b.downsample.map(FoldBatchNorm::fold_batch_norms);
                b.upsample = b.upsample.map(FoldBatchNorm::fold_batch_norms);
                ResidualBlock::Basic(b)
            }
            ResidualBlock::Bottleneck(mut b) => {
                b.conv1 = fold_conv(b.conv1, b.bn1.take());
                b.conv2 = fold_spatial(b.conv2, b.bn2.take());
                b.conv3 = fold_conv(b.conv3, b.bn3.take());
                b.downsample = b.downsample.map(FoldBatchNorm::fold_batch_norms);
                b.upsample = b.upsample.map(FoldBatchNorm::fold_batch_norms);
                ResidualBlock::Bottleneck(b)
            }
        }
    }
}

impl<M: FoldBatchNorm> FoldBatchNorm for Vec<M> {
    fn fold_batch_norms(self) -> Self {
        self.into_iter().map(M::fold_batch_norms).collect()
    }
}

impl FoldBatchNorm for ResNet {
    fn fold_batch_norms(mut self) -> Self {
        self.conv1 = fold_conv(self.conv1, self.bn1.take());
        self.layer1 = self.layer1.fold_batch_norms();
        self.layer2 = self.layer2.fold_batch_norms();
        self.layer3 = self.layer3.fold_batch_norms();
        self
    }
}

impl FoldBatchNorm for MbConv {
    fn fold_batch_norms(mut self) -> Self {
        let bn0 = self.bn0.take();
        self.expand_conv = self.expand_conv.map(|c| fold_conv(c, bn0));
        self.depthwise_conv = fold_conv(self.depthwise_conv, self.bn1.take());
        self.project_conv = fold_conv(self.project_conv, self.bn2.take());
        self
    }
}

impl FoldBatchNorm for EfficientNetLite {
    fn fold_batch_norms(mut self) -> Self {
        self.conv_stem = fold_conv(self.conv_stem, self.bn0.take());
        self.blocks = self.blocks.fold_batch_norms();
        self
    }
}

impl FoldBatchNorm for Teacher {
    fn fold_batch_norms(self) -> Self {
        match self {
            Teacher::ResNet(m) => Teacher::ResNet(m.fold_batch_norms()),
            Teacher::EfficientNet(m) => Teacher::EfficientNet(m.fold_batch_norms()),
        }
    }
}

impl FoldBatchNorm for Ocbe {
    fn fold_batch_norms(mut self) -> Self {
        self.conv1 = fold_conv(self.conv1, self.bn1.take());
        self.conv2 = fold_conv(self.conv2, self.bn2.take());
        self.conv3 = fold_conv(self.conv3, self.bn3.take());
        self.bn_layer = self.bn_layer.fold_batch_norms();
        self
    }
}

impl FoldBatchNorm for Decoder {
    fn fold_batch_norms(mut self) -> Self {
        self.layer1 = self.layer1.fold_batch_norms();
        self.layer2 = self.layer2.fold_batch_norms();
        self.layer3 = self.layer3.fold_batch_norms();
        self
    }
}

/// The whole network for inference: teacher, OCBE and decoder folded. The projection has
/// instance normalization only (statistics of each input), which does not fold.
impl FoldBatchNorm for Rdpp {
    fn fold_batch_norms(self) -> Self {
        Rdpp {
            teacher: self.teacher.fold_batch_norms(),
            projection: self.projection,
            bottleneck: self.bottleneck.fold_batch_norms(),
            decoder: self.decoder.fold_batch_norms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{BlockKind, Direction, batch_norm, make_stage, norm};
    use crate::{Backbone, RdppConfig};
    use burn::module::RunningState;
    use burn::tensor::Distribution;

    /// Gives a fresh BatchNorm (the identity map, which would fold trivially) non-trivial
    /// statistics and affine parameters.
    fn randomized(bn: Option<BatchNorm>, device: &Device) -> Option<BatchNorm> {
        let mut bn = bn.expect("fresh BatchNorm");
        let [c] = bn.gamma.dims();
        let random = |lo, hi| Tensor::<1>::random([c], Distribution::Uniform(lo, hi), device);
        bn.gamma = Param::from_tensor(random(0.5, 1.5));
        bn.beta = Param::from_tensor(random(-0.5, 0.5));
        bn.running_mean = RunningState::new(random(-1.0, 1.0));
        bn.running_var = RunningState::new(random(0.2, 2.0));
        Some(bn)
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn a_folded_convolution_computes_batch_norm_of_the_convolution() {
        let device = Device::flex();
        let conv = crate::blocks::conv3x3(4, 6, 2, &device);
        let bn = randomized(batch_norm(6, &device), &device);
        let x = Tensor::<4>::random([2, 4, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        let expected = norm(&bn, conv.forward(x.clone()));
        let folded = fold_conv(conv, bn);
        assert!(folded.bias.is_some());
        let e = max_abs_diff(folded.forward(x), expected);
        assert!(e < 1e-5, "max abs difference {e}");
    }

    #[test]
    fn a_folded_transposed_convolution_computes_batch_norm_of_it() {
        let device = Device::flex();
        let conv = crate::blocks::deconv2x2(4, 6, &device);
        let bn = randomized(batch_norm(6, &device), &device);
        let x = Tensor::<4>::random([2, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        let expected = norm(&bn, conv.forward(x.clone()));
        let e = max_abs_diff(fold_deconv(conv, bn).forward(x), expected);
        assert!(e < 1e-5, "max abs difference {e}");
    }

    #[test]
    fn a_folded_stage_has_no_batch_norm_left_and_the_same_output() {
        let device = Device::flex();
        let (stage, _) = make_stage(
            BlockKind::Bottleneck { base_width: 64 },
            8,
            4,
            2,
            2,
            Direction::Up,
            &device,
        );
        let stage: Vec<ResidualBlock> = stage
            .into_iter()
            .map(|block| match block {
                ResidualBlock::Bottleneck(mut b) => {
                    b.bn1 = randomized(b.bn1, &device);
                    b.bn2 = randomized(b.bn2, &device);
                    b.bn3 = randomized(b.bn3, &device);
                    b.upsample = b.upsample.map(|mut u| {
                        u.bn = randomized(u.bn, &device);
                        u
                    });
                    ResidualBlock::Bottleneck(b)
                }
                other => other,
            })
            .collect();
        let x = Tensor::<4>::random([1, 8, 4, 4], Distribution::Normal(0.0, 1.0), &device);
        let expected = crate::blocks::forward_stage(&stage, x.clone());
        let folded = stage.fold_batch_norms();
        for block in &folded {
            let ResidualBlock::Bottleneck(b) = block else {
                panic!("bottleneck stage")
            };
            assert!(b.bn1.is_none() && b.bn2.is_none() && b.bn3.is_none());
            assert!(b.upsample.as_ref().is_none_or(|u| u.bn.is_none()));
        }
        let e = max_abs_diff(crate::blocks::forward_stage(&folded, x), expected);
        assert!(e < 1e-4, "max abs difference {e}");
    }

    #[test]
    fn folding_twice_changes_nothing() {
        let device = Device::flex();
        let model = RdppConfig::new(Backbone::Resnet18).init(&device);
        let x = Tensor::<4>::random([1, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let once = model.fold_batch_norms();
        let a = once.scale_maps(x.clone());
        let b = once.fold_batch_norms().scale_maps(x);
        for (a, b) in a.into_iter().zip(b) {
            assert_eq!(max_abs_diff(a, b), 0.0);
        }
    }
}
