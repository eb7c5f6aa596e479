//! Power of two choices on *reported* load: a scheduler fed by the same [`LoadReport`]s as the
//! weight controllers of [`crate::feedback`].
//!
//! Weight controllers act at the monitor's pace (a report every second at best), while wlc's
//! herding forms within one client round trip: a new connection counts as inactive (overhead 1
//! instead of 256) until its handshake completes, so every connection that arrives in that
//! window goes to the same server. This scheduler takes the reports itself and keeps its own
//! count of the connections it sent, so its view of a server changes with every decision:
//!
//! 1. each report sets the server's *headroom*, `free − swapped · cost` in KiB (a swapped-out
//!    process is memory the server lacks; `free` alone stops falling at the swap watermark),
//!    optionally smoothed over reports;
//! 2. a new connection draws two eligible servers (weight > 0, not overloaded) with probability
//!    proportional to weight, distinct when two or more are eligible (configurable);
//! 3. each candidate's estimate is its headroom minus `cost` for every connection *in flight*
//!    there ([`InFlight`]: by default the connections sent there within about the last
//!    200 ms, roughly a connection's lifetime; or those sent since its last report). The larger
//!    estimate wins. Ties, and pairs where a server has not reported yet, go to fewer
//!    connections in flight per weight, then to twos' rule (smaller overhead per weight), then
//!    to the first draw.
//!
//! With equal headroom this alternates like round robin over the recent connections, so no
//! server takes a burst. A headroom gap of `g` KiB becomes a steady lead of `g / cost`
//! connections per window for the freer server: more connections there, fewer on the fuller
//! one, until the reports even out. Without reports it is a weighted power of two choices on
//! its own in-flight counts, which does not herd either.
//!
//! State is fixed-size (`N` servers, indexed by [`DestId::index`]); `schedule` does not
//! allocate and does not panic. Servers whose id is `N` or more are scheduled, but as servers
//! without a report.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler};
//! use lvs_sched::feedback::LoadReport;
//! use lvs_sched::p2c::{P2c, P2cConfig};
//! use lvs_sched::random::SplitMix64;
//! let pool = [
//!     Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 0),
//!     Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 1, 0, 0),
//! ];
//! let order = [DestId(0), DestId(1)];
//! let set = DestSet::new(&pool, &order);
//! let req = SchedRequest {
//!     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000), Endpoint::v4([198, 18, 0, 1], 80)),
//!     now: Instant::from_millis(1000),
//! };
//! let mut p2c = P2c::<_, 4>::new(SplitMix64::new(1), P2cConfig::DEFAULT);
//! // the second server has 3000 KiB more free memory: two connections' worth at 1500 KiB
//! p2c.set_reports(&[LoadReport::new(20_000, 131_072), LoadReport::new(23_000, 131_072)]).unwrap();
//! assert_eq!(p2c.schedule(&set, &req), Some(DestId(1)));
//! assert_eq!(p2c.schedule(&set, &req), Some(DestId(1)));
//! // both estimates are now 20 000 KiB
//! assert_eq!(p2c.estimate(DestId(1)), p2c.estimate(DestId(0)));
//! ```

use crate::feedback::{FeedbackError, LoadReport};
use crate::random::RandomSource;
use crate::util::{overhead, usable, weight};
use lvs_core::{Dest, DestId, DestSet, SchedRequest, Scheduler};

/// Settings of [`P2c`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P2cConfig {
    /// Memory one connection in flight is assumed to commit, KiB: subtracted from a server's
    /// headroom for every connection in flight there, and for every swapped-out process it
    /// reports. It sets how hard a headroom gap pulls: `gap / cost` connections of lead.
    pub conn_cost_kb: u32,
    /// Draw two different servers when at least two are eligible (with two servers the choice
    /// is then always the better one). When `false` both draws are independent, as in `twos`.
    pub distinct: bool,
    /// Which connections count as in flight.
    pub in_flight: InFlight,
    /// Weight of a new report in the headroom, per-mille: `h ← h + α (report − h)`. 1000 (or
    /// more) takes each report as it is; smaller values filter short-lived swings such as CGI
    /// children that come and go between reports. 0 is read as 1.
    pub smoothing_permille: u32,
}

