//! From bytes to a flow: one pass over an Ethernet frame or a bare IP packet.
//!
//! [`parse_ethernet`] and [`parse_ip`] validate every length they rely on, read the 5-tuple
//! into a [`lvs_core::FlowKey`] and record the offsets the rewriters need, so that a verdict can
//! be applied without parsing again. Checksums are not verified here (IPVS does not verify them
//! on its fast path either); use the `wire` `Repr::parse` functions for that.

use crate::wire::{self, ethernet, icmpv4, icmpv6, ipv4, ipv6, proto, tcp, udp, Error, Result};
use lvs_core::{AddrFamily, Endpoint, FlowKey, IpAddr, Protocol, TcpFlags};

/// Link-layer facts of a parsed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthInfo {
    /// Source MAC.
    pub src: wire::MacAddr,
    /// Destination MAC.
    pub dst: wire::MacAddr,
    /// The 802.1Q tag control information, if the frame carried one tag.
    pub vlan: Option<u16>,
}

/// Fragmentation facts of an IP packet (IPv4 flags and offset, or an IPv6 fragment header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FragInfo {
    /// The packet is a fragment (MF set or non-zero offset, or an IPv6 fragment header).
    pub is_fragment: bool,
    /// The fragment is the first one (offset 0); always true for a parsed packet, since
    /// non-first fragments are refused with [`Error::NonFirstFragment`].
    pub first: bool,
    /// More fragments follow (MF / M).
    pub more: bool,
    /// The identification (IPv4: 16 bits; IPv6: 32 bits of the fragment header).
    pub ident: u32,
}

/// The IP and transport header quoted by an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quote {
    /// Offset of the quoted IP header in the buffer.
    pub l3: usize,
    /// Offset of the quoted transport header in the buffer.
    pub l4: usize,
    /// The quoted packet's 5-tuple as written in the quote: the offending packet, travelling
    /// the *opposite* way to the error. Ports are 0 when the quote is too short to hold them or
    /// the protocol has none.
    pub quoted: FlowKey,
    /// The quote holds the 4 port bytes of a TCP, UDP or SCTP header.
    pub has_ports: bool,
}

impl Quote {
    /// The flow the error belongs to, as seen in the direction the error travels: the quoted
    /// 5-tuple reversed. This is the key a director looks up (`ip_vs_conn_in_get` with the
    /// inverse flag, as `ip_vs_in_icmp` does).
    pub const fn flow(&self) -> FlowKey {
        self.quoted.reversed()
    }
}

/// What an ICMP or ICMPv6 message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpInfo {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// For error messages with a well-formed quote, what they quote.
    pub quote: Option<Quote>,
}

/// A parsed packet: offsets into the buffer given to the parser, and the facts a director needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Parsed {
    /// Link-layer facts (`None` for [`parse_ip`]).
    pub eth: Option<EthInfo>,
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the transport header (after any IPv4 options and IPv6 extension headers).
    pub l4: usize,
    /// Offset of the transport payload (equal to `l4` for protocols this crate does not know).
    pub payload: usize,
    /// Address family.
    pub family: AddrFamily,
    /// IP packet length: IPv4 total length, or 40 + IPv6 payload length. The packet ends at
    /// `l3 + ip_len`; bytes after it (Ethernet padding) are not part of it.
    pub ip_len: usize,
    /// TTL or hop limit.
    pub ttl: u8,
    /// DSCP and ECN (IPv4 TOS, IPv6 traffic class).
    pub tos: u8,
    /// IPv4 DF (always false for IPv6, which routers never fragment).
    pub dont_frag: bool,
    /// Fragmentation facts.
    pub frag: FragInfo,
    /// The 5-tuple, ports 0 for protocols without ports.
    pub flow: FlowKey,
    /// TCP flags (empty for other protocols).
    pub tcp_flags: TcpFlags,
    /// ICMP facts, for ICMP (IPv4) and ICMPv6 packets.
    pub icmp: Option<IcmpInfo>,
}

impl Parsed {
    /// Offset just past the IP packet.
    pub const fn end(&self) -> usize {
        self.l3 + self.ip_len
    }
    /// The protocol number of the transport header.
    pub const fn protocol(&self) -> u8 {
        self.flow.proto.number()
    }
    /// The packet is an ICMP error that quotes a flow.
    pub const fn is_icmp_error(&self) -> bool {
        matches!(self.icmp, Some(IcmpInfo { quote: Some(_), .. }))
    }
}

