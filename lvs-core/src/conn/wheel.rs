//! The connection table's timer wheel: filing entries at their deadlines and the bounded
//! expiry walk.

use super::*;

/// The timer wheel's heads: [`WHEEL_SLOTS`] list heads and a bitmap of the non-empty ones
/// (33 KiB, independent of the table's capacity). The caller provides it with the slots;
/// [`ConnTable::new`] resets it.
#[derive(Clone)]
pub struct TimerWheel {
    pub(super) heads: [u32; WHEEL_SLOTS],
    pub(super) bits: [u64; WHEEL_WORDS],
}

impl TimerWheel {
    /// An empty wheel.
    pub const fn new() -> Self {
        TimerWheel {
            heads: [NIL; WHEEL_SLOTS],
            bits: [0; WHEEL_WORDS],
        }
    }

    /// Storage for a wheel, all zero bytes (a `static` of it lands in `.bss`): not a usable
    /// wheel until [`TimerWheel::reset`], which [`ConnTable::new`] does.
    pub(crate) const fn zeroed() -> Self {
        TimerWheel {
            heads: [0; WHEEL_SLOTS],
            bits: [0; WHEEL_WORDS],
        }
    }

    /// Empties the wheel in place (no copy of its 33 KiB through the stack).
    pub fn reset(&mut self) {
        self.heads.fill(NIL);
        self.bits.fill(0);
    }
}

impl Default for TimerWheel {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TimerWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filed = self.bits.iter().map(|w| w.count_ones()).sum::<u32>();
        f.debug_struct("TimerWheel")
            .field("busy_slots", &filed)
            .finish()
    }
}

#[inline]
pub(super) fn tick_of(ms: u64) -> u64 {
    ms.div_ceil(WHEEL_TICK_MS)
}

impl<'a> ConnTable<'a> {
    /// Files `h` again to expire `timeout` after its last touch; call after a state change that
    /// may shorten the timeout.
    pub fn refile(&mut self, h: ConnHandle, timeout: Duration, now: Instant) {
        let idx = h.0;
        let Some(s) = self.slots.get(idx as usize).filter(|s| s.in_use()) else {
            return;
        };
        let age = (now.total_millis() as u32).wrapping_sub(s.touched) as u64;
        let deadline = now.total_millis() + timeout.total_millis().saturating_sub(age);
        if s.tprev == HEAD_TAG | self.slot_for(deadline) as u32 {
            // already first in the list it would be filed at the front of: nothing changes
            return;
        }
        self.unfile(idx);
        self.file(idx, deadline);
    }

    /// Whether [`ConnTable::refile`] of `h` with `timeout` at `now` would leave it where it is
    /// (it is first in the list it would be filed at the front of).
    #[cfg(debug_assertions)]
    pub(crate) fn refile_keeps(&self, h: ConnHandle, timeout: Duration, now: Instant) -> bool {
        let Some(s) = self.slots.get(h.0 as usize).filter(|s| s.in_use()) else {
            return true;
        };
        let age = (now.total_millis() as u32).wrapping_sub(s.touched) as u64;
        let deadline = now.total_millis() + timeout.total_millis().saturating_sub(age);
        s.tprev == HEAD_TAG | self.slot_for(deadline) as u32
    }

    /// The wheel slot an entry due at `deadline_ms` is filed in.
    #[inline]
    pub(super) fn slot_for(&self, deadline_ms: u64) -> usize {
        let mut tick = tick_of(deadline_ms);
        if tick <= self.wheel_tick {
            tick = self.wheel_tick + 1;
        }
        (tick as usize) & (WHEEL_SLOTS - 1)
    }

    pub(super) fn file(&mut self, idx: u32, deadline_ms: u64) {
        let slot = self.slot_for(deadline_ms);
        let head = self.wheel.heads[slot];
        if head != NIL {
            self.slots[head as usize].tprev = idx;
        }
        let s = &mut self.slots[idx as usize];
        // a list head's `tprev` names its wheel slot, so unlinking it needs no search
        s.tprev = HEAD_TAG | slot as u32;
        s.tnext = head;
        self.wheel.heads[slot] = idx;
        self.wheel.bits[slot / 64] |= 1 << (slot % 64);
    }

