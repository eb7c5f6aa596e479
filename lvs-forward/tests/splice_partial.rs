//! Segments whose TCP checksum is still partial (`CHECKSUM_PARTIAL`: TSO/GSO super-frames from
//! a local stack) through [`Splicer::handle_partial`]: a spliced connection's segments come out
//! as [`Splicer::handle_packet`] makes them once the checksum is finished, both ways, with
//! timestamps, SACK and window scaling; everything else is left to `handle_packet`, untouched.
//! Also (same rig): a client reusing its port right after a close gets a new connection.

mod handshake;

use core::net::SocketAddrV4;
use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_forward::checksum;
use lvs_forward::splice::emit::{build_ipv4_tcp, Segment};
use lvs_forward::splice::options::OptionsEmit;
use lvs_forward::splice::{
    Classification, FlowInfo, SpliceConfig, SpliceVerdict, Splicer, Toward, Transmit,
};

const CLIENT: ([u8; 4], u16) = ([198, 18, 0, 2], 40000);
const VIP: ([u8; 4], u16) = ([198, 18, 0, 10], 80);
const SERVER: ([u8; 4], u16) = ([198, 18, 1, 11], 80);
const S_ISN: u32 = 0xffff_0000;
const C_ISN: u32 = 0x7fff_fff0;
const REQ: &[u8] = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";

type Chooser = fn(&FlowInfo, &[u8]) -> Classification;

fn choose(_: &FlowInfo, data: &[u8]) -> Classification {
    if data.ends_with(b"\r\n\r\n") {
        Classification::Choose(SocketAddrV4::new(SERVER.0.into(), SERVER.1))
    } else {
        Classification::NeedMore
    }
}

fn fields(p: &[u8]) -> (u32, u32) {
    let t = &p[usize::from(p[0] & 15) * 4..];
    (
        u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
    )
}

fn tsval(p: &[u8]) -> u32 {
    let t = &p[usize::from(p[0] & 15) * 4..];
    let hl = usize::from(t[12] >> 4) * 4;
    let o = lvs_forward::splice::options::Options::parse(&t[20..hl]).unwrap();
    o.timestamp.unwrap().0
}

/// The IPv4 packet's header length, total length and TCP pseudo-header sum.
fn tcp_pseudo(p: &[u8]) -> (usize, usize, u32) {
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let ph = checksum::pseudo_header_v4(
        p[12..16].try_into().unwrap(),
        p[16..20].try_into().unwrap(),
        6,
        (total - ihl) as u16,
    );
    (ihl, total, ph)
}

/// The TCP checksum field turned into the pseudo-header sum a local stack leaves in it.
fn make_partial(p: &mut [u8]) {
    let (ihl, _, ph) = tcp_pseudo(p);
    p[ihl + 16..ihl + 18].copy_from_slice(&checksum::fold(ph).to_be_bytes());
}

/// Finishes a partial checksum as the kernel or the NIC does on transmit.
fn complete(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let c = checksum::checksum(&p[ihl..total]);
    p[ihl + 16..ihl + 18].copy_from_slice(&c.to_be_bytes());
}

fn tcp_ok(p: &[u8]) -> bool {
    let (ihl, total, ph) = tcp_pseudo(p);
    checksum::fold(checksum::add(ph, &p[ihl..total])) == 0xffff
        && checksum::checksum(&p[..ihl]) == 0
}

struct Rig<'s> {
    sp: Box<Splicer<'s, Chooser, 64>>,
    now: Instant,
    cookie: u32,
    c_isn: u32,
    srv_ts: u32,
}

