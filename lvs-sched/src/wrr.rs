//! Weighted round-robin (`ip_vs_wrr.c`, the current algorithm, Linux 3.10 and later).
//!
//! Kernel rule. State: the last chosen server `cl` (initially the list head), the current
//! weight `cw`, the gcd `di` of all weights > 0 (1 if there are none) and
//! `mw = max weight - (di - 1)`. A pick resumes after `cl` and takes the first server that has
//! no OVERLOAD flag and `weight >= cw`. Each time the scan runs off the end of the list, `cw`
//! drops by `di`; when it reaches 0 or less it is reset to `mw`. The scan gives up ("all
//! destinations are overloaded") once every server has been checked with `cw <= di`: the
//! kernel tracks this with `last_pass`, `restarted` and a `stop` server, mirrored exactly here,
//! including where `cl` is left after a failure. With `mw == 0` (no weight > 0) it fails at once.
//! Every add, delete and edit (`ip_vs_wrr_dest_changed`) sets `cl` to the head, recomputes `di`
//! and `mw`, and sets `cw = mw` if `cw > mw` or `cw == 0`, otherwise `cw = (cw / di) * di + 1`
//! when `di > 1`.
//!
//! Weights 4, 3, 2 in list order (A, B, C) give the cycle `A A B A B C A B C`.
//!
//! Deviation: none in decisions. As in the kernel, the maximum weight and gcd are only
//! recomputed in the callbacks, so a director must report every weight change with `upd_dest`,
//! and must call [`Scheduler::init_service`] before the first pick: until then `mw` is 0 and
//! nothing is scheduled. `cl` is kept as a server id plus a position hint; a `cl` that is no longer
//! listed reads as the head (the kernel cannot get there, because every deletion resets `cl`).

use crate::util::{member, weight, Cursor};
use lvs_core::{DestId, DestSet, SchedRequest, Scheduler};

/// The weighted round-robin scheduler (`wrr`).
///
/// ```
/// use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
/// use lvs_sched::Wrr;
/// let pool = [
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 4, 0, 0), // A
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 3, 0, 0), // B
///     Dest::with_counts(Endpoint::v4([198, 18, 1, 3], 80), 2, 0, 0), // C
/// ];
/// let order = [DestId(0), DestId(1), DestId(2)];
/// let set = DestSet::new(&pool, &order);
/// let req = SchedRequest {
///     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
///     now: Instant::ZERO,
/// };
/// let mut wrr = Wrr::new();
/// wrr.init_service(&set);
/// let picks: String = (0..9)
///     .map(|_| (b'A' + wrr.schedule(&set, &req).unwrap().0 as u8) as char)
///     .collect();
/// assert_eq!(picks, "AABABCABC");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wrr {
    cl: Cursor,
    cw: i32,
    mw: i32,
    di: i32,
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// `ip_vs_wrr_gcd_weight`: the gcd of all weights > 0, or 1.
fn gcd_weight(dests: &DestSet<'_>) -> i32 {
    let mut g = 0;
    for (_, d) in dests.iter() {
        let w = weight(d);
        if w > 0 {
            g = if g > 0 { gcd(w, g) } else { w };
        }
    }
    if g != 0 {
        g
    } else {
        1
    }
}

/// `ip_vs_wrr_max_weight`: the largest weight, at least 0.
fn max_weight(dests: &DestSet<'_>) -> i32 {
    dests.iter().map(|(_, d)| weight(d)).fold(0, i32::max)
}

impl Wrr {
    /// A scheduler that has not been bound to a service yet (call
    /// [`Scheduler::init_service`]).
    pub const fn new() -> Self {
        Wrr {
            cl: Cursor::HEAD,
            cw: 0,
            mw: 0,
            di: 1,
        }
    }

    /// The last chosen server (`cl`), or `None` for the list head.
    pub fn last(&self) -> Option<DestId> {
        self.cl.id()
    }

    /// The current weight `cw`: servers need at least this weight in the current pass.
    pub const fn current_weight(&self) -> i32 {
        self.cw
    }

    /// `mw`: the maximum weight minus `gcd - 1`, where each cycle starts.
    pub const fn max_weight(&self) -> i32 {
        self.mw
    }

    /// `di`: the gcd of the weights > 0, the step `cw` drops by.
    pub const fn gcd(&self) -> i32 {
        self.di
    }

    /// `ip_vs_wrr_dest_changed`.
    fn dest_changed(&mut self, dests: &DestSet<'_>) {
        self.cl = Cursor::HEAD;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }
}

impl Wrr {
    /// Skips, in one step, the full passes that cannot find a server.
    ///
    /// A full pass (from the head, no `stop`) with `cw > m`, where `m` is the largest weight
    /// without OVERLOAD, fails; the kernel then lowers `cw` by `di`, and as long as `cw` stays
    /// above `di` nothing else changes (no reset, `last_pass` false, no `stop`). So the run of
    /// such passes ends at the first `cw <= max(m, di)`, reached after
    /// `ceil((cw - max(m, di)) / di)` steps, where `last_pass` and `stop` are evaluated once.
    /// Decisions and state are exactly the kernel's; only the number of passes drops from up to
    /// `mw / di` to a handful (the kernel's loop is O(weights x servers) per pick).
    fn fast_forward(
        &mut self,
        m: i32,
        restarted: bool,
        last: Option<usize>,
        last_pass: &mut bool,
        stop: &mut Option<usize>,
    ) {
        let target = i64::from(m.max(self.di));
        let (cw, di) = (i64::from(self.cw), i64::from(self.di));
        if cw <= target {
            return;
        }
        let steps = (cw - target + di - 1) / di;
        // cw - steps * di lies in (target - di, target], so within 1..=i32::MAX.
        self.cw = (cw - steps * di) as i32;
        *last_pass = self.cw <= self.di;
        if *last_pass && restarted && last.is_some() {
            *stop = last;
        }
    }
}

