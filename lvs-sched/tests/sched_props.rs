//! Properties over random operation sequences, for every scheduler in this crate.
mod common;
use common::Svc;
use lvs_core::{Dest, DestId, DestSet, Scheduler};
use lvs_sched::random::SplitMix64;
use lvs_sched::{Fo, Lc, Nq, Ovf, Rr, Sed, Twos, Wlc, Wrr};
use proptest::prelude::*;

/// What a director does to a service.
#[derive(Debug, Clone)]
enum Op {
    Add(u32),
    Del(usize),
    Weight(usize, u32),
    Overload(usize, bool),
    Counts(usize, u32, u32),
    Connect(bool),
    Pick,
}

fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..=5, 1 => 0u32..=65535]
}

fn op(counts: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => weight().prop_map(Op::Add),
        1 => any::<usize>().prop_map(Op::Del),
        2 => (any::<usize>(), weight()).prop_map(|(i, w)| Op::Weight(i, w)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, o)| Op::Overload(i, o)),
        2 => (any::<usize>(), 0..=counts, 0..=counts).prop_map(|(i, a, n)| Op::Counts(i, a, n)),
        4 => any::<bool>().prop_map(Op::Connect),
        3 => Just(Op::Pick),
    ]
}

fn ops(counts: u32) -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(weight(), 0..6),
        prop::collection::vec(op(counts), 0..120),
    )
        .prop_map(|(init, mut ops)| {
            ops.splice(0..0, init.into_iter().map(Op::Add));
            ops
        })
}

/// Applies `ops`; after every decision calls `check(set, decision)`.
fn run<S: Scheduler>(
    s: S,
    ops: &[Op],
    mut check: impl FnMut(&DestSet<'_>, Option<DestId>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut svc = Svc::new(s);
    for op in ops {
        let listed = |svc: &Svc<S>, i: usize| {
            (!svc.order.is_empty()).then(|| svc.order[i % svc.order.len()])
        };
        match *op {
            Op::Add(w) => {
                if svc.pool.len() < 200 {
                    svc.add(w);
                }
            }
            Op::Del(i) => {
                if let Some(id) = listed(&svc, i) {
                    svc.del(id);
                }
            }
            Op::Weight(i, w) => {
                if let Some(id) = listed(&svc, i) {
                    svc.set_weight(id, w);
                }
            }
            Op::Overload(i, o) => {
                if let Some(id) = listed(&svc, i) {
                    svc.set_overload(id, o);
                }
            }
            Op::Counts(i, a, n) => {
                if let Some(id) = listed(&svc, i) {
                    svc.set_counts(id, a, n);
                }
            }
            Op::Connect(_) | Op::Pick => {
                let got = svc.pick();
                check(&svc.set(), got)?;
                if let (Op::Connect(active), Some(id)) = (op, got) {
                    let active = *active;
                    let d = svc.dest(id);
                    d.active = d.active.saturating_add(u32::from(active));
                    d.inactive = d.inactive.saturating_add(u32::from(!active));
                    let set = DestSet::new(&svc.pool, &svc.order);
                    svc.s.counts_changed(&set, id);
                }
            }
        }
    }
    Ok(())
}

fn usable(d: &Dest) -> bool {
    d.weight > 0 && !d.is_overloaded()
}

/// The decision is a listed server that passes `ok`, and is `None` only when none passes.
fn sound(
    ok: fn(&Dest) -> bool,
) -> impl FnMut(&DestSet<'_>, Option<DestId>) -> Result<(), TestCaseError> {
    move |set, got| {
        match got {
            Some(id) => {
                prop_assert!(set.position(id).is_some(), "{id} not listed");
                let d = set.get(id).unwrap();
                prop_assert!(ok(d), "{id} not eligible: {d:?}");
            }
            None => prop_assert!(
                set.iter().all(|(_, d)| !ok(d)),
                "None with an eligible server"
            ),
        }
        Ok(())
    }
}

fn ovf_ok(d: &Dest) -> bool {
    usable(d) && d.active <= d.weight
}

// Independent formulations of the stateless rules (valid while counters stay small, so no
// `int` wraps): the minimum or maximum by a key, ties to the earliest listed server.
fn argbest<K: Ord>(set: &DestSet<'_>, key: impl Fn(&Dest) -> Option<K>) -> Option<DestId> {
    let mut best: Option<(K, DestId)> = None;
    for (id, d) in set.iter() {
        if let Some(k) = key(d) {
            if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
                best = Some((k, id));
            }
        }
    }
    best.map(|(_, id)| id)
}

/// `num / den` as an exactly ordered fraction.
#[derive(PartialEq, Eq)]
struct Ratio(u64, u64);
impl PartialOrd for Ratio {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ratio {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        (u128::from(self.0) * u128::from(o.1)).cmp(&(u128::from(o.0) * u128::from(self.1)))
    }
}

fn reference(name: &str, set: &DestSet<'_>) -> Option<DestId> {
    let oh = |d: &Dest| u64::from(d.active) * 256 + u64::from(d.inactive);
    match name {
        "lc" => argbest(set, |d| usable(d).then(|| oh(d))),
        "wlc" => argbest(set, |d| usable(d).then(|| Ratio(oh(d), d.weight.into()))),
        "sed" => argbest(set, |d| {
            usable(d).then(|| Ratio(u64::from(d.active) + 1, d.weight.into()))
        }),
        "nq" => argbest(set, |d| {
            // an idle server wins outright, the first listed among idle ones
            usable(d).then(|| match d.active {
                0 => (false, Ratio(0, 1)),
                a => (true, Ratio(u64::from(a) + 1, d.weight.into())),
            })
        }),
        "fo" => argbest(set, |d| usable(d).then_some(core::cmp::Reverse(d.weight))),
        "ovf" => argbest(set, |d| ovf_ok(d).then_some(core::cmp::Reverse(d.weight))),
        _ => unreachable!(),
    }
}

