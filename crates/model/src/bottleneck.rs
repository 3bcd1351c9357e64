//! The OCBE bottleneck (checkpoint key `bn`): multi-scale feature fusion followed by the
//! one-class embedding, a compact code the decoder must reconstruct the teacher from.

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::blocks::{
    BlockKind, Direction, ResidualBlock, batch_norm, conv3x3, forward_stage, make_stage, norm,
};
use crate::conv::conv2d;

/// Multi-scale fusion + one-class embedding.
///
/// The official state dict also has `conv4`/`bn4`, which its forward never uses; importers
/// accept and ignore them.
#[derive(Module, Debug)]
pub struct Ocbe {
    /// f1 → stride 8: conv3×3/2 c1 → c2.
    pub conv1: Conv2d,
    /// BN after `conv1` (`None` once folded).
    pub bn1: Option<BatchNorm>,
    /// f1 → stride 16: conv3×3/2 c2 → c3.
    pub conv2: Conv2d,
    /// BN after `conv2` (`None` once folded).
    pub bn2: Option<BatchNorm>,
    /// f2 → stride 16: conv3×3/2 c2 → c3.
    pub conv3: Conv2d,
    /// BN after `conv3` (`None` once folded).
    pub bn3: Option<BatchNorm>,
    /// One-class embedding: residual blocks on the concatenated 3·c3 features, first one strided.
    pub bn_layer: Vec<ResidualBlock>,
}

impl Ocbe {
    /// Build the OCBE for taps [c1, c2, c3]; the embedding has 2·c3 channels at stride 32.
    pub fn new(taps: [usize; 3], kind: BlockKind, blocks: usize, device: &Device) -> Self {
        let [c1, c2, c3] = taps;
        let planes = 2 * c3 / kind.expansion();
        let (bn_layer, _) = make_stage(kind, 3 * c3, planes, blocks, 2, Direction::Down, device);
        Self {
            conv1: conv3x3(c1, c2, 2, device),
            bn1: batch_norm(c2, device),
            conv2: conv3x3(c2, c3, 2, device),
            bn2: batch_norm(c3, device),
            conv3: conv3x3(c2, c3, 2, device),
            bn3: batch_norm(c3, device),
            bn_layer,
        }
    }

    /// Fuse the (projected) taps and embed them.
    pub fn forward(&self, [p1, p2, p3]: [Tensor<4>; 3]) -> Tensor<4> {
        let l1 = relu(norm(&self.bn1, conv2d(&self.conv1, p1)));
        let l1 = relu(norm(&self.bn2, conv2d(&self.conv2, l1)));
        let l2 = relu(norm(&self.bn3, conv2d(&self.conv3, p2)));
        forward_stage(&self.bn_layer, Tensor::cat(vec![l1, l2, p3], 1))
    }
}
