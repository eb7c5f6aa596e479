//! The LVS project's dynamic feedback (`feedbackd`'s aggregate load).

use super::*;

/// Per-resource coefficients of the aggregate load, in any unit (they are normalised by their
/// sum; all zero reads as load 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coefficients {
    /// CPU busy fraction.
    pub cpu: u32,
    /// Memory in use.
    pub memory: u32,
    /// Blocked processes over the reference queue length.
    pub io: u32,
    /// Runnable plus swapped processes over the reference queue length.
    pub processes: u32,
    /// Active connections over the reference connection count.
    pub connections: u32,
}

/// What a server's aggregate load is steered toward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A fixed utilisation in per-mille (the LVS scheme uses 950): below it weights grow, above
    /// it they shrink.
    Fixed(u32),
    /// The mean aggregate load of the servers that reported: weights move toward balance.
    Mean,
}

/// Settings of [`Classic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassicConfig {
    /// Coefficients of the aggregate load.
    pub coefficients: Coefficients,
    /// The run queue length that counts as full load (processes and I/O terms).
    pub proc_ref: u32,
    /// The connection count that counts as full load.
    pub conn_ref: u32,
    /// The target of the aggregate load.
    pub target: Target,
    /// The step for a full-scale error, in per-mille of the server's base weight (the LVS
    /// scheme's `A`).
    pub gain_permille: u32,
    /// Weights stay within `1..=scale · base` (the LVS scheme's `SCALE`, 10).
    pub scale: u32,
    /// Changes smaller than this per-mille of the base weight are not applied.
    pub threshold_permille: u32,
}

impl ClassicConfig {
    /// Defaults: even coefficients over CPU, memory and connections with smaller I/O and
    /// process terms, balance toward the mean, a step of half the base weight for a full-scale
    /// error, `SCALE` 10, 5% threshold.
    pub const DEFAULT: ClassicConfig = ClassicConfig {
        coefficients: Coefficients {
            cpu: 250,
            memory: 250,
            io: 125,
            processes: 125,
            connections: 250,
        },
        proc_ref: 8,
        conn_ref: 256,
        target: Target::Mean,
        gain_permille: 500,
        scale: 10,
        threshold_permille: 50,
    };
}

impl Default for ClassicConfig {
    fn default() -> Self {
        ClassicConfig::DEFAULT
    }
}

/// `round(1000 · cbrt(x / 1000))` for `x` in per-mille, keeping the sign; `x` is clamped to
/// `-1000..=1000`.
pub fn cbrt_permille(x: i32) -> i32 {
    let neg = x < 0;
    let a = x.unsigned_abs().min(1000) as u64 * 1_000_000;
    // integer cube root of a <= 1e9 by bisection, then round to nearest
    let (mut lo, mut hi) = (0u64, 1000u64);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if mid * mid * mid <= a {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // lo^3 <= a < (lo+1)^3; pick the closer of lo and lo+1 in the cube-root sense
    let up = lo + 1;
    let r = if up <= 1000 && (2 * a) > (lo * lo * lo + up * up * up) {
        up
    } else {
        lo
    };
    if neg {
        -(r as i32)
    } else {
        r as i32
    }
}

/// The LVS project's dynamic feedback controller for up to `N` servers.
///
/// Each server's aggregate load is `L = Σ R_j · load_j / Σ R_j` over CPU, memory, I/O,
/// processes and connections (each load in per-mille; the LVS scheme's fifth input, response
/// time, is not in the report, active connections stand in for it). The weight moves by
/// `A · base · cbrt(target - L)` (cube root of the per-unit error), is bounded to
/// `1..=SCALE · base`, and is applied only when it changes by more than the threshold. `base` is
/// the weight a server had when first seen ([`Classic::set_base`] overrides it). Weights are kept
/// internally in thousandths so small steps accumulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classic<const N: usize> {
    cfg: ClassicConfig,
    base: [u32; N],
    milli: [u64; N],
    seen: [bool; N],
}

