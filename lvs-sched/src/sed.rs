//! Shortest expected delay (`ip_vs_sed.c`).
//!
//! Kernel rule: wlc's scan with the overhead replaced by `activeconns + 1` (inactive
//! connections are ignored): the first server with no OVERLOAD flag and weight > 0 is the
//! initial candidate, and a later non-overloaded server replaces it when
//! `loh * w_dest > doh * w_least` (64-bit products, strict, ties to the earlier server). UDP
//! connections never become active, so for UDP services every server costs 1 and the largest
//! weight wins. Stateless.
//!
//! Deviation: none.

use crate::util::{active_plus_one, weighted_least};
use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The shortest-expected-delay scheduler (`sed`).
    Sed = "sed", "A shortest-expected-delay scheduler."
}

/// The kernel's sed decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 50), // (0+1)/1
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 4, 2, 0),  // (2+1)/4
/// ];
/// let order = [DestId(0), DestId(1)];
/// assert_eq!(lvs_sched::sed::pick(&DestSet::new(&pool, &order)), Some(DestId(1)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    weighted_least(dests, active_plus_one)
}
