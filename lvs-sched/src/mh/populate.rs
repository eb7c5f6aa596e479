//! Populating the lookup table (`ip_vs_mh_populate`): each server's permutation, taken in
//! turns by weight, with a bitmap of taken slots.

use super::*;

/// What the population needs to know about the service.
pub(super) struct Ctx<'a, 'd> {
    pub(super) order: &'a [DestId],
    pub(super) dests: &'a DestSet<'d>,
    pub(super) m: u32,
    pub(super) gcd: u32,
    pub(super) rshift: u32,
}

impl Ctx<'_, '_> {
    /// `((lw / gcd) >> rshift) ?: (lw != 0)`, with non-positive last weights claiming nothing
    /// (the kernel's negative quotient is skipped by its `turns < 1` test too).
    #[inline]
    pub(super) fn turns_of(&self, d: Option<&Dest>) -> u32 {
        let lw = d.map_or(0, |d| d.last_weight as i32);
        if lw <= 0 || self.gcd == 0 {
            return 0;
        }
        let t = (lw as u32 / self.gcd) >> self.rshift;
        if t == 0 {
            1
        } else {
            t
        }
    }

    /// A server's `(offset, skip)`.
    #[inline]
    pub(super) fn perm_of(&self, d: Option<&Dest>) -> (u32, u32) {
        match d {
            Some(d) => (
                hashkey(&d.addr.addr, d.addr.port, HASH1_KEY, 0) % self.m,
                hashkey(&d.addr.addr, d.addr.port, HASH2_KEY, 0) % (self.m - 1) + 1,
            ),
            None => (0, 1),
        }
    }
}

/// `(a + b) % m` for `a, b < m`.
#[inline(always)]
pub(super) fn add_mod(a: u32, b: u32, m: u32) -> u32 {
    let s = a + b;
    if s >= m {
        s - m
    } else {
        s
    }
}

/// Words of the population's bitmap of taken slots for the largest supported size (131071):
/// bit `x` and bit `x + M` both stand for slot `x`, so a candidate `c + k·skip` with both
/// terms below `M` needs no reduction before its test. The bitmap is on the stack during a
/// rebuild (so the probes hit L1), sized by `M`'s class: [`SMALL_WORDS`] (1 KiB) up to
/// [`SMALL_M`], [`MID_WORDS`] (8 KiB) up to [`MID_M`], else this (32 KiB).
pub(super) const TAKEN_WORDS: usize = 4096;
/// The largest size of the small bitmap class (2·4093 bits fit in 128 words).
pub(super) const SMALL_M: u32 = 4093;
/// Words of the small class's bitmap.
pub(super) const SMALL_WORDS: usize = 128;
/// The largest size of the middle bitmap class (2·32749 bits fit in 1024 words).
pub(super) const MID_M: u32 = 32749;
/// Words of the middle class's bitmap.
pub(super) const MID_WORDS: usize = 1024;
/// Free slots at which the population switches from walking permutations to picking, for
/// each claim, the free slot that comes first in the claimant's permutation.
pub(super) const DIRECT_FREE: u32 = 150;
/// Servers whose state (walk offsets, cursor, turns, id: 44 bytes each, on the stack) a
/// rebuild keeps together; longer lists take the general loop. The array is sized by the
/// service: the first of [`LANE_CLASSES`] that holds its servers.
pub(super) const STEP_CACHE: usize = 1024;
/// The lengths the per-server array comes in (16: 704 bytes, 64: 2.75 KiB, 256: 11 KiB,
/// [`STEP_CACHE`]: 44 KiB).
pub(super) const LANE_CLASSES: [usize; 4] = [16, 64, 256, STEP_CACHE];

/// The population's state of the table: which slots are taken (a bitmap of `W` words, at
/// least `2·M` bits), and in the last phase, the list of the free ones.
pub(super) struct Taken<const W: usize> {
    bits: [u64; W],
    free: [u32; DIRECT_FREE as usize],
    n_free: usize,
}

