//! The schedulers the simulator can put behind the director, as one type.

use super::*;

/// The schedulers the simulator can put behind the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection.
    Wlc,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// The kernel's power of two choices on connection counts.
    Twos,
    /// Power of two choices on reported memory headroom (`lvs_sched::p2c`); the simulator
    /// hands it the load reports at the variant's interval.
    P2c,
    /// The oracle bound (module `oracle`): not a scheduler a director can run, only the
    /// memory-balance experiment builds it (never parsed by [`SchedKind::parse`]).
    Oracle {
        /// Also counts the memory the new connection will need.
        need: bool,
    },
}

impl SchedKind {
    /// Parses `rr`, `wrr`, `lc`, `wlc`, `sed`, `nq`, `twos`, `p2c`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rr" => SchedKind::Rr,
            "wrr" => SchedKind::Wrr,
            "lc" => SchedKind::Lc,
            "wlc" => SchedKind::Wlc,
            "sed" => SchedKind::Sed,
            "nq" => SchedKind::Nq,
            "twos" => SchedKind::Twos,
            "p2c" => SchedKind::P2c,
            _ => return None,
        })
    }
    /// The kernel name.
    pub fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Twos => "twos",
            SchedKind::P2c => "p2c",
            SchedKind::Oracle { need: false } => ORACLE_LABEL,
            SchedKind::Oracle { need: true } => "oracle-bound+need",
        }
    }
    /// The scheduler, and for p2c and the oracle the handle through which the simulator feeds
    /// it.
    pub(crate) fn build(self, seed: u64, p2c: P2cConfig) -> (SimSched, Feed) {
        let none = Feed::default();
        match self {
            SchedKind::Rr => (SimSched::Rr(Rr::new()), none),
            SchedKind::Wrr => (SimSched::Wrr(Wrr::new()), none),
            SchedKind::Lc => (SimSched::Lc(Lc::new()), none),
            SchedKind::Wlc => (SimSched::Wlc(Wlc::new()), none),
            SchedKind::Sed => (SimSched::Sed(Sed::new()), none),
            SchedKind::Nq => (SimSched::Nq(Nq::new()), none),
            SchedKind::Twos => {
                let rng = SplitMix64::new(seed ^ 0x0970_C0DE_0000_0001);
                (SimSched::Twos(Twos::new(rng)), none)
            }
            SchedKind::P2c => {
                let rng = SplitMix64::new(seed ^ 0x0970_C0DE_0000_0002);
                let h = Rc::new(RefCell::new(P2c::new(rng, p2c)));
                let feed = Feed {
                    p2c: Some(h.clone()),
                    oracle: None,
                };
                (SimSched::P2c(h), feed)
            }
            SchedKind::Oracle { need } => {
                let h = OracleHandle::default();
                let feed = Feed {
                    p2c: None,
                    oracle: Some(h.clone()),
                };
                (SimSched::Oracle(Oracle::new(h, need)), feed)
            }
        }
    }
}

/// What the simulator feeds a scheduler it built: p2c's reports, the oracle's view.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    /// The p2c scheduler, for its reports.
    pub(crate) p2c: Option<P2cHandle>,
    /// The oracle bound's view of the servers.
    pub(crate) oracle: Option<OracleHandle>,
}

/// The p2c scheduler, shared between the director (which schedules with it) and the
/// simulator's monitor (which hands it reports).
pub type P2cHandle = Rc<RefCell<P2c<SplitMix64, MAX_SERVERS>>>;

/// One type over the lvs-sched schedulers (pure delegation).
#[derive(Debug)]
pub enum SimSched {
    /// rr
    Rr(Rr),
    /// wrr
    Wrr(Wrr),
    /// lc
    Lc(Lc),
    /// wlc
    Wlc(Wlc),
    /// sed
    Sed(Sed),
    /// nq
    Nq(Nq),
    /// twos
    Twos(Twos<SplitMix64>),
    /// p2c on reported load
    P2c(P2cHandle),
    /// the oracle bound (module `oracle`)
    Oracle(Oracle),
}

macro_rules! each {
    ($s:expr, $x:ident => $e:expr) => {
        match $s {
            SimSched::Rr($x) => $e,
            SimSched::Wrr($x) => $e,
            SimSched::Lc($x) => $e,
            SimSched::Wlc($x) => $e,
            SimSched::Sed($x) => $e,
            SimSched::Nq($x) => $e,
            SimSched::Twos($x) => $e,
            SimSched::Oracle($x) => $e,
            SimSched::P2c(h) => {
                let $x = &mut *h.borrow_mut();
                $e
            }
        }
    };
}

impl Scheduler for SimSched {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }
    fn init_service(&mut self, d: &DestSet<'_>) {
        each!(self, s => s.init_service(d))
    }
    fn add_dest(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.add_dest(d, id))
    }
    fn del_dest(&mut self, d: &DestSet<'_>, id: DestId, pos: usize) {
        each!(self, s => s.del_dest(d, id, pos))
    }
    fn upd_dest(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.upd_dest(d, id))
    }
    fn counts_changed(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.counts_changed(d, id))
    }
    fn schedule(&mut self, d: &DestSet<'_>, r: &SchedRequest) -> Option<DestId> {
        each!(self, s => s.schedule(d, r))
    }
    fn tick(&mut self, d: &DestSet<'_>, now: Instant) {
        each!(self, s => s.tick(d, now))
    }
}
