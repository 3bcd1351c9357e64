//! Robust image decoding that yields the same 8-bit RGB pixels the official RD++ code sees.
//!
//! The official implementation loads images with `cv2.imread(path)` (flag `IMREAD_COLOR`) and
//! then converts BGR to RGB. [`decode_rgb8`] reproduces that result:
//!
//! * the format is detected from the file **content**, never from the extension;
//! * the EXIF orientation is applied (a phone picture tagged "rotate 90°" comes out upright,
//!   with width and height swapped);
//! * alpha is **dropped**, not composited over a background (a fully transparent pixel keeps
//!   its stored colour), exactly like OpenCV's `IMREAD_COLOR`;
//! * grayscale and palette images are expanded to three equal / looked-up channels;
//! * 16-bit images are reduced to 8 bits the way OpenCV does it, which depends on the codec
//!   (see [`sixteen_to_eight`]);
//! * CMYK / YCCK JPEGs (Adobe convention, as written by Photoshop and Pillow) come out as RGB.
//!
//! Bad input never panics: every failure is an [`ImageError`] that names the file and says in
//! plain words what is wrong, so a quality engineer reading a batch report knows which file to
//! look at and why. Image dimensions are checked against [`DecodeLimits`] from the header alone,
//! before any pixel buffer is allocated, so a "decompression bomb" (a tiny file claiming to be
//! 100000×100000) is refused instantly.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// Safety limits applied while decoding untrusted image files.
///
/// Both limits are checked from the image header, before pixel data is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted image, in pixels (width × height).
    pub max_pixels: u64,
    /// Largest amount of memory the decoder may use, in bytes: the estimated peak of the
    /// decoded buffer plus the 8-bit RGB result, the decoder's internal buffers, and (for
    /// [`read_rgb8`]) the size of the file itself.
    pub max_alloc_bytes: u64,
}

impl Default for DecodeLimits {
    /// 50 megapixels and 512 MiB: comfortably above industrial inspection cameras
    /// (MVTec AD images are at most 1024×1024), far below what would exhaust a workstation.
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Why an image file could not be turned into an RGB image.
///
/// Every variant carries `file`, the name the caller gave for the image (usually its path), so
/// that the message alone identifies the offending file. (The field is not called `source`
/// because `thiserror` reserves that name for the underlying error.)
#[derive(thiserror::Error, Debug)]
pub enum ImageError {
    /// The file has zero bytes (e.g. an interrupted copy or a failed camera write).
    #[error("{file}: the file is empty (0 bytes)")]
    Empty {
        /// The file, as named by the caller.
        file: String,
    },

    /// The content is not an image format this build can read (text, PDF, AVIF, …).
    #[error(
        "{file}: not a supported image file (expected PNG, JPEG, BMP, WebP, TIFF or GIF content; \
         the file extension is not used to decide)"
    )]
    UnknownFormat {
        /// The file, as named by the caller.
        file: String,
    },

    /// The format is recognised but this particular file uses a feature the decoder lacks
    /// (an exotic colour type, arithmetic-coded JPEG, …).
    #[error("{file}: the image uses a feature that is not supported: {detail}")]
    Unsupported {
        /// The file, as named by the caller.
        file: String,
        /// The decoder's description of the missing feature.
        detail: String,
    },

    /// The header announces more pixels than [`DecodeLimits::max_pixels`].
    #[error(
        "{file}: image is {width}×{height} ({}), over the limit of {}",
        fmt_pixels(u64::from(*.width) * u64::from(*.height)),
        fmt_pixels(*.max_pixels)
    )]
    TooLarge {
        /// The file, as named by the caller.
        file: String,
        /// Width announced by the header (before EXIF rotation).
        width: u32,
        /// Height announced by the header (before EXIF rotation).
        height: u32,
        /// The limit that was exceeded.
        max_pixels: u64,
    },

    /// Decoding would need more memory than [`DecodeLimits::max_alloc_bytes`].
    #[error("{file}: {}", fmt_memory(*.needed_bytes, *.max_alloc_bytes))]
    OverMemoryLimit {
        /// The file, as named by the caller.
        file: String,
        /// Estimated need, when known up front (`None` when a decoder hit the limit mid-way).
        needed_bytes: Option<u64>,
        /// The limit that was exceeded.
        max_alloc_bytes: u64,
    },

    /// The file is an image but its data is damaged: truncated, bad checksum, invalid stream.
    #[error("{file}: the image data is damaged or incomplete ({detail})")]
    Corrupt {
        /// The file, as named by the caller.
        file: String,
        /// What the decoder found wrong.
        detail: String,
    },

    /// The file could not be read from disk (missing, permission denied, …).
    #[error("{file}: cannot read the file: {error}")]
    Io {
        /// The file, as named by the caller.
        file: String,
        /// The operating-system error.
        #[source]
        error: std::io::Error,
    },
}

