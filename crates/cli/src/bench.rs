//! `rdpp bench`: RD++ inference time per image and peak memory, measured in fresh processes, side
//! by side with the PyTorch eager reference (`tests/parity/bench_torch.py`) when PyTorch is
//! installed. Ratios are printed from measurements of the same run on the same machine.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use rdpp_inference::engine::detections_from_scale_maps;
use rdpp_inference::measure::{last_json_line, peak_rss_mb};
use rdpp_inference::rdpp_model::burn::prelude::*;
use rdpp_inference::rdpp_model::{Backbone, RdppConfig};
use serde::{Deserialize, Serialize};

use crate::Backend;
use crate::import::parse_backbone;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Teacher backbone of the benchmarked model.
    #[arg(long, value_parser = parse_backbone, default_value = "wide_resnet50_2")]
    backbone: Backbone,
    /// Input size.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Batch sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batches: Vec<usize>,
    /// CPU threads (rdpp's thread pool and torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed iterations per batch size (the median is reported).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Untimed warm-up iterations before timing (both sides).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// rdpp backend.
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
    /// Python interpreter for the PyTorch side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The PyTorch reference benchmark script.
    #[arg(long, default_value = "tests/parity/bench_torch.py")]
    torch_script: PathBuf,
    /// Device of the PyTorch side: cpu, or cuda to compare a GPU backend with PyTorch on CUDA.
    #[arg(long, default_value = "cpu")]
    torch_device: String,
    /// Skip the PyTorch side.
    #[arg(long)]
    no_torch: bool,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_parser = parse_backbone)]
    backbone: Backbone,
    #[arg(long)]
    size: usize,
    #[arg(long)]
    batch: usize,
    #[arg(long)]
    iters: usize,
    #[arg(long)]
    warmup: usize,
    #[arg(long, value_enum)]
    backend: Backend,
}

/// One measurement, the same JSON shape both sides print.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct Measurement {
    #[serde(rename = "impl")]
    implementation: String,
    batch: usize,
    ms_per_image: f64,
    peak_rss_mb: f64,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot locate the rdpp executable")?;
    let torch_ok = !args.no_torch && torch_available(&args);
    println!(
        "RD++ {} at {}×{}, {} thread(s), median of {} runs; rdpp backend {:?}, PyTorch on {}",
        args.backbone,
        args.size,
        args.size,
        args.threads,
        args.iters,
        args.backend,
        args.torch_device
    );
    let mut rows = Vec::new();
    for &batch in &args.batches {
        let out = Command::new(&exe)
            .args(["bench-worker", "--backbone", args.backbone.name()])
            .args([
                "--size",
                &args.size.to_string(),
                "--batch",
                &batch.to_string(),
            ])
            .args([
                "--iters",
                &args.iters.to_string(),
                "--warmup",
                &args.warmup.to_string(),
            ])
            .args(["--backend", &format!("{:?}", args.backend).to_lowercase()])
            .env("RAYON_NUM_THREADS", args.threads.to_string())
            .output()
            .context("cannot start the benchmark worker")?;
        if !out.status.success() {
            bail!(
                "benchmark worker failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let rdpp: Measurement = parse_last_json(&out.stdout).context("worker output")?;
        let torch = if torch_ok {
            let out = Command::new(&args.python)
                .arg(&args.torch_script)
                .args(["--threads", &args.threads.to_string()])
                .args(["--batches", &batch.to_string()])
                .args(["--runs", &args.iters.to_string()])
                .args(["--warmup", &args.warmup.to_string()])
                .args(["--size", &args.size.to_string()])
                .args(["--device", &args.torch_device])
                .output()
                .context("cannot start the PyTorch benchmark")?;
            if out.status.success() {
                parse_last_json(&out.stdout).ok()
            } else {
                eprintln!(
                    "PyTorch benchmark failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                None
            }
        } else {
            None
        };
        rows.push((rdpp, torch));
    }
    println!(
        "{:>5}  {:>14} {:>12}  {:>14} {:>12}  {:>10} {:>10}",
        "batch", "rdpp ms/img", "rdpp MB", "torch ms/img", "torch MB", "time ×", "memory ×"
    );
    for (r, t) in &rows {
        match t {
            Some(t) => println!(
                "{:>5}  {:>14.1} {:>12.0}  {:>14.1} {:>12.0}  {:>10.2} {:>10.2}",
                r.batch,
                r.ms_per_image,
                r.peak_rss_mb,
                t.ms_per_image,
                t.peak_rss_mb,
                r.ms_per_image / t.ms_per_image,
                r.peak_rss_mb / t.peak_rss_mb
            ),
            None => println!(
                "{:>5}  {:>14.1} {:>12.0}  {:>14} {:>12}",
                r.batch, r.ms_per_image, r.peak_rss_mb, "-", "-"
            ),
        }
    }
    if torch_ok {
        println!("time × and memory × are rdpp / PyTorch: below 1 means rdpp is faster / smaller.");
    } else {
        println!(
            "PyTorch not measured ({}); install torch and torchvision to compare.",
            if args.no_torch {
                "--no-torch"
            } else {
                "not importable"
            }
        );
    }
    for (r, t) in &rows {
        println!("{}", serde_json::to_string(r)?);
        if let Some(t) = t {
            println!("{}", serde_json::to_string(t)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn torch_available(args: &BenchArgs) -> bool {
    // The reference script benchmarks the paper's model only.
    let check = if args.torch_device.starts_with("cuda") {
        "import torch, torchvision, scipy; assert torch.cuda.is_available()"
    } else {
        "import torch, torchvision, scipy"
    };
    args.backbone == Backbone::WideResnet50_2
        && args.torch_script.is_file()
        && Command::new(&args.python)
            .args(["-c", check])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
}

fn parse_last_json(stdout: &[u8]) -> Result<Measurement> {
    last_json_line(stdout).map_err(anyhow::Error::msg)
}

pub fn worker(args: WorkerArgs) -> Result<ExitCode> {
    let device = args.backend.device()?;
    let model = RdppConfig::new(args.backbone).init(&device);
    let s = args.size;
    let input: Vec<f32> = (0..args.batch * 3 * s * s)
        .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
        .collect();
    let run_once = || -> Result<f64> {
        let start = Instant::now();
        let x = Tensor::<4>::from_data(
            TensorData::new(input.clone(), [args.batch, 3, s, s]),
            &device,
        );
        let detections =
            detections_from_scale_maps(model.scale_maps(x), s).map_err(anyhow::Error::msg)?;
        std::hint::black_box(detections);
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };
    for _ in 0..args.warmup {
        run_once()?; // allocations; kernel compilation and autotuning on GPU backends
    }
    let mut times = Vec::with_capacity(args.iters);
    for _ in 0..args.iters.max(1) {
        times.push(run_once()?);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let m = Measurement {
        implementation: format!("rdpp-{:?}", args.backend).to_lowercase(),
        batch: args.batch,
        ms_per_image: median / args.batch as f64,
        peak_rss_mb: peak_rss_mb(),
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}
