//! nq: hand-checked decisions against `ip_vs_nq.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Nq;

#[test]
fn first_idle_server_wins_whatever_its_weight() {
    let mut s = Svc::with_weights(Nq::new(), &[100, 1, 1]);
    s.set_counts(id('A'), 1, 0);
    s.set_counts(id('B'), 0, 500); // idle: inactive does not count
    assert_eq!(s.picks(1), "B");
}

#[test]
fn idle_but_quiesced_or_overloaded_is_skipped() {
    let mut s = Svc::with_weights(Nq::new(), &[0, 1, 1, 1]);
    s.set_overload(id('B'), true);
    s.set_counts(id('C'), 1, 0);
    // A idle but weight 0, B idle but overloaded, C busy, D idle
    assert_eq!(s.picks(1), "D");
}

#[test]
fn without_idle_servers_the_sed_rule_applies() {
    let mut s = Svc::with_weights(Nq::new(), &[1, 3]);
    s.set_counts(id('A'), 1, 0); // 2/1
    s.set_counts(id('B'), 2, 0); // 3/3
    assert_eq!(s.picks(1), "B");
    s.set_counts(id('B'), 5, 0); // 6/3 = 2/1 tie: first
    assert_eq!(s.picks(1), "A");
}

#[test]
fn fills_every_server_once_then_by_expected_delay() {
    let mut s = Svc::with_weights(Nq::new(), &[1, 2, 3]);
    // idle A, B, C in list order; then (a+1)/w: A 2/1, B 2/2, C 2/3 → C; C 3/3 vs B 2/2 → B...
    assert_eq!(s.connects(6, true), "ABCCBC");
}

#[test]
fn udp_always_takes_the_first_usable_server() {
    let mut s = Svc::with_weights(Nq::new(), &[1, 9]);
    assert_eq!(s.connects(4, false), "AAAA");
}

#[test]
fn nothing_usable() {
    let mut s = Svc::with_weights(Nq::new(), &[0, 1]);
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "-");
}
