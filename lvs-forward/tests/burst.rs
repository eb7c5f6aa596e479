//! `process_burst` against `process_frame` frame by frame: two identical directors see the
//! same random traffic (new flows, established flows, FIN/RST, replies from real servers, ICMP
//! errors about tracked flows, UDP, VLAN-tagged and IPv6 frames, TTL 1, oversized DF packets,
//! garbage), one through bursts of random sizes, the other one frame at a time. Every action,
//! every output byte, every ICMP response, and the directors' counters and connection listings
//! must agree.

use etherparse::PacketBuilder;
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, DestId, DestSet, Endpoint, FwdMethod, Instant, Protocol, SchedRequest, Scheduler,
    ServiceConfig, ServiceKey,
};
use lvs_forward::process::{process_burst, process_frame, Action, BurstFrame, ProcessConfig};
use proptest::prelude::*;

/// Least total connections, first in list order on ties.
struct Least;
impl Scheduler for Least {
    fn name(&self) -> &'static str {
        "least"
    }
    fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> {
        d.iter()
            .filter(|(_, d)| d.weight > 0)
            .min_by_key(|(_, d)| d.active + d.inactive)
            .map(|(i, _)| i)
    }
}

const HEADROOM: usize = 48;
const VIP: [u8; 4] = [198, 18, 0, 1];
const RS: [[u8; 4]; 3] = [[10, 0, 1, 1], [10, 0, 1, 2], [10, 0, 1, 3]];
const CMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

type Mem = OwnedMemory<Least>;

fn director(mem: &mut Mem) -> Director<'_, Least> {
    let mut d = Director::new(
        DirectorConfig::new(SipKey(5, 6)),
        mem.borrow(),
        Instant::ZERO,
    )
    .unwrap();
    for (proto, port, method) in [
        (Protocol::Tcp, 80, FwdMethod::Masq),
        (Protocol::Udp, 53, FwdMethod::Masq),
        (Protocol::Tcp, 443, FwdMethod::Tunnel),
        (Protocol::Tcp, 22, FwdMethod::DirectRoute),
    ] {
        let s = d
            .add_service(
                ServiceConfig::new(ServiceKey::Addr {
                    proto,
                    vip: Endpoint::v4(VIP, port),
                }),
                Least,
            )
            .unwrap();
        for rs in RS {
            let rport = if method == FwdMethod::Masq {
                8000 + port
            } else {
                port
            };
            d.add_dest(s, DestConfig::new(Endpoint::v4(rs, rport), method, 1))
                .unwrap();
        }
    }
    d
}

/// One generated frame: what kind, which client, which knobs.
#[derive(Debug, Clone)]
enum Gen {
    /// Client to VIP over TCP: flags 0 SYN, 1 ACK, 2 FIN+ACK, 3 RST.
    Tcp {
        c: u8,
        port: u16,
        flags: u8,
        ttl: u8,
        payload: u16,
    },
    /// Client to VIP over UDP.
    Udp { c: u8, ttl: u8 },
    /// A real server's reply to a client (NAT).
    Reply { c: u8, rs: u8, flags: u8 },
    /// An ICMP "port unreachable" from a client quoting a reply it got (about a NAT flow).
    Icmp { c: u8 },
    /// VLAN-tagged SYN.
    Vlan { c: u8 },
    /// IPv6 UDP to an address with no service.
    V6 { c: u8 },
    /// Random bytes.
    Junk(Vec<u8>),
}

fn client(c: u8) -> ([u8; 4], u16) {
    ([198, 19, c >> 3, c & 7], 40_000 + u16::from(c))
}

