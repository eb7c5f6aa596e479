//! A forwarding method implemented outside lvs-forward (FULLNAT, `examples/fullnat.rs`) drives
//! the real director and packet path: frames built by etherparse go through
//! `process_frame_with` / `process_burst_with`, and what comes out is re-parsed by etherparse,
//! its addresses, ports and checksums checked, in both directions.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::conn::ConnSlot;
use lvs_core::director::{Director, DirectorConfig, DirectorMemory, Service};
use lvs_core::hash::SipKey;
use lvs_core::stats::Stats;
use lvs_core::{
    Dest, DestConfig, DestId, Endpoint, FwdMethod, Instant, IpAddr, Protocol, ServiceConfig,
    ServiceKey,
};
use lvs_examples::fullnat::{FullNat, FullNatError};
use lvs_forward::process::{
    process_burst_with, process_frame_with, Action, BurstFrame, DropCause, Peer, ProcessConfig,
};
use lvs_forward::ForwardError;
use lvs_sched::Rr;

const HEAD: usize = 64;
const VIP: [u8; 4] = [198, 18, 0, 1];
const RIP1: [u8; 4] = [198, 18, 1, 1];
const RIP2: [u8; 4] = [198, 18, 1, 2];
const LIP1: [u8; 4] = [198, 18, 2, 1];
const LIP2: [u8; 4] = [198, 18, 2, 2];
const VIP6: &str = "2001:db8::1";
const RIP6: &str = "2001:db8:1::1";
const LIP6: &str = "2001:db8:2::1";
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn ip6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

/// An Ethernet + IPv4 + TCP frame after `HEAD` bytes of headroom.
fn tcp4(src: ([u8; 4], u16), dst: ([u8; 4], u16), syn: bool, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4(src.0, dst.0, 64);
    let b = if syn {
        b.tcp(src.1, dst.1, 1000, 65535).syn()
    } else {
        b.tcp(src.1, dst.1, 1001, 65535).ack(5000)
    };
    let mut v = vec![0u8; HEAD];
    b.write(&mut v, payload).unwrap();
    v
}

/// An Ethernet + IPv6 + UDP frame after `HEAD` bytes of headroom.
fn udp6(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(v6(src.0), v6(dst.0), 64)
        .udp(src.1, dst.1);
    let mut v = vec![0u8; HEAD];
    b.write(&mut v, payload).unwrap();
    v
}

/// What etherparse reads from a transmitted IP packet, every checksum verified.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    src: (IpAddr, u16),
    dst: (IpAddr, u16),
    ttl: u8,
    payload: Vec<u8>,
}

fn seen(ip: &[u8]) -> Seen {
    let s = SlicedPacket::from_ip(ip).expect("etherparse parses the output");
    let (src, dst, ttl) = match s.net.as_ref().unwrap() {
        NetSlice::Ipv4(v4) => {
            let h = v4.header().to_header();
            assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
            (
                IpAddr::V4(h.source.into()),
                IpAddr::V4(h.destination.into()),
                h.time_to_live,
            )
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header().to_header();
            (
                IpAddr::V6(h.source.into()),
                IpAddr::V6(h.destination.into()),
                h.hop_limit,
            )
        }
        NetSlice::Arp(_) => unreachable!(),
    };
    let (sport, dport, payload) = match s.transport.unwrap() {
        TransportSlice::Tcp(t) => {
            let calc = match (src, dst) {
                (IpAddr::V4(a), IpAddr::V4(b)) => t.calc_checksum_ipv4(a.octets(), b.octets()),
                (IpAddr::V6(a), IpAddr::V6(b)) => t.calc_checksum_ipv6(a.octets(), b.octets()),
                _ => unreachable!(),
            };
            assert_eq!(calc.unwrap(), t.checksum(), "TCP checksum");
            (t.source_port(), t.destination_port(), t.payload().to_vec())
        }
        TransportSlice::Udp(u) => {
            let calc = match (src, dst) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    u.to_header()
                        .calc_checksum_ipv4_raw(a.octets(), b.octets(), u.payload())
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    u.to_header()
                        .calc_checksum_ipv6_raw(a.octets(), b.octets(), u.payload())
                }
                _ => unreachable!(),
            };
            assert_ne!(u.checksum(), 0);
            assert_eq!(calc.unwrap(), u.checksum(), "UDP checksum");
            (u.source_port(), u.destination_port(), u.payload().to_vec())
        }
        other => panic!("unexpected transport {other:?}"),
    };
    Seen {
        src: (src, sport),
        dst: (dst, dport),
        ttl,
        payload,
    }
}

struct Mem {
    conns: Vec<ConnSlot>,
    services: Vec<Option<Service<Rr>>>,
    dests: Vec<Dest>,
    stats: Vec<Stats>,
    order: Vec<DestId>,
    fixed: Box<lvs_core::director::DirectorFixed>,
}

