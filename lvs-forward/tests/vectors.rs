//! Literal before/after vectors (built with scapy, see tests/data/gen_vectors.py) for every
//! rewriter, each result also checked by the etherparse oracle.

mod common;
#[rustfmt::skip]
#[path = "data/vectors.rs"]
mod v;

use common::{verify, Checked};
use lvs_core::addr::Direction;
use lvs_core::{Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, TunnelKind};
use lvs_forward::icmp::{build_error, nat_icmp, IcmpErrorKind};
use lvs_forward::nat::{nat_in, nat_out};
use lvs_forward::parse::{parse_ethernet, parse_ip, Parsed};
use lvs_forward::tunnel::{decapsulate, encapsulate, TunnelParams, TunnelType};
use lvs_forward::{dr, route, ChecksumCaps, ForwardError, MacAddr};

const CLIENT4: [u8; 4] = [192, 0, 2, 10];
const VIP4: [u8; 4] = [198, 51, 100, 1];
const RIP4: [u8; 4] = [10, 0, 0, 2];
const DIR4: [u8; 4] = [10, 0, 0, 1];
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
const RIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 2);
const DIR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 1);
const CAPS: ChecksumCaps = ChecksumCaps::software();

fn v6(a: Ipv6Addr, port: u16) -> Endpoint {
    Endpoint::new(IpAddr::V6(a), port)
}

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

#[test]
fn nat_in_tcp4_ethernet() {
    let mut b = v::NAT_IN_TCP4_BEFORE.to_vec();
    let p = parse_ethernet(&b).unwrap();
    assert_eq!(p.l3, 14);
    assert_eq!(p.flow.proto, Protocol::Tcp);
    assert_eq!(p.flow.src, Endpoint::v4(CLIENT4, 40000));
    assert_eq!(p.flow.dst, Endpoint::v4(VIP4, 80));
    assert!(p.tcp_flags.syn() && !p.tcp_flags.ack());
    assert!(p.dont_frag && !p.frag.is_fragment);
    assert_eq!(p.ip_len, b.len() - 14);
    assert_eq!(p.eth.unwrap().dst, MacAddr([2, 0, 0, 0, 0, 1]));
    nat_in(&mut b, &p, Endpoint::v4(RIP4, 8080), &CAPS).unwrap();
    assert_eq!(b, v::NAT_IN_TCP4_AFTER);
    assert_eq!(verify(&b, true, None).tcp, 1);
}

/// The IP packet `before` of a vector, parsed and rewritten by `rw`, must be its `after` byte for byte and pass
/// the etherparse oracle: returns the parse of `before` and what the oracle counted.
fn rewrite_case(
    (before, after): (&[u8], &[u8]),
    rw: impl FnOnce(&mut [u8], &Parsed) -> Result<(), ForwardError>,
) -> (Parsed, Checked) {
    let mut b = before.to_vec();
    let p = parse_ip(&b).unwrap();
    rw(&mut b, &p).unwrap();
    assert_eq!(b, after);
    (p, verify(&b, false, None))
}

#[test]
fn nat_out_tcp4() {
    let (p, _) = rewrite_case(v::NAT_OUT_TCP4, |b, p| {
        nat_out(b, p, Endpoint::v4(VIP4, 80), &CAPS)
    });
    assert_eq!(p.flow.src, Endpoint::v4(RIP4, 8080));
    assert!(p.tcp_flags.syn() && p.tcp_flags.ack());
    assert_eq!(&v::NAT_OUT_TCP4_BEFORE[p.payload..], b"hello");
}

#[test]
fn nat_in_udp4_with_ip_options() {
    assert_eq!(v::NAT_IN_UDP4_OPTS_BEFORE[0], 0x46, "IHL 6");
    let (p, c) = rewrite_case(v::NAT_IN_UDP4_OPTS, |b, p| {
        nat_in(b, p, Endpoint::v4(RIP4, 5353), &CAPS)
    });
    assert_eq!((p.l4, p.flow.proto), (24, Protocol::Udp));
    assert_eq!(p.flow.dst, Endpoint::v4(VIP4, 53));
    assert_eq!(c.udp, 1);
}

#[test]
fn nat_out_udp4_zero_checksum_stays_zero() {
    rewrite_case(v::NAT_OUT_UDP4_NOCSUM, |b, p| {
        nat_out(b, p, Endpoint::v4(VIP4, 53), &CAPS)
    });
    assert_eq!(&v::NAT_OUT_UDP4_NOCSUM_AFTER[26..28], &[0, 0]);
}

