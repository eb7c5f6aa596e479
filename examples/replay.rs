//! `replay`: a capture through the director, offline. Reads ipvsadm rules (what
//! `ipvsadm-save -n` prints) and a pcap or pcapng capture of what reached a director, runs
//! the library's director on the frames at the capture's timestamps, writes every frame it
//! sends to an output pcap and one CSV row per flow and verdict, and prints the
//! `ipvsadm -L -n` listing at the end. See `--help` for options and exit codes.
//!
//! ```text
//! cargo run --example replay -- --rules rules.txt --out out.pcap --csv flows.csv in.pcap
//! ```

#[path = "replay/capture.rs"]
mod capture;
#[path = "replay/engine.rs"]
mod engine;
#[path = "replay/flows.rs"]
mod flows;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capture::{Capture, CaptureError};
use engine::{Replay, Sched, Settings};
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::reconcile::{reconcile, RuleSet};
use lvs_core::ipvsadm::{
    cmp_dests, cmp_services, write_list, DestRow, ListHeader, ListMode, Rule, ServiceRow,
};
use lvs_core::sched::Scheduler;
use lvs_core::{Instant, IpAddr, Ipv4Addr, Ipv6Addr};
use lvs_forward::process::ProcessConfig;
use lvs_forward::wire::MacAddr;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};

const USAGE: &str = "\
usage: replay --rules FILE [options] CAPTURE

Runs the lvs director on a capture of what reached a director: reads the rules (the
ipvsadm-restore format, what `ipvsadm-save -n` prints) and CAPTURE (pcap or pcapng; link
types Ethernet, raw IP, Linux cooked), takes each frame at its capture time, writes every
frame the director sends (to real servers, NAT replies to clients, ICMP errors) to the
output pcap, a CSV row per flow and verdict, and prints `ipvsadm -L -n` at the end.

options:
  --rules FILE          the rules (required)
  --out FILE            output pcap (Ethernet) of the frames the director sends
  --csv FILE            per-flow CSV: proto,client,vip,real_server,verdict,packets,bytes
                        (verdict: to-real, to-client, icmp-error, local, drop:<cause>)
  --mac MAC             the director's MAC: frames for other unicast MACs are dropped
                        (other_mac), and output frames come from it (default: take every
                        frame; output frames come from the MAC the input frame was sent to)
  --neigh IP=MAC        a next hop's MAC (repeat); others are learned from the capture: ARP
                        senders, and the source MAC of each address's IP packets. Frames to
                        a next hop never learned get 00:00:00:00:00:00 (counted unresolved)
  --tunnel-src IP       outer source of IPIP/GUE tunnels (repeat for IPv4 and IPv6)
  --mtu N               largest IP packet (1500); longer frames (GSO/GRO super-frames in
                        a capture taken on a host) are dropped, counted as oversize
  --fix-checksums       recompute TCP/UDP checksums of input packets first (a capture taken
                        on a host with checksum offload holds partial checksums)
  --conns N             connection table size (65536, rounded up to a power of two)
  --seed N              hash and scheduler seed (1)
  --stats               list with --stats --exact counters instead of -L -n
  --strict              exit 6 if any frame was oversize, cut short by the snap length, of
                        an unreadable link header, or earlier than the frame before
  -h, --help            this text

Bad input never stops the run silently: dropped frames are counted by cause in the summary
line on stderr (`replay: frames=... written=... dropped=... drops: cause=n ...`); a
timestamp earlier than the previous frame's is taken at the previous time (time_backwards).

exit codes:
  0  the whole capture was replayed
  1  an output file could not be written
  2  bad command line
  3  the rules file cannot be read, or a line is rejected (each reported with its number)
  4  the capture cannot be read: missing, not pcap/pcapng, or an unsupported link type
  5  the capture is truncated or damaged: the frames before were replayed and written
  6  --strict, and frames were oversize, cut short, unreadable or out of time order";

mod exit {
    pub const OK: u8 = 0;
    pub const OUTPUT: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const RULES: u8 = 3;
    pub const CAPTURE: u8 = 4;
    pub const TRUNCATED: u8 = 5;
    pub const STRICT: u8 = 6;
}

#[derive(Debug)]
struct Args {
    rules: PathBuf,
    capture: PathBuf,
    out: Option<PathBuf>,
    csv: Option<PathBuf>,
    mac: Option<MacAddr>,
    neigh: Vec<(IpAddr, MacAddr)>,
    tunnel_v4: Ipv4Addr,
    tunnel_v6: Ipv6Addr,
    mtu: u32,
    fix_checksums: bool,
    conns: usize,
    seed: u64,
    stats: bool,
    strict: bool,
}

fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("bad MAC address {s:?} (want aa:bb:cc:dd:ee:ff)");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(MacAddr(m))
}

fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        rules: PathBuf::new(),
        capture: PathBuf::new(),
        out: None,
        csv: None,
        mac: None,
        neigh: Vec::new(),
        tunnel_v4: Ipv4Addr::UNSPECIFIED,
        tunnel_v6: Ipv6Addr::UNSPECIFIED,
        mtu: 1500,
        fix_checksums: false,
        conns: 65_536,
        seed: 1,
        stats: false,
        strict: false,
    };
    let (mut rules, mut capture) = (None, None);
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: {v:?} is not a number"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--rules" => rules = Some(PathBuf::from(value("--rules")?)),
            "--out" => a.out = Some(PathBuf::from(value("--out")?)),
            "--csv" => a.csv = Some(PathBuf::from(value("--csv")?)),
            "--mac" => a.mac = Some(parse_mac(&value("--mac")?)?),
            "--neigh" => {
                let v = value("--neigh")?;
                let (ip, mac) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--neigh {v:?}: want IP=MAC"))?;
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("--neigh: bad address {ip:?}"))?;
                a.neigh.push((ip, parse_mac(mac)?));
            }
            "--tunnel-src" => {
                let v = value("--tunnel-src")?;
                match v.parse::<IpAddr>() {
                    Ok(IpAddr::V4(x)) => a.tunnel_v4 = x,
                    Ok(IpAddr::V6(x)) => a.tunnel_v6 = x,
                    Err(_) => return Err(format!("--tunnel-src: bad address {v:?}")),
                }
            }
            "--mtu" => {
                let v = num("--mtu", value("--mtu")?)?;
                if !(68..=65_535).contains(&v) {
                    return Err(format!("--mtu {v}: want 68..=65535"));
                }
                a.mtu = v as u32;
            }
            "--conns" => {
                let v = num("--conns", value("--conns")?)?;
                if !(2..=1 << 24).contains(&v) {
                    return Err(format!("--conns {v}: want 2..=16777216"));
                }
                a.conns = v as usize;
            }
            "--seed" => a.seed = num("--seed", value("--seed")?)?,
            "--fix-checksums" => a.fix_checksums = true,
            "--stats" => a.stats = true,
            "--strict" => a.strict = true,
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            s => {
                if capture.replace(PathBuf::from(s)).is_some() {
                    return Err("one capture at a time".into());
                }
            }
        }
    }
    a.rules = rules.ok_or("--rules FILE is required")?;
    a.capture = capture.ok_or("no capture given")?;
    Ok(Some(a))
}

/// Reads and checks the rules (every scheduler must exist).
fn load_rules(path: &PathBuf, seed: u64) -> Result<RuleSet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    RuleSet::from_text_with(&text, |rule| match rule {
        Rule::AddService {
            scheduler, flags, ..
        }
        | Rule::EditService {
            scheduler, flags, ..
        } => Sched::from_name(scheduler, *flags, seed).map(drop),
        _ => Ok(()),
    })
    .map_err(|errs| {
        let lines: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect();
        lines.join("\n")
    })
}

/// `ipvsadm -L -n` (or `--stats --exact`) of the director, sorted as ipvsadm sorts.
fn listing(dir: &Director<'_, Sched>, stats: bool) -> String {
    let mut svcs: Vec<_> = dir.services().collect();
    svcs.sort_by(|a, b| cmp_services(&a.1.config.key, &b.1.config.key));
    let rows = svcs.into_iter().map(|(id, s)| {
        let mut dests: Vec<DestRow> = dir
            .dests(id)
            .iter()
            .map(|(did, d)| {
                let mut r = DestRow::from_dest(d);
                if let Some(st) = dir.dest_stats(did) {
                    r.counters = st.counters;
                }
                r
            })
            .collect();
        dests.sort_by(|a, b| cmp_dests(&a.addr, &b.addr));
        let mut row = ServiceRow::new(&s.config, s.sched.name(), dests);
        row.flags = s.sched.sched_flags();
        row.counters = s.stats.counters;
        row
    });
    let mode = if stats {
        ListMode::Stats { exact: true }
    } else {
        ListMode::Plain
    };
    let mut out = String::new();
    let header = ListHeader::new(dir.table().capacity() as u32);
    let _ = write_list(&mut out, &header, rows, mode);
    out
}