impl ImageError {
    /// The file the error is about, as named by the caller.
    pub fn file(&self) -> &str {
        match self {
            Self::Empty { file }
            | Self::UnknownFormat { file }
            | Self::Unsupported { file, .. }
            | Self::TooLarge { file, .. }
            | Self::OverMemoryLimit { file, .. }
            | Self::Corrupt { file, .. }
            | Self::Io { file, .. } => file,
        }
    }
}

/// "1600 Mpx" for big counts, "0.3 Mpx" for medium ones, "120 pixels" for tiny test limits.
fn fmt_pixels(pixels: u64) -> String {
    // Lossy u64 -> f64 is fine: this is only for display.
    let mpx = pixels as f64 / 1e6;
    if pixels >= 10_000_000 {
        format!("{mpx:.0} Mpx")
    } else if pixels >= 100_000 {
        format!("{mpx:.1} Mpx")
    } else {
        format!("{pixels} pixels")
    }
}

fn fmt_memory(needed: Option<u64>, max: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let max_mib = max as f64 / MIB;
    match needed {
        Some(n) => format!(
            "decoding needs about {:.0} MiB of memory, over the limit of {max_mib:.0} MiB",
            n as f64 / MIB
        ),
        None => format!("decoding exceeded the memory limit of {max_mib:.0} MiB"),
    }
}

