//! lc: hand-checked decisions against `ip_vs_lc.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Lc;

#[test]
fn least_overhead_wins_active_counts_256() {
    let mut s = Svc::with_weights(Lc::new(), &[1, 5]);
    s.set_counts(id('A'), 1, 0); // 256
    s.set_counts(id('B'), 0, 255); // 255
    assert_eq!(s.picks(1), "B");
    s.set_counts(id('B'), 0, 256); // tie: first in list
    assert_eq!(s.picks(1), "A");
}

#[test]
fn weight_is_ignored_except_zero() {
    let mut s = Svc::with_weights(Lc::new(), &[1, 100]);
    s.set_counts(id('A'), 0, 10);
    s.set_counts(id('B'), 0, 11);
    assert_eq!(s.picks(1), "A");
    s.set_weight(id('A'), 0);
    assert_eq!(s.picks(1), "B");
}

#[test]
fn overloaded_and_quiesced_are_skipped_even_when_idle() {
    let mut s = Svc::with_weights(Lc::new(), &[0, 1, 1]);
    s.set_counts(id('C'), 5, 5);
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "C");
    s.set_overload(id('C'), true);
    assert_eq!(s.picks(1), "-");
}

#[test]
fn empty_and_all_zero() {
    let mut s = Svc::with_weights(Lc::new(), &[]);
    assert_eq!(s.picks(1), "-");
    let mut s = Svc::with_weights(Lc::new(), &[0, 0]);
    assert_eq!(s.picks(1), "-");
}

#[test]
fn newest_server_wins_ties() {
    let mut s = Svc::new(Lc::new());
    s.add(1); // A
    s.add(1); // B, listed first
    s.add(1); // C, listed first
    assert_eq!(s.picks(1), "C");
}

#[test]
fn fills_servers_evenly_with_inactive_connections() {
    // every new connection adds 1 to inactive; ties go to the first listed
    let mut s = Svc::with_weights(Lc::new(), &[1, 1, 1]);
    assert_eq!(s.connects(7, false), "ABCABCA");
}

#[test]
fn overhead_is_an_unsigned_int_that_wraps() {
    // (1 << 24) << 8 wraps to 0 in 32 bits, as in the kernel
    let mut s = Svc::with_weights(Lc::new(), &[1, 1]);
    s.set_counts(id('A'), 1, 0);
    s.set_counts(id('B'), 1 << 24, 0);
    assert_eq!(s.picks(1), "B");
}
