//! Never queue (`ip_vs_nq.c`).
//!
//! Kernel rule: servers with the OVERLOAD flag or weight 0 are skipped. The first remaining
//! server in list order with no active connection is returned at once, whatever its weight.
//! Otherwise the sed rule applies: cost `activeconns + 1`, and a server replaces the candidate
//! when `loh * w_dest > doh * w_least` (64-bit products, strict, ties to the earlier server).
//! Inactive connections are ignored, so for UDP services (no active connections) nq always
//! returns the first usable server. Stateless.
//!
//! Deviation: none. Like the kernel (`!atomic_read(&dest->weight)`), only weight 0 is skipped.

use crate::util::{active, active_plus_one, weight};
use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The never-queue scheduler (`nq`).
    Nq = "nq", "A never-queue scheduler."
}

/// The kernel's nq decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 100, 1, 0),
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 1, 0, 900), // idle: wins outright
/// ];
/// let order = [DestId(0), DestId(1)];
/// assert_eq!(lvs_sched::nq::pick(&DestSet::new(&pool, &order)), Some(DestId(1)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    let mut least: Option<(DestId, i32, i32)> = None;
    for (id, d) in dests.iter() {
        if d.is_overloaded() || d.weight == 0 {
            continue;
        }
        let doh = active_plus_one(d);
        if active(d) == 0 {
            return Some(id);
        }
        let dw = weight(d);
        let replace = match least {
            None => true,
            Some((_, lw, loh)) => i64::from(loh) * i64::from(dw) > i64::from(doh) * i64::from(lw),
        };
        if replace {
            least = Some((id, dw, doh));
        }
    }
    least.map(|(id, _, _)| id)
}
