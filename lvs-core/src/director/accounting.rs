//! Per-server counters and stats: binding connections to real servers (`ip_vs_bind_dest`,
//! `ip_vs_unbind_dest`) and byte/packet accounting.

use super::*;
use crate::stats::Counters;

/// The connection counter of a real server an entry counts in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Counter {
    /// `activeconns`.
    Active,
    /// `inactconns`.
    Inactive,
    /// `persistconns`: templates.
    Persistent,
}

impl Counter {
    fn of(self, d: &mut Dest) -> &mut u32 {
        match self {
            Counter::Active => &mut d.active,
            Counter::Inactive => &mut d.inactive,
            Counter::Persistent => &mut d.persistent,
        }
    }
}

impl<'a, S: Scheduler> Director<'a, S> {
    /// Applies `add` to the counters of real server `dest`, of its service and the totals.
    #[inline(always)]
    fn account(&mut self, dest: DestId, add: impl Fn(&mut Counters)) {
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            add(&mut st.counters);
        }
        let svc = self.dests.get(dest.index()).map(|d| d.service as usize);
        if let Some(Some(s)) = svc.and_then(|i| self.services.get_mut(i)) {
            add(&mut s.stats.counters);
        }
        add(&mut self.total.counters);
    }

    pub(super) fn account_in(&mut self, dest: DestId, len: u32) {
        self.account(dest, |c| {
            c.inpkts += 1;
            c.inbytes += u64::from(len);
        });
    }

    pub(super) fn account_out(&mut self, dest: DestId, len: u32) {
        self.account(dest, |c| {
            c.outpkts += 1;
            c.outbytes += u64::from(len);
        });
    }

    pub(super) fn account_conn(&mut self, svc: ServiceId, dest: DestId) {
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            st.counters.conns += 1;
        }
        if let Some(Some(s)) = self.services.get_mut(svc.0 as usize) {
            s.stats.counters.conns += 1;
        }
        self.total.counters.conns += 1;
    }

    pub(super) fn notify_counts(&mut self, dest: DestId) {
        let Some(d) = self.dests.get(dest.index()) else {
            return;
        };
        if d.is_available() {
            self.with_sched(ServiceId(d.service), |s, set| s.counts_changed(set, dest));
        }
    }

    /// `ip_vs_bind_dest`: counts a new entry of real server `dest` in `counter` (a template in
    /// [`Counter::Persistent`], a new connection in [`Counter::Inactive`], a connection installed
    /// by sync as the master had it).
    pub(super) fn bind(&mut self, dest: DestId, counter: Counter) {
        if let Some(d) = self.dests.get_mut(dest.index()) {
            *counter.of(d) += 1;
            d.check_overload_on_bind();
        }
        self.notify_counts(dest);
    }

    /// `ip_vs_unbind_dest` for an entry going away.
    pub(super) fn unbind(&mut self, dest: DestId, entry_flags: cf) {
        let counter = if entry_flags.contains(cf::TEMPLATE) {
            Counter::Persistent
        } else if entry_flags.contains(cf::INACTIVE) {
            Counter::Inactive
        } else {
            Counter::Active
        };
        if let Some(d) = self.dests.get_mut(dest.index()) {
            let n = counter.of(d);
            *n = n.saturating_sub(1);
            d.check_overload_on_unbind();
            if !d.is_available() && d.active == 0 && d.inactive == 0 && d.persistent == 0 {
                d.flags = DestFlags::empty();
            }
        }
        self.notify_counts(dest);
    }

    /// Zeroes all counters (`ipvsadm -Z`).
    pub fn zero_stats(&mut self, now: Instant) {
        self.total.zero(now);
        for s in self.services.iter_mut().flatten() {
            s.stats.zero(now);
        }
        for st in self.dest_stats.iter_mut() {
            st.zero(now);
        }
    }
}
