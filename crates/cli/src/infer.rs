//! `rdpp infer`: score images with a bundle; write raw maps (.npy), overlays (.png), scores.csv.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{HumanDuration, ProgressBar, ProgressStyle};
use rdpp_inference::image_io::{DecodeLimits, read_rgb8};
use rdpp_inference::overlay::{display_range, render_overlay};
use rdpp_inference::verdict::{ScoreRow, scores_csv};
use rdpp_inference::{Detection, Detector, RgbView};

use crate::Backend;

/// File extensions picked up when walking folders (explicitly named files are always tried).
const IMAGE_EXTENSIONS: [&str; 9] = [
    "png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "gif", "pnm",
];

#[derive(Args, Debug)]
pub struct InferArgs {
    /// Bundle folder.
    #[arg(long)]
    model: PathBuf,
    /// Images and/or folders (searched recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    batch: u32,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Image-score threshold for the verdict (default: the bundle's calibrated threshold).
    #[arg(long)]
    threshold: Option<f64>,
    /// Heatmap opacity in overlays, 0–1.
    #[arg(long, default_value_t = 0.5)]
    opacity: f32,
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, default_value_t = DecodeLimits::default().max_pixels)]
    max_pixels: u64,
}

/// `images k/n, x img/s, eta t` lines on stderr, about ten per run, for logs (when the progress
/// bar is hidden).
pub(crate) struct ProgressLines {
    enabled: bool,
    total: usize,
    every: usize,
    next: usize,
    start: Instant,
}

impl ProgressLines {
    pub(crate) fn new(enabled: bool, total: usize) -> Self {
        let every = (total / 10).max(1);
        ProgressLines {
            enabled,
            total,
            every,
            next: every,
            start: Instant::now(),
        }
    }

    /// Say how far the run is once `done` reaches the next tenth (and at the end).
    pub(crate) fn print(&mut self, done: usize) {
        if !self.enabled || done < self.next.min(self.total) || done == 0 {
            return;
        }
        let elapsed = self.start.elapsed();
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
        let eta = elapsed.mul_f64((self.total - done) as f64 / done as f64);
        eprintln!(
            "images {done}/{}, {rate:.1} img/s, eta {}",
            self.total,
            HumanDuration(eta)
        );
        self.next = (done / self.every + 1) * self.every;
        if done >= self.total {
            self.enabled = false;
        }
    }
}

/// The progress bar of a run over `len` images (`rdpp infer`, `rdpp eval`); it hides itself when
/// stderr is no terminal, where [`ProgressLines`] speak instead.
pub(crate) fn images_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} images, {per_sec}, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// One input image and where its outputs go.
struct Job {
    path: PathBuf,
    /// Output path without extension, relative to the output folder.
    stem: PathBuf,
}

