//! Traffic counters and the kernel's rate estimator (`ip_vs_est.c`).
//!
//! Counters are plain `u64`s. Rates are estimated every 2 seconds with an exponentially
//! weighted moving average of weight 1/4, in the same fixed-point scales as the kernel
//! (rates of conns and packets ×2^10, of bytes ×2^5), so that `--rate` listings match
//! `ipvsadm -L -n --rate` for the same traffic.

use crate::time::{Duration, Instant};

/// Cumulative counters of a service or real server (`ipvsadm --stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients (seen only by NAT).
    pub outpkts: u64,
    /// Bytes from clients (IP length).
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
}

impl Counters {
    /// All zero.
    pub const ZERO: Counters = Counters {
        conns: 0,
        inpkts: 0,
        outpkts: 0,
        inbytes: 0,
        outbytes: 0,
    };
}

/// Per-second rates as `ipvsadm --rate` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second to clients.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second to clients.
    pub outbps: u64,
}

impl Rates {
    /// All zero.
    pub const ZERO: Rates = Rates {
        cps: 0,
        inpps: 0,
        outpps: 0,
        inbps: 0,
        outbps: 0,
    };
}

/// The estimation interval, 2 s as in the kernel.
pub const ESTIMATOR_INTERVAL: Duration = Duration::from_secs(2);

/// The kernel's rate estimator state for one set of [`Counters`].
///
/// ```
/// use lvs_core::stats::{Counters, RateEstimator};
/// use lvs_core::time::Instant;
/// let mut c = Counters::default();
/// let mut est = RateEstimator::new(Instant::ZERO);
/// // 1000 packets per 2 s, for a minute: the average converges to 500 pps
/// for i in 1..=30u64 {
///     c.inpkts += 1000;
///     est.sample(&c);
/// }
/// assert_eq!(est.rates().inpps, 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateEstimator {
    last: Counters,
    // scaled averages: cps/inpps/outpps x 2^10, inbps/outbps x 2^5
    cps: u64,
    inpps: u64,
    outpps: u64,
    inbps: u64,
    outbps: u64,
    next_sample: Instant,
}

#[inline]
fn ewma(avg: &mut u64, rate: u64) {
    // e->x += ((s64)rate - (s64)e->x) >> 2, with an arithmetic shift
    let delta = (rate as i64).wrapping_sub(*avg as i64) >> 2;
    *avg = (*avg as i64).wrapping_add(delta) as u64;
}

impl RateEstimator {
    /// A new estimator whose first sample is due 2 s after `now`.
    pub const fn new(now: Instant) -> Self {
        RateEstimator {
            last: Counters::ZERO,
            cps: 0,
            inpps: 0,
            outpps: 0,
            inbps: 0,
            outbps: 0,
            next_sample: Instant::from_millis(
                now.total_millis() + ESTIMATOR_INTERVAL.total_millis(),
            ),
        }
    }

    /// Starts from the current counters so earlier traffic does not count as a burst
    /// (`ip_vs_start_estimator` after zeroing).
    pub fn reset(&mut self, current: &Counters, now: Instant) {
        *self = RateEstimator::new(now);
        self.last = *current;
    }

    /// When the next sample is due.
    pub const fn next_sample(&self) -> Instant {
        self.next_sample
    }

    /// Takes one 2-second sample of `c` (`estimation_timer`).
    pub fn sample(&mut self, c: &Counters) {
        let l = &self.last;
        // per second over the 2 s interval, scaled by 2^10 (counts) or 2^5 (bytes) as the kernel
        let samples = [
            (&mut self.cps, c.conns.wrapping_sub(l.conns) << 9),
            (&mut self.inpps, c.inpkts.wrapping_sub(l.inpkts) << 9),
            (&mut self.outpps, c.outpkts.wrapping_sub(l.outpkts) << 9),
            (&mut self.inbps, c.inbytes.wrapping_sub(l.inbytes) << 4),
            (&mut self.outbps, c.outbytes.wrapping_sub(l.outbytes) << 4),
        ];
        for (avg, sample) in samples {
            ewma(avg, sample);
        }
        self.last = *c;
        self.next_sample += ESTIMATOR_INTERVAL;
    }

