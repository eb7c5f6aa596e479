//! Choosing a scheduler by its kernel name: [`AnyScheduler`], an enum with one variant per
//! scheduler (each behind its `sched-*` feature) and `match` dispatch, no `Box<dyn>`. The
//! schedulers with tables (mh, lblc, lblcr) keep them in memory the caller lends
//! ([`AnyScheduler::from_name_in`] with a [`SchedStorage`]) or, with the `alloc` feature, in a
//! box ([`AnyScheduler::from_name`]); see [`crate::storage`].
//!
//! ```
//! use lvs_sched::registry::{AnyScheduler, SchedOptions};
//! use lvs_sched::storage::SchedStorage;
//! use lvs_sched::mh::MhTable;
//! use lvs_core::Scheduler;
//! let s = AnyScheduler::from_name("wlc", &SchedOptions::default()).unwrap();
//! assert_eq!(s.name(), "wlc");
//! assert!(AnyScheduler::from_name("maglev", &SchedOptions::default()).is_err());
//! // mh's 20 KiB table in the caller's memory: the enum stays small
//! let mut table = MhTable::new();
//! let mh = AnyScheduler::from_name_in("mh", &SchedOptions::default(), SchedStorage::Mh(&mut table))
//!     .unwrap();
//! assert!(core::mem::size_of_val(&mh) < 1024);
//! ```

use core::fmt;
use lvs_core::{DestId, DestSet, Instant, SchedRequest, Scheduler};

#[cfg(feature = "sched-dh")]
use crate::dh::Dh;
#[cfg(feature = "sched-fo")]
use crate::fo::Fo;
#[cfg(feature = "sched-lblc")]
use crate::lblc::{self, Lblc, LblcTable};
#[cfg(feature = "sched-lblcr")]
use crate::lblcr::{self, Lblcr, LblcrTable};
#[cfg(feature = "sched-lc")]
use crate::lc::Lc;
#[cfg(feature = "sched-mh")]
use crate::mh::{self, Mh, MhError, MhTable};
#[cfg(feature = "sched-nq")]
use crate::nq::Nq;
#[cfg(feature = "sched-ovf")]
use crate::ovf::Ovf;
#[cfg(feature = "sched-twos")]
use crate::random::SplitMix64;
#[cfg(feature = "sched-rr")]
use crate::rr::Rr;
#[cfg(feature = "sched-sed")]
use crate::sed::Sed;
#[cfg(feature = "sched-sh")]
use crate::sh::Sh;
pub use crate::storage::SchedStorage;
#[cfg(any(feature = "sched-mh", feature = "sched-lblc", feature = "sched-lblcr"))]
use crate::storage::Store;
#[cfg(feature = "sched-twos")]
use crate::twos::Twos;
#[cfg(feature = "sched-wlc")]
use crate::wlc::Wlc;
#[cfg(feature = "sched-wrr")]
use crate::wrr::Wrr;

/// The kernel's 14 scheduler names, in `ipvsadm(8)` order.
pub const NAMES: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Per-service scheduler flags (`ipvsadm -b`).
///
/// The kernel keeps these as the generic service bits `IP_VS_SVC_F_SCHED1` (0x0008, the
/// `*-fallback` flags) and `IP_VS_SVC_F_SCHED2` (0x0010, the `*-port` flags), which each
/// scheduler interprets its own way; so in the kernel `-b sh-port` on an mh service turns on
/// mh-port. Here each scheduler reads only the flags named after it;
/// [`SchedFlags::from_svc_bits`] gives the kernel's sharing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedFlags {
    /// `sh-fallback`: sh probes other buckets when the hashed server is unavailable.
    pub sh_fallback: bool,
    /// `sh-port`: sh hashes the client port too (TCP, UDP, SCTP).
    pub sh_port: bool,
    /// `mh-fallback`: mh rehashes when the looked-up server is unavailable.
    pub mh_fallback: bool,
    /// `mh-port`: mh hashes the client port too.
    pub mh_port: bool,
}

impl SchedFlags {
    /// `IP_VS_SVC_F_SCHED1`.
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2`.
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3` (no scheduler uses it).
    pub const SCHED3: u32 = 0x0020;

