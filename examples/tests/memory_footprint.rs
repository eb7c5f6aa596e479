//! A director's memory is a formula of (connections, services, servers, scheduler):
//! `lvs_core::director::memory_bytes` — with the scheduler tables that live outside the
//! scheduler value (`lvs_sched::storage::storage_bytes`) — is checked against the bytes really
//! allocated (a counting global allocator) plus the `Director` value itself, and the sizes
//! table is printed.

use std::alloc::{GlobalAlloc, Layout, System};

use lvs_core::director::{memory_bytes, Director, DirectorConfig, DirectorFixed, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::{Instant, Protocol, Scheduler, ServiceConfig, ServiceKey};
use lvs_sched::mh::{Mh, MhTable};
use lvs_sched::storage::storage_bytes;
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

/// mh with its table lent by the caller.
type LentMh<'a> = Mh<4093, 1024, &'a mut MhTable>;

/// Adds `SERVICES` services of `make(i)` to a director over owned memory and returns the
/// bytes it really takes: heap allocated since `before` (so memory the caller allocated for
/// the schedulers' tables counts) plus the `Director` value.
fn measured<S: Scheduler>(before: usize, mut make: impl FnMut(usize) -> S) -> usize {
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
        d.add_service(ServiceConfig::new(key), make(i))
            .expect("service");
    }
    let heap = live().wrapping_sub(before);
    let value = core::mem::size_of_val(&d);
    heap + value
}

fn kib(b: usize) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

/// `1234567` as `1,234,567`.
fn commas(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn slot<S: Scheduler>() -> usize {
    core::mem::size_of::<Option<lvs_core::director::Service<S>>>()
}

#[test]
fn memory_formula_matches_allocations_and_sizes_table() {
    let wlc = measured(live(), |_| Wlc);
    // AnyScheduler by name: mh's table boxed (the `alloc` convenience)
    let mh = measured(live(), |_| {
        AnyScheduler::from_name("mh", &Default::default()).unwrap()
    });
    // mh with its table in memory the caller provides
    let before = live();
    let mut tables = vec![MhTable::new(); SERVICES];
    let mut lent = tables.iter_mut();
    let mh_lent = measured(before, |_| {
        LentMh::with_storage(lent.next().unwrap(), 4093, false, false).unwrap()
    });
    let any = measured(live(), |_| {
        AnyScheduler::from_name("wlc", &Default::default()).unwrap()
    });
    let lblcr = measured(live(), |_| {
        AnyScheduler::from_name("lblcr", &Default::default()).unwrap()
    });
    let mh_table = storage_bytes("mh");
    assert_eq!(mh_table, core::mem::size_of::<MhTable>());
    assert_eq!(wlc, memory_bytes::<Wlc>(CONNS, SERVICES, SERVERS, 0), "wlc");
    assert_eq!(
        mh,
        memory_bytes::<AnyScheduler>(CONNS, SERVICES, SERVERS, mh_table),
        "mh"
    );
    assert_eq!(
        mh_lent,
        memory_bytes::<LentMh>(CONNS, SERVICES, SERVERS, mh_table),
        "mh, lent tables"
    );
    assert_eq!(
        any,
        memory_bytes::<AnyScheduler>(CONNS, SERVICES, SERVERS, 0),
        "any"
    );
    assert_eq!(
        lblcr,
        memory_bytes::<AnyScheduler>(CONNS, SERVICES, SERVERS, storage_bytes("lblcr")),
        "lblcr"
    );
    drop(tables);
    let value = core::mem::size_of::<Director<'_, Wlc>>();
    assert!(value < 1024, "a Director value is small: {value} bytes");
    assert!(
        slot::<AnyScheduler>() < 1024,
        "an AnyScheduler slot is small"
    );
    let fixed = core::mem::size_of::<DirectorFixed>();
    println!("director memory, {CONNS} connections, {SERVICES} services, {SERVERS} real servers:");
    println!(
        "| scheduler | total | per service slot | scheduler table per service | Director value | fixed state |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, total, slot, table) in [
        ("wlc (`Wlc`)", wlc, slot::<Wlc>(), 0),
        (
            "mh (`AnyScheduler`, table boxed)",
            mh,
            slot::<AnyScheduler>(),
            mh_table,
        ),
        (
            "mh (`Mh<_, _, &mut MhTable>`, table lent)",
            mh_lent,
            slot::<LentMh>(),
            mh_table,
        ),
        (
            "lblcr (`AnyScheduler`, table boxed)",
            lblcr,
            slot::<AnyScheduler>(),
            storage_bytes("lblcr"),
        ),
        (
            "any of the 14 without a table (`AnyScheduler`)",
            any,
            slot::<AnyScheduler>(),
            0,
        ),
    ] {
        println!(
            "| {name} | {} B ({}) | {} B | {} B | {} B | {} B |",
            commas(total),
            kib(total),
            commas(slot),
            commas(table),
            commas(value),
            commas(fixed)
        );
    }
}
