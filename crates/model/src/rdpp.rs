//! The whole RD++ network: teacher E → projection P → OCBE → decoder D.

use burn::prelude::*;

use crate::anomaly_map::cosine_distance_map;
use crate::bottleneck::Ocbe;
use crate::decoder::Decoder;
use crate::projection::Projection;
use crate::teacher::{Backbone, Teacher};

/// Architecture of an RD++ model. Everything else (channel counts, block types) follows from the
/// backbone's taps.
#[derive(Config, Debug, PartialEq)]
pub struct RdppConfig {
    /// Teacher backbone.
    pub backbone: Backbone,
}

impl RdppConfig {
    /// Build the model with fresh (random) weights on `device`.
    pub fn init(&self, device: &Device) -> Rdpp {
        let b = self.backbone;
        let taps = b.tap_channels();
        Rdpp {
            teacher: Teacher::new(b, device),
            projection: Projection::new(taps, device),
            bottleneck: Ocbe::new(taps, b.student_block(), b.ocbe_blocks(), device),
            decoder: Decoder::new(taps, b.student_block(), b.decoder_layers(), device),
        }
    }
}

/// RD++: a frozen teacher, a trainable projection, the OCBE bottleneck and the student decoder.
#[derive(Module, Debug)]
pub struct Rdpp {
    /// Frozen teacher encoder E.
    pub teacher: Teacher,
    /// Feature projection P (official key `proj`).
    pub projection: Projection,
    /// OCBE bottleneck (official key `bn`).
    pub bottleneck: Ocbe,
    /// Student decoder D (official key `decoder`).
    pub decoder: Decoder,
}

/// Every intermediate of one forward pass, for losses, parity checks and maps.
#[derive(Debug, Clone)]
pub struct RdppFeatures {
    /// Teacher taps [f1, f2, f3] (unprojected: what the map compares against).
    pub teacher: [Tensor<4>; 3],
    /// Projected taps [p1, p2, p3].
    pub projected: [Tensor<4>; 3],
    /// One-class embedding (OCBE output).
    pub embedding: Tensor<4>,
    /// Decoder outputs [d1, d2, d3], aligned with the teacher taps.
    pub decoded: [Tensor<4>; 3],
}

impl Rdpp {
    /// Full forward pass on a normalized NCHW batch.
    pub fn forward_features(&self, x: Tensor<4>) -> RdppFeatures {
        let teacher = self.teacher.forward(x).map(|f| f.detach());
        let projected = self.projection.forward(teacher.clone());
        let embedding = self.bottleneck.forward(projected.clone());
        let decoded = self.decoder.forward(embedding.clone());
        RdppFeatures {
            teacher,
            projected,
            embedding,
            decoded,
        }
    }

    /// Per-scale anomaly maps `1 − cos(f_i, d_i)` over channels, each `[batch, h_i, w_i]`.
    /// Upsampling, summation and smoothing happen on the host (see [`crate::anomaly_map`]).
    pub fn scale_maps(&self, x: Tensor<4>) -> [Tensor<3>; 3] {
        let RdppFeatures {
            teacher, decoded, ..
        } = self.forward_features(x);
        let [f1, f2, f3] = teacher;
        let [d1, d2, d3] = decoded;
        [
            cosine_distance_map(f1, d1),
            cosine_distance_map(f2, d2),
            cosine_distance_map(f3, d3),
        ]
    }
}
