//! Sublinear versions of the scanning schedulers (lc, wlc, sed, nq, fo, ovf) with the kernel's
//! exact decisions.
//!
//! The kernel scans every server on every decision. [`Indexed`] keeps a tournament tree over
//! the service's servers instead: each leaf holds a server's key under the scheduler's rule and
//! its add sequence number, each inner node the better of its two children, and the root is the
//! decision. Callbacks update one leaf and its path to the root in O(log N): `add_dest`,
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
//! `overhead / weight`, compared by 64-bit cross products as the kernel does; that comparison
//! is an exact rational order, and the kernel's quirks (weight-0 servers reached after the
//! first candidate, `int` overheads that wrap negative) cannot change the result, as long as
//! every member's weight and overhead are non-negative as `int`: true for any real counters
//! (under 8 388 608 active connections per server) and IPVS weights (at most 65535). lc's
//! unsigned overhead, fo's and ovf's weights give an exact order for any values.
//!
//! When a member falls outside that domain, or has an id `>= N`, the scheduler falls back to
//! the linear scan, so decisions are always exact; [`Indexed::is_indexed`] says which path the
//! next decision takes. A proptest in this module checks the index against the scan on random
//! operation sequences.
//!
//! # Capacity and memory
//!
//! `N` (a power of two, 2..=65536) bounds the ids the index covers, not the number of
//! members: ids are indices into the director's real-server pool. The struct takes about
//! `N * (size_of::<Key>() + 10)` bytes, e.g. 22 KiB for `WlcIndexed<1024>`.
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

use core::cmp::Ordering;
use core::marker::PhantomData;

#[allow(unused_imports)]
use crate::util::{active, active_plus_one, overhead, weight};
use lvs_core::{Dest, DestId, DestSet, SchedRequest, Scheduler};

/// A scanning scheduler's rule, as an order on keys.
pub trait Rule {
    /// The kernel's name of the scheduler.
    const NAME: &'static str;
    /// What a server is ranked by.
    type Key: Copy + core::fmt::Debug;
    /// The server's key, or `None` when the kernel would never pick it.
    fn key(d: &Dest) -> Option<Self::Key>;
    /// How `a` ranks against `b`: `Less` means `a` is preferred.
    fn cmp(a: &Self::Key, b: &Self::Key) -> Ordering;
    /// Whether the order above is the kernel's for this server's values.
    fn exact(d: &Dest) -> bool;
    /// The kernel's linear decision, for the fallback.
    fn linear(dests: &DestSet<'_>) -> Option<DestId>;
}

#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
/// A weighted cost `cost / weight` with `weight > 0`, ordered by 64-bit cross products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    cost: i32,
    weight: i32,
}

#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
impl Ratio {
    /// `cost / weight(d)`.
    fn of(cost: i32, d: &Dest) -> Ratio {
        Ratio {
            cost,
            weight: weight(d),
        }
    }

    fn cmp(&self, other: &Ratio) -> Ordering {
        (i64::from(self.cost) * i64::from(other.weight))
            .cmp(&(i64::from(other.cost) * i64::from(self.weight)))
    }
}

/// Weight and overhead are non-negative as the kernel's `int`.
#[cfg(any(feature = "sched-wlc", feature = "sched-sed", feature = "sched-nq"))]
fn non_negative(d: &Dest, cost: i32) -> bool {
    weight(d) >= 0 && cost >= 0
}

