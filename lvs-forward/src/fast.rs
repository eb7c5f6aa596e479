//! The common case of the per-packet path, without the general code's repeated checks: an
//! untagged Ethernet frame carrying an unfragmented IPv4 packet without options, with a TCP or
//! UDP header, forwarded by NAT.
//!
//! Each function here either produces exactly what the general code would (the same
//! [`Parsed`], the same bytes) or declines (`None`), and the caller then takes the general
//! path; the tests check the equivalence on generated packets.

use crate::checksum;
use crate::parse::{EthInfo, FragInfo, Parsed};
use crate::wire::{ChecksumCaps, MacAddr};
use lvs_core::{AddrFamily, Endpoint, FlowKey, IpAddr, Ipv4Addr, Protocol, TcpFlags};

/// The Ethernet header's length.
pub(crate) const ETH: usize = 14;
/// The bytes [`ttl_and_nat_v4`] reads and writes: Ethernet, IPv4 without options and the
/// first 20 bytes of the transport header.
pub(crate) const WINDOW: usize = ETH + 40;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A [`Parsed`] to parse into.
pub(crate) const BLANK: Parsed = Parsed {
    eth: None,
    l3: 0,
    l4: 0,
    payload: 0,
    family: AddrFamily::Ipv4,
    ip_len: 0,
    ttl: 0,
    tos: 0,
    dont_frag: false,
    frag: FragInfo {
        is_fragment: false,
        first: true,
        more: false,
        ident: 0,
    },
    flow: FlowKey::new(
        Protocol::Unknown(0),
        Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        Endpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    ),
    tcp_flags: TcpFlags::NONE,
    icmp: None,
};

/// The fields of a frame [`parse_v4_l4_into`] accepts, read once: what the fused path of
/// established flows needs, and the rest of the [`Parsed`] but the MAC addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct V4L4 {
    /// Protocol, source and destination.
    pub flow: FlowKey,
    /// TCP flags (none for UDP).
    pub tcp_flags: TcpFlags,
    /// The IP packet's total length.
    pub total: usize,
    /// Its TTL.
    pub ttl: u8,
    /// Its type of service byte.
    pub tos: u8,
    /// Its "don't fragment" bit.
    pub dont_frag: bool,
    /// Its identification.
    pub ident: u16,
    /// The transport header's length.
    pub hdr_len: usize,
}

/// Reads an untagged IPv4 frame whose header has no options, that is not a fragment, and
/// carries a whole TCP or UDP header (the frames [`parse_v4_l4_into`] accepts); `None` for
/// anything else.
#[inline(always)]
pub(crate) fn v4_l4(frame: &[u8]) -> Option<V4L4> {
    let h: &[u8; ETH + 20] = frame.get(..ETH + 20)?.try_into().ok()?;
    if h[12] != 0x08 || h[13] != 0x00 || h[ETH] != 0x45 {
        return None;
    }
    let total = usize::from(be16(h, ETH + 2));
    // frag offset 0 and MF clear
    if be16(h, ETH + 6) & 0x3fff != 0 || total < 20 || frame.len() < ETH + total {
        return None;
    }
    let proto = h[ETH + 9];
    let seg = frame.get(ETH + 20..ETH + total)?;
    let (sport, dport, hdr_len, tcp_flags, proto) = match proto {
        6 => {
            if seg.len() < 20 {
                return None;
            }
            let hl = usize::from(seg[12] >> 4) * 4;
            if hl < 20 || hl > seg.len() {
                return None;
            }
            (
                be16(seg, 0),
                be16(seg, 2),
                hl,
                TcpFlags(seg[13]),
                Protocol::Tcp,
            )
        }
        17 => {
            if seg.len() < 8 {
                return None;
            }
            let len = usize::from(be16(seg, 4));
            if !(8..=seg.len()).contains(&len) {
                return None;
            }
            (be16(seg, 0), be16(seg, 2), 8, TcpFlags::NONE, Protocol::Udp)
        }
        _ => return None,
    };
    let a = |at: usize| IpAddr::V4(Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]));
    Some(V4L4 {
        flow: FlowKey::new(
            proto,
            Endpoint::new(a(ETH + 12), sport),
            Endpoint::new(a(ETH + 16), dport),
        ),
        tcp_flags,
        total,
        ttl: h[ETH + 8],
        tos: h[ETH + 1],
        dont_frag: h[ETH + 6] & 0x40 != 0,
        ident: be16(h, ETH + 4),
        hdr_len,
    })
}

