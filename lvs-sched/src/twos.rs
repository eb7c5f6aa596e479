//! Power of two choices (`ip_vs_twos.c`, Linux 6.7 and later).
//!
//! Kernel rule: the eligible servers are those without the OVERLOAD flag and with weight > 0;
//! `total` is the sum of their weights. Two numbers are drawn, `r1` then `r2`, each with
//! `get_random_u32_below(total + 1)`, so both lie in the inclusive range `[0, total]`. Walking
//! the eligible servers in list order, each weight is subtracted from both numbers; `choice1`
//! is the first server at which `r1 <= 0`, `choice2` the first at which `r2 <= 0` (the walk
//! stops once both are found). Because the range is inclusive, the first server is chosen for
//! `r = 0` as well as `1..=w1`: it gets one extra chance in `total + 1`. The result is
//! `choice2` if `w2 * oh1 > w1 * oh2` (overheads `(active << 8) + inactive`), computed as the
//! kernel's 32-bit `int` products, which wrap; otherwise `choice1`. Stateless apart from the
//! random source.
//!
//! Deviation: the randomness comes from an embedder-supplied [`RandomSource`] instead of the
//! kernel's CRNG; everything else, including the `int` arithmetic of the sums, the draws and the
//! products (the kernel builds with `-fno-strict-overflow`, so they wrap), is mirrored.

use crate::random::RandomSource;
use crate::util::{overhead, usable, weight};
use lvs_core::{DestId, DestSet, SchedRequest, Scheduler};

/// The power-of-two-choices scheduler (`twos`), drawing from `R`.
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
/// use lvs_sched::{Twos, random::Replay};
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 5, 0),
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 1, 0, 0),
/// ];
/// let order = [DestId(0), DestId(1)];
/// let set = DestSet::new(&pool, &order);
/// let req = SchedRequest {
///     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
///     now: Instant::ZERO,
/// };
/// // r1 = 0 lands on the first server, r2 = 2 on the second, which is less loaded
/// let mut twos = Twos::new(Replay::new(&[0, 2]));
/// assert_eq!(twos.schedule(&set, &req), Some(DestId(1)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Twos<R> {
    rng: R,
}

impl<R: RandomSource> Twos<R> {
    /// A scheduler drawing from `rng`.
    pub const fn new(rng: R) -> Self {
        Twos { rng }
    }

    /// The random source.
    pub fn rng_mut(&mut self) -> &mut R {
        &mut self.rng
    }

    /// Gives the random source back.
    pub fn into_inner(self) -> R {
        self.rng
    }

    /// The bound both draws use, `total + 1` (the sum of eligible weights plus one, in the
    /// kernel's wrapping `int` arithmetic, then read as `u32`), or `None` when no server is
    /// eligible.
    ///
    /// ```
    /// use lvs_core::{Dest, DestId, DestSet, Endpoint};
    /// use lvs_sched::{Twos, random::SplitMix64};
    /// let pool = [Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 3, 0, 0),
    ///             Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 0, 0, 0)];
    /// let order = [DestId(0), DestId(1)];
    /// assert_eq!(Twos::<SplitMix64>::draw_bound(&DestSet::new(&pool, &order)), Some(4));
    /// ```
    pub fn draw_bound(dests: &DestSet<'_>) -> Option<u32> {
        let mut total = 0i32;
        let mut any = false;
        for (_, d) in dests.iter() {
            if usable(d) {
                total = total.wrapping_add(weight(d));
                any = true;
            }
        }
        any.then_some(total.wrapping_add(1) as u32)
    }

    /// The kernel's decision for given draws `r1` and `r2` (each normally in
    /// `[0, draw_bound)`), or `None` when no server is eligible.
    ///
    /// ```
    /// use lvs_core::{Dest, DestId, DestSet, Endpoint};
    /// use lvs_sched::{Twos, random::SplitMix64};
    /// let pool = [Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 2, 0, 0),
    ///             Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 2, 0, 0)];
    /// let order = [DestId(0), DestId(1)];
    /// let set = DestSet::new(&pool, &order);
    /// // equal load: choice1 stays
    /// assert_eq!(Twos::<SplitMix64>::pick_with_draws(&set, 3, 0), Some(DestId(1)));
    /// assert_eq!(Twos::<SplitMix64>::pick_with_draws(&set, 0, 4), Some(DestId(0)));
    /// ```
    pub fn pick_with_draws(dests: &DestSet<'_>, r1: u32, r2: u32) -> Option<DestId> {
        // choice1 starts as the last eligible server, as the kernel's first loop leaves it.
        let mut choice1 = dests.iter().rev().find(|(_, d)| usable(d))?.0;
        let (mut rw1, mut rw2) = (r1 as i32, r2 as i32);
        let (mut w1, mut w2) = (-1i32, -1i32);
        let mut oh1 = 0i32;
        let mut choice2: Option<(DestId, i32)> = None;
        for (id, d) in dests.iter() {
            if !usable(d) {
                continue;
            }
            let w = weight(d);
            rw1 = rw1.wrapping_sub(w);
            rw2 = rw2.wrapping_sub(w);
            if rw1 <= 0 && w1 == -1 {
                choice1 = id;
                w1 = w;
                oh1 = overhead(d);
            }
            if rw2 <= 0 && w2 == -1 {
                w2 = w;
                choice2 = Some((id, overhead(d)));
            }
            if w1 != -1 && w2 != -1 {
                break;
            }
        }
        if let Some((c2, oh2)) = choice2 {
            if w2.wrapping_mul(oh1) > w1.wrapping_mul(oh2) {
                return Some(c2);
            }
        }
        Some(choice1)
    }
}

impl<R: RandomSource> Scheduler for Twos<R> {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let bound = Self::draw_bound(dests)?;
        let r1 = self.rng.next_u32_below(bound);
        let r2 = self.rng.next_u32_below(bound);
        Self::pick_with_draws(dests, r1, r2)
    }
}
