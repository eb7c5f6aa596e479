//! Forwarding rewriters: lvs-forward's in-place, incremental rewrite against etherparse parsing
//! the packet, setting the fields and recomputing checksums in full, side by side.
//!
//! Each iteration of both functions starts from a fresh copy of the same packet (built with
//! scapy, see lvs-forward/tests/data/gen_vectors.py), so the copy costs the same on both sides.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use etherparse::{
    Ethernet2Header, IpDscp, IpEcn, IpNumber, Ipv4Header, NetSlice, SlicedPacket, TransportSlice,
    UdpHeader,
};
use lvs_core::{Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, TunnelKind};
use lvs_forward::nat::{nat_in, nat_out};
use lvs_forward::parse::{parse_ethernet, parse_ip};
use lvs_forward::tunnel::{encapsulate, gue_source_port, TunnelParams};
use lvs_forward::{dr, ChecksumCaps, MacAddr};
use std::hint::black_box;

#[rustfmt::skip]
#[path = "../../lvs-forward/tests/data/vectors.rs"]
mod vectors;

const CAPS: ChecksumCaps = ChecksumCaps::software();
const RIP4: [u8; 4] = [10, 0, 0, 2];
const VIP4: [u8; 4] = [198, 51, 100, 1];
const DIR4: [u8; 4] = [10, 0, 0, 1];
const RIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 2);

/// etherparse: parse IPv4 + TCP, set one endpoint, recompute both checksums, write back.
fn ep_nat_tcp4(buf: &mut [u8], dst: bool, addr: [u8; 4], port: u16) {
    let (ipb, tcpb) = {
        let s = SlicedPacket::from_ip(buf).unwrap();
        let Some(NetSlice::Ipv4(ip)) = s.net else {
            unreachable!()
        };
        let Some(TransportSlice::Tcp(t)) = s.transport else {
            unreachable!()
        };
        let mut iph = ip.header().to_header();
        let mut tcp = t.to_header();
        if dst {
            iph.destination = addr;
            tcp.destination_port = port;
        } else {
            iph.source = addr;
            tcp.source_port = port;
        }
        iph.header_checksum = iph.calc_header_checksum();
        tcp.checksum = tcp.calc_checksum_ipv4(&iph, t.payload()).unwrap();
        (iph.to_bytes(), tcp.to_bytes())
    };
    buf[..ipb.len()].copy_from_slice(&ipb);
    buf[ipb.len()..ipb.len() + tcpb.len()].copy_from_slice(&tcpb);
}

/// etherparse: parse IPv6 (+ extension headers) + UDP, set the destination, recompute, write.
fn ep_nat_in_udp6(buf: &mut [u8], addr: [u8; 16], port: u16) {
    let (iph, udph, l4) = {
        let s = SlicedPacket::from_ip(buf).unwrap();
        let Some(NetSlice::Ipv6(ip)) = s.net else {
            unreachable!()
        };
        let Some(TransportSlice::Udp(u)) = s.transport else {
            unreachable!()
        };
        let mut iph = ip.header().to_header();
        let mut udp = u.to_header();
        iph.destination = addr;
        udp.destination_port = port;
        udp.checksum = udp.calc_checksum_ipv6(&iph, u.payload()).unwrap();
        (iph.to_bytes(), udp.to_bytes(), buf.len() - u.slice().len())
    };
    buf[..40].copy_from_slice(&iph);
    buf[l4..l4 + 8].copy_from_slice(&udph);
}

/// etherparse: parse the inner IPv4 header, build the outer header (and GUE's UDP header with a
/// full checksum) and write them into the headroom.
fn ep_tunnel4(buf: &mut [u8], head: usize, gue: bool) {
    let inner = &buf[head..];
    let ih = etherparse::Ipv4HeaderSlice::from_slice(inner)
        .unwrap()
        .to_header();
    let inner_len = inner.len();
    let mut oh = Ipv4Header::new(
        (head - 20 + inner_len) as u16,
        ih.time_to_live,
        if gue { IpNumber::UDP } else { IpNumber::IPV4 },
        DIR4,
        RIP4,
    )
    .unwrap();
    oh.dscp = ih.dscp;
    oh.ecn = if ih.ecn.value() == 3 {
        IpEcn::try_new(2).unwrap()
    } else {
        ih.ecn
    };
    oh.dont_fragment = ih.dont_fragment;
    let _ = IpDscp::ZERO;
    oh.header_checksum = oh.calc_header_checksum();
    if gue {
        buf[28..32].copy_from_slice(&[0, 4, 0, 0]);
        let mut u = UdpHeader {
            source_port: gue_source_port(0x1234_5678),
            destination_port: 6080,
            length: (8 + 4 + inner_len) as u16,
            checksum: 0,
        };
        u.checksum = u.calc_checksum_ipv4(&oh, &buf[28..]).unwrap();
        buf[20..28].copy_from_slice(&u.to_bytes());
    }
    buf[..20].copy_from_slice(&oh.to_bytes());
}

fn ep_dr(buf: &mut [u8], dst: [u8; 6], src: [u8; 6]) {
    let (mut h, _) = Ethernet2Header::from_slice(buf).unwrap();
    h.destination = dst;
    h.source = src;
    buf[..14].copy_from_slice(&h.to_bytes());
}

