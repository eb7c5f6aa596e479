//! The measurements: `RESULT` lines and CSV rows, the Markdown table, the summary lines (each
//! lvsd row against nftables, overload against peak, workers' efficiency) and the SVG plot.

use std::fmt::Write as _;

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The repeat it was measured in (1.., `--repeat`).
    pub run: u32,
    /// `nftables`, `lvsd` or `lvsdxdp` (lvsd `--xdp`).
    pub system: String,
    /// lvsd's workers (1 for nftables).
    pub workers: u32,
    /// What was measured (`udp64_pps`, `tcp_cps`, ...: [`WORKLOADS`]).
    pub workload: String,
    /// The figure.
    pub value: f64,
    /// Its unit (`pps`, `gbit_s`, `conn_s`).
    pub unit: String,
    /// Director CPU cores busy on average during the measurement.
    pub cpu_cores: f64,
    /// Overload rows: the rate the senders offered, and how many senders (CPUs) offered it.
    pub offered: Option<(f64, u32)>,
    /// Overload rows: the rate the senders presented (asked for twice the peak); `offered` is
    /// what the client's interface accepted of it (a full veth ring refuses frames: `ENOBUFS`).
    pub attempted: Option<f64>,
    /// Capped rows: the share of one CPU lvsd was held to.
    pub cap: Option<f64>,
}

impl Row {
    /// Parses `RESULT system=.. workers=.. workload=.. value=.. unit=.. cpu_cores=..`.
    /// The run is 1: the driver sets it from the script's `DATAPLANE RUN k` markers.
    pub fn parse(line: &str) -> Option<Row> {
        let rest = line.strip_prefix("RESULT ")?;
        let kv: std::collections::HashMap<&str, &str> = rest
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        Some(Row {
            run: 1,
            system: kv.get("system")?.to_string(),
            workers: kv.get("workers")?.parse().ok()?,
            workload: kv.get("workload")?.to_string(),
            value: kv.get("value")?.parse().ok()?,
            unit: kv.get("unit")?.to_string(),
            cpu_cores: kv.get("cpu_cores")?.parse().ok()?,
            offered: kv.get("offered").and_then(|o| o.parse().ok()).map(|o| {
                (
                    o,
                    kv.get("senders").and_then(|n| n.parse().ok()).unwrap_or(1),
                )
            }),
            attempted: kv.get("attempted").and_then(|a| a.parse().ok()),
            cap: kv.get("cap").and_then(|c| c.parse().ok()),
        })
    }

    /// Parses a line of `dataplane.csv` (which keeps neither the offered rate nor the cap).
    pub fn from_csv(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.split(',').collect();
        let [system, workers, workload, value, unit, cpu_cores] = f.as_slice() else {
            return None;
        };
        Some(Row {
            run: 1,
            system: system.to_string(),
            workers: workers.parse().ok()?,
            workload: workload.to_string(),
            value: value.parse().ok()?,
            unit: unit.to_string(),
            cpu_cores: cpu_cores.parse().ok()?,
            offered: None,
            attempted: None,
            cap: None,
        })
    }

    /// Units of work per director CPU second.
    pub fn per_cpu_s(&self) -> f64 {
        self.value / self.cpu_cores.max(1e-9)
    }
}

/// `dataplane.csv`: a header and one line per row, in the rows' order.
pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from("system,workers,workload,value,unit,cpu_cores\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{:.3},{},{:.3}",
            r.system, r.workers, r.workload, r.value, r.unit, r.cpu_cores
        );
    }
    s
}

/// The row of (system, workers, workload), if measured.
pub fn find<'a>(rows: &'a [Row], system: &str, workers: u32, workload: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.workers == workers && r.workload == workload)
}

/// The workloads, in the plot's order.
pub const WORKLOADS: [&str; 6] = [
    "udp64_pps",
    "udp64_overload_pps",
    "tcp_bulk_gbit",
    "tcp_cps",
    "udp64_capped_pps",
    "udp64_capped_overload_pps",
];

/// The peak and overload workloads measured together.
pub const OVERLOADS: [(&str, &str); 2] = [
    ("udp64_pps", "udp64_overload_pps"),
    ("udp64_capped_pps", "udp64_capped_overload_pps"),
];

