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
use crate::util::{active, overhead, weight};
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

/// lc: least unsigned overhead among servers with weight != 0.
#[cfg(feature = "sched-lc")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LcRule;
#[cfg(feature = "sched-lc")]
impl Rule for LcRule {
    const NAME: &'static str = "lc";
    type Key = u32;
    fn key(d: &Dest) -> Option<u32> {
        (!d.is_overloaded() && d.weight != 0).then(|| d.overhead())
    }
    fn cmp(a: &u32, b: &u32) -> Ordering {
        a.cmp(b)
    }
    fn exact(_: &Dest) -> bool {
        true
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::lc::pick(dests)
    }
}

/// wlc: least `overhead / weight`.
#[cfg(feature = "sched-wlc")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WlcRule;
#[cfg(feature = "sched-wlc")]
impl Rule for WlcRule {
    const NAME: &'static str = "wlc";
    type Key = Ratio;
    fn key(d: &Dest) -> Option<Ratio> {
        (!d.is_overloaded() && weight(d) > 0).then(|| Ratio {
            cost: overhead(d),
            weight: weight(d),
        })
    }
    fn cmp(a: &Ratio, b: &Ratio) -> Ordering {
        a.cmp(b)
    }
    fn exact(d: &Dest) -> bool {
        non_negative(d, overhead(d))
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::wlc::pick(dests)
    }
}

/// sed: least `(active + 1) / weight`.
#[cfg(feature = "sched-sed")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SedRule;
#[cfg(feature = "sched-sed")]
impl Rule for SedRule {
    const NAME: &'static str = "sed";
    type Key = Ratio;
    fn key(d: &Dest) -> Option<Ratio> {
        (!d.is_overloaded() && weight(d) > 0).then(|| Ratio {
            cost: active(d).wrapping_add(1),
            weight: weight(d),
        })
    }
    fn cmp(a: &Ratio, b: &Ratio) -> Ordering {
        a.cmp(b)
    }
    fn exact(d: &Dest) -> bool {
        non_negative(d, active(d).wrapping_add(1))
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::sed::pick(dests)
    }
}

/// nq: any idle server (the newest wins), else least `(active + 1) / weight`.
#[cfg(feature = "sched-nq")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NqRule;
#[cfg(feature = "sched-nq")]
impl Rule for NqRule {
    const NAME: &'static str = "nq";
    /// `None` for an idle server.
    type Key = Option<Ratio>;
    fn key(d: &Dest) -> Option<Option<Ratio>> {
        if d.is_overloaded() || d.weight == 0 {
            return None;
        }
        Some((active(d) != 0).then(|| Ratio {
            cost: active(d).wrapping_add(1),
            weight: weight(d),
        }))
    }
    fn cmp(a: &Option<Ratio>, b: &Option<Ratio>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp(b),
        }
    }
    fn exact(d: &Dest) -> bool {
        non_negative(d, active(d).wrapping_add(1))
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::nq::pick(dests)
    }
}

/// fo: highest weight.
#[cfg(feature = "sched-fo")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoRule;
#[cfg(feature = "sched-fo")]
impl Rule for FoRule {
    const NAME: &'static str = "fo";
    type Key = i32;
    fn key(d: &Dest) -> Option<i32> {
        (!d.is_overloaded() && weight(d) > 0).then(|| weight(d))
    }
    fn cmp(a: &i32, b: &i32) -> Ordering {
        b.cmp(a)
    }
    fn exact(_: &Dest) -> bool {
        true
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::fo::pick(dests)
    }
}

/// ovf: highest weight among servers with `active <= weight`.
#[cfg(feature = "sched-ovf")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OvfRule;
#[cfg(feature = "sched-ovf")]
impl Rule for OvfRule {
    const NAME: &'static str = "ovf";
    type Key = i32;
    fn key(d: &Dest) -> Option<i32> {
        let w = weight(d);
        (!d.is_overloaded() && active(d) <= w && w != 0).then_some(w)
    }
    fn cmp(a: &i32, b: &i32) -> Ordering {
        b.cmp(a)
    }
    fn exact(_: &Dest) -> bool {
        true
    }
    fn linear(dests: &DestSet<'_>) -> Option<DestId> {
        crate::ovf::pick(dests)
    }
}

