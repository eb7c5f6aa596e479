//! Weighted least-connection (`ip_vs_wlc.c`), the IPVS default.
//!
//! Kernel rule: the first server in list order with no OVERLOAD flag and weight > 0 is the
//! initial candidate `least`. Each later server without the OVERLOAD flag replaces it when
//! `loh * w_dest > doh * w_least`, with overheads `(activeconns << 8) + inactconns` as `int`
//! and the products in 64 bits. The comparison is strict, so ties go to the earlier server
//! (the most recently added). Later servers are not checked for weight 0: with a non-negative
//! overhead a weight-0 server can never satisfy the test. Stateless.
//!
//! Deviation: none. Counters are read as the kernel's `int`, so an overhead above `i32::MAX`
//! (more than 8 388 607 active connections on one server) wraps negative as in the kernel.

use crate::util::{overhead, weighted_least};
use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The weighted least-connection scheduler (`wlc`).
    Wlc = "wlc", "A weighted least-connection scheduler."
}

/// The kernel's wlc decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 1, 0), // 256 per weight
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 3, 2, 0), // 512 / 3 per weight
/// ];
/// let order = [DestId(0), DestId(1)];
/// assert_eq!(lvs_sched::wlc::pick(&DestSet::new(&pool, &order)), Some(DestId(1)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    weighted_least(dests, overhead)
}
