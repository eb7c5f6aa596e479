//! The destination-address cache shared by lblc and lblcr: the kernel's `ip_vs_lblc_table` /
//! `ip_vs_lblcr_table` with its 1024 hash buckets, `entries` counter, rover, GC counter and
//! periodic collection, on a fixed pool of entries instead of `kmalloc`.
//!
//! The kernel allocates one entry per destination address and never refuses while
//! `entries <= max_size` (16384). The `entries` counter only ever exceeds the number of real
//! entries (replacing an lblc entry does not decrement it), so the kernel never holds more than
//! `max_size + 1` = [`KERNEL_EXACT_CAPACITY`] entries at once: a pool of that size behaves
//! exactly like the kernel. A smaller pool, when full, recycles its least recently used entry
//! (the one with the oldest `lastuse`, i.e. the first the kernel's own collection would delete);
//! the recycled entry is counted out of `entries` like a collected one.

use lvs_core::addr::{fold_addr, IpAddr};
use lvs_core::dest::{Dest, DestId, DestSet};
use lvs_core::hash::hash_32;
use lvs_core::time::{Duration, Instant};

use crate::util::{active, overhead, weight};

/// Hash bits of the table (`CONFIG_IP_VS_LBLC_TAB_BITS` / `..._LBLCR_TAB_BITS`, default 10).
pub const TAB_BITS: u32 = 10;
/// Number of hash buckets (1024).
pub const TAB_SIZE: usize = 1 << TAB_BITS;
/// The kernel's `tbl->max_size` (`TAB_SIZE * 16`): no new entry is created while the
/// `entries` counter is above it, and above it the collector runs partial sweeps.
pub const MAX_SIZE: u32 = (TAB_SIZE * 16) as u32;
/// The pool size at which no entry is ever recycled early, so every decision matches the
/// kernel's: `MAX_SIZE + 1`.
pub const KERNEL_EXACT_CAPACITY: usize = MAX_SIZE as usize + 1;
/// The default pool size of [`crate::lblc::Lblc`] and [`crate::lblcr::Lblcr`].
pub const DEFAULT_CAPACITY: usize = 1024;
/// Period of the collection timer (`CHECK_EXPIRE_INTERVAL`, 60 s).
pub const CHECK_EXPIRE_INTERVAL: Duration = Duration::from_secs(60);
/// Idle time after which a partial sweep may delete an entry (`ENTRY_TIMEOUT`, 6 min).
pub const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// Default of the `lblc_expiration` / `lblcr_expiration` sysctls (24 h).
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
/// Timer runs between two full expiration sweeps while the table is not over `MAX_SIZE`
/// (`COUNT_FOR_FULL_EXPIRATION`).
pub const COUNT_FOR_FULL_EXPIRATION: u32 = 30;

/// The bucket of destination address `addr`: `hash_32(fold(addr), 10)`
/// (`ip_vs_lblc_hashkey` / `ip_vs_lblcr_hashkey`).
///
/// ```
/// use lvs_core::addr::{IpAddr, Ipv4Addr};
/// # #[cfg(feature = "sched-lblc")]
/// assert_eq!(lvs_sched::lblc::hashkey(&IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1))), 0x61c8_8647 >> 22);
/// ```
#[inline]
pub fn hashkey(addr: &IpAddr) -> usize {
    hash_32(fold_addr(addr), TAB_BITS) as usize
}

const NIL: u16 = u16::MAX;

/// One cache entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot<V> {
    /// Destination address (the key).
    pub(crate) key: IpAddr,
    /// Last time a lookup found it (`lastuse`).
    pub(crate) lastuse: Instant,
    /// Next entry in the bucket chain, or in the free list.
    next: u16,
    /// Neighbours in recency order (towards the most / least recently used end).
    newer: u16,
    older: u16,
    /// The entry is live.
    used: bool,
    /// Scheduler-specific payload.
    pub(crate) val: V,
}

