//! `rdpp bench`: RD++ inference time per image and peak memory, measured in fresh processes, side
//! by side with the PyTorch eager reference (`tests/parity/bench_torch.py`, embedded in the
//! binary) when PyTorch is installed. Ratios are printed from measurements of the same run on the
//! same machine. The worker processes, the PyTorch side and the table are
//! [`rdpp_testkit::bench`]'s; this module says what one measurement does.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rdpp_inference::engine::detections_from_scale_maps;
use rdpp_inference::rdpp_model::burn::prelude::*;
use rdpp_inference::rdpp_model::{Backbone, RdppConfig};
use rdpp_inference::{Backend, Detector};
use rdpp_testkit::bench::{Comparison, MeasuredRun, Quantity, TorchBench, TorchSide, median};
use rdpp_testkit::measure::peak_rss_mb;
use rdpp_testkit::options::SideBySide;
use serde::{Deserialize, Serialize};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to run on each side.
    #[command(flatten)]
    side: SideBySide,
    /// Batch sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    batches: Vec<usize>,
    /// Timed iterations per batch size (the median is reported).
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Untimed warm-up iterations before timing (both sides).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    backbone: Backbone,
    #[arg(long = "input-size", alias = "size", alias = "image-size")]
    input_size: usize,
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
    /// The first (untimed) run of the process: allocation, kernel compilation and, on the GPU
    /// backends, autotuning (cached on disk across runs), reported apart from steady state.
    #[serde(default)]
    first_run_ms: f64,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let torch = if args.side.no_torch {
        Err("--no-torch".to_string())
    } else {
        TorchSide::prepare(
            &args.side.python,
            TorchBench::Inference,
            args.side.torch_script.as_deref(),
            args.side.torch_device.is_cuda(),
        )
    };
    println!(
        "RD++ {} at {}×{}, {} thread(s), median of {} runs; rdpp backend {}, PyTorch on {}",
        args.side.backbone,
        args.side.input_size,
        args.side.input_size,
        args.side.threads,
        args.iters,
        args.side.backend,
        args.side.torch_device.name()
    );
    let mut rows = Vec::new();
    for &batch in &args.batches {
        let rdpp: Measurement = MeasuredRun::worker(args.side.threads)?
            .flag("--backbone", args.side.backbone)
            .flag("--input-size", args.side.input_size)
            .flag("--batch", batch)
            .flag("--iters", args.iters)
            .flag("--warmup", args.warmup)
            .flag("--backend", args.side.backend.name())
            .measure()?;
        let torch: Option<Measurement> = torch.as_ref().ok().and_then(|side| {
            side.run()
                .flag("--backbone", args.side.backbone)
                .flag("--threads", args.side.threads)
                .flag("--batches", batch)
                .flag("--runs", args.iters)
                .flag("--warmup", args.warmup)
                .flag("--size", args.side.input_size)
                .flag("--device", args.side.torch_device.name())
                .measure_or_report()
        });
        rows.push((rdpp, torch));
    }
    let mut table = Comparison::new(
        "batch",
        vec![
            Quantity::new("ms/img", 1).lower_is_better("time ×", "faster"),
            Quantity::new("MB", 0).lower_is_better("memory ×", "smaller"),
            Quantity::new("1st run ms", 0).lower_is_better("1st run ×", "faster"),
        ],
    );
    for (r, t) in &rows {
        let values = |m: &Measurement| vec![m.ms_per_image, m.peak_rss_mb, m.first_run_ms];
        table.push(r.batch, values(r), t.as_ref().map(values));
    }
    table.print(torch.as_ref().err().map(String::as_str));
    for (r, t) in &rows {
        println!("{}", serde_json::to_string(r)?);
        if let Some(t) = t {
            println!("{}", serde_json::to_string(t)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn worker(args: WorkerArgs) -> Result<ExitCode> {
    let device = args.backend.device()?;
    // What `rdpp infer` runs: the detector's inference form of the network (BatchNorms folded).
    let s = args.input_size;
    let model = RdppConfig::new(args.backbone).init(&device);
    let detector = Detector::uncalibrated(model, args.backbone, s, device.clone());
    let input: Vec<f32> = (0..args.batch * 3 * s * s)
        .map(|i| ((i % 251) as f32 / 125.0) - 1.0)
        .collect();
    let run_once = || -> Result<f64> {
        let start = Instant::now();
        let x = Tensor::<4>::from_data(
            TensorData::new(input.clone(), [args.batch, 3, s, s]),
            &device,
        );
        let detections = detections_from_scale_maps(detector.network().scale_maps(x), s)
            .map_err(anyhow::Error::msg)?;
        std::hint::black_box(detections);
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };
    // Warm-up: allocations; kernel compilation and autotuning on GPU backends. The first run is
    // reported on its own.
    let first_run_ms = run_once()?;
    for _ in 1..args.warmup {
        run_once()?;
    }
    let times = (0..args.iters.max(1))
        .map(|_| run_once())
        .collect::<Result<Vec<f64>>>()?;
    let m = Measurement {
        implementation: format!("rdpp-{}", args.backend),
        batch: args.batch,
        ms_per_image: median(&times) / args.batch as f64,
        peak_rss_mb: peak_rss_mb(),
        first_run_ms,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}
