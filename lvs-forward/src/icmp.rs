//! ICMP errors: rewriting those that quote a NATed flow, and building the errors a director
//! sends itself.
//!
//! [`nat_icmp`] is the kernel's `ip_vs_nat_icmp` / `ip_vs_nat_icmp_v6`. In both directions it
//! rewrites the outer IP header and the quoted IP and transport headers:
//!
//! - [`Direction::Input`] (`ip_vs_in_icmp`, an error from the client side about a reply
//!   VIP:vport → client): the outer destination VIP becomes RIP, the quoted source VIP:vport
//!   becomes RIP:rport.
//! - [`Direction::Output`] (`ip_vs_out_icmp`, an error from the real server side about a
//!   request client → RIP:rport): the outer source RIP becomes VIP, the quoted destination
//!   RIP:rport becomes VIP:vport.
//!
//! Checksums: the quoted IPv4 header checksum is recomputed (`ip_send_check(ciph)`); the quoted
//! TCP/UDP checksum is left as it is, as the kernel leaves it: the quote is usually cut short, so
//! it could not be verified anyway, and no receiver checks it; the ICMP checksum is recomputed
//! over the whole message (`ip_vs_checksum_complete`; for ICMPv6 with the new pseudo-header);
//! the outer IPv4 checksum is updated incrementally.
//!
//! Errors about tunnelled or directly routed flows need no rewrite: forward them with the
//! flow's method, as `ip_vs_icmp_xmit` does.

use crate::checksum;
use crate::error::ForwardError;
use crate::ip_header::IpHeader;
use crate::nat::{addr_diff, addr_field, check_parsed, rd16, wr16, write_addr, Side};
use crate::parse::Parsed;
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6, proto, ChecksumCaps, Error};
use lvs_core::addr::Direction;
use lvs_core::{AddrFamily, Endpoint, IpAddr};

/// Rewrites an ICMP error about a NATed flow (see the module docs). `new` is the real server
/// (RIP:rport) for [`Direction::Input`] and the virtual service (VIP:vport) for
/// [`Direction::Output`]. The quoted port is rewritten only when the quote holds it.
///
/// # Errors
/// [`ForwardError::NotIcmpError`] if `p` is not an ICMP error with a quote,
/// [`ForwardError::FamilyMismatch`] for an endpoint of the other family, [`ForwardError::Wire`]
/// if the buffer does not hold what `p` describes. The buffer is untouched on error.
pub fn nat_icmp(
    buf: &mut [u8],
    p: &Parsed,
    dir: Direction,
    new: Endpoint,
    caps: &ChecksumCaps,
) -> Result<(), ForwardError> {
    check_parsed(buf, p)?;
    let q = p
        .icmp
        .and_then(|i| i.quote)
        .ok_or(ForwardError::NotIcmpError)?;
    if new.family() != p.family {
        return Err(ForwardError::FamilyMismatch);
    }
    let end = p.end();
    let min = if p.family == AddrFamily::Ipv4 {
        ipv4::HEADER_LEN
    } else {
        ipv6::HEADER_LEN
    };
    if q.l3 < p.payload || q.l3 + min > end || q.l4 > end || (q.has_ports && q.l4 + 4 > end) {
        return Err(Error::Malformed.into());
    }
    let qhl = q.l4 - q.l3;
    if p.family == AddrFamily::Ipv4 && (qhl < 20 || usize::from(buf[q.l3] & 0x0f) * 4 != qhl) {
        return Err(Error::Malformed.into());
    }
    let (outer_side, quote_side, port_off) = match dir {
        Direction::Input => (Side::Dst, Side::Src, 0),
        Direction::Output => (Side::Src, Side::Dst, 2),
    };
    // outer address (incremental IPv4 header checksum)
    let oa = p.l3 + addr_field(p.family, outer_side).0;
    if p.family == AddrFamily::Ipv4 && caps.ipv4.tx() {
        let c = p.l3 + 10;
        let v = checksum::finish(addr_diff(buf, oa, &new.addr, checksum::start(rd16(buf, c))));
        wr16(buf, c, v);
    }
    write_addr(buf, oa, &new.addr);
    // quoted address and port
    write_addr(buf, q.l3 + addr_field(p.family, quote_side).0, &new.addr);
    if q.has_ports {
        wr16(buf, q.l4 + port_off, new.port);
    }
    if p.family == AddrFamily::Ipv4 {
        ipv4::Packet::new_unchecked(&mut buf[q.l3..q.l4]).fill_checksum();
    }
    if caps.icmp.tx() {
        fill_icmp_checksum(buf, p);
    }
    Ok(())
}

