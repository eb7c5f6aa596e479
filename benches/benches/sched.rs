//! One scheduling decision for every kernel scheduler at 8, 64 and 1024 real servers:
//! groups `sched/<name>_<n>`, function `lvs`.
//!
//! Servers carry fixed, realistic counters (weights 1..=100 with a few quiesced, hundreds of
//! active and thousands of inactive connections, none idle so nq cannot stop early); the
//! counters do not move between iterations, so the stateless scans do the same work each time
//! while rr/wrr advance their cursors. Requests rotate through 4096 client addresses and ports
//! and 4096 destination addresses (203.0.0.0/20), so dh/sh/mh hash varied keys and lblc/lblcr see a mix of
//! hits and misses.
//!
//! For lc, wlc, sed, nq, fo and ovf the group also has `lvs_indexed`: the tournament-tree
//! variant (`lvs_sched::index`), timed as one decision plus the `counts_changed` a director
//! makes for the new connection on the chosen server (the index's cost moves there).
//!
//! Baselines from crates.io, where a crate a user would pick instead exists, over the same
//! servers and requests: `weighted_rs_0_1` (`weighted-rs` 0.1.3's `RoundrobinWeight`, the LVS
//! wrr algorithm) in `sched/wrr_*`, and `maglev_hash_0_1` (`maglev-hash` 0.1.0's
//! `MaglevTable`, a lookup of the client address and port in a table of the same 4093 slots)
//! in `sched/mh_*`. Neither tracks connection counts or server state, so they do less per
//! decision than the kernel's rules.
//!
//! `LVS_SCHED_PROFILE=<name>_<n>` (e.g. `wrr_1024`), or `<name>_<n>/indexed` for the
//! `lvs_indexed` side, with `LVS_SCHED_DECISIONS` (default 1M): run that side alone in a plain
//! loop instead of criterion, for
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*profile_decisions*'`
//! (instructions per decision = the function's inclusive count / decisions).

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

#[path = "../clock.rs"]
mod clock;
use clock::BenchClock;
use lvs_core::{
    Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Ipv4Addr, Protocol, SchedRequest, Scheduler,
};
use lvs_sched::index::{FoIndexed, LcIndexed, NqIndexed, OvfIndexed, SedIndexed, WlcIndexed};
use lvs_sched::registry::{AnyScheduler, SchedOptions, NAMES};
use std::hint::black_box;

const SIZES: [usize; 3] = [8, 64, 1024];
const REQS: usize = 4096;

/// A small deterministic generator for the fixtures.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pool(n: usize) -> (Vec<Dest>, Vec<DestId>) {
    let pool = (0..n)
        .map(|i| {
            let r = mix(i as u64);
            let addr = Endpoint::new(Ipv4Addr::from_bits(0xC612_0100 + i as u32).into(), 80);
            let weight = if r.is_multiple_of(20) {
                0
            } else {
                1 + (r >> 8) as u32 % 100
            };
            let active = 1 + (r >> 16) as u32 % 800;
            let inactive = (r >> 32) as u32 % 5000;
            Dest::with_counts(addr, weight, active, inactive)
        })
        .collect();
    // list order: the kernel's newest-first, i.e. reverse of insertion
    let order = (0..n as u16).rev().map(DestId).collect();
    (pool, order)
}

fn requests() -> Vec<SchedRequest> {
    (0..REQS as u64)
        .map(|i| {
            let r = mix(i ^ 0xABCD);
            let client = Endpoint::new(
                Ipv4Addr::from_bits(0xC613_0000 | (r as u32 & 0xFFFF)).into(),
                1024 + (r >> 16) as u16 % 60000,
            );
            let vip = Endpoint::new(
                Ipv4Addr::from_bits(0xCB00_0000 | ((r >> 40) as u32 % 4096)).into(),
                80,
            );
            SchedRequest {
                flow: FlowKey::new(Protocol::Tcp, client, vip),
                now: Instant::from_secs(1),
            }
        })
        .collect()
}

fn indexed<S: Scheduler>(
    group: &mut BenchmarkGroup<'_, BenchClock>,
    s: S,
    set: &DestSet<'_>,
    reqs: &[SchedRequest],
) {
    let mut s = Box::new(s);
    s.init_service(set);
    let mut i = 0usize;
    group.bench_function("lvs_indexed", |b| {
        b.iter(|| {
            let req = &reqs[i % REQS];
            i = i.wrapping_add(1);
            let got = s.schedule(black_box(set), req);
            if let Some(id) = got {
                s.counts_changed(set, id);
            }
            black_box(got)
        })
    });
}

