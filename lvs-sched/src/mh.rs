//! Maglev hashing (`ip_vs_mh.c`, Linux 4.18+): consistent hashing of the client address (and,
//! with `mh-port`, its port) over a prime-sized lookup table, after Eisenbud et al., "Maglev: A
//! Fast and Reliable Software Network Load Balancer" (NSDI 2016), §3.4.
//!
//! **Table size.** `M` is a prime from the kernel's list [`PRIMES`]
//! (`primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`; the kernel default index 12 gives
//! [`DEFAULT_TABLE_SIZE`] = 4093), or [`MAGLEV_PAPER_SIZE`] = 65537, the size the paper
//! evaluates (not offered by the kernel; it uses the weight-scaling bits of its neighbour
//! 65521). The weight-scaling constant `IP_VS_MH_TAB_BITS = index / 2` follows the size
//! ([`tab_bits`]).
//!
//! **Hash.** `hashkey(addr, port, key, offset) = hsiphash(v)` with the CPU-order `u32`
//! `v = offset + port + fold(addr)` (wrapping; `port` in host order, `fold` the host-order
//! IPv4 address or the XOR of the four IPv6 words). On 64-bit kernels `hsiphash` is
//! SipHash-1-3 truncated to 32 bits, with the keys [`HASH1_KEY`] = {2654435761, 2654435761}
//! and [`HASH2_KEY`] = {2654446892, 2654446892}; `v` is hashed as its 4 little-endian bytes,
//! the layout of x86-64 and little-endian arm64. (32-bit kernels use HalfSipHash-1-3 and
//! big-endian kernels hash other bytes, so they place flows differently.)
//!
//! **Permutation.** For each server in list order: `offset = hashkey(daddr, dport, HASH1, 0) % M`,
//! `skip = hashkey(daddr, dport, HASH2, 0) % (M − 1) + 1`.
//!
//! **Turns.** From `last_weight` (so a server edited to weight 0 keeps its slots):
//! `gcd` over the positive last weights, `rshift = max(0, fls(max_lw / gcd) − TAB_BITS)`,
//! `turns = (lw / gcd) >> rshift`, or 1 if that is 0 and `lw != 0`.
//!
//! **Population.** Round-robin over the list; each server with turns claims `turns`
//! consecutive slots per round, each time the next free slot of its permutation, until all `M`
//! slots are taken. No positive last weight leaves the table empty (every lookup `None`).
//! Rebuilt on every `add_dest`, `del_dest` and `upd_dest`.
//!
//! **Lookup.** Slot `hashkey(saddr, sport, HASH1, 0) % M`; its server answers unless its
//! weight is ≤ 0 or it is OVERLOADed. With `mh-fallback`, the kernel then probes
//! `hashkey(saddr, sport, HASH1, (i + ihash) % M) % M` for `i = 0..M` and takes the first
//! usable server. The port term is the client source port with `mh-port` for TCP, UDP and
//! SCTP, else 0.
//!
//! # Storage
//!
//! No allocation: the table is an [`MhTable`], a `[u16; CAP]` of [`DestId`]s with the capacity
//! a const generic (default 4093, the kernel's default size: 8 KiB), plus the population's
//! per-server cursor (`perm`, `skip`, `turns`: 12 bytes), kept for the first `SETUP` servers
//! in list order (default 1024: 12 KiB). Servers beyond that are still placed exactly, by
//! recomputing their permutation and scanning it from its start (every slot before the cursor
//! is taken, so the first free slot is the same), which is slower. `size_of::<MhTable>()` is
//! 20 476 bytes; `size_of::<MhTable<65537>>()` is 143 364 bytes. A rebuild also uses stack
//! for scratch sized by the service: a bitmap of taken slots (two bits per slot, kept in L1
//! while it is filled: 1 KiB for `M` ≤ 4093, 8 KiB up to 32749, 32 KiB above), a list of
//! the last 150 free slots (600 bytes) and, for up to 1024 servers, each server's walk
//! offsets, cursor and id together (44 bytes each, in arrays of 16, 64, 256 or 1024). Measured
//! on x86-64 (`tests/mh_stack.rs`): 3.0 KiB for 3 servers at `M` = 251 or 4093, 5.2 KiB for
//! 64 servers at 4093, 46.5 KiB for 1000 at 4093, 77.5 KiB for 1000 at 65537. With a
//! capacity `CAP` ≤ 4093 only the smallest bitmap is compiled.
//!
//! The table lives where the storage parameter `T` says (see [`crate::storage`]): in the
//! scheduler by default ([`Mh::new`], `size_of::<Mh>()` is 20 496 bytes), or in memory the
//! caller lends or boxes ([`Mh::with_storage`]), which leaves a value of a few dozen bytes.
//! Use `Mh::<65537>` or `MhTable<65537>` (or 131071) for the larger sizes.
//!
//! # Deviations
//! - More servers than `M` (or ≥ 65535 servers): the kernel refuses the rebuild (`-EINVAL`)
//!   and keeps its old table; so do we, but lookups additionally treat servers that have left
//!   the service ([`Dest::is_available`] false) as unusable, where the kernel would return
//!   the stale server. At `init_service` such a set leaves the table empty (the kernel fails
//!   to bind the scheduler).
//! - Real servers are folded by their own address family. The kernel folds them by the
//!   service's: an IPv4 service with IPv6 (tunnel) real servers hashes only their first
//!   32-bit word there.

