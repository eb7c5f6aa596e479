//! The per-packet path at one million live connections, lvs beside a naive implementation in
//! the same criterion group and run:
//!
//! - `fastpath/nat_established_1M`: one established IPv4/TCP flow's packet, one call per
//!   packet: parse the Ethernet frame, find the connection among 1 000 000 live ones, update
//!   its state, timer and counters, decrement the TTL and rewrite the destination (NAT).
//! - `fastpath/nat_established_burst32_1M`: the same work, 32 packets per call. `lvs`:
//!   `lvs_forward::process::process_burst` over 32 frames copied into a work array (all parsed
//!   and hashed first, the table's chains walked for the whole burst together, then each
//!   finished in order), as recorded since November. `lvs_pollmode`: the poll-mode driver loop
//!   of `examples/pollmode.rs` around the same call (a frame region and fill/rx/tx/completion
//!   rings as AF_XDP or DPDK have them): the stand-in NIC writes 32 frames into free buffers
//!   and posts them on the rx ring, the loop takes the burst, runs `process_burst` over the
//!   frames where they lie, writes each Ethernet header into the frame's headroom and posts it
//!   on the tx ring, and the NIC sends them and hands the buffers back. Time is per burst of
//!   32, rings and recycling included.
//! - `fastpath/new_conn_wlc64`: a SYN of a new flow: parse, look up (a miss among 1M), schedule
//!   with wlc over 64 real servers, insert, rewrite. Every new connection is deleted again
//!   outside the timed region, so the table stays at 1M.
//!
//! The director schedules with `lvs_sched::index::WlcIndexed` (the kernel's wlc decisions from
//! a tournament tree the director keeps current through `counts_changed`); the naive side
//! scans the 64 servers as the kernel does, and both must pick the same server.
//!
//! `naive` is what one might write with std and a packet crate: `etherparse` to parse, a
//! `std::collections::HashMap` keyed by the 5-tuple (std's SipHash-1-3), the kernel's wlc scan
//! for new flows, and both checksums recomputed in full.
//!
//! The frames are real bytes (Ethernet + IPv4 + TCP, padded to 60 bytes), one per flow, in a
//! pseudo-random order over all 1M flows; each iteration copies the next frame into a work
//! buffer (the same 64-byte copy on both sides). Before timing, both sides process the same
//! frames and the output bytes are compared.
//!
//! Environment:
//! - `LVS_BENCH_FLOWS`: the number of live connections (default 1 000 000).
//! - `LVS_BENCH_SLOTS`: the connection table's length in slots, a power of two (default 2^20,
//!   64 MiB: load 0.95 at 1M flows); 2^21 or 2^22 trade memory for a lower load, where more
//!   entries sit in their bucket's own slot. The setup prints how many live entries do (and
//!   how many sit elsewhere in the bucket's 256-byte group, or farther). `dram_miss_64M` keeps
//!   its 64 MiB whatever the table's size.
//! - `LVS_BENCH_HUGEPAGES=1`: ask for transparent huge pages on the table's storage
//!   (`madvise`; the naive side's `HashMap` is unaffected), and measure the DRAM probe on huge
//!   pages too (`dram_miss_64M/dependent_load_hugepages`, beside the ordinary one).
//! - `LVS_FASTPATH_PROFILE=lvs|burst|pollmode|new|stray|naive` (with `LVS_FASTPATH_PACKETS`,
//!   default 1M): after the setup and checks, run that side alone in a plain loop and print
//!   ns/packet, for `perf` or `valgrind --tool=callgrind --toggle-collect='fastpath::profile_*'`.
//!   (`new` reuses 512 new flows per round, so its buckets are warm: use it for instruction
//!   counts. `stray` sends ACKs of 512 flows the table does not hold, which the one pass looks
//!   up before the general path delivers them to the host.)
//!
//! `fastpath/dram_miss_64M` measures the machine's memory latency in the same run: one
//! dependent load per iteration, chasing a random cycle through a 64 MiB array of 64-byte
//! lines (the connection table's size), the floor of one call per packet at 1M flows.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../clock.rs"]
mod clock;
use clock::BenchClock;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use lvs_core::conn::ConnKey;
use lvs_core::conn::ConnSlot;
use lvs_core::director::{Director, DirectorConfig, DirectorMemory, Service};
use lvs_core::hash::SipKey;
use lvs_core::stats::Stats;
use lvs_core::{Dest, DestId};
use lvs_core::{
    DestConfig, Endpoint, FwdMethod, Instant, IpAddr, Ipv4Addr, Protocol, ServiceConfig, ServiceKey,
};
use lvs_forward::process::{process_burst, process_frame, Action, BurstFrame, ProcessConfig};
use lvs_forward::wire::MacAddr;

