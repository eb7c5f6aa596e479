//! Connection table lookup and insert at 10k and 1M live connections, beside a
//! `std::collections::HashMap` keyed by the same 5-tuple (SipHash-1-3, std's default hasher).

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use lvs_core::conn::{ConnKey, ConnSlot, ConnTable, NewConn};
use lvs_core::hash::SipKey;
use lvs_core::{DestId, Duration, Instant, IpAddr, Ipv4Addr, Protocol};
use std::collections::HashMap;
use std::hint::black_box;

fn key(i: u32) -> ConnKey {
    // clients spread over 198.18.0.0/15, ports varied
    ConnKey {
        proto: Protocol::Tcp,
        caddr: IpAddr::V4(Ipv4Addr::from_bits(0xC612_0000 | (i >> 3) & 0x1_ffff)),
        cport: 1024 + (i & 7) as u16 * 7919 % 60000,
        vaddr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        vport: 80,
    }
}

#[derive(Clone, Copy)]
struct StdConn {
    _dest: u16,
    _state: u8,
}

fn bench_size(c: &mut Criterion, n: usize) {
    let cap = (n + n / 4).next_power_of_two();
    let mut storage = vec![ConnSlot::EMPTY; cap];
    let mut wheel = Box::new(lvs_core::conn::TimerWheel::new());
    let mut table = ConnTable::new(
        &mut storage,
        &mut wheel,
        SipKey(0x1234, 0x5678),
        Instant::ZERO,
    )
    .unwrap();
    let mut map: HashMap<ConnKey, StdConn> = HashMap::with_capacity(cap);
    for i in 0..n as u32 {
        let k = key(i);
        table
            .insert_with_timeout(
                NewConn {
                    key: k,
                    dest: DestId(1),
                    state: 1,
                    flags: lvs_core::conn::ConnFlags::empty(),
                },
                Instant::ZERO,
                Duration::from_secs(900),
            )
            .unwrap();
        map.insert(
            k,
            StdConn {
                _dest: 1,
                _state: 1,
            },
        );
    }
    let label = if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    };
    // a fixed pseudo-random probe order so both sides see the same keys
    let probes: Vec<ConnKey> = (0..4096u32)
        .map(|i| key(i.wrapping_mul(2_654_435_761) % n as u32))
        .collect();

    let mut g = c.benchmark_group(format!("conntable/lookup_{label}"));
    let mut i = 0usize;
    g.bench_function(BenchmarkId::from_parameter("lvs"), |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(table.find(black_box(&probes[i]), false))
        })
    });
    let mut i = 0usize;
    g.bench_function(BenchmarkId::from_parameter("std_hashmap"), |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(map.get(black_box(&probes[i])).map(|c| c._dest))
        })
    });
    g.finish();

    // insert one new connection into the loaded table, then take it out again so the load stays
    let mut g = c.benchmark_group(format!("conntable/insert_{label}"));
    let mut j = n as u32;
    g.bench_function(BenchmarkId::from_parameter("lvs"), |b| {
        b.iter_batched(
            || {
                j = j.wrapping_add(1);
                key(j | 0x8000_0000)
            },
            |k| {
                let h = table
                    .insert_with_timeout(
                        NewConn {
                            key: k,
                            dest: DestId(2),
                            state: 3,
                            flags: lvs_core::conn::ConnFlags::empty(),
                        },
                        Instant::ZERO,
                        Duration::from_secs(60),
                    )
                    .unwrap();
                table.remove(h);
            },
            BatchSize::SmallInput,
        )
    });
    let mut j = n as u32;
    g.bench_function(BenchmarkId::from_parameter("std_hashmap"), |b| {
        b.iter_batched(
            || {
                j = j.wrapping_add(1);
                key(j | 0x8000_0000)
            },
            |k| {
                map.insert(
                    k,
                    StdConn {
                        _dest: 2,
                        _state: 3,
                    },
                );
                map.remove(&k);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn conntable(c: &mut Criterion) {
    bench_size(c, 10_000);
    bench_size(c, 1_000_000);
}

criterion_group!(benches, conntable);
criterion_main!(benches);
