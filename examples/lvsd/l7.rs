//! Content-aware distribution in lvsd (`--l7-rules FILE --l7-vip ADDR:PORT`): the library's
//! TCP splicer ([`lvs_forward::splice`]) on lvsd's interfaces, NAT-style.
//!
//! The rules file is the splicer's text format ([`lvs_forward::splice::rules_parse`]): `pool`
//! lines name real servers with a scheduler of their own (any ipvsadm name; `key=url` makes it
//! see a hash of Host and path), `route` lines send requests matching Host, path, method,
//! header or extension conditions to a pool, `default` names the rest's pool. It sits beside
//! the ipvsadm rules (`--rules`), which keep serving their own virtual services.
//!
//! Per frame, before the director: an IPv4 TCP segment to an L7 VIP, or from a pool server's
//! address and port, goes to the splicer, super-frames of spliced connections whole; the glue
//! is shared with the TLS splicer ([`crate::splice_run`]). Real servers must route replies to
//! clients through lvsd.
//!
//! Counters are in `lvsd ctl SOCKET status` (`l7.*`, per pool and per server) and logged at
//! exit. The L7 rules are read at start only (SIGHUP reloads the ipvsadm rules, not these).
//! With `--workers N` every worker runs its own splicer ([`crate::workers`]): the `l7.*` lines
//! of `status` are summed over the workers, `worker<k>.l7.*` are worker k's; the log at exit
//! is worker 0's.

use crate::daemon::Daemon;
use crate::sched::Sched;
use crate::splice_run::{splice_counters, Counters, SpliceRun, Spliced};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::{Duration, IpAddr};
use lvs_forward::splice::http::{HttpClassifier, Router};
use lvs_forward::splice::hybrid::HybridRouter;
use lvs_forward::splice::rules_parse::RuleSet;
use lvs_forward::splice::{FlowInfo, SpliceConfig, Splicer};
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::PathBuf;

/// Routes a rules file holds at most.
pub const MAX_ROUTES: usize = 64;
/// Pools a rules file holds at most.
pub const MAX_POOLS: usize = 16;
/// Request buffer per connection while the head is read.
pub const SLOT: usize = 8192;
/// Request buffers in all.
pub const SLOTS: usize = 4096;

/// `--l7-rules` and `--l7-vip`, taken off the command line before lvsd's own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L7Opts {
    /// The rules file.
    pub rules: PathBuf,
    /// The virtual services the splicer answers (IPv4 address and TCP port).
    pub vips: Vec<SocketAddrV4>,
}

/// Removes `--l7-rules FILE` and `--l7-vip ADDR:PORT` (also `--opt=value`) from `args`.
///
/// # Errors
/// A missing or bad value, or one of the two options without the other.
pub fn take_args(args: &mut Vec<String>) -> Result<Option<L7Opts>, String> {
    let mut rules = None;
    let mut vips = Vec::new();
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n == "--l7-rules" || n == "--l7-vip" => (n.to_string(), Some(v.into())),
            _ => (a.clone(), None),
        };
        if name != "--l7-rules" && name != "--l7-vip" {
            rest.push(a);
            continue;
        }
        let v = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(format!("{name} needs a value")),
        };
        if name == "--l7-rules" {
            rules = Some(PathBuf::from(v));
        } else {
            let vip: SocketAddrV4 = v
                .parse()
                .map_err(|_| format!("--l7-vip {v:?}: expected IPV4:PORT"))?;
            vips.push(vip);
        }
    }
    *args = rest;
    match (rules, vips.is_empty()) {
        (None, true) => Ok(None),
        (Some(rules), false) => Ok(Some(L7Opts { rules, vips })),
        (Some(_), true) => Err("--l7-rules needs at least one --l7-vip ADDR:PORT".into()),
        (None, false) => Err("--l7-vip needs --l7-rules FILE".into()),
    }
}

/// The pools' router, boxed (it holds every pool's servers inline).
pub struct Pools(Box<HybridRouter<'static, Sched, MAX_ROUTES, MAX_POOLS>>);

impl Router for Pools {
    fn route(&mut self, flow: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
        self.0.route(flow, req)
    }
    fn closed(&mut self, server: SocketAddrV4) {
        self.0.closed(server)
    }
}

/// The splicer lvsd runs, with what it needs around it.
pub struct L7 {
    /// Pool names in declaration order.
    names: Vec<String>,
    /// The engine, its endpoints and buffers.
    run: SpliceRun<HttpClassifier<Pools>>,
}

impl std::fmt::Debug for L7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L7")
            .field("vips", &self.run.vips)
            .field("servers", &self.run.servers)
            .field("live", &self.run.engine.live())
            .finish()
    }
}

