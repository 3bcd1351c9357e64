//! `rdpp-train bench`: training throughput (images/s) and peak memory of one RD++ optimizer step,
//! measured in a fresh worker process, side by side with the same step in PyTorch eager
//! (`tests/parity/bench_train_torch.py`) when PyTorch is installed.
//!
//! The timed step is exactly the trainer's: [`step_losses`] (teacher on the clean and the noisy
//! batch, projection, OCBE, decoder, the four losses), reading the loss scalars, backward, and the
//! three Adam steps (projection, OCBE, decoder), with gradient accumulation 1. Weights come from
//! the shared formula (speed does not depend on their values); when the parity key list
//! `tests/fixtures/parity/<backbone>.keys.json` is at hand they are filled through the official
//! PyTorch names, exactly as the PyTorch script fills its modules, and the input is a formula both
//! sides compute identically, so the first step's loss terms of the two sides can be compared.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use clap::Args;
use rdpp_inference::measure::{last_json_line, loadavg_1m, peak_rss_mb};
use rdpp_inference::synthetic::{fill_official_formula, fill_with_formula, fnv1a64, uniform};
use rdpp_model::teacher::Teacher;
use rdpp_model::{Backbone, Rdpp, RdppConfig};
use rdpp_training::TrainConfig;
use rdpp_training::trainer::{step_losses, to_batch};
use serde::{Deserialize, Serialize};

use crate::{BackendArg, device};

/// Options of `rdpp-train bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Teacher backbone of the trained model.
    #[arg(long, value_parser = parse_backbone, default_value = "wide_resnet50_2")]
    backbone: Backbone,
    /// Training image size (a multiple of 32).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Timed optimizer steps (the median is reported).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed optimizer steps before timing (both sides).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// CPU threads (rdpp's thread pool and torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// rdpp backend.
    #[arg(long, value_enum, default_value = "flex")]
    backend: BackendArg,
    /// Python interpreter for the PyTorch side.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The PyTorch reference of the training step.
    #[arg(long, default_value = "tests/parity/bench_train_torch.py")]
    torch_script: PathBuf,
    /// Device of the PyTorch side.
    #[arg(long, value_enum, default_value = "cpu")]
    torch_device: TorchDevice,
    /// Skip the PyTorch side.
    #[arg(long)]
    no_torch: bool,
}

/// Where the PyTorch side runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchDevice {
    /// CPU, `--threads` threads.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
}

/// Options of the hidden `bench-worker` subcommand (one measurement in a fresh process).
#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long, value_parser = parse_backbone)]
    backbone: Backbone,
    #[arg(long)]
    size: usize,
    #[arg(long)]
    batch: usize,
    #[arg(long)]
    steps: usize,
    #[arg(long)]
    warmup: usize,
    #[arg(long, value_enum)]
    backend: BackendArg,
    /// The parity key list of the backbone: fill the weights through the official names (as the
    /// PyTorch script does), so that both sides start from the same weights.
    #[arg(long)]
    official_keys: Option<PathBuf>,
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

fn parse_backbone(s: &str) -> Result<Backbone, String> {
    Backbone::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Backbone::ALL.iter().map(|b| b.name()).collect();
        format!("unknown backbone {s:?}; one of {}", names.join(", "))
    })
}

fn backend_name(b: BackendArg) -> String {
    format!("{b:?}").to_lowercase()
}

fn check_shape(size: usize, batch: usize, steps: usize) -> Result<()> {
    if size < 32 || !size.is_multiple_of(32) {
        bail!("--size {size}: the size must be a positive multiple of 32");
    }
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    Ok(())
}

/// The parity key list of a backbone: under the working directory (the repository root), else in
/// the source tree this binary was built from; `None` when neither exists.
fn official_keys_path(backbone: Backbone) -> Option<PathBuf> {
    let rel = Path::new("tests/fixtures/parity").join(format!("{}.keys.json", backbone.name()));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&rel);
    [rel, built_from].into_iter().find(|p| p.is_file())
}