/// Decodes an in-memory image file into 8-bit RGB, as `cv2.imread` + BGR→RGB would.
///
/// `source` names the image in error messages (a path, an upload's file name, …).
/// The header dimensions are checked against `limits` before the pixels are decoded.
///
/// # Errors
/// [`ImageError::Empty`], [`ImageError::UnknownFormat`], [`ImageError::Unsupported`],
/// [`ImageError::TooLarge`], [`ImageError::OverMemoryLimit`] or [`ImageError::Corrupt`];
/// never panics on malformed input.
pub fn decode_rgb8(
    bytes: &[u8],
    source: &str,
    limits: &DecodeLimits,
) -> Result<RgbImage, ImageError> {
    let file = || source.to_owned();
    if bytes.is_empty() {
        return Err(ImageError::Empty { file: file() });
    }
    // Content sniffing (magic bytes) only: a PNG saved as ".jpg" must still decode, and a text
    // file named ".png" must be reported as "not an image", not as a corrupt PNG.
    let format =
        image::guess_format(bytes).map_err(|_| ImageError::UnknownFormat { file: file() })?;

    // `Limits` is non-exhaustive: start from the defaults and override what we control. The
    // decoders that support it (PNG, TIFF, …) then bound their internal buffers too.
    let mut image_limits = Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits);

    // Building the decoder parses only the header, so the checks below run before any
    // pixel buffer exists.
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| map_decode_error(source, e, limits))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt {
            file: file(),
            detail: format!("the header gives an empty size {width}×{height}"),
        });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(ImageError::TooLarge {
            file: file(),
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    // Peak memory: the decoder's native buffer (16-bit, alpha, …) and the RGB8 copy coexist
    // during conversion.
    let needed = decoder
        .total_bytes()
        .saturating_add(pixels.saturating_mul(3));
    if needed > limits.max_alloc_bytes {
        return Err(ImageError::OverMemoryLimit {
            file: file(),
            needed_bytes: Some(needed),
            max_alloc_bytes: limits.max_alloc_bytes,
        });
    }

    // Like OpenCV, a damaged EXIF block is ignored rather than failing an otherwise good image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let decoded =
        DynamicImage::from_decoder(decoder).map_err(|e| map_decode_error(source, e, limits))?;
    let rgb = to_rgb8_like_opencv(decoded, format).ok_or_else(|| ImageError::Corrupt {
        file: file(),
        detail: "the decoder returned an inconsistent pixel buffer".to_owned(),
    })?;

    if orientation == Orientation::NoTransforms {
        return Ok(rgb);
    }
    // Orient after the 8-bit conversion: cheaper than rotating a 16-bit/alpha buffer, and
    // the result is identical because the conversion is per pixel.
    let mut oriented = DynamicImage::ImageRgb8(rgb);
    oriented.apply_orientation(orientation);
    Ok(oriented.into_rgb8())
}

/// Reads and decodes an image file into 8-bit RGB, as `cv2.imread(path)` + BGR→RGB would.
///
/// Error messages name the file by `path` as given. A file larger than
/// [`DecodeLimits::max_alloc_bytes`] is refused before it is read, since it is held in memory.
///
/// # Errors
/// [`ImageError::Io`] when the file cannot be read, otherwise as [`decode_rgb8`].
#[cfg(feature = "std")]
pub fn read_rgb8(path: &std::path::Path, limits: &DecodeLimits) -> Result<RgbImage, ImageError> {
    let file = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|error| ImageError::Io {
            file: file.clone(),
            error,
        })?
        .len();
    if size > limits.max_alloc_bytes {
        return Err(ImageError::OverMemoryLimit {
            file,
            needed_bytes: Some(size),
            max_alloc_bytes: limits.max_alloc_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|error| ImageError::Io {
        file: file.clone(),
        error,
    })?;
    decode_rgb8(&bytes, &file, limits)
}

/// Translates the `image` crate's errors into our user-facing variants.
fn map_decode_error(source: &str, err: image::ImageError, limits: &DecodeLimits) -> ImageError {
    use image::error::{ImageError as E, UnsupportedErrorKind};
    let file = source.to_owned();
    match err {
        E::Unsupported(e) => match e.kind() {
            // The container itself is not readable by this build (e.g. AVIF, not enabled).
            UnsupportedErrorKind::Format(_) => ImageError::UnknownFormat { file },
            _ => ImageError::Unsupported {
                file,
                detail: e.to_string(),
            },
        },
        E::Limits(_) => ImageError::OverMemoryLimit {
            file,
            needed_bytes: None,
            max_alloc_bytes: limits.max_alloc_bytes,
        },
        // Reading from memory cannot fail for OS reasons: an I/O error here means the data
        // ran out (a truncated download or copy) or is otherwise unreadable.
        E::IoError(e) => {
            let detail = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "the file ends too early; it was probably truncated".to_owned()
            } else {
                e.to_string()
            };
            ImageError::Corrupt { file, detail }
        }
        E::Decoding(e) => ImageError::Corrupt {
            file,
            detail: e.to_string(),
        },
        E::Parameter(e) => ImageError::Corrupt {
            file,
            detail: e.to_string(),
        },
        E::Encoding(e) => ImageError::Corrupt {
            file,
            detail: e.to_string(),
        },
    }
}

/// How OpenCV's `IMREAD_COLOR` reduces a 16-bit sample to 8 bits for a given codec.
///
/// Measured with opencv-python 5.0 (see `tests/data/make_images.py`), and consistent with the
/// OpenCV sources:
/// * PNG (libpng `png_set_strip_16`) and grayscale TIFF keep the **high byte**: `v >> 8`
///   (0x01FF → 1, 0x80FF → 128);
/// * colour TIFF is **rounded**: `round(v / 257)` (0x01FF → 2, 0x00FF → 1).
///
/// The enabled formats other than PNG and TIFF have no 16-bit variant.
fn sixteen_to_eight(format: ImageFormat, color: bool) -> fn(u16) -> u8 {
    fn high_byte(v: u16) -> u8 {
        // `v >> 8` is at most 255, so the cast is exact.
        (v >> 8) as u8
    }
    fn rounded(v: u16) -> u8 {
        // (v + 128) / 257 is round(v / 257) for all u16 (at most 255, exact cast).
        ((u32::from(v) + 128) / 257) as u8
    }
    if format == ImageFormat::Tiff && color {
        rounded
    } else {
        high_byte
    }
}

/// Converts any decoded image to 8-bit RGB the way OpenCV's `IMREAD_COLOR` does:
/// gray is replicated, alpha is dropped (not composited), 16-bit per [`sixteen_to_eight`],
/// float is clamped to [0, 1] and rounded.
///
/// Returns `None` only if a decoder produced a buffer whose length disagrees with its size.
fn to_rgb8_like_opencv(image: DynamicImage, format: ImageFormat) -> Option<RgbImage> {
    let (w, h) = (image.width(), image.height());
    let gray16 = sixteen_to_eight(format, false);
    let color16 = sixteen_to_eight(format, true);
    let float = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8; // NaN clamps to NaN -> 0
    match image {
        DynamicImage::ImageRgb8(img) => Some(img),
        DynamicImage::ImageLuma8(img) => expand(w, h, img.as_raw(), 1, |v| v),
        DynamicImage::ImageLumaA8(img) => expand(w, h, img.as_raw(), 2, |v| v),
        DynamicImage::ImageRgba8(img) => expand(w, h, img.as_raw(), 4, |v| v),
        DynamicImage::ImageLuma16(img) => expand(w, h, img.as_raw(), 1, gray16),
        DynamicImage::ImageLumaA16(img) => expand(w, h, img.as_raw(), 2, gray16),
        DynamicImage::ImageRgb16(img) => expand(w, h, img.as_raw(), 3, color16),
        DynamicImage::ImageRgba16(img) => expand(w, h, img.as_raw(), 4, color16),
        DynamicImage::ImageRgb32F(img) => expand(w, h, img.as_raw(), 3, float),
        DynamicImage::ImageRgba32F(img) => expand(w, h, img.as_raw(), 4, float),
        // `DynamicImage` is non-exhaustive; a future layout falls back to the crate's own
        // conversion (which composites nothing but may round 16-bit differently).
        other => Some(other.into_rgb8()),
    }
}

/// Builds an RGB8 buffer from interleaved samples with `channels` per pixel: one or two
/// channels (gray, gray+alpha) are replicated, three or four (RGB, RGBA) keep the first three.
fn expand<T: Copy>(
    width: u32,
    height: u32,
    samples: &[T],
    channels: usize,
    to8: impl Fn(T) -> u8,
) -> Option<RgbImage> {
    let mut out = Vec::with_capacity(samples.len() / channels * 3);
    for px in samples.chunks_exact(channels) {
        if channels < 3 {
            let g = to8(px[0]);
            out.extend_from_slice(&[g, g, g]);
        } else {
            out.extend_from_slice(&[to8(px[0]), to8(px[1]), to8(px[2])]);
        }
    }
    RgbImage::from_raw(width, height, out)
}

#[cfg(test)]
mod tests {
    //! Expected pixel values come from `cv2.imread(path)[:, :, ::-1]` with opencv-python 5.0.0
    //! on the committed files (printed by `tests/data/make_images.py`).
    use super::*;

    /// `tests/data/` of this crate, from the environment `cargo test` sets (a build cache shared
    /// between checkouts must not point at another checkout), else the compile-time value.
    fn data_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || env!("CARGO_MANIFEST_DIR").into(),
                std::path::PathBuf::from,
            )
            .join("tests/data")
    }

    fn bytes(name: &str) -> Vec<u8> {
        let path = data_dir().join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("test file {}: {e}", path.display()))
    }

    fn decode(name: &str) -> Result<RgbImage, ImageError> {
        decode_rgb8(&bytes(name), name, &DecodeLimits::default())
    }

    fn ok(name: &str) -> RgbImage {
        decode(name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn px(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
        img.get_pixel(x, y).0
    }

    /// JPEG is lossy: compare each channel within `tol`.
    fn assert_near(actual: [u8; 3], expected: [u8; 3], tol: u8, what: &str) {
        let close = actual
            .iter()
            .zip(expected)
            .all(|(&a, e)| a.abs_diff(e) <= tol);
        assert!(
            close,
            "{what}: got {actual:?}, expected {expected:?} ± {tol}"
        );
    }

    fn row(img: &RgbImage) -> Vec<[u8; 3]> {
        img.pixels().map(|p| p.0).collect()
    }

    #[test]
    fn rgb8_png_is_unchanged() {
        let img = ok("rgb8.png");
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(
            row(&img),
            vec![
                [255, 0, 0],
                [0, 255, 0],
                [0, 0, 255],
                [0, 0, 0],
                [128, 128, 128],
                [255, 255, 255]
            ]
        );
    }

    #[test]
    fn gray16_png_keeps_high_byte_like_libpng_strip16() {
        // Samples 0x0000, 0x01FF, 0x80FF, 0xFFFF; rounding would give 2 and 129 instead.
        let img = ok("gray16.png");
        assert_eq!(img.dimensions(), (4, 1));
        assert_eq!(
            row(&img),
            vec![[0, 0, 0], [1, 1, 1], [128, 128, 128], [255, 255, 255]]
        );
    }

    #[test]
    fn rgb16_png_keeps_high_byte() {
        // (0x1234, 0x80FF, 0xFFFF), (0x00FF, 0x0100, 0xFEFF)
        let img = ok("rgb16.png");
        assert_eq!(row(&img), vec![[18, 128, 255], [0, 1, 254]]);
    }

    #[test]
    fn rgb16_tiff_rounds_but_gray16_tiff_keeps_high_byte() {
        // (0x01FF, 0x80FF, 0xFFFF), (0x00FF, 0x0100, 0x7F80): OpenCV rounds colour TIFF.
        let img = ok("rgb16.tif");
        assert_eq!(row(&img), vec![[2, 128, 255], [1, 1, 127]]);
        let img = ok("gray16.tif");
        assert_eq!(
            row(&img),
            vec![[0, 0, 0], [1, 1, 1], [128, 128, 128], [255, 255, 255]]
        );
    }

    #[test]
    fn rgba_png_drops_alpha_without_compositing() {
        // Alphas 0, 255, 128, 7: colours must be the stored ones, not blended with anything.
        let img = ok("rgba.png");
        assert_eq!(
            row(&img),
            vec![[10, 20, 30], [200, 100, 50], [1, 2, 3], [255, 255, 255]]
        );
    }

    #[test]
    fn palette_png_with_transparency_expands_to_palette_colours() {
        // 4-bit palette red/green/blue, tRNS makes green fully transparent: still green.
        let img = ok("palette.png");
        assert_eq!(row(&img), vec![[255, 0, 0], [0, 255, 0], [0, 0, 255]]);
    }

    #[test]
    fn gray_jpeg_becomes_three_equal_channels() {
        let img = ok("gray.jpg");
        assert_eq!(img.dimensions(), (16, 16));
        for (x, y, v) in [(4, 4, 40), (11, 4, 200), (4, 11, 40), (11, 11, 200)] {
            let p = px(&img, x, y);
            assert_eq!(p[0], p[1], "gray must be replicated");
            assert_eq!(p[1], p[2], "gray must be replicated");
            assert_near(p, [v, v, v], 2, &format!("gray.jpg ({x},{y})"));
        }
    }

    #[test]
    fn cmyk_jpeg_has_correct_rgb_colours() {
        // Quadrant inks (C,M,Y,K): (0,255,255,0) red, (255,0,255,0) green, (0,0,0,128) grey,
        // (0,0,255,64) dark yellow. cv2 gives [255,1,1] [1,255,1] [127,127,127] [191,191,1].
        let img = ok("cmyk.jpg");
        assert_eq!(img.dimensions(), (32, 32));
        assert_near(px(&img, 4, 4), [255, 1, 1], 4, "red quadrant");
        assert_near(px(&img, 27, 4), [1, 255, 1], 4, "green quadrant");
        assert_near(px(&img, 4, 27), [127, 127, 127], 4, "grey quadrant");
        assert_near(px(&img, 27, 27), [191, 191, 1], 4, "dark yellow quadrant");
    }

    #[test]
    fn exif_orientation_6_is_applied() {
        // Stored 32×16 with corners red (TL), green (TR), blue (BL), yellow (BR); orientation 6
        // = rotate 90° clockwise, so the displayed image is 16×32 with blue TL, red TR,
        // yellow BL, green BR (cv2: [0,0,254] [254,0,0] [255,255,0] [0,255,1]).
        let img = ok("exif_rot6.jpg");
        assert_eq!(img.dimensions(), (16, 32));
        assert_near(px(&img, 4, 4), [0, 0, 254], 4, "top-left");
        assert_near(px(&img, 11, 4), [254, 0, 0], 4, "top-right");
        assert_near(px(&img, 4, 27), [255, 255, 0], 4, "bottom-left");
        assert_near(px(&img, 11, 27), [0, 255, 1], 4, "bottom-right");
        assert_near(px(&img, 8, 16), [128, 128, 128], 4, "centre");
    }

    #[test]
    fn format_is_detected_from_content_not_extension() {
        // A PNG handed over under a JPEG name still decodes.
        let img = decode_rgb8(&bytes("rgb8.png"), "photo.jpg", &DecodeLimits::default());
        assert_eq!(img.map(|i| i.dimensions()).ok(), Some((3, 2)));
    }

    #[test]
    fn truncated_png_is_corrupt() {
        let err = decode("truncated.png").expect_err("must fail");
        assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("truncated.png: "), "{msg}");
    }

    #[test]
    fn empty_file_is_empty() {
        let err = decode("empty.png").expect_err("must fail");
        assert!(matches!(err, ImageError::Empty { .. }), "{err:?}");
        assert_eq!(err.to_string(), "empty.png: the file is empty (0 bytes)");
    }

    #[test]
    fn text_named_png_is_unknown_format() {
        let err = decode("not_an_image.png").expect_err("must fail");
        assert!(matches!(err, ImageError::UnknownFormat { .. }), "{err:?}");
        assert_eq!(err.file(), "not_an_image.png");
    }

    #[test]
    fn huge_header_is_refused_before_decoding() {
        let start = std::time::Instant::now();
        let err = decode("huge_header.png").expect_err("must fail");
        match &err {
            ImageError::TooLarge {
                width,
                height,
                max_pixels,
                ..
            } => {
                assert_eq!((*width, *height), (100_000, 100_000));
                assert_eq!(*max_pixels, 50_000_000);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "huge_header.png: image is 100000×100000 (10000 Mpx), over the limit of 50 Mpx"
        );
        // A 30 GB allocation or a full decode would take far longer than this.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn small_limits_are_enforced() {
        let tiny = DecodeLimits {
            max_pixels: 5,
            ..DecodeLimits::default()
        };
        let err = decode_rgb8(&bytes("rgb8.png"), "rgb8.png", &tiny).expect_err("6 px > 5");
        assert_eq!(
            err.to_string(),
            "rgb8.png: image is 3×2 (6 pixels), over the limit of 5 pixels"
        );

        let no_memory = DecodeLimits {
            max_alloc_bytes: 10,
            ..DecodeLimits::default()
        };
        let err = decode_rgb8(&bytes("rgb8.png"), "rgb8.png", &no_memory).expect_err("too big");
        assert!(matches!(err, ImageError::OverMemoryLimit { .. }), "{err:?}");
    }

    #[test]
    fn garbage_after_a_valid_signature_never_panics() {
        // Valid magic bytes followed by junk, and every prefix of a real file.
        let png = bytes("rgb8.png");
        let jpg = bytes("exif_rot6.jpg");
        for data in [&png, &jpg] {
            for len in 1..data.len() {
                let _ = decode_rgb8(&data[..len], "prefix", &DecodeLimits::default());
            }
        }
        let mut junk = b"\x89PNG\r\n\x1a\n".to_vec();
        junk.extend(std::iter::repeat_n(0xA5, 64));
        let err = decode_rgb8(&junk, "junk.png", &DecodeLimits::default()).expect_err("junk");
        assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn tiff_rounding_helper_is_exact() {
        let round = sixteen_to_eight(ImageFormat::Tiff, true);
        for v in 0..=u16::MAX {
            let expected = (f64::from(v) / 257.0).round() as u8;
            assert_eq!(round(v), expected, "v = {v}");
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn read_rgb8_reads_files_and_reports_missing_ones() {
        let path = data_dir().join("rgb8.png");
        let img = read_rgb8(&path, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(img.dimensions(), (3, 2));

        let missing = data_dir().join("does_not_exist.png");
        let err = read_rgb8(&missing, &DecodeLimits::default()).expect_err("missing");
        assert!(matches!(err, ImageError::Io { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("does_not_exist.png: cannot read the file")
        );
    }
}
