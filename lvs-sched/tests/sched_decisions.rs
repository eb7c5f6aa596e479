//! Hand-checked decisions of the list-walking schedulers against the kernel's `ip_vs_<name>.c`,
//! written as scripts over a service fixture (the script language is in `common::Svc::run`:
//! `?AB` expects the next decisions, `A=1/0` sets counters, `A!` overloads, `A:w5` edits a
//! weight, `+1` adds a server at the head of the list, `-B` removes one). Each case names the
//! kernel behaviour it pins.
mod common;
use common::{cases, id, Svc};
use lvs_sched::{Fo, Lc, Nq, Ovf, Rr, Sed, Wlc, Wrr};

#[test]
#[rustfmt::skip]
fn lc() {
    cases(Lc::new, &[
        // overhead = active << 8 | inactive: 256 vs 255, then a tie goes to the first listed
        ("least overhead wins, active counts 256", &[1, 5], "A=1/0 B=0/255 ?B B=0/256 ?A"),
        ("weight is ignored except zero", &[1, 100], "A=0/10 B=0/11 ?A A:w0 ?B"),
        ("overloaded and quiesced are skipped even when idle", &[0, 1, 1], "C=5/5 B! ?C C! ?-"),
        ("empty", &[], "?-"),
        ("all weight zero", &[0, 0], "?-"),
        ("the newest server wins ties", &[], "+1 +1 +1 ?C"),
        // every new connection adds 1 to inactive; ties go to the first listed
        ("fills servers evenly with inactive connections", &[1, 1, 1], "i?ABCABCA"),
        // (1 << 24) << 8 wraps to 0 in 32 bits, as in the kernel
        ("overhead is an unsigned int that wraps", &[1, 1], "A=1/0 B=16777216/0 ?B"),
    ]);
}

#[test]
#[rustfmt::skip]
fn wlc() {
    cases(Wlc::new, &[
        ("overhead per weight", &[1, 3], "A=1/0 B=2/0 ?B"), // 256/1 vs 512/3
        ("ties go to the first listed", &[1, 2], "A=1/0 B=2/0 ?A"), // 256/1 vs 512/2
        // A (weight 0) cannot start; C (weight 0, idle) cannot replace: 2560*0 > 0*1 is false
        ("later weight zero never wins", &[0, 1, 0], "B=10/0 ?B"),
        ("overloaded are skipped, none usable is none", &[1, 1], "B=3/0 A! ?B B! ?-"),
        ("all weight zero", &[0, 0, 0], "?-"),
        ("weights 3:1 with new connections", &[3, 1], "i?ABAAABAAAB"),
        // 5_120_000 * 1000 > 25_600 * 65535 only in 64 bits (in 32 bits the sides swap)
        ("products are 64-bit", &[65535, 1000], "A=20000/0 B=100/0 ?B"),
        // 256/2 = 128 vs 127/1, then a tie goes to A
        ("inactive connections count one each", &[2, 1], "A=1/0 B=0/127 ?B B=0/128 ?A"),
    ]);
}

#[test]
#[rustfmt::skip]
fn sed() {
    cases(Sed::new, &[
        // (active + 1) / weight: A 1/1, B 2/2 tie → first; then B 2/3
        ("expected delay", &[1, 2], "B=1/0 ?A B:w3 ?B"),
        ("inactive connections are ignored", &[1, 1], "A=0/10000 B=1/0 ?A"),
        // all idle: 1/w, the largest weight wins (wlc would pick the first); UDP never becomes
        // active, so B keeps winning
        ("idle servers go to the heaviest", &[1, 2], "?B i?BBBBB"),
        ("weights 1:2 with active connections", &[1, 2], "a?BABBAB"),
        ("quiesced, overloaded and none", &[0, 1, 5], "C! ?B B:w0 ?-"),
    ]);
}

