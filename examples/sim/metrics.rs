//! Per-run results of the memory-balance experiment.

use super::*;

/// Per-variant result of the memory-balance experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRun {
    /// The variant.
    pub label: String,
    /// Average free memory per server over the run, MB.
    pub avg_free_mb: Vec<f64>,
    /// Mean absolute free-memory difference between servers (mean over pairs), MB.
    pub mean_abs_diff_mb: f64,
    /// Requests completed.
    pub requests: u64,
    /// Mean request latency (SYN to last byte), ms.
    pub mean_latency_ms: f64,
    /// Largest swapped-out memory seen on any server, MB.
    pub max_swapped_mb: f64,
    /// Sample times, s.
    pub times: Vec<f64>,
    /// Free memory per server per sample, MB (`free[server][sample]`).
    pub free: Vec<Vec<f64>>,
}

/// The memory-balance experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryResult {
    /// One entry per variant, in order.
    pub runs: Vec<MemoryRun>,
}

impl MemoryResult {
    /// CSV with the header `scheduler,server,avg_free_mb,mean_abs_diff_mb`.
    pub fn csv(&self) -> String {
        let mut s = String::from("scheduler,server,avg_free_mb,mean_abs_diff_mb\n");
        for r in &self.runs {
            for (i, f) in r.avg_free_mb.iter().enumerate() {
                let _ = writeln!(s, "{},{},{:.3},{:.3}", r.label, i, f, r.mean_abs_diff_mb);
            }
        }
        s
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let base = self.runs.first().map(|r| r.mean_abs_diff_mb).unwrap_or(0.0);
        let _ = writeln!(
            s,
            "{:<22} {:>28} {:>10} {:>8} {:>9} {:>9} {:>9}",
            "scheduler",
            "avg free MB per server",
            "|diff| MB",
            "vs first",
            "requests",
            "lat ms",
            "swap MB"
        );
        for r in &self.runs {
            let frees: Vec<String> = r.avg_free_mb.iter().map(|f| format!("{f:.1}")).collect();
            let _ = writeln!(
                s,
                "{:<22} {:>28} {:>10.2} {:>7.2}x {:>9} {:>9.0} {:>9.1}",
                r.label,
                frees.join(" / "),
                r.mean_abs_diff_mb,
                if r.mean_abs_diff_mb > 0.0 {
                    base / r.mean_abs_diff_mb
                } else {
                    f64::INFINITY
                },
                r.requests,
                r.mean_latency_ms,
                r.max_swapped_mb
            );
        }
        s
    }
}
