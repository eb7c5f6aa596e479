//! The packet path: classifying inbound packets (`ip_vs_in`), replies (`ip_vs_out`), bursts,
//! ICMP errors, and the TCP state transitions of tracked connections.

use super::*;

impl<'a, S: Scheduler> Director<'a, S> {
    /// [`Director::lookup_service`], remembering the last answer: packets toward one virtual
    /// service find it without a scan of the service slots.
    #[inline]
    pub(super) fn lookup_service_memo(&mut self, pkt: &PacketMeta) -> Option<ServiceId> {
        let key = (pkt.fwmark, pkt.flow.proto, pkt.flow.dst);
        if let Some((m, p, d, found)) = self.svc_memo {
            if (m, p, d) == key {
                return found;
            }
        }
        let found = self.lookup_service(pkt);
        self.svc_memo = Some((key.0, key.1, key.2, found));
        found
    }

    /// The service a new flow belongs to: a firewall-mark service matching the packet's mark,
    /// else the service on its destination address and port, else the one on its address with
    /// port 0. Found through the key index, or by a scan when there are too many services.
    pub(super) fn lookup_service(&self, pkt: &PacketMeta) -> Option<ServiceId> {
        if self.svc_index.usable() {
            self.svc_index
                .lookup(self.services, pkt.fwmark, pkt.flow.proto, &pkt.flow.dst)
        } else {
            scan_service(self.services, pkt)
        }
    }

    /// Applies a TCP state transition to an entry, keeping active/inactive counts as
    /// `set_tcp_state` does, and files the entry anew when the state changes.
    pub(super) fn transition(
        &mut self,
        h: ConnHandle,
        dir: TcpDir,
        tcp_flags: TcpFlags,
        now: Instant,
    ) {
        let Some(e) = self.table.get(h).copied() else {
            return;
        };
        if e.proto() != Protocol::Tcp {
            return;
        }
        let mut dir = dir;
        let no_output = e.no_output();
        if no_output {
            if dir == TcpDir::Output {
                if let Some(mut m) = self.table.entry_mut(h) {
                    m.set_flags(cf::NOOUTPUT, false);
                }
            } else {
                dir = TcpDir::InputOnly;
            }
        }
        let cur = TcpState::from_u8(e.state()).unwrap_or(TcpState::Close);
        let new = tcp_transition(cur, dir, tcp_flags, self.secure_tcp_active());
        if new == cur {
            return;
        }
        let dest = e.dest();
        let inactive = e.flags().contains(cf::INACTIVE);
        let mut counts = false;
        if let Some(d) = self.dests.get_mut(dest.index()) {
            if !inactive && new != TcpState::Established {
                d.active = d.active.saturating_sub(1);
                d.inactive += 1;
                counts = true;
            } else if inactive && new == TcpState::Established {
                d.active += 1;
                d.inactive = d.inactive.saturating_sub(1);
                counts = true;
            }
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_state(new as u8);
            if counts {
                m.set_flags(cf::INACTIVE, new != TcpState::Established);
            }
        }
        if counts {
            self.notify_counts(dest);
        }
        let to = self.cfg.timeouts.of(Protocol::Tcp, new as u8);
        self.table.refile(h, to, now);
        if new == TcpState::Established {
            self.assure_controller(h);
        } else if matches!(new, TcpState::SynRecv | TcpState::SynAck)
            && !matches!(cur, TcpState::SynRecv | TcpState::SynAck)
        {
            self.note_embryonic(h);
        }
    }

    /// Classifies a packet from a client toward a virtual address (`ip_vs_in`).
    pub fn handle_inbound(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        self.inbound_hashed(now, pkt, None, NIL)
    }

