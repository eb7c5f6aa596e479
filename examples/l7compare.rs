//! l7compare: lvsd's TCP splicer against HAProxy on the same topology, load and machine.
//!
//! ```text
//! cargo run --release -p lvs-examples --example l7compare -- --out DIR [--seconds N]
//! ```
//!
//! As root. Builds lvsd (release), then runs `examples/e2e/l7.sh LVSD compare` under
//! `flock /tmp/lvs-netns.lock`: network namespaces of its own (`l7-*`, 198.18.0.0/15), five
//! nginx real servers, the same content-aware rules given to lvsd (`--l7-rules`) and to HAProxy
//! (`nbthread 1`, on the director namespace's kernel stack), and for each director three wrk
//! runs: 1 KiB objects with keep-alive, 1 KiB objects with a connection per request (both with
//! latency percentiles), and 100 MB objects. Director CPU seconds are the director process's
//! utime + stime from `/proc/PID/stat` over each run.
//!
//! Writes `DIR/l7-compare.csv` (`system,workload,requests_per_s,p50_ms,p99_ms,gbit_s,
//! cpu_s_per_gb,served,failed`) and `DIR/l7-compare.svg`, and prints the table with the
//! lvs/haproxy ratios.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One measured run.
#[derive(Debug, Clone)]
struct Row {
    system: String,
    workload: String,
    served: u64,
    failed: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    bytes: f64,
    cpu_s: f64,
}

impl Row {
    fn rps(&self) -> f64 {
        self.served as f64 / self.secs.max(1e-9)
    }
    fn gbit_s(&self) -> f64 {
        self.bytes * 8.0 / self.secs.max(1e-9) / 1e9
    }
    fn cpu_s_per_gb(&self) -> f64 {
        self.cpu_s / (self.bytes / 1e9).max(1e-12)
    }

    /// Parses `RESULT system=.. workload=.. served=.. failed=.. secs=.. p50_ms=.. p99_ms=..
    /// bytes=.. cpu_s=..`.
    fn parse(line: &str) -> Option<Row> {
        let rest = line.strip_prefix("RESULT ")?;
        let kv: std::collections::HashMap<&str, &str> = rest
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let f = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
        Some(Row {
            system: kv.get("system")?.to_string(),
            workload: kv.get("workload")?.to_string(),
            served: f("served")? as u64,
            failed: f("failed")? as u64,
            secs: f("secs")?,
            p50_ms: f("p50_ms")?,
            p99_ms: f("p99_ms")?,
            bytes: f("bytes")?,
            cpu_s: f("cpu_s")?,
        })
    }
}

fn usage() -> ! {
    eprintln!("usage: l7compare --out DIR [--seconds N]   (as root)");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out: Option<PathBuf> = None;
    let mut seconds = 8u32;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    if let Err(e) = run(&out, seconds) {
        eprintln!("l7compare: {e}");
        std::process::exit(1);
    }
}