fn build(g: &Gen) -> Vec<u8> {
    let mut v = Vec::new();
    match g {
        Gen::Tcp {
            c,
            port,
            flags,
            ttl,
            payload,
        } => {
            let (a, p) = client(*c);
            let b = PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, *ttl)
                .tcp(p, *port, 1000, 65535);
            let b = match flags {
                0 => b.syn(),
                1 => b.ack(1),
                2 => b.fin().ack(1),
                _ => b.rst(),
            };
            b.write(&mut v, &vec![0x5a; usize::from(*payload)]).unwrap();
        }
        Gen::Udp { c, ttl } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, *ttl)
                .udp(p, 53)
                .write(&mut v, b"query")
                .unwrap();
        }
        Gen::Reply { c, rs, flags } => {
            let (a, p) = client(*c);
            let b = PacketBuilder::ethernet2(DMAC, CMAC)
                .ipv4(RS[usize::from(*rs) % 3], a, 64)
                .tcp(8080, p, 5000, 65535);
            let b = match flags {
                0 => b.syn().ack(1001),
                1 => b.ack(1001),
                _ => b.fin().ack(1001),
            };
            b.write(&mut v, b"").unwrap();
        }
        Gen::Icmp { c } => {
            let (a, p) = client(*c);
            // the reply the client got: VIP:80 -> client
            let mut quoted = Vec::new();
            PacketBuilder::ipv4(VIP, a, 64)
                .tcp(80, p, 5000, 65535)
                .ack(1)
                .write(&mut quoted, b"")
                .unwrap();
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, 64)
                .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::Port,
                ))
                .write(&mut v, &quoted)
                .unwrap();
        }
        Gen::Vlan { c } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .single_vlan(etherparse::VlanId::try_new(7).unwrap())
                .ipv4(a, VIP, 64)
                .tcp(p, 80, 1, 65535)
                .syn()
                .write(&mut v, b"")
                .unwrap();
        }
        Gen::V6 { c } => {
            let mut s = [0u8; 16];
            s[0] = 0x20;
            s[1] = 0x01;
            s[15] = *c;
            let mut d = s;
            d[15] = 0xff;
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv6(s, d, 64)
                .udp(1000, 53)
                .write(&mut v, b"x")
                .unwrap();
        }
        Gen::Junk(b) => v.extend_from_slice(b),
    }
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&v);
    buf
}

fn gen() -> impl Strategy<Value = Gen> {
    let c = 0u8..24;
    prop_oneof![
        6 => (c.clone(), prop_oneof![Just(80u16), Just(443), Just(22), Just(81)], 0u8..4,
              prop_oneof![8 => Just(64u8), 1 => Just(1u8)], prop_oneof![8 => Just(0u16), 1 => Just(1500u16)])
            .prop_map(|(c, port, flags, ttl, payload)| Gen::Tcp { c, port, flags, ttl, payload }),
        2 => (c.clone(), prop_oneof![4 => Just(64u8), 1 => Just(1u8)]).prop_map(|(c, ttl)| Gen::Udp { c, ttl }),
        3 => (c.clone(), 0u8..3, 0u8..3).prop_map(|(c, rs, flags)| Gen::Reply { c, rs, flags }),
        1 => c.clone().prop_map(|c| Gen::Icmp { c }),
        1 => c.clone().prop_map(|c| Gen::Vlan { c }),
        1 => c.prop_map(|c| Gen::V6 { c }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Gen::Junk),
    ]
}

/// Each buffer as a burst frame: the frame after the headroom.
fn burst_frames(bufs: &mut [Vec<u8>]) -> Vec<BurstFrame<'_>> {
    bufs.iter_mut()
        .map(|b| {
            let n = b.len() - HEADROOM;
            BurstFrame::new(b, HEADROOM, n)
        })
        .collect()
}

fn cfg() -> ProcessConfig {
    ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().unwrap(),
        SipKey(1, 1),
    )
}