    /// [`Director::handle_inbound`] with the table hash of the packet's source, if known, and
    /// `hint`, a slot that may hold the packet's connection (`NIL`: none): used when it does,
    /// which is the lookup's answer, connection keys being unique.
    #[inline]
    pub(super) fn inbound_hashed(
        &mut self,
        now: Instant,
        pkt: &PacketMeta,
        hash: Option<u32>,
        hint: u32,
    ) -> Verdict {
        self.saw(now);
        let flow = &pkt.flow;
        if flow.src.family() != flow.dst.family() {
            return Verdict::Drop(DropReason::Malformed);
        }
        // the connection key's hash (non-first fragments are never looked up)
        let h = match hash {
            Some(h) => h,
            None if pkt.non_first_fragment => 0,
            None => self.table.hash(flow.proto, &flow.src.addr, flow.src.port),
        };
        let mut found = if pkt.non_first_fragment {
            None
        } else if hint != NIL && self.table.matches_flow(hint, flow) {
            Some(ConnHandle(hint))
        } else {
            match (flow.src.addr, flow.dst.addr) {
                (IpAddr::V4(c), IpAddr::V4(v)) => self.table.find_v4(
                    h,
                    flow.proto.number(),
                    c.octets(),
                    flow.src.port,
                    v.octets(),
                    flow.dst.port,
                ),
                _ => {
                    let key = ConnKey::of_flow(flow);
                    self.table.find_hashed(h, &key, false)
                }
            }
        };
        if let Some(h) = found {
            // an entry past its deadline is gone, whether or not the wheel reached it yet
            let overdue = self.table.get(h).is_some_and(|e| {
                let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
                e.expires_in(now, to) == Duration::ZERO
            });
            if overdue {
                self.expire_or_extend(h, now);
                found = None;
            }
        }
        let is_syn = flow.proto == Protocol::Tcp && pkt.tcp_flags.syn();
        if let (Some(h), true) = (found, self.cfg.conn_reuse_mode != 0 && is_syn) {
            let e = self.table.get(h).copied();
            if let Some(e) = e {
                let dest_w0 = self
                    .dests
                    .get(e.dest().index())
                    .is_some_and(|d| d.weight == 0);
                let st = TcpState::from_u8(e.state());
                let expected = !e.flags().contains(cf::CONTROLLED)
                    && (st == Some(TcpState::TimeWait)
                        || st == Some(TcpState::Close)
                        || (self.cfg.conn_reuse_mode & 2 != 0
                            && st == Some(TcpState::FinWait)
                            && e.no_output()));
                if (self.cfg.expire_nodest_conn && dest_w0) || expected {
                    self.expire_entry(h);
                    self.counters.rescheduled += 1;
                    found = None;
                }
            }
        }
        if let Some(h) = found {
            let dest = self.table.get(h).map(|e| e.dest()).unwrap_or(DestId(0));
            let available = self
                .dests
                .get(dest.index())
                .is_some_and(|d| d.is_available());
            if !available {
                if self.cfg.expire_nodest_conn {
                    self.expire_entry(h);
                    self.counters.rescheduled += 1;
                    found = None;
                } else {
                    self.counters.dest_unavailable += 1;
                    return Verdict::Drop(DropReason::DestUnavailable);
                }
            }
        }
        if let Some(h) = found {
            return self.forward_existing(h, pkt, now);
        }
        if pkt.non_first_fragment {
            return Verdict::Drop(DropReason::Fragment);
        }
        let Some(svc) = self.lookup_service_memo(pkt) else {
            return Verdict::Deliver;
        };
        if flow.proto == Protocol::Tcp && !pkt.tcp_flags.syn() {
            if pkt.tcp_flags.rst() || !self.sloppy_for(svc) {
                return Verdict::Deliver;
            }
            let v = self.schedule_new(svc, pkt, now, h);
            if matches!(v, Verdict::Forward(_)) {
                self.counters.sloppy_scheduled += 1;
            }
            return v;
        }
        if flow.proto == Protocol::Tcp && pkt.tcp_flags.rst() {
            return Verdict::Deliver;
        }
        self.schedule_new(svc, pkt, now, h)
    }

