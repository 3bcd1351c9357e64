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
use rdpp_data::rng::{fnv1a64, uniform_at as uniform};
use rdpp_model::bottleneck::Ocbe;
use rdpp_model::decoder::Decoder;
use rdpp_model::preprocess::normalize_to_chw;
use rdpp_model::projection::Projection;
use rdpp_model::teacher::Teacher;
use rdpp_model::{FoldBatchNorm, Rdpp};
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
/// Adam states of the OCBE, the projection and the decoder inside a checkpoint folder.
const OPTIM_OCBE_FILE: &str = "optim_ocbe.bpk";
const OPTIM_PROJECTION_FILE: &str = "optim_projection.bpk";
const OPTIM_DECODER_FILE: &str = "optim_decoder.bpk";

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

/// Normalize HWC [0,1] training images into an NCHW batch on `device`, with the inference
/// path's normalization ([`normalize_to_chw`]).
pub fn to_batch<I: AsRef<[f32]>>(
    images: &[I],
    size: usize,
    cfg: &TrainConfig,
    device: &Device,
) -> Tensor<4> {
    let norm = cfg.backbone.normalization();
    let mut data = Vec::with_capacity(images.len() * 3 * size * size);
    for img in images {
        data.extend(normalize_to_chw(img.as_ref(), size, &norm));
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, size, size]), device)
}

