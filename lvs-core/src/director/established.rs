//! The packet path's common case in one pass: a packet from the client of an established
//! IPv4 connection that changes nothing but the connection's timer and the counters.
//!
//! [`Director::handle_packet`] answers such a packet through several layers (the reply check,
//! the inbound lookup, the expiry, reuse and availability checks, the state machine, the
//! accounting, the verdict), each looking the entry and its real server up again. Here every
//! condition under which the general code would do anything else is checked first, on the
//! entry and real server looked up once, and only then are the effects applied; when any
//! condition fails, nothing has changed and the caller takes the general code.

use super::*;
use crate::conn::V4Key;

/// Where the connection of a packet may be, found ahead of its handling: the bucket hash of
/// its key and, once [`Director::refine_established`] read the bucket, a slot that may hold it.
/// See [`Director::prepare_established`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupHint {
    pub(super) hash: u32,
    pub(super) slot: u32,
    // the protocol number of the flow it was prepared for
    proto: u8,
    // the [`EstablishedPass`] generation the hint was prepared in (0: none; see
    // [`Director::established_pass`])
    pub(super) pass: u64,
}

impl<'a, S: Scheduler> Director<'a, S> {
    /// The first step of [`Director::handle_established_hinted`] for a burst: `None` when the
    /// packet cannot take the one pass now (see [`Director::handle_established`]; it may still
    /// not take it later, and packets in between may change that), else its connection key's
    /// hash, with the bucket's line asked for (a prefetch), so that the lines of a burst's
    /// packets arrive together. Changes nothing.
    #[inline]
    pub fn prepare_established(&self, flow: &FlowKey, tcp_flags: TcpFlags) -> Option<LookupHint> {
        let IpAddr::V4(c) = flow.src.addr else {
            return None;
        };
        if !matches!(flow.dst.addr, IpAddr::V4(_)) {
            return None;
        }
        let proto = self.established_key(flow, tcp_flags)?;
        let hash = self.table.hash_v4(proto, c.octets(), flow.src.port);
        self.table.prefetch_bucket(hash);
        Some(LookupHint {
            hash,
            slot: NIL,
            proto,
            pass: 0,
        })
    }

    /// The second step: reads the bucket's own slot (asked for by
    /// [`Director::prepare_established`]), remembers it if it holds the packet's connection,
    /// else asks for the next slot of its chain. Changes nothing.
    #[inline]
    pub fn refine_established(&self, flow: &FlowKey, hint: &mut LookupHint) {
        let next;
        (next, hint.slot) = match (flow.src.addr, flow.dst.addr) {
            // (the protocol number `prepare_established` read: a hint for another flow finds
            // a slot that its handling will not take for this one)
            (IpAddr::V4(c), IpAddr::V4(v)) => self.table.home_step_v4(
                hint.hash,
                &V4Key {
                    proto: hint.proto,
                    caddr: c.octets(),
                    cport: flow.src.port,
                    vaddr: v.octets(),
                    vport: flow.dst.port,
                },
            ),
            _ => self.table.home_step(hint.hash, flow),
        };
        self.table.prefetch_slot(next);
    }

    /// [`Director::handle_established`] with the `hint` that [`Director::prepare_established`]
    /// (and maybe [`Director::refine_established`]) gave for this packet: the same answer and
    /// effects, whatever the packets handled since did (a slot found ahead is used only if it
    /// still holds the packet's connection).
    #[inline]
    pub fn handle_established_hinted(
        &mut self,
        now: Instant,
        flow: &FlowKey,
        tcp_flags: TcpFlags,
        len: u32,
        hint: LookupHint,
    ) -> Option<Forward> {
        let (IpAddr::V4(c), IpAddr::V4(v)) = (flow.src.addr, flow.dst.addr) else {
            return None;
        };
        let proto = self.established_key(flow, tcp_flags)?;
        self.established_hashed(
            now,
            flow,
            proto,
            c.octets(),
            v.octets(),
            tcp_flags,
            len,
            hint.hash,
            hint.slot,
            false,
        )
    }