use core::borrow::BorrowMut;
use core::fmt;

use lvs_core::addr::{fold_addr, IpAddr};
use lvs_core::dest::{Dest, DestId, DestSet};
use lvs_core::hash::SipKey;
use lvs_core::sched::{SchedRequest, Scheduler};

use crate::util::{available, client_key, hash_flags};

mod populate;
#[cfg(test)]
use populate::add_mod;
use populate::{fill, Ctx};
#[cfg(test)]
mod tests;

/// The kernel's table sizes, `primes[]` in `ip_vs_mh.c`, for `CONFIG_IP_VS_MH_TAB_INDEX`
/// 8 to 17.
pub const PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
/// The kernel's default table size (`CONFIG_IP_VS_MH_TAB_INDEX` = 12).
pub const DEFAULT_TABLE_SIZE: u32 = 4093;
/// The table size of the Maglev paper (not in the kernel's list).
pub const MAGLEV_PAPER_SIZE: u32 = 65537;
/// Default capacity of [`Mh`]'s table (its `CAP`).
pub const DEFAULT_CAPACITY: usize = DEFAULT_TABLE_SIZE as usize;
/// Default number of servers whose population cursor is cached (`Mh`'s `SETUP`).
pub const DEFAULT_SETUP_CACHE: usize = 1024;
/// The `hash1` key of `generate_hash_secret` (offsets and lookups).
pub const HASH1_KEY: SipKey = SipKey(2_654_435_761, 2_654_435_761);
/// The `hash2` key of `generate_hash_secret` (skips).
pub const HASH2_KEY: SipKey = SipKey(2_654_446_892, 2_654_446_892);

/// `IP_VS_MH_TAB_BITS` for a table size: `CONFIG_IP_VS_MH_TAB_INDEX / 2` (8 for 65537, like
/// 65521). `None` for an unsupported size.
///
/// ```
/// assert_eq!(lvs_sched::mh::tab_bits(4093), Some(6));
/// assert_eq!(lvs_sched::mh::tab_bits(65537), Some(8));
/// assert_eq!(lvs_sched::mh::tab_bits(4096), None);
/// ```
pub const fn tab_bits(size: u32) -> Option<u32> {
    if size == MAGLEV_PAPER_SIZE {
        return Some(8);
    }
    let mut i = 0;
    while i < PRIMES.len() {
        if PRIMES[i] == size {
            return Some((i as u32 + 8) / 2);
        }
        i += 1;
    }
    None
}

/// The kernel's `hsiphash(&v, sizeof(v), key)` on a 64-bit little-endian machine:
/// SipHash-1-3 of the 4 bytes of `v`, truncated to 32 bits.
///
/// ```
/// use lvs_core::hash::SipKey;
/// // lib/tests/siphash_kunit.c: key 00..0f, message 00 01 02 03
/// let key = SipKey(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
/// assert_eq!(lvs_sched::mh::hsiphash_u32(key, 0x0302_0100), 0x88d3_8328);
/// ```
#[inline]
pub fn hsiphash_u32(key: SipKey, v: u32) -> u32 {
    // the 4 message bytes and the length byte fit in the final block: one compression round
    // and the three finalisation rounds of `siphash::<1, 3>`, without its byte loop
    let m = u64::from(v) | 4 << 56;
    lvs_core::hash::siphash13_block(key, m) as u32
}

