//! One call per packet: parse the frame, ask the director, rewrite in place, and say what to do
//! with the bytes.
//!
//! The order is the kernel's: parse, classify (`ip_vs_in`/`ip_vs_out`, or the ICMP variants for
//! errors that quote a tracked flow), decrement the TTL, check the MTU (a DF packet that does not
//! fit gets "fragmentation needed" / "packet too big" back, as `pmtu_disc=1` does), then the
//! forwarding method's rewriter. The result is an [`Action`] describing bytes already in the
//! caller's buffer; link-layer addressing (resolving the next hop's MAC) stays with the caller,
//! who owns the neighbour cache.
//!
//! Buffer layout: the frame starts at `frame_start` in `buf`; bytes before it are headroom that
//! tunnel encapsulation may use (an IPIP outer header needs 20 or 40 bytes in front of the inner
//! IP packet, of which the frame's own 14-byte Ethernet header provides 14).
//!
//! [`process_burst`] does the same for many frames at once, with the same result frame by frame:
//! it parses them all, lets the director hash them all and walk their connection-table chains
//! together ([`Director::handle_packet_burst`]), so that the cache misses of a burst overlap
//! instead of following one another, then rewrites each. With a table much larger than the
//! CPU caches it is several times faster per packet than one call per frame (see
//! BENCHMARKS.md at the repository root).
//!
//! The common case (an untagged IPv4 frame without options or fragmentation, carrying TCP or
//! UDP, forwarded by NAT) takes a shortcut for parsing and for the TTL and NAT rewrite that
//! gives exactly the general code's result; everything else takes the general code.

use crate::error::ForwardError;
use crate::fast;
use crate::icmp::{build_error, nat_icmp, IcmpErrorKind};
use crate::nat::{nat_in, nat_out};
use crate::parse::{parse_ethernet, Parsed};
use crate::route::{check_mtu, decrement_ttl};
use crate::tunnel::{encapsulate, flow_hash, TunnelParams};
use crate::wire::{self, ChecksumCaps};
use core::fmt;
use lvs_core::addr::Direction;
use lvs_core::director::{Director, DropReason, PacketMeta, Verdict, BURST_MAX};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestId, Endpoint, FlowKey, FwdMethod, Instant, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, Scheduler,
    TcpFlags,
};

/// Settings of the per-packet path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessConfig {
    /// Checksum offload capabilities.
    pub caps: ChecksumCaps,
    /// MTU of the links toward real servers; 0 disables MTU checks.
    pub mtu: u32,
    /// The `pmtu_disc` sysctl (on by default): DF packets too big for a tunnel get an ICMP error.
    pub pmtu_disc: bool,
    /// Decrement the TTL / hop limit, answering "time exceeded" at 1, as the kernel does.
    pub decrement_ttl: bool,
    /// Outer source address of IPv4 tunnels (the director's own address).
    pub tunnel_src_v4: Ipv4Addr,
    /// Outer source address of IPv6 tunnels.
    pub tunnel_src_v6: Ipv6Addr,
    /// Key of the flow hash that spreads GUE source ports.
    pub flow_key: SipKey,
}

impl ProcessConfig {
    /// Defaults: checksums computed in software, MTU 1500, `pmtu_disc` on, TTL decremented.
    pub const fn new(tunnel_src_v4: Ipv4Addr, tunnel_src_v6: Ipv6Addr, flow_key: SipKey) -> Self {
        ProcessConfig {
            caps: ChecksumCaps::software(),
            mtu: 1500,
            pmtu_disc: true,
            decrement_ttl: true,
            tunnel_src_v4,
            tunnel_src_v6,
            flow_key,
        }
    }
}