impl Mem {
    fn new() -> Self {
        let b = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        Mem {
            conns: vec![ConnSlot::EMPTY; 256],
            services: (0..4).map(|_| None).collect(),
            dests: vec![b; 8],
            stats: vec![Stats::default(); 8],
            order: vec![DestId(0); 8],
            fixed: Box::default(),
        }
    }

    /// A director with TCP VIP:80 over RIP1:8080 and RIP2:8080, and UDP [VIP6]:53 over
    /// [RIP6]:5353, all real servers configured for NAT (what FULLNAT is driven by).
    fn director(&mut self) -> Director<'_, Rr> {
        let mem = DirectorMemory {
            conns: &mut self.conns,
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.stats,
            order: &mut self.order,
            fixed: &mut self.fixed,
        };
        let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem, Instant::ZERO).unwrap();
        let s = d
            .add_service(
                ServiceConfig::new(ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    vip: Endpoint::v4(VIP, 80),
                }),
                Rr::new(),
            )
            .unwrap();
        for rip in [RIP1, RIP2] {
            d.add_dest(
                s,
                DestConfig::new(Endpoint::v4(rip, 8080), FwdMethod::Masq, 1),
            )
            .unwrap();
        }
        let s6 = d
            .add_service(
                ServiceConfig::new(ServiceKey::Addr {
                    proto: Protocol::Udp,
                    vip: Endpoint::new(ip6(VIP6), 53),
                }),
                Rr::new(),
            )
            .unwrap();
        d.add_dest(
            s6,
            DestConfig::new(Endpoint::new(ip6(RIP6), 5353), FwdMethod::Masq, 1),
        )
        .unwrap();
        d
    }
}

fn cfg() -> ProcessConfig {
    ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().unwrap(),
        SipKey(7, 8),
    )
}

/// Runs one frame; returns the action and the transmitted bytes.
fn run(
    dir: &mut Director<'_, Rr>,
    fnat: &mut FullNat,
    mut frame: Vec<u8>,
    now: Instant,
) -> (Action, Vec<u8>) {
    let mut out = [0u8; 1280];
    let len = frame.len() - HEAD;
    let a = process_frame_with(dir, fnat, now, &mut frame, HEAD, len, 0, &cfg(), &mut out);
    let bytes = match a {
        Action::Transmit { start, len, .. } => frame[start..start + len].to_vec(),
        _ => Vec::new(),
    };
    (a, bytes)
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(a.into())
}

#[test]
fn fullnat_forwards_both_ways_with_valid_checksums() {
    let mut mem = Mem::new();
    let mut dir = mem.director();
    let mut fnat = FullNat::new(&[v4(LIP1), v4(LIP2), ip6(LIP6)], 40000..=40999);
    let client = ([198, 18, 9, 9], 33000);
    let t = Instant::from_millis(1);

    // client → VIP: both ends rewritten
    let (a, out) = run(&mut dir, &mut fnat, tcp4(client, (VIP, 80), true, b""), t);
    let Action::Transmit {
        next_hop,
        to: Peer::RealServer { method, .. },
        ..
    } = a
    else {
        panic!("not forwarded: {a:?}")
    };
    assert_eq!(method, FwdMethod::Masq);
    let s = seen(&out);
    let local = fnat
        .local_of(
            Protocol::Tcp,
            Endpoint::v4(client.0, client.1),
            Endpoint::v4(VIP, 80),
        )
        .expect("a local endpoint is held");
    assert!([v4(LIP1), v4(LIP2)].contains(&local.addr));
    assert!((40000..=40999).contains(&local.port));
    assert_eq!(s.src, (local.addr, local.port));
    let rip = s.dst.0;
    assert!(rip == v4(RIP1) || rip == v4(RIP2), "{rip:?}");
    assert_eq!(s.dst.1, 8080);
    assert_eq!(next_hop, rip);
    assert_eq!(s.ttl, 63);

    // real server → LIP:lport: the client sees VIP:80 → its own address and port
    let rip4 = match rip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => unreachable!(),
    };
    let lip4 = match local.addr {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => unreachable!(),
    };
    let reply = tcp4((rip4, 8080), (lip4, local.port), false, b"hello client");
    let (a, out) = run(&mut dir, &mut fnat, reply, t);
    assert!(
        matches!(a, Action::Transmit { to: Peer::Client, next_hop, .. } if next_hop == v4(client.0)),
        "{a:?}"
    );
    let s = seen(&out);
    assert_eq!(s.src, (v4(VIP), 80));
    assert_eq!(s.dst, (v4(client.0), client.1));
    assert_eq!(s.payload, b"hello client");

    // the client's next segment keeps its local endpoint and real server
    let (_, out) = run(
        &mut dir,
        &mut fnat,
        tcp4(client, (VIP, 80), false, b"GET /"),
        t,
    );
    let s = seen(&out);
    assert_eq!(s.src, (local.addr, local.port));
    assert_eq!(s.dst, (rip, 8080));
    assert_eq!(s.payload, b"GET /");
    assert_eq!(fnat.len(), 1);

    // another client gets another local endpoint
    let (_, out) = run(
        &mut dir,
        &mut fnat,
        tcp4(([198, 18, 9, 10], 33000), (VIP, 80), true, b""),
        t,
    );
    assert_ne!(seen(&out).src, (local.addr, local.port));
    assert_eq!(fnat.len(), 2);

    // IPv6 UDP: a local address of the flow's own family
    let c6 = ("2001:db8:9::9", 4444);
    let (a, out) = run(&mut dir, &mut fnat, udp6(c6, (VIP6, 53), b"query"), t);
    assert!(matches!(a, Action::Transmit { .. }), "{a:?}");
    let s = seen(&out);
    assert_eq!(s.src.0, ip6(LIP6));
    assert_eq!(s.dst, (ip6(RIP6), 5353));
    let (a, out) = run(
        &mut dir,
        &mut fnat,
        udp6((RIP6, 5353), (LIP6, s.src.1), b"answer"),
        t,
    );
    assert!(
        matches!(
            a,
            Action::Transmit {
                to: Peer::Client,
                ..
            }
        ),
        "{a:?}"
    );
    let s = seen(&out);
    assert_eq!(s.src, (ip6(VIP6), 53));
    assert_eq!(s.dst, (ip6(c6.0), c6.1));
    assert_eq!(s.payload, b"answer");

    // a packet for nobody is the host's
    let (a, _) = run(
        &mut dir,
        &mut fnat,
        tcp4(client, ([198, 18, 0, 77], 80), true, b""),
        t,
    );
    assert_eq!(a, Action::Deliver);
}

