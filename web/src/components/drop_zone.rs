//! Where images come in: dropped, picked or pasted. A bundle's `manifest.json` and
//! `.safetensors` dropped together become the current model.

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use crate::error::AppError;
use crate::protocol::Source;
use crate::session::Session;

/// The files of a drop, a paste or a file picker.
pub fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return vec![] };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// Images become cards; a manifest + weights pair becomes the model.
pub fn take_files(session: Session, files: Vec<web_sys::File>) {
    let (bundle, images): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| {
        let n = f.name().to_lowercase();
        n.ends_with(".json") || n.ends_with(".safetensors")
    });
    if !bundle.is_empty() {
        if let Err(e) = take_bundle(session, &bundle) {
            session.notify(e);
        }
    }
    session.add_images(images.into_iter().map(|f| (f.name(), f.into())).collect());
}

fn take_bundle(session: Session, files: &[web_sys::File]) -> Result<(), AppError> {
    let find = |ext: &str| {
        files
            .iter()
            .find(|f| f.name().to_lowercase().ends_with(ext))
    };
    let (Some(mf), Some(wf)) = (find(".json"), find(".safetensors")) else {
        return Err(AppError::DroppedBundle(
            "to load a model, drop its manifest.json and its .safetensors weights file together"
                .into(),
        ));
    };
    let source = Source::Files {
        manifest: mf.name(),
        weights: wf.name(),
    };
    // The files themselves go to the workers (a reference, not a copy).
    let data: JsValue = js_sys::Array::of2(mf, wf).into();
    session.load(source, data);
    Ok(())
}

/// The drop zone (also a file picker, and keyboard operable through its input).
#[component]
pub fn DropZone(
    /// Called with the picked or dropped files' model id change (the model select clears).
    on_bundle: Callback<()>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let dragging = RwSignal::new(false);
    let take = move |files: Vec<web_sys::File>| {
        if files
            .iter()
            .any(|f| f.name().to_lowercase().ends_with(".safetensors"))
        {
            on_bundle.run(());
        }
        take_files(session, files);
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        take(files_of(ev.data_transfer().and_then(|d| d.files())));
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files = files_of(input.files());
        input.set_value("");
        take(files);
    };
    view! {
        <label
            class="drop"
            class:dragging=move || dragging.get()
            for="file-input"
            on:dragover=move |ev: web_sys::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
            <strong>"Drop images here, paste them, or click to choose"</strong>
            <span class="muted">"PNG, JPEG, BMP, WebP, TIFF · many at once · drop a bundle's manifest.json + model.safetensors to load that model"</span>
            <input id="file-input" type="file" multiple=true
                accept="image/*,.png,.jpg,.jpeg,.bmp,.webp,.tif,.tiff,.json,.safetensors"
                on:change=on_pick />
        </label>
    }
}
