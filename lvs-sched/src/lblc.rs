//! Locality-based least-connection (`ip_vs_lblc.c`): remember which real server served each
//! packet *destination* address (a cache cluster in front of many origins), and keep using it
//! until it is overloaded.
//!
//! **Lookup.** The cache is keyed by the flow's destination address in 1024 buckets
//! (`hash_32(fold(daddr), 10)`, [`hashkey`]). A hit sets `lastuse = now` and returns the cached
//! server if it is still in the service, has weight > 0 and is not *lblc-overloaded*: more
//! active connections than its weight while some server of the service has
//! `active * 2 < weight`. The OVERLOAD flag is **not** checked on a hit.
//!
//! **Miss.** Otherwise the weighted least-connection pick (first non-OVERLOADed server with
//! weight > 0, replaced by a later non-OVERLOADed one when `loh * w > doh * w_least`) answers,
//! and the entry is replaced by one for that server. Replacing deletes the old entry without
//! decrementing the `entries` counter (the kernel's drift), and no entry is created while
//! `entries` > 16384 ([`MAX_SIZE`]).
//!
//! **Collection.** Every 60 s ([`Scheduler::tick`] runs it when due): if `counter % 30 == 0`, a
//! full sweep deletes entries idle for at least the expiration (default 24 h, the
//! `lblc_expiration` sysctl, [`Lblc::set_expiration`]) and resets `counter` to 1; else, with
//! `entries` ≤ 16384, `counter` is incremented; else a partial sweep from `rover + 1` deletes
//! entries idle for at least 6 min until `goal = min((entries − 16384)·4/3, 8192)` is met at the
//! end of a bucket. (Creation stops above 16384, so the counter never passes 16385 and the
//! goal is always 1; while drift holds the counter above 16384 the full sweep never runs and
//! nothing new is cached, as in the kernel.)
//!
//! # Storage and deviations
//!
//! Entries live in a fixed pool of `N` (default [`DEFAULT_CAPACITY`] = 1024) instead of
//! `kmalloc`, an [`LblcTable`] of about `40·N + 2 KiB` (43 064 bytes for the default, 657 504
//! for [`KERNEL_EXACT_CAPACITY`]). The scheduler carries it by default ([`Lblc::new`]) or keeps
//! it in memory the caller lends or boxes ([`Lblc::with_storage`], see [`crate::storage`]).
//! - **Pool full.** With `N` < [`KERNEL_EXACT_CAPACITY`] (16385, the most the kernel can hold)
//!   the pool can fill up; a new entry then recycles the least recently used one (oldest
//!   `lastuse`, the first the kernel's collection would delete), counting it out of `entries`
//!   as a collection would. Decisions differ from the kernel only for destination addresses
//!   whose entry was recycled. [`Lblc::evictions`] counts them. With
//!   `Lblc::<KERNEL_EXACT_CAPACITY>` this never happens.
//! - **Removed servers.** The kernel's entry holds a reference that keeps a removed server
//!   (not AVAILABLE) alive in the trash; ours holds a [`DestId`], which the director may reuse
//!   once the server's connections are gone. So `del_dest` marks the entries of the removed id
//!   as stale, and a stale entry always misses, as the kernel's does while the server is in the
//!   trash. If the same server is added back while such an entry exists, the kernel's entry
//!   becomes valid again; ours stays stale until replaced.
//! - **Timer.** The kernel arms its timer at `init_service`; with no clock there, ours is
//!   armed by the first `tick` or `schedule` and fires one interval later, at most once per
//!   `tick` call.
//! - The kernel's table is unkeyed (`hash_32`), so chosen destination addresses can share a
//!   bucket; chains here are bounded by `N`.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
//! use lvs_sched::lblc::Lblc;
//!
//! let mut pool = [Dest::with_counts(Endpoint::v4([10, 0, 0, 1], 80), 1, 0, 0),
//!                 Dest::with_counts(Endpoint::v4([10, 0, 0, 2], 80), 1, 0, 0)];
//! let order = [DestId(1), DestId(0)];
//! let mut s = Lblc::new();
//! let req = SchedRequest {
//!     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([192, 0, 2, 1], 5000),
//!                        Endpoint::v4([203, 0, 113, 9], 80)),
//!     now: Instant::from_secs(1),
//! };
//! // a miss: least connections, ties to the first in list order
//! assert_eq!(s.schedule(&DestSet::new(&pool, &order), &req), Some(DestId(1)));
//! // later, server 1 is busier, but the cache keeps the destination on it
//! pool[1].active = 1;
//! assert_eq!(s.schedule(&DestSet::new(&pool, &order), &req), Some(DestId(1)));
//! ```

use core::borrow::BorrowMut;

use lvs_core::addr::IpAddr;
use lvs_core::dest::{DestId, DestSet};
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::time::{Duration, Instant};

pub use crate::locality::{
    hashkey, CHECK_EXPIRE_INTERVAL, COUNT_FOR_FULL_EXPIRATION, DEFAULT_CAPACITY,
    DEFAULT_EXPIRATION, ENTRY_TIMEOUT, KERNEL_EXACT_CAPACITY, MAX_SIZE, TAB_BITS, TAB_SIZE,
};
use crate::locality::{lblc_overloaded, wlc_pick, Table};
use crate::util::weight;