/// How [`P2c`] estimates the memory a server committed that its last report does not show yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlight {
    /// Every connection scheduled to it since the report costs `conn_cost_kb`, finished or not;
    /// a report clears the count.
    Scheduled,
    /// Every connection scheduled to it within about the last `window_ms` costs
    /// `conn_cost_kb`, reports or not: a sliding count over two fixed windows (the previous
    /// window's count fades out linearly over the current one). With the window near a
    /// connection's lifetime this counts the connections still in progress, and the preference
    /// for the server with more headroom becomes a steady share of new connections instead of a
    /// burst after each report.
    Window {
        /// Window length, ms (0 is read as 1).
        window_ms: u32,
    },
}

impl P2cConfig {
    /// 1500 KiB per connection in flight, distinct draws, a 200 ms window, no smoothing.
    ///
    /// The cost and window come from a sweep on the memory-balance simulation
    /// (docs/simulation.md): a window near a connection's lifetime, and a cost between a CGI
    /// request's average share (about 350 KiB) and a whole httpd process (3.6 MB). The
    /// published controllers' 3500 KiB pulls too weakly there; 700 KiB or less overreacts to
    /// the CGI children that come and go between reports.
    pub const DEFAULT: P2cConfig = P2cConfig {
        conn_cost_kb: 1500,
        distinct: true,
        in_flight: InFlight::Window { window_ms: 200 },
        smoothing_permille: 1000,
    };
}

impl Default for P2cConfig {
    fn default() -> Self {
        P2cConfig::DEFAULT
    }
}

/// Power of two choices on reported memory headroom, for up to `N` reporting servers, drawing
/// from `R`. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2c<R, const N: usize> {
    rng: R,
    cfg: P2cConfig,
    /// Reported headroom, KiB.
    headroom: [i64; N],
    /// A fresh report arrived at least once.
    known: [bool; N],
    /// Connections scheduled since the report.
    pending: [u32; N],
    /// Connections scheduled in the current window.
    cur: [u32; N],
    /// Connections scheduled in the previous window.
    prev: [u32; N],
    /// Start of the current window, ms.
    window_start: u64,
    /// Time of the last decision, ms.
    now_ms: u64,
}

