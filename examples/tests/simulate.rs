//! The simulator: deterministic for a seed, metrics that cannot be won by failing, the
//! published table's bookkeeping, input checks and a quiet end on a closed stdout. Short runs
//! only; the full experiments run through the command (docs/simulation.md).

#[path = "../sim/mod.rs"]
mod sim;

use sim::{FileSet, MemoryConfig, SchedKind, ThroughputConfig, Variant};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The published testbed scaled down: one load server, 10 clients every 10 s for 20 s.
fn memory(seed: u64) -> MemoryConfig {
    MemoryConfig {
        seed,
        load_servers: 1,
        clients_per_batch: 10,
        batch_interval_s: 10.0,
        duration_s: 20.0,
        think_s: 2.0,
        variants: ["rr", "wlc", "wlc+alt2@5", "wlc+headroom@2", "p2c@1"]
            .iter()
            .map(|s| Variant::parse(s, 60.0).unwrap())
            .collect(),
        ..MemoryConfig::default()
    }
}

fn throughput(seed: u64) -> ThroughputConfig {
    ThroughputConfig {
        seed,
        schedulers: vec![SchedKind::Rr, SchedKind::Wlc],
        server_counts: vec![2, 4],
        sets: vec![
            FileSet::named("heavy").unwrap(),
            FileSet::named("light").unwrap(),
        ],
        streams: vec![8],
        warmup_s: 2.0,
        window_s: 6.0,
        ..ThroughputConfig::default()
    }
}

#[test]
fn memory_balance_is_deterministic_and_counts_every_request() {
    let a = sim::run_memory_balance(&memory(7)).unwrap();
    let b = sim::run_memory_balance(&memory(7)).unwrap();
    let c = sim::run_memory_balance(&memory(8)).unwrap();
    assert_eq!(a.csv(), b.csv());
    assert_eq!(a, b);
    assert_ne!(a.csv(), c.csv());
    let csv = a.csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("scheduler,seed,offered,served,refused,p99_ms,swap_out_mb,signed_diff_kb,mean_abs_diff_kb,qualified")
    );
    assert_eq!(lines.count(), 5);
    let agenda = sim::figure6_agenda();
    assert_eq!(agenda.len(), 40);
    for run in &a.runs {
        // 20 clients, each replaying the 40-request agenda, all served on this light load
        assert_eq!(run.counts.offered, 20 * 40, "{}", run.label);
        assert_eq!(run.counts.served, 20 * 40, "{}", run.label);
        assert!(run.qualified());
        assert!(run.p99_ms > 0.0 && run.p99_ms < 1000.0, "{}", run.p99_ms);
        assert_eq!(run.free.len(), 2);
        for f in run.free.iter().flatten() {
            assert!((2.0..=sim::FITTED_RAM_MB).contains(f), "{f}");
        }
        let s = run.avg_free_kb[0] - run.avg_free_kb[1];
        assert!((run.signed_diff_kb - s).abs() < 1e-6);
        assert!(run.mean_abs_diff_kb >= run.signed_diff_kb.abs() - 1e-6);
    }
}

#[test]
fn a_run_that_fails_requests_is_unqualified_and_never_the_winner() {
    // a 1 ms timeout fails nearly every request: that run must not win on memory balance
    let good = sim::run_memory_balance(&memory(3)).unwrap();
    let mut cfg = memory(3);
    cfg.timeout_s = 0.001;
    cfg.variants = vec![Variant::parse("lc", 60.0).unwrap()];
    let bad = sim::run_memory_balance(&cfg).unwrap();
    let mut lc = bad.runs[0].clone();
    assert!(!lc.qualified(), "{}", bad.table());
    assert!(lc.counts.served < lc.counts.offered);
    assert!(lc.csv_line().ends_with(",false"));
    // even with a perfect memory score
    lc.mean_abs_diff_kb = 0.0;
    let mut runs = good.runs.clone();
    runs.push(lc);
    let rows = sim::summarise(&runs);
    let table = sim::summary_table(&rows);
    assert!(!table.contains("best qualified: lc"), "{table}");
    assert!(table.contains("best qualified: "), "{table}");
    let csv = sim::summary_csv(&rows);
    assert!(csv.starts_with("scheduler,runs,served_frac,mean_abs_diff_kb,ci95_low_kb,ci95_high_kb,signed_diff_kb,ratio_vs_wlc,qualified\n"));
    assert!(csv
        .lines()
        .any(|l| l.starts_with("lc,1,") && l.ends_with(",false")));
    assert!(csv
        .lines()
        .any(|l| l.starts_with("wlc,1,") && l.contains(",1.00,")));
}

