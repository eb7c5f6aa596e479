//! The per-packet glue end to end on real bytes: frames built by etherparse go through
//! `process_frame` with a real director, and what comes out is re-parsed and checksum-verified by
//! etherparse (the independent oracle).

mod common;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::director::Forward;
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, DestId, DestSet, Endpoint, FwdMethod, Instant, Protocol, SchedRequest, Scheduler,
    ServiceConfig, ServiceKey,
};
use lvs_forward::process::{
    process_frame, process_frame_with, Action, DropCause, Peer, ProcessConfig,
};
use lvs_forward::rewrite::{Emit, Emitted, PacketBuf, Room, Standard};
use lvs_forward::tunnel::Ipip;
use lvs_forward::{ForwardError, Rewriter};

/// The first available server in list order.
struct First;
impl Scheduler for First {
    fn name(&self) -> &'static str {
        "first"
    }
    fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> {
        d.iter().find(|(_, d)| d.weight > 0).map(|(i, _)| i)
    }
}

const HEADROOM: usize = 64;
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DIRECTOR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// A client's SYN from `src:sport` to `dst:80` carrying `payload`, with DF as `df` says, at
/// [`HEADROOM`] in the buffer.
fn syn_frame(src: [u8; 4], dst: [u8; 4], sport: u16, payload: &[u8], df: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC)
        .ipv4(src, dst, 64)
        .tcp(sport, 80, 1000, 65535)
        .syn();
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    if !df {
        // etherparse sets DF; clear it and fix the header checksum by re-parsing
        let ip = &mut v[14..34];
        ip[6] &= !0x40;
        ip[10] = 0;
        ip[11] = 0;
        let mut sum: u32 = 0;
        for i in (0..20).step_by(2) {
            sum += u32::from(u16::from_be_bytes([ip[i], ip[i + 1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let c = !(sum as u16);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&v);
    buf
}

type Mem = OwnedMemory<First>;

fn director(mem: &mut Mem, method: FwdMethod) -> Director<'_, First> {
    let mut d = Director::new(
        DirectorConfig::new(SipKey(9, 9)),
        mem.borrow(),
        Instant::ZERO,
    )
    .unwrap();
    let vip = Endpoint::v4([198, 18, 0, 1], 80);
    let s = d
        .add_service(
            ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip)),
            First,
        )
        .unwrap();
    d.add_dest(
        s,
        DestConfig::new(Endpoint::v4([198, 18, 1, 1], 8080), method, 1),
    )
    .unwrap();
    d
}

fn cfg() -> ProcessConfig {
    ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().unwrap(),
        SipKey(1, 1),
    )
}

/// The usual client's SYN: 198.19.0.7:40001 to the VIP 198.18.0.1:80, DF set.
fn client_syn(payload: &[u8]) -> Vec<u8> {
    syn_frame([198, 19, 0, 7], [198, 18, 0, 1], 40001, payload, true)
}

/// The fields of an [`Action::Transmit`] (a panic on any other action).
fn transmitted(a: Action) -> (usize, usize, core::net::IpAddr, Peer) {
    let Action::Transmit {
        start,
        len,
        next_hop,
        to,
    } = a
    else {
        panic!("{a:?}")
    };
    (start, len, next_hop, to)
}

/// [`process_frame`] on the frame at `buf[HEADROOM..]` with [`cfg`].
fn process(d: &mut Director<'_, First>, buf: &mut [u8], out: &mut [u8]) -> Action {
    let n = buf.len() - HEADROOM;
    process_frame(d, Instant::ZERO, buf, HEADROOM, n, 0, &cfg(), out)
}

