//! ovf: hand-checked decisions against `ip_vs_ovf.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Ovf;

#[test]
fn active_equal_to_weight_is_still_eligible() {
    let mut s = Svc::with_weights(Ovf::new(), &[5, 3]);
    s.set_counts(id('A'), 5, 0);
    assert_eq!(s.picks(1), "A");
    s.set_counts(id('A'), 6, 0);
    assert_eq!(s.picks(1), "B");
}

#[test]
fn overflows_in_weight_order() {
    let mut s = Svc::with_weights(Ovf::new(), &[1, 2]);
    // B (w2) takes 3 (0, 1, 2 active ≤ 2), then A takes 2, then nobody
    assert_eq!(s.connects(6, true), "BBBAA-");
}

#[test]
fn inactive_connections_are_ignored() {
    let mut s = Svc::with_weights(Ovf::new(), &[5, 1]);
    s.set_counts(id('A'), 0, 1000);
    assert_eq!(s.picks(1), "A");
    // UDP: never active, so always the heaviest
    assert_eq!(s.connects(20, false), "AAAAAAAAAAAAAAAAAAAA");
}

#[test]
fn ties_first_listed_and_skips() {
    let mut s = Svc::with_weights(Ovf::new(), &[0, 3, 3, 4]);
    s.set_overload(id('D'), true);
    assert_eq!(s.picks(1), "B");
    s.set_overload(id('B'), true);
    s.set_overload(id('C'), true);
    assert_eq!(s.picks(1), "-");
}