/// The table: bucket heads, a pool of `N` entries and the kernel's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Table<V, const N: usize> {
    heads: [u16; TAB_SIZE],
    slots: [Slot<V>; N],
    /// Head of the free list of once-used slots.
    free: u16,
    /// Slots `fresh..N` were never used.
    fresh: u16,
    /// Most recently used live entry.
    mru: u16,
    /// Least recently used live entry.
    lru: u16,
    /// Live entries.
    live: u16,
    /// The kernel's `tbl->entries`, which replacements let drift above `live`.
    entries: u32,
    /// The kernel's `tbl->rover`.
    rover: u16,
    /// The kernel's `tbl->counter`.
    counter: u32,
    /// The `*_expiration` sysctl.
    expiration: Duration,
    /// When the collection timer fires next; armed by the first call that knows the time.
    next_gc: Option<Instant>,
    /// Entries recycled because the pool was full.
    evictions: u64,
}

impl<V: Copy, const N: usize> Table<V, N> {
    /// An empty table whose unused slots hold `empty`.
    pub(crate) const fn new(empty: V) -> Self {
        const {
            assert!(N >= 1, "the entry pool needs at least one slot");
            assert!(N < NIL as usize, "the entry pool is indexed by u16");
        }
        let slot = Slot {
            key: IpAddr::V4(lvs_core::addr::Ipv4Addr::UNSPECIFIED),
            lastuse: Instant::ZERO,
            next: NIL,
            newer: NIL,
            older: NIL,
            used: false,
            val: empty,
        };
        Table {
            heads: [NIL; TAB_SIZE],
            slots: [slot; N],
            free: NIL,
            fresh: 0,
            mru: NIL,
            lru: NIL,
            live: 0,
            entries: 0,
            rover: 0,
            counter: 1,
            expiration: DEFAULT_EXPIRATION,
            next_gc: None,
            evictions: 0,
        }
    }

    /// Drops every entry and restarts the bookkeeping (a fresh `init_service`), keeping the
    /// expiration setting.
    pub(crate) fn reset(&mut self) {
        self.heads = [NIL; TAB_SIZE];
        for s in self.slots.iter_mut() {
            s.used = false;
        }
        self.free = NIL;
        self.fresh = 0;
        self.mru = NIL;
        self.lru = NIL;
        self.live = 0;
        self.entries = 0;
        self.rover = 0;
        self.counter = 1;
        self.next_gc = None;
    }

    /// A fresh table: [`Table::reset`], the default expiration and no evictions counted.
    pub(crate) fn clear(&mut self) {
        self.reset();
        self.expiration = DEFAULT_EXPIRATION;
        self.evictions = 0;
    }

    pub(crate) const fn expiration(&self) -> Duration {
        self.expiration
    }

    pub(crate) fn set_expiration(&mut self, exp: Duration) {
        self.expiration = exp;
    }

    pub(crate) const fn live(&self) -> usize {
        self.live as usize
    }

    pub(crate) const fn entries(&self) -> u32 {
        self.entries
    }

    pub(crate) const fn counter(&self) -> u32 {
        self.counter
    }

    pub(crate) const fn rover(&self) -> usize {
        self.rover as usize
    }

    pub(crate) const fn evictions(&self) -> u64 {
        self.evictions
    }

    pub(crate) const fn next_gc(&self) -> Option<Instant> {
        self.next_gc
    }

    /// The live entry for `key` (`ip_vs_lblc_get`).
    #[inline]
    pub(crate) fn find(&self, key: &IpAddr) -> Option<u16> {
        let mut i = self.heads[hashkey(key)];
        while let Some(s) = self.slots.get(i as usize) {
            if s.key == *key {
                return Some(i);
            }
            i = s.next;
        }
        None
    }

    #[inline]
    pub(crate) fn slot(&self, i: u16) -> Option<&Slot<V>> {
        self.slots.get(i as usize).filter(|s| s.used)
    }