impl<const W: usize> Taken<W> {
    /// An empty table.
    #[inline(always)]
    fn new() -> Self {
        Taken {
            bits: [0; W],
            free: [0; DIRECT_FREE as usize],
            n_free: 0,
        }
    }

    /// Whether slot `c` (or `c - M`, for `M <= c < 2M`) is taken, as 0 or 1.
    #[inline(always)]
    pub(super) fn bit(&self, c: u32) -> u32 {
        (self.bits[(c / 64) as usize % W] >> (c % 64)) as u32 & 1
    }

    #[inline(always)]
    pub(super) fn set(&mut self, c: u32, m: u32) {
        for x in [c, c + m] {
            self.bits[(x / 64) as usize % W] |= 1 << (x % 64);
        }
    }

    /// The first free slot in `c, c + skip, c + 2·skip, …` (mod `m`), `c` included, testing
    /// `K` candidates per step from independent sums (so neither the modular additions nor the
    /// loop's branch form a chain per probe). One exists while the table is not full: `m` is
    /// prime, so the sequence visits every slot.
    #[inline(always)]
    pub(super) fn walk<const K: usize>(&self, mut c: u32, skip: u32, m: u32) -> u32 {
        let mut step = [0u32; K];
        for k in 1..K {
            step[k] = add_mod(step[k - 1], skip, m);
        }
        let stride = add_mod(step[K - 1], skip, m);
        loop {
            let mut busy = 0u32;
            for (k, s) in step.iter().enumerate() {
                busy |= self.bit(c + s) << k;
            }
            if busy != (1 << K) - 1 {
                return add_mod(c, step[(!busy).trailing_zeros() as usize % K], m);
            }
            c = add_mod(c, stride, m);
        }
    }

    /// [`Taken::walk`] with the offsets precomputed: `row` is `[0, skip, 2·skip, …, 7·skip]`
    /// (mod `m`), `K` is 4 or 8.
    #[inline(always)]
    pub(super) fn walk_cached<const K: usize>(
        &self,
        mut c: u32,
        skip: u32,
        row: &[u32; 8],
        m: u32,
    ) -> u32 {
        let stride = if K == 8 {
            add_mod(row[7], skip, m)
        } else {
            row[K % 8]
        };
        loop {
            let mut busy = self.bit(c);
            for (k, s) in row.iter().enumerate().take(K).skip(1) {
                busy |= self.bit(c + s) << k;
            }
            if busy != (1 << K) - 1 {
                return add_mod(c, row[(!busy).trailing_zeros() as usize % 8], m);
            }
            c = add_mod(c, stride, m);
        }
    }

    /// [`Taken::walk`] by arithmetic, for the last [`DIRECT_FREE`] slots, when a walk would
    /// take about `M / free` probes: the free slot `x` whose index in the sequence,
    /// `(x − c)·skip⁻¹ mod m`, is smallest. Takes it off the free list.
    pub(super) fn pick_direct(&mut self, c: u32, skip: u32, m: u32) -> u32 {
        let inv = u64::from(inv_mod(skip, m));
        let m64 = u64::from(m);
        // Barrett reduction of products below m²: q is ⌊p/m⌋ or one less
        let r = u64::MAX / m64;
        let mut best = (u64::MAX, 0);
        for (i, &x) in self.free[..self.n_free].iter().enumerate() {
            let p = u64::from(add_mod(x, m - c, m)) * inv;
            let q = ((u128::from(p) * u128::from(r)) >> 64) as u64;
            let mut k = p - q * m64;
            if k >= m64 {
                k -= m64;
            }
            if k < best.0 {
                best = (k, i);
            }
        }
        let x = self.free[best.1];
        self.n_free -= 1;
        self.free[best.1] = self.free[self.n_free];
        x
    }
}