/// `ip_vs_mh_hashkey`: `hsiphash(offset + port + fold(addr))`, `port` in host order.
#[inline]
pub fn hashkey(addr: &IpAddr, port: u16, key: SipKey, offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold_addr(addr));
    hsiphash_u32(key, v)
}

/// Why an [`Mh`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MhError {
    /// The size is neither in [`PRIMES`] nor [`MAGLEV_PAPER_SIZE`].
    UnsupportedSize {
        /// The requested size.
        size: u32,
    },
    /// The size is supported but larger than the table's capacity (`Mh<CAP>`).
    ExceedsCapacity {
        /// The requested size.
        size: u32,
        /// The capacity of the type.
        capacity: usize,
    },
}

impl fmt::Display for MhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MhError::UnsupportedSize { size } => write!(
                f,
                "mh table size {size} is not one of the kernel's primes (251 .. 131071) or 65537"
            ),
            MhError::ExceedsCapacity { size, capacity } => write!(
                f,
                "mh table size {size} exceeds this table's capacity {capacity} (use Mh<{size}>)"
            ),
        }
    }
}

impl core::error::Error for MhError {}

/// A server's population cursor (`struct ip_vs_mh_dest_setup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Setup {
    perm: u32,
    skip: u32,
    turns: u32,
}

/// The bound on list positions: a table entry is a position below this (the population
/// tracks free slots in a bitmap, not in the table).
const FREE: u16 = u16::MAX;

/// mh's storage: a lookup table of up to `CAP` slots and the population cursors of the first
/// `SETUP` servers (see the [module documentation](self) for sizes). An [`Mh`] keeps it by
/// value, or borrows it from the caller ([`Mh::with_storage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhTable<const CAP: usize = DEFAULT_CAPACITY, const SETUP: usize = DEFAULT_SETUP_CACHE> {
    table: [DestId; CAP],
    setup: [Setup; SETUP],
}

impl MhTable {
    /// An empty table of the default capacity (an [`Mh`] fills it when it is bound to a
    /// service).
    pub const fn new() -> Self {
        Self::with_capacity()
    }
}

impl<const CAP: usize, const SETUP: usize> MhTable<CAP, SETUP> {
    /// An empty table of `CAP` slots and `SETUP` cursors (`MhTable::<65537>::with_capacity()`).
    pub const fn with_capacity() -> Self {
        MhTable {
            table: [DestId(0); CAP],
            setup: [Setup {
                perm: 0,
                skip: 0,
                turns: 0,
            }; SETUP],
        }
    }

    /// The slot capacity `CAP`.
    pub const fn capacity(&self) -> usize {
        CAP
    }
}

impl<const CAP: usize, const SETUP: usize> Default for MhTable<CAP, SETUP> {
    fn default() -> Self {
        Self::with_capacity()
    }
}

/// The mh scheduler over a lookup table of up to `CAP` slots and the population cursors of
/// the first `SETUP` servers, kept in `T`: by value (the default), or `&mut MhTable`, or a
/// [`Store`](crate::storage::Store) (see [`crate::storage`]). See the
/// [module documentation](self) for memory figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mh<
    const CAP: usize = DEFAULT_CAPACITY,
    const SETUP: usize = DEFAULT_SETUP_CACHE,
    T: BorrowMut<MhTable<CAP, SETUP>> = MhTable<CAP, SETUP>,
> {
    store: T,
    size: u32,
    bits: u32,
    gcd: u32,
    rshift: u32,
    /// The table is populated (false: all NULL).
    filled: bool,
    fallback: bool,
    port: bool,
}

impl Mh {
    /// An mh scheduler with `table_size` slots (at most [`DEFAULT_CAPACITY`]; use
    /// [`Mh::with_table_size`] on `Mh<65537>` or `Mh<131071>` for the large sizes), `fallback`
    /// = `mh-fallback`, `port` = `mh-port`. It carries its table (20 KiB); see
    /// [`Mh::with_storage`] for a table in the caller's memory.
    ///
    /// ```
    /// use lvs_sched::mh::{Mh, MhError};
    /// assert!(Mh::new(4093, false, false).is_ok());
    /// assert_eq!(Mh::new(4000, false, false).unwrap_err(), MhError::UnsupportedSize { size: 4000 });
    /// assert!(matches!(Mh::new(65537, false, false), Err(MhError::ExceedsCapacity { .. })));
    /// assert!(lvs_sched::mh::Mh::<65537>::with_table_size(65537, true, true).is_ok());
    /// ```
    pub fn new(table_size: u32, fallback: bool, port: bool) -> Result<Mh, MhError> {
        Self::with_table_size(table_size, fallback, port)
    }
}