#[test]
fn nat_in_tcp6() {
    let (p, c) = rewrite_case(v::NAT_IN_TCP6, |b, p| nat_in(b, p, v6(RIP6, 8080), &CAPS));
    assert_eq!((p.l4, p.tos, p.ttl), (40, 0xb8, 64));
    assert_eq!(c.tcp, 1);
}

#[test]
fn nat_out_udp6_after_destination_options() {
    let (p, c) = rewrite_case(v::NAT_OUT_UDP6_EXT, |b, p| {
        nat_out(b, p, v6(VIP6, 53), &CAPS)
    });
    assert_eq!((p.l4, p.flow.src), (48, v6(RIP6, 5353)));
    assert_eq!(c.udp, 1);
}

#[test]
fn nat_in_udp6_after_hop_by_hop() {
    let (p, _) = rewrite_case(v::NAT_IN_UDP6_HBH, |b, p| {
        nat_in(b, p, v6(RIP6, 5353), &CAPS)
    });
    assert_eq!(p.l4, 48);
}

#[test]
fn icmp_in_v4_rewrites_outer_and_quote() {
    let (p, c) = rewrite_case(v::ICMP_IN_V4, |b, p| {
        nat_icmp(b, p, Direction::Input, Endpoint::v4(RIP4, 8080), &CAPS)
    });
    let q = p.icmp.unwrap().quote.unwrap();
    assert!(q.has_ports);
    assert_eq!(q.flow().src, Endpoint::v4(CLIENT4, 40000));
    assert_eq!(q.flow().dst, Endpoint::v4(VIP4, 80));
    assert_eq!((c.icmp, c.quoted_ipv4), (1, 1));
}

#[test]
fn icmp_out_v4_rewrites_outer_and_quote() {
    let (p, _) = rewrite_case(v::ICMP_OUT_V4, |b, p| {
        nat_icmp(b, p, Direction::Output, Endpoint::v4(VIP4, 53), &CAPS)
    });
    let q = p.icmp.unwrap().quote.unwrap();
    assert_eq!(q.flow().src, Endpoint::v4(RIP4, 5353));
    // plain NAT refuses an ICMP error
    let mut b = v::ICMP_OUT_V4_BEFORE.to_vec();
    assert_eq!(
        nat_out(&mut b, &p, Endpoint::v4(VIP4, 53), &CAPS),
        Err(ForwardError::Unsupported)
    );
    assert_eq!(b, v::ICMP_OUT_V4_BEFORE);
}

#[test]
fn icmp_in_and_out_v6() {
    let (p, c) = rewrite_case(v::ICMP_IN_V6, |b, p| {
        nat_icmp(b, p, Direction::Input, v6(RIP6, 8080), &CAPS)
    });
    assert_eq!(p.icmp.unwrap().quote.unwrap().flow().dst, v6(VIP6, 80));
    assert_eq!(c.icmp, 1);
    rewrite_case(v::ICMP_OUT_V6, |b, p| {
        nat_icmp(b, p, Direction::Output, v6(VIP6, 53), &CAPS)
    });
    // not an error
    let mut b = v::NAT_IN_TCP6_BEFORE.to_vec();
    let p = parse_ip(&b).unwrap();
    assert_eq!(
        nat_icmp(&mut b, &p, Direction::Output, v6(VIP6, 53), &CAPS),
        Err(ForwardError::NotIcmpError)
    );
}

/// `packet` after `head` zero bytes of headroom.
fn with_headroom(head: usize, packet: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; head];
    b.extend_from_slice(packet);
    b
}

fn tunnel_case((before, after): (&[u8], &[u8]), params: TunnelParams, gue: Option<u16>) {
    let head = after.len() - before.len();
    let mut b = with_headroom(head, before);
    // one byte short of headroom: refused, untouched
    let mut short = b[1..].to_vec();
    let copy = short.clone();
    assert_eq!(
        encapsulate(&mut short, head - 1, before.len(), &params, &CAPS),
        Err(ForwardError::InsufficientHeadroom { required: head })
    );
    assert_eq!(short, copy);
    let e = encapsulate(&mut b, head, before.len(), &params, &CAPS).unwrap();
    assert_eq!((e.start, e.len), (0, after.len()));
    assert_eq!(b, after);
    verify(&b, false, gue);
    let d = decapsulate(&b, 0, gue, &CAPS).unwrap();
    assert_eq!(&b[d.start..d.start + d.len], before);
    assert_eq!(d.outer_dst, params.dst);
    assert_eq!(
        d.tunnel,
        match params.kind {
            TunnelKind::Ipip => TunnelType::Ipip,
            TunnelKind::Gue { port, .. } => TunnelType::Gue { port },
        }
    );
}