#[test]
#[rustfmt::skip]
fn nq() {
    cases(Nq::new, &[
        ("the first idle server wins whatever its weight", &[100, 1, 1], "A=1/0 B=0/500 ?B"),
        // A idle but weight 0, B idle but overloaded, C busy, D idle
        ("idle but quiesced or overloaded is skipped", &[0, 1, 1, 1], "B! C=1/0 ?D"),
        // A 2/1 vs B 3/3; then B 6/3 = 2/1 ties and the first wins
        ("without idle servers the sed rule applies", &[1, 3], "A=1/0 B=2/0 ?B B=5/0 ?A"),
        // idle A, B, C in list order; then (a+1)/w: A 2/1, B 2/2, C 2/3 → C; C 3/3 vs B 2/2 → B
        ("fills every server once, then by expected delay", &[1, 2, 3], "a?ABCCBC"),
        ("UDP always takes the first usable server", &[1, 9], "i?AAAA"),
        ("nothing usable", &[0, 1], "B! ?-"),
    ]);
}

#[test]
#[rustfmt::skip]
fn fo() {
    cases(Fo::new, &[
        ("the first server with the highest weight", &[2, 5, 5], "a?BBB"),
        ("fails over when overloaded or quiesced", &[2, 5, 5], "B! ?C C:w0 ?A A! ?- B~ ?B"),
        ("load is ignored", &[3, 2], "A=1000000/1000000 ?A"),
        ("all weight zero", &[0, 0], "?-"),
        ("a newer server with equal weight takes over", &[4], "?A +4 ?B"),
    ]);
}

#[test]
#[rustfmt::skip]
fn ovf() {
    cases(Ovf::new, &[
        ("active equal to weight is still eligible", &[5, 3], "A=5/0 ?A A=6/0 ?B"),
        // B (w2) takes 3 (0, 1, 2 active ≤ 2), then A takes 2, then nobody
        ("overflows in weight order", &[1, 2], "a?BBBAA-"),
        // UDP never becomes active, so always the heaviest
        ("inactive connections are ignored", &[5, 1], "A=0/1000 ?A i?AAAAAAAAAAAAAAAAAAAA"),
        ("ties go to the first listed; skips", &[0, 3, 3, 4], "D! ?B B! C! ?-"),
    ]);
}

#[test]
#[rustfmt::skip]
fn rr() {
    cases(Rr::new, &[
        ("cycles in list order", &[1, 1, 1], "?ABCABCA"),
        ("weights only matter as zero or not", &[5, 1, 100], "?ABCABC"),
        ("skips quiesced and overloaded", &[1, 0, 1, 1], "C! ?ADAD C~ ?ACDA"),
        // only A is usable: the second pass reaches the cursor itself again
        ("the cursor itself is checked last", &[1, 0, 0], "?AAA"),
        ("a server added before the first pick is first", &[], "?- +1 +1 ?BABA"),
        ("load is ignored", &[1, 3], "a?ABAB"),
    ]);
}

#[test]
fn rr_keeps_or_repairs_its_cursor() {
    // nothing usable: no server, the cursor stays, and the walk resumes after it
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    s.run("?AB A:w0 B:w0 C! ?--");
    assert_eq!(s.s.cursor(), Some(id('B')));
    s.run("C~ A:w1 B:w1 ?CAB");
    // removing the cursor moves it to its predecessor (list A C D afterwards)
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1, 1]);
    s.run("?AB -B");
    assert_eq!(s.s.cursor(), Some(id('A')));
    s.run("?CDAC");
    // ... or to the list head when it was the head
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    s.run("?A -A");
    assert_eq!(s.s.cursor(), None);
    s.run("?BCB");
    // removing another server keeps it
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1, 1]);
    s.run("?ABC -A");
    assert_eq!(s.s.cursor(), Some(id('C')));
    s.run("?DBC -D ?BCB");
    // adding does not move it (list D A B C afterwards)
    let mut s = Svc::with_weights(Rr::new(), &[1, 1, 1]);
    s.run("?AB +1");
    assert_eq!(s.s.cursor(), Some(id('B')));
    s.run("?CDABC");
    // connections are counted where the director puts them
    let mut s = Svc::with_weights(Rr::new(), &[1, 3]);
    s.run("a?ABAB");
    assert_eq!((s.dest(id('A')).active, s.dest(id('B')).active), (2, 2));
}

/// The state `(gcd, max weight, current weight)` of a wrr service's scheduler.
fn wrr_state(s: &Svc<Wrr>) -> (i32, i32, i32) {
    (s.s.gcd(), s.s.max_weight(), s.s.current_weight())
}