    /// Flags from a service's kernel flag word: SCHED1 sets both fallbacks, SCHED2 both port
    /// flags, as the kernel's shared bits behave.
    ///
    /// ```
    /// use lvs_sched::registry::SchedFlags;
    /// let f = SchedFlags::from_svc_bits(SchedFlags::SCHED2);
    /// assert!(f.sh_port && f.mh_port && !f.sh_fallback);
    /// assert_eq!(f.svc_bits(), SchedFlags::SCHED2);
    /// ```
    pub const fn from_svc_bits(bits: u32) -> Self {
        let fallback = bits & Self::SCHED1 != 0;
        let port = bits & Self::SCHED2 != 0;
        SchedFlags {
            sh_fallback: fallback,
            sh_port: port,
            mh_fallback: fallback,
            mh_port: port,
        }
    }

    /// The kernel flag word these flags set.
    pub const fn svc_bits(&self) -> u32 {
        let mut bits = 0;
        if self.sh_fallback || self.mh_fallback {
            bits |= Self::SCHED1;
        }
        if self.sh_port || self.mh_port {
            bits |= Self::SCHED2;
        }
        bits
    }

    /// Sets a flag by its `ipvsadm -b` name: `sh-fallback`, `sh-port`, `mh-fallback`,
    /// `mh-port`, or the generic `flag-1` / `flag-2` / `flag-3` (which set the kernel bits, see
    /// [`SchedFlags::from_svc_bits`]; `flag-3` has no effect).
    ///
    /// # Errors
    /// [`SchedError::UnknownFlag`] for any other name.
    pub fn set_by_name(&mut self, name: &str) -> Result<(), SchedError> {
        match name {
            "sh-fallback" => self.sh_fallback = true,
            "sh-port" => self.sh_port = true,
            "mh-fallback" => self.mh_fallback = true,
            "mh-port" => self.mh_port = true,
            "flag-1" => {
                self.sh_fallback = true;
                self.mh_fallback = true;
            }
            "flag-2" => {
                self.sh_port = true;
                self.mh_port = true;
            }
            "flag-3" => {}
            _ => return Err(SchedError::UnknownFlag),
        }
        Ok(())
    }
}

/// Options for [`AnyScheduler::from_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SchedOptions {
    /// `ipvsadm -b` flags.
    pub flags: SchedFlags,
    /// mh's lookup table size, a prime from the kernel's list (default 4093, the kernel's
    /// `CONFIG_IP_VS_MH_TAB_INDEX` 12). [`AnyScheduler`] holds an [`MhTable`] of the default
    /// capacity, so larger sizes fail with [`SchedError::Mh`]; build `Mh::<65537>` (or
    /// `Mh::with_storage` on an `MhTable<65537>`) directly for those.
    pub mh_table_size: u32,
    /// Seed of twos' [`random::SplitMix64`](crate::random::SplitMix64) generator.
    pub twos_seed: u64,
}

impl Default for SchedOptions {
    fn default() -> Self {
        SchedOptions {
            flags: SchedFlags::default(),
            mh_table_size: 4093,
            twos_seed: 0,
        }
    }
}

/// Why [`AnyScheduler::from_name`] or [`SchedFlags::set_by_name`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchedError {
    /// Not one of the kernel's scheduler names ([`NAMES`]).
    UnknownName,
    /// A kernel scheduler whose `sched-*` feature is not compiled in.
    Disabled {
        /// The scheduler's name.
        name: &'static str,
    },
    /// Not a scheduler flag name.
    UnknownFlag,
    /// mh rejected the table size.
    #[cfg(feature = "sched-mh")]
    Mh(MhError),
    /// The [`SchedStorage`] does not fit the scheduler: mh, lblc and lblcr need their own
    /// table (or the `alloc` feature, to box one), the others take [`SchedStorage::None`].
    Storage {
        /// The scheduler's name.
        name: &'static str,
    },
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::UnknownName => f.write_str("unknown scheduler name"),
            SchedError::Disabled { name } => {
                write!(
                    f,
                    "scheduler {name} is not compiled in (feature sched-{name})"
                )
            }
            SchedError::UnknownFlag => f.write_str(
                "unknown scheduler flag (sh-fallback, sh-port, mh-fallback, mh-port, flag-1..3)",
            ),
            #[cfg(feature = "sched-mh")]
            SchedError::Mh(e) => write!(f, "mh: {e}"),
            SchedError::Storage { name } => write!(
                f,
                "scheduler {name}: mh, lblc and lblcr need their own table (SchedStorage, or the \
                 alloc feature to box one); the others take none"
            ),
        }
    }
}

