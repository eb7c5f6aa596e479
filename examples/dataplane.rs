//! dataplane: lvsd's packet path against the kernel's, on the same namespaces, loads and machine.
//!
//! ```text
//! cargo run --release -p lvs-examples --example dataplane -- --out DIR [--secs N] [--systems S] [--repeat N] [--napi threaded|inline] [--lvsd-args ARGS] [--kernel-drop on|off]
//! ```
//!
//! As root. Builds lvsd (release), then runs `examples/e2e/dataplane.sh` under
//! `flock /tmp/lvs-netns.lock`: client ns → director ns → server ns over veth (names `dp-*`,
//! 198.18.0.0/15), the director forwarding by kernel nftables DNAT with conntrack, then by lvsd
//! NAT with one worker and with two (`--systems`, default `"nftables:1 lvsd:1 lvsd:2 lvsdcap:1"`).
//! For each:
//! 64-byte UDP packets per second (a sweep of offered rates from this program's own sendmmsg
//! sender, `udp-send`; the peak delivered, counted by an nftables counter in the server ns),
//! the same offered at twice that peak (`udp64_overload_pps`), TCP bulk Gbit/s (iperf3) and new
//! TCP connections per second (wrk, `Connection: close`, nginx answering 204). Director CPU:
//! see `--napi` below and the script's header. `lvsdcap:1` is
//! lvsd held to a CPU share by a CFS quota (`DP_CAP`, default 0.30), UDP only
//! (`udp64_capped_pps`, `udp64_capped_overload_pps`): one sender core cannot offer twice an
//! uncapped director's peak on a two-core machine, but it can offer twice a capped one's, so
//! the overload behaviour is measured there.
//!
//! `--napi threaded` gives every veth end NAPI in its own kernel thread, the
//! director namespace's on CPU 1 beside lvsd, the client's and server's on CPU 0: a veth transmit
//! only queues the frame for the peer's thread, as a NIC hands frames to another machine, and
//! the director's CPU is the same for every system (its NAPI threads, where the kernel forwards,
//! plus lvsd; TCP is slower for every system there, each side segmenting in software).
//! `--napi inline` (the default, the setup of the recorded runs) leaves veth without NAPI: each
//! transmit runs the peer's receive inline, lvsd's CPU includes the server namespace's receive,
//! the kernel's is its softirq time. Details in the script's header.
//!
//! `lvsdxdp:1` is lvsd with `--xdp` (its `AF_XDP` frame path, examples/lvsd/xsk.rs; one worker
//! only): no kernel drop rule (its XDP program takes every frame before the stack), and the
//! client's and server's veths compute checksums in software while it runs (`ethtool -K tx
//! off`: veth hands XDP partial checksums unmarked), which costs their CPU (0), not the
//! director's. Its summary lines compare it with nftables and with lvsd of as many workers.
//!
//! `--kernel-drop on` (the default) drops, while lvsd runs, every frame on the director's two
//! interfaces in an nftables netdev ingress rule, after the packet taps lvsd reads at: the
//! director namespace's IP stack (no address there in lvsd's runs) then no longer takes each
//! frame through `ip_rcv` and a route lookup only to drop it as not its own. `off` leaves the
//! kernel's stack to do that (the setup of the runs recorded before 2026-12-07 04:30 UTC).
//!
//! `--lvsd-args ARGS` adds ARGS (split at spaces) to every lvsd the run starts, e.g.
//! `--busy-poll 200`; the rows stay `lvsd`, so compare such a run's lvsd rows with its own
//! nftables rows.
//!
//! Writes `DIR/dataplane.csv` (`system,workers,workload,value,unit,cpu_cores`) and
//! `DIR/dataplane.svg`, and prints the table with the lvsd/nftables ratios.
//!
//! `--repeat N` (default 1) measures every system N times, one repeat after the other, each
//! repeat the systems in `--systems` order (one namespace setup, the netns lock held
//! throughout), so that each repeat is a same-run comparison. With N > 1, `dataplane.csv` holds
//! per (system, workers, workload) the median over the repeats of `value` and of `cpu_cores`
//! (each on its own), `DIR/dataplane-runs.csv` every repeat's rows (a leading `run` column),
//! and the summary lines are printed per repeat (`run K: ...`) and as the median of the
//! per-repeat figures with their range (`median of N runs [min..max]: ... R [MIN..MAX]`):
//! ratios are taken within a repeat, never between medians.
//!
//! `dataplane wake-latency [--count N] [--gap-us U]` measures how long a thread blocked in
//! `poll(2)` on CPU 1 takes to run after a write from CPU 0 (`WAKE ... p50_us= p99_us=` line):
//! the hand-off lvsd pays per frame when it sleeps between frames, the kernel's inline
//! forwarding none.
//!
//! `dataplane udp-send --dst IP:PORT --flows N --payload BYTES --secs S --rate PPS
//! [--raw IFACE --src IP --dst-mac MAC]` is the sender (0 = as fast as it goes), paced to the
//! rate at which it presents datagrams; prints how many the kernel accepted and how many it
//! presented (`ACCEPTED TRIED`: a full veth ring refuses frames with `ENOBUFS`, and a refused
//! burst is not sent again, as a full receive ring drops frames on a wire). Without `--raw`: N
//! connected UDP sockets, bursts of 64 datagrams on one socket per `sendmmsg(2)`. With `--raw` (what the script uses): N
//! prebuilt Ethernet frames (source ports 10000..), bursts of 64 interleaving the flows by
//! `sendmmsg(2)` on an `AF_PACKET` socket bound to IFACE with `PACKET_QDISC_BYPASS`. When one
//! sender cannot present twice the peak, the script adds a second one on CPU 1 (it then competes
//! with the director for that CPU; the overload row says how many senders, what they presented
//! (`attempted`) and what the client's interface accepted of it (`offered`)).

