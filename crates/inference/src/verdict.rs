//! What an image score means to the user: the verdict against a threshold, and the scores table
//! (`scores.csv`) that `rdpp infer` and the page both write. Defined once so the words and digits
//! of the two files are the same.

use std::fmt::Write as _;

/// The verdict on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The score is above the threshold: a likely defect.
    Defect,
    /// The score is at or below the threshold.
    Good,
    /// There is no threshold (an uncalibrated bundle and none given).
    Uncalibrated,
}

impl Verdict {
    /// Compare an image score with a threshold. Strictly above is a defect, as the calibration
    /// places the threshold above every held-out normal score.
    pub fn of(score: f64, threshold: Option<f64>) -> Verdict {
        match threshold {
            None => Verdict::Uncalibrated,
            Some(t) if t.is_nan() => Verdict::Uncalibrated,
            Some(t) if score > t => Verdict::Defect,
            Some(_) => Verdict::Good,
        }
    }

    /// The word shown on a card in the page.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Defect => "defect",
            Verdict::Good => "good",
            Verdict::Uncalibrated => "uncalibrated",
        }
    }

    /// The word in the `verdict` column of `scores.csv` (kept from the first releases, so
    /// scripts that read the file keep working).
    pub fn csv_word(self) -> &'static str {
        match self {
            Verdict::Defect => "anomalous",
            Verdict::Good => "normal",
            Verdict::Uncalibrated => "uncalibrated",
        }
    }
}

/// One row of `scores.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The file as the user named it.
    pub file: String,
    /// Image score: the raw anomaly map's maximum.
    pub score: f64,
    /// Milliseconds the network and post-processing took for this image, when measured.
    pub ms: Option<f64>,
}

/// The header line of `scores.csv`.
pub const SCORES_HEADER: &str = "file,score,verdict,threshold,ms";

/// `scores.csv`: an optional `# model: NAME` comment line, then [`SCORES_HEADER`] and one row
/// per image (score with 8 decimals, the verdict's [`Verdict::csv_word`], the threshold used
/// with 9 decimals or empty, milliseconds with one decimal or empty).
pub fn scores_csv(rows: &[ScoreRow], threshold: Option<f64>, model: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(m) = model {
        let _ = writeln!(out, "# model: {}", csv_field(m));
    }
    out.push_str(SCORES_HEADER);
    out.push('\n');
    let t = threshold
        .filter(|t| !t.is_nan())
        .map(|t| format!("{t:.9}"))
        .unwrap_or_default();
    for r in rows {
        let ms = r.ms.map(|ms| format!("{ms:.1}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{:.8},{},{t},{ms}",
            csv_field(&r.file),
            r.score,
            Verdict::of(r.score, threshold).csv_word(),
        );
    }
    out
}

/// Quote a CSV field when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_compare_strictly_and_need_a_threshold() {
        assert_eq!(Verdict::of(0.3, Some(0.2)), Verdict::Defect);
        assert_eq!(Verdict::of(0.2, Some(0.2)), Verdict::Good);
        assert_eq!(Verdict::of(0.1, Some(0.2)), Verdict::Good);
        assert_eq!(Verdict::of(0.3, None), Verdict::Uncalibrated);
        assert_eq!(Verdict::of(0.3, Some(f64::NAN)), Verdict::Uncalibrated);
        assert_eq!(
            [Verdict::Defect, Verdict::Good, Verdict::Uncalibrated].map(Verdict::label),
            ["defect", "good", "uncalibrated"]
        );
    }

    #[test]
    fn the_table_has_both_verdicts_quoted_names_and_fixed_digits() {
        let rows = [
            ScoreRow {
                file: "a,b.png".into(),
                score: 0.123456789012345678,
                ms: Some(12.34),
            },
            ScoreRow {
                file: "say \"hi\".png".into(),
                score: 0.01,
                ms: None,
            },
        ];
        let csv = scores_csv(&rows, Some(0.1), Some("brick"));
        assert_eq!(
            csv,
            "# model: brick\n\
             file,score,verdict,threshold,ms\n\
             \"a,b.png\",0.12345679,anomalous,0.100000000,12.3\n\
             \"say \"\"hi\"\".png\",0.01000000,normal,0.100000000,\n"
        );
        let uncalibrated = scores_csv(&rows[1..], None, None);
        assert_eq!(
            uncalibrated,
            "file,score,verdict,threshold,ms\n\"say \"\"hi\"\".png\",0.01000000,uncalibrated,,\n"
        );
    }
}
