//! The harness `rdpp bench` and `rdpp-train bench` share: each measurement runs in a fresh
//! process (so its peak memory is its own) and prints its result as the last JSON line of its
//! standard output; rdpp's side is the hidden [`WORKER_SUBCOMMAND`] of the running executable, the
//! PyTorch side a reference script embedded in this crate ([`TorchBench`]) or given by the user;
//! a [`Comparison`] prints both side by side with the rdpp / PyTorch ratios.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use rdpp_testkit::bench::{Comparison, MeasuredRun, Quantity, TorchBench, TorchSide};
//! # #[derive(serde::Deserialize)] struct M { ms: f64 }
//! let rdpp: M = MeasuredRun::worker(2)?.flag("--input-size", 256).measure()?;
//! let torch = TorchSide::prepare("python3", TorchBench::Inference, None, false);
//! let torch_m: Option<M> = match &torch {
//!     Ok(side) => side.run().flag("--threads", 2).measure_or_report(),
//!     Err(_) => None,
//! };
//! let mut table = Comparison::new("batch", vec![
//!     Quantity::new("ms/img", 1).lower_is_better("time ×", "faster"),
//! ]);
//! table.push(1, vec![rdpp.ms], torch_m.map(|t| vec![t.ms]));
//! table.print(torch.as_ref().err().map(String::as_str));
//! # Ok(()) }
//! ```

use std::ffi::OsStr;
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;

use crate::measure::last_json_line;

/// The hidden subcommand of `rdpp` and `rdpp-train` that takes one measurement in a fresh process.
pub const WORKER_SUBCOMMAND: &str = "bench-worker";

/// One side of a benchmark run as a child process that prints its measurement as the last JSON
/// line of its standard output.
#[derive(Debug)]
pub struct MeasuredRun {
    command: Command,
    what: &'static str,
    show_messages: bool,
}

impl MeasuredRun {
    /// The [`WORKER_SUBCOMMAND`] of the running executable, its thread pool limited to `threads`
    /// (`RAYON_NUM_THREADS`). Add the worker's options with [`MeasuredRun::flag`].
    ///
    /// # Errors
    /// The running executable cannot be located.
    pub fn worker(threads: usize) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot locate the running executable")?;
        let mut command = Command::new(exe);
        command
            .arg(WORKER_SUBCOMMAND)
            .env("RAYON_NUM_THREADS", threads.to_string());
        Ok(Self {
            command,
            what: "benchmark worker",
            show_messages: false,
        })
    }

    /// Append `name value` (e.g. `flag("--input-size", 256)`).
    pub fn flag(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.command.arg(name).arg(value.to_string());
        self
    }

    /// Append one raw argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.command.arg(arg);
        self
    }

    /// Let the process write its messages (progress, errors) to this terminal as they come,
    /// instead of collecting them for the error message of a failed run.
    pub fn show_messages(&mut self) -> &mut Self {
        self.show_messages = true;
        self
    }

    /// Run the process to its end and parse its last JSON line as `T`.
    ///
    /// # Errors
    /// It cannot start, exits with a failure (with its messages unless they were shown), or
    /// prints no readable JSON line.
    pub fn measure<T: DeserializeOwned>(&mut self) -> Result<T> {
        if self.show_messages {
            self.command.stderr(Stdio::inherit());
        }
        let out = self
            .command
            .output()
            .with_context(|| format!("cannot start the {}", self.what))?;
        if !out.status.success() {
            if self.show_messages {
                bail!(
                    "{} failed ({}); its messages are above",
                    self.what,
                    out.status
                );
            }
            bail!(
                "{} failed ({}): {}",
                self.what,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        last_json_line(&out.stdout).map_err(|e| anyhow!("{} output: {e}", self.what))
    }

    /// [`MeasuredRun::measure`] for an optional side: a failure is reported on stderr and gives
    /// `None`.
    pub fn measure_or_report<T: DeserializeOwned>(&mut self) -> Option<T> {
        match self.measure() {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("{e:#}");
                None
            }
        }
    }
}

/// The PyTorch reference benchmarks, embedded in the binaries (with `reference.py`, which they
/// import), so the benchmark commands need no source checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchBench {
    /// `tests/parity/bench_torch.py`: full RD++ inference (the wide_resnet50_2 model only), one
    /// JSON line per batch size.
    Inference,
    /// `tests/parity/bench_train_torch.py`: one RD++ training step, one JSON line.
    Training,
}

/// `tests/parity/reference.py`, the PyTorch reference the benchmark scripts import.
const REFERENCE_PY: &str = include_str!("../../../tests/parity/reference.py");
const BENCH_TORCH_PY: &str = include_str!("../../../tests/parity/bench_torch.py");
const BENCH_TRAIN_TORCH_PY: &str = include_str!("../../../tests/parity/bench_train_torch.py");

