//! Flood defence and draining: table pressure, eviction of embryonic entries (`drop_entry`),
//! the pressure-driven `secure_tcp` mode, forced deletion (`ip_vs_conn_del`) and the sweep of
//! connections whose real server was removed (`ip_vs_expire_nodest_conn_flush`).

use super::{cf, ConnHandle, ConnSlot, Director, Instant, Protocol, Scheduler, TcpState};
use crate::dest::DestFlags;

/// When a defence strategy is on: the kernel's sysctl values `0` (off), `1`/`2` (automatic;
/// the kernel shows `2` while it is active) and `3` (always).
///
/// "Automatic" here means *while the connection table is under pressure*: fewer than
/// [`DirectorConfig::defense_threshold`](super::DirectorConfig::defense_threshold) + 1 slots
/// free. The kernel measures free system memory against `amemthresh` once a second instead;
/// a fixed-capacity table makes free slots the resource that runs out, and it is checked on
/// every new flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Defense {
    /// Never on (`0`, the default).
    #[default]
    Off,
    /// On while the table is under pressure (`1`; `2` while active).
    Auto,
    /// Always on (`3`).
    Always,
}

/// How many recently created embryonic connections the director remembers as eviction
/// candidates.
pub const EMBRYO_RING_LEN: usize = 1024;
/// Most ring entries examined for one eviction before falling back to the timer wheel.
const RING_TRIES: u32 = 64;
/// Most wheel entries examined for one eviction.
const WHEEL_TRIES: u32 = 256;
/// Most evictions made room for one new flow (a persistent flow needs two slots).
const MAX_EVICT_PER_FLOW: u32 = 4;

/// A FIFO of handles of connections that entered SYN_RECV or SYNACK, most recent last; when
/// full, the oldest record is overwritten. Records go stale (the entry may have established,
/// expired, or its slot may hold another connection now): every candidate is checked when it
/// is taken.
pub(super) struct EmbryoRing {
    slots: heapless::Deque<u32, EMBRYO_RING_LEN>,
}

impl EmbryoRing {
    pub(super) const fn new() -> Self {
        EmbryoRing {
            slots: heapless::Deque::new(),
        }
    }

    /// Empties the ring in place.
    pub(super) fn reset(&mut self) {
        self.slots.clear();
    }

    pub(super) fn push(&mut self, h: u32) {
        if self.slots.is_full() {
            self.slots.pop_front();
        }
        // cannot fail: a slot was just made free
        let _ = self.slots.push_back(h);
    }