impl core::error::Error for SchedError {}

#[cfg(feature = "sched-mh")]
impl From<MhError> for SchedError {
    fn from(e: MhError) -> Self {
        SchedError::Mh(e)
    }
}

/// mh with its table in caller memory or a box ([`Store`]), as [`AnyScheduler`] holds it.
#[cfg(feature = "sched-mh")]
pub type StoredMh<'a> =
    Mh<{ mh::DEFAULT_CAPACITY }, { mh::DEFAULT_SETUP_CACHE }, Store<'a, MhTable>>;
/// lblc with its table in caller memory or a box ([`Store`]), as [`AnyScheduler`] holds it.
#[cfg(feature = "sched-lblc")]
pub type StoredLblc<'a> = Lblc<{ lblc::DEFAULT_CAPACITY }, Store<'a, LblcTable>>;
/// lblcr with its table in caller memory or a box ([`Store`]), as [`AnyScheduler`] holds it.
#[cfg(feature = "sched-lblcr")]
pub type StoredLblcr<'a> =
    Lblcr<{ lblcr::DEFAULT_CAPACITY }, { lblcr::DEFAULT_SET_CAPACITY }, Store<'a, LblcrTable>>;

/// Any of the kernel's schedulers, chosen at run time.
///
/// Dispatch is a `match`; nothing is boxed but, with the `alloc` feature and no lent table,
/// the tables of mh, lblc and lblcr. Those tables live outside the enum, in memory of the
/// caller's choice ([`crate::storage`]): an [`MhTable`] (20 KiB), [`LblcTable`] (42 KiB) or
/// [`LblcrTable`] (66 KiB) per service, whose sizes
/// [`storage_bytes`](crate::storage::storage_bytes) gives. The enum itself is as large as
/// dh's and sh's 256 buckets, about half a KiB (a unit test pins this), so a service slot of
/// `AnyScheduler` costs the same whatever the algorithm.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyScheduler<'a> {
    /// `rr`.
    #[cfg(feature = "sched-rr")]
    Rr(Rr),
    /// `wrr`.
    #[cfg(feature = "sched-wrr")]
    Wrr(Wrr),
    /// `lc`.
    #[cfg(feature = "sched-lc")]
    Lc(Lc),
    /// `wlc`.
    #[cfg(feature = "sched-wlc")]
    Wlc(Wlc),
    /// `lblc`.
    #[cfg(feature = "sched-lblc")]
    Lblc(StoredLblc<'a>),
    /// `lblcr`.
    #[cfg(feature = "sched-lblcr")]
    Lblcr(StoredLblcr<'a>),
    /// `dh`.
    #[cfg(feature = "sched-dh")]
    Dh(Dh),
    /// `sh`.
    #[cfg(feature = "sched-sh")]
    Sh(Sh),
    /// `sed`.
    #[cfg(feature = "sched-sed")]
    Sed(Sed),
    /// `nq`.
    #[cfg(feature = "sched-nq")]
    Nq(Nq),
    /// `fo`.
    #[cfg(feature = "sched-fo")]
    Fo(Fo),
    /// `ovf`.
    #[cfg(feature = "sched-ovf")]
    Ovf(Ovf),
    /// `mh`.
    #[cfg(feature = "sched-mh")]
    Mh(StoredMh<'a>),
    /// `twos`, drawing from a seeded [`SplitMix64`].
    #[cfg(feature = "sched-twos")]
    Twos(Twos<SplitMix64>),
    #[doc(hidden)]
    #[cfg(not(any(feature = "sched-mh", feature = "sched-lblc", feature = "sched-lblcr")))]
    _Lifetime(
        core::marker::PhantomData<&'a mut ()>,
        core::convert::Infallible,
    ),
}

/// `match` over every compiled-in variant, binding the scheduler as `$s`.
macro_rules! dispatch {
    ($self:expr, [$($bind:tt)*] $s:ident => $e:expr) => {
        match *$self {
            #[cfg(feature = "sched-rr")]
            AnyScheduler::Rr($($bind)* $s) => $e,
            #[cfg(feature = "sched-wrr")]
            AnyScheduler::Wrr($($bind)* $s) => $e,
            #[cfg(feature = "sched-lc")]
            AnyScheduler::Lc($($bind)* $s) => $e,
            #[cfg(feature = "sched-wlc")]
            AnyScheduler::Wlc($($bind)* $s) => $e,
            #[cfg(feature = "sched-lblc")]
            AnyScheduler::Lblc($($bind)* $s) => $e,
            #[cfg(feature = "sched-lblcr")]
            AnyScheduler::Lblcr($($bind)* $s) => $e,
            #[cfg(feature = "sched-dh")]
            AnyScheduler::Dh($($bind)* $s) => $e,
            #[cfg(feature = "sched-sh")]
            AnyScheduler::Sh($($bind)* $s) => $e,
            #[cfg(feature = "sched-sed")]
            AnyScheduler::Sed($($bind)* $s) => $e,
            #[cfg(feature = "sched-nq")]
            AnyScheduler::Nq($($bind)* $s) => $e,
            #[cfg(feature = "sched-fo")]
            AnyScheduler::Fo($($bind)* $s) => $e,
            #[cfg(feature = "sched-ovf")]
            AnyScheduler::Ovf($($bind)* $s) => $e,
            #[cfg(feature = "sched-mh")]
            AnyScheduler::Mh($($bind)* $s) => $e,
            #[cfg(feature = "sched-twos")]
            AnyScheduler::Twos($($bind)* $s) => $e,
            #[cfg(not(any(feature = "sched-mh", feature = "sched-lblc", feature = "sched-lblcr")))]
            AnyScheduler::_Lifetime(_, never) => match never {},
        }
    };
}

/// One constructor per scheduler, each its own (non-inlined) function so that `from_name_in`
/// holds no temporaries of the variants: unoptimised builds give every temporary its own
/// stack slot.
macro_rules! makers {
    ($($fn:ident $feature:literal $name:literal |$o:ident, $st:ident| $build:expr;)*) => {$(
        #[inline(never)]
        fn $fn<'a>($o: &SchedOptions, $st: SchedStorage<'a>) -> Result<AnyScheduler<'a>, SchedError> {
            let _ = ($o, &$st);
            #[cfg(feature = $feature)]
            return $build;
            #[cfg(not(feature = $feature))]
            return Err(SchedError::Disabled { name: $name });
        }
    )*};
}

