//! Running a model on images: the one inference path of the CLI, the page, the trainer's
//! evaluation and calibration, and the tests. Preprocessing on the host, the network on the
//! device, the official map post-processing on the host (docs/method.md §6).

use burn::prelude::*;
use rdpp_model::anomaly_map::{Map, combine_scale_maps};
use rdpp_model::preprocess::preprocess_rgb_u8;
use rdpp_model::{Backbone, FoldBatchNorm, Rdpp};

use crate::bundle::{Calibration, Manifest};
use crate::error::InferenceError;
use crate::verdict::Verdict;

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

impl<'a> From<&'a image::RgbImage> for RgbView<'a> {
    fn from(img: &'a image::RgbImage) -> Self {
        RgbView {
            data: img.as_raw(),
            width: img.width() as usize,
            height: img.height() as usize,
        }
    }
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

impl Detection {
    /// The map in f32 (display and metric precision).
    pub fn map_f32(&self) -> Vec<f32> {
        self.map.data.iter().map(|&v| v as f32).collect()
    }
}

/// A model ready to score images.
///
/// It holds the network's inference form ([`FoldBatchNorm`]: every BatchNorm folded into its
/// convolution, docs/method.md §12), derived when the detector is made; bundles and checkpoints
/// are written from the model as trained, never from a detector.
#[derive(Debug)]
pub struct Detector {
    /// The folded network.
    network: Rdpp,
    device: Device,
    backbone: Backbone,
    input_size: usize,
    calibration: Option<Calibration>,
}

impl Detector {
    /// A bundle's model (loaded on `device`) with what its manifest says about it: backbone,
    /// input size, calibration.
    pub fn new(model: Rdpp, manifest: &Manifest, device: Device) -> Self {
        Detector {
            network: model.fold_batch_norms(),
            device,
            backbone: manifest.backbone,
            input_size: manifest.input_size,
            calibration: manifest.calibration.clone(),
        }
    }

    /// A model that has no bundle yet (the trainer's, before it is calibrated): no threshold.
    pub fn uncalibrated(
        model: Rdpp,
        backbone: Backbone,
        input_size: usize,
        device: Device,
    ) -> Self {
        Detector {
            network: model.fold_batch_norms(),
            device,
            backbone,
            input_size,
            calibration: None,
        }
    }

    /// Read and verify a bundle folder (or its `manifest.json`) and load it on `device`.
    #[cfg(feature = "std")]
    pub fn load(
        dir: &std::path::Path,
        device: Device,
    ) -> Result<(Detector, Manifest), crate::BundleError> {
        let bundle = crate::bundle::load_bundle(dir, &device)?;
        let detector = Detector::new(bundle.model, &bundle.manifest, device);
        Ok((detector, bundle.manifest))
    }

    /// The network in its inference form (BatchNorms folded): for scoring, not for saving.
    pub fn network(&self) -> &Rdpp {
        &self.network
    }

    /// Where the network runs.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The teacher backbone.
    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// Side of the square network input (and of the anomaly maps).
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// The bundle's calibration, if it has one.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The calibrated image-score threshold, if any.
    pub fn threshold(&self) -> Option<f64> {
        self.calibration.as_ref().map(|c| c.image_threshold)
    }

    /// The verdict on an image score at the calibrated threshold.
    pub fn verdict(&self, score: f64) -> Verdict {
        Verdict::of(score, self.threshold())
    }

    /// Preprocess images (the official resize and the backbone's normalization) into one NCHW
    /// batch on the device. Empty or inconsistent buffers are refused before any work.
    pub fn batch_tensor(&self, images: &[RgbView<'_>]) -> Result<Tensor<4>, InferenceError> {
        check_views(images)?;
        let s = self.input_size;
        let norm = self.backbone.normalization();
        let mut data = Vec::with_capacity(images.len() * 3 * s * s);
        for im in images {
            data.extend(preprocess_rgb_u8(im.data, im.width, im.height, s, &norm));
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [images.len(), 3, s, s]),
            &self.device,
        ))
    }

    /// Run the network and return the per-scale maps still on the device.
    pub fn scale_maps(&self, images: &[RgbView<'_>]) -> Result<[Tensor<3>; 3], InferenceError> {
        Ok(self.network.scale_maps(self.batch_tensor(images)?))
    }

    /// Score a batch (synchronous read-back; native backends).
    pub fn detect(&self, images: &[RgbView<'_>]) -> Result<Vec<Detection>, InferenceError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        detections_from_scale_maps(self.scale_maps(images)?, self.input_size)
    }

    /// Score a batch, reading results back asynchronously (required for WebGPU in the browser).
    pub async fn detect_async(
        &self,
        images: &[RgbView<'_>],
    ) -> Result<Vec<Detection>, InferenceError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (flat, shapes) = side_by_side(self.scale_maps(images)?);
        let data = flat
            .into_data_async()
            .await
            .map_err(|e| InferenceError::ReadBack(format!("{e:?}")))?;
        Ok(finish(
            split_scales(&host_values(data)?, shapes)?,
            images.len(),
            self.input_size,
        ))
    }
}

/// Refuse empty or inconsistent buffers before they reach the resampler.
fn check_views(images: &[RgbView<'_>]) -> Result<(), InferenceError> {
    for (index, im) in images.iter().enumerate() {
        if im.width == 0 || im.height == 0 {
            return Err(InferenceError::EmptyImage {
                index,
                width: im.width,
                height: im.height,
            });
        }
        let expected = im.width * im.height * 3;
        if im.data.len() != expected {
            return Err(InferenceError::BufferSize {
                index,
                bytes: im.data.len(),
                width: im.width,
                height: im.height,
                expected,
            });
        }
    }
    Ok(())
}

/// Per-scale device maps (`[batch, h_i, w_i]`, from [`rdpp_model::Rdpp::scale_maps`]) → one
/// final map and score per image, reading back synchronously (native backends). The one place
/// that turns network output into the official anomaly map.
pub fn detections_from_scale_maps(
    maps: [Tensor<3>; 3],
    size: usize,
) -> Result<Vec<Detection>, InferenceError> {
    let batch = maps[0].dims()[0];
    let (flat, shapes) = side_by_side(maps);
    let values = host_values(flat.into_data())?;
    Ok(finish(split_scales(&values, shapes)?, batch, size))
}

/// The three scales in one tensor, so they come back in one read (one device sync, one
/// transfer): each `[batch, h, w]` flattened to `[batch, h·w]`, side by side.
fn side_by_side(maps: [Tensor<3>; 3]) -> (Tensor<2>, [[usize; 3]; 3]) {
    let shapes = maps.clone().map(|m| m.dims());
    let flat = maps
        .into_iter()
        .map(|m| {
            let [b, h, w] = m.dims();
            m.reshape([b, h * w])
        })
        .collect();
    (Tensor::cat(flat, 1), shapes)
}

fn host_values(data: TensorData) -> Result<Vec<f32>, InferenceError> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| InferenceError::MapData(format!("{e:?}")))
}

