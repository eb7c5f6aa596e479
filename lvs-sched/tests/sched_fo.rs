//! fo: hand-checked decisions against `ip_vs_fo.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Fo;

#[test]
fn first_server_with_the_highest_weight() {
    let mut s = Svc::with_weights(Fo::new(), &[2, 5, 5]);
    assert_eq!(s.connects(3, true), "BBB");
}

#[test]
fn fails_over_when_overloaded_or_quiesced() {
    let mut s = Svc::with_weights(Fo::new(), &[2, 5, 5]);
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "C");
    s.set_weight(id('C'), 0);
    assert_eq!(s.picks(1), "A");
    s.set_overload(id('A'), true);
    assert_eq!(s.picks(1), "-");
    s.set_overload(id('B'), false);
    assert_eq!(s.picks(1), "B");
}

#[test]
fn load_is_ignored() {
    let mut s = Svc::with_weights(Fo::new(), &[3, 2]);
    s.set_counts(id('A'), 1_000_000, 1_000_000);
    assert_eq!(s.picks(1), "A");
}

#[test]
fn all_weight_zero() {
    let mut s = Svc::with_weights(Fo::new(), &[0, 0]);
    assert_eq!(s.picks(1), "-");
}

#[test]
fn a_newer_server_with_equal_weight_takes_over() {
    let mut s = Svc::with_weights(Fo::new(), &[4]);
    assert_eq!(s.picks(1), "A");
    s.add(4); // B, listed first
    assert_eq!(s.picks(1), "B");
}