impl Default for Mh {
    /// The kernel's default: 4093 slots, no flags.
    fn default() -> Self {
        Mh::blank(MhTable::new(), DEFAULT_TABLE_SIZE, 6, false, false)
    }
}

impl<const CAP: usize, const SETUP: usize> Mh<CAP, SETUP> {
    /// An mh scheduler with `table_size` slots (≤ `CAP`), for any capacity, carrying its
    /// table.
    pub fn with_table_size(table_size: u32, fallback: bool, port: bool) -> Result<Self, MhError> {
        Self::check(table_size)?;
        let bits = tab_bits(table_size).unwrap_or(0);
        Ok(Self::blank(
            MhTable::with_capacity(),
            table_size,
            bits,
            fallback,
            port,
        ))
    }
}

impl<const CAP: usize, const SETUP: usize, T: BorrowMut<MhTable<CAP, SETUP>>> Mh<CAP, SETUP, T> {
    /// An mh scheduler with `table_size` slots (≤ `CAP`) whose table lives in `store`:
    /// `&mut MhTable` lent by the caller, a [`Store`](crate::storage::Store), or (with
    /// `alloc`) a `Box<MhTable>`. Nothing is allocated; the table is filled when the
    /// scheduler is bound to a service ([`Scheduler::init_service`]).
    ///
    /// ```
    /// use lvs_sched::mh::{Mh, MhTable};
    /// let mut big = MhTable::<65537>::with_capacity();
    /// let mh = Mh::with_storage(&mut big, 65537, true, false).unwrap();
    /// assert_eq!(mh.table_size(), 65537);
    /// ```
    ///
    /// # Errors
    /// As [`Mh::new`].
    pub fn with_storage(
        store: T,
        table_size: u32,
        fallback: bool,
        port: bool,
    ) -> Result<Self, MhError> {
        Self::check(table_size)?;
        let bits = tab_bits(table_size).unwrap_or(0);
        Ok(Self::blank(store, table_size, bits, fallback, port))
    }

    fn check(table_size: u32) -> Result<(), MhError> {
        tab_bits(table_size).ok_or(MhError::UnsupportedSize { size: table_size })?;
        if table_size as usize > CAP {
            return Err(MhError::ExceedsCapacity {
                size: table_size,
                capacity: CAP,
            });
        }
        Ok(())
    }

    const fn blank(store: T, size: u32, bits: u32, fallback: bool, port: bool) -> Self {
        Mh {
            store,
            size,
            bits,
            gcd: 0,
            rshift: 0,
            filled: false,
            fallback,
            port,
        }
    }

    /// The storage (hands a lent or boxed table back).
    pub fn into_storage(self) -> T {
        self.store
    }

    /// The table size `M`.
    pub const fn table_size(&self) -> u32 {
        self.size
    }

    /// Whether `mh-fallback` is set.
    pub const fn fallback(&self) -> bool {
        self.fallback
    }

    /// Whether `mh-port` is set.
    pub const fn port(&self) -> bool {
        self.port
    }

    /// The gcd of the positive last weights at the last rebuild (0: none).
    pub const fn gcd(&self) -> u32 {
        self.gcd
    }

    /// The weight right-shift at the last rebuild.
    pub const fn rshift(&self) -> u32 {
        self.rshift
    }

    /// The server in slot `i`, or `None` for an empty table or `i >= M`.
    #[inline]
    pub fn slot(&self, i: usize) -> Option<DestId> {
        if self.filled && i < self.size as usize {
            self.store.borrow().table.get(i).copied()
        } else {
            None
        }
    }

    /// The slots `0..M` (`None` if the table is empty).
    pub fn slots(&self) -> Option<&[DestId]> {
        if self.filled {
            self.store.borrow().table.get(..self.size as usize)
        } else {
            None
        }
    }