/// The storage of a scheduler without a table must be [`SchedStorage::None`].
#[allow(dead_code, unreachable_code)]
fn no_table<'a>(
    name: &'static str,
    st: SchedStorage<'_>,
    s: impl Into<AnyScheduler<'a>>,
) -> Result<AnyScheduler<'a>, SchedError> {
    match st {
        SchedStorage::None => Ok(s.into()),
        #[allow(unreachable_patterns)]
        _ => Err(SchedError::Storage { name }),
    }
}

/// The table a scheduler keeps: the one `st` lends (`lent` picks it out), or with `alloc` a
/// fresh box when `st` is [`SchedStorage::None`].
#[cfg(any(feature = "sched-mh", feature = "sched-lblc", feature = "sched-lblcr"))]
fn store<'a, T: Default>(
    name: &'static str,
    st: SchedStorage<'a>,
    lent: impl FnOnce(SchedStorage<'a>) -> Option<&'a mut T>,
) -> Result<Store<'a, T>, SchedError> {
    let none = matches!(st, SchedStorage::None);
    match lent(st) {
        Some(t) => Ok(Store::Lent(t)),
        #[cfg(feature = "alloc")]
        None if none => Ok(Store::Owned(alloc::boxed::Box::default())),
        _ => {
            let _ = none;
            Err(SchedError::Storage { name })
        }
    }
}

