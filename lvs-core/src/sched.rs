//! The scheduler interface (`struct ip_vs_scheduler` in the kernel).
//!
//! A scheduler picks a real server for a new connection. It sees the service's real servers
//! through a [`DestSet`] in the kernel's list order and is told about every change, with the same
//! callbacks the kernel has. Implementations live in `lvs-sched`, one file per algorithm.

use crate::addr::FlowKey;
use crate::dest::{DestId, DestSet};
use crate::time::Instant;

/// What a scheduler knows about the connection it places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedRequest {
    /// The first packet's flow: `src` is the client, `dst` the virtual address and port.
    pub flow: FlowKey,
    /// The time of the packet.
    pub now: Instant,
}

/// A load-balancing algorithm.
///
/// All callbacks except [`Scheduler::schedule`] have no-op defaults. Each runs after the change
/// it reports has been applied to the set it receives, like the kernel's `add_dest`/`del_dest`/
/// `upd_dest`. `schedule` must not allocate and must not panic on any set.
///
/// ```
/// use lvs_core::sched::{Scheduler, SchedRequest};
/// use lvs_core::dest::{DestId, DestSet};
///
/// /// Always the first server in list order, if it has weight.
/// struct First;
/// impl Scheduler for First {
///     fn name(&self) -> &'static str { "first" }
///     fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
///         dests.iter().find(|(_, d)| d.weight > 0 && !d.is_overloaded()).map(|(id, _)| id)
///     }
/// }
/// ```
pub trait Scheduler {
    /// The kernel's name for the algorithm (`"wlc"`).
    fn name(&self) -> &'static str;

    /// The scheduler is bound to a service that already holds `dests` (`init_service`).
    fn init_service(&mut self, dests: &DestSet<'_>) {
        let _ = dests;
    }

    /// `id` was added at the head of the list (`add_dest`).
    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        let _ = (dests, id);
    }

    /// `id` was removed; it stood at index `position` of the list before removal (`del_dest`).
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        let _ = (dests, id, position);
    }

    /// `id`'s weight, thresholds or method were edited (`upd_dest`).
    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        let _ = (dests, id);
    }

    /// `id`'s active or inactive counter or overload flag changed. The kernel has no such hook;
    /// it lets a scheduler keep an index instead of scanning every server.
    #[inline]
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        let _ = (dests, id);
    }

    /// Picks a real server for a new connection, or `None` ("no destination available").
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId>;

    /// Periodic work (lblc's table collection); the director calls it at least every
    /// [`Scheduler::TICK_INTERVAL_MS`].
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        let _ = (dests, now);
    }

    /// Interval for [`Scheduler::tick`], in milliseconds (the kernel's lblc timer is 60 s).
    const TICK_INTERVAL_MS: u64 = 60_000;

    /// The service's scheduler flags (`-b sh-port,...`) as listings show them.
    fn sched_flags(&self) -> crate::ipvsadm::SchedFlags {
        crate::ipvsadm::SchedFlags::NONE
    }
}
