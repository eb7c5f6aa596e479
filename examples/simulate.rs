//! Cluster simulator reproducing two published LVS experiments on the real director and
//! schedulers, in virtual time.
//!
//! ```text
//! simulate --experiment paper-table1|memory-balance|fit-ram|throughput-scaling [options]
//! ```
//!
//! It prints a table and writes CSV files (and SVG plots) into `--out DIR`. Run with `--help`
//! for the options; docs/simulation.md describes the models and their parameters.

#[path = "sim/mod.rs"]
mod sim;

use sim::{Forwarding, MemoryConfig, MemoryRun, SchedKind, ThroughputConfig, Variant};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
simulate --experiment EXPERIMENT [--seed N | --seeds A..B] [--out DIR] [options]

experiments:
  paper-table1        WLC, alternative 1 and alternative 2 on the published testbed, weights
                      every 60 s as published; writes paper-table1.csv (seeds 1..10)
  memory-balance      every scheduler and controller on the published testbed; writes
                      memory-balance-runs.csv, memory-balance.csv and memory-balance.svg
  fit-ram             fits the RAM per server on the fit seeds 9001..9005 (WLC mean free
                      memory = published Table 1) and prints it
  throughput-scaling  LVS-NAT throughput against servers for the thesis's file sets; writes
                      throughput-scaling.csv and .svg with the thesis's measured points

common:
  --seed N / --seeds A..B  seeds (inclusive range)
  --out DIR                output directory (default .)

testbed (memory experiments; defaults are the published testbed and docs/simulation.md):
  --servers N            real servers (default 2)
  --mem-mb A[,B,...]     RAM per server, MB (default: the fitted 213.6)
  --cpu-speed A[,B,...]  relative CPU speed per server (default 1)
  --base-mb X            memory in use without httpd (default 32)
  --min-free-mb X        swap watermark (default 2)
  --httpd-mb X           memory per httpd process (published 3.6)
  --cgi-mb X             memory per CGI child (published 1.7)
  --swap-slowdown X      CPU slowdown per swapped-out fraction of RAM (default 20)
  --load-servers N       load servers (published 3)
  --clients N            virtual clients per load server per batch (published 100)
  --batch-s X            seconds between batches (published 30)
  --duration-s X         seconds of load (published 900)
  --ramp-s X             a batch's clients start within this many seconds of it (default:
                         --batch-s, spread over the whole interval; 0: all at once)
  --agenda LETTERS       h html, g gif, b board, f form, p post (default: Figure 6, 40 requests)
  --think-s X            mean think time before a page (default 7)
  --cgi-cpu-scale X      multiplies the CGI classes' CPU times (default 1)
  --cgi-io-scale X       multiplies the CGI classes' disk waits (default 1)
  --disk-tail-scale X    multiplies the CGIs' disk writes after the response, served one at
                         a time by each server's disk (default 1: the POST's 3 writes of
                         13 ms, none for board and form; 0: the earlier model)
  --tail-holds-httpd yes|no  the CGI's httpd parent waits for it before the next connection
                         (default yes, Apache 1.3)
  --rtt-ms X             client round trip (default 0.5: LAN)
  --client-kbps X        one transfer's bandwidth (default 10000)
  --timeout-s X          a later answer counts as failed (default 30)
  --forwarding tun|nat   (published: tun)
  --mem-per-conn-kb N    the published controllers' memory per connection (published 3500)
  --k N|auto             alternative 2's k; auto = accesses per server per minute, clamped
                         to 1..2000 (published; default)
  --max-clients N        Apache MaxClients (default 150)
  --trace                one stderr line per report: time, k, free KB, blocked processes
                         (b), weights, active and inactive connections per server

