//! Masquerading (VS/NAT): the destination rewrite toward the real server and the source
//! rewrite of its replies.
//!
//! [`nat_in`] is `ip_vs_nat_xmit` with the protocol's `dnat_handler`: the destination VIP:vport
//! becomes RIP:rport. [`nat_out`] is `handle_response` with the `snat_handler`: the source
//! RIP:rport of a reply becomes VIP:vport. Ports may differ. Checksums are updated
//! incrementally (RFC 1624), exactly as `tcp_fast_csum_update` / `udp_fast_csum_update` chain
//! `ip_vs_check_diff4/16` and `ip_vs_check_diff2`:
//!
//! - the IPv4 header checksum for the address (the kernel recomputes it with `ip_send_check`;
//!   on a header whose checksum was valid the result is the same);
//! - the TCP and UDP checksums for the pseudo-header address and the port; a UDP checksum of 0
//!   ("none") stays 0, and an updated UDP checksum that comes out 0 is sent as 0xffff
//!   (`CSUM_MANGLED_0`); the same holds over IPv6, where a zero UDP checksum is only legal for
//!   tunnels (RFC 6935) and is passed through rather than invented;
//! - ICMPv6 (not an error) for its pseudo-header address;
//! - SCTP: its CRC32c covers no pseudo-header, so only the port change matters, but a CRC
//!   cannot be patched: it is recomputed over the whole packet (`sctp_dnat_handler` does the
//!   same). A first fragment of SCTP is refused with [`ForwardError::Unsupported`];
//! - other protocols: only the address changes (the kernel has no handler for them either).
//!
//! A first fragment of TCP or UDP is handled: the incremental update is exact even though the
//! checksum covers bytes in later fragments.
//!
//! ICMP errors about a NATed flow need their quote rewritten too: use
//! [`crate::icmp::nat_icmp`]; these functions refuse them.

use crate::checksum;
use crate::error::ForwardError;
use crate::icmp::nat_icmp;
use crate::parse::Parsed;
use crate::process::ProcessConfig;
use crate::rewrite::{Emitted, PacketBuf, Rewriter};
use crate::route::check_mtu;
use crate::wire::{proto, ChecksumCaps, Error};
use lvs_core::addr::Direction;
use lvs_core::director::{Forward, Reply};
use lvs_core::{AddrFamily, Endpoint, IpAddr};

/// Masquerading as a [`Rewriter`]: forwarded packets get [`nat_in`] (ICMP errors about the
/// flow [`nat_icmp`]) toward the verdict's real server, after the MTU check of
/// `cfg.mtu`; replies get [`nat_out`] (or [`nat_icmp`]) back to the virtual service. Every
/// forwarded packet is NATed, whatever method the verdict names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nat;

impl Rewriter for Nat {
    type Error = ForwardError;

    #[inline(always)]
    fn nat_shortcut(&self, _: &Forward) -> bool {
        true
    }

    #[inline(always)]
    fn pre_classify_is_noop(&self) -> bool {
        true
    }

    #[inline]
    fn forward(&mut self, mut pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig) -> Emitted {
        let p = pkt.parsed;
        if cfg.mtu != 0 {
            check_mtu(p, cfg.mtu)?;
        }
        if p.is_icmp_error() {
            nat_icmp(pkt.frame_mut(), p, Direction::Input, f.daddr, &cfg.caps)?;
        } else {
            nat_in(pkt.frame_mut(), p, f.daddr, &cfg.caps)?;
        }
        Ok(pkt.in_place(f.daddr.addr))
    }

    #[inline]
    fn reply(&mut self, mut pkt: PacketBuf<'_>, r: &Reply, cfg: &ProcessConfig) -> Emitted {
        let p = pkt.parsed;
        if p.is_icmp_error() {
            nat_icmp(pkt.frame_mut(), p, Direction::Output, r.vaddr, &cfg.caps)?;
        } else {
            nat_out(pkt.frame_mut(), p, r.vaddr, &cfg.caps)?;
        }
        Ok(pkt.in_place(r.client.addr))
    }
}