impl<const N: usize> Classic<N> {
    /// A controller with `cfg`.
    pub const fn new(cfg: ClassicConfig) -> Self {
        Classic {
            cfg,
            base: [0; N],
            milli: [0; N],
            seen: [false; N],
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &ClassicConfig {
        &self.cfg
    }

    /// Sets server `i`'s base weight (the LVS scheme's `DEFAULT_WEIGHT`); out of range is
    /// ignored.
    pub fn set_base(&mut self, i: usize, weight: u32) {
        if let (Some(b), Some(s)) = (self.base.get_mut(i), self.seen.get_mut(i)) {
            *b = weight.clamp(1, MAX_WEIGHT);
            *s = false;
        }
    }

    /// Forgets every server (call when the server list changes).
    pub fn reset(&mut self) {
        self.seen = [false; N];
        self.base = [0; N];
    }

    /// Aggregate load of `r` in per-mille.
    pub fn aggregate_load(&self, r: &LoadReport) -> u32 {
        let c = &self.cfg.coefficients;
        let pref = self.cfg.proc_ref.max(1) as u64;
        let cref = self.cfg.conn_ref.max(1) as u64;
        let terms = [
            (c.cpu, r.cpu_load_permille() as u64),
            (c.memory, r.memory_load_permille() as u64),
            (c.io, (r.blocked as u64 * 1000 / pref).min(1000)),
            (
                c.processes,
                ((r.run_queue as u64 + r.swapped as u64) * 1000 / pref).min(1000),
            ),
            (
                c.connections,
                (r.active_conns as u64 * 1000 / cref).min(1000),
            ),
        ];
        let sum: u64 = terms.iter().map(|t| t.0 as u64).sum();
        if sum == 0 {
            return 0;
        }
        (terms.iter().map(|t| t.0 as u64 * t.1).sum::<u64>() / sum) as u32
    }
}

impl<const N: usize> WeightController for Classic<N> {
    fn name(&self) -> &'static str {
        "lvs-dfb"
    }

    fn update(
        &mut self,
        reports: &[LoadReport],
        weights: &mut [u32],
    ) -> Result<usize, FeedbackError> {
        check_lengths(reports, weights, N)?;
        let (mut sum, mut n) = (0u64, 0u64);
        for r in reports.iter().filter(|r| r.fresh) {
            sum += self.aggregate_load(r) as u64;
            n += 1;
        }
        let target = match self.cfg.target {
            Target::Fixed(t) => t.min(1000) as i64,
            Target::Mean if n > 0 => (sum / n) as i64,
            Target::Mean => 0,
        };
        Ok(settle_all(reports, weights, |i, r, w| {
            if !self.seen[i] {
                if self.base[i] == 0 {
                    self.base[i] = w.clamp(1, MAX_WEIGHT);
                }
                self.milli[i] = w as u64 * 1000;
                self.seen[i] = true;
            }
            // an outside edit of the weight wins over the internal state
            if (self.milli[i] + 500) / 1000 != w as u64 {
                self.milli[i] = w as u64 * 1000;
            }
            let base = self.base[i] as i128;
            let err = (target - self.aggregate_load(r) as i64).clamp(-1000, 1000) as i32;
            let step = base * 1000 * self.cfg.gain_permille as i128 * cbrt_permille(err) as i128
                / 1_000_000;
            let hi = base * self.cfg.scale.max(1) as i128 * 1000;
            let new = (self.milli[i] as i128 + step).clamp(1000, hi.max(1000)) as u64;
            let min_change = base as u64 * self.cfg.threshold_permille as u64;
            // (base <= 65535, so the product fits)
            if new.abs_diff(self.milli[i]) >= min_change.max(1) {
                self.milli[i] = new;
            }
            (self.milli[i] + 500) / 1000
        }))
    }
}
