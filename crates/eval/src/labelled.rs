//! A labelled test set (images someone called good or defective, masks where they exist) and
//! its evaluation by a [`Detector`].

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use rdpp_data::TestSample;
use rdpp_inference::Detector;
use rdpp_inference::image_io::DecodeLimits;
use rdpp_metrics::EvaluationReport;

use crate::score::score_files;

/// Labelled test images with their pixel ground truth at the model's input size.
#[derive(Clone, Debug)]
pub struct LabelledSet {
    samples: Vec<TestSample>,
    /// Per sample: all `false` for a normal image, the resized mask of a defect that has one,
    /// `None` for a defect without one.
    masks: Vec<Option<Vec<bool>>>,
    size: usize,
}

impl LabelledSet {
    /// Read the masks of `samples` at `size × size` (the images are decoded when scored).
    /// `None` when there are no samples.
    ///
    /// Errors: a mask that cannot be read, or whose size is not its image's.
    pub fn load(samples: &[TestSample], size: usize) -> Result<Option<LabelledSet>> {
        if samples.is_empty() {
            return Ok(None);
        }
        let masks = rdpp_data::load_masks(samples, size, &DecodeLimits::default())?
            .into_iter()
            .map(|m| m.map(|m| m.into_iter().map(|v| v > 0).collect()))
            .collect();
        Ok(Some(LabelledSet {
            samples: samples.to_vec(),
            masks,
            size,
        }))
    }

    /// The images, in order.
    pub fn samples(&self) -> &[TestSample] {
        &self.samples
    }

    /// Score every image as inference does and compute every metric the labels and masks allow.
    /// `calibrated`: the threshold from held-out normal images (reported as an operating point).
    /// Unreadable images are skipped and listed in the result; `progress(done, total)` follows
    /// the scoring.
    ///
    /// Errors: the detector's input size differs from the masks', no image can be read, or the
    /// network fails.
    pub fn evaluate(
        &self,
        detector: &Detector,
        calibrated: Option<f64>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation> {
        if detector.input_size() != self.size {
            bail!(
                "the model's input size is {} px but the test masks were read at {} px",
                detector.input_size(),
                self.size
            );
        }
        let paths: Vec<PathBuf> = self.samples.iter().map(|s| s.path.clone()).collect();
        let files = score_files(detector, &paths, &DecodeLimits::default(), progress)?;
        if files.kept.is_empty() {
            let (path, why) = files
                .skipped
                .first()
                .cloned()
                .unwrap_or_else(|| (PathBuf::new(), "no images".into()));
            bail!(
                "none of the {} test images could be read (first: {}: {why})",
                paths.len(),
                path.display()
            );
        }
        let images: Vec<ScoredImage> = files
            .kept
            .iter()
            .zip(&files.scored.scores)
            .map(|(&i, &score)| {
                let s = &self.samples[i];
                ScoredImage {
                    path: s.path.clone(),
                    defect: s.label,
                    score,
                }
            })
            .collect();
        let labels: Vec<bool> = images.iter().map(|i| i.defect).collect();
        let maps: Vec<&[f32]> = files.scored.maps.iter().map(Vec::as_slice).collect();
        let masks: Vec<Option<&[bool]>> = files
            .kept
            .iter()
            .map(|&i| self.masks[i].as_deref())
            .collect();
        let report = EvaluationReport::compute_labelled(
            &files.scored.scores,
            &labels,
            &maps,
            &masks,
            self.size,
            self.size,
            calibrated,
        )
        .map_err(|e| anyhow!("evaluation failed: {e}"))?;
        Ok(Evaluation {
            report,
            images,
            maps: files.scored.maps,
            masks: files.kept.iter().map(|&i| self.masks[i].clone()).collect(),
            skipped: files.skipped,
        })
    }
}

/// One scored test image.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredImage {
    /// The file.
    pub path: PathBuf,
    /// Its label: `true` for a defect.
    pub defect: bool,
    /// The image score (the map's maximum).
    pub score: f64,
}

/// The result of evaluating a detector on a labelled set.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Every metric, with the thresholds and their verdict counts.
    pub report: EvaluationReport,
    /// The images that were scored, in order.
    pub images: Vec<ScoredImage>,
    /// Their anomaly maps (input size × input size).
    pub maps: Vec<Vec<f32>>,
    /// Their pixel ground truth, where known.
    pub masks: Vec<Option<Vec<bool>>>,
    /// Images that could not be read (left out of every metric), with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Evaluation {
    /// Scores, in order.
    pub fn scores(&self) -> Vec<f64> {
        self.images.iter().map(|i| i.score).collect()
    }

    /// Labels (`true` = defect), in order.
    pub fn labels(&self) -> Vec<bool> {
        self.images.iter().map(|i| i.defect).collect()
    }

    /// The maps of the normal images (for a colour range when a bundle has no calibration).
    pub fn normal_maps(&self) -> Vec<Vec<f32>> {
        self.images
            .iter()
            .zip(&self.maps)
            .filter(|(i, _)| !i.defect)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The `n` normal images with the highest scores (the worst false alarms first) and the `n`
    /// defects with the lowest (the worst misses first), as indices.
    pub fn worst(&self, n: usize) -> (Vec<usize>, Vec<usize>) {
        let mut normal: Vec<usize> = (0..self.images.len())
            .filter(|&i| !self.images[i].defect)
            .collect();
        let mut defect: Vec<usize> = (0..self.images.len())
            .filter(|&i| self.images[i].defect)
            .collect();
        normal.sort_by(|&a, &b| self.images[b].score.total_cmp(&self.images[a].score));
        defect.sort_by(|&a, &b| self.images[a].score.total_cmp(&self.images[b].score));
        normal.truncate(n);
        defect.truncate(n);
        (normal, defect)
    }
}
