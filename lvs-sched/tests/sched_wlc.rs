//! wlc: hand-checked decisions against `ip_vs_wlc.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Wlc;

#[test]
fn overhead_per_weight() {
    let mut s = Svc::with_weights(Wlc::new(), &[1, 3]);
    s.set_counts(id('A'), 1, 0); // 256 / 1
    s.set_counts(id('B'), 2, 0); // 512 / 3
    assert_eq!(s.picks(1), "B");
}

#[test]
fn ties_go_to_the_first_listed() {
    let mut s = Svc::with_weights(Wlc::new(), &[1, 2]);
    s.set_counts(id('A'), 1, 0); // 256 / 1
    s.set_counts(id('B'), 2, 0); // 512 / 2
    assert_eq!(s.picks(1), "A");
}

#[test]
fn first_candidate_must_be_usable_and_later_weight_zero_never_wins() {
    let mut s = Svc::with_weights(Wlc::new(), &[0, 1, 0]);
    s.set_counts(id('B'), 10, 0);
    // A (weight 0) cannot start; C (weight 0, idle) cannot replace: 2560*0 > 0*1 is false
    assert_eq!(s.picks(1), "B");
}

#[test]
fn overloaded_are_skipped_and_all_unusable_is_none() {
    let mut s = Svc::with_weights(Wlc::new(), &[1, 1]);
    s.set_counts(id('B'), 3, 0);
    s.set_overload(id('A'), true);
    assert_eq!(s.picks(1), "B");
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "-");
    let mut s = Svc::with_weights(Wlc::new(), &[0, 0, 0]);
    assert_eq!(s.picks(1), "-");
}

#[test]
fn weights_3_1_with_new_connections() {
    let mut s = Svc::with_weights(Wlc::new(), &[3, 1]);
    assert_eq!(s.connects(10, false), "ABAAABAAAB");
}

#[test]
fn products_are_64_bit() {
    // 5_120_000 * 1000 > 25_600 * 65535 only in 64 bits (in 32 bits the sides swap)
    let mut s = Svc::with_weights(Wlc::new(), &[65535, 1000]);
    s.set_counts(id('A'), 20_000, 0);
    s.set_counts(id('B'), 100, 0);
    assert_eq!(s.picks(1), "B");
}

#[test]
fn inactive_connections_count_one_each() {
    let mut s = Svc::with_weights(Wlc::new(), &[2, 1]);
    s.set_counts(id('A'), 1, 0); // 256 / 2 = 128
    s.set_counts(id('B'), 0, 127); // 127 / 1
    assert_eq!(s.picks(1), "B");
    s.set_counts(id('B'), 0, 128); // tie → A
    assert_eq!(s.picks(1), "A");
}
