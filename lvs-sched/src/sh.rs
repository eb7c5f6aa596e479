//! Source hashing (`ip_vs_sh.c`): a static, weighted map from the client's address (and,
//! with `sh-port`, its port) to a real server.
//!
//! **Table.** 256 buckets (`CONFIG_IP_VS_SH_TAB_BITS` = 8), filled by walking the list in
//! order, round and round: each server takes `weight` consecutive buckets before the walk
//! moves on, and a server of weight 0 still takes one (the kernel's `++d_count >= weight`
//! test). For weights 2, 0, 3 the buckets read `A A B C C C A A B C C C …`, and the last cycle is
//! cut off at bucket 255. The table is rebuilt on every `add_dest`, `del_dest` and `upd_dest`.
//!
//! **Key.** `hashkey(offset) = (offset + hash_32(port + fold(saddr), 8)) & 255`, where
//! `fold(saddr)` is the host-order IPv4 address or the XOR of the four IPv6 words, and `port`
//! is the client's source port in host order (`ntohs`) when `sh-port` is set and the protocol
//! is TCP, UDP or SCTP, else 0. The sum wraps at 32 bits.
//!
//! **Lookup.** The bucket `hashkey(0)` answers unless its server has weight ≤ 0 or is
//! OVERLOADed. With `sh-fallback`, an unusable server makes the kernel probe
//! `hashkey((i + ihash) % 256)` for `i = 0..256`, i.e. buckets `(2·ihash + i) & 255`: the first
//! probe is **not** `ihash + 1`. Without it, the answer is `None`.
//!
//! Memory: 516 bytes. Deviations: none in decisions (the lookup also checks
//! [`Dest::is_available`](lvs_core::Dest::is_available), which cannot differ because every
//! removal rebuilds the table).

use lvs_core::addr::{fold_addr, IpAddr};
use lvs_core::dest::{DestId, DestSet};
use lvs_core::hash::hash_32;
use lvs_core::sched::{SchedRequest, Scheduler};

use crate::util::{available, client_key, hash_flags, weight, Buckets};

/// Hash bits (`CONFIG_IP_VS_SH_TAB_BITS`).
pub const TAB_BITS: u32 = 8;
/// Number of buckets (256).
pub const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: u32 = TAB_SIZE as u32 - 1;

/// `ip_vs_sh_hashkey`: `(offset + hash_32(port + fold(addr), 8)) & 255`, with `port` in host
/// order (pass 0 when the port is not used).
///
/// ```
/// use lvs_core::addr::{IpAddr, Ipv4Addr};
/// let a = IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0));
/// assert_eq!(lvs_sched::sh::hashkey(&a, 1, 0), 0x61);
/// assert_eq!(lvs_sched::sh::hashkey(&a, 1, 0x20), 0x81);
/// ```
#[inline]
pub fn hashkey(addr: &IpAddr, port: u16, offset: u32) -> usize {
    let h = hash_32(u32::from(port).wrapping_add(fold_addr(addr)), TAB_BITS);
    (offset.wrapping_add(h) & TAB_MASK) as usize
}

/// The sh scheduler: 256 buckets and the `sh-fallback` / `sh-port` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sh {
    buckets: Buckets,
    fallback: bool,
    port: bool,
}

impl Sh {
    /// A scheduler with an empty table; `fallback` is `sh-fallback`
    /// (`IP_VS_SVC_F_SCHED_SH_FALLBACK`), `port` is `sh-port` (`IP_VS_SVC_F_SCHED_SH_PORT`).
    pub const fn new(fallback: bool, port: bool) -> Self {
        Sh {
            buckets: Buckets::EMPTY,
            fallback,
            port,
        }
    }

    /// Whether `sh-fallback` is set.
    pub const fn fallback(&self) -> bool {
        self.fallback
    }

    /// Whether `sh-port` is set.
    pub const fn port(&self) -> bool {
        self.port
    }

    /// The server in bucket `i`, or `None` for an empty table or `i >= 256`.
    pub fn bucket(&self, i: usize) -> Option<DestId> {
        self.buckets.get(i)
    }

    /// `ip_vs_sh_reassign`: each server in list order gets `weight` buckets (at least one).
    fn reassign(&mut self, dests: &DestSet<'_>) {
        self.buckets.reassign(dests, weight);
    }
}

impl Default for Sh {
    /// No flags.
    fn default() -> Self {
        Self::new(false, false)
    }
}

impl Scheduler for Sh {
    /// The `-b` flags this scheduler was built with, for listings.
    fn sched_flags(&self) -> lvs_core::sched::SchedFlags {
        hash_flags(self.fallback, self.port)
    }

    fn name(&self) -> &'static str {
        "sh"
    }

    /// A function of the flow's address (and port) and the server list only.
    fn is_consistent(&self) -> bool {
        true
    }

    rebuild_on!(reassign: init_service, add_dest, del_dest, upd_dest);

    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let (addr, port) = client_key(req, self.port);
        let ihash = hashkey(&addr, port, 0);
        let id = self.bucket(ihash)?;
        let d = dests.get(id)?;
        if available(d) {
            return Some(id);
        }
        if !self.fallback {
            return None;
        }
        // ip_vs_sh_get_fallback: loop around the table starting from ihash
        for offset in 0..TAB_SIZE as u32 {
            let roffset = (offset + ihash as u32) % TAB_SIZE as u32;
            let id = self.bucket(hashkey(&addr, port, roffset))?;
            if dests.get(id).is_some_and(available) {
                return Some(id);
            }
        }
        None
    }
}