/// Parses an Ethernet II frame carrying IPv4 or IPv6, with at most one 802.1Q tag.
///
/// # Errors
/// [`Error::UnknownEtherType`] for anything but IPv4 and IPv6 (ARP included: answer it with
/// [`wire::arp::reply_for`]), and the [`parse_ip`] errors, with offsets from the frame start.
pub fn parse_ethernet(frame: &[u8]) -> Result<Parsed> {
    let f = ethernet::Frame::new_checked(frame)?;
    let (mut ethertype, mut l3, mut vlan) = (f.ethertype(), ethernet::HEADER_LEN, None);
    if ethertype == ethernet::EtherType::Vlan {
        let tci = wire::be16(frame, 14)?;
        ethertype = ethernet::EtherType::from(wire::be16(frame, 16)?);
        vlan = Some(tci);
        l3 += 4;
    }
    match ethertype {
        ethernet::EtherType::Ipv4 | ethernet::EtherType::Ipv6 => {}
        other => return Err(Error::UnknownEtherType(u16::from(other))),
    }
    let mut p = parse_at(frame, l3)?;
    if (ethertype == ethernet::EtherType::Ipv4) != (p.family == AddrFamily::Ipv4) {
        return Err(Error::BadVersion(if p.family == AddrFamily::Ipv4 {
            4
        } else {
            6
        }));
    }
    p.eth = Some(EthInfo {
        src: f.src_addr(),
        dst: f.dst_addr(),
        vlan,
    });
    Ok(p)
}

/// Parses a bare IPv4 or IPv6 packet (the version nibble decides).
///
/// # Errors
/// [`Error::Truncated`], [`Error::BadVersion`], [`Error::BadIhl`], [`Error::BadLength`],
/// [`Error::LengthBeyondBuffer`] for inconsistent lengths; [`Error::NonFirstFragment`] for a
/// fragment with non-zero offset; [`Error::BadExtensionHeader`] for an IPv6 extension chain it
/// cannot walk.
pub fn parse_ip(packet: &[u8]) -> Result<Parsed> {
    parse_at(packet, 0)
}

/// Parses the IP packet starting at `l3` in `buf`.
///
/// # Errors
/// As [`parse_ip`], with offsets from the start of `buf`.
pub fn parse_at(buf: &[u8], l3: usize) -> Result<Parsed> {
    let ip = buf
        .get(l3..)
        .ok_or(Error::Truncated { offset: buf.len() })?;
    match wire::byte(ip, 0).map_err(|_| Error::Truncated { offset: l3 })? >> 4 {
        4 => parse_v4(buf, l3),
        6 => parse_v6(buf, l3),
        v => Err(Error::BadVersion(v)),
    }
    .map_err(|e| shift(e, l3))
}

fn shift(e: Error, by: usize) -> Error {
    match e {
        Error::Truncated { offset } => Error::Truncated {
            offset: offset + by,
        },
        e => e,
    }
}

struct L3 {
    family: AddrFamily,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    l4: usize,
    end: usize,
    ttl: u8,
    tos: u8,
    dont_frag: bool,
    frag: FragInfo,
}

fn parse_v4(buf: &[u8], l3: usize) -> Result<Parsed> {
    let l3b = &buf[l3..];
    let p = ipv4::Packet::new_checked(l3b)?;
    if p.frag_offset() != 0 {
        return Err(Error::NonFirstFragment);
    }
    let is_fragment = p.more_frags();
    let h = L3 {
        family: AddrFamily::Ipv4,
        src: IpAddr::V4(p.src_addr()),
        dst: IpAddr::V4(p.dst_addr()),
        protocol: p.protocol(),
        l4: p.header_len(),
        end: usize::from(p.total_len()),
        ttl: p.ttl(),
        tos: p.tos(),
        dont_frag: p.dont_frag(),
        frag: FragInfo {
            is_fragment,
            first: true,
            more: p.more_frags(),
            ident: u32::from(p.ident()),
        },
    };
    finish(buf, l3, h)
}

fn parse_v6(buf: &[u8], l3: usize) -> Result<Parsed> {
    let l3b = &buf[l3..];
    let p = ipv6::Packet::new_checked(l3b)?;
    let end = ipv6::HEADER_LEN + usize::from(p.payload_len());
    let chain = ipv6::walk_extensions(l3b, p.next_header(), ipv6::HEADER_LEN, end)?;
    let frag = match chain.fragment {
        Some(f) if f.offset != 0 => return Err(Error::NonFirstFragment),
        Some(f) => FragInfo {
            is_fragment: true,
            first: true,
            more: f.more,
            ident: f.ident,
        },
        None => FragInfo {
            is_fragment: false,
            first: true,
            more: false,
            ident: 0,
        },
    };
    let h = L3 {
        family: AddrFamily::Ipv6,
        src: IpAddr::V6(p.src_addr()),
        dst: IpAddr::V6(p.dst_addr()),
        protocol: chain.protocol,
        l4: chain.offset,
        end,
        ttl: p.hop_limit(),
        tos: p.traffic_class(),
        dont_frag: false,
        frag,
    };
    finish(buf, l3, h)
}

