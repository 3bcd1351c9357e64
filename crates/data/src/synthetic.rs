//! A synthetic anomaly-detection data set in the MVTec AD layout, for tests and demos without
//! the real data sets.
//!
//! [`generate`] writes `<root>/<category>/train/good/000.png…`, `test/good/…`,
//! `test/<defect>/…` and `ground_truth/<defect>/<name>_mask.png` (0/255), so that
//! [`Layout::MvTec`] scans it like MVTec AD. Two procedural categories:
//!
//! * [`SyntheticKind::Texture`]: a woven fabric (two interlaced thread directions at a slightly
//!   jittered angle and phase, per-image colour jitter, smooth value noise, fine grain);
//! * [`SyntheticKind::Object`]: a shaded blue disc with a yellow ring-and-bar mark on a light
//!   background, with small random shifts, size and rotation changes.
//!
//! [`generate_from_texture`] does the same with random windows of a real texture photo (for
//! example scikit-image's CC0 `brick.png`, `grass.png` or `gravel.png`, supplied by the user).
//!
//! Defects ([`DefectKind`]): a thin bright or dark curved scratch, a dark elliptical hole, a
//! translucent coloured stain, and a cut-paste (a square patch of the same image, rotated or
//! transposed, pasted elsewhere). Blending weights below 0.5 are dropped (the defect gets a
//! hard, antialiasing-free edge), so the mask is exactly "blend weight ≥ 0.5": every pixel
//! outside the mask is byte-identical to the defect-free image. A defect drawn where it would
//! hardly show (e.g. a patch of flat background pasted on flat background) is redrawn, up to
//! 24 times, from the same random stream.
//!
//! Everything is drawn from ChaCha8 streams derived from `seed` and the file's split and index
//! ([`crate::rng::seeded`]), so the same spec writes byte-identical files, in any thread order.

use std::path::{Path, PathBuf};

use image::{GrayImage, RgbImage};
use rand_core::RngCore;
use rayon::prelude::*;
use rdpp_model::preprocess::resize_rgb_u8;

use crate::DataError;
use crate::layout::Layout;
use crate::rng::{below, seeded, uniform, unit};

/// The procedural image family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticKind {
    /// A woven fabric texture.
    Texture,
    /// A disc with a logo-like mark on a plain background.
    Object,
}

impl SyntheticKind {
    /// The default category folder name: `synthetic_texture` or `synthetic_object`.
    pub fn default_category(self) -> &'static str {
        match self {
            Self::Texture => "synthetic_texture",
            Self::Object => "synthetic_object",
        }
    }
}

/// A defect type; its [`name`](DefectKind::name) is the test and ground-truth folder name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefectKind {
    /// A thin bright or dark curved line.
    Scratch,
    /// A dark ellipse.
    Hole,
    /// A translucent coloured blob.
    Stain,
    /// A patch of the image, rotated or transposed, pasted elsewhere.
    CutPaste,
}

impl DefectKind {
    /// All defect types, in folder order.
    pub const ALL: [DefectKind; 4] = [Self::CutPaste, Self::Hole, Self::Scratch, Self::Stain];

    /// The folder name: `scratch`, `hole`, `stain` or `cut_paste`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scratch => "scratch",
            Self::Hole => "hole",
            Self::Stain => "stain",
            Self::CutPaste => "cut_paste",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// The procedural image family (not used by [`generate_from_texture`], where the photo
    /// replaces it).
    pub kind: SyntheticKind,
    /// The category folder written under the root.
    pub category: String,
    /// Normal training images.
    pub n_train: usize,
    /// Normal test images.
    pub n_test_good: usize,
    /// Anomalous test images PER defect type.
    pub n_test_defect: usize,
    /// Defect types to generate (folder per type).
    pub defects: Vec<DefectKind>,
    /// Image side in pixels (at least 32).
    pub size: u32,
    /// Seed of every random draw.
    pub seed: u64,
}

