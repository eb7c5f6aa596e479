//! The bounded, timed table behind session IDs and ticket key names.
//!
//! Storage is a caller slice of [`Slot`]s (length zero or a power of two), organised as sets of
//! up to eight slots. A key hashes (keyed SipHash-1-3 with the embedder's seed, since clients
//! choose the keys they offer) to two sets, and lives in one of their sixteen slots
//! (two-choice hashing: a new key goes into the less loaded set, which keeps both from
//! overflowing until the table is about 80 % full; with a single set of eight per key, the first
//! set overflows at about a quarter full). A new key takes a free slot, else the
//! overdue or soonest-expiring entry of the two sets (counted as expired or evicted):
//! insertion always succeeds, in bounded time, and never touches more than two sets. Eviction
//! is thus among sixteen candidates, an approximation of "evict the oldest" that needs no list.
//!
//! Expiry is lazy: a lookup treats an overdue entry as gone (and frees it);
//! `Table::expire_step` sweeps with bounded work.

use super::PoolId;
use crate::hash::{siphash, SipKey};
use crate::time::{Duration, Instant};
use core::fmt;

/// Slots per set (fewer only in a table smaller than this).
pub(crate) const WAYS: usize = 8;

/// One slot of table storage, for keys of up to `K` bytes and servers `S`.
///
/// Make storage with [`Slot::EMPTY`]: `[SessionSlot::<u32>::EMPTY; 1024]`.
#[derive(Clone, Copy)]
pub struct Slot<const K: usize, S> {
    e: Option<Entry<K, S>>,
}

/// A session-ID table slot (IDs of up to 32 bytes).
pub type SessionSlot<S> = Slot<32, S>;
/// A ticket-key-name table slot (16-byte names).
pub type TicketSlot<S> = Slot<16, S>;

impl<const K: usize, S> Slot<K, S> {
    /// An unused slot.
    pub const EMPTY: Self = Slot { e: None };
}

impl<const K: usize, S> fmt::Debug for Slot<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.e.is_some() {
            "Slot(used)"
        } else {
            "Slot(empty)"
        })
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Entry<const K: usize, S> {
    pub(crate) key: [u8; K],
    pub(crate) len: u8,
    pub(crate) tag: u32,
    pub(crate) server: S,
    pub(crate) pool: Option<PoolId>,
    pub(crate) expires: Instant,
}

impl<const K: usize, S> Entry<K, S> {
    pub(crate) fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.len)]
    }
}

/// Why table storage was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableError {
    /// The slice length is neither zero nor a power of two.
    BadCapacity {
        /// The length given.
        len: usize,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::BadCapacity { len } => {
                write!(f, "table length {len} is neither zero nor a power of two")
            }
        }
    }
}

impl core::error::Error for TableError {}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// A new entry.
    New,
    /// The key's server changed.
    Changed,
    /// Same server: the timer was restarted.
    Refreshed,
    /// The key is empty or too long for this table: nothing stored.
    Ignored,
}

/// What a new entry displaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Displaced {
    /// An overdue entry was reused.
    pub(crate) expired: u32,
    /// A live entry was evicted.
    pub(crate) evicted: u32,
}

/// A key found live: its slot and what it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found<S> {
    pub(crate) slot: usize,
    pub(crate) server: S,
    pub(crate) pool: Option<PoolId>,
}

pub(crate) struct Table<'a, const K: usize, S> {
    slots: &'a mut [Slot<K, S>],
    ways: usize,
    set_mask: usize,
    len: usize,
    cursor: usize,
}

