//! The scheduler interface (`struct ip_vs_scheduler` in the kernel).
//!
//! A scheduler picks a real server for a new connection. It sees the service's real servers
//! through a [`DestSet`] in the kernel's list order and is told about every change, with the same
//! callbacks the kernel has. Implementations live in `lvs-sched`, one file per algorithm.

use crate::addr::FlowKey;
use crate::dest::{DestId, DestSet};
use crate::time::Instant;

mod flags;

pub use flags::{SchedFlags, SchedFlagsDisplay};

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
    /// [`Scheduler::tick_interval_ms`].
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        let _ = (dests, now);
    }

    /// Interval for [`Scheduler::tick`], in milliseconds (the kernel's lblc timer is 60 s).
    fn tick_interval_ms(&self) -> u64 {
        60_000
    }

    /// The service's scheduler flags (`-b sh-port,...`) as listings show them.
    fn sched_flags(&self) -> SchedFlags {
        SchedFlags::NONE
    }

    /// Whether the choice is a pure function of the flow and the server list: any director
    /// holding the same servers (same order and weights) picks the same server for a flow,
    /// whatever it scheduled before (sh, mh, dh; not rr, lc, ...). Directors behind ECMP
    /// rely on it to take over one another's flows mid-stream
    /// ([`DirectorConfig::sloppy_tcp_consistent`](crate::director::DirectorConfig)).
    fn is_consistent(&self) -> bool {
        false
    }
}

/// Implements [`Scheduler`] for a pointer to one by forwarding every callback to the pointee.
macro_rules! forward_scheduler {
    ($(#[$attr:meta])* $ptr:ty) => {
        $(#[$attr])*
        impl<S: Scheduler + ?Sized> Scheduler for $ptr {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn init_service(&mut self, dests: &DestSet<'_>) {
                (**self).init_service(dests)
            }
            fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
                (**self).add_dest(dests, id)
            }
            fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
                (**self).del_dest(dests, id, position)
            }
            fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
                (**self).upd_dest(dests, id)
            }
            #[inline]
            fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
                (**self).counts_changed(dests, id)
            }
            #[inline]
            fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
                (**self).schedule(dests, req)
            }
            fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
                (**self).tick(dests, now)
            }
            fn tick_interval_ms(&self) -> u64 {
                (**self).tick_interval_ms()
            }
            fn sched_flags(&self) -> SchedFlags {
                (**self).sched_flags()
            }
            fn is_consistent(&self) -> bool {
                (**self).is_consistent()
            }
        }
    };
}

forward_scheduler! {
    /// Forwards every callback, so a director can hold `&mut dyn Scheduler` (or `&mut S`) while
    /// the caller owns the scheduler.
    &mut S
}

forward_scheduler! {
    /// Forwards every callback, so a director can own boxed schedulers of different types
    /// (`Box<dyn Scheduler>`, with the `alloc` feature).
    #[cfg(feature = "alloc")]
    alloc::boxed::Box<S>
}
