//! Least-connection (`ip_vs_lc.c`).
//!
//! Kernel rule: among servers without the OVERLOAD flag and with weight != 0, pick the one with
//! the smallest overhead `(activeconns << 8) + inactconns`, compared as an unsigned `int` with a
//! strict `<`, so the first minimum in list order (the most recently added server) wins ties.
//! Stateless; weights only matter as zero / non-zero. (The kernel's comment still says `<< 5`;
//! the code uses `<< 8`.)
//!
//! Deviation: none.

use lvs_core::{DestId, DestSet};

scan_scheduler! {
    /// The least-connection scheduler (`lc`).
    Lc = "lc", "A least-connection scheduler."
}

/// The kernel's lc decision over `dests` by a linear scan.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 1, 0),  // overhead 256
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 9, 0, 300), // overhead 300
/// ];
/// let order = [DestId(0), DestId(1)];
/// assert_eq!(lvs_sched::lc::pick(&DestSet::new(&pool, &order)), Some(DestId(0)));
/// ```
pub fn pick(dests: &DestSet<'_>) -> Option<DestId> {
    let mut least: Option<(DestId, u32)> = None;
    for (id, d) in dests.iter() {
        if d.is_overloaded() || d.weight == 0 {
            continue;
        }
        let doh = d.overhead();
        match least {
            Some((_, loh)) if doh >= loh => {}
            _ => least = Some((id, doh)),
        }
    }
    least.map(|(id, _)| id)
}
