//! What the workers say, and what the session does about it: a model loaded (the pool grows or
//! replaces the current one), an image scored or failed, a worker or the GPU lost.

use std::sync::Arc;

use leptos::prelude::*;

use super::{CardResult, CardState, FrameResult, Phase, Pool, Role, Session, SlotState};
use crate::analysis::{HeatMap, Scale};
use crate::engine::{BackendChoice, BackendInfo};
use crate::net;
use crate::pool::{WorkerEvent, cpu_pool_size};
use crate::protocol::{FromWorker, ModelInfo, ToWorker};
use rdpp_inference::Backend;

impl Session {
    pub(super) fn on_event(&self, pool_id: u64, index: usize, event: WorkerEvent) {
        // Which pool: the current one, the candidate, or one already gone (ignored).
        let role = self.inner.with_value(|i| {
            if i.current.as_ref().is_some_and(|p| p.id == pool_id) {
                Some(Role::Current)
            } else if i.candidate.as_ref().is_some_and(|p| p.id == pool_id) {
                Some(Role::Candidate)
            } else {
                None
            }
        });
        let Some(role) = role else { return };
        // Any answer ends the slot's watchdog.
        self.with_pool(role, |p| {
            if let Some(slot) = p.slots.get_mut(index) {
                if let Some(id) = slot.watchdog.take() {
                    net::cancel_timer(id);
                }
            }
        });
        match event {
            WorkerEvent::Message(FromWorker::Started, _) => self.on_started(role, index),
            WorkerEvent::Message(
                FromWorker::Progress {
                    what,
                    received,
                    total,
                },
                _,
            ) => {
                if role == Role::Candidate {
                    self.phase.set(Phase::Loading {
                        what,
                        received,
                        total,
                    });
                }
            }
            WorkerEvent::Message(FromWorker::WarmingUp { .. }, _) => {
                if role == Role::Candidate {
                    self.phase.set(Phase::WarmingUp);
                }
            }
            WorkerEvent::Message(
                FromWorker::Loaded {
                    model,
                    backend,
                    warm_up_ms,
                },
                _,
            ) => self.on_loaded(role, index, model, backend, warm_up_ms),
            WorkerEvent::Message(FromWorker::LoadFailed { error }, _) => {
                self.notify(error);
                match role {
                    Role::Candidate => {
                        self.inner.update_value(|i| i.candidate = None);
                        self.settle_after_failed_load();
                    }
                    // An extra CPU worker that could not load: the others go on.
                    Role::Current => self.drop_slot_of(Role::Current, index),
                }
            }
            WorkerEvent::Message(
                FromWorker::Scored {
                    job,
                    score,
                    ms,
                    size,
                },
                data,
            ) => {
                let values = js_sys::Float32Array::new(&data).to_vec();
                self.on_scored(role, index, job, score, ms, HeatMap { size, values })
            }
            WorkerEvent::Message(FromWorker::Failed { job, error }, _) => {
                self.finish_job(role, index, job, Err(error));
            }
            WorkerEvent::Message(FromWorker::GpuFailed { job, error }, _) => {
                self.on_worker_lost(role, index, job, &format!("WebGPU failed: {error}"))
            }
            WorkerEvent::Message(FromWorker::Crashed { error }, _) => {
                let job = self.busy_job(role, index);
                self.on_worker_lost(
                    role,
                    index,
                    job,
                    &format!("the compute worker stopped: {error}"),
                )
            }
            WorkerEvent::Error(error) => {
                let job = self.busy_job(role, index);
                let started = self.with_pool(role, |p| {
                    p.slots
                        .get(index)
                        .is_some_and(|s| s.state != SlotState::Starting)
                });
                if started == Some(true) {
                    self.on_worker_lost(
                        role,
                        index,
                        job,
                        &format!("the compute worker stopped: {error}"),
                    );
                } else {
                    // The script never ran: nothing to fall back to.
                    self.notify(format!(
                        "the compute worker could not start ({error}): this browser may be too old, \
                         or the page's security policy blocks workers"
                    ));
                    self.drop_slot_of(role, index);
                }
            }
        }
    }

