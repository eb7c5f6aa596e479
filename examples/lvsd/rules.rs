//! From ipvsadm rules to a running director, with lvsd's schedulers: the rule set, the
//! reconcile and single commands are the library's (`lvs_core::ipvsadm::reconcile`); this
//! module adds lvsd's checks (the scheduler exists, real servers share their service's address
//! family) and builds schedulers with lvsd's seed.

use crate::sched::Sched;
use lvs_core::director::Director;
use lvs_core::ipvsadm::reconcile::{self, ReconcileError};
pub use lvs_core::ipvsadm::reconcile::{Changes, RuleSet};
use lvs_core::ipvsadm::{Rule, SchedFlags};
use lvs_core::Instant;

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

/// Parses a rules text into a rule set with lvsd's checks; every problem is returned with its
/// line number.
///
/// # Errors
/// The rejected lines.
#[cfg(test)]
pub fn load(text: &str) -> Result<RuleSet, Vec<reconcile::LineError>> {
    crate::rulefile::load(text.as_bytes())
}

/// [`RuleSet::apply`] after lvsd's own checks of the rule (scheduler known, families).
///
/// # Errors
/// Why lvsd cannot run the rule, or the kernel's refusal.
pub fn check_and_apply(set: &mut RuleSet, rule: &Rule<'_>) -> Result<(), String> {
    check_rule(rule).and_then(|()| set.apply(rule))
}

fn new_sched(name: &str, flags: SchedFlags, seed: u64) -> Sched {
    // names were checked when the rule set was built
    Sched::from_name(name, flags, seed)
        .unwrap_or_else(|_| Sched::from_name("wlc", flags, seed).expect("wlc is always available"))
}

/// Makes `dir` run `want` with the fewest changes ([`reconcile::reconcile`]); a new scheduler
/// for the rule set's `i`-th service is seeded with `seed ^ i`.
///
/// # Errors
/// The first change the director refused (memory full); the changes before it stay applied.
pub fn sync(
    dir: &mut Director<'_, Sched>,
    want: &RuleSet,
    seed: u64,
    now: Instant,
) -> Result<Changes, ReconcileError> {
    let _ = now;
    reconcile::reconcile(dir, want, |spec, i| {
        new_sched(&spec.scheduler, spec.flags, seed ^ i as u64)
    })
}

/// Runs one ipvsadm command on the director (the control channel's `-A`, `-e`, `-d`...).
///
/// # Errors
/// The director's refusal, or an unknown scheduler.
pub fn apply_rule(dir: &mut Director<'_, Sched>, rule: &Rule<'_>, seed: u64) -> Result<(), String> {
    check_rule(rule)?;
    reconcile::apply_rule(dir, rule, |name, flags| Ok(new_sched(name, flags, seed)))
}

/// The director's configuration as a rule set (tests compare it with a file).
#[cfg(test)]
pub fn snapshot(dir: &Director<'_, Sched>) -> RuleSet {
    RuleSet::snapshot(dir)
}

#[cfg(test)]
mod test {
    use super::*;
    use lvs_core::director::{DirectorConfig, OwnedMemory, PacketMeta, Verdict};
    use lvs_core::hash::SipKey;
    use lvs_core::{Endpoint, FlowKey, FwdMethod, Protocol, ServiceKey, TcpFlags};

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
        let set = load(RULES).unwrap();
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
        let errs = load(text).unwrap_err();
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
        let set = load(text).unwrap();
        assert_eq!(set.services.len(), 1);
        let s = &set.services[0];
        assert_eq!(s.scheduler, "lc");
        assert_eq!(s.dests.len(), 1);
        assert_eq!(s.dests[0].weight, 0);
        assert!(load("-A -t 198.18.0.10:80\n-C\n")
            .unwrap()
            .services
            .is_empty());
    }

    #[test]
    fn reload_diff_keeps_flows_and_counters() {
        let mut mem = OwnedMemory::new(1024, 8, 32);
        let mut dir = director(&mut mem);
        sync(&mut dir, &load(RULES).unwrap(), 7, Instant::ZERO).unwrap();
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
        let want = load(&text).unwrap();
        let ch = sync(&mut dir, &want, 7, Instant::ZERO).unwrap();
        assert_eq!(ch.to_string(), "services +1 ~1 -1, real servers +1 ~1 -0");
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
        let ch = sync(&mut dir, &load(&one).unwrap(), 7, Instant::ZERO).unwrap();
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
