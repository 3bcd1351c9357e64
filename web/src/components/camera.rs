//! Live camera mode: frames of the user's camera are scored continuously in a worker, at the
//! rate the backend sustains, with the heatmap over the video, the score, the verdict and the
//! frame rate. Capture freezes the current frame and its result into a card. Frames stay in
//! memory only: nothing is stored or sent anywhere.

use std::collections::VecDeque;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::analysis::Verdict;
use crate::components::{Display, put_rgba};
use crate::error::js_message;
use crate::net;
use crate::session::{CardResult, Session};

/// Frames are scored at most this wide or high (the model resizes to its input anyway).
const MAX_FRAME_SIDE: u32 = 640;

/// Why there is no camera, in words a user can act on.
fn camera_error(e: &JsValue) -> String {
    let name = js_sys::Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => {
            "camera permission was denied: allow the camera for this site in the browser's settings"
                .into()
        }
        "NotFoundError" | "OverconstrainedError" => "no camera was found on this device".into(),
        "NotReadableError" => "the camera is in use by another application".into(),
        _ => format!("the camera could not start ({})", js_message(e)),
    }
}

async fn open_camera() -> Result<web_sys::MediaStream, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("no camera access here: browsers allow cameras only on secure pages (https or localhost)")?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let promise = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|e| camera_error(&e))?;
    let stream = JsFuture::from(promise)
        .await
        .map_err(|e| camera_error(&e))?;
    stream
        .dyn_into()
        .map_err(|_| "the camera gave no video stream".to_owned())
}

fn stop_stream(stream: &web_sys::MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(t) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            t.stop();
        }
    }
}

fn context_2d(canvas: &web_sys::HtmlCanvasElement) -> Option<web_sys::CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// Copy the video's current frame into `canvas` (at most [`MAX_FRAME_SIDE`]) and return its
/// RGBA pixels; None before the first frame.
fn grab(
    video: &web_sys::HtmlVideoElement,
    canvas: &web_sys::HtmlCanvasElement,
) -> Option<(u32, u32, js_sys::Uint8Array)> {
    let (vw, vh) = (video.video_width(), video.video_height());
    if vw == 0 || vh == 0 {
        return None;
    }
    let k = (MAX_FRAME_SIDE as f64 / vw.max(vh) as f64).min(1.0);
    let (w, h) = (
        ((vw as f64) * k).round().max(1.0) as u32,
        ((vh as f64) * k).round().max(1.0) as u32,
    );
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx = context_2d(canvas)?;
    ctx.draw_image_with_html_video_element_and_dw_and_dh(video, 0.0, 0.0, w as f64, h as f64)
        .ok()?;
    let data = ctx.get_image_data(0.0, 0.0, w as f64, h as f64).ok()?;
    Some((w, h, js_sys::Uint8Array::from(&data.data().0[..])))
}

/// Frames per second over the last results.
fn fps(times: &VecDeque<f64>) -> f64 {
    match (times.front(), times.back()) {
        (Some(a), Some(b)) if times.len() > 1 && b > a => {
            (times.len() - 1) as f64 * 1000.0 / (b - a)
        }
        _ => 0.0,
    }
}