/// What the general parser gives for the frame `k` was read from (`frame`).
#[inline(always)]
pub(crate) fn parsed(k: &V4L4, frame: &[u8]) -> Parsed {
    let mac = |at: usize| {
        let mut m = [0u8; 6];
        if let Some(b) = frame.get(at..at + 6) {
            m.copy_from_slice(b);
        }
        MacAddr(m)
    };
    Parsed {
        eth: Some(EthInfo {
            src: mac(6),
            dst: mac(0),
            vlan: None,
        }),
        l3: ETH,
        l4: ETH + 20,
        payload: ETH + 20 + k.hdr_len,
        family: AddrFamily::Ipv4,
        ip_len: k.total,
        ttl: k.ttl,
        tos: k.tos,
        dont_frag: k.dont_frag,
        frag: FragInfo {
            is_fragment: false,
            first: true,
            more: false,
            ident: u32::from(k.ident),
        },
        flow: k.flow,
        tcp_flags: k.tcp_flags,
        icmp: None,
    }
}

/// [`parse_v4_l4`] writing into `p` (which is left as it was when this returns false): no
/// copies of the large [`Parsed`] on the way.
#[inline(always)]
pub(crate) fn parse_v4_l4_into(frame: &[u8], p: &mut Parsed) -> bool {
    match v4_l4(frame) {
        Some(k) => {
            *p = parsed(&k, frame);
            true
        }
        None => false,
    }
}

/// [`crate::parse::parse_ethernet`] for an untagged IPv4 frame whose header has no options,
/// that is not a fragment, and carries a whole TCP or UDP header: the same [`Parsed`]. `None`
/// for anything else (the general parser then decides).
#[cfg(test)]
pub(crate) fn parse_v4_l4(frame: &[u8]) -> Option<Parsed> {
    let mut p = BLANK;
    parse_v4_l4_into(frame, &mut p).then_some(p)
}

/// What the general path does to a NAT-forwarded packet that [`parse_v4_l4`] accepted, when
/// its TTL is above 1 and it passes the MTU check: decrement the TTL (with
/// `decrement_ttl`), then rewrite the destination to `real` (`nat_in`), updating the
/// checksums incrementally in the same order, so the bytes are identical. `frame` is the
/// frame `p` describes (offsets from its start). `None`, with the frame untouched, when the
/// packet is not such a packet.
#[inline]
pub(crate) fn ttl_and_nat_in_v4(
    frame: &mut [u8],
    p: &Parsed,
    real: &Endpoint,
    decrement_ttl: bool,
    caps: &ChecksumCaps,
) -> Option<()> {
    let IpAddr::V4(new_addr) = real.addr else {
        return None;
    };
    let proto = p.flow.proto;
    if p.l3 != ETH
        || p.l4 != ETH + 20
        || p.family != AddrFamily::Ipv4
        || p.icmp.is_some()
        || !matches!(proto, Protocol::Tcp | Protocol::Udp)
    {
        return None;
    }
    let end = ETH + p.ip_len;
    let need = if proto == Protocol::Tcp { 20 } else { 8 };
    if frame.len() < end || ETH + 20 + need > end {
        return None;
    }
    // Ethernet, IPv4 and the first 20 bytes of the transport header, as a fixed-size array
    // (frames are at least 60 bytes on the wire; shorter ones take the general path)
    let frame: &mut [u8; WINDOW] = frame.get_mut(..ETH + 40)?.try_into().ok()?;
    if frame[ETH] != 0x45 {
        return None;
    }
    if decrement_ttl && frame[ETH + 8] <= 1 {
        return None;
    }
    ttl_and_nat_v4(
        frame,
        proto == Protocol::Tcp,
        &new_addr,
        real.port,
        decrement_ttl,
        caps,
    );
    Some(())
}