/// Who a transmitted packet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A real server, by the method the director chose.
    RealServer {
        /// The real server.
        dest: DestId,
        /// How it is reached.
        method: FwdMethod,
    },
    /// The client (a NAT reply).
    Client,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// The bytes are not a packet we can read.
    Parse(wire::Error),
    /// The director refused it.
    Director(DropReason),
    /// The rewrite failed (no headroom, MTU with no error allowed, ...).
    Forward(ForwardError),
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropCause::Parse(e) => write!(f, "unparsable: {e}"),
            DropCause::Director(r) => write!(f, "director: {r}"),
            DropCause::Forward(e) => write!(f, "rewrite: {e}"),
        }
    }
}

impl core::error::Error for DropCause {}

/// What to do with a packet after [`process_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Send the IP packet `buf[start..start + len]` toward `next_hop`, in a new link-layer
    /// frame addressed to `next_hop`'s MAC (for direct routing, the real server's).
    Transmit {
        /// Offset of the IP header in the buffer.
        start: usize,
        /// IP packet length.
        len: usize,
        /// IP address whose MAC the frame goes to (or the route toward it).
        next_hop: IpAddr,
        /// Who it is for.
        to: Peer,
    },
    /// Send the ICMP error written to `out[..len]` (a bare IP packet) back toward `dst`; the
    /// original packet is dropped.
    Respond {
        /// Length of the packet in `out`.
        len: usize,
        /// Its destination.
        dst: IpAddr,
    },
    /// Not for a virtual service: let the host have it (or ignore it).
    Deliver,
    /// Drop the packet.
    Drop(DropCause),
}

/// Processes one Ethernet frame at `buf[frame_start..frame_start + frame_len]`: see the module
/// docs. `fwmark` is the packet's firewall mark (0 for none); `out` receives ICMP errors the
/// director answers with (548 bytes suffice for IPv4, 1280 for IPv6).
///
/// ```
/// use lvs_forward::process::{process_frame, Action, ProcessConfig};
/// # use lvs_core::director::{Director, DirectorConfig, DirectorMemory, Service};
/// # use lvs_core::conn::ConnSlot; use lvs_core::stats::Stats; use lvs_core::hash::SipKey;
/// # use lvs_core::*;
/// # struct First;
/// # impl Scheduler for First { fn name(&self) -> &'static str { "first" }
/// #   fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> { d.iter().next().map(|(i, _)| i) } }
/// # let mut conns = [ConnSlot::EMPTY; 16]; let mut sv: [Option<Service<First>>; 1] = [None];
/// # let b = Dest::new(&DestConfig::new(Endpoint::v4([0;4],0), FwdMethod::Masq, 0));
/// # let (mut ds, mut st, mut or) = ([b; 2], [Stats::default(); 2], [DestId(0); 2]);
/// # let mut fx = lvs_core::director::DirectorFixed::new();
/// # let mem = DirectorMemory { conns: &mut conns, services: &mut sv, dests: &mut ds, dest_stats: &mut st, order: &mut or, fixed: &mut fx };
/// # let mut dir = Director::new(DirectorConfig::new(SipKey(1, 2)), mem, Instant::ZERO).unwrap();
/// let cfg = ProcessConfig::new([198, 18, 0, 254].into(), "2001:db8::fe".parse().unwrap(), SipKey(3, 4));
/// let mut buf = [0u8; 64];
/// let mut out = [0u8; 576];
/// // an all-zero frame is not IPv4/IPv6: dropped as unparsable, never a panic
/// let a = process_frame(&mut dir, Instant::ZERO, &mut buf, 0, 64, 0, &cfg, &mut out);
/// assert!(matches!(a, Action::Drop(_)));
/// ```
#[allow(clippy::too_many_arguments)]
pub fn process_frame<S: Scheduler>(
    dir: &mut Director<'_, S>,
    now: Instant,
    buf: &mut [u8],
    frame_start: usize,
    frame_len: usize,
    fwmark: u32,
    cfg: &ProcessConfig,
    out: &mut [u8],
) -> Action {
    let Some(end) = frame_start
        .checked_add(frame_len)
        .filter(|&e| e <= buf.len())
    else {
        return Action::Drop(DropCause::Forward(ForwardError::BufferTooSmall {
            required: frame_start.saturating_add(frame_len),
        }));
    };
    let mut p = fast::BLANK;
    if let Err(e) = parse_into(&buf[frame_start..end], &mut p) {
        return Action::Drop(DropCause::Parse(e));
    }
    let verdict = match p.icmp.and_then(|i| i.quote) {
        Some(q) => dir.handle_icmp_error(now, &q.quoted, p.ip_len as u32),
        None => {
            let mut meta = PacketMeta::new(p.flow, p.tcp_flags, p.ip_len as u32);
            meta.fwmark = fwmark;
            dir.handle_packet(now, &meta)
        }
    };
    apply(&verdict, &p, buf, frame_start, end, cfg, out)
}

