//! `rdpp-train bench`: training throughput (images/s) and peak memory of one RD++ optimizer step,
//! measured in a fresh worker process, side by side with the same step in PyTorch eager
//! (`tests/parity/bench_train_torch.py`, embedded in the binary) when PyTorch is installed. The
//! worker process, the PyTorch side and the table are [`rdpp_testkit::bench`]'s; this module says
//! what one measurement does.
//!
//! The timed step is exactly the trainer's: [`step_losses`] (teacher on the clean and the noisy
//! batch, projection, OCBE, decoder, the four losses), reading the loss scalars, backward, and the
//! three Adam steps (projection, OCBE, decoder), with gradient accumulation 1. Weights come from
//! the shared formula (speed does not depend on their values), filled through the official
//! PyTorch names exactly as the PyTorch script fills its modules, and the input is a formula both
//! sides compute identically, so the first step's loss terms of the two sides can be compared.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use clap::Args;
use rdpp_data::rng::{fnv1a64, uniform_at as uniform};
use rdpp_inference::Backend;
use rdpp_model::{Backbone, RdppConfig};
use rdpp_testkit::bench::{Comparison, MeasuredRun, Quantity, TorchBench, TorchSide, median};
use rdpp_testkit::fill_official_names;
use rdpp_testkit::measure::{loadavg_1m, peak_rss_mb};
use rdpp_testkit::options::SideBySide;
use rdpp_training::TrainConfig;
use rdpp_training::trainer::{Student, step_losses, to_batch};
use serde::{Deserialize, Serialize};

/// Options of `rdpp-train bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to run on each side.
    #[command(flatten)]
    side: SideBySide,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Timed optimizer steps (the median is reported).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed optimizer steps before timing (both sides).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
}

/// Options of the hidden `bench-worker` subcommand (one measurement in a fresh process).
#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    backbone: Backbone,
    #[arg(long = "input-size", alias = "size", alias = "image-size")]
    input_size: usize,
    #[arg(long)]
    batch: usize,
    #[arg(long)]
    steps: usize,
    #[arg(long)]
    warmup: usize,
    #[arg(long, value_enum)]
    backend: Backend,
}

/// The first step's loss terms (before any update).
#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq)]
pub struct LossValues {
    /// L_KD.
    pub kd: f64,
    /// L_rec.
    pub reconstruction: f64,
    /// L_con.
    pub contrast: f64,
    /// L_SSOT.
    pub ssot: f64,
    /// The total.
    pub total: f64,
}

/// One measurement: the JSON line both the worker and the PyTorch script print.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Measurement {
    /// `rdpp-flex`, `rdpp-wgpu`, `rdpp-cuda` or `pytorch`.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// `cpu` or `cuda` for PyTorch; the backend for rdpp.
    pub device: String,
    /// Teacher backbone.
    pub backbone: String,
    /// Image size.
    pub size: usize,
    /// Images per batch.
    pub batch: usize,
    /// CPU threads (`None`: not limited).
    pub threads: Option<usize>,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps before timing.
    pub warmup: usize,
    /// `batch / median step time`.
    pub images_per_s: f64,
    /// Median step time.
    pub ms_per_step: f64,
    /// Fastest timed step.
    pub ms_per_step_min: f64,
    /// Slowest timed step.
    pub ms_per_step_max: f64,
    /// The first (warm-up) step: allocation, kernel compilation and, on the GPU backends,
    /// autotuning (cached on disk across runs), reported apart from steady state.
    #[serde(default)]
    pub first_step_ms: f64,
    /// Peak resident memory of the process (`VmHWM` / `ru_maxrss`), MB.
    pub peak_rss_mb: f64,
    /// PyTorch on CUDA: `torch.cuda.max_memory_allocated`, MB (tensors only, not the CUDA context).
    #[serde(default)]
    pub peak_cuda_allocated_mb: Option<f64>,
    /// Loss terms of the first (warm-up) step, before any update.
    #[serde(default)]
    pub first_losses: Option<LossValues>,
    /// How the weights were filled (`formula-official-names` makes both sides comparable).
    #[serde(default)]
    pub weights: Option<String>,
    /// One-minute load average at the end of the run (other work on the machine skews timings).
    #[serde(default)]
    pub loadavg_1m: Option<f64>,
}

fn check_shape(size: usize, batch: usize, steps: usize) -> Result<()> {
    if size < 32 || !size.is_multiple_of(32) {
        bail!("--input-size {size}: the size must be a positive multiple of 32");
    }
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    Ok(())
}

