// parse_packet: lvs_forward::parse on arbitrary bytes, as an Ethernet frame and as a bare IP
// packet, plus the ARP and NDP responders and the wire `Repr` parsers. Every offset a successful
// parse reports must be ordered and inside the input.

use lvs_forward::parse::{parse_ethernet, parse_ip, Parsed};
use lvs_forward::wire::{arp, icmpv6::ndp, ipv4, ipv6, ChecksumCaps, MacAddr};

fn check(p: &Parsed, len: usize) {
    assert!(p.l3 < p.l4 || p.l3 + 20 <= p.l4);
    assert!(p.l4 <= p.payload && p.payload <= p.end() && p.end() <= len);
    if let Some(q) = p.icmp.and_then(|i| i.quote) {
        assert!(p.payload <= q.l3 && q.l3 < q.l4 && q.l4 <= p.end());
        if q.has_ports {
            assert!(q.l4 + 4 <= p.end());
        }
    }
    assert!(p.frag.first);
}

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    if let Ok(p) = parse_ethernet(data) {
        check(&p, data.len());
        assert!(p.eth.is_some());
    }
    if let Ok(p) = parse_ip(data) {
        check(&p, data.len());
        assert_eq!(p.l3, 0);
    }
    let caps = ChecksumCaps::software();
    let _ = ipv4::Repr::parse(&ipv4::Packet::new_unchecked(data), &caps);
    let _ = ipv6::Repr::parse(&ipv6::Packet::new_unchecked(data));
    let mut out = [0u8; 128];
    let mac = MacAddr([2, 0, 0, 0, 0, 1]);
    if let Ok(Some(n)) =
        arp::reply_for(data, core::net::Ipv4Addr::new(198, 18, 0, 1), mac, &mut out)
    {
        assert_eq!(n, arp::REPLY_FRAME_LEN);
    }
    let vip = core::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    if let Ok(Some(n)) = ndp::advert_for(data, vip, mac, &mut out) {
        assert_eq!(n, ndp::ADVERT_FRAME_LEN);
    }
}