/// One summary line: text with figures in it, kept apart so that the same line of several runs
/// can be summarised figure by figure ([`Summary::key`] names the line without its figures).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary(pub Vec<Part>);

/// A piece of a [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Fixed text.
    Text(String),
    /// A figure and the decimals it is printed with.
    Num(f64, usize),
}

impl Summary {
    fn text(mut self, t: impl Into<String>) -> Self {
        self.0.push(Part::Text(t.into()));
        self
    }

    fn num(mut self, v: f64, decimals: usize) -> Self {
        self.0.push(Part::Num(v, decimals));
        self
    }

    /// The line with `{}` for each figure: the same for the same line of every run.
    pub fn key(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Num(..) => "{}",
            })
            .collect()
    }

    /// The line as printed.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Num(v, d) => format!("{v:.d$}"),
            })
            .collect()
    }
}

/// The Markdown table of the rows.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| system | workers | workload | value | unit | director CPU cores | per CPU second |\n\
         |---|---:|---|---:|---|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {:.3} | {:.0} |",
            r.system,
            r.workers,
            r.workload,
            r.value,
            r.unit,
            r.cpu_cores,
            r.per_cpu_s()
        );
    }
    s
}

/// The summary lines of one run's rows: each system's director CPU per packet at its UDP peak,
/// each overload row against its peak, each lvsd row's ratios to nftables (value, and work per
/// director CPU second), and the workers' efficiency.
pub fn summaries(rows: &[Row]) -> Vec<Summary> {
    let mut out = Vec::new();
    // the absolute cost, in the order measured: what the ratios below divide
    for r in rows
        .iter()
        .filter(|r| r.workload == "udp64_pps" && r.value > 0.0)
    {
        out.push(
            Summary(Vec::new())
                .text(format!(
                    "{} x{} udp64_pps: director CPU per packet ",
                    r.system, r.workers
                ))
                .num(1e6 * r.cpu_cores / r.value, 3)
                .text(" us"),
        );
    }
    let mut workers: Vec<u32> = rows
        .iter()
        .filter(|r| r.system == "lvsd")
        .map(|r| r.workers)
        .collect();
    workers.sort_unstable();
    workers.dedup();
    let mut xdp_workers: Vec<u32> = rows
        .iter()
        .filter(|r| r.system == "lvsdxdp")
        .map(|r| r.workers)
        .collect();
    xdp_workers.sort_unstable();
    xdp_workers.dedup();
    for (sys, w) in std::iter::once(("nftables", 1))
        .chain(workers.iter().map(|w| ("lvsd", *w)))
        .chain(xdp_workers.iter().map(|w| ("lvsdxdp", *w)))
    {
        for (peak, over) in OVERLOADS {
            if let (Some(p), Some(o)) = (find(rows, sys, w, peak), find(rows, sys, w, over)) {
                let (offered, senders) = o.offered.unwrap_or((f64::NAN, 0));
                let held = match o.cap {
                    Some(c) => format!(" held to {c:.2} CPU"),
                    None => String::new(),
                };
                let mut l = Summary(Vec::new())
                    .text(format!("{sys} x{w}{held} offered "))
                    .num(offered / p.value.max(1e-9), 2)
                    .text("x its peak (")
                    .num(f64::from(senders), 0)
                    .text(" sender CPU(s)");
                if let Some(a) = o.attempted {
                    // what the senders tried: offered is what the interface took of it
                    l = l.text(", ").num(a / p.value.max(1e-9), 2).text("x tried");
                }
                out.push(
                    l.text(") delivers ")
                        .num(100.0 * o.value / p.value.max(1e-9), 1)
                        .text(" % of the peak"),
                );
            }
        }
    }
    for w in &workers {
        for wl in WORKLOADS {
            if let (Some(l), Some(k)) = (find(rows, "lvsd", *w, wl), find(rows, "nftables", 1, wl))
            {
                out.push(
                    Summary(Vec::new())
                        .text(format!("lvsd x{w}/nftables {wl}: value "))
                        .num(l.value / k.value.max(1e-9), 2)
                        .text(", per director CPU second ")
                        .num(l.per_cpu_s() / k.per_cpu_s().max(1e-9), 2),
                );
            }
        }
        if let (Some(one), Some(n)) = (
            find(rows, "lvsd", 1, "udp64_pps"),
            find(rows, "lvsd", *w, "udp64_pps"),
        ) {
            if *w > 1 {
                out.push(
                    Summary(Vec::new())
                        .text(format!("lvsd x{w}: packets per CPU second "))
                        .num(n.per_cpu_s() / one.per_cpu_s().max(1e-9), 2)
                        .text(" of one worker's"),
                );
            }
        }
    }
    // lvsd --xdp against the kernel and against lvsd on its packet rings, same workers
    for w in &xdp_workers {
        for wl in WORKLOADS {
            for (base, bw, label) in [
                ("nftables", 1, "nftables".to_string()),
                ("lvsd", *w, format!("lvsd x{w}")),
            ] {
                if let (Some(x), Some(k)) =
                    (find(rows, "lvsdxdp", *w, wl), find(rows, base, bw, wl))
                {
                    out.push(
                        Summary(Vec::new())
                            .text(format!("lvsdxdp x{w}/{label} {wl}: value "))
                            .num(x.value / k.value.max(1e-9), 2)
                            .text(", per director CPU second ")
                            .num(x.per_cpu_s() / k.per_cpu_s().max(1e-9), 2),
                    );
                }
            }
        }
    }
    out
}

