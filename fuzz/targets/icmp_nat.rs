// icmp_nat: ICMP error handling on arbitrary packets: `nat_icmp` in both directions and
// `build_error` for every kind. Failures leave the buffers untouched; a rewritten error must
// parse again with the rewritten quote; a built error must parse as an ICMP error quoting the
// original flow.

use lvs_core::addr::Direction;
use lvs_core::{AddrFamily, Endpoint};
use lvs_forward::icmp::{build_error, nat_icmp, IcmpErrorKind};
use lvs_forward::parse::parse_ip;
use lvs_forward::ChecksumCaps;

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let Some((&ctl, pkt)) = data.split_first() else {
        return;
    };
    let Ok(p) = parse_ip(pkt) else { return };
    let caps = ChecksumCaps::software();
    let ep = match p.family {
        AddrFamily::Ipv4 => Endpoint::v4([10, 0, 0, ctl], 8080),
        AddrFamily::Ipv6 => Endpoint::v6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ctl],
            8080,
        ),
    };
    let dir = if ctl & 1 == 0 {
        Direction::Input
    } else {
        Direction::Output
    };
    let mut b = pkt.to_vec();
    match nat_icmp(&mut b, &p, dir, ep, &caps) {
        Err(_) => assert_eq!(b, pkt),
        Ok(()) => {
            let q = parse_ip(&b).expect("rewritten error parses");
            let quote = q.icmp.and_then(|i| i.quote).expect("still quotes");
            let moved = if dir == Direction::Input {
                quote.quoted.src
            } else {
                quote.quoted.dst
            };
            assert_eq!(moved.addr, ep.addr);
            if quote.has_ports {
                assert_eq!(moved.port, ep.port);
            }
        }
    }
    let kind = match (p.family, ctl >> 6) {
        (_, 0) => IcmpErrorKind::TimeExceeded,
        (_, 1) => IcmpErrorKind::PortUnreachable,
        (AddrFamily::Ipv4, _) => IcmpErrorKind::FragNeeded { mtu: 1400 },
        (AddrFamily::Ipv6, _) => IcmpErrorKind::PacketTooBig { mtu: 1280 },
    };
    let mut out = vec![0u8; usize::from(ctl) * 6];
    match build_error(pkt, &p, kind, None, &mut out, &caps) {
        Err(_) => assert!(out.iter().all(|&x| x == 0)),
        Ok(n) => {
            let e = parse_ip(&out[..n]).expect("built error parses");
            let q = e.icmp.and_then(|i| i.quote).expect("quotes");
            assert_eq!(q.quoted.src.addr, p.flow.src.addr);
            assert_eq!(e.flow.dst.addr, p.flow.src.addr);
        }
    }
}