/// Declares the [`Rule`] `$rule` of scanning scheduler module `$m` (built with `$feature`),
/// whose linear decision is `$m::pick`, and its indexed scheduler `$indexed`. `key`, `cmp` and
/// `exact` give the bodies of [`Rule::key`], [`Rule::cmp`] and [`Rule::exact`].
macro_rules! rule {
    ($(#[$doc:meta])* $feature:literal $rule:ident for $m:ident: $key:ty, $indexed:ident $idoc:literal;
        key($d:ident) = $k:expr;
        cmp($a:ident, $b:ident) = $c:expr;
        exact($e:pat) = $x:expr;
    ) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $rule;

        #[cfg(feature = $feature)]
        impl Rule for $rule {
            const NAME: &'static str = stringify!($m);
            type Key = $key;
            fn key($d: &Dest) -> Option<$key> {
                $k
            }
            fn cmp($a: &$key, $b: &$key) -> Ordering {
                $c
            }
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
    "sched-lc" LcRule for lc: u32, LcIndexed "Indexed least-connection.";
    key(d) = (!d.is_overloaded() && d.weight != 0).then(|| d.overhead());
    cmp(a, b) = a.cmp(b);
    exact(_) = true;
}

rule! {
    /// wlc: least `overhead / weight`.
    "sched-wlc" WlcRule for wlc: Ratio, WlcIndexed "Indexed weighted least-connection.";
    key(d) = (!d.is_overloaded() && weight(d) > 0).then(|| Ratio::of(overhead(d), d));
    cmp(a, b) = a.cmp(b);
    exact(d) = non_negative(d, overhead(d));
}

rule! {
    /// sed: least `(active + 1) / weight`.
    "sched-sed" SedRule for sed: Ratio, SedIndexed "Indexed shortest expected delay.";
    key(d) = (!d.is_overloaded() && weight(d) > 0).then(|| Ratio::of(active_plus_one(d), d));
    cmp(a, b) = a.cmp(b);
    exact(d) = non_negative(d, active_plus_one(d));
}

rule! {
    /// nq: any idle server (the newest wins), else least `(active + 1) / weight`; the key is
    /// `None` for an idle server.
    "sched-nq" NqRule for nq: Option<Ratio>, NqIndexed "Indexed never queue.";
    key(d) = (!d.is_overloaded() && d.weight != 0)
        .then(|| (active(d) != 0).then(|| Ratio::of(active_plus_one(d), d)));
    cmp(a, b) = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.cmp(b),
    };
    exact(d) = non_negative(d, active_plus_one(d));
}

rule! {
    /// fo: highest weight.
    "sched-fo" FoRule for fo: i32, FoIndexed "Indexed weighted failover.";
    key(d) = (!d.is_overloaded() && weight(d) > 0).then(|| weight(d));
    cmp(a, b) = b.cmp(a);
    exact(_) = true;
}

rule! {
    /// ovf: highest weight among servers with `active <= weight`.
    "sched-ovf" OvfRule for ovf: i32, OvfIndexed "Indexed overflow-connection.";
    key(d) = (!d.is_overloaded() && active(d) <= weight(d) && weight(d) != 0).then(|| weight(d));
    cmp(a, b) = b.cmp(a);
    exact(_) = true;
}

const NONE: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct Leaf<K> {
    /// The key, `None` when not eligible (or not a member).
    key: Option<K>,
    /// Add sequence number: larger is earlier in list order.
    seq: u32,
    member: bool,
    /// Counted in `inexact`.
    inexact: bool,
}

impl<K> Leaf<K> {
    /// Not a member.
    const EMPTY: Leaf<K> = Leaf {
        key: None,
        seq: 0,
        member: false,
        inexact: false,
    };
}

/// A scanning scheduler with a tournament-tree index over up to `N` server ids; see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct Indexed<R: Rule, const N: usize> {
    leaves: [Leaf<R::Key>; N],
    /// Inner nodes `1..N` (heap layout); each holds the winning leaf or `NONE`.
    win: [u16; N],
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
            leaves: [Leaf::EMPTY; N],
            win: [NONE; N],
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

    /// `a` beats `b` (both leaf indices or `NONE`).
    fn winner(&self, a: u16, b: u16) -> u16 {
        let (Some(la), Some(lb)) = (self.leaves.get(a as usize), self.leaves.get(b as usize))
        else {
            return if a == NONE { b } else { a };
        };
        match (&la.key, &lb.key) {
            (None, _) => b,
            (Some(_), None) => a,
            (Some(ka), Some(kb)) => match R::cmp(ka, kb) {
                Ordering::Less => a,
                Ordering::Greater => b,
                Ordering::Equal => {
                    if la.seq > lb.seq {
                        a
                    } else {
                        b
                    }
                }
            },
        }
    }

    /// The winner held by tree position `node` (inner node, or leaf when `>= N`).
    fn at(&self, node: usize) -> u16 {
        if node >= N {
            (node - N) as u16
        } else {
            self.win.get(node).copied().unwrap_or(NONE)
        }
    }

    /// Replays the matches on the path from leaf `i` to the root.
    fn fix(&mut self, i: usize) {
        let mut node = (i + N) / 2;
        while node >= 1 {
            let w = self.winner(self.at(2 * node), self.at(2 * node + 1));
            if let Some(slot) = self.win.get_mut(node) {
                *slot = w;
            }
            node /= 2;
        }
    }

    /// Re-reads server `id`'s key (a member), keeping its sequence number.
    fn refresh(&mut self, dests: &DestSet<'_>, id: DestId) {
        let i = id.index();
        let Some(leaf) = self.leaves.get(i) else {
            return;
        };
        if !leaf.member {
            return;
        }
        let (key, inexact) = match dests.get(id) {
            Some(d) => (R::key(d), !R::exact(d)),
            None => (None, false),
        };
        self.set_leaf(i, key, inexact);
        self.fix(i);
    }

    fn set_leaf(&mut self, i: usize, key: Option<R::Key>, inexact: bool) {
        if let Some(leaf) = self.leaves.get_mut(i) {
            if leaf.inexact != inexact {
                if inexact {
                    self.inexact += 1;
                } else {
                    self.inexact = self.inexact.saturating_sub(1);
                }
            }
            leaf.key = key;
            leaf.inexact = inexact;
        }
    }

    /// Makes `id` a member with the next sequence number; `false` (counted in `outside`) when
    /// its id is `>= N`.
    fn enlist(&mut self, id: DestId) -> bool {
        self.next_seq += 1;
        let seq = self.next_seq;
        match self.leaves.get_mut(id.index()) {
            Some(leaf) => {
                leaf.member = true;
                leaf.seq = seq;
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
        self.leaves.fill(Leaf::EMPTY);
        self.inexact = 0;
        self.outside = 0;
        self.next_seq = 0;
        // the last listed was added first
        for &id in dests.order().iter().rev() {
            self.enlist(id);
            if let Some(d) = dests.get(id) {
                if id.index() < N {
                    self.set_leaf(id.index(), R::key(d), !R::exact(d));
                }
            }
        }
        for node in (1..N).rev() {
            let w = self.winner(self.at(2 * node), self.at(2 * node + 1));
            self.win[node] = w;
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
        if let Some(leaf) = self.leaves.get_mut(i) {
            leaf.member = false;
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
        let w = self.win.get(1).copied().unwrap_or(NONE);
        let leaf = self.leaves.get(w as usize)?;
        leaf.key.as_ref()?;
        Some(DestId(w))
    }
}

every_scheduler! {
    cfg #[cfg(test)] mod test;
}
