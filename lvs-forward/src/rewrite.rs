//! The extension point of the packet path: a [`Rewriter`] turns a packet the director has
//! decided about into the bytes to send, in place in the caller's buffer.
//!
//! [`process::process_frame_with`] and [`process::process_burst_with`] take any rewriter by
//! generic parameter (so the per-packet path is monomorphised: no virtual call, and a method's
//! code inlines into the loop). The crate's own methods are rewriters too:
//!
//! | rewriter | forwarded packets | replies |
//! |---|---|---|
//! | [`Nat`] | destination NAT to the real server | source NAT back to the virtual service |
//! | [`DirectRouting`] | unchanged at the IP layer | refused |
//! | [`Ipip`] | IPIP (IPv4 in IPv4, IPv6 in IPv6) | refused |
//! | [`Gue`] | GUE on its UDP port | refused |
//! | [`Standard`] | by the verdict's [`FwdMethod`], as IPVS does | as [`Nat`] |
//!
//! [`process::process_frame`] and [`process::process_burst`] are the `_with` functions with
//! [`Standard`].
//!
//! What the path does around a rewriter, in the kernel's order: parse,
//! [`Rewriter::pre_classify`], ask the director, decrement the TTL (answering "time exceeded"),
//! check the [`Rewriter::room`] the method needs, then [`Rewriter::forward`] or
//! [`Rewriter::reply`]. An error the rewriter returns becomes a drop, except
//! [`ForwardError::MtuExceeded`], which the path answers with "fragmentation needed" / "packet
//! too big" built from the frame: so a rewriter must leave the buffer as it found it whenever
//! it fails.
//!
//! [`process::process_frame_with`]: crate::process::process_frame_with
//! [`process::process_burst_with`]: crate::process::process_burst_with
//! [`process::process_frame`]: crate::process::process_frame
//! [`process::process_burst`]: crate::process::process_burst

use crate::dr::DirectRouting;
use crate::error::ForwardError;
use crate::nat::Nat;
use crate::parse::Parsed;
use crate::process::ProcessConfig;
use crate::tunnel::{overhead, Gue, Ipip};
use lvs_core::director::{Forward, Reply};
use lvs_core::{AddrFamily, FwdMethod, IpAddr, TunnelKind};

/// Bytes a rewriter needs around the IP packet: `head` in front of the IP header (an Ethernet
/// header in front of it counts, since the rewritten packet is sent as a bare IP packet), and
/// `tail` after the IP packet's end (Ethernet padding counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Room {
    /// Bytes before the IP header.
    pub head: usize,
    /// Bytes after the IP packet.
    pub tail: usize,
}

impl Room {
    /// No room needed: the packet is rewritten within its own bytes.
    pub const NONE: Room = Room { head: 0, tail: 0 };

    /// `head` bytes in front, none behind.
    pub const fn head(head: usize) -> Self {
        Room { head, tail: 0 }
    }
}

/// The packet a rewriter works on: the frame at `buf[frame_start..]`, which `parsed`
/// describes (its offsets count from `frame_start`). Everything in front of the IP header is
/// headroom and everything after the IP packet is tailroom the rewriter may write to.
#[derive(Debug)]
pub struct PacketBuf<'a> {
    /// The whole buffer: headroom, frame, tailroom.
    pub buf: &'a mut [u8],
    /// Offset of the frame (its Ethernet header, or IP header for bare IP packets) in `buf`.
    pub frame_start: usize,
    /// What the packet is, offsets relative to `frame_start`.
    pub parsed: &'a Parsed,
}

impl<'a> PacketBuf<'a> {
    /// The packet `parsed` describes, with `buf[frame_start..]` as its buffer.
    pub fn new(buf: &'a mut [u8], frame_start: usize, parsed: &'a Parsed) -> Self {
        PacketBuf {
            buf,
            frame_start,
            parsed,
        }
    }