impl Scheduler for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.cl = Cursor::HEAD;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        self.cw = self.mw;
    }

    rebuild_on!(dest_changed: add_dest, del_dest, upd_dest);

    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        // `pos` is the kernel's `dest` iterator: None is the list head.
        let mut pos = self.cl.resolve(dests);
        if self.mw == 0 {
            return None;
        }
        let last = pos;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // The largest weight among servers without OVERLOAD, learnt from a failed full pass.
        let mut best_ok: Option<i32> = None;
        let n = dests.order().len();
        // Terminates: each pass lowers cw by di >= 1; the first reset to mw either fails (scan
        // began at the head) or sets `restarted`, after which the pass with cw <= di sets `stop`
        // to `last`, a listed member that the next pass reaches; a second reset always fails
        // because the pass before it had cw <= di (last_pass).
        loop {
            if pos.is_none() && stop.is_none() {
                if let Some(m) = best_ok {
                    self.fast_forward(m, restarted, last, &mut last_pass, &mut stop);
                }
            }
            let full = pos.is_none() && stop.is_none();
            let mut seen_ok = 0i32;
            let start = pos.map_or(0, |p| p + 1);
            for i in start..n {
                let Some((id, d)) = member(dests, i) else {
                    continue;
                };
                if !d.is_overloaded() {
                    if weight(d) >= self.cw {
                        self.cl = Cursor::at(id, i);
                        return Some(id);
                    }
                    seen_ok = seen_ok.max(weight(d));
                }
                if stop == Some(i) {
                    // err_over with `dest` on the stop server
                    self.cl = Cursor::at(id, i);
                    return None;
                }
            }
            if full {
                best_ok = Some(seen_ok);
            }
            pos = None;
            self.cw = self.cw.wrapping_sub(self.di);
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = Cursor::HEAD;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::test_util::{server, tcp_req};
    use lvs_core::dest::DestFlags;
    use lvs_core::Dest;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The kernel's loop pass by pass, without the fast-forward.
    fn schedule_plain(w: &mut Wrr, dests: &DestSet<'_>) -> Option<DestId> {
        let mut pos = w.cl.resolve(dests);
        if w.mw == 0 {
            return None;
        }
        let last = pos;
        let (mut stop, mut last_pass, mut restarted) = (None, false, false);
        loop {
            for i in pos.map_or(0, |p| p + 1)..dests.order().len() {
                let Some((id, d)) = member(dests, i) else {
                    continue;
                };
                if !d.is_overloaded() && weight(d) >= w.cw {
                    w.cl = Cursor::at(id, i);
                    return Some(id);
                }
                if stop == Some(i) {
                    w.cl = Cursor::at(id, i);
                    return None;
                }
            }
            pos = None;
            w.cw -= w.di;
            if w.cw <= 0 {
                w.cw = w.mw;
                if last_pass || last.is_none() {
                    w.cl = Cursor::HEAD;
                    return None;
                }
                restarted = true;
            }
            last_pass = w.cw <= w.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }

    proptest! {
        #[test]
        fn fast_forward_changes_nothing(
            dests in prop::collection::vec((prop_oneof![0u32..=4, 0u32..=3000], any::<bool>()), 1..7),
            steps in prop::collection::vec((any::<usize>(), prop_oneof![0u32..=4, 0u32..=3000], 0u8..4), 1..60),
        ) {
            let mut pool: Vec<Dest> = dests
                .iter()
                .enumerate()
                .map(|(i, &(w, o))| {
                    let mut d = server(i as u8, w, 0, 0);
                    d.set_flag(DestFlags::OVERLOAD, o);
                    d
                })
                .collect();
            let order: Vec<DestId> = (0..pool.len() as u16).map(DestId).collect();
            let req = tcp_req();
            let mut fast = Wrr::new();
            fast.init_service(&DestSet::new(&pool, &order));
            let mut plain = fast.clone();
            for (i, w, kind) in steps {
                let id = order[i % order.len()];
                match kind {
                    0 => {
                        pool[id.index()].weight = w;
                        let set = DestSet::new(&pool, &order);
                        fast.upd_dest(&set, id);
                        plain.upd_dest(&set, id);
                    }
                    1 => {
                        let d = &mut pool[id.index()];
                        let o = d.is_overloaded();
                        d.set_flag(DestFlags::OVERLOAD, !o);
                    }
                    _ => {
                        let set = DestSet::new(&pool, &order);
                        let a = fast.schedule(&set, &req);
                        let b = schedule_plain(&mut plain, &set);
                        prop_assert_eq!(a, b);
                        prop_assert_eq!(&fast, &plain);
                    }
                }
            }
        }
    }

    #[test]
    fn huge_weights_are_fast() {
        // One usable server of weight 1 next to an overloaded one of weight i32::MAX: the
        // kernel's loop would take 2^31 passes per pick.
        let mut pool = [server(1, i32::MAX as u32, 0, 0), server(2, 1, 0, 0)];
        pool[0].set_flag(DestFlags::OVERLOAD, true);
        let order = [DestId(0), DestId(1)];
        let set = DestSet::new(&pool, &order);
        let req = tcp_req();
        let mut w = Wrr::new();
        w.init_service(&set);
        for _ in 0..4 {
            assert_eq!(w.schedule(&set, &req), Some(DestId(1)));
        }
    }
}