    #[inline]
    #[cfg_attr(not(feature = "sched-lblcr"), allow(dead_code))]
    pub(crate) fn slot_mut(&mut self, i: u16) -> Option<&mut Slot<V>> {
        self.slots.get_mut(i as usize).filter(|s| s.used)
    }

    /// A lookup hit: `lastuse = now`, and the entry becomes the most recently used.
    #[inline]
    pub(crate) fn touch(&mut self, i: u16, now: Instant) {
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.lastuse = now;
        }
        if self.mru != i {
            self.lru_unlink(i);
            self.lru_push(i);
        }
    }

    /// Live entries, for control-plane scans.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut Slot<V>)) {
        for s in self.slots.iter_mut().take(self.fresh as usize) {
            if s.used {
                f(s);
            }
        }
    }

    fn lru_unlink(&mut self, i: u16) {
        let Some(s) = self.slots.get(i as usize) else {
            return;
        };
        let (newer, older) = (s.newer, s.older);
        match self.slots.get_mut(newer as usize) {
            Some(n) => n.older = older,
            None => self.mru = older,
        }
        match self.slots.get_mut(older as usize) {
            Some(o) => o.newer = newer,
            None => self.lru = newer,
        }
    }

    fn lru_push(&mut self, i: u16) {
        let old_mru = self.mru;
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.newer = NIL;
            s.older = old_mru;
        }
        match self.slots.get_mut(old_mru as usize) {
            Some(o) => o.newer = i,
            None => self.lru = i,
        }
        self.mru = i;
    }

    /// Unlinks entry `i` from bucket `b`, whose chain holds it after `prev` (NIL: at the head).
    fn unlink_at(&mut self, b: usize, prev: u16, i: u16) {
        let next = self.slots.get(i as usize).map_or(NIL, |s| s.next);
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(h) = self.heads.get_mut(b) {
                    *h = next;
                }
            }
        }
        self.lru_unlink(i);
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.used = false;
            s.next = self.free;
        }
        self.free = i;
        self.live -= 1;
    }

    /// Deletes entry `i`. `counted` decrements `entries` (collection); replacing an lblc
    /// entry does not (`ip_vs_lblc_del` without `atomic_dec`), which is the kernel's drift.
    pub(crate) fn remove(&mut self, i: u16, counted: bool) {
        let Some(s) = self.slot(i) else {
            return;
        };
        let b = hashkey(&s.key);
        let mut prev = NIL;
        let mut cur = self.heads[b];
        while let Some(c) = self.slots.get(cur as usize) {
            if cur == i {
                self.unlink_at(b, prev, i);
                if counted {
                    self.entries = self.entries.saturating_sub(1);
                }
                return;
            }
            prev = cur;
            cur = c.next;
        }
    }

    /// Whether a new entry may be created: the kernel refuses while `entries > max_size`.
    #[inline]
    pub(crate) const fn may_insert(&self) -> bool {
        self.entries <= MAX_SIZE
    }

    /// Creates an entry for `key` at the head of its bucket (`ip_vs_lblc_hash`), recycling
    /// the least recently used entry if the pool is full. The caller has checked that `key`
    /// has no entry and that [`Table::may_insert`] holds.
    pub(crate) fn insert(&mut self, key: IpAddr, now: Instant, val: V) -> u16 {
        if self.free == NIL && self.fresh as usize >= N {
            let victim = self.lru;
            self.remove(victim, true);
            self.evictions += 1;
        }
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slots.get(i as usize).map_or(NIL, |s| s.next);
            i
        } else {
            let i = self.fresh;
            self.fresh += 1;
            i
        };
        let b = hashkey(&key);
        let head = self.heads[b];
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.key = key;
            s.lastuse = now;
            s.next = head;
            s.used = true;
            s.val = val;
        }
        self.heads[b] = i;
        self.lru_push(i);
        self.live += 1;
        self.entries = self.entries.saturating_add(1);
        i
    }

    /// Deletes, in bucket `j`, every entry idle for at least `timeout`; returns how many.
    fn sweep_bucket(&mut self, j: usize, now: Instant, timeout: Duration) -> u32 {
        let mut deleted = 0;
        let mut prev = NIL;
        let mut cur = self.heads[j];
        while let Some(s) = self.slots.get(cur as usize) {
            let next = s.next;
            // kernel: keep while time_before(now, lastuse + timeout)
            if now >= s.lastuse + timeout {
                self.unlink_at(j, prev, cur);
                self.entries = self.entries.saturating_sub(1);
                deleted += 1;
            } else {
                prev = cur;
            }
            cur = next;
        }
        deleted
    }

    /// Arms the collection timer the first time the time is known (the kernel arms it at
    /// `init_service`, one interval ahead).
    #[inline]
    pub(crate) fn arm(&mut self, now: Instant) {
        if self.next_gc.is_none() {
            self.next_gc = Some(now + CHECK_EXPIRE_INTERVAL);
        }
    }

    /// Runs the timer if it is due: at most one run per call, the next one an interval after
    /// this one was due (or after `now`, if the call came a whole interval late).
    pub(crate) fn tick(&mut self, now: Instant) {
        self.arm(now);
        let Some(due) = self.next_gc else {
            return;
        };
        if now < due {
            return;
        }
        self.check_expire(now);
        let next = due + CHECK_EXPIRE_INTERVAL;
        self.next_gc = Some(if next > now {
            next
        } else {
            now + CHECK_EXPIRE_INTERVAL
        });
    }

    /// The timer handler (`ip_vs_lblc_check_expire`).
    pub(crate) fn check_expire(&mut self, now: Instant) {
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            // ip_vs_lblc_full_check: every bucket, from rover + 1 round to rover
            let mut j = self.rover as usize;
            for _ in 0..TAB_SIZE {
                j = (j + 1) & (TAB_SIZE - 1);
                self.sweep_bucket(j, now, self.expiration);
            }
            self.rover = j as u16;
            self.counter = 1;
            return;
        }
        if self.entries <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let excess = i64::from(self.entries) - i64::from(MAX_SIZE);
        let mut goal = (excess * 4 / 3).min(i64::from(MAX_SIZE / 2));
        let mut j = self.rover as usize;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & (TAB_SIZE - 1);
            goal -= i64::from(self.sweep_bucket(j, now, ENTRY_TIMEOUT));
            if goal <= 0 {
                break;
            }
        }
        self.rover = j as u16;
    }
}