fn create(path: &PathBuf) -> Result<BufWriter<File>, String> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run(a: &Args) -> Result<u8, (u8, String)> {
    let set = load_rules(&a.rules, a.seed).map_err(|e| (exit::RULES, e))?;
    let mut capture = Capture::open(&a.capture)
        .map_err(|e| (exit::CAPTURE, format!("{}: {e}", a.capture.display())))?;
    let out_err = |e: String| (exit::OUTPUT, e);
    let mut pcap = match &a.out {
        Some(p) => {
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                snaplen: 65_535,
                endianness: Endianness::Little,
                ..PcapHeader::default()
            };
            Some(
                PcapWriter::with_header(create(p).map_err(out_err)?, header)
                    .map_err(|e| out_err(format!("{}: {e}", p.display())))?,
            )
        }
        None => None,
    };

    let services = set.services.len().max(1);
    let dests = set
        .services
        .iter()
        .map(|s| s.dests.len())
        .sum::<usize>()
        .max(1);
    let mut mem = OwnedMemory::new(a.conns, services, dests);
    let cfg = DirectorConfig::new(SipKey(a.seed, a.seed.rotate_left(32) ^ 0x5eed));
    let mut dir = Director::new(cfg, mem.borrow(), Instant::ZERO)
        .map_err(|e| (exit::RULES, format!("director: {e}")))?;
    reconcile(&mut dir, &set, |spec, i| {
        // names were checked when the rules were read
        Sched::from_name(&spec.scheduler, spec.flags, a.seed ^ i as u64)
            .or_else(|_| Sched::from_name("wlc", spec.flags, 0))
            .expect("wlc exists")
    })
    .map_err(|e| (exit::RULES, format!("{}: {e}", a.rules.display())))?;

    let mut process = ProcessConfig::new(a.tunnel_v4, a.tunnel_v6, SipKey(a.seed, 7));
    process.mtu = a.mtu;
    let mut replay = Replay::new(
        dir,
        Settings {
            mac: a.mac,
            neigh: a.neigh.clone(),
            mtu: a.mtu,
            fix_checksums: a.fix_checksums,
            process,
        },
    );

    let mut frame = Vec::with_capacity(2048);
    let mut write_error: Option<String> = None;
    let mut end: Option<CaptureError> = None;
    while let Some(r) = capture.next_frame(&mut frame) {
        let info = match r {
            Ok(i) => i,
            Err(e) => {
                end = Some(e);
                break;
            }
        };
        let mut emit = |ts: Duration, f: &[u8]| {
            if let (Some(w), None) = (pcap.as_mut(), &write_error) {
                let p = PcapPacket::new(
                    Duration::from_micros(ts.as_micros() as u64),
                    f.len() as u32,
                    f,
                );
                if let Err(e) = w.write_packet(&p) {
                    write_error = Some(e.to_string());
                }
            }
        };
        replay.frame(
            info.ts,
            &frame,
            info.caplen < info.orig_len,
            info.bad_link_header,
            &mut emit,
        );
    }

    // outputs hold everything replayed, even when the capture ended in a damaged record
    if let Some(mut w) = pcap.map(PcapWriter::into_writer) {
        if let Err(e) = w.flush() {
            write_error.get_or_insert(e.to_string());
        }
    }
    if let Some(msg) = write_error {
        let p = a
            .out
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err((exit::OUTPUT, format!("{p}: {msg}")));
    }
    if let Some(p) = &a.csv {
        let mut w = create(p).map_err(out_err)?;
        replay
            .flows
            .write_csv(&mut w)
            .and_then(|()| w.flush())
            .map_err(|e| out_err(format!("{}: {e}", p.display())))?;
    }

    print!("{}", listing(&replay.dir, a.stats));
    let c = &replay.counts;
    let mut drops = String::new();
    for (k, v) in &c.drops {
        drops.push_str(&format!(" {k}={v}"));
    }
    eprintln!(
        "replay: frames={} to-real={} to-client={} icmp-errors={} arp={} local={} written={} \
         unresolved={} time-backwards={} dropped={} flows={} drops:{}",
        c.frames,
        c.to_real,
        c.to_client,
        c.icmp_errors,
        c.arp,
        c.local,
        c.written,
        c.unresolved,
        c.time_backwards,
        c.dropped(),
        replay.flows.flow_count(),
        if drops.is_empty() { " none" } else { &drops }
    );
    if let Some(e) = end {
        let code = match e {
            CaptureError::LinkType(_) | CaptureError::Format(_) => exit::CAPTURE,
            _ => exit::TRUNCATED,
        };
        return Err((code, format!("{}: {e}", a.capture.display())));
    }
    if a.strict && c.anomalies() > 0 {
        return Err((
            exit::STRICT,
            format!("--strict: {} frames out of the ordinary", c.anomalies()),
        ));
    }
    Ok(exit::OK)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            eprintln!("replay: {e}\n\n{USAGE}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err((code, msg)) => {
            eprintln!("replay: {msg}");
            ExitCode::from(code)
        }
    }
}
