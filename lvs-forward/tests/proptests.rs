//! Property tests: NAT round trips, incremental checksums against full recomputes by
//! etherparse, tunnel identity, and no panics on arbitrary bytes.

mod common;

use common::verify;
use etherparse::{IpHeaders, Ipv4Header, Ipv4Options, Ipv6FlowLabel, Ipv6Header, PacketBuilder};
use lvs_core::addr::Direction;
use lvs_core::{Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, TunnelKind};
use lvs_forward::icmp::{build_error, nat_icmp, IcmpErrorKind};
use lvs_forward::nat::{nat_in, nat_out};
use lvs_forward::parse::{parse_ethernet, parse_ip};
use lvs_forward::tunnel::{decapsulate, encapsulate, TunnelParams};
use lvs_forward::{route, ChecksumCaps, ForwardError};
use proptest::prelude::*;

const CAPS: ChecksumCaps = ChecksumCaps::software();

#[derive(Debug, Clone)]
struct Pkt {
    v6: bool,
    tcp: bool,
    src: Endpoint,
    dst: Endpoint,
    ttl: u8,
    df: bool,
    ident: u16,
    options: Vec<u8>,
    udp_zero: bool,
    payload: Vec<u8>,
}

fn addr(v6: bool, seed: [u8; 16]) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(seed))
    } else {
        IpAddr::V4(Ipv4Addr::new(seed[0], seed[1], seed[2], seed[3]))
    }
}

fn endpoint(v6: bool) -> impl Strategy<Value = Endpoint> {
    (any::<[u8; 16]>(), any::<u16>()).prop_map(move |(a, p)| Endpoint::new(addr(v6, a), p))
}

fn pkt() -> impl Strategy<Value = Pkt> {
    any::<bool>().prop_flat_map(|v6| {
        (
            any::<bool>(),
            endpoint(v6),
            endpoint(v6),
            2u8..=255,
            any::<bool>(),
            any::<u16>(),
            0usize..=10,
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(
                move |(tcp, src, dst, ttl, df, ident, opt_words, udp_zero, payload)| Pkt {
                    v6,
                    tcp,
                    src,
                    dst,
                    ttl,
                    df,
                    ident,
                    options: vec![1u8; opt_words * 4],
                    udp_zero,
                    payload,
                },
            )
    })
}

fn octets4(a: &IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => unreachable!(),
    }
}
fn octets6(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => unreachable!(),
    }
}

