//! Bounded storage for the splicer: an open-addressing index from a flow hash to a connection
//! slot (linear probing with backward-shift deletion, so no tombstones build up), a free-list of
//! slots, and the request-buffer slab carved from caller memory.

/// A linear-probing index of `N` (a power of two) entries mapping a 32-bit hash to a slot number.
#[derive(Debug, Clone)]
pub(crate) struct Index<const N: usize> {
    /// 0 = empty, else slot + 1.
    entries: [u16; N],
}

impl<const N: usize> Index<N> {
    pub(crate) const fn new() -> Self {
        const { assert!(N.is_power_of_two() && N >= 4 && N <= 32768) };
        Index { entries: [0; N] }
    }

    /// Finds the slot whose hash is `hash` and for which `eq` holds.
    pub(crate) fn find(&self, hash: u32, mut eq: impl FnMut(u16) -> bool) -> Option<u16> {
        let mask = N - 1;
        let mut i = hash as usize & mask;
        for _ in 0..N {
            match self.entries[i] {
                0 => return None,
                e if eq(e - 1) => return Some(e - 1),
                _ => i = (i + 1) & mask,
            }
        }
        None
    }

    /// Inserts `slot` under `hash`; `false` when the index is full (callers keep it below 3/4).
    pub(crate) fn insert(&mut self, hash: u32, slot: u16) -> bool {
        let mask = N - 1;
        let mut i = hash as usize & mask;
        for _ in 0..N {
            if self.entries[i] == 0 {
                self.entries[i] = slot + 1;
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Removes `slot` (filed under `hash`); `home` gives the hash of any other slot, to move
    /// the entries after the hole back toward their home positions.
    pub(crate) fn remove(&mut self, hash: u32, slot: u16, home: impl Fn(u16) -> u32) {
        let mask = N - 1;
        let mut i = hash as usize & mask;
        let mut found = false;
        for _ in 0..N {
            match self.entries[i] {
                0 => return,
                e if e == slot + 1 => {
                    found = true;
                    break;
                }
                _ => i = (i + 1) & mask,
            }
        }
        if !found {
            return;
        }
        let mut j = i;
        for _ in 0..N {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let k = home(e - 1) as usize & mask;
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.entries[i] = e;
                i = j;
            }
        }
        self.entries[i] = 0;
    }

    /// Number of occupied entries (for tests and invariants).
    #[cfg(test)]
    pub(crate) fn occupied(&self) -> usize {
        self.entries.iter().filter(|&&e| e != 0).count()
    }
}

/// A stack of free slot numbers `0..n`.
#[derive(Debug, Clone)]
pub(crate) struct FreeList<const N: usize> {
    stack: [u16; N],
    len: usize,
}

impl<const N: usize> FreeList<N> {
    /// All of `0..n` free (`n <= N`), lowest first out.
    pub(crate) fn new(n: usize) -> Self {
        let n = n.min(N);
        let mut stack = [0u16; N];
        for (i, s) in stack.iter_mut().take(n).enumerate() {
            *s = (n - 1 - i) as u16;
        }
        FreeList { stack, len: n }
    }

    pub(crate) fn pop(&mut self) -> Option<u16> {
        self.len = self.len.checked_sub(1)?;
        Some(self.stack[self.len])
    }

    pub(crate) fn push(&mut self, s: u16) {
        if self.len < N {
            self.stack[self.len] = s;
            self.len += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A FIFO of slot numbers with a bounded length, for connections with something to send.
#[derive(Debug, Clone)]
pub(crate) struct Queue<const N: usize> {
    ring: [u16; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Queue<N> {
    pub(crate) const fn new() -> Self {
        Queue {
            ring: [0; N],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, s: u16) -> bool {
        if self.len == N {
            return false;
        }
        self.ring[(self.head + self.len) % N] = s;
        self.len += 1;
        true
    }

    pub(crate) fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let s = self.ring[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(s)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn index_insert_find_remove_with_collisions() {
        let mut idx: Index<16> = Index::new();
        // hashes chosen to collide and wrap around the end
        let hashes: [u32; 10] = [15, 15, 0, 14, 15, 1, 0, 3, 14, 2];
        for (s, &h) in hashes.iter().enumerate() {
            assert!(idx.insert(h, s as u16));
        }
        for (s, &h) in hashes.iter().enumerate() {
            assert_eq!(idx.find(h, |x| x == s as u16), Some(s as u16));
        }
        let home = |s: u16| hashes[usize::from(s)];
        for &victim in &[1u16, 2, 7, 0] {
            idx.remove(hashes[usize::from(victim)], victim, home);
            assert_eq!(idx.find(hashes[usize::from(victim)], |x| x == victim), None);
        }
        for (s, &h) in hashes.iter().enumerate() {
            let gone = [1u16, 2, 7, 0].contains(&(s as u16));
            assert_eq!(idx.find(h, |x| x == s as u16).is_some(), !gone, "slot {s}");
        }
        assert_eq!(idx.occupied(), 6);
    }

    #[test]
    fn free_list_and_queue() {
        let mut f: FreeList<4> = FreeList::new(3);
        assert_eq!(
            (f.pop(), f.pop(), f.pop(), f.pop()),
            (Some(0), Some(1), Some(2), None)
        );
        f.push(1);
        assert_eq!(f.len(), 1);
        let mut q: Queue<2> = Queue::new();
        assert!(q.push(1) && q.push(2) && !q.push(3));
        assert_eq!((q.pop(), q.pop(), q.pop()), (Some(1), Some(2), None));
    }
}
