//! The `replay` example on captures this test writes itself: frames built with etherparse,
//! the pcap and pcapng files laid out by hand here (not with the crate the tool reads them
//! with), and the outputs read back the same independent way: pcap records parsed here,
//! packets and their checksums by etherparse, the CSV split by hand.
//!
//! Then the bad inputs the tool must survive, each with its exit code: a truncated capture, an
//! unknown link type, a file that is no capture, frames over the MTU, timestamps going
//! backwards (`--strict`), bad rules and a bad command line.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

const DIRECTOR: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd1];
const ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const VIP: [u8; 4] = [198, 18, 0, 10];
const RULES: &str = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:8080 -m -w 1
-A -u 198.18.0.10:53 -s sh
-a -u 198.18.0.10:53 -r 198.18.1.13:53 -g -w 1
";

fn rs_mac(last: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 1, last]
}

fn client(c: u8) -> ([u8; 4], u16) {
    ([198, 19, 0, 10 + c], 40_000 + u16::from(c))
}

/// The replay binary, built into this test's target directory.
fn replay_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target");
    let profile = profile_dir.file_name().expect("profile").to_string_lossy();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples", "--example", "replay"])
        .arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo").success(), "building replay");
    target.join(&*profile).join("examples").join("replay")
}

fn tcp_frame(
    src_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, DIRECTOR).ipv4(src.0, dst.0, 64);
    let b = match flags {
        "S" => b.tcp(src.1, dst.1, 1000, 64_000).syn(),
        "SA" => b.tcp(src.1, dst.1, 9000, 64_000).syn().ack(1001),
        _ => b.tcp(src.1, dst.1, 1001, 64_000).ack(9001).psh(),
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("etherparse writes");
    v
}

fn udp_frame(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(ROUTER, DIRECTOR)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("etherparse writes");
    v
}

/// An ARP reply from `ip` at `mac` to the director.
fn arp_reply(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DIRECTOR);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&DIRECTOR);
    f.extend_from_slice(&[198, 18, 1, 1]);
    f
}