impl TorchBench {
    /// The script's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            TorchBench::Inference => "bench_torch.py",
            TorchBench::Training => "bench_train_torch.py",
        }
    }

    /// The embedded script's source.
    pub fn source(self) -> &'static str {
        match self {
            TorchBench::Inference => BENCH_TORCH_PY,
            TorchBench::Training => BENCH_TRAIN_TORCH_PY,
        }
    }
}

/// A PyTorch benchmark script on disk: the embedded copy written (next to `reference.py`) to a
/// temporary directory that lives as long as this value, or a script the user named.
#[derive(Debug)]
pub struct TorchScript {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl TorchScript {
    /// Write the embedded `bench` script and `reference.py` to a fresh temporary directory.
    ///
    /// # Errors
    /// The temporary directory or the files cannot be written.
    pub fn embedded(bench: TorchBench) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rdpp-bench-").tempdir()?;
        std::fs::write(dir.path().join("reference.py"), REFERENCE_PY)?;
        let path = dir.path().join(bench.file_name());
        std::fs::write(&path, bench.source())?;
        Ok(Self {
            path,
            _dir: Some(dir),
        })
    }

    /// A script of the user's (it imports `reference.py` from its own directory).
    ///
    /// # Errors
    /// `path` is not a file.
    pub fn at(path: &Path) -> Result<Self, String> {
        if !path.is_file() {
            return Err(format!("{} is not a file", path.display()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            _dir: None,
        })
    }

    /// Where the script is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True for the embedded copy.
    pub fn is_embedded(&self) -> bool {
        self._dir.is_some()
    }
}

impl Display for TorchScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self._dir {
            Some(_) => write!(
                f,
                "the embedded {}",
                self.path.file_name().unwrap_or_default().to_string_lossy()
            ),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Why PyTorch cannot run a benchmark through the interpreter `python`, or `None` when it can:
/// torch, torchvision and scipy must import, and with `cuda` PyTorch must see a CUDA device.
pub fn torch_problem(python: &str, cuda: bool) -> Option<String> {
    let check = if cuda {
        "import sys, torch, torchvision, scipy; sys.exit(0 if torch.cuda.is_available() else 3)"
    } else {
        "import torch, torchvision, scipy"
    };
    match Command::new(python).args(["-c", check]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) if cuda && o.status.code() == Some(3) => Some(format!(
            "PyTorch under {python} sees no CUDA device; use --torch-device cpu to compare on the CPU"
        )),
        Ok(_) => Some(format!(
            "torch, torchvision or scipy not importable by {python}; install them to compare"
        )),
        Err(e) => Some(format!("cannot run {python}: {e}")),
    }
}

/// The PyTorch side of a benchmark, ready to run.
#[derive(Debug)]
pub struct TorchSide {
    python: String,
    script: TorchScript,
}

impl TorchSide {
    /// Check that PyTorch can run ([`torch_problem`]), then put the script in place: `script`
    /// when given (the `--torch-script` override), else the embedded `bench` script.
    ///
    /// # Errors
    /// Why the PyTorch side cannot run, as a sentence for "PyTorch not measured (…)".
    pub fn prepare(
        python: &str,
        bench: TorchBench,
        script: Option<&Path>,
        cuda: bool,
    ) -> Result<Self, String> {
        if let Some(problem) = torch_problem(python, cuda) {
            return Err(problem);
        }
        let script = match script {
            Some(path) => TorchScript::at(path)?,
            None => TorchScript::embedded(bench).map_err(|e| {
                format!("cannot write the PyTorch script to a temporary directory: {e}")
            })?,
        };
        Ok(Self {
            python: python.to_string(),
            script,
        })
    }

    /// The script that runs.
    pub fn script(&self) -> &TorchScript {
        &self.script
    }

    /// A run of the script; add its options with [`MeasuredRun::flag`].
    pub fn run(&self) -> MeasuredRun {
        let mut command = Command::new(&self.python);
        command.arg(self.script.path());
        MeasuredRun {
            command,
            what: "PyTorch benchmark",
            show_messages: false,
        }
    }
}

/// The median (the mean of the two middle values for an even count; NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// A measured quantity, a column of a [`Comparison`] for each side.
#[derive(Clone, Debug)]
pub struct Quantity {
    name: &'static str,
    decimals: usize,
    ratio: Option<Ratio>,
}

#[derive(Clone, Debug)]
struct Ratio {
    name: &'static str,
    higher_is_better: bool,
    adjective: &'static str,
}

impl Quantity {
    /// A quantity printed with `decimals` decimals, without a ratio column.
    pub fn new(name: &'static str, decimals: usize) -> Self {
        Self {
            name,
            decimals,
            ratio: None,
        }
    }