/// The Markdown table, then the summary lines ([`summaries`]).
pub fn table(rows: &[Row]) -> String {
    let mut s = markdown(rows);
    for l in summaries(rows) {
        s.push_str(&l.render());
        s.push('\n');
    }
    s
}

/// One bar panel per workload, one bar per system, labelled with the value and the work per
/// director CPU second; `note`, unless empty, is a line under the title.
pub fn to_svg(rows: &[Row], note: &str) -> String {
    let mut systems: Vec<(String, u32)> = Vec::new();
    for r in rows {
        if !systems
            .iter()
            .any(|(s, w)| *s == r.system && *w == r.workers)
        {
            systems.push((r.system.clone(), r.workers));
        }
    }
    let titles = [
        "64-byte UDP, peak: packets/s",
        "64-byte UDP offered at 2x the peak: packets/s delivered",
        "TCP bulk (iperf3): Gbit/s",
        "new TCP connections (wrk, Connection: close): per second",
        "64-byte UDP, lvsd held to a CPU share (CFS quota), peak: packets/s",
        "the same offered at 2x that peak: packets/s delivered",
    ];
    let (w, bar_h, gap) = (900.0, 28.0, 6.0);
    let ph = 34.0 + systems.len() as f64 * (bar_h + gap) + 10.0;
    let h = 50.0 + ph * WORKLOADS.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">Director dataplane: kernel nftables DNAT vs lvsd NAT, client → director → server over veth</text>\n",
        w / 2.0
    );
    if !note.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"45\" font-size=\"12\" text-anchor=\"middle\">{note}</text>",
            w / 2.0
        );
    }
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    for (k, (wl, title)) in WORKLOADS.iter().zip(titles).enumerate() {
        let y0 = 50.0 + ph * k as f64;
        let _ = writeln!(
            s,
            "<text x=\"20\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{title}</text>",
            y0 + 18.0
        );
        // a peak and its overload share one scale, so the bars compare across the two panels
        let pair = OVERLOADS
            .iter()
            .find(|(p, o)| p == wl || o == wl)
            .map_or([*wl, *wl], |(p, o)| [*p, *o]);
        let max = rows
            .iter()
            .filter(|r| pair.contains(&r.workload.as_str()))
            .map(|r| r.value)
            .fold(0.0, f64::max)
            .max(1e-9);
        for (j, (sys, wk)) in systems.iter().enumerate() {
            let y = y0 + 28.0 + (bar_h + gap) * j as f64;
            let label = if sys == "lvsd" || sys == "lvsdxdp" {
                format!("{sys} x{wk}")
            } else {
                sys.clone()
            };
            let _ = writeln!(
                s,
                "<text x=\"20\" y=\"{}\" font-size=\"13\">{label}</text>",
                y + 19.0
            );
            match find(rows, sys, *wk, wl) {
                Some(r) => {
                    let bw = 500.0 * r.value / max;
                    let _ = writeln!(
                        s,
                        "<rect x=\"110\" y=\"{y}\" width=\"{bw:.1}\" height=\"{bar_h}\" fill=\"{}\"/>\n\
                         <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{:.*} {} ({:.2} CPU cores, {:.0} per CPU s)</text>",
                        colors[j % colors.len()],
                        116.0 + bw,
                        y + 19.0,
                        if r.value < 100.0 { 2 } else { 0 },
                        r.value,
                        r.unit,
                        r.cpu_cores,
                        r.per_cpu_s()
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"116\" y=\"{}\" font-size=\"12\">not measured</text>",
                        y + 19.0
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_parse_and_render() {
        let rows: Vec<Row> = [
            "RESULT system=nftables workers=1 workload=udp64_pps value=900000.000 unit=pps cpu_cores=0.900",
            "RESULT system=lvsd workers=1 workload=udp64_pps value=450000.000 unit=pps cpu_cores=0.500",
            "RESULT system=lvsd workers=1 workload=udp64_overload_pps value=440000.000 unit=pps cpu_cores=0.600 offered=900000 senders=2",
            "RESULT system=lvsd workers=1 workload=udp64_capped_pps value=100000.000 unit=pps cpu_cores=0.300 cap=0.30",
            "RESULT system=lvsd workers=1 workload=udp64_capped_overload_pps value=99000.000 unit=pps cpu_cores=0.300 offered=200000 senders=1 cap=0.30",
            "RESULT system=lvsdxdp workers=1 workload=udp64_pps value=500000.000 unit=pps cpu_cores=0.500",
            "RESULT system=lvsdxdp workers=1 workload=udp64_overload_pps value=495000.000 unit=pps cpu_cores=0.600 offered=500000 senders=1 attempted=1000000",
        ]
        .iter()
        .filter_map(|l| Row::parse(l))
        .collect();
        assert_eq!(rows.len(), 7);
        let t = table(&rows);
        assert!(t.contains("lvsd x1/nftables udp64_pps: value 0.50, per director CPU second 0.90"));
        assert!(t.contains(
            "lvsd x1 offered 2.00x its peak (2 sender CPU(s)) delivers 97.8 % of the peak"
        ));
        assert!(t.contains(
            "lvsd x1 held to 0.30 CPU offered 2.00x its peak (1 sender CPU(s)) delivers 99.0 % of the peak"
        ));
        assert!(t.contains(
            "lvsdxdp x1 offered 1.00x its peak (1 sender CPU(s), 2.00x tried) delivers 99.0 % of the peak"
        ), "{t}");
        assert!(t.contains("lvsdxdp x1 udp64_pps: director CPU per packet 1.000 us"));
        let again: Vec<Row> = to_csv(&rows)
            .lines()
            .skip(1)
            .filter_map(Row::from_csv)
            .collect();
        assert_eq!(again.len(), rows.len());
        assert_eq!(to_svg(&again, ""), to_svg(&rows, ""));
        assert!(to_csv(&rows).starts_with("system,workers,workload,value,unit,cpu_cores\nnftables,1,udp64_pps,900000.000,pps,0.900\n"));
        assert!(to_svg(&rows, "").contains("not measured"));
        assert!(Row::parse("RESULT system=x").is_none());
    }

    #[test]
    fn xdp_rows_compare_with_nftables_and_lvsd() {
        let rows: Vec<Row> = [
            "RESULT system=nftables workers=1 workload=udp64_pps value=900000.000 unit=pps cpu_cores=0.900",
            "RESULT system=lvsd workers=1 workload=udp64_pps value=450000.000 unit=pps cpu_cores=0.500",
            "RESULT system=lvsdxdp workers=1 workload=udp64_pps value=600000.000 unit=pps cpu_cores=0.500",
        ]
        .iter()
        .filter_map(|l| Row::parse(l))
        .collect();
        let t = table(&rows);
        assert!(
            t.contains("lvsdxdp x1/nftables udp64_pps: value 0.67, per director CPU second 1.20")
        );
        assert!(
            t.contains("lvsdxdp x1/lvsd x1 udp64_pps: value 1.33, per director CPU second 1.33")
        );
        assert!(to_svg(&rows, "").contains(">lvsdxdp x1<"));
    }
}
