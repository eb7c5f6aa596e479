// rewrite_nat: NAT in and out, TTL decrement and direct routing on arbitrary packets.
// Byte 0 picks the rewrite and the new endpoint; the rest is a bare IP packet. A rewrite that
// fails must leave the buffer untouched; one that succeeds must leave a packet that parses to
// the rewritten flow, and rewriting back must restore the original bytes when the checksums
// were valid to begin with.

use lvs_core::{AddrFamily, Endpoint};
use lvs_forward::nat::{nat_in, nat_out};
use lvs_forward::parse::parse_ip;
use lvs_forward::{dr, route, ChecksumCaps, MacAddr};

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let Some((&ctl, pkt)) = data.split_first() else {
        return;
    };
    let Ok(p) = parse_ip(pkt) else { return };
    let caps = ChecksumCaps::software();
    let port = u16::from(ctl) * 251;
    let ep = match (p.family, ctl & 1) {
        (AddrFamily::Ipv4, 0) => Endpoint::v4([10, 0, 0, ctl], port),
        (AddrFamily::Ipv6, 0) => Endpoint::v6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ctl],
            port,
        ),
        // the other family: must be refused
        (AddrFamily::Ipv4, _) => Endpoint::v6(
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ctl],
            port,
        ),
        (AddrFamily::Ipv6, _) => Endpoint::v4([192, 0, 2, ctl], port),
    };
    let mut b = pkt.to_vec();
    let inbound = ctl & 2 == 0;
    let r = if inbound {
        nat_in(&mut b, &p, ep, &caps)
    } else {
        nat_out(&mut b, &p, ep, &caps)
    };
    match r {
        Err(_) => assert_eq!(b, pkt),
        Ok(()) => {
            let q = parse_ip(&b).expect("rewritten packet parses");
            let moved = if inbound { q.flow.dst } else { q.flow.src };
            assert_eq!(moved.addr, ep.addr);
            if p.flow.proto.has_ports() {
                assert_eq!(moved.port, ep.port);
            }
            // rewrite back
            let orig = if inbound { p.flow.dst } else { p.flow.src };
            let mut back = b.clone();
            let r2 = if inbound {
                nat_in(&mut back, &q, orig, &caps)
            } else {
                nat_out(&mut back, &q, orig, &caps)
            };
            r2.expect("rewriting back works");
            // equal but for checksum fields (one's complement has two zeros, and a UDP sum that
            // comes out 0 is sent as 0xffff)
            let mask = |v: &mut Vec<u8>| {
                if p.family == AddrFamily::Ipv4 {
                    v[10..12].fill(0);
                }
                let c = match p.protocol() {
                    6 => Some((16, 2)),
                    17 => Some((6, 2)),
                    58 => Some((2, 2)),
                    132 => Some((8, 4)),
                    _ => None,
                };
                if let Some(f) = c.and_then(|(o, n)| v.get_mut(p.l4 + o..p.l4 + o + n)) {
                    f.fill(0);
                }
            };
            let (mut x, mut y) = (back, pkt.to_vec());
            mask(&mut x);
            mask(&mut y);
            assert_eq!(x, y);
        }
    }
    let mut b = pkt.to_vec();
    match route::decrement_ttl(&mut b, &p, &caps) {
        Ok(t) => assert_eq!(t + 1, p.ttl),
        Err(_) => assert_eq!(b, pkt),
    }
    let mut f = data.to_vec();
    let r = dr::dr_rewrite(
        &mut f,
        MacAddr([2, 0, 0, 0, 0, 2]),
        MacAddr([2, 0, 0, 0, 0, 1]),
    );
    assert_eq!(r.is_ok(), data.len() >= 14);
    assert_eq!(f[12.min(f.len())..], data[12.min(data.len())..]);
}
