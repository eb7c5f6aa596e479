//! The stack an mh rebuild (`init_service`) uses, for a few service sizes.
//!
//! A stack overflow ends the process, so each probe runs in a child process (this test
//! binary, filtered to [`stack_child`]): a thread with a 1 MiB stack first descends into a
//! ballast of recursive frames `depth` deep, then rebuilds. The deepest ballast under which
//! the rebuild still fits (found by bisection; its size measured from the addresses of locals)
//! leaves the rebuild's stack use between the ballast's bottom and the end of the stack; the
//! same search with a no-op in place of the rebuild gives that end, so the difference of the
//! two ballasts is the rebuild's stack use, to one ballast frame (256 bytes on x86-64).
//! Meaningful in release builds:
//! `cargo test --release -p lvs-sched --test mh_stack -- --nocapture`.

use core::hint::black_box;
use std::process::{Command, Stdio};

use lvs_core::{Dest, DestId, DestSet, Endpoint, Ipv4Addr, Scheduler};
use lvs_sched::mh::Mh;

const CHILD_ENV: &str = "LVS_MH_STACK_CHILD";
const THREAD_STACK: usize = 1 << 20;
const MAX_DEPTH: usize = 20_000;

/// One ballast frame (about 256 bytes); `f` runs at the bottom, which returns its address.
#[inline(never)]
fn ballast(depth: usize, f: &mut dyn FnMut()) -> usize {
    let mut frame = [depth as u8; 224];
    black_box(&mut frame);
    let bottom = if depth == 0 {
        f();
        black_box(&frame) as *const _ as usize
    } else {
        ballast(depth - 1, f)
    };
    black_box(&frame);
    bottom
}

/// Runs in the child: `servers,M,depth` (servers 0: no rebuild). Prints the ballast's size.
#[test]
fn stack_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let v: Vec<usize> = spec.split(',').map(|x| x.parse().unwrap()).collect();
    let (n, m, depth) = (v[0], v[1] as u32, v[2]);
    let pool: Vec<Dest> = (0..n.max(1))
        .map(|i| {
            let addr = Endpoint::new(Ipv4Addr::from_bits(0x0A00_0000 + i as u32).into(), 80);
            Dest::with_counts(addr, 1, 0, 0)
        })
        .collect();
    let order: Vec<DestId> = (0..n as u16).rev().map(DestId).collect();
    let mut mh = Box::new(Mh::<65537>::with_table_size(m, false, false).unwrap());
    let bottom = std::thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let set = DestSet::new(&pool, &order);
            let top = black_box(&set) as *const _ as usize;
            let bottom = ballast(depth, &mut || {
                if n > 0 {
                    mh.init_service(black_box(&set));
                    assert!(mh.slot(0).is_some());
                }
            });
            black_box(&mh);
            top - bottom
        })
        .unwrap()
        .join()
        .unwrap();
    println!("ballast={bottom}");
}

/// The stack the ballast took at `depth`, or `None` if the child overflowed.
fn probe(n: usize, m: u32, depth: usize) -> Option<usize> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stack_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{n},{m},{depth}"))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    s.split("ballast=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
}

/// The most stack a ballast can take with the case still running.
fn deepest_ballast(n: usize, m: u32) -> usize {
    let (mut ok, mut bad) = (0, MAX_DEPTH);
    let mut bottom = probe(n, m, 0).expect("the case runs without ballast");
    assert!(probe(n, m, bad).is_none(), "ballast too shallow");
    while bad - ok > 1 {
        let mid = (ok + bad) / 2;
        match probe(n, m, mid) {
            Some(b) => {
                ok = mid;
                bottom = b;
            }
            None => bad = mid,
        }
    }
    bottom
}

#[test]
fn rebuild_stack_use() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let floor = deepest_ballast(0, 251);
    let mut figures = Vec::new();
    for (n, m) in [
        (3, 251),
        (3, 4093),
        (3, 65537),
        (64, 251),
        (64, 4093),
        (64, 65537),
        (1000, 4093),
        (1000, 65537),
    ] {
        let used = floor.saturating_sub(deepest_ballast(n, m));
        println!(
            "mh rebuild, {n} servers, M = {m}: {used} bytes of stack ({:.1} KiB)",
            used as f64 / 1024.0
        );
        figures.push((n, m, used));
    }
    if cfg!(debug_assertions) {
        return; // unoptimised frames: figures only
    }
    // the bitmap follows M and the per-server state follows n
    let of = |n, m| {
        figures
            .iter()
            .find(|f| (f.0, f.1) == (n, m))
            .map_or(0, |f| f.2)
    };
    assert!(of(3, 251) <= 4 << 10, "{}", of(3, 251));
    assert!(of(64, 4093) <= 8 << 10, "{}", of(64, 4093));
    assert!(of(1000, 65537) <= 80 << 10, "{}", of(1000, 65537));
}
