//! How results are shown (opacity, sensitivity, layout), what to do with them (CSV, cancel,
//! clear), and a one-line summary of the batch.

use leptos::prelude::*;

use crate::analysis::{ScoreRow, Verdict, scores_csv};
use crate::components::Display;
use crate::net;
use crate::session::{CardState, Session};

/// The batch in one line: how many images, how many scored and flagged, the time range.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Cards on the page.
    pub images: usize,
    /// Scored.
    pub done: usize,
    /// Scored and called defects at the current threshold.
    pub flagged: usize,
    /// Waiting or running.
    pub pending: usize,
    /// Could not be scored.
    pub failed: usize,
    /// Fastest and slowest time per image, ms.
    pub ms_range: Option<(f64, f64)>,
}

impl Summary {
    /// What the line says.
    pub fn text(&self) -> String {
        if self.images == 0 {
            return String::new();
        }
        let mut parts = vec![format!(
            "{} image{} · {} scored · {} flagged",
            self.images,
            if self.images == 1 { "" } else { "s" },
            self.done,
            self.flagged
        )];
        if self.pending > 0 {
            parts.push(format!("{} waiting", self.pending));
        }
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if let Some((lo, hi)) = self.ms_range {
            parts.push(format!("{lo:.0}–{hi:.0} ms per image"));
        }
        parts.join(" · ")
    }
}

fn summarize(session: &Session, display: &Display) -> Summary {
    let mut s = Summary::default();
    for card in session.cards.get() {
        s.images += 1;
        match card.state.get() {
            CardState::Queued | CardState::Running => s.pending += 1,
            CardState::Failed(_) => s.failed += 1,
            CardState::Cancelled => {}
            CardState::Done(r) => {
                s.done += 1;
                if Verdict::of(r.score, display.threshold(&r.scale)) == Verdict::Defect {
                    s.flagged += 1;
                }
                s.ms_range = Some(match s.ms_range {
                    None => (r.ms, r.ms),
                    Some((lo, hi)) => (lo.min(r.ms), hi.max(r.ms)),
                });
            }
        }
    }
    s
}

fn download_csv(session: Session, display: Display) {
    let rows: Vec<ScoreRow> = session
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
    let model = session
        .model
        .get_untracked()
        .map(|m| m.name)
        .unwrap_or_default();
    let threshold = display.model_threshold(&session);
    let csv = scores_csv(&rows, threshold, Some(&model));
    if let Err(e) = net::download(csv.as_bytes(), "text/csv", "rdpp-scores.csv") {
        session.notify(e);
    }
}

/// Sliders, buttons and the summary line.
#[component]
pub fn Controls() -> impl IntoView {
    let session = expect_context::<Session>();
    let display = expect_context::<Display>();
    let summary = Memo::new(move |_| summarize(&session, &display));
    view! {
        <section class="panel controls" aria-label="display">
            <label>"Heatmap opacity "
                <input type="range" min="0" max="1" step="0.05"
                    prop:value=move || display.opacity.get()
                    on:input=move |ev| display.opacity.set(event_target_value(&ev).parse().unwrap_or(0.5)) />
            </label>
            <label>"Sensitivity "
                <input id="sensitivity" type="range" min="0" max="1" step="0.01"
                    prop:value=move || display.sensitivity.get()
                    on:input=move |ev| display.sensitivity.set(event_target_value(&ev).parse().unwrap_or(0.5)) />
                <span class="muted">{move || match display.model_threshold(&session) {
                    Some(t) => format!("threshold {t:.4}"),
                    None => "no threshold".to_owned(),
                }}</span>
            </label>
            <label><input type="checkbox" prop:checked=move || display.side_by_side.get()
                on:change=move |ev| display.side_by_side.set(event_target_checked(&ev)) />" side by side"</label>
            <button class="small" disabled=move || summary.get().done == 0
                on:click=move |_| download_csv(session, display)>"scores CSV"</button>
            <button id="cancel" class="small" disabled=move || summary.get().pending == 0
                on:click=move |_| session.cancel_queue()>"cancel queue"</button>
            <button class="small" disabled=move || summary.get().images == 0
                on:click=move |_| session.clear()>"clear"</button>
        </section>
        <p id="summary" class="summary" aria-live="polite"
            data-images=move || summary.get().images.to_string()
            data-done=move || summary.get().done.to_string()
            data-flagged=move || summary.get().flagged.to_string()
        >{move || summary.get().text()}</p>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn the_summary_line_counts_what_matters() {
        assert_eq!(Summary::default().text(), "");
        let s = Summary {
            images: 10,
            done: 7,
            flagged: 2,
            pending: 2,
            failed: 1,
            ms_range: Some((212.4, 530.6)),
        };
        assert_eq!(
            s.text(),
            "10 images · 7 scored · 2 flagged · 2 waiting · 1 failed · 212–531 ms per image"
        );
        let one = Summary {
            images: 1,
            ..Default::default()
        };
        assert_eq!(one.text(), "1 image · 0 scored · 0 flagged");
    }
}
