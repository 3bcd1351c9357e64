//! The page's handle on one compute worker: start it, post to it, hear from it, end it.

use wasm_bindgen::prelude::*;

use crate::error::{AppError, js_message};
use crate::protocol::{FromWorker, ToWorker, open, post_to_worker};

/// The worker's script, next to the page (Trunk's loader shim for the `rdpp-web-worker` binary;
/// see `index.html`). Relative, so the site works under any sub-path.
pub const WORKER_SCRIPT: &str = "rdpp-web-worker_loader.js";

/// What a worker says.
pub enum WorkerEvent {
    /// A message, with its data.
    Message(FromWorker, JsValue),
    /// The worker failed outside the protocol: its script did not load, or it threw.
    Error(String),
}

/// One running worker; ended when dropped.
pub struct WorkerHandle {
    worker: web_sys::Worker,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl WorkerHandle {
    /// Start a worker; `on_event` hears everything it says, in order.
    pub fn spawn(on_event: impl Fn(WorkerEvent) + 'static) -> Result<Self, AppError> {
        // A module worker: its script imports the wasm-bindgen glue as a module.
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(WORKER_SCRIPT, &options).map_err(|e| {
            AppError::Browser(format!(
                "the compute worker could not start ({}): this browser may be too old, or the page's \
                 security policy blocks workers",
                js_message(&e)
            ))
        })?;
        let on_event = std::rc::Rc::new(on_event);
        let forward = on_event.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                match open::<FromWorker>(&ev.data()) {
                    Ok((msg, data)) => forward(WorkerEvent::Message(msg, data)),
                    Err(e) => forward(WorkerEvent::Error(e)),
                }
            });
        // An `ErrorEvent` when the worker threw; a plain `Event` when its script could not be
        // fetched or parsed.
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
            ev.prevent_default();
            let text = js_sys::Reflect::get(&ev, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_default();
            on_event(WorkerEvent::Error(if text.is_empty() {
                "the worker's script could not be loaded or run".to_owned()
            } else {
                text
            }));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Post a message with its data; `transfer` moves those buffers to the worker.
    pub fn post(
        &self,
        msg: &ToWorker,
        data: &JsValue,
        transfer: &[JsValue],
    ) -> Result<(), AppError> {
        post_to_worker(&self.worker, msg, data, transfer)
            .map_err(|e| AppError::Browser(format!("the compute worker refused a message: {e}")))
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}

/// How many CPU workers to run for a model of `weights_bytes`: one per core (up to 8), as long
/// as every copy of the model fits in about 2 GB (each worker holds its own, in f32, with its
/// activations: roughly six times the f16 file).
pub fn cpu_pool_size(cores: usize, weights_bytes: u64) -> usize {
    let per_worker = (weights_bytes.max(1) as f64) * 6.0;
    let by_memory = (2e9 / per_worker).floor().max(1.0) as usize;
    cores.clamp(1, 8).min(by_memory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn the_cpu_pool_follows_the_cores_and_the_model_size() {
        // The default Lite0 models (3.8 MB): one worker per core.
        assert_eq!(cpu_pool_size(2, 3_791_424), 2);
        assert_eq!(cpu_pool_size(16, 3_791_424), 8, "at most 8");
        assert_eq!(cpu_pool_size(0, 3_791_424), 1, "at least one");
        // wide_resnet50_2 in f16 (~280 MB): one copy only.
        assert_eq!(cpu_pool_size(16, 280_000_000), 1);
        assert_eq!(cpu_pool_size(16, 100_000_000), 3);
    }
}
