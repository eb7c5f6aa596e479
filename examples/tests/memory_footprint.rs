//! A director's memory is a formula of (connections, services, servers, scheduler):
//! `lvs_core::director::memory_bytes` is checked against the bytes really allocated (a
//! counting global allocator) plus the `Director` value itself, and the sizes table is printed.

use std::alloc::{GlobalAlloc, Layout, System};

use lvs_core::director::{memory_bytes, Director, DirectorConfig, DirectorFixed, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::{Instant, Protocol, Scheduler, ServiceConfig, ServiceKey};
use lvs_sched::mh::Mh;
use lvs_sched::{AnyScheduler, Wlc};

/// Counts the bytes live per thread (allocated minus freed), so other test threads do not
/// disturb the measurement.
struct Counting;

thread_local! {
    static LIVE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| c.set(c.get().wrapping_add(l.size())));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get().wrapping_sub(l.size())));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> usize {
    LIVE.with(|c| c.get())
}

const CONNS: usize = 65_536;
const SERVICES: usize = 16;
const SERVERS: usize = 256;

/// Builds a director with `SERVICES` services of `make()`, and returns the bytes it really
/// takes: heap allocated while building it plus the `Director` value.
fn measured<S: Scheduler>(make: impl Fn() -> S) -> usize {
    let before = live();
    let mut mem = OwnedMemory::<S>::new(CONNS, SERVICES, SERVERS);
    let mut d = Director::new(
        DirectorConfig::new(SipKey(1, 2)),
        mem.borrow(),
        Instant::ZERO,
    )
    .expect("director");
    for i in 0..SERVICES {
        let vip = lvs_core::Endpoint::v4([198, 18, 0, 1], 80 + i as u16);
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip,
        };
        d.add_service(ServiceConfig::new(key), make())
            .expect("service");
    }
    let heap = live().wrapping_sub(before);
    let value = core::mem::size_of_val(&d);
    heap + value
}

fn kib(b: usize) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

#[test]
fn memory_formula_matches_allocations_and_sizes_table() {
    let wlc = measured(|| Wlc);
    let mh = measured(Mh::default);
    let any = measured(|| AnyScheduler::from_name("wlc", &Default::default()).unwrap());
    assert_eq!(wlc, memory_bytes::<Wlc>(CONNS, SERVICES, SERVERS), "wlc");
    assert_eq!(mh, memory_bytes::<Mh>(CONNS, SERVICES, SERVERS), "mh");
    assert_eq!(
        any,
        memory_bytes::<AnyScheduler>(CONNS, SERVICES, SERVERS),
        "any"
    );
    let value = core::mem::size_of::<Director<'_, Wlc>>();
    assert!(value < 1024, "a Director value is small: {value} bytes");
    let fixed = core::mem::size_of::<DirectorFixed>();
    println!("director memory, {CONNS} connections, {SERVICES} services, {SERVERS} real servers:");
    println!("| scheduler | total | per service slot | Director value | fixed state |");
    println!("|---|---|---|---|---|");
    for (name, total, slot) in [
        (
            "wlc",
            wlc,
            core::mem::size_of::<Option<lvs_core::director::Service<Wlc>>>(),
        ),
        (
            "mh",
            mh,
            core::mem::size_of::<Option<lvs_core::director::Service<Mh>>>(),
        ),
        (
            "AnyScheduler (any of the 14)",
            any,
            core::mem::size_of::<Option<lvs_core::director::Service<AnyScheduler>>>(),
        ),
    ] {
        println!(
            "| {name} | {total} B ({}) | {slot} B | {value} B | {fixed} B |",
            kib(total)
        );
    }
}
