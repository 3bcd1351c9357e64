//! rdpp's cross-crate tests, one binary (ripgrep style).

mod bundle;
mod common;
mod import;
mod parity;