impl<'s> Rig<'s> {
    /// Handshake by cookie with timestamps, SACK and scaling, the request, the server's SYN-ACK
    /// and its ACK of the replay: spliced.
    fn new(slab: &'s mut [u8]) -> Self {
        let mut sp: Box<Splicer<'s, Chooser, 64>> = Box::new(Splicer::new(
            SpliceConfig::new(SipKey(7, 8)),
            choose as Chooser,
            slab,
            1024,
        ));
        let now = Instant::from_secs(20);
        let mut buf = vec![0u8; 2048];
        let syn = handshake::syn(CLIENT, VIP, C_ISN, Some(7), true, 1_000);
        let n = build_ipv4_tcp(&mut buf, &syn).unwrap();
        let SpliceVerdict::Transmit(t) = sp.handle_packet(now, &mut buf, n) else {
            panic!("no SYN-ACK")
        };
        let (cookie, _) = fields(&buf[..t.len]);
        let syn_ack_ts = tsval(&buf[..t.len]);
        let seg = handshake::request(
            CLIENT,
            VIP,
            C_ISN.wrapping_add(1),
            cookie,
            (1_001, syn_ack_ts),
            REQ,
        );
        let n = build_ipv4_tcp(&mut buf, &seg).unwrap();
        // not spliced yet: not taken as a partial frame, and nothing changed by asking
        let mut copy = buf.clone();
        make_partial(&mut copy[..n]);
        let before = *sp.stats();
        assert_eq!(sp.handle_partial(now, &mut copy, n), None);
        assert_eq!(*sp.stats(), before);
        let _ = sp.handle_packet(now, &mut buf, n);
        let t = sp.poll_transmit(now, &mut buf).expect("SYN to the server");
        assert_eq!(t.to, Toward::Server);
        let (c_isn, _) = fields(&buf[..t.len]);
        let srv_ts = 90_000;
        let syn_ack = Segment {
            src: SERVER,
            dst: CLIENT,
            seq: S_ISN,
            ack: Some(c_isn.wrapping_add(1)),
            flags: 0x12,
            window: 65_160,
            options: OptionsEmit {
                mss: Some(1460),
                wscale: Some(9),
                sack_permitted: true,
                timestamp: Some((srv_ts, tsval(&buf[..t.len]))),
            },
            payload: &[],
        };
        let n = build_ipv4_tcp(&mut buf, &syn_ack).unwrap();
        // a SYN-ACK is never taken as a partial frame
        let mut copy = buf.clone();
        make_partial(&mut copy[..n]);
        assert_eq!(sp.handle_partial(now, &mut copy, n), None);
        assert_eq!(sp.handle_packet(now, &mut buf, n), SpliceVerdict::Consumed);
        let t = sp.poll_transmit(now, &mut buf).expect("replayed request");
        assert_eq!(t.to, Toward::Server);
        Rig {
            sp,
            now,
            cookie,
            c_isn,
            srv_ts,
        }
    }
}

