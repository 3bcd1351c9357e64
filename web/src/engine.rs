//! The compute side of the page: choosing WebGPU or the CPU, loading a bundle from bytes with the
//! same loader as the CLI, and scoring one image.

use std::path::Path;

use burn::prelude::*;
use rdpp_inference::Backend;
use rdpp_inference::bundle::{Manifest, load_model};
use rdpp_inference::engine::{Detector, RgbView};
use rdpp_inference::image_io::{DecodeLimits, decode_rgb8};
use wasm_bindgen::JsValue;

use crate::analysis::HeatMap;
use crate::error::{AppError, js_message};

/// Which backend the user asked for (`?backend=` and the Backend menu). Travels to the
/// workers as its page name (`"auto"`, `"webgpu"`, `"cpu"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum BackendChoice {
    /// WebGPU on a hardware adapter, else the CPU.
    Auto,
    /// This backend: [`Backend::Wgpu`] (WebGPU, even on a software adapter; the tests use this
    /// for SwiftShader) or [`Backend::Flex`] (the CPU, burn's flex backend in WebAssembly).
    Use(Backend),
}

impl BackendChoice {
    /// From the `?backend=` parameter: `auto`, or a backend name the page can run
    /// (`webgpu`/`wgpu`/`gpu`, `cpu`/`flex`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "gpu" => Some(Self::Use(Backend::Wgpu)),
            _ => match s.parse::<Backend>() {
                Ok(b @ (Backend::Wgpu | Backend::Flex)) => Some(Self::Use(b)),
                _ => None,
            },
        }
    }

    /// The parameter value (the page's words for the two backends).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Use(Backend::Wgpu) => "webgpu",
            Self::Use(_) => "cpu",
        }
    }
}

impl From<BackendChoice> for String {
    fn from(c: BackendChoice) -> String {
        c.as_str().to_owned()
    }
}

impl TryFrom<String> for BackendChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown backend {s:?}"))
    }
}

/// What a WebGPU adapter says about itself.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdapterInfo {
    /// "vendor device (architecture)" or the description, whatever the browser reveals.
    pub name: String,
    /// A software rasterizer (SwiftShader, WARP, …): WebGPU works but is slower than the CPU path.
    pub software: bool,
    /// `maxStorageBufferBindingSize` in bytes.
    pub max_binding: f64,
}

/// The backend in use.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackendInfo {
    /// True for WebGPU, false for the CPU.
    pub gpu: bool,
    /// What to show: "WebGPU — NVIDIA …" or "CPU (WebAssembly)".
    pub label: String,
    /// A warning (software adapter, no WebGPU, fallback after a failure).
    pub warning: Option<String>,
    /// The adapter, when WebGPU is in use.
    pub adapter: Option<AdapterInfo>,
}

impl BackendInfo {
    /// The CPU backend, with an optional warning saying why it is used.
    pub fn cpu(warning: Option<String>) -> Self {
        Self {
            gpu: false,
            label: "CPU (WebAssembly)".into(),
            warning,
            adapter: None,
        }
    }
}

/// Ask the browser for a WebGPU adapter (without burn), to name it and read its limits; works
/// in the page and in a worker. `Ok(None)`: WebGPU is not available here.
pub async fn probe_adapter() -> Result<Option<AdapterInfo>, AppError> {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    if navigator.is_undefined() {
        return Ok(None);
    }
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Ok(None);
    }
    let request = js_sys::Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok())
        .ok_or_else(|| AppError::Browser("navigator.gpu.requestAdapter is missing".into()))?;
    let promise = request
        .call0(&gpu)
        .map_err(|e| AppError::Browser(format!("requestAdapter failed: {}", js_message(&e))))?;
    let adapter = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise))
        .await
        .map_err(|e| AppError::Browser(format!("requestAdapter failed: {}", js_message(&e))))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Ok(None);
    }
    let get =
        |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED);
    let info = get(&adapter, "info");
    let text = |k: &str| get(&info, k).as_string().unwrap_or_default();
    let (vendor, architecture, device, description) = (
        text("vendor"),
        text("architecture"),
        text("device"),
        text("description"),
    );
    let mut name = [vendor.as_str(), device.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if !architecture.is_empty() {
        name = format!("{name} ({architecture})");
    }
    if name.trim().is_empty() {
        name = if description.is_empty() {
            "unnamed adapter".into()
        } else {
            description.clone()
        };
    }
    let fallback_flag = get(&info, "isFallbackAdapter")
        .as_bool()
        .or_else(|| get(&adapter, "isFallbackAdapter").as_bool())
        .unwrap_or(false);
    let lower = format!("{vendor} {architecture} {device} {description}").to_lowercase();
    let software = fallback_flag
        || ["swiftshader", "llvmpipe", "lavapipe", "warp", "software"]
            .iter()
            .any(|s| lower.contains(s));
    let limits = get(&adapter, "limits");
    let max_binding = get(&limits, "maxStorageBufferBindingSize")
        .as_f64()
        .unwrap_or(128.0 * 1024.0 * 1024.0);
    Ok(Some(AdapterInfo {
        name,
        software,
        max_binding,
    }))
}

