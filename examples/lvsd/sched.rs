//! Schedulers by ipvsadm name (`-s rr`), with their `-b` flags: `lvs_sched::registry`'s
//! [`AnyScheduler`] (about half a KiB; mh's, lblc's and lblcr's tables are boxed by the
//! registry), plus the flags as ipvsadm listings show them.

use lvs_core::dest::{DestId, DestSet};
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::time::Instant;
use lvs_sched::registry::{self, AnyScheduler, SchedOptions};
use std::fmt;

/// A scheduler lvsd cannot build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScheduler {
    /// The name asked for.
    pub name: String,
    /// The registry's reason.
    pub reason: String,
}

impl fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scheduler {:?}: {} (known: {})",
            self.name,
            self.reason,
            registry::NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownScheduler {}

/// Any scheduler of `lvs-sched`, chosen at run time.
#[derive(Debug)]
pub struct Sched {
    inner: AnyScheduler<'static>,
    flags: SchedFlags,
}

impl Sched {
    /// The scheduler ipvsadm calls `name`, with `-b` flags (`sh-*`/`mh-*`/`flag-N`, the
    /// kernel's shared SCHED1/SCHED2 bits); `seed` feeds twos' random source. mh gets the
    /// kernel's default table (4093 slots).
    ///
    /// # Errors
    /// [`UnknownScheduler`] for a name the registry does not know.
    pub fn from_name(name: &str, flags: SchedFlags, seed: u64) -> Result<Self, UnknownScheduler> {
        let mut opts = SchedOptions::default();
        opts.flags = registry::SchedFlags::from_svc_bits(flags.kernel_bits());
        opts.twos_seed = seed;
        let inner = AnyScheduler::from_name(name, &opts).map_err(|e| UnknownScheduler {
            name: name.into(),
            reason: e.to_string(),
        })?;
        Ok(Sched { inner, flags })
    }
}

impl Scheduler for Sched {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.inner.init_service(dests)
    }
    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.add_dest(dests, id)
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        self.inner.del_dest(dests, id, position)
    }
    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.upd_dest(dests, id)
    }
    #[inline]
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.counts_changed(dests, id)
    }
    #[inline]
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        self.inner.schedule(dests, req)
    }
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        self.inner.tick(dests, now)
    }
    fn tick_interval_ms(&self) -> u64 {
        self.inner.tick_interval_ms()
    }
    fn sched_flags(&self) -> SchedFlags {
        self.flags
    }
    fn is_consistent(&self) -> bool {
        self.inner.is_consistent()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn every_name_builds_and_reports_itself() {
        for n in registry::NAMES {
            let s = Sched::from_name(n, SchedFlags::NONE, 1).unwrap();
            assert_eq!(s.name(), n);
        }
        let e = Sched::from_name("nope", SchedFlags::NONE, 1).unwrap_err();
        assert!(e.to_string().contains("unknown scheduler"), "{e}");
        let s = Sched::from_name("sh", SchedFlags::SH_PORT, 1).unwrap();
        assert_eq!(s.sched_flags(), SchedFlags::SH_PORT);
        // only the hashing schedulers let another director take a flow over
        for n in registry::NAMES {
            let s = Sched::from_name(n, SchedFlags::NONE, 1).unwrap();
            assert_eq!(s.is_consistent(), matches!(n, "sh" | "mh" | "dh"), "{n}");
        }
    }
}