/// `LVS_SCHED_PROFILE`: `decisions` decisions of one scheduler (plus `counts_changed` on the
/// chosen server when `changed`), the same loop as the criterion side.
#[inline(never)]
fn profile_decisions<S: Scheduler>(
    s: &mut S,
    set: &DestSet<'_>,
    reqs: &[SchedRequest],
    decisions: usize,
    changed: bool,
) -> usize {
    let mut hits = 0usize;
    for i in 0..decisions {
        let got = s.schedule(black_box(set), &reqs[i % REQS]);
        if let Some(id) = got {
            hits += 1;
            if changed {
                s.counts_changed(set, id);
            }
        }
    }
    black_box(hits)
}

/// Runs `LVS_SCHED_PROFILE` (see the module doc) and exits, if it is set.
fn profile(reqs: &[SchedRequest]) {
    let Ok(what) = std::env::var("LVS_SCHED_PROFILE") else {
        return;
    };
    let decisions: usize = std::env::var("LVS_SCHED_DECISIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let (group, side) = what.split_once('/').unwrap_or((what.as_str(), "lvs"));
    let (name, n) = group.rsplit_once('_').expect("<name>_<n>");
    let n: usize = n.parse().expect("<name>_<n>");
    let (pool, order) = pool(n);
    let set = DestSet::new(&pool, &order);
    // boxed: mh, lblc and lblcr hold their tables
    let changed = side == "indexed";
    macro_rules! go {
        ($s:expr) => {{
            let mut s = Box::new($s);
            s.init_service(&set);
            profile_decisions(&mut *s, &set, reqs, decisions, changed)
        }};
    }
    let hits = match (side, name) {
        ("lvs", _) => go!(AnyScheduler::from_name(name, &SchedOptions::default()).unwrap()),
        ("indexed", "lc") => go!(LcIndexed::<1024>::new()),
        ("indexed", "wlc") => go!(WlcIndexed::<1024>::new()),
        ("indexed", "sed") => go!(SedIndexed::<1024>::new()),
        ("indexed", "nq") => go!(NqIndexed::<1024>::new()),
        ("indexed", "fo") => go!(FoIndexed::<1024>::new()),
        ("indexed", "ovf") => go!(OvfIndexed::<1024>::new()),
        _ => panic!("LVS_SCHED_PROFILE={what}: <name>_<n> or <lc|wlc|sed|nq|fo|ovf>_<n>/indexed"),
    };
    eprintln!("{what}: {decisions} decisions, {hits} scheduled");
    std::process::exit(0);
}

fn bench(c: &mut Criterion<BenchClock>) {
    let reqs = requests();
    profile(&reqs);
    for name in NAMES {
        for n in SIZES {
            let (pool, order) = pool(n);
            let set = DestSet::new(&pool, &order);
            // mh, lblc and lblcr box their tables (the registry's `alloc` convenience)
            let mut s = Box::new(AnyScheduler::from_name(name, &SchedOptions::default()).unwrap());
            s.init_service(&set);
            let mut i = 0usize;
            let mut group = c.benchmark_group(format!("sched/{name}_{n}"));
            group.bench_function("lvs", |b| {
                b.iter(|| {
                    let req = &reqs[i % REQS];
                    i = i.wrapping_add(1);
                    black_box(s.schedule(black_box(&set), req))
                })
            });
            match name {
                "lc" => indexed(&mut group, LcIndexed::<1024>::new(), &set, &reqs),
                "wlc" => indexed(&mut group, WlcIndexed::<1024>::new(), &set, &reqs),
                "sed" => indexed(&mut group, SedIndexed::<1024>::new(), &set, &reqs),
                "nq" => indexed(&mut group, NqIndexed::<1024>::new(), &set, &reqs),
                "fo" => indexed(&mut group, FoIndexed::<1024>::new(), &set, &reqs),
                "ovf" => indexed(&mut group, OvfIndexed::<1024>::new(), &set, &reqs),
                "wrr" => {
                    let mut w = weighted_rs::RoundrobinWeight::new();
                    for (id, d) in set.iter() {
                        weighted_rs::Weight::add(&mut w, id.0, d.weight as isize);
                    }
                    group.bench_function("weighted_rs_0_1", |b| {
                        b.iter(|| black_box(weighted_rs::Weight::next(&mut w)))
                    });
                }
                "mh" => {
                    let nodes: Vec<Endpoint> = set.iter().map(|(_, d)| d.addr).collect();
                    let t = maglev_hash::MaglevTable::with_capacity(nodes, 4093);
                    let mut i = 0usize;
                    group.bench_function("maglev_hash_0_1", |b| {
                        b.iter(|| {
                            let req = &reqs[i % REQS];
                            i = i.wrapping_add(1);
                            black_box(t.get(black_box(&req.flow.src)))
                        })
                    });
                }
                _ => {}
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(BenchClock::from_env());
    targets = bench
}
criterion_main!(benches);
