//! The training loop: frozen teacher, projection + OCBE + decoder trained with two Adam
//! optimizers, gradient accumulation, atomic checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot, ModuleStore};
use burn::tensor::Bytes;
use rdpp_inference::synthetic::{fnv1a64, uniform};
use rdpp_model::Rdpp;
use rdpp_model::teacher::Teacher;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::losses::{LossConfig, LossInputs, LossTerms, rdpp_loss};

/// Normal training images, resized to the training size, HWC f32 in [0, 1].
pub struct TrainSet {
    /// Side of the square images.
    pub size: usize,
    /// `size × size × 3` values per image.
    pub images: Vec<Vec<f32>>,
}

/// Adds a pseudo-anomaly to one HWC [0,1] image, deterministically from the seed.
pub type NoiseFn = dyn Fn(&mut [f32], usize, u64) + Sync;

/// Loss values of one epoch (means over its batches).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean total loss.
    pub total: f64,
    /// Mean L_KD.
    pub kd: f64,
    /// Mean L_rec.
    pub reconstruction: f64,
    /// Mean L_con.
    pub contrast: f64,
    /// Mean L_SSOT.
    pub ssot: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

/// Where a run stands; saved with every checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    /// Format marker.
    pub format: String,
    /// Architecture (resume refuses another).
    pub backbone: String,
    /// Hash of the configuration the run started with.
    pub config_hash: String,
    /// Epoch being trained (0-based).
    pub epoch: usize,
    /// Next batch index inside that epoch.
    pub batch: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Finished epochs.
    pub history: Vec<EpochLog>,
    /// Running sums of the epoch in progress (so a resumed epoch logs the same means).
    pub partial: EpochLog,
    /// Batches summed in `partial`.
    pub partial_batches: usize,
}

const STATE_FORMAT: &str = "rdpp-train-checkpoint-1";

/// Stable hash of the configuration (JSON text).
pub fn config_hash(cfg: &TrainConfig) -> String {
    format!(
        "{:016x}",
        fnv1a64(serde_json::to_string(cfg).unwrap_or_default().as_bytes())
    )
}

/// Epoch `epoch`'s order of the training images (Fisher–Yates from the seed).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let s = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (uniform(s, i as u64) * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    order
}

/// Normalize HWC [0,1] images into an NCHW batch on `device`.
pub fn to_batch<I: AsRef<[f32]>>(
    images: &[I],
    size: usize,
    cfg: &TrainConfig,
    device: &Device,
) -> Tensor<4> {
    let norm = cfg.backbone.normalization();
    let plane = size * size;
    let mut data = vec![0.0f32; images.len() * 3 * plane];
    for (b, img) in images.iter().enumerate() {
        let img = img.as_ref();
        for p in 0..plane {
            for c in 0..3 {
                data[b * 3 * plane + c * plane + p] = norm.apply(c, img[p * 3 + c] as f64) as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, size, size]), device)
}

/// The forward pass and losses of one training batch: the frozen teacher on the clean batch `x`
/// and on the noisy batch `xn` (plain device, BatchNorm in inference mode), its features
/// detached onto the autodiff graph, then the projection of both, OCBE + decoder on the clean
/// projection, and [`rdpp_loss`].
///
/// `model` must be in training mode (`Rdpp::train`); its own teacher is not used. The trainer and
/// `rdpp-train bench` both call this, so the benchmark times exactly the training step.
pub fn step_losses(
    teacher: &Teacher,
    model: &Rdpp,
    x: Tensor<4>,
    xn: Tensor<4>,
    losses: &LossConfig,
) -> LossTerms {
    let e = teacher.forward(x).map(|t| t.autodiff());
    let en = teacher.forward(xn).map(|t| t.autodiff());
    let p = model.projection.forward(e.clone());
    let pn = model.projection.forward(en.clone());
    let d = model.decoder.forward(model.bottleneck.forward(p.clone()));
    rdpp_loss(
        &LossInputs {
            teacher: &e,
            teacher_noisy: &en,
            projected: &p,
            projected_noisy: &pn,
            decoded: &d,
        },
        losses,
    )
}

