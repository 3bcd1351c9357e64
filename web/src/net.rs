//! Fetching the site's files and model URLs with progress, and keeping verified weights in the
//! browser's Cache Storage so a second visit starts without downloading. Fetch, cache and timers
//! work in the page and in the compute workers alike; downloads and object URLs are the page's.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use crate::error::{AppError, js_message};

/// Cache Storage bucket for model weights (bump the suffix if the key scheme changes).
const CACHE_NAME: &str = "rdpp-weights-v1";

fn window() -> Result<web_sys::Window, AppError> {
    web_sys::window().ok_or_else(|| AppError::Browser("no window (not running in a page)".into()))
}

/// `fetch(url)` on whatever global this runs in (the page's window or a worker's scope).
fn global_fetch(url: &str) -> Result<js_sys::Promise, AppError> {
    let global = js_sys::global();
    if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        return Ok(w.fetch_with_str(url));
    }
    if let Some(w) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        return Ok(w.fetch_with_str(url));
    }
    Err(AppError::Browser("fetch is not available here".into()))
}

async fn response(url: &str) -> Result<Response, AppError> {
    let promise = global_fetch(url)?;
    let resp = JsFuture::from(promise)
        .await
        .map_err(|e| AppError::Network {
            url: url.to_owned(),
            detail: js_message(&e),
        })?;
    let resp: Response = resp
        .dyn_into()
        .map_err(|_| AppError::Browser("fetch did not return a Response".into()))?;
    if !resp.ok() {
        return Err(AppError::http(url, resp.status()));
    }
    Ok(resp)
}

/// GET `url` and return its body; `progress(received, total)` is called as chunks arrive
/// (`total` is 0 when the server does not say).
pub async fn fetch_bytes(
    url: &str,
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<u8>, AppError> {
    let resp = response(url).await?;
    let total = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let network = |e: JsValue| AppError::Network {
        url: url.to_owned(),
        detail: js_message(&e),
    };
    let Some(body) = resp.body() else {
        // No stream (e.g. an empty body): read it whole.
        let buf = JsFuture::from(resp.array_buffer().map_err(network)?)
            .await
            .map_err(network)?;
        let bytes = Uint8Array::new(&buf).to_vec();
        progress(bytes.len() as u64, bytes.len() as u64);
        return Ok(bytes);
    };
    let reader: ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|_| AppError::Browser("the response body cannot be read as a stream".into()))?;
    let mut bytes = Vec::with_capacity(total as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(network)?;
        let done = Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(network)?;
        let part: Uint8Array = value
            .dyn_into()
            .map_err(|_| AppError::Browser("unexpected chunk type in the response".into()))?;
        let start = bytes.len();
        bytes.resize(start + part.length() as usize, 0);
        part.copy_to(&mut bytes[start..]);
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

/// GET `url` as text.
pub async fn fetch_text(url: &str) -> Result<String, AppError> {
    let bytes = fetch_bytes(url, |_, _| {}).await?;
    String::from_utf8(bytes).map_err(|_| AppError::Network {
        url: url.to_owned(),
        detail: "the answer is not text".into(),
    })
}

/// The cache key of a weights file: its URL and expected hash, so a changed file is a miss.
fn cache_key(url: &str, sha256: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}rdpp-sha256={sha256}")
}

async fn open_cache() -> Option<web_sys::Cache> {
    // Cache Storage exists only in secure contexts (https, localhost); elsewhere just skip it.
    let global = js_sys::global();
    let caches = match global.dyn_ref::<web_sys::Window>() {
        Some(w) => w.caches().ok()?,
        None => global
            .dyn_ref::<web_sys::WorkerGlobalScope>()?
            .caches()
            .ok()?,
    };
    let cache = JsFuture::from(caches.open(CACHE_NAME)).await.ok()?;
    cache.dyn_into().ok()
}

/// Weights from the cache, if present (the loader verifies the hash).
pub async fn cached(url: &str, sha256: &str) -> Option<Vec<u8>> {
    let cache = open_cache().await?;
    let hit = JsFuture::from(cache.match_with_str(&cache_key(url, sha256)))
        .await
        .ok()?;
    if hit.is_undefined() || hit.is_null() {
        return None;
    }
    let resp: Response = hit.dyn_into().ok()?;
    let buf = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buf).to_vec())
}