    /// The common case of [`Director::handle_packet`], in one pass: a TCP or UDP packet over
    /// IPv4 from the client of a tracked connection, which is not a SYN, leaves the
    /// connection's TCP state as it is, finds the connection live and its real server
    /// available, and needs no synchronisation decision (the director is not a sync master),
    /// with the reply check already known to find nothing (the packet's destination was the
    /// last one checked and nothing was inserted since).
    ///
    /// `Some(f)` exactly when `handle_packet(now, &PacketMeta::new(*flow, tcp_flags, len))`
    /// (with any firewall mark, not a non-first fragment) would return
    /// `Verdict::Forward(f)` for such a packet, with exactly the same effects (the entry's
    /// timer and packet counter, the real server's, service's and total counters). `None`
    /// for every other packet, with nothing changed: the caller then calls
    /// [`Director::handle_packet`].
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
    /// let f = match dir.handle_established(Instant::ZERO, &flow, TcpFlags::ACK, 40) {
    ///     Some(f) => Verdict::Forward(f),
    ///     None => dir.handle_packet(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::ACK, 40)),
    /// };
    /// assert_eq!(f, Verdict::Deliver); // no service: the host's
    /// ```
    #[inline]
    pub fn handle_established(
        &mut self,
        now: Instant,
        flow: &FlowKey,
        tcp_flags: TcpFlags,
        len: u32,
    ) -> Option<Forward> {
        let (IpAddr::V4(c), IpAddr::V4(v)) = (flow.src.addr, flow.dst.addr) else {
            return None;
        };
        let proto = self.established_key(flow, tcp_flags)?;
        let h = self.table.hash_v4(proto, c.octets(), flow.src.port);
        self.established_hashed(
            now,
            flow,
            proto,
            c.octets(),
            v.octets(),
            tcp_flags,
            len,
            h,
            NIL,
            false,
        )
    }

    /// [`Director::handle_established`] for a packet of a burst, with its inbound lookup hash
    /// `h` and the slot `hint` found ahead (`NIL`: none): `None`, with nothing changed, when
    /// [`Director::packet_hashed`] must handle it.
    #[inline(always)]
    pub(super) fn established_burst(
        &mut self,
        now: Instant,
        pkt: &PacketMeta,
        h: u32,
        hint: u32,
    ) -> Option<Forward> {
        let flow = &pkt.flow;
        let (IpAddr::V4(c), IpAddr::V4(v)) = (flow.src.addr, flow.dst.addr) else {
            return None;
        };
        if pkt.non_first_fragment {
            return None;
        }
        let proto = self.established_key(flow, pkt.tcp_flags)?;
        self.established_hashed(
            now,
            flow,
            proto,
            c.octets(),
            v.octets(),
            pkt.tcp_flags,
            pkt.len,
            h,
            hint,
            false,
        )
    }

    /// The checks of [`Director::handle_established`] that need no lookup: the protocol
    /// number when they pass.
    #[inline(always)]
    pub(super) fn established_key(&self, flow: &FlowKey, tcp_flags: TcpFlags) -> Option<u8> {
        let proto = match flow.proto {
            Protocol::Tcp if !tcp_flags.syn() => 6,
            Protocol::Udp => 17,
            _ => return None,
        };
        // the reply check known to find nothing (`reply_known_none`), no sync decision due
        let key = Self::memo_key(flow.proto, &flow.dst)?;
        if self.reply_memo.0 != key
            || self.reply_none != self.table.stats().inserted.wrapping_add(1)
            || self.cfg.sync.policy().is_some()
        {
            return None;
        }
        Some(proto)
    }

