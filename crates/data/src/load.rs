//! Decoding and resizing a scanned data set into memory.
//!
//! Images are decoded in parallel (rayon) with [`read_rgb8`] (OpenCV `imread` semantics: any
//! mode — gray, palette, RGBA, 16-bit — becomes 8-bit RGB) and resized with the official
//! OpenCV-exact [`resize_rgb_u8`] to `size × size`, then kept as f32 interleaved RGB in `[0, 1]`.
//! Masks are resized as the official code resizes them (see [`crate::mask`]).
//!
//! Unreadable images are skipped, logged with `log::warn!` and listed in the [`LoadReport`];
//! an unreadable mask is an error, since it would silently corrupt pixel-level metrics.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use rdpp_inference::image_io::{DecodeLimits, ImageError, read_rgb8};
use rdpp_model::preprocess::resize_rgb_u8;

use crate::DataError;
use crate::layout::{DatasetIndex, TestSample};
use crate::mask::read_mask;

/// One image, decoded and resized.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedImage {
    /// The file name (without folders).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Interleaved RGB (HWC), `size × size × 3` values in `[0, 1]`: the official
    /// `cv2.resize(img / 255., (size, size))`, stored as f32.
    pub rgb: Vec<f32>,
    /// Side of the square image.
    pub size: usize,
}

impl LoadedImage {
    /// The RGB values of pixel `(row, col)`.
    ///
    /// # Panics
    /// If the pixel is outside the image.
    pub fn pixel(&self, row: usize, col: usize) -> [f32; 3] {
        let i = (row * self.size + col) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// One test image with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSample {
    /// The image.
    pub image: LoadedImage,
    /// `true` for an anomalous image.
    pub label: bool,
    /// The defect type (see [`crate::layout::TestSample::defect`]).
    pub defect: String,
    /// The pixel ground truth, `size × size` row-major 0/1 values (binarised as the official
    /// metrics do: resized value ≥ 128): all zeros for normal images, the resized mask for
    /// anomalous ones, and `None` for anomalous images without a mask (a [`crate::Layout::Folder`]
    /// without masks), which pixel-level metrics must leave out.
    pub mask: Option<Vec<u8>>,
}

/// What a load did: how many images were loaded and which were skipped, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Number of images loaded.
    pub loaded: usize,
    /// Files that could not be decoded, with the reason (the message names the file).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Decodes one image file and resizes it to `size × size`.
///
/// # Errors
/// The [`ImageError`] of reading or decoding (it names the file).
pub fn load_image(
    path: &Path,
    size: usize,
    limits: &DecodeLimits,
) -> Result<LoadedImage, ImageError> {
    let rgb = read_rgb8(path, limits)?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let resized = resize_rgb_u8(rgb.as_raw(), w, h, size);
    Ok(LoadedImage {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_owned(),
        rgb: resized.into_iter().map(|v| v as f32).collect(),
        size,
    })
}

fn check_size(size: usize) -> Result<(), DataError> {
    if size == 0 {
        return Err(DataError::InvalidSize {
            size,
            reason: "images must be resized to at least 1×1",
        });
    }
    Ok(())
}

/// Decodes and resizes `paths` in parallel, keeping their order; unreadable files are skipped
/// (logged with `log::warn!`) and listed in the report.
///
/// # Errors
/// [`DataError::InvalidSize`] if `size` is 0.
pub fn load_images(
    paths: &[PathBuf],
    size: usize,
    limits: &DecodeLimits,
) -> Result<(Vec<LoadedImage>, LoadReport), DataError> {
    check_size(size)?;
    let results: Vec<Result<LoadedImage, ImageError>> = paths
        .par_iter()
        .map(|p| load_image(p, size, limits))
        .collect();
    let mut images = Vec::with_capacity(paths.len());
    let mut report = LoadReport::default();
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(img) => images.push(img),
            Err(e) => {
                log::warn!("skipping {}: {e}", path.display());
                report.skipped.push((path.clone(), e.to_string()));
            }
        }
    }
    report.loaded = images.len();
    Ok((images, report))
}

