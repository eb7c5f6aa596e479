//! Controller tests.

use super::*;

pub(super) const MB: u64 = 1024;

pub(super) fn two(free_a: u64, free_b: u64) -> [LoadReport; 2] {
    [
        LoadReport::new(free_a * MB, 128 * MB).with_conns(20),
        LoadReport::new(free_b * MB, 128 * MB).with_conns(20),
    ]
}

#[test]
pub(super) fn cube_root() {
    assert_eq!(cbrt_permille(0), 0);
    assert_eq!(cbrt_permille(1000), 1000);
    assert_eq!(cbrt_permille(-1000), -1000);
    assert_eq!(cbrt_permille(125), 500);
    assert_eq!(cbrt_permille(-8), -200);
    assert_eq!(cbrt_permille(i32::MIN), -1000);
    assert_eq!(cbrt_permille(1), 100);
    // monotone
    let mut last = -1001;
    for x in -1000..=1000 {
        let y = cbrt_permille(x);
        assert!(y >= last);
        last = y;
    }
}

#[test]
pub(super) fn alternative1_as_published() {
    let mut c = FreeMemory::alternative1(3500);
    let mut w = [1, 1];
    // 35 MB = 35840 KiB more on B: 35840/3500 = 10.24 connections -> 10240
    assert_eq!(c.update(&two(20, 55), &mut w), Ok(2));
    assert_eq!(w, [1000, 10240]);
    // the published discontinuity: 1 MB more gets less than the fullest server
    c.update(&two(20, 21), &mut w).unwrap();
    assert_eq!(w, [1000, 292]);
    // equal memory: both are "the least", both 1000
    c.update(&two(30, 30), &mut w).unwrap();
    assert_eq!(w, [1000, 1000]);
    // a huge gap is capped
    c.update(
        &[
            LoadReport::new(0, 1 << 30),
            LoadReport::new(1 << 30, 1 << 30),
        ],
        &mut w,
    )
    .unwrap();
    assert_eq!(w, [1000, MAX_WEIGHT]);
}

#[test]
pub(super) fn alternative2_damps_with_k() {
    let mut w = [1, 1];
    FreeMemory::alternative2(3500, 1)
        .update(&two(20, 55), &mut w)
        .unwrap();
    assert_eq!(w, [1000, 11240]);
    FreeMemory::alternative2(3500, 100)
        .update(&two(20, 55), &mut w)
        .unwrap();
    assert_eq!(w, [1000, 1102]);
    let mut big = FreeMemory::alternative2(3500, 2000);
    big.update(&two(20, 55), &mut w).unwrap();
    assert_eq!(w, [1000, 1005]);
    assert_eq!(big.name(), "alt2");
    assert_eq!(big.k(), Some(2000));
    // the freer server never gets less than the fuller one
    for d in 0..200u64 {
        assert!(big.proposal(d * 100) >= FreeMemory::SCALE);
    }
}

#[test]
pub(super) fn missing_reports_keep_weights_and_never_all_zero() {
    let mut c = FreeMemory::alternative1(3500);
    let mut w = [7, 0];
    let r = [LoadReport::MISSING, LoadReport::new(10 * MB, 128 * MB)];
    c.update(&r, &mut w).unwrap();
    assert_eq!(w, [7, 1000]);
    let mut w = [0, 0, 0];
    assert_eq!(c.update(&[LoadReport::MISSING; 3], &mut w), Ok(3));
    assert_eq!(w, [1, 1, 1]);
    let mut w = [70_000];
    c.update(&[LoadReport::MISSING], &mut w).unwrap();
    assert_eq!(w, [MAX_WEIGHT]);
}

