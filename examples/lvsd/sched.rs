//! Schedulers by ipvsadm name (`-s rr`), with their `-b` flags.
//!
//! A stand-in for `lvs_sched::registry` (`AnyScheduler::from_name`), which is being written
//! elsewhere; lvsd switches to it when it lands. Every scheduler of `lvs-sched` is here, each
//! with the kernel's defaults (mh: 4093 slots; lblc/lblcr: 24 h expiration).

use lvs_core::dest::{DestId, DestSet};
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::time::Instant;
use lvs_sched::random::SplitMix64;
use lvs_sched::{dh, lblc, lblcr, mh, sh, Fo, Lc, Nq, Ovf, Rr, Sed, Twos, Wlc, Wrr};
use std::fmt;

/// Names lvsd accepts for `-s`.
pub const NAMES: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "dh", "sh", "mh", "lblc", "lblcr",
];

/// A scheduler name lvsd does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScheduler(pub String);

impl fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown scheduler {:?} (known: {})",
            self.0,
            NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownScheduler {}

enum Kind {
    Rr(Rr),
    Wrr(Wrr),
    Lc(Lc),
    Wlc(Wlc),
    Sed(Sed),
    Nq(Nq),
    Fo(Fo),
    Ovf(Ovf),
    Twos(Twos<SplitMix64>),
    Dh(Box<dh::Dh>),
    Sh(Box<sh::Sh>),
    Mh(Box<mh::Mh>),
    Lblc(Box<lblc::Lblc>),
    Lblcr(Box<lblcr::Lblcr>),
}

/// Any scheduler of `lvs-sched`, chosen at run time.
pub struct Sched {
    kind: Kind,
    flags: SchedFlags,
}

impl fmt::Debug for Sched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sched")
            .field("name", &self.name())
            .field("flags", &self.flags)
            .finish()
    }
}

impl Sched {
    /// The scheduler ipvsadm calls `name`, with `-b` flags; `seed` feeds the random ones.
    ///
    /// # Errors
    /// [`UnknownScheduler`] for a name not in [`NAMES`].
    pub fn from_name(name: &str, flags: SchedFlags, seed: u64) -> Result<Self, UnknownScheduler> {
        let fallback = flags.contains(SchedFlags::FLAG_1);
        let port = flags.contains(SchedFlags::FLAG_2);
        let kind = match name {
            "rr" => Kind::Rr(Rr::new()),
            "wrr" => Kind::Wrr(Wrr::new()),
            "lc" => Kind::Lc(Lc::new()),
            "wlc" => Kind::Wlc(Wlc::new()),
            "sed" => Kind::Sed(Sed::new()),
            "nq" => Kind::Nq(Nq::new()),
            "fo" => Kind::Fo(Fo::new()),
            "ovf" => Kind::Ovf(Ovf::new()),
            "twos" => Kind::Twos(Twos::new(SplitMix64::new(seed))),
            "dh" => Kind::Dh(Box::new(dh::Dh::new())),
            "sh" => Kind::Sh(Box::new(sh::Sh::new(fallback, port))),
            "mh" => Kind::Mh(Box::new(
                mh::Mh::new(4093, fallback, port).map_err(|_| UnknownScheduler(name.into()))?,
            )),
            "lblc" => Kind::Lblc(Box::new(lblc::Lblc::new())),
            "lblcr" => Kind::Lblcr(Box::new(lblcr::Lblcr::new())),
            _ => return Err(UnknownScheduler(name.into())),
        };
        Ok(Sched { kind, flags })
    }

    fn inner(&mut self) -> &mut dyn DynSched {
        match &mut self.kind {
            Kind::Rr(s) => s,
            Kind::Wrr(s) => s,
            Kind::Lc(s) => s,
            Kind::Wlc(s) => s,
            Kind::Sed(s) => s,
            Kind::Nq(s) => s,
            Kind::Fo(s) => s,
            Kind::Ovf(s) => s,
            Kind::Twos(s) => s,
            Kind::Dh(s) => &mut **s,
            Kind::Sh(s) => &mut **s,
            Kind::Mh(s) => &mut **s,
            Kind::Lblc(s) => &mut **s,
            Kind::Lblcr(s) => &mut **s,
        }
    }
}

/// The object-safe part of [`Scheduler`].
trait DynSched {
    fn d_name(&self) -> &'static str;
    fn d_init(&mut self, dests: &DestSet<'_>);
    fn d_add(&mut self, dests: &DestSet<'_>, id: DestId);
    fn d_del(&mut self, dests: &DestSet<'_>, id: DestId, pos: usize);
    fn d_upd(&mut self, dests: &DestSet<'_>, id: DestId);
    fn d_counts(&mut self, dests: &DestSet<'_>, id: DestId);
    fn d_schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId>;
    fn d_tick(&mut self, dests: &DestSet<'_>, now: Instant);
}

impl<T: Scheduler> DynSched for T {
    fn d_name(&self) -> &'static str {
        self.name()
    }
    fn d_init(&mut self, dests: &DestSet<'_>) {
        self.init_service(dests)
    }
    fn d_add(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.add_dest(dests, id)
    }
    fn d_del(&mut self, dests: &DestSet<'_>, id: DestId, pos: usize) {
        self.del_dest(dests, id, pos)
    }
    fn d_upd(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.upd_dest(dests, id)
    }
    fn d_counts(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.counts_changed(dests, id)
    }
    fn d_schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        self.schedule(dests, req)
    }
    fn d_tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        self.tick(dests, now)
    }
}

impl Scheduler for Sched {
    fn name(&self) -> &'static str {
        match &self.kind {
            Kind::Rr(s) => s.d_name(),
            Kind::Wrr(s) => s.d_name(),
            Kind::Lc(s) => s.d_name(),
            Kind::Wlc(s) => s.d_name(),
            Kind::Sed(s) => s.d_name(),
            Kind::Nq(s) => s.d_name(),
            Kind::Fo(s) => s.d_name(),
            Kind::Ovf(s) => s.d_name(),
            Kind::Twos(s) => s.d_name(),
            Kind::Dh(s) => s.d_name(),
            Kind::Sh(s) => s.d_name(),
            Kind::Mh(s) => s.d_name(),
            Kind::Lblc(s) => s.d_name(),
            Kind::Lblcr(s) => s.d_name(),
        }
    }
    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.inner().d_init(dests)
    }
    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner().d_add(dests, id)
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        self.inner().d_del(dests, id, position)
    }
    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner().d_upd(dests, id)
    }
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner().d_counts(dests, id)
    }
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        self.inner().d_schedule(dests, req)
    }
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        self.inner().d_tick(dests, now)
    }
    // the shortest interval any scheduler wants (lblc/lblcr collect every 60 s)
    const TICK_INTERVAL_MS: u64 = 60_000;
    fn sched_flags(&self) -> SchedFlags {
        self.flags
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn every_name_builds_and_reports_itself() {
        for n in NAMES {
            let s = Sched::from_name(n, SchedFlags::NONE, 1).unwrap();
            assert_eq!(s.name(), *n);
        }
        assert!(Sched::from_name("nope", SchedFlags::NONE, 1).is_err());
        let s = Sched::from_name("sh", SchedFlags::SH_PORT, 1).unwrap();
        assert_eq!(s.sched_flags(), SchedFlags::SH_PORT);
    }
}