impl<const W: usize> Taken<W> {
    /// Lists the free slots below `m` in ascending order (as many as the list holds), a word
    /// of the bitmap at a time.
    pub(super) fn collect_free(&mut self, m: u32) {
        for (i, &word) in self.bits.iter().enumerate().take(m.div_ceil(64) as usize) {
            let base = i as u32 * 64;
            // slots at or past m are the mirror: not free slots
            let below_m = if m - base >= 64 {
                u64::MAX
            } else {
                (1u64 << (m - base)) - 1
            };
            let mut free = !word & below_m;
            while free != 0 {
                let Some(slot) = self.free.get_mut(self.n_free) else {
                    return;
                };
                *slot = base + free.trailing_zeros();
                self.n_free += 1;
                free &= free - 1;
            }
        }
    }
}

/// `a⁻¹ mod m` for `0 < a < m`, `m` prime (extended Euclid).
pub(super) fn inv_mod(a: u32, m: u32) -> u32 {
    let (mut t, mut nt, mut r, mut nr) = (0i64, 1i64, i64::from(m), i64::from(a));
    while nr != 0 {
        let q = r / nr;
        (t, nt) = (nt, t - q * nt);
        (r, nr) = (nr, r - q * nr);
    }
    t.rem_euclid(i64::from(m)) as u32
}

impl<const W: usize> Taken<W> {
    /// Claims the first free slot of the sequence from `c` (see [`Taken::walk`]) when
    /// `filled` slots of `m` are taken: the first candidate alone while half of the table is
    /// free, four candidates per step while a quarter is, then eight; for the last [`DIRECT_FREE`] slots, arithmetic on the free
    /// list instead of a walk (those walks would cost about half of all probes).
    #[inline(always)]
    pub(super) fn claim(&mut self, c: u32, skip: u32, m: u32, filled: u32) -> u32 {
        let free = m - filled;
        let x = if free > DIRECT_FREE {
            if free > m / 2 && self.bit(c) == 0 {
                // the first candidate is free more often than not: no step table, one probe
                c
            } else if free > m / 4 {
                self.walk::<4>(c, skip, m)
            } else {
                self.walk::<8>(c, skip, m)
            }
        } else {
            if self.n_free == 0 {
                self.collect_free(m);
            }
            self.pick_direct(c, skip, m)
        };
        self.set(x, m);
        x
    }
}

/// The population loop of `ip_vs_mh_populate`, writing server ids into `table`.
///
/// Each round gives every server with turns `turns` consecutive slots, each the next free
/// slot of its permutation (found by [`Taken::claim`]). gcd > 0 means some server has turns,
/// so every round claims a slot and the loop ends once all `M` are taken. A server's cursor
/// is kept one step past the slot it claimed last (the kernel's cursor stays on that slot,
/// which is taken, so its next search starts one step further too). Servers past the `setup`
/// cache recompute their permutation and scan it from the start: every slot before the
/// kernel's cursor is taken, so the first free one is the slot it would claim.
///
/// The scratch is on the stack and sized by the service: the bitmap by `M` (by `CAP`, the
/// table's capacity, when that is small, so that only one bitmap size is compiled for it)
/// and the per-server array by the number of servers. Callers keep `M <= CAP`.
pub(super) fn fill<const CAP: usize>(table: &mut [DestId], setup: &mut [Setup], ctx: &Ctx<'_, '_>) {
    let m = ctx.m;
    if CAP <= SMALL_M as usize || m <= SMALL_M {
        fill_in::<SMALL_WORDS>(table, setup, ctx);
    } else if CAP <= MID_M as usize || m <= MID_M {
        fill_in::<MID_WORDS>(table, setup, ctx);
    } else {
        fill_in::<TAKEN_WORDS>(table, setup, ctx);
    }
}

