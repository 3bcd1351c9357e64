//! Which model, on which backend, how far loading is, and what the model is.

use leptos::prelude::*;

use crate::analysis::human_bytes;
use crate::catalog::{Catalog, CatalogModel};
use crate::engine::BackendChoice;
use crate::protocol::Source;
use crate::session::{Phase, Session};

/// The model's URL in the catalog's folder (the catalog's paths are relative to it).
pub fn listed_bundle_url(catalog_url: &str, bundle: &str) -> String {
    let base = catalog_url.rfind('/').map_or("", |i| &catalog_url[..=i]);
    format!("{base}{bundle}")
}

/// Where a listed model's bundle is, for [`Session::load`].
pub fn listed_source(catalog_url: &str, m: &CatalogModel) -> Source {
    Source::Url {
        url: listed_bundle_url(catalog_url, &m.bundle),
        label: m.name.clone(),
    }
}

fn phase_text(phase: &Phase) -> String {
    match phase {
        Phase::Starting => "starting…".to_owned(),
        Phase::Loading {
            what,
            received,
            total,
        } => {
            if *total > 0 {
                format!(
                    "loading {what}: {} of {}",
                    human_bytes(*received),
                    human_bytes(*total)
                )
            } else if *received > 0 {
                format!("loading {what}: {}", human_bytes(*received))
            } else {
                format!("loading {what}…")
            }
        }
        Phase::WarmingUp => "warming up (compiling GPU shaders)…".to_owned(),
        Phase::Ready => "ready".to_owned(),
        Phase::Failed => "no model loaded".to_owned(),
    }
}

/// The model panel.
#[component]
pub fn ModelPanel(
    /// The site's model list, once read.
    catalog: Signal<Option<Catalog>>,
    /// Where the list was read from.
    catalog_url: &'static str,
    /// The listed model in use ("" for a URL or dropped files).
    selected: RwSignal<String>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let url_input = RwSignal::new(String::new());
    let load_listed = move |id: String| {
        let source = catalog.with_untracked(|c| {
            c.as_ref()
                .and_then(|c| c.model(&id))
                .map(|m| listed_source(catalog_url, m))
        });
        let Some(source) = source else {
            session.notify(format!("no model {id:?} in the site's list"));
            return;
        };
        selected.set(id);
        session.load(source, wasm_bindgen::JsValue::UNDEFINED);
    };
    let progress = move || match session.phase.get() {
        Phase::Loading {
            received, total, ..
        } if total > 0 => Some((received as f64 / total as f64).min(1.0)),
        _ => None,
    };
    let backend_line = move || match session.backend.get() {
        None => "backend: not started".to_owned(),
        Some(b) if b.gpu => b.label,
        Some(b) => match session.workers.get() {
            0 | 1 => format!("{} · 1 worker, one core", b.label),
            n => format!("{} · {n} workers, one image per core", b.label),
        },
    };
    view! {
        <section class="panel" aria-label="model and backend">
            <div class="row">
                <label for="model-select">"Model"</label>
                <select
                    id="model-select"
                    prop:value=move || selected.get()
                    on:change=move |ev| {
                        let id = event_target_value(&ev);
                        if !id.is_empty() {
                            load_listed(id);
                        }
                    }
                >
                    <option value="" disabled=true>"(a model from a URL or dropped files)"</option>
                    {move || catalog.get().map(|c| c.models.into_iter().map(|m| {
                        let text = if m.bytes > 0 {
                            format!("{} ({})", m.name, human_bytes(m.bytes))
                        } else {
                            m.name.clone()
                        };
                        view! { <option value=m.id.clone()>{text}</option> }
                    }).collect_view())}
                </select>
                <label for="backend-select">"Backend"</label>
                <select
                    id="backend-select"
                    prop:value=move || session.choice.get().as_str()
                    on:change=move |ev| {
                        if let Some(c) = BackendChoice::parse(&event_target_value(&ev)) {
                            session.switch_backend(c);
                        }
                    }
                >
                    <option value="auto">"auto"</option>
                    <option value="webgpu">"WebGPU"</option>
                    <option value="cpu">"CPU"</option>
                </select>
            </div>
            <p class="desc">{move || {
                let id = selected.get();
                catalog.with(|c| c.as_ref().and_then(|c| c.model(&id)).map(|m| m.description.clone())).unwrap_or_default()
            }}</p>
            <p id="backend"
                data-gpu=move || session.backend.get().map(|b| b.gpu.to_string()).unwrap_or_default()
                data-workers=move || session.workers.get().to_string()
            >{backend_line}</p>
            {move || session.backend.get().and_then(|b| b.warning).map(|w| view! { <p class="warn">{w}</p> })}
            <p id="phase" data-phase=move || session.phase.get().key() aria-live="polite">
                {move || phase_text(&session.phase.get())}
                {move || progress().map(|p| view! { <progress max="1" value=p></progress> })}
            </p>
            {move || session.model.get().map(|m| view! {
                <p id="model-info" class="muted">
                    {format!("{} · {} at {}×{} · {} weights ({}) · ", m.name, m.backbone, m.input_size, m.input_size,
                        human_bytes(m.bytes), m.dtype)}
                    {match &m.calibration {
                        Some(c) => format!("threshold {:.4}", c.image_threshold),
                        None => "not calibrated: no verdicts".to_owned(),
                    }}
                    <br/>{m.provenance}
                </p>
            })}
            <form class="row" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                let url = url_input.get_untracked().trim().to_owned();
                if !url.is_empty() {
                    selected.set(String::new());
                    session.load(Source::Url { url: url.clone(), label: url }, wasm_bindgen::JsValue::UNDEFINED);
                }
            }>
                <label for="model-url">"Model URL"</label>
                <input
                    id="model-url"
                    type="url"
                    placeholder="https://…/bundle/ (folder with manifest.json)"
                    prop:value=move || url_input.get()
                    on:input=move |ev| url_input.set(event_target_value(&ev))
                />
                <button type="submit">"Load"</button>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn listed_bundles_are_found_next_to_the_list() {
        assert_eq!(
            listed_bundle_url("models/manifest.json", "brick/"),
            "models/brick/"
        );
        assert_eq!(listed_bundle_url("manifest.json", "brick/"), "brick/");
    }
}
