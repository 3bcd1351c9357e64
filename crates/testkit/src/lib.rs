//! # rdpp-testkit
//!
//! Support for rdpp's tests and benchmark commands, kept out of the shipped library crates:
//!
//! * [`formula`]: deterministic weights from a formula the Python parity reference computes
//!   identically, under burn names or under the official PyTorch names;
//! * [`measure`]: what a benchmark reads about a process (peak memory, machine load, the JSON
//!   result line a worker prints last);
//! * [`bench`]: the harness both `rdpp bench` and `rdpp-train bench` run on: a worker in a fresh
//!   process of the running executable, the PyTorch side (probe, embedded script), and the
//!   side-by-side table with the rdpp / PyTorch ratios;
//! * [`options`]: the command-line options both benchmark commands share.
#![warn(missing_docs)]

pub mod bench;
pub mod formula;
pub mod measure;
pub mod options;

pub use formula::{
    OfficialKey, fill_official_formula, fill_official_names, fill_with_formula, formula_tensor,
    formula_value, official_keys,
};
