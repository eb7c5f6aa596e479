//! What the kernel does to every packet it forwards to a real server, whatever the method
//! (`__ip_vs_get_out_rt` in `ip_vs_xmit.c`): decrement the TTL, then check the path MTU.

use crate::checksum;
use crate::error::ForwardError;
use crate::parse::Parsed;
use crate::wire::{icmpv4, ChecksumCaps, Error};
use lvs_core::AddrFamily;

/// Decrements the TTL (IPv4, updating the header checksum incrementally as `ip_decrease_ttl`
/// does) or the hop limit (IPv6) of the packet `p` describes, and returns the new value.
///
/// # Errors
/// [`ForwardError::TtlExpired`] when the value is 1 or less (`decrement_ttl` in
/// `ip_vs_xmit.c`: answer with ICMP "time exceeded", see [`crate::icmp::build_error`]);
/// [`ForwardError::Wire`] if the buffer does not hold the header `p` describes. The buffer is
/// untouched on error.
pub fn decrement_ttl(buf: &mut [u8], p: &Parsed, caps: &ChecksumCaps) -> Result<u8, ForwardError> {
    let ttl_off = p.l3 + if p.family == AddrFamily::Ipv4 { 8 } else { 7 };
    let hdr_len = if p.family == AddrFamily::Ipv4 { 20 } else { 40 };
    if buf.len() < p.l3.saturating_add(hdr_len) {
        return Err(Error::Truncated { offset: buf.len() }.into());
    }
    let ttl = buf[ttl_off];
    if ttl <= 1 {
        return Err(ForwardError::TtlExpired);
    }
    buf[ttl_off] = ttl - 1;
    if p.family == AddrFamily::Ipv4 && caps.ipv4.tx() {
        let proto = buf[p.l3 + 9];
        let c = u16::from_be_bytes([buf[p.l3 + 10], buf[p.l3 + 11]]);
        let c = checksum::update_u16(
            c,
            u16::from_be_bytes([ttl, proto]),
            u16::from_be_bytes([ttl - 1, proto]),
        );
        buf[p.l3 + 10..p.l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    Ok(ttl - 1)
}

/// The kernel's `ensure_mtu_is_adequate` for a packet `p` describes on a route with `mtu`
/// (for tunnels, the route MTU less the tunnel overhead).
///
/// - IPv4: a packet longer than `mtu` with DF set fails with [`ForwardError::MtuExceeded`],
///   except relayed ICMP errors, which are let through (the kernel sends no ICMP about ICMP and
///   lets the IP layer fragment them). Without DF the packet passes; the embedder's IP layer
///   fragments it.
/// - IPv6: any packet longer than `mtu` fails (routers never fragment IPv6). Whether a "packet
///   too big" may be sent is decided by [`crate::icmp::build_error`].
///
/// # Errors
/// [`ForwardError::MtuExceeded`] with the MTU to advertise.
pub fn check_mtu(p: &Parsed, mtu: u32) -> Result<(), ForwardError> {
    mtu_verdict(p.family, p.ip_len, p.dont_frag, p.is_icmp_error(), mtu)
}

pub(crate) fn mtu_verdict(
    family: AddrFamily,
    len: usize,
    dont_frag: bool,
    relayed_icmp: bool,
    mtu: u32,
) -> Result<(), ForwardError> {
    let exceeds = len as u64 > u64::from(mtu);
    let fail = match family {
        AddrFamily::Ipv4 => exceeds && dont_frag && !relayed_icmp,
        AddrFamily::Ipv6 => exceeds,
    };
    if fail {
        Err(ForwardError::MtuExceeded { mtu })
    } else {
        Ok(())
    }
}

/// Whether an IPv4 packet (bytes from its header) is an ICMP error IPVS relays.
pub(crate) fn is_relayed_icmp_v4(ip: &[u8]) -> bool {
    let ihl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    ip.get(9) == Some(&crate::wire::proto::ICMP)
        && ip.get(6).is_some_and(|b| b & 0x1f == 0)
        && ip.get(7) == Some(&0)
        && ip.get(ihl).is_some_and(|&t| icmpv4::is_relayed_error(t))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::parse::parse_ip;

    fn v4(ttl: u8, df: bool, len: usize) -> std::vec::Vec<u8> {
        let mut b = std::vec![0u8; len];
        b[0] = 0x45;
        b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        b[6] = if df { 0x40 } else { 0 };
        b[8] = ttl;
        b[9] = 17;
        b[12..16].copy_from_slice(&[192, 0, 2, 1]);
        b[16..20].copy_from_slice(&[198, 18, 0, 1]);
        b[20..22].copy_from_slice(&1234u16.to_be_bytes());
        b[22..24].copy_from_slice(&53u16.to_be_bytes());
        b[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
        let c = checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut b = v4(64, true, 28);
        let p = parse_ip(&b).unwrap();
        assert_eq!(decrement_ttl(&mut b, &p, &ChecksumCaps::default()), Ok(63));
        assert_eq!(b[8], 63);
        assert_eq!(checksum::checksum(&b[..20]), 0);
        let mut b = v4(1, true, 28);
        let before = b.clone();
        let p = parse_ip(&b).unwrap();
        assert_eq!(
            decrement_ttl(&mut b, &p, &ChecksumCaps::default()),
            Err(ForwardError::TtlExpired)
        );
        assert_eq!(b, before);
    }

    #[test]
    fn mtu_rules() {
        let b = v4(64, true, 1500);
        let p = parse_ip(&b).unwrap();
        assert_eq!(check_mtu(&p, 1500), Ok(()));
        assert_eq!(
            check_mtu(&p, 1480),
            Err(ForwardError::MtuExceeded { mtu: 1480 })
        );
        let b = v4(64, false, 1500);
        let p = parse_ip(&b).unwrap();
        assert_eq!(check_mtu(&p, 1480), Ok(()));
        assert_eq!(
            mtu_verdict(AddrFamily::Ipv6, 1500, false, false, 1480),
            Err(ForwardError::MtuExceeded { mtu: 1480 })
        );
        assert_eq!(
            mtu_verdict(AddrFamily::Ipv4, 1500, true, true, 1480),
            Ok(())
        );
    }
}
