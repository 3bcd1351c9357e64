//! The page: model picker, drop zone, queue of result cards, sliders. Leptos (client-side
//! rendering). Compute state that is not `Send` (the burn model, file bytes) lives in
//! thread-locals; everything the view shows lives in signals.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use rdpp_inference::bundle::{Manifest, sha256_hex};
use wasm_bindgen::JsCast;

use crate::analysis::{HeatMap, Scale, ScoreRow, Verdict, human_bytes, scores_csv};
use crate::catalog::{BundleLocation, Catalog, CatalogModel};
use crate::engine::{BackendChoice, BackendInfo, Engine, decode, init_backend};
use crate::error::AppError;
use crate::net;
use rdpp_inference::Backend;

/// URL of the site's model list, relative to the page (works under any sub-path).
const CATALOG_URL: &str = "models/manifest.json";

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
    static IMAGES: RefCell<HashMap<usize, Rc<Vec<u8>>>> = RefCell::new(HashMap::new());
    static QUEUE: RefCell<VecDeque<usize>> = const { RefCell::new(VecDeque::new()) };
    static BUSY: RefCell<bool> = const { RefCell::new(false) };
}

fn engine() -> Option<Rc<Engine>> {
    ENGINE.with(|e| e.borrow().clone())
}

/// Where the model is in its life.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Starting,
    Loading {
        what: String,
        received: u64,
        total: u64,
    },
    WarmingUp,
    Ready,
    Failed,
}

/// What the page shows about the loaded model.
#[derive(Clone, Debug, PartialEq)]
struct ModelView {
    name: String,
    backbone: String,
    input_size: usize,
    bytes: u64,
    dtype: String,
    provenance: String,
    scale: Scale,
}

/// One image's card.
#[derive(Clone, Debug, PartialEq)]
enum CardState {
    Queued,
    Running,
    Done(Arc<CardResult>),
    Failed(String),
}

#[derive(Debug, PartialEq)]
struct CardResult {
    score: f64,
    ms: f64,
    map: HeatMap,
    scale: Scale,
    model: String,
    backend: &'static str,
}

#[derive(Clone, Debug)]
struct Card {
    id: usize,
    name: String,
    url: Option<String>,
    mask_url: Option<String>,
    sample_label: Option<String>,
    state: RwSignal<CardState>,
}

/// All the signals of the page; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
struct Ctx {
    phase: RwSignal<Phase>,
    backend: RwSignal<Option<BackendInfo>>,
    choice: RwSignal<BackendChoice>,
    catalog: RwSignal<Option<Catalog>>,
    selected: RwSignal<String>,
    model: RwSignal<Option<ModelView>>,
    cards: RwSignal<Vec<Card>>,
    next_id: RwSignal<usize>,
    errors: RwSignal<Vec<(usize, String)>>,
    opacity: RwSignal<f64>,
    sensitivity: RwSignal<f64>,
    side_by_side: RwSignal<bool>,
    zoomed: RwSignal<Option<usize>>,
    url_input: RwSignal<String>,
}

impl Ctx {
    fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Starting),
            backend: RwSignal::new(None),
            choice: RwSignal::new(BackendChoice::Auto),
            catalog: RwSignal::new(None),
            selected: RwSignal::new(String::new()),
            model: RwSignal::new(None),
            cards: RwSignal::new(Vec::new()),
            next_id: RwSignal::new(0),
            errors: RwSignal::new(Vec::new()),
            opacity: RwSignal::new(0.5),
            sensitivity: RwSignal::new(0.5),
            side_by_side: RwSignal::new(false),
            zoomed: RwSignal::new(None),
            url_input: RwSignal::new(String::new()),
        }
    }

    fn fresh_id(&self) -> usize {
        let id = self.next_id.get_untracked();
        self.next_id.set(id + 1);
        id
    }

    fn error(&self, e: impl std::fmt::Display) {
        let id = self.fresh_id();
        let text = e.to_string();
        web_sys::console::error_1(&text.clone().into());
        self.errors.update(|v| v.push((id, text)));
    }

    fn threshold(&self) -> Option<f64> {
        self.model
            .get()
            .and_then(|m| m.scale.threshold_at(self.sensitivity.get()))
    }
}