#[test]
fn intervals_and_the_paper_table_bookkeeping() {
    let i = sim::Interval::of(&[1.0, 2.0, 3.0]);
    assert!((i.mean - 2.0).abs() < 1e-12);
    // t(2) = 4.303, s = 1, n = 3
    assert!((i.high - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-9);
    assert!(sim::Interval::of(&[5.0]).high.is_infinite());
    let mut runs = sim::run_memory_balance(&MemoryConfig {
        variants: ["wlc", "wlc+alt1@60", "wlc+alt2@60"]
            .iter()
            .map(|s| Variant::parse(s, 60.0).unwrap())
            .collect(),
        ..memory(5)
    })
    .unwrap()
    .runs;
    // the published values themselves pass the checks, a sign flip fails them
    for (r, p) in runs.iter_mut().zip(sim::PUBLISHED_TABLE1) {
        r.avg_free_kb = vec![p.1, p.2];
        r.signed_diff_kb = p.3;
    }
    let t = sim::paper_table1(&runs);
    assert!(t.csv().starts_with(
        "scheduler,server1_free_kb,server2_free_kb,signed_diff_kb,published_signed_diff_kb\nwlc,129680.1,145873.9,-16193.1,-16193.1\n"
    ));
    assert!(t.checks().iter().all(|c| c.1), "{}", t.table());
    runs[0].signed_diff_kb = 16_193.1;
    let t = sim::paper_table1(&runs);
    assert!(!t.checks()[0].1);
    assert!(!t.checks()[2].1);
}

#[test]
fn variants_parse_and_share_the_report_period() {
    let v = Variant::parse("p2c@1", 60.0).unwrap();
    assert_eq!((v.label.as_str(), v.sched), ("p2c@1s", SchedKind::P2c));
    let v = Variant::parse("p2c:3500:0@2", 60.0).unwrap();
    assert_eq!(v.p2c_override, (Some(3500), Some(0)));
    for bad in [
        "p2c:x@1",
        "p2c:1:2:3@1",
        "wlc:5@1",
        "p2c+alt9@1",
        "wlc+nope",
        "wlc+alt1@0",
    ] {
        assert!(Variant::parse(bad, 60.0).is_none(), "{bad}");
    }
    let alt2 = Variant::parse("wlc+alt2", 60.0).unwrap();
    assert_eq!(alt2.label, "wlc+alt2@60s");
    assert_eq!(alt2.at_interval(1.0).label, "wlc+alt2@1s");
    assert_eq!(
        Variant::parse("rr", 60.0).unwrap().at_interval(1.0).label,
        "rr"
    );
    assert!(!Variant::parse("wlc", 60.0).unwrap().uses_reports());
}

#[test]
fn throughput_is_deterministic_and_capped_by_the_link() {
    let a = sim::run_throughput(&throughput(3)).unwrap();
    let b = sim::run_throughput(&throughput(3)).unwrap();
    let c = sim::run_throughput(&throughput(4)).unwrap();
    assert_eq!(a.csv(), b.csv());
    assert_ne!(a.csv(), c.csv());
    assert_eq!(a.rows.len(), 2 * 2 * 2);
    assert!(a
        .csv()
        .starts_with("scheduler,servers,file_set,streams,cps,out_bps,out_pps\n"));
    for r in &a.rows {
        assert!(r.out_bps <= a.link_bps * 1.01, "{r:?}");
        assert!(r.out_pps > 0.0, "{r:?}");
    }
    let at = |set: &str, n: usize| {
        a.rows
            .iter()
            .find(|r| r.set == set && r.servers == n && r.sched == "rr")
            .unwrap()
    };
    // the thesis's shapes: heavy files fill the link with two servers already; light files
    // are bound by the servers' per-request setup, so more servers carry more
    assert!(at("heavy", 2).out_bps > 0.95 * a.link_bps, "{:?}", a.rows);
    assert!(
        at("light", 4).out_pps > 1.5 * at("light", 2).out_pps,
        "{:?}",
        a.rows
    );
    let points = sim::thesis_points();
    assert_eq!(points.len(), 20);
    assert!(points
        .iter()
        .all(|p| p.out_pps > 0.0 && (2..=8).contains(&p.servers)));
}

#[test]
fn impossible_configurations_are_refused() {
    let mut m = memory(1);
    m.mem_mb = vec![128.0];
    m.cpu_speed = vec![1.0];
    assert!(sim::run_memory_balance(&m).is_err());
    let mut m = memory(1);
    m.mem_mb = vec![1.0, 1.0];
    let e = sim::run_memory_balance(&m).unwrap_err().to_string();
    assert!(e.contains("--mem-mb 1"), "{e}");
    let mut m = memory(1);
    m.rtt_ms = -1.0;
    assert!(sim::run_memory_balance(&m).is_err());
    let mut t = throughput(1);
    t.server_counts = vec![0];
    assert!(sim::run_throughput(&t).is_err());
}

/// The simulate example, built into this test's target directory.
fn simulate() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    let target = profile_dir.parent().expect("target dir");
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples", "--example", "simulate"])
        .arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    target.join(&profile).join("examples").join("simulate")
}