#[path = "dataplane/repeat.rs"]
mod repeat;
#[path = "dataplane/report.rs"]
mod report;
#[path = "dataplane/send.rs"]
mod send;
#[path = "dataplane/wake.rs"]
mod wake;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use report::{markdown, table, to_csv, to_svg, Row};
use send::udp_send;

fn usage() -> ! {
    eprintln!(
        "usage: dataplane --out DIR [--secs N] [--systems \"nftables:1 lvsd:1 lvsd:2 lvsdcap:1\"] [--repeat N] [--napi threaded|inline] [--lvsd-args ARGS] [--kernel-drop on|off]   (as root)\n\
         \x20      dataplane udp-send --dst IP:PORT [--flows N] [--payload B] [--secs S] [--rate PPS]\n\
         \x20      dataplane wake-latency [--count N] [--gap-us U]   (this machine's cross-CPU wakeup latency)\n\
         \x20      dataplane plot CSV OUT_SVG   (redraw the plot of an earlier run's dataplane.csv)\n\
         --repeat N (default 1): every system N times, the repeats one after the other; then DIR/dataplane.csv\n\
         holds per system, workers and workload the median over the repeats (of value and of cpu_cores, each\n\
         on its own), DIR/dataplane-runs.csv every repeat's rows, and each summary line is printed per repeat\n\
         and as the median of the per-repeat figures [min..max]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("udp-send") {
        match udp_send(&args[1..]) {
            Ok(n) => println!("{} {}", n.accepted, n.tried),
            Err(e) => {
                eprintln!("dataplane udp-send: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if args.first().map(String::as_str) == Some("wake-latency") {
        match wake::wake_latency(&args[1..]) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("dataplane wake-latency: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if args.first().map(String::as_str) == Some("plot") {
        let (Some(csv), Some(svg)) = (args.get(1), args.get(2)) else {
            usage()
        };
        let rows: Vec<Row> = match std::fs::read_to_string(csv) {
            Ok(text) => text.lines().skip(1).filter_map(Row::from_csv).collect(),
            Err(e) => {
                eprintln!("dataplane plot: {csv}: {e}");
                std::process::exit(1);
            }
        };
        if let Err(e) = std::fs::write(svg, to_svg(&rows, "")) {
            eprintln!("dataplane plot: {svg}: {e}");
            std::process::exit(1);
        }
        print!("{}", table(&rows));
        return;
    }
    let mut out: Option<PathBuf> = None;
    let mut secs = 4u32;
    let mut systems = String::from("nftables:1 lvsd:1 lvsd:2 lvsdcap:1");
    let mut repeat = 1u32;
    let mut napi = String::from("inline");
    let mut lvsd_args = String::new();
    let mut kernel_drop = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "--secs" => {
                secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--systems" => systems = it.next().cloned().unwrap_or_else(|| usage()),
            "--repeat" => {
                repeat = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| *n >= 1)
                    .unwrap_or_else(|| usage())
            }
            "--napi" => {
                napi = it
                    .next()
                    .filter(|m| *m == "threaded" || *m == "inline")
                    .cloned()
                    .unwrap_or_else(|| usage())
            }
            "--lvsd-args" => lvsd_args = it.next().cloned().unwrap_or_else(|| usage()),
            "--kernel-drop" => {
                kernel_drop = match it.next().map(String::as_str) {
                    Some("on") => true,
                    Some("off") => false,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    let setup = Setup {
        napi,
        lvsd_args,
        kernel_drop,
    };
    if let Err(e) = run(&out, secs, &systems, repeat, &setup) {
        eprintln!("dataplane: {e}");
        std::process::exit(1);
    }
}

// ----- the driver --------------------------------------------------------------------------------

/// How the namespaces and lvsd are set up beyond the systems measured (`--napi`, `--lvsd-args`,
/// `--kernel-drop`).
struct Setup {
    napi: String,
    lvsd_args: String,
    kernel_drop: bool,
}

fn run(out: &Path, secs: u32, systems: &str, repeat: u32, setup: &Setup) -> Result<(), String> {
    let Setup {
        napi,
        lvsd_args,
        kernel_drop,
    } = setup;
    let mut tools = vec!["ip", "nft", "iperf3", "wrk", "taskset", "python3", "flock"];
    if napi == "threaded" {
        tools.push("ethtool");
    }
    for tool in tools {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{tool} is not installed"));
        }
    }
    if !Path::new("/usr/sbin/nginx").exists() {
        return Err("/usr/sbin/nginx is not installed".into());
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // this program runs from target/<profile>/examples/
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "-q", "--release", "-p", "lvs-examples"])
        .args(["--example", "lvsd"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(manifest)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release --example lvsd failed".into());
    }
    let lvsd = target.join("release").join("examples").join("lvsd");
    let script = manifest.join("e2e").join("dataplane.sh");
    eprintln!(
        "dataplane: {} ({secs} s per run, {repeat} repeat(s), NAPI {napi}, kernel drop {kernel_drop}, lvsd extra arguments {lvsd_args:?})",
        script.display()
    );
    let mut child = Command::new("flock")
        .arg("/tmp/lvs-netns.lock")
        .arg("bash")
        .arg(&script)
        .arg(&lvsd)
        .arg(&exe)
        .arg(systems)
        .env("DP_SECS", secs.to_string())
        .env("DP_REPEAT", repeat.to_string())
        .env("DP_NAPI", napi)
        .env("DP_LVSD_ARGS", lvsd_args)
        .env("DP_KERNEL_DROP", if *kernel_drop { "1" } else { "0" })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let mut rows = Vec::new();
    let mut done = false;
    let mut run = 1;
    if let Some(o) = child.stdout.take() {
        for line in BufReader::new(o).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(k) = line.strip_prefix("DATAPLANE RUN ") {
                run = k.trim().parse().unwrap_or(run);
            }
            if let Some(mut r) = Row::parse(&line) {
                r.run = run;
                rows.push(r);
            }
            done |= line == "DATAPLANE DONE";
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() || !done {
        return Err(format!("{} failed ({st})", script.display()));
    }
    write_outputs(out, &rows, repeat)
}

/// Writes the CSV file(s) and the plot and prints the table and the summary lines: as one run's
/// with one repeat, else the medians' table, every repeat's summary lines and their medians.
fn write_outputs(out: &Path, rows: &[Row], repeat: u32) -> Result<(), String> {
    let write = |name: &str, text: String| {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    if repeat <= 1 {
        write("dataplane.csv", to_csv(rows))?;
        write("dataplane.svg", to_svg(rows, ""))?;
        print!("{}", table(rows));
        eprintln!(
            "dataplane: wrote {} and {}",
            out.join("dataplane.csv").display(),
            out.join("dataplane.svg").display()
        );
        return Ok(());
    }
    let med = repeat::medians(rows);
    let n = repeat::runs(rows).len();
    write("dataplane.csv", to_csv(&med))?;
    write("dataplane-runs.csv", repeat::runs_csv(rows))?;
    let note =
        format!("median of {n} runs (value and CPU cores each; ratios: see the program's summary)");
    write("dataplane.svg", to_svg(&med, &note))?;
    println!("median of {n} runs (dataplane.csv: value and cpu_cores each the median):");
    print!("{}", markdown(&med));
    print!("{}", repeat::summary_of_runs(rows));
    eprintln!(
        "dataplane: wrote dataplane.csv (medians), dataplane-runs.csv and dataplane.svg in {}",
        out.display()
    );
    Ok(())
}
