//! Weighted failover (`ip_vs_fo.c`).
//!
//! Kernel rule: among servers without the OVERLOAD flag, pick the first one (in list order)
//! with the strictly highest weight, which must be > 0. Connection counts are ignored: all new
//! connections go to one server until it is overloaded, quiesced or outweighed. Stateless.
//!
//! Deviation: none.

use crate::util::weight;
use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The weighted failover scheduler (`fo`).
    Fo = "fo", "A weighted failover scheduler."
}

/// The kernel's fo decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 5, 900, 0),
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 5, 0, 0),
/// ];
/// let order = [DestId(0), DestId(1)];
/// // equal weights: the first in list order wins, whatever its load
/// assert_eq!(lvs_sched::fo::pick(&DestSet::new(&pool, &order)), Some(DestId(0)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    let mut best: Option<DestId> = None;
    let mut hw = 0i32;
    for (id, d) in dests.iter() {
        if !d.is_overloaded() && weight(d) > hw {
            best = Some(id);
            hw = weight(d);
        }
    }
    best
}
