//! One call per packet: parse the frame, ask the director, rewrite in place, and say what to do
//! with the bytes.
//!
//! The order is the kernel's: parse, classify (`ip_vs_in`/`ip_vs_out`, or the ICMP variants for
//! errors that quote a tracked flow), decrement the TTL, check the MTU (a DF packet that does not
//! fit gets "fragmentation needed" / "packet too big" back, as `pmtu_disc=1` does), then the
//! forwarding method's [`Rewriter`]: [`Standard`] (IPVS's methods, chosen by the verdict) for
//! [`process_frame`] and [`process_burst`], any other for [`process_frame_with`] and
//! [`process_burst_with`]. The result is an [`Action`] describing bytes already in the
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

mod burst;

use crate::error::ForwardError;
use crate::fast::{self, V4L4};
use crate::icmp::{build_error, IcmpErrorKind};
use crate::parse::{parse_ethernet, Parsed};
use crate::rewrite::{PacketBuf, Rewriter, Standard};
use crate::route::{check_mtu, decrement_ttl};
use crate::wire::{self, ChecksumCaps};
use core::fmt;
use lvs_core::director::{Director, DropReason, Forward, PacketMeta, Verdict, BURST_MAX};
use lvs_core::hash::SipKey;
use lvs_core::{DestId, FwdMethod, Instant, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, Scheduler};

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
#[inline]
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
    process_frame_with(
        dir,
        &mut Standard,
        now,
        buf,
        frame_start,
        frame_len,
        fwmark,
        cfg,
        out,
    )
}

/// [`process_frame`] with the forwarding method `rw` instead of [`Standard`]: `rw` sees each
/// parsed frame before the director ([`Rewriter::pre_classify`]) and rewrites what the
/// director forwards or answers (see [`crate::rewrite`]). Monomorphised per rewriter type.
#[allow(clippy::too_many_arguments)]
pub fn process_frame_with<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
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
    let mut p = match fast::v4_l4(&buf[frame_start..end]) {
        Some(k) => {
            if rw.pre_classify_is_noop() && rewritable(&k, end - frame_start, cfg) {
                // the one pass of established flows: the director's
                // [`Director::handle_established`], then [`finish`]'s rewrite (the action is
                // written once, not passed up inside an `Option`)
                if !is_syn(&k) {
                    if let Some(f) =
                        dir.handle_established(now, &k.flow, k.tcp_flags, k.total as u32)
                    {
                        return finish(rw, &f, &k, buf, frame_start, end, cfg, out);
                    }
                }
                return classify_read(dir, rw, now, buf, frame_start, end, &k, fwmark, cfg, out);
            }
            fast::parsed(&k, &buf[frame_start..end])
        }
        None => match parse_ethernet(&buf[frame_start..end]) {
            Ok(p) => p,
            Err(e) => return Action::Drop(DropCause::Parse(e)),
        },
    };
    general(
        dir,
        rw,
        now,
        buf,
        frame_start,
        end,
        fwmark,
        cfg,
        out,
        &mut p,
    )
}