/// Query parameter `name` of the page URL.
fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok()?;
    params.get(name).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------
// Model loading.

async fn start(ctx: Ctx) {
    if let Some(b) = query_param("backend") {
        match BackendChoice::parse(&b) {
            Some(c) => ctx.choice.set(c),
            None => ctx.error(format!(
                "unknown backend {b:?} in the URL (auto, webgpu or cpu); using auto"
            )),
        }
    }
    let catalog = match net::fetch_bytes(CATALOG_URL, |_, _| {}).await {
        Ok(bytes) => match Catalog::parse(&bytes, CATALOG_URL) {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.error(e);
                None
            }
        },
        Err(e) => {
            ctx.error(e);
            None
        }
    };
    ctx.catalog.set(catalog.clone());
    let requested = query_param("model");
    let target = match (&requested, &catalog) {
        (Some(r), Some(c)) if c.models.iter().any(|m| &m.id == r) => {
            Some(Target::Listed(r.clone()))
        }
        (Some(r), _) => Some(Target::Url(r.clone())),
        (None, Some(c)) => c.default_model().map(|m| Target::Listed(m.id.clone())),
        (None, None) => None,
    };
    match target {
        Some(Target::Listed(id)) => load_listed(ctx, id).await,
        Some(Target::Url(url)) => load_url(ctx, url.clone(), url).await,
        None => ctx.phase.set(Phase::Failed),
    }
}

enum Target {
    Listed(String),
    Url(String),
}

fn listed_model(ctx: Ctx, id: &str) -> Option<CatalogModel> {
    ctx.catalog
        .get_untracked()
        .and_then(|c| c.models.into_iter().find(|m| m.id == id))
}

async fn load_listed(ctx: Ctx, id: String) {
    let Some(m) = listed_model(ctx, &id) else {
        ctx.error(format!("no model {id:?} in the site's list"));
        return;
    };
    ctx.selected.set(id);
    let base = match CATALOG_URL.rfind('/') {
        Some(i) => &CATALOG_URL[..=i],
        None => "",
    };
    load_url(ctx, format!("{base}{}", m.bundle), m.name.clone()).await;
}

async fn load_url(ctx: Ctx, url: String, label: String) {
    if let Err(e) = try_load_url(ctx, &url, &label).await {
        settle_after_failed_load(ctx);
        ctx.error(format!("model {label}: {e}"));
    }
}

/// After a model failed to load: the previous model, if any, stays in use.
fn settle_after_failed_load(ctx: Ctx) {
    ctx.phase.set(if engine().is_some() {
        Phase::Ready
    } else {
        Phase::Failed
    });
}

async fn try_load_url(ctx: Ctx, url: &str, label: &str) -> Result<(), AppError> {
    let loc = BundleLocation::from_url(url);
    ctx.phase.set(Phase::Loading {
        what: format!("{label}: manifest"),
        received: 0,
        total: 0,
    });
    let manifest_bytes = net::fetch_bytes(&loc.manifest_url, |_, _| {}).await?;
    let manifest = Manifest::parse(&manifest_bytes, Path::new(&loc.manifest_url))?;
    let weights_url = loc.file_url(&manifest.weights.file)?;
    let sha = manifest.weights.sha256.to_ascii_lowercase();
    let mut from_cache = false;
    let weights = match net::cached(&weights_url, &sha).await {
        Some(b) if sha256_hex(&b) == sha => {
            from_cache = true;
            b
        }
        Some(_) => {
            net::evict(&weights_url, &sha).await;
            fetch_weights(ctx, &weights_url, label).await?
        }
        None => fetch_weights(ctx, &weights_url, label).await?,
    };
    install(ctx, manifest, weights.clone()).await?;
    if !from_cache {
        net::store(&weights_url, &sha, &weights).await;
    }
    Ok(())
}

