// rewrite_tunnel: IPIP/GUE encapsulation of arbitrary bytes with a fuzzed headroom, MTU and
// tunnel kind, and decapsulation of arbitrary bytes. On success the inner bytes are unchanged
// and decapsulation finds exactly them; on failure the buffer is untouched.

use lvs_core::{IpAddr, Ipv4Addr, Ipv6Addr, TunnelKind};
use lvs_forward::tunnel::{decapsulate, encapsulate, overhead, TunnelParams};
use lvs_forward::ChecksumCaps;

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let caps = ChecksumCaps::software();
    let _ = decapsulate(data, 0, Some(6080), &caps);
    if data.len() < 3 {
        return;
    }
    let (ctl, head, inner) = (data[0], usize::from(data[1] & 0x7f), &data[2..]);
    let (src, dst) = if ctl & 1 == 0 {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    } else {
        (
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
        )
    };
    let kind = if ctl & 2 == 0 {
        TunnelKind::Ipip
    } else {
        TunnelKind::Gue {
            port: 6080,
            csum: ctl & 4 != 0,
        }
    };
    let mtu = if ctl & 8 == 0 {
        0
    } else {
        1200 + u32::from(ctl >> 4) * 40
    };
    let params = TunnelParams {
        kind,
        mtu,
        pmtu_disc: ctl & 0x10 == 0,
        ident: 7,
        flow_hash: u32::from(ctl) * 0x0101_0101,
        src,
        dst,
    };
    let mut b = vec![0u8; head];
    b.extend_from_slice(inner);
    let before = b.clone();
    match encapsulate(&mut b, head, inner.len(), &params, &caps) {
        Ok(e) => {
            assert_eq!(
                e.start + overhead(kind, lvs_core::AddrFamily::of(&dst)),
                head
            );
            assert_eq!(&b[head..], inner);
            let d = decapsulate(&b, e.start, Some(6080), &caps)
                .expect("own encapsulation decapsulates");
            assert_eq!(&b[d.start..d.start + d.len], inner);
        }
        Err(_) => assert_eq!(b, before),
    }
}