/// The general path once the frame is parsed (`p`): [`Rewriter::pre_classify`], the director,
/// [`apply`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn general<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
    now: Instant,
    buf: &mut [u8],
    frame_start: usize,
    end: usize,
    fwmark: u32,
    cfg: &ProcessConfig,
    out: &mut [u8],
    p: &mut Parsed,
) -> Action {
    let Some(frame) = buf.get_mut(frame_start..end) else {
        return Action::Drop(DropCause::Forward(ForwardError::BufferTooSmall {
            required: end,
        }));
    };
    if let Err(e) = rw.pre_classify(frame, p, cfg) {
        return Action::Drop(DropCause::Forward(e.into()));
    }
    let verdict = match p.icmp.and_then(|i| i.quote) {
        Some(q) => dir.handle_icmp_error(now, &q.quoted, p.ip_len as u32),
        None => {
            let mut meta = PacketMeta::new(p.flow, p.tcp_flags, p.ip_len as u32);
            meta.fwmark = fwmark;
            dir.handle_packet(now, &meta)
        }
    };
    apply(rw, &verdict, p, buf, frame_start, end, cfg, out)
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
#[inline]
pub fn process_burst<S: Scheduler>(
    dir: &mut Director<'_, S>,
    now: Instant,
    frames: &mut [BurstFrame<'_>],
    cfg: &ProcessConfig,
    actions: &mut [Action],
    out: &mut [u8],
) -> usize {
    process_burst_with(dir, &mut Standard, now, frames, cfg, actions, out)
}

/// [`process_burst`] with the forwarding method `rw` instead of [`Standard`], as
/// [`process_frame_with`] is to [`process_frame`]: the same result, frame by frame, as calling
/// [`process_frame_with`] on each in order.
pub fn process_burst_with<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
    now: Instant,
    frames: &mut [BurstFrame<'_>],
    cfg: &ProcessConfig,
    actions: &mut [Action],
    out: &mut [u8],
) -> usize {
    burst::run(dir, rw, now, frames, cfg, actions, out)
}

/// The general classification of a frame read as `k` (for a rewriter whose `pre_classify`
/// changes nothing, a frame [`rewritable`] accepts), then the one pass's rewrite of what the
/// director forwards ([`finish`]): what the general path gives, without its [`Parsed`] unless
/// the verdict needs it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn classify_read<S: Scheduler, R: Rewriter + ?Sized>(
    dir: &mut Director<'_, S>,
    rw: &mut R,
    now: Instant,
    buf: &mut [u8],
    frame_start: usize,
    end: usize,
    k: &V4L4,
    fwmark: u32,
    cfg: &ProcessConfig,
    out: &mut [u8],
) -> Action {
    let mut meta = PacketMeta::new(k.flow, k.tcp_flags, k.total as u32);
    meta.fwmark = fwmark;
    match dir.handle_packet(now, &meta) {
        Verdict::Forward(f) => finish(rw, &f, k, buf, frame_start, end, cfg, out),
        v => {
            let p = fast::parsed(k, buf.get(frame_start..end).unwrap_or_default());
            apply(rw, &v, &p, buf, frame_start, end, cfg, out)
        }
    }
}

/// Whether the frame `k` was read from (`len` bytes) can take the one pass: not a SYN (the
/// director never takes those in one pass) and [`rewritable`].
#[inline(always)]
fn fits(k: &V4L4, len: usize, cfg: &ProcessConfig) -> bool {
    !is_syn(k) && rewritable(k, len, cfg)
}

/// A TCP SYN.
#[inline(always)]
fn is_syn(k: &V4L4) -> bool {
    k.tcp_flags.syn() && k.flow.proto == Protocol::Tcp
}

/// Whether none of what would make the general path answer or drop the frame `k` was read
/// from (`len` bytes) instead of rewriting it holds (checked before the director counts the
/// packet): TTL expiry, "fragmentation needed", a frame shorter than the rewrite's fixed
/// window (never on the wire: frames are at least 60 bytes). Then [`finish`] gives what
/// [`apply`] gives for any [`Verdict::Forward`].
#[inline(always)]
fn rewritable(k: &V4L4, len: usize, cfg: &ProcessConfig) -> bool {
    !((cfg.decrement_ttl && k.ttl <= 1)
        || (cfg.mtu != 0 && k.dont_frag && k.total as u64 > u64::from(cfg.mtu))
        || len < fast::WINDOW)
}

/// The rest of the one pass once the director forwarded the packet (`f`): what
/// [`apply`] does with that verdict, the TTL and NAT rewrite of the common case without its
/// checks (which [`fits`] made).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish<R: Rewriter + ?Sized>(
    rw: &mut R,
    f: &Forward,
    k: &V4L4,
    buf: &mut [u8],
    frame_start: usize,
    end: usize,
    cfg: &ProcessConfig,
    out: &mut [u8],
) -> Action {
    if rw.nat_shortcut(f) {
        if let (IpAddr::V4(a), Some(w)) = (
            f.daddr.addr,
            buf.get_mut(frame_start..)
                .and_then(|b| b.get_mut(..fast::WINDOW))
                .and_then(|b| <&mut [u8; fast::WINDOW]>::try_from(b).ok()),
        ) {
            let tcp = k.flow.proto == Protocol::Tcp;
            fast::ttl_and_nat_v4(w, tcp, &a, f.daddr.port, cfg.decrement_ttl, &cfg.caps);
            return Action::Transmit {
                start: frame_start + fast::ETH,
                len: k.total,
                next_hop: f.daddr.addr,
                to: Peer::RealServer {
                    dest: f.dest,
                    method: f.method,
                },
            };
        }
    }
    // another method (direct routing, a tunnel): the general rewrite, on the general parse
    let p = fast::parsed(k, buf.get(frame_start..end).unwrap_or_default());
    apply(
        rw,
        &Verdict::Forward(*f),
        &p,
        buf,
        frame_start,
        end,
        cfg,
        out,
    )
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

/// Answers a failed rewrite: "fragmentation needed" / "packet too big" for
/// [`ForwardError::MtuExceeded`], a drop otherwise.
fn rewrite_failed(
    e: ForwardError,
    frame: &[u8],
    p: &Parsed,
    out: &mut [u8],
    caps: &ChecksumCaps,
) -> Action {
    match e {
        ForwardError::MtuExceeded { mtu } => {
            respond(frame, p, IcmpErrorKind::too_big(p.family, mtu), out, caps)
        }
        e => Action::Drop(DropCause::Forward(e)),
    }
}

/// Applies a verdict to the frame at `buf[frame_start..end]` that `p` describes (offsets
/// relative to `frame_start`), with `rw`'s method.
#[inline]
#[allow(clippy::too_many_arguments)]
fn apply<R: Rewriter + ?Sized>(
    rw: &mut R,
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
            if rw.nat_shortcut(&f)
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
            if let Err(a) = ttl(&mut buf[frame_start..end], p, cfg, out) {
                return a;
            }
            let room = rw.room(&f);
            let ip_start = frame_start + p.l3;
            if ip_start < room.head {
                return Action::Drop(DropCause::Forward(ForwardError::InsufficientHeadroom {
                    required: room.head,
                }));
            }
            if buf.len().saturating_sub(ip_start + p.ip_len) < room.tail {
                return Action::Drop(DropCause::Forward(ForwardError::InsufficientTailroom {
                    required: room.tail,
                }));
            }
            match rw.forward(PacketBuf::new(buf, frame_start, p), &f, cfg) {
                Ok(e) => Action::Transmit {
                    start: e.start,
                    len: e.len,
                    next_hop: e.next_hop,
                    to: Peer::RealServer {
                        dest: f.dest,
                        method: f.method,
                    },
                },
                Err(e) => rewrite_failed(e.into(), &buf[frame_start..end], p, out, caps),
            }
        }
        Verdict::Reply(r) => {
            if let Err(a) = ttl(&mut buf[frame_start..end], p, cfg, out) {
                return a;
            }
            match rw.reply(PacketBuf::new(buf, frame_start, p), &r, cfg) {
                Ok(e) => Action::Transmit {
                    start: e.start,
                    len: e.len,
                    next_hop: e.next_hop,
                    to: Peer::Client,
                },
                Err(e) => rewrite_failed(e.into(), &buf[frame_start..end], p, out, caps),
            }
        }
    }
}

/// The TTL decrement of a forwarded packet when `cfg` asks for it; the action instead
/// ("time exceeded", or a drop) when it fails.
#[inline]
fn ttl(frame: &mut [u8], p: &Parsed, cfg: &ProcessConfig, out: &mut [u8]) -> Result<(), Action> {
    if !cfg.decrement_ttl {
        return Ok(());
    }
    match decrement_ttl(frame, p, &cfg.caps) {
        Ok(_) => Ok(()),
        Err(ForwardError::TtlExpired) => Err(respond(
            frame,
            p,
            IcmpErrorKind::TimeExceeded,
            out,
            &cfg.caps,
        )),
        Err(e) => Err(Action::Drop(DropCause::Forward(e))),
    }
}
