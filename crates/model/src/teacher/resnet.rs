//! torchvision ResNet teachers (`wide_resnet50_2`, `resnet18`) up to layer3.
//!
//! layer4, avgpool and fc never contribute to RD++'s taps, so they are not built (the official code
//! runs layer4 and throws its output away).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::blocks::{
    BlockKind, Direction, ResidualBlock, batch_norm, forward_stage, make_stage, norm,
};
use crate::conv::conv2d;

/// A torchvision ResNet truncated after layer3.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem 7×7/2 convolution.
    pub conv1: Conv2d,
    /// Stem BN (`None` once folded).
    pub bn1: Option<BatchNorm>,
    /// Stem 3×3/2 max pool.
    pub maxpool: MaxPool2d,
    /// Stage 1 (stride 4): tap f1.
    pub layer1: Vec<ResidualBlock>,
    /// Stage 2 (stride 8): tap f2.
    pub layer2: Vec<ResidualBlock>,
    /// Stage 3 (stride 16): tap f3.
    pub layer3: Vec<ResidualBlock>,
}

impl ResNet {
    /// Build the truncated ResNet with `layers` blocks in stages 1–3.
    pub fn new(kind: BlockKind, layers: [usize; 3], device: &Device) -> Self {
        let conv1 = Conv2dConfig::new([3, 64], [7, 7])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
            .with_bias(false)
            .init(device);
        let maxpool = MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init();
        let (layer1, c) = make_stage(kind, 64, 64, layers[0], 1, Direction::Down, device);
        let (layer2, c) = make_stage(kind, c, 128, layers[1], 2, Direction::Down, device);
        let (layer3, _) = make_stage(kind, c, 256, layers[2], 2, Direction::Down, device);
        Self {
            conv1,
            bn1: batch_norm(64, device),
            maxpool,
            layer1,
            layer2,
            layer3,
        }
    }

    /// The three taps [layer1, layer2, layer3].
    pub fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = self
            .maxpool
            .forward(relu(norm(&self.bn1, conv2d(&self.conv1, x))));
        let f1 = forward_stage(&self.layer1, x);
        let f2 = forward_stage(&self.layer2, f1.clone());
        let f3 = forward_stage(&self.layer3, f2.clone());
        [f1, f2, f3]
    }
}
