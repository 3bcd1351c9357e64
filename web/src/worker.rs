//! The compute worker: one model on one backend, fed by the page through [`crate::protocol`].
//! It fetches (through the weights cache) or reads the bundle itself, so the weights never pass
//! through the page; it decodes, runs the network and post-processes; the page only draws.
//!
//! A worker loads once. To change model or backend the page starts new workers and ends these,
//! so a failed load leaves the previous model in place.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use js_sys::{Float32Array, Uint8Array};
use rdpp_inference::bundle::Manifest;
use rdpp_inference::error::BundleError;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;

use crate::catalog::BundleLocation;
use crate::engine::{BackendChoice, Engine, decode, init_backend};
use crate::error::AppError;
use crate::net;
use crate::protocol::{FromWorker, ModelInfo, Source, ToWorker, open, post_to_page};

/// The worker's model, once loaded.
type ModelCell = Rc<RefCell<Option<Rc<Engine>>>>;

/// Tell the page something that carries no data.
fn say(msg: FromWorker) {
    post_to_page(&msg, &JsValue::UNDEFINED, &[]);
}

/// Entry point of the worker's WebAssembly: listen to the page, then say so.
pub fn run() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        say(FromWorker::Crashed {
            error: info.to_string(),
        });
    }));
    let engine: ModelCell = Rc::new(RefCell::new(None));
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
        move |ev: web_sys::MessageEvent| match open::<ToWorker>(&ev.data()) {
            Ok((msg, data)) => spawn_local(handle(engine.clone(), msg, data)),
            Err(e) => web_sys::console::error_1(&format!("rdpp worker: {e}").into()),
        },
    );
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    say(FromWorker::Started);
}

async fn handle(slot: ModelCell, msg: ToWorker, data: JsValue) {
    match msg {
        ToWorker::Load { source, choice } => {
            if let Some(reply) = load(&slot, &source, choice, &data).await {
                say(reply);
            }
        }
        ToWorker::Score { job, name } => {
            let t0 = net::now_ms();
            let rgb = match data.dyn_into::<web_sys::Blob>() {
                Ok(blob) => match net::read_blob(&blob, &name).await {
                    Ok(bytes) => decode(&bytes, &name),
                    Err(e) => Err(e),
                },
                Err(_) => Err(AppError::Browser(format!("{name}: no image data was sent"))),
            };
            score(&slot, job, rgb, t0).await;
        }
        ToWorker::ScoreFrame { job, width, height } => {
            let t0 = net::now_ms();
            let rgba = Uint8Array::new(&data).to_vec();
            let rgb = image::RgbaImage::from_raw(width, height, rgba)
                .map(|img| image::DynamicImage::ImageRgba8(img).to_rgb8())
                .ok_or_else(|| {
                    AppError::Browser(format!(
                        "a camera frame of {width}×{height} with the wrong size"
                    ))
                });
            score(&slot, job, rgb, t0).await;
        }
    }
}

/// Score one decoded image and post the result.
async fn score(slot: &ModelCell, job: u64, rgb: Result<image::RgbImage, AppError>, t0: f64) {
    let rgb = match rgb {
        Ok(rgb) => rgb,
        Err(e) => {
            let error = e.to_string();
            return say(FromWorker::Failed { job, error });
        }
    };
    let engine = slot.borrow().clone();
    let Some(engine) = engine else {
        let error = "no model is loaded in this worker".to_owned();
        return say(FromWorker::Failed { job, error });
    };
    match engine.score(&rgb).await {
        Ok(s) => {
            let map = Float32Array::from(&s.map.values[..]);
            let reply = FromWorker::Scored {
                job,
                score: s.score,
                ms: net::now_ms() - t0,
                size: s.map.size,
            };
            post_to_page(&reply, &map, &[map.buffer().into()]);
        }
        Err(e) if engine.backend.gpu => say(FromWorker::GpuFailed {
            job: Some(job),
            error: e.to_string(),
        }),
        Err(e) => {
            let error = e.to_string();
            say(FromWorker::Failed { job, error });
        }
    }
}

