//! Expiry and timers: entry timeouts, the bounded expiry walk, template extension, rate
//! estimator sampling and schedulers' periodic work (`ip_vs_conn_expire`).

use super::*;

impl<'a, S: Scheduler> Director<'a, S> {
    pub(super) fn timeout_of(
        cfg: &DirectorConfig,
        services: &[Option<Service<S>>],
        dests: &[Dest],
        e: &ConnSlot,
    ) -> Duration {
        if e.is_template() {
            if e.flags().contains(cf::EXTENDED) {
                return TEMPLATE_EXTENSION;
            }
            let svc = dests
                .get(e.dest().index())
                .and_then(|d| services.get(d.service as usize))
                .and_then(|s| s.as_ref());
            match svc.and_then(|s| s.config.persistence) {
                Some(p) => p.timeout,
                None => TEMPLATE_EXTENSION,
            }
        } else {
            cfg.timeouts.of(e.proto(), e.state())
        }
    }

    /// Removes an entry for good (`ip_vs_conn_expire` when nothing holds it); returns the
    /// template that controlled it, if any.
    pub(super) fn expire_entry(&mut self, h: ConnHandle) -> Option<ConnHandle> {
        let e = self.table.get(h)?;
        let (dest, fl, key) = (e.dest(), e.flags(), e.key());
        let ctl = if fl.contains(cf::CONTROLLED) {
            self.control_del(dest, &key)
        } else {
            None
        };
        self.table.remove(h);
        self.unbind(dest, fl);
        self.counters.expired += 1;
        ctl
    }

    /// Expires `h` now, unless it is a template still controlling connections, which lives on
    /// with a 60 s timeout (`expire_later`).
    pub(super) fn expire_or_extend(&mut self, h: ConnHandle, now: Instant) {
        let Some(e) = self.table.get(h) else { return };
        if e.controls_connections() {
            if let Some(mut m) = self.table.entry_mut(h) {
                m.set_flags(cf::EXTENDED, true);
            }
            self.table.touch(h, now);
            self.table.refile(h, TEMPLATE_EXTENSION, now);
            self.sync_extended_template(h, now);
        } else {
            self.expire_entry(h);
        }
    }

    /// When [`Director::handle_timeout`] next has work: the earliest connection deadline, rate
    /// sample or scheduler tick, at once while a sweep after a real server's removal is under
    /// way, and, for a sync master, when [`Director::poll_sync`] has a message (drain it then).
    /// Call it again after every `handle_*` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = Some(self.next_estimate);
        if let Some(c) = self.table.poll_timeout() {
            t = t.map(|x| x.min(c));
        }
        if self.sweep.is_some() {
            t = t.map(|x| x.min(self.last_now));
        }
        if let Some(c) = self.sync_poll_at() {
            t = t.map(|x| x.min(c));
        }
        for s in self.services.iter().flatten() {
            t = t.map(|x| x.min(s.next_tick));
        }
        t
    }

    /// Does the time-driven work due at `now`: expires connections (at most
    /// [`DirectorConfig::expire_budget`] entries examined), advances the sweep of removed real
    /// servers' entries, samples rates every 2 s, and runs schedulers' periodic work. Returns
    /// the number of entries removed or extended.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        self.saw(now);
        let mut budget = self.cfg.expire_budget;
        let mut n = 0;
        if self.sweep.is_some() {
            let k = self.sweep_nodest(self.cfg.expire_budget);
            self.counters.nodest_flushed += k as u64;
            n += k;
        }
        loop {
            let cfg = &self.cfg;
            let services = &*self.services;
            let dests = &*self.dests;
            let next = self.table.next_expired(now, &mut budget, |e| {
                Self::timeout_of(cfg, services, dests, e)
            });
            let Some(h) = next else { break };
            self.expire_or_extend(h, now);
            n += 1;
        }
        // one estimator tick for everything, like the kernel's estimation timer; after a long
        // gap the averages have decayed anyway, so at most 8 samples are taken
        let mut samples = 0;
        while self.next_estimate <= now {
            if samples < 8 {
                self.total.sample();
                for s in self.services.iter_mut().flatten() {
                    s.stats.sample();
                }
                for (d, st) in self.dests.iter().zip(self.dest_stats.iter_mut()) {
                    if d.flags.contains(DestFlags::IN_USE) {
                        st.sample();
                    }
                }
            }
            samples += 1;
            self.next_estimate += ESTIMATOR_INTERVAL;
            if samples >= 8 && self.next_estimate <= now {
                let behind = (now - self.next_estimate).total_millis()
                    / ESTIMATOR_INTERVAL.total_millis()
                    + 1;
                self.next_estimate +=
                    Duration::from_millis(behind * ESTIMATOR_INTERVAL.total_millis());
            }
        }
        for i in 0..self.services.len() {
            let due = matches!(&self.services[i], Some(s) if s.next_tick <= now);
            if due {
                if let Some(s) = self.services[i].as_mut() {
                    s.next_tick = now + Duration::from_millis(s.sched.tick_interval_ms());
                }
                self.with_sched(ServiceId(i as u16), |s, set| s.tick(set, now));
            }
        }
        n
    }

    /// Expires every connection bound to `dest` now, in one full scan, for configuration paths.
    /// (Removing a real server with `expire_nodest_conn` starts a sweep with bounded work per
    /// [`Director::handle_timeout`] instead.)
    pub fn flush_dest(&mut self, dest: DestId, now: Instant) -> usize {
        let mut n = 0;
        let cap = self.table.capacity();
        for i in 0..cap {
            let h = ConnHandle(i as u32);
            if self
                .table
                .get(h)
                .is_some_and(|e| e.dest() == dest && !e.is_template())
            {
                self.expire_or_extend(h, now);
                n += 1;
            }
        }
        n
    }

    /// Deletes one connection now, whatever its timer says (`ip_vs_conn_del`, as `conntrack -D`
    /// would for netfilter): its real server's counters are released, and its template goes
    /// too when nothing else uses it and it never saw an established connection. A template
    /// still controlling connections is kept. Returns whether `h` was live and is gone.
    pub fn drop_conn(&mut self, h: ConnHandle) -> bool {
        if self.table.get(h).is_none() {
            return false;
        }
        self.delete_entry(h, false);
        self.table.get(h).is_none()
    }

    /// Timeout that applies to an entry now (for listings such as `ipvsadm -c`).
    pub fn entry_timeout(&self, e: &ConnSlot) -> Duration {
        Self::timeout_of(&self.cfg, self.services, self.dests, e)
    }

    /// The real server address and port a connection is sent to.
    pub fn entry_daddr(&self, e: &ConnSlot) -> Option<Endpoint> {
        let d = self.dests.get(e.dest().index())?;
        Some(Endpoint::new(
            d.addr.addr,
            conn_dport(self.svc_config_of(e.dest()), d, e.vaddr().port),
        ))
    }
}
