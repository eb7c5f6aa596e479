//! From ipvsadm rules to a running director (features `ipvsadm` and `alloc`): a rules text
//! becomes a [`RuleSet`] (what `ipvsadm-restore` would leave in the kernel after running its
//! lines in order), and [`reconcile`] makes a director match a rule set with the fewest
//! changes, so that a reload keeps every service, real server, counter and connection that
//! did not change. Single commands go through [`apply_rule`], as ipvsadm runs one command line.
//!
//! Schedulers are the caller's: these functions take a closure that builds one from the
//! rule's scheduler name and flags (with `lvs-sched`, `AnyScheduler::from_name`).
//!
//! ```
//! use lvs_core::ipvsadm::reconcile::{reconcile, RuleSet};
//! use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
//! use lvs_core::{hash::SipKey, DestId, DestSet, Instant, SchedRequest, Scheduler};
//!
//! struct First; // a trivial scheduler for the example
//! impl Scheduler for First {
//!     fn name(&self) -> &'static str { "wlc" }
//!     fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> {
//!         d.iter().find(|(_, d)| d.weight > 0).map(|(id, _)| id)
//!     }
//! }
//!
//! let set = RuleSet::from_text("-A -t 198.18.0.1:80\n-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n")
//!     .unwrap();
//! let mut mem = OwnedMemory::new(64, 4, 8);
//! let mut dir = Director::new(DirectorConfig::new(SipKey(1, 2)), mem.borrow(), Instant::ZERO)
//!     .unwrap();
//! let changes = reconcile(&mut dir, &set, |_spec, _i| First).unwrap();
//! assert_eq!((changes.services_added, changes.dests_added), (1, 1));
//! // the same set again changes nothing
//! assert_eq!(reconcile(&mut dir, &set, |_, _| First).unwrap().services_added, 0);
//! assert_eq!(RuleSet::snapshot(&dir), set);
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use hashbrown::{HashMap, HashSet};

use super::{parse_rules, Rule, SchedFlags};
use crate::addr::{Endpoint, ServiceKey};
use crate::dest::{Dest, DestConfig};
use crate::director::{ConfigError, Director};
use crate::sched::Scheduler;
use crate::service::ServiceConfig;

/// One service of a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceSpec {
    /// Key, persistence, one-packet scheduling.
    pub config: ServiceConfig,
    /// Scheduler name (`-s`).
    pub scheduler: String,
    /// Scheduler flags (`-b`).
    pub flags: SchedFlags,
    /// Real servers in the order they were added.
    pub dests: Vec<DestConfig>,
}

impl ServiceSpec {
    /// A service without real servers.
    pub fn new(config: ServiceConfig, scheduler: &str, flags: SchedFlags) -> Self {
        ServiceSpec {
            config,
            scheduler: scheduler.into(),
            flags,
            dests: Vec::new(),
        }
    }
}

/// The state a rules text describes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RuleSet {
    /// Services in the order they were added.
    pub services: Vec<ServiceSpec>,
}