    /// With a ratio column `ratio_name` (rdpp / PyTorch), below 1 when rdpp is `adjective`
    /// ("faster", "smaller").
    pub fn lower_is_better(self, ratio_name: &'static str, adjective: &'static str) -> Self {
        self.with_ratio(ratio_name, false, adjective)
    }

    /// With a ratio column `ratio_name` (rdpp / PyTorch), above 1 when rdpp is `adjective`.
    pub fn higher_is_better(self, ratio_name: &'static str, adjective: &'static str) -> Self {
        self.with_ratio(ratio_name, true, adjective)
    }

    fn with_ratio(
        mut self,
        name: &'static str,
        higher_is_better: bool,
        adjective: &'static str,
    ) -> Self {
        self.ratio = Some(Ratio {
            name,
            higher_is_better,
            adjective,
        });
        self
    }
}

#[derive(Clone, Debug)]
struct Row {
    key: String,
    rdpp: Vec<f64>,
    torch: Option<Vec<f64>>,
}

/// rdpp and PyTorch side by side: a row per configuration (e.g. batch size), for every
/// [`Quantity`] a column per side, then the ratio columns (rdpp / PyTorch).
#[derive(Clone, Debug)]
pub struct Comparison {
    key: &'static str,
    quantities: Vec<Quantity>,
    rows: Vec<Row>,
}

impl Comparison {
    /// An empty table whose rows are labelled in a column titled `key`.
    pub fn new(key: &'static str, quantities: Vec<Quantity>) -> Self {
        Self {
            key,
            quantities,
            rows: Vec::new(),
        }
    }

    /// Add a row: the quantities of rdpp and, when measured, of PyTorch (in the order given to
    /// [`Comparison::new`]).
    ///
    /// # Panics
    /// A side with a different number of values than there are quantities.
    pub fn push(&mut self, key: impl Display, rdpp: Vec<f64>, torch: Option<Vec<f64>>) {
        let n = self.quantities.len();
        assert_eq!(rdpp.len(), n, "one rdpp value per quantity");
        if let Some(t) = &torch {
            assert_eq!(t.len(), n, "one PyTorch value per quantity");
        }
        self.rows.push(Row {
            key: key.to_string(),
            rdpp,
            torch,
        });
    }