memory-balance:
  --compare LIST         SCHED[+CTRL][@SECONDS], SCHED in rr, wrr, lc, wlc, sed, nq, twos,
                         p2c; CTRL in alt1, alt2, lvs-dfb, headroom (default: rr, lc, wlc,
                         twos and wlc+alt1, wlc+alt2, wlc+lvs-dfb, wlc+headroom, p2c at every
                         period of --periods, then the oracle bounds oracle-bound,
                         oracle-bound+need, oracle-bound@1, oracle-bound+need@1)
                         oracle-bound[+need][@SECONDS]: NOT a controller, a bound: picks the
                         server with the most TRUE free memory (+need: after the connection's
                         need), looked at before every decision or every SECONDS (>= 0.001);
                         never named the best
  --periods LIST         report periods for every report-reading variant alike (default 60,1)
  hyperparameters (fixed before evaluation; change them only on the tuning seeds):
  --hr-gain/--hr-step/--hr-smooth/--hr-range/--hr-min-conns/--hr-deadband-kb N
  --dfb-gain N, --p2c-cost N, --p2c-window-ms N, --p2c-smooth N, --p2c-independent

throughput-scaling (LVS-NAT, four clients downloading random files):
  --link-mbps X          director link (default 100)
  --server-mbps X        what one real server can serve (default 40)
  --setup-ms X           per-request setup time at a server (default 5)
  --clients N            clients (default 4)
  --streams LIST         the offered-load sweep: concurrent downloads per client
                         (default 1,2,4,8,16)
  --servers-list LIST    server counts (default 2,3,4,5,6,7,8)
  --schedulers LIST      among rr, wrr, lc, wlc, sed, nq, twos, p2c (default rr,wrr,lc)
  --sets LIST            among light, heavy, mixed (default all)
  --warmup-s X           warm-up (default 20)
  --window-s X           measured window (default 120)
  --hetero               every other server twice as fast, weight 2
";

/// Why the program stops.
enum Stop {
    /// A message for stderr, exit status 1.
    Error(String),
    /// Stdout was closed (`| head`): stop quietly.
    Closed,
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Error(s)
    }
}

impl From<&str> for Stop {
    fn from(s: &str) -> Stop {
        Stop::Error(s.to_string())
    }
}

type Res<T = ()> = Result<T, Stop>;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) | Err(Stop::Closed) => ExitCode::SUCCESS,
        Err(Stop::Error(e)) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed stdout stops the program quietly.
fn say(s: &str) -> Res {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::Closed),
        Err(e) => Err(Stop::Error(format!("stdout: {e}"))),
    }
}

fn write_file(path: &Path, text: &str) -> Res {
    std::fs::write(path, text).map_err(|e| Stop::Error(format!("{}: {e}", path.display())))
}

struct Args {
    list: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: Vec<String>) -> Result<Args, String> {
        let mut list = Vec::new();
        let mut it = raw.into_iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument {a:?}"));
            };
            let value = match name {
                "help" | "hetero" | "p2c-independent" | "trace" => None,
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
                .trim()
                .parse()
                .map_err(|_| format!("--{name}: cannot read {v:?} as a number")),
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
                        .map_err(|_| format!("--{name}: cannot read {x:?} as a number"))
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
    /// `--seed N` or `--seeds A..B` (inclusive), else `default`.
    fn seeds(&self, default: std::ops::RangeInclusive<u64>) -> Result<Vec<u64>, String> {
        if let Some(r) = self.get("seeds") {
            let (a, b) = r
                .split_once("..")
                .ok_or(format!("--seeds {r:?}: expected A..B"))?;
            let a: u64 = a
                .trim()
                .parse()
                .map_err(|_| format!("--seeds: cannot read {a:?}"))?;
            let b: u64 = b
                .trim_start_matches('=')
                .trim()
                .parse()
                .map_err(|_| format!("--seeds: cannot read {b:?}"))?;
            if a > b || b - a >= 10_000 {
                return Err(format!("--seeds {r}: need A <= B and at most 10000 seeds"));
            }
            return Ok((a..=b).collect());
        }
        if self.has("seed") {
            return Ok(vec![self.num("seed", 1)?]);
        }
        Ok(default.collect())
    }
}

const COMMON: [&str; 5] = ["experiment", "seed", "seeds", "out", "help"];

const TESTBED: [&str; 27] = [
    "trace",
    "servers",
    "mem-mb",
    "cpu-speed",
    "base-mb",
    "min-free-mb",
    "httpd-mb",
    "cgi-mb",
    "swap-slowdown",
    "load-servers",
    "clients",
    "batch-s",
    "duration-s",
    "ramp-s",
    "agenda",
    "think-s",
    "cgi-cpu-scale",
    "cgi-io-scale",
    "disk-tail-scale",
    "tail-holds-httpd",
    "rtt-ms",
    "client-kbps",
    "timeout-s",
    "forwarding",
    "mem-per-conn-kb",
    "k",
    "max-clients",
];

