//! Neighbour discovery (RFC 4861) through smoltcp's NDISC types: enough to answer a neighbour
//! solicitation for a VIP with a neighbour advertisement.

use crate::wire::ethernet::{self, EtherType, Frame, MacAddr};
use crate::wire::{ipv6, proto, Error, Result};
use core::net::Ipv6Addr;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv6Packet, Icmpv6Repr, NdiscNeighborFlags, NdiscRepr, RawHardwareAddress};

/// Length of a neighbour advertisement with a target link-layer address option.
pub const ADVERT_LEN: usize = 32;
/// Length of the frame [`advert_for`] writes.
pub const ADVERT_FRAME_LEN: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + ADVERT_LEN;

/// A neighbour solicitation, as read from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Solicitation {
    /// IPv6 source (unspecified for duplicate address detection).
    pub src: Ipv6Addr,
    /// The address being resolved.
    pub target: Ipv6Addr,
    /// The source link-layer address option, if present.
    pub src_mac: Option<MacAddr>,
}

/// Parses a neighbour solicitation out of an Ethernet frame, checking the RFC 4861 section 7.1.1
/// rules (hop limit 255, code 0, valid checksum, target not multicast). `Ok(None)` for any other
/// well-formed frame.
///
/// # Errors
/// [`Error::Truncated`] and the IPv6 header errors, [`Error::BadChecksum`], [`Error::Malformed`]
/// for a solicitation breaking the RFC rules.
pub fn parse_solicitation(frame: &[u8]) -> Result<Option<Solicitation>> {
    let f = Frame::new_checked(frame)?;
    if f.ethertype() != EtherType::Ipv6 {
        return Ok(None);
    }
    let ip = ipv6::Packet::new_checked(f.payload())?;
    let r = ipv6::Repr::parse(&ip)?;
    if r.next_header != proto::ICMPV6 {
        return Ok(None);
    }
    let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| Error::Truncated {
        offset: frame.len(),
    })?;
    if icmp.msg_type() != smoltcp::wire::Icmpv6Message::NeighborSolicit {
        return Ok(None);
    }
    if r.hop_limit != 255 || icmp.msg_code() != 0 {
        return Err(Error::Malformed);
    }
    let caps = ChecksumCapabilities::default();
    let caps = if cfg!(fuzzing) {
        ChecksumCapabilities::ignored()
    } else {
        caps
    };
    match Icmpv6Repr::parse(&r.src_addr, &r.dst_addr, &icmp, &caps) {
        Ok(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
        })) => {
            if target_addr.is_multicast() || (r.src_addr.is_unspecified() && lladdr.is_some()) {
                return Err(Error::Malformed);
            }
            let src_mac = match lladdr {
                Some(l) => match <[u8; 6]>::try_from(l.as_bytes()) {
                    Ok(m) => Some(MacAddr(m)),
                    Err(_) => return Err(Error::Malformed),
                },
                None => None,
            };
            Ok(Some(Solicitation {
                src: r.src_addr,
                target: target_addr,
                src_mac,
            }))
        }
        Ok(_) => Err(Error::Malformed),
        Err(_) if !icmp.verify_checksum(&r.src_addr, &r.dst_addr) => Err(Error::BadChecksum),
        Err(_) => Err(Error::Malformed),
    }
}