#[test]
fn exhausted_pool_is_a_typed_refusal() {
    let mut mem = Mem::new();
    let mut dir = mem.director();
    // one address, two ports: two flows per real server
    let mut fnat = FullNat::new(&[v4(LIP1)], 50000..=50001);
    let t = Instant::from_millis(1);
    let mut actions = Vec::new();
    for i in 0..5u8 {
        let (a, _) = run(
            &mut dir,
            &mut fnat,
            tcp4(([198, 18, 9, i], 1000), (VIP, 80), true, b""),
            t,
        );
        actions.push(a);
    }
    // round robin over two real servers: 2 ports × 2 servers = 4 flows, the fifth refused
    assert!(actions[..4]
        .iter()
        .all(|a| matches!(a, Action::Transmit { .. })));
    assert_eq!(
        actions[4],
        Action::Drop(DropCause::Forward(ForwardError::Refused(
            "FULLNAT local pool exhausted"
        )))
    );
    assert_eq!(
        ForwardError::from(FullNatError::PoolExhausted),
        ForwardError::Refused("FULLNAT local pool exhausted")
    );
    assert_eq!(fnat.len(), 4);
    fnat.release(
        Protocol::Tcp,
        Endpoint::v4([198, 18, 9, 0], 1000),
        Endpoint::v4(VIP, 80),
    );
    assert_eq!(fnat.len(), 3);
}

#[test]
fn burst_matches_frame_by_frame() {
    let frames = |i: u8| {
        vec![
            tcp4(([198, 18, 9, i], 2000), (VIP, 80), true, b""),
            tcp4(([198, 18, 9, i], 2000), (VIP, 80), false, b"data"),
            udp6(("2001:db8:9::9", 1000 + u16::from(i)), (VIP6, 53), b"q"),
            tcp4(([198, 18, 9, i], 2001), ([198, 18, 0, 99], 80), true, b""),
        ]
    };
    let all: Vec<Vec<u8>> = (0..10).flat_map(frames).collect();
    let t = Instant::from_millis(1);
    let pool = [v4(LIP1), v4(LIP2), ip6(LIP6)];

    let mut mem = Mem::new();
    let mut dir = mem.director();
    let mut fnat = FullNat::new(&pool, 40000..=40999);
    let one: Vec<(Action, Vec<u8>)> = all
        .iter()
        .map(|f| run(&mut dir, &mut fnat, f.clone(), t))
        .collect();

    let mut mem = Mem::new();
    let mut dir = mem.director();
    let mut fnat = FullNat::new(&pool, 40000..=40999);
    let mut bufs = all.clone();
    let mut burst: Vec<BurstFrame<'_>> = bufs
        .iter_mut()
        .map(|b| {
            let len = b.len() - HEAD;
            BurstFrame::new(b, HEAD, len)
        })
        .collect();
    let mut actions = vec![Action::Deliver; burst.len()];
    let mut out = [0u8; 4096];
    let n = process_burst_with(
        &mut dir,
        &mut fnat,
        t,
        &mut burst,
        &cfg(),
        &mut actions,
        &mut out,
    );
    assert_eq!(n, all.len());
    let mut forwarded = 0;
    for (i, (a, (a1, bytes1))) in actions.iter().zip(&one).enumerate() {
        assert_eq!(a, a1, "frame {i}");
        if let Action::Transmit { start, len, .. } = *a {
            assert_eq!(&bufs[i][start..start + len], &bytes1[..], "frame {i}");
            seen(bytes1);
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 30);
}
