//! The crate's error type.

use std::path::PathBuf;

use rdpp_inference::image_io::ImageError;

/// Everything that can go wrong while scanning, loading or generating a data set.
///
/// Every variant that concerns a file or folder names it, so the message alone tells the user
/// what to fix.
#[derive(thiserror::Error, Debug)]
pub enum DataError {
    /// A folder the layout requires does not exist (or is not a folder).
    #[error("{what} not found: {} (expected a folder)", path.display())]
    MissingDir {
        /// What the folder is for ("training folder", "test folder", …).
        what: &'static str,
        /// The folder that was looked for.
        path: PathBuf,
    },

    /// A folder exists but holds no image files.
    #[error("{what} {} holds no image files (looked for {})", path.display(), crate::IMAGE_EXTENSIONS.join(", "))]
    EmptyDir {
        /// What the folder is for.
        what: &'static str,
        /// The empty folder.
        path: PathBuf,
    },

    /// The MVTec AD category folder does not exist under the root.
    #[error(
        "unknown MVTec AD category '{category}': {} does not exist{}",
        root.join(category).display(),
        fmt_available(available)
    )]
    UnknownCategory {
        /// The data set root.
        root: PathBuf,
        /// The category asked for.
        category: String,
        /// Categories found under the root (folders with a `train/` sub-folder), sorted.
        available: Vec<String>,
    },

    /// The BTAD product folder does not exist under the root.
    #[error(
        "unknown BTAD product '{product}': {} does not exist{}",
        root.join(product).display(),
        fmt_available(available)
    )]
    UnknownProduct {
        /// The data set root.
        root: PathBuf,
        /// The product asked for ("01", "02" or "03" in the published data set).
        product: String,
        /// Products found under the root (folders with a `train/` sub-folder), sorted.
        available: Vec<String>,
    },

    /// An anomalous test image has no ground-truth mask where the layout says it must be.
    #[error(
        "the anomalous test image {} has no ground-truth mask: expected {}",
        image.display(),
        expected.display()
    )]
    MissingMask {
        /// The anomalous test image.
        image: PathBuf,
        /// Where its mask was looked for (the first candidate name).
        expected: PathBuf,
    },

    /// A masks folder was given, but it holds the mask of no defective image (its files follow
    /// another naming convention).
    #[error(
        "no defective image has a mask in {}: for {} it looked for {} (or <name>_mask.png); name masks after their images",
        masks.display(),
        image.display(),
        expected.display()
    )]
    NoMasksMatched {
        /// The masks folder.
        masks: PathBuf,
        /// The first defective image.
        image: PathBuf,
        /// The first file name looked for.
        expected: PathBuf,
    },

    /// A mask whose shape (aspect ratio) differs from its image's: resizing both to the model's
    /// square input would misplace the defect.
    #[error(
        "the mask {} is {}×{} but its image {} is {}×{}; masks must have their image's shape (any resolution)",
        mask.display(),
        mask_size.0,
        mask_size.1,
        image.display(),
        image_size.0,
        image_size.1
    )]
    MaskSize {
        /// The image.
        image: PathBuf,
        /// Its width and height.
        image_size: (u32, u32),
        /// The mask.
        mask: PathBuf,
        /// Its width and height.
        mask_size: (u32, u32),
    },

    /// The same file is labelled both normal and defective.
    #[error(
        "{} (normal) and {} (defect) are the same image: a file can't be both; fix the labels folders",
        good.display(),
        defect.display()
    )]
    OverlappingLabels {
        /// The file in the normal folder.
        good: PathBuf,
        /// The same file in the defect folder.
        defect: PathBuf,
    },

    /// A ground-truth mask exists but cannot be decoded.
    #[error("cannot read the ground-truth mask of {}: {source}", image.display())]
    UnreadableMask {
        /// The test image the mask belongs to.
        image: PathBuf,
        /// The decoding error, which names the mask file.
        #[source]
        source: ImageError,
    },

    /// None of the training images could be decoded.
    #[error("none of the {total} training images could be read (first failure: {first})")]
    NoTrainingImages {
        /// How many training files were tried.
        total: usize,
        /// The first failure, with its file name.
        first: String,
    },

    /// An image size that the operation cannot work with.
    #[error("invalid size {size}: {reason}")]
    InvalidSize {
        /// The size given.
        size: usize,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A pixel buffer whose length does not match the size it is said to have.
    #[error("pixel buffer of {len} values does not match a {size}×{size}×3 image")]
    BufferSize {
        /// The buffer's length.
        len: usize,
        /// The image side it should have.
        size: usize,
    },

    /// A texture photo too small to cut windows from.
    #[error("the texture photo is {width}×{height}; at least {min}×{min} pixels are needed")]
    PhotoTooSmall {
        /// Photo width.
        width: u32,
        /// Photo height.
        height: u32,
        /// The smallest accepted side.
        min: u32,
    },

    /// The generator's output folder already holds files (nothing is overwritten).
    #[error("{} already exists and is not empty; choose another root or category, or remove it", path.display())]
    OutputExists {
        /// The category folder.
        path: PathBuf,
    },

    /// A file or folder operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// Writing a generated image failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
}

fn fmt_available(available: &[String]) -> String {
    if available.is_empty() {
        " (no data set folders with a train/ sub-folder were found there)".to_owned()
    } else {
        format!(" (found: {})", available.join(", "))
    }
}

impl DataError {
    /// `Io` error for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