async fn fetch_weights(ctx: Ctx, url: &str, label: &str) -> Result<Vec<u8>, AppError> {
    let what = format!("{label}: weights");
    net::fetch_bytes(url, |received, total| {
        ctx.phase.set(Phase::Loading {
            what: what.clone(),
            received,
            total,
        })
    })
    .await
}

/// Load verified weights on the chosen backend, warm up, and make it the current model.
async fn install(ctx: Ctx, manifest: Manifest, weights: Vec<u8>) -> Result<(), AppError> {
    let (device, info) = init_backend(ctx.choice.get_untracked()).await;
    ctx.backend.set(Some(info.clone()));
    let mut engine = Engine::load(manifest, Rc::new(weights), device, info)?;
    ctx.phase.set(Phase::WarmingUp);
    net::yield_now().await;
    if let Err(e) = engine.warm_up().await {
        if !engine.backend.gpu {
            return Err(e);
        }
        engine = engine.to_cpu(&e.to_string())?;
        ctx.backend.set(Some(engine.backend.clone()));
        engine.warm_up().await?;
    }
    let m = &engine.manifest;
    let view = ModelView {
        name: m.name.clone(),
        backbone: m.backbone.to_string(),
        input_size: m.input_size,
        bytes: m.weights.bytes,
        dtype: format!("{:?}", m.weights.dtype).to_lowercase(),
        provenance: provenance_text(m),
        scale: Scale::from_calibration(m.calibration.as_ref()),
    };
    ENGINE.with(|e| *e.borrow_mut() = Some(Rc::new(engine)));
    ctx.model.set(Some(view));
    ctx.phase.set(Phase::Ready);
    // Images dropped before any model was ready are still queued: score them now.
    let waiting = QUEUE.with(|q| !q.borrow().is_empty());
    if waiting && BUSY.with(|b| !*b.borrow()) {
        spawn_local(run_queue(ctx));
    }
    Ok(())
}

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

/// Switch backend: reload the current model's weights on the new one.
async fn switch_backend(ctx: Ctx, choice: BackendChoice) {
    ctx.choice.set(choice);
    let Some(current) = engine() else { return };
    let manifest = current.manifest.clone();
    let weights = current.weights.as_ref().clone();
    if let Err(e) = install(ctx, manifest, weights).await {
        ctx.error(e);
    }
}

// ---------------------------------------------------------------------------------------------
// Images.

/// Files dropped, pasted or picked: images become cards; a manifest.json + .safetensors pair
/// becomes the current model.
async fn take_files(ctx: Ctx, files: Vec<web_sys::File>) {
    let (bundle, images): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| {
        let n = f.name().to_lowercase();
        n.ends_with(".json") || n.ends_with(".safetensors")
    });
    if !bundle.is_empty() {
        if let Err(e) = take_bundle(ctx, bundle).await {
            settle_after_failed_load(ctx);
            ctx.error(e);
        }
    }
    for f in images {
        match net::read_file(&f).await {
            Ok(bytes) => add_image(ctx, f.name(), bytes, &f.type_(), None, None),
            Err(e) => ctx.error(e),
        }
    }
}

async fn take_bundle(ctx: Ctx, files: Vec<web_sys::File>) -> Result<(), AppError> {
    let manifest = files
        .iter()
        .find(|f| f.name().to_lowercase().ends_with(".json"));
    let weights = files
        .iter()
        .find(|f| f.name().to_lowercase().ends_with(".safetensors"));
    let (Some(mf), Some(wf)) = (manifest, weights) else {
        return Err(AppError::DroppedBundle(
            "to load a model, drop its manifest.json and its .safetensors weights file together"
                .into(),
        ));
    };
    ctx.phase.set(Phase::Loading {
        what: format!("{}: dropped files", wf.name()),
        received: 0,
        total: wf.size() as u64,
    });
    let manifest = Manifest::parse(&net::read_file(mf).await?, Path::new(&mf.name()))?;
    let weights = net::read_file(wf).await?;
    ctx.selected.set(String::new());
    install(ctx, manifest, weights).await
}