fn run(out: &Path, seconds: u32) -> Result<(), String> {
    for tool in ["ip", "wrk", "curl", "python3", "flock"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("{tool} is not installed"));
        }
    }
    for bin in ["/usr/sbin/nginx", "/usr/sbin/haproxy"] {
        if !Path::new(bin).exists() {
            return Err(format!("{bin} is not installed"));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // this program runs from target/<profile>/examples/
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .ok_or("cannot find the target directory")?
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args([
            "build",
            "-q",
            "--release",
            "-p",
            "lvs-examples",
            "--example",
            "lvsd",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(manifest)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !st.success() {
        return Err("cargo build --release --example lvsd failed".into());
    }
    let lvsd = target.join("release").join("examples").join("lvsd");
    let script = manifest.join("e2e").join("l7.sh");
    eprintln!(
        "l7compare: {} compare ({seconds} s per run)",
        script.display()
    );
    let mut child = Command::new("flock")
        .arg("/tmp/lvs-netns.lock")
        .arg("bash")
        .arg(&script)
        .arg(&lvsd)
        .arg("compare")
        .env("L7_WRK_S", seconds.to_string())
        .env("L7_BIG_MB", "100")
        .env("L7_LOSS_MB", "1")
        .env("L7_LIMIT", (120 + 8 * seconds).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let mut rows = Vec::new();
    let mut done = false;
    if let Some(o) = child.stdout.take() {
        for line in BufReader::new(o).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(r) = Row::parse(&line) {
                rows.push(r);
            }
            done |= line == "COMPARE DONE";
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() || !done {
        return Err(format!("{} compare failed ({st})", script.display()));
    }
    let csv = out.join("l7-compare.csv");
    std::fs::write(&csv, to_csv(&rows)).map_err(|e| format!("{}: {e}", csv.display()))?;
    let svg = out.join("l7-compare.svg");
    std::fs::write(&svg, to_svg(&rows)).map_err(|e| format!("{}: {e}", svg.display()))?;
    print!("{}", table(&rows));
    eprintln!("l7compare: wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "system,workload,requests_per_s,p50_ms,p99_ms,gbit_s,cpu_s_per_gb,served,failed\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{},{}",
            r.system,
            r.workload,
            r.rps(),
            r.p50_ms,
            r.p99_ms,
            r.gbit_s(),
            r.cpu_s_per_gb(),
            r.served,
            r.failed
        );
    }
    s
}

fn find<'a>(rows: &'a [Row], system: &str, workload: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.workload == workload)
}

/// The Markdown table and the lvs/haproxy ratios.
fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| system | workload | requests/s | p50 ms | p99 ms | Gbit/s | director CPU s/GB | served | failed |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.3} | {:.2} | {} | {} |",
            r.system,
            r.workload,
            r.rps(),
            r.p50_ms,
            r.p99_ms,
            r.gbit_s(),
            r.cpu_s_per_gb(),
            r.served,
            r.failed
        );
    }
    for wl in ["1k-keepalive", "1k-close", "100m"] {
        if let (Some(l), Some(h)) = (find(rows, "lvs", wl), find(rows, "haproxy", wl)) {
            let _ = writeln!(
                s,
                "{wl}: lvs/haproxy requests/s {:.2}, Gbit/s {:.2}, bytes per director CPU second {:.2}",
                l.rps() / h.rps().max(1e-9),
                l.gbit_s() / h.gbit_s().max(1e-12),
                h.cpu_s_per_gb() / l.cpu_s_per_gb().max(1e-12),
            );
        }
    }
    s
}

/// Four bar panels (requests/s with and without keep-alive, Gbit/s, director CPU s/GB), one
/// bar per system, each labelled with its value and served/failed counts.
fn to_svg(rows: &[Row]) -> String {
    type Metric = fn(&Row) -> f64;
    let panels: [(&str, &str, Metric); 4] = [
        ("1 KiB, keep-alive: requests/s", "1k-keepalive", Row::rps),
        (
            "1 KiB, connection per request: requests/s",
            "1k-close",
            Row::rps,
        ),
        ("100 MB objects: Gbit/s", "100m", Row::gbit_s),
        (
            "100 MB objects: director CPU s per GB (lower is better)",
            "100m",
            Row::cpu_s_per_gb,
        ),
    ];
    let (w, ph) = (900.0, 150.0);
    let h = 50.0 + ph * panels.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" font-size=\"18\" text-anchor=\"middle\">lvsd TCP splicing vs HAProxy (nbthread 1): same rules, topology and load</text>\n",
        w / 2.0
    );
    for (k, (title, wl, metric)) in panels.iter().enumerate() {
        let y0 = 50.0 + ph * k as f64;
        let _ = writeln!(
            s,
            "<text x=\"20\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{title}</text>",
            y0 + 18.0
        );
        let vals: Vec<(&str, Option<&Row>)> = ["lvs", "haproxy"]
            .iter()
            .map(|sys| (*sys, find(rows, sys, wl)))
            .collect();
        let max = vals
            .iter()
            .filter_map(|(_, r)| r.map(metric))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            .max(1e-9);
        for (j, (sys, r)) in vals.iter().enumerate() {
            let y = y0 + 32.0 + 48.0 * j as f64;
            let color = if *sys == "lvs" { "#1f77b4" } else { "#d62728" };
            let _ = writeln!(
                s,
                "<text x=\"20\" y=\"{}\" font-size=\"13\">{sys}</text>",
                y + 22.0
            );
            match r {
                Some(r) => {
                    let v = metric(r);
                    let bw = if v.is_finite() { 520.0 * v / max } else { 0.0 };
                    let _ = writeln!(
                        s,
                        "<rect x=\"90\" y=\"{y}\" width=\"{bw:.1}\" height=\"34\" fill=\"{color}\"/>\n\
                         <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{v:.2} (served {}, failed {})</text>",
                        96.0 + bw,
                        y + 22.0,
                        r.served,
                        r.failed
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "<text x=\"96\" y=\"{}\" font-size=\"12\">not measured</text>",
                        y + 22.0
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
