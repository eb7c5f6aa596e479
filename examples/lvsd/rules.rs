//! From ipvsadm rules to a running director: a rules text becomes a [`RuleSet`] (what
//! `ipvsadm-restore` would leave in the kernel after running its lines in order), and
//! [`sync`] makes a director match a rule set with the fewest changes, so that a reload keeps
//! every service, real server, counter and connection that did not change.
//!
//! Single commands from the control channel go through [`apply_rule`], which is what ipvsadm
//! does for one command line.

use crate::sched::Sched;
use lvs_core::director::{ConfigError, Director};
use lvs_core::ipvsadm::{parse_rules, Rule, SchedFlags};
use lvs_core::{DestConfig, Endpoint, Instant, Scheduler, ServiceConfig, ServiceKey};
use std::fmt;

/// One service of a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The state a rules text describes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    /// Services in the order they were added.
    pub services: Vec<ServiceSpec>,
}

/// A rejected line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Checks that lvsd can run a rule, beyond what the parser checks.
fn check_rule(rule: &Rule<'_>) -> Result<(), String> {
    match rule {
        Rule::AddService {
            scheduler, flags, ..
        }
        | Rule::EditService {
            scheduler, flags, ..
        } => Sched::from_name(scheduler, *flags, 0)
            .map(drop)
            .map_err(|e| e.to_string()),
        Rule::AddDest { service, dest } | Rule::EditDest { service, dest } => {
            if dest.addr.family() != service.family() {
                Err(
                    "a real server of another address family than its service (IPv4 in \
                     IPv6 tunnels or the reverse) is not supported"
                        .into(),
                )
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

impl RuleSet {
    /// Parses a rules text and runs it on an empty rule set. Every line is checked; all
    /// problems are returned, each with its line number.
    ///
    /// # Errors
    /// The rejected lines: syntax (from `lvs_core::ipvsadm`), unknown schedulers, and commands
    /// that fail in order (a real server added twice, a service edited before it exists...).
    pub fn from_text(text: &str) -> Result<RuleSet, Vec<LineError>> {
        let mut set = RuleSet::default();
        let mut errors = Vec::new();
        for item in parse_rules(text) {
            match item {
                Err(e) => errors.push(LineError {
                    line: e.line,
                    reason: e.kind.to_string(),
                }),
                Ok((line, rule)) => {
                    if let Err(reason) = check_rule(&rule).and_then(|()| set.apply(&rule)) {
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
                self.services.push(ServiceSpec {
                    config,
                    scheduler: scheduler.into(),
                    flags,
                    dests: Vec::new(),
                });
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
            _ => return Err("unsupported command".into()),
        }
        Ok(())
    }
}

/// What [`sync`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// A change the director refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncError {
    /// What was being done.
    pub what: String,
    /// The director's reason.
    pub error: ConfigError,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

fn new_sched(name: &str, flags: SchedFlags, seed: u64) -> Sched {
    // names were checked when the rule set was built
    Sched::from_name(name, flags, seed)
        .unwrap_or_else(|_| Sched::from_name("wlc", flags, seed).expect("wlc is always available"))
}

fn same_dest(have: &lvs_core::Dest, want: &DestConfig) -> bool {
    have.weight == want.weight
        && have.fwd == want.fwd
        && have.tunnel == want.tunnel
        && have.u_threshold == want.u_threshold
        && have.l_threshold == want.l_threshold
}

/// Makes `dir` run `want`: removes what is gone, edits what changed, adds what is new (in the
/// rule set's order). Unchanged services keep their scheduler state and counters; a service
/// whose scheduler name or flags changed gets a fresh scheduler (as `ipvsadm -E -s` does).
/// Connections are never touched: those of removed real servers go on (or not) as the
/// director's `expire_nodest_conn` says.
///
/// # Errors
/// The first change the director refused (memory full); the changes before it stay applied.
pub fn sync(
    dir: &mut Director<'_, Sched>,
    want: &RuleSet,
    seed: u64,
    now: Instant,
) -> Result<Changes, SyncError> {
    let _ = now;
    let mut ch = Changes::default();
    let err = |what: String| move |error| SyncError { what, error };
    // 1. services that are gone
    let gone: Vec<_> = dir
        .services()
        .filter(|(_, s)| !want.services.iter().any(|w| w.config.key == s.config.key))
        .map(|(id, _)| id)
        .collect();
    for id in gone {
        let key = dir.service(id).map(|s| s.config.key);
        dir.remove_service(id)
            .map_err(err(format!("removing service {key:?}")))?;
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
                    let sched = sched_changed
                        .then(|| new_sched(&spec.scheduler, spec.flags, seed ^ i as u64));
                    dir.edit_service(id, spec.config, sched)
                        .map_err(err(format!("editing service {key}")))?;
                    ch.services_edited += 1;
                }
                id
            }
            None => {
                let sched = new_sched(&spec.scheduler, spec.flags, seed ^ i as u64);
                let id = dir
                    .add_service(spec.config, sched)
                    .map_err(err(format!("adding service {key}")))?;
                ch.services_added += 1;
                id
            }
        };
        let have: Vec<(Endpoint, lvs_core::Dest)> =
            dir.dests(id).iter().map(|(_, d)| (d.addr, *d)).collect();
        for (addr, _) in &have {
            if !spec.dests.iter().any(|d| d.addr == *addr) {
                dir.remove_dest(id, addr)
                    .map_err(err(format!("removing real server {addr} of {key}")))?;
                ch.dests_removed += 1;
            }
        }
        for d in &spec.dests {
            match have.iter().find(|(a, _)| *a == d.addr) {
                Some((_, cur)) if same_dest(cur, d) => {}
                Some(_) => {
                    dir.edit_dest(id, *d)
                        .map_err(err(format!("editing real server {} of {key}", d.addr)))?;
                    ch.dests_edited += 1;
                }
                None => {
                    dir.add_dest(id, *d)
                        .map_err(err(format!("adding real server {} of {key}", d.addr)))?;
                    ch.dests_added += 1;
                }
            }
        }
    }
    Ok(ch)
}

/// Runs one ipvsadm command on the director (the control channel's `-A`, `-e`, `-d`...).
///
/// # Errors
/// The director's refusal, or an unknown scheduler.
pub fn apply_rule(dir: &mut Director<'_, Sched>, rule: &Rule<'_>, seed: u64) -> Result<(), String> {
    check_rule(rule)?;
    let svc = |dir: &Director<'_, Sched>, key: &ServiceKey| {
        dir.find_service(key)
            .ok_or_else(|| ConfigError::NoSuchService.to_string())
    };
    match *rule {
        Rule::AddService {
            config,
            scheduler,
            flags,
        } => {
            let s = new_sched(scheduler, flags, seed);
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
            let sched = changed.then(|| new_sched(scheduler, flags, seed));
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
        _ => Err("unsupported command".into()),
    }
}

/// The director's configuration as a rule set (tests compare it with a file).
#[cfg(test)]
pub fn snapshot(dir: &Director<'_, Sched>) -> RuleSet {
    RuleSet {
        services: dir
            .services()
            .map(|(id, s)| {
                // list order is newest first; a rule set lists in the order of addition
                let mut dests: Vec<DestConfig> =
                    dir.dests(id).iter().map(|(_, d)| d.config()).collect();
                dests.reverse();
                ServiceSpec {
                    config: s.config,
                    scheduler: s.sched.name().into(),
                    flags: s.sched.sched_flags(),
                    dests,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use lvs_core::director::{DirectorConfig, OwnedMemory, PacketMeta, Verdict};
    use lvs_core::hash::SipKey;
    use lvs_core::{FlowKey, FwdMethod, Protocol, TcpFlags};

    const RULES: &str = "\
# web, NAT
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1

-A -t 198.18.0.20:80 -s wrr -p 300
-a -t 198.18.0.20:80 -r 198.18.1.11 -g -w 3
-a -t 198.18.0.20:80 -r 198.18.1.12 -g -w 2
-A -u [2001:db8::10]:53 -s sh -b sh-port
-a -u [2001:db8::10]:53 -r [2001:db8:1::11]:53 -m
";

    fn sorted(mut s: RuleSet) -> RuleSet {
        s.services
            .sort_by(|a, b| lvs_core::ipvsadm::cmp_services(&a.config.key, &b.config.key));
        s
    }

    fn director(mem: &mut OwnedMemory<Sched>) -> Director<'_, Sched> {
        Director::new(
            DirectorConfig::new(SipKey(1, 2)),
            mem.borrow(),
            Instant::ZERO,
        )
        .unwrap()
    }

    fn listing(dir: &Director<'_, Sched>) -> String {
        let mut s = String::new();
        dir.write_list(&mut s, lvs_core::ipvsadm::ListMode::Plain)
            .unwrap();
        s
    }

    #[test]
    fn rules_load_into_a_director() {
        let set = RuleSet::from_text(RULES).unwrap();
        assert_eq!(set.services.len(), 3);
        assert_eq!(
            set.services[1].config.persistence.unwrap().timeout.secs(),
            300
        );
        let mut mem = OwnedMemory::new(1024, 8, 32);
        let mut dir = director(&mut mem);
        let ch = sync(&mut dir, &set, 7, Instant::ZERO).unwrap();
        assert_eq!(ch.services_added, 3);
        assert_eq!(ch.dests_added, 5);
        // the director now holds what the file says, in ipvsadm's list order
        assert_eq!(snapshot(&dir), set);
        let l = listing(&dir);
        assert!(l.contains("TCP  198.18.0.20:80 wrr persistent 300"), "{l}");
        assert!(l.contains("UDP  [2001:db8::10]:53 sh (sh-port)"), "{l}");
        // and schedules: rr alternates over the two NAT servers, newest first
        let vip = Endpoint::v4([198, 18, 0, 10], 80);
        let mut picks = Vec::new();
        for port in 0..4 {
            let flow = FlowKey::new(
                Protocol::Tcp,
                Endpoint::v4([198, 18, 0, 2], 40000 + port),
                vip,
            );
            match dir.handle_inbound(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::SYN, 60)) {
                Verdict::Forward(f) => {
                    assert_eq!(f.method, FwdMethod::Masq);
                    picks.push(f.daddr.addr.to_string());
                }
                v => panic!("{v:?}"),
            }
        }
        assert_eq!(
            picks,
            ["198.18.1.12", "198.18.1.11", "198.18.1.12", "198.18.1.11"]
        );
        // resyncing the same set changes nothing
        assert_eq!(
            sync(&mut dir, &set, 7, Instant::ZERO).unwrap(),
            Changes::default()
        );
    }

    #[test]
    fn bad_lines_are_all_reported_with_numbers() {
        let text = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11 -m -w 70000
-A -t 198.18.0.11:80 -s nosuch
-a -t 198.18.0.99:80 -r 198.18.1.11 -m
--frobnicate
-A -t 198.18.0.10:80
-a -t 198.18.0.10:80 -r [2001:db8::1]:80 -m
-L -n
";
        let errs = RuleSet::from_text(text).unwrap_err();
        let lines: Vec<_> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8], "{errs:?}");
        assert_eq!(errs[0].to_string(), "line 2: illegal weight (0..=65535)");
        assert!(errs[1].reason.contains("unknown scheduler"), "{errs:?}");
        assert_eq!(errs[2].reason, "no such service");
        assert_eq!(errs[4].reason, "service already exists");
    }

    #[test]
    fn rules_run_in_order_like_ipvsadm_restore() {
        let text = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11 -m
-a -t 198.18.0.10:80 -r 198.18.1.12 -m
-e -t 198.18.0.10:80 -r 198.18.1.11 -m -w 0
-d -t 198.18.0.10:80 -r 198.18.1.12
-A -t 198.18.0.20:80
-D -t 198.18.0.20:80
-E -t 198.18.0.10:80 -s lc
";
        let set = RuleSet::from_text(text).unwrap();
        assert_eq!(set.services.len(), 1);
        let s = &set.services[0];
        assert_eq!(s.scheduler, "lc");
        assert_eq!(s.dests.len(), 1);
        assert_eq!(s.dests[0].weight, 0);
        assert!(RuleSet::from_text("-A -t 198.18.0.10:80\n-C\n")
            .unwrap()
            .services
            .is_empty());
    }

    #[test]
    fn reload_diff_keeps_flows_and_counters() {
        let mut mem = OwnedMemory::new(1024, 8, 32);
        let mut dir = director(&mut mem);
        sync(
            &mut dir,
            &RuleSet::from_text(RULES).unwrap(),
            7,
            Instant::ZERO,
        )
        .unwrap();
        // an established flow on the NAT service
        let vip = Endpoint::v4([198, 18, 0, 10], 80);
        let flow = FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 18, 0, 2], 40000), vip);
        let first =
            match dir.handle_inbound(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::SYN, 60)) {
                Verdict::Forward(f) => f.daddr,
                v => panic!("{v:?}"),
            };
        let svc = dir
            .find_service(&ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip,
            })
            .unwrap();
        // the new file: drain the server that has the flow, drop the DR service, change the
        // UDP service's scheduler, add a service
        let other = if first.addr.to_string() == "198.18.1.11" {
            "198.18.1.12"
        } else {
            "198.18.1.11"
        };
        let w = |a: &str| u32::from(a == other);
        let text = format!(
            "-A -t 198.18.0.10:80 -s rr\n\
             -a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w {}\n\
             -a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w {}\n\
             -A -u [2001:db8::10]:53 -s rr\n\
             -a -u [2001:db8::10]:53 -r [2001:db8:1::11]:53 -m\n\
             -A -t 198.18.0.30:80 -s wlc\n\
             -a -t 198.18.0.30:80 -r 198.18.1.13:80 -i\n",
            w("198.18.1.11"),
            w("198.18.1.12"),
        );
        let want = RuleSet::from_text(&text).unwrap();
        let ch = sync(&mut dir, &want, 7, Instant::ZERO).unwrap();
        assert_eq!(
            ch,
            Changes {
                services_added: 1,
                services_edited: 1,
                services_removed: 1,
                dests_added: 1,
                dests_edited: 1,
                dests_removed: 0,
            }
        );
        // same service slot, counters kept, the flow still goes where it went
        assert_eq!(
            dir.find_service(&ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip
            }),
            Some(svc)
        );
        assert_eq!(dir.service(svc).unwrap().stats.counters.conns, 1);
        let ack = TcpFlags::ACK;
        match dir.handle_inbound(Instant::from_millis(10), &PacketMeta::new(flow, ack, 52)) {
            Verdict::Forward(f) => assert_eq!(f.daddr, first),
            v => panic!("{v:?}"),
        }
        // new flows avoid the drained server
        for port in 1..5 {
            let f2 = FlowKey::new(
                Protocol::Tcp,
                Endpoint::v4([198, 18, 0, 2], 40000 + port),
                vip,
            );
            match dir.handle_inbound(
                Instant::from_millis(20),
                &PacketMeta::new(f2, TcpFlags::SYN, 60),
            ) {
                Verdict::Forward(f) => assert_eq!(f.daddr.addr.to_string(), other),
                v => panic!("{v:?}"),
            }
        }
        // (a new service may take a freed slot: compare in key order)
        assert_eq!(sorted(snapshot(&dir)), sorted(want));
        // removing the server with the flow: its packets are dropped (expire_nodest_conn=0) ...
        let one =
            format!("-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r {other}:80 -m -w 1\n");
        let ch = sync(
            &mut dir,
            &RuleSet::from_text(&one).unwrap(),
            7,
            Instant::ZERO,
        )
        .unwrap();
        assert_eq!((ch.dests_removed, ch.services_removed), (1, 2));
        assert!(matches!(
            dir.handle_inbound(Instant::from_millis(30), &PacketMeta::new(flow, ack, 52)),
            Verdict::Drop(lvs_core::director::DropReason::DestUnavailable)
        ));
        // ... and adding it back revives them
        let line = format!("-a -t 198.18.0.10:80 -r {}:80 -m -w 1", first.addr);
        let rule = lvs_core::ipvsadm::parse_rule(&line).unwrap();
        apply_rule(&mut dir, &rule, 7).unwrap();
        match dir.handle_inbound(Instant::from_millis(40), &PacketMeta::new(flow, ack, 52)) {
            Verdict::Forward(f) => assert_eq!(f.daddr, first),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn control_commands_apply_like_ipvsadm() {
        let mut mem = OwnedMemory::new(64, 4, 8);
        let mut dir = director(&mut mem);
        let run = |dir: &mut Director<'_, Sched>, line: &str| {
            let r = lvs_core::ipvsadm::parse_rule(line).unwrap();
            apply_rule(dir, &r, 1)
        };
        run(&mut dir, "-A -t 198.18.0.10:80 -s rr").unwrap();
        assert_eq!(
            run(&mut dir, "-A -t 198.18.0.10:80 -s rr").unwrap_err(),
            "service already exists"
        );
        run(&mut dir, "-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m").unwrap();
        run(&mut dir, "-e -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 0").unwrap();
        assert_eq!(snapshot(&dir).services[0].dests[0].weight, 0);
        assert_eq!(
            run(&mut dir, "-d -t 198.18.0.10:80 -r 198.18.1.12:80").unwrap_err(),
            "no such real server"
        );
        run(&mut dir, "-E -t 198.18.0.10:80 -s wlc").unwrap();
        assert_eq!(snapshot(&dir).services[0].scheduler, "wlc");
        assert!(run(&mut dir, "-E -t 198.18.0.10:80 -s bogus").is_err());
        run(&mut dir, "-C").unwrap();
        assert!(snapshot(&dir).services.is_empty());
    }
}
