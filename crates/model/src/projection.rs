//! RD++ feature projection P (checkpoint key `proj`): one small conv stack per teacher tap that
//! maps teacher features into the space the OCBE and the self-supervised losses work in.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

use crate::conv::conv2d;

const INSTANCE_NORM_EPS: f64 = 1e-5;
const LEAKY_SLOPE: f64 = 0.01;

/// InstanceNorm2d without affine parameters or running statistics (biased variance, as PyTorch).
pub fn instance_norm(x: Tensor<4>) -> Tensor<4> {
    let mean = x.clone().mean_dims(&[2, 3]);
    let centered = x - mean;
    let var = centered.clone().square().mean_dims(&[2, 3]);
    centered / (var + INSTANCE_NORM_EPS).sqrt()
}

/// One projection stack: 4 × [conv3×3 with bias → InstanceNorm → LeakyReLU(0.01)],
/// channels C → C/2 → C/4 → C/2 → C. PyTorch keys `proj.{0,3,6,9}` map to `proj.{0,1,2,3}`.
#[derive(Module, Debug)]
pub struct ProjLayer {
    /// The four convolutions.
    pub proj: Vec<Conv2d>,
}

impl ProjLayer {
    /// Build a projection for `channels`-wide features.
    pub fn new(channels: usize, device: &Device) -> Self {
        let widths = [channels, channels / 2, channels / 4, channels / 2, channels];
        let proj = widths
            .windows(2)
            .map(|w| {
                Conv2dConfig::new([w[0], w[1]], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Self { proj }
    }

    /// Apply the stack.
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for conv in &self.proj {
            x = leaky_relu(instance_norm(conv2d(conv, x)), LEAKY_SLOPE);
        }
        x
    }
}

/// The three projections (PyTorch `proj_a`, `proj_b`, `proj_c` for f1, f2, f3).
#[derive(Module, Debug)]
pub struct Projection {
    /// For f1.
    pub proj_a: ProjLayer,
    /// For f2.
    pub proj_b: ProjLayer,
    /// For f3.
    pub proj_c: ProjLayer,
}

impl Projection {
    /// Build projections for taps of the given widths.
    pub fn new(taps: [usize; 3], device: &Device) -> Self {
        Self {
            proj_a: ProjLayer::new(taps[0], device),
            proj_b: ProjLayer::new(taps[1], device),
            proj_c: ProjLayer::new(taps[2], device),
        }
    }

    /// Project each tap.
    pub fn forward(&self, [f1, f2, f3]: [Tensor<4>; 3]) -> [Tensor<4>; 3] {
        [
            self.proj_a.forward(f1),
            self.proj_b.forward(f2),
            self.proj_c.forward(f3),
        ]
    }
}
