//! The director lent to the one pass of a burst ([`EstablishedPass`]): what the pass found
//! ahead of a packet is trusted while nothing else has changed the director.
//!
//! [`Director::handle_established_hinted`] checks again, for every packet, what
//! [`Director::prepare_established`] checked (the reply check known to find nothing, the
//! protocol, no sync decision due), because other calls may have changed the director in
//! between. Through an [`EstablishedPass`] the only way to call anything else is
//! [`EstablishedPass::director`], which ends the trust of every hint given before; so a hint
//! prepared and refined since, whose slot still holds the packet's connection, needs only the
//! packet's own checks.

use super::*;

/// A director lent to the one pass of established flows over a group of packets: see
/// [`Director::established_pass`].
///
/// [`EstablishedPass::prepare`], [`EstablishedPass::refine`] and [`EstablishedPass::handle`]
/// give the same answers and effects as [`Director::prepare_established`],
/// [`Director::refine_established`] and [`Director::handle_established_hinted`]; `handle`
/// skips the checks `prepare` made for a hint given since the last
/// [`EstablishedPass::director`] (or since the pass began), whose slot holds the packet's
/// connection.
pub struct EstablishedPass<'d, 'a, S: Scheduler> {
    dir: &'d mut Director<'a, S>,
}

impl<S: Scheduler> fmt::Debug for EstablishedPass<'_, '_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EstablishedPass")
            .field("generation", &self.dir.pass)
            .finish()
    }
}

impl<'a, S: Scheduler> Director<'a, S> {
    /// Lends the director to the one pass of a group of packets: hints that
    /// [`EstablishedPass::prepare`] gives are trusted by [`EstablishedPass::handle`] until
    /// [`EstablishedPass::director`] is called (hints given before this call never are).
    ///
    /// ```
    /// # use lvs_core::director::{Director, DirectorConfig, DirectorMemory, PacketMeta, Verdict, Service};
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
    /// let flow = FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 18, 9, 9], 40000), Endpoint::v4([198, 18, 0, 1], 80));
    /// let mut pass = dir.established_pass();
    /// let f = pass
    ///     .prepare(&flow, TcpFlags::ACK)
    ///     .map(|mut h| {
    ///         pass.refine(&flow, &mut h);
    ///         h
    ///     })
    ///     .and_then(|h| pass.handle(Instant::ZERO, &flow, TcpFlags::ACK, 40, h));
    /// let v = match f {
    ///     Some(f) => Verdict::Forward(f),
    ///     None => pass
    ///         .director()
    ///         .handle_packet(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::ACK, 40)),
    /// };
    /// assert_eq!(v, Verdict::Deliver); // no service: the host's
    /// ```
    pub fn established_pass(&mut self) -> EstablishedPass<'_, 'a, S> {
        self.pass = self.pass.wrapping_add(1).max(1);
        EstablishedPass { dir: self }
    }
}

impl<'a, S: Scheduler> EstablishedPass<'_, 'a, S> {
    /// [`Director::prepare_established`], with a hint this pass trusts until
    /// [`EstablishedPass::director`] is called. Changes nothing.
    #[inline]
    pub fn prepare(&self, flow: &FlowKey, tcp_flags: TcpFlags) -> Option<LookupHint> {
        let mut h = self.dir.prepare_established(flow, tcp_flags)?;
        h.pass = self.dir.pass;
        Some(h)
    }

    /// [`Director::refine_established`]. Changes nothing.
    #[inline]
    pub fn refine(&self, flow: &FlowKey, hint: &mut LookupHint) {
        self.dir.refine_established(flow, hint);
    }

    /// [`Director::handle_established_hinted`]: the same answer and effects, for any `hint`
    /// [`Director::prepare_established`] or [`EstablishedPass::prepare`] gave for this packet,
    /// whatever was handled since. Leaves this pass's hints trusted (what it changes, the
    /// entry's timer and packet counter and the counters, is none of what `prepare` checked).
    #[inline]
    pub fn handle(
        &mut self,
        now: Instant,
        flow: &FlowKey,
        tcp_flags: TcpFlags,
        len: u32,
        hint: LookupHint,
    ) -> Option<Forward> {
        if hint.pass != self.dir.pass || hint.slot == NIL {
            return self
                .dir
                .handle_established_hinted(now, flow, tcp_flags, len, hint);
        }
        // Trusted: `prepare` found its checks passing for the flow of the connection that
        // `refine` then found in `hint.slot`, and nothing but this pass's own handling ran
        // since, so the entry is still there and the checks still pass for its flow. The
        // packet's flow is that one when the slot matches it (checked in
        // `established_hashed`, `None` if not); only its flags are its own.
        let (IpAddr::V4(c), IpAddr::V4(v)) = (flow.src.addr, flow.dst.addr) else {
            return None;
        };
        let proto = match flow.proto {
            Protocol::Tcp if !tcp_flags.syn() => 6,
            Protocol::Udp => 17,
            _ => return None,
        };
        self.dir.established_hashed(
            now,
            flow,
            proto,
            c.octets(),
            v.octets(),
            tcp_flags,
            len,
            hint.hash,
            hint.slot,
            true,
        )
    }

    /// The director, for any other call: every hint given before is no longer trusted
    /// ([`EstablishedPass::handle`] checks it in full).
    #[inline]
    pub fn director(&mut self) -> &mut Director<'a, S> {
        self.dir.pass = self.dir.pass.wrapping_add(1).max(1);
        self.dir
    }
}
