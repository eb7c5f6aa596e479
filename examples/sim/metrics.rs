//! Per-run measurements of the memory-balance experiment and their summaries over seeds.

use super::*;

/// Share of the offered requests a run must serve in time to qualify.
pub const QUALIFY_SERVED: f64 = 0.99;

/// What happened to the requests of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts {
    /// Requests the clients sent (SYNs).
    pub offered: u64,
    /// Requests answered within the timeout.
    pub served: u64,
    /// Requests the director refused (no server).
    pub refused: u64,
    /// Requests answered after the timeout (the others offered were never answered).
    pub late: u64,
}

/// One variant on one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRun {
    /// The variant.
    pub label: String,
    /// Seed.
    pub seed: u64,
    /// Request counts.
    pub counts: RunCounts,
    /// 99th percentile of the served requests' response time (SYN to last byte), ms.
    pub p99_ms: f64,
    /// Mean response time of the served requests, ms.
    pub mean_latency_ms: f64,
    /// Memory pushed out to swap, summed over the servers, MB.
    pub swap_out_mb: f64,
    /// Largest swapped-out memory seen on any server, MB.
    pub max_swapped_mb: f64,
    /// Mean free memory per server over the loaded period, KB.
    pub avg_free_kb: Vec<f64>,
    /// The published metric: mean free memory of server 1 minus that of server 2, KB.
    pub signed_diff_kb: f64,
    /// Mean over the loaded period of the absolute free-memory difference (mean over pairs of
    /// servers), KB.
    pub mean_abs_diff_kb: f64,
    /// Sample times, s.
    pub times: Vec<f64>,
    /// Free memory per server per sample, MB (`free[server][sample]`).
    pub free: Vec<Vec<f64>>,
}

impl MemoryRun {
    /// Measures a finished run; the memory metrics use the first `window` samples.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn measure(
        v: &Variant,
        seed: u64,
        counts: RunCounts,
        mut lat_ms: Vec<u32>,
        swap_out_mb: f64,
        max_swapped_mb: f64,
        times: Vec<f64>,
        free: Vec<Vec<f64>>,
        window: usize,
    ) -> MemoryRun {
        lat_ms.sort_unstable();
        let p99_ms = match lat_ms.len() {
            0 => f64::NAN,
            l => lat_ms[((l as f64 * 0.99).ceil() as usize).clamp(1, l) - 1] as f64,
        };
        let mean_latency_ms =
            lat_ms.iter().map(|&x| x as f64).sum::<f64>() / lat_ms.len().max(1) as f64;
        let w = window.max(1);
        let avg_free_kb: Vec<f64> = free
            .iter()
            .map(|f| f.iter().take(w).sum::<f64>() / w as f64 * 1024.0)
            .collect();
        let n = free.len();
        let mut diff = 0.0;
        for (i, fi) in free.iter().enumerate() {
            for fj in &free[i + 1..] {
                diff += fi
                    .iter()
                    .zip(fj)
                    .take(w)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f64>();
            }
        }
        let pairs = (n * (n - 1) / 2).max(1) as f64;
        MemoryRun {
            label: v.label.clone(),
            seed,
            counts,
            p99_ms,
            mean_latency_ms,
            swap_out_mb,
            max_swapped_mb,
            signed_diff_kb: avg_free_kb[0] - avg_free_kb.get(1).copied().unwrap_or(0.0),
            mean_abs_diff_kb: diff / pairs / w as f64 * 1024.0,
            avg_free_kb,
            times,
            free,
        }
    }

    /// Served share of the offered requests.
    pub fn served_frac(&self) -> f64 {
        self.counts.served as f64 / self.counts.offered.max(1) as f64
    }

    /// Whether the run served at least [`QUALIFY_SERVED`] of what was offered.
    pub fn qualified(&self) -> bool {
        self.served_frac() >= QUALIFY_SERVED
    }

    /// Requests refused, timed out or never answered.
    pub fn failed(&self) -> u64 {
        self.counts.offered - self.counts.served
    }
}

/// The memory-balance experiment's results for one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryResult {
    /// One entry per variant, in order.
    pub runs: Vec<MemoryRun>,
    /// The loaded period the memory metrics cover, s.
    pub window_s: f64,
}