fn add_image(
    ctx: Ctx,
    name: String,
    bytes: Vec<u8>,
    mime: &str,
    mask_url: Option<String>,
    sample_label: Option<String>,
) {
    let id = ctx.fresh_id();
    let url = net::object_url(
        &bytes,
        if mime.is_empty() {
            "application/octet-stream"
        } else {
            mime
        },
    );
    IMAGES.with(|m| m.borrow_mut().insert(id, Rc::new(bytes)));
    ctx.cards.update(|c| {
        c.push(Card {
            id,
            name,
            url,
            mask_url,
            sample_label,
            state: RwSignal::new(CardState::Queued),
        })
    });
    QUEUE.with(|q| q.borrow_mut().push_back(id));
    let idle = BUSY.with(|b| !*b.borrow());
    if idle {
        spawn_local(run_queue(ctx));
    }
}

/// Work through the queue one image at a time, yielding to the page between images.
async fn run_queue(ctx: Ctx) {
    BUSY.with(|b| *b.borrow_mut() = true);
    loop {
        // Wait for a model before scoring (images dropped while it loads stay queued).
        if engine().is_none() || ctx.phase.get_untracked() != Phase::Ready {
            if ctx.phase.get_untracked() == Phase::Failed && engine().is_none() {
                // Keep them queued; a model loaded later restarts the queue.
                break;
            }
            net::sleep_ms(50).await;
            continue;
        }
        let Some(id) = QUEUE.with(|q| q.borrow_mut().pop_front()) else {
            break;
        };
        process(ctx, id).await;
        net::yield_now().await;
    }
    BUSY.with(|b| *b.borrow_mut() = false);
}

async fn process(ctx: Ctx, id: usize) {
    let Some(card) = ctx.cards.get_untracked().into_iter().find(|c| c.id == id) else {
        return;
    };
    let Some(bytes) = IMAGES.with(|m| m.borrow().get(&id).cloned()) else {
        return;
    };
    card.state.set(CardState::Running);
    net::yield_now().await; // paint "running" before the (possibly blocking) CPU work
    let rgb = match decode(&bytes, &card.name) {
        Ok(rgb) => rgb,
        Err(e) => {
            card.state.set(CardState::Failed(e.to_string()));
            return;
        }
    };
    let Some(mut eng) = engine() else {
        card.state
            .set(CardState::Failed("no model is loaded".into()));
        return;
    };
    let t0 = net::now_ms();
    let mut result = eng.score(&rgb).await;
    if let Err(e) = &result {
        if eng.backend.gpu {
            // Device lost or out of memory: move the model to the CPU and try again.
            match eng.to_cpu(&e.to_string()) {
                Ok(cpu) => {
                    let cpu = Rc::new(cpu);
                    ctx.backend.set(Some(cpu.backend.clone()));
                    ctx.choice.set(BackendChoice::Use(Backend::Flex));
                    ENGINE.with(|slot| *slot.borrow_mut() = Some(cpu.clone()));
                    eng = cpu;
                    result = eng.score(&rgb).await;
                }
                Err(e2) => ctx.error(e2),
            }
        }
    }
    let ms = net::now_ms() - t0;
    match result {
        Ok(s) => {
            let scale = Scale::from_calibration(eng.manifest.calibration.as_ref());
            card.state.set(CardState::Done(Arc::new(CardResult {
                score: s.score,
                ms,
                map: s.map,
                scale,
                model: eng.manifest.name.clone(),
                backend: if eng.backend.gpu { "webgpu" } else { "cpu" },
            })))
        }
        Err(e) => card.state.set(CardState::Failed(e.to_string())),
    }
}