/// One soundness property per scheduler, `test_name: scheduler, usable_check;`: over random
/// operations, every decision names a server the check accepts (or none when none does).
macro_rules! sound_tests {
    ($($name:ident: $sched:expr, $ok:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            $(
                #[test]
                fn $name(ops in ops(50)) { run($sched, &ops, sound($ok))?; }
            )*
        }
    };
}

sound_tests! {
    rr_sound: Rr::new(), usable;
    wrr_sound: Wrr::new(), usable;
    lc_sound: Lc::new(), usable;
    wlc_sound: Wlc::new(), usable;
    sed_sound: Sed::new(), usable;
    nq_sound: Nq::new(), usable;
    fo_sound: Fo::new(), usable;
    ovf_sound: Ovf::new(), ovf_ok;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn twos_sound(seed: u64, ops in ops(50)) { run(Twos::new(SplitMix64::new(seed)), &ops, sound(usable))?; }

    /// The kernel's scans equal the argmin/argmax formulation with list-order ties.
    #[test]
    fn stateless_match_reference(ops in ops(5000)) {
        macro_rules! cmp { ($s:expr, $n:literal) => {
            run($s, &ops, |set, got| { prop_assert_eq!(got, reference($n, set), $n); Ok(()) })?;
        } }
        cmp!(Lc::new(), "lc");
        cmp!(Wlc::new(), "wlc");
        cmp!(Sed::new(), "sed");
        cmp!(Nq::new(), "nq");
        cmp!(Fo::new(), "fo");
        cmp!(Ovf::new(), "ovf");
    }

    /// Over one full cycle (sum of weights / gcd decisions) every server gets weight / gcd.
    #[test]
    fn wrr_shares_equal_the_weights(weights in prop::collection::vec(1u32..=12, 1..7), skip in 0usize..40) {
        let mut svc = Svc::with_weights(Wrr::new(), &weights);
        let g = weights.iter().copied().fold(0, gcd);
        let cycle = (weights.iter().sum::<u32>() / g) as usize;
        for _ in 0..skip { svc.pick(); }
        for _ in 0..2 {
            let mut counts = vec![0u32; weights.len()];
            for _ in 0..cycle {
                counts[svc.pick().unwrap().index()] += 1;
            }
            let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
            prop_assert_eq!(counts, want);
        }
    }

    /// Extreme weights and counters (past `i32::MAX`): no panic, no hang, and any decision is
    /// a listed server without the OVERLOAD flag.
    #[test]
    fn extremes_never_panic(seed: u64, ws in prop::collection::vec(any::<u32>(), 0..8),
                            cs in prop::collection::vec((any::<u32>(), any::<u32>(), any::<bool>()), 8)) {
        let check = |set: &DestSet<'_>, got: Option<DestId>| {
            if let Some(id) = got {
                prop_assert!(set.position(id).is_some());
                prop_assert!(!set.get(id).unwrap().is_overloaded());
            }
            Ok(())
        };
        let mut ops: Vec<Op> = ws.iter().map(|&w| Op::Add(w)).collect();
        for (i, &(a, n, o)) in cs.iter().enumerate() {
            ops.push(Op::Counts(i, a, n));
            ops.push(Op::Overload(i, o));
            ops.push(Op::Pick);
            ops.push(Op::Pick);
        }
        run(Rr::new(), &ops, check)?;
        run(Wrr::new(), &ops, check)?;
        run(Lc::new(), &ops, check)?;
        run(Wlc::new(), &ops, check)?;
        run(Sed::new(), &ops, check)?;
        run(Nq::new(), &ops, check)?;
        run(Fo::new(), &ops, check)?;
        run(Ovf::new(), &ops, check)?;
        run(Twos::new(SplitMix64::new(seed)), &ops, check)?;
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A set whose `order` names ids outside the pool is read without panicking.
#[test]
fn malformed_sets_do_not_panic() {
    let pool = [Dest::with_counts(common::addr(0), 1, 0, 0)];
    let order = [DestId(7), DestId(0), DestId(9)];
    let set = DestSet::new(&pool, &order);
    let r = common::req();
    let mut all: Vec<Box<dyn FnMut() -> Option<DestId>>> = vec![];
    let mut rr = Rr::new();
    let mut wrr = Wrr::new();
    wrr.init_service(&set);
    let mut twos = Twos::new(SplitMix64::new(1));
    all.push(Box::new(move || rr.schedule(&set, &r)));
    all.push(Box::new(move || wrr.schedule(&set, &r)));
    all.push(Box::new(move || Lc.schedule(&set, &r)));
    all.push(Box::new(move || Wlc.schedule(&set, &r)));
    all.push(Box::new(move || Sed.schedule(&set, &r)));
    all.push(Box::new(move || Nq.schedule(&set, &r)));
    all.push(Box::new(move || Fo.schedule(&set, &r)));
    all.push(Box::new(move || Ovf.schedule(&set, &r)));
    all.push(Box::new(move || twos.schedule(&set, &r)));
    for f in &mut all {
        assert_eq!(f(), Some(DestId(0)));
        assert_eq!(f(), Some(DestId(0)));
    }
}
