//! IP tunnelling (VS/TUN): IPIP and GUE encapsulation toward a real server, and the matching
//! decapsulation a real server (or a test) performs.
//!
//! [`encapsulate`] is `ip_vs_tunnel_xmit` / `ip_vs_tunnel_xmit_v6`. The outer header is written
//! into headroom the caller leaves in front of the packet; nothing is moved. It sets the outer
//! header as `ip_vs_prepare_tunneled_skb` and the transmit functions do:
//!
//! - TTL / hop limit: copied from the inner packet (decrement it first with
//!   [`crate::route::decrement_ttl`], as the kernel does before encapsulating);
//! - TOS / traffic class: the inner DSCP and ECN, except that an inner CE mark becomes ECT(0)
//!   (`INET_ECN_encapsulate`);
//! - IPv4 DF: copied from an inner IPv4 packet when `pmtu_disc` (the `pmtu_disc` sysctl, on by
//!   default), else clear; clear for an inner IPv6 packet; identification 0 when DF is set (as
//!   `ip_select_ident` leaves it), else the caller's `ident`;
//! - IPv6 outer: flow label 0.
//! - protocol: 4 (IPIP) for an inner IPv4 packet and 41 for an inner IPv6 packet, inside UDP
//!   (17) for GUE.
//!
//! GUE (draft-ietf-intarea-gue, `ipvs_gue_encap`): an 8-byte UDP header to the configured port
//! and a 4-byte version 0 GUE header with no options whose protocol field is 4 or 41. The UDP
//! source port spreads flows over the local port range as `udp_flow_src_port` does, from a
//! caller-supplied flow hash (the kernel uses the skb's flow-dissector hash; see
//! [`gue_source_port`] and [`flow_hash`]). The UDP checksum is computed in full when
//! `csum` is set (`--tun-nocsum` clears it), else 0 (also over IPv6, as `udp6_set_csum` does
//! for tunnels, RFC 6935).
//!
//! The MTU check is the kernel's: the route MTU less the overhead must be at least 68 (IPv4
//! outer) or 1280 (IPv6 outer), and the inner packet must fit it (see
//! [`crate::route::check_mtu`] for the rules; `pmtu_disc` off lets IPv4 through to be
//! fragmented).
//!
//! Deviation: the kernel recomputes the inner IPv4 header checksum before encapsulating
//! (`ip_send_check`); here the inner packet is left byte for byte as given (its checksum is
//! already right after [`crate::route::decrement_ttl`] and the incremental rewriters).

use crate::error::ForwardError;
use crate::ip_header::IpHeader;
use crate::process::ProcessConfig;
use crate::rewrite::{Emit, Emitted, PacketBuf, Rewriter, Room};
use crate::route::{is_relayed_icmp_v4, mtu_verdict};
use crate::wire::{icmpv6, ipv4, ipv6, proto, udp, ChecksumCaps, Error};
use lvs_core::director::Forward;
use lvs_core::hash::{siphash, SipKey};
use lvs_core::{AddrFamily, FlowKey, IpAddr, TunnelKind};

/// Length of the GUE header with no options.
pub const GUE_HEADER_LEN: usize = 4;
/// The low end of the kernel's default local port range (`ip_local_port_range`).
pub const LOCAL_PORT_MIN: u16 = 32768;
/// The high end of the kernel's default local port range.
pub const LOCAL_PORT_MAX: u16 = 60999;

/// Where and how to tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelParams {
    /// IPIP or GUE.
    pub kind: TunnelKind,
    /// Outer source: the director's address toward the real server.
    pub src: IpAddr,
    /// Outer destination: the real server.
    pub dst: IpAddr,
    /// MTU of the route to the real server; 0 skips the MTU check.
    pub mtu: u32,
    /// The `pmtu_disc` sysctl: copy DF from inner IPv4 packets and enforce the MTU for them.
    pub pmtu_disc: bool,
    /// Outer IPv4 identification, used when DF is clear.
    pub ident: u16,
    /// The flow's hash, from which the GUE source port derives (see [`flow_hash`]).
    pub flow_hash: u32,
}

