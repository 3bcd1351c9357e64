//! `rdpp`: import RD++ weights, run anomaly detection on images, inspect bundles, benchmark.

mod bench;
mod eval;
mod import;
mod infer;
mod info;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rdpp_inference::Backend;

/// RD++ anomaly detection (Tien et al., CVPR 2023) for quality inspection.
#[derive(Parser, Debug)]
#[command(name = "rdpp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a bundle from a teacher state dict and (optionally) an official RD++ checkpoint.
    Import(import::ImportArgs),
    /// Score images (files or folders, recursively) and write maps, overlays and scores.csv.
    Infer(infer::InferArgs),
    /// Measure a bundle on labelled folders: metrics, thresholds, plots, the worst images.
    Eval(eval::EvalArgs),
    /// Print what a bundle holds: backbone, sizes, calibration, provenance.
    Info {
        /// Bundle folder (or its manifest.json).
        bundle: PathBuf,
    },
    /// Time RD++ inference per image and peak memory, side by side with PyTorch when installed.
    Bench(bench::BenchArgs),
    /// (internal) one benchmark measurement in a fresh process.
    #[command(hide = true)]
    BenchWorker(bench::WorkerArgs),
}

/// Write `text` to standard output. A reader that went away (`rdpp info … | head`) is not an
/// error; `println!` would panic there.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Import(args) => import::run(args),
        Command::Infer(args) => infer::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Info { bundle } => info::run(&bundle),
        Command::Bench(args) => bench::run(args),
        Command::BenchWorker(args) => bench::worker(args),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