    fn with_pool<R>(&self, role: Role, f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
        self.inner
            .try_update_value(|i| {
                let pool = match role {
                    Role::Current => i.current.as_mut(),
                    Role::Candidate => i.candidate.as_mut(),
                };
                pool.map(f)
            })
            .flatten()
    }

    fn busy_job(&self, role: Role, index: usize) -> Option<u64> {
        self.with_pool(role, |p| match p.slots.get(index).map(|s| s.state) {
            Some(SlotState::Busy(job)) => Some(job),
            _ => None,
        })
        .flatten()
    }

    fn on_started(&self, role: Role, index: usize) {
        let result = self.with_pool(role, |p| {
            let msg = ToWorker::Load {
                source: p.source.clone(),
                choice: p.choice,
            };
            let data = p.data.clone();
            let slot = p.slots.get_mut(index)?;
            slot.state = SlotState::Loading;
            Some(slot.handle.as_ref()?.post(&msg, &data, &[]))
        });
        if let Some(Some(Err(e))) = result {
            self.notify(e);
            self.drop_slot_of(role, index);
        }
    }

    fn on_loaded(
        &self,
        role: Role,
        index: usize,
        model: ModelInfo,
        backend: BackendInfo,
        warm_up_ms: f64,
    ) {
        self.with_pool(role, |p| {
            if let Some(slot) = p.slots.get_mut(index) {
                slot.state = SlotState::Ready;
            }
            if p.backend.is_none() {
                p.backend = Some(backend.clone());
                p.model = Some(model.clone());
                p.warm_up_ms = warm_up_ms;
            }
        });
        if role == Role::Candidate {
            // The new model replaces the old one; images the old pool was scoring go back to
            // the front of the queue.
            let (extra, interrupted) = self
                .inner
                .try_update_value(|i| {
                    let old = i.current.take();
                    let mut interrupted = Vec::new();
                    for s in old.iter().flat_map(|p| &p.slots) {
                        if let SlotState::Busy(job) = s.state {
                            if i.images.contains_key(&job) {
                                i.queue.push_front(job);
                            }
                            interrupted.push(job);
                        }
                    }
                    drop(old);
                    i.current = i.candidate.take();
                    let cores = web_sys::window()
                        .map(|w| w.navigator().hardware_concurrency() as usize)
                        .unwrap_or(1);
                    let wanted = if backend.gpu {
                        1
                    } else {
                        i.workers_override
                            .unwrap_or_else(|| cpu_pool_size(cores, model.bytes))
                    };
                    let have = i.current.as_ref().map_or(0, |p| p.slots.len());
                    (wanted.saturating_sub(have), interrupted)
                })
                .unwrap_or_default();
            for job in interrupted {
                // A camera frame there is dropped (the camera asks again); an image waits again.
                match self.take_frame(job) {
                    Some(tx) => {
                        let _ = tx.send(Err("the model changed".into()));
                    }
                    None => self.set_card(job, CardState::Queued),
                }
            }
            // More workers of this pool run on the CPU too, whatever was asked.
            if !backend.gpu {
                self.with_pool(Role::Current, |p| {
                    p.choice = BackendChoice::Use(Backend::Flex)
                });
            }
            self.backend.set(Some(backend));
            self.model.set(Some(model));
            self.phase.set(Phase::Ready);
            // More CPU workers: they load the same bundle (from the cache) and join when ready.
            for _ in 0..extra {
                let pool_id = self
                    .inner
                    .with_value(|i| i.current.as_ref().map(|p| (p.id, p.slots.len())));
                let Some((pool_id, index)) = pool_id else {
                    break;
                };
                match self.spawn_slot(pool_id, index) {
                    Ok(slot) => {
                        self.with_pool(Role::Current, |p| p.slots.push(slot));
                    }
                    Err(e) => {
                        self.notify(e);
                        break;
                    }
                }
            }
        }
        self.count_workers();
        self.dispatch();
    }

    fn count_workers(&self) {
        let n = self.inner.with_value(|i| {
            i.current.as_ref().map_or(0, |p| {
                p.slots
                    .iter()
                    .filter(|s| matches!(s.state, SlotState::Ready | SlotState::Busy(_)))
                    .count()
            })
        });
        self.workers.set(n);
    }

