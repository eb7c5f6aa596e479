//! Dynamic feedback: new weights for a weighted scheduler (wlc, wrr, ...) from periodic load
//! reports of the real servers.
//!
//! A monitor polls each real server every so often (free memory from `vmstat`, CPU idle, run
//! queue, blocked and swapped processes, active connections), packs one [`LoadReport`] per
//! server and calls [`WeightController::update`] with the service's current weights; the
//! controller writes new weights in place and the embedder pushes the changed ones to the
//! director (`Director::edit_dest`). Index `i` of the reports and of the weights must denote the
//! same real server on every call.
//!
//! Controllers:
//! - [`FreeMemory`]: the two alternatives of a published LVS study that balanced free memory
//!   between Apache/Perl-CGI servers under wlc. Alternative 1: the server with the least free
//!   memory gets weight 1, every other `(free - free_min) / mem_per_conn`; alternative 2 adds a
//!   damping constant `k` (1..2000 in the study) to that ratio. Weights are scaled by 1000.
//! - [`Classic`]: the LVS project's "dynamic feedback load balancing" monitor: an aggregate
//!   load per server, the sum of per-resource coefficients times per-resource loads, and a
//!   weight moved by a damped (cube-root) step toward a target, bounded by a multiple of the
//!   server's configured weight.
//! - [`Headroom`]: this crate's controller. It smooths each server's memory headroom (free
//!   memory, less one connection's worth per swapped process), converts the gap to the mean into
//!   connections, and moves the weight by the relative change that would shift that many of the
//!   server's active connections (wlc keeps active connections proportional to weights). The
//!   correction is integrated (weights keep what earlier steps learned), bounded per step and
//!   overall, and renormalised so the weights do not drift.
//!
//! Weights act at the monitor's pace and cannot undo herding that forms within one round trip;
//! [`crate::p2c`] is a scheduler that takes the same reports and decides per connection.
//!
//! # The no-starvation rule (every controller)
//! - A server whose report is fresh ([`LoadReport::fresh`]) gets a weight in `1..=65535`: a
//!   formula that would give 0 (a server stuck on I/O, the fullest server under alternative 1
//!   when rounding) is floored at 1, so the server keeps a trickle of new connections and its
//!   reports stay meaningful. Quiescing a server is the health checker's job, not the load
//!   feedback's.
//! - A server without a fresh report keeps its weight as it was (capped at 65535): missing
//!   data is not evidence of load.
//! - The weights are never all zero: if they would be (only possible when nobody reported and
//!   every weight was already 0), every server gets weight 1.
//!
//! Everything is integer arithmetic on fixed-size state; nothing allocates and nothing panics
//! on any input.
//!
//! ```
//! use lvs_sched::feedback::{FreeMemory, LoadReport, WeightController};
//! // two servers of 128 MB: the second has 35 MB more free memory
//! let reports = [LoadReport::new(20_000, 131_072), LoadReport::new(55_000, 131_072)];
//! let mut weights = [1, 1];
//! let mut alt1 = FreeMemory::alternative1(3_500);
//! alt1.update(&reports, &mut weights).unwrap();
//! assert_eq!(weights, [1000, 10_000]); // 1 and 35 MB / 3.5 MB, scaled by 1000
//! ```

use core::fmt;
pub use lvs_core::dest::MAX_WEIGHT;

/// One real server's load, as a monitor measured it since the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// A report arrived this round. A stale or missing report ([`LoadReport::MISSING`]) leaves
    /// the server's weight unchanged.
    pub fresh: bool,
    /// Free memory in KiB (`vmstat` "free").
    pub free_kb: u64,
    /// Physical memory in KiB. A `free_kb` above it is read as `total_kb`.
    pub total_kb: u64,
    /// CPU idle time in per-mille (0..=1000); larger values are read as 1000.
    pub cpu_idle_permille: u16,
    /// Runnable processes (`vmstat` "r").
    pub run_queue: u32,
    /// Processes blocked on I/O (`vmstat` "b").
    pub blocked: u32,
    /// Runnable but swapped-out processes (`vmstat` "w").
    pub swapped: u32,
    /// Connections the server is serving.
    pub active_conns: u32,
}