/// A rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl LineError {
    /// The error of line `line` (1-based).
    pub fn new(line: usize, reason: impl Into<String>) -> Self {
        LineError {
            line,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl RuleSet {
    /// An empty rule set.
    pub const fn new() -> Self {
        RuleSet {
            services: Vec::new(),
        }
    }

    /// Parses a rules text and runs it on an empty rule set. Every line is checked; all
    /// problems are returned, each with its line number.
    ///
    /// # Errors
    /// The rejected lines: syntax, and commands that fail in order (a real server added
    /// twice, a service edited before it exists...).
    pub fn from_text(text: &str) -> Result<RuleSet, Vec<LineError>> {
        Self::from_text_with(text, |_| Ok(()))
    }

    /// [`RuleSet::from_text`] with the caller's own check of each parsed rule first (say,
    /// that its scheduler exists); a refusal is reported with the line's number.
    ///
    /// # Errors
    /// As [`RuleSet::from_text`], plus the lines `check` refused.
    pub fn from_text_with(
        text: &str,
        mut check: impl FnMut(&Rule<'_>) -> Result<(), String>,
    ) -> Result<RuleSet, Vec<LineError>> {
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        for item in parse_rules(text) {
            match item {
                Err(e) => errors.push(LineError {
                    line: e.line,
                    reason: e.kind.to_string(),
                }),
                Ok((line, rule)) => {
                    if let Err(reason) = check(&rule).and_then(|()| set.apply(&rule)) {
                        errors.push(LineError { line, reason });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn find(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.config.key == *key)
    }

    /// Runs one command on the rule set, with the kernel's refusals.
    ///
    /// # Errors
    /// The kernel's error text for a command that cannot apply.
    pub fn apply(&mut self, rule: &Rule<'_>) -> Result<(), String> {
        let no_svc = || ConfigError::NoSuchService.to_string();
        match *rule {
            Rule::AddService {
                config,
                scheduler,
                flags,
            } => {
                if self.find(&config.key).is_some() {
                    return Err(ConfigError::ServiceExists.to_string());
                }
                self.services
                    .push(ServiceSpec::new(config, scheduler, flags));
            }
            Rule::EditService {
                config,
                scheduler,
                flags,
            } => {
                let i = self.find(&config.key).ok_or_else(no_svc)?;
                let s = &mut self.services[i];
                s.config = config;
                s.scheduler = scheduler.into();
                s.flags = flags;
            }
            Rule::DelService { service } => {
                let i = self.find(&service).ok_or_else(no_svc)?;
                self.services.remove(i);
            }
            Rule::Clear => self.services.clear(),
            Rule::AddDest { service, dest } => {
                let i = self.find(&service).ok_or_else(no_svc)?;
                let s = &mut self.services[i];
                if s.dests.iter().any(|d| d.addr == dest.addr) {
                    return Err(ConfigError::DestExists.to_string());
                }
                s.dests.push(dest);
            }
            Rule::EditDest { service, dest } => {
                let i = self.find(&service).ok_or_else(no_svc)?;
                let d = self.services[i]
                    .dests
                    .iter_mut()
                    .find(|d| d.addr == dest.addr)
                    .ok_or_else(|| ConfigError::NoSuchDest.to_string())?;
                *d = dest;
            }
            Rule::DelDest { service, addr } => {
                let i = self.find(&service).ok_or_else(no_svc)?;
                let s = &mut self.services[i];
                let j = s
                    .dests
                    .iter()
                    .position(|d| d.addr == addr)
                    .ok_or_else(|| ConfigError::NoSuchDest.to_string())?;
                s.dests.remove(j);
            }
        }
        Ok(())
    }

    /// A director's configuration as a rule set: services in slot order, each one's real
    /// servers in the order of addition (the reverse of the kernel's list order).
    pub fn snapshot<S: Scheduler>(dir: &Director<'_, S>) -> RuleSet {
        RuleSet {
            services: dir
                .services()
                .map(|(id, s)| {
                    let mut dests: Vec<DestConfig> =
                        dir.dests(id).iter().map(|(_, d)| d.config()).collect();
                    dests.reverse();
                    let mut spec =
                        ServiceSpec::new(s.config, s.sched.name(), s.sched.sched_flags());
                    spec.dests = dests;
                    spec
                })
                .collect(),
        }
    }
}

/// What [`reconcile`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Changes {
    /// Services added.
    pub services_added: usize,
    /// Services whose settings or scheduler changed.
    pub services_edited: usize,
    /// Services removed.
    pub services_removed: usize,
    /// Real servers added.
    pub dests_added: usize,
    /// Real servers whose weight, method or thresholds changed.
    pub dests_edited: usize,
    /// Real servers removed.
    pub dests_removed: usize,
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "services +{} ~{} -{}, real servers +{} ~{} -{}",
            self.services_added,
            self.services_edited,
            self.services_removed,
            self.dests_added,
            self.dests_edited,
            self.dests_removed
        )
    }
}

/// A change the director refused during [`reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileError {
    /// What was being done.
    pub what: String,
    /// The director's reason.
    pub error: ConfigError,
}

impl fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

impl core::error::Error for ReconcileError {}

fn same_dest(have: &Dest, want: &DestConfig) -> bool {
    have.weight == want.weight
        && have.fwd == want.fwd
        && have.tunnel == want.tunnel
        && have.u_threshold == want.u_threshold
        && have.l_threshold == want.l_threshold
}

/// Makes `dir` run `want`: removes what is gone, edits what changed, adds what is new (in the
/// rule set's order). Unchanged services keep their scheduler state and counters; a service
/// whose scheduler name or flags changed gets a fresh scheduler from `make` (called with the
/// service's spec and its index in `want`), as `ipvsadm -E -s` does. Connections are never
/// touched: those of removed real servers go on (or not) as the director's
/// `expire_nodest_conn` says.
///
/// # Errors
/// The first change the director refused (memory full); the changes before it stay applied.
pub fn reconcile<S: Scheduler>(
    dir: &mut Director<'_, S>,
    want: &RuleSet,
    mut make: impl FnMut(&ServiceSpec, usize) -> S,
) -> Result<Changes, ReconcileError> {
    let mut ch = Changes::default();
    let err = |what: String| move |error| ReconcileError { what, error };
    let wanted: HashSet<ServiceKey> = want.services.iter().map(|s| s.config.key).collect();
    // 1. services that are gone
    let gone: Vec<_> = dir
        .services()
        .filter(|(_, s)| !wanted.contains(&s.config.key))
        .map(|(id, _)| id)
        .collect();
    for id in gone {
        let key = dir.service(id).map(|s| s.config.key);
        dir.remove_service(id)
            .map_err(err(alloc::format!("removing service {key:?}")))?;
        ch.services_removed += 1;
    }
    // 2. services in both, and new ones, in rule-set order
    for (i, spec) in want.services.iter().enumerate() {
        let key = spec.config.key;
        let id = match dir.find_service(&key) {
            Some(id) => {
                let (cfg, name, flags) = {
                    let s = dir.service(id).expect("found above");
                    (s.config, s.sched.name(), s.sched.sched_flags())
                };
                let sched_changed = name != spec.scheduler || flags != spec.flags;
                if sched_changed || cfg != spec.config {
                    let sched = sched_changed.then(|| make(spec, i));
                    dir.edit_service(id, spec.config, sched)
                        .map_err(err(alloc::format!("editing service {key}")))?;
                    ch.services_edited += 1;
                }
                id
            }
            None => {
                let id = dir
                    .add_service(spec.config, make(spec, i))
                    .map_err(err(alloc::format!("adding service {key}")))?;
                ch.services_added += 1;
                id
            }
        };
        let have: HashMap<Endpoint, Dest> =
            dir.dests(id).iter().map(|(_, d)| (d.addr, *d)).collect();
        let keep: HashSet<Endpoint> = spec.dests.iter().map(|d| d.addr).collect();
        // removals in list order, so that the director sees the same sequence every time
        let stale: Vec<Endpoint> = dir
            .dests(id)
            .iter()
            .map(|(_, d)| d.addr)
            .filter(|a| !keep.contains(a))
            .collect();
        for addr in &stale {
            dir.remove_dest(id, addr)
                .map_err(err(alloc::format!("removing real server {addr} of {key}")))?;
            ch.dests_removed += 1;
        }
        for d in &spec.dests {
            match have.get(&d.addr) {
                Some(cur) if same_dest(cur, d) => {}
                Some(_) => {
                    dir.edit_dest(id, *d).map_err(err(alloc::format!(
                        "editing real server {} of {key}",
                        d.addr
                    )))?;
                    ch.dests_edited += 1;
                }
                None => {
                    dir.add_dest(id, *d).map_err(err(alloc::format!(
                        "adding real server {} of {key}",
                        d.addr
                    )))?;
                    ch.dests_added += 1;
                }
            }
        }
    }
    Ok(ch)
}

/// Runs one ipvsadm command on the director (`-A`, `-E`, `-D`, `-C`, `-a`, `-e`, `-d`);
/// `make` builds the scheduler a new service, or an edit that changes the scheduler name or
/// flags, needs.
///
/// # Errors
/// The director's refusal as text, or `make`'s.
pub fn apply_rule<S: Scheduler>(
    dir: &mut Director<'_, S>,
    rule: &Rule<'_>,
    mut make: impl FnMut(&str, SchedFlags) -> Result<S, String>,
) -> Result<(), String> {
    let svc = |dir: &Director<'_, S>, key: &ServiceKey| {
        dir.find_service(key)
            .ok_or_else(|| ConfigError::NoSuchService.to_string())
    };
    match *rule {
        Rule::AddService {
            config,
            scheduler,
            flags,
        } => {
            let s = make(scheduler, flags)?;
            dir.add_service(config, s)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Rule::EditService {
            config,
            scheduler,
            flags,
        } => {
            let id = svc(dir, &config.key)?;
            let changed = dir
                .service(id)
                .is_some_and(|s| s.sched.name() != scheduler || s.sched.sched_flags() != flags);
            let sched = if changed {
                Some(make(scheduler, flags)?)
            } else {
                None
            };
            dir.edit_service(id, config, sched)
                .map_err(|e| e.to_string())
        }
        Rule::DelService { service } => {
            let id = svc(dir, &service)?;
            dir.remove_service(id).map_err(|e| e.to_string())
        }
        Rule::Clear => {
            let ids: Vec<_> = dir.services().map(|(id, _)| id).collect();
            for id in ids {
                dir.remove_service(id).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Rule::AddDest { service, dest } => {
            let id = svc(dir, &service)?;
            dir.add_dest(id, dest).map(drop).map_err(|e| e.to_string())
        }
        Rule::EditDest { service, dest } => {
            let id = svc(dir, &service)?;
            dir.edit_dest(id, dest).map(drop).map_err(|e| e.to_string())
        }
        Rule::DelDest { service, addr } => {
            let id = svc(dir, &service)?;
            dir.remove_dest(id, &addr).map_err(|e| e.to_string())
        }
    }
}