fn pair(
    c: &mut Criterion,
    name: &str,
    template: &[u8],
    lvs: impl Fn(&mut Vec<u8>),
    ep: impl Fn(&mut Vec<u8>),
) {
    let mut g = c.benchmark_group(format!("forward/{name}"));
    g.bench_function("lvs", |b| {
        b.iter_batched_ref(
            || template.to_vec(),
            |buf| lvs(black_box(buf)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("etherparse_full", |b| {
        b.iter_batched_ref(
            || template.to_vec(),
            |buf| ep(black_box(buf)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn with_headroom(head: usize, p: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; head];
    v.extend_from_slice(p);
    v
}

fn benches(c: &mut Criterion) {
    // Both sides must produce the same bytes; check once before timing.
    let check = |t: &[u8], lvs: &dyn Fn(&mut Vec<u8>), ep: &dyn Fn(&mut Vec<u8>)| {
        let (mut a, mut b) = (t.to_vec(), t.to_vec());
        lvs(&mut a);
        ep(&mut b);
        assert_eq!(a, b);
    };

    let nat_in_tcp4 = |b: &mut Vec<u8>| {
        let p = parse_ip(b).unwrap();
        nat_in(b, &p, Endpoint::v4(RIP4, 8080), &CAPS).unwrap();
    };
    let ep_in_tcp4 = |b: &mut Vec<u8>| ep_nat_tcp4(b, true, RIP4, 8080);
    let t = &vectors::NAT_IN_TCP4_BEFORE[14..];
    check(t, &nat_in_tcp4, &ep_in_tcp4);
    pair(c, "nat_in_tcp4", t, nat_in_tcp4, ep_in_tcp4);

    let nat_out_tcp4 = |b: &mut Vec<u8>| {
        let p = parse_ip(b).unwrap();
        nat_out(b, &p, Endpoint::v4(VIP4, 80), &CAPS).unwrap();
    };
    let ep_out_tcp4 = |b: &mut Vec<u8>| ep_nat_tcp4(b, false, VIP4, 80);
    check(vectors::NAT_OUT_TCP4_BEFORE, &nat_out_tcp4, &ep_out_tcp4);
    pair(
        c,
        "nat_out_tcp4",
        vectors::NAT_OUT_TCP4_BEFORE,
        nat_out_tcp4,
        ep_out_tcp4,
    );

    let nat_in_udp6 = |b: &mut Vec<u8>| {
        let p = parse_ip(b).unwrap();
        nat_in(b, &p, Endpoint::new(IpAddr::V6(RIP6), 5353), &CAPS).unwrap();
    };
    let ep_in_udp6 = |b: &mut Vec<u8>| ep_nat_in_udp6(b, RIP6.octets(), 5353);
    check(vectors::NAT_IN_UDP6_HBH_BEFORE, &nat_in_udp6, &ep_in_udp6);
    pair(
        c,
        "nat_in_udp6",
        vectors::NAT_IN_UDP6_HBH_BEFORE,
        nat_in_udp6,
        ep_in_udp6,
    );

    let ipip = TunnelParams::ipip(
        IpAddr::V4(Ipv4Addr::from(DIR4)),
        IpAddr::V4(Ipv4Addr::from(RIP4)),
    );
    let t = with_headroom(20, vectors::TUNNEL_IPIP_TCP4_BEFORE);
    let lvs_ipip = move |b: &mut Vec<u8>| {
        let n = b.len() - 20;
        encapsulate(b, 20, n, &ipip, &CAPS).unwrap();
    };
    let ep_ipip = |b: &mut Vec<u8>| ep_tunnel4(b, 20, false);
    check(&t, &lvs_ipip, &ep_ipip);
    pair(c, "tunnel_ipip_tcp4", &t, lvs_ipip, ep_ipip);

    let gue = TunnelParams {
        kind: TunnelKind::Gue {
            port: 6080,
            csum: true,
        },
        flow_hash: 0x1234_5678,
        ..ipip
    };
    let t = with_headroom(32, vectors::TUNNEL_GUE_TCP4_BEFORE);
    let lvs_gue = move |b: &mut Vec<u8>| {
        let n = b.len() - 32;
        encapsulate(b, 32, n, &gue, &CAPS).unwrap();
    };
    let ep_gue = |b: &mut Vec<u8>| ep_tunnel4(b, 32, true);
    check(&t, &lvs_gue, &ep_gue);
    pair(c, "tunnel_gue_tcp4", &t, lvs_gue, ep_gue);

    let (rs, me) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let lvs_dr = move |b: &mut Vec<u8>| {
        let p = parse_ethernet(b).unwrap();
        black_box(&p);
        dr::dr_rewrite(b, MacAddr(rs), MacAddr(me)).unwrap();
    };
    let ep_drf = move |b: &mut Vec<u8>| ep_dr(b, rs, me);
    check(vectors::DR_TCP4_BEFORE, &lvs_dr, &ep_drf);
    pair(c, "dr_tcp4", vectors::DR_TCP4_BEFORE, lvs_dr, ep_drf);
}

criterion_group!(forward, benches);
criterion_main!(forward);