/// One segment of `data_len` bytes from the server (`Toward::Client`) or the client, with a
/// timestamp and, from the client, a SACK block.
fn segment(rig: &Rig<'_>, from_server: bool, off: u32, data: &[u8], buf: &mut [u8]) -> usize {
    let mut n = if from_server {
        let s = Segment {
            src: SERVER,
            dst: CLIENT,
            seq: S_ISN.wrapping_add(1).wrapping_add(off),
            ack: Some(rig.c_isn.wrapping_add(1 + REQ.len() as u32)),
            flags: 0x10,
            window: 1_000,
            options: OptionsEmit {
                timestamp: Some((rig.srv_ts + off, 1_002)),
                ..OptionsEmit::default()
            },
            payload: data,
        };
        build_ipv4_tcp(buf, &s).unwrap()
    } else {
        let s = Segment {
            src: CLIENT,
            dst: VIP,
            seq: C_ISN.wrapping_add(1 + REQ.len() as u32),
            ack: Some(rig.cookie.wrapping_add(1).wrapping_add(off)),
            flags: 0x10,
            window: 30_000,
            options: OptionsEmit {
                timestamp: Some((1_002 + off, 5_000)),
                ..OptionsEmit::default()
            },
            payload: data,
        };
        build_ipv4_tcp(buf, &s).unwrap()
    };
    if !from_server {
        // add NOP, NOP, SACK(1 block) after the timestamp option (data offset + 12)
        let ihl = 20;
        let doff = usize::from(buf[ihl + 12] >> 4) * 4;
        let at = ihl + doff;
        buf.copy_within(at..n, at + 12);
        let l = rig.cookie.wrapping_add(1).wrapping_add(off + 5_000);
        buf[at..at + 4].copy_from_slice(&[1, 1, 5, 10]);
        buf[at + 4..at + 8].copy_from_slice(&l.to_be_bytes());
        buf[at + 8..at + 12].copy_from_slice(&l.wrapping_add(1448).to_be_bytes());
        n += 12;
        buf[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        buf[ihl + 12] = (((doff + 12) / 4) as u8) << 4;
        buf[10..12].fill(0);
        let c = checksum::checksum(&buf[..20]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        make_partial(&mut buf[..n]);
        complete(&mut buf[..n]);
    }
    assert!(tcp_ok(&buf[..n]));
    n
}

#[test]
fn partial_super_frames_come_out_as_full_ones_would() {
    let (mut slab_a, mut slab_b) = (vec![0u8; 1024 * 4], vec![0u8; 1024 * 4]);
    let mut full = Rig::new(&mut slab_a);
    let mut part = Rig::new(&mut slab_b);
    let data: Vec<u8> = (0..60_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let mut off = 0u32;
    // super-frames from the server of several sizes, an ACK with SACK from the client after each
    for (k, size) in [1448usize, 60_000, 7, 32_000, 1, 65_000 - 80]
        .into_iter()
        .enumerate()
    {
        for from_server in [true, false] {
            let d = if from_server {
                &data[..size.min(60_000)]
            } else {
                &[][..]
            };
            let mut a = vec![0u8; 66_000];
            let n = segment(&full, from_server, off, d, &mut a);
            let mut b = a.clone();
            make_partial(&mut b[..n]);
            let va = full.sp.handle_packet(full.now, &mut a, n);
            let vb = part.sp.handle_partial(part.now, &mut b, n);
            let to = if from_server {
                Toward::Client
            } else {
                Toward::Server
            };
            assert_eq!(va, SpliceVerdict::Transmit(Transmit { len: n, to }), "{k}");
            assert_eq!(vb, Some(va), "{k}");
            assert!(tcp_ok(&a[..n]), "{k}: full rewrite");
            assert!(!tcp_ok(&b[..n]), "{k}: still partial");
            complete(&mut b[..n]);
            assert_eq!(a[..n], b[..n], "{k}: {from_server}");
            assert_eq!(full.sp.poll_transmit(full.now, &mut a), None);
            assert_eq!(part.sp.poll_transmit(part.now, &mut b), None);
        }
        off = off.wrapping_add(size.min(60_000) as u32);
        full.now += lvs_core::Duration::from_millis(3);
        part.now += lvs_core::Duration::from_millis(3);
    }
    assert_eq!(full.sp.stats(), part.sp.stats());
    // and the connections' state (numbers, timestamps, windows, timers) is the same
    let key = |r: &Rig<'_>| {
        format!(
            "{:?}",
            r.sp.connection(
                SocketAddrV4::new(CLIENT.0.into(), CLIENT.1),
                SocketAddrV4::new(VIP.0.into(), VIP.1)
            )
        )
    };
    assert_eq!(key(&full), key(&part));
    assert!(key(&full).starts_with("Some("));
}

#[test]
fn everything_but_spliced_segments_is_left_alone() {
    let mut slab = vec![0u8; 1024 * 4];
    let mut rig = Rig::new(&mut slab);
    let before = *rig.sp.stats();
    let mut buf = vec![0u8; 4096];
    // an unknown flow, a SYN, garbage, a truncated header: None, nothing counted, buffer as is
    let other = Segment {
        src: ([198, 18, 0, 3], 40001),
        dst: VIP,
        seq: 5,
        ack: Some(6),
        flags: 0x10,
        window: 100,
        options: OptionsEmit::default(),
        payload: b"data",
    };
    let n = build_ipv4_tcp(&mut buf, &other).unwrap();
    make_partial(&mut buf[..n]);
    let copy = buf.clone();
    assert_eq!(rig.sp.handle_partial(rig.now, &mut buf, n), None);
    let syn = Segment {
        flags: 0x02,
        ack: None,
        ..other
    };
    let n2 = build_ipv4_tcp(&mut buf, &syn).unwrap();
    let copy2 = buf.clone();
    assert_eq!(rig.sp.handle_partial(rig.now, &mut buf, n2), None);
    assert_eq!(buf, copy2);
    buf.copy_from_slice(&copy);
    for cut in [0, 10, 20, 39] {
        assert_eq!(rig.sp.handle_partial(rig.now, &mut buf, cut), None);
    }
    buf[0] = 0x65; // IPv6 version nibble in an IPv4 header
    assert_eq!(rig.sp.handle_partial(rig.now, &mut buf, n), None);
    buf[0] = 0x45;
    assert_eq!(buf, copy);
    assert_eq!(*rig.sp.stats(), before);
    // a spliced segment whose options are malformed is dropped and counted, as by handle_packet
    let mut a = vec![0u8; 4096];
    let n = segment(&rig, true, 0, b"abc", &mut a);
    make_partial(&mut a[..n]);
    a[20 + 20] = 8; // timestamp kind, then a bad length
    a[20 + 21] = 3;
    let v = rig.sp.handle_partial(rig.now, &mut a, n);
    assert!(matches!(v, None | Some(SpliceVerdict::Drop(_))), "{v:?}");
}

#[test]
fn a_port_reused_after_a_close_opens_a_new_connection() {
    let mut slab = vec![0u8; 1024 * 4];
    let mut rig = Rig::new(&mut slab);
    let mut buf = vec![0u8; 4096];
    let syn = |tsval: u32, seq: u32, buf: &mut [u8]| {
        build_ipv4_tcp(buf, &handshake::syn(CLIENT, VIP, seq, Some(7), true, tsval)).unwrap()
    };
    // while the connection is open, a SYN from its endpoint is not a new connection
    let n = syn(9_000, C_ISN.wrapping_add(100_000), &mut buf);
    assert!(matches!(
        rig.sp.handle_packet(rig.now, &mut buf, n),
        SpliceVerdict::Drop(_)
    ));
    // FIN from the server, then from the client: both relayed, the state lingers
    let fin = |rig: &mut Rig<'_>, from_server: bool| {
        let mut b = vec![0u8; 4096];
        let n = segment(rig, from_server, 0, &[], &mut b);
        let ihl = 20;
        b[ihl + 13] |= 0x01;
        make_partial(&mut b[..n]);
        complete(&mut b[..n]);
        assert!(matches!(
            rig.sp.handle_packet(rig.now, &mut b, n),
            SpliceVerdict::Transmit(_)
        ));
    };
    fin(&mut rig, true);
    fin(&mut rig, false);
    assert_eq!(rig.sp.live(), 1);
    // an old SYN (timestamp not newer than the last seen) is still not a new connection
    let n = syn(1_000, C_ISN.wrapping_add(100_000), &mut buf);
    assert!(matches!(
        rig.sp.handle_packet(rig.now, &mut buf, n),
        SpliceVerdict::Drop(_)
    ));
    assert_eq!(rig.sp.live(), 1);
    // a new one: the old state goes, and the SYN is answered with a cookie SYN-ACK
    let closed = rig.sp.stats().closed;
    let n = syn(9_000, C_ISN.wrapping_add(100_000), &mut buf);
    let SpliceVerdict::Transmit(t) = rig.sp.handle_packet(rig.now, &mut buf, n) else {
        panic!("the reused port's SYN was not answered")
    };
    assert_eq!((t.to, buf[33] & 0x12), (Toward::Client, 0x12));
    assert_eq!(rig.sp.live(), 0);
    assert_eq!(rig.sp.stats().closed, closed + 1);
}