/// If `frame` solicits `vip`, writes a neighbour advertisement from `mac` into `out` and
/// returns its length (`Ok(None)` otherwise).
///
/// Following RFC 4861 section 7.2.4: the advertisement goes to the solicitor (Solicited and
/// Override flags set) or, when the solicitation came from the unspecified address, to the
/// all-nodes group ff02::1 (Solicited clear); it carries the target link-layer address option and
/// hop limit 255. The Ethernet destination is the solicitor's link-layer address option, else the
/// frame's source MAC.
///
/// # Errors
/// The [`parse_solicitation`] errors, and [`Error::Truncated`] if `out` is shorter than
/// [`ADVERT_FRAME_LEN`] (`out` is then untouched).
pub fn advert_for(
    frame: &[u8],
    vip: Ipv6Addr,
    mac: MacAddr,
    out: &mut [u8],
) -> Result<Option<usize>> {
    let Some(ns) = parse_solicitation(frame)? else {
        return Ok(None);
    };
    if ns.target != vip {
        return Ok(None);
    }
    let have = out.len();
    let out = out
        .get_mut(..ADVERT_FRAME_LEN)
        .ok_or(Error::Truncated { offset: have })?;
    let (dst_ip, flags, dst_mac) = if ns.src.is_unspecified() {
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        (
            all_nodes,
            NdiscNeighborFlags::OVERRIDE,
            MacAddr::ipv6_multicast(&all_nodes.octets()),
        )
    } else {
        // frame was checked by parse_solicitation
        let src_mac = Frame::new_unchecked(frame).src_addr();
        (
            ns.src,
            NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
            ns.src_mac.unwrap_or(src_mac),
        )
    };
    let mut of = Frame::new_unchecked(&mut *out);
    ethernet::Repr {
        src_addr: mac,
        dst_addr: dst_mac,
        ethertype: EtherType::Ipv6,
    }
    .emit(&mut of);
    let payload = of.payload_mut();
    let (ip_hdr, icmp_buf) = payload.split_at_mut(ipv6::HEADER_LEN);
    ipv6::Repr {
        src_addr: vip,
        dst_addr: dst_ip,
        next_header: proto::ICMPV6,
        payload_len: ADVERT_LEN,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut ipv6::Packet::new_unchecked(ip_hdr));
    let na = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags,
        target_addr: vip,
        lladdr: Some(RawHardwareAddress::from_bytes(&mac.0)),
    });
    na.emit(
        &vip,
        &dst_ip,
        &mut Icmpv6Packet::new_unchecked(&mut *icmp_buf),
        &ChecksumCapabilities::default(),
    );
    Ok(Some(ADVERT_FRAME_LEN))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::checksum;

    const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x64);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn solicitation(src: Ipv6Addr, with_slla: bool) -> ([u8; 86], usize) {
        let mut f = [0u8; 86];
        let icmp_len = if with_slla { 32 } else { 24 };
        // solicited-node multicast of VIP: ff02::1:ff00:1
        let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
        f[..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x64]);
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14] = 0x60;
        f[18..20].copy_from_slice(&(icmp_len as u16).to_be_bytes());
        f[20] = 58;
        f[21] = 255;
        f[22..38].copy_from_slice(&src.octets());
        f[38..54].copy_from_slice(&dst.octets());
        f[54] = 135;
        f[62..78].copy_from_slice(&VIP.octets());
        if with_slla {
            f[78] = 1;
            f[79] = 1;
            f[80..86].copy_from_slice(&[2, 0, 0, 0, 0, 0x64]);
        }
        let ph = checksum::pseudo_header_v6(&src.octets(), &dst.octets(), 58, icmp_len as u32);
        let c = checksum::finish(checksum::add(ph, &f[54..54 + icmp_len]));
        f[56..58].copy_from_slice(&c.to_be_bytes());
        (f, 54 + icmp_len)
    }

    #[test]
    fn advert_for_vip() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let (f, n) = solicitation(CLIENT, true);
        let ns = parse_solicitation(&f[..n]).unwrap().unwrap();
        assert_eq!(ns.target, VIP);
        assert_eq!(ns.src_mac, Some(MacAddr([2, 0, 0, 0, 0, 0x64])));
        let mut out = [0u8; 128];
        assert_eq!(
            advert_for(&f[..n], VIP, mac, &mut out),
            Ok(Some(ADVERT_FRAME_LEN))
        );
        let expected_icmp: [u8; 32] = [
            136, 0, 0, 0, 0x60, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            1, 2, 1, 2, 0, 0, 0, 0, 1,
        ];
        let icmp = &out[54..86];
        assert_eq!(icmp[..2], expected_icmp[..2]);
        assert_eq!(icmp[4..], expected_icmp[4..]);
        assert_eq!(out[..6], [2, 0, 0, 0, 0, 0x64]);
        assert_eq!(out[22..38], VIP.octets());
        assert_eq!(out[38..54], CLIENT.octets());
        assert_eq!(out[21], 255);
        let ph = checksum::pseudo_header_v6(&VIP.octets(), &CLIENT.octets(), 58, 32);
        assert_eq!(checksum::fold(checksum::add(ph, icmp)), 0xffff);
        // another target: no answer
        assert_eq!(advert_for(&f[..n], CLIENT, mac, &mut out), Ok(None));
        // DAD: unspecified source goes to all-nodes, without S
        let (f, n) = solicitation(Ipv6Addr::UNSPECIFIED, false);
        assert_eq!(
            advert_for(&f[..n], VIP, mac, &mut out),
            Ok(Some(ADVERT_FRAME_LEN))
        );
        assert_eq!(out[..6], [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(out[54 + 4], 0x20);
        // bad hop limit
        let (mut f, n) = solicitation(CLIENT, true);
        f[21] = 64;
        assert_eq!(parse_solicitation(&f[..n]), Err(Error::Malformed));
        let (mut f, n) = solicitation(CLIENT, true);
        f[70] ^= 1;
        assert_eq!(parse_solicitation(&f[..n]), Err(Error::BadChecksum));
    }
}