const HYPER: [&str; 13] = [
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
    "compare",
    "periods",
];

fn run(raw: Vec<String>) -> Res {
    let args = Args::parse(raw)?;
    if args.has("help") {
        return say(HELP);
    }
    let out = PathBuf::from(args.get("out").unwrap_or("."));
    let exp = args.get("experiment");
    let mut known = COMMON.to_vec();
    match exp {
        Some("memory-balance") => known.extend(TESTBED.iter().chain(HYPER.iter())),
        Some("paper-table1" | "fit-ram") => known.extend(TESTBED),
        Some("throughput-scaling") => known.extend(THROUGHPUT_OPTS),
        Some(x) => return Err(format!("unknown experiment {x:?} (see --help)").into()),
        None => return Err("--experiment is required (see --help)".into()),
    }
    args.check(&known)?;
    let cfg = if exp == Some("throughput-scaling") {
        None
    } else {
        let c = memory_config(&args)?;
        c.validate().map_err(|e| e.to_string())?;
        Some(c)
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    match (exp, cfg) {
        (Some("memory-balance"), Some(c)) => memory_balance(&args, c, &out),
        (Some("paper-table1"), Some(c)) => paper_table1(&args, c, &out),
        (Some("fit-ram"), Some(c)) => fit_ram(&args, c),
        _ => throughput(&args, &out),
    }
}

fn per_server(name: &str, v: Option<Vec<f64>>, n: usize, default: f64) -> Result<Vec<f64>, String> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == 1 => Ok(vec![v[0]; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(format!("--{name}: {} values for {n} servers", v.len())),
    }
}

/// The testbed and hyperparameters from the flags (validated by the caller).
fn memory_config(args: &Args) -> Result<MemoryConfig, String> {
    let d = MemoryConfig::default();
    let mem_list: Option<Vec<f64>> = args.nums("mem-mb")?;
    let n: usize = args.num("servers", mem_list.as_ref().map_or(2, |v| v.len().max(2)))?;
    if !(2..=sim::MAX_SERVERS).contains(&n) {
        return Err(format!("--servers {n}: need 2..={}", sim::MAX_SERVERS));
    }
    let agenda = match args.get("agenda") {
        None => d.agenda.clone(),
        Some(a) => sim::parse_agenda(a).ok_or(format!(
            "--agenda {a:?}: letters h, g, b, f, p (html, gif, board, form, post)"
        ))?,
    };
    let mut classes = d.classes;
    let cpu: f64 = args.num("cgi-cpu-scale", 1.0)?;
    let io: f64 = args.num("cgi-io-scale", 1.0)?;
    let tail: f64 = args.num("disk-tail-scale", 1.0)?;
    for (name, v) in [
        ("cgi-cpu-scale", cpu),
        ("cgi-io-scale", io),
        ("disk-tail-scale", tail),
    ] {
        if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
            return Err(format!("--{name} {v}: must be from 0 to 1000"));
        }
    }
    for c in classes.iter_mut().filter(|c| c.cgi) {
        c.cpu_ms *= cpu;
        c.io_ms *= io;
        c.tail_ms *= tail;
    }
    let tail_holds_httpd = match args.get("tail-holds-httpd") {
        None | Some("yes") => true,
        Some("no") => false,
        Some(x) => return Err(format!("--tail-holds-httpd {x:?}: yes or no")),
    };
    let forwarding = match args.get("forwarding") {
        None | Some("tun") => Forwarding::Tunnel,
        Some("nat") => Forwarding::Nat,
        Some(x) => return Err(format!("--forwarding {x:?}: tun or nat")),
    };
    let alt2_k = match args.get("k") {
        None | Some("auto") => None,
        Some(_) => Some(args.num("k", 0u32)?),
    };
    Ok(MemoryConfig {
        mem_mb: per_server("mem-mb", mem_list, n, sim::FITTED_RAM_MB)?,
        cpu_speed: per_server("cpu-speed", args.nums("cpu-speed")?, n, 1.0)?,
        base_mb: args.num("base-mb", d.base_mb)?,
        min_free_mb: args.num("min-free-mb", d.min_free_mb)?,
        httpd_mb: args.num("httpd-mb", d.httpd_mb)?,
        cgi_mb: args.num("cgi-mb", d.cgi_mb)?,
        swap_slowdown: args.num("swap-slowdown", d.swap_slowdown)?,
        load_servers: args.num("load-servers", d.load_servers)?,
        clients_per_batch: args.num("clients", d.clients_per_batch)?,
        batch_interval_s: args.num("batch-s", d.batch_interval_s)?,
        duration_s: args.num("duration-s", d.duration_s)?,
        ramp_s: match args.get("ramp-s") {
            None => None,
            Some(_) => Some(args.num("ramp-s", 0.0)?),
        },
        agenda,
        classes,
        think_s: args.num("think-s", d.think_s)?,
        rtt_ms: args.num("rtt-ms", d.rtt_ms)?,
        client_kbps: args.num("client-kbps", d.client_kbps)?,
        timeout_s: args.num("timeout-s", d.timeout_s)?,
        forwarding,
        mem_per_conn_kb: args.num("mem-per-conn-kb", d.mem_per_conn_kb)?,
        alt2_k,
        trace: args.has("trace"),
        tail_holds_httpd,
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
    })
}