/// `rdpp-train bench`: run the worker, then the PyTorch script, and print both side by side.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    check_shape(args.side.input_size, args.batch, args.steps)?;
    if args.side.threads == 0 {
        bail!("--threads must be at least 1");
    }
    println!(
        "RD++ training step, {} at {}×{}, batch {}, {} thread(s), median of {} step(s) after {} warm-up; \
         rdpp backend {}",
        args.side.backbone,
        args.side.input_size,
        args.side.input_size,
        args.batch,
        args.side.threads,
        args.steps,
        args.warmup,
        args.side.backend
    );
    if args.batch < 2 {
        println!("note: with batch 1 the SSOT loss is zero (it compares different samples).");
    }
    eprintln!("rdpp: running the worker …");
    let rdpp: Measurement = MeasuredRun::worker(args.side.threads)?
        .flag("--backbone", args.side.backbone)
        .flag("--input-size", args.side.input_size)
        .flag("--batch", args.batch)
        .flag("--steps", args.steps)
        .flag("--warmup", args.warmup)
        .flag("--backend", args.side.backend.name())
        .show_messages()
        .measure()?;

    let torch_side = if args.side.no_torch {
        Err("--no-torch".to_string())
    } else {
        TorchSide::prepare(
            &args.side.python,
            TorchBench::Training,
            args.side.torch_script.as_deref(),
            args.side.torch_device.is_cuda(),
        )
    };
    let torch: Option<Measurement> = torch_side.as_ref().ok().and_then(|side| {
        eprintln!("PyTorch: running {} …", side.script());
        side.run()
            .flag("--backbone", args.side.backbone)
            .flag("--threads", args.side.threads)
            .flag("--batch", args.batch)
            .flag("--steps", args.steps)
            .flag("--warmup", args.warmup)
            .flag("--size", args.side.input_size)
            .flag("--device", args.side.torch_device.name())
            .show_messages()
            .measure_or_report()
    });
    let mut table = Comparison::new(
        "batch",
        vec![
            Quantity::new("images/s", 3).higher_is_better("speed ×", "faster"),
            Quantity::new("ms/step", 0),
            Quantity::new("peak RSS MB", 0).lower_is_better("memory ×", "smaller"),
            Quantity::new("1st step ms", 0).lower_is_better("1st step ×", "faster"),
        ],
    );
    let values = |m: &Measurement| {
        vec![
            m.images_per_s,
            m.ms_per_step,
            m.peak_rss_mb,
            m.first_step_ms,
        ]
    };
    table.push(args.batch, values(&rdpp), torch.as_ref().map(values));
    table.print(torch_side.as_ref().err().map(String::as_str));
    print_details(&rdpp, torch.as_ref());
    println!("{}", serde_json::to_string(&rdpp)?);
    if let Some(t) = &torch {
        println!("{}", serde_json::to_string(t)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// What only the training benchmark reports under the table: PyTorch's CUDA memory, the machine
/// load, and the first step's losses of both sides.
fn print_details(rdpp: &Measurement, torch: Option<&Measurement>) {
    if let Some(mb) = torch.and_then(|t| t.peak_cuda_allocated_mb) {
        println!(
            "PyTorch peak CUDA allocation {mb:.0} MB (tensors only; rdpp's GPU memory is not \
             measured, so memory × compares the processes' host memory)"
        );
    }
    let load = |m: &Measurement| {
        m.loadavg_1m
            .map(|l| format!("{l:.2}"))
            .unwrap_or_else(|| "?".into())
    };
    let Some(t) = torch else {
        println!("load average (1 min) at the end of the run: {}", load(rdpp));
        return;
    };
    println!(
        "load average (1 min) at the end of each run: rdpp {}, PyTorch {}",
        load(rdpp),
        load(t)
    );
    match (rdpp.first_losses, t.first_losses, rdpp.weights.as_deref()) {
        (Some(a), Some(b), Some("formula-official-names")) => {
            let rel = |x: f64, y: f64| (x - y).abs() / x.abs().max(y.abs()).max(1e-6);
            let pairs = [
                ("kd", a.kd, b.kd),
                ("rec", a.reconstruction, b.reconstruction),
                ("con", a.contrast, b.contrast),
                ("ssot", a.ssot, b.ssot),
                ("total", a.total, b.total),
            ];
            let worst = pairs
                .iter()
                .map(|(_, x, y)| rel(*x, *y))
                .fold(0.0f64, f64::max);
            let listing: Vec<String> = pairs
                .iter()
                .map(|(n, x, y)| format!("{n} {x:.6}/{y:.6}"))
                .collect();
            println!(
                "first-step losses, rdpp/PyTorch (same weights and input): {}; largest relative \
                 difference {worst:.1e}{}",
                listing.join(", "),
                if worst > 1e-2 {
                    " — WARNING: the two sides may not compute the same step"
                } else {
                    ""
                }
            );
        }
        _ => println!(
            "first-step losses not compared (a side did not report them, or the weights were not \
             filled through the official names)"
        ),
    }
}

/// The benchmark input, HWC images in [0, 1], computed identically by the PyTorch script: clean
/// pixel `i` (flat over batch, rows, columns, channels) is `uniform(fnv1a64("bench.clean"), i)`;
/// the noisy copy adds `0.2·(2·uniform(fnv1a64("bench.noise"), i) − 1)` inside the square
/// `[s/4, s/4 + s/8)²` of every image (a pseudo-anomaly of the size the trainer draws).
pub fn bench_images(batch: usize, size: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let clean_seed = fnv1a64(b"bench.clean");
    let noise_seed = fnv1a64(b"bench.noise");
    let per = size * size * 3;
    let (lo, hi) = (size / 4, size / 4 + (size / 8).max(1));
    let mut clean = Vec::with_capacity(batch);
    let mut noisy = Vec::with_capacity(batch);
    for b in 0..batch {
        let base = (b * per) as u64;
        let c: Vec<f32> = (0..per)
            .map(|k| uniform(clean_seed, base + k as u64) as f32)
            .collect();
        let mut n = c.clone();
        for y in lo..hi {
            for x in lo..hi {
                for ch in 0..3 {
                    let k = (y * size + x) * 3 + ch;
                    let u = uniform(noise_seed, base + k as u64);
                    n[k] = (c[k] as f64 + 0.2 * (2.0 * u - 1.0)) as f32;
                }
            }
        }
        clean.push(c);
        noisy.push(n);
    }
    (clean, noisy)
}

/// The hidden `bench-worker`: time the training step and print one JSON line.
pub fn worker(args: WorkerArgs) -> Result<ExitCode> {
    check_shape(args.input_size, args.batch, args.steps)?;
    let device = args.backend.device()?;
    let cfg = TrainConfig {
        backbone: args.backbone,
        image_size: args.input_size,
        batch_size: args.batch,
        grad_accumulation: 1,
        ..TrainConfig::default()
    };
    let t0 = Instant::now();
    let mut model = RdppConfig::new(args.backbone).init(&device);
    // The official names, derived from the model: the weights the PyTorch script fills.
    fill_official_names(&mut model, args.backbone).map_err(anyhow::Error::msg)?;
    let weights = "formula-official-names";
    eprintln!(
        "rdpp: model built and filled in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (clean, noisy) = bench_images(args.batch, args.input_size);
    let x = to_batch(&clean, args.input_size, &cfg, &device);
    let xn = to_batch(&noisy, args.input_size, &cfg, &device);
    drop((clean, noisy));

    // Frozen teacher on the plain device, student on the autodiff device: as in the trainer.
    let (teacher, student) = Student::split(model);
    let mut student = student.train();
    let adam = cfg.adam();
    let mut opt_projection: ModuleOptimizer = adam.init();
    let mut opt_bottleneck: ModuleOptimizer = adam.init();
    let mut opt_decoder: ModuleOptimizer = adam.init();

    let mut first_losses = None;
    let mut first_step_ms = None;
    let mut times = Vec::with_capacity(args.steps);
    for step in 0..args.warmup + args.steps {
        let start = Instant::now();
        let terms = step_losses(&teacher, &student, x.clone(), xn.clone(), &cfg.losses);
        // The trainer reads every term each batch; reading forces the forward pass to finish.
        let scalar = |t: &Tensor<1>| t.clone().into_scalar::<f32>() as f64;
        let values = LossValues {
            kd: scalar(&terms.kd),
            reconstruction: scalar(&terms.reconstruction),
            contrast: scalar(&terms.contrast),
            ssot: scalar(&terms.ssot),
            total: scalar(&terms.total),
        };
        if !values.total.is_finite() {
            bail!("the loss became {} at step {step}", values.total);
        }
        first_losses.get_or_insert(values);
        let mut grads = terms.total.backward();
        let g_proj = GradientsParams::from_module(&mut grads, &student.projection);
        let g_bn = GradientsParams::from_module(&mut grads, &student.bottleneck);
        let g_dec = GradientsParams::from_module(&mut grads, &student.decoder);
        student.projection = opt_projection.step(cfg.lr_projection, student.projection, g_proj);
        student.bottleneck = opt_bottleneck.step(cfg.lr_student, student.bottleneck, g_bn);
        student.decoder = opt_decoder.step(cfg.lr_student, student.decoder, g_dec);
        device
            .sync()
            .map_err(|e| anyhow::anyhow!("the device failed during step {step}: {e:?}"))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        first_step_ms.get_or_insert(ms);
        let timed = step >= args.warmup;
        eprintln!(
            "rdpp: step {}/{} {ms:.0} ms{} (loss {:.6})",
            step + 1,
            args.warmup + args.steps,
            if timed { "" } else { " (warm-up)" },
            values.total
        );
        if timed {
            times.push(ms);
        }
    }
    let median = median(&times);
    let m = Measurement {
        implementation: format!("rdpp-{}", args.backend),
        device: args.backend.name().into(),
        backbone: args.backbone.name().into(),
        size: args.input_size,
        batch: args.batch,
        threads: std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok()),
        steps: args.steps,
        warmup: args.warmup,
        images_per_s: args.batch as f64 / (median / 1000.0),
        ms_per_step: median,
        ms_per_step_min: times.iter().copied().fold(f64::INFINITY, f64::min),
        ms_per_step_max: times.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        first_step_ms: first_step_ms.unwrap_or(f64::NAN),
        peak_rss_mb: peak_rss_mb(),
        peak_cuda_allocated_mb: None,
        first_losses,
        weights: Some(weights.into()),
        loadavg_1m: loadavg_1m(),
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}
