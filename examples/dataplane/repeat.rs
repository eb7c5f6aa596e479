//! `--repeat N`: every repeat a complete same-run comparison; `dataplane.csv` holds the median
//! over the repeats of each (system, workers, workload), `dataplane-runs.csv` every repeat's
//! rows, and each summary line is printed per repeat and as the median of the per-repeat
//! figures with their range.

use std::fmt::Write as _;

use crate::report::{summaries, Part, Row, Summary};

/// The median of `v` (the mean of the two middle values for an even count; NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The runs present, ascending.
pub fn runs(rows: &[Row]) -> Vec<u32> {
    let mut r: Vec<u32> = rows.iter().map(|r| r.run).collect();
    r.sort_unstable();
    r.dedup();
    r
}

/// The rows of run `k`.
pub fn of_run(rows: &[Row], k: u32) -> Vec<Row> {
    rows.iter().filter(|r| r.run == k).cloned().collect()
}

/// One row per (system, workers, workload), in the order first measured: `value` and
/// `cpu_cores` each the median over the runs that measured it (so `per_cpu_s` of a median row
/// is the ratio of two medians), the offered and attempted rates and senders of overload rows
/// their medians.
pub fn medians(rows: &[Row]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for r in rows {
        if out
            .iter()
            .any(|o| o.system == r.system && o.workers == r.workers && o.workload == r.workload)
        {
            continue;
        }
        let same: Vec<&Row> = rows
            .iter()
            .filter(|o| o.system == r.system && o.workers == r.workers && o.workload == r.workload)
            .collect();
        let col = |f: &dyn Fn(&Row) -> Option<f64>| -> Vec<f64> {
            same.iter().filter_map(|o| f(o)).collect()
        };
        let offered = col(&|o| o.offered.map(|x| x.0));
        let senders = col(&|o| o.offered.map(|x| f64::from(x.1)));
        let attempted = col(&|o| o.attempted);
        out.push(Row {
            run: 0,
            value: median(&col(&|o| Some(o.value))),
            cpu_cores: median(&col(&|o| Some(o.cpu_cores))),
            offered: (!offered.is_empty())
                .then(|| (median(&offered), median(&senders).round() as u32)),
            attempted: (!attempted.is_empty()).then(|| median(&attempted)),
            ..r.clone()
        });
    }
    out
}

/// `dataplane-runs.csv`: `run` and the columns of `dataplane.csv`, one line per measured row.
pub fn runs_csv(rows: &[Row]) -> String {
    let mut s = String::from("run,system,workers,workload,value,unit,cpu_cores\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.3},{},{:.3}",
            r.run, r.system, r.workers, r.workload, r.value, r.unit, r.cpu_cores
        );
    }
    s
}

/// The same summary line of several runs as one line: each figure the median of the runs'
/// figures, followed by `[min..max]` when they differ at the printed precision.
pub fn median_line(lines: &[&Summary]) -> String {
    let Some(first) = lines.first() else {
        return String::new();
    };
    let mut s = format!("median of {} runs [min..max]: ", lines.len());
    let mut k = 0;
    for p in &first.0 {
        match p {
            Part::Text(t) => s.push_str(t),
            Part::Num(_, d) => {
                let v: Vec<f64> = lines
                    .iter()
                    .filter_map(|l| {
                        l.0.iter()
                            .filter_map(|p| match p {
                                Part::Num(v, _) => Some(*v),
                                Part::Text(_) => None,
                            })
                            .nth(k)
                    })
                    .collect();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let (med, lo, hi) = (
                    format!("{:.d$}", median(&v)),
                    format!("{lo:.d$}"),
                    format!("{hi:.d$}"),
                );
                if lo == hi {
                    s.push_str(&med);
                } else {
                    let _ = write!(s, "{med} [{lo}..{hi}]");
                }
                k += 1;
            }
        }
    }
    s
}

