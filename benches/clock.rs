//! The clock of the fastpath and sched benches: wall time (criterion's default), or with
//! `LVS_BENCH_CPU_TIME=1` the CPU time of the benchmark's thread, which leaves out the time
//! the thread waits while other processes run on a shared machine (the caches they disturb
//! still count). Both sides of a comparison use the same clock.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::time::Duration;

/// Wall or thread CPU time, chosen once from `LVS_BENCH_CPU_TIME`.
#[derive(Debug, Clone, Copy)]
pub struct BenchClock {
    cpu: bool,
}

impl BenchClock {
    /// The clock `LVS_BENCH_CPU_TIME` asks for (set and not `0`: thread CPU time).
    pub fn from_env() -> Self {
        let cpu = std::env::var("LVS_BENCH_CPU_TIME").is_ok_and(|v| !v.is_empty() && v != "0");
        BenchClock { cpu }
    }

    /// The thread CPU time clock, whatever the environment says.
    #[allow(dead_code)]
    pub fn cpu() -> Self {
        BenchClock { cpu: true }
    }

    /// The clock's reading now.
    pub fn now(&self) -> Duration {
        let id = if self.cpu {
            libc::CLOCK_THREAD_CPUTIME_ID
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; both clock ids exist on Linux.
        let rc = unsafe { libc::clock_gettime(id, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime failed");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// The time passed since the reading `start`.
    pub fn since(&self, start: Duration) -> Duration {
        self.now().saturating_sub(start)
    }
}

/// Criterion's own duration formatting.
static WALL: WallTime = WallTime;

impl Measurement for BenchClock {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        self.now()
    }

    fn end(&self, start: Duration) -> Duration {
        self.since(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
