//! Locality-based least-connection with replication (`ip_vs_lblcr.c`): like
//! [`lblc`](crate::lblc), but each destination address maps to a *set* of real servers that
//! grows when its members are overloaded and shrinks when it has not changed for a while.
//!
//! **Hit.** The entry for the flow's destination address (1024 buckets, [`hashkey`]) gets
//! `lastuse = now`. Then, in this order:
//! 1. `d` = the weighted least-connection member: members that are OVERLOADed are skipped, the
//!    first candidate must have weight > 0 and be in the service, a later member replaces it
//!    when `loh * w > doh * w_least` and it is in the service.
//! 2. If the set has more than one member and `now > lastmod + expiration` (strictly; default
//!    24 h, the `lblcr_expiration` sysctl), the weighted *most*-loaded member with weight > 0 is
//!    erased and `lastmod = now`.
//! 3. `d` is returned if it exists and is not lblc-overloaded (more active connections than
//!    its weight while some server has `active * 2 < weight`), **even if step 2 just erased
//!    it**.
//! 4. Otherwise the service-wide weighted least-connection pick answers and joins the set at
//!    its head if absent (`lastmod = now`).
//!
//! **Miss.** The weighted least-connection pick answers and a new entry holds it, unless the
//! `entries` counter is above 16384 ([`MAX_SIZE`]). Collection is lblc's (60 s timer, full
//! sweep every 30 runs, partial sweeps above `MAX_SIZE`).
//!
//! # Storage and deviations
//!
//! Entries live in a fixed pool of `N` (default [`DEFAULT_CAPACITY`] = 1024), each with room
//! for `S` members (default 8, at most 16): an [`LblcrTable`] of about `(48 + 2·S)·N + 2 KiB`
//! (67 640 bytes for the defaults, 1 050 744 with a pool of [`KERNEL_EXACT_CAPACITY`]). The
//! scheduler carries it by default ([`Lblcr::new`]) or keeps it in memory the caller lends or
//! boxes ([`Lblcr::with_storage`], see [`crate::storage`]).
//! - **Pool full.** As in lblc: with `N` < [`KERNEL_EXACT_CAPACITY`] a new entry recycles the
//!   least recently used one ([`Lblcr::evictions`]).
//! - **Set full.** The kernel's sets are unbounded. When a set already holds `S` members and
//!   step 4 must add one, the oldest member that has left the service is dropped, else the
//!   oldest member (the tail) ([`Lblcr::set_evictions`]).
//! - **Removed servers.** `del_dest` marks members with the removed id as stale: they are
//!   never picked in step 1 (the kernel's trash server is not AVAILABLE either). Step 2 still
//!   weighs a stale member by its counters while the pool shows it out of the service, as
//!   the kernel does; once its id is reused, it counts as weight 0. A server added back while
//!   still in a set stays stale there (the kernel would revive it).
//! - **Timer.** Armed by the first `tick` or `schedule`, as in lblc.

use core::borrow::BorrowMut;

use lvs_core::addr::IpAddr;
use lvs_core::dest::{Dest, DestId, DestSet};
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::time::{Duration, Instant};

pub use crate::locality::{
    hashkey, CHECK_EXPIRE_INTERVAL, COUNT_FOR_FULL_EXPIRATION, DEFAULT_CAPACITY,
    DEFAULT_EXPIRATION, ENTRY_TIMEOUT, KERNEL_EXACT_CAPACITY, MAX_SIZE, TAB_BITS, TAB_SIZE,
};
use crate::locality::{lblc_overloaded, wlc_pick, Table};
use crate::util::{overhead, weight};

/// Default room for members in each destination set.
pub const DEFAULT_SET_CAPACITY: usize = 8;

/// A destination set (`struct ip_vs_dest_set`), head (most recently inserted) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemberSet<const S: usize> {
    members: [DestId; S],
    len: u8,
    /// Bit `i`: member `i` was removed from the service after it joined.
    stale: u16,
    lastmod: Instant,
}

impl<const S: usize> MemberSet<S> {
    const EMPTY: Self = MemberSet {
        members: [DestId(0); S],
        len: 0,
        stale: 0,
        lastmod: Instant::ZERO,
    };

    fn one(dest: DestId, now: Instant) -> Self {
        let mut s = Self::EMPTY;
        if let Some(m) = s.members.first_mut() {
            *m = dest;
            s.len = 1;
        }
        s.lastmod = now;
        s
    }

    #[inline]
    fn len(&self) -> usize {
        (self.len as usize).min(S)
    }

    #[inline]
    fn is_stale(&self, i: usize) -> bool {
        i < 16 && self.stale & (1 << i) != 0
    }