/// Every run's summary lines prefixed `run K: `, then one median line per distinct line
/// ([`median_line`]), in the order first printed.
pub fn summary_of_runs(rows: &[Row]) -> String {
    let per_run: Vec<(u32, Vec<Summary>)> = runs(rows)
        .into_iter()
        .map(|k| (k, summaries(&of_run(rows, k))))
        .collect();
    let mut s = String::new();
    for (k, lines) in &per_run {
        for l in lines {
            let _ = writeln!(s, "run {k}: {}", l.render());
        }
    }
    let mut keys: Vec<String> = Vec::new();
    for (_, lines) in &per_run {
        for l in lines {
            if !keys.contains(&l.key()) {
                keys.push(l.key());
            }
        }
    }
    for key in keys {
        let same: Vec<&Summary> = per_run
            .iter()
            .flat_map(|(_, lines)| lines.iter().filter(|l| l.key() == key))
            .collect();
        s.push_str(&median_line(&same));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::to_csv;

    /// Three runs of nftables and lvsd x1, lvsd's UDP value 1.10, 1.26 and 1.18 times the kernel's.
    fn three_runs() -> Vec<Row> {
        let mut rows = Vec::new();
        for (k, lvsd_pps, nft_cores) in [(1, 660.0, 0.5), (2, 756.0, 0.6), (3, 708.0, 0.4)] {
            for l in [
                "RESULT system=nftables workers=1 workload=udp64_pps value=600.000 unit=pps cpu_cores=0.500".to_string(),
                format!("RESULT system=lvsd workers=1 workload=udp64_pps value={lvsd_pps} unit=pps cpu_cores=1.000"),
                format!("RESULT system=nftables workers=1 workload=tcp_cps value=100 unit=conn_s cpu_cores={nft_cores}"),
                "RESULT system=lvsd workers=1 workload=tcp_cps value=100 unit=conn_s cpu_cores=0.500".to_string(),
            ] {
                let mut r = Row::parse(&l).unwrap();
                r.run = k;
                rows.push(r);
            }
        }
        rows
    }

    #[test]
    fn medians_and_runs_csv() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let rows = three_runs();
        assert_eq!(runs(&rows), [1, 2, 3]);
        let m = medians(&rows);
        assert_eq!(m.len(), 4, "one row per system, workers and workload");
        assert_eq!(
            to_csv(&m),
            "system,workers,workload,value,unit,cpu_cores\n\
             nftables,1,udp64_pps,600.000,pps,0.500\n\
             lvsd,1,udp64_pps,708.000,pps,1.000\n\
             nftables,1,tcp_cps,100.000,conn_s,0.500\n\
             lvsd,1,tcp_cps,100.000,conn_s,0.500\n"
        );
        let csv = runs_csv(&rows);
        assert_eq!(csv.lines().count(), 13);
        assert!(csv.starts_with("run,system,workers,workload,value,unit,cpu_cores\n1,nftables,1,udp64_pps,600.000,pps,0.500\n"));
        assert!(csv.contains("\n2,lvsd,1,udp64_pps,756.000,pps,1.000\n"));
        // one run: the medians are the rows themselves
        let one = of_run(&rows, 2);
        let mut same = medians(&one);
        for r in &mut same {
            r.run = 2;
        }
        assert_eq!(same, one);
    }

    #[test]
    fn summary_lines_per_run_and_median_of_ratios() {
        let s = summary_of_runs(&three_runs());
        assert!(s.contains(
            "run 1: lvsd x1/nftables udp64_pps: value 1.10, per director CPU second 0.55\n"
        ));
        assert!(s.contains(
            "run 2: lvsd x1/nftables udp64_pps: value 1.26, per director CPU second 0.63\n"
        ));
        assert!(s.contains(
            "run 3: lvsd x1/nftables tcp_cps: value 1.00, per director CPU second 0.80\n"
        ));
        // the median of the per-run ratios (not the ratio of the medians), with the range
        assert!(s.contains(
            "median of 3 runs [min..max]: lvsd x1/nftables udp64_pps: value 1.18 [1.10..1.26], per director CPU second 0.59 [0.55..0.63]\n"
        ), "{s}");
        assert!(s.contains(
            "median of 3 runs [min..max]: lvsd x1/nftables tcp_cps: value 1.00, per director CPU second 1.00 [0.80..1.20]\n"
        ), "{s}");
        // the cost per packet (us of director CPU) of each system, run by run and its median
        assert!(
            s.contains("run 2: lvsd x1 udp64_pps: director CPU per packet 1322.751 us\n"),
            "{s}"
        );
        assert!(s.contains(
            "median of 3 runs [min..max]: lvsd x1 udp64_pps: director CPU per packet 1412.429 [1322.751..1515.152] us\n"
        ), "{s}");
        assert_eq!(s.lines().filter(|l| l.starts_with("median")).count(), 4);
    }
}