/// The poll-mode driver loop the burst benchmark runs (the example an embedder copies).
#[path = "../../examples/pollmode.rs"]
#[allow(dead_code)]
mod pollmode;
use lvs_sched::index::WlcIndexed;

/// The scheduler: the kernel's wlc decisions, from an index instead of a scan.
type Sched = WlcIndexed;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration as StdDuration;

/// The default table length in slots, and the DRAM probe's length in lines (64 MiB).
const CAP: usize = 1 << 20;
const RS: usize = 64;
const VIP: [u8; 4] = [198, 18, 0, 1];
const VPORT: u16 = 80;
const RPORT: u16 = 8080;
const FRAME_LEN: usize = 60;
const BURST: usize = 32;
/// New flows per timed chunk of the new-connection bench (then deleted, untimed).
const NEW_CHUNK: usize = 512;
/// Distinct new flows cycled through by the new-connection bench.
const NEW_POOL: usize = 1 << 18;

const CMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// One frame per cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Frame([u8; 64]);

/// The table's length in slots: `LVS_BENCH_SLOTS` (a power of two) or [`CAP`].
fn slots() -> usize {
    let n = std::env::var("LVS_BENCH_SLOTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CAP);
    assert!(
        n.is_power_of_two() && n >= 8192,
        "LVS_BENCH_SLOTS={n}: a power of two, at least 8192"
    );
    n
}

/// Live connections: `LVS_BENCH_FLOWS`, leaving 4096 of the table's `slots` free.
fn flows(slots: usize) -> usize {
    std::env::var("LVS_BENCH_FLOWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
        .min(slots - 4096)
}

/// A small deterministic generator for the fixtures (splitmix64).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Client `i`: 16 ports on each of 65 536 addresses of 100.64.0.0/10.
fn client(i: u32) -> ([u8; 4], u16) {
    let a = 0x6440_0000u32 | (i >> 4);
    (a.to_be_bytes(), 20_000 + (i & 15) as u16 * 2011)
}

/// A fresh client for new flows (a range disjoint from the live ones).
fn new_client(i: u32) -> ([u8; 4], u16) {
    let a = 0x6480_0000u32 | (i >> 4);
    (a.to_be_bytes(), 20_000 + (i & 15) as u16 * 2011)
}

fn rs_addr(k: usize) -> [u8; 4] {
    [10, 1, (k >> 8) as u8, (k & 0xff) as u8 + 1]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syn,
    Ack,
}

fn frame(c: ([u8; 4], u16), kind: Kind, seq: u32) -> Frame {
    let b = PacketBuilder::ethernet2(CMAC, DMAC)
        .ipv4(c.0, VIP, 64)
        .tcp(c.1, VPORT, seq, 64_240);
    let b = match kind {
        Kind::Syn => b.syn(),
        Kind::Ack => b.ack(seq ^ 0x5555),
    };
    let mut v = Vec::with_capacity(64);
    b.write(&mut v, &[]).unwrap();
    assert_eq!(v.len(), 54);
    let mut f = Frame([0; 64]);
    f.0[..54].copy_from_slice(&v);
    f
}

// ----- lvs ---------------------------------------------------------------------------------

/// The director's memory, with the connection table on 2 MiB-aligned storage so that
/// `LVS_BENCH_HUGEPAGES=1` can ask the kernel for transparent huge pages for it.
struct Memory {
    conns: Vec<ConnSlot>,
    at: usize,
    cap: usize,
    services: Vec<Option<Service<Sched>>>,
    dests: Vec<Dest>,
    stats: Vec<Stats>,
    order: Vec<DestId>,
    fixed: Box<lvs_core::director::DirectorFixed>,
}

impl Memory {
    fn new(cap: usize, services: usize, dests: usize) -> Self {
        const ALIGN: usize = 2 << 20;
        let per = ALIGN / core::mem::size_of::<ConnSlot>();
        // advise before the first touch, so that the faults can map huge pages
        let mut conns: Vec<ConnSlot> = Vec::with_capacity(cap + per);
        let base = conns.as_ptr() as usize;
        let at = (ALIGN - base % ALIGN) % ALIGN / core::mem::size_of::<ConnSlot>();
        if std::env::var_os("LVS_BENCH_HUGEPAGES").is_some() {
            madvise_hugepages(base + at * 64, cap * 64, "the table");
        }
        conns.resize(cap + per, ConnSlot::EMPTY);
        let blank = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        Memory {
            conns,
            at,
            cap,
            services: (0..services).map(|_| None).collect(),
            dests: vec![blank; dests],
            stats: vec![Stats::default(); dests],
            order: vec![DestId(0); dests],
            fixed: Box::default(),
        }
    }

    fn borrow(&mut self) -> DirectorMemory<'_, Sched> {
        DirectorMemory {
            conns: &mut self.conns[self.at..self.at + self.cap],
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.stats,
            order: &mut self.order,
            fixed: &mut self.fixed,
        }
    }
}

/// Asks for transparent huge pages on the table's storage (`madvise(MADV_HUGEPAGE)`; this
/// machine's THP mode is `madvise`). The pages are touched later, when the table is built,
/// so they can be backed by 2 MiB pages. Only a hint: nothing depends on it.
fn madvise_hugepages(addr: usize, len: usize, what: &str) {
    // SAFETY: `addr..addr + len` lies inside a live allocation owned by the caller (a Vec's
    // reserved capacity); MADV_HUGEPAGE changes no contents and no mapping, only how the
    // kernel backs the pages.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    eprintln!("fastpath: madvise(MADV_HUGEPAGE) on {what}: {r}");
}

fn process_cfg() -> ProcessConfig {
    ProcessConfig::new(
        Ipv4Addr::new(10, 0, 0, 254),
        "2001:db8::fe".parse().unwrap(),
        SipKey(3, 4),
    )
}

#[inline(never)]
fn lvs_one(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    f: &Frame,
    out: &mut [u8],
) -> Frame {
    let mut buf = *f;
    let a = process_frame(dir, now, &mut buf.0, 0, FRAME_LEN, 0, cfg, out);
    debug_assert!(matches!(a, Action::Transmit { .. }), "{a:?}");
    let _ = black_box(a);
    buf
}

#[path = "fastpath/naive.rs"]
mod naive;
use naive::{naive_one, Naive, NaiveDest};

#[inline(never)]
fn profile_lvs(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    pool: &[Frame],
    packets: usize,
    out: &mut [u8],
) {
    for k in 0..packets {
        black_box(lvs_one(dir, now, cfg, &pool[k % pool.len()], out));
    }
}

/// Buffers in the poll-mode port's frame region, and slots in each of its rings.
const RING: usize = 512;
/// The next hop's MAC on every forwarded frame.
const GATEWAY: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

/// The burst benchmark's port: frame region, rings and loop of `examples/pollmode.rs`.
struct Port {
    umem: Vec<[u8; pollmode::FRAME_SIZE]>,
    rings: pollmode::Rings<RING>,
    pl: pollmode::PollLoop,
}

impl Port {
    fn new() -> Self {
        Port {
            umem: vec![[0; pollmode::FRAME_SIZE]; RING],
            rings: pollmode::Rings::new(RING as u32),
            pl: pollmode::PollLoop::new(MacAddr([0x02, 0, 0, 0, 0, 0xfe])),
        }
    }

    /// One burst: the NIC receives `frames`, the loop forwards them, the NIC sends them
    /// (`sent` sees each) and returns the buffers.
    #[inline]
    fn burst(
        &mut self,
        dir: &mut Director<'_, Sched>,
        now: Instant,
        cfg: &ProcessConfig,
        frames: &[Frame],
        sent: impl FnMut(&[u8]),
    ) {
        let mut next = frames.iter();
        pollmode::nic::receive(&mut self.umem, &mut self.rings, frames.len(), |b| {
            let f = next.next().map_or(&[0u8; 64], |f| &f.0);
            b[..FRAME_LEN].copy_from_slice(&f[..FRAME_LEN]);
            FRAME_LEN
        });
        let mut neighbour = |_: &IpAddr| Some(GATEWAY);
        let (umem, rings) = (&mut self.umem, &mut self.rings);
        self.pl.poll(dir, now, cfg, umem, rings, &mut neighbour);
        pollmode::nic::transmit(&self.umem, &mut self.rings, sent);
    }
}

/// One burst through `process_burst` directly: the 32 frames copied into `bufs` (one 64-byte
/// line each), processed in place.
#[inline]
fn lvs_burst(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    frames: &[Frame],
    bufs: &mut [Frame; BURST],
    acts: &mut [Action; BURST],
    resp: &mut [u8],
) {
    bufs.copy_from_slice(frames);
    let mut fs: [BurstFrame<'_>; BURST] = bufs
        .each_mut()
        .map(|b| BurstFrame::new(&mut b.0[..], 0, FRAME_LEN));
    process_burst(dir, now, &mut fs, cfg, acts, resp);
    black_box(&*bufs);
}

#[inline(never)]
fn profile_burst_direct(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    pool: &[Frame],
    packets: usize,
    resp: &mut [u8],
) {
    let mut bufs = [Frame([0; 64]); BURST];
    let mut acts = [Action::Deliver; BURST];
    let bursts = pool.len() / BURST;
    for k in 0..packets / BURST {
        let k = k % bursts;
        let frames = &pool[k * BURST..(k + 1) * BURST];
        lvs_burst(dir, now, cfg, frames, &mut bufs, &mut acts, resp);
    }
}

#[inline(never)]
fn profile_burst(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    pool: &[Frame],
    packets: usize,
) {
    let mut port = Port::new();
    let bursts = pool.len() / BURST;
    for k in 0..packets / BURST {
        let k = k % bursts;
        port.burst(dir, now, cfg, &pool[k * BURST..(k + 1) * BURST], |f| {
            black_box(f);
        });
    }
}

#[inline(never)]
fn profile_new(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    frames: &[Frame],
    out: &mut [u8],
) {
    for f in frames {
        black_box(lvs_one(dir, now, cfg, f, out));
    }
}

#[inline(never)]
fn profile_stray(
    dir: &mut Director<'_, Sched>,
    now: Instant,
    cfg: &ProcessConfig,
    frames: &[Frame],
    out: &mut [u8],
) {
    for f in frames {
        let mut buf = *f;
        let a = process_frame(dir, now, &mut buf.0, 0, FRAME_LEN, 0, cfg, out);
        debug_assert!(matches!(a, Action::Deliver), "{a:?}");
        let _ = black_box(a);
        black_box(buf);
    }
}

#[inline(never)]
fn profile_naive(n: &mut Naive, now_ms: u64, pool: &[Frame], packets: usize) {
    for k in 0..packets {
        black_box(naive_one(n, now_ms, &pool[k % pool.len()]));
    }
}

#[path = "fastpath/memory.rs"]
mod memory;
use memory::{print_placement, DramChase};

// ----- the benches -------------------------------------------------------------------------

fn bench(c: &mut Criterion<BenchClock>) {
    let cap = slots();
    let n = flows(cap);
    let t0 = std::time::Instant::now();
    let mut mem = Memory::new(cap, 4, RS);
    let seed = SipKey(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
    let mut dir = Director::new(DirectorConfig::new(seed), mem.borrow(), Instant::ZERO).unwrap();
    let vip = Endpoint::v4(VIP, VPORT);
    let svc = dir
        .add_service(
            ServiceConfig::new(ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip,
            }),
            WlcIndexed::new(),
        )
        .unwrap();
    for k in 0..RS {
        let w = 1 + (mix(k as u64) % 4) as u32;
        dir.add_dest(
            svc,
            DestConfig::new(Endpoint::v4(rs_addr(k), RPORT), FwdMethod::Masq, w),
        )
        .unwrap();
    }
    let cfg = process_cfg();
    let mut out = [0u8; 1500];
    let now = Instant::from_secs(1);
    let now_ms = now.total_millis();

    // 1M established connections on both sides: a SYN then an ACK per flow
    let mut naive = Naive {
        map: HashMap::with_capacity(n + 2 * NEW_CHUNK),
        dests: dir
            .dests(svc)
            .iter()
            .map(|(_, d)| NaiveDest {
                addr: match d.addr.addr {
                    IpAddr::V4(a) => a.octets(),
                    IpAddr::V6(_) => unreachable!(),
                },
                port: d.addr.port,
                weight: d.weight,
                ..NaiveDest::default()
            })
            .collect(),
        pkts: 0,
        bytes: 0,
    };
    for i in 0..n as u32 {
        for kind in [Kind::Syn, Kind::Ack] {
            let f = frame(client(i), kind, i);
            let a = lvs_one(&mut dir, now, &cfg, &f, &mut out);
            let b = naive_one(&mut naive, now_ms, &f);
            if i < 4096 {
                assert!(
                    a.0[..FRAME_LEN] == b.0[..FRAME_LEN],
                    "setup flow {i}: outputs differ"
                );
            }
        }
    }
    assert_eq!(dir.table().len(), n);
    assert_eq!(naive.map.len(), n);
    for (k, (_, d)) in dir.dests(svc).iter().enumerate() {
        assert_eq!(
            (d.active, d.inactive),
            (naive.dests[k].active, naive.dests[k].inactive)
        );
    }
    // the probe order: every flow once, shuffled
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..order.len()).rev() {
        let j = (mix(i as u64) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let pool: Vec<Frame> = order
        .iter()
        .map(|&i| frame(client(i), Kind::Ack, i.wrapping_mul(7)))
        .collect();
    // same output bytes, and the same state afterwards
    for f in pool.iter().take(1 << 16) {
        let a = lvs_one(&mut dir, now, &cfg, f, &mut out);
        let b = naive_one(&mut naive, now_ms, f);
        assert!(a.0[..FRAME_LEN] == b.0[..FRAME_LEN], "outputs differ");
    }
    // the poll-mode loop forwards every frame of a burst, as the naive side rewrites it
    let mut port = Port::new();
    for (k, chunk) in pool.chunks_exact(BURST).take(256).enumerate() {
        let mut sent = Vec::with_capacity(BURST);
        port.burst(&mut dir, now, &cfg, chunk, |f| sent.push(f.to_vec()));
        assert_eq!(sent.len(), BURST, "burst {k}: every frame forwarded");
        for (j, f) in chunk.iter().enumerate() {
            let b = naive_one(&mut naive, now_ms, f);
            let out = &sent[j];
            assert!(
                out[..6] == GATEWAY.0 && out[14..] == b.0[14..out.len()],
                "burst {k}/{j} differs"
            );
        }
    }
    // and process_burst on a work array, as the naive side rewrites each frame
    let mut bufs = [Frame([0; 64]); BURST];
    let mut acts = [Action::Deliver; BURST];
    for (k, chunk) in pool.chunks_exact(BURST).skip(256).take(256).enumerate() {
        lvs_burst(&mut dir, now, &cfg, chunk, &mut bufs, &mut acts, &mut out);
        for (j, f) in chunk.iter().enumerate() {
            assert!(matches!(acts[j], Action::Transmit { .. }), "burst {k}/{j}");
            let b = naive_one(&mut naive, now_ms, f);
            assert!(
                bufs[j].0[..FRAME_LEN] == b.0[..FRAME_LEN],
                "burst {k}/{j} differs"
            );
        }
    }
    eprintln!(
        "fastpath: {n} live connections ready in {:.1?}; lvs table {} MiB",
        t0.elapsed(),
        (cap * 64) >> 20
    );
    print_placement(&dir, cap);

    if let Ok(mode) = std::env::var("LVS_FASTPATH_PROFILE") {
        // run one side alone for a profiler (perf, callgrind), no criterion
        let packets: usize = std::env::var("LVS_FASTPATH_PACKETS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let t = std::time::Instant::now();
        let cpu = BenchClock::cpu();
        let c0 = cpu.now();
        match mode.as_str() {
            "lvs" => profile_lvs(&mut dir, now, &cfg, &pool, packets, &mut out),
            "naive" => profile_naive(&mut naive, now_ms, &pool, packets),
            "burst" => profile_burst_direct(&mut dir, now, &cfg, &pool, packets, &mut out),
            "pollmode" => profile_burst(&mut dir, now, &cfg, &pool, packets),
            "new" => {
                // SYNs of fresh flows, each chunk deleted again outside `profile_new`
                let frames: Vec<Frame> = (0..NEW_CHUNK as u32)
                    .map(|i| frame(new_client(i), Kind::Syn, i))
                    .collect();
                for _ in 0..packets / NEW_CHUNK {
                    profile_new(&mut dir, now, &cfg, &frames, &mut out);
                    for i in 0..NEW_CHUNK as u32 {
                        let (a, p) = new_client(i);
                        let key = ConnKey {
                            proto: Protocol::Tcp,
                            caddr: IpAddr::V4(Ipv4Addr::from(a)),
                            cport: p,
                            vaddr: IpAddr::V4(Ipv4Addr::from(VIP)),
                            vport: VPORT,
                        };
                        let h = dir.table().find(&key, false).expect("present");
                        dir.drop_conn(h);
                    }
                }
            }
            "stray" => {
                // ACKs of flows the table does not hold (delivered to the host: no sloppy_tcp)
                let frames: Vec<Frame> = (0..NEW_CHUNK as u32)
                    .map(|i| frame(new_client(i), Kind::Ack, i))
                    .collect();
                for _ in 0..packets / NEW_CHUNK {
                    profile_stray(&mut dir, now, &cfg, &frames, &mut out);
                }
            }
            other => {
                panic!("LVS_FASTPATH_PROFILE={other}: lvs, naive, burst, pollmode, new or stray")
            }
        }
        eprintln!(
            "{mode}: {packets} packets, {:.1} ns/packet ({:.1} ns/packet of thread CPU time)",
            t.elapsed().as_nanos() as f64 / packets as f64,
            cpu.since(c0).as_nanos() as f64 / packets as f64
        );
        std::process::exit(0);
    }

    // ----- established, one packet per call
    let mut g = c.benchmark_group("fastpath/nat_established_1M");
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("lvs", |b| {
        b.iter(|| {
            k = if k + 1 == pool.len() { 0 } else { k + 1 };
            lvs_one(&mut dir, now, &cfg, &pool[k], &mut out)
        })
    });
    let mut k = 0usize;
    g.bench_function("naive", |b| {
        b.iter(|| {
            k = if k + 1 == pool.len() { 0 } else { k + 1 };
            naive_one(&mut naive, now_ms, &pool[k])
        })
    });
    g.finish();

    // ----- established, 32 packets per call
    let mut g = c.benchmark_group("fastpath/nat_established_burst32_1M");
    let mut naive_bufs = [Frame([0; 64]); BURST];
    g.throughput(Throughput::Elements(BURST as u64));
    let bursts = pool.len() / BURST;
    let mut k = 0usize;
    let mut bufs = [Frame([0; 64]); BURST];
    let mut acts = [Action::Deliver; BURST];
    g.bench_function("lvs", |b| {
        b.iter(|| {
            k = if k + 1 == bursts { 0 } else { k + 1 };
            let frames = &pool[k * BURST..(k + 1) * BURST];
            lvs_burst(&mut dir, now, &cfg, frames, &mut bufs, &mut acts, &mut out);
        })
    });
    let mut k = 0usize;
    g.bench_function("lvs_pollmode", |b| {
        b.iter(|| {
            k = if k + 1 == bursts { 0 } else { k + 1 };
            port.burst(
                &mut dir,
                now,
                &cfg,
                &pool[k * BURST..(k + 1) * BURST],
                |f| {
                    black_box(f);
                },
            );
        })
    });
    let mut k = 0usize;
    g.bench_function("naive", |b| {
        b.iter(|| {
            k = if k + 1 == bursts { 0 } else { k + 1 };
            naive_bufs.copy_from_slice(&pool[k * BURST..(k + 1) * BURST]);
            for f in naive_bufs.iter_mut() {
                black_box(naive.process(now_ms, &mut f.0[..FRAME_LEN]));
            }
            black_box(&naive_bufs);
        })
    });
    g.finish();

    // ----- the memory latency of this run: dependent loads through 64 MiB
    // (and with LVS_BENCH_HUGEPAGES, the same on huge pages, as the table is)
    let lines = DramChase::new(CAP, false);
    let mut g = c.benchmark_group("fastpath/dram_miss_64M");
    g.throughput(Throughput::Elements(1));
    let mut at = 0usize;
    g.bench_function("dependent_load", |b| {
        b.iter(|| {
            at = lines.next(at);
            at
        })
    });
    drop(lines);
    if std::env::var_os("LVS_BENCH_HUGEPAGES").is_some() {
        let lines = DramChase::new(CAP, true);
        let mut at = 0usize;
        g.bench_function("dependent_load_hugepages", |b| {
            b.iter(|| {
                at = lines.next(at);
                at
            })
        });
    }
    g.finish();

    // ----- new connections: SYNs of fresh flows (cold buckets), deleted again untimed
    let new_pool: Vec<Frame> = (0..NEW_POOL as u32)
        .map(|i| frame(new_client(i), Kind::Syn, i))
        .collect();
    let new_key = |i: usize| {
        let (a, p) = new_client(i as u32);
        ConnKey {
            proto: Protocol::Tcp,
            caddr: IpAddr::V4(Ipv4Addr::from(a)),
            cport: p,
            vaddr: IpAddr::V4(Ipv4Addr::from(VIP)),
            vport: VPORT,
        }
    };
    let drop_range = |dir: &mut Director<'_, Sched>, from: usize, m: usize| {
        for i in from..from + m {
            let h = dir
                .table()
                .find(&new_key(i), false)
                .expect("new connection present");
            assert!(dir.drop_conn(h));
        }
    };
    // same decisions and bytes on both sides for a few chunks of new flows
    for r in 0..4 {
        let from = r * NEW_CHUNK;
        for f in &new_pool[from..from + NEW_CHUNK] {
            let a = lvs_one(&mut dir, now, &cfg, f, &mut out);
            let b = naive_one(&mut naive, now_ms, f);
            assert!(
                a.0[..FRAME_LEN] == b.0[..FRAME_LEN],
                "new flow outputs differ"
            );
        }
        drop_range(&mut dir, from, NEW_CHUNK);
        for i in from..from + NEW_CHUNK {
            naive.remove(new_client(i as u32));
        }
    }
    assert_eq!(dir.table().len(), n);
    assert_eq!(naive.map.len(), n);
    let clock = BenchClock::from_env();
    let mut g = c.benchmark_group("fastpath/new_conn_wlc64");
    g.throughput(Throughput::Elements(1));
    let mut nk = 0usize;
    g.bench_function("lvs", |b| {
        b.iter_custom(|iters| {
            let mut total = StdDuration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let m = left.min(NEW_CHUNK);
                if nk + m > NEW_POOL {
                    nk = 0;
                }
                let t = clock.now();
                for f in &new_pool[nk..nk + m] {
                    black_box(lvs_one(&mut dir, now, &cfg, f, &mut out));
                }
                total += clock.since(t);
                drop_range(&mut dir, nk, m);
                nk += m;
                left -= m;
            }
            total
        })
    });
    let mut nk = 0usize;
    g.bench_function("naive", |b| {
        b.iter_custom(|iters| {
            let mut total = StdDuration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let m = left.min(NEW_CHUNK);
                if nk + m > NEW_POOL {
                    nk = 0;
                }
                let t = clock.now();
                for f in &new_pool[nk..nk + m] {
                    black_box(naive_one(&mut naive, now_ms, f));
                }
                total += clock.since(t);
                for i in nk..nk + m {
                    naive.remove(new_client(i as u32));
                }
                nk += m;
                left -= m;
            }
            total
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