impl TunnelParams {
    /// IPIP from `src` to `dst` with no MTU check, `pmtu_disc` on, ident 0, flow hash 0.
    pub const fn ipip(src: IpAddr, dst: IpAddr) -> Self {
        TunnelParams {
            kind: TunnelKind::Ipip,
            src,
            dst,
            mtu: 0,
            pmtu_disc: true,
            ident: 0,
            flow_hash: 0,
        }
    }
}

/// Where the encapsulated packet is in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encapsulated {
    /// Offset of the outer IP header.
    pub start: usize,
    /// Length of the outer packet.
    pub len: usize,
}

/// Bytes the encapsulation adds for an outer header of `outer` family.
pub const fn overhead(kind: TunnelKind, outer: AddrFamily) -> usize {
    let ip = match outer {
        AddrFamily::Ipv4 => ipv4::HEADER_LEN,
        AddrFamily::Ipv6 => ipv6::HEADER_LEN,
    };
    match kind {
        TunnelKind::Ipip => ip,
        TunnelKind::Gue { .. } => ip + udp::HEADER_LEN + GUE_HEADER_LEN,
    }
}

/// `udp_flow_src_port(net, skb, 0, 0, false)`: a source port in the default local port range
/// from a flow hash, `((hash ^ hash << 16) * (max - min)) >> 32) + min`. A zero hash (the kernel
/// would substitute a random one) is used as is.
///
/// ```
/// use lvs_forward::tunnel::{gue_source_port, LOCAL_PORT_MIN, LOCAL_PORT_MAX};
/// let p = gue_source_port(0xdead_beef);
/// assert!((LOCAL_PORT_MIN..LOCAL_PORT_MAX).contains(&p));
/// assert_eq!(gue_source_port(0), LOCAL_PORT_MIN);
/// ```
pub const fn gue_source_port(flow_hash: u32) -> u16 {
    let h = flow_hash ^ (flow_hash << 16);
    let span = (LOCAL_PORT_MAX - LOCAL_PORT_MIN) as u64;
    (((h as u64 * span) >> 32) as u16) + LOCAL_PORT_MIN
}