impl LoadReport {
    /// No report this round.
    pub const MISSING: LoadReport = LoadReport {
        fresh: false,
        free_kb: 0,
        total_kb: 0,
        cpu_idle_permille: 0,
        run_queue: 0,
        blocked: 0,
        swapped: 0,
        active_conns: 0,
    };

    /// A fresh report of an idle server with `free_kb` of `total_kb` free.
    pub const fn new(free_kb: u64, total_kb: u64) -> Self {
        LoadReport {
            fresh: true,
            free_kb,
            total_kb,
            cpu_idle_permille: 1000,
            run_queue: 0,
            blocked: 0,
            swapped: 0,
            active_conns: 0,
        }
    }

    /// The same report with CPU idle time set.
    pub const fn with_cpu_idle(mut self, permille: u16) -> Self {
        self.cpu_idle_permille = permille;
        self
    }

    /// The same report with the run queue, blocked and swapped process counts set.
    pub const fn with_procs(mut self, run_queue: u32, blocked: u32, swapped: u32) -> Self {
        self.run_queue = run_queue;
        self.blocked = blocked;
        self.swapped = swapped;
        self
    }

    /// The same report with the active connection count set.
    pub const fn with_conns(mut self, active: u32) -> Self {
        self.active_conns = active;
        self
    }

    /// Free memory, at most the total.
    pub const fn free(&self) -> u64 {
        if self.free_kb < self.total_kb {
            self.free_kb
        } else {
            self.total_kb
        }
    }

    /// Memory in use in per-mille of the total (0 for a zero total).
    pub const fn memory_load_permille(&self) -> u32 {
        if self.total_kb == 0 {
            return 0;
        }
        ((self.total_kb - self.free()) as u128 * 1000 / self.total_kb as u128) as u32
    }

    /// CPU busy time in per-mille.
    pub const fn cpu_load_permille(&self) -> u32 {
        let idle = if self.cpu_idle_permille > 1000 {
            1000
        } else {
            self.cpu_idle_permille
        };
        1000 - idle as u32
    }
}

/// Why an update was refused. Nothing is changed when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackError {
    /// `reports` and `weights` differ in length.
    LengthMismatch,
    /// More servers than the controller has state for (its `N`).
    TooManyServers,
}

impl fmt::Display for FeedbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedbackError::LengthMismatch => "reports and weights differ in length",
            FeedbackError::TooManyServers => "more servers than the controller's capacity",
        })
    }
}

impl core::error::Error for FeedbackError {}

/// Turns load reports into weights.
pub trait WeightController {
    /// A short name for listings ("alt1", "lvs-dfb", ...).
    fn name(&self) -> &'static str;

    /// Reads one report per server and rewrites `weights` (current weights in, new weights
    /// out), following the module's no-starvation rule. Returns how many weights changed.
    ///
    /// # Errors
    /// [`FeedbackError::LengthMismatch`] when the slices differ in length,
    /// [`FeedbackError::TooManyServers`] when a fixed-capacity controller has too little room.
    fn update(
        &mut self,
        reports: &[LoadReport],
        weights: &mut [u32],
    ) -> Result<usize, FeedbackError>;
}

/// Applies the no-starvation rule to one server's proposal; counts a change.
fn settle(report: &LoadReport, proposal: u64, weight: &mut u32, changed: &mut usize) {
    let new = if report.fresh {
        proposal.clamp(1, MAX_WEIGHT as u64) as u32
    } else {
        (*weight).min(MAX_WEIGHT)
    };
    if new != *weight {
        *weight = new;
        *changed += 1;
    }
}

/// The last clause of the no-starvation rule: never all zero.
fn never_all_zero(weights: &mut [u32], changed: &mut usize) {
    if !weights.is_empty() && weights.iter().all(|&w| w == 0) {
        for w in weights.iter_mut() {
            *w = 1;
            *changed += 1;
        }
    }
}