/// Recomputes the ICMP (IPv4) or ICMPv6 checksum of the packet `p` describes.
fn fill_icmp_checksum(buf: &mut [u8], p: &Parsed) {
    let (l4, end) = (p.l4, p.end());
    match p.family {
        AddrFamily::Ipv4 => icmpv4::Packet::new_unchecked(&mut buf[l4..end]).fill_checksum(),
        AddrFamily::Ipv6 => {
            let ip = ipv6::Packet::new_unchecked(&buf[p.l3..]);
            let (s, d) = (ip.src_addr(), ip.dst_addr());
            icmpv6::Packet::new_unchecked(&mut buf[l4..end]).fill_checksum(&s, &d)
        }
    }
}

/// An ICMP error a director sends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// IPv4 destination unreachable, fragmentation needed and DF set (type 3 code 4), with the
    /// next-hop MTU (RFC 1191).
    FragNeeded {
        /// Next-hop MTU.
        mtu: u16,
    },
    /// ICMPv6 packet too big (type 2) with the MTU.
    PacketTooBig {
        /// MTU.
        mtu: u32,
    },
    /// Time exceeded in transit (ICMP type 11 code 0, ICMPv6 type 3 code 0).
    TimeExceeded,
    /// Port unreachable (ICMP type 3 code 3, ICMPv6 type 1 code 4).
    PortUnreachable,
}

impl IcmpErrorKind {
    /// The error to send for [`ForwardError::MtuExceeded`] on a packet of `family`.
    pub fn too_big(family: AddrFamily, mtu: u32) -> Self {
        match family {
            AddrFamily::Ipv4 => IcmpErrorKind::FragNeeded {
                mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
            },
            AddrFamily::Ipv6 => IcmpErrorKind::PacketTooBig { mtu },
        }
    }
}

/// The most an ICMPv4 error carries of the offending packet: 576 − 20 − 8 bytes (RFC 1812
/// 4.3.2.3, and what the kernel's `icmp_send` quotes).
pub const MAX_QUOTE_V4: usize = 576 - ipv4::HEADER_LEN - icmpv4::HEADER_LEN;
/// The most an ICMPv6 error carries: what keeps the error within 1280 bytes (RFC 4443 2.4 (c)).
pub const MAX_QUOTE_V6: usize = icmpv6::MIN_MTU - ipv6::HEADER_LEN - icmpv6::HEADER_LEN;
/// TTL / hop limit of the errors built here (the kernel's default).
pub const ERROR_TTL: u8 = 64;

