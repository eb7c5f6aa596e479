//! Properties of the feedback controllers on random load reports.

use lvs_core::dest::DestFlags;
use lvs_core::{
    Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler,
};
use lvs_sched::feedback::{
    Classic, ClassicConfig, FreeMemory, Headroom, HeadroomConfig, LoadReport, Target,
    WeightController, MAX_WEIGHT,
};
use lvs_sched::p2c::{InFlight, P2c, P2cConfig};
use lvs_sched::random::SplitMix64;
use proptest::prelude::*;

fn report() -> impl Strategy<Value = LoadReport> {
    (
        prop_oneof![9 => Just(true), 1 => Just(false)],
        any::<u64>(),
        prop_oneof![3 => 1u64..=(1 << 24), 1 => any::<u64>()],
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(fresh, free_kb, total_kb, idle, run, blocked, swapped, active)| LoadReport {
                fresh,
                free_kb,
                total_kb,
                cpu_idle_permille: idle,
                run_queue: run,
                blocked,
                swapped,
                active_conns: active,
            },
        )
}

fn controllers() -> Vec<Box<dyn WeightController>> {
    vec![
        Box::new(FreeMemory::alternative1(3500)),
        Box::new(FreeMemory::alternative1(0)),
        Box::new(FreeMemory::alternative2(3500, 100)),
        Box::new(FreeMemory::alternative2(1, 0)),
        Box::new(Classic::<8>::new(ClassicConfig::DEFAULT)),
        Box::new(Classic::<8>::new({
            let mut c = ClassicConfig::DEFAULT;
            c.target = Target::Fixed(950);
            c.gain_permille = u32::MAX;
            c.scale = u32::MAX;
            c
        })),
        Box::new(Headroom::<8>::new(HeadroomConfig::DEFAULT)),
        Box::new(Headroom::<8>::new({
            let mut c = HeadroomConfig::DEFAULT;
            c.gain_permille = u32::MAX;
            c.max_step_permille = u32::MAX;
            c.range = u32::MAX;
            c.base = u32::MAX;
            c.mem_per_conn_kb = 0;
            c.min_conns = 0;
            c.smoothing_permille = 0;
            c.deadband_kb = 0;
            c
        })),
        Box::new(Headroom::<8>::new({
            let mut c = HeadroomConfig::DEFAULT;
            c.smoothing_permille = 300;
            c.deadband_kb = u32::MAX;
            c
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Weights stay within 0..=65535, reporting servers get at least 1, servers without a
    /// report keep their (capped) weight, and the weights are never all zero.
    #[test]
    fn weights_in_range_and_never_starved(
        rounds in prop::collection::vec(prop::collection::vec(report(), 1..=8), 1..6),
        init in prop::collection::vec(prop_oneof![0u32..=3, 0u32..=70_000], 8),
    ) {
        for mut c in controllers() {
            let n = rounds[0].len();
            let mut w: Vec<u32> = init[..n].to_vec();
            for r in &rounds {
                let mut r = r.clone();
                r.resize(n, LoadReport::MISSING);
                let before = w.clone();
                let changed = c.update(&r, &mut w).unwrap();
                prop_assert!(changed <= n);
                prop_assert!(w.iter().any(|&x| x > 0), "{} all zero", c.name());
                for i in 0..n {
                    prop_assert!(w[i] <= MAX_WEIGHT);
                    if r[i].fresh {
                        prop_assert!(w[i] >= 1, "{} starved a reporting server", c.name());
                    } else if before.iter().any(|&x| x > 0) || w[i] != 1 {
                        prop_assert_eq!(w[i], before[i].min(MAX_WEIGHT));
                    }
                }
            }
        }
    }

    /// With two otherwise identical servers, the one with more free memory never ends with a
    /// lower weight than the other from equal weights (alternative 2, lvs-dfb and headroom;
    /// alternative 1 is exempt: its published formula gives less than one connection's worth of
    /// extra memory a weight below the fullest server's).
    #[test]
    fn freer_server_gets_no_less(
        total in 1024u64..=(1 << 22),
        a in 0u64..=1000, b in 0u64..=1000,
        active in 0u32..200,
        start in 1u32..=1000,
    ) {
        let (fa, fb) = (total * a / 1000, total * b / 1000);
        let reports = [LoadReport::new(fa, total).with_conns(active), LoadReport::new(fb, total).with_conns(active)];
        let mut cs: Vec<Box<dyn WeightController>> = vec![
            Box::new(FreeMemory::alternative2(3500, 100)),
            Box::new(Classic::<2>::new(ClassicConfig::DEFAULT)),
            Box::new(Headroom::<2>::new(HeadroomConfig::DEFAULT)),
        ];
        for c in cs.iter_mut() {
            let mut w = [start, start];
            for _ in 0..3 {
                c.update(&reports, &mut w).unwrap();
            }
            if fa > fb {
                prop_assert!(w[0] >= w[1], "{} {:?}", c.name(), w);
            } else if fb > fa {
                prop_assert!(w[1] >= w[0], "{} {:?}", c.name(), w);
            }
        }
    }

    /// Mismatched lengths are refused and change nothing.
    #[test]
    fn length_mismatch_changes_nothing(r in prop::collection::vec(report(), 0..4), mut w in prop::collection::vec(any::<u32>(), 0..4)) {
        prop_assume!(r.len() != w.len());
        let before = w.clone();
        for mut c in controllers() {
            prop_assert!(c.update(&r, &mut w).is_err());
            prop_assert_eq!(&w, &before);
        }
    }

    /// p2c on any reports, servers, settings and clock: it picks an eligible server (weight
    /// above 0, not overloaded) whenever there is one, never any other, and `None` only when
    /// there is none; the same seed gives the same picks.
    #[test]
    fn p2c_picks_only_eligible_servers(
        servers in prop::collection::vec((prop_oneof![0u32..=3, any::<u32>()], any::<bool>(), any::<u32>(), any::<u32>()), 0..8),
        rounds in prop::collection::vec((prop::collection::vec(report(), 0..=8), prop::collection::vec(any::<u16>(), 1..20)), 1..5),
        cost in prop_oneof![Just(0u32), 1u32..5000, Just(u32::MAX)],
        window in prop_oneof![Just(None), Just(Some(0u32)), Just(Some(u32::MAX)), (1u32..1000).prop_map(Some)],
        distinct in any::<bool>(),
        smoothing in prop_oneof![Just(0u32), 1u32..=1000, Just(u32::MAX)],
        seed in any::<u64>(),
    ) {
        let pool: Vec<Dest> = servers
            .iter()
            .enumerate()
            .map(|(i, &(w, over, active, inactive))| {
                let mut d = Dest::with_counts(Endpoint::v4([198, 18, 1, i as u8 + 1], 80), w, active, inactive);
                d.set_flag(DestFlags::OVERLOAD, over);
                d
            })
            .collect();
        let order: Vec<DestId> = (0..pool.len() as u16).rev().map(DestId).collect();
        let set = DestSet::new(&pool, &order);
        let eligible = |id: DestId| {
            let d = &pool[id.index()];
            d.weight > 0 && d.weight <= i32::MAX as u32 && !d.is_overloaded()
        };
        let any_eligible = order.iter().any(|&id| eligible(id));
        let mut cfg = P2cConfig::DEFAULT;
        cfg.conn_cost_kb = cost;
        cfg.distinct = distinct;
        cfg.in_flight = match window {
            None => InFlight::Scheduled,
            Some(w) => InFlight::Window { window_ms: w },
        };
        cfg.smoothing_permille = smoothing;
        let run = || -> Result<Vec<Option<DestId>>, TestCaseError> {
            // 6 slots of state for up to 8 servers: the last ones schedule without reports
            let mut p = P2c::<_, 6>::new(SplitMix64::new(seed), cfg);
            let mut picks = Vec::new();
            for (reports, times) in &rounds {
                let fit = p.set_reports(reports);
                prop_assert_eq!(fit.is_err(), reports.len() > 6);
                for &t in times {
                    let req = SchedRequest {
                        flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
                        now: Instant::from_millis(u64::from(t)),
                    };
                    let pick = p.schedule(&set, &req);
                    match pick {
                        Some(id) => prop_assert!(eligible(id), "picked {:?}", id),
                        None => prop_assert!(!any_eligible),
                    }
                    picks.push(pick);
                }
            }
            Ok(picks)
        };
        prop_assert_eq!(run()?, run()?);
    }
}