/// Builds the packet with etherparse (full checksums), with `src`/`dst` replaced.
fn build(p: &Pkt, src: Endpoint, dst: Endpoint) -> Vec<u8> {
    let ip = if p.v6 {
        let h = Ipv6Header {
            traffic_class: 0,
            flow_label: Ipv6FlowLabel::ZERO,
            payload_length: 0,
            next_header: etherparse::IpNumber::TCP,
            hop_limit: p.ttl,
            source: octets6(&src.addr),
            destination: octets6(&dst.addr),
        };
        IpHeaders::Ipv6(h, Default::default())
    } else {
        let mut h = Ipv4Header::new(
            0,
            p.ttl,
            etherparse::IpNumber::TCP,
            octets4(&src.addr),
            octets4(&dst.addr),
        )
        .unwrap();
        h.dont_fragment = p.df;
        h.identification = p.ident;
        h.options = Ipv4Options::try_from(&p.options[..]).unwrap();
        IpHeaders::Ipv4(h, Default::default())
    };
    let b = PacketBuilder::ip(ip);
    let mut out = Vec::new();
    if p.tcp {
        b.tcp(src.port, dst.port, 12345, 4096)
            .ack(777)
            .write(&mut out, &p.payload)
            .unwrap();
    } else {
        b.udp(src.port, dst.port)
            .write(&mut out, &p.payload)
            .unwrap();
        if p.udp_zero && !p.v6 {
            let l4 = 20 + p.options.len();
            out[l4 + 6] = 0;
            out[l4 + 7] = 0;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    /// The incremental update equals a full recompute (etherparse building the rewritten packet
    /// from scratch), and the oracle agrees.
    #[test]
    fn nat_in_equals_full_recompute(p in pkt(), rip_seed in any::<[u8; 16]>(), rport in any::<u16>()) {
        let real = Endpoint::new(addr(p.v6, rip_seed), rport);
        let mut b = build(&p, p.src, p.dst);
        let parsed = parse_ip(&b).unwrap();
        prop_assert_eq!(parsed.flow.src, p.src);
        prop_assert_eq!(parsed.flow.dst, p.dst);
        nat_in(&mut b, &parsed, real, &CAPS).unwrap();
        verify(&b, false, None);
        prop_assert_eq!(b, build(&p, p.src, real));
    }

    /// NAT in, the real server's reply, NAT out: the client sees VIP:vport answer it; and
    /// rewriting the destination back restores the original bytes.
    #[test]
    fn nat_in_then_out_restores_client_view(p in pkt(), rip_seed in any::<[u8; 16]>(), rport in any::<u16>()) {
        let (client, vip) = (p.src, p.dst);
        let real = Endpoint::new(addr(p.v6, rip_seed), rport);
        let orig = build(&p, client, vip);
        let mut b = orig.clone();
        let parsed = parse_ip(&b).unwrap();
        nat_in(&mut b, &parsed, real, &CAPS).unwrap();
        // back again
        let mut back = b.clone();
        let parsed2 = parse_ip(&back).unwrap();
        prop_assert_eq!(parsed2.flow.dst, real);
        nat_in(&mut back, &parsed2, vip, &CAPS).unwrap();
        prop_assert_eq!(&back, &orig);
        // the reply RIP -> client, NATed out
        let mut reply = build(&p, real, client);
        let pr = parse_ip(&reply).unwrap();
        nat_out(&mut reply, &pr, vip, &CAPS).unwrap();
        verify(&reply, false, None);
        let pr = parse_ip(&reply).unwrap();
        prop_assert_eq!(pr.flow.src, vip);
        prop_assert_eq!(pr.flow.dst, client);
        prop_assert_eq!(reply, build(&p, vip, client));
    }

    /// Encapsulation then decapsulation is the identity on the inner packet, for every tunnel
    /// kind and outer family, and the outer packet passes the oracle.
    #[test]
    fn tunnel_roundtrip(p in pkt(), outer_v6 in any::<bool>(), gue in any::<bool>(), csum in any::<bool>(),
                        s in any::<[u8; 16]>(), d in any::<[u8; 16]>(), hash in any::<u32>(), extra in 0usize..16) {
        // an inner datagram addressed to the GUE port itself would make the oracle (which
        // decapsulates recursively by port) read its payload as another GUE header
        prop_assume!(p.src.port != 6080 && p.dst.port != 6080);
        let inner = build(&p, p.src, p.dst);
        let kind = if gue { TunnelKind::Gue { port: 6080, csum } } else { TunnelKind::Ipip };
        let params = TunnelParams { kind, flow_hash: hash, ..TunnelParams::ipip(addr(outer_v6, s), addr(outer_v6, d)) };
        let head = lvs_forward::tunnel::overhead(kind, lvs_core::AddrFamily::of(&params.dst)) + extra;
        let mut b = vec![0u8; head];
        b.extend_from_slice(&inner);
        let e = encapsulate(&mut b, head, inner.len(), &params, &CAPS).unwrap();
        prop_assert_eq!(e.start, extra);
        prop_assert_eq!(&b[head..], &inner[..]);
        verify(&b[e.start..], false, if gue { Some(6080) } else { None });
        let dcap = decapsulate(&b, e.start, Some(6080), &CAPS).unwrap();
        prop_assert_eq!(&b[dcap.start..dcap.start + dcap.len], &inner[..]);
        prop_assert_eq!(dcap.outer_src, params.src);
    }

    /// TTL decrement keeps every checksum valid.
    #[test]
    fn ttl_decrement_valid(p in pkt()) {
        let mut b = build(&p, p.src, p.dst);
        let parsed = parse_ip(&b).unwrap();
        prop_assert_eq!(route::decrement_ttl(&mut b, &parsed, &CAPS), Ok(p.ttl - 1));
        verify(&b, false, None);
    }

    /// ICMP errors built about random packets, then NATed back in, pass the oracle.
    #[test]
    fn icmp_error_then_nat(p in pkt(), rip_seed in any::<[u8; 16]>(), rport in any::<u16>()) {
        let b = build(&p, p.src, p.dst);
        let parsed = parse_ip(&b).unwrap();
        let mut out = vec![0u8; 1500];
        let kind = IcmpErrorKind::TimeExceeded;
        match build_error(&b, &parsed, kind, None, &mut out, &CAPS) {
            Ok(n) => {
                out.truncate(n);
                verify(&out, false, None);
                let e = parse_ip(&out).unwrap();
                let q = e.icmp.unwrap().quote.unwrap();
                prop_assert_eq!(q.quoted, parsed.flow);
                // the error about VIP-bound traffic comes from the VIP; rewrite as ip_vs_out_icmp
                let real = Endpoint::new(addr(p.v6, rip_seed), rport);
                nat_icmp(&mut out, &e, Direction::Output, real, &CAPS).unwrap();
                verify(&out, false, None);
            }
            Err(ForwardError::IcmpSuppressed) => {}
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }

    /// Parsing arbitrary bytes never panics, and neither does any rewriter on what parses.
    #[test]
    fn no_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200), eth in any::<bool>(),
                                    v6 in any::<bool>(), port in any::<u16>(), s in any::<[u8; 16]>()) {
        let r = if eth { parse_ethernet(&bytes) } else { parse_ip(&bytes) };
        let ep = Endpoint::new(addr(v6, s), port);
        if let Ok(p) = r {
            let mut b = bytes.clone();
            let _ = nat_in(&mut b, &p, ep, &CAPS);
            let _ = nat_out(&mut b, &p, ep, &CAPS);
            let _ = nat_icmp(&mut b, &p, Direction::Input, ep, &CAPS);
            let _ = route::decrement_ttl(&mut b, &p, &CAPS);
            let mut out = [0u8; 128];
            let _ = build_error(&b, &p, IcmpErrorKind::TimeExceeded, None, &mut out, &CAPS);
            let _ = encapsulate(&mut b, p.l3, p.ip_len, &TunnelParams::ipip(ep.addr, ep.addr), &CAPS);
        }
        let _ = decapsulate(&bytes, 0, Some(port), &CAPS);
        let mut b = bytes.clone();
        let _ = encapsulate(&mut b, port as usize % 64, bytes.len().saturating_sub(port as usize % 64), &TunnelParams::ipip(ep.addr, ep.addr), &CAPS);
    }

    /// A failed rewrite leaves the buffer untouched.
    #[test]
    fn errors_leave_buffer_untouched(p in pkt(), s in any::<[u8; 16]>(), port in any::<u16>()) {
        let b = build(&p, p.src, p.dst);
        let parsed = parse_ip(&b).unwrap();
        let other = Endpoint::new(addr(!p.v6, s), port);
        let mut c = b.clone();
        prop_assert_eq!(nat_in(&mut c, &parsed, other, &CAPS), Err(ForwardError::FamilyMismatch));
        prop_assert_eq!(&c, &b);
        prop_assert!(encapsulate(&mut c, 3, b.len() - 3, &TunnelParams::ipip(other.addr, other.addr), &CAPS).is_err());
        prop_assert_eq!(&c, &b);
    }
}