makers! {
    make_rr "sched-rr" "rr" |_o, st| no_table("rr", st, Rr::new());
    make_wrr "sched-wrr" "wrr" |_o, st| no_table("wrr", st, Wrr::new());
    make_lc "sched-lc" "lc" |_o, st| no_table("lc", st, Lc::new());
    make_wlc "sched-wlc" "wlc" |_o, st| no_table("wlc", st, Wlc::new());
    make_lblc "sched-lblc" "lblc" |_o, st| Ok(AnyScheduler::Lblc(Lblc::with_storage(
        store("lblc", st, |s| match s { SchedStorage::Lblc(t) => Some(t), _ => None })?,
    )));
    make_lblcr "sched-lblcr" "lblcr" |_o, st| Ok(AnyScheduler::Lblcr(Lblcr::with_storage(
        store("lblcr", st, |s| match s { SchedStorage::Lblcr(t) => Some(t), _ => None })?,
    )));
    make_dh "sched-dh" "dh" |_o, st| no_table("dh", st, Dh::new());
    make_sh "sched-sh" "sh" |o, st| no_table("sh", st, Sh::new(o.flags.sh_fallback, o.flags.sh_port));
    make_sed "sched-sed" "sed" |_o, st| no_table("sed", st, Sed::new());
    make_nq "sched-nq" "nq" |_o, st| no_table("nq", st, Nq::new());
    make_fo "sched-fo" "fo" |_o, st| no_table("fo", st, Fo::new());
    make_ovf "sched-ovf" "ovf" |_o, st| no_table("ovf", st, Ovf::new());
    make_mh "sched-mh" "mh" |o, st| {
        let t = store("mh", st, |s| match s { SchedStorage::Mh(t) => Some(t), _ => None })?;
        match Mh::with_storage(t, o.mh_table_size, o.flags.mh_fallback, o.flags.mh_port) {
            Ok(m) => Ok(AnyScheduler::Mh(m)),
            Err(e) => Err(SchedError::Mh(e)),
        }
    };
    make_twos "sched-twos" "twos" |o, st| no_table("twos", st, Twos::new(SplitMix64::new(o.twos_seed)));
}

macro_rules! from_impls {
    ($($feature:literal $variant:ident $ty:ty),* $(,)?) => {$(
        #[cfg(feature = $feature)]
        impl<'a> From<$ty> for AnyScheduler<'a> {
            fn from(s: $ty) -> Self {
                AnyScheduler::$variant(s)
            }
        }
    )*};
}

from_impls! {
    "sched-rr" Rr Rr, "sched-wrr" Wrr Wrr, "sched-lc" Lc Lc, "sched-wlc" Wlc Wlc,
    "sched-lblc" Lblc StoredLblc<'a>, "sched-lblcr" Lblcr StoredLblcr<'a>, "sched-dh" Dh Dh,
    "sched-sh" Sh Sh, "sched-sed" Sed Sed, "sched-nq" Nq Nq, "sched-fo" Fo Fo, "sched-ovf" Ovf Ovf,
    "sched-mh" Mh StoredMh<'a>, "sched-twos" Twos Twos<SplitMix64>,
}

impl AnyScheduler<'static> {
    /// The scheduler the kernel registers as `name`, configured from `opts` (sh reads
    /// `sh_fallback`/`sh_port`, mh reads `mh_fallback`/`mh_port` and `mh_table_size`, twos
    /// reads `twos_seed`). mh, lblc and lblcr box their tables, which needs the `alloc`
    /// feature; without it they fail with [`SchedError::Storage`]: lend them a table with
    /// [`AnyScheduler::from_name_in`].
    ///
    /// Call [`Scheduler::init_service`] before the first decision, as a director does when it
    /// binds a scheduler to a service.
    ///
    /// # Errors
    /// [`SchedError::UnknownName`] for a name not in [`NAMES`], [`SchedError::Disabled`] when
    /// its feature is off, [`SchedError::Mh`] for an unsupported mh table size,
    /// [`SchedError::Storage`] for a table it cannot box.
    ///
    /// ```
    /// use lvs_sched::registry::{AnyScheduler, SchedError, SchedOptions};
    /// let mut opts = SchedOptions::default();
    /// opts.mh_table_size = 4000;
    /// assert!(matches!(AnyScheduler::from_name("mh", &opts), Err(SchedError::Mh(_)) | Err(SchedError::Storage { .. })));
    /// ```
    pub fn from_name(name: &str, opts: &SchedOptions) -> Result<AnyScheduler<'static>, SchedError> {
        Self::from_name_in(name, opts, SchedStorage::None)
    }
}