#[test]
pub(super) fn length_and_capacity_errors_change_nothing() {
    let mut w = [5, 5];
    let r = two(1, 2);
    assert_eq!(
        FreeMemory::alternative1(3500).update(&r[..1], &mut w),
        Err(FeedbackError::LengthMismatch)
    );
    let mut small = Classic::<1>::new(ClassicConfig::DEFAULT);
    assert_eq!(small.update(&r, &mut w), Err(FeedbackError::TooManyServers));
    let mut h = Headroom::<1>::new(HeadroomConfig::DEFAULT);
    assert_eq!(h.update(&r, &mut w), Err(FeedbackError::TooManyServers));
    assert_eq!(w, [5, 5]);
}

#[test]
pub(super) fn classic_moves_toward_balance() {
    let mut c = Classic::<4>::new(ClassicConfig::DEFAULT);
    let mut w = [100, 100];
    // A is heavily loaded (little memory, busy CPU, long run queue), B idle
    let busy = LoadReport::new(5 * MB, 128 * MB)
        .with_cpu_idle(50)
        .with_procs(12, 4, 2)
        .with_conns(200);
    let idle = LoadReport::new(100 * MB, 128 * MB)
        .with_cpu_idle(900)
        .with_conns(20);
    assert!(c.aggregate_load(&busy) > c.aggregate_load(&idle));
    c.update(&[busy, idle], &mut w).unwrap();
    assert!(w[0] < 100 && w[1] > 100, "{w:?}");
    // repeated, the busy one falls to the floor and the idle one to SCALE x base
    for _ in 0..100 {
        c.update(&[busy, idle], &mut w).unwrap();
    }
    assert_eq!(w, [1, 1000]);
    // equal loads: no change (the error is zero)
    let mut w2 = [100, 100];
    let mut c2 = Classic::<2>::new(ClassicConfig::DEFAULT);
    assert_eq!(c2.update(&[idle, idle], &mut w2), Ok(0));
}

#[test]
pub(super) fn classic_fixed_target_and_threshold() {
    let cfg = ClassicConfig {
        target: Target::Fixed(950),
        ..ClassicConfig::DEFAULT
    };
    let mut c = Classic::<2>::new(cfg);
    let mut w = [10, 10];
    let idle = LoadReport::new(100 * MB, 128 * MB);
    // both below 95%: both grow, bounded by SCALE x base = 100
    for _ in 0..200 {
        c.update(&[idle, idle], &mut w).unwrap();
    }
    assert_eq!(w, [100, 100]);
    // an outside edit wins and becomes the new starting point (not the base)
    w[0] = 50;
    let full = LoadReport::new(0, 128 * MB)
        .with_cpu_idle(0)
        .with_procs(100, 100, 100)
        .with_conns(10_000);
    c.update(&[full, idle], &mut w).unwrap();
    assert!(w[0] < 50, "{w:?}");
    // a tiny error is below the threshold: nothing moves
    let cfg = ClassicConfig {
        target: Target::Fixed(0),
        threshold_permille: 1000,
        gain_permille: 10,
        ..ClassicConfig::DEFAULT
    };
    let mut c = Classic::<2>::new(cfg);
    let mut w = [10, 10];
    assert_eq!(c.update(&[idle, idle], &mut w), Ok(0));
}

#[test]
pub(super) fn classic_set_base_bounds_weight() {
    let cfg = ClassicConfig {
        target: Target::Fixed(950),
        gain_permille: 1000,
        ..ClassicConfig::DEFAULT
    };
    let mut c = Classic::<2>::new(cfg);
    c.set_base(0, 3);
    c.set_base(9, 3); // ignored
    let mut w = [10, 10];
    let idle = LoadReport::new(100 * MB, 128 * MB);
    for _ in 0..100 {
        c.update(&[idle, idle], &mut w).unwrap();
    }
    assert_eq!(w, [30, 100]);
    c.reset();
}