    /// The bytes from the frame's start to the end of the buffer: `parsed`'s offsets index
    /// this slice, as the crate's free rewriting functions ([`crate::nat::nat_in`], ...) expect.
    pub fn frame_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.frame_start..).unwrap_or_default()
    }

    /// Offset of the IP header in `buf`.
    pub const fn ip_start(&self) -> usize {
        self.frame_start + self.parsed.l3
    }

    /// Length of the IP packet.
    pub const fn ip_len(&self) -> usize {
        self.parsed.ip_len
    }

    /// Bytes available in front of the IP header.
    pub const fn headroom(&self) -> usize {
        self.ip_start()
    }

    /// Bytes available after the IP packet.
    pub fn tailroom(&self) -> usize {
        self.buf
            .len()
            .saturating_sub(self.ip_start() + self.parsed.ip_len)
    }

    /// The IP packet where it is, to `next_hop`: what a rewriter that changes bytes but not
    /// the packet's extent returns.
    pub const fn in_place(&self, next_hop: IpAddr) -> Emit {
        Emit {
            start: self.ip_start(),
            len: self.parsed.ip_len,
            next_hop,
        }
    }
}

/// What a rewriter produced: the IP packet `buf[start..start + len]` to send toward
/// `next_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Emit {
    /// Offset of the (outermost) IP header in the buffer.
    pub start: usize,
    /// Length of the IP packet.
    pub len: usize,
    /// The address whose link-layer address the frame goes to (or the route toward it).
    pub next_hop: IpAddr,
}

/// What [`Rewriter::forward`] and [`Rewriter::reply`] return: where the packet to send lies, or
/// the method's error ([`ForwardError`] unless it says otherwise).
pub type Emitted<E = ForwardError> = Result<Emit, E>;

/// A forwarding method: rewrites, in place, a packet the director forwards to a real server
/// ([`Rewriter::forward`]) and, for methods that see them, replies on their way back to the
/// client ([`Rewriter::reply`]).
///
/// Contract: on `Ok` the returned [`Emit`] lies within the buffer; on `Err` the buffer is
/// exactly as it was (the path may answer with an ICMP error quoting it). The path calls
/// [`Rewriter::forward`] only after checking that the [`Rewriter::room`] of the verdict is
/// there. The trait is dyn-compatible: `&mut dyn Rewriter<Error = ForwardError>` is itself a
/// rewriter, for embedders that pick a method at run time.
///
/// An embedder's own method, here one that refuses telnet with an error of its own and
/// otherwise forwards as IPVS does, driven through the packet path:
///
/// ```
/// use lvs_core::director::{Forward, Reply};
/// use lvs_forward::process::{process_frame_with, Action, DropCause, ProcessConfig};
/// use lvs_forward::rewrite::{Emit, PacketBuf, Rewriter, Room, Standard};
/// use lvs_forward::ForwardError;
///
/// #[derive(Debug)]
/// enum PolicyError { Telnet, Rewrite(ForwardError) }
/// impl From<ForwardError> for PolicyError {
///     fn from(e: ForwardError) -> Self { PolicyError::Rewrite(e) }
/// }
/// impl From<PolicyError> for ForwardError {
///     fn from(e: PolicyError) -> Self {
///         match e {
///             PolicyError::Telnet => ForwardError::Refused("telnet"),
///             PolicyError::Rewrite(e) => e,
///         }
///     }
/// }
///
/// struct NoTelnet;
/// impl Rewriter for NoTelnet {
///     type Error = PolicyError;
///     fn room(&self, f: &Forward) -> Room { Standard.room(f) }
///     fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig)
///         -> Result<Emit, PolicyError> {
///         if pkt.parsed.flow.dst.port == 23 {
///             return Err(PolicyError::Telnet);
///         }
///         Ok(Standard.forward(pkt, f, cfg)?)
///     }
///     fn reply(&mut self, pkt: PacketBuf<'_>, r: &Reply, cfg: &ProcessConfig)
///         -> Result<Emit, PolicyError> {
///         Ok(Standard.reply(pkt, r, cfg)?)
///     }
/// }
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
/// # let vip = Endpoint::v4([198, 18, 0, 1], 23);
/// # let svc = dir.add_service(ServiceConfig::new(ServiceKey::Addr { proto: Protocol::Tcp, vip }), First).unwrap();
/// # dir.add_dest(svc, DestConfig::new(Endpoint::v4([198, 18, 1, 1], 23), FwdMethod::Masq, 1)).unwrap();
/// # let mut frame = [0u8; 54];
/// # frame[12] = 8; frame[14] = 0x45; frame[17] = 40; frame[22] = 64; frame[23] = 6;
/// # frame[26..30].copy_from_slice(&[198, 18, 9, 9]); frame[30..34].copy_from_slice(&[198, 18, 0, 1]);
/// # frame[34..36].copy_from_slice(&40000u16.to_be_bytes()); frame[36..38].copy_from_slice(&23u16.to_be_bytes());
/// # frame[46] = 0x50; frame[47] = 0x02;
/// let cfg = ProcessConfig::new([198, 18, 0, 254].into(), "2001:db8::fe".parse().unwrap(), SipKey(3, 4));
/// let mut out = [0u8; 576];
/// // a TCP SYN to the telnet service at 198.18.0.1:23
/// let a = process_frame_with(&mut dir, &mut NoTelnet, Instant::ZERO, &mut frame, 0, 54, 0, &cfg, &mut out);
/// assert_eq!(a, Action::Drop(DropCause::Forward(ForwardError::Refused("telnet"))));
/// ```
pub trait Rewriter {
    /// Why this method could not rewrite a packet. The packet path needs it as a
    /// [`ForwardError`] (to tell "too big" from other failures);
    /// [`ForwardError::Refused`] carries a method's own reasons.
    type Error: From<ForwardError> + Into<ForwardError>;

