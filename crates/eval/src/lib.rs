//! # rdpp-eval
//!
//! How well a detector separates good from bad: labelled images are scored exactly as inference
//! scores them ([`score`]), every metric the labels and masks allow is computed
//! ([`LabelledSet::evaluate`], with image labels only, partial masks or full masks), the
//! thresholds a user can choose between are compared ([`rdpp_metrics::thresholds`]), and the
//! report files are written ([`write_outputs`]). Calibration from held-out normal images
//! ([`calibrate`]) lives here too: it is the threshold every report starts from.
//!
//! `rdpp eval` (any bundle on labelled folders) and `rdpp-train` (its test split) both use this
//! crate, so their reports are the same files with the same numbers (docs/method.md §8).

#![warn(missing_docs)]

pub mod calibrate;
pub mod labelled;
pub mod outputs;
pub mod score;

pub use calibrate::calibrate;
pub use labelled::{Evaluation, LabelledSet, ScoredImage};
pub use outputs::{ReportContext, WORST, chosen_threshold, scores_csv, write_outputs};
pub use score::{Scored, score_files, score_images};