    fn on_scored(&self, role: Role, index: usize, job: u64, score: f64, ms: f64, map: HeatMap) {
        let (model, backend) = self
            .with_pool(role, |p| {
                (
                    p.model.clone(),
                    p.backend.as_ref().map(|b| b.gpu).unwrap_or(false),
                )
            })
            .unwrap_or((None, false));
        let scale = Scale::from_calibration(model.as_ref().and_then(|m| m.calibration.as_ref()));
        let result = CardResult {
            score,
            ms,
            map,
            scale,
            model: model.map(|m| m.name).unwrap_or_default(),
            backend: if backend { "webgpu" } else { "cpu" },
        };
        self.finish_job(role, index, job, Ok(result));
    }

    /// A job ended (scored or failed): free the slot, deliver, go on with the queue.
    fn finish_job(&self, role: Role, index: usize, job: u64, result: Result<CardResult, String>) {
        self.with_pool(role, |p| {
            if let Some(slot) = p.slots.get_mut(index) {
                if slot.state == SlotState::Busy(job) {
                    slot.state = SlotState::Ready;
                }
            }
        });
        match self.take_frame(job) {
            Some(tx) => {
                let _ = tx.send(result.map(|result| FrameResult {
                    result,
                    at_ms: net::now_ms(),
                }));
            }
            None => self.set_card(
                job,
                match result {
                    Ok(r) => CardState::Done(Arc::new(r)),
                    Err(e) => CardState::Failed(e),
                },
            ),
        }
        self.dispatch();
    }

    /// A worker is unusable (GPU failure, panic, error). On the GPU: start over on the CPU with
    /// the same bundle and score the image again. On the CPU: that image fails, the worker is
    /// replaced.
    fn on_worker_lost(&self, role: Role, index: usize, job: Option<u64>, why: &str) {
        let gpu = self.with_pool(role, |p| p.gpu()).unwrap_or(false);
        // A frame in flight is simply dropped; the camera asks again.
        let job = match job.and_then(|job| self.take_frame(job)) {
            Some(tx) => {
                let _ = tx.send(Err(why.to_owned()));
                None
            }
            None => job,
        };
        if gpu {
            let restart = self.inner.try_update_value(|i| {
                let pool = match role {
                    Role::Current => i.current.take(),
                    Role::Candidate => i.candidate.take(),
                }?;
                if let Some(job) = job {
                    if i.images.contains_key(&job) {
                        i.queue.push_front(job);
                    }
                }
                Some((pool.source.clone(), pool.data.clone()))
            });
            if let Some(job) = job {
                self.set_card(job, CardState::Queued);
            }
            self.notify(format!(
                "{why}. Restarted on the CPU; the image is scored again."
            ));
            self.choice.set(BackendChoice::Use(Backend::Flex));
            if let Some(Some((source, data))) = restart {
                self.load(source, data);
            }
            return;
        }
        if let Some(job) = job {
            self.set_card(job, CardState::Failed(why.to_owned()));
        }
        let replace = self
            .with_pool(role, |p| {
                p.restarts += 1;
                (p.restarts <= 3).then_some(p.id)
            })
            .flatten();
        match replace {
            Some(pool_id) => match self.spawn_slot(pool_id, index) {
                Ok(slot) => {
                    self.with_pool(role, |p| {
                        if let Some(s) = p.slots.get_mut(index) {
                            *s = slot;
                        }
                    });
                }
                Err(e) => self.notify(e),
            },
            None => {
                self.notify(why);
                self.drop_slot_of(role, index);
            }
        }
        self.count_workers();
        self.dispatch();
    }

    /// A worker that cannot go on: it ends; the pool ends with its last worker.
    fn drop_slot_of(&self, role: Role, index: usize) {
        let empty = self
            .with_pool(role, |p| {
                if let Some(slot) = p.slots.get_mut(index) {
                    slot.state = SlotState::Dead;
                    slot.handle = None;
                }
                !p.slots.iter().any(|s| s.state != SlotState::Dead)
            })
            .unwrap_or(false);
        if empty {
            self.inner.update_value(|i| match role {
                Role::Current => i.current = None,
                Role::Candidate => i.candidate = None,
            });
            self.settle_after_failed_load();
        }
        self.count_workers();
    }
}
