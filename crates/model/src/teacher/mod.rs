//! The frozen teacher encoder E and the list of supported backbones.

mod efficientnet;
mod resnet;

pub use efficientnet::{EfficientNetLite, LiteSpec, MbConv, Stage};
pub use resnet::ResNet;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::blocks::BlockKind;

/// A teacher backbone RD++ can distil from. The student (projection, OCBE, decoder) is derived
/// from the backbone's three tap widths.
///
/// One vocabulary for every front end: the manifest (serde), the command lines (`clap`, with the
/// `clap` feature) and any text ([`core::str::FromStr`]) use the names of [`Backbone::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backbone {
    /// torchvision `wide_resnet50_2` (the paper's default), taps 256/512/1024.
    #[serde(rename = "wide_resnet50_2")]
    #[cfg_attr(feature = "clap", value(name = "wide_resnet50_2"))]
    WideResnet50_2,
    /// torchvision `resnet18`, taps 64/128/256.
    #[serde(rename = "resnet18")]
    #[cfg_attr(feature = "clap", value(name = "resnet18"))]
    Resnet18,
    /// EfficientNet-Lite0, taps 24/40/112 (TF SAME padding, BN eps 1e-3).
    #[serde(rename = "efficientnet_lite0")]
    #[cfg_attr(feature = "clap", value(name = "efficientnet_lite0"))]
    EfficientnetLite0,
    /// EfficientNet-Lite2, taps 24/48/120 (as Lite0, wider and deeper; 260 px native).
    #[serde(rename = "efficientnet_lite2")]
    #[cfg_attr(feature = "clap", value(name = "efficientnet_lite2"))]
    EfficientnetLite2,
}

/// How a backbone expects its [0, 1] RGB input to be normalized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// `(x − mean) / std` per channel.
    MeanStd {
        /// Channel means.
        mean: [f64; 3],
        /// Channel standard deviations.
        std: [f64; 3],
    },
}

impl Normalization {
    /// ImageNet statistics used by torchvision models.
    pub const IMAGENET: Normalization = Normalization::MeanStd {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
    /// EfficientNet-Lite's `(x·255 − 127) / 128`, written as mean/std on [0, 1] input.
    pub const LITE: Normalization = Normalization::MeanStd {
        mean: [127.0 / 255.0; 3],
        std: [128.0 / 255.0; 3],
    };

    /// Normalize one value of channel `c` (f64, as the official preprocessing).
    pub fn apply(&self, c: usize, v: f64) -> f64 {
        match self {
            Normalization::MeanStd { mean, std } => (v - mean[c]) / std[c],
        }
    }
}

impl Backbone {
    /// All supported backbones.
    pub const ALL: [Backbone; 4] = [
        Backbone::WideResnet50_2,
        Backbone::Resnet18,
        Backbone::EfficientnetLite0,
        Backbone::EfficientnetLite2,
    ];

    /// The canonical name (as in torchvision / the CLI).
    pub fn name(self) -> &'static str {
        match self {
            Backbone::WideResnet50_2 => "wide_resnet50_2",
            Backbone::Resnet18 => "resnet18",
            Backbone::EfficientnetLite0 => "efficientnet_lite0",
            Backbone::EfficientnetLite2 => "efficientnet_lite2",
        }
    }

    /// Channels of the three taps [f1, f2, f3] (strides 4, 8, 16).
    pub fn tap_channels(self) -> [usize; 3] {
        match self {
            Backbone::WideResnet50_2 => [256, 512, 1024],
            Backbone::Resnet18 => [64, 128, 256],
            Backbone::EfficientnetLite0 => LiteSpec::LITE0.tap_channels(),
            Backbone::EfficientnetLite2 => LiteSpec::LITE2.tap_channels(),
        }
    }