#[test]
fn nat_round_trip_on_real_bytes() {
    let mut mem = Mem::new(256, 4, 8);
    let mut d = director(&mut mem, FwdMethod::Masq);
    let mut out = [0u8; 1500];
    let mut buf = client_syn(b"");
    let a = process(&mut d, &mut buf, &mut out);
    let (start, len, next_hop, to) = transmitted(a);
    assert_eq!(next_hop, "198.18.1.1".parse::<core::net::IpAddr>().unwrap());
    assert!(matches!(
        to,
        Peer::RealServer {
            method: FwdMethod::Masq,
            ..
        }
    ));
    let pkt = &buf[start..start + len];
    common::verify(pkt, false, None);
    let s = SlicedPacket::from_ip(pkt).unwrap();
    let TransportSlice::Tcp(t) = s.transport.unwrap() else {
        panic!()
    };
    assert_eq!(t.destination_port(), 8080);
    let ip = &pkt[..20];
    assert_eq!(&ip[16..20], &[198, 18, 1, 1]);
    assert_eq!(ip[8], 63, "TTL decremented");

    // the real server's SYN+ACK comes back through the director: source becomes the VIP
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 9], DIRECTOR_MAC)
        .ipv4([198, 18, 1, 1], [198, 19, 0, 7], 64)
        .tcp(8080, 40001, 5000, 65535)
        .syn()
        .ack(1001);
    let mut v = vec![0u8; HEADROOM];
    b.write(&mut v, b"").unwrap();
    let a = process(&mut d, &mut v, &mut out);
    let (start, len, next_hop, to) = transmitted(a);
    assert_eq!(to, Peer::Client);
    assert_eq!(next_hop, "198.19.0.7".parse::<core::net::IpAddr>().unwrap());
    let pkt = &v[start..start + len];
    common::verify(pkt, false, None);
    assert_eq!(&pkt[12..16], &[198, 18, 0, 1]);
    assert_eq!(u16::from_be_bytes([pkt[20], pkt[21]]), 80);
}

#[test]
fn tunnel_and_dr_on_real_bytes() {
    for method in [FwdMethod::Tunnel, FwdMethod::DirectRoute] {
        let mut mem = Mem::new(256, 4, 8);
        let mut d = director(&mut mem, method);
        let mut out = [0u8; 1500];
        let mut buf = client_syn(b"hello");
        let original_ip = buf[HEADROOM + 14..].to_vec();
        let a = process(&mut d, &mut buf, &mut out);
        let Action::Transmit { start, len, to, .. } = a else {
            panic!("{a:?}")
        };
        assert!(matches!(to, Peer::RealServer { method: m, .. } if m == method));
        let pkt = &buf[start..start + len];
        common::verify(pkt, false, None);
        match method {
            FwdMethod::Tunnel => {
                assert_eq!(pkt[9], 4, "IPIP");
                assert_eq!(&pkt[12..16], &[198, 18, 0, 254]);
                assert_eq!(&pkt[16..20], &[198, 18, 1, 1]);
                // the inner packet is the original, TTL decremented
                let inner = &pkt[20..];
                assert_eq!(inner.len(), original_ip.len());
                assert_eq!(&inner[12..20], &original_ip[12..20]);
                assert_eq!(inner[8], original_ip[8] - 1);
            }
            _ => {
                // DR: the IP packet is unchanged but for the TTL (and its checksum)
                assert_eq!(&pkt[12..20], &original_ip[12..20]);
                assert_eq!(&pkt[20..], &original_ip[20..]);
            }
        }
    }
}

#[test]
fn too_big_for_the_tunnel_gets_frag_needed() {
    let mut mem = Mem::new(256, 4, 8);
    let mut d = director(&mut mem, FwdMethod::Tunnel);
    let mut out = [0u8; 1500];
    let payload = vec![0xabu8; 1460];
    let mut buf = client_syn(&payload);
    let a = process(&mut d, &mut buf, &mut out);
    let Action::Respond { len, dst } = a else {
        panic!("{a:?}")
    };
    assert_eq!(dst, "198.19.0.7".parse::<core::net::IpAddr>().unwrap());
    let err = &out[..len];
    common::verify(err, false, None);
    assert_eq!(err[9], 1, "ICMP");
    assert_eq!((err[20], err[21]), (3, 4), "fragmentation needed");
    // the kernel advertises the route MTU minus the tunnel overhead
    assert_eq!(u16::from_be_bytes([err[26], err[27]]), 1480);
    // without DF the packet is encapsulated (the outer packet may then be fragmented)
    let mut buf = syn_frame([198, 19, 0, 8], [198, 18, 0, 1], 40002, &payload, false);
    let a = process(&mut d, &mut buf, &mut out);
    assert!(matches!(a, Action::Transmit { .. }), "{a:?}");
}

