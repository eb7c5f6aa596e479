//! Helpers shared by the scheduler files: the kernel's `int` view of counters and weights, and
//! a list cursor for the round-robin schedulers.

use lvs_core::{Dest, DestId, DestSet};

/// A weight as the kernel reads it: `atomic_read(&dest->weight)` is an `int`.
#[inline]
pub(crate) const fn weight(d: &Dest) -> i32 {
    d.weight as i32
}

/// `activeconns` as the kernel's `int`.
#[inline]
pub(crate) const fn active(d: &Dest) -> i32 {
    d.active as i32
}

/// `ip_vs_dest_conn_overhead` as the kernel's `int`: `(active << 8) + inactive`, wrapping.
#[inline]
pub(crate) const fn overhead(d: &Dest) -> i32 {
    d.overhead() as i32
}

/// The sed/nq cost `activeconns + 1` as the kernel's `int`, wrapping.
#[inline]
pub(crate) const fn active_plus_one(d: &Dest) -> i32 {
    active(d).wrapping_add(1)
}

/// Not overloaded and `weight > 0` (as `int`): the common "may take a new connection" test.
#[inline]
pub(crate) const fn usable(d: &Dest) -> bool {
    !d.is_overloaded() && weight(d) > 0
}

/// The member at list position `i`, if that position holds an id inside the pool.
#[inline]
pub(crate) fn member<'a>(dests: &DestSet<'a>, i: usize) -> Option<(DestId, &'a Dest)> {
    let id = *dests.order().get(i)?;
    dests.get(id).map(|d| (id, d))
}

/// A place in the kernel's circular list: the list head, or a member.
///
/// The member is remembered by id, with its list position as a hint that callbacks keep
/// current; a stale hint is repaired by a search, and a member that is no longer listed reads
/// as the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Cursor {
    at: Option<(DestId, usize)>,
}

impl Cursor {
    /// The list head.
    pub(crate) const HEAD: Cursor = Cursor { at: None };

    /// The member `id`, which stands at `pos`.
    pub(crate) const fn at(id: DestId, pos: usize) -> Cursor {
        Cursor {
            at: Some((id, pos)),
        }
    }

    /// The member id, or `None` for the head.
    pub(crate) fn id(&self) -> Option<DestId> {
        self.at.map(|(id, _)| id)
    }

    /// The cursor's list position (`None` = head), repairing the hint if it went stale.
    pub(crate) fn resolve(&mut self, dests: &DestSet<'_>) -> Option<usize> {
        let (id, hint) = self.at?;
        dests.get(id)?;
        let order = dests.order();
        let pos = if order.get(hint) == Some(&id) {
            hint
        } else {
            match order.iter().position(|&d| d == id) {
                Some(p) => p,
                None => {
                    *self = Cursor::HEAD;
                    return None;
                }
            }
        };
        self.at = Some((id, pos));
        Some(pos)
    }

    /// A member was inserted at the head: positions shift by one.
    pub(crate) fn on_add(&mut self) {
        if let Some((_, pos)) = &mut self.at {
            *pos = pos.saturating_add(1);
        }
    }

    /// The member at `position` was removed (not the cursor's own member).
    pub(crate) fn on_del(&mut self, position: usize) {
        if let Some((_, pos)) = &mut self.at {
            if position < *pos {
                *pos -= 1;
            }
        }
    }
}

/// The shared wlc/sed scan: first usable server, then strict weighted replacement among the
/// servers after it that are not overloaded, with `cost` as the overhead.
#[inline]
#[cfg(any(feature = "sched-wlc", feature = "sched-sed"))]
pub(crate) fn weighted_least(dests: &DestSet<'_>, cost: impl Fn(&Dest) -> i32) -> Option<DestId> {
    let mut it = dests.iter();
    let (mut least, mut lw, mut loh) = loop {
        let (id, d) = it.next()?;
        if usable(d) {
            break (id, weight(d), cost(d));
        }
    };
    for (id, d) in it {
        if d.is_overloaded() {
            continue;
        }
        let doh = cost(d);
        let dw = weight(d);
        if i64::from(loh) * i64::from(dw) > i64::from(doh) * i64::from(lw) {
            least = id;
            lw = dw;
            loh = doh;
        }
    }
    Some(least)
}

/// The 256-bucket server table of the hashing schedulers dh and sh: every bucket NULL until a
/// rebuild finds servers.
#[cfg(any(feature = "sched-dh", feature = "sched-sh"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Buckets {
    ids: [DestId; 256],
    /// False while the service had no servers at the last rebuild (all buckets NULL).
    filled: bool,
}

#[cfg(any(feature = "sched-dh", feature = "sched-sh"))]
impl Buckets {
    /// All buckets NULL.
    pub(crate) const EMPTY: Buckets = Buckets {
        ids: [DestId(0); 256],
        filled: false,
    };

    /// The server in bucket `i`, or `None` for an empty table or `i >= 256`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<DestId> {
        if self.filled {
            self.ids.get(i).copied()
        } else {
            None
        }
    }

    /// `ip_vs_sh_reassign` (and, with every share 1, `ip_vs_dh_reassign`): the servers in list
    /// order, round the circular list again, each given `share(d)` consecutive buckets (at
    /// least one).
    pub(crate) fn reassign(&mut self, dests: &DestSet<'_>, share: impl Fn(&Dest) -> i32) {
        let mut it = dests.iter();
        let mut cur = it.next();
        self.filled = cur.is_some();
        if !self.filled {
            // an empty service: every bucket is NULL, as the kernel resets them
            self.ids = [DestId(0); 256];
            return;
        }
        let mut d_count: i64 = 0;
        for b in self.ids.iter_mut() {
            let Some((id, d)) = cur else {
                break;
            };
            *b = id;
            // don't move to the next server until it has `share` buckets (at least one)
            d_count += 1;
            if d_count >= i64::from(share(d)) {
                cur = it.next();
                if cur.is_none() {
                    // round the circular list again
                    it = dests.iter();
                    cur = it.next();
                }
                d_count = 0;
            }
        }
    }
}

/// The kernel's `!is_unavailable(dest)` of the hashing schedulers: still listed, weight > 0,
/// not overloaded.
#[cfg(any(feature = "sched-dh", feature = "sched-sh", feature = "sched-mh"))]
#[inline]
pub(crate) fn available(d: &Dest) -> bool {
    d.is_available() && weight(d) > 0 && !d.is_overloaded()
}

/// The `-b` flags of the hashing schedulers sh and mh, for listings: `*-fallback` is
/// `flag-1`, `*-port` is `flag-2` for both.
#[cfg(any(feature = "sched-sh", feature = "sched-mh"))]
pub(crate) fn hash_flags(fallback: bool, port: bool) -> lvs_core::sched::SchedFlags {
    use lvs_core::sched::SchedFlags;
    let mut flags = SchedFlags::NONE;
    flags.set(SchedFlags::SH_FALLBACK, fallback);
    flags.set(SchedFlags::SH_PORT, port);
    flags
}

/// The hash inputs of sh and mh: the client address, and its port with `*-port` for a protocol
/// that has ports (else 0).
#[cfg(any(feature = "sched-sh", feature = "sched-mh"))]
#[inline]
pub(crate) fn client_key(req: &lvs_core::SchedRequest, port: bool) -> (lvs_core::addr::IpAddr, u16) {
    let f = &req.flow;
    let port = if port && f.proto.has_ports() {
        f.src.port
    } else {
        0
    };
    (f.src.addr, port)
}
