//! Operating points: the image-score thresholds a user can choose between (docs/method.md §8.3),
//! and what each does on a labelled test set (defects caught, false alarms).
//!
//! Convention: an image is called a defect when its score is **strictly above** the threshold —
//! the rule of the verdict that `rdpp infer`, `rdpp eval` and the page apply
//! (`rdpp_inference::verdict::Verdict::of`). The F1-optimal and recall thresholds are placed
//! halfway between the lowest score they must catch and the next lower score of the set, so that
//! writing them into a bundle gives exactly the verdicts counted here, with a margin on both
//! sides (a score that moves by rounding — f16 weights, another backend — keeps its verdict).

use serde::{Deserialize, Serialize};

use crate::curve::check_scores;
use crate::{F1Max, MetricError};

/// The share of defects the `recall99` rule must catch.
pub const RECALL99: f64 = 0.99;

/// Which rule chose a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    /// From held-out normal images only (the bundle's calibration): no defect was looked at.
    Calibrated,
    /// The threshold of the best image F1 on the labelled test set.
    F1,
    /// The highest threshold that still catches at least 99% of the labelled defects.
    Recall99,
}

impl ThresholdRule {
    /// Every rule, in the order reports list them.
    pub const ALL: [ThresholdRule; 3] = [
        ThresholdRule::Calibrated,
        ThresholdRule::F1,
        ThresholdRule::Recall99,
    ];

    /// The rule's name on the command line and in files (`calibrated`, `f1`, `recall99`).
    pub fn name(self) -> &'static str {
        match self {
            ThresholdRule::Calibrated => "calibrated",
            ThresholdRule::F1 => "f1",
            ThresholdRule::Recall99 => "recall99",
        }
    }

    /// One line saying how the threshold was chosen and what that means for the user.
    pub fn describe(self) -> &'static str {
        match self {
            ThresholdRule::Calibrated => {
                "from held-out normal images only (no defect seen): every held-out normal image passes"
            }
            ThresholdRule::F1 => {
                "the best balance of precision and recall on these labelled images (chosen on them: optimistic)"
            }
            ThresholdRule::Recall99 => {
                "the highest threshold that catches at least 99% of these labelled defects (chosen on them: optimistic)"
            }
        }
    }
}

impl std::fmt::Display for ThresholdRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ThresholdRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThresholdRule::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown threshold rule {s:?}: calibrated, f1 or recall99"))
    }
}

/// Verdict counts of a labelled set at one threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Defects called defects.
    pub caught: u64,
    /// Defects called good (misses).
    pub missed: u64,
    /// Normal images called defects (false alarms).
    pub false_alarms: u64,
    /// Normal images called good.
    pub passed: u64,
}

impl Confusion {
    /// Count the verdicts at `threshold` (defect ⇔ `score > threshold`). Scores and labels
    /// (`true` = defect) must have the same length; extra entries of the longer are ignored.
    pub fn at(scores: &[f64], labels: &[bool], threshold: f64) -> Confusion {
        let mut c = Confusion::default();
        for (&s, &defect) in scores.iter().zip(labels) {
            match (defect, s > threshold) {
                (true, true) => c.caught += 1,
                (true, false) => c.missed += 1,
                (false, true) => c.false_alarms += 1,
                (false, false) => c.passed += 1,
            }
        }
        c
    }

    /// Share of defects caught (recall); `None` without defects.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.caught, self.caught + self.missed)
    }

    /// Share of normal images flagged; `None` without normal images.
    pub fn false_alarm_rate(&self) -> Option<f64> {
        ratio(self.false_alarms, self.false_alarms + self.passed)
    }

    /// Share of flagged images that are defects (precision); `None` when nothing is flagged.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.caught, self.caught + self.false_alarms)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// One threshold, how it was chosen, and what it does on the labelled set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// How it was chosen.
    pub rule: ThresholdRule,
    /// Images scoring strictly above it are called defects.
    pub threshold: f64,
    /// The verdicts it gives on the labelled set.
    pub confusion: Confusion,
}

impl OperatingPoint {
    /// The operating point of `threshold` on a labelled set.
    pub fn new(rule: ThresholdRule, threshold: f64, scores: &[f64], labels: &[bool]) -> Self {
        OperatingPoint {
            rule,
            threshold,
            confusion: Confusion::at(scores, labels, threshold),
        }
    }
}

/// The F1-max threshold in the strict-verdict convention: below the `>=` threshold that
/// [`f1_max`](crate::f1_max) reports (see [`below`]), so the same images are called defects.
pub fn f1_threshold(f1: &F1Max, scores: &[f64]) -> f64 {
    below(f1.threshold, scores)
}

/// A threshold that calls `lowest` (a score of the set) a defect and every lower score of the
/// set good: halfway to the next lower score; without one, a tenth of the scores' spread below
/// (at least the next `f64` down).
pub fn below(lowest: f64, scores: &[f64]) -> f64 {
    let next = scores
        .iter()
        .copied()
        .filter(|&s| s < lowest)
        .fold(f64::NEG_INFINITY, f64::max);
    let t = if next.is_finite() {
        next + (lowest - next) / 2.0
    } else {
        let (lo, hi) = scores
            .iter()
            .fold((lowest, lowest), |(a, b), &s| (a.min(s), b.max(s)));
        lowest - 0.1 * (hi - lo)
    };
    // Halfway between two neighbouring floats rounds to one of them: stay strictly below.
    if t < lowest { t } else { lowest.next_down() }
}