impl<'a> AnyScheduler<'a> {
    /// [`AnyScheduler::from_name`] with the scheduler's table in `storage`, memory the caller
    /// lends: [`SchedStorage::Mh`], [`SchedStorage::Lblc`] or [`SchedStorage::Lblcr`] for
    /// those three, [`SchedStorage::None`] for the others (and, with the `alloc` feature, for
    /// those three too: their table is boxed). Nothing is allocated otherwise.
    ///
    /// # Errors
    /// As [`AnyScheduler::from_name`]; [`SchedError::Storage`] when `storage` is not the
    /// scheduler's kind of table.
    ///
    /// ```
    /// use lvs_sched::registry::{AnyScheduler, SchedError, SchedOptions, SchedStorage};
    /// use lvs_sched::lblc::LblcTable;
    /// let mut t = LblcTable::new();
    /// let lblc = AnyScheduler::from_name_in("lblc", &SchedOptions::default(), SchedStorage::Lblc(&mut t));
    /// assert!(lblc.is_ok());
    /// let mut t = LblcTable::new();
    /// let wrong = AnyScheduler::from_name_in("wlc", &SchedOptions::default(), SchedStorage::Lblc(&mut t));
    /// assert_eq!(wrong.unwrap_err(), SchedError::Storage { name: "wlc" });
    /// ```
    pub fn from_name_in(
        name: &str,
        opts: &SchedOptions,
        storage: SchedStorage<'a>,
    ) -> Result<AnyScheduler<'a>, SchedError> {
        let st = storage;
        match name {
            "rr" => make_rr(opts, st),
            "wrr" => make_wrr(opts, st),
            "lc" => make_lc(opts, st),
            "wlc" => make_wlc(opts, st),
            "lblc" => make_lblc(opts, st),
            "lblcr" => make_lblcr(opts, st),
            "dh" => make_dh(opts, st),
            "sh" => make_sh(opts, st),
            "sed" => make_sed(opts, st),
            "nq" => make_nq(opts, st),
            "fo" => make_fo(opts, st),
            "ovf" => make_ovf(opts, st),
            "mh" => make_mh(opts, st),
            "twos" => make_twos(opts, st),
            _ => Err(SchedError::UnknownName),
        }
    }
}

// With no scheduler compiled in, the enum is empty and the arguments go unused.
#[allow(unused_variables)]
impl Scheduler for AnyScheduler<'_> {
    fn name(&self) -> &'static str {
        dispatch!(self, [ref] s => s.name())
    }

    fn sched_flags(&self) -> lvs_core::sched::SchedFlags {
        dispatch!(self, [ref] s => s.sched_flags())
    }

    fn is_consistent(&self) -> bool {
        dispatch!(self, [ref] s => s.is_consistent())
    }

    fn init_service(&mut self, dests: &DestSet<'_>) {
        dispatch!(self, [ref mut] s => s.init_service(dests))
    }

    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        dispatch!(self, [ref mut] s => s.add_dest(dests, id))
    }

    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        dispatch!(self, [ref mut] s => s.del_dest(dests, id, position))
    }

    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        dispatch!(self, [ref mut] s => s.upd_dest(dests, id))
    }

    #[inline]
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        dispatch!(self, [ref mut] s => s.counts_changed(dests, id))
    }

    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        dispatch!(self, [ref mut] s => s.schedule(dests, req))
    }

    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        dispatch!(self, [ref mut] s => s.tick(dests, now))
    }

    fn tick_interval_ms(&self) -> u64 {
        dispatch!(self, [ref] s => s.tick_interval_ms())
    }
}

every_scheduler! {
    cfg #[cfg(test)] mod test;
}