    fn pop(&mut self) -> Option<u32> {
        self.slots.pop_front()
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// A TCP connection that has not completed its handshake: what `drop_entry` may evict
/// (`ip_vs_random_dropentry` drops SYN_RECV and SYNACK entries).
pub(super) fn is_embryonic(e: &ConnSlot) -> bool {
    !e.is_template()
        && e.proto() == Protocol::Tcp
        && (e.state() == TcpState::SynRecv as u8 || e.state() == TcpState::SynAck as u8)
}

impl<S: Scheduler> Director<'_, S> {
    /// Whether the table is under pressure: at most
    /// [`DirectorConfig::defense_threshold`](super::DirectorConfig::defense_threshold) slots
    /// free. Automatic defences ([`Defense::Auto`]) are active while this holds.
    pub fn under_pressure(&self) -> bool {
        self.table.free_slots() <= self.cfg.defense_threshold as usize
    }

    /// Whether the `secure_tcp` state table is in use now.
    pub fn secure_tcp_active(&self) -> bool {
        match self.cfg.secure_tcp {
            Defense::Off => false,
            Defense::Auto => self.under_pressure(),
            Defense::Always => true,
        }
    }

    /// Eviction candidates remembered (stale ones included): for tests and monitoring.
    pub fn embryonic_candidates(&self) -> usize {
        self.embryos.len()
    }

    /// Remembers a connection that just became embryonic.
    pub(super) fn note_embryonic(&mut self, h: ConnHandle) {
        if self.cfg.drop_entry {
            self.embryos.push(h.0);
        }
    }

    /// With `drop_entry`, evicts embryonic entries until `needed` slots plus the defence
    /// threshold are free (at most a few per call). Entries that completed their handshake,
    /// templates and non-TCP flows are never evicted.
    pub(super) fn make_room(&mut self, needed: usize) {
        if !self.cfg.drop_entry {
            return;
        }
        let want = needed.saturating_add(self.cfg.defense_threshold as usize);
        let mut n = 0;
        while self.table.free_slots() < want && n < MAX_EVICT_PER_FLOW {
            if !self.evict_embryonic() {
                break;
            }
            n += 1;
        }
    }

    /// Evicts one embryonic connection, the oldest the ring remembers, else the first the timer
    /// wheel reaches. Returns whether one was found.
    fn evict_embryonic(&mut self) -> bool {
        let mut found = None;
        for _ in 0..RING_TRIES {
            let Some(i) = self.embryos.pop() else { break };
            let h = ConnHandle(i);
            if self.table.get(h).is_some_and(is_embryonic) {
                found = Some(h);
                break;
            }
        }
        if found.is_none() {
            found = self.table.scan_filed(WHEEL_TRIES, is_embryonic);
        }
        let Some(h) = found else {
            return false;
        };
        self.delete_entry(h, false);
        self.counters.evicted += 1;
        true
    }

    /// Deletes an entry now, whatever its timer says (`ip_vs_conn_del`): a template still
    /// controlling connections is kept; a connection's template goes too when nothing else
    /// uses it and it never saw an established connection (not `ASSURED`), or, with
    /// `even_assured` (the flush of a removed server's entries), whenever nothing else uses it.
    pub(super) fn delete_entry(&mut self, h: ConnHandle, even_assured: bool) {
        if self.table.get(h).is_none_or(ConnSlot::controls_connections) {
            return;
        }
        let ctl = self.expire_entry(h);
        if let Some(t) = ctl {
            let unused = self.table.get(t).is_some_and(|t| {
                t.counter() == 0 && (even_assured || t.state() & super::TPL_ASSURED == 0)
            });
            if unused {
                self.expire_entry(t);
            }
        }
    }

    /// Starts the sweep that deletes every entry of a removed real server
    /// (`expire_nodest_conn`; the kernel queues `expire_nodest_conn_work`).
    pub(super) fn start_nodest_sweep(&mut self) {
        if self.cfg.expire_nodest_conn {
            self.sweep = Some(0);
        }
    }

    /// Whether a sweep of removed real servers' entries is under way.
    pub fn sweeping(&self) -> bool {
        self.sweep.is_some()
    }

    /// Advances the sweep by at most `budget` slots; returns the entries deleted.
    pub(super) fn sweep_nodest(&mut self, budget: u32) -> usize {
        let Some(start) = self.sweep else { return 0 };
        let cap = self.table.capacity() as u32;
        let end = start.saturating_add(budget.max(1)).min(cap);
        let before = self.table.len();
        for i in start..end {
            let h = ConnHandle(i);
            let gone = self.table.get(h).is_some_and(|e| {
                !e.controls_connections()
                    && self
                        .dests
                        .get(e.dest().index())
                        .is_some_and(|d| !d.flags.contains(DestFlags::AVAILABLE))
            });
            if gone {
                self.delete_entry(h, true);
            }
        }
        self.sweep = if end >= cap { None } else { Some(end) };
        before - self.table.len()
    }

    /// Marks the template controlling `h` as `ASSURED` (`ip_vs_control_assure_ct`): a
    /// controlled TCP connection reached ESTABLISHED, or a controlled UDP flow saw a reply.
    pub(super) fn assure_controller(&mut self, h: ConnHandle) {
        let Some(e) = self.table.get(h).copied() else {
            return;
        };
        if !e.flags().contains(cf::CONTROLLED) || e.sync_byte() & super::SYNC_CTL_ASSURED != 0 {
            return;
        }
        if let Some(t) = self.find_controller(e.dest(), &e.key()) {
            if let Some(mut m) = self.table.entry_mut(t) {
                let s = m.get().state();
                m.set_state(s | super::TPL_ASSURED);
            }
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            let b = m.get().sync_byte();
            m.set_sync_byte(b | super::SYNC_CTL_ASSURED);
        }
    }

    /// The time of the latest call that carried one.
    pub(super) fn saw(&mut self, now: Instant) {
        if now > self.last_now {
            self.last_now = now;
        }
    }
}
