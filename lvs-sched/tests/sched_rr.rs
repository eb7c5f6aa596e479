//! rr: hand-checked decision sequences against `ip_vs_rr.c`.
mod common;
use common::{id, Svc};
use lvs_sched::Rr;

#[test]
fn cycles_in_list_order() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    assert_eq!(s.picks(7), "ABCABCA");
}

#[test]
fn weights_only_matter_as_zero_or_not() {
    let mut s = Svc::with_weights(Rr::new(), &[5, 1, 100]);
    assert_eq!(s.picks(6), "ABCABC");
}

#[test]
fn skips_quiesced_and_overloaded() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 0, 1, 1]);
    s.set_overload(id('C'), true);
    assert_eq!(s.picks(4), "ADAD");
    s.set_overload(id('C'), false);
    assert_eq!(s.picks(4), "ACDA");
}

#[test]
fn all_weights_zero_or_overloaded_gives_none_and_keeps_the_cursor() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    assert_eq!(s.picks(2), "AB");
    s.set_weight(id('A'), 0);
    s.set_weight(id('B'), 0);
    s.set_overload(id('C'), true);
    assert_eq!(s.picks(2), "--");
    assert_eq!(s.s.cursor(), Some(id('B')));
    s.set_overload(id('C'), false);
    s.set_weight(id('A'), 1);
    s.set_weight(id('B'), 1);
    // resumes after B
    assert_eq!(s.picks(3), "CAB");
}

#[test]
fn the_cursor_itself_is_checked_last() {
    // Only A is usable: the second pass reaches A again.
    let mut s = Svc::with_weights(Rr::new(), &[1, 0, 0]);
    assert_eq!(s.picks(3), "AAA");
}

#[test]
fn removing_the_cursor_moves_it_to_the_predecessor() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1, 1]);
    assert_eq!(s.picks(2), "AB");
    s.del(id('B'));
    assert_eq!(s.s.cursor(), Some(id('A')));
    // list is A C D: continue after A
    assert_eq!(s.picks(4), "CDAC");
}

#[test]
fn removing_the_cursor_at_the_head_moves_it_to_the_list_head() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    assert_eq!(s.picks(1), "A");
    s.del(id('A'));
    assert_eq!(s.s.cursor(), None);
    assert_eq!(s.picks(3), "BCB");
}

#[test]
fn removing_another_server_keeps_the_cursor() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1, 1]);
    assert_eq!(s.picks(3), "ABC");
    s.del(id('A'));
    assert_eq!(s.s.cursor(), Some(id('C')));
    assert_eq!(s.picks(3), "DBC");
    s.del(id('D'));
    assert_eq!(s.picks(3), "BCB");
}

#[test]
fn adding_does_not_move_the_cursor() {
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    assert_eq!(s.picks(2), "AB");
    let n = s.add(1); // list: D A B C
    assert_eq!(n, id('D'));
    assert_eq!(s.s.cursor(), Some(id('B')));
    assert_eq!(s.picks(5), "CDABC");
}

#[test]
fn a_server_added_before_the_first_pick_is_first() {
    let mut s = Svc::new(Rr::new());
    assert_eq!(s.picks(1), "-");
    s.add(1); // A
    s.add(1); // B, listed first
    assert_eq!(s.picks(4), "BABA");
}

#[test]
fn director_order_of_callbacks_with_connections() {
    // rr ignores load entirely.
    let mut s = Svc::with_weights(Rr::new(), &[1, 3]);
    assert_eq!(s.connects(4, true), "ABAB");
    assert_eq!(s.dest(id('A')).active, 2);
    assert_eq!(s.dest(id('B')).active, 2);
}