/// A keyed 32-bit hash of a flow's 5-tuple (SipHash-1-3, like the kernel's flow-dissector hash
/// is keyed SipHash), for [`TunnelParams::flow_hash`]. The same flow always gets the same GUE
/// source port, so receivers with RSS keep it on one queue.
pub fn flow_hash(flow: &FlowKey, key: SipKey) -> u32 {
    let mut b = [0u8; 37];
    let mut put = |off: usize, a: &IpAddr| match a {
        IpAddr::V4(a) => b[off..off + 4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b[off..off + 16].copy_from_slice(&a.octets()),
    };
    put(0, &flow.src.addr);
    put(16, &flow.dst.addr);
    b[32..34].copy_from_slice(&flow.src.port.to_be_bytes());
    b[34..36].copy_from_slice(&flow.dst.port.to_be_bytes());
    b[36] = flow.proto.number();
    let h = siphash::<1, 3>(key, &b);
    (h ^ (h >> 32)) as u32
}

struct Inner {
    family: AddrFamily,
    ttl: u8,
    tos: u8,
    dont_frag: bool,
    relayed_icmp: bool,
}

fn inspect_inner(ip: &[u8]) -> Result<Inner, ForwardError> {
    let v = ip.first().ok_or(Error::Truncated { offset: 0 })? >> 4;
    match v {
        4 => {
            let p = ipv4::Packet::new_checked(ip)?;
            if usize::from(p.total_len()) != ip.len() {
                return Err(Error::BadLength.into());
            }
            Ok(Inner {
                family: AddrFamily::Ipv4,
                ttl: p.ttl(),
                tos: p.tos(),
                dont_frag: p.dont_frag(),
                relayed_icmp: is_relayed_icmp_v4(ip),
            })
        }
        6 => {
            let p = ipv6::Packet::new_checked(ip)?;
            if ipv6::HEADER_LEN + usize::from(p.payload_len()) != ip.len() {
                return Err(Error::BadLength.into());
            }
            let relayed_icmp = p.next_header() == proto::ICMPV6
                && ip
                    .get(ipv6::HEADER_LEN)
                    .is_some_and(|&t| icmpv6::is_error(t));
            Ok(Inner {
                family: AddrFamily::Ipv6,
                ttl: p.hop_limit(),
                tos: p.traffic_class(),
                dont_frag: false,
                relayed_icmp,
            })
        }
        v => Err(Error::BadVersion(v).into()),
    }
}

/// `INET_ECN_encapsulate(tos, tos)`: keep DSCP and ECN, but never copy CE to the outer header.
const fn ecn_encapsulate(tos: u8) -> u8 {
    if tos & 3 == 3 {
        (tos & !3) | 2
    } else {
        tos
    }
}

/// Encapsulates the IP packet at `buf[inner_start..inner_start + inner_len]` (see the module
/// docs), writing the outer headers into the headroom before it.
///
/// # Errors
/// [`ForwardError::InsufficientHeadroom`] if `inner_start` is below [`overhead`];
/// [`ForwardError::Wire`] if the range is not one whole IPv4 or IPv6 packet;
/// [`ForwardError::FamilyMismatch`] if `src` and `dst` differ in family;
/// [`ForwardError::RouteMtuTooSmall`] and [`ForwardError::MtuExceeded`] from the MTU check;
/// [`ForwardError::TooLong`] past 65535 bytes. The buffer is untouched on error.
pub fn encapsulate(
    buf: &mut [u8],
    inner_start: usize,
    inner_len: usize,
    params: &TunnelParams,
    caps: &ChecksumCaps,
) -> Result<Encapsulated, ForwardError> {
    let end = inner_start.checked_add(inner_len).ok_or(Error::Malformed)?;
    let inner_bytes = buf.get(inner_start..end).ok_or(Error::LengthBeyondBuffer {
        claimed: end,
        available: buf.len(),
    })?;
    let inner = inspect_inner(inner_bytes)?;
    let outer_family = AddrFamily::of(&params.dst);
    if AddrFamily::of(&params.src) != outer_family {
        return Err(ForwardError::FamilyMismatch);
    }
    let oh = overhead(params.kind, outer_family);
    if inner_start < oh {
        return Err(ForwardError::InsufficientHeadroom { required: oh });
    }
    let pmtu = params.pmtu_disc || inner.family == AddrFamily::Ipv6;
    if params.mtu != 0 {
        let mtu = params.mtu.saturating_sub(oh as u32);
        let min = if outer_family == AddrFamily::Ipv4 {
            68
        } else {
            icmpv6::MIN_MTU as u32
        };
        if mtu < min {
            return Err(ForwardError::RouteMtuTooSmall { mtu });
        }
        if pmtu {
            mtu_verdict(
                inner.family,
                inner_len,
                inner.dont_frag,
                inner.relayed_icmp,
                mtu,
            )?;
        }
    }
    let ip_hl = if outer_family == AddrFamily::Ipv4 {
        ipv4::HEADER_LEN
    } else {
        ipv6::HEADER_LEN
    };
    let total = inner_len + oh;
    let payload_len = total - ip_hl;
    if (outer_family == AddrFamily::Ipv4 && total > 65535) || payload_len > 65535 {
        return Err(ForwardError::TooLong);
    }
    let start = inner_start - oh;
    let inner_proto = if inner.family == AddrFamily::Ipv4 {
        proto::IPIP
    } else {
        proto::IPV6
    };
    let tos = ecn_encapsulate(inner.tos);
    let dont_frag = params.pmtu_disc && inner.dont_frag;

    // All checks done: write.
    let pkt = &mut buf[start..end];
    let next = match params.kind {
        TunnelKind::Ipip => inner_proto,
        TunnelKind::Gue { port, csum } => {
            let (_, rest) = pkt.split_at_mut(ip_hl);
            rest[udp::HEADER_LEN..udp::HEADER_LEN + GUE_HEADER_LEN].copy_from_slice(&[
                0,
                inner_proto,
                0,
                0,
            ]);
            udp::Repr {
                src_port: gue_source_port(params.flow_hash),
                dst_port: port,
            }
            .emit(
                &mut udp::Packet::new_unchecked(rest),
                payload_len - udp::HEADER_LEN,
                &params.src,
                &params.dst,
                csum,
                caps,
            );
            proto::UDP
        }
    };
    IpHeader {
        src: params.src,
        dst: params.dst,
        protocol: next,
        payload_len,
        ttl: inner.ttl,
        tos,
        ident: if dont_frag { 0 } else { params.ident },
        dont_frag,
    }
    .emit(&mut pkt[..ip_hl], caps)?;
    Ok(Encapsulated { start, len: total })
}

/// IPIP as a [`Rewriter`]: every forwarded packet is [`encapsulate`]d in IPIP toward the
/// verdict's real server, from `cfg.tunnel_src_v4` / `_v6`, with `cfg.mtu` and
/// `cfg.pmtu_disc`. Needs [`overhead`] bytes of headroom in front of the IP header (20 or 40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipip;

/// GUE as a [`Rewriter`]: every forwarded packet is [`encapsulate`]d in GUE to UDP `port`
/// (with the outer UDP checksum when `csum`), its source port spread by the flow's hash under
/// `cfg.flow_key`; otherwise as [`Ipip`]. Needs [`overhead`] bytes of headroom (32 or 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gue {
    /// Destination UDP port.
    pub port: u16,
    /// Compute the outer UDP checksum.
    pub csum: bool,
}