/// The weighted least-connection pick of `__ip_vs_lblc_schedule` / `__ip_vs_lblcr_schedule`:
/// the first server (list order) that is not OVERLOADed and has weight > 0, replaced by a
/// later non-OVERLOADed one when `loh * w_dest > doh * w_least`.
#[inline]
pub(crate) fn wlc_pick(dests: &DestSet<'_>) -> Option<DestId> {
    let mut it = dests.iter();
    let (mut least_id, mut least) = loop {
        let (id, d) = it.next()?;
        if d.is_overloaded() {
            continue;
        }
        if weight(d) > 0 {
            break (id, d);
        }
    };
    let mut loh = i64::from(overhead(least));
    for (id, d) in it {
        if d.is_overloaded() {
            continue;
        }
        let doh = i64::from(overhead(d));
        if loh * i64::from(weight(d)) > doh * i64::from(weight(least)) {
            least_id = id;
            least = d;
            loh = doh;
        }
    }
    Some(least_id)
}

/// lblc's own overload test (`is_overloaded` in `ip_vs_lblc.c`): more active connections
/// than its weight while some server of the service has `active * 2 < weight`. The OVERLOAD
/// flag plays no part.
#[inline]
pub(crate) fn lblc_overloaded(d: &Dest, dests: &DestSet<'_>) -> bool {
    if active(d) > weight(d) {
        dests
            .iter()
            .any(|(_, m)| i64::from(active(m)) * 2 < i64::from(weight(m)))
    } else {
        false
    }
}
