//! The independent oracle: etherparse re-parses a packet and every checksum is recomputed from
//! its parsed headers and payload (not with lvs-forward's checksum code).
#![allow(dead_code)]

use etherparse::{
    Icmpv4Slice, Icmpv6Slice, IpNumber, Ipv4HeaderSlice, NetSlice, SlicedPacket, TransportSlice,
};

/// What the oracle looked at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub ipv4_headers: usize,
    pub tcp: usize,
    pub udp: usize,
    pub icmp: usize,
    pub quoted_ipv4: usize,
}

/// Verifies every checksum of an Ethernet frame (`eth`) or bare IP packet; tunnels (IPIP and
/// GUE on `gue_port`) are verified recursively. Panics on the first mismatch.
pub fn verify(bytes: &[u8], eth: bool, gue_port: Option<u16>) -> Checked {
    let mut c = Checked::default();
    verify_into(bytes, eth, gue_port, &mut c);
    c
}

fn verify_into(bytes: &[u8], eth: bool, gue_port: Option<u16>, c: &mut Checked) {
    let s = if eth {
        SlicedPacket::from_ethernet(bytes)
    } else {
        SlicedPacket::from_ip(bytes)
    }
    .unwrap_or_else(|e| panic!("etherparse rejects the packet: {e:?}"));
    let (src, dst, fragmented, payload, proto) = match s.net.as_ref().expect("no IP layer") {
        NetSlice::Ipv4(v4) => {
            let h = v4.header().to_header();
            assert_eq!(
                h.calc_header_checksum(),
                h.header_checksum,
                "IPv4 header checksum"
            );
            c.ipv4_headers += 1;
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            src[..4].copy_from_slice(&h.source);
            dst[..4].copy_from_slice(&h.destination);
            (
                Addr::V4(h.source),
                Addr::V4(h.destination),
                v4.is_payload_fragmented(),
                v4.payload().payload,
                v4.payload().ip_number,
            )
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header().to_header();
            (
                Addr::V6(h.source),
                Addr::V6(h.destination),
                v6.is_payload_fragmented(),
                v6.payload().payload,
                v6.payload().ip_number,
            )
        }
        NetSlice::Arp(_) => panic!("ARP"),
    };
    if fragmented {
        return;
    }
    match s.transport {
        Some(TransportSlice::Tcp(t)) => {
            let calc = match (src, dst) {
                (Addr::V4(a), Addr::V4(b)) => t.calc_checksum_ipv4(a, b).unwrap(),
                (Addr::V6(a), Addr::V6(b)) => t.calc_checksum_ipv6(a, b).unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(calc, t.checksum(), "TCP checksum");
            c.tcp += 1;
        }
        Some(TransportSlice::Udp(u)) => {
            let h = u.to_header();
            // 0 means "no checksum" (IPv4; and IPv6 tunnels, RFC 6935)
            if h.checksum != 0 {
                let calc = match (src, dst) {
                    (Addr::V4(a), Addr::V4(b)) => {
                        h.calc_checksum_ipv4_raw(a, b, u.payload()).unwrap()
                    }
                    (Addr::V6(a), Addr::V6(b)) => {
                        h.calc_checksum_ipv6_raw(a, b, u.payload()).unwrap()
                    }
                    _ => unreachable!(),
                };
                assert_eq!(calc, h.checksum, "UDP checksum");
            }
            c.udp += 1;
            if Some(h.destination_port) == gue_port {
                let inner = u.payload().get(4..).expect("GUE header");
                verify_into(inner, false, gue_port, c);
            }
        }
        Some(TransportSlice::Icmpv4(i)) => {
            let calc = i.icmp_type().calc_checksum(i.payload());
            assert_eq!(calc, i.checksum(), "ICMP checksum");
            c.icmp += 1;
            verify_quote_v4(i.type_u8(), i.payload(), c);
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let (Addr::V6(a), Addr::V6(b)) = (src, dst) else {
                unreachable!()
            };
            assert!(i.is_checksum_valid(a, b), "ICMPv6 checksum");
            c.icmp += 1;
        }
        _ => {}
    }
    if proto == IpNumber::IPV4 || proto == IpNumber::IPV6 {
        verify_into(payload, false, gue_port, c);
    }
    let _ = (Icmpv4Slice::from_slice, Icmpv6Slice::from_slice);
}

fn verify_quote_v4(ty: u8, quote: &[u8], c: &mut Checked) {
    if matches!(ty, 3 | 4 | 11 | 12) {
        let h = Ipv4HeaderSlice::from_slice(quote)
            .expect("quoted IPv4 header")
            .to_header();
        assert_eq!(
            h.calc_header_checksum(),
            h.header_checksum,
            "quoted IPv4 header checksum"
        );
        c.quoted_ipv4 += 1;
    }
}

#[derive(Clone, Copy)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}