fn listing(d: &Director<'_, Least>, now: Instant) -> String {
    let mut s = String::new();
    d.write_conns(&mut s, now).unwrap();
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn burst_equals_frame_by_frame(
        bursts in proptest::collection::vec(
            (proptest::collection::vec(gen(), 1..48), 0u64..20_000),
            1..12,
        ),
        small_table in any::<bool>(),
    ) {
        let cap = if small_table { 16 } else { 1024 };
        let (mut ma, mut mb) = (Mem::new(cap, 4, 16), Mem::new(cap, 4, 16));
        let (mut da, mut db) = (director(&mut ma), director(&mut mb));
        let cfg = cfg();
        let mut now = Instant::ZERO;
        for (frames, step) in &bursts {
            now += lvs_core::Duration::from_millis(*step);
            let bytes: Vec<Vec<u8>> = frames.iter().map(build).collect();
            // one at a time
            let mut one = bytes.clone();
            let mut one_actions = Vec::new();
            let mut one_out = Vec::new();
            for b in one.iter_mut() {
                let mut out = [0u8; 1500];
                let n = b.len() - HEADROOM;
                let a = process_frame(&mut da, now, b, HEADROOM, n, 0, &cfg, &mut out);
                if let Action::Respond { len, .. } = a {
                    one_out.extend_from_slice(&out[..len]);
                }
                one_actions.push(a);
            }
            // as a burst
            let mut many = bytes.clone();
            let mut actions = vec![Action::Deliver; many.len()];
            let mut out = vec![0u8; 1500 * many.len()];
            let mut fs = burst_frames(&mut many);
            let n = process_burst(&mut db, now, &mut fs, &cfg, &mut actions, &mut out);
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(&actions, &one_actions);
            prop_assert_eq!(&many, &one);
            prop_assert_eq!(&out[..one_out.len()], &one_out[..]);
            prop_assert_eq!(da.counters(), db.counters());
            prop_assert_eq!(da.total_stats().counters, db.total_stats().counters);
            prop_assert_eq!(listing(&da, now), listing(&db, now));
            let _ = da.handle_timeout(now);
            let _ = db.handle_timeout(now);
        }
    }
}

/// An `out` too small for a second response drops that frame, as `process_frame` does with a
/// too-small buffer; the first response is kept.
#[test]
fn responses_are_packed_in_order() {
    let (mut ma, mut mb) = (Mem::new(64, 4, 16), Mem::new(64, 4, 16));
    let (mut da, mut db) = (director(&mut ma), director(&mut mb));
    let cfg = cfg();
    let g = [
        Gen::Tcp {
            c: 1,
            port: 80,
            flags: 0,
            ttl: 1,
            payload: 0,
        },
        Gen::Tcp {
            c: 2,
            port: 80,
            flags: 0,
            ttl: 64,
            payload: 0,
        },
        Gen::Tcp {
            c: 3,
            port: 80,
            flags: 0,
            ttl: 1,
            payload: 0,
        },
    ];
    let mut bytes: Vec<Vec<u8>> = g.iter().map(build).collect();
    let mut expect = Vec::new();
    for b in bytes.clone().iter_mut() {
        let mut out = [0u8; 1500];
        let n = b.len() - HEADROOM;
        expect.push((
            process_frame(&mut da, Instant::ZERO, b, HEADROOM, n, 0, &cfg, &mut out),
            out,
        ));
    }
    let Action::Respond { len: l0, .. } = expect[0].0 else {
        panic!("{:?}", expect[0].0)
    };
    let Action::Respond { len: l2, .. } = expect[2].0 else {
        panic!("{:?}", expect[2].0)
    };
    let mut out = vec![0u8; l0 + l2];
    let mut actions = [Action::Deliver; 3];
    let mut fs = burst_frames(&mut bytes);
    assert_eq!(
        process_burst(
            &mut db,
            Instant::ZERO,
            &mut fs,
            &cfg,
            &mut actions,
            &mut out
        ),
        3
    );
    assert_eq!(actions[0], expect[0].0);
    assert_eq!(actions[1], expect[1].0);
    assert_eq!(actions[2], expect[2].0);
    assert_eq!(&out[..l0], &expect[0].1[..l0]);
    assert_eq!(&out[l0..l0 + l2], &expect[2].1[..l2]);
}