#[test]
fn no_destination_answers_port_unreachable_and_strangers_are_delivered() {
    let mut mem = Mem::new(256, 4, 8);
    let mut d = director(&mut mem, FwdMethod::Masq);
    let s = d.services().next().unwrap().0;
    d.edit_dest(
        s,
        DestConfig::new(Endpoint::v4([198, 18, 1, 1], 8080), FwdMethod::Masq, 0),
    )
    .unwrap();
    let mut out = [0u8; 1500];
    let mut buf = client_syn(b"");
    let a = process(&mut d, &mut buf, &mut out);
    let Action::Respond { len, .. } = a else {
        panic!("{a:?}")
    };
    assert_eq!((out[20], out[21]), (3, 3));
    common::verify(&out[..len], false, None);
    let mut buf = syn_frame([198, 19, 0, 7], [198, 18, 0, 99], 40001, b"", true);
    assert_eq!(process(&mut d, &mut buf, &mut out), Action::Deliver);
}

/// A method that appends a 4-byte trailer to what it forwards (to exercise the room checks).
struct Trailer;
impl Rewriter for Trailer {
    type Error = ForwardError;
    fn room(&self, _: &Forward) -> Room {
        Room { head: 0, tail: 4 }
    }
    fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, _: &ProcessConfig) -> Emitted {
        let end = pkt.ip_start() + pkt.ip_len();
        pkt.buf[end..end + 4].copy_from_slice(b"TRLR");
        let e = pkt.in_place(f.daddr.addr);
        Ok(Emit {
            len: e.len + 4,
            ..e
        })
    }
}

#[test]
fn rewriters_by_type_and_by_dyn_and_their_room() {
    let mut mem = Mem::new(256, 4, 8);
    let mut d = director(&mut mem, FwdMethod::Tunnel);
    let mut out = [0u8; 1500];
    let frame = || client_syn(b"x");
    let run = |d: &mut Director<'_, First>,
               rw: &mut dyn Rewriter<Error = ForwardError>,
               buf: &mut Vec<u8>,
               start: usize,
               out: &mut [u8]| {
        let n = buf.len() - start;
        process_frame_with(d, rw, Instant::ZERO, buf, start, n, 0, &cfg(), out)
    };
    // the same packet by the standard set and by Ipip chosen at run time: the same bytes
    let (mut a, mut b) = (frame(), frame());
    let std_action = run(&mut d, &mut Standard, &mut a, HEADROOM, &mut out);
    let ipip_action = run(&mut d, &mut Ipip, &mut b, HEADROOM, &mut out);
    assert_eq!(std_action, ipip_action);
    let Action::Transmit { start, len, .. } = ipip_action else {
        panic!("{ipip_action:?}")
    };
    assert_eq!(a, b);
    assert_eq!(b[start + 9], 4, "IPIP");
    common::verify(&b[start..start + len], false, None);

    // an IPIP header needs 20 bytes before the IP header: the frame's own 14 are not enough
    let mut c = frame();
    c.drain(..HEADROOM);
    let before = c.clone();
    let a = run(&mut d, &mut Ipip, &mut c, 0, &mut out);
    assert_eq!(
        a,
        Action::Drop(DropCause::Forward(ForwardError::InsufficientHeadroom {
            required: 20
        }))
    );
    assert_eq!(
        c[14 + 12..],
        before[14 + 12..],
        "addresses and payload untouched"
    );

    // tailroom: refused without it, used with it
    let mut c = frame();
    let a = run(&mut d, &mut Trailer, &mut c, HEADROOM, &mut out);
    assert_eq!(
        a,
        Action::Drop(DropCause::Forward(ForwardError::InsufficientTailroom {
            required: 4
        }))
    );
    let mut c = frame();
    c.extend_from_slice(&[0; 4]);
    let n = c.len() - HEADROOM - 4;
    let a = process_frame_with(
        &mut d,
        &mut Trailer,
        Instant::ZERO,
        &mut c,
        HEADROOM,
        n,
        0,
        &cfg(),
        &mut out,
    );
    let Action::Transmit { start, len, .. } = a else {
        panic!("{a:?}")
    };
    assert_eq!(&c[start + len - 4..start + len], b"TRLR");
}
