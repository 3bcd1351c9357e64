//! The options both benchmark commands take: what to run on each side and how.

use std::path::PathBuf;

use rdpp_inference::Backend;
use rdpp_model::Backbone;

/// What `rdpp bench` and `rdpp-train bench` measure side by side (flattened into each command's
/// own options with `#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone)]
pub struct SideBySide {
    /// Teacher backbone of the benchmarked model.
    #[arg(long, value_enum, default_value = "wide_resnet50_2")]
    pub backbone: Backbone,
    /// The network's input size (a multiple of 32).
    #[arg(
        long = "input-size",
        alias = "size",
        alias = "image-size",
        default_value_t = 256
    )]
    pub input_size: usize,
    /// CPU threads (rdpp's thread pool and torch.set_num_threads).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// rdpp backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Python interpreter for the PyTorch side.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The PyTorch reference script [default: the copy of tests/parity/bench_torch.py or
    /// bench_train_torch.py built into this binary].
    #[arg(long)]
    pub torch_script: Option<PathBuf>,
    /// Device of the PyTorch side: cpu, or cuda to compare a GPU backend with PyTorch on CUDA.
    #[arg(long, value_enum, default_value = "cpu")]
    pub torch_device: TorchDevice,
    /// Skip the PyTorch side.
    #[arg(long)]
    pub no_torch: bool,
}

/// Where the PyTorch side runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchDevice {
    /// CPU, `--threads` threads.
    Cpu,
    /// The first CUDA GPU.
    Cuda,
}

impl TorchDevice {
    /// The name the PyTorch scripts take (`--device`).
    pub fn name(self) -> &'static str {
        match self {
            TorchDevice::Cpu => "cpu",
            TorchDevice::Cuda => "cuda",
        }
    }

    /// True for CUDA.
    pub fn is_cuda(self) -> bool {
        self == TorchDevice::Cuda
    }
}
