//! The current model's sample images (from the site's model list), one click each.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::catalog::Sample;
use crate::net;
use crate::session::Session;

/// Fetch a sample and queue it like a dropped image.
async fn add_sample(session: Session, sample: Sample) {
    let result = async {
        let bytes = net::fetch_bytes(&sample.image, |_, _| {}).await?;
        net::blob(&bytes, "image/png")
    }
    .await;
    match result {
        Ok(blob) => {
            let name = sample
                .image
                .rsplit('/')
                .next()
                .unwrap_or(&sample.image)
                .to_owned();
            session.add_image(name, blob, sample.mask.clone(), Some(sample.label.clone()));
        }
        Err(e) => session.notify(e),
    }
}

/// Buttons for the samples (numbered per label: "defect 1", "good 2").
#[component]
pub fn Samples(
    /// The samples of the selected model.
    samples: Signal<Vec<Sample>>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <section class="panel samples" aria-label="sample images">
            <span>"Samples:"</span>
            {move || {
                let mut seen: HashMap<String, usize> = HashMap::new();
                samples.get().into_iter().map(move |s| {
                    let n = seen.entry(s.label.clone()).or_insert(0);
                    *n += 1;
                    let text = format!("{} {}", s.label, n);
                    let label = s.label.clone();
                    view! {
                        <button class="small sample" data-label=label
                            on:click=move |_| spawn_local(add_sample(session, s.clone()))
                        >{text}</button>
                    }
                }).collect_view()
            }}
        </section>
    }
}
