//! Persistence templates (`ip_vs_sched_persist`): the template key of a flow, the template
//! that controls a connection, and its count of controlled connections.

use super::*;

impl<'a, S: Scheduler> Director<'a, S> {
    pub(super) fn template_key(&self, cfg: &ServiceConfig, flow: &FlowKey) -> ConnKey {
        let p = cfg
            .persistence
            .unwrap_or(crate::service::Persistence::new(Duration::ZERO));
        let snet = mask_addr(&flow.src.addr, prefix_for(&flow.src.addr, p.prefix_len));
        match cfg.key {
            ServiceKey::Fwmark { mark, .. } => ConnKey::fwmark(snet, mark),
            ServiceKey::Addr { vip, .. } => {
                let vport = if flow.dst.port == vip.port && vip.port != FTP_PORT {
                    flow.dst.port
                } else {
                    0
                };
                ConnKey {
                    proto: flow.proto,
                    caddr: snet,
                    cport: 0,
                    vaddr: flow.dst.addr,
                    vport,
                }
            }
        }
    }

    /// Finds the template controlling a connection of `dest` with `key` (the kernel's
    /// `cp->control`), also after the template was invalidated.
    pub(super) fn find_controller(&self, dest: DestId, key: &ConnKey) -> Option<ConnHandle> {
        let cfg = self.svc_config_of(dest).copied()?;
        let flow = FlowKey::new(
            key.proto,
            Endpoint::new(key.caddr, key.cport),
            Endpoint::new(key.vaddr, key.vport),
        );
        let tk = self.template_key(&cfg, &flow);
        self.table.find_template_by(tk.proto, &tk.caddr, |t| {
            t.dest() == dest
                && t.counter() > 0
                && t.vaddr().addr == tk.vaddr
                && (t.vaddr().port == tk.vport || t.vaddr().port == INVALID_PORT)
        })
    }

    /// Finds the template controlling a connection of `dest` and decrements its count;
    /// returns it.
    pub(super) fn control_del(&mut self, dest: DestId, key: &ConnKey) -> Option<ConnHandle> {
        let t = self.find_controller(dest, key)?;
        if let Some(mut m) = self.table.entry_mut(t) {
            let c = m.get().counter();
            m.set_counter(c.saturating_sub(1));
        }
        Some(t)
    }

    /// The real server of a new flow of a persistent service (`ip_vs_sched_persist`): the one
    /// its template names if that server may still take it (an overdue template is expired or
    /// extended first; one toward an unavailable or, with `expire_quiescent_template`, a
    /// weight-0 server is invalidated), else a newly scheduled one with a new template. Returns
    /// the server and the template, or the verdict that refuses the flow.
    #[inline]
    pub(super) fn sched_persist(
        &mut self,
        svc: ServiceId,
        cfg: &ServiceConfig,
        flow: &FlowKey,
        now: Instant,
    ) -> Result<(DestId, ConnHandle), Verdict> {
        let tk = self.template_key(cfg, flow);
        let mut dest = None;
        if let Some(t) = self.table.find(&tk, true) {
            // past its deadline: gone, or extended if it still controls connections
            let overdue = self.table.get(t).is_some_and(|e| {
                let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
                e.expires_in(now, to) == Duration::ZERO
            });
            if overdue {
                self.expire_or_extend(t, now);
            }
        }
        if let Some(t) = self.table.find(&tk, true) {
            let td = self.table.get(t).map(|e| e.dest()).unwrap_or(DestId(0));
            let ok = self.dests.get(td.index()).is_some_and(|d| {
                d.is_available() && !(self.cfg.expire_quiescent_template && d.weight == 0)
            });
            if ok {
                self.table.touch(t, now);
                dest = Some((td, t));
            } else {
                // ip_vs_check_template: invalidate, do not restart its timer
                self.table.set_vport(t, INVALID_PORT);
            }
        }
        let (d, t) = match dest {
            Some(x) => x,
            None => {
                let Some(d) = self.pick(svc, flow, now) else {
                    self.counters.no_destination += 1;
                    return Err(Verdict::Drop(DropReason::NoDestination));
                };
                let timeout = cfg
                    .persistence
                    .map(|p| p.timeout)
                    .unwrap_or(TEMPLATE_EXTENSION);
                let nc = NewConn {
                    key: tk,
                    dest: d,
                    state: 0,
                    flags: cf::TEMPLATE,
                };
                match self.table.insert_with_timeout(nc, now, timeout) {
                    Ok(t) => {
                        self.bind(d, Counter::Persistent);
                        (d, t)
                    }
                    Err(e) => return Err(self.refuse(e)),
                }
            }
        };
        Ok((d, t))
    }
}