/// One frame of a burst for [`process_burst`]: the frame is `buf[start..start + len]`, with
/// `buf[..start]` as headroom, as for [`process_frame`].
#[derive(Debug)]
pub struct BurstFrame<'b> {
    /// The buffer holding the frame.
    pub buf: &'b mut [u8],
    /// Offset of the Ethernet header in `buf`.
    pub start: usize,
    /// Length of the frame.
    pub len: usize,
    /// The packet's firewall mark, 0 for none.
    pub fwmark: u32,
}

impl<'b> BurstFrame<'b> {
    /// A frame at `buf[start..start + len]` without a firewall mark.
    pub fn new(buf: &'b mut [u8], start: usize, len: usize) -> Self {
        BurstFrame {
            buf,
            start,
            len,
            fwmark: 0,
        }
    }
}

/// Processes a burst of frames: the same result, frame by frame, as calling [`process_frame`]
/// on each in order, but faster for many flows.
///
/// `actions[i]` receives frame `i`'s action; at most `min(frames.len(), actions.len())` frames
/// are processed and that number is returned. ICMP errors the director answers with are
/// written one after another into `out`, in frame order: the bytes of the `k`-th
/// [`Action::Respond`] start at the sum of the `len`s of the earlier ones. A response that does
/// not fit in what is left of `out` makes its frame's action a drop, as [`process_frame`] does
/// with too small an `out`.
///
/// Frames are taken in groups of [`BURST_MAX`]; a call keeps a group's parse results and
/// verdicts on the stack, about 12 KiB, and allocates nothing.
pub fn process_burst<S: Scheduler>(
    dir: &mut Director<'_, S>,
    now: Instant,
    frames: &mut [BurstFrame<'_>],
    cfg: &ProcessConfig,
    actions: &mut [Action],
    out: &mut [u8],
) -> usize {
    let n = frames.len().min(actions.len());
    let mut used = 0;
    let blank = PacketMeta::new(
        FlowKey::new(
            Protocol::Tcp,
            Endpoint::v4([0; 4], 0),
            Endpoint::v4([0; 4], 0),
        ),
        TcpFlags::NONE,
        0,
    );
    for (fs, acts) in frames[..n]
        .chunks_mut(BURST_MAX)
        .zip(actions[..n].chunks_mut(BURST_MAX))
    {
        let mut parsed = [fast::BLANK; BURST_MAX];
        let mut ok = [false; BURST_MAX];
        let mut verdicts = [Verdict::Deliver; BURST_MAX];
        // consecutive packets for the director's burst call, by frame index
        let mut run = [0usize; BURST_MAX];
        let mut metas = [blank; BURST_MAX];
        let mut got = [Verdict::Deliver; BURST_MAX];
        let mut run_len = 0;
        let flush = |dir: &mut Director<'_, S>,
                     run: &[usize],
                     metas: &[PacketMeta],
                     got: &mut [Verdict],
                     verdicts: &mut [Verdict]| {
            if run.last().is_some_and(|&l| l + 1 == run.len()) {
                // frames 0..n in order (run positions increase): the verdicts go in place
                dir.handle_packet_burst(now, metas, &mut verdicts[..run.len()]);
                return;
            }
            dir.handle_packet_burst(now, metas, got);
            for (&i, v) in run.iter().zip(got.iter()) {
                verdicts[i] = *v;
            }
        };
        for (i, (f, a)) in fs.iter().zip(acts.iter_mut()).enumerate() {
            let Some(frame) = f
                .start
                .checked_add(f.len)
                .and_then(|e| f.buf.get(f.start..e))
            else {
                *a = Action::Drop(DropCause::Forward(ForwardError::BufferTooSmall {
                    required: f.start.saturating_add(f.len),
                }));
                continue;
            };
            let p = &mut parsed[i];
            if let Err(e) = parse_into(frame, p) {
                *a = Action::Drop(DropCause::Parse(e));
                continue;
            }
            ok[i] = true;
            match p.icmp.and_then(|i| i.quote) {
                Some(q) => {
                    // in order: the packets before it first
                    flush(
                        dir,
                        &run[..run_len],
                        &metas[..run_len],
                        &mut got[..run_len],
                        &mut verdicts,
                    );
                    run_len = 0;
                    verdicts[i] = dir.handle_icmp_error(now, &q.quoted, p.ip_len as u32);
                }
                None => {
                    let mut meta = PacketMeta::new(p.flow, p.tcp_flags, p.ip_len as u32);
                    meta.fwmark = f.fwmark;
                    metas[run_len] = meta;
                    run[run_len] = i;
                    run_len += 1;
                }
            }
        }
        flush(
            dir,
            &run[..run_len],
            &metas[..run_len],
            &mut got[..run_len],
            &mut verdicts,
        );
        for (i, (f, a)) in fs.iter_mut().zip(acts.iter_mut()).enumerate() {
            if !ok[i] {
                continue;
            }
            let end = f.start + f.len;
            let rest = out.get_mut(used..).unwrap_or_default();
            *a = apply(&verdicts[i], &parsed[i], f.buf, f.start, end, cfg, rest);
            if let Action::Respond { len, .. } = *a {
                used += len;
            }
        }
    }
    n
}

/// [`parse_ethernet`] into `p`, through the common case's shortcut when it applies.
#[inline(always)]
fn parse_into(frame: &[u8], p: &mut Parsed) -> Result<(), wire::Error> {
    if !fast::parse_v4_l4_into(frame, p) {
        *p = parse_ethernet(frame)?;
    }
    Ok(())
}

fn respond(
    buf: &[u8],
    p: &Parsed,
    kind: IcmpErrorKind,
    out: &mut [u8],
    caps: &ChecksumCaps,
) -> Action {
    match build_error(buf, p, kind, None, out, caps) {
        Ok(len) => Action::Respond {
            len,
            dst: p.flow.src.addr,
        },
        Err(e) => Action::Drop(DropCause::Forward(e)),
    }
}

/// Applies a verdict to the frame at `buf[frame_start..end]` that `p` describes (offsets
/// relative to `frame_start`).
#[inline]
fn apply(
    verdict: &Verdict,
    p: &Parsed,
    buf: &mut [u8],
    frame_start: usize,
    end: usize,
    cfg: &ProcessConfig,
    out: &mut [u8],
) -> Action {
    let caps = &cfg.caps;
    match *verdict {
        Verdict::Deliver => Action::Deliver,
        Verdict::Drop(DropReason::NoDestination) => {
            // ip_vs_leave: "port unreachable" back to the client, then drop
            respond(
                &buf[frame_start..end],
                p,
                IcmpErrorKind::PortUnreachable,
                out,
                caps,
            )
        }
        Verdict::Drop(r) => Action::Drop(DropCause::Director(r)),
        Verdict::Forward(f)
            if f.method == FwdMethod::Masq
                && (cfg.mtu == 0 || check_mtu(p, cfg.mtu).is_ok())
                && fast::ttl_and_nat_in_v4(
                    &mut buf[frame_start..end],
                    p,
                    &f.daddr,
                    cfg.decrement_ttl,
                    caps,
                )
                .is_some() =>
        {
            // the common case, done in one pass with the general path's exact result
            Action::Transmit {
                start: frame_start + p.l3,
                len: p.ip_len,
                next_hop: f.daddr.addr,
                to: Peer::RealServer {
                    dest: f.dest,
                    method: f.method,
                },
            }
        }
        Verdict::Forward(f) => {
            let frame = &mut buf[frame_start..end];
            if cfg.decrement_ttl {
                if let Err(e) = decrement_ttl(frame, p, caps) {
                    return match e {
                        ForwardError::TtlExpired => {
                            respond(frame, p, IcmpErrorKind::TimeExceeded, out, caps)
                        }
                        e => Action::Drop(DropCause::Forward(e)),
                    };
                }
            }
            let to = Peer::RealServer {
                dest: f.dest,
                method: f.method,
            };
            let next_hop = f.daddr.addr;
            match f.method {
                FwdMethod::Masq | FwdMethod::DirectRoute => {
                    if cfg.mtu != 0 {
                        if let Err(ForwardError::MtuExceeded { mtu }) = check_mtu(p, cfg.mtu) {
                            return respond(
                                frame,
                                p,
                                IcmpErrorKind::too_big(p.family, mtu),
                                out,
                                caps,
                            );
                        }
                    }
                    if f.method == FwdMethod::Masq {
                        let r = if p.is_icmp_error() {
                            nat_icmp(frame, p, Direction::Input, f.daddr, caps)
                        } else {
                            nat_in(frame, p, f.daddr, caps)
                        };
                        if let Err(e) = r {
                            return Action::Drop(DropCause::Forward(e));
                        }
                    }
                    Action::Transmit {
                        start: frame_start + p.l3,
                        len: p.ip_len,
                        next_hop,
                        to,
                    }
                }
                FwdMethod::Tunnel => {
                    let src = match next_hop {
                        IpAddr::V4(_) => IpAddr::V4(cfg.tunnel_src_v4),
                        IpAddr::V6(_) => IpAddr::V6(cfg.tunnel_src_v6),
                    };
                    let params = TunnelParams {
                        kind: f.tunnel,
                        src,
                        dst: next_hop,
                        mtu: cfg.mtu,
                        pmtu_disc: cfg.pmtu_disc,
                        ident: 0,
                        flow_hash: flow_hash(&p.flow, cfg.flow_key),
                    };
                    match encapsulate(buf, frame_start + p.l3, p.ip_len, &params, caps) {
                        Ok(enc) => Action::Transmit {
                            start: enc.start,
                            len: enc.len,
                            next_hop,
                            to,
                        },
                        Err(ForwardError::MtuExceeded { mtu }) => respond(
                            &buf[frame_start..end],
                            p,
                            IcmpErrorKind::too_big(p.family, mtu),
                            out,
                            caps,
                        ),
                        Err(e) => Action::Drop(DropCause::Forward(e)),
                    }
                }
            }
        }
        Verdict::Reply(r) => {
            let frame = &mut buf[frame_start..end];
            if cfg.decrement_ttl {
                if let Err(e) = decrement_ttl(frame, p, caps) {
                    return match e {
                        ForwardError::TtlExpired => {
                            respond(frame, p, IcmpErrorKind::TimeExceeded, out, caps)
                        }
                        e => Action::Drop(DropCause::Forward(e)),
                    };
                }
            }
            let res = if p.is_icmp_error() {
                nat_icmp(frame, p, Direction::Output, r.vaddr, caps)
            } else {
                nat_out(frame, p, r.vaddr, caps)
            };
            match res {
                Ok(()) => Action::Transmit {
                    start: frame_start + p.l3,
                    len: p.ip_len,
                    next_hop: r.client.addr,
                    to: Peer::Client,
                },
                Err(e) => Action::Drop(DropCause::Forward(e)),
            }
        }
    }
}