/// The header of `memory-balance-runs.csv`.
pub const RUNS_HEADER: &str =
    "scheduler,seed,offered,served,refused,p99_ms,swap_out_mb,signed_diff_kb,mean_abs_diff_kb,qualified";

impl MemoryRun {
    /// One line of `memory-balance-runs.csv` (refused counts every request not served in
    /// time: refused by the director, answered late or never).
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{},{:.0},{:.1},{:.1},{:.1},{}",
            self.label,
            self.seed,
            self.counts.offered,
            self.counts.served,
            self.failed(),
            self.p99_ms,
            self.swap_out_mb,
            self.signed_diff_kb,
            self.mean_abs_diff_kb,
            self.qualified()
        )
    }
}

impl MemoryResult {
    /// `memory-balance-runs.csv` for these runs.
    pub fn csv(&self) -> String {
        let mut s = format!("{RUNS_HEADER}\n");
        for r in &self.runs {
            let _ = writeln!(s, "{}", r.csv_line());
        }
        s
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<22} {:>22} {:>11} {:>11} {:>8} {:>7} {:>8} {:>8} {:>4}",
            "scheduler",
            "avg free KB s1 / s2",
            "signed KB",
            "|diff| KB",
            "served%",
            "p99 ms",
            "swap MB",
            "offered",
            "ok"
        );
        for r in &self.runs {
            let _ = writeln!(
                s,
                "{:<22} {:>22} {:>11.1} {:>11.1} {:>8.2} {:>7.0} {:>8.1} {:>8} {:>4}",
                r.label,
                format!(
                    "{:.0} / {:.0}",
                    r.avg_free_kb[0],
                    r.avg_free_kb.get(1).copied().unwrap_or(0.0)
                ),
                r.signed_diff_kb,
                r.mean_abs_diff_kb,
                100.0 * r.served_frac(),
                r.p99_ms,
                r.swap_out_mb,
                r.counts.offered,
                if r.qualified() { "yes" } else { "NO" }
            );
        }
        s
    }
}

/// Mean and 95 % confidence interval (Student's t) of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Mean.
    pub mean: f64,
    /// Lower end of the 95 % interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Two-sided 97.5 % quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        d if d <= 30 => T[d - 1],
        d if d <= 60 => 2.042 - (d - 30) as f64 * (2.042 - 2.000) / 30.0,
        _ => 1.96,
    }
}

impl Interval {
    /// The mean and 95 % interval of `xs` (one value: an interval of zero width is not
    /// claimed, the ends are infinite).
    pub fn of(xs: &[f64]) -> Interval {
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        if n < 2 {
            return Interval {
                mean,
                low: f64::NEG_INFINITY,
                high: f64::INFINITY,
            };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let h = t975(n - 1) * (var / n as f64).sqrt();
        Interval {
            mean,
            low: mean - h,
            high: mean + h,
        }
    }
}

/// One scheduler summarised over seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The variant.
    pub label: String,
    /// Runs (seeds).
    pub runs: usize,
    /// Served requests over offered requests, all runs together.
    pub served_frac: f64,
    /// Mean absolute difference, KB, with its 95 % interval.
    pub mean_abs_diff: Interval,
    /// Mean of the published signed difference, KB.
    pub signed_diff_kb: f64,
    /// Mean of the per-run 99th percentiles, ms.
    pub p99_ms: f64,
    /// Mean swap-out per run, MB.
    pub swap_out_mb: f64,
    /// WLC's mean absolute difference over this one's (0 when WLC is not in the table).
    pub ratio_vs_wlc: f64,
    /// Every run qualified.
    pub qualified: bool,
}

/// The header of `memory-balance.csv`.
pub const SUMMARY_HEADER: &str = "scheduler,runs,served_frac,mean_abs_diff_kb,ci95_low_kb,ci95_high_kb,signed_diff_kb,ratio_vs_wlc,qualified";