/// The report-reading variants, each at every period.
const REPORTED: [&str; 5] = ["wlc+alt1", "wlc+alt2", "wlc+lvs-dfb", "wlc+headroom", "p2c"];

/// The oracle bounds in the default table (after every other row): a measuring stick, not a
/// controller (examples/sim/oracle.rs).
const BOUNDS: [&str; 4] = [
    "oracle-bound",
    "oracle-bound+need",
    "oracle-bound@1",
    "oracle-bound+need@1",
];

fn memory_balance(args: &Args, mut cfg: MemoryConfig, out: &Path) -> Res {
    let periods: Vec<f64> = args.nums("periods")?.unwrap_or(vec![60.0, 1.0]);
    if periods.is_empty() || periods.iter().any(|p| !(p.is_finite() && *p >= 0.1)) {
        return Err("--periods: report periods of at least 0.1 s".into());
    }
    let base: Vec<String> = match args.get("compare") {
        Some(l) => l.split(',').map(|s| s.trim().to_string()).collect(),
        None => ["rr", "lc", "wlc", "twos"]
            .iter()
            .chain(REPORTED.iter())
            .map(|s| s.to_string())
            .collect(),
    };
    let mut variants = Vec::new();
    // the bounds come after every period of the reported variants, so they are the last rows
    let bounds = args
        .get("compare")
        .is_none()
        .then_some(BOUNDS.map(String::from));
    for spec in base.iter().chain(bounds.iter().flatten()) {
        let v = Variant::parse(spec, periods[0]).ok_or(format!("--compare: bad entry {spec:?}"))?;
        if v.uses_reports() && !spec.contains('@') {
            variants.extend(periods.iter().map(|&p| v.at_interval(p)));
        } else {
            variants.push(v);
        }
    }
    cfg.variants = variants;
    let seeds = args.seeds(1..=1)?;
    let mut runs: Vec<MemoryRun> = Vec::new();
    let mut runs_csv = format!("{}\n", sim::RUNS_HEADER);
    for &seed in &seeds {
        cfg.seed = seed;
        let res = sim::run_memory_balance(&cfg).map_err(|e| e.to_string())?;
        say(&format!("seed {seed}\n{}", res.table()))?;
        for r in &res.runs {
            runs_csv.push_str(&r.csv_line());
            runs_csv.push('\n');
        }
        if seed == seeds[0] {
            let svg = out.join("memory-balance.svg");
            sim::plot_memory(&res, &svg).map_err(|e| format!("{}: {e}", svg.display()))?;
        }
        // the time series are only needed for the plot
        runs.extend(res.runs.into_iter().map(|mut r| {
            r.times = Vec::new();
            r.free = Vec::new();
            r
        }));
    }
    let rows = sim::summarise(&runs);
    say(&format!(
        "summary over seeds {}..{}\n{}",
        seeds[0],
        seeds[seeds.len() - 1],
        sim::summary_table(&rows)
    ))?;
    write_file(&out.join("memory-balance-runs.csv"), &runs_csv)?;
    write_file(&out.join("memory-balance.csv"), &sim::summary_csv(&rows))?;
    say(&format!(
        "wrote memory-balance-runs.csv, memory-balance.csv and memory-balance.svg in {}\n",
        out.display()
    ))
}