impl<R: RandomSource, const N: usize> P2c<R, N> {
    /// A scheduler with `cfg` drawing from `rng`; no server has reported yet.
    pub const fn new(rng: R, cfg: P2cConfig) -> Self {
        P2c {
            rng,
            cfg,
            headroom: [0; N],
            known: [false; N],
            pending: [0; N],
            cur: [0; N],
            prev: [0; N],
            window_start: 0,
            now_ms: 0,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &P2cConfig {
        &self.cfg
    }

    /// The random source.
    pub fn rng_mut(&mut self) -> &mut R {
        &mut self.rng
    }

    /// Takes the reports of servers `DestId(0)`, `DestId(1)`, ... in order. A fresh report
    /// replaces the server's headroom and clears its count of connections scheduled since; a
    /// missing one ([`LoadReport::fresh`] false) changes nothing. Returns how many were fresh.
    ///
    /// # Errors
    /// [`FeedbackError::TooManyServers`] when there are more than `N` reports; nothing changes.
    pub fn set_reports(&mut self, reports: &[LoadReport]) -> Result<usize, FeedbackError> {
        if reports.len() > N {
            return Err(FeedbackError::TooManyServers);
        }
        let mut fresh = 0;
        for (i, r) in reports.iter().enumerate() {
            if self.take(i, r) {
                fresh += 1;
            }
        }
        Ok(fresh)
    }

    /// Takes one server's report (as [`P2c::set_reports`] does for each).
    ///
    /// # Errors
    /// [`FeedbackError::TooManyServers`] when `id` is `N` or more.
    pub fn set_report(&mut self, id: DestId, report: &LoadReport) -> Result<(), FeedbackError> {
        if id.index() >= N {
            return Err(FeedbackError::TooManyServers);
        }
        self.take(id.index(), report);
        Ok(())
    }

    /// Forgets every report and every count.
    pub fn reset(&mut self) {
        self.known = [false; N];
        self.pending = [0; N];
        self.cur = [0; N];
        self.prev = [0; N];
    }

    /// The estimate the scheduler compares for `id`, as of its last decision: reported
    /// headroom in KiB minus `conn_cost_kb` per connection in flight (see [`InFlight`]), or
    /// `None` before its first report.
    pub fn estimate(&self, id: DestId) -> Option<i64> {
        let i = id.index();
        if !*self.known.get(i)? {
            return None;
        }
        let cost = i128::from(self.cfg.conn_cost_kb);
        let e = i128::from(self.headroom[i]) - cost * i128::from(self.in_flight_milli(i)) / 1000;
        Some(e.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Connections in flight to `id` as of the last decision, in thousandths (see
    /// [`InFlight`]; 0 for an id of `N` or more).
    pub fn in_flight(&self, id: DestId) -> u64 {
        if id.index() < N {
            self.in_flight_milli(id.index())
        } else {
            0
        }
    }

    fn in_flight_milli(&self, i: usize) -> u64 {
        match self.cfg.in_flight {
            InFlight::Scheduled => u64::from(self.pending[i]) * 1000,
            InFlight::Window { window_ms } => {
                let w = u64::from(window_ms.max(1));
                let into = self.now_ms.saturating_sub(self.window_start).min(w);
                let fade =
                    (u128::from(self.prev[i]) * u128::from(w - into) * 1000 / u128::from(w)) as u64;
                u64::from(self.cur[i]) * 1000 + fade
            }
        }
    }

    /// Connections scheduled to `id` since its last report (0 for an id of `N` or more).
    pub fn pending(&self, id: DestId) -> u32 {
        self.pending.get(id.index()).copied().unwrap_or(0)
    }

    /// The decision for given draws on the state as of the last decision. `r1` and `r2`
    /// select by weight: `r1` lies in `[0, total)` over the eligible servers in list order;
    /// with distinct draws `r2` lies in `[0, total − w1)` over the eligible servers other than
    /// the first pick, otherwise it is read like `r1`. Out-of-range draws are reduced modulo
    /// the range. Returns `None` when no server is eligible. Counts nothing.
    pub fn pick_with_draws(&self, dests: &DestSet<'_>, r1: u64, r2: u64) -> Option<DestId> {
        let total = eligible_weight(dests, None);
        if total == 0 {
            return None;
        }
        let (c1, d1) = by_weight(dests, r1 % total, None)?;
        let rest = if self.cfg.distinct {
            eligible_weight(dests, Some(c1))
        } else {
            total
        };
        if rest == 0 {
            return Some(c1);
        }
        let skip = self.cfg.distinct.then_some(c1);
        let Some((c2, d2)) = by_weight(dests, r2 % rest, skip) else {
            return Some(c1);
        };
        Some(if self.prefers(c2, d2, c1, d1) { c2 } else { c1 })
    }

    /// `b` beats `a`. Both reported: a larger estimate. Otherwise, or on a tie: fewer
    /// connections in flight per weight. Then a strictly smaller overhead per weight (twos'
    /// rule), which is also the only rule for ids of `N` or more (no state).
    fn prefers(&self, b: DestId, db: &Dest, a: DestId, da: &Dest) -> bool {
        let (ib, ia) = (b.index(), a.index());
        if ib < N && ia < N {
            if let (Some(eb), Some(ea)) = (self.estimate(b), self.estimate(a)) {
                if eb != ea {
                    return eb > ea;
                }
            }
            let fb = u128::from(self.in_flight_milli(ib)) * u128::from(da.weight);
            let fa = u128::from(self.in_flight_milli(ia)) * u128::from(db.weight);
            if fb != fa {
                return fb < fa;
            }
        }
        // twos' comparison, in 64 bits: oh_b / w_b < oh_a / w_a
        i64::from(overhead(db)) * i64::from(weight(da))
            < i64::from(overhead(da)) * i64::from(weight(db))
    }

    /// Moves the clock to `now_ms`, rolling the windows it passed.
    fn advance(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        let InFlight::Window { window_ms } = self.cfg.in_flight else {
            return;
        };
        let w = u64::from(window_ms.max(1));
        let passed = self.now_ms.saturating_sub(self.window_start) / w;
        if passed == 0 {
            return;
        }
        if passed == 1 {
            self.prev = self.cur;
        } else {
            self.prev = [0; N];
        }
        self.cur = [0; N];
        self.window_start = self.now_ms - self.now_ms % w;
    }

    fn forget(&mut self, i: usize) {
        if i < N {
            self.known[i] = false;
            self.pending[i] = 0;
            self.cur[i] = 0;
            self.prev[i] = 0;
        }
    }

    fn take(&mut self, i: usize, r: &LoadReport) -> bool {
        if !r.fresh || i >= N {
            return false;
        }
        let free = r.free().min(i64::MAX as u64) as i64;
        let swapped = i64::from(r.swapped).saturating_mul(i64::from(self.cfg.conn_cost_kb));
        let h = free.saturating_sub(swapped);
        self.headroom[i] = if self.known[i] {
            let alpha = i128::from(self.cfg.smoothing_permille.clamp(1, 1000));
            let old = i128::from(self.headroom[i]);
            (old + (i128::from(h) - old) * alpha / 1000) as i64
        } else {
            h
        };
        self.known[i] = true;
        self.pending[i] = 0;
        true
    }

    /// A draw in `[0, bound)` for a 64-bit bound (two 32-bit draws when it does not fit).
    fn draw(&mut self, bound: u64) -> u64 {
        match u32::try_from(bound) {
            Ok(b) => u64::from(self.rng.next_u32_below(b)),
            Err(_) => {
                let hi = u64::from(self.rng.next_u32_below(0));
                let lo = u64::from(self.rng.next_u32_below(0));
                ((hi << 32) | lo) % bound
            }
        }
    }
}

/// Sum of the eligible weights, leaving out `skip`.
fn eligible_weight(dests: &DestSet<'_>, skip: Option<DestId>) -> u64 {
    dests
        .iter()
        .filter(|&(id, d)| usable(d) && Some(id) != skip)
        .map(|(_, d)| u64::from(d.weight))
        .sum()
}

/// The eligible server (other than `skip`) whose weight interval holds `r`.
fn by_weight<'a>(
    dests: &DestSet<'a>,
    mut r: u64,
    skip: Option<DestId>,
) -> Option<(DestId, &'a Dest)> {
    for (id, d) in dests.iter() {
        if !usable(d) || Some(id) == skip {
            continue;
        }
        let w = u64::from(d.weight);
        if r < w {
            return Some((id, d));
        }
        r -= w;
    }
    None
}

impl<R: RandomSource, const N: usize> Scheduler for P2c<R, N> {
    fn name(&self) -> &'static str {
        "p2c"
    }

    fn add_dest(&mut self, _dests: &DestSet<'_>, id: DestId) {
        self.forget(id.index());
    }

    fn del_dest(&mut self, _dests: &DestSet<'_>, id: DestId, _position: usize) {
        self.forget(id.index());
    }

    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        self.advance(req.now.total_millis());
        let total = eligible_weight(dests, None);
        if total == 0 {
            return None;
        }
        let r1 = self.draw(total);
        let first = by_weight(dests, r1, None)?.0;
        let rest = if self.cfg.distinct {
            eligible_weight(dests, Some(first))
        } else {
            total
        };
        let r2 = if rest == 0 { 0 } else { self.draw(rest) };
        let pick = self.pick_with_draws(dests, r1, r2)?;
        let i = pick.index();
        if i < N {
            self.pending[i] = self.pending[i].saturating_add(1);
            self.cur[i] = self.cur[i].saturating_add(1);
        }
        Some(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{Replay, SplitMix64};
    use crate::test_util::{req, server, ORDER};
    use lvs_core::dest::DestFlags;
    use lvs_core::{Endpoint, Instant};
    use std::vec::Vec;

    const MB: u64 = 1024;

    fn dest(i: u8, weight: u32) -> Dest {
        server(i, weight, 0, 0)
    }

    fn at(ms: u64) -> SchedRequest {
        let (client, service) = (
            Endpoint::v4([198, 19, 0, 1], 40000),
            Endpoint::v4([198, 18, 0, 1], 80),
        );
        req(client, service, Instant::from_millis(ms))
    }

    fn mem(free_mb: u64) -> LoadReport {
        LoadReport::new(free_mb * MB, 128 * MB)
    }

    fn since_report(cost: u32) -> P2cConfig {
        P2cConfig {
            conn_cost_kb: cost,
            in_flight: InFlight::Scheduled,
            ..P2cConfig::DEFAULT
        }
    }

    #[test]
    fn never_picks_quiesced_or_overloaded_servers() {
        let mut pool = [dest(1, 1), dest(2, 0), dest(3, 1), dest(4, 2)];
        pool[2].set_flag(DestFlags::OVERLOAD, true);
        let set = DestSet::new(&pool, &ORDER[..4]);
        for cfg in [P2cConfig::DEFAULT, since_report(3500)] {
            for distinct in [true, false] {
                let cfg = P2cConfig { distinct, ..cfg };
                let mut p = P2c::<_, 4>::new(SplitMix64::new(9), cfg);
                // the quiesced and the overloaded servers report the most headroom
                p.set_reports(&[mem(10), mem(120), mem(120), mem(11)])
                    .unwrap();
                let mut seen = [0u32; 4];
                for t in 0..1000 {
                    let id = p.schedule(&set, &at(t)).unwrap();
                    seen[id.index()] += 1;
                }
                assert_eq!(seen[1] + seen[2], 0, "{seen:?}");
                assert!(seen[0] > 0 && seen[3] > 0, "{seen:?}");
            }
        }
        // nothing eligible: no destination
        let mut p = P2c::<_, 4>::new(SplitMix64::new(9), P2cConfig::DEFAULT);
        let mut none = [dest(1, 0), dest(2, 1)];
        none[1].set_flag(DestFlags::OVERLOAD, true);
        let set = DestSet::new(&none, &ORDER[..2]);
        assert_eq!(p.schedule(&set, &at(0)), None);
        assert_eq!(p.schedule(&DestSet::new(&[], &[]), &at(0)), None);
        // a single eligible server is the answer
        let one = [dest(1, 0), dest(2, 5)];
        assert_eq!(
            p.schedule(&DestSet::new(&one, &ORDER[..2]), &at(0)),
            Some(DestId(1))
        );
    }

    #[test]
    fn since_report_prefers_headroom_until_the_count_catches_up() {
        let pool = [dest(1, 1), dest(2, 1)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        let mut p = P2c::<_, 2>::new(SplitMix64::new(3), since_report(3500));
        // B has 35 000 KiB more: ten connections' worth at 3500 KiB
        p.set_reports(&[
            LoadReport::new(20_000, 131_072),
            LoadReport::new(55_000, 131_072),
        ])
        .unwrap();
        let picks: Vec<usize> = (0..10)
            .map(|_| p.schedule(&set, &at(5)).unwrap().index())
            .collect();
        assert_eq!(picks, [1; 10]);
        assert_eq!(p.pending(DestId(1)), 10);
        assert_eq!(p.estimate(DestId(0)), p.estimate(DestId(1)));
        // from here on the two alternate: each pick lowers the winner below the other
        let mut count = [0u32; 2];
        for t in 0..20 {
            count[p.schedule(&set, &at(10 + t * 1000)).unwrap().index()] += 1;
        }
        assert_eq!(count, [10, 10]);
        // a new report clears the counts
        p.set_reports(&[mem(40), mem(30)]).unwrap();
        assert_eq!(p.pending(DestId(1)), 0);
        assert_eq!(p.schedule(&set, &at(30_000)), Some(DestId(0)));
    }

    #[test]
    fn window_turns_a_gap_into_a_steady_share() {
        let pool = [dest(1, 1), dest(2, 1)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        // 1500 KiB per connection, 200 ms window; B has 3000 KiB more: a lead of two
        let mut p = P2c::<_, 2>::new(SplitMix64::new(3), P2cConfig::DEFAULT);
        p.set_reports(&[
            LoadReport::new(20_000, 131_072),
            LoadReport::new(23_000, 131_072),
        ])
        .unwrap();
        // one decision every 4 ms for 2 s, no further reports
        let mut count = [0i64; 2];
        for t in 0..500 {
            count[p.schedule(&set, &at(t * 4)).unwrap().index()] += 1;
        }
        // an extra two per 200 ms on B, kept up over 10 windows: about 20 more of 500
        let lead = count[1] - count[0];
        assert!((16..=24).contains(&lead), "{count:?}");
        // the counts were not cleared by any report: the lead lives in the window
        let (e0, e1) = (
            p.estimate(DestId(0)).unwrap(),
            p.estimate(DestId(1)).unwrap(),
        );
        assert!((e0 - e1).abs() <= 1500, "{e0} {e1}");
        // two windows of silence empty them: the estimates are the reports again
        p.schedule(&set, &at(3000)).unwrap();
        assert_eq!(p.estimate(DestId(0)), Some(20_000));
        assert_eq!(p.estimate(DestId(1)), Some(23_000 - 1500));
    }

    #[test]
    fn window_counts_fade_linearly() {
        let pool = [dest(1, 1), dest(2, 1)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        let cfg = P2cConfig {
            conn_cost_kb: 1000,
            in_flight: InFlight::Window { window_ms: 100 },
            ..P2cConfig::DEFAULT
        };
        let mut p = P2c::<_, 2>::new(Replay::new(&[0]), cfg);
        p.set_reports(&[mem(10), mem(100)]).unwrap();
        // ten connections to B at t = 50 ms (window [0, 100))
        for _ in 0..10 {
            assert_eq!(p.schedule(&set, &at(50)), Some(DestId(1)));
        }
        assert_eq!(p.estimate(DestId(1)), Some(100 * 1024 - 10_000));
        // at 150 ms they are in the previous window, half faded (5), plus the new one
        assert_eq!(p.schedule(&set, &at(150)), Some(DestId(1)));
        assert_eq!(p.estimate(DestId(1)), Some(100 * 1024 - 6_000));
        // at 200 ms the ten are gone; the one from 150 ms fades from there
        assert_eq!(p.schedule(&set, &at(250)), Some(DestId(1)));
        assert_eq!(p.estimate(DestId(1)), Some(100 * 1024 - 1_500));
    }

    #[test]
    fn swapped_processes_count_against_headroom() {
        let pool = [dest(1, 1), dest(2, 1)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        let mut p = P2c::<_, 2>::new(SplitMix64::new(5), since_report(3500));
        // both at the swap watermark, A with 4 processes swapped out
        p.set_reports(&[mem(2).with_procs(0, 0, 4), mem(2)])
            .unwrap();
        assert_eq!(p.estimate(DestId(0)), Some(2 * 1024 - 4 * 3500));
        assert_eq!(p.schedule(&set, &at(0)), Some(DestId(1)));
    }

    #[test]
    fn without_reports_it_compares_connections_per_weight() {
        // A: 3 active (oh 768) weight 1; B: 2 active (oh 512) weight 1; C: idle weight 2
        let pool = [server(1, 1, 3, 0), server(2, 1, 2, 0), server(3, 2, 0, 0)];
        let set = DestSet::new(&pool, &ORDER[..3]);
        let p = P2c::<Replay<'_>, 3>::new(Replay::new(&[]), P2cConfig::DEFAULT);
        // weights 1,1,2: r1 0 -> A, 1 -> B, 2..4 -> C; distinct r2 over the others
        assert_eq!(p.pick_with_draws(&set, 0, 0), Some(DestId(1))); // A vs B
        assert_eq!(p.pick_with_draws(&set, 1, 0), Some(DestId(1))); // B vs A
        assert_eq!(p.pick_with_draws(&set, 0, 1), Some(DestId(2))); // A vs C
        assert_eq!(p.pick_with_draws(&set, 3, 0), Some(DestId(2))); // C vs A
                                                                    // one report is not enough for the headroom rule
        let mut q = P2c::<Replay<'_>, 3>::new(Replay::new(&[]), P2cConfig::DEFAULT);
        q.set_report(DestId(0), &mem(100)).unwrap();
        assert_eq!(q.pick_with_draws(&set, 0, 0), Some(DestId(1)));
        assert_eq!(
            q.set_report(DestId(3), &mem(1)),
            Err(FeedbackError::TooManyServers)
        );
    }

    #[test]
    fn without_reports_in_flight_counts_keep_a_burst_apart() {
        // both idle as the director sees them (a new connection is inactive until its
        // handshake completes): wlc would send a whole burst to one of them
        let pool = [dest(1, 1), dest(2, 2)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        let mut p = P2c::<_, 2>::new(SplitMix64::new(4), P2cConfig::DEFAULT);
        let mut count = [0u32; 2];
        for _ in 0..30 {
            count[p.schedule(&set, &at(10)).unwrap().index()] += 1;
        }
        assert_eq!(count, [10, 20]);
        assert_eq!(p.in_flight(DestId(1)), 20_000);
        // servers beyond the capacity have no counts: twos' rule only
        let mut small = P2c::<_, 1>::new(SplitMix64::new(4), P2cConfig::DEFAULT);
        let busy = [server(1, 1, 0, 0), server(2, 1, 1, 0)];
        let set = DestSet::new(&busy, &ORDER[..2]);
        for _ in 0..5 {
            assert_eq!(small.schedule(&set, &at(10)), Some(DestId(0)));
        }
        assert_eq!(small.in_flight(DestId(1)), 0);
    }

    #[test]
    fn draws_through_the_source_by_weight() {
        // weights 2 and 3; equal headroom and load: the first draw wins ties
        let pool = [dest(1, 2), dest(2, 3)];
        let set = DestSet::new(&pool, &ORDER[..2]);
        let mut p = P2c::<_, 2>::new(Replay::new(&[1, 0, 4, 0]), P2cConfig::DEFAULT);
        p.set_reports(&[mem(50), mem(50)]).unwrap();
        // r1 = 1 -> A (0..2), r2 over B only; estimates equal, counts equal -> A
        assert_eq!(p.schedule(&set, &at(0)), Some(DestId(0)));
        // A now has one in flight: r1 = 4 -> B; B has more headroom -> B
        assert_eq!(p.schedule(&set, &at(0)), Some(DestId(1)));
        assert_eq!(p.rng_mut().draws(), 4);
        // independent draws may pick the same server twice
        let cfg = P2cConfig {
            distinct: false,
            ..P2cConfig::DEFAULT
        };
        let q = P2c::<Replay<'_>, 2>::new(Replay::new(&[]), cfg);
        assert_eq!(q.pick_with_draws(&set, 0, 1), Some(DestId(0)));
        assert_eq!(q.pick_with_draws(&set, 4, 3), Some(DestId(1)));
    }

    #[test]
    fn deterministic_for_a_seed() {
        let pool = [dest(1, 1), dest(2, 2), dest(3, 3)];
        let set = DestSet::new(&pool, &ORDER[..3]);
        let run = |seed: u64| -> Vec<u16> {
            let cfg = P2cConfig {
                distinct: false,
                ..P2cConfig::DEFAULT
            };
            let mut p = P2c::<_, 3>::new(SplitMix64::new(seed), cfg);
            let mut out = Vec::new();
            for round in 0..20u64 {
                p.set_reports(&[mem(30 + round % 3), mem(30), mem(31)])
                    .unwrap();
                for k in 0..10 {
                    out.push(p.schedule(&set, &at(round * 100 + k)).unwrap().0);
                }
            }
            out
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn smoothing_filters_a_one_off_report() {
        let cfg = P2cConfig {
            smoothing_permille: 250,
            ..P2cConfig::DEFAULT
        };
        let mut p = P2c::<SplitMix64, 1>::new(SplitMix64::new(1), cfg);
        p.set_reports(&[LoadReport::new(40_000, 131_072)]).unwrap();
        assert_eq!(p.estimate(DestId(0)), Some(40_000));
        // a dip of 8000 KiB moves the headroom by a quarter of it
        p.set_reports(&[LoadReport::new(32_000, 131_072)]).unwrap();
        assert_eq!(p.estimate(DestId(0)), Some(38_000));
    }

    #[test]
    fn reports_errors_missing_reports_reset_and_removal() {
        let mut p = P2c::<_, 2>::new(SplitMix64::new(1), P2cConfig::DEFAULT);
        assert_eq!(
            p.set_reports(&[mem(1), mem(2), mem(3)]),
            Err(FeedbackError::TooManyServers)
        );
        assert_eq!(p.estimate(DestId(0)), None);
        assert_eq!(p.set_reports(&[mem(10), mem(20)]), Ok(2));
        assert_eq!(p.set_reports(&[LoadReport::MISSING, mem(5)]), Ok(1));
        assert_eq!(p.estimate(DestId(0)), Some(10 * 1024));
        assert_eq!(p.estimate(DestId(1)), Some(5 * 1024));
        // a removed server forgets its report
        let pool = [dest(1, 1), dest(2, 1)];
        p.del_dest(&DestSet::new(&pool, &ORDER[..1]), DestId(1), 1);
        assert_eq!(p.estimate(DestId(1)), None);
        p.reset();
        assert_eq!(p.estimate(DestId(0)), None);
        assert_eq!(p.estimate(DestId(7)), None);
        assert_eq!(p.pending(DestId(7)), 0);
        assert_eq!(p.name(), "p2c");
    }
}