impl Spliced for L7 {
    type C = HttpClassifier<Pools>;
    const COUNTERS: Counters = splice_counters!("l7");
    fn slot<'a>(d: &'a mut Daemon<'_>) -> &'a mut Option<Box<Self>> {
        &mut d.l7
    }
    fn get<'a>(d: &'a Daemon<'_>) -> Option<&'a Self> {
        d.l7.as_deref()
    }
    fn run(&mut self) -> &mut SpliceRun<Self::C> {
        &mut self.run
    }
    fn run_ref(&self) -> &SpliceRun<Self::C> {
        &self.run
    }
}

/// What a rules file is wrong about, as lvsd prints it.
fn rule_error(path: &std::path::Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}, nothing started", path.display())
}

impl L7 {
    /// Reads and checks the rules, builds each pool's scheduler and the splicer.
    ///
    /// # Errors
    /// The file cannot be read, a line is wrong (with its number), a scheduler is unknown.
    pub fn load(opts: &L7Opts, words: [u64; 4]) -> Result<L7, String> {
        let text = std::fs::read_to_string(&opts.rules)
            .map_err(|e| format!("{}: {e}", opts.rules.display()))?;
        // the rule set borrows the text for the daemon's life
        let text: &'static str = Box::leak(text.into_boxed_str());
        let set: RuleSet<'static, MAX_ROUTES, MAX_POOLS> =
            RuleSet::parse(text).map_err(|e| rule_error(&opts.rules, e))?;
        let names: Vec<String> = set.pools().map(|(p, _)| p.name.to_string()).collect();
        let mut servers: Vec<SocketAddrV4> = set
            .pools()
            .flat_map(|(p, _)| p.servers().iter().map(|(a, _)| *a).collect::<Vec<_>>())
            .collect();
        servers.sort();
        servers.dedup();
        if let Some(v) = opts.vips.iter().find(|v| servers.contains(v)) {
            return Err(format!("--l7-vip {v} is also a pool server"));
        }
        let seed = words[2];
        let mut bad = None;
        let router = HybridRouter::new(
            set,
            SipKey(words[1], words[3]),
            |p| match Sched::from_name(p.scheduler, SchedFlags::default(), seed) {
                Ok(s) => Some(s),
                Err(e) => {
                    bad = Some(e.to_string());
                    None
                }
            },
        )
        .map_err(|e| match &bad {
            Some(b) => rule_error(&opts.rules, format!("line {}: {b}", e.line)),
            None => rule_error(&opts.rules, e),
        })?;
        let mut cfg = SpliceConfig::new(SipKey(words[0] ^ words[2], words[1] ^ words[3]));
        // state stays this long after FINs both ways (TIME-WAIT is the endpoints' business)
        cfg.linger = Duration::from_secs(1);
        // build the large tables on a thread with room for them, then keep them boxed
        let classifier = HttpClassifier::new(Pools(Box::new(router)));
        let engine = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let slab: &'static mut [u8] = Box::leak(vec![0u8; SLOT * SLOTS].into_boxed_slice());
                Box::new(Splicer::new(cfg, classifier, slab, SLOT))
            })
            .map_err(|e| format!("l7: {e}"))?
            .join()
            .map_err(|_| "l7: building the splicer failed".to_string())?;
        Ok(L7 {
            names,
            run: SpliceRun::new(engine, opts.vips.clone(), servers),
        })
    }

    /// The VIP addresses lvsd answers ARP for.
    pub fn vip_addrs(&self) -> Vec<IpAddr> {
        self.run.vip_addrs()
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let r = self.run.engine.classifier().router.0.rules();
        format!(
            "l7 splicing on {} with {} pool(s) ({}), {} route(s), {} server(s)",
            self.run
                .vips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.names.len(),
            self.names.join(", "),
            r.routes().count(),
            self.run.servers.len()
        )
    }

    /// `status` lines: the splicer's counters, the HTTP classifier's, each pool's requests and
    /// each server's open connections.
    pub fn status(&self, out: &mut String) {
        let engine = &self.run.engine;
        let s = engine.stats();
        let h = &engine.classifier().stats;
        for (k, v) in [
            ("l7.syn_cookies", s.syn_cookies),
            ("l7.bad_cookies", s.bad_cookies),
            ("l7.accepted", s.accepted),
            ("l7.spliced", s.spliced),
            ("l7.rejected", s.rejected),
            ("l7.classifier_resets", s.classifier_resets),
            ("l7.header_timeouts", s.header_timeouts),
            ("l7.connect_failures", s.connect_failures),
            ("l7.retransmits", s.retransmits),
            ("l7.resets", s.resets),
            ("l7.closed", s.closed),
            ("l7.dropped", s.dropped),
            ("l7.out_of_window", s.out_of_window),
            ("l7.full", s.full),
            ("l7.no_room", s.no_room),
            ("l7.live", engine.live() as u64),
            ("l7.http.routed", h.routed),
            ("l7.http.bad_request", h.bad_request),
            ("l7.http.too_large", h.too_large),
            ("l7.http.unavailable", h.unavailable),
        ] {
            let _ = writeln!(out, "{k} {v}");
        }
        for (name, pool) in self.names.iter().zip(engine.classifier().router.0.pools()) {
            let _ = writeln!(out, "l7.pool.{name}.requests {}", pool.requests);
            for d in pool.dests() {
                let _ = writeln!(out, "l7.pool.{name}.{}.active {}", d.addr, d.active);
            }
        }
    }
}

