//! One image's card: the image with its heatmap and predicted-defect contour, the verdict as a
//! coloured badge, the score and time, and the overlay download.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::analysis::Verdict;
use crate::components::{Display, put_rgba};
use crate::engine::decode;
use crate::error::AppError;
use crate::net;
use crate::session::{Card, CardResult, CardState, Session};

/// The overlay PNG as `rdpp infer` writes it (same renderer), at the image's own size.
async fn download_overlay(
    session: Session,
    display: Display,
    card: Card,
    r: std::sync::Arc<CardResult>,
) {
    let result = async {
        let blob = session
            .image(card.id)
            .ok_or_else(|| AppError::Browser(format!("{}: the image is gone", card.name)))?;
        let rgb = decode(&net::read_blob(&blob, &card.name).await?, &card.name)?;
        let s = r.map.size as u32;
        let out = rdpp_inference::overlay::render_overlay(
            &rgb,
            &r.map.values,
            (s, s),
            r.map.range(&r.scale),
            display.opacity.get_untracked() as f32,
        );
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(out)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| AppError::Browser(format!("PNG encoding failed: {e}")))?;
        let stem = card
            .name
            .rsplit_once('.')
            .map(|(s, _)| s)
            .unwrap_or(&card.name);
        net::download(&png, "image/png", &format!("{stem}_overlay.png"))
    }
    .await;
    if let Err(e) = result {
        session.notify(e);
    }
}

/// The card of one image.
#[component]
pub fn CardView(
    /// The image.
    card: Card,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let display = expect_context::<Display>();
    let heat_ref = NodeRef::<leptos::html::Canvas>::new();
    let contour_ref = NodeRef::<leptos::html::Canvas>::new();
    let state = card.state;
    let result = move || match state.get() {
        CardState::Done(r) => Some(r),
        _ => None,
    };
    Effect::new(move |_| {
        if let (Some(r), Some(c)) = (result(), heat_ref.get()) {
            put_rgba(&c, r.map.size, &r.map.rgba(&r.scale));
        }
    });
    Effect::new(move |_| {
        if let (Some(r), Some(c)) = (result(), contour_ref.get()) {
            let out = (r.map.size * 2).min(1024);
            put_rgba(
                &c,
                out,
                &r.map.contour_rgba(display.threshold(&r.scale), out),
            );
        }
    });
    // The object URL goes with the card.
    if let Some(url) = card.url.clone() {
        on_cleanup(move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        });
    }
    let id = card.id;
    let name = card.name.clone();
    let url = card.url.clone().unwrap_or_default();
    let verdict = move || result().map(|r| Verdict::of(r.score, display.threshold(&r.scale)));
    let card_dl = card.clone();
    view! {
        <article
            class="card"
            class:zoomed=move || display.zoomed.get() == Some(id)
            data-file=name.clone()
            data-status=move || state.get().key()
            data-score=move || result().map(|r| format!("{:.17e}", r.score)).unwrap_or_default()
            data-backend=move || result().map(|r| r.backend).unwrap_or_default()
            data-peak-x=move || result().map(|r| format!("{:.4}", r.map.peak().0)).unwrap_or_default()
            data-peak-y=move || result().map(|r| format!("{:.4}", r.map.peak().1)).unwrap_or_default()
            data-verdict=move || verdict().map(|v| v.label()).unwrap_or_default()
        >
            <div class="views">
                <div class="view original">
                    <img src=url.clone() alt=format!("{name} (original)") />
                </div>
                <button
                    class="view overlay"
                    title="Zoom (Esc closes)"
                    aria-label=format!("zoom {name}")
                    aria-pressed=move || (display.zoomed.get() == Some(id)).to_string()
                    on:click=move |_| display.zoomed.update(|z| *z = if *z == Some(id) { None } else { Some(id) })
                >
                    <img src=url alt=name.clone() />
                    <canvas
                        node_ref=heat_ref
                        class="heat"
                        style:opacity=move || format!("{}", display.opacity.get())
                        class:hidden=move || result().is_none()
                    ></canvas>
                    <canvas node_ref=contour_ref class="contour"></canvas>
                    <Show when=move || matches!(state.get(), CardState::Queued | CardState::Running)>
                        <div class="spinner" role="status" aria-label="working"></div>
                    </Show>
                    {move || verdict().map(|v| view! {
                        <span class=format!("badge {}", v.label()) aria-hidden="true">
                            {v.label()}
                        </span>
                    })}
                </button>
                {card.mask_url.clone().map(|m| view! {
                    <div class="view truth">
                        <img src=m alt="ground-truth mask" />
                        <span class="caption">"ground truth"</span>
                    </div>
                })}
            </div>
            <div class="meta">
                <span class="name" title=name.clone()>{name.clone()}</span>
                {card.sample_label.clone().map(|l| view! { <span class="tag">{format!("sample: {l}")}</span> })}
                {move || match state.get() {
                    CardState::Queued => view! { <span class="muted">"queued"</span> }.into_any(),
                    CardState::Running => view! { <span class="muted">"running…"</span> }.into_any(),
                    CardState::Cancelled => view! { <span class="muted">"cancelled"</span> }.into_any(),
                    CardState::Failed(e) => view! { <span class="bad" role="alert">{e}</span> }.into_any(),
                    CardState::Done(r) => {
                        let v = Verdict::of(r.score, display.threshold(&r.scale));
                        view! {
                            <span class=format!("verdict {}", v.label())>{v.label()}</span>
                            <span class="score">{format!("score {:.4}", r.score)}</span>
                            <span class="muted">{format!("{:.0} ms · {}", r.ms, r.backend)}</span>
                        }.into_any()
                    }
                }}
                <button
                    class="small"
                    disabled=move || result().is_none()
                    on:click=move |_| {
                        if let Some(r) = result() {
                            spawn_local(download_overlay(session, display, card_dl.clone(), r));
                        }
                    }
                >"overlay PNG"</button>
            </div>
        </article>
    }
}