/// Which endpoint of a packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The source address and port.
    Src,
    /// The destination address and port.
    Dst,
}

/// NAT toward the real server: sets the destination to `real` (RIP:rport).
///
/// # Errors
/// [`ForwardError::FamilyMismatch`] if `real` is not of the packet's family,
/// [`ForwardError::Unsupported`] for ICMP errors and SCTP fragments, [`ForwardError::Wire`] if
/// the buffer does not hold what `p` describes. The buffer is untouched on error.
pub fn nat_in(
    buf: &mut [u8],
    p: &Parsed,
    real: Endpoint,
    caps: &ChecksumCaps,
) -> Result<(), ForwardError> {
    rewrite(buf, p, Side::Dst, real, caps)
}

/// NAT of a reply: sets the source to `virt` (VIP:vport).
///
/// # Errors
/// As [`nat_in`].
pub fn nat_out(
    buf: &mut [u8],
    p: &Parsed,
    virt: Endpoint,
    caps: &ChecksumCaps,
) -> Result<(), ForwardError> {
    rewrite(buf, p, Side::Src, virt, caps)
}

/// Byte offset of the source or destination address from the IP header start, and its length.
pub(crate) const fn addr_field(family: AddrFamily, side: Side) -> (usize, usize) {
    match (family, side) {
        (AddrFamily::Ipv4, Side::Src) => (12, 4),
        (AddrFamily::Ipv4, Side::Dst) => (16, 4),
        (AddrFamily::Ipv6, Side::Src) => (8, 16),
        (AddrFamily::Ipv6, Side::Dst) => (24, 16),
    }
}

/// Adds the difference between the address at `off` in `buf` and `new` to the partial sum `acc`.
pub(crate) fn addr_diff(buf: &[u8], off: usize, new: &IpAddr, acc: u32) -> u32 {
    match new {
        IpAddr::V4(a) => {
            let mut old = [0u8; 4];
            old.copy_from_slice(&buf[off..off + 4]);
            checksum::diff4(old, a.octets(), acc)
        }
        IpAddr::V6(a) => {
            let mut old = [0u8; 16];
            old.copy_from_slice(&buf[off..off + 16]);
            checksum::diff16(&old, &a.octets(), acc)
        }
    }
}

pub(crate) fn write_addr(buf: &mut [u8], off: usize, new: &IpAddr) {
    match new {
        IpAddr::V4(a) => buf[off..off + 4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => buf[off..off + 16].copy_from_slice(&a.octets()),
    }
}

pub(crate) fn rd16(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([buf[off], buf[off + 1]])
}

pub(crate) fn wr16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_be_bytes())
}

/// Checks that `buf` still holds the packet `p` describes: the IP version at `p.l3` and the
/// whole IP packet. Every offset inside `p` is then within `buf`.
pub(crate) fn check_parsed(buf: &[u8], p: &Parsed) -> Result<(), ForwardError> {
    let end = p.l3.checked_add(p.ip_len).ok_or(Error::Malformed)?;
    if end > buf.len() {
        return Err(Error::LengthBeyondBuffer {
            claimed: end,
            available: buf.len(),
        }
        .into());
    }
    let v = buf[p.l3] >> 4;
    let want = if p.family == AddrFamily::Ipv4 { 4 } else { 6 };
    let min_hdr = if p.family == AddrFamily::Ipv4 { 20 } else { 40 };
    if v != want {
        return Err(Error::BadVersion(v).into());
    }
    if p.l4 < p.l3 + min_hdr || p.payload < p.l4 || p.payload > end {
        return Err(Error::Malformed.into());
    }
    Ok(())
}