/// A classic pcap file (microsecond timestamps, little-endian) of `frames`.
fn pcap(link: u32, frames: &[(f64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&link.to_le_bytes());
    for (t, f) in frames {
        let us = (t * 1e6).round() as u64;
        out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// A pcapng file: section header, one Ethernet interface (default microsecond unit), an
/// enhanced packet block per frame.
fn pcapng(frames: &[(f64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let len = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (len - 12 - body.len()), 0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65_535u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for (t, f) in frames {
        let us = (t * 1e6).round() as u64;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(f.len() as u32).to_le_bytes());
        epb.extend_from_slice(f);
        epb.resize(20 + f.len().div_ceil(4) * 4, 0);
        block(&mut out, 6, &epb);
    }
    out
}

/// The records of a pcap file written by the tool: (timestamp in µs, frame).
fn read_pcap(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    assert!(bytes.len() >= 24, "no pcap header");
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0xa1b2_c3d4, "little-endian microsecond pcap");
    assert_eq!(u32_at(20), 1, "link type Ethernet");
    let mut out = Vec::new();
    let mut i = 24;
    while i < bytes.len() {
        let (sec, usec, incl, orig) = (u32_at(i), u32_at(i + 4), u32_at(i + 8), u32_at(i + 12));
        assert_eq!(incl, orig);
        let end = i + 16 + incl as usize;
        out.push((
            u64::from(sec) * 1_000_000 + u64::from(usec),
            bytes[i + 16..end].to_vec(),
        ));
        i = end;
    }
    assert_eq!(i, bytes.len(), "pcap ends on a record boundary");
    out
}

/// One output frame as etherparse reads it, all checksums verified.
#[derive(Debug)]
struct Seen {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    ttl: u8,
    tcp: bool,
}

fn seen(frame: &[u8]) -> Seen {
    let s = SlicedPacket::from_ethernet(frame).expect("etherparse parses the output frame");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = s.link.as_ref() else {
        panic!("not Ethernet II")
    };
    let (dst_mac, src_mac) = (eth.destination(), eth.source());
    let Some(NetSlice::Ipv4(v4)) = s.net.as_ref() else {
        panic!("not IPv4")
    };
    let h = v4.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
    let (a, b) = (h.source, h.destination);
    let (sp, dp, tcp) = match s.transport.expect("transport") {
        TransportSlice::Tcp(t) => {
            assert_eq!(
                t.calc_checksum_ipv4(a, b).unwrap(),
                t.checksum(),
                "TCP checksum"
            );
            (t.source_port(), t.destination_port(), true)
        }
        TransportSlice::Udp(u) => {
            let calc = u
                .to_header()
                .calc_checksum_ipv4_raw(a, b, u.payload())
                .unwrap();
            assert_eq!(calc, u.checksum(), "UDP checksum");
            (u.source_port(), u.destination_port(), false)
        }
        other => panic!("unexpected transport {other:?}"),
    };
    Seen {
        dst_mac,
        src_mac,
        src: (a.into(), sp),
        dst: (b.into(), dp),
        ttl: h.time_to_live,
        tcp,
    }
}

/// The scripted capture: ARP replies from two NAT servers, four clients' handshakes and
/// requests, the servers' answers, a DNS query over direct routing, and the odd ones out.
fn script() -> Vec<(f64, Vec<u8>)> {
    let vip = (VIP, 80);
    let mut f = vec![
        (1.0, arp_reply(rs_mac(11), [198, 18, 1, 11])),
        (1.001, arp_reply(rs_mac(12), [198, 18, 1, 12])),
    ];
    let mut t = 1.01;
    for c in 0..4 {
        f.push((t, tcp_frame(ROUTER, client(c), vip, "S", b"")));
        t += 0.001;
    }
    // rr, as the kernel's: real servers are listed newest first, so clients 0 and 2 went to
    // .12, 1 and 3 to .11
    for c in 0..4u8 {
        let rs = if c % 2 == 0 { 12 } else { 11 };
        f.push((
            t,
            tcp_frame(rs_mac(rs), ([198, 18, 1, rs], 8080), client(c), "SA", b""),
        ));
        f.push((
            t + 0.0005,
            tcp_frame(ROUTER, client(c), vip, "A", b"GET / HTTP/1.0\r\n\r\n"),
        ));
        t += 0.001;
    }
    f.push((t, udp_frame(client(0), (VIP, 53), b"query")));
    // no service on port 81: for the host, not forwarded
    f.push((t + 0.001, tcp_frame(ROUTER, client(1), (VIP, 81), "S", b"")));
    // over the MTU
    f.push((
        t + 0.002,
        tcp_frame(ROUTER, client(2), vip, "A", &[7u8; 1600]),
    ));
    // earlier than the frame before: taken at the later time
    f.push((t - 0.5, tcp_frame(ROUTER, client(3), vip, "A", b"late")));
    f
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    frames: Vec<(u64, Vec<u8>)>,
    csv: String,
}

fn run(dir: &Path, capture: &[u8], rules: &str, extra: &[&str]) -> Run {
    let bin = replay_bin();
    std::fs::write(dir.join("rules"), rules).unwrap();
    std::fs::write(dir.join("in.cap"), capture).unwrap();
    let _ = std::fs::remove_file(dir.join("out.pcap"));
    let _ = std::fs::remove_file(dir.join("flows.csv"));
    let o: Output = Command::new(bin)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--out")
        .arg(dir.join("out.pcap"))
        .arg("--csv")
        .arg(dir.join("flows.csv"))
        .args(extra)
        .arg(dir.join("in.cap"))
        .output()
        .expect("running replay");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "replay panicked:\n{stderr}");
    Run {
        code: o.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr,
        frames: std::fs::read(dir.join("out.pcap"))
            .map(|b| read_pcap(&b))
            .unwrap_or_default(),
        csv: std::fs::read_to_string(dir.join("flows.csv")).unwrap_or_default(),
    }
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lvs-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The counter `key=` of the summary line.
fn summary(stderr: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("replay: frames="))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(0)
}

fn check_script_outputs(r: &Run) {
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 4 SYN + 4 requests + the late one to servers, 4 SYN-ACK replies to clients, 1 DNS query
    assert_eq!(r.frames.len(), 14, "{}", r.stderr);
    let vip = Ipv4Addr::from(VIP);
    let mut to_rs: HashMap<u8, usize> = HashMap::new();
    for (_, f) in &r.frames {
        let s = seen(f);
        assert_eq!(s.src_mac, DIRECTOR);
        assert_eq!(s.ttl, 63, "TTL decremented");
        if s.tcp && s.dst.1 == 8080 {
            // NAT to a real server: destination rewritten, next hop's MAC learned from ARP
            let last = s.dst.0.octets()[3];
            assert_eq!(s.dst_mac, rs_mac(last));
            *to_rs.entry(last).or_default() += 1;
        } else if s.tcp {
            // NAT reply: from the VIP to the client, back the way the client's frames came
            assert_eq!(s.src, (vip, 80));
            assert_eq!(s.dst_mac, ROUTER);
        } else {
            // direct routing: IP untouched but TTL, frame to the server's MAC (--neigh)
            assert_eq!(s.dst, (vip, 53));
            assert_eq!(s.dst_mac, rs_mac(13));
        }
    }
    assert_eq!(to_rs, HashMap::from([(12, 4), (11, 5)]));
    // the output keeps the input's timestamps (the late frame's taken at the time before)
    assert!(r.frames.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(r.frames[0].0, 1_010_000);

    assert_eq!(summary(&r.stderr, "oversize"), 1, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "time-backwards"), 1, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "local"), 1, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "arp"), 2, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "unresolved"), 0, "{}", r.stderr);

    // the CSV, split by hand
    let rows: Vec<Vec<&str>> = r.csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "proto",
            "client",
            "vip",
            "real_server",
            "verdict",
            "packets",
            "bytes"
        ]
    );
    let find = |client: &str, verdict: &str| {
        rows.iter()
            .find(|r| r[1] == client && r[4] == verdict)
            .unwrap_or_else(|| panic!("no {client} {verdict} row in\n{}", r.csv))
    };
    let c0 = find("198.19.0.10:40000", "to-real");
    assert_eq!(
        (c0[0], c0[2], c0[3], c0[5]),
        ("TCP", "198.18.0.10:80", "198.18.1.12:8080", "2")
    );
    // SYN 40 bytes + request 40 + 18
    assert_eq!(c0[6], "98");
    let back = find("198.19.0.11:40001", "to-client");
    assert_eq!((back[3], back[5]), ("198.18.1.11:8080", "1"));
    assert_eq!(find("198.19.0.10:40000", "to-real").len(), 7);
    assert_eq!(find("198.19.0.12:40002", "drop:oversize")[5], "1");
    let dns = rows.iter().find(|r| r[0] == "UDP").expect("a UDP row");
    assert_eq!((dns[3], dns[4]), ("198.18.1.13:53", "to-real"));

    // the listing at the end
    assert!(
        r.stdout
            .starts_with("IP Virtual Server version 1.2.1 (size=65536)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("TCP  198.18.0.10:80 rr"), "{}", r.stdout);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("198.18.1.11:8080"))
        .expect("rs .11 listed");
    let cols: Vec<&str> = line.split_whitespace().collect();
    // -> addr Masq weight ActiveConn InActConn: both connections established
    assert_eq!(&cols[2..], ["Masq", "1", "2", "0"], "{line}");
}

#[test]
fn replay_of_a_pcap_written_here() {
    let dir = tempdir("pcap");
    let neigh = [
        "--mac",
        "02:00:00:00:00:d1",
        "--neigh",
        "198.18.1.13=02:00:00:00:01:0d",
    ];
    let r = run(&dir, &pcap(1, &script()), RULES, &neigh);
    check_script_outputs(&r);
    println!("{}", r.stderr.trim());

    // --strict: the same run, but the oversize and late frames make it exit 6
    let r = run(
        &dir,
        &pcap(1, &script()),
        RULES,
        &[&neigh[..], &["--strict"]].concat(),
    );
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert_eq!(r.frames.len(), 14);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_of_a_pcapng_written_here() {
    let dir = tempdir("pcapng");
    let neigh = [
        "--mac",
        "02:00:00:00:00:d1",
        "--neigh",
        "198.18.1.13=02:00:00:00:01:0d",
    ];
    let r = run(&dir, &pcapng(&script()), RULES, &neigh);
    check_script_outputs(&r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gets_its_exit_code_never_a_panic() {
    let dir = tempdir("bad");
    let good = pcap(1, &script());

    // truncated inside the last record: what came before is replayed and written, exit 5
    let r = run(&dir, &good[..good.len() - 10], RULES, &[]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
    assert_eq!(r.frames.len(), 13, "frames before the cut are written");
    assert!(r.stdout.contains("TCP  198.18.0.10:80 rr"));
    // cut inside a record header, and inside the file header
    assert_eq!(run(&dir, &good[..24 + 8], RULES, &[]).code, 5);
    assert_eq!(run(&dir, &good[..10], RULES, &[]).code, 4);
    // a pcapng cut short
    let ng = pcapng(&script());
    assert_eq!(run(&dir, &ng[..ng.len() - 3], RULES, &[]).code, 5);

    // an unknown link type (147, user-defined), and something that is no capture
    let r = run(&dir, &pcap(147, &script()), RULES, &[]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("link type 147"), "{}", r.stderr);
    assert_eq!(
        run(&dir, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", RULES, &[]).code,
        4
    );

    // raw IP captures (link type 101) are read: the IP packets get an Ethernet header
    let raw: Vec<(f64, Vec<u8>)> = script()
        .into_iter()
        .map(|(t, f)| (t, f[14..].to_vec()))
        .collect();
    let r = run(&dir, &pcap(101, &raw), RULES, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "to-real"), 10, "{}", r.stderr);

    // garbage frames: counted drops, exit 0
    let junk: Vec<(f64, Vec<u8>)> = (0..64u8)
        .map(|i| {
            (
                1.0 + f64::from(i),
                (0..i).map(|b| b.wrapping_mul(37) ^ i).collect(),
            )
        })
        .collect();
    let r = run(&dir, &pcap(1, &junk), RULES, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(summary(&r.stderr, "frames"), 64);
    assert_eq!(summary(&r.stderr, "written"), 0);

    // rules: a bad line (its number in the message), a scheduler that does not exist
    let r = run(
        &dir,
        &good,
        "-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 1.2.3 -m\n",
        &[],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    assert_eq!(
        run(&dir, &good, "-A -t 198.18.0.10:80 -s nosuch\n", &[]).code,
        3
    );

    // command line
    assert_eq!(run(&dir, &good, RULES, &["--mac", "zz"]).code, 2);
    assert_eq!(run(&dir, &good, RULES, &["--bogus"]).code, 2);
    let help = Command::new(replay_bin()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for code in ["  0  ", "  3  ", "  4  ", "  5  ", "  6  "] {
        assert!(help.contains(code), "--help documents exit code{code}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
