//! Errors and notices, newest last; each can be dismissed.

use leptos::prelude::*;

use crate::session::Session;

/// The list of messages for the user.
#[component]
pub fn Notices() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <ul class="errors" aria-live="assertive">
            <For each=move || session.notices.get() key=|n| n.id let:n>
                <li role="alert" class="error">
                    <span>{n.text.clone()}</span>
                    <button class="small" aria-label="dismiss" on:click=move |_| session.dismiss(n.id)>
                        "×"
                    </button>
                </li>
            </For>
        </ul>
    }
}
