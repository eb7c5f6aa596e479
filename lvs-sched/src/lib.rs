//! # lvs-sched
//!
//! The IPVS schedulers, one file per algorithm like the kernel's `ip_vs_*.c`, each implementing
//! [`lvs_core::Scheduler`] with the kernel's exact decisions: list order (most recently added
//! server first, which wins ties), strict comparisons, 64-bit cross products, weight 0 means
//! quiesced and the OVERLOAD flag means skip.
//!
//! # Traits
//!
//! Every scheduler implements [`lvs_core::Scheduler`]. This crate adds three extension points:
//!
//! - [`random::RandomSource`]: where twos draws its random numbers (the embedder's own
//!   generator, or [`random::SplitMix64`]).
//!
//! ```
//! use lvs_sched::random::RandomSource;
//! /// Always the lowest value: twos then picks its candidates deterministically.
//! struct Zero;
//! impl RandomSource for Zero {
//!     fn next_u32_below(&mut self, _bound: u32) -> u32 { 0 }
//! }
//! let twos = lvs_sched::Twos::new(Zero);
//! # let _ = twos;
//! ```
//!
//! - [`index::Rule`]: a scanning scheduler's choice as a rank per server, which
//!   [`index::Indexed`] keeps in a tournament tree for O(1) decisions.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Scheduler};
//! use lvs_sched::index::{Indexed, Rule};
//! /// Fewest active connections, ignoring weights (ties to list order).
//! struct FewestActive;
//! impl Rule for FewestActive {
//!     const NAME: &'static str = "fewest-active";
//!     fn rank(d: &Dest) -> Option<u64> {
//!         (d.weight > 0 && !d.is_overloaded()).then_some(u64::from(d.active))
//!     }
//!     fn exact(_: &Dest) -> bool { true }
//!     fn linear(dests: &DestSet<'_>) -> Option<DestId> {
//!         dests.iter().filter_map(|(id, d)| Self::rank(d).map(|k| (k, id))).min_by_key(|&(k, _)| k).map(|(_, id)| id)
//!     }
//! }
//! let s = Indexed::<FewestActive, 64>::new();
//! assert_eq!(s.name(), "fewest-active");
//! ```
//!
//! - [`feedback::WeightController`]: turns real servers' load reports into weights (the
//!   feedback controllers of [`feedback`]).
//!
//! ```
//! use lvs_sched::feedback::{FeedbackError, LoadReport, WeightController};
//! /// Weight = idle CPU in per-cent, at least 1, for servers that reported.
//! struct Idle;
//! impl WeightController for Idle {
//!     fn name(&self) -> &'static str { "idle" }
//!     fn update(&mut self, r: &[LoadReport], w: &mut [u32]) -> Result<usize, FeedbackError> {
//!         if r.len() != w.len() { return Err(FeedbackError::LengthMismatch); }
//!         let mut changed = 0;
//!         for (r, w) in r.iter().zip(w.iter_mut()).filter(|(r, _)| r.fresh) {
//!             let new = u32::from(r.cpu_idle_permille.min(1000) / 10).max(1);
//!             changed += usize::from(new != *w);
//!             *w = new;
//!         }
//!         Ok(changed)
//!     }
//! }
//! let mut w = [10, 10];
//! let mut busy = LoadReport::MISSING;
//! busy.fresh = true;
//! busy.cpu_idle_permille = 250;
//! assert_eq!(Idle.update(&[busy, LoadReport::MISSING], &mut w), Ok(1));
//! assert_eq!(w, [25, 10]);
//! ```
//!
//! # Schedulers
//!
//! | module | kernel file | state |
//! |---|---|---|
//! | [`rr`] | `ip_vs_rr.c` | cursor |
//! | [`wrr`] | `ip_vs_wrr.c` | cursor, current weight, gcd, max weight |
//! | [`lc`], [`wlc`], [`sed`], [`nq`], [`fo`], [`ovf`] | `ip_vs_{lc,wlc,sed,nq,fo,ovf}.c` | none (linear scan) |
//! | [`twos`] | `ip_vs_twos.c` | a [`random::RandomSource`] |
//! | `dh`, `sh` | `ip_vs_{dh,sh}.c` | 256 buckets (512 bytes) |
//! | `mh`, `lblc`, `lblcr` | `ip_vs_{mh,lblc,lblcr}.c` | a table of 20, 42 or 66 KiB, in memory the caller chooses ([`storage`]) |
//!
//! Each scheduler sits behind its `sched-*` feature. `schedule` never allocates and never
//! panics on any [`lvs_core::DestSet`].
//!
//! - [`registry::AnyScheduler`] picks a scheduler by its kernel name (`"wlc"`), with `match`
//!   dispatch; about half a KiB whatever the algorithm, because mh's, lblc's and lblcr's tables
//!   live in memory the caller lends ([`storage::SchedStorage`]) or, with `alloc`, in a box.
//! - [`index`] has O(log N)-update, O(1)-decision versions of the scanning schedulers (lc, wlc,
//!   sed, nq, fo, ovf) for services with hundreds or thousands of servers, with the kernel's
//!   exact decisions.
//! - [`random`] supplies twos' randomness ([`random::SplitMix64`], or the embedder's own).
#![no_std]
#![warn(unreachable_pub)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(test)]
extern crate std;