    /// The table and its legend; `torch_problem` says why PyTorch was not measured at all.
    pub fn render(&self, torch_problem: Option<&str>) -> String {
        let ratios: Vec<(usize, &Ratio)> = self
            .quantities
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.ratio.as_ref().map(|r| (i, r)))
            .collect();
        // A column is its title then one cell per row; column groups: key | rdpp values |
        // PyTorch values | ratios.
        let column = |title: String, cell: &dyn Fn(&Row) -> String| -> Vec<String> {
            std::iter::once(title)
                .chain(self.rows.iter().map(cell))
                .collect()
        };
        let value = |q: &Quantity, v: f64| format!("{v:.prec$}", prec = q.decimals);
        let mut groups: Vec<Vec<Vec<String>>> =
            vec![vec![column(self.key.to_string(), &|r| r.key.clone())]];
        groups.push(
            self.quantities
                .iter()
                .enumerate()
                .map(|(i, q)| column(format!("rdpp {}", q.name), &|r| value(q, r.rdpp[i])))
                .collect(),
        );
        groups.push(
            self.quantities
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    column(format!("torch {}", q.name), &|r| {
                        r.torch
                            .as_ref()
                            .map_or_else(|| "-".to_string(), |t| value(q, t[i]))
                    })
                })
                .collect(),
        );
        groups.push(
            ratios
                .iter()
                .map(|&(i, ratio)| {
                    column(ratio.name.to_string(), &|r| match &r.torch {
                        None => "-".to_string(),
                        Some(t) => {
                            let x = r.rdpp[i] / t[i];
                            if x.is_finite() {
                                format!("{x:.2}")
                            } else {
                                "n/a".to_string()
                            }
                        }
                    })
                })
                .collect(),
        );
        groups.retain(|g| !g.is_empty());

        let mut out = String::new();
        for line in 0..=self.rows.len() {
            let text: Vec<String> = groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|col| {
                            let w = col.iter().map(|s| s.chars().count()).max().unwrap_or(0);
                            format!("{:>w$}", col[line])
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            out.push_str(&text.join("  "));
            out.push('\n');
        }
        if self.rows.iter().any(|r| r.torch.is_some()) {
            if !ratios.is_empty() {
                let meanings: Vec<String> = ratios
                    .iter()
                    .map(|(_, r)| {
                        format!(
                            "{} {} 1 means rdpp is {}",
                            r.name,
                            if r.higher_is_better { "above" } else { "below" },
                            r.adjective
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "Ratios are rdpp / PyTorch: {}.\n",
                    meanings.join(", ")
                ));
            }
        } else {
            out.push_str(&format!(
                "PyTorch not measured ({}).\n",
                torch_problem.unwrap_or("its runs failed; their messages are above")
            ));
        }
        out
    }

    /// Print [`Comparison::render`] to stdout.
    pub fn print(&self, torch_problem: Option<&str>) {
        print!("{}", self.render(torch_problem));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Comparison {
        Comparison::new(
            "batch",
            vec![
                Quantity::new("ms/img", 1).lower_is_better("time ×", "faster"),
                Quantity::new("MB", 0).lower_is_better("memory ×", "smaller"),
            ],
        )
    }

    #[test]
    fn rows_line_up_with_ratios_and_legend() {
        let mut t = table();
        t.push(1, vec![927.0, 611.0], Some(vec![498.0, 1317.0]));
        t.push(8, vec![616.0, 789.0], None);
        let text = t.render(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0],
            "batch  rdpp ms/img rdpp MB  torch ms/img torch MB  time × memory ×"
        );
        assert_eq!(
            lines[1],
            "    1        927.0     611         498.0     1317    1.86     0.46"
        );
        assert_eq!(
            lines[2],
            "    8        616.0     789             -        -       -        -"
        );
        let widths: Vec<usize> = lines[..3].iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{text}");
        assert_eq!(
            lines[3],
            "Ratios are rdpp / PyTorch: time × below 1 means rdpp is faster, memory × below 1 \
             means rdpp is smaller."
        );
    }

    #[test]
    fn without_pytorch_the_reason_is_given_and_bad_ratios_are_na() {
        let mut t = table();
        t.push(1, vec![1.0, 2.0], None);
        let text = t.render(Some("--no-torch"));
        assert!(
            text.ends_with("PyTorch not measured (--no-torch).\n"),
            "{text}"
        );

        let mut t = Comparison::new(
            "batch",
            vec![Quantity::new("images/s", 3).higher_is_better("speed ×", "faster")],
        );
        t.push(4, vec![f64::NAN], Some(vec![0.5]));
        let text = t.render(None);
        assert!(text.lines().nth(1).unwrap().ends_with("n/a"), "{text}");
        assert!(
            text.contains("speed × above 1 means rdpp is faster"),
            "{text}"
        );
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn the_embedded_scripts_sit_next_to_the_reference_they_import() {
        for bench in [TorchBench::Inference, TorchBench::Training] {
            assert!(bench.source().contains("import reference as R"));
            let script = TorchScript::embedded(bench).unwrap();
            assert!(script.is_embedded());
            let dir = script.path().parent().unwrap().to_path_buf();
            assert_eq!(
                std::fs::read_to_string(dir.join("reference.py")).unwrap(),
                REFERENCE_PY
            );
            assert_eq!(
                std::fs::read_to_string(script.path()).unwrap(),
                bench.source()
            );
            assert_eq!(
                script.to_string(),
                format!("the embedded {}", bench.file_name())
            );
            drop(script);
            assert!(
                !dir.exists(),
                "the temporary directory goes with the script"
            );
        }
        assert!(TorchScript::at(Path::new("/nonexistent/bench.py")).is_err());
    }

    #[test]
    fn a_missing_interpreter_is_a_reason_not_a_panic() {
        let problem = torch_problem("/nonexistent/python3", false).unwrap();
        assert!(
            problem.starts_with("cannot run /nonexistent/python3"),
            "{problem}"
        );
    }

    #[test]
    fn a_failed_run_reports_its_messages() {
        let mut run = MeasuredRun {
            command: Command::new("sh"),
            what: "benchmark worker",
            show_messages: false,
        };
        run.arg("-c").arg("echo oops >&2; exit 3");
        let e = run.measure::<serde_json::Value>().unwrap_err().to_string();
        assert!(
            e.starts_with("benchmark worker failed (") && e.ends_with("): oops"),
            "{e}"
        );

        let mut run = MeasuredRun {
            command: Command::new("sh"),
            what: "benchmark worker",
            show_messages: false,
        };
        run.arg("-c").arg("echo starting; echo '{\"x\": 1}'");
        let v: serde_json::Value = run.measure().unwrap();
        assert_eq!(v["x"], 1);
    }
}