/// A cached server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cached {
    dest: DestId,
    /// The server was removed from the service after the entry was made.
    stale: bool,
}

const EMPTY: Cached = Cached {
    dest: DestId(0),
    stale: false,
};

/// lblc's storage: the cache's buckets, a pool of `N` entries and the kernel's bookkeeping
/// (see the [module docs](self) for sizes).
#[derive(Debug, Clone)]
pub struct LblcTable<const N: usize = DEFAULT_CAPACITY>(Table<Cached, N>);

impl LblcTable {
    /// An empty cache with the default pool ([`DEFAULT_CAPACITY`]).
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl<const N: usize> LblcTable<N> {
    /// An empty cache with a pool of `N` entries.
    pub const fn with_capacity() -> Self {
        LblcTable(Table::new(EMPTY))
    }
}

impl<const N: usize> Default for LblcTable<N> {
    fn default() -> Self {
        Self::with_capacity()
    }
}

/// The lblc scheduler with a pool of `N` cache entries, kept in `T`: by value (the default),
/// `&mut LblcTable` or a [`Store`](crate::storage::Store) (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Lblc<const N: usize = DEFAULT_CAPACITY, T: BorrowMut<LblcTable<N>> = LblcTable<N>> {
    table: T,
}

impl Lblc {
    /// An lblc scheduler with the default pool ([`DEFAULT_CAPACITY`]) and expiration (24 h).
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl Default for Lblc {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Lblc<N> {
    /// An lblc scheduler with a pool of `N` entries (`Lblc::<16385>::with_capacity()` never
    /// recycles an entry early), carrying its table.
    pub const fn with_capacity() -> Self {
        Lblc {
            table: LblcTable::with_capacity(),
        }
    }
}

impl<const N: usize, T: BorrowMut<LblcTable<N>>> Lblc<N, T> {
    /// An lblc scheduler whose cache lives in `store` (`&mut LblcTable` lent by the caller, a
    /// [`Store`](crate::storage::Store) or a `Box`), emptied, with the default expiration.
    ///
    /// ```
    /// use lvs_sched::lblc::{Lblc, LblcTable};
    /// let mut table = LblcTable::new();
    /// let lblc = Lblc::with_storage(&mut table);
    /// assert!(lblc.is_empty() && core::mem::size_of_val(&lblc) == 8);
    /// ```
    pub fn with_storage(mut store: T) -> Self {
        store.borrow_mut().0.clear();
        Lblc { table: store }
    }

    /// The storage (hands a lent or boxed table back).
    pub fn into_storage(self) -> T {
        self.table
    }

    locality_accessors!("lblc_expiration", Cached);

    /// The cache entry for destination address `daddr`: the server and `lastuse`. Entries of
    /// removed servers are reported too.
    pub fn lookup(&self, daddr: &IpAddr) -> Option<(DestId, Instant)> {
        let i = self.t().find(daddr)?;
        self.t().slot(i).map(|s| (s.val.dest, s.lastuse))
    }

    /// Runs the collection timer's handler now (`ip_vs_lblc_check_expire`), regardless of
    /// when it is due; [`Scheduler::tick`] calls this every 60 s.
    pub fn collect(&mut self, now: Instant) {
        self.t_mut().check_expire(now);
    }
}

impl<const N: usize, T: BorrowMut<LblcTable<N>>> Scheduler for Lblc<N, T> {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn init_service(&mut self, _dests: &DestSet<'_>) {
        self.t_mut().reset();
    }

    fn del_dest(&mut self, _dests: &DestSet<'_>, id: DestId, _position: usize) {
        self.t_mut().for_each_mut(|s| {
            if s.val.dest == id {
                s.val.stale = true;
            }
        });
    }

    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let now = req.now;
        let daddr = req.flow.dst.addr;
        self.t_mut().arm(now);

        let found = self.t().find(&daddr);
        if let Some(i) = found {
            self.t_mut().touch(i, now);
            if let Some(s) = self.t().slot(i) {
                let c = s.val;
                if !c.stale {
                    if let Some(d) = dests.get(c.dest) {
                        if d.is_available() && weight(d) > 0 && !lblc_overloaded(d, dests) {
                            return Some(c.dest);
                        }
                    }
                }
            }
        }

        // no cache entry or it is invalid: time to schedule
        let dest = wlc_pick(dests)?;

        // ip_vs_lblc_new
        if let Some(i) = found {
            if self
                .t()
                .slot(i)
                .is_some_and(|s| s.val.dest == dest && !s.val.stale)
            {
                return Some(dest);
            }
            self.t_mut().remove(i, false);
        }
        if self.t().may_insert() {
            self.t_mut()
                .insert(daddr, now, Cached { dest, stale: false });
        }
        Some(dest)
    }

    fn tick(&mut self, _dests: &DestSet<'_>, now: Instant) {
        self.t_mut().tick(now);
    }
}