/// The camera panel: a button until started, then the live view.
#[component]
pub fn Camera() -> impl IntoView {
    let session = expect_context::<Session>();
    let display = expect_context::<Display>();
    let running = RwSignal::new(false);
    let latest = RwSignal::new(None::<CardResult>);
    let rate = RwSignal::new(0.0f64);
    let frames = RwSignal::new(0u64);
    let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
    let video_ref = NodeRef::<leptos::html::Video>::new();
    let heat_ref = NodeRef::<leptos::html::Canvas>::new();
    // The frame that was scored last (what Capture keeps), and the one being scored.
    let shown_ref = NodeRef::<leptos::html::Canvas>::new();
    let grab_canvas = StoredValue::new_local(
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("canvas").ok())
            .and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok()),
    );

    let stop = move || {
        running.set(false);
        if let Some(s) = stream.get_value() {
            stop_stream(&s);
        }
        stream.set_value(None);
        if let Some(v) = video_ref.get_untracked() {
            v.set_src_object(None);
        }
        latest.set(None);
    };
    on_cleanup(stop);

    let score_loop = move || async move {
        let mut times = VecDeque::new();
        while running.get_untracked() {
            let (Some(video), Some(canvas)) = (video_ref.get_untracked(), grab_canvas.get_value())
            else {
                break;
            };
            let Some((w, h, rgba)) = grab(&video, &canvas) else {
                net::sleep_ms(30).await;
                continue;
            };
            match session.score_frame(w, h, rgba).await {
                Ok(frame) => {
                    if !running.get_untracked() {
                        break;
                    }
                    // Keep the scored frame for Capture, draw its heatmap.
                    if let Some(shown) = shown_ref.get_untracked() {
                        shown.set_width(w);
                        shown.set_height(h);
                        if let Some(ctx) = context_2d(&shown) {
                            let _ = ctx.draw_image_with_html_canvas_element(&canvas, 0.0, 0.0);
                        }
                    }
                    if let Some(heat) = heat_ref.get_untracked() {
                        let r = &frame.result;
                        put_rgba(&heat, r.map.size, &r.map.rgba(&r.scale));
                    }
                    times.push_back(frame.at_ms);
                    if times.len() > 10 {
                        times.pop_front();
                    }
                    rate.set(fps(&times));
                    frames.update(|n| *n += 1);
                    latest.set(Some(frame.result));
                }
                // Every worker busy (images in the queue) or none ready yet: try again soon.
                Err(_) => net::sleep_ms(50).await,
            }
        }
    };

    let start = move |_| {
        spawn_local(async move {
            match open_camera().await {
                Ok(s) => {
                    if let Some(v) = video_ref.get_untracked() {
                        v.set_src_object(Some(&s));
                        let _ = v.play();
                    }
                    stream.set_value(Some(s));
                    frames.set(0);
                    running.set(true);
                    score_loop().await;
                }
                Err(e) => session.notify(e),
            }
        });
    };

    let capture = move |_| {
        let (Some(result), Some(shown)) = (latest.get_untracked(), shown_ref.get_untracked())
        else {
            return;
        };
        spawn_local(async move {
            let blob = JsFuture::from(js_sys::Promise::new(&mut |resolve, _| {
                let _ = shown.to_blob(&resolve);
            }))
            .await;
            match blob.ok().and_then(|b| b.dyn_into::<web_sys::Blob>().ok()) {
                Some(blob) => {
                    let n = session.cards.get_untracked().len() + 1;
                    session.add_result(format!("camera_{n:03}.png"), blob, result);
                }
                None => session.notify("the frame could not be captured"),
            }
        });
    };

    let verdict = move || {
        latest
            .get()
            .map(|r| Verdict::of(r.score, display.threshold(&r.scale)))
    };
    view! {
        <section class="panel camera" aria-label="camera">
            <div class="row">
                <Show when=move || running.get() fallback=move || view! {
                    <button id="camera-start" on:click=start>"Camera"</button>
                    <span class="muted">"Score a live camera: frames stay on this device."</span>
                }>
                    <button id="camera-stop" on:click=move |_| stop()>"Stop camera"</button>
                    <button id="camera-capture" disabled=move || latest.get().is_none() on:click=capture>"Capture"</button>
                </Show>
            </div>
            <div id="camera" class="live" class:hidden=move || !running.get()
                data-frames=move || frames.get().to_string()
                data-fps=move || format!("{:.1}", rate.get())
                data-score=move || latest.get().map(|r| format!("{:.17e}", r.score)).unwrap_or_default()
                data-verdict=move || verdict().map(|v| v.label()).unwrap_or_default()
                data-peak-x=move || latest.get().map(|r| format!("{:.4}", r.map.peak().0)).unwrap_or_default()
                data-peak-y=move || latest.get().map(|r| format!("{:.4}", r.map.peak().1)).unwrap_or_default()
            >
                <div class="view">
                    <video node_ref=video_ref autoplay=true muted=true playsinline=true></video>
                    <canvas node_ref=heat_ref class="heat"
                        style:opacity=move || format!("{}", display.opacity.get())
                        class:hidden=move || latest.get().is_none()></canvas>
                    {move || verdict().map(|v| view! { <span class=format!("badge {}", v.label())>{v.label()}</span> })}
                </div>
                <canvas node_ref=shown_ref class="hidden-frame" aria-hidden="true"></canvas>
                <p class="meta">
                    {move || latest.get().map(|r| format!("score {:.4} · ", r.score)).unwrap_or_default()}
                    {move || format!("{:.1} frames/s · {}", rate.get(), latest.get().map(|r| r.backend).unwrap_or("waiting"))}
                </p>
            </div>
        </section>
    }
}
