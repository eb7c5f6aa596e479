//! Round-robin (`ip_vs_rr.c`).
//!
//! Kernel rule: the scheduler keeps a cursor, which starts at the list head and then sits on the
//! last server it chose. A pick scans from the server after the cursor to the end of the list,
//! then (when the cursor is a server) wraps to the head and scans up to and including the cursor.
//! It takes the first server that has weight > 0 and no OVERLOAD flag, and moves the cursor there.
//! Adding a server does not move the cursor (new servers go to the head of the list, so one
//! added while the cursor sits mid-list is reached only after the wrap). Removing the cursor's
//! server moves the cursor to that server's predecessor, or to the head
//! (`ip_vs_rr_del_dest`).
//!
//! Deviation: none in decisions. The cursor is stored as a server id plus a position hint
//! instead of a list pointer; if the cursor's server is no longer listed when a pick runs
//! (a director that skipped `del_dest`), the scan starts from the head.

use crate::util::{member, usable, Cursor};
use lvs_core::{DestId, DestSet, SchedRequest, Scheduler};

/// The round-robin scheduler (`rr`).
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
/// use lvs_sched::Rr;
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 0),
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 1, 0, 0),
/// ];
/// let order = [DestId(1), DestId(0)]; // dest 1 was added last, so it is listed first
/// let set = DestSet::new(&pool, &order);
/// let req = SchedRequest {
///     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
///     now: Instant::ZERO,
/// };
/// let mut rr = Rr::new();
/// rr.init_service(&set);
/// assert_eq!(rr.schedule(&set, &req), Some(DestId(1)));
/// assert_eq!(rr.schedule(&set, &req), Some(DestId(0)));
/// assert_eq!(rr.schedule(&set, &req), Some(DestId(1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rr {
    cursor: Cursor,
}

impl Rr {
    /// A scheduler whose cursor is at the list head.
    pub const fn new() -> Self {
        Rr {
            cursor: Cursor::HEAD,
        }
    }

    /// The server the cursor sits on (the last one chosen), or `None` for the list head.
    pub fn cursor(&self) -> Option<DestId> {
        self.cursor.id()
    }
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn init_service(&mut self, _dests: &DestSet<'_>) {
        self.cursor = Cursor::HEAD;
    }

    fn add_dest(&mut self, _dests: &DestSet<'_>, _id: DestId) {
        // The kernel has no add_dest for rr: the cursor keeps pointing at the same server,
        // which now stands one position further down the list.
        self.cursor.on_add();
    }

    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        if self.cursor.id() == Some(id) {
            // Back to the predecessor (position - 1 is unchanged by the removal), or the head.
            self.cursor = match position.checked_sub(1) {
                Some(prev) => match dests.order().get(prev) {
                    Some(&p) => Cursor::at(p, prev),
                    None => Cursor::HEAD,
                },
                None => Cursor::HEAD,
            };
        } else {
            self.cursor.on_del(position);
        }
    }

    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let last = self.cursor.resolve(dests);
        let n = dests.order().len();
        // Pass 1: after the cursor to the end of the list.
        let start = last.map_or(0, |p| p + 1);
        for i in start..n {
            if let Some((id, d)) = member(dests, i) {
                if usable(d) {
                    self.cursor = Cursor::at(id, i);
                    return Some(id);
                }
            }
        }
        // Pass 2 (only when the cursor was a server): from the head up to and including it.
        if let Some(last) = last {
            for i in 0..=last {
                if let Some((id, d)) = member(dests, i) {
                    if usable(d) {
                        self.cursor = Cursor::at(id, i);
                        return Some(id);
                    }
                }
            }
        }
        None
    }
}
