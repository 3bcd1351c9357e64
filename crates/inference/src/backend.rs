//! The compute backends rdpp runs on, named once for the CLI, the trainer and the page, and
//! how a native program gets a [`Device`] for one without a panic when it is missing.

use core::fmt;
use core::str::FromStr;

#[cfg(not(target_arch = "wasm32"))]
use burn::prelude::*;

/// A burn backend rdpp can run the network on.
///
/// Names (`flex`, `ndarray`, `wgpu`, `cuda`) are the command lines' `--backend` values; the page's
/// `?backend=` also accepts `cpu` (flex) and `webgpu` (wgpu).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default; also the page's CPU fallback).
    #[cfg_attr(feature = "clap", value(alias = "cpu"))]
    Flex,
    /// The older ndarray CPU backend (deprecated in burn, kept for comparison).
    Ndarray,
    /// A GPU through wgpu: Vulkan, Metal, DX12, or WebGPU in the browser.
    #[cfg_attr(feature = "clap", value(alias = "webgpu"))]
    Wgpu,
    /// An NVIDIA GPU through CUDA (a build with the `cuda` feature).
    Cuda,
}

impl Backend {
    /// Every backend, in the order help texts list them.
    pub const ALL: [Backend; 4] = [
        Backend::Flex,
        Backend::Ndarray,
        Backend::Wgpu,
        Backend::Cuda,
    ];

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// True for the GPU backends.
    pub fn is_gpu(self) -> bool {
        matches!(self, Backend::Wgpu | Backend::Cuda)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend name that is none of [`Backend::ALL`] (nor `cpu` / `webgpu`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {0:?}; choose one of flex (cpu), ndarray, wgpu (webgpu), cuda")]
pub struct UnknownBackend(pub String);

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flex" | "cpu" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            "wgpu" | "webgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            _ => Err(UnknownBackend(s.into())),
        }
    }
}

/// Why a backend could not give a device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// This build was compiled without the backend's cargo feature.
    #[error(
        "this build has no {backend} backend (rebuild with the cargo feature `{backend}`{hint})"
    )]
    NotBuilt {
        /// The backend asked for.
        backend: Backend,
        /// How to build it.
        hint: &'static str,
    },
    /// The backend is built in but finds no usable device.
    #[error("{0}")]
    Unavailable(String),
}

#[cfg(not(target_arch = "wasm32"))]
impl Backend {
    /// A device of this backend, synchronously (native programs; the page initialises WebGPU
    /// asynchronously itself). A GPU backend without a GPU or driver is an error, not a panic.
    pub fn device(self) -> Result<Device, BackendError> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Ndarray => ndarray(),
            Backend::Wgpu => wgpu(),
            Backend::Cuda => cuda(),
        }
    }
}

#[cfg(all(feature = "ndarray", not(target_arch = "wasm32")))]
#[allow(deprecated)]
fn ndarray() -> Result<Device, BackendError> {
    Ok(Device::ndarray())
}

#[cfg(all(not(feature = "ndarray"), not(target_arch = "wasm32")))]
fn ndarray() -> Result<Device, BackendError> {
    Err(BackendError::NotBuilt {
        backend: Backend::Ndarray,
        hint: "",
    })
}

/// The folder where the GPU backends keep autotune results and compiled kernels:
/// `$RDPP_CACHE/cubecl`, by default `~/.cache/rdpp/cubecl`.
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu_cache_dir() -> std::path::PathBuf {
    let root = match std::env::var_os("RDPP_CACHE") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => std::path::PathBuf::from(home).join(".cache/rdpp"),
            _ => std::env::temp_dir().join("rdpp"),
        },
    };
    root.join("cubecl")
}

/// Settles the GPU runtime's configuration before the first device exists: cubecl's own
/// (`cubecl.toml`, `CUBECL_*` variables) with its default cache place, the `target/` folder of
/// the current Cargo workspace or the current directory, moved to [`gpu_cache_dir`]. When that
/// folder cannot be made the persistent cache is off (tuning is then paid once per run) and
/// the run goes on. Once per process.
#[cfg(all(any(feature = "wgpu", feature = "cuda"), not(target_arch = "wasm32")))]
fn configure_gpu_runtime() {
    use cubecl_runtime::config::cache::CacheConfig;
    use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        if matches!(config.environment.path, CacheConfig::Target) {
            let dir = gpu_cache_dir();
            match std::fs::create_dir_all(&dir) {
                Ok(()) => config.environment.path = CacheConfig::Directory(dir),
                Err(e) => {
                    eprintln!(
                        "warning: cannot create the GPU autotune cache {} ({e}); kernels are \
                         tuned again in every run (set RDPP_CACHE to a writable folder)",
                        dir.display()
                    );
                    config.environment.path = CacheConfig::Directory(std::env::temp_dir());
                    config.autotune.disable_cache = true;
                }
            }
        }
        // Another part of the program may have read the configuration first: keep it then.
        let _ = CubeClRuntimeConfig::try_set(config);
    });
}

#[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
fn wgpu() -> Result<Device, BackendError> {
    configure_gpu_runtime();
    Device::wgpu_options().init().map_err(|e| {
        BackendError::Unavailable(format!(
            "no usable GPU adapter for the wgpu backend ({e}); install a Vulkan driver \
             (e.g. mesa-vulkan-drivers) or use --backend flex"
        ))
    })
}

#[cfg(all(not(feature = "wgpu"), not(target_arch = "wasm32")))]
fn wgpu() -> Result<Device, BackendError> {
    Err(BackendError::NotBuilt {
        backend: Backend::Wgpu,
        hint: "",
    })
}

#[cfg(all(feature = "cuda", not(target_arch = "wasm32")))]
fn cuda() -> Result<Device, BackendError> {
    // CUDA initialises lazily and panics without a driver: probe with a tiny tensor first,
    // with the panic message kept off the terminal.
    configure_gpu_runtime();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        let device = Device::cuda(0);
        Tensor::<1>::ones([1], &device).into_data();
        device
    });
    std::panic::set_hook(hook);
    probe.map_err(|_| {
        BackendError::Unavailable(
            "no CUDA GPU is available (driver or device missing); use --backend wgpu or flex"
                .into(),
        )
    })
}

#[cfg(all(not(feature = "cuda"), not(target_arch = "wasm32")))]
fn cuda() -> Result<Device, BackendError> {
    Err(BackendError::NotBuilt {
        backend: Backend::Cuda,
        hint: " on a machine with an NVIDIA driver; its build downloads LLVM, so it needs internet",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>(), Ok(b));
        }
        assert_eq!("cpu".parse::<Backend>(), Ok(Backend::Flex));
        assert_eq!("webgpu".parse::<Backend>(), Ok(Backend::Wgpu));
        let e = "tpu".parse::<Backend>().unwrap_err().to_string();
        assert!(e.starts_with("unknown backend \"tpu\""), "{e}");
    }

    #[test]
    fn flex_always_gives_a_device() {
        assert!(Backend::Flex.device().is_ok());
        assert!(!Backend::Flex.is_gpu() && Backend::Wgpu.is_gpu());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_backend_left_out_of_the_build_says_how_to_get_it() {
        let e = Backend::Cuda.device().unwrap_err().to_string();
        assert!(
            e.contains("no cuda backend") && e.contains("feature `cuda`"),
            "{e}"
        );
    }
}