    pub(super) fn unfile(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.tprev, s.tnext)
        };
        if prev == NIL {
            return;
        }
        if next != NIL {
            self.slots[next as usize].tprev = prev;
        }
        if prev == PROC_TAG {
            self.proc_head = next;
        } else if prev & HEAD_TAG != 0 {
            let slot = (prev & !HEAD_TAG) as usize & (WHEEL_SLOTS - 1);
            self.wheel.heads[slot] = next;
            if next == NIL {
                self.wheel.bits[slot / 64] &= !(1 << (slot % 64));
            }
        } else {
            self.slots[prev as usize].tnext = next;
        }
        let s = &mut self.slots[idx as usize];
        s.tprev = NIL;
        s.tnext = NIL;
    }

    /// The slot after the current tick, where a scan of the wheel starts.
    fn scan_start(&self) -> usize {
        ((self.wheel_tick + 1) as usize) & (WHEEL_SLOTS - 1)
    }

    /// The bitmap of filed slots circularly from slot `start`: each word's index with the bits
    /// of its slots in scan order (the first word from `start` on, the others whole, and the
    /// first again up to `start`).
    fn scan_words(&self, start: usize) -> impl Iterator<Item = (usize, u64)> + '_ {
        (0..=WHEEL_WORDS).map(move |k| {
            let w = (start / 64 + k) % WHEEL_WORDS;
            let mut bits = self.wheel.bits[w];
            if k == 0 {
                bits &= !0u64 << (start % 64);
            } else if k == WHEEL_WORDS {
                bits &= !(!0u64 << (start % 64));
            }
            (w, bits)
        })
    }

    /// The earliest time at which [`ConnTable::next_expired`] may have work, or `None` when the
    /// wheel is empty.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.proc_head != NIL {
            return Some(Instant::from_millis(self.wheel_tick * WHEEL_TICK_MS));
        }
        let start = self.scan_start();
        for (w, bits) in self.scan_words(start) {
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                let dist = (slot + WHEEL_SLOTS - start) % WHEEL_SLOTS;
                let tick = self.wheel_tick + 1 + dist as u64;
                return Some(Instant::from_millis(tick * WHEEL_TICK_MS));
            }
        }
        None
    }

    /// Returns the next entry whose deadline has passed at `now`, unfiled from the wheel but
    /// still in the table: the caller removes it or re-files it. Entries the wheel reaches that
    /// are not due yet are filed again at their deadline. At most `budget` entries are examined
    /// per call sequence (the caller's counter is decremented); when it reaches zero this returns
    /// `None` and [`ConnTable::poll_timeout`] reports pending work.
    ///
    /// `timeout_of` gives an entry's current timeout.
    pub fn next_expired(
        &mut self,
        now: Instant,
        budget: &mut u32,
        mut timeout_of: impl FnMut(&ConnSlot) -> Duration,
    ) -> Option<ConnHandle> {
        let now_ms = now.total_millis();
        let target = now_ms / WHEEL_TICK_MS;
        loop {
            // walk the detached list of the slot being processed
            while self.proc_head != NIL {
                if *budget == 0 {
                    return None;
                }
                *budget -= 1;
                let idx = self.proc_head;
                let (next, touched) = {
                    let s = &self.slots[idx as usize];
                    (s.tnext, s.touched)
                };
                self.proc_head = next;
                if next != NIL {
                    self.slots[next as usize].tprev = PROC_TAG;
                }
                {
                    let s = &mut self.slots[idx as usize];
                    s.tprev = NIL;
                    s.tnext = NIL;
                }
                let timeout = timeout_of(&self.slots[idx as usize]).total_millis();
                let age = (now_ms as u32).wrapping_sub(touched) as u64;
                if age >= timeout {
                    return Some(ConnHandle(idx));
                }
                self.file(idx, now_ms + (timeout - age));
            }
            if self.wheel_tick >= target {
                return None;
            }
            // advance to the next non-empty slot, at most one full turn
            let ahead = target - self.wheel_tick;
            let steps = ahead.min(WHEEL_SLOTS as u64);
            let mut moved = false;
            for _ in 0..steps {
                self.wheel_tick += 1;
                let slot = (self.wheel_tick as usize) & (WHEEL_SLOTS - 1);
                let head = self.wheel.heads[slot];
                if head != NIL {
                    self.slots[head as usize].tprev = PROC_TAG;
                    self.proc_head = head;
                    self.wheel.heads[slot] = NIL;
                    self.wheel.bits[slot / 64] &= !(1 << (slot % 64));
                    moved = true;
                    break;
                }
            }
            if !moved {
                self.wheel_tick = target;
            }
        }
    }

    /// Finds an entry for which `pred` holds, looking first at the entries the timer wheel
    /// reaches soonest: the list being expired, then the wheel slots in deadline order. At most
    /// `budget` entries are examined, so the cost is bounded whatever the table holds.
    ///
    /// Entries are filed at their deadline when their state last changed, so among entries
    /// of one state the first found are (to within a wheel tick, and lazily refreshed
    /// deadlines aside) the oldest: this is how the director finds eviction candidates
    /// without a full scan.
    pub fn scan_filed(
        &self,
        mut budget: u32,
        mut pred: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let mut walk = |mut i: u32, budget: &mut u32| -> Result<Option<ConnHandle>, ()> {
            while let Some(s) = self.slots.get(i as usize) {
                if *budget == 0 {
                    return Err(());
                }
                *budget -= 1;
                if s.in_use() && pred(s) {
                    return Ok(Some(ConnHandle(i)));
                }
                i = s.tnext;
            }
            Ok(None)
        };
        match walk(self.proc_head, &mut budget) {
            Ok(Some(h)) => return Some(h),
            Ok(None) => {}
            Err(()) => return None,
        }
        for (w, mut bits) in self.scan_words(self.scan_start()) {
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                match walk(self.wheel.heads[slot], &mut budget) {
                    Ok(Some(h)) => return Some(h),
                    Ok(None) => {}
                    Err(()) => return None,
                }
            }
        }
        None
    }
}
