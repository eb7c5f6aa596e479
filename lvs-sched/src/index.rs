//! Sublinear versions of the scanning schedulers (lc, wlc, sed, nq, fo, ovf) with the kernel's
//! exact decisions.
//!
//! The kernel scans every server on every decision. [`Indexed`] keeps a tournament tree over
//! the service's servers instead: each leaf holds a server's rank under the scheduler's rule
//! with its add sequence number and id, packed into one `u128`, each inner node the better of its two
//! children, and the root is the decision. Callbacks update one leaf and its path to the root
//! in O(log N), one `u128` comparison per level against the sibling's winner: `add_dest`,
//! `del_dest`, `upd_dest` and `counts_changed` (which the director must call whenever a
//! server's active or inactive counter or OVERLOAD flag changes). `schedule` reads the root in
//! O(1).
//!
//! # Why the decisions are the kernel's
//!
//! Each kernel scan returns the first server in list order that minimises (or maximises) a key
//! among the eligible servers; the scans' strict comparisons are exactly "replace only when
//! strictly better". List order is newest first, so "first in list" is "largest add sequence
//! number": ties go to the larger sequence number. For wlc, sed and nq the key is the ratio
//! `overhead / weight`, which the kernel compares by 64-bit cross products, an exact rational
//! order; the rank is `floor(overhead * 2^32 / weight)`, which keeps that order exactly (equal
//! ratios equal, different ones apart) while weights are at most 2^16 (see `ratio`). The
//! kernel's quirks (weight-0 servers reached after the first candidate, `int` overheads that
//! wrap negative) cannot change the result as long as every member's weight and overhead are
//! non-negative as `int`. So the exact domain is: overhead in `0..2^31` (under 8 388 608
//! active connections per server) and weight in `0..=65536` (IPVS weights are at most 65535).
//! lc's unsigned overhead, fo's and ovf's weights give an exact order for any values.
//!
//! When a member falls outside that domain, or has an id `>= N`, the scheduler falls back to
//! the linear scan, so decisions are always exact; [`Indexed::is_indexed`] says which path the
//! next decision takes. A proptest in this module checks the index against the scan on random
//! operation sequences.
//!
//! # Capacity and memory
//!
//! `N` (a power of two, 2..=65536) bounds the ids the index covers, not the number of
//! members: ids are indices into the director's real-server pool. The struct takes
//! `N * 40` bytes plus a few, e.g. 40 KiB for `WlcIndexed<1024>` and 2.5 MiB for `N = 65536`,
//! more than a default thread stack: build a large one in a `static` or a `Box`.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
//! use lvs_sched::index::WlcIndexed;
//! let mut pool = vec![Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 0)];
//! let mut order = vec![DestId(0)];
//! let mut s = WlcIndexed::<64>::new();
//! s.init_service(&DestSet::new(&pool, &order));
//! // a director adds a server at the head of the list ...
//! pool.push(Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 3, 0, 0));
//! order.insert(0, DestId(1));
//! s.add_dest(&DestSet::new(&pool, &order), DestId(1));
//! // ... and reports counter changes
//! pool[1].active = 2;
//! s.counts_changed(&DestSet::new(&pool, &order), DestId(1));
//! pool[0].active = 1;
//! s.counts_changed(&DestSet::new(&pool, &order), DestId(0));
//! let req = SchedRequest {
//!     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
//!     now: Instant::ZERO,
//! };
//! let set = DestSet::new(&pool, &order);
//! // 512 / 3 < 256 / 1
//! assert_eq!(s.schedule(&set, &req), Some(DestId(1)));
//! assert_eq!(s.schedule(&set, &req), lvs_sched::wlc::pick(&set));
//! assert!(s.is_indexed());
//! ```

use core::marker::PhantomData;

#[allow(unused_imports)]
use crate::util::{active, active_plus_one, overhead, weight};
use lvs_core::{Dest, DestId, DestSet, SchedRequest, Scheduler};