/// Keep verified weights for the next visit (best effort: a full or missing cache is ignored).
pub async fn store_array(url: &str, sha256: &str, bytes: &Uint8Array) {
    let Some(cache) = open_cache().await else {
        return;
    };
    let Ok(resp) = Response::new_with_opt_buffer_source(Some(bytes)) else {
        return;
    };
    let _ = JsFuture::from(cache.put_with_str(&cache_key(url, sha256), &resp)).await;
}

/// Drop a cached entry that failed verification.
pub async fn evict(url: &str, sha256: &str) {
    if let Some(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(&cache_key(url, sha256))).await;
    }
}

/// A global function by name (`setTimeout`, …), in the page or a worker.
fn global_fn(name: &str) -> Option<js_sys::Function> {
    Reflect::get(&js_sys::global(), &name.into())
        .ok()?
        .dyn_into()
        .ok()
}

/// Call `f` once after `ms` milliseconds; returns the timer id for [`cancel_timer`].
pub fn set_timer(f: &js_sys::Function, ms: i32) -> Option<i32> {
    global_fn("setTimeout")?
        .call2(&JsValue::UNDEFINED, f, &ms.into())
        .ok()?
        .as_f64()
        .map(|id| id as i32)
}

/// Cancel a timer from [`set_timer`].
pub fn cancel_timer(id: i32) {
    if let Some(clear) = global_fn("clearTimeout") {
        let _ = clear.call1(&JsValue::UNDEFINED, &id.into());
    }
}

/// Let the browser paint and handle input (a macrotask boundary).
pub async fn yield_now() {
    sleep_ms(0).await;
}

/// Resume after `ms` milliseconds (a `setTimeout`), letting the page run meanwhile.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if set_timer(&resolve, ms).is_none() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Milliseconds since the page or worker started (high resolution).
pub fn now_ms() -> f64 {
    Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Offer `bytes` as a download named `name`.
pub fn download(bytes: &[u8], mime: &str, name: &str) -> Result<(), AppError> {
    let array = js_sys::Array::of1(&Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &opts)
        .map_err(|e| AppError::Browser(js_message(&e)))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| AppError::Browser(js_message(&e)))?;
    let doc = window()?
        .document()
        .ok_or_else(|| AppError::Browser("no document".into()))?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(|e| AppError::Browser(js_message(&e)))?
        .dyn_into()
        .map_err(|_| AppError::Browser("cannot create a link".into()))?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// A `Blob` of `bytes` (for images fetched by the page, e.g. the samples).
pub fn blob(bytes: &[u8], mime: &str) -> Result<web_sys::Blob, AppError> {
    let array = js_sys::Array::of1(&Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &opts)
        .map_err(|e| AppError::Browser(js_message(&e)))
}

/// An object URL for showing a blob in an `<img>`; revoke it with
/// `web_sys::Url::revoke_object_url` when the image goes.
pub fn object_url(blob: &web_sys::Blob) -> Option<String> {
    web_sys::Url::create_object_url_with_blob(blob).ok()
}

/// Read a blob (a dropped or picked file, or an image sent to a worker) whole.
pub async fn read_blob(blob: &web_sys::Blob, name: &str) -> Result<Vec<u8>, AppError> {
    let buf = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|e| AppError::Browser(format!("{name}: cannot be read ({})", js_message(&e))))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn cache_keys_carry_the_hash() {
        assert_eq!(
            cache_key("m/model.safetensors", "ab"),
            "m/model.safetensors?rdpp-sha256=ab"
        );
        assert_eq!(
            cache_key("https://x/w?v=2", "ab"),
            "https://x/w?v=2&rdpp-sha256=ab"
        );
    }
}
