//! The memory a director works in, provided by the caller (or owned, with `alloc`).

use super::*;

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
        }
    }
}