fn check_lengths(reports: &[LoadReport], weights: &[u32]) -> Result<(), FeedbackError> {
    if reports.len() != weights.len() {
        Err(FeedbackError::LengthMismatch)
    } else {
        Ok(())
    }
}

// ----- published alternatives 1 and 2 -----------------------------------------------------------

/// The published free-memory weights (alternatives 1 and 2).
///
/// With `Δ_i = free_i - free_min` over the fresh reports and `c` the mean memory per connection
/// (3500 KiB in the study), weights are scaled by [`FreeMemory::SCALE`] (1000):
/// - alternative 1: `1000` for a server with the least free memory, `1000 · Δ_i / c` for the
///   others. This is the formula as published, including its discontinuity: a server with
///   less than one connection's worth of extra memory gets *less* weight than the fullest one.
/// - alternative 2: `1000 · (k + Δ_i / c) / k`: the published `k + Δ_i / c`, divided by `k` so the
///   fullest server sits at 1000 and `k` up to 2000 stays under the 65535 cap (wlc only uses
///   ratios, which are unchanged). A larger `k` damps the reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeMemory {
    mem_per_conn_kb: u32,
    k: Option<u32>,
}

impl FreeMemory {
    /// The weight of the server with the least free memory.
    pub const SCALE: u64 = 1000;

    /// Alternative 1 with `mem_per_conn_kb` per connection (0 is read as 1).
    pub const fn alternative1(mem_per_conn_kb: u32) -> Self {
        FreeMemory {
            mem_per_conn_kb,
            k: None,
        }
    }

    /// Alternative 2 with damping constant `k` (0 is read as 1).
    pub const fn alternative2(mem_per_conn_kb: u32, k: u32) -> Self {
        FreeMemory {
            mem_per_conn_kb,
            k: Some(k),
        }
    }

    /// Changes `k` (the study derived it from the accesses per minute); turns alternative 1
    /// into alternative 2.
    pub fn set_k(&mut self, k: u32) {
        self.k = Some(k);
    }

    /// The damping constant, `None` for alternative 1.
    pub const fn k(&self) -> Option<u32> {
        self.k
    }

    /// The proposal for a server with `delta_kb` more free memory than the fullest one.
    pub fn proposal(&self, delta_kb: u64) -> u64 {
        let c = self.mem_per_conn_kb.max(1) as u128;
        let d = delta_kb as u128;
        let w = match self.k {
            None if d == 0 => Self::SCALE as u128,
            None => d * Self::SCALE as u128 / c,
            Some(k) => {
                let kc = k.max(1) as u128 * c;
                (kc + d) * Self::SCALE as u128 / kc
            }
        };
        w.min(u64::MAX as u128) as u64
    }
}

impl WeightController for FreeMemory {
    fn name(&self) -> &'static str {
        match self.k {
            None => "alt1",
            Some(_) => "alt2",
        }
    }

    fn update(
        &mut self,
        reports: &[LoadReport],
        weights: &mut [u32],
    ) -> Result<usize, FeedbackError> {
        check_lengths(reports, weights)?;
        let min = reports.iter().filter(|r| r.fresh).map(|r| r.free()).min();
        let mut changed = 0;
        for (r, w) in reports.iter().zip(weights.iter_mut()) {
            let p = self.proposal(r.free().saturating_sub(min.unwrap_or(0)));
            settle(r, p, w, &mut changed);
        }
        never_all_zero(weights, &mut changed);
        Ok(changed)
    }
}

// ----- the LVS project's dynamic feedback ------------------------------------------------------

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
        check_lengths(reports, weights)?;
        if reports.len() > N {
            return Err(FeedbackError::TooManyServers);
        }
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
        let mut changed = 0;
        for (i, (r, w)) in reports.iter().zip(weights.iter_mut()).enumerate() {
            if !r.fresh {
                settle(r, 0, w, &mut changed);
                continue;
            }
            if !self.seen[i] {
                if self.base[i] == 0 {
                    self.base[i] = (*w).clamp(1, MAX_WEIGHT);
                }
                self.milli[i] = *w as u64 * 1000;
                self.seen[i] = true;
            }
            // an outside edit of the weight wins over the internal state
            if (self.milli[i] + 500) / 1000 != *w as u64 {
                self.milli[i] = *w as u64 * 1000;
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
            settle(r, (self.milli[i] + 500) / 1000, w, &mut changed);
        }
        never_all_zero(weights, &mut changed);
        Ok(changed)
    }
}

