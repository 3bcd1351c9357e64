//! The student decoder D (checkpoint key `decoder`): a mirrored ResNet that upsamples the
//! one-class embedding back to the teacher's three scales.

use burn::prelude::*;

use crate::blocks::{BlockKind, Direction, ResidualBlock, forward_stage, make_stage};

/// Reverse (upsampling) ResNet with three stages.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Stride 32 → 16, outputs c3 channels (d3).
    pub layer1: Vec<ResidualBlock>,
    /// Stride 16 → 8, outputs c2 channels (d2).
    pub layer2: Vec<ResidualBlock>,
    /// Stride 8 → 4, outputs c1 channels (d1).
    pub layer3: Vec<ResidualBlock>,
}

impl Decoder {
    /// Build the decoder for taps [c1, c2, c3], starting from a 2·c3-channel embedding.
    pub fn new(taps: [usize; 3], kind: BlockKind, layers: [usize; 3], device: &Device) -> Self {
        let [c1, c2, c3] = taps;
        let e = kind.expansion();
        let (layer1, c) = make_stage(kind, 2 * c3, c3 / e, layers[0], 2, Direction::Up, device);
        let (layer2, c) = make_stage(kind, c, c2 / e, layers[1], 2, Direction::Up, device);
        let (layer3, _) = make_stage(kind, c, c1 / e, layers[2], 2, Direction::Up, device);
        Self {
            layer1,
            layer2,
            layer3,
        }
    }

    /// Decode; returns [d1, d2, d3] aligned with the teacher taps [f1, f2, f3].
    pub fn forward(&self, embedding: Tensor<4>) -> [Tensor<4>; 3] {
        let d3 = forward_stage(&self.layer1, embedding);
        let d2 = forward_stage(&self.layer2, d3.clone());
        let d1 = forward_stage(&self.layer3, d2.clone());
        [d1, d2, d3]
    }
}