/// Rewrites one endpoint of the packet `p` describes to `new`, fixing every checksum that
/// covers it. The port is ignored for protocols without ports.
///
/// # Errors
/// As [`nat_in`].
pub fn rewrite(
    buf: &mut [u8],
    p: &Parsed,
    side: Side,
    new: Endpoint,
    caps: &ChecksumCaps,
) -> Result<(), ForwardError> {
    check_parsed(buf, p)?;
    if new.family() != p.family {
        return Err(ForwardError::FamilyMismatch);
    }
    if p.icmp.is_some_and(|i| i.quote.is_some()) {
        return Err(ForwardError::Unsupported);
    }
    let (aoff, _) = addr_field(p.family, side);
    let aoff = p.l3 + aoff;
    let end = p.end();
    let proto = p.protocol();
    // transport header length this rewrite touches, and where the port sits
    let (need, port_off, csum_off) = match proto {
        proto::TCP => (20, Some(0), Some(16)),
        proto::UDP => (8, Some(0), Some(6)),
        proto::SCTP => {
            if p.frag.is_fragment {
                return Err(ForwardError::Unsupported);
            }
            (12, Some(0), None)
        }
        proto::ICMPV6 if p.family == AddrFamily::Ipv6 => (8, None, Some(2)),
        _ => (0, None, None),
    };
    if p.l4 + need > end {
        return Err(Error::Truncated { offset: end }.into());
    }
    let port_off = port_off.map(|o| p.l4 + o + if side == Side::Dst { 2 } else { 0 });

    // All checks done: mutate.
    let addr_sum = addr_diff(buf, aoff, &new.addr, 0);
    if p.family == AddrFamily::Ipv4 && caps.ipv4.tx() {
        let c = p.l3 + 10;
        let v = checksum::finish(addr_diff(
            buf,
            aoff,
            &new.addr,
            checksum::start(rd16(buf, c)),
        ));
        wr16(buf, c, v);
    }
    let port_sum = match port_off {
        Some(o) => checksum::diff2(rd16(buf, o), new.port, 0),
        None => 0,
    };
    match (proto, csum_off) {
        (proto::TCP, Some(c)) if caps.tcp.tx() => {
            let c = p.l4 + c;
            let v = checksum::finish(checksum::start(rd16(buf, c)) + addr_sum + port_sum);
            wr16(buf, c, v);
        }
        (proto::UDP, Some(c)) if caps.udp.tx() => {
            let c = p.l4 + c;
            let old = rd16(buf, c);
            if old != 0 {
                let v = checksum::finish(checksum::start(old) + addr_sum + port_sum);
                wr16(buf, c, if v == 0 { 0xffff } else { v });
            }
        }
        (proto::ICMPV6, Some(c)) if caps.icmp.tx() => {
            let c = p.l4 + c;
            let v = checksum::finish(checksum::start(rd16(buf, c)) + addr_sum);
            wr16(buf, c, v);
        }
        _ => {}
    }
    write_addr(buf, aoff, &new.addr);
    if let Some(o) = port_off {
        wr16(buf, o, new.port);
    }
    if proto == proto::SCTP && caps.sctp.tx() {
        fill_sctp_crc(&mut buf[p.l4..end]);
    }
    Ok(())
}

/// Recomputes the CRC32c of an SCTP packet (common header and chunks) in place; the CRC is
/// stored least significant byte first, as the kernel's `sctp_compute_cksum` stores it.
pub fn fill_sctp_crc(sctp: &mut [u8]) {
    if let Some(f) = sctp.get_mut(8..12) {
        f.fill(0);
        let c = checksum::crc32c(sctp);
        sctp[8..12].copy_from_slice(&c.to_le_bytes());
    }
}

/// Whether an SCTP packet's CRC32c verifies.
pub fn verify_sctp_crc(sctp: &[u8]) -> bool {
    let Some(stored) = sctp.get(8..12) else {
        return false;
    };
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    checksum::crc32c_parts(&[&sctp[..8], &[0; 4], &sctp[12..]]) == stored
}