    /// The room the method needs around the IP packet to forward under verdict `f` (for an
    /// encapsulation, the outer headers). The path drops the packet with
    /// [`ForwardError::InsufficientHeadroom`] or [`ForwardError::InsufficientTailroom`] when it
    /// is not there. The default needs none.
    fn room(&self, f: &Forward) -> Room {
        let _ = f;
        Room::NONE
    }

    /// Whether [`Rewriter::forward`] under `f` is exactly [`crate::nat::Nat`]'s (with its
    /// MTU check): the path may then do the TTL decrement and the NAT of common IPv4 packets
    /// in one pass and not call `forward` for them. The default is `false`.
    fn nat_shortcut(&self, f: &Forward) -> bool {
        let _ = f;
        false
    }

    /// Whether [`Rewriter::pre_classify`] is the default, which changes nothing: the path may
    /// then take its one-pass shortcut for packets of established connections (parse, the
    /// director's [`Director::handle_established`](lvs_core::director::Director::handle_established),
    /// and the TTL and NAT rewrite when [`Rewriter::nat_shortcut`] holds), with the general
    /// path's exact result, and not call `pre_classify` for them. The default is `false`.
    fn pre_classify_is_noop(&self) -> bool {
        false
    }

    /// Called on every parsed packet before the director classifies it, with the frame and
    /// its [`Parsed`]; it may rewrite the packet and must then update `p.flow` to match. A
    /// method that changes the source address toward real servers (FULLNAT) restores here the
    /// client's address in replies, so that the director finds their connection. An error
    /// drops the packet. The default does nothing.
    fn pre_classify(
        &mut self,
        frame: &mut [u8],
        p: &mut Parsed,
        cfg: &ProcessConfig,
    ) -> Result<(), Self::Error> {
        let _ = (frame, p, cfg);
        Ok(())
    }

    /// Rewrites a packet the director forwards to a real server (`f`), and says which bytes
    /// to send where. The TTL is already decremented and the [`Rewriter::room`] checked; the
    /// method checks the MTU (`cfg.mtu`, see [`crate::route::check_mtu`]) for the packet it
    /// sends.
    ///
    /// # Errors
    /// The method's own; the buffer is untouched on error.
    fn forward(
        &mut self,
        pkt: PacketBuf<'_>,
        f: &Forward,
        cfg: &ProcessConfig,
    ) -> Emitted<Self::Error>;