/// [`fill`] with a bitmap of `W` words (its own frame, so a small service's rebuild does not
/// reserve a larger class's bitmap).
#[inline(never)]
fn fill_in<const W: usize>(table: &mut [DestId], setup: &mut [Setup], ctx: &Ctx<'_, '_>) {
    let m = ctx.m;
    let n = ctx.order.len();
    let mut taken = Taken::<W>::new();
    let mut filled: u32 = 0;
    if let (Some(setup), true) = (setup.get_mut(..n), n <= STEP_CACHE) {
        let (order, setup) = (ctx.order, &*setup);
        let [l0, l1, l2, _] = LANE_CLASSES;
        if n <= l0 {
            run_lanes::<{ LANE_CLASSES[0] }, W>(table, setup, order, &mut taken, m);
        } else if n <= l1 {
            run_lanes::<{ LANE_CLASSES[1] }, W>(table, setup, order, &mut taken, m);
        } else if n <= l2 {
            run_lanes::<{ LANE_CLASSES[2] }, W>(table, setup, order, &mut taken, m);
        } else {
            run_lanes::<{ LANE_CLASSES[3] }, W>(table, setup, order, &mut taken, m);
        }
        return;
    }
    let cached = setup.len();
    loop {
        for (pos, &id) in ctx.order.iter().enumerate() {
            let (mut cursor, skip, turns) = if pos < cached {
                match setup.get(pos) {
                    Some(s) => (s.perm, s.skip, s.turns),
                    None => return,
                }
            } else {
                let d = ctx.dests.get(id);
                let turns = ctx.turns_of(d);
                if turns == 0 {
                    continue;
                }
                let (offset, skip) = ctx.perm_of(d);
                (offset, skip, turns)
            };
            for _ in 0..turns {
                let c = taken.claim(cursor, skip, m, filled);
                cursor = add_mod(c, skip, m);
                if let Some(t) = table.get_mut(c as usize) {
                    *t = id;
                }
                filled += 1;
                if filled == m {
                    return;
                }
            }
            if let Some(s) = setup.get_mut(pos) {
                s.perm = cursor;
            }
        }
    }
}

/// The population of the servers whose cursors are all cached (`setup` and `order` hold up
/// to `L` of them), with their state in an array of `L` [`Lane`]s (its own frame, sized by
/// the service): one loop per phase of the claims (see [`Taken::claim`]), each compiled on
/// its own so its registers hold the loop's state, with each server's walk offsets computed
/// once.
#[inline(never)]
fn run_lanes<const L: usize, const W: usize>(
    table: &mut [DestId],
    setup: &[Setup],
    order: &[DestId],
    taken: &mut Taken<W>,
    m: u32,
) {
    let mut lanes = [Lane {
        steps: [0; 8],
        cursor: 0,
        turns: 0,
        id: DestId(0),
    }; L];
    let n = order.len().min(setup.len()).min(L);
    for ((lane, s), &id) in lanes.iter_mut().zip(setup).zip(order) {
        let mut k = 0;
        for r in lane.steps.iter_mut().skip(1) {
            k = add_mod(k, s.skip, m);
            *r = k;
        }
        *lane = Lane {
            cursor: s.perm,
            turns: s.turns,
            id,
            ..*lane
        };
    }
    let lanes = lanes.get_mut(..n).unwrap_or_default();
    let direct = m.saturating_sub(DIRECT_FREE);
    let stops = [(m - m / 2).min(direct), (m - m / 4).min(direct), direct, m];
    let ones = lanes.iter().all(|l| l.turns == 1);
    let mut run = Run {
        table,
        lanes,
        taken,
        m,
        filled: 0,
        pos: 0,
        done: 0,
    };
    if ones {
        run.phase::<0, true>(stops[0]);
        run.phase::<1, true>(stops[1]);
        run.phase::<2, true>(stops[2]);
        run.phase::<3, true>(stops[3]);
    } else {
        run.phase::<0, false>(stops[0]);
        run.phase::<1, false>(stops[1]);
        run.phase::<2, false>(stops[2]);
        run.phase::<3, false>(stops[3]);
    }
}

