//! wrr: hand-checked decision sequences against `ip_vs_wrr.c` (the 3.10+ algorithm).
mod common;
use common::{id, Svc};
use lvs_sched::Wrr;

#[test]
fn weights_4_3_2_give_aababcabc() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 3, 2]);
    assert_eq!(
        (s.s.gcd(), s.s.max_weight(), s.s.current_weight()),
        (1, 4, 4)
    );
    assert_eq!(s.picks(18), "AABABCABCAABABCABC");
}

#[test]
fn equal_weights_are_plain_round_robin() {
    let mut s = Svc::with_weights(Wrr::new(), &[5, 5, 5]);
    // gcd 5: mw = 5 - 4 = 1, every pass has cw = 1
    assert_eq!((s.s.gcd(), s.s.max_weight()), (5, 1));
    assert_eq!(s.picks(6), "ABCABC");
}

#[test]
fn gcd_steps() {
    // di = 2, mw = 4 - 1 = 3: passes with cw = 3 (A) and cw = 1 (A, B)
    let mut s = Svc::with_weights(Wrr::new(), &[4, 2]);
    assert_eq!((s.s.gcd(), s.s.max_weight()), (2, 3));
    assert_eq!(s.picks(9), "AABAABAAB");
}

#[test]
fn all_weights_zero_gives_none() {
    let mut s = Svc::with_weights(Wrr::new(), &[0, 0]);
    assert_eq!(s.s.max_weight(), 0);
    assert_eq!(s.picks(3), "---");
    s.set_weight(id('B'), 2);
    assert_eq!(s.picks(3), "BBB");
}

#[test]
fn nothing_before_init_service_or_in_an_empty_service() {
    let mut s = Svc::new(Wrr::new());
    assert_eq!(s.picks(1), "-");
    s.add(3); // A: di 3, mw 1, and cw (0) becomes 1
    s.add(1); // B, listed first: di 1, mw 3, cw stays 1 (not > mw, not 0)
    assert_eq!(s.s.current_weight(), 1);
    // cw 1: B A | cw 3: A | cw 2: A | cw 1: B A | cw 3: A
    assert_eq!(s.picks(7), "BAAABAA");
}

#[test]
fn one_server_overloaded_is_skipped() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 3, 2]);
    s.set_overload(id('A'), true);
    assert_eq!(s.picks(10), "BBCBCBBCBC");
    s.set_overload(id('A'), false);
    // cl = C, cw = 1 → end, cw reset to 4: A
    assert_eq!(s.picks(9), "AABABCABC");
}

#[test]
fn all_overloaded_fails_and_parks_on_the_stop_server() {
    let mut s = Svc::with_weights(Wrr::new(), &[1, 1]);
    assert_eq!(s.picks(1), "A");
    s.set_overload(id('A'), true);
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "-");
    // err_over leaves cl on `stop`, which is `last` = A, and cw reset to mw
    assert_eq!(s.s.last(), Some(id('A')));
    assert_eq!(s.s.current_weight(), 1);
    s.set_overload(id('A'), false);
    assert_eq!(s.picks(2), "AA");
    s.set_overload(id('B'), false);
    assert_eq!(s.picks(2), "BA");
}

#[test]
fn failure_from_the_head_leaves_the_cursor_at_the_head() {
    let mut s = Svc::with_weights(Wrr::new(), &[2, 1]);
    s.set_overload(id('A'), true);
    s.set_overload(id('B'), true);
    assert_eq!(s.picks(1), "-");
    assert_eq!(s.s.last(), None);
    assert_eq!(s.s.current_weight(), 2);
}

#[test]
fn weight_edit_mid_cycle_resets_the_cursor_and_keeps_cw() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 3, 2]);
    assert_eq!(s.picks(3), "AAB"); // cl = B, cw = 3
    s.set_weight(id('C'), 5); // di 1, mw 5, cw stays 3, cl = head
    assert_eq!(s.s.last(), None);
    assert_eq!((s.s.max_weight(), s.s.current_weight()), (5, 3));
    // cw 3: A B C | cw 2: A B C | cw 1: A B C | cw 5: C | cw 4: A C | cw 3: A B C
    assert_eq!(s.picks(18), "ABCABCABCCACABCABC");
}

#[test]
fn weight_edit_with_gcd_rounds_cw() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 2]);
    assert_eq!(s.picks(1), "A"); // cw = 3
    s.set_weight(id('B'), 6); // di 2, mw 5, cw = (3 / 2) * 2 + 1 = 3
    assert_eq!(
        (s.s.gcd(), s.s.max_weight(), s.s.current_weight()),
        (2, 5, 3)
    );
    // cw 3: A B | cw 1: A B | cw 5: B | cw 3: A B | cw 1: A B | cw 5: B
    assert_eq!(s.picks(10), "ABABBABABB");
}

#[test]
fn edit_lowering_the_max_weight_below_cw_restarts_the_cycle() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 3, 2]);
    assert_eq!(s.picks(1), "A"); // cw = 4
    s.set_weight(id('A'), 1); // mw = 3 < cw: cw = 3
    assert_eq!(s.s.current_weight(), 3);
    assert_eq!(s.picks(6), "BBCABC");
}

#[test]
fn adding_resets_the_cursor_to_the_head() {
    let mut s = Svc::with_weights(Wrr::new(), &[2, 1]);
    assert_eq!(s.picks(2), "AA"); // cl = A, cw = 1 after the wrap... cw = 2 then 1
    let n = s.add(2); // C, listed first: C A B
    assert_eq!(n, id('C'));
    assert_eq!(s.s.last(), None);
    // cw 1: C A B | cw 2: C A | cw 1: C A B
    assert_eq!(s.picks(8), "CABCACAB");
}

#[test]
fn removing_the_last_chosen_server() {
    let mut s = Svc::with_weights(Wrr::new(), &[1, 1, 1]);
    assert_eq!(s.picks(2), "AB");
    s.del(id('B'));
    assert_eq!(s.s.last(), None);
    assert_eq!(s.picks(4), "ACAC");
}

#[test]
fn a_weight_zero_server_is_never_chosen() {
    let mut s = Svc::with_weights(Wrr::new(), &[0, 2, 0, 1]);
    assert_eq!(s.picks(6), "BBDBBD");
}