// ----- this crate's controller ------------------------------------------------------------------

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

    fn headroom_of(&self, r: &LoadReport) -> i64 {
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
        check_lengths(reports, weights)?;
        if reports.len() > N {
            return Err(FeedbackError::TooManyServers);
        }
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
        let mut changed = 0;
        for (i, (r, w)) in reports.iter().zip(weights.iter_mut()).enumerate() {
            settle(r, (self.milli[i] + 500) / 1000, w, &mut changed);
        }
        never_all_zero(weights, &mut changed);
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024;

    fn two(free_a: u64, free_b: u64) -> [LoadReport; 2] {
        [
            LoadReport::new(free_a * MB, 128 * MB).with_conns(20),
            LoadReport::new(free_b * MB, 128 * MB).with_conns(20),
        ]
    }

    #[test]
    fn cube_root() {
        assert_eq!(cbrt_permille(0), 0);
        assert_eq!(cbrt_permille(1000), 1000);
        assert_eq!(cbrt_permille(-1000), -1000);
        assert_eq!(cbrt_permille(125), 500);
        assert_eq!(cbrt_permille(-8), -200);
        assert_eq!(cbrt_permille(i32::MIN), -1000);
        assert_eq!(cbrt_permille(1), 100);
        // monotone
        let mut last = -1001;
        for x in -1000..=1000 {
            let y = cbrt_permille(x);
            assert!(y >= last);
            last = y;
        }
    }

    #[test]
    fn alternative1_as_published() {
        let mut c = FreeMemory::alternative1(3500);
        let mut w = [1, 1];
        // 35 MB = 35840 KiB more on B: 35840/3500 = 10.24 connections -> 10240
        assert_eq!(c.update(&two(20, 55), &mut w), Ok(2));
        assert_eq!(w, [1000, 10240]);
        // the published discontinuity: 1 MB more gets less than the fullest server
        c.update(&two(20, 21), &mut w).unwrap();
        assert_eq!(w, [1000, 292]);
        // equal memory: both are "the least", both 1000
        c.update(&two(30, 30), &mut w).unwrap();
        assert_eq!(w, [1000, 1000]);
        // a huge gap is capped
        c.update(
            &[
                LoadReport::new(0, 1 << 30),
                LoadReport::new(1 << 30, 1 << 30),
            ],
            &mut w,
        )
        .unwrap();
        assert_eq!(w, [1000, MAX_WEIGHT]);
    }

    #[test]
    fn alternative2_damps_with_k() {
        let mut w = [1, 1];
        FreeMemory::alternative2(3500, 1)
            .update(&two(20, 55), &mut w)
            .unwrap();
        assert_eq!(w, [1000, 11240]);
        FreeMemory::alternative2(3500, 100)
            .update(&two(20, 55), &mut w)
            .unwrap();
        assert_eq!(w, [1000, 1102]);
        let mut big = FreeMemory::alternative2(3500, 2000);
        big.update(&two(20, 55), &mut w).unwrap();
        assert_eq!(w, [1000, 1005]);
        assert_eq!(big.name(), "alt2");
        assert_eq!(big.k(), Some(2000));
        // the freer server never gets less than the fuller one
        for d in 0..200u64 {
            assert!(big.proposal(d * 100) >= FreeMemory::SCALE);
        }
    }

    #[test]
    fn missing_reports_keep_weights_and_never_all_zero() {
        let mut c = FreeMemory::alternative1(3500);
        let mut w = [7, 0];
        let r = [LoadReport::MISSING, LoadReport::new(10 * MB, 128 * MB)];
        c.update(&r, &mut w).unwrap();
        assert_eq!(w, [7, 1000]);
        let mut w = [0, 0, 0];
        assert_eq!(c.update(&[LoadReport::MISSING; 3], &mut w), Ok(3));
        assert_eq!(w, [1, 1, 1]);
        let mut w = [70_000];
        c.update(&[LoadReport::MISSING], &mut w).unwrap();
        assert_eq!(w, [MAX_WEIGHT]);
    }

    #[test]
    fn length_and_capacity_errors_change_nothing() {
        let mut w = [5, 5];
        let r = two(1, 2);
        assert_eq!(
            FreeMemory::alternative1(3500).update(&r[..1], &mut w),
            Err(FeedbackError::LengthMismatch)
        );
        let mut small = Classic::<1>::new(ClassicConfig::DEFAULT);
        assert_eq!(small.update(&r, &mut w), Err(FeedbackError::TooManyServers));
        let mut h = Headroom::<1>::new(HeadroomConfig::DEFAULT);
        assert_eq!(h.update(&r, &mut w), Err(FeedbackError::TooManyServers));
        assert_eq!(w, [5, 5]);
    }

    #[test]
    fn classic_moves_toward_balance() {
        let mut c = Classic::<4>::new(ClassicConfig::DEFAULT);
        let mut w = [100, 100];
        // A is heavily loaded (little memory, busy CPU, long run queue), B idle
        let busy = LoadReport::new(5 * MB, 128 * MB)
            .with_cpu_idle(50)
            .with_procs(12, 4, 2)
            .with_conns(200);
        let idle = LoadReport::new(100 * MB, 128 * MB)
            .with_cpu_idle(900)
            .with_conns(20);
        assert!(c.aggregate_load(&busy) > c.aggregate_load(&idle));
        c.update(&[busy, idle], &mut w).unwrap();
        assert!(w[0] < 100 && w[1] > 100, "{w:?}");
        // repeated, the busy one falls to the floor and the idle one to SCALE x base
        for _ in 0..100 {
            c.update(&[busy, idle], &mut w).unwrap();
        }
        assert_eq!(w, [1, 1000]);
        // equal loads: no change (the error is zero)
        let mut w2 = [100, 100];
        let mut c2 = Classic::<2>::new(ClassicConfig::DEFAULT);
        assert_eq!(c2.update(&[idle, idle], &mut w2), Ok(0));
    }

    #[test]
    fn classic_fixed_target_and_threshold() {
        let cfg = ClassicConfig {
            target: Target::Fixed(950),
            ..ClassicConfig::DEFAULT
        };
        let mut c = Classic::<2>::new(cfg);
        let mut w = [10, 10];
        let idle = LoadReport::new(100 * MB, 128 * MB);
        // both below 95%: both grow, bounded by SCALE x base = 100
        for _ in 0..200 {
            c.update(&[idle, idle], &mut w).unwrap();
        }
        assert_eq!(w, [100, 100]);
        // an outside edit wins and becomes the new starting point (not the base)
        w[0] = 50;
        let full = LoadReport::new(0, 128 * MB)
            .with_cpu_idle(0)
            .with_procs(100, 100, 100)
            .with_conns(10_000);
        c.update(&[full, idle], &mut w).unwrap();
        assert!(w[0] < 50, "{w:?}");
        // a tiny error is below the threshold: nothing moves
        let cfg = ClassicConfig {
            target: Target::Fixed(0),
            threshold_permille: 1000,
            gain_permille: 10,
            ..ClassicConfig::DEFAULT
        };
        let mut c = Classic::<2>::new(cfg);
        let mut w = [10, 10];
        assert_eq!(c.update(&[idle, idle], &mut w), Ok(0));
    }

    #[test]
    fn classic_set_base_bounds_weight() {
        let cfg = ClassicConfig {
            target: Target::Fixed(950),
            gain_permille: 1000,
            ..ClassicConfig::DEFAULT
        };
        let mut c = Classic::<2>::new(cfg);
        c.set_base(0, 3);
        c.set_base(9, 3); // ignored
        let mut w = [10, 10];
        let idle = LoadReport::new(100 * MB, 128 * MB);
        for _ in 0..100 {
            c.update(&[idle, idle], &mut w).unwrap();
        }
        assert_eq!(w, [30, 100]);
        c.reset();
    }

    #[test]
    fn headroom_shifts_weight_to_the_freer_server() {
        let mut h = Headroom::<2>::new(HeadroomConfig::DEFAULT);
        let mut w = [1, 1];
        h.update(&two(20, 55), &mut w).unwrap();
        assert!(w[1] > w[0], "{w:?}");
        assert!(w[0] >= 1 && w[1] <= MAX_WEIGHT);
        // the step is bounded: at most 2% each way per update
        assert_eq!(w, [980, 1020]);
        // it integrates: the same gap keeps pushing
        let before = w;
        h.update(&two(20, 55), &mut w).unwrap();
        assert!(w[1] > before[1] && w[0] < before[0], "{w:?}");
        // and stays within range (base / 4 ..= base * 4, renormalised to the mean)
        for _ in 0..1000 {
            h.update(&two(20, 55), &mut w).unwrap();
        }
        assert!(w[0] >= 1000 / 4 && w[1] <= 4 * 1000, "{w:?}");
        assert!(w[1] >= 3 * w[0], "{w:?}");
        // balance reached: a zero gap leaves the weights where they are
        let mut h2 = Headroom::<2>::new(HeadroomConfig::DEFAULT);
        let mut w2 = [1000, 1000];
        assert_eq!(h2.update(&two(40, 40), &mut w2), Ok(0));
        assert_eq!(h2.headroom(0), Some(40 * 1024));
        assert_eq!(h2.headroom(5), None);
    }

    #[test]
    fn headroom_deadband_ignores_small_gaps_and_shrinks_large_ones() {
        let cfg = HeadroomConfig {
            deadband_kb: 4 * 1024,
            max_step_permille: 1000,
            ..HeadroomConfig::DEFAULT
        };
        let mut h = Headroom::<2>::new(cfg);
        let mut w = [1000, 1000];
        // a 6 MB gap is 3 MB from the mean on each side: inside the 4 MB band
        assert_eq!(h.update(&two(40, 46), &mut w), Ok(0));
        assert_eq!(w, [1000, 1000]);
        // a 20 MB gap: 10 MB from the mean, 6 MB beyond the band; without the band it moves more
        h.update(&two(40, 60), &mut w).unwrap();
        let mut plain = Headroom::<2>::new(HeadroomConfig {
            deadband_kb: 0,
            ..cfg
        });
        let mut wp = [1000, 1000];
        plain.update(&two(40, 60), &mut wp).unwrap();
        assert!(w[1] > w[0], "{w:?}");
        assert!(wp[1] - wp[0] > w[1] - w[0], "{wp:?} {w:?}");
    }

    #[test]
    fn headroom_counts_swapped_processes_as_missing_memory() {
        let mut h = Headroom::<2>::new(HeadroomConfig::DEFAULT);
        let mut w = [1000, 1000];
        // both at the swap watermark, but A has 6 processes swapped out
        let a = LoadReport::new(2 * MB, 128 * MB)
            .with_procs(3, 2, 6)
            .with_conns(20);
        let b = LoadReport::new(2 * MB, 128 * MB)
            .with_procs(3, 0, 0)
            .with_conns(20);
        h.update(&[a, b], &mut w).unwrap();
        assert!(w[0] < w[1], "{w:?}");
    }

    #[test]
    fn headroom_floors_a_failing_server_at_one() {
        let cfg = HeadroomConfig {
            range: 100_000,
            max_step_permille: 100_000,
            gain_permille: 100_000,
            ..HeadroomConfig::DEFAULT
        };
        let mut h = Headroom::<2>::new(cfg);
        let mut w = [1000, 1000];
        // A is stuck on I/O with everything swapped out
        let a = LoadReport::new(0, 128 * MB)
            .with_procs(0, 50, 50)
            .with_conns(1);
        let b = LoadReport::new(120 * MB, 128 * MB).with_conns(1);
        for _ in 0..20 {
            h.update(&[a, b], &mut w).unwrap();
            assert!(w[0] >= 1 && w[1] >= 1, "{w:?}");
        }
        assert_eq!(w[0], 1);
    }
}
