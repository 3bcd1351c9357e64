//! Residual building blocks shared by the teacher ResNets, the OCBE bottleneck and the reverse decoder.
//!
//! Field names mirror the PyTorch modules (`conv1`, `bn1`, `downsample`, `upsample`, ...) so that a
//! state dict maps onto them with only `downsample.0 → downsample.conv` style renames.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::conv::conv2d;

/// 3×3 convolution, padding 1, no bias (torchvision `conv3x3`).
pub(crate) fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// 1×1 convolution, no bias (torchvision `conv1x1`).
pub(crate) fn conv1x1(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [1, 1])
        .with_stride([stride, stride])
        .with_bias(false)
        .init(device)
}

/// 2×2 transposed convolution with stride 2, no bias: the decoder's 2× upsampling (RD's `deconv2x2`).
pub(crate) fn deconv2x2(cin: usize, cout: usize, device: &Device) -> ConvTranspose2d {
    ConvTranspose2dConfig::new([cin, cout], [2, 2])
        .with_stride([2, 2])
        .with_bias(false)
        .init(device)
}

/// BatchNorm2d with PyTorch's default epsilon, as a block holds it: `Some` as trained and stored,
/// `None` once folded into the convolution before it ([`crate::fold`]).
pub(crate) fn batch_norm(channels: usize, device: &Device) -> Option<BatchNorm> {
    Some(BatchNormConfig::new(channels).init(device))
}

/// `bn(x)`, or `x` where the BatchNorm was folded into the convolution that produced `x`.
pub(crate) fn norm(bn: &Option<BatchNorm>, x: Tensor<4>) -> Tensor<4> {
    match bn {
        Some(bn) => bn.forward(x),
        None => x,
    }
}

/// Which way a residual stack moves through scale: encoders (teacher, OCBE) downsample with strided
/// convolutions, the student decoder upsamples with transposed convolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Strided 3×3 / 1×1 convolutions (teacher, OCBE).
    Down,
    /// 2×2 stride-2 transposed convolutions (decoder).
    Up,
}

/// The residual block family of a ResNet-like stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Two 3×3 convolutions, expansion 1 (ResNet-18/34).
    Basic,
    /// 1×1 → 3×3 → 1×1, expansion 4; `base_width` 64 is ResNet-50, 128 the wide variant
    /// (inner width = planes · base_width / 64).
    Bottleneck {
        /// torchvision's `width_per_group`.
        base_width: usize,
    },
}

impl BlockKind {
    /// Output channels per `planes`.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck { .. } => 4,
        }
    }
}

/// Convolution + BN shortcut (PyTorch `downsample = Sequential(conv1x1, BatchNorm2d)`).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// PyTorch `downsample.0`.
    pub conv: Conv2d,
    /// PyTorch `downsample.1` (`None` once folded).
    pub bn: Option<BatchNorm>,
}

/// Transposed convolution + BN shortcut (RD decoder's `upsample = Sequential(deconv2x2, BatchNorm2d)`).
#[derive(Module, Debug)]
pub struct DeconvBn {
    /// PyTorch `upsample.0`.
    pub conv: ConvTranspose2d,
    /// PyTorch `upsample.1` (`None` once folded).
    pub bn: Option<BatchNorm>,
}

/// The spatial convolution of a block: a (possibly strided) 3×3 convolution or, in the decoder's
/// first block of a stage, a 2×2 stride-2 transposed convolution.
#[derive(Module, Debug)]
pub enum SpatialConv {
    /// 3×3 convolution.
    Conv(Conv2d),
    /// 2×2 stride-2 transposed convolution.
    Deconv(ConvTranspose2d),
}

impl SpatialConv {
    fn new(cin: usize, cout: usize, stride: usize, direction: Direction, device: &Device) -> Self {
        match (direction, stride) {
            (Direction::Up, 2) => SpatialConv::Deconv(deconv2x2(cin, cout, device)),
            (Direction::Up, _) => SpatialConv::Conv(conv3x3(cin, cout, 1, device)),
            (Direction::Down, s) => SpatialConv::Conv(conv3x3(cin, cout, s, device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            SpatialConv::Conv(c) => conv2d(c, x),
            SpatialConv::Deconv(c) => c.forward(x),
        }
    }
}

/// torchvision BasicBlock (and RD's decoder variant with a transposed first convolution).
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3×3 (strided, or transposed in the decoder).
    pub conv1: SpatialConv,
    /// BN after `conv1` (`None` once folded).
    pub bn1: Option<BatchNorm>,
    /// Second 3×3.
    pub conv2: Conv2d,
    /// BN after `conv2` (`None` once folded).
    pub bn2: Option<BatchNorm>,
    /// Encoder shortcut when shape changes.
    pub downsample: Option<ConvBn>,
    /// Decoder shortcut (always present on a stage's first block).
    pub upsample: Option<DeconvBn>,
}

/// torchvision v1.5 Bottleneck (stride on the 3×3), and RD's decoder variant.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduce.
    pub conv1: Conv2d,
    /// BN after `conv1` (`None` once folded).
    pub bn1: Option<BatchNorm>,
    /// 3×3 (strided), or 2×2 transposed in the decoder.
    pub conv2: SpatialConv,
    /// BN after `conv2` (`None` once folded).
    pub bn2: Option<BatchNorm>,
    /// 1×1 expand.
    pub conv3: Conv2d,
    /// BN after `conv3` (`None` once folded).
    pub bn3: Option<BatchNorm>,
    /// Encoder shortcut when shape changes.
    pub downsample: Option<ConvBn>,
    /// Decoder shortcut (always present on a stage's first block).
    pub upsample: Option<DeconvBn>,
}

