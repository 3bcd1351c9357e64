//! Choosing the compute device at run time, with a clear message when it is not available.

use anyhow::{Result, bail};
use burn::prelude::*;

/// Compute backends the CLI can run on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Pure-Rust CPU backend (default; also what the browser falls back to).
    Flex,
    /// The older ndarray CPU backend (deprecated in burn, kept for comparison).
    Ndarray,
    /// GPU through wgpu (Vulkan / Metal / DX12).
    Wgpu,
    /// NVIDIA GPU through CUDA (build with `--features cuda`).
    Cuda,
}

impl Backend {
    /// Create the device, failing with an explanation rather than a panic.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Ndarray => ndarray(),
            Backend::Wgpu => wgpu(),
            Backend::Cuda => cuda(),
        }
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)]
fn ndarray() -> Result<Device> {
    Ok(Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray() -> Result<Device> {
    bail!("this rdpp was built without the ndarray backend (cargo feature `ndarray`)")
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    match Device::wgpu_options().init() {
        Ok(device) => Ok(device),
        Err(e) => bail!(
            "no usable GPU adapter for the wgpu backend ({e}); install a Vulkan driver \
             (e.g. mesa-vulkan-drivers) or use --backend flex"
        ),
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!("this rdpp was built without the wgpu backend (cargo feature `wgpu`)")
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device> {
    // CUDA initialises lazily and panics without a driver: probe with a tiny tensor first.
    let probe = std::panic::catch_unwind(|| {
        let device = Device::cuda(0);
        let t = Tensor::<1>::ones([1], &device);
        t.into_data();
        device
    });
    match probe {
        Ok(device) => Ok(device),
        Err(_) => {
            bail!("no CUDA GPU is available (driver or device missing); use --backend wgpu or flex")
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device> {
    bail!(
        "this rdpp was built without CUDA support; rebuild with `cargo build --release -p rdpp-cli \
         --features cuda` on a machine with an NVIDIA driver, or use --backend wgpu / flex"
    )
}
