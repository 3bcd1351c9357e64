//! The rdpp demo site: drop images, see RD++ anomaly heatmaps computed in the browser on WebGPU
//! (or the CPU), with the same model crate and bundle loader as the command line. The page
//! renders; compute workers load the model and score (two binaries of this crate: `main.rs`
//! for the page, `worker_main.rs` for the workers).
//!
//! - [`analysis`]: verdicts, heatmap colours, contours, CSV (pure, tested natively);
//! - [`catalog`]: the site's model list and bundle URLs;
//! - [`engine`]: backend choice, model loading, scoring (runs in the workers);
//! - [`worker`]: a compute worker's message loop;
//! - [`protocol`]: the messages between the page and the workers;
//! - [`pool`]: the page's handle on a worker, and how many to run;
//! - [`session`]: the page's state without its DOM: models, queue, camera frames, fallbacks;
//! - [`components`]: the page's parts; [`app`]: the page that holds them;
//! - [`net`]: fetch with progress, Cache Storage, timers, downloads.

pub mod analysis;
pub mod app;
pub mod catalog;
pub mod components;
pub mod engine;
pub mod error;
pub mod net;
pub mod pool;
pub mod protocol;
pub mod session;
pub mod worker;

pub use app::mount;

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Run the static constructors (burn's and cubecl's `inventory` registrations) once, first
/// thing in `main`. Without this explicit call wasm-ld links a binary as a "command" and runs
/// every constructor again at the start of *every* call into the module (each callback, each
/// resolved promise): hundreds of registrations, 100+ ms per call, measured on this page. With
/// it, wasm-ld leaves the exports alone (the WebAssembly tool conventions' rule).
pub fn run_constructors_once() {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: wasm-ld synthesizes this function; it is called once, before any other code.
    unsafe {
        __wasm_call_ctors()
    };
}