/// A server's state in [`Run`]: its walk offsets `[0, skip, 2·skip, …, 7·skip]` (mod `m`),
/// its cursor, turns and id.
#[derive(Clone, Copy)]
struct Lane {
    steps: [u32; 8],
    cursor: u32,
    turns: u32,
    id: DestId,
}

/// The population of up to [`STEP_CACHE`] servers, run a phase at a time.
struct Run<'r, const W: usize> {
    table: &'r mut [DestId],
    lanes: &'r mut [Lane],
    taken: &'r mut Taken<W>,
    m: u32,
    /// Slots taken.
    filled: u32,
    /// The server whose turn it is (its position in the list)…
    pos: usize,
    /// … and the slots it has claimed in this round.
    done: u32,
}

impl<const W: usize> Run<'_, W> {
    /// The first free slot from `cursor` in the permutation whose step table is `row`, by
    /// strategy `P`: 0, the first candidate alone, else a 4-wide walk; 1, 4-wide walks; 2,
    /// 8-wide walks; 3, the free list ([`Taken::pick_direct`]).
    #[inline(always)]
    fn find<const P: u8>(taken: &mut Taken<W>, cursor: u32, row: &[u32; 8], m: u32) -> u32 {
        let skip = row[1];
        match P {
            0 => {
                if taken.bit(cursor) == 0 {
                    cursor
                } else {
                    taken.walk_cached::<4>(cursor, skip, row, m)
                }
            }
            1 => taken.walk_cached::<4>(cursor, skip, row, m),
            2 => taken.walk_cached::<8>(cursor, skip, row, m),
            _ => taken.pick_direct(cursor, skip, m),
        }
    }

    /// Claims the first free slot from `cursor` for server `id` (found by [`Run::find`] with
    /// strategy `P`), writes `id` there and returns the server's next cursor.
    #[inline(always)]
    fn claim<const P: u8>(
        taken: &mut Taken<W>,
        table: &mut [DestId],
        cursor: u32,
        steps: &[u32; 8],
        id: DestId,
        m: u32,
    ) -> u32 {
        let c = Self::find::<P>(taken, cursor, steps, m);
        taken.set(c, m);
        if let Some(t) = table.get_mut(c as usize) {
            *t = id;
        }
        add_mod(c, steps[1], m)
    }

    /// Claims slots in the round-robin order until `stop` are taken, each found by
    /// [`Run::find`] with strategy `P`. `ONES`: every server has one turn per round.
    #[inline(never)]
    fn phase<const P: u8, const ONES: bool>(&mut self, stop: u32) {
        let m = self.m;
        let mut filled = self.filled;
        let (mut pos, mut done) = (self.pos, self.done);
        if filled >= stop || self.lanes.is_empty() {
            return;
        }
        let taken = &mut *self.taken;
        if P == 3 {
            taken.collect_free(m);
        }
        let (lanes, table) = (&mut *self.lanes, &mut *self.table);
        if ONES {
            // one claim per server per round: no turn counting
            loop {
                for l in lanes.get_mut(pos..).unwrap_or_default() {
                    l.cursor = Self::claim::<P>(taken, table, l.cursor, &l.steps, l.id, m);
                    filled += 1;
                    pos += 1;
                    if filled >= stop {
                        self.filled = filled;
                        self.pos = pos;
                        return;
                    }
                }
                pos = 0;
            }
        }
        loop {
            while let Some(l) = lanes.get_mut(pos) {
                let mut cursor = l.cursor;
                while done < l.turns {
                    cursor = Self::claim::<P>(taken, table, cursor, &l.steps, l.id, m);
                    filled += 1;
                    done += 1;
                    if filled >= stop {
                        l.cursor = cursor;
                        self.filled = filled;
                        self.pos = pos;
                        self.done = done;
                        return;
                    }
                }
                l.cursor = cursor;
                done = 0;
                pos += 1;
            }
            pos = 0;
        }
    }
}