    pub(super) fn forward_existing(
        &mut self,
        h: ConnHandle,
        pkt: &PacketMeta,
        now: Instant,
    ) -> Verdict {
        // Most packets leave the state as it is: then `transition` would only compute that,
        // so it runs only for those that change it.
        let secure = self.secure_tcp_active();
        let Some(e) = self.table.get(h) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let changes = e.proto() == Protocol::Tcp && {
            let dir = if e.no_output() {
                TcpDir::InputOnly
            } else {
                TcpDir::Input
            };
            let cur = TcpState::from_u8(e.state()).unwrap_or(TcpState::Close);
            tcp_transition(cur, dir, pkt.tcp_flags, secure) != cur
        };
        self.table.touch(h, now);
        if changes {
            self.transition(h, TcpDir::Input, pkt.tcp_flags, now);
        }
        let Some(mut m) = self.table.entry_mut(h) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let c = m.get().counter();
        m.set_counter(c.wrapping_add(1));
        let (dest, vaddr) = (m.get().dest(), m.get().vaddr());
        self.account_in(dest, pkt.len);
        if self.cfg.sync.policy().is_some() {
            self.sync_after_packet(h, now);
        }
        self.forward_verdict(Some(h), dest, vaddr, false)
    }

    pub(super) fn forward_verdict(
        &self,
        conn: Option<ConnHandle>,
        dest: DestId,
        vaddr: Endpoint,
        new_conn: bool,
    ) -> Verdict {
        let Some(d) = self.dests.get(dest.index()) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let dport = conn_dport(self.svc_config_of(dest), d, vaddr.port);
        Verdict::Forward(Forward {
            conn,
            dest,
            daddr: Endpoint::new(d.addr.addr, dport),
            vaddr,
            method: d.fwd,
            tunnel: d.tunnel,
            new_conn,
        })
    }

    /// Classifies a packet from a real server (`ip_vs_out`): a NAT reply of a tracked
    /// connection becomes [`Verdict::Reply`]; anything else is [`Verdict::Deliver`].
    pub fn handle_outbound(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        self.saw(now);
        let Some(h) = self.find_reply_conn(&pkt.flow) else {
            return Verdict::Deliver;
        };
        self.outbound_conn(now, pkt, h)
    }

    /// [`Director::handle_outbound`] once the reply's connection `h` was found.
    pub(super) fn outbound_conn(
        &mut self,
        now: Instant,
        pkt: &PacketMeta,
        h: ConnHandle,
    ) -> Verdict {
        let overdue = self.table.get(h).is_some_and(|e| {
            let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
            e.expires_in(now, to) == Duration::ZERO
        });
        if overdue {
            self.expire_or_extend(h, now);
            return Verdict::Deliver;
        }
        self.table.touch(h, now);
        self.transition(h, TcpDir::Output, pkt.tcp_flags, now);
        let Some(e) = self.table.get(h).copied() else {
            return Verdict::Deliver;
        };
        if e.proto() == Protocol::Udp {
            // a reply on a controlled UDP flow assures its template
            self.assure_controller(h);
        }
        self.account_out(e.dest(), pkt.len);
        Verdict::Reply(Reply {
            conn: h,
            vaddr: e.vaddr(),
            client: e.client(),
        })
    }

