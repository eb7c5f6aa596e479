//! dataplane: lvsd's packet path against the kernel's, on the same namespaces, loads and machine.
//!
//! ```text
//! cargo run --release -p lvs-examples --example dataplane -- --out DIR [--secs N] [--systems S]
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
//! lvsd's utime + stime, the kernel's softirq time (see the script's header). `lvsdcap:1` is
//! lvsd held to a CPU share by a CFS quota (`DP_CAP`, default 0.30), UDP only
//! (`udp64_capped_pps`, `udp64_capped_overload_pps`): one sender core cannot offer twice an
//! uncapped director's peak on a two-core machine, but it can offer twice a capped one's, so
//! the overload behaviour is measured there.
//!
//! Writes `DIR/dataplane.csv` (`system,workers,workload,value,unit,cpu_cores`) and
//! `DIR/dataplane.svg`, and prints the table with the lvsd/nftables ratios.
//!
//! `dataplane udp-send --dst IP:PORT --flows N --payload BYTES --secs S --rate PPS
//! [--raw IFACE --src IP --dst-mac MAC]` is the sender (0 = as fast as it goes), paced to the
//! rate; prints the number of datagrams sent. Without `--raw`: N connected UDP sockets, bursts
//! of 64 datagrams on one socket per `sendmmsg(2)`. With `--raw` (what the script uses): N
//! prebuilt Ethernet frames (source ports 10000..), bursts of 64 interleaving the flows by
//! `sendmmsg(2)` on an `AF_PACKET` socket bound to IFACE with `PACKET_QDISC_BYPASS`. When one
//! sender cannot offer twice the peak, the script adds a second one on CPU 1 (it then competes
//! with the director for that CPU; the overload row says how many senders and what they offered).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured figure.
#[derive(Debug, Clone)]
struct Row {
    system: String,
    workers: u32,
    workload: String,
    value: f64,
    unit: String,
    cpu_cores: f64,
    /// Overload rows: the rate the senders offered, and how many senders (CPUs) offered it.
    offered: Option<(f64, u32)>,
    /// Capped rows: the share of one CPU lvsd was held to.
    cap: Option<f64>,
}

impl Row {
    /// Parses `RESULT system=.. workers=.. workload=.. value=.. unit=.. cpu_cores=..`.
    fn parse(line: &str) -> Option<Row> {
        let rest = line.strip_prefix("RESULT ")?;
        let kv: std::collections::HashMap<&str, &str> = rest
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        Some(Row {
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
            cap: kv.get("cap").and_then(|c| c.parse().ok()),
        })
    }

    /// Parses a line of `dataplane.csv` (which keeps neither the offered rate nor the cap).
    fn from_csv(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.split(',').collect();
        let [system, workers, workload, value, unit, cpu_cores] = f.as_slice() else {
            return None;
        };
        Some(Row {
            system: system.to_string(),
            workers: workers.parse().ok()?,
            workload: workload.to_string(),
            value: value.parse().ok()?,
            unit: unit.to_string(),
            cpu_cores: cpu_cores.parse().ok()?,
            offered: None,
            cap: None,
        })
    }