/// Summarises runs per variant label (in first-seen order).
pub fn summarise(runs: &[MemoryRun]) -> Vec<Summary> {
    let mut labels: Vec<&str> = Vec::new();
    for r in runs {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let mut out: Vec<Summary> = labels
        .iter()
        .map(|l| {
            let rs: Vec<&MemoryRun> = runs.iter().filter(|r| r.label == *l).collect();
            let m = rs.len().max(1) as f64;
            let offered: u64 = rs.iter().map(|r| r.counts.offered).sum();
            let served: u64 = rs.iter().map(|r| r.counts.served).sum();
            Summary {
                label: l.to_string(),
                runs: rs.len(),
                served_frac: served as f64 / offered.max(1) as f64,
                mean_abs_diff: Interval::of(
                    &rs.iter().map(|r| r.mean_abs_diff_kb).collect::<Vec<_>>(),
                ),
                signed_diff_kb: rs.iter().map(|r| r.signed_diff_kb).sum::<f64>() / m,
                p99_ms: rs.iter().map(|r| r.p99_ms).sum::<f64>() / m,
                swap_out_mb: rs.iter().map(|r| r.swap_out_mb).sum::<f64>() / m,
                ratio_vs_wlc: 0.0,
                qualified: rs.iter().all(|r| r.qualified()),
            }
        })
        .collect();
    if let Some(w) = out
        .iter()
        .find(|s| s.label == "wlc")
        .map(|s| s.mean_abs_diff.mean)
    {
        for s in &mut out {
            s.ratio_vs_wlc = if s.mean_abs_diff.mean > 0.0 {
                w / s.mean_abs_diff.mean
            } else {
                0.0
            };
        }
    }
    out
}

/// `memory-balance.csv`.
pub fn summary_csv(rows: &[Summary]) -> String {
    let mut s = format!("{SUMMARY_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:.4},{:.1},{:.1},{:.1},{:.1},{:.2},{}",
            r.label,
            r.runs,
            r.served_frac,
            r.mean_abs_diff.mean,
            r.mean_abs_diff.low,
            r.mean_abs_diff.high,
            r.signed_diff_kb,
            r.ratio_vs_wlc,
            r.qualified
        );
    }
    s
}

/// A plain-text summary table, with the best qualified variant named (an oracle bound never
/// is; its rows are listed as bounds).
pub fn summary_table(rows: &[Summary]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:>4} {:>8} {:>10} {:>21} {:>10} {:>6} {:>7} {:>7} {:>4}",
        "scheduler",
        "runs",
        "served%",
        "|diff| KB",
        "95% CI",
        "signed KB",
        "x wlc",
        "p99 ms",
        "swap MB",
        "ok"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<22} {:>4} {:>8.2} {:>10.1} {:>21} {:>10.1} {:>6.2} {:>7.0} {:>7.1} {:>4}",
            r.label,
            r.runs,
            100.0 * r.served_frac,
            r.mean_abs_diff.mean,
            format!("{:.1}..{:.1}", r.mean_abs_diff.low, r.mean_abs_diff.high),
            r.signed_diff_kb,
            r.ratio_vs_wlc,
            r.p99_ms,
            r.swap_out_mb,
            if r.qualified { "yes" } else { "NO" }
        );
    }
    // an oracle bound sees what no director can: it is a measuring stick, never the winner
    let best = rows
        .iter()
        .filter(|r| r.qualified && !is_bound(&r.label))
        .min_by(|a, b| a.mean_abs_diff.mean.total_cmp(&b.mean_abs_diff.mean));
    if let Some(b) = best {
        let _ = writeln!(
            s,
            "best qualified: {} (mean |diff| {:.1} KB, 95% CI {:.1}..{:.1})",
            b.label, b.mean_abs_diff.mean, b.mean_abs_diff.low, b.mean_abs_diff.high
        );
    } else {
        let _ = writeln!(s, "best qualified: none");
    }
    for b in rows.iter().filter(|r| is_bound(&r.label)) {
        let _ = writeln!(
            s,
            "bound, not a controller (sees the true free memory): {} (mean |diff| {:.1} KB, \
             95% CI {:.1}..{:.1}, {:.2}x wlc)",
            b.label,
            b.mean_abs_diff.mean,
            b.mean_abs_diff.low,
            b.mean_abs_diff.high,
            b.ratio_vs_wlc
        );
    }
    s
}
