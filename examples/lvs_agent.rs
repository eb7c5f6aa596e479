//! lvs_agent: the load agent for real servers. Every `--interval` seconds it measures CPU idle
//! (`/proc/stat`), `MemAvailable` and `MemTotal` (`/proc/meminfo`, or a memory cgroup's
//! limit and usage with `--cgroup`), swap activity (`/proc/vmstat` pswpin + pswpout), the
//! 1-minute load average (`/proc/loadavg`) and the established TCP connections of its network
//! namespace (`/proc/net/tcp`, `tcp6`), and sends them to lvsd as one authenticated UDP
//! datagram (`lvs_sched::agent`).
//!
//! ```text
//! lvs_agent --director 198.18.1.1:4455 --key-file /etc/lvs/agent.key [--interval 2]
//!           [--cgroup /sys/fs/cgroup/memory/web] [--count N] [-v]
//! ```

use lvs_sched::agent::{Report, DEFAULT_PORT};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
usage: lvs_agent --director IP[:PORT] --key-file FILE [options]

Sends this server's load to lvsd every interval (UDP, HMAC-SHA256 with the shared key).

options:
  --director IP[:PORT]  where lvsd listens (`lvsd --agent-key`; port 4455)
  --key-file FILE       the shared key (the file's bytes, trailing newline removed)
  --interval SECS       seconds between reports (2)
  --cgroup DIR          read memory from this memory cgroup (v1 or v2) instead of /proc/meminfo
  --count N             stop after N reports (default: run until killed)
  -v, --verbose         print every report";

struct Opts {
    director: SocketAddr,
    key: Vec<u8>,
    interval: Duration,
    cgroup: Option<String>,
    count: Option<u64>,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut director = None;
    let mut key = None;
    let mut interval = Duration::from_secs(2);
    let mut cgroup = None;
    let mut count = None;
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--director" => {
                let v = value()?;
                let s = if v.contains(':') {
                    v.clone()
                } else {
                    format!("{v}:{DEFAULT_PORT}")
                };
                director = Some(
                    s.parse()
                        .map_err(|_| format!("--director {v:?}: not IP[:PORT]"))?,
                );
            }
            "--key-file" => {
                let p = value()?;
                let mut k = std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?;
                while k.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    k.pop();
                }
                if k.len() < 16 {
                    return Err(format!("{p}: a key of at least 16 bytes is needed"));
                }
                key = Some(k);
            }
            "--interval" => {
                let v = value()?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s| (0.1..=3600.0).contains(s))
                    .ok_or_else(|| format!("--interval {v:?}: seconds in 0.1..=3600"))?;
                interval = Duration::from_secs_f64(s);
            }
            "--cgroup" => cgroup = Some(value()?),
            "--count" => {
                let v = value()?;
                count = Some(
                    v.parse()
                        .map_err(|_| format!("--count {v:?}: not a number"))?,
                );
            }
            "-v" | "--verbose" => verbose = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
        }
    }
    Ok(Opts {
        director: director.ok_or_else(|| format!("--director is required\n{USAGE}"))?,
        key: key.ok_or_else(|| format!("--key-file is required\n{USAGE}"))?,
        interval,
        cgroup,
        count,
        verbose,
    })
}

/// (idle, total) jiffies of all CPUs.
fn cpu_times() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let l = s.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = l
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((idle, v.iter().take(8).sum()))
}

fn kv_file(path: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()?.trim_end_matches(':') == key).then(|| w.next()?.parse().ok())?
    })
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// (MemAvailable, MemTotal) in KiB: the host's, or a cgroup's (limit less usage, plus its
/// reclaimable inactive file pages; the limit capped at the host's memory).
fn memory(cgroup: Option<&str>) -> Option<(u64, u64)> {
    let host_total = kv_file("/proc/meminfo", "MemTotal")?;
    let Some(cg) = cgroup else {
        return Some((kv_file("/proc/meminfo", "MemAvailable")?, host_total));
    };
    let (limit, usage, inactive) = if std::path::Path::new(&format!("{cg}/memory.max")).exists() {
        let max = std::fs::read_to_string(format!("{cg}/memory.max")).ok()?;
        let limit = max.trim().parse::<u64>().unwrap_or(u64::MAX);
        let usage = read_u64(&format!("{cg}/memory.current"))?;
        (
            limit,
            usage,
            kv_file(&format!("{cg}/memory.stat"), "inactive_file").unwrap_or(0),
        )
    } else {
        let limit = read_u64(&format!("{cg}/memory.limit_in_bytes"))?;
        let usage = read_u64(&format!("{cg}/memory.usage_in_bytes"))?;
        let inactive = kv_file(&format!("{cg}/memory.stat"), "total_inactive_file").unwrap_or(0);
        (limit, usage, inactive)
    };
    let total = (limit / 1024).min(host_total);
    let avail = (total * 1024)
        .saturating_sub(usage)
        .saturating_add(inactive)
        / 1024;
    Some((avail.min(total), total))
}

fn swap_pages() -> u64 {
    kv_file("/proc/vmstat", "pswpin").unwrap_or(0) + kv_file("/proc/vmstat", "pswpout").unwrap_or(0)
}

fn load1_milli() -> u32 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |l| (l * 1000.0) as u32)
}

/// Established TCP connections (state 01) in this network namespace.
fn established() -> u32 {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| {
            s.lines()
                .skip(1)
                .filter(|l| l.split_whitespace().nth(3) == Some("01"))
                .count() as u32
        })
        .sum()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn run(o: &Opts) -> Result<(), String> {
    let bind: SocketAddr = if o.director.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
    let mut cpu = cpu_times();
    let mut swap = swap_pages();
    let mut last = std::time::Instant::now();
    let mut seq = 0u64;
    let mut sent = 0u64;
    loop {
        std::thread::sleep(o.interval);
        let c = cpu_times();
        let idle = match (cpu, c) {
            (Some((i0, t0)), Some((i1, t1))) if t1 > t0 => ((i1 - i0) * 1000 / (t1 - t0)) as u16,
            _ => 1000,
        };
        cpu = c;
        let s = swap_pages();
        let secs = last.elapsed().as_secs_f64().max(0.001);
        last = std::time::Instant::now();
        let swap_rate = (s.saturating_sub(swap) as f64 / secs) as u32;
        swap = s;
        let (avail, total) = memory(o.cgroup.as_deref()).ok_or("cannot read memory figures")?;
        seq = now_ms().max(seq + 1);
        let r = Report {
            seq,
            cpu_idle_permille: idle,
            mem_available_kb: avail,
            mem_total_kb: total,
            swap_pages_per_s: swap_rate,
            load1_milli: load1_milli(),
            conns: established(),
        };
        if let Err(e) = sock.send_to(&r.encode(&o.key), o.director) {
            eprintln!("lvs_agent: send to {}: {e}", o.director);
        } else if o.verbose {
            println!(
                "seq={} idle={} avail_kb={} total_kb={} swap={} load1={} conns={}",
                r.seq, r.cpu_idle_permille, avail, total, swap_rate, r.load1_milli, r.conns
            );
        }
        sent += 1;
        if o.count.is_some_and(|n| sent >= n) {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            let help = args.iter().any(|a| a == "-h" || a == "--help");
            if help {
                println!("{e}");
                return ExitCode::SUCCESS;
            }
            eprintln!("lvs_agent: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lvs_agent: {e}");
            ExitCode::FAILURE
        }
    }
}