    /// Rewrites a reply of a connection this method forwards, from the real server on its way
    /// to the client (`r`). The TTL is already decremented. The default refuses with
    /// [`ForwardError::Unsupported`] (methods whose replies do not pass the director).
    ///
    /// # Errors
    /// The method's own; the buffer is untouched on error.
    fn reply(
        &mut self,
        pkt: PacketBuf<'_>,
        r: &Reply,
        cfg: &ProcessConfig,
    ) -> Emitted<Self::Error> {
        let _ = (pkt, r, cfg);
        Err(ForwardError::Unsupported.into())
    }
}

impl<R: Rewriter + ?Sized> Rewriter for &mut R {
    type Error = R::Error;

    #[inline(always)]
    fn room(&self, f: &Forward) -> Room {
        (**self).room(f)
    }

    #[inline(always)]
    fn nat_shortcut(&self, f: &Forward) -> bool {
        (**self).nat_shortcut(f)
    }

    #[inline(always)]
    fn pre_classify_is_noop(&self) -> bool {
        (**self).pre_classify_is_noop()
    }

    #[inline(always)]
    fn pre_classify(
        &mut self,
        frame: &mut [u8],
        p: &mut Parsed,
        cfg: &ProcessConfig,
    ) -> Result<(), Self::Error> {
        (**self).pre_classify(frame, p, cfg)
    }

    #[inline(always)]
    fn forward(
        &mut self,
        pkt: PacketBuf<'_>,
        f: &Forward,
        cfg: &ProcessConfig,
    ) -> Emitted<Self::Error> {
        (**self).forward(pkt, f, cfg)
    }

    #[inline(always)]
    fn reply(
        &mut self,
        pkt: PacketBuf<'_>,
        r: &Reply,
        cfg: &ProcessConfig,
    ) -> Emitted<Self::Error> {
        (**self).reply(pkt, r, cfg)
    }
}

/// The methods of IPVS, chosen per packet by the verdict: [`FwdMethod::Masq`] by
/// [`Nat`], [`FwdMethod::Tunnel`] by [`Ipip`] or [`Gue`] as the verdict's [`TunnelKind`] says
/// (the outer source is `cfg.tunnel_src_v4`/`_v6`, GUE's source port comes from
/// `cfg.flow_key`), [`FwdMethod::DirectRoute`] by [`DirectRouting`]; replies by [`Nat`]. The
/// rewriter of [`crate::process::process_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Standard;

impl Rewriter for Standard {
    type Error = ForwardError;

    #[inline]
    fn room(&self, f: &Forward) -> Room {
        match f.method {
            FwdMethod::Tunnel => Room::head(overhead(f.tunnel, AddrFamily::of(&f.daddr.addr))),
            _ => Room::NONE,
        }
    }

    #[inline(always)]
    fn nat_shortcut(&self, f: &Forward) -> bool {
        f.method == FwdMethod::Masq
    }

    #[inline(always)]
    fn pre_classify_is_noop(&self) -> bool {
        true
    }

    #[inline]
    fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig) -> Emitted {
        match f.method {
            FwdMethod::Masq => Nat.forward(pkt, f, cfg),
            FwdMethod::DirectRoute => DirectRouting.forward(pkt, f, cfg),
            FwdMethod::Tunnel => match f.tunnel {
                TunnelKind::Ipip => Ipip.forward(pkt, f, cfg),
                TunnelKind::Gue { port, csum } => Gue { port, csum }.forward(pkt, f, cfg),
            },
        }
    }

    #[inline]
    fn reply(&mut self, pkt: PacketBuf<'_>, r: &Reply, cfg: &ProcessConfig) -> Emitted {
        Nat.reply(pkt, r, cfg)
    }
}