#[test]
fn the_command_refuses_impossible_parameters_and_ends_quietly_on_a_closed_stdout() {
    let bin = simulate();
    let out = std::env::temp_dir().join(format!("lvs-simulate-test-{}", std::process::id()));
    let short = [
        "--load-servers",
        "1",
        "--clients",
        "5",
        "--duration-s",
        "10",
        "--batch-s",
        "10",
    ];
    for (bad, says) in [
        (vec!["--mem-mb", "1"], "--mem-mb 1"),
        (vec!["--rtt-ms", "-5"], "--rtt-ms -5"),
        (vec!["--servers", "1"], "--servers 1"),
        (vec!["--clients", "0"], "--clients 0"),
        (vec!["--cpu-speed", "0"], "--cpu-speed 0"),
        (vec!["--duration-s", "nan"], "--duration-s NaN"),
        (vec!["--seeds", "5..2"], "--seeds 5..2"),
        (vec!["--k", "5000"], "--k 5000"),
        (vec!["--forwarding", "dr"], "--forwarding"),
        (vec!["--disk-tail-scale", "-1"], "--disk-tail-scale -1"),
        (vec!["--tail-holds-httpd", "maybe"], "--tail-holds-httpd"),
        (vec!["--ramp-s", "40"], "--ramp-s 40"),
    ] {
        let o = Command::new(&bin)
            .args(["--experiment", "memory-balance", "--out"])
            .arg(&out)
            .args(&bad)
            .output()
            .expect("run simulate");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {err}");
        assert!(
            err.starts_with("simulate: ") && err.contains(says),
            "{bad:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = Command::new(&bin)
        .args(["--experiment", "throughput-scaling", "--link-mbps", "0"])
        .output()
        .expect("run simulate");
    assert_eq!(o.status.code(), Some(1));
    // a short sweep writes the plot: one legend for all panels, the thesis's points in it
    let o = Command::new(&bin)
        .args(["--experiment", "throughput-scaling", "--out"])
        .arg(&out)
        .args(["--servers-list", "2,3", "--streams", "1", "--warmup-s", "1"])
        .args(["--window-s", "2", "--sets", "light,mixed"])
        .output()
        .expect("run simulate");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(out.join("throughput-scaling.svg")).expect("svg");
    assert_eq!(svg.matches("thesis rr").count(), 1, "one legend");
    assert_eq!(
        svg.matches("rr, most over the offered-load sweep").count(),
        1
    );
    assert!(svg.contains("light files") && svg.contains("mixed files"));
    // `simulate ... | head -1`: the reader goes away before the table is printed
    let mut child = Command::new(&bin)
        .args([
            "--experiment",
            "memory-balance",
            "--compare",
            "wlc",
            "--out",
        ])
        .arg(&out)
        .args(short)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn simulate");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?} {err}", o.status);
    assert!(err.is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Alternative 2 against the paper's own numbers. Formula (3): the server with less free
/// memory gets `k`, the other `k + Δfree / 3500 KB`. Figure 10's text: "weights after the
/// first minute are 405 and 400 ... and 8 minutes later, 667 and 670", i.e. k = 400 with a gap
/// of 5 connections' worth (5 · 3500 = 17500 KB), then k = 667 with 3 connections' worth on
/// server 2. The controller scales the pair so the fuller server has 1000 (wlc uses only the
/// ratio): 1000 · 405 / 400 = 1012.5 and 1000 · 670 / 667 = 1004.5, truncated.
#[test]
fn alternative2_gives_the_papers_figure10_weights() {
    use lvs_sched::feedback::{FreeMemory, LoadReport, WeightController};
    let total = 256 * 1024;
    let base = 120_000;
    let mut w = [1u32, 1];
    let mut a = FreeMemory::alternative2(3500, 400);
    a.update(
        &[
            LoadReport::new(base + 17_500, total),
            LoadReport::new(base, total),
        ],
        &mut w,
    )
    .unwrap();
    assert_eq!(w, [1012, 1000]);
    assert!((w[0] as f64 / w[1] as f64 - 405.0 / 400.0).abs() < 1e-3);
    a.set_k(667);
    a.update(
        &[
            LoadReport::new(base, total),
            LoadReport::new(base + 3 * 3500, total),
        ],
        &mut w,
    )
    .unwrap();
    assert_eq!(w, [1000, 1004]);
    assert!((w[1] as f64 / w[0] as f64 - 670.0 / 667.0).abs() < 1e-3);
    // k = 1 and a 16 MB gap (the two-RAM what-if): 1 + 16384/3500 = 5.68 -> 5681
    let mut one = FreeMemory::alternative2(3500, 1);
    one.update(
        &[
            LoadReport::new(base, total),
            LoadReport::new(base + 16_384, total),
        ],
        &mut w,
    )
    .unwrap();
    assert_eq!(w, [1000, 5681]);
}

/// `--trace` prints the weights the controller set and the director's connection counts:
/// with k = 1 and a 16 MB RAM gap they leave 1000:1000 at the first report.
#[test]
fn the_trace_shows_the_weights_alternative2_sets() {
    let bin = simulate();
    let out = std::env::temp_dir().join(format!("lvs-simulate-trace-{}", std::process::id()));
    let o = Command::new(&bin)
        .args(["--experiment", "paper-table1", "--seed", "1", "--out"])
        .arg(&out)
        .args(["--mem-mb", "199,215", "--k", "1", "--trace"])
        .args(["--clients", "20", "--duration-s", "120"])
        .output()
        .expect("run simulate");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("trace wlc+alt2@60s"))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    assert!(lines.iter().all(|l| l.contains(" k=1 ")), "{err}");
    // the first report: server 2 has the bigger RAM and gets the larger weight
    let w: Vec<u32> = lines[0]
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("w="))
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(w.len(), 2, "{}", lines[0]);
    assert!(w[1] > 2 * w[0], "{}", lines[0]);
    let _ = std::fs::remove_dir_all(&out);
}

/// The `free=`, `b=`, `act=` and `inact=` fields of server `s` (0-based) in a trace line.
fn server_fields(line: &str, s: usize) -> [u64; 4] {
    let part = line.split(" | ").nth(s + 1).expect("server field");
    let get = |k: &str| -> u64 {
        part.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {line}"))
    };
    [get("free="), get("b="), get("act="), get("inact=")]
}

#[test]
fn a_cgi_stays_resident_in_disk_wait_after_its_connection_closed() {
    let bin = simulate();
    let out = std::env::temp_dir().join(format!("lvs-simulate-tail-{}", std::process::id()));
    // one client: a POST, then (after a long think) a page; the POST's post-response disk
    // writes last seconds (mean 19.5 s)
    for (holds, resident_kb) in [("no", 1.7 * 1024.0), ("yes", (1.7 + 3.6) * 1024.0)] {
        let o = Command::new(&bin)
            .args(["--experiment", "memory-balance", "--seed", "1", "--out"])
            .arg(&out)
            .args(["--load-servers", "1", "--clients", "1", "--batch-s", "1"])
            .args(["--duration-s", "1", "--agenda", "ph", "--think-s", "100"])
            .args(["--disk-tail-scale", "500", "--tail-holds-httpd", holds])
            .args(["--compare", "p2c@1", "--trace"])
            .output()
            .expect("run simulate");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("trace")).collect();
        assert!(lines.len() >= 3, "{err}");
        // the POST went to server 1 (both idle, equal weights): its report during the disk
        // phase shows the connection closed (inactive), a process in disk wait, and the
        // memory still in use: the child's 1.7 MB, and the parent's 3.6 MB when it waits
        let [free, b, act, inact] = server_fields(lines[0], 0);
        let [idle_free, idle_b, _, _] = server_fields(lines[0], 1);
        assert_eq!((b, act, inact, idle_b), (1, 0, 1, 0), "{}", lines[0]);
        let held = idle_free as f64 - free as f64;
        assert!((held - resident_kb).abs() < 2.0, "{held} KB: {}", lines[0]);
        // the writes end: the child exits and its memory is free again; the connection
        // stays an inactive one (TIME_WAIT) meanwhile
        let after = lines
            .iter()
            .find(|l| server_fields(l, 0)[1] == 0)
            .expect("the disk phase ends");
        let [free_after, _, act_after, _] = server_fields(after, 0);
        assert_eq!(act_after, 0, "{after}");
        assert!(
            free_after as f64 >= free as f64 + 1.7 * 1024.0 - 2.0,
            "{after}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The oracle bound sees the true free memory: it picks the freer server (ties: fewer active
/// connections, then the lower id), it appears in the table under its own name, and it is
/// never named the best, even with a perfect score.
#[test]
fn the_oracle_bound_picks_the_freer_server_and_is_never_the_winner() {
    use lvs_core::Scheduler;
    use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest};
    let view = sim::OracleHandle::default();
    let mut o = sim::Oracle::new(view.clone(), false);
    let req = SchedRequest {
        flow: FlowKey::new(
            Protocol::Tcp,
            Endpoint::v4([198, 19, 0, 1], 40000),
            Endpoint::v4([198, 18, 0, 1], 80),
        ),
        now: Instant::ZERO,
    };
    let pick = |o: &mut sim::Oracle, free: [f64; 3], active: [u32; 3], weight: [u32; 3]| {
        view.borrow_mut().free_kb[..3].copy_from_slice(&free);
        let pool: Vec<Dest> = (0..3)
            .map(|i| {
                Dest::with_counts(
                    Endpoint::v4([198, 18, 1, i as u8], 80),
                    weight[i],
                    active[i],
                    0,
                )
            })
            .collect();
        let order = [DestId(0), DestId(1), DestId(2)];
        o.schedule(&DestSet::new(&pool, &order), &req)
    };
    assert_eq!(
        pick(&mut o, [100.0, 300.0, 200.0], [0, 9, 0], [1; 3]),
        Some(DestId(1))
    );
    assert_eq!(
        pick(&mut o, [300.0, 300.0, 200.0], [4, 2, 0], [1; 3]),
        Some(DestId(1))
    );
    assert_eq!(
        pick(&mut o, [300.0, 300.0, 300.0], [2, 2, 2], [1; 3]),
        Some(DestId(0))
    );
    // a server with weight 0 is not eligible, however free
    assert_eq!(
        pick(&mut o, [900.0, 300.0, 200.0], [0; 3], [0, 1, 1]),
        Some(DestId(1))
    );
    assert_eq!(pick(&mut o, [900.0, 300.0, 200.0], [0; 3], [0; 3]), None);
    // +need: a CGI that would leave server 0 below MinSpareServers costs it an httpd process
    let mut need = sim::Oracle::new(view.clone(), true);
    {
        let mut v = view.borrow_mut();
        (v.httpd_kb, v.cgi_kb, v.min_spare, v.cgi_next) = (3686.4, 1740.8, 5, true);
        v.idle[..3].copy_from_slice(&[5, 9, 9]);
    }
    assert_eq!(
        pick(&mut need, [3000.0, 1000.0, 0.0], [0; 3], [1; 3]),
        Some(DestId(1))
    );
    assert_eq!(view.borrow().idle[1], 8, "counts the process it will take");

    // in a short run: the rows exist under their names, every request is served
    let cfg = MemoryConfig {
        variants: ["wlc", "oracle-bound", "oracle-bound+need@0.5"]
            .iter()
            .map(|s| Variant::parse(s, 60.0).unwrap())
            .collect(),
        ..memory(4)
    };
    assert!(cfg.variants[1].is_bound() && !cfg.variants[0].is_bound());
    assert_eq!(cfg.variants[2].label, "oracle-bound+need@0.5s");
    assert!(Variant::parse("oracle-bound@0", 60.0).is_none());
    let res = sim::run_memory_balance(&cfg).unwrap();
    let labels: Vec<&str> = res.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["wlc", "oracle-bound", "oracle-bound+need@0.5s"]);
    for r in &res.runs {
        assert!(r.qualified(), "{}", res.table());
    }
    // a perfect, qualified oracle score still does not make it the winner
    let mut runs = res.runs.clone();
    runs[1].mean_abs_diff_kb = 0.0;
    let rows = sim::summarise(&runs);
    let table = sim::summary_table(&rows);
    assert!(table.contains("best qualified: wlc"), "{table}");
    assert!(table.contains("bound, not a controller"), "{table}");
    let csv = sim::summary_csv(&rows);
    assert!(
        csv.lines().any(|l| l.starts_with("oracle-bound,1,")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("oracle-bound+need@0.5s,1,")),
        "{csv}"
    );
}