/// Items that need every scheduler of the crate (its default features): `cfg` items exist
/// only then; `allow(lint) unless` items allow `lint` otherwise.
macro_rules! every_scheduler {
    (@ $all:tt cfg $($i:item)*) => {
        $(#[cfg(all $all)] $i)*
    };
    (@ $all:tt allow($lint:ident) unless $($i:item)*) => {
        $(#[cfg_attr(not(all $all), allow($lint))] $i)*
    };
    ($($body:tt)*) => {
        every_scheduler!(@ (
            feature = "sched-rr", feature = "sched-wrr", feature = "sched-lc", feature = "sched-wlc",
            feature = "sched-lblc", feature = "sched-lblcr", feature = "sched-dh", feature = "sched-sh",
            feature = "sched-sed", feature = "sched-nq", feature = "sched-fo", feature = "sched-ovf",
            feature = "sched-mh", feature = "sched-twos"
        ) $($body)*);
    };
}

/// Inside `impl Scheduler for X`: each listed server callback (`init_service`, `add_dest`,
/// `del_dest`, `upd_dest`) recomputes the scheduler's state from the whole set with
/// `self.$rebuild(dests)`, as the kernel's hashing and weighted schedulers do.
#[allow(unused_macros)] // with none of its schedulers built in
macro_rules! rebuild_on {
    ($rebuild:ident: $($callback:ident),+) => {
        $(rebuild_on!(@ $callback $rebuild);)+
    };
    (@ init_service $r:ident) => {
        fn init_service(&mut self, dests: &DestSet<'_>) {
            self.$r(dests);
        }
    };
    (@ add_dest $r:ident) => {
        fn add_dest(&mut self, dests: &DestSet<'_>, _id: DestId) {
            self.$r(dests);
        }
    };
    (@ del_dest $r:ident) => {
        fn del_dest(&mut self, dests: &DestSet<'_>, _id: DestId, _position: usize) {
            self.$r(dests);
        }
    };
    (@ upd_dest $r:ident) => {
        fn upd_dest(&mut self, dests: &DestSet<'_>, _id: DestId) {
            self.$r(dests);
        }
    };
}

/// A stateless scanning scheduler: the unit struct `$name` (with `new`) whose decision is the
/// module's `pick` over the whole set, under the kernel's name `$kernel`.
#[allow(unused_macros)] // with none of its schedulers built in
macro_rules! scan_scheduler {
    ($(#[$doc:meta])* $name:ident = $kernel:literal, $new_doc:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            #[doc = $new_doc]
            pub const fn new() -> Self {
                $name
            }
        }

        impl lvs_core::Scheduler for $name {
            fn name(&self) -> &'static str {
                $kernel
            }

            fn schedule(
                &mut self,
                dests: &lvs_core::DestSet<'_>,
                _req: &lvs_core::SchedRequest,
            ) -> Option<lvs_core::DestId> {
                pick(dests)
            }
        }
    };
}

/// Inside `impl Lblc`/`impl Lblcr`: the accessors of the locality table both keep (`t()`,
/// `t_mut()`, the `$sysctl` expiration, the counters and the collection timer's state).
#[cfg(any(feature = "sched-lblc", feature = "sched-lblcr"))]
macro_rules! locality_accessors {
    ($sysctl:literal, $val:ty) => {
        #[inline]
        fn t(&self) -> &Table<$val, N> {
            &self.table.borrow().0
        }

        #[inline]
        fn t_mut(&mut self) -> &mut Table<$val, N> {
            &mut self.table.borrow_mut().0
        }

        #[doc = concat!("The same scheduler with the `", $sysctl, "` sysctl set to `exp`.")]
        pub fn with_expiration(mut self, exp: Duration) -> Self {
            self.t_mut().set_expiration(exp);
            self
        }

        #[doc = concat!("Sets the `", $sysctl, "` sysctl (see the module documentation).")]
        pub fn set_expiration(&mut self, exp: Duration) {
            self.t_mut().set_expiration(exp);
        }

        #[doc = concat!("The `", $sysctl, "` setting.")]
        pub fn expiration(&self) -> Duration {
            self.t().expiration()
        }

        /// Live cache entries.
        pub fn len(&self) -> usize {
            self.t().live()
        }

        /// No live cache entries.
        pub fn is_empty(&self) -> bool {
            self.t().live() == 0
        }

        /// The kernel's `tbl->entries` counter, which replacements let drift above `len()`.
        pub fn entries(&self) -> u32 {
            self.t().entries()
        }

        /// The collection timer's run counter (`tbl->counter`, starts at 1).
        pub fn gc_counter(&self) -> u32 {
            self.t().counter()
        }

        /// The bucket after which the next sweep starts (`tbl->rover`).
        pub fn rover(&self) -> usize {
            self.t().rover()
        }

        /// When the collection timer fires next (`None` until armed).
        pub fn next_gc(&self) -> Option<Instant> {
            self.t().next_gc()
        }

        /// Entries recycled because the pool was full.
        pub fn evictions(&self) -> u64 {
            self.t().evictions()
        }
    };
}

pub mod agent;
pub mod feedback;
#[cfg(any(
    feature = "sched-lc",
    feature = "sched-wlc",
    feature = "sched-sed",
    feature = "sched-nq",
    feature = "sched-fo",
    feature = "sched-ovf"
))]
pub mod index;
pub mod p2c;
pub mod random;
pub mod registry;
pub mod storage;
#[cfg(test)]
mod test_util;
every_scheduler! {
    allow(dead_code) unless mod util;
}

