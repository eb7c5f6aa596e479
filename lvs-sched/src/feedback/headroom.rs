//! This crate's controller: weights from each server's headroom.

use super::*;

/// Settings of [`Headroom`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadroomConfig {
    /// Mean memory a connection costs, KiB (converts a memory gap into connections).
    pub mem_per_conn_kb: u32,
    /// Fraction of the gap corrected per update, per-mille.
    pub gain_permille: u32,
    /// Largest relative weight change per update, per-mille (500: at most ×1.5 or ÷1.5).
    pub max_step_permille: u32,
    /// Weight of a new report in the smoothed headroom, per-mille (1000: no smoothing).
    pub smoothing_permille: u32,
    /// Gaps to the mean smaller than this, KiB, count as no gap (the weight keeps what it has
    /// learned); larger gaps count only by their excess over it. 0: no deadband.
    pub deadband_kb: u32,
    /// Active connections assumed at least (keeps the relative step finite on idle servers).
    pub min_conns: u32,
    /// Weights stay within `base / range ..= base · range`.
    pub range: u32,
    /// The base weight every server starts from and the weights average to.
    pub base: u32,
}

impl HeadroomConfig {
    /// Defaults: 3500 KiB per connection, correct 50% of the gap per update, at most 2% per
    /// step (wlc's overhead counts every TIME_WAIT entry, so a large weight step sends a burst
    /// of new connections to one server; small frequent steps avoid it), no smoothing beyond
    /// the monitor's own interval, no deadband, at least 4 connections, range 4, base 1000.
    pub const DEFAULT: HeadroomConfig = HeadroomConfig {
        mem_per_conn_kb: 3500,
        gain_permille: 500,
        max_step_permille: 20,
        smoothing_permille: 1000,
        deadband_kb: 0,
        min_conns: 4,
        range: 4,
        base: 1000,
    };
}

impl Default for HeadroomConfig {
    fn default() -> Self {
        HeadroomConfig::DEFAULT
    }
}

/// This crate's controller for up to `N` servers: an integrating, bounded, renormalised
/// correction of weights by the memory headroom gap measured in connections.
///
/// Per update, for each server that reported:
/// 1. headroom `h = free - swapped · c` (a swapped-out process is a connection's worth of
///    memory the server lacks; `free` alone stops falling at the swap watermark), smoothed
///    `s ← s + α (h - s)`;
/// 2. gap in connections `g = (s - mean s) / c` (first shrunk toward 0 by the deadband, if
///    any), and relative step `1 + gain · g / max(active,
///    min_conns)`, clamped to `[1/(1+max_step), 1+max_step]` (wlc keeps active connections
///    proportional to weights, so this step moves about `gain · g` connections);
/// 3. the weight (kept in thousandths) is multiplied by the step, all fresh weights are
///    rescaled so they average to `base`, and each is kept within `base/range ..= base·range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headroom<const N: usize> {
    cfg: HeadroomConfig,
    smooth: [i64; N],
    milli: [u64; N],
    seen: [bool; N],
}

impl<const N: usize> Headroom<N> {
    /// A controller with `cfg`.
    pub const fn new(cfg: HeadroomConfig) -> Self {
        Headroom {
            cfg,
            smooth: [0; N],
            milli: [0; N],
            seen: [false; N],
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &HeadroomConfig {
        &self.cfg
    }

    /// Forgets every server.
    pub fn reset(&mut self) {
        self.seen = [false; N];
    }

    /// Smoothed headroom of server `i` in KiB, once it has reported.
    pub fn headroom(&self, i: usize) -> Option<i64> {
        match self.seen.get(i) {
            Some(true) => self.smooth.get(i).copied(),
            _ => None,
        }
    }

    pub(super) fn headroom_of(&self, r: &LoadReport) -> i64 {
        let c = self.cfg.mem_per_conn_kb.max(1) as i64;
        (r.free().min(i64::MAX as u64) as i64).saturating_sub((r.swapped as i64).saturating_mul(c))
    }
}

impl<const N: usize> WeightController for Headroom<N> {
    fn name(&self) -> &'static str {
        "headroom"
    }

    fn update(
        &mut self,
        reports: &[LoadReport],
        weights: &mut [u32],
    ) -> Result<usize, FeedbackError> {
        check_lengths(reports, weights, N)?;
        let cfg = self.cfg;
        let base = cfg.base.clamp(1, MAX_WEIGHT) as u64 * 1000;
        let range = cfg.range.max(1) as u64;
        let (lo, hi) = ((base / range).max(1000), base.saturating_mul(range));
        let alpha = cfg.smoothing_permille.clamp(1, 1000) as i64;
        // 1. smoothed headroom
        let (mut sum, mut n) = (0i128, 0i128);
        for (i, r) in reports.iter().enumerate() {
            if !r.fresh {
                continue;
            }
            let h = self.headroom_of(r);
            if self.seen[i] {
                let s = self.smooth[i];
                self.smooth[i] = s.saturating_add(
                    h.saturating_sub(s) / 1000 * alpha
                        + (h.saturating_sub(s) % 1000) * alpha / 1000,
                );
            } else {
                self.smooth[i] = h;
                self.milli[i] = base;
                self.seen[i] = true;
            }
            sum += self.smooth[i] as i128;
            n += 1;
        }
        if n > 0 {
            let mean = sum / n;
            let c = cfg.mem_per_conn_kb.max(1) as i128;
            let step_hi = 1000 + cfg.max_step_permille as i128;
            let step_lo = 1_000_000 / step_hi;
            // 2. multiplicative, bounded step per server
            let mut total = 0u128;
            for (i, r) in reports.iter().enumerate() {
                if !r.fresh {
                    continue;
                }
                let gap = self.smooth[i] as i128 - mean;
                let band = cfg.deadband_kb as i128;
                let gap = gap.signum() * (gap.abs() - band).max(0);
                let gap_milli = gap * 1000 / c;
                let conns = r.active_conns.max(cfg.min_conns).max(1) as i128;
                let step = (1000 + cfg.gain_permille as i128 * gap_milli / conns / 1000)
                    .clamp(step_lo, step_hi);
                self.milli[i] =
                    (self.milli[i] as i128 * step / 1000).clamp(lo as i128, hi as i128) as u64;
                total += self.milli[i] as u128;
            }
            // 3. renormalise to the base mean, then bound
            let want = base as u128 * n as u128;
            for (i, r) in reports.iter().enumerate() {
                if r.fresh && total > 0 {
                    let m = self.milli[i] as u128 * want / total;
                    self.milli[i] = (m.min(u64::MAX as u128) as u64).clamp(lo, hi);
                }
            }
        }
        Ok(settle_all(reports, weights, |i, _, _| {
            (self.milli[i] + 500) / 1000
        }))
    }
}
