//! The messages between the page and its compute workers: one enum each way, sent as one JSON
//! string (`msg`) beside an optional JavaScript payload (`data`) that is never serialized: image
//! files travel as `Blob`s (cloned by reference), camera frames and anomaly maps as
//! `ArrayBuffer`s that are transferred, not copied.
//!
//! ```text
//! page ──Load{source, choice}──▶ worker      data: [manifest File, weights File] for dropped files
//! page ──Score{job, name}──────▶ worker      data: the image Blob
//! page ──ScoreFrame{job, w, h}─▶ worker      data: RGBA pixels (ArrayBuffer, transferred)
//! page ◀──Started / Progress / WarmingUp / Loaded / LoadFailed ── worker
//! page ◀──Scored{job, …}──────── worker      data: the anomaly map (Float32Array, transferred)
//! page ◀──Failed / GpuFailed / Crashed ───── worker
//! ```

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::engine::{BackendChoice, BackendInfo};
use crate::error::js_message;
use rdpp_inference::bundle::{Calibration, Manifest};

/// Where a worker gets a bundle from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// A bundle folder (or its manifest) on the web: the worker fetches it, through the
    /// weights cache.
    Url {
        /// Folder or manifest URL.
        url: String,
        /// What to call it in messages.
        label: String,
    },
    /// Files the user dropped; the `File`s themselves are the message's data.
    Files {
        /// The manifest's file name.
        manifest: String,
        /// The weights' file name.
        weights: String,
    },
}

impl Source {
    /// What to call the model in messages.
    pub fn label(&self) -> &str {
        match self {
            Source::Url { label, .. } => label,
            Source::Files { weights, .. } => weights,
        }
    }
}

/// Page → worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Load a bundle on a backend and warm it up (once per worker).
    Load {
        /// Where the bundle is.
        source: Source,
        /// The backend asked for.
        choice: BackendChoice,
    },
    /// Score an image file (data: its `Blob`).
    Score {
        /// The page's job id.
        job: u64,
        /// The file name (for error messages).
        name: String,
    },
    /// Score a camera frame (data: `width × height × 4` RGBA bytes).
    ScoreFrame {
        /// The page's job id.
        job: u64,
        /// Frame width in pixels.
        width: u32,
        /// Frame height in pixels.
        height: u32,
    },
}

/// What the page shows about a loaded model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The bundle's name.
    pub name: String,
    /// The teacher backbone.
    pub backbone: String,
    /// Square input size in pixels.
    pub input_size: usize,
    /// Weights size in bytes.
    pub bytes: u64,
    /// Weights storage type ("f16", "f32").
    pub dtype: String,
    /// Where it came from, one line.
    pub provenance: String,
    /// The bundle's calibration (threshold, map range), if any.
    pub calibration: Option<Calibration>,
}

impl ModelInfo {
    /// What the page shows about a bundle.
    pub fn of(m: &Manifest) -> Self {
        Self {
            name: m.name.clone(),
            backbone: m.backbone.to_string(),
            input_size: m.input_size,
            bytes: m.weights.bytes,
            dtype: format!("{:?}", m.weights.dtype).to_lowercase(),
            provenance: provenance_text(m),
            calibration: m.calibration.clone(),
        }
    }
}

/// One line on where a bundle came from: source, dataset, author, training figures, licence.
fn provenance_text(m: &Manifest) -> String {
    let p = &m.provenance;
    let mut parts = vec![];
    if !p.source.is_empty() {
        parts.push(p.source.clone());
    }
    if let Some(d) = &p.dataset {
        parts.push(format!("on {d}"));
    }
    if !p.created_by.is_empty() {
        parts.push(format!("by {}", p.created_by));
    }
    let metrics = p.details.get("metrics").and_then(|m| m.as_object());
    for key in [
        "epochs",
        "image_auroc",
        "pixel_auroc",
        "aupro",
        "licence",
        "license",
    ] {
        let value = p
            .details
            .get(key)
            .or_else(|| metrics.and_then(|m| m.get(key)));
        if let Some(v) = value {
            let v = match v {
                serde_json::Value::Number(n) => n
                    .as_f64()
                    .map(|f| {
                        if f.fract() == 0.0 {
                            format!("{f}")
                        } else {
                            format!("{f:.3}")
                        }
                    })
                    .unwrap_or_default(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("{} {v}", key.replace('_', " ")));
        }
    }
    parts.join(" · ")
}

/// Worker → page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker's WebAssembly is running and listens.
    Started,
    /// Bytes of the bundle received so far (`total` 0: unknown).
    Progress {
        /// What is being loaded.
        what: String,
        /// Bytes so far.
        received: u64,
        /// Expected bytes, 0 when unknown.
        total: u64,
    },
    /// The model is loaded; the first run (shader compilation, autotuning) is under way.
    WarmingUp {
        /// The backend it runs on.
        backend: BackendInfo,
    },
    /// Ready to score.
    Loaded {
        /// The model.
        model: ModelInfo,
        /// The backend it runs on.
        backend: BackendInfo,
        /// How long the warm-up run took.
        warm_up_ms: f64,
    },
    /// The bundle could not be loaded (bad URL, checksum, manifest, weights…).
    LoadFailed {
        /// What went wrong, for the user.
        error: String,
    },
    /// An image was scored (data: its anomaly map, `size × size` f32, transferred).
    Scored {
        /// The page's job id.
        job: u64,
        /// Image score (raw map maximum).
        score: f64,
        /// Decode + network + post-processing time in the worker.
        ms: f64,
        /// The map's width and height.
        size: usize,
    },
    /// This image could not be scored (not an image, too large, …); the worker is fine.
    Failed {
        /// The page's job id.
        job: u64,
        /// What went wrong, for the user.
        error: String,
    },
    /// WebGPU failed (device lost, out of memory, a warm-up that failed): this worker cannot
    /// go on with the GPU. The page restarts the work on the CPU.
    GpuFailed {
        /// The job that was running, if any.
        job: Option<u64>,
        /// What the GPU said.
        error: String,
    },
    /// The worker's code panicked; the worker is unusable.
    Crashed {
        /// The panic message.
        error: String,
    },
}

