//! The memory a director works in, provided by the caller (or owned, with `alloc`).

use super::*;
use crate::conn::TimerWheel;

/// The memory a director works in, all provided by the caller.
///
/// `conns.len()` must be a power of two (the connection capacity); `order.len()` must equal
/// `dests.len()` and `dest_stats.len()` (the real-server capacity, at most 65535).
#[derive(Debug)]
pub struct DirectorMemory<'a, S> {
    /// Connection table storage.
    pub conns: &'a mut [ConnSlot],
    /// Service slots.
    pub services: &'a mut [Option<Service<S>>],
    /// Real-server pool.
    pub dests: &'a mut [Dest],
    /// Per-real-server stats.
    pub dest_stats: &'a mut [Stats],
    /// Scratch for every service's list order.
    pub order: &'a mut [DestId],
    /// The fixed-size working state.
    pub fixed: &'a mut DirectorFixed,
}

/// A director's working state of fixed size, whatever its capacities: the connection table's
/// timer wheel, the embryo ring, the sync outbox and the service index (about 47 KiB, see
/// [`memory_bytes`]). Provided by the caller, like the rest of [`DirectorMemory`], so that a
/// [`Director`] value stays small; [`Director::new`] resets it in place.
///
/// [`DirectorFixed::new`] is `const` and all zero bytes, so on a device the state can be a
/// `static` that lands in `.bss` (no flash for an initial image, no 47 KiB value built on the
/// stack and moved):
///
/// ```
/// use lvs_core::director::DirectorFixed;
/// static FIXED: DirectorFixed = DirectorFixed::new(); // a `static mut` or a cell on a device
/// # let _ = &FIXED;
/// ```
pub struct DirectorFixed {
    pub(super) wheel: TimerWheel,
    pub(super) embryos: defense::EmbryoRing,
    pub(super) outbox: replication::Outbox,
    pub(super) svc_index: svc_index::SvcIndex,
}

impl DirectorFixed {
    /// Storage for the state, all zero bytes; [`Director::new`] puts it in order in place.
    pub const fn new() -> Self {
        DirectorFixed {
            wheel: TimerWheel::zeroed(),
            embryos: defense::EmbryoRing::new(),
            outbox: replication::Outbox::new(),
            svc_index: svc_index::SvcIndex::zeroed(),
        }
    }

    /// Puts the state in order in place, as [`Director::new`] does (no copy through the
    /// stack).
    pub fn reset(&mut self) {
        self.wheel.reset();
        self.embryos.reset();
        self.outbox.reset();
        self.svc_index.reset();
    }
}

impl Default for DirectorFixed {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DirectorFixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectorFixed").finish_non_exhaustive()
    }
}

/// Bytes a director with scheduler type `S` takes in all: the [`Director`] value, its
/// [`DirectorFixed`], its [`DirectorMemory`] slices for `conns` connections (rounded up to a
/// power of two, as `OwnedMemory::new`, feature `alloc`, does), `services` service slots and
/// `dests` real servers, and `sched_table` bytes per service of scheduler tables kept outside
/// the scheduler value:
///
/// ```text
/// size_of::<Director<S>>() + size_of::<DirectorFixed>()
///   + conns.next_power_of_two() * 64                              (ConnSlot)
///   + services * (size_of::<Option<Service<S>>>() + sched_table)  (config, stats, scheduler)
///   + dests * (size_of::<Dest>() + size_of::<Stats>() + 2)        (server, stats, list order)
/// ```
///
/// The scheduler value lives in its service slot, so `S` sets the per-slot cost: a concrete
/// type costs what that algorithm keeps inline; `lvs_sched::AnyScheduler` about half a KiB
/// whatever the algorithm, because the big tables (mh's lookup table, lblc's and lblcr's
/// caches) live in memory the caller lends or boxes — `sched_table` counts them, and
/// `lvs_sched::storage::storage_bytes(name)` gives it per scheduler (0 for the schedulers
/// without a table, and for a scheduler that carries its table by value, as `Mh::new` does:
/// then `size_of::<Service<S>>` already holds it). `Box<dyn Scheduler>` costs a pointer in
/// the slot plus the boxed scheduler (count it in `sched_table`). Nothing else is allocated,
/// ever.
///
/// ```
/// use lvs_core::director::{memory_bytes, Director, DirectorFixed};
/// use lvs_core::sched::Scheduler;
/// # struct First;
/// # impl Scheduler for First {
/// #     fn name(&self) -> &'static str { "first" }
/// #     fn schedule(&mut self, d: &lvs_core::DestSet<'_>, _: &lvs_core::SchedRequest) -> Option<lvs_core::DestId> { None }
/// # }
/// const BYTES: usize = memory_bytes::<First>(1 << 16, 16, 256, 0);
/// assert!(BYTES > (1 << 16) * 64 + core::mem::size_of::<DirectorFixed>());
/// assert!(core::mem::size_of::<Director<'static, First>>() < 1024);
/// // a 20 KiB table per service, lent or boxed
/// assert_eq!(memory_bytes::<First>(1 << 16, 16, 256, 20 * 1024), BYTES + 16 * 20 * 1024);
/// ```
pub const fn memory_bytes<S: Scheduler>(
    conns: usize,
    services: usize,
    dests: usize,
    sched_table: usize,
) -> usize {
    use core::mem::size_of;
    let conns = if conns < 2 {
        2
    } else {
        conns.next_power_of_two()
    };
    let dests = if dests > u16::MAX as usize {
        u16::MAX as usize
    } else {
        dests
    };
    size_of::<Director<'_, S>>()
        + size_of::<DirectorFixed>()
        + conns * size_of::<ConnSlot>()
        + services * (size_of::<Option<Service<S>>>() + sched_table)
        + dests * (size_of::<Dest>() + size_of::<Stats>() + size_of::<DestId>())
}

/// Owned director memory (needs the `alloc` feature).
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct OwnedMemory<S> {
    conns: alloc::vec::Vec<ConnSlot>,
    services: alloc::vec::Vec<Option<Service<S>>>,
    dests: alloc::vec::Vec<Dest>,
    dest_stats: alloc::vec::Vec<Stats>,
    order: alloc::vec::Vec<DestId>,
    fixed: alloc::boxed::Box<DirectorFixed>,
}

#[cfg(feature = "alloc")]
impl<S> OwnedMemory<S> {
    /// Memory for `conns` connections (rounded up to a power of two), `services` services and
    /// `dests` real servers.
    pub fn new(conns: usize, services: usize, dests: usize) -> Self {
        let dests = dests.min(u16::MAX as usize);
        let mut sv = alloc::vec::Vec::with_capacity(services);
        sv.resize_with(services, || None);
        OwnedMemory {
            conns: alloc::vec![ConnSlot::EMPTY; conns.next_power_of_two().max(2)],
            services: sv,
            dests: alloc::vec![Dest::new(&DestConfig::new(Endpoint::v4([0; 4], 0), FwdMethod::DirectRoute, 0)); dests],
            dest_stats: alloc::vec![Stats::default(); dests],
            order: alloc::vec![DestId(0); dests],
            fixed: alloc::boxed::Box::new(DirectorFixed::new()),
        }
    }

    /// Borrows the memory for a director.
    pub fn borrow(&mut self) -> DirectorMemory<'_, S> {
        DirectorMemory {
            conns: &mut self.conns,
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.dest_stats,
            order: &mut self.order,
            fixed: &mut self.fixed,
        }
    }
}