/// The bytes of [`ttl_and_nat_in_v4`] once its checks passed: `frame` starts with the
/// Ethernet header of an IPv4 packet without options (TTL above 1 if `decrement_ttl`) and
/// carries a whole TCP (`tcp`) or UDP header; its destination becomes `new_addr`:`port`.
#[inline(always)]
pub(crate) fn ttl_and_nat_v4(
    frame: &mut [u8; WINDOW],
    tcp: bool,
    new_addr: &Ipv4Addr,
    port: u16,
    decrement_ttl: bool,
    caps: &ChecksumCaps,
) {
    let ttl = frame[ETH + 8];
    // Each checksum takes one sum of the RFC 1624 terms the general path adds in steps
    // (`!old + new` per changed 16-bit word): one's-complement addition is associative, and a
    // partial sum is zero only if all its terms are, so the folded result, zero representation
    // included, is the same.
    let word = |b: &[u8], at: usize| u32::from(be16(b, at));
    let (o0, o1) = (word(&frame[..], ETH + 16), word(&frame[..], ETH + 18));
    let new = new_addr.octets();
    let (n0, n1) = (word(&new, 0), word(&new, 2));
    let addr_sum = (o0 ^ 0xffff) + n0 + (o1 ^ 0xffff) + n1;
    if caps.ipv4.tx() {
        let mut sum = (word(&frame[..], ETH + 10) ^ 0xffff) + addr_sum;
        if decrement_ttl {
            let pr = u32::from(frame[ETH + 9]);
            let t = u32::from(ttl) << 8 | pr;
            sum += (t ^ 0xffff) + t.wrapping_sub(0x100);
        }
        let c = checksum::finish(sum);
        frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
    }
    if decrement_ttl {
        frame[ETH + 8] = ttl.wrapping_sub(1);
    }
    let l4 = ETH + 20;
    let port_sum = (word(&frame[..], l4 + 2) ^ 0xffff) + u32::from(port);
    if tcp {
        if caps.tcp.tx() {
            let c = l4 + 16;
            let v = checksum::finish((word(&frame[..], c) ^ 0xffff) + addr_sum + port_sum);
            frame[c..c + 2].copy_from_slice(&v.to_be_bytes());
        }
    } else if caps.udp.tx() {
        let c = l4 + 6;
        let old = word(&frame[..], c);
        if old != 0 {
            let v = checksum::finish((old ^ 0xffff) + addr_sum + port_sum);
            let v = if v == 0 { 0xffff } else { v };
            frame[c..c + 2].copy_from_slice(&v.to_be_bytes());
        }
    }
    frame[ETH + 16..ETH + 20].copy_from_slice(&new);
    frame[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::nat::nat_in;
    use crate::parse::parse_ethernet;
    use crate::route::decrement_ttl;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// An Ethernet + IPv4 + TCP/UDP frame, valid or not depending on the knobs.
    #[allow(clippy::too_many_arguments)]
    fn frame(
        proto: u8,
        ihl_byte: u8,
        frag: u16,
        ttl: u8,
        total_delta: i32,
        doff: u8,
        payload: usize,
        pad: usize,
        bytes: [u8; 16],
    ) -> Vec<u8> {
        let l4len = if proto == 17 { 8 } else { 20 } + payload;
        let total = (20 + l4len) as i32 + total_delta;
        let mut f = Vec::new();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = ihl_byte;
        ip[1] = bytes[0];
        ip[2..4].copy_from_slice(&(total.max(0) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&[bytes[1], bytes[2]]);
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[8] = ttl;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&bytes[3..7]);
        ip[16..20].copy_from_slice(&[198, 18, 0, 1]);
        let c = checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut l4 = std::vec![0u8; l4len];
        l4[0..2].copy_from_slice(&[bytes[7], bytes[8]]);
        l4[2..4].copy_from_slice(&80u16.to_be_bytes());
        if proto == 17 {
            l4[4..6].copy_from_slice(&(l4len as u16).to_be_bytes());
            l4[6..8].copy_from_slice(&[bytes[9], bytes[10]]);
        } else if l4len >= 20 {
            l4[12] = doff << 4;
            l4[13] = bytes[11];
            l4[16..18].copy_from_slice(&[bytes[9], bytes[10]]);
        }
        for (i, b) in l4.iter_mut().enumerate().skip(20) {
            *b = bytes[12 + i % 4];
        }
        f.extend_from_slice(&l4);
        f.extend(core::iter::repeat_n(0, pad));
        f
    }

    /// Checksum fields, addresses and ports at the one's-complement edges (0x0000, 0xffff):
    /// the one-sum update writes what the general path's steps write.
    #[test]
    fn edge_checksums_match_the_general_path() {
        let edges = [0x0000u16, 0x0001, 0x7fff, 0xfffe, 0xffff];
        let caps = ChecksumCaps::software();
        for proto in [6u8, 17] {
            for &ipc in &edges {
                for &l4c in &edges {
                    for &a in &edges {
                        for &port in &edges {
                            for dec in [false, true] {
                                let mut f = frame(proto, 0x45, 0, 64, 0, 5, 0, 18, [0; 16]);
                                f[24..26].copy_from_slice(&ipc.to_be_bytes());
                                f[30..32].copy_from_slice(&a.to_be_bytes());
                                let at = if proto == 6 { 34 + 16 } else { 34 + 6 };
                                f[at..at + 2].copy_from_slice(&l4c.to_be_bytes());
                                let p = parse_ethernet(&f).unwrap();
                                let real = Endpoint::v4([a as u8, (a >> 8) as u8, 0xff, 0], port);
                                let mut g = f.clone();
                                if dec {
                                    decrement_ttl(&mut g, &p, &caps).unwrap();
                                }
                                nat_in(&mut g, &p, real, &caps).unwrap();
                                let mut h = f.clone();
                                assert_eq!(
                                    ttl_and_nat_in_v4(&mut h, &p, &real, dec, &caps),
                                    Some(())
                                );
                                assert_eq!(g, h, "proto {proto} ip {ipc:#x} l4 {l4c:#x} addr {a:#x} port {port:#x}");
                            }
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn fast_parse_and_nat_match_the_general_path(
            proto in prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
            ihl_byte in prop_oneof![8 => Just(0x45u8), 1 => Just(0x46u8), 1 => Just(0x44u8)],
            frag in prop_oneof![8 => Just(0u16), 1 => Just(0x4000u16), 1 => Just(0x2000u16), 1 => Just(1u16)],
            ttl in prop_oneof![Just(0u8), Just(1u8), Just(2u8), Just(64u8), Just(255u8)],
            total_delta in prop_oneof![8 => Just(0i32), 1 => -30i32..30],
            doff in prop_oneof![8 => Just(5u8), 1 => 0u8..16],
            payload in 0usize..40,
            pad in 0usize..12,
            bytes in any::<[u8; 16]>(),
            rport in any::<u16>(),
            raddr in any::<[u8; 4]>(),
            dec in any::<bool>(),
        ) {
            let f = frame(proto, ihl_byte, frag, ttl, total_delta, doff, payload, pad, bytes);
            let general = parse_ethernet(&f);
            let fast = parse_v4_l4(&f);
            if let Some(p) = fast {
                prop_assert_eq!(Ok(p), general);
            }
            // well-formed TCP/UDP without options or fragmentation is always taken fast
            if ihl_byte == 0x45 && frag & 0x3fff == 0 && total_delta == 0 && proto != 1
                && (proto == 17 || doff == 5) {
                prop_assert!(fast.is_some());
            }
            let Ok(p) = general else { return Ok(()) };
            let caps = ChecksumCaps::software();
            let real = Endpoint::v4(raddr, rport);
            let mut a = f.clone();
            let mut b = f.clone();
            let slow = (|| {
                if dec {
                    decrement_ttl(&mut a, &p, &caps).ok()?;
                }
                nat_in(&mut a, &p, real, &caps).ok()
            })();
            match ttl_and_nat_in_v4(&mut b, &p, &real, dec, &caps) {
                Some(()) => {
                    prop_assert!(slow.is_some());
                    prop_assert_eq!(a, b);
                }
                None => prop_assert_eq!(&b, &f),
            }
        }
    }
}