fn paper_table1(args: &Args, mut cfg: MemoryConfig, out: &Path) -> Res {
    let seeds = args.seeds(1..=10)?;
    cfg.variants = ["wlc", "wlc+alt1@60", "wlc+alt2@60"]
        .iter()
        .filter_map(|s| Variant::parse(s, 60.0))
        .collect();
    let mut runs = Vec::new();
    for &seed in &seeds {
        cfg.seed = seed;
        let res = sim::run_memory_balance(&cfg).map_err(|e| e.to_string())?;
        say(&format!("seed {seed}\n{}", res.table()))?;
        runs.extend(res.runs);
    }
    let t = sim::paper_table1(&runs);
    say(&t.table())?;
    write_file(&out.join("paper-table1.csv"), &t.csv())?;
    say(&format!(
        "wrote {}\n",
        out.join("paper-table1.csv").display()
    ))
}

fn fit_ram(args: &Args, mut cfg: MemoryConfig) -> Res {
    let seeds = args.seeds(sim::FIT_SEEDS)?;
    cfg.variants = vec![Variant::parse("wlc", 60.0).ok_or("wlc")?];
    let mut mean_free = 0.0;
    for &seed in &seeds {
        cfg.seed = seed;
        let res = sim::run_memory_balance(&cfg).map_err(|e| e.to_string())?;
        let r = &res.runs[0];
        let f = r.avg_free_kb.iter().sum::<f64>() / r.avg_free_kb.len() as f64;
        say(&format!("seed {seed}: WLC mean free {f:.0} KB\n"))?;
        mean_free += f / seeds.len() as f64;
    }
    let ram = cfg.mem_mb[0] + (sim::PUBLISHED_WLC_MEAN_FREE_KB - mean_free) / 1024.0;
    say(&format!(
        "RAM {:.1} MB gives WLC mean free {mean_free:.0} KB; published {:.0} KB; fitted RAM \
         {ram:.1} MB (free memory is RAM minus the load's use while nothing swaps)\n",
        cfg.mem_mb[0],
        sim::PUBLISHED_WLC_MEAN_FREE_KB
    ))
}

const THROUGHPUT_OPTS: [&str; 11] = [
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
];

fn throughput(args: &Args, out: &Path) -> Res {
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
            .map(|s| sim::FileSet::named(s.trim()).ok_or(format!("--sets: unknown {s:?}")))
            .collect::<Result<_, _>>()?,
    };
    let seeds = args.seeds(1..=1)?;
    let cfg = ThroughputConfig {
        seed: seeds[0],
        schedulers,
        sets,
        server_counts: args
            .nums("servers-list")?
            .unwrap_or(d.server_counts.clone()),
        link_mbps: args.num("link-mbps", d.link_mbps)?,
        server_mbps: args.num("server-mbps", d.server_mbps)?,
        server_setup_ms: args.num("setup-ms", d.server_setup_ms)?,
        clients: args.num("clients", d.clients)?,
        streams: args.nums("streams")?.unwrap_or(d.streams.clone()),
        warmup_s: args.num("warmup-s", d.warmup_s)?,
        window_s: args.num("window-s", d.window_s)?,
        hetero: args.has("hetero"),
        ..d
    };
    cfg.validate().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let res = sim::run_throughput(&cfg).map_err(|e| e.to_string())?;
    say(&res.table())?;
    write_file(&out.join("throughput-scaling.csv"), &res.csv())?;
    let svg = out.join("throughput-scaling.svg");
    sim::plot_throughput(&res, &svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    say(&format!(
        "wrote throughput-scaling.csv and .svg in {}\n",
        out.display()
    ))
}