/// IPIP from the director to the real server over IPv4, with an identification for packets
/// without DF.
fn ipip4() -> TunnelParams {
    TunnelParams {
        ident: 0x4242,
        ..TunnelParams::ipip(ip4(DIR4), ip4(RIP4))
    }
}

/// GUE to port 6080 from `src` to `dst`, with the outer UDP checksum if `csum`.
fn gue(src: IpAddr, dst: IpAddr, csum: bool) -> TunnelParams {
    TunnelParams {
        kind: TunnelKind::Gue { port: 6080, csum },
        flow_hash: 0x1234_5678,
        ..TunnelParams::ipip(src, dst)
    }
}

#[test]
fn tunnel_ipip_tcp4_copies_df_ttl_and_maps_ce() {
    tunnel_case(v::TUNNEL_IPIP_TCP4, ipip4(), None);
}

#[test]
fn tunnel_ipip_udp4_without_df_uses_ident() {
    tunnel_case(v::TUNNEL_IPIP_UDP4_NODF, ipip4(), None);
}

#[test]
fn tunnel_ipip_tcp6() {
    let params = TunnelParams::ipip(IpAddr::V6(DIR6), IpAddr::V6(RIP6));
    tunnel_case(v::TUNNEL_IPIP_TCP6, params, None);
}

#[test]
fn tunnel_gue_tcp4_with_checksum() {
    let params = gue(ip4(DIR4), ip4(RIP4), true);
    tunnel_case(v::TUNNEL_GUE_TCP4, params, Some(6080));
}

#[test]
fn tunnel_gue_tcp6_without_checksum() {
    let params = gue(IpAddr::V6(DIR6), IpAddr::V6(RIP6), false);
    tunnel_case(v::TUNNEL_GUE_TCP6_NOCSUM, params, Some(6080));
}

#[test]
fn dr_tcp4_rewrites_macs_only() {
    let mut b = v::DR_TCP4_BEFORE.to_vec();
    dr::dr_rewrite(
        &mut b,
        MacAddr([2, 0, 0, 0, 0, 2]),
        MacAddr([2, 0, 0, 0, 0, 1]),
    )
    .unwrap();
    assert_eq!(b, v::DR_TCP4_AFTER);
    assert_eq!(b[14..], v::DR_TCP4_BEFORE[14..]);
    verify(&b, true, None);
    assert!(dr::dr_rewrite(&mut b[..13], MacAddr::BROADCAST, MacAddr::BROADCAST).is_err());
}

#[test]
fn push_ethernet_into_headroom() {
    let mut b = with_headroom(14, v::NAT_IN_TCP6_AFTER);
    let repr = lvs_forward::wire::EthernetRepr {
        src_addr: MacAddr([2, 0, 0, 0, 0, 1]),
        dst_addr: MacAddr([2, 0, 0, 0, 0, 2]),
        ethertype: lvs_forward::wire::EtherType::Unknown(0),
    };
    assert_eq!(dr::push_ethernet(&mut b, 14, &repr), Ok(0));
    assert_eq!(&b[..14], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd]);
    verify(&b, true, None);
    assert_eq!(
        dr::push_ethernet(&mut b, 13, &repr),
        Err(ForwardError::InsufficientHeadroom { required: 14 })
    );
}

/// The ICMP error "fragmentation needed" or "packet too big" about `before` for `mtu`.
fn too_big(before: &[u8], p: &Parsed, mtu: u32, out: &mut [u8]) -> Result<usize, ForwardError> {
    build_error(
        before,
        p,
        IcmpErrorKind::too_big(p.family, mtu),
        None,
        out,
        &CAPS,
    )
}