/// `[batch, Σ h_i·w_i]` host values (the three scales side by side per image) → one host map per
/// scale and image.
fn split_scales(
    values: &[f32],
    shapes: [[usize; 3]; 3],
) -> Result<Vec<Vec<Map<f32>>>, InferenceError> {
    let row: usize = shapes.iter().map(|[_, h, w]| h * w).sum();
    let batch = shapes[0][0];
    if values.len() != batch * row {
        return Err(InferenceError::MapData(format!(
            "{} values for {batch} images of {row}",
            values.len()
        )));
    }
    let mut offset = 0;
    let mut per_scale = Vec::with_capacity(3);
    for [_, h, w] in shapes {
        per_scale.push(
            (0..batch)
                .map(|i| Map {
                    width: w,
                    height: h,
                    data: values[i * row + offset..i * row + offset + h * w].to_vec(),
                })
                .collect(),
        );
        offset += h * w;
    }
    Ok(per_scale)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rdpp_model::RdppConfig;

    fn tiny_detector() -> Detector {
        let device = Device::flex();
        let model = RdppConfig::new(Backbone::Resnet18).init(&device);
        Detector::uncalibrated(model, Backbone::Resnet18, 32, device)
    }

    #[test]
    fn bad_buffers_are_refused_with_their_index() {
        let d = tiny_detector();
        let good = [7u8; 4 * 4 * 3];
        let ok = RgbView {
            data: &good,
            width: 4,
            height: 4,
        };
        let short = RgbView {
            data: &good[..10],
            width: 4,
            height: 4,
        };
        let empty = RgbView {
            data: &[],
            width: 0,
            height: 3,
        };
        assert_eq!(
            d.detect(&[ok, short]).unwrap_err(),
            InferenceError::BufferSize {
                index: 1,
                bytes: 10,
                width: 4,
                height: 4,
                expected: 48
            }
        );
        let e = d.detect(&[empty]).unwrap_err().to_string();
        assert_eq!(e, "image 0 is empty (0×3)");
        assert!(d.detect(&[]).unwrap().is_empty());
    }

    #[test]
    fn one_map_per_image_at_the_input_size_and_the_score_is_its_maximum() {
        let d = tiny_detector();
        let img =
            image::RgbImage::from_fn(40, 24, |x, y| image::Rgb([x as u8 * 6, y as u8 * 9, 77]));
        let out = d
            .detect(&[RgbView::from(&img), RgbView::from(&img)])
            .unwrap();
        assert_eq!(out.len(), 2);
        for det in &out {
            assert_eq!((det.map.width, det.map.height), (32, 32));
            let max = det.map.data.iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(det.score, max);
        }
        let diff = out[0]
            .map
            .data
            .iter()
            .zip(&out[1].map.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-6, "a batch scores equal images alike ({diff})");
        assert_eq!(d.verdict(out[0].score), Verdict::Uncalibrated);
    }

    #[test]
    fn a_bundles_calibration_gives_both_verdicts() {
        use crate::bundle::{Provenance, WeightsDType, manifest_for};
        let device = Device::flex();
        let model = RdppConfig::new(Backbone::Resnet18).init(&device);
        let calibration = Calibration {
            image_threshold: 0.5,
            map_low: 0.1,
            map_high: 0.9,
            method: "test".into(),
        };
        let manifest = manifest_for(
            "t",
            Backbone::Resnet18,
            64,
            b"weights",
            WeightsDType::F32,
            Some(calibration),
            Provenance::default(),
        );
        let d = Detector::new(model, &manifest, device);
        assert_eq!((d.input_size(), d.threshold()), (64, Some(0.5)));
        assert_eq!(d.verdict(0.51), Verdict::Defect);
        assert_eq!(d.verdict(0.5), Verdict::Good);
        assert_eq!(d.calibration().map(|c| c.map_range()), Some((0.1, 0.9)));
    }
}