    /// Members in list order with their stale bits.
    #[inline]
    fn iter(&self) -> impl Iterator<Item = (usize, DestId, bool)> + '_ {
        self.members
            .iter()
            .take(self.len())
            .enumerate()
            .map(|(i, &id)| (i, id, self.is_stale(i)))
    }

    /// Removes member `i`, shifting the later ones up.
    fn remove_at(&mut self, i: usize) {
        let len = self.len();
        if i >= len {
            return;
        }
        if let Some(tail) = self.members.get_mut(i..len) {
            tail.rotate_left(1);
        }
        // drop bit i, shift the higher bits down
        let low = self.stale & ((1u16 << i) - 1);
        let high = (self.stale >> 1) & !((1u16 << i) - 1);
        self.stale = low | high;
        self.len -= 1;
    }

    /// `ip_vs_dest_set_insert` (with `check`): add at the head if absent. Returns whether a
    /// member had to be dropped to make room.
    fn insert(&mut self, dest: DestId, now: Instant) -> bool {
        if self.iter().any(|(_, id, stale)| id == dest && !stale) {
            return false;
        }
        let mut dropped = false;
        if self.len() >= S {
            let victim = (0..self.len())
                .rev()
                .find(|&i| self.is_stale(i))
                .unwrap_or(self.len() - 1);
            self.remove_at(victim);
            dropped = true;
        }
        let len = self.len();
        if let Some(all) = self.members.get_mut(..=len) {
            all.rotate_right(1);
            if let Some(h) = all.first_mut() {
                *h = dest;
            }
        }
        self.stale <<= 1;
        self.len += 1;
        self.lastmod = now;
        dropped
    }
}

/// lblcr's storage: the cache's buckets, a pool of `N` entries of up to `S` members and the
/// kernel's bookkeeping (see the [module docs](self) for sizes).
#[derive(Debug, Clone)]
pub struct LblcrTable<const N: usize = DEFAULT_CAPACITY, const S: usize = DEFAULT_SET_CAPACITY>(
    Table<MemberSet<S>, N>,
);

impl LblcrTable {
    /// An empty cache with the default pool and set size.
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl<const N: usize, const S: usize> LblcrTable<N, S> {
    /// An empty cache with a pool of `N` entries of up to `S` members.
    pub const fn with_capacity() -> Self {
        const {
            assert!(S >= 1 && S <= 16, "a destination set holds 1 to 16 members");
        }
        LblcrTable(Table::new(MemberSet::EMPTY))
    }
}

impl<const N: usize, const S: usize> Default for LblcrTable<N, S> {
    fn default() -> Self {
        Self::with_capacity()
    }
}

/// The lblcr scheduler with a pool of `N` entries of up to `S` members each, kept in `T`: by
/// value (the default), `&mut LblcrTable` or a [`Store`](crate::storage::Store) (see the
/// [module docs](self)).
#[derive(Debug, Clone)]
pub struct Lblcr<
    const N: usize = DEFAULT_CAPACITY,
    const S: usize = DEFAULT_SET_CAPACITY,
    T: BorrowMut<LblcrTable<N, S>> = LblcrTable<N, S>,
> {
    table: T,
    set_evictions: u64,
}

impl Lblcr {
    /// An lblcr scheduler with the default pool, set size and expiration (24 h).
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl Default for Lblcr {
    fn default() -> Self {
        Self::new()
    }
}

/// A member as step 2 (`ip_vs_dest_set_max`) sees it: weight and overhead, with a stale
/// member whose id was reused reading as weight 0.
#[inline]
fn weigh(d: Option<&Dest>, stale: bool) -> (i64, i64) {
    match d {
        Some(d) if !(stale && d.is_available()) => (i64::from(weight(d)), i64::from(overhead(d))),
        _ => (0, 0),
    }
}

impl<const N: usize, const S: usize> Lblcr<N, S> {
    /// An lblcr scheduler with a pool of `N` entries and sets of up to `S` members, carrying
    /// its table.
    pub const fn with_capacity() -> Self {
        Lblcr {
            table: LblcrTable::with_capacity(),
            set_evictions: 0,
        }
    }
}

impl<const N: usize, const S: usize, T: BorrowMut<LblcrTable<N, S>>> Lblcr<N, S, T> {
    /// An lblcr scheduler whose cache lives in `store` (`&mut LblcrTable` lent by the caller,
    /// a [`Store`](crate::storage::Store) or a `Box`), emptied, with the default expiration.
    ///
    /// ```
    /// use lvs_sched::lblcr::{Lblcr, LblcrTable};
    /// let mut table = LblcrTable::new();
    /// let lblcr = Lblcr::with_storage(&mut table);
    /// assert!(lblcr.is_empty() && core::mem::size_of_val(&lblcr) == 16);
    /// ```
    pub fn with_storage(mut store: T) -> Self {
        store.borrow_mut().0.clear();
        Lblcr {
            table: store,
            set_evictions: 0,
        }
    }