    /// Units of work per director CPU second.
    fn per_cpu_s(&self) -> f64 {
        self.value / self.cpu_cores.max(1e-9)
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: dataplane --out DIR [--secs N] [--systems \"nftables:1 lvsd:1 lvsd:2 lvsdcap:1\"]   (as root)\n\
         \x20      dataplane udp-send --dst IP:PORT [--flows N] [--payload B] [--secs S] [--rate PPS]\n\
         \x20      dataplane plot CSV OUT_SVG   (redraw the plot of an earlier run's dataplane.csv)"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("udp-send") {
        match udp_send(&args[1..]) {
            Ok(n) => println!("{n}"),
            Err(e) => {
                eprintln!("dataplane udp-send: {e}");
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
        if let Err(e) = std::fs::write(svg, to_svg(&rows)) {
            eprintln!("dataplane plot: {svg}: {e}");
            std::process::exit(1);
        }
        print!("{}", table(&rows));
        return;
    }
    let mut out: Option<PathBuf> = None;
    let mut secs = 4u32;
    let mut systems = String::from("nftables:1 lvsd:1 lvsd:2 lvsdcap:1");
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
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    if let Err(e) = run(&out, secs, &systems) {
        eprintln!("dataplane: {e}");
        std::process::exit(1);
    }
}

// ----- the sender --------------------------------------------------------------------------------

/// Datagrams per `sendmmsg` call.
const SEND_BURST: usize = 64;

/// `SOL_PACKET` option: hand frames straight to the driver, past the qdisc layer.
const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// The sender's options.
struct SendOpts {
    dst: SocketAddr,
    flows: usize,
    payload: usize,
    secs: f64,
    rate: f64,
    /// Raw mode: the interface, our IPv4 source and the next hop's MAC.
    raw: Option<(String, std::net::Ipv4Addr, [u8; 6])>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for (i, p) in s.trim().split(':').enumerate() {
        *m.get_mut(i)? = u8::from_str_radix(p, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(m)
}

/// The Internet checksum of `data` folded onto `sum`.
fn csum(mut sum: u32, data: &[u8]) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One complete Ethernet + IPv4 + UDP frame from `src:sport` to `dst` (checksums filled).
fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: std::net::Ipv4Addr,
    sport: u16,
    dst: std::net::SocketAddrV4,
    payload: usize,
) -> Vec<u8> {
    let ulen = 8 + payload;
    let ilen = 20 + ulen;
    let mut f = Vec::with_capacity(14 + ilen);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip = f.len();
    f.extend_from_slice(&[
        0x45,
        0,
        (ilen >> 8) as u8,
        ilen as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.ip().octets());
    let c = csum(0, &f[ip..ip + 20]);
    f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    let udp = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&[(ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.resize(udp + ulen, 0x5a);
    // pseudo-header: addresses, protocol, UDP length
    let mut ph = Vec::with_capacity(12);
    ph.extend_from_slice(&f[ip + 12..ip + 20]);
    ph.extend_from_slice(&[0, 17, (ulen >> 8) as u8, ulen as u8]);
    let sum: u32 = ph
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
        .sum();
    let c = match csum(sum, &f[udp..]) {
        0 => 0xffff,
        c => c,
    };
    f[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
    f
}

fn udp_send(args: &[String]) -> Result<u64, String> {
    let mut dst: Option<SocketAddr> = None;
    let (mut flows, mut payload, mut secs, mut rate) = (64usize, 18usize, 2.0f64, 0.0f64);
    let (mut iface, mut src, mut dst_mac) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a}: value missing"))?;
        let bad = || format!("{a} {v:?}: not a number");
        match a.as_str() {
            "--dst" => dst = Some(v.parse().map_err(|_| format!("--dst {v:?}"))?),
            "--flows" => flows = v.parse().map_err(|_| bad())?,
            "--payload" => payload = v.parse().map_err(|_| bad())?,
            "--secs" => secs = v.parse().map_err(|_| bad())?,
            "--rate" => rate = v.parse().map_err(|_| bad())?,
            "--raw" => iface = Some(v.clone()),
            "--src" => src = Some(v.parse().map_err(|_| format!("--src {v:?}"))?),
            "--dst-mac" => dst_mac = Some(parse_mac(v).ok_or_else(|| format!("--dst-mac {v:?}"))?),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    let raw = match (iface, src, dst_mac) {
        (Some(i), Some(s), Some(m)) => Some((i, s, m)),
        (None, None, None) => None,
        _ => return Err("--raw needs --src and --dst-mac".into()),
    };
    let o = SendOpts {
        dst: dst.ok_or("--dst is required")?,
        flows: flows.clamp(1, 4096),
        payload,
        secs,
        rate,
        raw,
    };
    if o.raw.is_some() {
        raw_send(&o)
    } else {
        socket_send(&o)
    }
}

/// Sends bursts by `send(k)` (returns frames sent, or <= 0) for `o.secs`, paced to `o.rate`.
fn paced(o: &SendOpts, mut send: impl FnMut(usize) -> isize) -> u64 {
    let start = Instant::now();
    let end = Duration::from_secs_f64(o.secs);
    let mut sent = 0u64;
    let mut k = 0usize;
    loop {
        let t = start.elapsed();
        if t >= end {
            break;
        }
        if o.rate > 0.0 {
            // pacing: frame number `sent` is due at sent/rate seconds
            let due = Duration::from_secs_f64(sent as f64 / o.rate);
            if due > t {
                let ahead = due - t;
                if ahead > Duration::from_micros(200) {
                    std::thread::sleep(ahead - Duration::from_micros(100));
                }
                continue;
            }
        }
        let n = send(k);
        k += 1;
        if n > 0 {
            sent += n as u64;
        } else {
            // ENOBUFS and friends: the path is full; count nothing, try again
            std::thread::yield_now();
        }
    }
    sent
}

/// `o.flows` connected UDP sockets, a burst of `SEND_BURST` datagrams on one socket per call.
fn socket_send(o: &SendOpts) -> Result<u64, String> {
    let socks: Vec<UdpSocket> = (0..o.flows)
        .map(|_| {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(o.dst)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("socket: {e}"))?;
    let buf = vec![0x5au8; o.payload];
    let mut iov = [libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value (no name, no control).
    let mut msgs: [libc::mmsghdr; SEND_BURST] = unsafe { std::mem::zeroed() };
    for m in msgs.iter_mut() {
        m.msg_hdr.msg_iov = iov.as_mut_ptr();
        m.msg_hdr.msg_iovlen = 1;
    }
    Ok(paced(o, |k| {
        let fd = socks[k % socks.len()].as_raw_fd();
        // SAFETY: `msgs` holds SEND_BURST headers, each pointing at `iov`, which points at
        // `buf`; all live across the call, and the kernel only reads them.
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), SEND_BURST as u32, 0) as isize }
    }))
}

/// Prebuilt Ethernet frames (one per flow: source ports 10000..) written by `sendmmsg` on an
/// `AF_PACKET` socket bound to the interface, past the qdisc (`PACKET_QDISC_BYPASS`): no UDP
/// socket, route or neighbour lookup per datagram, the flows interleaved within each burst.
fn raw_send(o: &SendOpts) -> Result<u64, String> {
    let (iface, src, dst_mac) = o.raw.as_ref().ok_or("not raw")?;
    let SocketAddr::V4(dst) = o.dst else {
        return Err("--raw: IPv4 only".into());
    };
    let mac_txt = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .map_err(|e| format!("{iface}: {e}"))?;
    let src_mac = parse_mac(&mac_txt).ok_or_else(|| format!("{iface}: MAC {mac_txt:?}"))?;
    let cname = std::ffi::CString::new(iface.as_str()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated name; the call only reads it.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("{iface}: no such interface"));
    }
    let frames: Vec<Vec<u8>> = (0..o.flows)
        .map(|i| udp_frame(src_mac, *dst_mac, *src, 10000 + i as u16, dst, o.payload))
        .collect();
    // protocol 0: the socket receives nothing
    // SAFETY: plain system call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` is ours and closed only by this owner.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: a c_int option of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!(
            "PACKET_QDISC_BYPASS: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: sockaddr_ll is plain old data.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!("bind {iface}: {}", std::io::Error::last_os_error()));
    }
    let mut iovs: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value (no name, no control).
    let mut msgs: [libc::mmsghdr; SEND_BURST] = unsafe { std::mem::zeroed() };
    let mut next = 0usize;
    Ok(paced(o, |_| {
        for m in msgs.iter_mut() {
            m.msg_hdr.msg_iov = &mut iovs[next];
            m.msg_hdr.msg_iovlen = 1;
            next = (next + 1) % iovs.len();
        }
        // SAFETY: `msgs` holds SEND_BURST headers, each pointing at one iovec of `iovs`, which
        // point at `frames`; all live across the call, and the kernel only reads them.
        unsafe {
            libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), SEND_BURST as u32, 0) as isize
        }
    }))
}

// ----- the driver --------------------------------------------------------------------------------

fn run(out: &Path, secs: u32, systems: &str) -> Result<(), String> {
    for tool in ["ip", "nft", "iperf3", "wrk", "taskset", "python3", "flock"] {
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
    eprintln!("dataplane: {} ({secs} s per run)", script.display());
    let mut child = Command::new("flock")
        .arg("/tmp/lvs-netns.lock")
        .arg("bash")
        .arg(&script)
        .arg(&lvsd)
        .arg(&exe)
        .arg(systems)
        .env("DP_SECS", secs.to_string())
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
            done |= line == "DATAPLANE DONE";
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    if !st.success() || !done {
        return Err(format!("{} failed ({st})", script.display()));
    }
    let csv = out.join("dataplane.csv");
    std::fs::write(&csv, to_csv(&rows)).map_err(|e| format!("{}: {e}", csv.display()))?;
    let svg = out.join("dataplane.svg");
    std::fs::write(&svg, to_svg(&rows)).map_err(|e| format!("{}: {e}", svg.display()))?;
    print!("{}", table(&rows));
    eprintln!("dataplane: wrote {} and {}", csv.display(), svg.display());
    Ok(())
}

fn to_csv(rows: &[Row]) -> String {
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

fn find<'a>(rows: &'a [Row], system: &str, workers: u32, workload: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.system == system && r.workers == workers && r.workload == workload)
}

const WORKLOADS: [&str; 6] = [
    "udp64_pps",
    "udp64_overload_pps",
    "tcp_bulk_gbit",
    "tcp_cps",
    "udp64_capped_pps",
    "udp64_capped_overload_pps",
];

/// The peak and overload workloads measured together.
const OVERLOADS: [(&str, &str); 2] = [
    ("udp64_pps", "udp64_overload_pps"),
    ("udp64_capped_pps", "udp64_capped_overload_pps"),
];

/// The Markdown table, then each lvsd row's ratios to nftables (value, and work per director
/// CPU second), the overload row against the peak, and the workers' efficiency.
fn table(rows: &[Row]) -> String {
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
    let mut workers: Vec<u32> = rows
        .iter()
        .filter(|r| r.system == "lvsd")
        .map(|r| r.workers)
        .collect();
    workers.sort_unstable();
    workers.dedup();
    for (sys, w) in std::iter::once(("nftables", 1)).chain(workers.iter().map(|w| ("lvsd", *w))) {
        for (peak, over) in OVERLOADS {
            if let (Some(p), Some(o)) = (find(rows, sys, w, peak), find(rows, sys, w, over)) {
                let (offered, senders) = o.offered.unwrap_or((f64::NAN, 0));
                let held = match o.cap {
                    Some(c) => format!(" held to {c:.2} CPU"),
                    None => String::new(),
                };
                let _ = writeln!(
                    s,
                    "{sys} x{w}{held} offered {:.2}x its peak ({senders} sender CPU(s)) delivers {:.1} % of the peak",
                    offered / p.value.max(1e-9),
                    100.0 * o.value / p.value.max(1e-9)
                );
            }
        }
    }
    for w in &workers {
        for wl in WORKLOADS {
            if let (Some(l), Some(k)) = (find(rows, "lvsd", *w, wl), find(rows, "nftables", 1, wl))
            {
                let _ = writeln!(
                    s,
                    "lvsd x{w}/nftables {wl}: value {:.2}, per director CPU second {:.2}",
                    l.value / k.value.max(1e-9),
                    l.per_cpu_s() / k.per_cpu_s().max(1e-9)
                );
            }
        }
        if let (Some(one), Some(n)) = (
            find(rows, "lvsd", 1, "udp64_pps"),
            find(rows, "lvsd", *w, "udp64_pps"),
        ) {
            if *w > 1 {
                let _ = writeln!(
                    s,
                    "lvsd x{w}: packets per CPU second {:.2} of one worker's",
                    n.per_cpu_s() / one.per_cpu_s().max(1e-9)
                );
            }
        }
    }
    s
}

/// One bar panel per workload, one bar per system, labelled with the value and the work per
/// director CPU second.
fn to_svg(rows: &[Row]) -> String {
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
            let label = if sys == "lvsd" {
                format!("lvsd x{wk}")
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
        ]
        .iter()
        .filter_map(|l| Row::parse(l))
        .collect();
        assert_eq!(rows.len(), 5);
        let t = table(&rows);
        assert!(t.contains("lvsd x1/nftables udp64_pps: value 0.50, per director CPU second 0.90"));
        assert!(t.contains(
            "lvsd x1 offered 2.00x its peak (2 sender CPU(s)) delivers 97.8 % of the peak"
        ));
        assert!(t.contains(
            "lvsd x1 held to 0.30 CPU offered 2.00x its peak (1 sender CPU(s)) delivers 99.0 % of the peak"
        ));
        let again: Vec<Row> = to_csv(&rows)
            .lines()
            .skip(1)
            .filter_map(Row::from_csv)
            .collect();
        assert_eq!(again.len(), rows.len());
        assert_eq!(to_svg(&again), to_svg(&rows));
        assert!(to_csv(&rows).starts_with("system,workers,workload,value,unit,cpu_cores\nnftables,1,udp64_pps,900000.000,pps,0.900\n"));
        assert!(to_svg(&rows).contains("not measured"));
        assert!(Row::parse("RESULT system=x").is_none());
    }

    #[test]
    fn raw_frames_are_64_bytes_on_the_wire_with_valid_checksums() {
        let dst: std::net::SocketAddrV4 = "198.18.2.10:5001".parse().unwrap();
        let src = "198.18.0.2".parse().unwrap();
        let f = udp_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], src, 10007, dst, 18);
        assert_eq!(f.len() + 4, 64, "60 bytes + the FCS");
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(csum(0, &f[14..34]), 0, "IPv4 header checksum");
        let ph: u32 = [&f[26..34], &[0, 17, 0, 26][..]]
            .concat()
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
            .sum();
        assert_eq!(csum(ph, &f[34..]), 0, "UDP checksum");
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 10007);
        assert_eq!(
            parse_mac("0a:1b:2c:3d:4e:5f\n"),
            Some([10, 27, 44, 61, 78, 95])
        );
        assert_eq!(parse_mac("0a:1b"), None);
    }
}
