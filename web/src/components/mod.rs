//! The page's parts, each a small Leptos component reading the [`Session`] and the
//! [`Display`] settings from the context.
//!
//! - [`model_panel`]: model and backend choice, loading progress, model facts;
//! - [`notices`]: errors and notices, dismissable;
//! - [`drop_zone`]: drop, pick or paste images (or a bundle);
//! - [`samples`]: the current model's sample images;
//! - [`controls`]: heatmap opacity, sensitivity, layout, CSV, cancel, clear, the batch summary;
//! - [`card`]: one image's result;
//! - [`camera`]: live scoring of a camera's frames.

pub mod camera;
pub mod card;
pub mod controls;
pub mod drop_zone;
pub mod model_panel;
pub mod notices;
pub mod samples;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::analysis::Scale;
use crate::session::Session;

/// How results are shown (not what they are): shared by the cards, the camera and the
/// controls.
#[derive(Clone, Copy)]
pub struct Display {
    /// Heatmap opacity over the image, 0–1.
    pub opacity: RwSignal<f64>,
    /// Sensitivity, 0–1; 0.5 is the calibrated threshold (see [`Scale::threshold_at`]).
    pub sensitivity: RwSignal<f64>,
    /// Original, overlay and mask side by side.
    pub side_by_side: RwSignal<bool>,
    /// The card shown enlarged.
    pub zoomed: RwSignal<Option<u64>>,
}

impl Display {
    /// The defaults: half-transparent heatmaps at the calibrated threshold.
    pub fn new() -> Self {
        Self {
            opacity: RwSignal::new(0.5),
            sensitivity: RwSignal::new(0.5),
            side_by_side: RwSignal::new(false),
            zoomed: RwSignal::new(None),
        }
    }

    /// The threshold for `scale` at the current sensitivity.
    pub fn threshold(&self, scale: &Scale) -> Option<f64> {
        scale.threshold_at(self.sensitivity.get())
    }

    /// The threshold of the loaded model at the current sensitivity.
    pub fn model_threshold(&self, session: &Session) -> Option<f64> {
        session.scale().and_then(|s| self.threshold(&s))
    }
}

impl Default for Display {
    fn default() -> Self {
        Self::new()
    }
}

/// Draw `rgba` (`size × size`) into a canvas, resizing it to that size.
pub fn put_rgba(canvas: &web_sys::HtmlCanvasElement, size: usize, rgba: &[u8]) {
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