/// Callback after each epoch (progress display, CSV, evaluation).
pub type EpochHook<'a> = dyn FnMut(&EpochLog, &Rdpp) -> Result<()> + 'a;

/// A training run in `out_dir` (checkpoints under `out_dir/checkpoint`).
pub struct Trainer<'a> {
    /// Hyper-parameters.
    pub cfg: TrainConfig,
    /// Epochs to train.
    pub epochs: usize,
    /// Normal training images (hold-out already removed).
    pub data: &'a TrainSet,
    /// Pseudo-anomaly generator.
    pub noise: &'a NoiseFn,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Compute device (plain; autodiff is added for the student).
    pub device: Device,
    /// Stop after this many optimizer steps in this invocation (tests of interrupted runs).
    pub max_steps: Option<usize>,
}

/// Result of [`Trainer::run`].
pub struct Trained {
    /// The trained model (plain device, inference mode).
    pub model: Rdpp,
    /// Final state (history included).
    pub state: RunState,
    /// False when stopped early by `max_steps`.
    pub finished: bool,
}

impl Trainer<'_> {
    fn checkpoint_dir(&self) -> PathBuf {
        self.out_dir.join("checkpoint")
    }

    /// Train `model` (teacher loaded, student initialised), resuming from the checkpoint in
    /// `out_dir` when `resume` is set.
    pub fn run(&self, model: Rdpp, resume: bool, hook: &mut EpochHook<'_>) -> Result<Trained> {
        let cfg = &self.cfg;
        let n = self.data.images.len();
        if n == 0 {
            bail!("no training images");
        }
        let teacher: Teacher = model.teacher.clone(); // frozen, plain device: BN in inference mode
        let adam = cfg.adam();
        let mut opt_student: ModuleOptimizer = adam.init();
        let mut opt_projection: ModuleOptimizer = adam.init();
        // Adam is per parameter: the OCBE's and the decoder's optimizers, with the same settings,
        // are together the paper's single "distillation" optimizer (stepped per module).
        let mut opt_decoder: ModuleOptimizer = adam.init();
        let mut state = RunState {
            format: STATE_FORMAT.into(),
            backbone: cfg.backbone.to_string(),
            config_hash: config_hash(cfg),
            ..Default::default()
        };
        let mut model = model;
        if resume {
            let (m, s, os, op, od) =
                self.load_checkpoint(model, opt_student, opt_projection, opt_decoder)?;
            model = m;
            state = s;
            opt_student = os;
            opt_projection = op;
            opt_decoder = od;
        }
        let mut model = model.train();
        let mut acc_proj = GradientsAccumulator::<rdpp_model::projection::Projection>::new();
        let mut acc_bn = GradientsAccumulator::<rdpp_model::bottleneck::Ocbe>::new();
        let mut acc_dec = GradientsAccumulator::<rdpp_model::decoder::Decoder>::new();
        let batches_per_epoch = n.div_ceil(cfg.batch_size);
        let mut steps_here = 0usize;
        let mut pending = 0usize; // batches accumulated since the last step

        while state.epoch < self.epochs {
            let order = epoch_order(n, cfg.seed, state.epoch);
            let epoch_start = Instant::now();
            let mut images_seen = 0usize;
            while state.batch < batches_per_epoch {
                let idx = &order
                    [state.batch * cfg.batch_size..((state.batch + 1) * cfg.batch_size).min(n)];
                let clean: Vec<Vec<f32>> =
                    idx.iter().map(|&i| self.data.images[i].clone()).collect();
                let noisy: Vec<Vec<f32>> = clean
                    .iter()
                    .enumerate()
                    .map(|(k, img)| {
                        let mut img = img.clone();
                        let seed = fnv1a64(
                            format!(
                                "{}/{}/{}",
                                cfg.seed,
                                state.epoch,
                                state.batch * cfg.batch_size + k
                            )
                            .as_bytes(),
                        );
                        (self.noise)(&mut img, self.data.size, seed);
                        img
                    })
                    .collect();
                let x = to_batch(&clean, self.data.size, cfg, &self.device);
                let xn = to_batch(&noisy, self.data.size, cfg, &self.device);
                let terms = step_losses(&teacher, &model, x, xn, &cfg.losses);
                let total = terms.total.clone().into_scalar::<f32>() as f64;
                if !total.is_finite() {
                    bail!(
                        "the loss became {total} at epoch {} batch {} (step {}); stopping. The last good \
                         checkpoint is kept in {}; lower the learning rates or check the data",
                        state.epoch + 1,
                        state.batch,
                        state.steps,
                        self.checkpoint_dir().display()
                    );
                }
                let scalar = |t: Tensor<1>| t.into_scalar::<f32>() as f64;
                state.partial.total += total;
                state.partial.kd += scalar(terms.kd.clone());
                state.partial.reconstruction += scalar(terms.reconstruction.clone());
                state.partial.contrast += scalar(terms.contrast.clone());
                state.partial.ssot += scalar(terms.ssot.clone());
                state.partial_batches += 1;

                let mut grads = (terms.total / cfg.grad_accumulation as f64).backward();
                acc_proj.accumulate(
                    &model.projection,
                    GradientsParams::from_module(&mut grads, &model.projection),
                );
                acc_bn.accumulate(
                    &model.bottleneck,
                    GradientsParams::from_module(&mut grads, &model.bottleneck),
                );
                acc_dec.accumulate(
                    &model.decoder,
                    GradientsParams::from_module(&mut grads, &model.decoder),
                );
                pending += 1;
                images_seen += idx.len();
                state.batch += 1;

                let last_batch = state.batch == batches_per_epoch;
                if pending == cfg.grad_accumulation || last_batch {
                    model.projection =
                        opt_projection.step(cfg.lr_projection, model.projection, acc_proj.grads());
                    model.bottleneck =
                        opt_student.step(cfg.lr_student, model.bottleneck, acc_bn.grads());
                    model.decoder =
                        opt_decoder.step(cfg.lr_student, model.decoder, acc_dec.grads());
                    pending = 0;
                    state.steps += 1;
                    steps_here += 1;
                    if last_batch {
                        let k = state.partial_batches.max(1) as f64;
                        let log = EpochLog {
                            epoch: state.epoch + 1,
                            total: state.partial.total / k,
                            kd: state.partial.kd / k,
                            reconstruction: state.partial.reconstruction / k,
                            contrast: state.partial.contrast / k,
                            ssot: state.partial.ssot / k,
                            images_per_s: images_seen as f64
                                / epoch_start.elapsed().as_secs_f64().max(1e-9),
                        };
                        state.history.push(log.clone());
                        state.partial = EpochLog::default();
                        state.partial_batches = 0;
                        state.epoch += 1;
                        state.batch = 0;
                        hook(&log, &model.valid())?;
                    }
                    let stop = self.max_steps.is_some_and(|m| steps_here >= m);
                    if last_batch || stop || state.steps % cfg.checkpoint_every == 0 {
                        self.save_checkpoint(
                            &model.valid(),
                            &opt_student,
                            &opt_projection,
                            &opt_decoder,
                            &state,
                        )?;
                    }
                    if stop {
                        let mut plain = model.valid();
                        plain.teacher = teacher;
                        return Ok(Trained {
                            model: plain,
                            state,
                            finished: false,
                        });
                    }
                    if last_batch {
                        break; // the next epoch draws a new order
                    }
                }
            }
        }
        let mut plain = model.valid();
        plain.teacher = teacher;
        Ok(Trained {
            model: plain,
            state,
            finished: true,
        })
    }

    /// Write the checkpoint atomically: a fresh folder, then renamed over the old one.
    fn save_checkpoint(
        &self,
        model: &Rdpp,
        opt_student: &ModuleOptimizer,
        opt_projection: &ModuleOptimizer,
        opt_decoder: &ModuleOptimizer,
        state: &RunState,
    ) -> Result<()> {
        let dir = self.checkpoint_dir();
        let tmp = self.out_dir.join("checkpoint.partial");
        let old = self.out_dir.join("checkpoint.old");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            std::fs::write(tmp.join(name), bytes)
                .with_context(|| format!("{}: cannot write", tmp.join(name).display()))
        };
        // Burnpack keeps each parameter's id, which the optimizer states are keyed by.
        let mut pack = BurnpackStore::from_bytes(None);
        pack.collect_from(model)
            .map_err(|e| anyhow::anyhow!("serialising the checkpoint: {e}"))?;
        let pack = pack
            .get_bytes()
            .map_err(|e| anyhow::anyhow!("serialising the checkpoint: {e}"))?;
        write("model.bpk", &pack)?;
        write(
            "optim_student.bpk",
            &opt_student
                .into_bytes()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )?;
        write(
            "optim_projection.bpk",
            &opt_projection
                .into_bytes()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )?;
        write(
            "optim_decoder.bpk",
            &opt_decoder
                .into_bytes()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        )?;
        write(
            "state.json",
            serde_json::to_string_pretty(state)?.as_bytes(),
        )?;
        let _ = std::fs::remove_dir_all(&old);
        if dir.exists() {
            std::fs::rename(&dir, &old)
                .with_context(|| format!("{}: cannot replace", dir.display()))?;
        }
        std::fs::rename(&tmp, &dir)
            .with_context(|| format!("{}: cannot move into place", dir.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    fn load_checkpoint(
        &self,
        model: Rdpp,
        opt_student: ModuleOptimizer,
        opt_projection: ModuleOptimizer,
        opt_decoder: ModuleOptimizer,
    ) -> Result<(
        Rdpp,
        RunState,
        ModuleOptimizer,
        ModuleOptimizer,
        ModuleOptimizer,
    )> {
        let mut dir = self.checkpoint_dir();
        if !dir.join("state.json").is_file() {
            // Killed between the two renames: the previous checkpoint is complete.
            let old = self.out_dir.join("checkpoint.old");
            if old.join("state.json").is_file() {
                dir = old;
            } else {
                bail!(
                    "--resume: no checkpoint in {} (nothing to resume; start without --resume)",
                    self.out_dir.display()
                );
            }
        }
        let read = |name: &str| -> Result<Vec<u8>> {
            std::fs::read(dir.join(name)).with_context(|| {
                format!(
                    "{}: cannot read (incomplete checkpoint?)",
                    dir.join(name).display()
                )
            })
        };
        let state: RunState = serde_json::from_slice(&read("state.json")?).with_context(|| {
            format!(
                "{}: not a valid checkpoint state",
                dir.join("state.json").display()
            )
        })?;
        if state.format != STATE_FORMAT {
            bail!(
                "{}: unknown checkpoint format {:?}",
                dir.display(),
                state.format
            );
        }
        if state.backbone != self.cfg.backbone.to_string() {
            bail!(
                "{}: checkpoint is of a {} model, this run trains a {}; use another --out folder",
                dir.display(),
                state.backbone,
                self.cfg.backbone
            );
        }
        if state.config_hash != config_hash(&self.cfg) {
            bail!(
                "{}: the configuration changed since this checkpoint was written; resume with the same settings",
                dir.display()
            );
        }
        // Restore the weights WITH their parameter ids, so the Adam states find their params.
        let mut model = model;
        let mut pack = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(read("model.bpk")?)));
        let applied = model.load_from(&mut pack).map_err(|e| {
            anyhow::anyhow!("{}: unreadable checkpoint weights: {e}", dir.display())
        })?;
        if !applied.missing.is_empty() || !applied.errors.is_empty() {
            bail!(
                "{}: checkpoint weights do not fit this model ({} missing, {} errors; first: {:?})",
                dir.display(),
                applied.missing.len(),
                applied.errors.len(),
                applied.missing.first().map(|m| &m.0).or(None)
            );
        }
        let os = opt_student
            .from_bytes(Bytes::from_bytes_vec(read("optim_student.bpk")?))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state unreadable: {e:?}", dir.display()))?;
        let op = opt_projection
            .from_bytes(Bytes::from_bytes_vec(read("optim_projection.bpk")?))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state unreadable: {e:?}", dir.display()))?;
        let od = opt_decoder
            .from_bytes(Bytes::from_bytes_vec(read("optim_decoder.bpk")?))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state unreadable: {e:?}", dir.display()))?;
        Ok((model, state, os, op, od))
    }
}

/// The checkpoint folder of a run.
pub fn checkpoint_path(out_dir: &Path) -> PathBuf {
    out_dir.join("checkpoint")
}