/// Load, verify and warm up the bundle; the reply to post (None: already posted).
async fn load(
    slot: &ModelCell,
    source: &Source,
    choice: BackendChoice,
    data: &JsValue,
) -> Option<FromWorker> {
    let label = source.label().to_owned();
    let failed = |e: AppError| {
        Some(FromWorker::LoadFailed {
            error: format!("model {label}: {e}"),
        })
    };
    let (device, backend) = init_backend(choice).await;
    let engine = match source {
        Source::Url { url, label } => load_url(url, label, device, backend.clone()).await,
        Source::Files { manifest, weights } => {
            load_files(manifest, weights, data, device, backend.clone()).await
        }
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => return failed(e),
    };
    say(FromWorker::WarmingUp {
        backend: backend.clone(),
    });
    let t0 = net::now_ms();
    if let Err(e) = engine.warm_up().await {
        return if backend.gpu {
            Some(FromWorker::GpuFailed {
                job: None,
                error: e.to_string(),
            })
        } else {
            failed(e)
        };
    }
    let warm_up_ms = net::now_ms() - t0;
    let model = ModelInfo::of(&engine.manifest);
    *slot.borrow_mut() = Some(Rc::new(engine));
    Some(FromWorker::Loaded {
        model,
        backend,
        warm_up_ms,
    })
}

/// A bundle on the web: the manifest, then the weights from the cache or the network. The
/// loader checks the sha256 once; a cached copy that fails it is evicted and fetched again.
async fn load_url(
    url: &str,
    label: &str,
    device: burn::prelude::Device,
    backend: crate::engine::BackendInfo,
) -> Result<Engine, AppError> {
    let loc = BundleLocation::from_url(url);
    progress(&format!("{label}: manifest"), 0, 0);
    let manifest_bytes = net::fetch_bytes(&loc.manifest_url, |_, _| {}).await?;
    let manifest = Manifest::parse(&manifest_bytes, Path::new(&loc.manifest_url))?;
    let weights_url = loc.file_url(&manifest.weights.file)?;
    let sha = manifest.weights.sha256.to_ascii_lowercase();
    if let Some(bytes) = net::cached(&weights_url, &sha).await {
        match Engine::load(manifest.clone(), bytes, device.clone(), backend.clone()) {
            Err(AppError::Bundle(BundleError::Checksum { .. })) => {
                net::evict(&weights_url, &sha).await;
            }
            other => return other,
        }
    }
    let what = format!("{label}: weights");
    let mut shown = 0u64;
    let bytes = net::fetch_bytes(&weights_url, |received, total| {
        // About a hundred updates at most, whatever the size.
        let step = (total / 100).max(1 << 20);
        if received >= shown + step || received == total {
            shown = received;
            progress(&what, received, total);
        }
    })
    .await?;
    // Kept aside for the cache (outside the wasm heap), stored once the loader has verified it.
    let copy = Uint8Array::from(&bytes[..]);
    let engine = Engine::load(manifest, bytes, device, backend)?;
    net::store_array(&weights_url, &sha, &copy).await;
    Ok(engine)
}

/// A bundle the user dropped: `data` is `[manifest File, weights File]`.
async fn load_files(
    manifest_name: &str,
    weights_name: &str,
    data: &JsValue,
    device: burn::prelude::Device,
    backend: crate::engine::BackendInfo,
) -> Result<Engine, AppError> {
    let files = js_sys::Array::from(data);
    let file = |i: u32, name: &str| {
        files.get(i).dyn_into::<web_sys::Blob>().map_err(|_| {
            AppError::DroppedBundle(format!("{name}: the file did not reach the worker"))
        })
    };
    let (mf, wf) = (file(0, manifest_name)?, file(1, weights_name)?);
    progress(
        &format!("{weights_name}: dropped files"),
        0,
        wf.size() as u64,
    );
    let manifest = Manifest::parse(
        &net::read_blob(&mf, manifest_name).await?,
        Path::new(manifest_name),
    )?;
    let weights = net::read_blob(&wf, weights_name).await?;
    Engine::load(manifest, weights, device, backend)
}

fn progress(what: &str, received: u64, total: u64) {
    say(FromWorker::Progress {
        what: what.to_owned(),
        received,
        total,
    });
}