/// Builds, as a bare IP packet in `out`, the ICMP error `kind` about the packet `p` describes in
/// `buf`, addressed to its source; returns the length written.
///
/// The error comes from `src`, or when `None` from the offending packet's destination (the VIP:
/// IPVS intercepts packets addressed to the host, and `icmp_send` answers from that address).
/// It quotes as much of the offending IP packet as fits in `out` up to [`MAX_QUOTE_V4`] /
/// [`MAX_QUOTE_V6`], and never less than its IP header and 8 bytes (RFC 792, RFC 4443). IPv4
/// errors have TOS precedence "internetwork control" over the original TOS bits
/// (`icmp_send`), DF clear, identification 0 and TTL [`ERROR_TTL`]; IPv6 errors traffic class
/// 0, flow label 0, hop limit [`ERROR_TTL`]. To send it over Ethernet, build it at offset 14 of
/// a frame buffer and add the header with [`crate::dr::push_ethernet`].
///
/// # Errors
/// [`ForwardError::IcmpSuppressed`] when no error may be sent about the packet (it is an ICMP
/// error, a fragment other than the first, from an unspecified, multicast or broadcast source,
/// or to a multicast or broadcast destination except for "packet too big");
/// [`ForwardError::FamilyMismatch`] for an IPv4 kind on IPv6 or the reverse, or a `src` of the
/// other family; [`ForwardError::BufferTooSmall`] if `out` cannot hold the minimum quote;
/// [`ForwardError::Wire`] if `buf` does not hold what `p` describes. `out` is untouched on error.
pub fn build_error(
    buf: &[u8],
    p: &Parsed,
    kind: IcmpErrorKind,
    src: Option<IpAddr>,
    out: &mut [u8],
    caps: &ChecksumCaps,
) -> Result<usize, ForwardError> {
    check_parsed(buf, p)?;
    let (client, orig_dst) = (p.flow.src.addr, p.flow.dst.addr);
    let src = src.unwrap_or(orig_dst);
    if AddrFamily::of(&src) != p.family {
        return Err(ForwardError::FamilyMismatch);
    }
    let is_ptb = matches!(kind, IcmpErrorKind::PacketTooBig { .. });
    let icmp_is_error = p.icmp.is_some_and(|i| match p.family {
        AddrFamily::Ipv4 => icmpv4::is_error(i.msg_type),
        AddrFamily::Ipv6 => icmpv6::is_error(i.msg_type),
    });
    let bad_src = match client {
        IpAddr::V4(a) => a.is_unspecified() || a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_unspecified() || a.is_multicast(),
    };
    let bad_dst = match orig_dst {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast() && !is_ptb,
    };
    if icmp_is_error || !p.frag.first || bad_src || bad_dst {
        return Err(ForwardError::IcmpSuppressed);
    }
    let (ip_hl, icmp_hl, max_quote) = match p.family {
        AddrFamily::Ipv4 => (ipv4::HEADER_LEN, icmpv4::HEADER_LEN, MAX_QUOTE_V4),
        AddrFamily::Ipv6 => (ipv6::HEADER_LEN, icmpv6::HEADER_LEN, MAX_QUOTE_V6),
    };
    let (ty, code, rest) = match (p.family, kind) {
        (AddrFamily::Ipv4, IcmpErrorKind::FragNeeded { mtu }) => {
            let m = mtu.to_be_bytes();
            (
                icmpv4::TYPE_DEST_UNREACH,
                icmpv4::CODE_FRAG_NEEDED,
                [0, 0, m[0], m[1]],
            )
        }
        (AddrFamily::Ipv4, IcmpErrorKind::TimeExceeded) => (
            icmpv4::TYPE_TIME_EXCEEDED,
            icmpv4::CODE_TTL_EXCEEDED,
            [0; 4],
        ),
        (AddrFamily::Ipv4, IcmpErrorKind::PortUnreachable) => {
            (icmpv4::TYPE_DEST_UNREACH, icmpv4::CODE_PORT_UNREACH, [0; 4])
        }
        (AddrFamily::Ipv6, IcmpErrorKind::PacketTooBig { mtu }) => {
            (icmpv6::TYPE_PACKET_TOO_BIG, 0, mtu.to_be_bytes())
        }
        (AddrFamily::Ipv6, IcmpErrorKind::TimeExceeded) => (icmpv6::TYPE_TIME_EXCEEDED, 0, [0; 4]),
        (AddrFamily::Ipv6, IcmpErrorKind::PortUnreachable) => {
            (icmpv6::TYPE_DEST_UNREACH, 4, [0; 4])
        }
        _ => return Err(ForwardError::FamilyMismatch),
    };
    let orig = &buf[p.l3..p.end()];
    let min_quote = orig.len().min(p.l4 - p.l3 + 8);
    let room = out.len().saturating_sub(ip_hl + icmp_hl);
    if room < min_quote {
        return Err(ForwardError::BufferTooSmall {
            required: ip_hl + icmp_hl + min_quote,
        });
    }
    let quote = orig.len().min(max_quote).min(room);
    let total = ip_hl + icmp_hl + quote;
    let out = &mut out[..total];
    out[ip_hl + icmp_hl..].copy_from_slice(&orig[..quote]);
    let (ip, icmp) = out.split_at_mut(ip_hl);
    let (protocol, tos) = match (src, client) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            icmpv4::Repr {
                msg_type: ty,
                code,
                rest,
            }
            .emit(&mut icmpv4::Packet::new_unchecked(icmp), caps);
            (proto::ICMP, (p.tos & 0x1e) | 0xc0)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            icmpv6::Repr {
                msg_type: ty,
                code,
                rest,
            }
            .emit(&mut icmpv6::Packet::new_unchecked(icmp), &s, &d, caps);
            (proto::ICMPV6, 0)
        }
        _ => return Err(ForwardError::FamilyMismatch),
    };
    IpHeader {
        src,
        dst: client,
        protocol,
        payload_len: icmp_hl + quote,
        ttl: ERROR_TTL,
        tos,
        ident: 0,
        dont_frag: false,
    }
    .emit(ip, caps)?;
    Ok(total)
}