pub fn run(args: InferArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.opacity) {
        bail!("--opacity must be between 0 and 1 (got {})", args.opacity);
    }
    let jobs = collect_jobs(&args.inputs)?;
    if jobs.is_empty() {
        bail!("no images found in {}", display_list(&args.inputs));
    }
    let (detector, _) = Detector::load(&args.model, args.backend.device()?)?;
    let threshold = args.threshold.or(detector.threshold());
    fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let limits = DecodeLimits {
        max_pixels: args.max_pixels,
        ..DecodeLimits::default()
    };

    let bar = images_bar(jobs.len());
    let mut rows = Vec::new();
    let mut failures: Vec<(PathBuf, String)> = Vec::new();
    // The bar hides itself when stderr is no terminal (CI, nohup, a pipe): progress lines then,
    // about ten per run.
    let mut lines = ProgressLines::new(!std::io::stderr().is_terminal(), jobs.len());
    for chunk in jobs.chunks(args.batch as usize) {
        lines.print(bar.position() as usize);
        // Decode first; a bad file is reported and skipped, the rest of the batch runs.
        let mut ok = Vec::new();
        for job in chunk {
            match read_rgb8(&job.path, &limits) {
                Ok(img) => ok.push((job, img)),
                Err(e) => {
                    bar.suspend(|| eprintln!("skipped: {e}"));
                    failures.push((job.path.clone(), e.to_string()));
                    bar.inc(1);
                }
            }
        }
        if ok.is_empty() {
            continue;
        }
        let views: Vec<RgbView> = ok.iter().map(|(_, img)| RgbView::from(img)).collect();
        let start = Instant::now();
        let detections = detector.detect(&views)?;
        let ms = start.elapsed().as_secs_f64() * 1e3 / views.len() as f64;
        for ((job, img), det) in ok.iter().zip(detections) {
            match write_outputs(&args, job, img, &det, &detector) {
                Ok(()) => rows.push(ScoreRow {
                    file: job.path.display().to_string(),
                    score: det.score,
                    ms: Some(ms),
                }),
                Err(e) => failures.push((job.path.clone(), format!("{e:#}"))),
            }
            bar.inc(1);
        }
    }
    lines.print(bar.position() as usize);
    bar.finish_and_clear();

    let csv_path = args.out.join("scores.csv");
    fs::write(&csv_path, scores_csv(&rows, threshold, None))
        .with_context(|| format!("{}: cannot write", csv_path.display()))?;
    eprintln!("scored {} image(s) → {}", rows.len(), args.out.display());
    if threshold.is_none() {
        eprintln!(
            "note: the bundle has no calibration; verdicts are 'uncalibrated' (pass --threshold to set one)"
        );
    }
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} file(s) could not be processed:", failures.len());
    for (path, why) in &failures {
        eprintln!("  {}: {}", path.display(), why);
    }
    Ok(ExitCode::from(1))
}

fn write_outputs(
    args: &InferArgs,
    job: &Job,
    img: &image::RgbImage,
    det: &Detection,
    detector: &Detector,
) -> Result<()> {
    let base = args.out.join(&job.stem);
    if let Some(parent) = base.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let npy = with_suffix(&base, ".npy");
    write_npy(&npy, &det.map.data, det.map.height, det.map.width)?;
    let map32 = det.map_f32();
    let range = display_range(&map32, detector.calibration().map(|c| c.map_range()));
    let overlay = render_overlay(
        img,
        &map32,
        (det.map.width as u32, det.map.height as u32),
        range,
        args.opacity,
    );
    let png = with_suffix(&base, ".overlay.png");
    overlay
        .save(&png)
        .with_context(|| format!("{}: cannot write", png.display()))?;
    Ok(())
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The raw f32 map as a 2-D `.npy` (numpy: `np.load(path)` → `(H, W) float32`).
fn write_npy(path: &Path, data: &[f64], h: usize, w: usize) -> Result<()> {
    let file =
        fs::File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[h as u64, w as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .with_context(|| format!("{}: cannot write", path.display()))?;
    writer
        .extend(data.iter().map(|&v| v as f32))
        .with_context(|| format!("{}: cannot write", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

fn display_list(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expand inputs: files as given, folders recursively (image extensions only, sorted).
fn collect_jobs(inputs: &[PathBuf]) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files).with_context(|| format!("{}: cannot list", input.display()))?;
            files.sort();
            for path in files {
                let rel = path.strip_prefix(input).unwrap_or(&path).with_extension("");
                jobs.push(Job { path, stem: rel });
            }
        } else if input.exists() {
            let stem = PathBuf::from(input.file_stem().unwrap_or(input.as_os_str()));
            jobs.push(Job {
                path: input.clone(),
                stem,
            });
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    // Two inputs that would write the same outputs: keep both by suffixing.
    let mut seen = std::collections::HashMap::<PathBuf, usize>::new();
    for job in &mut jobs {
        let n = seen.entry(job.stem.clone()).or_insert(0);
        if *n > 0 {
            job.stem = with_suffix(&job.stem, &format!("-{}", n));
        }
        *n += 1;
    }
    Ok(jobs)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}
