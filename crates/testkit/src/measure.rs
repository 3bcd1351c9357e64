//! What a benchmark (`rdpp bench`, `rdpp-train bench`) reads about a process: peak memory,
//! machine load, and the JSON result line a worker prints last.

use serde::de::DeserializeOwned;

/// Peak resident memory of this process (Linux `VmHWM`), in MB; NaN where unavailable.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The one-minute load average (Linux), if readable.
pub fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The last line of `stdout` that starts with `{`, parsed as `T`.
pub fn last_json_line<T: DeserializeOwned>(stdout: &[u8]) -> Result<T, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| "no JSON result line".to_owned())?;
    serde_json::from_str(line).map_err(|e| format!("not a measurement ({e}): {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_json_line_wins_and_garbage_is_reported() {
        let out = b"log line\n{\"a\": 1}\nmore\n{\"a\": 2}\n";
        let v: serde_json::Value = last_json_line(out).unwrap();
        assert_eq!(v["a"], 2);
        assert!(last_json_line::<serde_json::Value>(b"nothing").is_err());
        assert!(
            last_json_line::<serde_json::Value>(b"{broken")
                .unwrap_err()
                .contains("{broken")
        );
    }

    #[test]
    fn peak_memory_is_positive_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mb() > 0.0);
        }
    }
}
