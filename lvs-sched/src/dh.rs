//! Destination hashing (`ip_vs_dh.c`): a static map from the packet's destination address to a
//! real server, for cache clusters in front of many origin servers.
//!
//! The table has 256 buckets (`CONFIG_IP_VS_DH_TAB_BITS` = 8). Bucket `i` holds the `i % n`-th
//! server in list order, whatever the weights. A destination address `a` picks bucket
//! `hash_32(fold(a), 8)`: the kernel's golden-ratio multiply of the address as a host-order
//! `u32` (an IPv6 address folded by XOR of its four words), top 8 bits. The bucket's server is
//! returned unless its weight is 0 (or below) or it is OVERLOADed; there is no fallback.
//!
//! The table is rebuilt on `add_dest` and `del_dest` only, like the kernel (dh has no
//! `upd_dest`, and the table does not depend on weights). Memory: 514 bytes.
//!
//! Deviations: none in decisions. The kernel's table holds references; ours holds [`DestId`]s
//! and also checks [`Dest::is_available`](lvs_core::Dest::is_available) on lookup, which
//! changes nothing because the table is rebuilt whenever a server leaves.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
//! use lvs_sched::dh::{self, Dh};
//!
//! let pool = [Dest::with_counts(Endpoint::v4([10, 0, 0, 1], 80), 1, 0, 0),
//!             Dest::with_counts(Endpoint::v4([10, 0, 0, 2], 80), 1, 0, 0)];
//! let order = [DestId(1), DestId(0)];
//! let set = DestSet::new(&pool, &order);
//! let mut s = Dh::new();
//! s.init_service(&set);
//! let dst = Endpoint::v4([203, 0, 113, 9], 80);
//! let req = SchedRequest {
//!     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([192, 0, 2, 1], 5000), dst),
//!     now: Instant::ZERO,
//! };
//! // bucket i is served by the (i % 2)-th server in list order
//! let bucket = dh::hashkey(&dst.addr);
//! assert_eq!(s.schedule(&set, &req), Some(order[bucket % 2]));
//! ```

use lvs_core::addr::{fold_addr, IpAddr};
use lvs_core::dest::{DestId, DestSet};
use lvs_core::hash::hash_32;
use lvs_core::sched::{SchedRequest, Scheduler};

use crate::util::{available, Buckets};

/// Hash bits (`CONFIG_IP_VS_DH_TAB_BITS`).
pub const TAB_BITS: u32 = 8;
/// Number of buckets (256).
pub const TAB_SIZE: usize = 1 << TAB_BITS;

/// The bucket of destination address `addr` (`ip_vs_dh_hashkey`): `hash_32(fold(addr), 8)`.
///
/// ```
/// use lvs_core::addr::{IpAddr, Ipv4Addr};
/// assert_eq!(lvs_sched::dh::hashkey(&IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1))), 0x61);
/// ```
#[inline]
pub fn hashkey(addr: &IpAddr) -> usize {
    hash_32(fold_addr(addr), TAB_BITS) as usize
}

/// The dh scheduler: 256 buckets of real-server ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dh {
    buckets: Buckets,
}

impl Dh {
    /// A scheduler with an empty table (filled by `init_service`).
    pub const fn new() -> Self {
        Dh {
            buckets: Buckets::EMPTY,
        }
    }

    /// The server in bucket `i`, or `None` for an empty table or `i >= 256`.
    pub fn bucket(&self, i: usize) -> Option<DestId> {
        self.buckets.get(i)
    }

    /// `ip_vs_dh_reassign`: bucket `i` gets the `i % n`-th server in list order.
    fn reassign(&mut self, dests: &DestSet<'_>) {
        self.buckets.reassign(dests, |_| 1);
    }
}

impl Default for Dh {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }

    /// A function of the flow's destination address and the server list only.
    fn is_consistent(&self) -> bool {
        true
    }

    rebuild_on!(reassign: init_service, add_dest, del_dest);

    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let id = self.bucket(hashkey(&req.flow.dst.addr))?;
        let d = dests.get(id)?;
        available(d).then_some(id)
    }
}
