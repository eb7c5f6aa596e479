//! The index against the kernel's scan on random operation sequences, and its edge cases.

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

/// [`check`] for every rule on the same operations.
fn check_all(ops: &[Op]) -> Result<(), TestCaseError> {
    check::<LcRule>(ops)?;
    check::<WlcRule>(ops)?;
    check::<SedRule>(ops)?;
    check::<NqRule>(ops)?;
    check::<FoRule>(ops)?;
    check::<OvfRule>(ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_rule_matches_scan(ops in ops(false)) { check_all(&ops)?; }
    /// Counters and weights past `i32::MAX`: the fallback keeps decisions exact.
    #[test]
    fn extremes_match_scan(ops in ops(true)) { check_all(&ops)?; }
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
fn weight_above_65536_falls_back_to_the_scan() {
    let mut pool: Vec<Dest> = (0..3).map(|i| server(i, 1, 2, 0)).collect();
    let order = [DestId(0), DestId(1), DestId(2)];
    let req = tcp_req();
    for s_kind in [0, 1, 2] {
        let mut s = WlcIndexed::<4>::new();
        let mut t = SedIndexed::<4>::new();
        let mut u = NqIndexed::<4>::new();
        s.init_service(&DestSet::new(&pool, &order));
        t.init_service(&DestSet::new(&pool, &order));
        u.init_service(&DestSet::new(&pool, &order));
        for (w, indexed) in [(65536, true), (65537, false), (65536, true)] {
            pool[s_kind].weight = w;
            let set = DestSet::new(&pool, &order);
            s.upd_dest(&set, DestId(s_kind as u16));
            t.upd_dest(&set, DestId(s_kind as u16));
            u.upd_dest(&set, DestId(s_kind as u16));
            assert_eq!(s.is_indexed(), indexed, "wlc, weight {w}");
            assert_eq!(t.is_indexed(), indexed, "sed, weight {w}");
            assert_eq!(u.is_indexed(), indexed, "nq, weight {w}");
            assert_eq!(s.schedule(&set, &req), crate::wlc::pick(&set));
            assert_eq!(t.schedule(&set, &req), Some(DestId(s_kind as u16)));
            assert_eq!(u.schedule(&set, &req), Some(DestId(s_kind as u16)));
        }
        pool[s_kind].weight = 1;
    }
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// The scaled ratio orders as the kernel's cross products over the whole exact domain,
    /// near-equal fractions included (`b` is `a` nudged by one in cost or weight, or an equal fraction).
    #[test]
    fn ratio_orders_as_cross_products(
        c1 in prop_oneof![0i32..=i32::MAX, (i32::MAX - 70000)..=i32::MAX],
        w1 in prop_oneof![1i32..=65536, 65000i32..=65536],
        c2 in prop_oneof![0i32..=i32::MAX, (i32::MAX - 70000)..=i32::MAX],
        w2 in prop_oneof![1i32..=65536, 65000i32..=65536],
        nudge in 0u8..4,
    ) {
        let (c2, w2) = match nudge {
            0 => (c2, w2),
            1 => (c1.saturating_sub(1), w1),
            2 => (c1, (w1 - 1).max(1)),
            // an equal fraction
            _ => ((c1 / 2) * 2, w1.min(32768) * 2),
        };
        let (c1, w1) = match nudge {
            3 => (c1 / 2, w1.min(32768)),
            _ => (c1, w1),
        };
        let d1 = server(1, w1 as u32, 0, 0);
        let d2 = server(2, w2 as u32, 0, 0);
        let kernel = (i64::from(c1) * i64::from(w2)).cmp(&(i64::from(c2) * i64::from(w1)));
        prop_assert!(ratio_exact(&d1, c1) && ratio_exact(&d2, c2));
        prop_assert_eq!(ratio(c1, &d1).cmp(&ratio(c2, &d2)), kernel);
    }
}
