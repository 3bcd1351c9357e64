//! The page's state without its DOM: which model is loaded on which workers, the queue of
//! images, the camera's frame, and what happens when a worker or the GPU fails. Components read
//! the signals and call the methods; only this module talks to the workers.
//!
//! - A model lives in a *pool* of workers that all loaded it on the same backend: one for
//!   WebGPU (one device), one per core for the CPU (see [`cpu_pool_size`]): each CPU worker
//!   scores different images of the queue.
//! - Loading starts a new pool; it replaces the current one only once its first worker is
//!   ready, so a model that fails to load leaves the previous one in use.
//! - A GPU failure (an error, a panic, or no answer within the watchdog's time) ends the pool
//!   and starts a CPU one on the same bundle; the image that was running is scored again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::analysis::{HeatMap, Scale};
use crate::engine::{BackendChoice, BackendInfo};
use crate::net;
use crate::pool::{WorkerEvent, WorkerHandle};
use crate::protocol::{FromWorker, ModelInfo, Source, ToWorker};
use rdpp_inference::Backend;

mod events;

/// Where the model is in its life.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Before anything was asked.
    Starting,
    /// A bundle is on its way.
    Loading {
        /// What is loading.
        what: String,
        /// Bytes so far.
        received: u64,
        /// Expected bytes, 0 when unknown.
        total: u64,
    },
    /// The first run (shader compilation) is under way.
    WarmingUp,
    /// Scoring.
    Ready,
    /// No model could be loaded.
    Failed,
}

impl Phase {
    /// The `data-phase` value (stable, for tests and styles).
    pub fn key(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Loading { .. } => "loading",
            Phase::WarmingUp => "warming",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
        }
    }
}

/// One image's result.
#[derive(Clone, Debug, PartialEq)]
pub struct CardResult {
    /// Image score (raw map maximum).
    pub score: f64,
    /// Time in the worker (decode, network, post-processing).
    pub ms: f64,
    /// The anomaly map.
    pub map: HeatMap,
    /// Threshold and colour range of the model that scored it.
    pub scale: Scale,
    /// That model's name.
    pub model: String,
    /// "webgpu" or "cpu".
    pub backend: &'static str,
}

/// Where an image's card is.
#[derive(Clone, Debug, PartialEq)]
pub enum CardState {
    /// Waiting for a worker.
    Queued,
    /// In a worker.
    Running,
    /// Scored.
    Done(Arc<CardResult>),
    /// Could not be scored (the reason, for the user).
    Failed(String),
    /// Taken off the queue by the user.
    Cancelled,
}

impl CardState {
    /// The `data-status` value.
    pub fn key(&self) -> &'static str {
        match self {
            CardState::Queued => "queued",
            CardState::Running => "running",
            CardState::Done(_) => "done",
            CardState::Failed(_) => "failed",
            CardState::Cancelled => "cancelled",
        }
    }
}

/// One image on the page.
#[derive(Clone, Debug)]
pub struct Card {
    /// Unique id (also the job id sent to the workers).
    pub id: u64,
    /// File name.
    pub name: String,
    /// Object URL of the image (revoked when the card goes).
    pub url: Option<String>,
    /// The ground-truth mask, for the site's samples.
    pub mask_url: Option<String>,
    /// "good"/"defect" for the site's samples.
    pub sample_label: Option<String>,
    /// Where it is.
    pub state: RwSignal<CardState>,
}

/// A scored camera frame.
#[derive(Debug, PartialEq)]
pub struct FrameResult {
    /// The result, as for an image.
    pub result: CardResult,
    /// When it arrived (ms, page clock).
    pub at_ms: f64,
}

/// A message for the user: an error, or a notice such as a backend change.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Unique id (for dismissing).
    pub id: u64,
    /// The text.
    pub text: String,
}