/// [`encapsulate`] the packet of `pkt` as `kind` toward `f`'s real server.
#[inline]
fn tunnel_forward(
    kind: TunnelKind,
    pkt: PacketBuf<'_>,
    f: &Forward,
    cfg: &ProcessConfig,
) -> Emitted {
    let dst = f.daddr.addr;
    let src = match dst {
        IpAddr::V4(_) => IpAddr::V4(cfg.tunnel_src_v4),
        IpAddr::V6(_) => IpAddr::V6(cfg.tunnel_src_v6),
    };
    let params = TunnelParams {
        kind,
        src,
        dst,
        mtu: cfg.mtu,
        pmtu_disc: cfg.pmtu_disc,
        ident: 0,
        flow_hash: match kind {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue { .. } => flow_hash(&pkt.parsed.flow, cfg.flow_key),
        },
    };
    let (start, len) = (pkt.ip_start(), pkt.ip_len());
    let enc = encapsulate(pkt.buf, start, len, &params, &cfg.caps)?;
    Ok(Emit {
        start: enc.start,
        len: enc.len,
        next_hop: dst,
    })
}

impl Ipip {
    const fn kind(&self) -> TunnelKind {
        TunnelKind::Ipip
    }
}

impl Gue {
    const fn kind(&self) -> TunnelKind {
        TunnelKind::Gue {
            port: self.port,
            csum: self.csum,
        }
    }
}

/// The encapsulating rewriters: headroom for the outer headers of their kind, then
/// [`tunnel_forward`].
macro_rules! tunnel_rewriter {
    ($($t:ty),+) => {$(
        impl Rewriter for $t {
            type Error = ForwardError;

            #[inline(always)]
            fn pre_classify_is_noop(&self) -> bool {
                true
            }

            fn room(&self, f: &Forward) -> Room {
                Room::head(overhead(self.kind(), AddrFamily::of(&f.daddr.addr)))
            }

            #[inline]
            fn forward(
                &mut self,
                pkt: PacketBuf<'_>,
                f: &Forward,
                cfg: &ProcessConfig,
            ) -> Emitted {
                tunnel_forward(self.kind(), pkt, f, cfg)
            }
        }
    )+};
}