#[test]
fn frag_needed_v4_for_tunnel_mtu() {
    let before = v::FRAG_NEEDED_V4_BEFORE;
    let p = parse_ip(before).unwrap();
    let mut b = with_headroom(20, before);
    let copy = b.clone();
    let params = TunnelParams {
        mtu: 1400,
        ..TunnelParams::ipip(ip4(DIR4), ip4(RIP4))
    };
    let err = encapsulate(&mut b, 20, before.len(), &params, &CAPS).unwrap_err();
    assert_eq!(err, ForwardError::MtuExceeded { mtu: 1380 });
    assert_eq!(b, copy);
    let ForwardError::MtuExceeded { mtu } = err else {
        unreachable!()
    };
    let mut out = [0u8; 1500];
    let n = too_big(before, &p, mtu, &mut out).unwrap();
    assert_eq!(n, 576);
    assert_eq!(&out[..n], v::FRAG_NEEDED_V4_AFTER);
    verify(&out[..n], false, None);
    // too small an output buffer: refused, untouched
    let mut small = [0u8; 20 + 8 + 20 + 8 - 1];
    assert_eq!(
        too_big(before, &p, mtu, &mut small),
        Err(ForwardError::BufferTooSmall { required: 56 })
    );
    assert!(small.iter().all(|&x| x == 0));
    // pmtu_disc off: fragment anyway
    let params = TunnelParams {
        pmtu_disc: false,
        ..params
    };
    assert!(encapsulate(&mut b, 20, before.len(), &params, &CAPS).is_ok());
    assert_eq!(b[6] & 0x40, 0, "outer DF clear without pmtu_disc");
    assert_eq!(b[26] & 0x40, 0x40, "inner DF kept");
}

#[test]
fn packet_too_big_v6_for_tunnel_mtu() {
    let before = v::TOO_BIG_V6_BEFORE;
    let p = parse_ip(before).unwrap();
    let mut b = with_headroom(40, before);
    let params = TunnelParams {
        mtu: 1320,
        ..TunnelParams::ipip(IpAddr::V6(DIR6), IpAddr::V6(RIP6))
    };
    let err = encapsulate(&mut b, 40, before.len(), &params, &CAPS).unwrap_err();
    assert_eq!(err, ForwardError::MtuExceeded { mtu: 1280 });
    let params = TunnelParams {
        mtu: 1319,
        ..params
    };
    assert_eq!(
        encapsulate(&mut b, 40, before.len(), &params, &CAPS),
        Err(ForwardError::RouteMtuTooSmall { mtu: 1279 })
    );
    let mut out = [0u8; 2000];
    let n = too_big(before, &p, 1280, &mut out).unwrap();
    assert_eq!(n, 1280);
    assert_eq!(&out[..n], v::TOO_BIG_V6_AFTER);
    verify(&out[..n], false, None);
}

#[test]
fn no_icmp_error_about_icmp_errors() {
    let p = parse_ip(v::ICMP_OUT_V4_BEFORE).unwrap();
    let mut out = [0u8; 600];
    assert_eq!(
        build_error(
            v::ICMP_OUT_V4_BEFORE,
            &p,
            IcmpErrorKind::TimeExceeded,
            None,
            &mut out,
            &CAPS
        ),
        Err(ForwardError::IcmpSuppressed)
    );
    // and a relayed ICMP error over the MTU with DF is let through for IPv4
    assert_eq!(route::check_mtu(&p, 40), Ok(()));
}

#[test]
fn ttl_exceeded_reply() {
    let mut b = v::NAT_OUT_TCP4_BEFORE.to_vec();
    b[8] = 1;
    let c = lvs_forward::checksum::checksum(&{
        let mut h = [0u8; 20];
        h.copy_from_slice(&b[..20]);
        h[10] = 0;
        h[11] = 0;
        h
    });
    b[10..12].copy_from_slice(&c.to_be_bytes());
    let p = parse_ip(&b).unwrap();
    let copy = b.clone();
    assert_eq!(
        route::decrement_ttl(&mut b, &p, &CAPS),
        Err(ForwardError::TtlExpired)
    );
    assert_eq!(b, copy);
    let mut out = [0u8; 600];
    let n = build_error(
        &b,
        &p,
        IcmpErrorKind::TimeExceeded,
        Some(ip4(DIR4)),
        &mut out,
        &CAPS,
    )
    .unwrap();
    assert_eq!(n, 28 + b.len());
    assert_eq!((out[20], out[21]), (11, 0));
    assert_eq!(&out[12..16], &DIR4);
    assert_eq!(&out[16..20], &RIP4, "to the offending packet's source");
    assert_eq!(&out[28..n], &b[..]);
    verify(&out[..n], false, None);
}