    /// The lookup slot of a client (`hashkey(addr, port, HASH1, 0) % M`).
    #[inline]
    pub fn slot_of(&self, addr: &IpAddr, port: u16) -> usize {
        (hashkey(addr, port, HASH1_KEY, 0) % self.size) as usize
    }

    /// `ip_vs_mh_dest_changed`: recompute gcd and shift, then `ip_vs_mh_reassign`.
    fn dest_changed(&mut self, dests: &DestSet<'_>) {
        let order = dests.order();
        let lw = |id: DestId| dests.get(id).map_or(0, |d| d.last_weight as i32);
        // ip_vs_mh_gcd_weight
        let mut g: u32 = 0;
        let mut max_lw: i32 = 0;
        for &id in order {
            let w = lw(id);
            if w > 0 {
                g = if g > 0 { gcd(w as u32, g) } else { w as u32 };
            }
            max_lw = max_lw.max(w);
        }
        self.gcd = g;
        // ip_vs_mh_shift_weight
        // (gcd 0: no weights, shift 0)
        self.rshift = (max_lw as u32).checked_div(g).map_or(0, |mw| {
            let fls = u32::BITS - mw.leading_zeros();
            fls.saturating_sub(self.bits)
        });
        // ip_vs_mh_reassign
        let m = self.size as usize;
        if order.len() > m || order.len() >= FREE as usize || m > CAP || m < 2 {
            return; // -EINVAL: the old table stays
        }
        if g == 0 {
            self.filled = false; // ip_vs_mh_reset
            return;
        }
        self.populate(dests);
    }

    /// `ip_vs_mh_permutate` + `ip_vs_mh_populate`.
    fn populate(&mut self, dests: &DestSet<'_>) {
        let order = dests.order();
        let ctx = Ctx {
            order,
            dests,
            m: self.size,
            gcd: self.gcd,
            rshift: self.rshift,
        };
        let store = self.store.borrow_mut();
        for (s, &id) in store.setup.iter_mut().zip(order) {
            let d = dests.get(id);
            let (offset, skip) = ctx.perm_of(d);
            *s = Setup {
                perm: offset,
                skip,
                turns: ctx.turns_of(d),
            };
        }
        let Some(table) = store.table.get_mut(..self.size as usize) else {
            return;
        };
        // no clearing: the fill writes every slot once
        fill::<CAP>(table, &mut store.setup, &ctx);
        self.filled = true;
    }

    /// `ip_vs_mh_get` / `ip_vs_mh_get_fallback`.
    #[inline]
    fn lookup(&self, dests: &DestSet<'_>, addr: &IpAddr, port: u16) -> Option<DestId> {
        let ihash = self.slot_of(addr, port);
        let id = self.slot(ihash)?;
        if dests.get(id).is_some_and(available) {
            return Some(id);
        }
        if !self.fallback {
            return None;
        }
        let m = self.size;
        for offset in 0..m {
            let roffset = (offset + ihash as u32) % m;
            let hash = hashkey(addr, port, HASH1_KEY, roffset) % m;
            let id = self.slot(hash as usize)?;
            if dests.get(id).is_some_and(available) {
                return Some(id);
            }
        }
        None
    }
}

/// Euclid's gcd of two positive numbers (`lib/math/gcd.c` computes the same value).
const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl<const CAP: usize, const SETUP: usize, T: BorrowMut<MhTable<CAP, SETUP>>> Scheduler
    for Mh<CAP, SETUP, T>
{
    /// The `-b` flags this scheduler was built with, for listings.
    fn sched_flags(&self) -> lvs_core::sched::SchedFlags {
        hash_flags(self.fallback, self.port)
    }

    fn name(&self) -> &'static str {
        "mh"
    }

    /// A function of the flow's address (and port) and the server list only.
    fn is_consistent(&self) -> bool {
        true
    }

    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.filled = false;
        self.dest_changed(dests);
    }

    fn add_dest(&mut self, dests: &DestSet<'_>, _id: DestId) {
        self.dest_changed(dests);
    }

    fn del_dest(&mut self, dests: &DestSet<'_>, _id: DestId, _position: usize) {
        self.dest_changed(dests);
    }

    fn upd_dest(&mut self, dests: &DestSet<'_>, _id: DestId) {
        self.dest_changed(dests);
    }

    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let (addr, port) = client_key(req, self.port);
        self.lookup(dests, &addr, port)
    }
}
