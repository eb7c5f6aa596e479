//! sed: hand-checked decisions against `ip_vs_sed.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Sed;

#[test]
fn expected_delay_active_plus_one_over_weight() {
    let mut s = Svc::with_weights(Sed::new(), &[1, 2]);
    s.set_counts(id('B'), 1, 0); // A: 1/1, B: 2/2 → tie, first wins
    assert_eq!(s.picks(1), "A");
    s.set_weight(id('B'), 3); // B: 2/3
    assert_eq!(s.picks(1), "B");
}

#[test]
fn inactive_connections_are_ignored() {
    let mut s = Svc::with_weights(Sed::new(), &[1, 1]);
    s.set_counts(id('A'), 0, 10_000);
    s.set_counts(id('B'), 1, 0);
    assert_eq!(s.picks(1), "A");
}

#[test]
fn idle_servers_go_to_the_heaviest() {
    // all idle: 1/w, the largest weight wins (wlc would pick the first)
    let mut s = Svc::with_weights(Sed::new(), &[1, 2]);
    assert_eq!(s.picks(1), "B");
    // UDP: connections never become active, so B keeps winning
    assert_eq!(s.connects(5, false), "BBBBB");
}

#[test]
fn weights_1_2_with_active_connections() {
    let mut s = Svc::with_weights(Sed::new(), &[1, 2]);
    assert_eq!(s.connects(6, true), "BABBAB");
}

#[test]
fn quiesced_overloaded_and_empty() {
    let mut s = Svc::with_weights(Sed::new(), &[0, 1, 5]);
    s.set_overload(id('C'), true);
    assert_eq!(s.picks(1), "B");
    s.set_weight(id('B'), 0);
    assert_eq!(s.picks(1), "-");
}