    /// Takes every sample due by `now`. A long gap counts as idle intervals after the first,
    /// as the kernel's timer would have seen them, but at most 64 samples are taken per call
    /// (after which the average has decayed to zero anyway).
    pub fn advance(&mut self, c: &Counters, now: Instant) {
        let mut n = 0;
        while self.next_sample <= now && n < 64 {
            self.sample(c);
            n += 1;
        }
        if self.next_sample <= now {
            // skip the rest of a very long gap without looping
            let behind = now.total_millis() - self.next_sample.total_millis();
            let steps = behind / ESTIMATOR_INTERVAL.total_millis() + 1;
            self.next_sample += Duration::from_millis(steps * ESTIMATOR_INTERVAL.total_millis());
        }
    }

    /// The rates as `ip_vs_read_estimator` rounds them.
    pub const fn rates(&self) -> Rates {
        Rates {
            cps: (self.cps + 0x1FF) >> 10,
            inpps: (self.inpps + 0x1FF) >> 10,
            outpps: (self.outpps + 0x1FF) >> 10,
            inbps: (self.inbps + 0xF) >> 5,
            outbps: (self.outbps + 0xF) >> 5,
        }
    }
}

/// Counters plus their estimator: what a service or real server carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Cumulative counters.
    pub counters: Counters,
    /// Rate estimator.
    pub estimator: RateEstimator,
}

impl Stats {
    /// Zeroed stats whose first rate sample is due 2 s after `now`.
    pub const fn new(now: Instant) -> Self {
        Stats {
            counters: Counters::ZERO,
            estimator: RateEstimator::new(now),
        }
    }

    /// Current rates.
    pub const fn rates(&self) -> Rates {
        self.estimator.rates()
    }

    /// Takes one 2-second sample now (the director drives all estimators in lockstep).
    pub fn sample(&mut self) {
        let c = self.counters;
        self.estimator.sample(&c);
    }

    /// Takes the samples due by `now`.
    pub fn advance(&mut self, now: Instant) {
        let c = self.counters;
        self.estimator.advance(&c, now);
    }

    /// Zeroes the counters (`ipvsadm -Z`) and restarts the estimator.
    pub fn zero(&mut self, now: Instant) {
        self.counters = Counters::default();
        self.estimator = RateEstimator::new(now);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn first_sample_is_quarter_of_rate() {
        let mut e = RateEstimator::new(Instant::ZERO);
        let c = Counters {
            conns: 10,
            inpkts: 100,
            outpkts: 50,
            inbytes: 10_000,
            outbytes: 5_000,
        };
        e.sample(&c);
        // 10 conns / 2 s = 5 cps; first EWMA step is 1/4 of it: 1.25 -> rounds to 1
        let r = e.rates();
        assert_eq!(r.cps, 1);
        // 100 pkts / 2 s = 50 pps; 12.5 -> (12.5*1024 + 511)>>10 = 12
        assert_eq!(r.inpps, 12);
        assert_eq!(r.outpps, 6);
        // 10000 B / 2 s = 5000 B/s; 1250
        assert_eq!(r.inbps, 1250);
        assert_eq!(r.outbps, 625);
    }

    #[test]
    fn decays_to_zero_when_idle() {
        let mut e = RateEstimator::new(Instant::ZERO);
        let mut c = Counters::default();
        for _ in 0..100 {
            c.inbytes += 2_000_000;
            e.sample(&c);
        }
        assert_eq!(e.rates().inbps, 1_000_000);
        for _ in 0..80 {
            e.sample(&c);
        }
        assert_eq!(e.rates().inbps, 0);
    }

    #[test]
    fn advance_takes_due_samples_only() {
        let mut e = RateEstimator::new(Instant::ZERO);
        let c = Counters {
            conns: 8,
            ..Counters::default()
        };
        e.advance(&c, Instant::from_millis(1999));
        assert_eq!(e.rates().cps, 0);
        e.advance(&c, Instant::from_millis(2000));
        assert_eq!(e.next_sample(), Instant::from_secs(4));
        assert_eq!(e.rates().cps, 1); // 4 cps * 1/4
                                      // a gap of an hour does not loop an hour's worth of samples
        e.advance(&c, Instant::from_secs(3600));
        assert!(e.next_sample() > Instant::from_secs(3600));
        assert_eq!(e.rates().cps, 0);
    }
}
