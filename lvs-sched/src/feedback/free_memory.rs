//! The published free-memory weights (alternatives 1 and 2).

use super::*;

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
        check_lengths(reports, weights, usize::MAX)?;
        let min = reports.iter().filter(|r| r.fresh).map(|r| r.free()).min();
        Ok(settle_all(reports, weights, |_, r, _| {
            self.proposal(r.free().saturating_sub(min.unwrap_or(0)))
        }))
    }
}
