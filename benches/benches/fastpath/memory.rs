//! The fastpath bench's memory facts: the probe of this machine's DRAM latency, and where the
//! connection table's live entries sit relative to their buckets.

use super::*;

/// A random cycle through `n` 64-byte lines (Sattolo's shuffle): each line holds the index of
/// the next, so following it is one dependent load per step, each to a line unlikely to be
/// cached when the array is much larger than the caches.
pub(crate) struct DramChase {
    lines: Vec<Frame>,
    /// Where line 0 is in `lines` (2 MiB-aligned for huge pages, else 0).
    at: usize,
}

impl DramChase {
    /// The cycle on ordinary pages, or with `huge` on 2 MiB-aligned storage advised for
    /// transparent huge pages before its first touch (as the table under
    /// `LVS_BENCH_HUGEPAGES=1`).
    pub(crate) fn new(n: usize, huge: bool) -> Self {
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = (mix(i as u64 ^ 0xd1b5_4a32) % i as u64) as usize;
            perm.swap(i, j);
        }
        let (mut lines, at) = if huge {
            const ALIGN: usize = 2 << 20;
            let mut v: Vec<Frame> = Vec::with_capacity(n + ALIGN / 64);
            let base = v.as_ptr() as usize;
            let at = (ALIGN - base % ALIGN) % ALIGN / 64;
            madvise_hugepages(base + at * 64, n * 64, "the DRAM probe");
            v.resize(n + ALIGN / 64, Frame([0; 64]));
            (v, at)
        } else {
            (vec![Frame([0; 64]); n], 0)
        };
        for (i, l) in lines[at..at + n].iter_mut().enumerate() {
            l.0[..4].copy_from_slice(&perm[i].to_le_bytes());
        }
        DramChase { lines, at }
    }

    #[inline]
    pub(crate) fn next(&self, at: usize) -> usize {
        let l = &self.lines[self.at + at].0;
        u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize
    }
}

/// Prints where the live entries sit: in their bucket's own slot (one line per lookup), in
/// another slot of its 256-byte group, or farther; and the ceiling, the number of non-empty
/// buckets (one entry per bucket at most can sit in the bucket's slot).
pub(crate) fn print_placement(dir: &Director<'_, Sched>, cap: usize) {
    let t = dir.table();
    let mask = cap as u32 - 1;
    let (mut home, mut group, mut far) = (0usize, 0usize, 0usize);
    let mut used = vec![false; cap];
    for (h, s) in t.iter() {
        let c = s.client();
        let b = t.hash(s.proto(), &c.addr, c.port) & mask;
        used[b as usize] = true;
        match h.0 ^ b {
            0 => home += 1,
            1..=3 => group += 1,
            _ => far += 1,
        }
    }
    let live = t.len();
    let buckets = used.iter().filter(|&&u| u).count();
    let pct = |k: usize| 100.0 * k as f64 / live.max(1) as f64;
    eprintln!(
        "fastpath: table load {:.3} ({live} of {cap} slots): {home} entries in their home slot \
         ({:.1} %), {group} elsewhere in its 256-byte group ({:.1} %), {far} farther ({:.1} %); \
         {buckets} non-empty buckets (at most {:.1} % could be at home)",
        live as f64 / cap as f64,
        pct(home),
        pct(group),
        pct(far),
        pct(buckets)
    );
}
