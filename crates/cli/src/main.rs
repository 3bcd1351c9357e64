//! `rdpp`: import RD++ weights, run anomaly detection on images, inspect bundles, benchmark.

mod bench;
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

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Import(args) => import::run(args),
        Command::Infer(args) => infer::run(args),
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
