//! `dataplane wake-latency`: how long this machine takes to wake a thread blocked in `poll(2)`
//! on another CPU, the hand-off every frame pays when lvsd sleeps between frames (the kernel's
//! own forwarding runs inline and pays none). A writer pinned to CPU 0 writes its send time into
//! a pipe every `--gap-us`; a reader pinned to CPU 1 waits in `poll` and records when it ran.
//! On a virtual machine an idle virtual CPU is descheduled by the host, so the tail of this
//! latency is the host's scheduling delay, not the guest's.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Pins the calling thread to `cpu` (best effort: an error leaves it where it is, and says so).
fn pin(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity get
    // pointers to this local set and its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Blocks in `poll(2)` until `fd` is readable (or a second passes).
fn wait_readable(fd: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 1000) };
}

/// The subcommand: `wake-latency [--count N] [--gap-us U]`; prints one summary line.
pub fn wake_latency(args: &[String]) -> Result<String, String> {
    let mut count = 2000usize;
    let mut gap_us = 1000u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--count" => count = v.parse().map_err(|_| "bad --count")?,
            "--gap-us" => gap_us = v.parse().map_err(|_| "bad --gap-us")?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if count == 0 || count > 1_000_000 || gap_us > 1_000_000 {
        return Err("--count 1..1000000, --gap-us at most 1000000".into());
    }
    let (mut rx, mut tx) = std::io::pipe().map_err(|e| e.to_string())?;
    let origin = Instant::now();
    let reader = std::thread::spawn(move || {
        let pinned = pin(1);
        let fd = rx.as_raw_fd();
        let mut lat = Vec::with_capacity(count);
        let mut b = [0u8; 8];
        while lat.len() < count {
            wait_readable(fd);
            let woke = origin.elapsed().as_nanos() as u64;
            if rx.read_exact(&mut b).is_err() {
                break;
            }
            lat.push(woke.saturating_sub(u64::from_le_bytes(b)));
        }
        (lat, pinned)
    });
    let pinned = pin(0);
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..count {
        let t = origin.elapsed().as_nanos() as u64;
        tx.write_all(&t.to_le_bytes()).map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_micros(gap_us));
    }
    let (mut lat, rpinned) = reader.join().map_err(|_| "reader panicked")?;
    if lat.is_empty() {
        return Err("no wakeups measured".into());
    }
    lat.sort_unstable();
    let q = |p: usize| lat[(lat.len() - 1) * p / 100] as f64 / 1e3;
    Ok(format!(
        "WAKE wakeups={} gap_us={gap_us} pinned={} p50_us={:.1} p90_us={:.1} p99_us={:.1} max_us={:.1}",
        lat.len(),
        if pinned && rpinned { "0,1" } else { "no" },
        q(50),
        q(90),
        q(99),
        lat[lat.len() - 1] as f64 / 1e3
    ))
}