impl<'a, const K: usize, S: Copy + Eq> Table<'a, K, S> {
    pub(crate) fn new(slots: &'a mut [Slot<K, S>]) -> Result<Self, TableError> {
        let n = slots.len();
        if n != 0 && !n.is_power_of_two() {
            return Err(TableError::BadCapacity { len: n });
        }
        for s in slots.iter_mut() {
            *s = Slot::EMPTY;
        }
        let ways = n.min(WAYS);
        let sets = n.checked_div(ways).unwrap_or(0);
        Ok(Table {
            slots,
            ways,
            set_mask: sets.saturating_sub(1),
            len: 0,
            cursor: 0,
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The keyed hash of `key`.
    #[inline]
    pub(crate) fn hash(seed: SipKey, key: &[u8]) -> u64 {
        siphash::<1, 3>(seed, key)
    }

    /// The first slots of the key's two sets (equal in a table of one set).
    #[inline]
    fn sets(&self, hash: u64) -> [usize; 2] {
        let a = (hash >> 32) as usize & self.set_mask;
        let b = (hash >> 8) as usize & self.set_mask;
        [a * self.ways, b * self.ways]
    }

    /// The slots of the key's two sets (each slot once).
    #[inline]
    fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> {
        let [a, b] = self.sets(hash);
        let w = self.ways;
        let second = if b == a { b..b } else { b..b + w };
        (a..a + w).chain(second)
    }

    /// Looks `key` up; an overdue entry is freed and counted in `expired`.
    #[inline]
    pub(crate) fn find(
        &mut self,
        now: Instant,
        hash: u64,
        key: &[u8],
        expired: &mut u64,
    ) -> Option<Found<S>> {
        if self.ways == 0 {
            return None;
        }
        let tag = hash as u32;
        for i in self.candidates(hash) {
            let Some(e) = &self.slots[i].e else { continue };
            if e.tag != tag || e.key() != key {
                continue;
            }
            if now >= e.expires {
                self.slots[i].e = None;
                self.len -= 1;
                *expired += 1;
                return None;
            }
            return Some(Found {
                slot: i,
                server: e.server,
                pool: e.pool,
            });
        }
        None
    }

    /// Restarts the timer of the entry in `slot`.
    pub(crate) fn touch(&mut self, slot: usize, expires: Instant) {
        if let Some(e) = self.slots.get_mut(slot).and_then(|s| s.e.as_mut()) {
            e.expires = expires;
        }
    }

    /// Maps `key` to `server` until `now + timeout`, displacing an expired or the soonest-expiring
    /// entry of its set when the set is full.
    pub(crate) fn upsert(
        &mut self,
        now: Instant,
        hash: u64,
        key: &[u8],
        server: S,
        pool: Option<PoolId>,
        timeout: Duration,
    ) -> (Upsert, Displaced) {
        let mut d = Displaced::default();
        if self.ways == 0 || key.is_empty() || key.len() > K {
            return (Upsert::Ignored, d);
        }
        let tag = hash as u32;
        let expires = now + timeout;
        // free slot and number of used slots of each set
        let mut free = [None, None];
        let mut used = [0usize; 2];
        let mut victim: Option<(usize, Instant)> = None;
        let [a, b] = self.sets(hash);
        for (n, start) in [a, b].into_iter().enumerate() {
            if n == 1 && b == a {
                break;
            }
            for i in start..start + self.ways {
                match &mut self.slots[i].e {
                    Some(e) if e.tag == tag && e.key() == key => {
                        let what = if now >= e.expires {
                            // an overdue entry for the same key: it expired, this one is new
                            d.expired += 1;
                            Upsert::New
                        } else if e.server == server {
                            Upsert::Refreshed
                        } else {
                            Upsert::Changed
                        };
                        e.server = server;
                        e.pool = pool;
                        e.expires = expires;
                        return (what, d);
                    }
                    Some(e) => {
                        used[n] += 1;
                        if victim.is_none_or(|(_, t)| e.expires < t) {
                            victim = Some((i, e.expires));
                        }
                    }
                    None => {
                        if free[n].is_none() {
                            free[n] = Some(i);
                        }
                    }
                }
            }
        }
        // the less loaded set's free slot
        let free = match free {
            [Some(x), Some(y)] => Some(if used[1] < used[0] { y } else { x }),
            [x, y] => x.or(y),
        };
        let slot = match (free, victim) {
            (Some(i), _) => {
                self.len += 1;
                i
            }
            (None, Some((i, t))) => {
                if now >= t {
                    d.expired += 1;
                } else {
                    d.evicted += 1;
                }
                i
            }
            (None, None) => return (Upsert::Ignored, d),
        };
        let mut k = [0u8; K];
        k[..key.len()].copy_from_slice(key);
        self.slots[slot].e = Some(Entry {
            key: k,
            len: key.len() as u8,
            tag,
            server,
            pool,
            expires,
        });
        (Upsert::New, d)
    }

    /// Frees overdue entries among the next `budget` slots (round robin); returns how many.
    pub(crate) fn expire_step(&mut self, now: Instant, budget: usize) -> usize {
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        let mut freed = 0;
        for _ in 0..budget.min(n) {
            let i = self.cursor;
            self.cursor = (i + 1) & (n - 1);
            if self.slots[i].e.as_ref().is_some_and(|e| now >= e.expires) {
                self.slots[i].e = None;
                self.len -= 1;
                freed += 1;
            }
        }
        freed
    }

    /// Frees every entry whose server is `server`; returns how many.
    pub(crate) fn remove_server(&mut self, server: S) -> usize {
        let mut n = 0;
        for s in self.slots.iter_mut() {
            if s.e.as_ref().is_some_and(|e| e.server == server) {
                s.e = None;
                n += 1;
            }
        }
        self.len -= n;
        n
    }

    /// Every stored entry, overdue ones included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry<K, S>> + '_ {
        self.slots.iter().filter_map(|s| s.e.as_ref())
    }
}
