//! Training configuration: the paper's defaults, a TOML file to override them, CLI flags on top.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rdpp_model::Backbone;
use serde::{Deserialize, Serialize};

use crate::losses::LossConfig;

/// Hyper-parameters of a run. Unknown keys in a file are an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Teacher backbone.
    pub backbone: Backbone,
    /// Square training/inference size in pixels (multiple of 32).
    pub image_size: usize,
    /// Images per batch.
    pub batch_size: usize,
    /// Batches per optimizer step (gradients averaged).
    pub grad_accumulation: usize,
    /// Epochs; `None` picks the per-category value from `epochs_by_category`, else `default_epochs`.
    pub epochs: Option<usize>,
    /// Epochs when the category is not in the table.
    pub default_epochs: usize,
    /// The official per-category epochs for MVTec AD.
    pub epochs_by_category: BTreeMap<String, usize>,
    /// Adam learning rate of the OCBE and the decoder.
    pub lr_student: f64,
    /// Adam learning rate of the projection.
    pub lr_projection: f64,
    /// Adam β1 (both optimizers).
    pub beta1: f64,
    /// Adam β2 (both optimizers).
    pub beta2: f64,
    /// Adam ε (both optimizers): PyTorch's default, which the official code uses (burn's own
    /// default is 1e-5).
    pub adam_epsilon: f64,
    /// Seed of data order, pseudo-anomalies and initialisation.
    pub seed: u64,
    /// Fraction of the normal training images held out for score calibration (never trained on).
    pub holdout_fraction: f64,
    /// Write a checkpoint every this many optimizer steps (and at the end of each epoch).
    pub checkpoint_every: usize,
    /// Losses.
    pub losses: LossConfig,
}