async fn add_sample(ctx: Ctx, image: String, mask: Option<String>, label: String) {
    match net::fetch_bytes(&image, |_, _| {}).await {
        Ok(bytes) => {
            let name = image.rsplit('/').next().unwrap_or(&image).to_owned();
            add_image(ctx, name, bytes, "image/png", mask, Some(label));
        }
        Err(e) => ctx.error(e),
    }
}

fn files_of(list: Option<web_sys::FileList>) -> Vec<web_sys::File> {
    let Some(list) = list else { return vec![] };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

// ---------------------------------------------------------------------------------------------
// Downloads.

fn download_overlay(ctx: Ctx, card: &Card) {
    let CardState::Done(r) = card.state.get_untracked() else {
        return;
    };
    let Some(bytes) = IMAGES.with(|m| m.borrow().get(&card.id).cloned()) else {
        return;
    };
    let result = decode(&bytes, &card.name).and_then(|rgb| {
        let range = r.map.range(&r.scale);
        let s = r.map.size as u32;
        let out = rdpp_inference::overlay::render_overlay(
            &rgb,
            &r.map.values,
            (s, s),
            range,
            ctx.opacity.get_untracked() as f32,
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
    });
    if let Err(e) = result {
        ctx.error(e);
    }
}

fn download_csv(ctx: Ctx) {
    let rows: Vec<ScoreRow> = ctx
        .cards
        .get_untracked()
        .iter()
        .filter_map(|c| match c.state.get_untracked() {
            CardState::Done(r) => Some(ScoreRow {
                file: c.name.clone(),
                score: r.score,
                ms: Some(r.ms),
            }),
            _ => None,
        })
        .collect();
    let model = ctx
        .model
        .get_untracked()
        .map(|m| m.name)
        .unwrap_or_default();
    let csv = scores_csv(&rows, ctx.threshold(), Some(&model));
    if let Err(e) = net::download(csv.as_bytes(), "text/csv", "rdpp-scores.csv") {
        ctx.error(e);
    }
}

// ---------------------------------------------------------------------------------------------
// Views.

fn put_rgba(canvas: &web_sys::HtmlCanvasElement, size: usize, rgba: &[u8]) {
    canvas.set_width(size as u32);
    canvas.set_height(size as u32);
    let Some(ctx2d) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    if let Ok(data) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        wasm_bindgen::Clamped(rgba),
        size as u32,
        size as u32,
    ) {
        let _ = ctx2d.put_image_data(&data, 0.0, 0.0);
    }
}

/// Where the map peaks, as fractions of width and height (for tests and the zoom view).
fn peak(map: &HeatMap) -> (f64, f64) {
    let (mut best, mut at) = (f32::NEG_INFINITY, 0usize);
    for (i, &v) in map.values.iter().enumerate() {
        if v > best {
            best = v;
            at = i;
        }
    }
    let s = map.size.max(1) as f64;
    (
        ((at % map.size.max(1)) as f64 + 0.5) / s,
        ((at / map.size.max(1)) as f64 + 0.5) / s,
    )
}

#[component]
fn CardView(ctx: Ctx, card: Card) -> impl IntoView {
    let heat_ref = NodeRef::<leptos::html::Canvas>::new();
    let contour_ref = NodeRef::<leptos::html::Canvas>::new();
    let state = card.state;
    Effect::new(move |_| {
        if let (CardState::Done(r), Some(c)) = (state.get(), heat_ref.get()) {
            put_rgba(&c, r.map.size, &r.map.rgba(&r.scale));
        }
    });
    Effect::new(move |_| {
        let threshold = ctx.threshold();
        if let (CardState::Done(r), Some(c)) = (state.get(), contour_ref.get()) {
            let out = (r.map.size * 2).min(1024);
            put_rgba(&c, out, &r.map.contour_rgba(threshold, out));
        }
    });
    let id = card.id;
    let name = card.name.clone();
    let url = card.url.clone().unwrap_or_default();
    let url2 = url.clone();
    let mask_url = card.mask_url.clone();
    let sample_label = card.sample_label.clone();
    let card_for_dl = card.clone();
    let status = move || match state.get() {
        CardState::Queued => "queued",
        CardState::Running => "running",
        CardState::Done(_) => "done",
        CardState::Failed(_) => "failed",
    };
    let result = move || match state.get() {
        CardState::Done(r) => Some(r),
        _ => None,
    };
    let verdict = move || result().map(|r| Verdict::of(r.score, ctx.threshold()));
    view! {
        <article
            class="card"
            class:zoomed=move || ctx.zoomed.get() == Some(id)
            data-file=name.clone()
            data-status=status
            data-score=move || result().map(|r| format!("{:.17e}", r.score)).unwrap_or_default()
            data-backend=move || result().map(|r| r.backend).unwrap_or_default()
            data-peak-x=move || result().map(|r| format!("{:.4}", peak(&r.map).0)).unwrap_or_default()
            data-peak-y=move || result().map(|r| format!("{:.4}", peak(&r.map).1)).unwrap_or_default()
            data-verdict=move || verdict().map(|v| v.label()).unwrap_or_default()
        >
            <div class="views">
                <div class="view original">
                    <img src=url2 alt=format!("{name} (original)") />
                </div>
                <button
                    class="view overlay"
                    title="Zoom"
                    aria-label=format!("zoom {name}")
                    on:click=move |_| ctx.zoomed.update(|z| *z = if *z == Some(id) { None } else { Some(id) })
                >
                    <img src=url alt=name.clone() />
                    <canvas
                        node_ref=heat_ref
                        class="heat"
                        style:opacity=move || format!("{}", ctx.opacity.get())
                        class:hidden=move || result().is_none()
                    ></canvas>
                    <canvas node_ref=contour_ref class="contour"></canvas>
                    <Show when=move || matches!(state.get(), CardState::Queued | CardState::Running)>
                        <div class="spinner" role="status" aria-label="working"></div>
                    </Show>
                </button>
                {mask_url.map(|m| view! {
                    <div class="view truth">
                        <img src=m alt="ground-truth mask" />
                        <span class="caption">"ground truth"</span>
                    </div>
                })}
            </div>
            <div class="meta">
                <span class="name" title=name.clone()>{name.clone()}</span>
                {sample_label.map(|l| view! { <span class="tag">{format!("sample: {l}")}</span> })}
                {move || match state.get() {
                    CardState::Queued => view! { <span class="muted">"queued"</span> }.into_any(),
                    CardState::Running => view! { <span class="muted">"running…"</span> }.into_any(),
                    CardState::Failed(e) => view! { <span class="bad" role="alert">{e}</span> }.into_any(),
                    CardState::Done(r) => {
                        let v = Verdict::of(r.score, ctx.threshold());
                        view! {
                            <span class="score">{format!("score {:.4}", r.score)}</span>
                            <span class=format!("verdict {}", v.label())>{v.label()}</span>
                            <span class="muted">{format!("{:.0} ms · {}", r.ms, r.backend)}</span>
                        }.into_any()
                    }
                }}
                <button
                    class="small"
                    disabled=move || result().is_none()
                    on:click=move |_| download_overlay(ctx, &card_for_dl)
                >"overlay PNG"</button>
            </div>
        </article>
    }
}

#[component]
fn App() -> impl IntoView {
    let ctx = Ctx::new();
    spawn_local(start(ctx));

    // Paste images anywhere on the page.
    let paste = window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
        let files = files_of(ev.clipboard_data().and_then(|d| d.files()));
        if !files.is_empty() {
            ev.prevent_default();
            spawn_local(take_files(ctx, files));
        }
    });
    on_cleanup(move || paste.remove());
    let escape = window_event_listener(leptos::ev::keydown, move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Escape" {
            ctx.zoomed.set(None);
        }
    });
    on_cleanup(move || escape.remove());

    let dragging = RwSignal::new(false);
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        let files = files_of(ev.data_transfer().and_then(|d| d.files()));
        spawn_local(take_files(ctx, files));
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let files = files_of(input.files());
        input.set_value("");
        spawn_local(take_files(ctx, files));
    };

    let phase_text = move || match ctx.phase.get() {
        Phase::Starting => "starting…".to_owned(),
        Phase::Loading {
            what,
            received,
            total,
        } => {
            if total > 0 {
                format!(
                    "loading {what}: {} of {}",
                    human_bytes(received),
                    human_bytes(total)
                )
            } else if received > 0 {
                format!("loading {what}: {}", human_bytes(received))
            } else {
                format!("loading {what}…")
            }
        }
        Phase::WarmingUp => "warming up (compiling GPU shaders)…".to_owned(),
        Phase::Ready => "ready".to_owned(),
        Phase::Failed => "no model loaded".to_owned(),
    };
    let phase_key = move || match ctx.phase.get() {
        Phase::Starting => "starting",
        Phase::Loading { .. } => "loading",
        Phase::WarmingUp => "warming",
        Phase::Ready => "ready",
        Phase::Failed => "failed",
    };
    let progress = move || match ctx.phase.get() {
        Phase::Loading {
            received, total, ..
        } if total > 0 => Some((received as f64 / total as f64).min(1.0)),
        _ => None,
    };
    let samples = move || {
        let id = ctx.selected.get();
        listed_model(ctx, &id)
            .map(|m| m.samples)
            .unwrap_or_default()
    };
    let done_count = move || {
        ctx.cards
            .get()
            .iter()
            .filter(|c| matches!(c.state.get(), CardState::Done(_)))
            .count()
    };

    view! {
        <header>
            <h1>"rdpp"<span class="sub">" — RD++ anomaly heatmaps in your browser"</span></h1>
            <p class="privacy">"Images never leave this machine: the network runs here, on your GPU or CPU."</p>
        </header>
        <section class="panel" aria-label="model and backend">
            <div class="row">
                <label for="model-select">"Model"</label>
                <select
                    id="model-select"
                    prop:value=move || ctx.selected.get()
                    on:change=move |ev| {
                        let id = event_target_value(&ev);
                        if !id.is_empty() {
                            spawn_local(load_listed(ctx, id));
                        }
                    }
                >
                    <option value="" disabled=true>"(a model from a URL or dropped files)"</option>
                    {move || ctx.catalog.get().map(|c| c.models.into_iter().map(|m| {
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
                    prop:value=move || ctx.choice.get().as_str()
                    on:change=move |ev| {
                        if let Some(c) = BackendChoice::parse(&event_target_value(&ev)) {
                            spawn_local(switch_backend(ctx, c));
                        }
                    }
                >
                    <option value="auto">"auto"</option>
                    <option value="webgpu">"WebGPU"</option>
                    <option value="cpu">"CPU"</option>
                </select>
            </div>
            <p class="desc">{move || {
                let id = ctx.selected.get();
                listed_model(ctx, &id).map(|m| m.description).unwrap_or_default()
            }}</p>
            <p id="backend" data-gpu=move || ctx.backend.get().map(|b| b.gpu.to_string()).unwrap_or_default()>
                {move || ctx.backend.get().map(|b| b.label).unwrap_or_else(|| "backend: not started".into())}
            </p>
            {move || ctx.backend.get().and_then(|b| b.warning).map(|w| view! { <p class="warn">{w}</p> })}
            <p id="phase" data-phase=phase_key aria-live="polite">
                {phase_text}
                {move || progress().map(|p| view! { <progress max="1" value=p></progress> })}
            </p>
            {move || ctx.model.get().map(|m| view! {
                <p id="model-info" class="muted">
                    {format!("{} · {} at {}×{} · {} weights ({}) · ", m.name, m.backbone, m.input_size, m.input_size,
                        human_bytes(m.bytes), m.dtype)}
                    {match m.scale.threshold {
                        Some(t) => format!("threshold {t:.4}"),
                        None => "not calibrated: no verdicts".to_owned(),
                    }}
                    <br/>{m.provenance}
                </p>
            })}
            <form class="row" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                let url = ctx.url_input.get_untracked();
                if !url.trim().is_empty() {
                    ctx.selected.set(String::new());
                    spawn_local(load_url(ctx, url.trim().to_owned(), url.trim().to_owned()));
                }
            }>
                <label for="model-url">"Model URL"</label>
                <input
                    id="model-url"
                    type="url"
                    placeholder="https://…/bundle/ (folder with manifest.json)"
                    prop:value=move || ctx.url_input.get()
                    on:input=move |ev| ctx.url_input.set(event_target_value(&ev))
                />
                <button type="submit">"Load"</button>
            </form>
        </section>

        <ul class="errors" aria-live="assertive">
            <For each=move || ctx.errors.get() key=|(id, _)| *id let:item>
                <li role="alert" class="error">
                    <span>{item.1.clone()}</span>
                    <button class="small" aria-label="dismiss" on:click=move |_| {
                        ctx.errors.update(|v| v.retain(|(i, _)| *i != item.0))
                    }>"×"</button>
                </li>
            </For>
        </ul>

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

        <section class="panel samples" aria-label="sample images">
            <span>"Samples:"</span>
            {move || {
                let mut seen: HashMap<String, usize> = HashMap::new();
                samples().into_iter().map(move |s| {
                let n = seen.entry(s.label.clone()).or_insert(0);
                *n += 1;
                let label = format!("{} {}", s.label, n);
                let (image, mask, l) = (s.image.clone(), s.mask.clone(), s.label.clone());
                view! {
                    <button class="small sample" data-label=s.label.clone()
                        on:click=move |_| spawn_local(add_sample(ctx, image.clone(), mask.clone(), l.clone()))
                    >{label}</button>
                }
            }).collect_view()}}
        </section>

        <section class="panel controls" aria-label="display">
            <label>"Heatmap opacity "
                <input type="range" min="0" max="1" step="0.05"
                    prop:value=move || ctx.opacity.get()
                    on:input=move |ev| ctx.opacity.set(event_target_value(&ev).parse().unwrap_or(0.5)) />
            </label>
            <label>"Sensitivity "
                <input id="sensitivity" type="range" min="0" max="1" step="0.01"
                    prop:value=move || ctx.sensitivity.get()
                    on:input=move |ev| ctx.sensitivity.set(event_target_value(&ev).parse().unwrap_or(0.5)) />
                <span class="muted">{move || {
                    match ctx.threshold() {
                        Some(t) => format!("threshold {t:.4}"),
                        None => "no threshold".to_owned(),
                    }
                }}</span>
            </label>
            <label><input type="checkbox" prop:checked=move || ctx.side_by_side.get()
                on:change=move |ev| ctx.side_by_side.set(event_target_checked(&ev)) />" side by side"</label>
            <button class="small" disabled=move || done_count() == 0 on:click=move |_| download_csv(ctx)>
                "scores CSV"
            </button>
            <button class="small" disabled=move || ctx.cards.get().is_empty() on:click=move |_| {
                ctx.cards.set(vec![]);
                IMAGES.with(|m| m.borrow_mut().clear());
                QUEUE.with(|q| q.borrow_mut().clear());
            }>"clear"</button>
        </section>

        <main class="cards" class:side=move || ctx.side_by_side.get() id="cards">
            <For each=move || ctx.cards.get() key=|c| c.id let:card>
                <CardView ctx=ctx card=card />
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
