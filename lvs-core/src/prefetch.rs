//! A cache hint: start bringing a value's cache line toward the core without waiting for it.
//!
//! The burst path ([`crate::director::Director::handle_packet_burst`]) hashes a group of
//! packets and asks for each one's connection-table line as soon as its hash is known, then
//! reads the lines once the whole group is hashed, so the memory accesses overlap the hashing
//! and one another. A plain read cannot do that: a load that misses the cache holds up the
//! core's retirement once the reorder window fills (a few hundred instructions), while a
//! prefetch retires at once. Rust has no safe prefetch on stable, so this module is the crate's
//! one use of `unsafe` (the crate denies it everywhere else). On targets without a prefetch
//! instruction here it does nothing, which changes only timing.
#![allow(unsafe_code)]

/// Hints that `r`'s cache line will be read soon (x86-64 `prefetcht0`; nothing elsewhere).
/// Never faults and has no effect on any value, only on timing.
#[inline(always)]
pub(crate) fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing the program can observe and cannot fault, whatever
        // the address; this one comes from a live reference besides.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = r;
    }
}