impl Daemon<'_> {
    /// The `status` lines of the splicer, if it runs.
    pub(crate) fn l7_status(&self, out: &mut String) {
        if let Some(l7) = &self.l7 {
            l7.status(out);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn l7_options_come_off_the_command_line() {
        let mut a = args("--rules r --l7-rules l7.rules --iface d0 --l7-vip=198.18.0.10:80");
        let o = take_args(&mut a).unwrap().unwrap();
        assert_eq!(a, args("--rules r --iface d0"));
        assert_eq!(o.rules, PathBuf::from("l7.rules"));
        assert_eq!(o.vips, vec!["198.18.0.10:80".parse().unwrap()]);
        let mut a = args("--rules r");
        assert_eq!(take_args(&mut a).unwrap(), None);
        assert!(take_args(&mut args("--l7-rules x")).is_err());
        assert!(take_args(&mut args("--l7-vip 198.18.0.10")).is_err());
        assert!(take_args(&mut args("--l7-rules x --l7-vip")).is_err());
    }

    #[test]
    fn rules_errors_carry_line_numbers_and_schedulers_are_checked() {
        let dir = std::env::temp_dir().join(format!("lvsd-l7-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.rules");
        let vips = vec!["198.18.0.10:80".parse().unwrap()];
        std::fs::write(
            &p,
            "pool a rr 198.18.1.1:80\nroute ext=png -> b\ndefault a\n",
        )
        .unwrap();
        let e = L7::load(
            &L7Opts {
                rules: p.clone(),
                vips: vips.clone(),
            },
            [1, 2, 3, 4],
        )
        .unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&p, "pool a nosuch 198.18.1.1:80\ndefault a\n").unwrap();
        let e = L7::load(
            &L7Opts {
                rules: p.clone(),
                vips: vips.clone(),
            },
            [1, 2, 3, 4],
        )
        .unwrap_err();
        assert!(e.contains("line 1") && e.contains("nosuch"), "{e}");
        std::fs::write(
            &p,
            "pool cache mh key=url 198.18.1.1:80 198.18.1.2:80\npool app wlc 198.18.1.3:80\n\
             route ext=png -> cache\ndefault app\n",
        )
        .unwrap();
        let l7 = L7::load(
            &L7Opts {
                rules: p.clone(),
                vips,
            },
            [1, 2, 3, 4],
        )
        .unwrap();
        assert!(l7
            .describe()
            .contains("2 pool(s) (cache, app), 1 route(s), 3 server(s)"));
        let mut s = String::new();
        l7.status(&mut s);
        assert!(s.contains("l7.pool.cache.198.18.1.2:80.active 0"), "{s}");
        // 19 counts of events and 2 pools' requests, and the levels (/metrics' gauges)
        assert_eq!(
            crate::gauges::levels_of(&s, 21 + 4),
            [
                "l7.live",
                "l7.pool.cache.198.18.1.1:80.active",
                "l7.pool.cache.198.18.1.2:80.active",
                "l7.pool.app.198.18.1.3:80.active"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
