//! The page: one [`Session`] (the model in its workers, the queue) and one [`Display`] (how
//! results are shown) in the context, and the components around them. Leptos, client-side.

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::catalog::{Catalog, Sample};
use crate::components::Display;
use crate::components::camera::Camera;
use crate::components::card::CardView;
use crate::components::controls::Controls;
use crate::components::drop_zone::{DropZone, files_of, take_files};
use crate::components::model_panel::{ModelPanel, listed_source};
use crate::components::notices::Notices;
use crate::components::samples::Samples;
use crate::engine::BackendChoice;
use crate::net;
use crate::protocol::Source;
use crate::session::{Phase, Session};

/// URL of the site's model list, relative to the page (works under any sub-path).
const CATALOG_URL: &str = "models/manifest.json";

/// Query parameter `name` of the page URL.
fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name).filter(|s| !s.is_empty())
}

/// The site's model list (the error as text: a resource's value is cloned).
async fn fetch_catalog() -> Result<Catalog, String> {
    let bytes = net::fetch_bytes(CATALOG_URL, |_, _| {})
        .await
        .map_err(|e| e.to_string())?;
    Catalog::parse(&bytes, CATALOG_URL).map_err(|e| e.to_string())
}

/// The settings in the page's address: `?backend=auto|webgpu|cpu`, `?workers=N` (CPU
/// workers, default one per core), `?model=ID|URL`.
fn apply_query(session: Session) {
    if let Some(b) = query_param("backend") {
        match BackendChoice::parse(&b) {
            Some(c) => session.choice.set(c),
            None => session.notify(format!(
                "unknown backend {b:?} in the URL (auto, webgpu or cpu); using auto"
            )),
        }
    }
    if let Some(w) = query_param("workers") {
        match w.parse::<usize>() {
            Ok(n) if n >= 1 => session.set_workers_override(Some(n)),
            _ => session.notify(format!(
                "workers={w:?} in the URL is not a count of 1 or more; using one per core"
            )),
        }
    }
}

/// The first model: `?model=` (an id of the list or a bundle URL), else the list's default.
fn load_first_model(session: Session, catalog: Option<&Catalog>, selected: RwSignal<String>) {
    let listed = match query_param("model") {
        Some(r) => match catalog.and_then(|c| c.model(&r)) {
            Some(m) => Some(m),
            None => {
                // Not an id of the list: a bundle URL.
                selected.set(String::new());
                let source = Source::Url {
                    url: r.clone(),
                    label: r,
                };
                return session.load(source, JsValue::UNDEFINED);
            }
        },
        None => catalog.and_then(|c| c.default_model()),
    };
    match listed {
        Some(m) => {
            selected.set(m.id.clone());
            session.load(listed_source(CATALOG_URL, m), JsValue::UNDEFINED);
        }
        None => session.phase.set(Phase::Failed),
    }
}

#[component]
fn App() -> impl IntoView {
    let session = Session::new();
    let display = Display::new();
    provide_context(session);
    provide_context(display);
    apply_query(session);

    let selected = RwSignal::new(String::new());
    let catalog_res = LocalResource::new(fetch_catalog);
    let catalog = Signal::derive(move || catalog_res.get().and_then(|r| r.ok()));
    // Once the list is read (or failed), load the first model, once.
    let started = StoredValue::new(false);
    Effect::new(move |_| {
        let Some(result) = catalog_res.get() else {
            return;
        };
        if started.get_value() {
            return;
        }
        started.set_value(true);
        if let Err(e) = &result {
            session.notify(e);
        }
        load_first_model(session, result.as_ref().ok(), selected);
    });
    let samples: Signal<Vec<Sample>> = Signal::derive(move || {
        let id = selected.get();
        catalog
            .with(|c| {
                c.as_ref()
                    .and_then(|c| c.model(&id))
                    .map(|m| m.samples.clone())
            })
            .unwrap_or_default()
    });

    // Paste images anywhere on the page; Escape closes the zoomed card.
    let paste = window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
        let files = files_of(ev.clipboard_data().and_then(|d| d.files()));
        if !files.is_empty() {
            ev.prevent_default();
            take_files(session, files);
        }
    });
    on_cleanup(move || paste.remove());
    let escape = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Escape" {
            display.zoomed.set(None);
        }
    });
    on_cleanup(move || escape.remove());

    view! {
        <header>
            <h1>"rdpp"<span class="sub">" — RD++ anomaly heatmaps in your browser"</span></h1>
            <p class="privacy">"Images never leave this machine: the network runs here, on your GPU or CPU."</p>
        </header>
        <ModelPanel catalog=catalog catalog_url=CATALOG_URL selected=selected />
        <Notices />
        <DropZone on_bundle=Callback::new(move |_| selected.set(String::new())) />
        <Samples samples=samples />
        <Camera />
        <Controls />
        <main class="cards" class:side=move || display.side_by_side.get() id="cards">
            <For each=move || session.cards.get() key=|c| c.id let:card>
                <CardView card=card />
            </For>
        </main>
        <footer class="muted">
            "RD++: Tien et al., “Revisiting Reverse Distillation for Anomaly Detection”, CVPR 2023. "
            "Scores are raw anomaly-map maxima; the verdict compares them with the model's calibrated threshold."
        </footer>
    }
}

/// Mount the app on the page's body, with panics shown on the page instead of only the console.
pub fn mount() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            if let Some(el) = doc.get_element_by_id("fatal") {
                el.set_text_content(Some(&format!(
                    "rdpp stopped after an internal error: {info}. Reload the page; if it happens again, \
                     try ?backend=cpu."
                )));
                let _ = el.set_attribute("data-fatal", "1");
                let _ = el.remove_attribute("hidden");
            }
        }
    }));
    leptos::mount::mount_to_body(App);
}