/// A scanning scheduler's rule, as a rank per server.
pub trait Rule {
    /// The kernel's name of the scheduler.
    const NAME: &'static str;
    /// The server's rank (smaller is preferred, equal ranks tie), or `None` when the kernel
    /// would never pick it.
    fn rank(d: &Dest) -> Option<u64>;
    /// Whether the order of ranks is the kernel's for this server's values.
    fn exact(d: &Dest) -> bool;
    /// The kernel's linear decision, for the fallback.
    fn linear(dests: &DestSet<'_>) -> Option<DestId>;
}

/// The largest weight for which [`ratio`] orders exactly.
#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
const RATIO_MAX_WEIGHT: i32 = 1 << 16;

/// `floor(cost * 2^32 / weight)` for `weight > 0`: with `0 <= cost < 2^31` and
/// `weight <= 2^16` this orders servers exactly as the kernel's 64-bit cross products
/// `cost_a * weight_b` against `cost_b * weight_a`. Two different fractions with denominators
/// up to 2^16 differ by at least `1 / (weight_a * weight_b) >= 2^-32`, so scaled by 2^32 they
/// differ by at least 1 and their floors keep the strict order; equal fractions have equal
/// floors. Outside that domain the value is only defined (no overflow, no division by zero).
#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
#[inline]
fn ratio(cost: i32, d: &Dest) -> u64 {
    (u64::from(cost as u32) << 32) / u64::from(weight(d).max(1) as u32)
}

/// Weight in `0..=2^16` and cost non-negative as the kernel's `int`: [`ratio`]'s domain.
#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
#[inline]
fn ratio_exact(d: &Dest, cost: i32) -> bool {
    (0..=RATIO_MAX_WEIGHT).contains(&weight(d)) && cost >= 0
}

/// The rank of "highest weight first": `i32::MAX - weight`, in `0..2^32`.
#[cfg(any(feature = "sched-fo", feature = "sched-ovf"))]
#[inline]
fn heaviest(d: &Dest) -> u64 {
    (i64::from(i32::MAX) - i64::from(weight(d))) as u64
}

/// Declares the [`Rule`] `$rule` of scanning scheduler module `$m` (built with `$feature`),
/// whose linear decision is `$m::pick`, and its indexed scheduler `$indexed`. `rank` and
/// `exact` give the bodies of [`Rule::rank`] and [`Rule::exact`].
macro_rules! rule {
    ($(#[$doc:meta])* $feature:literal $rule:ident for $m:ident, $indexed:ident $idoc:literal;
        rank($d:ident) = $k:expr;
        exact($e:pat) = $x:expr;
    ) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $rule;

        #[cfg(feature = $feature)]
        impl Rule for $rule {
            const NAME: &'static str = stringify!($m);
            #[inline]
            fn rank($d: &Dest) -> Option<u64> {
                $k
            }
            #[inline]
            fn exact($e: &Dest) -> bool {
                $x
            }
            fn linear(dests: &DestSet<'_>) -> Option<DestId> {
                crate::$m::pick(dests)
            }
        }

        #[doc = $idoc]
        #[cfg(feature = $feature)]
        pub type $indexed<const N: usize = 1024> = Indexed<$rule, N>;
    };
}

rule! {
    /// lc: least unsigned overhead among servers with weight != 0.
    "sched-lc" LcRule for lc, LcIndexed "Indexed least-connection.";
    rank(d) = (!d.is_overloaded() && d.weight != 0).then(|| u64::from(d.overhead()));
    exact(_) = true;
}

rule! {
    /// wlc: least `overhead / weight`.
    "sched-wlc" WlcRule for wlc, WlcIndexed "Indexed weighted least-connection.";
    rank(d) = (!d.is_overloaded() && weight(d) > 0).then(|| ratio(overhead(d), d));
    exact(d) = ratio_exact(d, overhead(d));
}

rule! {
    /// sed: least `(active + 1) / weight`.
    "sched-sed" SedRule for sed, SedIndexed "Indexed shortest expected delay.";
    rank(d) = (!d.is_overloaded() && weight(d) > 0).then(|| ratio(active_plus_one(d), d));
    exact(d) = ratio_exact(d, active_plus_one(d));
}

rule! {
    /// nq: any idle server (rank 0, the newest wins), else least `(active + 1) / weight`
    /// (at least `2 * 2^32 / 2^16 > 0` in the exact domain).
    "sched-nq" NqRule for nq, NqIndexed "Indexed never queue.";
    rank(d) = (!d.is_overloaded() && d.weight != 0)
        .then(|| if active(d) == 0 { 0 } else { ratio(active_plus_one(d), d) });
    exact(d) = ratio_exact(d, active_plus_one(d));
}

rule! {
    /// fo: highest weight.
    "sched-fo" FoRule for fo, FoIndexed "Indexed weighted failover.";
    rank(d) = (!d.is_overloaded() && weight(d) > 0).then(|| heaviest(d));
    exact(_) = true;
}

rule! {
    /// ovf: highest weight among servers with `active <= weight`.
    "sched-ovf" OvfRule for ovf, OvfIndexed "Indexed overflow-connection.";
    rank(d) = (!d.is_overloaded() && active(d) <= weight(d) && weight(d) != 0)
        .then(|| heaviest(d));
    exact(_) = true;
}

/// A leaf's full order, [`order`]'s value when not eligible or not a member.
const INELIGIBLE: u128 = u128::MAX;

/// A leaf's full order: the rule's rank in bits 48.., the complement of the sequence number in
/// bits 16..48 (equal ranks go to the larger sequence number, i.e. the earlier listed), the id
/// in bits 0..16. Members have different sequence numbers, so one comparison decides a match
/// and the winner's id is read from the winner's order.
#[inline]
fn order(rank: u64, seq: u32, id: usize) -> u128 {
    (u128::from(rank) << 48) | (u128::from(!seq) << 16) | (id as u128 & 0xFFFF)
}

/// Bookkeeping of one id.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// Add sequence number: larger is earlier in list order.
    seq: u32,
    member: bool,
    /// Counted in `inexact`.
    inexact: bool,
}

