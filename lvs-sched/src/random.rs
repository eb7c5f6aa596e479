//! Randomness for the schedulers that draw (twos), supplied by the embedder.
//!
//! The library has no entropy source of its own: a scheduler that needs random numbers is
//! generic over [`RandomSource`]. [`SplitMix64`] is a small seeded generator for simulations and
//! tests, and [`Replay`] feeds exact values so a test can pin every draw.

/// A source of uniformly distributed integers below a bound.
///
/// This mirrors the kernel's `get_random_u32_below(ceil)`: the result lies in `[0, bound)`.
/// For `bound == 0` the kernel's function degenerates to `get_random_u32()`, and implementations
/// should likewise return any `u32`.
///
/// ```
/// use lvs_sched::random::{RandomSource, SplitMix64};
/// let mut rng = SplitMix64::new(7);
/// for bound in 1..100 {
///     assert!(rng.next_u32_below(bound) < bound);
/// }
/// ```
pub trait RandomSource {
    /// A value in `[0, bound)`, or any value when `bound == 0`.
    fn next_u32_below(&mut self, bound: u32) -> u32;
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    #[inline]
    fn next_u32_below(&mut self, bound: u32) -> u32 {
        (**self).next_u32_below(bound)
    }
}

/// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a tiny, fast, seeded generator.
///
/// Deterministic for a given seed, not cryptographic. Bounded draws use Lemire's
/// multiply-and-reject method (as the kernel's `get_random_u32_below` does), so they are
/// unbiased.
///
/// ```
/// use lvs_sched::random::SplitMix64;
/// let mut a = SplitMix64::new(42);
/// let mut b = SplitMix64::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits (the high half of [`SplitMix64::next_u64`]).
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

impl RandomSource for SplitMix64 {
    #[inline]
    fn next_u32_below(&mut self, bound: u32) -> u32 {
        if bound == 0 {
            return self.next_u32();
        }
        // Lemire, "Fast Random Integer Generation in an Interval" (2019).
        let mut m = u64::from(self.next_u32()) * u64::from(bound);
        if (m as u32) < bound {
            let threshold = bound.wrapping_neg() % bound;
            while (m as u32) < threshold {
                m = u64::from(self.next_u32()) * u64::from(bound);
            }
        }
        (m >> 32) as u32
    }
}

/// A [`RandomSource`] that replays given values, for tests that pin each draw.
///
/// Each call returns the next value reduced modulo the bound (unchanged when it is already
/// below the bound, or when the bound is 0); after the last value it starts over. With no
/// values it always returns 0.
///
/// ```
/// use lvs_sched::random::{RandomSource, Replay};
/// let mut r = Replay::new(&[3, 9]);
/// assert_eq!(r.next_u32_below(10), 3);
/// assert_eq!(r.next_u32_below(5), 4); // 9 mod 5
/// assert_eq!(r.next_u32_below(10), 3); // wraps around
/// assert_eq!(r.draws(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay<'a> {
    values: &'a [u32],
    next: usize,
    draws: u64,
}

impl<'a> Replay<'a> {
    /// A source that returns `values` in order, cyclically.
    pub const fn new(values: &'a [u32]) -> Self {
        Replay {
            values,
            next: 0,
            draws: 0,
        }
    }

    /// How many values were drawn so far.
    pub const fn draws(&self) -> u64 {
        self.draws
    }
}

impl RandomSource for Replay<'_> {
    fn next_u32_below(&mut self, bound: u32) -> u32 {
        self.draws = self.draws.wrapping_add(1);
        let Some(&v) = self.values.get(self.next) else {
            return 0;
        };
        self.next = if self.next + 1 >= self.values.len() {
            0
        } else {
            self.next + 1
        };
        v.checked_rem(bound).unwrap_or(v)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0 as published with the reference implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn bounded_draws_stay_below_and_cover_the_range() {
        let mut r = SplitMix64::new(1);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let v = r.next_u32_below(7);
            assert!(v < 7);
            seen[v as usize] += 1;
        }
        // every value shows up with roughly its share (1000 each)
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(r.next_u32_below(1), 0);
    }

    #[test]
    fn replay_is_exact_and_cyclic() {
        let mut r = Replay::new(&[0, 5, 2]);
        assert_eq!(r.next_u32_below(6), 0);
        assert_eq!(r.next_u32_below(6), 5);
        assert_eq!(r.next_u32_below(0), 2);
        assert_eq!(r.next_u32_below(6), 0);
        let mut empty = Replay::new(&[]);
        assert_eq!(empty.next_u32_below(9), 0);
        assert_eq!(empty.draws(), 1);
    }
}