/// The official code's epochs per MVTec AD category.
pub fn official_epochs() -> BTreeMap<String, usize> {
    [
        ("carpet", 10),
        ("leather", 10),
        ("wood", 100),
        ("hazelnut", 160),
        ("metal_nut", 160),
        ("pill", 200),
        ("bottle", 200),
        ("cable", 240),
        ("grid", 260),
        ("tile", 260),
        ("screw", 280),
        ("toothbrush", 280),
        ("capsule", 300),
        ("transistor", 300),
        ("zipper", 300),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            backbone: Backbone::WideResnet50_2,
            image_size: 256,
            batch_size: 16,
            grad_accumulation: 2,
            epochs: None,
            default_epochs: 200,
            epochs_by_category: official_epochs(),
            lr_student: 0.005,
            lr_projection: 0.001,
            beta1: 0.5,
            beta2: 0.999,
            adam_epsilon: 1e-8,
            seed: 111,
            holdout_fraction: 0.1,
            checkpoint_every: 50,
            losses: LossConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Read a TOML file over the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        Self::from_toml_str(&text)
            .with_context(|| format!("{}: invalid training config", path.display()))
    }

    /// Parse TOML over the defaults.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let cfg: TrainConfig = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The Adam settings both optimizers share (betas and ε; learning rates are per step).
    pub fn adam(&self) -> burn::optim::AdamConfig {
        burn::optim::AdamConfig::new()
            .with_beta_1(self.beta1 as f32)
            .with_beta_2(self.beta2 as f32)
            .with_epsilon(self.adam_epsilon as f32)
    }

    /// Epochs for a category.
    pub fn epochs_for(&self, category: Option<&str>) -> usize {
        self.epochs
            .or_else(|| category.and_then(|c| self.epochs_by_category.get(c).copied()))
            .unwrap_or(self.default_epochs)
    }

    /// Refuse impossible values with the field's name.
    pub fn validate(&self) -> Result<()> {
        if self.image_size < 32 || self.image_size % 32 != 0 {
            bail!(
                "image_size must be a multiple of 32, at least 32 (got {})",
                self.image_size
            );
        }
        if self.batch_size == 0 {
            bail!("batch_size must be at least 1");
        }
        if self.grad_accumulation == 0 {
            bail!("grad_accumulation must be at least 1");
        }
        if self.epochs == Some(0) || self.default_epochs == 0 {
            bail!("epochs must be at least 1");
        }
        for (name, lr) in [
            ("lr_student", self.lr_student),
            ("lr_projection", self.lr_projection),
        ] {
            if !(lr > 0.0 && lr.is_finite()) {
                bail!("{name} must be a positive number (got {lr})");
            }
        }
        let l = &self.losses;
        if !(l.kd || l.reconstruction || l.contrast || l.ssot) {
            bail!(
                "every loss is turned off: keep at least one of kd, reconstruction, contrast, ssot"
            );
        }
        if !(self.adam_epsilon > 0.0 && self.adam_epsilon < 1.0) {
            bail!("adam_epsilon must be in (0, 1) (got {})", self.adam_epsilon);
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                bail!("{name} must be in [0, 1) (got {b})");
            }
        }
        if !(0.0..0.9).contains(&self.holdout_fraction) {
            bail!(
                "holdout_fraction must be in [0, 0.9) (got {})",
                self.holdout_fraction
            );
        }
        if self.checkpoint_every == 0 {
            bail!("checkpoint_every must be at least 1");
        }
        let l = &self.losses;
        if !(l.kd || l.reconstruction || l.contrast || l.ssot) {
            bail!("all losses are disabled; enable at least one");
        }
        if !l.kd {
            bail!(
                "losses.kd = false: without distillation the decoder learns nothing to detect anomalies with"
            );
        }
        if l.ssot_grid == 0
            || !(l.ssot_blur > 0.0)
            || !(l.ssot_scaling > 0.0 && l.ssot_scaling < 1.0)
        {
            bail!("losses.ssot_grid must be ≥ 1, ssot_blur > 0 and ssot_scaling in (0, 1)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.batch_size, c.grad_accumulation, c.image_size, c.seed),
            (16, 2, 256, 111)
        );
        assert_eq!(
            (
                c.lr_student,
                c.lr_projection,
                c.beta1,
                c.beta2,
                c.adam_epsilon
            ),
            (0.005, 0.001, 0.5, 0.999, 1e-8)
        );
        assert_eq!(c.epochs_for(Some("carpet")), 10);
        assert_eq!(c.epochs_for(Some("zipper")), 300);
        assert_eq!(c.epochs_for(Some("my_parts")), 200);
        c.validate().unwrap();
    }

    #[test]
    fn toml_overrides_and_rejects_unknown_keys_and_bad_values() {
        let c = TrainConfig::from_toml_str("batch_size = 4\n[losses]\nssot = false\n").unwrap();
        assert_eq!(c.batch_size, 4);
        assert!(!c.losses.ssot && c.losses.kd);
        let e = TrainConfig::from_toml_str("batch_sise = 4").unwrap_err();
        assert!(format!("{e:#}").contains("batch_sise"), "{e:#}");
        let e = TrainConfig::from_toml_str("image_size = 100").unwrap_err();
        assert!(format!("{e:#}").contains("image_size"), "{e:#}");
        let e = TrainConfig::from_toml_str("lr_student = -1.0").unwrap_err();
        assert!(format!("{e:#}").contains("lr_student"), "{e:#}");
        let e = TrainConfig::from_toml_str("backbone = \"vgg\"").unwrap_err();
        assert!(format!("{e:#}").contains("vgg"), "{e:#}");
        let e = TrainConfig::from_toml_str("adam_epsilon = 0.0").unwrap_err();
        assert!(format!("{e:#}").contains("adam_epsilon"), "{e:#}");
        let off = "[losses]\nkd = false\nreconstruction = false\ncontrast = false\nssot = false\n";
        let e = TrainConfig::from_toml_str(off).unwrap_err();
        assert!(
            format!("{e:#}").contains("every loss is turned off"),
            "{e:#}"
        );
    }
}
