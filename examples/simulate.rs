//! Cluster simulator reproducing two published LVS experiments on the real director and
//! schedulers, in virtual time.
//!
//! ```text
//! simulate --experiment memory-balance|throughput-scaling [--seed N] [--out DIR] [options]
//! ```
//!
//! It prints a table and writes `DIR/<experiment>.csv` and `DIR/<experiment>.svg`. Run with
//! `--help` for the options; docs/simulation.md describes the models and their parameters.

#[path = "sim/mod.rs"]
mod sim;

use plotters::prelude::*;
use sim::{
    FileSet, MemoryConfig, MemoryResult, SchedKind, ThroughputConfig, ThroughputResult, Variant,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
simulate --experiment memory-balance|throughput-scaling [--seed N] [--out DIR] [options]

common:
  --seed N               random seed (default 1)
  --out DIR              where to write <experiment>.csv and .svg (default .)

memory-balance (published workload: 100 clients every 30 s for 15 min, 40-request agendas):
  --servers N            number of equal servers (default 2)
  --mem-mb A[,B,...]     memory per server, MB (one value for all, or one per server; default 128)
  --cpu-speed A[,B,...]  relative CPU speed per server (default 1)
  --base-mb X            memory in use without httpd processes (default 32)
  --clients N            clients per batch (default 100)
  --batch-s X            seconds between batches (default 30)
  --duration-s X         seconds during which batches are created (default 900)
  --think-s X            mean think time between page views (default 7)
  --rtt-ms X             client round-trip time (default 80)
  --client-kbps X        client bandwidth (default 1000)
  --agenda P,R,W         page visits, board reads, posts per agenda (default 8,4,4; 3 GIFs/page)
  --k K                  damping constant of published alternative 2 (default 100)
  --compare LIST         comma-separated SCHED[+CTRL][@SECONDS]; SCHED in rr, wrr, lc, wlc, sed,
                         nq, twos, p2c[:COST[:WINDOW]]; CTRL in alt1, alt2, lvs-dfb, headroom
                         (default wlc,rr,wlc+alt1@60,wlc+alt2@60,wlc+lvs-dfb@5,wlc+alt2@2,
                         wlc+headroom@2,twos,p2c:3500:0@1,p2c@1). For p2c the interval is how
                         often it gets reports; COST and WINDOW override the two options below
  --max-clients N        Apache MaxClients (default 150)
  --hr-gain/--hr-step/--hr-smooth/--hr-range/--hr-min-conns N
                         headroom controller settings (per-mille; defaults of HeadroomConfig)
  --hr-deadband-kb N     headroom controller deadband on the gap to the mean (default 0)
  --dfb-gain N           lvs-dfb step gain, per-mille of the base weight (default 500)
  --p2c-cost N           p2c memory per connection in flight, KiB (default 1500)
  --p2c-window-ms N      p2c in-flight window, ms; 0 counts connections since the report
                         (default 200)
  --p2c-smooth N         p2c weight of a new report in the headroom, per-mille (default 1000)
  --p2c-independent      p2c draws its two servers independently (default: two different ones)

throughput-scaling (LVS-NAT, four clients downloading random files):
  --link-mbps X          director link (default 100)
  --server-mbps X        what one real server can serve (default 40)
  --setup-ms X           per-request setup time at a server (default 5)
  --clients N            clients (default 4)
  --streams N            concurrent downloads per client (default 8)
  --servers-list LIST    server counts (default 2,4,6,8)
  --schedulers LIST      schedulers among rr, wrr, lc, wlc, sed, nq, twos, p2c (default
                         rr,wrr,lc,wlc)
  --sets LIST            file sets among light, heavy, mixed (default all)
  --warmup-s X           warm-up (default 20)
  --window-s X           measured window (default 120)
  --hetero               every other server twice as fast, weight 2
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    list: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: Vec<String>) -> Result<Args, String> {
        let mut list = Vec::new();
        let mut it = raw.into_iter().peekable();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            let value = match name {
                "help" | "hetero" | "p2c-independent" => None,
                _ => Some(it.next().ok_or(format!("--{name} needs a value"))?),
            };
            list.push((name.to_string(), value));
        }
        Ok(Args { list })
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
    fn has(&self, name: &str) -> bool {
        self.list.iter().any(|(n, _)| n == name)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot read {v:?}")),
        }
    }
    fn nums<T: std::str::FromStr>(&self, name: &str) -> Result<Option<Vec<T>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse()
                        .map_err(|_| format!("--{name}: cannot read {x:?}"))
                })
                .collect::<Result<Vec<T>, String>>()
                .map(Some),
        }
    }
    fn check(&self, known: &[&str]) -> Result<(), String> {
        for (n, _) in &self.list {
            if !known.contains(&n.as_str()) {
                return Err(format!("unknown option --{n} (see --help)"));
            }
        }
        Ok(())
    }
}