/// Indexed least-connection.
#[cfg(feature = "sched-lc")]
pub type LcIndexed<const N: usize = 1024> = Indexed<LcRule, N>;
/// Indexed weighted least-connection.
#[cfg(feature = "sched-wlc")]
pub type WlcIndexed<const N: usize = 1024> = Indexed<WlcRule, N>;
/// Indexed shortest expected delay.
#[cfg(feature = "sched-sed")]
pub type SedIndexed<const N: usize = 1024> = Indexed<SedRule, N>;
/// Indexed never queue.
#[cfg(feature = "sched-nq")]
pub type NqIndexed<const N: usize = 1024> = Indexed<NqRule, N>;
/// Indexed weighted failover.
#[cfg(feature = "sched-fo")]
pub type FoIndexed<const N: usize = 1024> = Indexed<FoRule, N>;
/// Indexed overflow-connection.
#[cfg(feature = "sched-ovf")]
pub type OvfIndexed<const N: usize = 1024> = Indexed<OvfRule, N>;

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
            leaves: [Leaf {
                key: None,
                seq: 0,
                member: false,
                inexact: false,
            }; N],
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

    /// Rebuilds everything from `dests`, numbering members by list position.
    fn rebuild(&mut self, dests: &DestSet<'_>) {
        for leaf in self.leaves.iter_mut() {
            *leaf = Leaf {
                key: None,
                seq: 0,
                member: false,
                inexact: false,
            };
        }
        self.inexact = 0;
        self.outside = 0;
        self.next_seq = 0;
        // the last listed was added first
        for &id in dests.order().iter().rev() {
            self.next_seq += 1;
            let seq = self.next_seq;
            match self.leaves.get_mut(id.index()) {
                Some(leaf) => {
                    leaf.member = true;
                    leaf.seq = seq;
                }
                None => self.outside += 1,
            }
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
        self.next_seq += 1;
        let seq = self.next_seq;
        match self.leaves.get_mut(id.index()) {
            Some(leaf) => {
                leaf.member = true;
                leaf.seq = seq;
                self.refresh(dests, id);
            }
            None => self.outside += 1,
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

#[cfg(all(
    test,
    feature = "sched-lc",
    feature = "sched-wlc",
    feature = "sched-sed",
    feature = "sched-nq",
    feature = "sched-fo",
    feature = "sched-ovf"
))]
mod test {
    use super::*;
    use crate::test_util::{server, tcp_req};
    use lvs_core::dest::DestFlags;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u32),
        Del(usize),
        Weight(usize, u32),
        Overload(usize, bool),
        Counts(usize, u32, u32),
        Connect(bool),
        Close(usize),
        Reinit,
    }

    fn ops(big: bool) -> impl Strategy<Value = Vec<Op>> {
        let count = if big { 0..=u32::MAX } else { 0..=3000u32 };
        let weight = prop_oneof![3 => 0u32..=4, 1 => 0u32..=65535, 1 => if big { 0..=u32::MAX } else { 0..=65535u32 }];
        let op = prop_oneof![
            3 => weight.clone().prop_map(Op::Add),
            1 => any::<usize>().prop_map(Op::Del),
            2 => (any::<usize>(), weight).prop_map(|(i, w)| Op::Weight(i, w)),
            2 => (any::<usize>(), any::<bool>()).prop_map(|(i, o)| Op::Overload(i, o)),
            1 => (any::<usize>(), count.clone(), count).prop_map(|(i, a, n)| Op::Counts(i, a, n)),
            6 => any::<bool>().prop_map(Op::Connect),
            2 => any::<usize>().prop_map(Op::Close),
            1 => Just(Op::Reinit),
        ];
        prop::collection::vec(op, 1..150)
    }

    /// Runs `ops` on an index of 16 ids (pools grow past it) and checks every decision
    /// against the kernel's scan.
    fn check<R: Rule>(ops: &[Op]) -> Result<(), TestCaseError> {
        let mut pool: Vec<Dest> = Vec::new();
        let mut order: Vec<DestId> = Vec::new();
        let mut s = Indexed::<R, 16>::new();
        s.init_service(&DestSet::new(&pool, &order));
        let req = tcp_req();
        for op in ops {
            let pick_member =
                |order: &Vec<DestId>, i: usize| (!order.is_empty()).then(|| order[i % order.len()]);
            match *op {
                Op::Add(w) => {
                    if pool.len() < 24 {
                        let id = DestId(pool.len() as u16);
                        pool.push(server(pool.len() as u8, w, 0, 0));
                        order.insert(0, id);
                        s.add_dest(&DestSet::new(&pool, &order), id);
                    } else if let Some(id) = (0..pool.len())
                        .map(|i| DestId(i as u16))
                        .find(|id| !order.contains(id))
                    {
                        // re-add a removed server (its counters kept, like the kernel's trash)
                        order.insert(0, id);
                        s.add_dest(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Del(i) => {
                    if let Some(id) = pick_member(&order, i) {
                        let pos = order.iter().position(|&d| d == id).unwrap();
                        order.remove(pos);
                        s.del_dest(&DestSet::new(&pool, &order), id, pos);
                    }
                }
                Op::Weight(i, w) => {
                    if let Some(id) = pick_member(&order, i) {
                        pool[id.index()].weight = w;
                        s.upd_dest(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Overload(i, o) => {
                    if let Some(id) = pick_member(&order, i) {
                        pool[id.index()].set_flag(DestFlags::OVERLOAD, o);
                        s.counts_changed(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Counts(i, a, n) => {
                    // any server, members or not (a removed server's connections still end)
                    if !pool.is_empty() {
                        let id = DestId((i % pool.len()) as u16);
                        pool[id.index()].active = a;
                        pool[id.index()].inactive = n;
                        s.counts_changed(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Connect(act) => {
                    let set = DestSet::new(&pool, &order);
                    let got = s.schedule(&set, &req);
                    let want = R::linear(&set);
                    prop_assert_eq!(got, want, "{} indexed={}", R::NAME, s.is_indexed());
                    if let Some(id) = got {
                        let d = &mut pool[id.index()];
                        if act {
                            d.active = d.active.wrapping_add(1);
                        } else {
                            d.inactive = d.inactive.wrapping_add(1);
                        }
                        s.counts_changed(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Close(i) => {
                    if !pool.is_empty() {
                        let id = DestId((i % pool.len()) as u16);
                        let d = &mut pool[id.index()];
                        if d.active > 0 {
                            d.active -= 1;
                        } else {
                            d.inactive = d.inactive.saturating_sub(1);
                        }
                        s.counts_changed(&DestSet::new(&pool, &order), id);
                    }
                }
                Op::Reinit => s.init_service(&DestSet::new(&pool, &order)),
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn lc_matches_scan(ops in ops(false)) { check::<LcRule>(&ops)?; }
        #[test]
        fn wlc_matches_scan(ops in ops(false)) { check::<WlcRule>(&ops)?; }
        #[test]
        fn sed_matches_scan(ops in ops(false)) { check::<SedRule>(&ops)?; }
        #[test]
        fn nq_matches_scan(ops in ops(false)) { check::<NqRule>(&ops)?; }
        #[test]
        fn fo_matches_scan(ops in ops(false)) { check::<FoRule>(&ops)?; }
        #[test]
        fn ovf_matches_scan(ops in ops(false)) { check::<OvfRule>(&ops)?; }
        /// Counters and weights past `i32::MAX`: the fallback keeps decisions exact.
        #[test]
        fn extremes_match_scan(ops in ops(true)) {
            check::<LcRule>(&ops)?;
            check::<WlcRule>(&ops)?;
            check::<SedRule>(&ops)?;
            check::<NqRule>(&ops)?;
            check::<FoRule>(&ops)?;
            check::<OvfRule>(&ops)?;
        }
    }

    #[test]
    fn index_is_used_in_the_domain_and_not_outside() {
        let mut pool: Vec<Dest> = (0..3).map(|i| server(i, 1, 0, 0)).collect();
        let order = [DestId(2), DestId(1), DestId(0)];
        let mut s = WlcIndexed::<4>::new();
        s.init_service(&DestSet::new(&pool, &order));
        assert!(s.is_indexed());
        pool[1].active = 1 << 23; // overhead 2^31: negative as int
        s.counts_changed(&DestSet::new(&pool, &order), DestId(1));
        assert!(!s.is_indexed());
        pool[1].active = 3;
        s.counts_changed(&DestSet::new(&pool, &order), DestId(1));
        assert!(s.is_indexed());
        // an id beyond the capacity
        pool.extend((3..6).map(|i| server(i, 1, 0, 0)));
        let order = [DestId(5), DestId(2), DestId(1), DestId(0)];
        s.add_dest(&DestSet::new(&pool, &order), DestId(5));
        assert!(!s.is_indexed());
        let order = [DestId(2), DestId(1), DestId(0)];
        s.del_dest(&DestSet::new(&pool, &order), DestId(5), 0);
        assert!(s.is_indexed());
    }

    #[test]
    fn ties_go_to_the_newest() {
        let pool: Vec<Dest> = (0..4).map(|i| server(i, 2, 1, 0)).collect();
        let order = [DestId(3), DestId(0), DestId(2), DestId(1)];
        let set = DestSet::new(&pool, &order);
        let req = tcp_req();
        let mut s = LcIndexed::<8>::new();
        s.init_service(&set);
        assert_eq!(s.schedule(&set, &req), Some(DestId(3)));
        let mut s = FoIndexed::<8>::new();
        s.init_service(&set);
        assert_eq!(s.schedule(&set, &req), Some(DestId(3)));
    }
}