struct Slot {
    /// None once the worker has ended (the other slots keep their index).
    handle: Option<WorkerHandle>,
    state: SlotState,
    /// Watchdog timer of the running GPU job.
    watchdog: Option<i32>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(id) = self.watchdog.take() {
            net::cancel_timer(id);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SlotState {
    Dead,
    Starting,
    Loading,
    Ready,
    Busy(u64),
}

/// Workers that loaded one bundle on one backend.
struct Pool {
    id: u64,
    source: Source,
    /// The dropped files, for `Source::Files`.
    data: JsValue,
    choice: BackendChoice,
    slots: Vec<Slot>,
    /// Known once the first worker has loaded.
    backend: Option<BackendInfo>,
    model: Option<ModelInfo>,
    warm_up_ms: f64,
    /// Workers replaced after a crash (bounded, so a model that always crashes stops).
    restarts: usize,
}

impl Pool {
    fn gpu(&self) -> bool {
        self.backend.as_ref().is_some_and(|b| b.gpu)
            || (self.backend.is_none() && self.choice != BackendChoice::Use(Backend::Flex))
    }
}

#[derive(Default)]
struct Inner {
    current: Option<Pool>,
    candidate: Option<Pool>,
    queue: VecDeque<u64>,
    images: HashMap<u64, web_sys::Blob>,
    /// The camera's frame in flight and where its result goes.
    frame: Option<(
        u64,
        futures::channel::oneshot::Sender<Result<FrameResult, String>>,
    )>,
    /// Worker count override (`?workers=`).
    workers_override: Option<usize>,
}

/// The session; `Copy`, so closures and components take it freely.
#[derive(Clone, Copy)]
pub struct Session {
    /// Where the model is.
    pub phase: RwSignal<Phase>,
    /// The backend in use.
    pub backend: RwSignal<Option<BackendInfo>>,
    /// The backend asked for.
    pub choice: RwSignal<BackendChoice>,
    /// The loaded model.
    pub model: RwSignal<Option<ModelInfo>>,
    /// Workers scoring (the pool's size).
    pub workers: RwSignal<usize>,
    /// The images, in order.
    pub cards: RwSignal<Vec<Card>>,
    /// Messages for the user.
    pub notices: RwSignal<Vec<Notice>>,
    next_id: StoredValue<u64>,
    inner: StoredValue<Inner, LocalStorage>,
}

impl Session {
    /// A session with no model.
    pub fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Starting),
            backend: RwSignal::new(None),
            choice: RwSignal::new(BackendChoice::Auto),
            model: RwSignal::new(None),
            workers: RwSignal::new(0),
            cards: RwSignal::new(Vec::new()),
            notices: RwSignal::new(Vec::new()),
            next_id: StoredValue::new(0),
            inner: StoredValue::new_local(Inner::default()),
        }
    }

    fn fresh_id(&self) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        id
    }

    /// Show a message (also logged to the console).
    pub fn notify(&self, text: impl std::fmt::Display) {
        let text = text.to_string();
        web_sys::console::error_1(&text.clone().into());
        let id = self.fresh_id();
        self.notices.update(|v| v.push(Notice { id, text }));
    }

    /// Dismiss a message.
    pub fn dismiss(&self, id: u64) {
        self.notices.update(|v| v.retain(|n| n.id != id));
    }

    /// Run `n` CPU workers whatever the cores (`?workers=`).
    pub fn set_workers_override(&self, n: Option<usize>) {
        self.inner
            .update_value(|i| i.workers_override = n.map(|n| n.clamp(1, 16)));
    }

    /// The model's scale (threshold, colour range).
    pub fn scale(&self) -> Option<Scale> {
        self.model
            .get()
            .map(|m| Scale::from_calibration(m.calibration.as_ref()))
    }

    // -----------------------------------------------------------------------------------------
    // Loading.

    /// Load a bundle on the chosen backend in a new pool; the current model stays in use until
    /// the new one is ready. `data`: the dropped `[manifest, weights]` files, for
    /// [`Source::Files`].
    pub fn load(&self, source: Source, data: JsValue) {
        let choice = self.choice.get_untracked();
        self.phase.set(Phase::Loading {
            what: format!("{}: starting a worker", source.label()),
            received: 0,
            total: 0,
        });
        let id = self.fresh_id();
        let mut pool = Pool {
            id,
            source,
            data,
            choice,
            slots: Vec::new(),
            backend: None,
            model: None,
            warm_up_ms: 0.0,
            restarts: 0,
        };
        match self.spawn_slot(id, 0) {
            Ok(slot) => pool.slots.push(slot),
            Err(e) => {
                self.notify(e);
                self.settle_after_failed_load();
                return;
            }
        }
        // A previous candidate that is still loading is abandoned (its workers end).
        self.inner.update_value(|i| i.candidate = Some(pool));
    }

    /// Load the current model again on another backend.
    pub fn switch_backend(&self, choice: BackendChoice) {
        self.choice.set(choice);
        let current = self.inner.with_value(|i| {
            i.current
                .as_ref()
                .map(|p| (p.source.clone(), p.data.clone()))
        });
        if let Some((source, data)) = current {
            self.load(source, data);
        }
    }

    fn settle_after_failed_load(&self) {
        let has_model = self.inner.with_value(|i| i.current.is_some());
        self.phase.set(if has_model {
            Phase::Ready
        } else {
            Phase::Failed
        });
    }

    fn spawn_slot(&self, pool: u64, index: usize) -> Result<Slot, crate::error::AppError> {
        let session = *self;
        let handle = WorkerHandle::spawn(move |ev| session.on_event(pool, index, ev))?;
        Ok(Slot {
            handle: Some(handle),
            state: SlotState::Starting,
            watchdog: None,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Images.

    /// Queue an image for scoring; returns its card id.
    pub fn add_image(
        &self,
        name: String,
        blob: web_sys::Blob,
        mask_url: Option<String>,
        sample_label: Option<String>,
    ) -> u64 {
        let card = self.new_card(name, &blob, mask_url, sample_label, CardState::Queued);
        let id = card.id;
        self.enqueue(vec![(card, blob)]);
        id
    }

    /// Queue many images at once (one update of the page for all their cards).
    pub fn add_images(&self, images: Vec<(String, web_sys::Blob)>) {
        if images.is_empty() {
            return;
        }
        let cards = images
            .into_iter()
            .map(|(name, blob)| {
                let card = self.new_card(name, &blob, None, None, CardState::Queued);
                (card, blob)
            })
            .collect();
        self.enqueue(cards);
    }

    /// New cards with their images: queued, shown, handed to idle workers.
    fn enqueue(&self, cards: Vec<(Card, web_sys::Blob)>) {
        let mut shown = Vec::with_capacity(cards.len());
        self.inner.update_value(|i| {
            for (card, blob) in cards {
                i.images.insert(card.id, blob);
                i.queue.push_back(card.id);
                shown.push(card);
            }
        });
        self.cards.update(|c| c.extend(shown));
        self.dispatch();
    }

    fn new_card(
        &self,
        name: String,
        blob: &web_sys::Blob,
        mask_url: Option<String>,
        sample_label: Option<String>,
        state: CardState,
    ) -> Card {
        Card {
            id: self.fresh_id(),
            name,
            url: net::object_url(blob),
            mask_url,
            sample_label,
            state: RwSignal::new(state),
        }
    }

    /// A card for an image scored elsewhere (a captured camera frame).
    pub fn add_result(&self, name: String, blob: web_sys::Blob, result: CardResult) -> u64 {
        let card = self.new_card(name, &blob, None, None, CardState::Done(Arc::new(result)));
        let id = card.id;
        self.inner.update_value(|i| {
            i.images.insert(id, blob);
        });
        self.cards.update(|c| c.push(card));
        id
    }

    /// The image of a card (for the overlay download).
    pub fn image(&self, id: u64) -> Option<web_sys::Blob> {
        self.inner.with_value(|i| i.images.get(&id).cloned())
    }

    /// Take every waiting image off the queue (the ones running finish).
    pub fn cancel_queue(&self) {
        let ids: Vec<u64> = self
            .inner
            .try_update_value(|i| i.queue.drain(..).collect())
            .unwrap_or_default();
        for card in self.cards.get_untracked() {
            if ids.contains(&card.id) {
                card.state.set(CardState::Cancelled);
            }
        }
    }

    /// Remove every card (their images and object URLs go with them).
    pub fn clear(&self) {
        self.inner.update_value(|i| {
            i.queue.clear();
            i.images.clear();
        });
        self.cards.set(Vec::new());
    }

    /// Score a camera frame (`width × height` RGBA, transferred) on the first free worker.
    /// Resolves when it is scored; an error when no worker could take it.
    pub async fn score_frame(
        &self,
        width: u32,
        height: u32,
        rgba: js_sys::Uint8Array,
    ) -> Result<FrameResult, String> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let job = self.fresh_id();
        let posted = self.inner.try_update_value(|i| {
            if i.frame.is_some() {
                return Err("a frame is already being scored".to_owned());
            }
            let pool = i.current.as_mut().ok_or("no model is loaded")?;
            let slot = pool
                .slots
                .iter_mut()
                .find(|s| s.state == SlotState::Ready)
                .ok_or("busy")?;
            let msg = ToWorker::ScoreFrame { job, width, height };
            slot.handle
                .as_ref()
                .ok_or("the worker has ended")?
                .post(&msg, &rgba, &[rgba.buffer().into()])
                .map_err(|e| e.to_string())?;
            slot.state = SlotState::Busy(job);
            i.frame = Some((job, tx));
            Ok(())
        });
        posted.unwrap_or(Err("the session is gone".into()))?;
        rx.await.unwrap_or(Err("the frame was dropped".into()))
    }

    /// Hand queued images to idle workers.
    fn dispatch(&self) {
        let mut started = Vec::new();
        let mut failed = Vec::new();
        self.inner.update_value(|i| {
            let Some(pool) = i.current.as_mut() else {
                return;
            };
            for (index, slot) in pool.slots.iter_mut().enumerate() {
                let (SlotState::Ready, Some(handle)) = (slot.state, &slot.handle) else {
                    continue;
                };
                let Some(job) = i.queue.pop_front() else {
                    break;
                };
                let Some(blob) = i.images.get(&job) else {
                    continue;
                };
                let name = self
                    .cards
                    .with_untracked(|c| c.iter().find(|c| c.id == job).map(|c| c.name.clone()))
                    .unwrap_or_default();
                match handle.post(&ToWorker::Score { job, name }, blob, &[]) {
                    Ok(()) => {
                        slot.state = SlotState::Busy(job);
                        started.push((job, index));
                    }
                    Err(e) => failed.push((job, e.to_string())),
                }
            }
        });
        for (job, _) in &started {
            self.set_card(*job, CardState::Running);
        }
        for (job, e) in failed {
            self.set_card(job, CardState::Failed(e));
        }
        // The watchdog: a GPU that stops answering is treated as lost.
        for (job, index) in started {
            self.arm_watchdog(index, job);
        }
    }

    /// The camera's answer channel, if `job` is the frame in flight.
    fn take_frame(
        &self,
        job: u64,
    ) -> Option<futures::channel::oneshot::Sender<Result<FrameResult, String>>> {
        self.inner
            .try_update_value(|i| match &i.frame {
                Some((id, _)) if *id == job => i.frame.take().map(|(_, tx)| tx),
                _ => None,
            })
            .flatten()
    }

    fn set_card(&self, id: u64, state: CardState) {
        if let Some(card) = self
            .cards
            .with_untracked(|c| c.iter().find(|c| c.id == id).cloned())
        {
            card.state.set(state);
        }
    }

    fn arm_watchdog(&self, index: usize, job: u64) {
        let session = *self;
        self.inner.update_value(|i| {
            let Some(pool) = i.current.as_mut() else {
                return;
            };
            if !pool.gpu() {
                return;
            }
            // Generous: a slow integrated GPU takes seconds per image, never minutes.
            let ms = (pool.warm_up_ms * 30.0).clamp(20_000.0, 120_000.0) as i32;
            let pool_id = pool.id;
            let Some(slot) = pool.slots.get_mut(index) else {
                return;
            };
            // Freed by its one call (a cancelled timer leaks this small closure).
            let fire = Closure::once_into_js(move || {
                session.on_event(
                    pool_id,
                    index,
                    WorkerEvent::Message(
                        FromWorker::GpuFailed {
                            job: Some(job),
                            error: format!("no answer from the GPU within {} s", ms / 1000),
                        },
                        JsValue::UNDEFINED,
                    ),
                )
            });
            slot.watchdog = net::set_timer(fire.unchecked_ref(), ms);
        });
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Current,
    Candidate,
}