/// The forward pass and losses of one training batch: the frozen teacher on the clean batch `x`
/// and on the noisy batch `xn` (plain device, BatchNorm in inference mode), its features
/// detached onto the autodiff graph, then the projection of both, OCBE + decoder on the clean
/// projection, and [`rdpp_loss`] (docs/method.md §7).
///
/// `student` must be in training mode ([`Student::train`]). The trainer and `rdpp-train bench`
/// both call this, so the benchmark times exactly the training step.
pub fn step_losses(
    teacher: &FrozenTeacher,
    student: &Student,
    x: Tensor<4>,
    xn: Tensor<4>,
    losses: &LossConfig,
) -> LossTerms {
    let e = teacher.forward(x).map(|t| t.autodiff());
    let en = teacher.forward(xn).map(|t| t.autodiff());
    let p = student.projection.forward(e.clone());
    let pn = student.projection.forward(en.clone());
    let d = student
        .decoder
        .forward(student.bottleneck.forward(p.clone()));
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

/// The three Adam optimizers of the trained parts. Adam is per parameter: the OCBE's and the
/// decoder's optimizers, with the same settings, are together the paper's single
/// "distillation" optimizer (stepped per module); the projection has its own learning rate.
pub struct Optimizers {
    /// Steps the projection P (`lr_projection`).
    pub projection: ModuleOptimizer,
    /// Steps the OCBE bottleneck (`lr_student`).
    pub ocbe: ModuleOptimizer,
    /// Steps the decoder D (`lr_student`).
    pub decoder: ModuleOptimizer,
}

impl Optimizers {
    fn new(cfg: &TrainConfig) -> Self {
        let adam = cfg.adam();
        Optimizers {
            projection: adam.init(),
            ocbe: adam.init(),
            decoder: adam.init(),
        }
    }
}

/// The gradients of the batches of one optimizer step (`grad_accumulation` of them). Each
/// batch's loss is scaled by `1 / grad_accumulation`, so their sum is the mean gradient.
struct Accumulated {
    projection: GradientsAccumulator<Projection>,
    ocbe: GradientsAccumulator<Ocbe>,
    decoder: GradientsAccumulator<Decoder>,
    /// Batches accumulated since the last step.
    batches: usize,
}

impl Accumulated {
    fn new() -> Self {
        Accumulated {
            projection: GradientsAccumulator::new(),
            ocbe: GradientsAccumulator::new(),
            decoder: GradientsAccumulator::new(),
            batches: 0,
        }
    }
}

impl Trainer<'_> {
    fn checkpoint_dir(&self) -> PathBuf {
        self.out_dir.join("checkpoint")
    }

    /// Train `model` (teacher loaded, student initialised), resuming from the checkpoint in
    /// `out_dir` when `resume` is set.
    ///
    /// The frozen teacher stays on the plain device (BatchNorm in inference mode, no gradient
    /// graph); only the projection, OCBE and decoder go onto the autodiff device.
    pub fn run(&self, model: Rdpp, resume: bool, hook: &mut EpochHook<'_>) -> Result<Trained> {
        let cfg = &self.cfg;
        let n = self.data.images.len();
        if n == 0 {
            bail!("no training images");
        }
        let mut optim = Optimizers::new(cfg);
        let mut state = RunState {
            format: STATE_FORMAT.into(),
            backbone: cfg.backbone.to_string(),
            config_hash: config_hash(cfg),
            ..Default::default()
        };
        let mut model = model;
        if resume {
            (model, state, optim) = self.load_checkpoint(model, optim)?;
        }
        let (teacher, student) = Student::split(model);
        let mut student = student.train();
        let mut acc = Accumulated::new();
        let batches_per_epoch = n.div_ceil(cfg.batch_size);
        let mut steps_here = 0usize;

        while state.epoch < self.epochs {
            let order = epoch_order(n, cfg.seed, state.epoch);
            let epoch_start = Instant::now();
            let mut images_seen = 0usize;
            while state.batch < batches_per_epoch {
                let idx = &order
                    [state.batch * cfg.batch_size..((state.batch + 1) * cfg.batch_size).min(n)];
                let (x, xn) = self.clean_and_noisy_batch(idx, &state);
                let terms = step_losses(&teacher, &student, x, xn, &cfg.losses);
                self.log_losses(&terms, &mut state)?;
                accumulate_gradients(terms.total, cfg.grad_accumulation, &student, &mut acc);
                images_seen += idx.len();
                state.batch += 1;

                let last_batch = state.batch == batches_per_epoch;
                if acc.batches < cfg.grad_accumulation && !last_batch {
                    continue;
                }
                student = optimizer_step(cfg, student, &mut optim, &mut acc);
                state.steps += 1;
                steps_here += 1;
                let stop = self.max_steps.is_some_and(|m| steps_here >= m);
                if !(last_batch || stop || state.steps % cfg.checkpoint_every == 0) {
                    continue;
                }
                // One inference-mode copy serves the epoch hook, the checkpoint and an early stop.
                let plain = student.to_inference(&teacher);
                if last_batch {
                    let log = finish_epoch(&mut state, images_seen, epoch_start);
                    hook(&log, &plain)?;
                }
                self.save_checkpoint(&plain, &optim, &state)?;
                if stop {
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
        Ok(Trained {
            model: student.to_inference(&teacher),
            state,
            finished: true,
        })
    }

    /// The clean batch of images `idx` and the same images with their pseudo-anomalies, each
    /// seeded by (seed, epoch, position in the epoch) so a resumed run draws the same noise.
    fn clean_and_noisy_batch(&self, idx: &[usize], state: &RunState) -> (Tensor<4>, Tensor<4>) {
        let cfg = &self.cfg;
        let clean: Vec<&[f32]> = idx
            .iter()
            .map(|&i| self.data.images[i].as_slice())
            .collect();
        let noisy: Vec<Vec<f32>> = clean
            .iter()
            .enumerate()
            .map(|(k, img)| {
                let mut img = img.to_vec();
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
        (
            to_batch(&clean, self.data.size, cfg, &self.device),
            to_batch(&noisy, self.data.size, cfg, &self.device),
        )
    }

    /// Add one batch's loss values to the epoch's running sums; a non-finite loss stops the run
    /// (the last checkpoint is kept).
    fn log_losses(&self, terms: &LossTerms, state: &mut RunState) -> Result<()> {
        let scalar = |t: &Tensor<1>| t.clone().into_scalar::<f32>() as f64;
        let total = scalar(&terms.total);
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
        state.partial.total += total;
        state.partial.kd += scalar(&terms.kd);
        state.partial.reconstruction += scalar(&terms.reconstruction);
        state.partial.contrast += scalar(&terms.contrast);
        state.partial.ssot += scalar(&terms.ssot);
        state.partial_batches += 1;
        Ok(())
    }

    /// Write the checkpoint atomically: a fresh folder, then renamed over the old one.
    fn save_checkpoint(&self, model: &Rdpp, optim: &Optimizers, state: &RunState) -> Result<()> {
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
        for (file, opt) in [
            (OPTIM_OCBE_FILE, &optim.ocbe),
            (OPTIM_PROJECTION_FILE, &optim.projection),
            (OPTIM_DECODER_FILE, &optim.decoder),
        ] {
            write(
                file,
                &opt.into_bytes().map_err(|e| anyhow::anyhow!("{e:?}"))?,
            )?;
        }
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
        optim: Optimizers,
    ) -> Result<(Rdpp, RunState, Optimizers)> {
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
        let restore = |opt: ModuleOptimizer, files: &[&str]| -> Result<ModuleOptimizer> {
            let file = files
                .iter()
                .find(|f| dir.join(f).is_file())
                .copied()
                .unwrap_or(files[0]);
            opt.from_bytes(Bytes::from_bytes_vec(read(file)?))
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{}: optimizer state unreadable: {e:?}",
                        dir.join(file).display()
                    )
                })
        };
        let optim = Optimizers {
            // Checkpoints before the rename called the OCBE's optimizer "student".
            ocbe: restore(optim.ocbe, &[OPTIM_OCBE_FILE, "optim_student.bpk"])?,
            projection: restore(optim.projection, &[OPTIM_PROJECTION_FILE])?,
            decoder: restore(optim.decoder, &[OPTIM_DECODER_FILE])?,
        };
        Ok((model, state, optim))
    }
}

/// The frozen teacher E during training. Its two forward passes per step (clean and noisy batch)
/// run the inference form, every BatchNorm folded into its convolution (docs/method.md §12); the
/// teacher as loaded is what checkpoints and bundles keep.
pub struct FrozenTeacher {
    loaded: Teacher,
    folded: Teacher,
}

impl FrozenTeacher {
    /// Freeze `teacher` (on the plain device: no gradient graph) and derive its folded form.
    pub fn new(teacher: Teacher) -> Self {
        FrozenTeacher {
            folded: teacher.clone().fold_batch_norms(),
            loaded: teacher,
        }
    }

    /// The taps [f1, f2, f3] of a batch.
    pub fn forward(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        self.folded.forward(x)
    }
}

/// The trained parts of RD++: the projection P, the OCBE and the decoder D. During training
/// they live on the autodiff device while the frozen teacher stays on the plain one.
pub struct Student {
    /// The projection P.
    pub projection: Projection,
    /// The OCBE bottleneck.
    pub bottleneck: Ocbe,
    /// The decoder D.
    pub decoder: Decoder,
}

impl Student {
    /// Split a model into its frozen teacher and its student, both on the plain device.
    pub fn split(model: Rdpp) -> (FrozenTeacher, Student) {
        let Rdpp {
            teacher,
            projection,
            bottleneck,
            decoder,
        } = model;
        (
            FrozenTeacher::new(teacher),
            Student {
                projection,
                bottleneck,
                decoder,
            },
        )
    }

    /// The student on the autodiff device, in training mode (BatchNorm uses batch statistics).
    pub fn train(self) -> Student {
        Student {
            projection: self.projection.train(),
            bottleneck: self.bottleneck.train(),
            decoder: self.decoder.train(),
        }
    }

    /// The whole model on the plain device, in inference mode (evaluation, checkpoints, export).
    pub fn to_inference(&self, teacher: &FrozenTeacher) -> Rdpp {
        Rdpp {
            teacher: teacher.loaded.clone(),
            projection: self.projection.valid(),
            bottleneck: self.bottleneck.valid(),
            decoder: self.decoder.valid(),
        }
    }
}

/// Backpropagate one batch's loss (scaled by `1 / grad_accumulation`) and add its gradients to
/// the accumulators of the three trained parts.
fn accumulate_gradients(
    total: Tensor<1>,
    grad_accumulation: usize,
    student: &Student,
    acc: &mut Accumulated,
) {
    let mut grads = (total / grad_accumulation as f64).backward();
    acc.projection.accumulate(
        &student.projection,
        GradientsParams::from_module(&mut grads, &student.projection),
    );
    acc.ocbe.accumulate(
        &student.bottleneck,
        GradientsParams::from_module(&mut grads, &student.bottleneck),
    );
    acc.decoder.accumulate(
        &student.decoder,
        GradientsParams::from_module(&mut grads, &student.decoder),
    );
    acc.batches += 1;
}

/// One Adam step of each trained part with the accumulated gradients.
fn optimizer_step(
    cfg: &TrainConfig,
    student: Student,
    optim: &mut Optimizers,
    acc: &mut Accumulated,
) -> Student {
    acc.batches = 0;
    Student {
        projection: optim.projection.step(
            cfg.lr_projection,
            student.projection,
            acc.projection.grads(),
        ),
        bottleneck: optim
            .ocbe
            .step(cfg.lr_student, student.bottleneck, acc.ocbe.grads()),
        decoder: optim
            .decoder
            .step(cfg.lr_student, student.decoder, acc.decoder.grads()),
    }
}

/// Close the epoch in `state`: its mean losses and throughput, appended to the history.
fn finish_epoch(state: &mut RunState, images_seen: usize, start: Instant) -> EpochLog {
    let k = state.partial_batches.max(1) as f64;
    let log = EpochLog {
        epoch: state.epoch + 1,
        total: state.partial.total / k,
        kd: state.partial.kd / k,
        reconstruction: state.partial.reconstruction / k,
        contrast: state.partial.contrast / k,
        ssot: state.partial.ssot / k,
        images_per_s: images_seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
    };
    state.history.push(log.clone());
    state.partial = EpochLog::default();
    state.partial_batches = 0;
    state.epoch += 1;
    state.batch = 0;
    log
}

/// The checkpoint folder of a run.
pub fn checkpoint_path(out_dir: &Path) -> PathBuf {
    out_dir.join("checkpoint")
}