tunnel_rewriter!(Ipip, Gue);

/// The tunnel a packet arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// IP in IP (protocol 4 or 41).
    Ipip,
    /// GUE on this UDP port.
    Gue {
        /// UDP destination port.
        port: u16,
    },
}

/// Where the inner packet of a tunnelled packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decapsulated {
    /// Offset of the inner IP header.
    pub start: usize,
    /// Length of the inner IP packet (from its own header).
    pub len: usize,
    /// The tunnel type.
    pub tunnel: TunnelType,
    /// Outer source (the director).
    pub outer_src: IpAddr,
    /// Outer destination (this real server).
    pub outer_dst: IpAddr,
}

/// Finds the inner packet of the IPIP or GUE packet at `buf[start..]`; GUE is recognised on
/// `gue_port` only. Nothing is modified: the inner packet is `buf[d.start..d.start + d.len]`.
///
/// Checks, as a receiver must: the outer header is whole and not a fragment, the GUE header is
/// version 0 with the control bit clear and carries protocol 4 or 41, the inner packet's family
/// matches that protocol and it fits, and (when `caps.udp.rx()`) a non-zero GUE UDP checksum
/// verifies.
///
/// # Errors
/// [`ForwardError::Wire`] for malformed packets, [`ForwardError::Unsupported`] for a packet
/// that is not IPIP or GUE on `gue_port`.
pub fn decapsulate(
    buf: &[u8],
    start: usize,
    gue_port: Option<u16>,
    caps: &ChecksumCaps,
) -> Result<Decapsulated, ForwardError> {
    let p = crate::parse::parse_at(buf, start)?;
    if p.frag.is_fragment {
        return Err(ForwardError::Unsupported);
    }
    let end = p.end();
    let (inner_off, proto, tunnel) = match p.protocol() {
        proto::IPIP | proto::IPV6 => (p.l4, p.protocol(), TunnelType::Ipip),
        proto::UDP if Some(p.flow.dst.port) == gue_port => {
            let u = udp::Packet::new_checked(&buf[p.l4..end])?;
            caps.udp
                .check_rx(|| u.verify_checksum(&p.flow.src.addr, &p.flow.dst.addr))?;
            let g = p.payload;
            let h = buf
                .get(g..g + GUE_HEADER_LEN)
                .ok_or(Error::Truncated { offset: end })?;
            if h[0] >> 6 != 0 || h[0] & 0x20 != 0 {
                return Err(Error::Malformed.into());
            }
            let hlen = usize::from(h[0] & 0x1f) * 4;
            (
                g + GUE_HEADER_LEN + hlen,
                h[1],
                TunnelType::Gue {
                    port: p.flow.dst.port,
                },
            )
        }
        _ => return Err(ForwardError::Unsupported),
    };
    let inner = buf
        .get(inner_off..end)
        .ok_or(Error::Truncated { offset: end })?;
    let len = match proto {
        proto::IPIP => {
            let ip = ipv4::Packet::new_checked(inner)?;
            if ip.version() != 4 {
                return Err(Error::BadVersion(ip.version()).into());
            }
            usize::from(ip.total_len())
        }
        proto::IPV6 => {
            let ip = ipv6::Packet::new_checked(inner)?;
            if ip.version() != 6 {
                return Err(Error::BadVersion(ip.version()).into());
            }
            ipv6::HEADER_LEN + usize::from(ip.payload_len())
        }
        _ => return Err(ForwardError::Unsupported),
    };
    Ok(Decapsulated {
        start: inner_off,
        len,
        tunnel,
        outer_src: p.flow.src.addr,
        outer_dst: p.flow.dst.addr,
    })
}