    /// The storage (hands a lent or boxed table back).
    pub fn into_storage(self) -> T {
        self.table
    }

    locality_accessors!("lblcr_expiration", MemberSet<S>);

    /// Members dropped because a set was full.
    pub fn set_evictions(&self) -> u64 {
        self.set_evictions
    }

    /// The members (head first) and `lastuse` / `lastmod` of the entry for `daddr`, copied
    /// into `out`; returns `(members written, lastuse, lastmod)`.
    pub fn lookup(&self, daddr: &IpAddr, out: &mut [DestId]) -> Option<(usize, Instant, Instant)> {
        let i = self.t().find(daddr)?;
        let s = self.t().slot(i)?;
        let mut n = 0;
        for ((_, id, _), o) in s.val.iter().zip(out.iter_mut()) {
            *o = id;
            n += 1;
        }
        Some((n, s.lastuse, s.val.lastmod))
    }

    /// Runs the collection timer's handler now (`ip_vs_lblcr_check_expire`).
    pub fn collect(&mut self, now: Instant) {
        self.t_mut().check_expire(now);
    }

    /// `ip_vs_dest_set_min`.
    fn set_min(set: &MemberSet<S>, dests: &DestSet<'_>) -> Option<DestId> {
        let mut it = set.iter();
        let (mut least_id, mut least) = loop {
            let (_, id, stale) = it.next()?;
            let Some(d) = dests.get(id) else { continue };
            if d.is_overloaded() {
                continue;
            }
            if weight(d) > 0 && !stale && d.is_available() {
                break (id, d);
            }
        };
        let mut loh = i64::from(overhead(least));
        for (_, id, stale) in it {
            let Some(d) = dests.get(id) else { continue };
            if d.is_overloaded() {
                continue;
            }
            let doh = i64::from(overhead(d));
            if loh * i64::from(weight(d)) > doh * i64::from(weight(least))
                && !stale
                && d.is_available()
            {
                least_id = id;
                least = d;
                loh = doh;
            }
        }
        Some(least_id)
    }

    /// `ip_vs_dest_set_max`: the index of the weighted most-loaded member with weight > 0.
    fn set_max(set: &MemberSet<S>, dests: &DestSet<'_>) -> Option<usize> {
        let mut it = set.iter();
        let (mut most, mut mw, mut moh) = loop {
            let (i, id, stale) = it.next()?;
            let (w, oh) = weigh(dests.get(id), stale);
            if w > 0 {
                break (i, w, oh);
            }
        };
        for (i, id, stale) in it {
            let (w, doh) = weigh(dests.get(id), stale);
            if moh * w < doh * mw && w > 0 {
                most = i;
                mw = w;
                moh = doh;
            }
        }
        Some(most)
    }
}

impl<const N: usize, const S: usize, T: BorrowMut<LblcrTable<N, S>>> Scheduler for Lblcr<N, S, T> {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn init_service(&mut self, _dests: &DestSet<'_>) {
        self.t_mut().reset();
    }

    fn del_dest(&mut self, _dests: &DestSet<'_>, id: DestId, _position: usize) {
        self.t_mut().for_each_mut(|s| {
            let set = &mut s.val;
            for i in 0..set.len() {
                if set.members.get(i) == Some(&id) {
                    set.stale |= 1 << i;
                }
            }
        });
    }

    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let now = req.now;
        let daddr = req.flow.dst.addr;
        self.t_mut().arm(now);
        let expiration = self.t().expiration();

        if let Some(i) = self.t().find(&daddr) {
            self.t_mut().touch(i, now);
            let slot = self.t_mut().slot_mut(i)?;
            let set = &mut slot.val;
            // 1. the least loaded member
            let d = Self::set_min(set, dests);
            // 2. more than one member and enough time passed by: drop the most loaded
            if set.len() > 1 && now > set.lastmod + expiration {
                if let Some(m) = Self::set_max(set, dests) {
                    set.remove_at(m);
                    set.lastmod = now;
                }
            }
            // 3. use it unless overloaded, even if it was just erased
            if let Some(id) = d {
                if dests.get(id).is_some_and(|dd| !lblc_overloaded(dd, dests)) {
                    return Some(id);
                }
            }
            // 4. the entry is invalid: schedule and add the pick to the set
            let dest = wlc_pick(dests)?;
            if set.insert(dest, now) {
                self.set_evictions += 1;
            }
            return Some(dest);
        }

        // no cache entry: schedule and create one
        let dest = wlc_pick(dests)?;
        if self.t().may_insert() {
            self.t_mut().insert(daddr, now, MemberSet::one(dest, now));
        }
        Some(dest)
    }

    fn tick(&mut self, _dests: &DestSet<'_>, now: Instant) {
        self.t_mut().tick(now);
    }
}