#[cfg(feature = "sched-dh")]
pub mod dh;
#[cfg(feature = "sched-fo")]
pub mod fo;
#[cfg(feature = "sched-lblc")]
pub mod lblc;
#[cfg(feature = "sched-lblcr")]
pub mod lblcr;
#[cfg(feature = "sched-lc")]
pub mod lc;
#[cfg(any(feature = "sched-lblc", feature = "sched-lblcr"))]
mod locality;
#[cfg(feature = "sched-mh")]
pub mod mh;
#[cfg(feature = "sched-nq")]
pub mod nq;
#[cfg(feature = "sched-ovf")]
pub mod ovf;
#[cfg(feature = "sched-rr")]
pub mod rr;
#[cfg(feature = "sched-sed")]
pub mod sed;
#[cfg(feature = "sched-sh")]
pub mod sh;
#[cfg(feature = "sched-twos")]
pub mod twos;
#[cfg(feature = "sched-wlc")]
pub mod wlc;
#[cfg(feature = "sched-wrr")]
pub mod wrr;

#[cfg(feature = "sched-fo")]
pub use fo::Fo;
#[cfg(feature = "sched-lc")]
pub use lc::Lc;
#[cfg(feature = "sched-nq")]
pub use nq::Nq;
#[cfg(feature = "sched-ovf")]
pub use ovf::Ovf;
#[cfg(feature = "sched-rr")]
pub use rr::Rr;
#[cfg(feature = "sched-sed")]
pub use sed::Sed;
#[cfg(feature = "sched-twos")]
pub use twos::Twos;
#[cfg(feature = "sched-wlc")]
pub use wlc::Wlc;
#[cfg(feature = "sched-wrr")]
pub use wrr::Wrr;

pub use registry::{AnyScheduler, SchedError, SchedFlags, SchedOptions};

/// The examples of this crate's README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
