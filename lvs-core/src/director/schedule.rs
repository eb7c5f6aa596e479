//! New connections: scheduling a flow to a real server and filing its entry
//! (`ip_vs_schedule`).

use super::*;

impl<'a, S: Scheduler> Director<'a, S> {
    pub(super) fn pick(&mut self, svc: ServiceId, flow: &FlowKey, now: Instant) -> Option<DestId> {
        let req = SchedRequest { flow: *flow, now };
        let mut out = None;
        self.with_sched(svc, |s, set| out = s.schedule(set, &req));
        out.filter(|d| self.dests.get(d.index()).is_some_and(|d| d.is_available()))
    }

    /// Whether a TCP packet other than a SYN may start a connection on `svc`: `sloppy_tcp`, or
    /// `sloppy_tcp_consistent` on a service without persistence whose scheduler is consistent.
    pub(super) fn sloppy_for(&self, svc: ServiceId) -> bool {
        self.cfg.sloppy_tcp
            || (self.cfg.sloppy_tcp_consistent
                && self
                    .service(svc)
                    .is_some_and(|s| s.config.persistence.is_none() && s.sched.is_consistent()))
    }

    /// Schedules a new flow; `hash` is the table hash of its connection key.
    pub(super) fn schedule_new(
        &mut self,
        svc: ServiceId,
        pkt: &PacketMeta,
        now: Instant,
        hash: u32,
    ) -> Verdict {
        let flow = pkt.flow;
        let Some(cfg) = self.service(svc).map(|s| s.config) else {
            return Verdict::Deliver;
        };
        let one_packet = cfg.one_packet && flow.proto == Protocol::Udp;
        let needed = usize::from(cfg.persistence.is_some()) + usize::from(!one_packet);
        if needed > 0 {
            self.make_room(needed);
        }
        let mut conn_flags = cf::empty();
        let mut tmpl = None;
        let dest = if cfg.persistence.is_some() {
            let (d, t) = match self.sched_persist(svc, &cfg, &flow, now) {
                Ok(x) => x,
                Err(v) => return v,
            };
            if !one_packet {
                if let Some(mut m) = self.table.entry_mut(t) {
                    let c = m.get().counter();
                    m.set_counter(c.saturating_add(1));
                }
                conn_flags |= cf::CONTROLLED;
            }
            tmpl = Some(t);
            d
        } else {
            let port_ok = match cfg.key {
                ServiceKey::Addr { vip, .. } => vip.port == flow.dst.port,
                ServiceKey::Fwmark { .. } => true,
            };
            if !port_ok {
                self.counters.no_destination += 1;
                return Verdict::Drop(DropReason::NoDestination);
            }
            match self.pick(svc, &flow, now) {
                Some(d) => d,
                None => {
                    self.counters.no_destination += 1;
                    return Verdict::Drop(DropReason::NoDestination);
                }
            }
        };
        let fwd = self
            .dests
            .get(dest.index())
            .map(|d| d.fwd)
            .unwrap_or_default();
        if fwd != FwdMethod::Masq {
            conn_flags |= cf::NOOUTPUT;
        }
        if one_packet {
            // scheduled, counted, and gone: bind and unbind at once
            self.bind(dest, Counter::Inactive);
            self.unbind(dest, cf::INACTIVE);
            self.account_conn(svc, dest);
            self.account_in(dest, pkt.len);
            // the sync walk skips the one-packet connection and counts it against its template
            if let Some(t) = tmpl {
                self.sync_template_packet(t, now);
            }
            return self.forward_verdict(None, dest, flow.dst, true);
        }
        let key = ConnKey::of_flow(&flow);
        // Filed at once with the timeout of the state its first packet gives it (as the
        // transition below will compute it, table pressure included), so that the transition
        // finds it already where it would file it.
        // (and the TCP state its first packet gives it)
        let (initial, first) = if flow.proto == Protocol::Tcp {
            let dir = if conn_flags.contains(cf::NOOUTPUT) {
                TcpDir::InputOnly
            } else {
                TcpDir::Input
            };
            let secure = match self.cfg.secure_tcp {
                Defense::Off => false,
                Defense::Always => true,
                // pressure as it will be with this entry in the table
                Defense::Auto => {
                    self.table.free_slots().saturating_sub(1) <= self.cfg.defense_threshold as usize
                }
            };
            let st = tcp_transition(TcpState::None, dir, pkt.tcp_flags, secure);
            (self.cfg.timeouts.of(Protocol::Tcp, st as u8), Some(st))
        } else {
            (self.cfg.timeouts.of(flow.proto, 0), None)
        };
        let nc = NewConn {
            key,
            dest,
            state: 0,
            flags: conn_flags | cf::INACTIVE,
        };
        let h = match self.table.insert_hashed(hash, nc, now, initial) {
            Ok(h) => h,
            Err(e) => {
                if conn_flags.contains(cf::CONTROLLED) {
                    let cfgk = self.template_key(&cfg, &flow);
                    if let Some(t) = self.table.find(&cfgk, true) {
                        if let Some(mut m) = self.table.entry_mut(t) {
                            let c = m.get().counter();
                            m.set_counter(c.saturating_sub(1));
                        }
                    }
                }
                return self.refuse(e);
            }
        };
        self.bind(dest, Counter::Inactive);
        self.account_conn(svc, dest);
        // (another protocol's entry was filed with its timeout, where a refile leaves it)
        #[cfg(debug_assertions)]
        debug_assert!(self.table.refile_keeps(h, initial, now));
        if let Some(st) = first {
            // what `transition` would compute, with the entry in the table
            debug_assert_eq!(
                Some(st),
                self.table.get(h).map(|e| {
                    let dir = if e.no_output() {
                        TcpDir::InputOnly
                    } else {
                        TcpDir::Input
                    };
                    tcp_transition(TcpState::None, dir, pkt.tcp_flags, self.secure_tcp_active())
                })
            );
            self.first_transition(h, dest, st);
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_counter(1);
        }
        self.account_in(dest, pkt.len);
        self.sync_after_packet(h, now);
        self.forward_verdict(Some(h), dest, flow.dst, true)
    }

    /// [`Director::transition`] of a TCP connection just inserted (state NONE, inactive, filed
    /// with the timeout of `st` at the front of its timer list, at this `now`) by its first
    /// packet, which gives it state `st` (computed with the `secure_tcp` table that
    /// `transition` would use: the pressure with the entry in the table): the same effects
    /// without looking the entry up, computing `st` again, or refiling it where it is.
    fn first_transition(&mut self, h: ConnHandle, dest: DestId, st: TcpState) {
        if st == TcpState::None {
            return;
        }
        // inactive, so counted as active only once established
        let mut counts = false;
        if st == TcpState::Established {
            if let Some(d) = self.dests.get_mut(dest.index()) {
                d.active += 1;
                d.inactive = d.inactive.saturating_sub(1);
                counts = true;
            }
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_state(st as u8);
            if counts {
                m.set_flags(cf::INACTIVE, false);
            }
        }
        if counts {
            self.notify_counts(dest);
        }
        if st == TcpState::Established {
            self.assure_controller(h);
        } else if matches!(st, TcpState::SynRecv | TcpState::SynAck) {
            self.note_embryonic(h);
        }
    }

    pub(super) fn refuse(&mut self, e: InsertError) -> Verdict {
        match e {
            InsertError::Full => {
                self.counters.refused_full += 1;
                Verdict::Drop(DropReason::TableFull)
            }
            InsertError::MixedFamilies => Verdict::Drop(DropReason::Malformed),
        }
    }
}