/// Loads the training images of `index` (see [`load_images`]).
///
/// # Errors
/// [`DataError::NoTrainingImages`] when none could be decoded; [`DataError::InvalidSize`].
pub fn load_train(
    index: &DatasetIndex,
    size: usize,
    limits: &DecodeLimits,
) -> Result<(Vec<LoadedImage>, LoadReport), DataError> {
    let (images, report) = load_images(&index.train, size, limits)?;
    if images.is_empty() {
        return Err(DataError::NoTrainingImages {
            total: index.train.len(),
            first: report
                .skipped
                .first()
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| "the training list is empty".to_owned()),
        });
    }
    Ok((images, report))
}

/// Loads the test images of `index` with their masks, in the index's order. Unreadable images
/// are skipped and reported like training images.
///
/// # Errors
/// [`DataError::UnreadableMask`] when a mask file cannot be decoded (the first in index
/// order); [`DataError::InvalidSize`].
pub fn load_test(
    index: &DatasetIndex,
    size: usize,
    limits: &DecodeLimits,
) -> Result<(Vec<LoadedSample>, LoadReport), DataError> {
    check_size(size)?;
    type Outcome = Result<Result<LoadedSample, (PathBuf, String)>, DataError>;
    let outcomes: Vec<Outcome> = index
        .test
        .par_iter()
        .map(|s| {
            let mask = sample_mask(s, size, limits)?;
            Ok(match load_image(&s.path, size, limits) {
                Ok(image) => Ok(LoadedSample {
                    image,
                    label: s.label,
                    defect: s.defect.clone(),
                    mask,
                }),
                Err(e) => Err((s.path.clone(), e.to_string())),
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(index.test.len());
    let mut report = LoadReport::default();
    for outcome in outcomes {
        match outcome? {
            Ok(sample) => samples.push(sample),
            Err((path, why)) => {
                log::warn!("skipping {}: {why}", path.display());
                report.skipped.push((path, why));
            }
        }
    }
    report.loaded = samples.len();
    Ok((samples, report))
}

/// The pixel ground truth of one test sample at `size × size` (0/1): all zeros for a normal
/// image, the resized mask for a defect that has one, `None` for a defect without one.
fn sample_mask(
    s: &TestSample,
    size: usize,
    limits: &DecodeLimits,
) -> Result<Option<Vec<u8>>, DataError> {
    Ok(match (&s.mask, s.label) {
        (Some(m), _) => {
            check_mask_size(&s.path, m)?;
            Some(
                read_mask(m, size, limits).map_err(|source| DataError::UnreadableMask {
                    image: s.path.clone(),
                    source,
                })?,
            )
        }
        (None, false) => Some(vec![0u8; size * size]),
        (None, true) => None,
    })
}

/// A mask must have its image's shape (read from the files' headers): both are resized to the
/// model's square input independently, as the official code does, so a mask at another
/// resolution of the same shape lines up, one of another shape does not. When either header
/// cannot be read, decoding will say why.
fn check_mask_size(image: &Path, mask: &Path) -> Result<(), DataError> {
    if let (Ok(image_size), Ok(mask_size)) = (
        image::image_dimensions(image),
        image::image_dimensions(mask),
    ) && !same_shape(image_size, mask_size)
    {
        return Err(DataError::MaskSize {
            image: image.to_owned(),
            image_size,
            mask: mask.to_owned(),
            mask_size,
        });
    }
    Ok(())
}

/// Equal aspect ratios: the mask's width, scaled to the image's height, is within a pixel of
/// the image's width (`|mw·ih − iw·mh| ≤ max(ih, mh)`).
fn same_shape((iw, ih): (u32, u32), (mw, mh): (u32, u32)) -> bool {
    let (iw, ih, mw, mh) = (u64::from(iw), u64::from(ih), u64::from(mw), u64::from(mh));
    (mw * ih).abs_diff(iw * mh) <= ih.max(mh)
}

/// The pixel ground truth of `samples` at `size × size` (see [`LoadedSample::mask`]), read in
/// parallel without decoding the images: what an evaluation that scores the images itself needs.
///
/// # Errors
/// [`DataError::MaskSize`] when a mask's size differs from its image's,
/// [`DataError::UnreadableMask`] when a mask cannot be decoded (the first in order);
/// [`DataError::InvalidSize`].
pub fn load_masks(
    samples: &[TestSample],
    size: usize,
    limits: &DecodeLimits,
) -> Result<Vec<Option<Vec<u8>>>, DataError> {
    check_size(size)?;
    samples
        .par_iter()
        .map(|s| sample_mask(s, size, limits))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Layout, scan};
    use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};

    fn limits() -> DecodeLimits {
        DecodeLimits::default()
    }

    fn write_train(dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir");
        let rgb = RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 200]));
        rgb.save(dir.join("a_rgb.png")).expect("save");
        let gray = GrayImage::from_fn(17, 23, |x, _| Luma([(x * 15) as u8]));
        gray.save(dir.join("b_gray.png")).expect("save");
        let rgba = RgbaImage::from_fn(20, 20, |_, _| Rgba([10, 20, 30, 0]));
        rgba.save(dir.join("c_rgba.png")).expect("save");
        let deep: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(8, 8, |x, _| Luma([(x as u16) * 8000 + 0x80]));
        deep.save(dir.join("d_16bit.png")).expect("save");
        rgb.save(dir.join("e_photo.jpg")).expect("save");
        std::fs::write(dir.join("x_text.png"), "not an image").expect("write");
        let mut png = Vec::new();
        rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        std::fs::write(dir.join("y_truncated.png"), &png[..png.len() / 2]).expect("write");
        std::fs::write(dir.join("z_empty.png"), b"").expect("write");
    }

    #[test]
    fn mixed_modes_load_and_bad_files_are_counted() {
        let t = tempfile::tempdir().expect("tempdir");
        let train = t.path().join("train");
        write_train(&train);
        let idx = scan(&Layout::Folder {
            train: train.clone(),
            test_good: None,
            test_defect: None,
            masks: None,
        })
        .expect("scan");
        assert_eq!(idx.train.len(), 8);
        let (images, report) = load_train(&idx, 16, &limits()).expect("load");
        assert_eq!(report.loaded, 5);
        assert_eq!(images.len(), 5);
        let skipped: Vec<_> = report
            .skipped
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(skipped, ["x_text.png", "y_truncated.png", "z_empty.png"]);
        for (path, why) in &report.skipped {
            assert!(
                why.contains(&path.display().to_string()),
                "reason names the file: {why}"
            );
        }
        for img in &images {
            assert_eq!(img.rgb.len(), 16 * 16 * 3);
            assert!(img.rgb.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        assert_eq!(images[0].name, "a_rgb.png");
        // Gray becomes three equal channels. The gray ramp is 15·x over 17 columns: column 9 of
        // 16 samples x = (9 + 0.5)·17/16 − 0.5 = 9.59375 (cv2 INTER_LINEAR), so 15·9.59375/255
        // (hand calculation; bilinear interpolation of a linear ramp is exact).
        let g = images[1].pixel(5, 9);
        assert!(g[0] == g[1] && g[1] == g[2], "{g:?}");
        assert!((g[0] - 0.564_338_24).abs() < 1e-6, "{g:?}");
        // Alpha is dropped, not composited: a transparent pixel keeps its colour.
        let c = images[2].pixel(3, 3);
        assert!((c[0] - 10.0 / 255.0).abs() < 1e-6 && (c[2] - 30.0 / 255.0).abs() < 1e-6);
        // 16-bit keeps the high byte (OpenCV): 0x0080 -> 0 at x = 0, 0x1FC0 -> 31 at x = 1 (rounding
        // v / 257 would give 0 and 32). Column 2 of 16 samples x = (2 + 0.5)·8/16 − 0.5 = 0.75,
        // so 0.75·31/255 = 0.0911765 with the high byte, 0.0941176 with rounding (by hand).
        assert_eq!(images[3].pixel(0, 0)[0], 0.0);
        let deep = images[3].pixel(4, 2)[0];
        assert!((deep - 0.091_176_47).abs() < 1e-6, "{deep}");
        // The official resize (cv2 INTER_LINEAR, half-pixel centres), checked against values
        // computed by hand: R = 6·x and G = 8·y are linear ramps, so the resized value at output
        // column c is 6·((c + 0.5)·40/16 − 0.5)/255 and at output row r 8·((r + 0.5)·30/16 − 0.5)/255
        // (no border clamping: positions stay within [0.75, 38.25] and [0.4375, 28.5625]).
        assert_eq!(images[0].rgb.len(), 16 * 16 * 3);
        for r in 0..16 {
            for c in 0..16 {
                let want = [
                    6.0 * ((c as f64 + 0.5) * 40.0 / 16.0 - 0.5) / 255.0,
                    8.0 * ((r as f64 + 0.5) * 30.0 / 16.0 - 0.5) / 255.0,
                    200.0 / 255.0,
                ];
                let got = images[0].pixel(r, c);
                for ch in 0..3 {
                    assert!(
                        (f64::from(got[ch]) - want[ch]).abs() < 1e-6,
                        "pixel ({r}, {c}) channel {ch}: {} vs {}",
                        got[ch],
                        want[ch]
                    );
                }
            }
        }
        // Spot values of the same formula (python3: 6*((7+0.5)*40/16-0.5)/255 = 0.42941176...).
        assert!((images[0].pixel(0, 7)[0] - 0.429_411_77).abs() < 1e-6);
        assert!((images[0].pixel(15, 0)[1] - 0.896_078_43).abs() < 1e-6);
    }

    #[test]
    fn no_readable_training_image_is_an_error() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::write(t.path().join("bad.png"), "nope").expect("write");
        let idx = DatasetIndex {
            train: vec![t.path().join("bad.png")],
            test: vec![],
        };
        let e = load_train(&idx, 8, &limits()).unwrap_err();
        assert!(matches!(e, DataError::NoTrainingImages { total: 1, .. }));
        assert!(e.to_string().contains("bad.png"), "{e}");
        assert!(matches!(
            load_train(&idx, 0, &limits()),
            Err(DataError::InvalidSize { .. })
        ));
    }

    #[test]
    fn test_set_with_masks_of_other_sizes() {
        let t = tempfile::tempdir().expect("tempdir");
        let c = t.path().join("widget");
        let img = RgbImage::from_pixel(64, 48, Rgb([90, 90, 90]));
        for d in [
            "train/good",
            "test/good",
            "test/crack",
            "ground_truth/crack",
        ] {
            std::fs::create_dir_all(c.join(d)).expect("mkdir");
        }
        img.save(c.join("train/good/000.png")).expect("save");
        img.save(c.join("test/good/000.png")).expect("save");
        img.save(c.join("test/crack/000.png")).expect("save");
        img.save(c.join("test/crack/001.png")).expect("save");
        // A mask of another shape than its image would be misplaced once both are resized.
        let square = GrayImage::from_fn(100, 100, |x, _| Luma([if x < 50 { 255 } else { 0 }]));
        square
            .save(c.join("ground_truth/crack/000_mask.png"))
            .expect("save");
        std::fs::write(c.join("ground_truth/crack/001_mask.png"), "broken").expect("write");
        let layout = Layout::MvTec {
            root: t.path().into(),
            category: "widget".into(),
        };
        let idx = scan(&layout).expect("scan");
        let e = load_test(&idx, 32, &limits()).unwrap_err();
        assert!(matches!(e, DataError::MaskSize { .. }), "{e}");
        assert!(e.to_string().contains("is 100×100 but its image"), "{e}");
        // At twice its image's resolution (same shape): resized as the official code does.
        let mask = GrayImage::from_fn(128, 96, |x, _| Luma([if x < 64 { 255 } else { 0 }]));
        mask.save(c.join("ground_truth/crack/000_mask.png"))
            .expect("save");
        let e = load_test(&idx, 32, &limits()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::UnreadableMask { .. }), "{e}");
        assert!(
            msg.contains("001_mask.png") && msg.contains("test/crack/001.png"),
            "{msg}"
        );

        mask.save(c.join("ground_truth/crack/001_mask.png"))
            .expect("save");
        let (samples, report) = load_test(&idx, 32, &limits()).expect("load");
        assert_eq!(report.loaded, 3);
        assert!(report.skipped.is_empty());
        let crack = &samples[0];
        assert!(crack.label);
        let m = crack.mask.as_ref().expect("mask");
        assert_eq!(m.len(), 32 * 32);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 16 * 32);
        assert_eq!(m[0], 1);
        assert_eq!(m[31], 0);
        let good = &samples[2];
        assert!(!good.label);
        assert_eq!(good.mask.as_deref(), Some(&vec![0u8; 32 * 32][..]));
    }
}