/// The highest threshold (up to the margin of [`below`]) whose verdicts (defect ⇔ `score > t`)
/// catch at least `min_recall` of the defects: below the `k`-th lowest defect score,
/// `k = ⌊(1 − min_recall)·n⌋` (0-based), so at most `k` defects are missed.
///
/// Errors: mismatched or empty input, a non-finite score, no defect, or `min_recall` outside
/// `(0, 1]`.
pub fn recall_threshold(
    scores: &[f64],
    labels: &[bool],
    min_recall: f64,
) -> Result<f64, MetricError> {
    check_scores(scores, labels)?;
    if !(min_recall > 0.0 && min_recall <= 1.0) {
        return Err(MetricError::InvalidArgument(format!(
            "the recall {min_recall} must be in (0, 1]"
        )));
    }
    let mut defects: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(s, _)| *s)
        .collect();
    if defects.is_empty() {
        return Err(MetricError::OneClass {
            metric: "recall threshold",
            positives: 0,
            negatives: labels.len() as u64,
        });
    }
    defects.sort_by(f64::total_cmp);
    let n = defects.len();
    // Integer arithmetic on the number allowed to be missed avoids 0.99·100 = 98.99999….
    let may_miss = ((1.0 - min_recall) * n as f64 + 1e-9).floor() as usize;
    Ok(below(defects[may_miss.min(n - 1)], scores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::f1_max;

    #[test]
    fn confusion_uses_the_strict_verdict() {
        let scores = [0.1, 0.2, 0.3, 0.4];
        let labels = [false, true, false, true];
        let c = Confusion::at(&scores, &labels, 0.2);
        assert_eq!(
            c,
            Confusion {
                caught: 1,
                missed: 1,
                false_alarms: 1,
                passed: 1
            }
        );
        assert_eq!(c.recall(), Some(0.5));
        assert_eq!(c.false_alarm_rate(), Some(0.5));
        assert_eq!(c.precision(), Some(0.5));
        assert_eq!(Confusion::default().recall(), None);
    }

    #[test]
    fn recall_threshold_misses_at_most_one_percent() {
        // 200 defects scoring 1..=200 and 10 normals at 0: 99% allows 2 misses.
        let mut scores: Vec<f64> = (1..=200).map(f64::from).collect();
        let mut labels = vec![true; 200];
        scores.extend([0.0; 10]);
        labels.extend([false; 10]);
        let t = recall_threshold(&scores, &labels, RECALL99).unwrap();
        assert_eq!(
            t, 2.5,
            "halfway between the lowest caught and the next lower score"
        );
        let c = Confusion::at(&scores, &labels, t);
        assert_eq!((c.caught, c.missed), (198, 2));
        // Under 100 defects, 99% means every one.
        let t = recall_threshold(&[0.5, 0.7, 0.2], &[true, true, false], RECALL99).unwrap();
        assert_eq!(
            Confusion::at(&[0.5, 0.7, 0.2], &[true, true, false], t).missed,
            0
        );
        assert!(t < 0.5);
        assert!(matches!(
            recall_threshold(&[0.1], &[false], RECALL99),
            Err(MetricError::OneClass { .. })
        ));
        assert!(recall_threshold(&[0.1], &[true], 1.5).is_err());
        assert!(recall_threshold(&[f64::NAN], &[true], 0.5).is_err());
    }

    #[test]
    fn f1_threshold_gives_the_f1_max_verdicts() {
        let scores = [0.1, 0.4, 0.35, 0.8, 0.35];
        let labels = [false, false, true, true, false];
        let f1 = f1_max(&scores, &labels).unwrap();
        let c = Confusion::at(&scores, &labels, f1_threshold(&f1, &scores));
        let f1_here = 2.0 * c.caught as f64 / (2 * c.caught + c.false_alarms + c.missed) as f64;
        assert!((f1_here - f1.f1).abs() < 1e-12, "{f1_here} vs {}", f1.f1);
    }

    #[test]
    fn below_keeps_a_margin_and_stays_strictly_below() {
        assert_eq!(below(0.5, &[0.1, 0.3, 0.5, 0.9]), 0.4);
        // Nothing lower: a tenth of the spread below.
        assert!((below(0.1, &[0.1, 0.5]) - 0.06).abs() < 1e-12);
        // One value only: the next float down.
        assert_eq!(below(1.0, &[1.0]), 1.0f64.next_down());
        // Neighbouring floats: still strictly below.
        let x = 1.0f64;
        assert!(below(x, &[x.next_down(), x]) < x);
    }

    #[test]
    fn rules_round_trip_through_their_names() {
        for r in ThresholdRule::ALL {
            assert_eq!(r.name().parse::<ThresholdRule>(), Ok(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
        assert!("p99".parse::<ThresholdRule>().is_err());
    }
}