impl SyntheticSpec {
    /// A small default data set of `kind`: 20 training images, 5 normal and 3 × 4 anomalous
    /// test images, 256 × 256, all four defect types, category [`SyntheticKind::default_category`].
    pub fn new(kind: SyntheticKind, seed: u64) -> Self {
        Self {
            kind,
            category: kind.default_category().to_owned(),
            n_train: 20,
            n_test_good: 5,
            n_test_defect: 3,
            defects: DefectKind::ALL.to_vec(),
            size: 256,
            seed,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedDataset {
    /// The layout to scan it with.
    pub layout: Layout,
    /// The category folder.
    pub dir: PathBuf,
    /// Every file written, sorted.
    pub files: Vec<PathBuf>,
}

/// Smallest accepted image side.
pub const MIN_SIZE: u32 = 32;
/// Smallest accepted side of a texture photo.
pub const MIN_PHOTO_SIDE: u32 = 16;

/// Writes a synthetic data set of `spec.kind` under `root` (see the module docs).
///
/// # Errors
/// [`DataError::InvalidSize`] for a size under [`MIN_SIZE`]; [`DataError::OutputExists`] when
/// the category folder already holds files (nothing is overwritten); [`DataError::Io`] /
/// [`DataError::Write`] when writing fails.
pub fn generate(root: &Path, spec: &SyntheticSpec) -> Result<GeneratedDataset, DataError> {
    let source = match spec.kind {
        SyntheticKind::Texture => Source::Texture,
        SyntheticKind::Object => Source::Object,
    };
    write_dataset(root, spec, &source)
}

/// Like [`generate`], with random square windows of `photo` instead of a procedural image:
/// the window side is half the photo's shorter side (at least `min(size, shorter side)`),
/// resized to `spec.size` with the official OpenCV-exact resize. `spec.kind` is not used.
///
/// # Errors
/// As [`generate`], and [`DataError::PhotoTooSmall`] for a photo under [`MIN_PHOTO_SIDE`].
pub fn generate_from_texture(
    root: &Path,
    photo: &RgbImage,
    spec: &SyntheticSpec,
) -> Result<GeneratedDataset, DataError> {
    let (w, h) = photo.dimensions();
    if w.min(h) < MIN_PHOTO_SIDE {
        return Err(DataError::PhotoTooSmall {
            width: w,
            height: h,
            min: MIN_PHOTO_SIDE,
        });
    }
    write_dataset(root, spec, &Source::Photo(photo))
}

// ----------------------------------------------------------------------------------------------
// Rendering.

enum Source<'a> {
    Texture,
    Object,
    Photo(&'a RgbImage),
}

/// Where defects go: anywhere away from the border, or on the object.
#[derive(Clone, Copy)]
enum Placement {
    Anywhere,
    Disc { cx: f64, cy: f64, r: f64 },
}

/// An RGB f32 image, interleaved, values nominally in [0, 1].
#[derive(Clone)]
struct Canvas {
    size: usize,
    px: Vec<f32>,
}

impl Canvas {
    fn new(size: usize) -> Self {
        Self {
            size,
            px: vec![0.0; size * size * 3],
        }
    }
    fn get(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.size + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
    fn set(&mut self, x: usize, y: usize, c: [f32; 3]) {
        let i = (y * self.size + x) * 3;
        self.px[i..i + 3].copy_from_slice(&c);
    }
    /// Blends `c` into pixel `(x, y)` with weight `a`.
    fn blend(&mut self, x: usize, y: usize, c: [f32; 3], a: f32) {
        let old = self.get(x, y);
        self.set(x, y, std::array::from_fn(|k| old[k] * (1.0 - a) + c[k] * a));
    }
    fn to_u8(&self) -> Vec<u8> {
        self.px.iter().map(|&v| quantize(v)).collect()
    }
}

fn quantize(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn smoothstep(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// Smooth value noise: random values on a square lattice of `cell` pixels, interpolated with
/// smoothstep weights; returns a per-pixel field in [-1, 1].
fn value_noise<R: RngCore + ?Sized>(size: usize, cell: f64, rng: &mut R) -> Vec<f64> {
    let n = (size as f64 / cell).ceil() as usize + 2;
    let lattice: Vec<f64> = (0..n * n).map(|_| uniform(rng, -1.0, 1.0)).collect();
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        let fy = y as f64 / cell;
        let (iy, ty) = (fy.floor() as usize, smoothstep(fy.fract()));
        for x in 0..size {
            let fx = x as f64 / cell;
            let (ix, tx) = (fx.floor() as usize, smoothstep(fx.fract()));
            let v = |i: usize, j: usize| lattice[j * n + i];
            let top = v(ix, iy) * (1.0 - tx) + v(ix + 1, iy) * tx;
            let bottom = v(ix, iy + 1) * (1.0 - tx) + v(ix + 1, iy + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

fn render_texture<R: RngCore + ?Sized>(size: usize, rng: &mut R) -> Canvas {
    let base = [
        uniform(rng, 0.53, 0.57),
        uniform(rng, 0.40, 0.44),
        uniform(rng, 0.28, 0.32),
    ];
    let theta = 0.35 + uniform(rng, -0.03, 0.03);
    let period = (size as f64 / 16.0).max(4.0) * uniform(rng, 0.97, 1.03);
    let (pu, pv) = (uniform(rng, 0.0, period), uniform(rng, 0.0, period));
    let noise = value_noise(size, period * 2.0, rng);
    let (s, c) = theta.sin_cos();
    let mut canvas = Canvas::new(size);
    for y in 0..size {
        for x in 0..size {
            let (xf, yf) = (x as f64 + 0.5, y as f64 + 0.5);
            let u = (xf * c + yf * s + pu) / period;
            let v = (-xf * s + yf * c + pv) / period;
            let warp_on_top = (u.floor() as i64 + v.floor() as i64).rem_euclid(2) == 0;
            // A thread is brightest along its middle: a sine profile across it.
            let profile = if warp_on_top {
                (std::f64::consts::PI * v.rem_euclid(1.0)).sin()
            } else {
                (std::f64::consts::PI * u.rem_euclid(1.0)).sin()
            };
            let shade = (0.55 + 0.45 * profile.sqrt()) * (1.0 + 0.06 * noise[y * size + x]);
            let grain = uniform(rng, -0.02, 0.02);
            canvas.set(
                x,
                y,
                std::array::from_fn(|k| (base[k] * shade + grain) as f32),
            );
        }
    }
    canvas
}

/// Coverage of a pixel by a shape whose signed distance (negative inside) is `d` pixels.
fn coverage(d: f64) -> f64 {
    (0.5 - d).clamp(0.0, 1.0)
}

fn render_object<R: RngCore + ?Sized>(size: usize, rng: &mut R) -> (Canvas, Placement) {
    let sf = size as f64;
    let bg = uniform(rng, 0.84, 0.88);
    let cx = sf * (0.5 + uniform(rng, -0.02, 0.02));
    let cy = sf * (0.5 + uniform(rng, -0.02, 0.02));
    let r = sf * 0.33 * uniform(rng, 0.98, 1.02);
    let color = [
        uniform(rng, 0.13, 0.17),
        uniform(rng, 0.32, 0.38),
        uniform(rng, 0.62, 0.68),
    ];
    let angle = uniform(rng, -0.08, 0.08);
    let (sa, ca) = angle.sin_cos();
    let mark = [0.92, 0.84, 0.28];
    let mut canvas = Canvas::new(size);
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let dist = dx.hypot(dy);
            let grain = uniform(rng, -0.01, 0.01);
            let back = bg - 0.05 * (y as f64 / sf) + grain;
            let mut px = [back; 3];
            let disc = coverage(dist - r);
            if disc > 0.0 {
                let shade = 1.05 - 0.25 * (dist / r).powi(2);
                for k in 0..3 {
                    px[k] = px[k] * (1.0 - disc) + (color[k] * shade + grain) * disc;
                }
                // The mark, in the object's rotated frame: a ring and a bar.
                let (u, v) = (dx * ca + dy * sa, -dx * sa + dy * ca);
                let ring = coverage((dist - 0.5 * r).abs() - 0.05 * r);
                let bar = coverage((u.abs() - 0.4 * r).max(v.abs() - 0.06 * r));
                let m = ring.max(bar) * disc;
                for k in 0..3 {
                    px[k] = px[k] * (1.0 - m) + mark[k] * m;
                }
            }
            canvas.set(x, y, px.map(|v| v as f32));
        }
    }
    (canvas, Placement::Disc { cx, cy, r })
}

fn render_photo<R: RngCore + ?Sized>(photo: &RgbImage, size: usize, rng: &mut R) -> Canvas {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let short = w.min(h);
    let side = (short / 2).max(size.min(short));
    let x0 = below(rng, (w - side + 1) as u64) as usize;
    let y0 = below(rng, (h - side + 1) as u64) as usize;
    let mut crop = Vec::with_capacity(side * side * 3);
    for y in y0..y0 + side {
        let row = &photo.as_raw()[(y * w + x0) * 3..(y * w + x0 + side) * 3];
        crop.extend_from_slice(row);
    }
    let resized = resize_rgb_u8(&crop, side, side, size);
    Canvas {
        size,
        px: resized.into_iter().map(|v| v as f32).collect(),
    }
}

fn render_clean<R: RngCore + ?Sized>(
    source: &Source,
    size: usize,
    rng: &mut R,
) -> (Canvas, Placement) {
    match source {
        Source::Texture => (render_texture(size, rng), Placement::Anywhere),
        Source::Object => render_object(size, rng),
        Source::Photo(p) => (render_photo(p, size, rng), Placement::Anywhere),
    }
}

/// A random defect centre according to `place`.
fn defect_centre<R: RngCore + ?Sized>(size: usize, place: Placement, rng: &mut R) -> (f64, f64) {
    let sf = size as f64;
    match place {
        Placement::Anywhere => (sf * uniform(rng, 0.2, 0.8), sf * uniform(rng, 0.2, 0.8)),
        Placement::Disc { cx, cy, r } => {
            let a = uniform(rng, 0.0, std::f64::consts::TAU);
            let d = r * 0.7 * unit(rng).sqrt();
            (cx + d * a.cos(), cy + d * a.sin())
        }
    }
}

/// Pixel bounds `[lo, hi)` of `[c - half, c + half]`, clamped to the image.
fn span(c: f64, half: f64, size: usize) -> std::ops::Range<usize> {
    let lo = (c - half).floor().max(0.0) as usize;
    let hi = ((c + half).ceil().max(0.0) as usize + 1).min(size);
    lo.min(hi)..hi
}

fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p.0 - a.0 - t * abx).hypot(p.1 - a.1 - t * aby)
}

/// Blends `c` with weight `a` where `a >= 0.5` and marks the mask there; smaller weights are
/// dropped, so nothing outside the mask changes.
fn paint(img: &mut Canvas, mask: &mut [u8], (x, y): (usize, usize), c: [f32; 3], a: f64) {
    if a >= 0.5 {
        img.blend(x, y, c, a as f32);
        mask[y * img.size + x] = 1;
    }
}

/// Draws one defect attempt onto `img`; returns the mask (1 where the blend weight ≥ 0.5).
fn draw_defect<R: RngCore + ?Sized>(
    img: &mut Canvas,
    kind: DefectKind,
    place: Placement,
    rng: &mut R,
) -> Vec<u8> {
    let size = img.size;
    let sf = size as f64;
    let mut mask = vec![0u8; size * size];
    let (cx, cy) = defect_centre(size, place, rng);
    match kind {
        DefectKind::Scratch => {
            let len = sf * uniform(rng, 0.15, 0.35);
            let dir = uniform(rng, 0.0, std::f64::consts::TAU);
            let (dx, dy) = (dir.cos() * len / 2.0, dir.sin() * len / 2.0);
            let bend = uniform(rng, -0.3, 0.3) * len;
            let p0 = (cx - dx, cy - dy);
            let p2 = (cx + dx, cy + dy);
            let p1 = (cx - dir.sin() * bend, cy + dir.cos() * bend);
            let thick = (sf / 128.0).max(1.0) * uniform(rng, 1.5, 2.2);
            let color: [f32; 3] = if below(rng, 2) == 0 {
                [0.96, 0.95, 0.92]
            } else {
                [0.06, 0.06, 0.07]
            };
            let n = (len / 2.0).ceil().max(8.0) as usize;
            let pts: Vec<(f64, f64)> = (0..=n)
                .map(|i| {
                    let t = i as f64 / n as f64;
                    let (a, b, c) = ((1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t);
                    (
                        a * p0.0 + b * p1.0 + c * p2.0,
                        a * p0.1 + b * p1.1 + c * p2.1,
                    )
                })
                .collect();
            let reach = len / 2.0 + bend.abs() + thick + 2.0;
            for y in span(cy, reach, size) {
                for x in span(cx, reach, size) {
                    let p = (x as f64 + 0.5, y as f64 + 0.5);
                    let d = pts
                        .windows(2)
                        .map(|s| segment_distance(p, s[0], s[1]))
                        .fold(f64::MAX, f64::min);
                    paint(img, &mut mask, (x, y), color, coverage(d - thick / 2.0));
                }
            }
        }
        DefectKind::Hole => {
            let a = sf * uniform(rng, 0.03, 0.07);
            let b = a * uniform(rng, 0.5, 1.0);
            let phi = uniform(rng, 0.0, std::f64::consts::PI);
            let (s, c) = phi.sin_cos();
            for y in span(cy, a + 2.0, size) {
                for x in span(cx, a + 2.0, size) {
                    let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                    let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                    let rho = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                    let shade = (0.03 + 0.12 * rho.min(1.0).powi(2)) as f32;
                    paint(
                        img,
                        &mut mask,
                        (x, y),
                        [shade, shade * 0.9, shade * 0.85],
                        coverage((rho - 1.0) * b),
                    );
                }
            }
        }
        DefectKind::Stain => {
            let r0 = sf * uniform(rng, 0.05, 0.10);
            let (f1, f2) = (uniform(rng, 0.0, 6.3), uniform(rng, 0.0, 6.3));
            let opacity = uniform(rng, 0.55, 0.75);
            // A colour that contrasts with what is under the blob.
            let mut mean = 0.0f64;
            let mut n = 0.0f64;
            for y in span(cy, r0, size) {
                for x in span(cx, r0, size) {
                    let p = img.get(x, y);
                    mean += f64::from(p[0] + p[1] + p[2]) / 3.0;
                    n += 1.0;
                }
            }
            let color: [f32; 3] = if mean / n.max(1.0) > 0.45 {
                [0.30, 0.16, 0.05]
            } else {
                [0.95, 0.80, 0.40]
            };
            let reach = r0 * 1.45 + 2.0;
            for y in span(cy, reach, size) {
                for x in span(cx, reach, size) {
                    let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                    let t = dy.atan2(dx);
                    let radius =
                        r0 * (1.0 + 0.25 * (3.0 * t + f1).sin() + 0.15 * (5.0 * t + f2).sin());
                    let cov = coverage(dx.hypot(dy) - radius);
                    if cov >= 0.5 {
                        img.blend(x, y, color, (opacity * cov) as f32);
                        mask[y * size + x] = 1;
                    }
                }
            }
        }
        DefectKind::CutPaste => {
            let side = ((sf * uniform(rng, 0.10, 0.18)).round() as usize).clamp(2, size / 2);
            let clamp0 =
                |c: f64| ((c - side as f64 / 2.0).round().max(0.0) as usize).min(size - side);
            let (dx0, dy0) = (clamp0(cx), clamp0(cy));
            // A source square that does not overlap the destination.
            let mut src = (0, 0);
            for _ in 0..64 {
                let sx = below(rng, (size - side + 1) as u64) as usize;
                let sy = below(rng, (size - side + 1) as u64) as usize;
                src = (sx, sy);
                if sx.abs_diff(dx0) >= side || sy.abs_diff(dy0) >= side {
                    break;
                }
            }
            let transform = below(rng, 4);
            let patch = img.clone();
            let last = side - 1;
            for i in 0..side {
                for j in 0..side {
                    // (row i, col j) of the destination reads (row, col) of the source.
                    let (r, c) = match transform {
                        0 => (j, last - i),        // rotate 90°
                        1 => (last - i, last - j), // rotate 180°
                        2 => (last - j, i),        // rotate 270°
                        _ => (j, i),               // transpose
                    };
                    let (x, y) = (dx0 + j, dy0 + i);
                    img.set(x, y, patch.get(src.0 + c, src.1 + r));
                    mask[y * size + x] = 1;
                }
            }
        }
    }
    mask
}

/// Share of mask pixels whose 8-bit value changed by at least 8 in some channel.
fn visible_share(before: &[u8], after: &[u8], mask: &[u8]) -> f64 {
    let total = mask.iter().filter(|&&m| m == 1).count();
    if total < 4 {
        return 0.0;
    }
    let changed = mask
        .iter()
        .enumerate()
        .filter(|&(i, &m)| {
            m == 1 && (0..3).any(|k| before[i * 3 + k].abs_diff(after[i * 3 + k]) >= 8)
        })
        .count();
    changed as f64 / total as f64
}

/// Renders one anomalous image: `(clean u8, defective u8, mask 0/1)`.
fn render_defective<R: RngCore + ?Sized>(
    source: &Source,
    size: usize,
    kind: DefectKind,
    rng: &mut R,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (clean, place) = render_clean(source, size, rng);
    let before = clean.to_u8();
    let mut best: Option<(f64, Vec<u8>, Vec<u8>)> = None;
    for _ in 0..24 {
        let mut img = clean.clone();
        let mask = draw_defect(&mut img, kind, place, rng);
        let after = img.to_u8();
        let share = visible_share(&before, &after, &mask);
        if best.as_ref().is_none_or(|b| share > b.0) {
            best = Some((share, after, mask));
        }
        if share >= 0.6 {
            break;
        }
    }
    let (_, after, mask) = best.unwrap_or_else(|| (0.0, before.clone(), vec![0; size * size]));
    (before, after, mask)
}

// ----------------------------------------------------------------------------------------------
// Writing.

/// One file to write: where, and how to make its pixels.
struct Job {
    image: PathBuf,
    mask: Option<(PathBuf, DefectKind)>,
    stream: u64,
}

fn write_dataset(
    root: &Path,
    spec: &SyntheticSpec,
    source: &Source,
) -> Result<GeneratedDataset, DataError> {
    if spec.size < MIN_SIZE {
        return Err(DataError::InvalidSize {
            size: spec.size as usize,
            reason: "synthetic images must be at least 32×32 pixels",
        });
    }
    let dir = root.join(&spec.category);
    if let Ok(mut entries) = std::fs::read_dir(&dir)
        && entries.next().is_some()
    {
        return Err(DataError::OutputExists { path: dir });
    }
    let count = spec.n_train.max(spec.n_test_good).max(spec.n_test_defect);
    let width = count.saturating_sub(1).to_string().len().max(3);
    let name = |i: usize| format!("{i:0width$}");

    let mut jobs = Vec::new();
    let mut dirs = vec![dir.join("train/good"), dir.join("test/good")];
    for i in 0..spec.n_train {
        jobs.push(Job {
            image: dir.join("train/good").join(format!("{}.png", name(i))),
            mask: None,
            stream: (1 << 40) | i as u64,
        });
    }
    for i in 0..spec.n_test_good {
        jobs.push(Job {
            image: dir.join("test/good").join(format!("{}.png", name(i))),
            mask: None,
            stream: (2 << 40) | i as u64,
        });
    }
    for (d, &kind) in spec.defects.iter().enumerate() {
        let test = dir.join("test").join(kind.name());
        let gt = dir.join("ground_truth").join(kind.name());
        if spec.n_test_defect > 0 {
            dirs.push(test.clone());
            dirs.push(gt.clone());
        }
        for i in 0..spec.n_test_defect {
            jobs.push(Job {
                image: test.join(format!("{}.png", name(i))),
                mask: Some((gt.join(format!("{}_mask.png", name(i))), kind)),
                stream: ((3 + d as u64) << 40) | i as u64,
            });
        }
    }
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| DataError::io(d, e))?;
    }

    let size = spec.size as usize;
    let results: Vec<Result<Vec<PathBuf>, DataError>> = jobs
        .par_iter()
        .map(|job| {
            let mut rng = seeded(spec.seed, job.stream);
            match &job.mask {
                None => {
                    let (clean, _) = render_clean(source, size, &mut rng);
                    save_rgb(&job.image, spec.size, clean.to_u8())?;
                    Ok(vec![job.image.clone()])
                }
                Some((mask_path, kind)) => {
                    let (_, img, mask) = render_defective(source, size, *kind, &mut rng);
                    save_rgb(&job.image, spec.size, img)?;
                    let gray = mask.into_iter().map(|m| m * 255).collect();
                    save_gray(mask_path, spec.size, gray)?;
                    Ok(vec![job.image.clone(), mask_path.clone()])
                }
            }
        })
        .collect();
    let mut files = Vec::new();
    for r in results {
        files.extend(r?);
    }
    files.sort();
    Ok(GeneratedDataset {
        layout: Layout::MvTec {
            root: root.to_owned(),
            category: spec.category.clone(),
        },
        dir,
        files,
    })
}

fn save_rgb(path: &Path, size: u32, px: Vec<u8>) -> Result<(), DataError> {
    let img = RgbImage::from_raw(size, size, px).ok_or_else(|| DataError::InvalidSize {
        size: size as usize,
        reason: "internal: pixel buffer does not match the size",
    })?;
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| DataError::Write {
            path: path.to_owned(),
            source,
        })
}

fn save_gray(path: &Path, size: u32, px: Vec<u8>) -> Result<(), DataError> {
    let img = GrayImage::from_raw(size, size, px).ok_or_else(|| DataError::InvalidSize {
        size: size as usize,
        reason: "internal: mask buffer does not match the size",
    })?;
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| DataError::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::scan;
    use crate::load::load_test;
    use rdpp_inference::image_io::DecodeLimits;
    use sha2::{Digest, Sha256};

    fn digest(files: &[PathBuf], base: &Path) -> Vec<(String, String)> {
        files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).expect("read");
                let rel = f
                    .strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string();
                (rel, hex(&Sha256::digest(&bytes)))
            })
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|v| format!("{v:02x}")).collect()
    }

    fn small(kind: SyntheticKind, seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            n_train: 3,
            n_test_good: 2,
            n_test_defect: 2,
            size: 64,
            ..SyntheticSpec::new(kind, seed)
        }
    }

    #[test]
    fn same_spec_same_bytes() {
        for kind in [SyntheticKind::Texture, SyntheticKind::Object] {
            let (a, b, c) = (
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
                tempfile::tempdir().unwrap(),
            );
            let ga = generate(a.path(), &small(kind, 7)).expect("generate");
            let gb = generate(b.path(), &small(kind, 7)).expect("generate");
            let gc = generate(c.path(), &small(kind, 8)).expect("generate");
            assert_eq!(ga.files.len(), 3 + 2 + 4 * 2 * 2);
            let (da, db, dc) = (
                digest(&ga.files, a.path()),
                digest(&gb.files, b.path()),
                digest(&gc.files, c.path()),
            );
            assert_eq!(da, db, "{kind:?}: same seed must give identical files");
            let differing = da.iter().zip(&dc).filter(|(x, y)| x.1 != y.1).count();
            assert!(
                differing >= da.len() - 1,
                "{kind:?}: another seed gives other files"
            );
            // Writing into a non-empty folder is refused.
            assert!(matches!(
                generate(a.path(), &small(kind, 7)),
                Err(DataError::OutputExists { .. })
            ));
        }
    }

    #[test]
    fn masks_cover_exactly_the_altered_pixels() {
        for source in [Source::Texture, Source::Object] {
            for kind in DefectKind::ALL {
                for seed in 0..6u64 {
                    let size = 96;
                    let mut rng = seeded(seed, 77);
                    let (clean, img, mask) = render_defective(&source, size, kind, &mut rng);
                    // The same stream without the defect renders the same clean image.
                    let (again, _) = render_clean(&source, size, &mut seeded(seed, 77));
                    assert_eq!(again.to_u8(), clean);
                    let marked = mask.iter().filter(|&&m| m == 1).count();
                    assert!(marked >= 4, "{kind:?} seed {seed}: empty mask");
                    for i in 0..size * size {
                        if mask[i] == 0 {
                            assert_eq!(
                                &clean[i * 3..i * 3 + 3],
                                &img[i * 3..i * 3 + 3],
                                "{kind:?}: pixel {i} altered outside the mask"
                            );
                        }
                    }
                    let share = visible_share(&clean, &img, &mask);
                    assert!(
                        share >= 0.6,
                        "{kind:?} seed {seed}: only {share:.2} of the mask is visibly changed"
                    );
                }
            }
        }
    }

    #[test]
    fn scans_and_loads_as_mvtec() {
        let t = tempfile::tempdir().unwrap();
        let g = generate(t.path(), &small(SyntheticKind::Object, 3)).expect("generate");
        let idx = scan(&g.layout).expect("scan");
        assert_eq!(idx.train.len(), 3);
        assert_eq!(idx.test.len(), 2 + 8);
        assert_eq!(
            idx.defect_types(),
            ["cut_paste", "good", "hole", "scratch", "stain"]
        );
        let (samples, report) = load_test(&idx, 64, &DecodeLimits::default()).expect("load");
        assert_eq!(report.loaded, 10);
        for s in &samples {
            let positives = s
                .mask
                .as_ref()
                .expect("mask")
                .iter()
                .filter(|&&v| v == 1)
                .count();
            assert_eq!(
                s.label,
                positives > 0,
                "{}: label vs mask",
                s.image.path.display()
            );
        }
        // Masks are strictly 0/255.
        for f in g
            .files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with("_mask.png"))
        {
            let m = image::open(f).expect("open").into_luma8();
            assert!(m.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
        }
    }

    #[test]
    fn photo_windows() {
        // A stand-in for a texture photo: gray bricks with mortar lines and grain.
        let mut rng = seeded(9, 0);
        let photo = RgbImage::from_fn(160, 120, |x, y| {
            let row = y / 12;
            let brick_x = (x + if row % 2 == 0 { 0 } else { 12 }) % 24;
            let mortar = y % 12 == 0 || brick_x == 0;
            let g = if mortar { 200 } else { 110 } + below(&mut rng, 20) as u8;
            image::Rgb([g, g, g])
        });
        let t = tempfile::tempdir().unwrap();
        let spec = SyntheticSpec {
            category: "bricks".into(),
            ..small(SyntheticKind::Texture, 4)
        };
        let g = generate_from_texture(t.path(), &photo, &spec).expect("generate");
        assert!(g.dir.ends_with("bricks"));
        let idx = scan(&g.layout).expect("scan");
        assert_eq!(idx.train.len(), 3);
        // Train windows differ from each other (random crops).
        let a = image::open(&idx.train[0]).unwrap().into_rgb8();
        let b = image::open(&idx.train[1]).unwrap().into_rgb8();
        assert_eq!(a.dimensions(), (64, 64));
        assert_ne!(a, b);
        // Defects on the photo follow the same mask rule.
        for kind in DefectKind::ALL {
            let (clean, img, mask) =
                render_defective(&Source::Photo(&photo), 64, kind, &mut seeded(1, 2));
            for i in 0..64 * 64 {
                if mask[i] == 0 {
                    assert_eq!(&clean[i * 3..i * 3 + 3], &img[i * 3..i * 3 + 3]);
                }
            }
            assert!(visible_share(&clean, &img, &mask) >= 0.6, "{kind:?}");
        }
        let tiny = RgbImage::new(8, 40);
        assert!(matches!(
            generate_from_texture(t.path(), &tiny, &spec),
            Err(DataError::PhotoTooSmall { .. })
        ));
    }
}
