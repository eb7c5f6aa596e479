//! mh tests.

use super::*;
use lvs_core::hash::siphash;
use lvs_core::{Endpoint, Ipv4Addr};
use std::vec::Vec;

/// The population as the kernel writes it: a plain walk over a table of list positions.
pub(super) fn reference(setup: &[(u32, u32, u32)], m: u32) -> Vec<u16> {
    let mut table = std::vec![FREE; m as usize];
    let mut perm: Vec<u32> = setup.iter().map(|s| s.0).collect();
    let mut filled = 0;
    loop {
        for (pos, &(_, skip, turns)) in setup.iter().enumerate() {
            for _ in 0..turns {
                let mut c = perm[pos];
                while table[c as usize] != FREE {
                    c = add_mod(c, skip, m);
                }
                table[c as usize] = pos as u16;
                perm[pos] = c;
                filled += 1;
                if filled == m {
                    return table;
                }
            }
        }
    }
}

#[test]
pub(super) fn hsiphash_u32_is_siphash13_of_the_four_bytes() {
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..1000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let key = SipKey(x, x.rotate_left(29));
        let v = (x >> 17) as u32;
        assert_eq!(
            hsiphash_u32(key, v),
            siphash::<1, 3>(key, &v.to_le_bytes()) as u32
        );
    }
}

#[test]
pub(super) fn fast_population_is_the_kernel_walk() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (m, n) in [
        (251, 3),
        (251, 250),
        (4093, 40),
        (4093, 1000),
        (65537, 1000),
        (65521, 7),
        // past the 1024 cached cursors
        (65521, 1500),
        // each side of the per-server array's sizes and each bitmap size
        (1021, 16),
        (1021, 17),
        (8191, 64),
        (8191, 65),
        (16381, 256),
        (32749, 257),
        (65521, 1024),
        (65537, 1025),
    ] {
        for round in 0..3 {
            let pool: Vec<Dest> = (0..n)
                .map(|_| {
                    let a = Endpoint::new(Ipv4Addr::from_bits(rnd() as u32).into(), 80);
                    let w = if round == 0 {
                        1
                    } else {
                        1 + (rnd() % 20) as u32
                    };
                    Dest::with_counts(a, w, 0, 0)
                })
                .collect();
            let order: Vec<DestId> = (0..n as u16).rev().map(DestId).collect();
            let set = DestSet::new(&pool, &order);
            let mut mh =
                std::boxed::Box::new(Mh::<65537>::with_table_size(m, false, false).unwrap());
            mh.init_service(&set);
            let ctx = Ctx {
                order: &order,
                dests: &set,
                m,
                gcd: mh.gcd,
                rshift: mh.rshift,
            };
            let setup: Vec<(u32, u32, u32)> = order
                .iter()
                .map(|&id| {
                    let d = set.get(id);
                    let (o, s) = ctx.perm_of(d);
                    (o, s, ctx.turns_of(d))
                })
                .collect();
            let want = reference(&setup, m);
            let got: Vec<u16> = mh
                .slots()
                .unwrap()
                .iter()
                .map(|id| order.iter().position(|o| o == id).unwrap() as u16)
                .collect();
            assert!(want == got, "m {m}, n {n}, round {round}");
        }
    }
}
