//! twos: decisions for fed draws against `ip_vs_twos.c`.
mod common;
use common::{id, Svc};
use lvs_core::DestSet;
use lvs_sched::random::{Replay, SplitMix64};
use lvs_sched::Twos;

type T = Twos<SplitMix64>;

fn one(s: &Svc<Twos<Replay<'_>>>, r1: u32, r2: u32) -> char {
    common::letter(Twos::<Replay<'_>>::pick_with_draws(&s.set(), r1, r2))
}

#[test]
fn inclusive_range_gives_the_first_server_an_extra_chance() {
    // weights A2 B3 C1: total 6, draws in [0, 6]; A for 0..=2, B for 3..=5, C for 6
    let s = Svc::with_weights(Twos::new(Replay::new(&[])), &[2, 3, 1]);
    assert_eq!(T::draw_bound(&s.set()), Some(7));
    let map: String = (0..7).map(|r| one(&s, r, r)).collect();
    assert_eq!(map, "AAABBBC");
}

#[test]
fn equal_load_keeps_choice1_and_lighter_choice2_wins() {
    let mut s = Svc::with_weights(Twos::new(Replay::new(&[])), &[2, 3, 1]);
    assert_eq!(one(&s, 0, 3), 'A');
    assert_eq!(one(&s, 3, 0), 'B');
    s.set_counts(id('A'), 1, 0); // oh 256
                                 // choice1 A, choice2 B: 3*256 > 2*0 → B
    assert_eq!(one(&s, 0, 3), 'B');
    // choice1 B, choice2 A: 2*0 > 3*256 is false → B
    assert_eq!(one(&s, 3, 0), 'B');
    // weighted comparison: A oh 256 w2 vs C oh 100 w1: 1*256 > 2*100 → C
    s.set_counts(id('C'), 0, 100);
    assert_eq!(one(&s, 1, 6), 'C');
    s.set_counts(id('C'), 0, 128); // 256 > 256 false → A
    assert_eq!(one(&s, 1, 6), 'A');
}

#[test]
fn draws_r1_first_then_r2_through_the_source() {
    let pool_weights = [2, 3, 1];
    let draws = [6u32, 0, 4, 5];
    let mut s = Svc::with_weights(Twos::new(Replay::new(&draws)), &pool_weights);
    s.set_counts(id('A'), 0, 1); // A oh 1, C oh 0
                                 // decision 1: r1 = 6 → C, r2 = 0 → A; 2*0 > 1*1 false → C
                                 // decision 2: r1 = 4 → B, r2 = 5 → B → B
    assert_eq!(s.picks(2), "CB");
    assert_eq!(s.s.rng_mut().draws(), 4);
}

#[test]
fn skips_overloaded_and_quiesced() {
    let mut s = Svc::with_weights(Twos::new(Replay::new(&[])), &[2, 0, 3, 1]);
    s.set_overload(id('C'), true);
    // eligible: A2, D1: total 3; A for 0..=2, D for 3
    assert_eq!(T::draw_bound(&s.set()), Some(4));
    let map: String = (0..4).map(|r| one(&s, r, r)).collect();
    assert_eq!(map, "AAAD");
    s.set_overload(id('A'), true);
    s.set_overload(id('D'), true);
    assert_eq!(T::draw_bound(&s.set()), None);
    assert_eq!(s.picks(1), "-");
}

#[test]
fn product_is_a_wrapping_int() {
    // A: w 65535, oh 16384 << 8 = 4194304; B: w 65535, idle.
    // w2 * oh1 = 65535 * 4194304 wraps to -4194304 in 32 bits, not > 0: the loaded A stays.
    let mut s = Svc::with_weights(Twos::new(Replay::new(&[])), &[65535, 65535]);
    s.set_counts(id('A'), 16384, 0);
    assert_eq!(one(&s, 0, 65536), 'A');
    // with a smaller load the product does not wrap and B wins
    s.set_counts(id('A'), 1, 0);
    assert_eq!(one(&s, 0, 65536), 'B');
}

#[test]
fn every_pair_of_draws_on_equal_load() {
    // With equal load the result is choice1, so server shares are (w + [first]) / (total + 1).
    let s = Svc::with_weights(Twos::new(Replay::new(&[])), &[2, 3, 1]);
    let set: DestSet<'_> = s.set();
    let mut counts = [0u32; 3];
    for r1 in 0..7 {
        for r2 in 0..7 {
            let c = T::pick_with_draws(&set, r1, r2).unwrap();
            counts[c.index()] += 1;
        }
    }
    assert_eq!(counts, [3 * 7, 3 * 7, 7]);
}

#[test]
fn seeded_generator_is_deterministic_and_respects_eligibility() {
    let mut a = Svc::with_weights(Twos::new(SplitMix64::new(9)), &[1, 0, 2, 3]);
    let mut b = Svc::with_weights(Twos::new(SplitMix64::new(9)), &[1, 0, 2, 3]);
    a.set_overload(id('D'), true);
    b.set_overload(id('D'), true);
    let pa = a.connects(200, true);
    assert_eq!(pa, b.connects(200, true));
    assert!(!pa.contains('B') && !pa.contains('D') && !pa.contains('-'));
    // power of two choices keeps the load close to the 1:2 weights
    let (na, nc) = (a.dest(id('A')).active, a.dest(id('C')).active);
    assert_eq!(na + nc, 200);
    assert!((55..=80).contains(&na), "A got {na}");
}
