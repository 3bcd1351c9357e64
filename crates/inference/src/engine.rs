//! Running a loaded model on images: preprocessing on the host, the network on the device, the
//! official map post-processing on the host.

use burn::prelude::*;
use rdpp_model::anomaly_map::{Map, combine_scale_maps};
use rdpp_model::preprocess::preprocess_rgb_u8;
use rdpp_model::{Backbone, Rdpp};

use crate::bundle::Calibration;

/// An RGB u8 image borrowed from the caller (interleaved, row-major).
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    /// `width × height × 3` bytes.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// The result for one image.
#[derive(Clone, Debug)]
pub struct Detection {
    /// The raw anomaly map at the model's input size (smoothed, uncalibrated): what the official
    /// code calls the pixel scores.
    pub map: Map<f64>,
    /// Image score: the map's maximum.
    pub score: f64,
}

/// A model ready to score images.
#[derive(Debug)]
pub struct Detector {
    /// The network.
    pub model: Rdpp,
    /// Where it runs.
    pub device: Device,
    /// Its teacher backbone.
    pub backbone: Backbone,
    /// Square input size.
    pub input_size: usize,
    /// Calibration from the bundle, if any.
    pub calibration: Option<Calibration>,
}

impl Detector {
    /// Preprocess images into one normalized NCHW batch on the device.
    pub fn batch_tensor(&self, images: &[RgbView<'_>]) -> Tensor<4> {
        let s = self.input_size;
        let norm = self.backbone.normalization();
        let mut data = Vec::with_capacity(images.len() * 3 * s * s);
        for im in images {
            data.extend(preprocess_rgb_u8(im.data, im.width, im.height, s, &norm));
        }
        Tensor::from_data(TensorData::new(data, [images.len(), 3, s, s]), &self.device)
    }

    /// Run the network and return the per-scale maps still on the device.
    pub fn scale_maps(&self, images: &[RgbView<'_>]) -> [Tensor<3>; 3] {
        self.model.scale_maps(self.batch_tensor(images))
    }

    /// Score a batch (synchronous read-back; native backends).
    pub fn detect(&self, images: &[RgbView<'_>]) -> Result<Vec<Detection>, String> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        check_views(images)?;
        detections_from_scale_maps(self.scale_maps(images), self.input_size)
    }

    /// Score a batch, reading results back asynchronously (required for WebGPU in the browser).
    pub async fn detect_async(&self, images: &[RgbView<'_>]) -> Result<Vec<Detection>, String> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        check_views(images)?;
        let maps = self.scale_maps(images);
        let mut host = Vec::with_capacity(3);
        for m in maps {
            let data = m
                .into_data_async()
                .await
                .map_err(|e| format!("reading the map back failed: {e:?}"))?;
            host.push(read_maps(data)?);
        }
        Ok(finish(host, images.len(), self.input_size))
    }
}

/// Refuse empty or inconsistent buffers before they reach the resampler.
fn check_views(images: &[RgbView<'_>]) -> Result<(), String> {
    for (i, im) in images.iter().enumerate() {
        if im.width == 0 || im.height == 0 {
            return Err(format!("image {i} is empty ({}×{})", im.width, im.height));
        }
        if im.data.len() != im.width * im.height * 3 {
            return Err(format!(
                "image {i}: {} bytes for {}×{} RGB (expected {})",
                im.data.len(),
                im.width,
                im.height,
                im.width * im.height * 3
            ));
        }
    }
    Ok(())
}

/// Per-scale device maps (`[batch, h_i, w_i]`, from [`rdpp_model::Rdpp::scale_maps`]) → one
/// final map and score per image, reading back synchronously (native backends). The one place
/// that turns network output into the official anomaly map, for the CLI, benchmarks and training.
pub fn detections_from_scale_maps(
    maps: [Tensor<3>; 3],
    size: usize,
) -> Result<Vec<Detection>, String> {
    let batch = maps[0].dims()[0];
    let mut host = Vec::with_capacity(3);
    for m in maps {
        host.push(read_maps(m.into_data().convert::<f32>())?);
    }
    Ok(finish(host, batch, size))
}

/// `[batch, h, w]` device data → one host map per image.
fn read_maps(data: TensorData) -> Result<Vec<Map<f32>>, String> {
    let dims = data.shape().clone();
    let (b, h, w) = (dims[0], dims[1], dims[2]);
    let values = data
        .try_into_vec::<f32>()
        .map_err(|e| format!("unexpected map data: {e:?}"))?;
    Ok((0..b)
        .map(|i| Map {
            width: w,
            height: h,
            data: values[i * h * w..(i + 1) * h * w].to_vec(),
        })
        .collect())
}

/// Combine per-scale maps per image into final maps and scores.
fn finish(per_scale: Vec<Vec<Map<f32>>>, batch: usize, size: usize) -> Vec<Detection> {
    (0..batch)
        .map(|i| {
            let scales: Vec<Map<f32>> = per_scale.iter().map(|s| s[i].clone()).collect();
            let (_, map) = combine_scale_maps(&scales, size);
            let score = map.max().unwrap_or(0.0);
            Detection { map, score }
        })
        .collect()
}
