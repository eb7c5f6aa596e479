//! Maglev lookup-table builds: group `maglev/build_1000`, 1000 backends into M = 65537 slots
//! (the paper's size), lvs's `mh` scheduler (the kernel's `ip_vs_mh` population, exact)
//! beside the Maglev crates a user would pick instead: `maglev-hash` 0.1.0 and `maglev` 0.2.1.
//! The three hash backends differently (so their tables differ); each builds a full table of
//! the same size for the same number of equally weighted backends.
//!
//! `maglev` 0.2.1 materialises every backend's whole permutation (1000 × 65537 `usize`s,
//! 500 MiB) before filling the table; it is timed with fewer samples.
//!
//! `LVS_MAGLEV_PROFILE=<builds>`: after the checks, run that many `lvs` builds in a plain loop
//! instead of criterion, for
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profile_builds*'`
//! (instructions per build = the function's inclusive count / builds); it prints the wall and
//! thread CPU time per build. `LVS_MAGLEV_PROFILE_SERVICE=<servers>x<M>` (e.g. `3x251`,
//! `64x4093`) profiles a service of that size instead of 1000 × 65537.
//!
//! `LVS_BENCH_CPU_TIME=1`: criterion measures the thread's CPU time instead of wall time (see
//! `benches/clock.rs`), which leaves out the waits of a shared machine.

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../clock.rs"]
mod clock;
use clock::BenchClock;
use lvs_core::{Dest, DestId, DestSet, Endpoint, Ipv4Addr, Scheduler};
use lvs_sched::mh::Mh;
use std::hint::black_box;
use std::time::Duration;

const BACKENDS: usize = 1000;
const M: usize = 65537;

fn pool() -> (Vec<Dest>, Vec<DestId>) {
    pool_of(BACKENDS)
}

fn pool_of(backends: usize) -> (Vec<Dest>, Vec<DestId>) {
    let pool = (0..backends)
        .map(|i| {
            let addr = Endpoint::new(Ipv4Addr::from_bits(0x0A00_0000 + i as u32).into(), 80);
            Dest::with_counts(addr, 1, 0, 0)
        })
        .collect();
    let order = (0..backends as u16).rev().map(DestId).collect();
    (pool, order)
}

/// `LVS_MAGLEV_PROFILE`: `builds` table builds.
#[inline(never)]
fn profile_builds(mh: &mut Mh<65537>, set: &DestSet<'_>, builds: usize) -> DestId {
    let mut last = DestId(0);
    for _ in 0..builds {
        mh.init_service(black_box(set));
        last = black_box(mh.slot(0)).unwrap_or(last);
    }
    last
}

fn bench(c: &mut Criterion<BenchClock>) {
    let (pool, order) = pool();
    let set = DestSet::new(&pool, &order);
    let names: Vec<String> = (0..BACKENDS).map(|i| format!("backend-{i}")).collect();

    // sanity: every slot is assigned and the split is fair
    let mut mh = Box::new(Mh::<65537>::with_table_size(M as u32, false, false).unwrap());
    mh.init_service(&set);
    let slots = mh.slots().unwrap();
    assert_eq!(slots.len(), M);
    let mut per = vec![0u32; BACKENDS];
    for s in slots {
        per[s.index()] += 1;
    }
    assert!(per.iter().all(|&k| (65..=66).contains(&k)), "uneven split");
    let t = maglev_hash::MaglevTable::with_capacity(names.clone(), M);
    assert_eq!(t.capacity(), M);
    if let Ok(builds) = std::env::var("LVS_MAGLEV_PROFILE") {
        let builds: usize = builds.parse().expect("LVS_MAGLEV_PROFILE=<builds>");
        let service = std::env::var("LVS_MAGLEV_PROFILE_SERVICE").ok();
        let (pool, order, size) = match service.as_deref().and_then(|s| s.split_once('x')) {
            Some((n, m)) => {
                let n: usize = n.parse().expect("LVS_MAGLEV_PROFILE_SERVICE=<servers>x<M>");
                let (pool, order) = pool_of(n);
                (
                    pool,
                    order,
                    m.parse().expect("LVS_MAGLEV_PROFILE_SERVICE=<servers>x<M>"),
                )
            }
            None => (pool.clone(), order.clone(), M as u32),
        };
        let set = DestSet::new(&pool, &order);
        let mut mh = Box::new(Mh::<65537>::with_table_size(size, false, false).unwrap());
        mh.init_service(&set);
        eprintln!("{} servers, M = {size}", order.len());
        let t = std::time::Instant::now();
        let cpu = BenchClock::cpu();
        let c0 = cpu.now();
        black_box(profile_builds(&mut mh, &set, builds));
        let per = |d: Duration| d.as_secs_f64() * 1e6 / builds as f64;
        eprintln!(
            "{builds} builds, {:.1} us/build ({:.1} us/build of thread CPU time)",
            per(t.elapsed()),
            per(cpu.since(c0))
        );
        std::process::exit(0);
    }

    let mut g = c.benchmark_group("maglev/build_1000");
    g.bench_function("lvs", |b| {
        b.iter(|| {
            mh.init_service(black_box(&set));
            black_box(mh.slot(0))
        })
    });
    g.bench_function("maglev_hash_0_1", |b| {
        b.iter(|| {
            let t = maglev_hash::MaglevTable::with_capacity(black_box(names.clone()), M);
            black_box(t.capacity())
        })
    });
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("maglev_0_2", |b| {
        b.iter(|| {
            let t = maglev::Maglev::with_capacity(black_box(names.clone()), M);
            black_box(maglev::ConsistentHasher::capacity(&t))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = bench
}
criterion_main!(benches);