impl Meta {
    /// Not a member.
    const EMPTY: Meta = Meta {
        seq: 0,
        member: false,
        inexact: false,
    };
}

/// A scanning scheduler with a tournament-tree index over up to `N` server ids; see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct Indexed<R: Rule, const N: usize> {
    /// Each leaf's full order (see [`order`]).
    order: [u128; N],
    meta: [Meta; N],
    /// The winner's order at each inner tree position `1..N` in heap layout (root 1; the
    /// children of position `p` are `2p` and `2p + 1`, positions `N..2N` being the leaves).
    inner: [u128; N],
    next_seq: u32,
    /// Members whose values leave the exact domain.
    inexact: u32,
    /// Members whose id is `>= N`.
    outside: u32,
    rule: PhantomData<R>,
}

impl<R: Rule, const N: usize> Default for Indexed<R, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Rule, const N: usize> Indexed<R, N> {
    /// An empty index; call [`Scheduler::init_service`] with the service's servers.
    ///
    /// `N` must be a power of two in `2..=65536` (checked at compile time).
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_power_of_two() && N >= 2 && N <= 65536,
                "N must be a power of two in 2..=65536"
            );
        }
        Indexed {
            order: [INELIGIBLE; N],
            meta: [Meta::EMPTY; N],
            inner: [INELIGIBLE; N],
            next_seq: 0,
            inexact: 0,
            outside: 0,
            rule: PhantomData,
        }
    }

    /// Whether the next decision comes from the index (`false`: the linear scan, because a
    /// member's id is `>= N` or its values leave the exact domain).
    pub const fn is_indexed(&self) -> bool {
        self.inexact == 0 && self.outside == 0
    }

    /// The winner's order at tree position `node` (in `1..2N`).
    #[inline]
    fn at(&self, node: usize) -> u128 {
        if node >= N {
            self.order[(node - N) & (N - 1)]
        } else {
            self.inner[node & (N - 1)]
        }
    }

    /// Replays the matches on the path from leaf `i` (`< N`) to the root: at each of the
    /// `log2 N` levels the path's winner so far meets the sibling's stored winner.
    #[inline]
    fn fix(&mut self, i: usize) {
        let i = i & (N - 1);
        let mut best = self.order[i].min(self.order[i ^ 1]);
        let mut node = (N + i) >> 1;
        self.inner[node & (N - 1)] = best;
        for _ in 1..N.trailing_zeros() {
            best = best.min(self.inner[(node ^ 1) & (N - 1)]);
            node >>= 1;
            self.inner[node & (N - 1)] = best;
        }
    }

    /// Re-reads server `id`'s rank (a member), keeping its sequence number.
    #[inline]
    fn refresh(&mut self, dests: &DestSet<'_>, id: DestId) {
        let i = id.index();
        let Some(meta) = self.meta.get(i) else {
            return;
        };
        if !meta.member {
            return;
        }
        let (rank, inexact) = match dests.get(id) {
            Some(d) => (R::rank(d), !R::exact(d)),
            None => (None, false),
        };
        self.set_leaf(i, rank, inexact);
        self.fix(i);
    }

    /// Sets leaf `i`'s order from `rank` and its sequence number, and its exactness.
    #[inline]
    fn set_leaf(&mut self, i: usize, rank: Option<u64>, inexact: bool) {
        let (Some(meta), Some(order)) = (self.meta.get_mut(i), self.order.get_mut(i)) else {
            return;
        };
        if meta.inexact != inexact {
            if inexact {
                self.inexact += 1;
            } else {
                self.inexact = self.inexact.saturating_sub(1);
            }
            meta.inexact = inexact;
        }
        *order = match rank {
            Some(r) => self::order(r, meta.seq, i),
            None => INELIGIBLE,
        };
    }

    /// Makes `id` a member with the next sequence number; `false` (counted in `outside`) when
    /// its id is `>= N`.
    fn enlist(&mut self, id: DestId) -> bool {
        self.next_seq += 1;
        let seq = self.next_seq;
        match self.meta.get_mut(id.index()) {
            Some(meta) => {
                meta.member = true;
                meta.seq = seq;
                true
            }
            None => {
                self.outside += 1;
                false
            }
        }
    }

    /// Rebuilds everything from `dests`, numbering members by list position.
    fn rebuild(&mut self, dests: &DestSet<'_>) {
        self.meta.fill(Meta::EMPTY);
        self.order.fill(INELIGIBLE);
        self.inexact = 0;
        self.outside = 0;
        self.next_seq = 0;
        // the last listed was added first
        for &id in dests.order().iter().rev() {
            self.enlist(id);
            if let Some(d) = dests.get(id) {
                if id.index() < N {
                    self.set_leaf(id.index(), R::rank(d), !R::exact(d));
                }
            }
        }
        for node in (1..N).rev() {
            self.inner[node] = self.at(2 * node).min(self.at(2 * node + 1));
        }
    }
}

impl<R: Rule, const N: usize> Scheduler for Indexed<R, N> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.rebuild(dests);
    }

    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        if self.next_seq == u32::MAX {
            // after 4 billion additions: renumber from the list
            self.rebuild(dests);
            return;
        }
        if self.enlist(id) {
            self.refresh(dests, id);
        }
    }

    fn del_dest(&mut self, _dests: &DestSet<'_>, id: DestId, _position: usize) {
        let i = id.index();
        if i >= N {
            self.outside = self.outside.saturating_sub(1);
            return;
        }
        self.set_leaf(i, None, false);
        if let Some(meta) = self.meta.get_mut(i) {
            meta.member = false;
        }
        self.fix(i);
    }

    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.refresh(dests, id);
    }

    #[inline]
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.refresh(dests, id);
    }

    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        if !self.is_indexed() {
            return R::linear(dests);
        }
        let o = self.inner[1];
        (o != INELIGIBLE).then_some(DestId(o as u16))
    }
}

every_scheduler! {
    cfg #[cfg(test)] mod test;
}