    pub(super) fn find_reply_conn(&self, flow: &FlowKey) -> Option<ConnHandle> {
        let hash = self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port);
        self.find_reply_conn_hashed(flow, hash)
    }

    /// The packed key of the reply-check memo: IPv4 clients only (bit 63 marks it valid).
    #[inline]
    pub(super) fn memo_key(proto: Protocol, ep: &Endpoint) -> Option<u64> {
        match ep.addr {
            IpAddr::V4(a) => Some(
                1 << 63
                    | u64::from(proto.number()) << 48
                    | u64::from(ep.port) << 32
                    | u64::from(a.to_bits()),
            ),
            IpAddr::V6(_) => None,
        }
    }

    /// The table hash of the reply check for `flow` (its destination taken as a client),
    /// remembered for the next packet: a burst toward one virtual service hashes it once.
    #[inline]
    pub(super) fn reply_hash(&mut self, flow: &FlowKey) -> u32 {
        match Self::memo_key(flow.proto, &flow.dst) {
            Some(k) if self.reply_memo.0 == k => self.reply_memo.1,
            Some(k) => {
                let h = self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port);
                self.reply_memo = (k, h);
                self.reply_none = 0;
                h
            }
            None => self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port),
        }
    }

    pub(super) fn find_reply_conn_hashed(&self, flow: &FlowKey, hash: u32) -> Option<ConnHandle> {
        let services = &*self.services;
        let dests = &*self.dests;
        self.table
            .find_reply_hashed(hash, flow.proto, &flow.dst, |e| {
                let Some(d) = dests.get(e.dest().index()) else {
                    return false;
                };
                if d.addr.addr != flow.src.addr {
                    return false;
                }
                let cfg = services
                    .get(d.service as usize)
                    .and_then(|s| s.as_ref())
                    .map(|s| &s.config);
                conn_dport(cfg, d, e.vaddr().port) == flow.src.port
            })
    }

    /// Whether the reply check of `flow` (hashed by [`Director::reply_hash`] just before) is
    /// known to find nothing: no entry with its destination as client was in the bucket when
    /// last looked, and nothing was inserted since.
    #[inline]
    fn reply_known_none(&self, flow: &FlowKey) -> bool {
        self.reply_none == self.table.stats().inserted.wrapping_add(1)
            && Self::memo_key(flow.proto, &flow.dst) == Some(self.reply_memo.0)
    }

    /// The reply check of `flow` with hash `rh`: the connection a reply belongs to, remembering
    /// (for the memoised key) a bucket without any entry of that client.
    #[inline]
    fn reply_conn(&mut self, flow: &FlowKey, rh: u32) -> Option<ConnHandle> {
        if self.reply_known_none(flow) {
            return None;
        }
        let memo = Self::memo_key(flow.proto, &flow.dst) == Some(self.reply_memo.0);
        if memo && !self.table.client_in_bucket(rh, flow.proto, &flow.dst) {
            self.reply_none = self.table.stats().inserted.wrapping_add(1);
            return None;
        }
        self.find_reply_conn_hashed(flow, rh)
    }

    /// Classifies a packet either way: a reply of a tracked connection, else an inbound packet.
    pub fn handle_packet(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        let rh = self.reply_hash(&pkt.flow);
        self.packet_hashed(now, pkt, rh, None, NIL)
    }

    /// [`Director::handle_packet`] with the reply-check hash `rh`, if known the inbound lookup
    /// hash `ih`, and a slot `hint` that may hold the packet's connection (`NIL`: none).
    #[inline]
    pub(super) fn packet_hashed(
        &mut self,
        now: Instant,
        pkt: &PacketMeta,
        rh: u32,
        ih: Option<u32>,
        hint: u32,
    ) -> Verdict {
        match self.reply_conn(&pkt.flow, rh) {
            Some(h) => {
                self.saw(now);
                self.outbound_conn(now, pkt, h)
            }
            None => self.inbound_hashed(now, pkt, ih, hint),
        }
    }

    /// Classifies a burst of packets: `verdicts[i]` is what [`Director::handle_packet`] would
    /// return for `pkts[i]`, with the same effects, in order. Processes
    /// `min(pkts.len(), verdicts.len())` packets and returns that number.
    ///
    /// Faster than one call per packet when the table is much larger than the CPU caches:
    /// each group of up to [`BURST_MAX`] packets is first hashed, each bucket's line asked for
    /// (prefetched) as soon as its hash is known, then every bucket's own slot is read and the
    /// next slot of each chain that does not end there asked for, so that the memory accesses
    /// of the group overlap the hashing, one another and the handling of the packets before
    /// them; then each packet is handled in order, on lines already in the cache or on their
    /// way. The reads ahead change nothing: every packet's own handling looks up the table as
    /// [`Director::handle_packet`] does (a slot found ahead is used only if it still holds the
    /// packet's connection), so packets earlier in the burst that add or remove connections are
    /// seen by later ones exactly as one call per packet would see them.
    pub fn handle_packet_burst(
        &mut self,
        now: Instant,
        pkts: &[PacketMeta],
        verdicts: &mut [Verdict],
    ) -> usize {
        let n = pkts.len().min(verdicts.len());
        for (pk, vs) in pkts[..n]
            .chunks(BURST_MAX)
            .zip(verdicts[..n].chunks_mut(BURST_MAX))
        {
            let mut rh = [0u32; BURST_MAX];
            let mut ih = [0u32; BURST_MAX];
            // Hash the group, asking for each bucket's line as soon as its hash is known: the
            // lines arrive while the rest of the group is hashed.
            for (i, p) in pk.iter().enumerate() {
                rh[i] = self.reply_hash(&p.flow);
                ih[i] = self
                    .table
                    .hash(p.flow.proto, &p.flow.src.addr, p.flow.src.port);
                self.table.prefetch_bucket(ih[i]);
            }
            // Then read each bucket's own slot: the packet's connection (its hint), or the
            // next slot of its chain, asked for in turn, to arrive while the packets before
            // it are handled. A reply check whose bucket is not known to be empty of its
            // client gets its bucket asked for too.
            let mut hint = [NIL; BURST_MAX];
            for i in 0..pk.len() {
                let next;
                (next, hint[i]) = self.table.home_step(ih[i], &pk[i].flow);
                self.table.prefetch_slot(next);
                if (i == 0 || rh[i] != rh[i - 1]) && !self.reply_known_none(&pk[i].flow) {
                    self.table.prefetch_bucket(rh[i]);
                }
            }
            for (i, (p, v)) in pk.iter().zip(vs.iter_mut()).enumerate() {
                *v = match self.established_burst(now, p, ih[i], hint[i]) {
                    Some(f) => Verdict::Forward(f),
                    None => self.packet_hashed(now, p, rh[i], Some(ih[i]), hint[i]),
                };
            }
        }
        n
    }

    /// Finds the connection an ICMP error refers to by the packet it quotes (`ip_vs_in_icmp`,
    /// `ip_vs_out_icmp`): a quote of a packet the director sent toward a client (VIP to client)
    /// gives [`Verdict::Forward`] toward that connection's real server; a quote of a packet sent
    /// to a real server (client to RIP) gives [`Verdict::Reply`]. Counted like the flow's packets.
    pub fn handle_icmp_error(&mut self, now: Instant, quoted: &FlowKey, len: u32) -> Verdict {
        self.saw(now);
        let key = ConnKey {
            proto: quoted.proto,
            caddr: quoted.dst.addr,
            cport: quoted.dst.port,
            vaddr: quoted.src.addr,
            vport: quoted.src.port,
        };
        if let Some(h) = self.table.find(&key, false) {
            let Some(e) = self.table.get(h).copied() else {
                return Verdict::Deliver;
            };
            self.table.touch(h, now);
            self.account_in(e.dest(), len);
            return self.forward_verdict(Some(h), e.dest(), e.vaddr(), false);
        }
        let reply = quoted.reversed();
        if let Some(h) = self.find_reply_conn(&reply) {
            let Some(e) = self.table.get(h).copied() else {
                return Verdict::Deliver;
            };
            self.table.touch(h, now);
            self.account_out(e.dest(), len);
            return Verdict::Reply(Reply {
                conn: h,
                vaddr: e.vaddr(),
                client: e.client(),
            });
        }
        Verdict::Deliver
    }
}