#[test]
#[rustfmt::skip]
fn wrr() {
    cases(Wrr::new, &[
        ("weights 4:3:2 give AABABCABC", &[4, 3, 2], "?AABABCABCAABABCABC"),
        ("a weight-zero server is never chosen", &[0, 2, 0, 1], "?BBDBBD"),
        ("all weights zero give none until one is set", &[0, 0], "?--- B:w2 ?BBB"),
        // cl = C, cw = 1 → end of the pass, cw reset to 4: A
        ("an overloaded server is skipped", &[4, 3, 2], "A! ?BBCBCBBCBC A~ ?AABABCABC"),
        // mw = 3 < cw = 4 after the edit: cw = 3
        ("lowering the max weight below cw restarts", &[4, 3, 2], "?A A:w1 ?BBCABC"),
        ("removing the last chosen server", &[1, 1, 1], "?AB -B ?ACAC"),
    ]);
}

#[test]
fn wrr_state_follows_the_kernel() {
    let mut s = Svc::with_weights(Wrr::new(), &[4, 3, 2]);
    assert_eq!(wrr_state(&s), (1, 4, 4));
    // equal weights: gcd 5, mw = 5 - 4 = 1, every pass has cw = 1 (plain round robin)
    let mut e = Svc::with_weights(Wrr::new(), &[5, 5, 5]);
    assert_eq!((e.s.gcd(), e.s.max_weight()), (5, 1));
    e.run("?ABCABC");
    // gcd steps: di = 2, mw = 4 - 1 = 3: passes with cw = 3 (A) and cw = 1 (A, B)
    let mut g = Svc::with_weights(Wrr::new(), &[4, 2]);
    assert_eq!((g.s.gcd(), g.s.max_weight()), (2, 3));
    g.run("?AABAABAAB");
    // an edit mid-cycle resets the cursor and keeps cw: di 1, mw 5, cw stays 3, cl = head;
    // cw 3: A B C | cw 2: A B C | cw 1: A B C | cw 5: C | cw 4: A C | cw 3: A B C
    s.run("?AAB C:w5");
    assert_eq!(s.s.last(), None);
    assert_eq!((s.s.max_weight(), s.s.current_weight()), (5, 3));
    s.run("?ABCABCABCCACABCABC");
    // an edit with a gcd rounds cw: di 2, mw 5, cw = (3 / 2) * 2 + 1 = 3;
    // cw 3: A B | cw 1: A B | cw 5: B | cw 3: A B | cw 1: A B | cw 5: B
    let mut r = Svc::with_weights(Wrr::new(), &[4, 2]);
    r.run("?A B:w6");
    assert_eq!(wrr_state(&r), (2, 5, 3));
    r.run("?ABABBABABB");
}

#[test]
fn wrr_cursor_on_failure_and_changes() {
    // nothing before init_service or in an empty service; then A: di 3, mw 1, cw (0) becomes
    // 1; B listed first: di 1, mw 3, cw stays 1. cw 1: B A | cw 3: A | cw 2: A | cw 1: B A | cw 3: A
    let mut s = Svc::new(Wrr::new());
    s.run("?- +3 +1");
    assert_eq!(s.s.current_weight(), 1);
    s.run("?BAAABAA");
    // all overloaded: err_over parks cl on `stop` (= last = A) and resets cw to mw
    let mut s = Svc::with_weights(Wrr::new(), &[1, 1]);
    s.run("?A A! B! ?-");
    assert_eq!((s.s.last(), s.s.current_weight()), (Some(id('A')), 1));
    s.run("A~ ?AA B~ ?BA");
    // a failure from the head leaves the cursor at the head
    let mut s = Svc::with_weights(Wrr::new(), &[2, 1]);
    s.run("A! B! ?-");
    assert_eq!((s.s.last(), s.s.current_weight()), (None, 2));
    // adding resets the cursor to the head (C listed first: C A B);
    // cw 1: C A B | cw 2: C A | cw 1: C A B
    let mut s = Svc::with_weights(Wrr::new(), &[2, 1]);
    s.run("?AA +2");
    assert_eq!(s.s.last(), None);
    s.run("?CABCACAB");
}
