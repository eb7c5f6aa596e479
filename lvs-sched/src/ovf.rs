//! Overflow-connection (`ip_vs_ovf.c`).
//!
//! Kernel rule: a server is a candidate when it has no OVERLOAD flag, weight != 0 and
//! `activeconns <= weight` (so a server with exactly as many active connections as its weight
//! is still eligible). Among candidates the first one in list order with the strictly highest
//! weight wins. Inactive connections are ignored, so for UDP services (no active connections)
//! ovf behaves like fo. Stateless.
//!
//! Deviation: none. Weights and counters are compared as the kernel's `int`.

use crate::util::{active, weight};
use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The overflow-connection scheduler (`ovf`).
    Ovf = "ovf", "An overflow-connection scheduler."
}

/// The kernel's ovf decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 10, 11, 0), // over its weight
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 4, 4, 0),   // exactly at it: eligible
/// ];
/// let order = [DestId(0), DestId(1)];
/// assert_eq!(lvs_sched::ovf::pick(&DestSet::new(&pool, &order)), Some(DestId(1)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    let mut best: Option<(DestId, i32)> = None;
    for (id, d) in dests.iter() {
        let w = weight(d);
        if d.is_overloaded() || active(d) > w || w == 0 {
            continue;
        }
        match best {
            Some((_, hw)) if w <= hw => {}
            _ => best = Some((id, w)),
        }
    }
    best.map(|(id, _)| id)
}
