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
mod free_memory;
pub use free_memory::*;
mod classic;
pub use classic::*;
mod headroom;
pub use headroom::*;
#[cfg(test)]
mod tests;

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
#[non_exhaustive]
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

/// Applies the no-starvation rule to every server: a fresh report's weight becomes its
/// proposal, `propose(index, report, current weight)` (asked of fresh reports only, in order),
/// bounded to `1..=MAX_WEIGHT`; a missing one keeps its weight; and never are all weights zero.
/// Returns how many weights changed.
fn settle_all(
    reports: &[LoadReport],
    weights: &mut [u32],
    mut propose: impl FnMut(usize, &LoadReport, u32) -> u64,
) -> usize {
    let mut changed = 0;
    for (i, (r, w)) in reports.iter().zip(weights.iter_mut()).enumerate() {
        let new = if r.fresh {
            propose(i, r, *w).clamp(1, MAX_WEIGHT as u64) as u32
        } else {
            (*w).min(MAX_WEIGHT)
        };
        if new != *w {
            *w = new;
            changed += 1;
        }
    }
    if !weights.is_empty() && weights.iter().all(|&w| w == 0) {
        for w in weights.iter_mut() {
            *w = 1;
            changed += 1;
        }
    }
    changed
}

/// [`FeedbackError::LengthMismatch`] unless there is one weight per report, then
/// [`FeedbackError::TooManyServers`] when there are more than `capacity`.
fn check_lengths(
    reports: &[LoadReport],
    weights: &[u32],
    capacity: usize,
) -> Result<(), FeedbackError> {
    if reports.len() != weights.len() {
        Err(FeedbackError::LengthMismatch)
    } else if reports.len() > capacity {
        Err(FeedbackError::TooManyServers)
    } else {
        Ok(())
    }
}