/// Pick and initialise the backend for `choice`. Never fails: without a usable WebGPU the CPU is
/// used and the returned info says why.
pub async fn init_backend(choice: BackendChoice) -> (Device, BackendInfo) {
    let cpu = |warning: Option<String>| (Device::flex(), BackendInfo::cpu(warning));
    if let BackendChoice::Use(b) = choice {
        if !b.is_gpu() {
            return cpu(None);
        }
    }
    let adapter = match probe_adapter().await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return cpu(Some(
                "WebGPU is not available in this browser: running on the CPU, which is slower."
                    .into(),
            ));
        }
        Err(e) => return cpu(Some(format!("{e}; running on the CPU, which is slower."))),
    };
    if adapter.software && choice == BackendChoice::Auto {
        return cpu(Some(format!(
            "The only WebGPU adapter is a software one ({}), slower than the CPU path: running on the CPU. \
             Expect about a second per image.",
            adapter.name
        )));
    }
    // Once per worker: a worker loads one model on one backend.
    match Device::wgpu_options().init_async().await {
        Ok(device) => {
            let warning = adapter.software.then(|| {
                format!(
                    "WebGPU runs on a software adapter ({}): correct but slow.",
                    adapter.name
                )
            });
            (
                device,
                BackendInfo {
                    gpu: true,
                    label: format!("WebGPU — {}", adapter.name),
                    warning,
                    adapter: Some(adapter),
                },
            )
        }
        Err(e) => cpu(Some(format!(
            "WebGPU could not start ({e}): running on the CPU, which is slower."
        ))),
    }
}

/// Rough upper bound of the largest GPU buffer the network needs for one image at `size`
/// (activations dominate: at most ~32 f32 channels at full resolution for every supported
/// teacher), compared with the adapter's binding limit before anything is uploaded.
pub fn check_fits(adapter: Option<&AdapterInfo>, size: usize) -> Result<(), AppError> {
    let Some(a) = adapter else { return Ok(()) };
    let needed = 32.0 * 4.0 * (size * size) as f64;
    if needed > a.max_binding {
        return Err(AppError::Gpu(format!(
            "this model needs GPU buffers of about {:.0} MiB at {size}×{size}, more than this GPU allows \
             ({:.0} MiB per buffer); switch to the CPU backend",
            needed / 1048576.0,
            a.max_binding / 1048576.0
        )));
    }
    Ok(())
}

/// A model loaded on a backend (one per worker).
pub struct Engine {
    /// The network, its device and calibration.
    pub detector: Detector,
    /// The bundle's manifest.
    pub manifest: Manifest,
    /// The backend it runs on.
    pub backend: BackendInfo,
}

impl Engine {
    /// Load `weights` (checked against the manifest's sha256, names and shapes) on `device`.
    /// The bytes move into the loader: no copy stays behind.
    pub fn load(
        manifest: Manifest,
        weights: Vec<u8>,
        device: Device,
        backend: BackendInfo,
    ) -> Result<Engine, AppError> {
        check_fits(backend.adapter.as_ref(), manifest.input_size)?;
        let model = load_model(
            &manifest,
            weights,
            Path::new(&manifest.weights.file),
            &device,
        )?;
        Ok(Engine {
            detector: Detector::new(model, &manifest, device),
            manifest,
            backend,
        })
    }

    /// Score one decoded image.
    pub async fn score(&self, rgb: &image::RgbImage) -> Result<Scored, AppError> {
        let d = self
            .detector
            .detect_async(&[RgbView::from(rgb)])
            .await?
            .pop()
            .ok_or(AppError::NoResult)?;
        Ok(Scored {
            score: d.score,
            map: HeatMap {
                size: d.map.width,
                values: d.map_f32(),
            },
        })
    }

    /// One run on a blank image so shader compilation happens before the user's first image.
    pub async fn warm_up(&self) -> Result<(), AppError> {
        let s = self.manifest.input_size as u32;
        let blank = image::RgbImage::from_pixel(s, s, image::Rgb([128, 128, 128]));
        self.score(&blank).await.map(|_| ())
    }
}

/// One image's result.
#[derive(Clone, Debug)]
pub struct Scored {
    /// Image score (the map maximum, raw).
    pub score: f64,
    /// The anomaly map at the model's input size.
    pub map: HeatMap,
}

/// Decode limits in the browser: lower than the CLI's, a tab has less memory to spare.
pub fn browser_limits() -> DecodeLimits {
    DecodeLimits {
        max_pixels: 40_000_000,
        max_alloc_bytes: 320 * 1024 * 1024,
    }
}

/// Decode an image file the user gave (PNG, JPEG, BMP, WebP, TIFF, GIF) as the CLI does.
pub fn decode(bytes: &[u8], name: &str) -> Result<image::RgbImage, AppError> {
    Ok(decode_rgb8(bytes, name, &browser_limits())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn backend_parameter_round_trips() {
        for c in [
            BackendChoice::Auto,
            BackendChoice::Use(Backend::Wgpu),
            BackendChoice::Use(Backend::Flex),
        ] {
            assert_eq!(BackendChoice::parse(c.as_str()), Some(c));
        }
        assert_eq!(BackendChoice::parse("webgpu"), BackendChoice::parse("gpu"));
        assert_eq!(
            BackendChoice::parse("cpu"),
            Some(BackendChoice::Use(Backend::Flex))
        );
        assert_eq!(
            BackendChoice::parse("cuda"),
            None,
            "the page cannot run CUDA"
        );
        assert_eq!(BackendChoice::parse("tpu"), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn oversized_models_are_refused_before_upload() {
        let small = AdapterInfo {
            name: "x".into(),
            software: false,
            max_binding: 128.0 * 1048576.0,
        };
        assert!(check_fits(Some(&small), 256).is_ok());
        let e = check_fits(Some(&small), 4096).unwrap_err().to_string();
        assert!(e.contains("CPU backend"), "{e}");
        assert!(check_fits(None, 100_000).is_ok());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn non_images_get_a_clear_error() {
        let e = decode(b"hello, not an image", "notes.txt")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("notes.txt") && e.contains("not a supported image file"),
            "{e}"
        );
    }
}