/// One residual block of either family.
#[derive(Module, Debug)]
pub enum ResidualBlock {
    /// See [`BasicBlock`].
    Basic(BasicBlock),
    /// See [`Bottleneck`].
    Bottleneck(Bottleneck),
}

fn shortcut(
    cin: usize,
    cout: usize,
    stride: usize,
    direction: Direction,
    device: &Device,
) -> (Option<ConvBn>, Option<DeconvBn>) {
    match direction {
        Direction::Down => (
            Some(ConvBn {
                conv: conv1x1(cin, cout, stride, device),
                bn: batch_norm(cout, device),
            }),
            None,
        ),
        Direction::Up => (
            None,
            Some(DeconvBn {
                conv: deconv2x2(cin, cout, device),
                bn: batch_norm(cout, device),
            }),
        ),
    }
}

impl ResidualBlock {
    /// Build one block. `with_shortcut` adds the projection shortcut (first block of a stage).
    fn new(
        kind: BlockKind,
        cin: usize,
        planes: usize,
        stride: usize,
        direction: Direction,
        with_shortcut: bool,
        device: &Device,
    ) -> Self {
        let cout = planes * kind.expansion();
        let (downsample, upsample) = if with_shortcut {
            shortcut(cin, cout, stride, direction, device)
        } else {
            (None, None)
        };
        match kind {
            BlockKind::Basic => ResidualBlock::Basic(BasicBlock {
                conv1: SpatialConv::new(cin, planes, stride, direction, device),
                bn1: batch_norm(planes, device),
                conv2: conv3x3(planes, planes, 1, device),
                bn2: batch_norm(planes, device),
                downsample,
                upsample,
            }),
            BlockKind::Bottleneck { base_width } => {
                let width = planes * base_width / 64;
                ResidualBlock::Bottleneck(Bottleneck {
                    conv1: conv1x1(cin, width, 1, device),
                    bn1: batch_norm(width, device),
                    conv2: SpatialConv::new(width, width, stride, direction, device),
                    bn2: batch_norm(width, device),
                    conv3: conv1x1(width, cout, 1, device),
                    bn3: batch_norm(cout, device),
                    downsample,
                    upsample,
                })
            }
        }
    }

    /// Forward pass: residual branch + (projected) identity, then ReLU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResidualBlock::Basic(b) => {
                let out = relu(norm(&b.bn1, b.conv1.forward(x.clone())));
                let out = norm(&b.bn2, conv2d(&b.conv2, out));
                relu(out + identity(x, &b.downsample, &b.upsample))
            }
            ResidualBlock::Bottleneck(b) => {
                let out = relu(norm(&b.bn1, conv2d(&b.conv1, x.clone())));
                let out = relu(norm(&b.bn2, b.conv2.forward(out)));
                let out = norm(&b.bn3, conv2d(&b.conv3, out));
                relu(out + identity(x, &b.downsample, &b.upsample))
            }
        }
    }
}

fn identity(x: Tensor<4>, down: &Option<ConvBn>, up: &Option<DeconvBn>) -> Tensor<4> {
    match (down, up) {
        (Some(d), _) => norm(&d.bn, conv2d(&d.conv, x)),
        (None, Some(u)) => norm(&u.bn, u.conv.forward(x)),
        (None, None) => x,
    }
}

/// Build a stage of `blocks` residual blocks (torchvision `_make_layer`). Returns the blocks and
/// the stage's output channels.
///
/// The first block gets a shortcut when it changes stride or width; in the decoder a stage always
/// starts with a 2× upsampling block.
pub fn make_stage(
    kind: BlockKind,
    cin: usize,
    planes: usize,
    blocks: usize,
    stride: usize,
    direction: Direction,
    device: &Device,
) -> (Vec<ResidualBlock>, usize) {
    let cout = planes * kind.expansion();
    let mut stage = Vec::with_capacity(blocks);
    let first_shortcut = stride != 1 || cin != cout;
    stage.push(ResidualBlock::new(
        kind,
        cin,
        planes,
        stride,
        direction,
        first_shortcut,
        device,
    ));
    for _ in 1..blocks {
        stage.push(ResidualBlock::new(
            kind, cout, planes, 1, direction, false, device,
        ));
    }
    (stage, cout)
}

/// Run a stage.
pub fn forward_stage(stage: &[ResidualBlock], mut x: Tensor<4>) -> Tensor<4> {
    for block in stage {
        x = block.forward(x);
    }
    x
}