fn finish(buf: &[u8], l3: usize, h: L3) -> Result<Parsed> {
    // `h.l4 <= h.end <= buf.len() - l3` was checked by the IP views.
    let seg = buf
        .get(l3 + h.l4..l3 + h.end)
        .ok_or(Error::Truncated { offset: buf.len() })?;
    let seg_err = |e: Error| shift(e, h.l4);
    let mut tcp_flags = TcpFlags::NONE;
    let mut icmp = None;
    let (sport, dport, hdr_len) = match h.protocol {
        proto::TCP => {
            let t = tcp::Packet::new_checked(seg).map_err(seg_err)?;
            tcp_flags = t.flags();
            (t.src_port(), t.dst_port(), t.header_len())
        }
        proto::UDP => {
            if h.frag.more {
                // the length field covers the reassembled datagram
                wire::need(seg, udp::HEADER_LEN).map_err(seg_err)?;
            } else {
                udp::Packet::new_checked(seg).map_err(seg_err)?;
            }
            let u = udp::Packet::new_unchecked(seg);
            (u.src_port(), u.dst_port(), udp::HEADER_LEN)
        }
        proto::SCTP => {
            wire::need(seg, 12).map_err(seg_err)?;
            (wire::be16(seg, 0)?, wire::be16(seg, 2)?, 12)
        }
        proto::ICMP if h.family == AddrFamily::Ipv4 => {
            let m = icmpv4::Packet::new_checked(seg).map_err(seg_err)?;
            let error = icmpv4::is_error(m.msg_type());
            icmp = Some(icmp_info(buf, l3, &h, m.msg_type(), m.code(), error));
            (0, 0, icmpv4::HEADER_LEN)
        }
        proto::ICMPV6 if h.family == AddrFamily::Ipv6 => {
            let m = icmpv6::Packet::new_checked(seg).map_err(seg_err)?;
            let error = icmpv6::is_error(m.msg_type());
            icmp = Some(icmp_info(buf, l3, &h, m.msg_type(), m.code(), error));
            (0, 0, icmpv6::HEADER_LEN)
        }
        _ => (0, 0, 0),
    };
    let flow = FlowKey::new(
        Protocol::from(h.protocol),
        Endpoint::new(h.src, sport),
        Endpoint::new(h.dst, dport),
    );
    Ok(Parsed {
        eth: None,
        l3,
        l4: l3 + h.l4,
        payload: l3 + h.l4 + hdr_len,
        family: h.family,
        ip_len: h.end,
        ttl: h.ttl,
        tos: h.tos,
        dont_frag: h.dont_frag,
        frag: h.frag,
        flow,
        tcp_flags,
        icmp,
    })
}

/// Reads the IP header quoted at `start` (up to `end`), as `ip_vs_in_icmp` does: the header
/// must be whole; its length fields may claim more than was quoted. `None` when it is not a
/// header of `family` or is cut short.
/// An ICMP or ICMPv6 message's type and code, with the packet an error quotes (both families'
/// headers are 8 bytes: type, code, checksum and 4 more).
fn icmp_info(buf: &[u8], l3: usize, h: &L3, msg_type: u8, code: u8, error: bool) -> IcmpInfo {
    let quote = if error && !h.frag.is_fragment {
        parse_quote(buf, l3 + h.l4 + icmpv4::HEADER_LEN, l3 + h.end, h.family)
    } else {
        None
    };
    IcmpInfo {
        msg_type,
        code,
        quote,
    }
}

fn parse_quote(buf: &[u8], start: usize, end: usize, family: AddrFamily) -> Option<Quote> {
    let q = buf.get(start..end)?;
    let (src, dst, protocol, l4, first) = match family {
        AddrFamily::Ipv4 => {
            if q.len() < ipv4::HEADER_LEN || q[0] >> 4 != 4 || q[0] & 0x0f < 5 {
                return None;
            }
            let p = ipv4::Packet::new_unchecked(q);
            if q.len() < p.header_len() {
                return None;
            }
            (
                IpAddr::V4(p.src_addr()),
                IpAddr::V4(p.dst_addr()),
                p.protocol(),
                p.header_len(),
                p.frag_offset() == 0,
            )
        }
        AddrFamily::Ipv6 => {
            if q.len() < ipv6::HEADER_LEN || q[0] >> 4 != 6 {
                return None;
            }
            let p = ipv6::Packet::new_unchecked(q);
            let c = ipv6::walk_extensions(q, p.next_header(), ipv6::HEADER_LEN, q.len()).ok()?;
            let first = c.fragment.is_none_or(|f| f.offset == 0);
            (
                IpAddr::V6(p.src_addr()),
                IpAddr::V6(p.dst_addr()),
                c.protocol,
                c.offset,
                first,
            )
        }
    };
    let proto = Protocol::from(protocol);
    let ports = if proto.has_ports() && first {
        match (wire::be16(q, l4), wire::be16(q, l4 + 2)) {
            (Ok(s), Ok(d)) => Some((s, d)),
            _ => None,
        }
    } else {
        None
    };
    let (s, d) = ports.unwrap_or((0, 0));
    Some(Quote {
        l3: start,
        l4: start + l4,
        quoted: FlowKey::new(proto, Endpoint::new(src, s), Endpoint::new(dst, d)),
        has_ports: ports.is_some(),
    })
}
