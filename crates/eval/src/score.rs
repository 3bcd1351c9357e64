//! Scoring image files exactly as `rdpp infer` does: the same decoder and limits, the same
//! resize, normalization and map post-processing, through [`Detector`].

use std::path::PathBuf;

use anyhow::Result;
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::{Detector, RgbView};

/// Anomaly maps (f32, at the model's input size) and image scores of a list of images.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scored {
    /// One map per image.
    pub maps: Vec<Vec<f32>>,
    /// One score per image (the map's maximum).
    pub scores: Vec<f64>,
}

/// Images per forward pass when scoring files.
pub const SCORE_BATCH: usize = 8;

/// Score decoded images (see the module doc), [`SCORE_BATCH`] per forward pass.
pub fn score_images(detector: &Detector, images: &[image::RgbImage]) -> Result<Scored> {
    let mut out = Scored::default();
    for chunk in images.chunks(SCORE_BATCH) {
        let views: Vec<RgbView> = chunk.iter().map(RgbView::from).collect();
        for d in detector.detect(&views)? {
            out.scores.push(d.score);
            out.maps.push(d.map_f32());
        }
    }
    Ok(out)
}

/// What [`score_files`] gives: the scores and maps of the files that could be read, which those
/// are, and the others with why.
#[derive(Debug, Default)]
pub struct ScoredFiles {
    /// Indices (into the given paths) of the scored files, in order.
    pub kept: Vec<usize>,
    /// Their maps and scores.
    pub scored: Scored,
    /// Files that could not be decoded, with the decoder's message.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Score image files [`SCORE_BATCH`] at a time, decoding each batch just before it runs (a big
/// folder is never held decoded in memory). Unreadable files are skipped and listed, as
/// `rdpp infer` does; `progress(done, total)` is called after each batch.
pub fn score_files(
    detector: &Detector,
    paths: &[PathBuf],
    limits: &DecodeLimits,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoredFiles> {
    let mut out = ScoredFiles::default();
    for (c, chunk) in paths.chunks(SCORE_BATCH).enumerate() {
        let mut images = Vec::with_capacity(chunk.len());
        for (j, path) in chunk.iter().enumerate() {
            match read_rgb8(path, limits) {
                Ok(img) => {
                    out.kept.push(c * SCORE_BATCH + j);
                    images.push(img);
                }
                Err(e) => out.skipped.push((path.clone(), e.to_string())),
            }
        }
        if !images.is_empty() {
            let s = score_images(detector, &images)?;
            out.scored.maps.extend(s.maps);
            out.scored.scores.extend(s.scores);
        }
        progress(
            (c * SCORE_BATCH + chunk.len()).min(paths.len()),
            paths.len(),
        );
    }
    Ok(out)
}