    /// [`Director::handle_established`] once its key checks passed ([`Self::established_key`]),
    /// with the inbound lookup hash `h` and a slot `hint` that may hold the connection (`NIL`:
    /// none), `proto` being `flow`'s protocol number. `trusted`: the checks passed for the flow of the connection in slot `hint`
    /// (not necessarily `flow`'s), and nothing changed since ([`EstablishedPass`]): then the
    /// answer is `None` unless that slot holds `flow`'s connection.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn established_hashed(
        &mut self,
        now: Instant,
        flow: &FlowKey,
        proto: u8,
        caddr: [u8; 4],
        vaddr: [u8; 4],
        tcp_flags: TcpFlags,
        len: u32,
        h: u32,
        hint: u32,
        trusted: bool,
    ) -> Option<Forward> {
        let key = V4Key {
            proto,
            caddr,
            cport: flow.src.port,
            vaddr,
            vport: flow.dst.port,
        };
        // the live entry, read once
        let hinted = if hint != NIL {
            self.table.matching_slot_v4(hint, &key)
        } else {
            None
        };
        let (ch, e) = match hinted {
            Some(e) => (ConnHandle(hint), e),
            // a trusted slot not holding this packet's connection: not this packet's hint
            None if trusted => return None,
            None => self.table.find_v4_slot(h, &key)?,
        };
        // not past its deadline (a connection, never a template: `find_v4` skips those)
        let to = self.cfg.timeouts.of(flow.proto, e.state());
        if e.expires_in(now, to) == Duration::ZERO {
            return None;
        }
        let dest = e.dest();
        let d = self.dests.get(dest.index())?;
        if !d.is_available() {
            return None;
        }
        // an ACK without SYN, FIN or RST on an ESTABLISHED connection stays ESTABLISHED in
        // every row the transition could read (`ack_keeps_established`): no table look-up
        if flow.proto == Protocol::Tcp
            && !(e.state() == TcpState::Established as u8 && ack_only(tcp_flags))
        {
            let dir = if e.no_output() {
                TcpDir::InputOnly
            } else {
                TcpDir::Input
            };
            let cur = TcpState::from_u8(e.state()).unwrap_or(TcpState::Close);
            if tcp_transition(cur, dir, tcp_flags, self.secure_tcp_active()) != cur {
                return None;
            }
        }
        // Every check passed: the effects of the general path, in one place (the counters'
        // order does not matter: each is only added to).
        let add = |c: &mut crate::stats::Counters| {
            c.inpkts += 1;
            c.inbytes += u64::from(len);
        };
        // the service, looked up once for its configuration and its counters
        let dport = match self.services.get_mut(d.service as usize) {
            Some(Some(s)) => {
                add(&mut s.stats.counters);
                conn_dport(Some(&s.config), d, flow.dst.port)
            }
            _ => conn_dport(None, d, flow.dst.port),
        };
        let f = Forward {
            conn: Some(ch),
            dest,
            daddr: Endpoint::new(d.addr.addr, dport),
            // the entry's virtual endpoint: it matched the packet's destination
            vaddr: flow.dst,
            method: d.fwd,
            tunnel: d.tunnel,
            new_conn: false,
        };
        self.saw(now);
        // the entry is live (found above): its packet counter and timer, in one access
        self.table.count_and_touch(ch, now);
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            add(&mut st.counters);
        }
        add(&mut self.total.counters);
        Some(f)
    }
}

/// Whether `flags` has ACK and none of SYN, FIN, RST: the segments [`tcp_transition`] takes
/// by its ACK row.
#[inline(always)]
fn ack_only(flags: TcpFlags) -> bool {
    flags.ack() && !flags.syn() && !flags.fin() && !flags.rst()
}

#[cfg(test)]
mod test {
    use super::*;

    /// The shortcut of [`Director::established_hashed`]: an ACK-only segment leaves an
    /// ESTABLISHED connection ESTABLISHED, with or without `secure_tcp`, in both input rows.
    #[test]
    fn ack_keeps_established() {
        for bits in 0..=255u8 {
            let flags = TcpFlags(bits);
            if !ack_only(flags) {
                continue;
            }
            for dir in [TcpDir::Input, TcpDir::InputOnly] {
                for secure in [false, true] {
                    assert_eq!(
                        tcp_transition(TcpState::Established, dir, flags, secure),
                        TcpState::Established
                    );
                }
            }
        }
    }
}