/// `rdpp-train bench`: run the worker, then the PyTorch script, and print both side by side.
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    check_shape(args.size, args.batch, args.steps)?;
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let exe = std::env::current_exe().context("cannot locate the rdpp-train executable")?;
    println!(
        "RD++ training step, {} at {}×{}, batch {}, {} thread(s), median of {} step(s) after {} warm-up; \
         rdpp backend {}",
        args.backbone,
        args.size,
        args.size,
        args.batch,
        args.threads,
        args.steps,
        args.warmup,
        backend_name(args.backend)
    );
    if args.batch < 2 {
        println!("note: with batch 1 the SSOT loss is zero (it compares different samples).");
    }
    let keys = official_keys_path(args.backbone);
    let mut worker = Command::new(&exe);
    worker
        .args(["bench-worker", "--backbone", args.backbone.name()])
        .args(["--size", &args.size.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--backend", &backend_name(args.backend)])
        .env("RAYON_NUM_THREADS", args.threads.to_string())
        .stderr(Stdio::inherit());
    if let Some(keys) = &keys {
        worker.arg("--official-keys").arg(keys);
    }
    eprintln!("rdpp: running the worker …");
    let out = worker
        .output()
        .context("cannot start the benchmark worker")?;
    if !out.status.success() {
        bail!(
            "benchmark worker failed ({}); its messages are above",
            out.status
        );
    }
    let rdpp = parse_last_json(&out.stdout).context("benchmark worker output")?;

    let torch_problem = if args.no_torch {
        Some("--no-torch".to_string())
    } else {
        torch_problem(&args)
    };
    let torch = match &torch_problem {
        Some(_) => None,
        None => {
            eprintln!("PyTorch: running {} …", args.torch_script.display());
            let device = match args.torch_device {
                TorchDevice::Cpu => "cpu",
                TorchDevice::Cuda => "cuda",
            };
            let out = Command::new(&args.python)
                .arg(&args.torch_script)
                .args(["--backbone", args.backbone.name()])
                .args(["--threads", &args.threads.to_string()])
                .args(["--batch", &args.batch.to_string()])
                .args(["--steps", &args.steps.to_string()])
                .args(["--warmup", &args.warmup.to_string()])
                .args(["--size", &args.size.to_string()])
                .args(["--device", device])
                .stderr(Stdio::inherit())
                .output()
                .with_context(|| format!("cannot start {}", args.python))?;
            if out.status.success() {
                match parse_last_json(&out.stdout) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        eprintln!("PyTorch benchmark: unreadable output: {e:#}");
                        None
                    }
                }
            } else {
                eprintln!(
                    "PyTorch benchmark failed ({}); its messages are above",
                    out.status
                );
                None
            }
        }
    };
    print_table(&rdpp, torch.as_ref(), torch_problem.as_deref());
    println!("{}", serde_json::to_string(&rdpp)?);
    if let Some(t) = &torch {
        println!("{}", serde_json::to_string(t)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The memory figure of a measurement that can be compared across sides, with its name.
fn memory(m: &Measurement) -> (f64, &'static str) {
    match m.peak_cuda_allocated_mb {
        Some(v) => (v, "CUDA allocated"),
        None => (m.peak_rss_mb, "RSS"),
    }
}

fn print_table(rdpp: &Measurement, torch: Option<&Measurement>, problem: Option<&str>) {
    println!(
        "{:<14} {:>10} {:>12} {:>12} {:>16}",
        "", "images/s", "ms/step", "peak MB", "memory measure"
    );
    let row = |m: &Measurement| {
        let (mb, kind) = memory(m);
        println!(
            "{:<14} {:>10.3} {:>12.0} {:>12.0} {:>16}",
            m.implementation, m.images_per_s, m.ms_per_step, mb, kind
        );
    };
    row(rdpp);
    let load = |m: &Measurement| {
        m.loadavg_1m
            .map(|l| format!("{l:.2}"))
            .unwrap_or_else(|| "?".into())
    };
    let Some(t) = torch else {
        println!(
            "PyTorch not measured ({}). Load average (1 min) at the end of the run: {}",
            problem.unwrap_or("its run failed; its messages are above"),
            load(rdpp)
        );
        return;
    };
    row(t);
    let (rm, rk) = memory(rdpp);
    let (tm, tk) = memory(t);
    let mem_ratio = if rk == tk {
        format!("{:.2}", rm / tm)
    } else {
        format!("n/a ({rk} vs {tk})")
    };
    println!(
        "rdpp / PyTorch: speed × {:.2} (images/s; above 1 means rdpp is faster), memory × {mem_ratio} \
         (below 1 means rdpp is smaller)",
        rdpp.images_per_s / t.images_per_s
    );
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
        _ => println!("first-step losses not compared (weights not filled through official names)"),
    }
}

/// Why the PyTorch side cannot run, or `None` when it can.
fn torch_problem(args: &BenchArgs) -> Option<String> {
    if !args.torch_script.is_file() {
        return Some(format!(
            "{} not found; run from the repository root or pass --torch-script",
            args.torch_script.display()
        ));
    }
    match Command::new(&args.python)
        .args(["-c", "import torch, torchvision, scipy"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(_) => Some(format!(
            "torch, torchvision or scipy not importable by {}; install them to compare",
            args.python
        )),
        Err(e) => Some(format!("cannot run {}: {e}", args.python)),
    }
}

fn parse_last_json(stdout: &[u8]) -> Result<Measurement> {
    last_json_line(stdout).map_err(anyhow::Error::msg)
}

/// Fill every weight from the shared formula through the official PyTorch names listed in a
/// parity key file (`tests/parity/make_fixtures.py` writes it), as the PyTorch script does.
fn fill_official(model: &mut Rdpp, backbone: Backbone, keys_path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(keys_path)
        .with_context(|| format!("{}: cannot read", keys_path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", keys_path.display()))?;
    fill_official_formula(model, backbone, &json)
        .map_err(|e| anyhow::anyhow!("{}: {e}", keys_path.display()))
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
    check_shape(args.size, args.batch, args.steps)?;
    let device = device(args.backend)?;
    let cfg = TrainConfig {
        backbone: args.backbone,
        image_size: args.size,
        batch_size: args.batch,
        grad_accumulation: 1,
        ..TrainConfig::default()
    };
    let t0 = Instant::now();
    let mut model = RdppConfig::new(args.backbone).init(&device);
    let weights = match &args.official_keys {
        Some(p) => {
            fill_official(&mut model, args.backbone, p)?;
            "formula-official-names"
        }
        None => {
            fill_with_formula(&mut model);
            "formula-burn-names"
        }
    };
    eprintln!(
        "rdpp: model built and filled in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (clean, noisy) = bench_images(args.batch, args.size);
    let x = to_batch(&clean, args.size, &cfg, &device);
    let xn = to_batch(&noisy, args.size, &cfg, &device);
    drop((clean, noisy));

    let teacher: Teacher = model.teacher.clone(); // frozen, plain device, as in the trainer
    let mut model = model.train();
    let adam = cfg.adam();
    let mut opt_projection: ModuleOptimizer = adam.init();
    let mut opt_bottleneck: ModuleOptimizer = adam.init();
    let mut opt_decoder: ModuleOptimizer = adam.init();

    let mut first_losses = None;
    let mut times = Vec::with_capacity(args.steps);
    for step in 0..args.warmup + args.steps {
        let start = Instant::now();
        let terms = step_losses(&teacher, &model, x.clone(), xn.clone(), &cfg.losses);
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
        let g_proj = GradientsParams::from_module(&mut grads, &model.projection);
        let g_bn = GradientsParams::from_module(&mut grads, &model.bottleneck);
        let g_dec = GradientsParams::from_module(&mut grads, &model.decoder);
        model.projection = opt_projection.step(cfg.lr_projection, model.projection, g_proj);
        model.bottleneck = opt_bottleneck.step(cfg.lr_student, model.bottleneck, g_bn);
        model.decoder = opt_decoder.step(cfg.lr_student, model.decoder, g_dec);
        device
            .sync()
            .map_err(|e| anyhow::anyhow!("the device failed during step {step}: {e:?}"))?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
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
    times.sort_by(|a, b| a.total_cmp(b));
    let mid = times.len() / 2;
    let median = if times.len().is_multiple_of(2) {
        (times[mid - 1] + times[mid]) / 2.0
    } else {
        times[mid]
    };
    let m = Measurement {
        implementation: format!("rdpp-{}", backend_name(args.backend)),
        device: backend_name(args.backend),
        backbone: args.backbone.name().into(),
        size: args.size,
        batch: args.batch,
        threads: std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok()),
        steps: args.steps,
        warmup: args.warmup,
        images_per_s: args.batch as f64 / (median / 1000.0),
        ms_per_step: median,
        ms_per_step_min: times[0],
        ms_per_step_max: times[times.len() - 1],
        peak_rss_mb: peak_rss_mb(),
        peak_cuda_allocated_mb: None,
        first_losses,
        weights: Some(weights.into()),
        loadavg_1m: loadavg_1m(),
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(ExitCode::SUCCESS)
}
