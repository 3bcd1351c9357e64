//! `rdpp info BUNDLE`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use rdpp_inference::bundle::read_manifest;

pub fn run(bundle: &Path) -> Result<ExitCode> {
    let (dir, m) = read_manifest(bundle)?;
    let weights = dir.join(&m.weights.file);
    let on_disk = std::fs::metadata(&weights).map(|md| md.len()).ok();
    let mut out = String::new();
    writeln!(out, "bundle      {}", dir.display())?;
    writeln!(out, "name        {}", m.name)?;
    writeln!(out, "format      {} v{}", m.format, m.format_version)?;
    writeln!(out, "backbone    {}", m.backbone)?;
    writeln!(
        out,
        "input size  {0}×{0} (anomaly map {0}×{0})",
        m.input_size
    )?;
    writeln!(
        out,
        "weights     {} ({:?}, {:.1} MB{}), sha256 {}",
        m.weights.file,
        m.weights.dtype,
        m.weights.bytes as f64 / 1e6,
        match on_disk {
            Some(n) if n == m.weights.bytes => String::new(),
            Some(n) => format!(", FILE IS {n} BYTES"),
            None => ", FILE MISSING".into(),
        },
        m.weights.sha256
    )?;
    match &m.calibration {
        Some(c) => writeln!(
            out,
            "calibration threshold {:.6}, map range [{:.6}, {:.6}] ({})",
            c.image_threshold, c.map_low, c.map_high, c.method
        )?,
        None => writeln!(
            out,
            "calibration none (scores are raw; no verdict threshold)"
        )?,
    }
    let p = &m.provenance;
    writeln!(out, "created by  {}", p.created_by)?;
    writeln!(out, "source      {}", p.source)?;
    if let Some(d) = &p.dataset {
        writeln!(out, "dataset     {d}")?;
    }
    for f in &p.inputs {
        writeln!(
            out,
            "input       {} {} (sha256 {})",
            f.role, f.name, f.sha256
        )?;
    }
    for (k, v) in &p.details {
        writeln!(out, "{:<11} {}", k, v)?;
    }
    crate::write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