/// A message with its data, ready to post.
pub struct Envelope {
    /// `{msg, data}` as posted.
    pub value: JsValue,
    /// What to transfer rather than copy.
    pub transfer: js_sys::Array,
}

/// Wrap `msg` (serialized once, as JSON) with `data`; `transfer` lists the buffers in `data`
/// whose ownership moves to the receiver.
pub fn envelope<T: Serialize>(msg: &T, data: &JsValue, transfer: &[JsValue]) -> Envelope {
    let obj = js_sys::Object::new();
    // Serializing these enums cannot fail: no maps with non-string keys, no NaN-only fields
    // that would matter (serde_json writes NaN as null).
    let text = serde_json::to_string(msg).unwrap_or_else(|e| format!("\"{e}\""));
    let _ = js_sys::Reflect::set(&obj, &"msg".into(), &text.into());
    let _ = js_sys::Reflect::set(&obj, &"data".into(), data);
    Envelope {
        value: obj.into(),
        transfer: transfer.iter().collect(),
    }
}

/// Read a posted `{msg, data}`.
pub fn open<T: for<'de> Deserialize<'de>>(value: &JsValue) -> Result<(T, JsValue), String> {
    let text = js_sys::Reflect::get(value, &"msg".into())
        .ok()
        .and_then(|m| m.as_string())
        .ok_or_else(|| "a message without its text".to_owned())?;
    let msg =
        serde_json::from_str(&text).map_err(|e| format!("unreadable message {text:?}: {e}"))?;
    let data = js_sys::Reflect::get(value, &"data".into()).unwrap_or(JsValue::UNDEFINED);
    Ok((msg, data))
}

/// Post `msg` to a worker (page side).
pub fn post_to_worker(
    worker: &web_sys::Worker,
    msg: &ToWorker,
    data: &JsValue,
    transfer: &[JsValue],
) -> Result<(), String> {
    let e = envelope(msg, data, transfer);
    worker
        .post_message_with_transfer(&e.value, &e.transfer)
        .map_err(|err| js_message(&err))
}

/// Post `msg` to the page (worker side).
pub fn post_to_page(msg: &FromWorker, data: &JsValue, transfer: &[JsValue]) {
    let e = envelope(msg, data, transfer);
    if let Ok(scope) = js_sys::global().dyn_into::<web_sys::DedicatedWorkerGlobalScope>() {
        let _ = scope.post_message_with_transfer(&e.value, &e.transfer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdpp_inference::Backend;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// `message` read back from its JSON is `message`.
    fn assert_round_trips<M>(message: M)
    where
        M: Serialize + serde::de::DeserializeOwned + PartialEq + core::fmt::Debug,
    {
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(serde_json::from_str::<M>(&text).unwrap(), message, "{text}");
    }

    /// Every message survives its one serialization (what the other side reads is what was sent).
    #[wasm_bindgen_test(unsupported = test)]
    fn messages_round_trip_through_json() {
        let to = [
            ToWorker::Load {
                source: Source::Url {
                    url: "models/brick/".into(),
                    label: "Brick".into(),
                },
                choice: BackendChoice::Use(Backend::Flex),
            },
            ToWorker::Load {
                source: Source::Files {
                    manifest: "manifest.json".into(),
                    weights: "model.safetensors".into(),
                },
                choice: BackendChoice::Auto,
            },
            ToWorker::Score {
                job: 7,
                name: "a.png".into(),
            },
            ToWorker::ScoreFrame {
                job: 8,
                width: 640,
                height: 480,
            },
        ];
        to.into_iter().for_each(assert_round_trips);
        let from = [
            FromWorker::Started,
            FromWorker::GpuFailed {
                job: Some(3),
                error: "device lost".into(),
            },
            FromWorker::Loaded {
                model: ModelInfo {
                    name: "n".into(),
                    backbone: "efficientnet_lite0".into(),
                    input_size: 256,
                    bytes: 3,
                    dtype: "f16".into(),
                    provenance: String::new(),
                    calibration: None,
                },
                backend: BackendInfo::cpu(Some("why".into())),
                warm_up_ms: 12.5,
            },
        ];
        from.into_iter().for_each(assert_round_trips);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn backend_choices_travel_as_their_page_names() {
        let text = serde_json::to_string(&BackendChoice::Use(Backend::Wgpu)).unwrap();
        assert_eq!(text, "\"webgpu\"");
        assert!(serde_json::from_str::<BackendChoice>("\"tpu\"").is_err());
    }
}