#[test]
pub(super) fn headroom_shifts_weight_to_the_freer_server() {
    let mut h = Headroom::<2>::new(HeadroomConfig::DEFAULT);
    let mut w = [1, 1];
    h.update(&two(20, 55), &mut w).unwrap();
    assert!(w[1] > w[0], "{w:?}");
    assert!(w[0] >= 1 && w[1] <= MAX_WEIGHT);
    // the step is bounded: at most 2% each way per update
    assert_eq!(w, [980, 1020]);
    // it integrates: the same gap keeps pushing
    let before = w;
    h.update(&two(20, 55), &mut w).unwrap();
    assert!(w[1] > before[1] && w[0] < before[0], "{w:?}");
    // and stays within range (base / 4 ..= base * 4, renormalised to the mean)
    for _ in 0..1000 {
        h.update(&two(20, 55), &mut w).unwrap();
    }
    assert!(w[0] >= 1000 / 4 && w[1] <= 4 * 1000, "{w:?}");
    assert!(w[1] >= 3 * w[0], "{w:?}");
    // balance reached: a zero gap leaves the weights where they are
    let mut h2 = Headroom::<2>::new(HeadroomConfig::DEFAULT);
    let mut w2 = [1000, 1000];
    assert_eq!(h2.update(&two(40, 40), &mut w2), Ok(0));
    assert_eq!(h2.headroom(0), Some(40 * 1024));
    assert_eq!(h2.headroom(5), None);
}

#[test]
pub(super) fn headroom_deadband_ignores_small_gaps_and_shrinks_large_ones() {
    let cfg = HeadroomConfig {
        deadband_kb: 4 * 1024,
        max_step_permille: 1000,
        ..HeadroomConfig::DEFAULT
    };
    let mut h = Headroom::<2>::new(cfg);
    let mut w = [1000, 1000];
    // a 6 MB gap is 3 MB from the mean on each side: inside the 4 MB band
    assert_eq!(h.update(&two(40, 46), &mut w), Ok(0));
    assert_eq!(w, [1000, 1000]);
    // a 20 MB gap: 10 MB from the mean, 6 MB beyond the band; without the band it moves more
    h.update(&two(40, 60), &mut w).unwrap();
    let mut plain = Headroom::<2>::new(HeadroomConfig {
        deadband_kb: 0,
        ..cfg
    });
    let mut wp = [1000, 1000];
    plain.update(&two(40, 60), &mut wp).unwrap();
    assert!(w[1] > w[0], "{w:?}");
    assert!(wp[1] - wp[0] > w[1] - w[0], "{wp:?} {w:?}");
}

#[test]
pub(super) fn headroom_counts_swapped_processes_as_missing_memory() {
    let mut h = Headroom::<2>::new(HeadroomConfig::DEFAULT);
    let mut w = [1000, 1000];
    // both at the swap watermark, but A has 6 processes swapped out
    let a = LoadReport::new(2 * MB, 128 * MB)
        .with_procs(3, 2, 6)
        .with_conns(20);
    let b = LoadReport::new(2 * MB, 128 * MB)
        .with_procs(3, 0, 0)
        .with_conns(20);
    h.update(&[a, b], &mut w).unwrap();
    assert!(w[0] < w[1], "{w:?}");
}

#[test]
pub(super) fn headroom_floors_a_failing_server_at_one() {
    let cfg = HeadroomConfig {
        range: 100_000,
        max_step_permille: 100_000,
        gain_permille: 100_000,
        ..HeadroomConfig::DEFAULT
    };
    let mut h = Headroom::<2>::new(cfg);
    let mut w = [1000, 1000];
    // A is stuck on I/O with everything swapped out
    let a = LoadReport::new(0, 128 * MB)
        .with_procs(0, 50, 50)
        .with_conns(1);
    let b = LoadReport::new(120 * MB, 128 * MB).with_conns(1);
    for _ in 0..20 {
        h.update(&[a, b], &mut w).unwrap();
        assert!(w[0] >= 1 && w[1] >= 1, "{w:?}");
    }
    assert_eq!(w[0], 1);
}
