//! Where the schedulers with tables keep them: memory the caller provides.
//!
//! mh's lookup table ([`MhTable`](crate::mh::MhTable), about 20 KiB), lblc's cache
//! ([`LblcTable`](crate::lblc::LblcTable), about 42 KiB) and lblcr's
//! ([`LblcrTable`](crate::lblcr::LblcrTable), about 66 KiB) are separate types. Each of those
//! schedulers takes its table through a storage parameter `T: BorrowMut<Table>`, so the
//! embedder chooses where the table lives, and the hot path stays monomorphised:
//!
//! - by value (`Mh::new`, the default parameter): the scheduler carries its table;
//! - `&'a mut Table`: a `static`, a stack frame or an arena the embedder owns
//!   (`Mh::with_storage`);
//! - [`Store`]: lent (`&'a mut`) or, with the `alloc` feature, boxed — the form
//!   [`AnyScheduler`](crate::AnyScheduler) holds, so that its value stays small whatever the
//!   algorithm (about half a KiB, dh's and sh's 256 buckets).
//!
//! [`SchedStorage`] lends a table to [`AnyScheduler::from_name_in`](crate::AnyScheduler::from_name_in);
//! [`storage_bytes`] says how many bytes a scheduler needs outside its value, for the
//! footprint formula ([`lvs_core::director::memory_bytes`]).
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, Scheduler};
//! use lvs_sched::mh::{Mh, MhTable};
//!
//! // a table in memory the caller owns (here a local; a `static` in firmware)
//! let mut table = MhTable::new();
//! let mut mh = Mh::with_storage(&mut table, 4093, false, false).unwrap();
//! assert!(core::mem::size_of_val(&mh) < 64);
//! let pool = [Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 0)];
//! mh.init_service(&DestSet::new(&pool, &[DestId(0)]));
//! assert_eq!(mh.slot(0), Some(DestId(0)));
//! ```

use core::borrow::{Borrow, BorrowMut};
use core::fmt;

/// A scheduler's table, lent by the caller or (with the `alloc` feature) owned in a box.
pub enum Store<'a, T> {
    /// Memory the caller lent.
    Lent(&'a mut T),
    /// A table on the heap that the scheduler owns.
    #[cfg(feature = "alloc")]
    Owned(alloc::boxed::Box<T>),
}

impl<T> Borrow<T> for Store<'_, T> {
    #[inline]
    fn borrow(&self) -> &T {
        match self {
            Store::Lent(t) => t,
            #[cfg(feature = "alloc")]
            Store::Owned(t) => t,
        }
    }
}

impl<T> BorrowMut<T> for Store<'_, T> {
    #[inline]
    fn borrow_mut(&mut self) -> &mut T {
        match self {
            Store::Lent(t) => t,
            #[cfg(feature = "alloc")]
            Store::Owned(t) => t,
        }
    }
}

impl<T> fmt::Debug for Store<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::Lent(_) => f.write_str("Store::Lent"),
            #[cfg(feature = "alloc")]
            Store::Owned(_) => f.write_str("Store::Owned"),
        }
    }
}

/// A table the caller lends to [`AnyScheduler::from_name_in`](crate::AnyScheduler::from_name_in):
/// the one the named scheduler needs ([`SchedStorage::None`] for the schedulers without a
/// table, which is all but mh, lblc and lblcr).
#[derive(Debug)]
#[non_exhaustive]
pub enum SchedStorage<'a> {
    /// No table.
    None,
    /// mh's lookup table (the default 4093-slot capacity).
    #[cfg(feature = "sched-mh")]
    Mh(&'a mut crate::mh::MhTable),
    /// lblc's cache.
    #[cfg(feature = "sched-lblc")]
    Lblc(&'a mut crate::lblc::LblcTable),
    /// lblcr's cache.
    #[cfg(feature = "sched-lblcr")]
    Lblcr(&'a mut crate::lblcr::LblcrTable),
    #[doc(hidden)]
    #[cfg(not(any(feature = "sched-mh", feature = "sched-lblc", feature = "sched-lblcr")))]
    _Lifetime(core::marker::PhantomData<&'a mut ()>),
}

/// Bytes the scheduler registered as `name` needs outside its value, in the table it is lent
/// (or, with `alloc`, boxes): `size_of` of [`MhTable`](crate::mh::MhTable),
/// [`LblcTable`](crate::lblc::LblcTable) or [`LblcrTable`](crate::lblcr::LblcrTable) for mh,
/// lblc and lblcr, 0 for the others (and for unknown names or disabled features).
///
/// ```
/// use lvs_sched::storage::storage_bytes;
/// assert_eq!(storage_bytes("wlc"), 0);
/// assert_eq!(storage_bytes("mh"), core::mem::size_of::<lvs_sched::mh::MhTable>());
/// ```
pub const fn storage_bytes(name: &str) -> usize {
    #[cfg(feature = "sched-mh")]
    if str_eq(name, "mh") {
        return core::mem::size_of::<crate::mh::MhTable>();
    }
    #[cfg(feature = "sched-lblc")]
    if str_eq(name, "lblc") {
        return core::mem::size_of::<crate::lblc::LblcTable>();
    }
    #[cfg(feature = "sched-lblcr")]
    if str_eq(name, "lblcr") {
        return core::mem::size_of::<crate::lblcr::LblcrTable>();
    }
    let _ = name;
    0
}

/// `a == b`, in a `const fn`.
#[allow(dead_code)]
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