    /// The EfficientNet-Lite variant, for the Lite backbones.
    pub fn lite_spec(self) -> Option<&'static LiteSpec> {
        match self {
            Backbone::EfficientnetLite0 => Some(&LiteSpec::LITE0),
            Backbone::EfficientnetLite2 => Some(&LiteSpec::LITE2),
            _ => None,
        }
    }

    /// Input normalization the teacher was trained with.
    pub fn normalization(self) -> Normalization {
        match self {
            Backbone::EfficientnetLite0 | Backbone::EfficientnetLite2 => Normalization::LITE,
            _ => Normalization::IMAGENET,
        }
    }

    /// Residual block family of the student (OCBE and decoder).
    pub fn student_block(self) -> BlockKind {
        match self {
            Backbone::Resnet18 => BlockKind::Basic,
            _ => BlockKind::Bottleneck { base_width: 128 },
        }
    }

    /// Blocks per decoder stage [layer1, layer2, layer3] (mirrors the teacher's depth).
    pub fn decoder_layers(self) -> [usize; 3] {
        match self {
            Backbone::Resnet18 => [2, 2, 2],
            _ => [3, 4, 6],
        }
    }

    /// Blocks of the OCBE one-class embedding.
    pub fn ocbe_blocks(self) -> usize {
        match self {
            Backbone::Resnet18 => 2,
            _ => 3,
        }
    }
}

/// A backbone name that is none of [`Backbone::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBackbone(pub alloc::string::String);

impl core::fmt::Display for UnknownBackbone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unknown backbone {:?}; choose one of ", self.0)?;
        for (i, b) in Backbone::ALL.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            f.write_str(b.name())?;
        }
        Ok(())
    }
}

impl core::error::Error for UnknownBackbone {}

impl core::str::FromStr for Backbone {
    type Err = UnknownBackbone;

    /// The canonical name of [`Backbone::name`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Backbone::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| UnknownBackbone(name.into()))
    }
}

impl core::fmt::Display for Backbone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The teacher encoder E. Frozen: RD++ never trains it.
#[derive(Module, Debug)]
pub enum Teacher {
    /// A torchvision ResNet.
    ResNet(ResNet),
    /// EfficientNet-Lite.
    EfficientNet(EfficientNetLite),
}

impl Teacher {
    /// Build the (randomly initialised) teacher for `backbone`.
    pub fn new(backbone: Backbone, device: &Device) -> Self {
        match backbone {
            Backbone::WideResnet50_2 => Teacher::ResNet(ResNet::new(
                BlockKind::Bottleneck { base_width: 128 },
                [3, 4, 6],
                device,
            )),
            Backbone::Resnet18 => Teacher::ResNet(ResNet::new(BlockKind::Basic, [2, 2, 2], device)),
            Backbone::EfficientnetLite0 => {
                Teacher::EfficientNet(EfficientNetLite::new(&LiteSpec::LITE0, device))
            }
            Backbone::EfficientnetLite2 => {
                Teacher::EfficientNet(EfficientNetLite::new(&LiteSpec::LITE2, device))
            }
        }
    }

    /// The three taps [f1, f2, f3].
    pub fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        match self {
            Teacher::ResNet(m) => m.forward(x),
            Teacher::EfficientNet(m) => m.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backbone_names_parse_to_the_backbone_that_prints_them() {
        assert_eq!(
            "wide_resnet50_2".parse::<Backbone>(),
            Ok(Backbone::WideResnet50_2)
        );
        assert_eq!("resnet18".parse::<Backbone>(), Ok(Backbone::Resnet18));
        assert_eq!(
            "efficientnet_lite0".parse::<Backbone>(),
            Ok(Backbone::EfficientnetLite0)
        );
        for b in Backbone::ALL {
            assert_eq!(b.to_string().parse::<Backbone>(), Ok(b));
        }
    }

    #[test]
    fn lite_taps_are_the_last_blocks_of_their_stages() {
        assert_eq!(Backbone::EfficientnetLite0.tap_channels(), [24, 40, 112]);
        assert_eq!(Backbone::EfficientnetLite2.tap_channels(), [24, 48, 120]);
        for spec in [LiteSpec::LITE0, LiteSpec::LITE2] {
            // Cumulative repeats: the last block of stages 1, 2 and 4 (0-based).
            let ends: Vec<usize> = spec
                .stages
                .iter()
                .scan(0, |n, s| {
                    *n += s.1;
                    Some(*n - 1)
                })
                .collect();
            assert_eq!(spec.tap_blocks, [ends[1], ends[2], ends[4]]);
        }
    }

    #[test]
    fn an_unknown_backbone_lists_the_known_ones() {
        let e = "resnet50".parse::<Backbone>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown backbone \"resnet50\"; choose one of wide_resnet50_2, resnet18, efficientnet_lite0, efficientnet_lite2"
        );
    }
}