const COMMON: [&str; 4] = ["experiment", "seed", "out", "help"];

fn run(raw: Vec<String>) -> Result<(), String> {
    let args = Args::parse(raw)?;
    if args.has("help") {
        print!("{HELP}");
        return Ok(());
    }
    let seed: u64 = args.num("seed", 1)?;
    let out = PathBuf::from(args.get("out").unwrap_or("."));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    match args.get("experiment") {
        Some("memory-balance") => memory(&args, seed, &out),
        Some("throughput-scaling") => throughput(&args, seed, &out),
        Some(x) => Err(format!("unknown experiment {x:?}")),
        None => Err("--experiment memory-balance|throughput-scaling is required".into()),
    }
}

fn per_server(v: Option<Vec<f64>>, n: usize, default: f64) -> Result<Vec<f64>, String> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == 1 => Ok(vec![v[0]; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(format!("{} values for {n} servers", v.len())),
    }
}

fn memory(args: &Args, seed: u64, out: &Path) -> Result<(), String> {
    let mut known = COMMON.to_vec();
    known.extend([
        "servers",
        "mem-mb",
        "cpu-speed",
        "base-mb",
        "clients",
        "batch-s",
        "duration-s",
        "think-s",
        "rtt-ms",
        "client-kbps",
        "agenda",
        "k",
        "compare",
        "max-clients",
        "hr-gain",
        "hr-step",
        "hr-smooth",
        "hr-range",
        "hr-min-conns",
        "hr-deadband-kb",
        "dfb-gain",
        "p2c-cost",
        "p2c-independent",
        "p2c-window-ms",
        "p2c-smooth",
    ]);
    args.check(&known)?;
    let d = MemoryConfig::default();
    let mem_list: Option<Vec<f64>> = args.nums("mem-mb")?;
    let n: usize = args.num("servers", mem_list.as_ref().map_or(2, |v| v.len().max(2)))?;
    let k: u32 = args.num("k", 100)?;
    let agenda = match args.nums::<u32>("agenda")? {
        None => d.agenda,
        Some(v) if v.len() == 3 => [v[0], v[1], v[2]],
        Some(_) => return Err("--agenda needs three numbers".into()),
    };
    let variants = match args.get("compare") {
        None => d
            .variants
            .iter()
            .map(|v| {
                let spec = match v.label.split_once('@') {
                    Some((a, b)) => format!("{a}@{b}"),
                    None => v.label.clone(),
                };
                Variant::parse(&spec, k, 60.0).ok_or(spec)
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(list) => list
            .split(',')
            .map(|s| Variant::parse(s.trim(), k, 60.0).ok_or(format!("--compare: bad entry {s:?}")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let cfg = MemoryConfig {
        seed,
        mem_mb: per_server(mem_list, n, 128.0)?,
        cpu_speed: per_server(args.nums("cpu-speed")?, n, 1.0)?,
        base_mb: args.num("base-mb", d.base_mb)?,
        clients_per_batch: args.num("clients", d.clients_per_batch)?,
        batch_interval_s: args.num("batch-s", d.batch_interval_s)?,
        duration_s: args.num("duration-s", d.duration_s)?,
        think_s: args.num("think-s", d.think_s)?,
        rtt_ms: args.num("rtt-ms", d.rtt_ms)?,
        client_kbps: args.num("client-kbps", d.client_kbps)?,
        agenda,
        variants,
        apache: [
            d.apache[0],
            d.apache[1],
            d.apache[2],
            args.num("max-clients", d.apache[3])?,
        ],
        headroom: lvs_sched::feedback::HeadroomConfig {
            gain_permille: args.num("hr-gain", d.headroom.gain_permille)?,
            max_step_permille: args.num("hr-step", d.headroom.max_step_permille)?,
            smoothing_permille: args.num("hr-smooth", d.headroom.smoothing_permille)?,
            range: args.num("hr-range", d.headroom.range)?,
            min_conns: args.num("hr-min-conns", d.headroom.min_conns)?,
            deadband_kb: args.num("hr-deadband-kb", d.headroom.deadband_kb)?,
            ..d.headroom
        },
        classic: lvs_sched::feedback::ClassicConfig {
            gain_permille: args.num("dfb-gain", d.classic.gain_permille)?,
            ..d.classic
        },
        p2c: lvs_sched::p2c::P2cConfig {
            conn_cost_kb: args.num("p2c-cost", d.p2c.conn_cost_kb)?,
            distinct: !args.has("p2c-independent"),
            smoothing_permille: args.num("p2c-smooth", d.p2c.smoothing_permille)?,
            in_flight: match args.num(
                "p2c-window-ms",
                match d.p2c.in_flight {
                    lvs_sched::p2c::InFlight::Window { window_ms } => window_ms,
                    lvs_sched::p2c::InFlight::Scheduled => 0,
                },
            )? {
                0 => lvs_sched::p2c::InFlight::Scheduled,
                w => lvs_sched::p2c::InFlight::Window { window_ms: w },
            },
        },
        ..d
    };
    let res = sim::run_memory_balance(&cfg).map_err(|e| e.to_string())?;
    print!("{}", res.table());
    let csv = out.join("memory-balance.csv");
    std::fs::write(&csv, res.csv()).map_err(|e| format!("{}: {e}", csv.display()))?;
    let svg = out.join("memory-balance.svg");
    plot_memory(&res, &svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    println!("wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn throughput(args: &Args, seed: u64, out: &Path) -> Result<(), String> {
    let mut known = COMMON.to_vec();
    known.extend([
        "link-mbps",
        "server-mbps",
        "setup-ms",
        "clients",
        "streams",
        "servers-list",
        "schedulers",
        "sets",
        "warmup-s",
        "window-s",
        "hetero",
    ]);
    args.check(&known)?;
    let d = ThroughputConfig::default();
    let schedulers = match args.get("schedulers") {
        None => d.schedulers.clone(),
        Some(l) => l
            .split(',')
            .map(|s| SchedKind::parse(s.trim()).ok_or(format!("--schedulers: unknown {s:?}")))
            .collect::<Result<_, _>>()?,
    };
    let sets = match args.get("sets") {
        None => d.sets.clone(),
        Some(l) => l
            .split(',')
            .map(|s| FileSet::named(s.trim()).ok_or(format!("--sets: unknown {s:?}")))
            .collect::<Result<_, _>>()?,
    };
    let cfg = ThroughputConfig {
        seed,
        schedulers,
        sets,
        server_counts: args
            .nums("servers-list")?
            .unwrap_or(d.server_counts.clone()),
        link_mbps: args.num("link-mbps", d.link_mbps)?,
        server_mbps: args.num("server-mbps", d.server_mbps)?,
        server_setup_ms: args.num("setup-ms", d.server_setup_ms)?,
        clients: args.num("clients", d.clients)?,
        streams: args.num("streams", d.streams)?,
        warmup_s: args.num("warmup-s", d.warmup_s)?,
        window_s: args.num("window-s", d.window_s)?,
        hetero: args.has("hetero"),
        ..d
    };
    let res = sim::run_throughput(&cfg).map_err(|e| e.to_string())?;
    print!("{}", res.table());
    let csv = out.join("throughput-scaling.csv");
    std::fs::write(&csv, res.csv()).map_err(|e| format!("{}: {e}", csv.display()))?;
    let svg = out.join("throughput-scaling.svg");
    plot_throughput(&res, &svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    println!("wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn plot_memory(res: &MemoryResult, path: &Path) -> PlotResult {
    let panels = res.runs.len().max(1);
    let root = SVGBackend::new(path, (1000, 190 * panels as u32 + 40)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "Free memory per real server over time (memory-balance)",
        ("sans-serif", 20),
    )?;
    let areas = body.split_evenly((panels, 1));
    let tmax = res
        .runs
        .iter()
        .flat_map(|r| r.times.last().copied())
        .fold(1.0, f64::max);
    let ymax = res
        .runs
        .iter()
        .flat_map(|r| r.free.iter().flatten().copied())
        .fold(1.0, f64::max)
        * 1.05;
    for (run, area) in res.runs.iter().zip(areas.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: mean |diff| {:.2} MB", run.label, run.mean_abs_diff_mb),
                ("sans-serif", 15),
            )
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..tmax, 0f64..ymax)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("free MB")
            .light_line_style(WHITE)
            .draw()?;
        for (s, free) in run.free.iter().enumerate() {
            let color = PALETTE[s % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    run.times.iter().copied().zip(free.iter().copied()),
                    color.stroke_width(1),
                ))?
                .label(format!("server {s}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn plot_throughput(res: &ThroughputResult, path: &Path) -> PlotResult {
    let root = SVGBackend::new(path, (1100, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "LVS-NAT throughput against real servers (throughput-scaling)",
        ("sans-serif", 20),
    )?;
    let (left, right) = body.split_horizontally(550);
    let xmax = res.rows.iter().map(|r| r.servers).max().unwrap_or(1) as f64 + 0.5;
    let xmin = res.rows.iter().map(|r| r.servers).min().unwrap_or(1) as f64 - 0.5;
    let ymax = res
        .rows
        .iter()
        .map(|r| r.out_bps / 1e6)
        .fold(res.link_bps / 1e6, f64::max)
        * 1.15;
    let mut series: Vec<(String, String)> = Vec::new();
    for r in &res.rows {
        let key = (r.sched.to_string(), r.set.clone());
        if !series.contains(&key) {
            series.push(key);
        }
    }
    let sets: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for (_, s) in &series {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    let scheds: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for (s, _) in &series {
            if !v.contains(s) {
                v.push(s.clone());
            }
        }
        v
    };
    // left: output bytes per second against servers, link capacity dashed
    let mut chart = ChartBuilder::on(&left)
        .caption("output MB/s (IP bytes)", ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(xmin..xmax, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("real servers")
        .y_desc("MB/s")
        .light_line_style(WHITE)
        .draw()?;
    let cap = res.link_bps / 1e6;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(xmin, cap), (xmax, cap)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?
        .label(format!("director link {cap:.1} MB/s"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
    for (sched, set) in &series {
        let color = PALETTE[sets.iter().position(|s| s == set).unwrap_or(0) % PALETTE.len()];
        let width = 1 + scheds.iter().position(|s| s == sched).unwrap_or(0) as u32 / 2;
        let pts: Vec<(f64, f64)> = res
            .rows
            .iter()
            .filter(|r| r.sched == sched && &r.set == set)
            .map(|r| (r.servers as f64, r.out_bps / 1e6))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?
            .label(format!("{set} {sched}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
            });
        chart.draw_series(
            pts.iter()
                .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 10))
        .draw()?;
    // right: connections per second against output packets per second
    let pmax = res.rows.iter().map(|r| r.out_pps).fold(1.0, f64::max) * 1.1;
    let cmax = res.rows.iter().map(|r| r.cps).fold(0.1, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&right)
        .caption("connections/s against output packets/s", ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..pmax, 0f64..cmax)?;
    chart
        .configure_mesh()
        .x_desc("output packets/s")
        .y_desc("connections/s")
        .light_line_style(WHITE)
        .draw()?;
    for set in &sets {
        let color = PALETTE[sets.iter().position(|s| s == set).unwrap_or(0) % PALETTE.len()];
        chart
            .draw_series(
                res.rows
                    .iter()
                    .filter(|r| &r.set == set)
                    .map(|r| Circle::new((r.out_pps, r.cps), 4, color.filled())),
            )?
            .label(set.clone())
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
