//! TLS-aware distribution in lvsd (`--tls-rules FILE --tls-vip ADDR:PORT`): the TCP splicer
//! with the library's TLS classifier ([`lvs_forward::splice::tls`]) on lvsd's interfaces,
//! NAT-style like `--l7-rules` ([`crate::l7`]).
//!
//! The ClientHello picks the real server: one that holds the offered TLS 1.2 session ID or can
//! decrypt the offered ticket (the `tls` persistence engine, [`lvs_core::tls_persist`]), else a
//! pool chosen by server name (SNI) and that pool's scheduler. The server's ServerHello teaches
//! the engine which sessions and ticket keys it holds.
//!
//! ```text
//! # tls.rules
//! pool shop rr 198.18.1.1:443 198.18.1.2:443
//! pool blog wlc 198.18.1.3:443@2
//! sni shop.example.test -> shop
//! sni *.blog.example.test -> blog
//! default shop                 # names no sni line matches, and hellos without a name
//! refuse-unknown               # names no sni line matches: unrecognized_name alert instead
//! ticket-key 198.18.1.1:443 00112233445566778899aabbccddeeff   # RFC 5077 key name, 16 bytes
//! timeout 300                  # seconds a learned session or ticket key is remembered
//! non-tls reset                # or: non-tls pool NAME (plain text, SSLv2, bad hellos)
//! hold-down 5                  # seconds a server that refused a connection is passed over
//! ```
//!
//! Counters are in `lvsd ctl SOCKET status` (`tls.*`); the engine's entries are appended to
//! `lvsd ctl SOCKET -L -n -c --persistent-conn` (pe name `tls`, pe_data the session ID or key
//! name in hex, the state column says which). The rules are read at start only. With
//! `--workers N` every worker runs its own splicer and engine, steered by client address so
//! that a client's resumptions reach the shard that learnt its session ([`crate::workers`]).

use crate::daemon::Daemon;
use crate::sched::Sched;
use crate::splice_run::{splice_counters, Counters, SpliceRun, Spliced};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::tls_persist::{
    SessionSlot, SniRule, TicketKeySlot, TicketSlot, TlsPersist, TlsPersistConfig, TlsStorage,
};
use lvs_core::{Duration, Instant, IpAddr};
use lvs_forward::splice::hybrid::Pool;
use lvs_forward::splice::tls::{OnError, TlsClassifier, TlsClassifierConfig};
use lvs_forward::splice::{SpliceConfig, Splicer};
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

/// Pools a rules file holds at most.
pub const MAX_POOLS: usize = 16;
/// Connections waiting for their ServerHello at once.
pub const WAITING: usize = 1024;
/// ClientHello buffer per connection (the reader's limit plus record headers).
pub const SLOT: usize = 16 * 1024 + 512;
/// ClientHello buffers in all.
pub const SLOTS: usize = 1024;
/// Learned TLS 1.2 session IDs and ticket key names kept (each).
pub const ENTRIES: usize = 16384;

/// `--tls-rules` and `--tls-vip`, taken off the command line before lvsd's own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOpts {
    /// The rules file.
    pub rules: PathBuf,
    /// The virtual services (IPv4 address and TCP port).
    pub vips: Vec<SocketAddrV4>,
}

/// Removes `--tls-rules FILE` and `--tls-vip ADDR:PORT` (also `--opt=value`) from `args`.
///
/// # Errors
/// A missing or bad value, or one of the two options without the other.
pub fn take_args(args: &mut Vec<String>) -> Result<Option<TlsOpts>, String> {
    let mut rules = None;
    let mut vips = Vec::new();
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n == "--tls-rules" || n == "--tls-vip" => {
                (n.to_string(), Some(v.to_string()))
            }
            _ => (a.clone(), None),
        };
        if name != "--tls-rules" && name != "--tls-vip" {
            rest.push(a);
            continue;
        }
        let Some(v) = inline.or_else(|| it.next()) else {
            return Err(format!("{name} needs a value"));
        };
        if name == "--tls-rules" {
            rules = Some(PathBuf::from(v));
        } else {
            vips.push(
                v.parse()
                    .map_err(|_| format!("--tls-vip {v:?}: expected IPV4:PORT"))?,
            );
        }
    }
    *args = rest;
    match (rules, vips.is_empty()) {
        (None, true) => Ok(None),
        (Some(rules), false) => Ok(Some(TlsOpts { rules, vips })),
        (Some(_), true) => Err("--tls-rules needs at least one --tls-vip ADDR:PORT".into()),
        (None, false) => Err("--tls-vip needs --tls-rules FILE".into()),
    }
}

/// A `pool` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolLine {
    /// Name.
    pub name: String,
    /// Scheduler (an ipvsadm name).
    pub sched: String,
    /// Servers and weights.
    pub servers: Vec<(SocketAddrV4, u32)>,
}

/// A parsed rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRules {
    /// Pools in order (their index is the engine's pool id).
    pub pools: Vec<PoolLine>,
    /// Server-name patterns and their pools.
    pub sni: Vec<(String, usize)>,
    /// Default pool (`None`: `default none`, refuse).
    pub default: Option<usize>,
    /// Refuse names no `sni` line matches.
    pub refuse_unknown: bool,
    /// Operator-configured ticket key names.
    pub ticket_keys: Vec<(SocketAddrV4, [u8; 16])>,
    /// Lifetime of learned entries.
    pub timeout: Duration,
    /// Non-TLS bytes: `None` resets, else the pool.
    pub non_tls: Option<usize>,
    /// Hold-down of a server that refused a connection.
    pub hold_down: Duration,
}

fn server(s: &str) -> Option<(SocketAddrV4, u32)> {
    let (a, w) = s.split_once('@').unwrap_or((s, "1"));
    Some((a.parse().ok()?, w.parse::<u16>().ok()?.into()))
}

fn hex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(k)
}

impl TlsRules {
    /// Parses a rules file (see the module documentation).
    ///
    /// # Errors
    /// `line N: what` for the first wrong line.
    pub fn parse(text: &str) -> Result<TlsRules, String> {
        let mut r = TlsRules {
            pools: Vec::new(),
            sni: Vec::new(),
            default: None,
            refuse_unknown: false,
            ticket_keys: Vec::new(),
            timeout: lvs_core::tls_persist::DEFAULT_TIMEOUT,
            non_tls: None,
            hold_down: Duration::from_secs(5),
        };
        let mut default: Option<(usize, String)> = None;
        let mut non_tls: Option<(usize, String)> = None;
        let mut sni: Vec<(usize, String, String)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let n = n + 1;
            let line = raw.split(" #").next().unwrap_or("");
            let line = if line.trim_start().starts_with('#') {
                ""
            } else {
                line
            };
            let w: Vec<&str> = line.split_whitespace().collect();
            let err = |m: &str| format!("line {n}: {m}");
            let secs = |s: &str| {
                s.parse::<u64>()
                    .ok()
                    .filter(|&v| v > 0 && v <= 86_400 * 30)
                    .map(Duration::from_secs)
                    .ok_or_else(|| err("expected seconds (1 to 2592000)"))
            };
            match w.as_slice() {
                [] => {}
                ["pool", name, sched, servers @ ..] if !servers.is_empty() => {
                    if r.pools.iter().any(|p| p.name == *name) {
                        return Err(err("pool declared twice"));
                    }
                    if r.pools.len() == MAX_POOLS {
                        return Err(err("too many pools"));
                    }
                    let servers = servers
                        .iter()
                        .map(|s| server(s))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| err("server must be IPV4:PORT or IPV4:PORT@WEIGHT"))?;
                    if servers.len() > lvs_forward::splice::rules_parse::MAX_POOL_SERVERS {
                        return Err(err("too many servers in the pool"));
                    }
                    r.pools.push(PoolLine {
                        name: name.to_string(),
                        sched: sched.to_string(),
                        servers,
                    });
                }
                ["sni", pattern, "->", pool] => {
                    sni.push((n, pattern.to_string(), pool.to_string()))
                }
                ["default", pool] => default = Some((n, pool.to_string())),
                ["refuse-unknown"] | ["refuse-unknown", "yes"] => r.refuse_unknown = true,
                ["refuse-unknown", "no"] => r.refuse_unknown = false,
                ["ticket-key", rs, key] => {
                    let rs: SocketAddrV4 = rs.parse().map_err(|_| err("expected IPV4:PORT"))?;
                    let key = hex16(key).ok_or_else(|| err("key name must be 32 hex digits"))?;
                    r.ticket_keys.push((rs, key));
                }
                ["timeout", s] => r.timeout = secs(s)?,
                ["hold-down", s] => r.hold_down = secs(s)?,
                ["non-tls", "reset"] => non_tls = None,
                ["non-tls", "pool", p] => non_tls = Some((n, p.to_string())),
                _ => return Err(err(&format!("cannot read {:?}", line.trim()))),
            }
        }
        let find = |n: usize, p: &str, pools: &[PoolLine]| {
            pools
                .iter()
                .position(|x| x.name == p)
                .ok_or_else(|| format!("line {n}: no pool {p:?}"))
        };
        for (n, pattern, pool) in sni {
            let p = find(n, &pool, &r.pools)?;
            r.sni.push((pattern, p));
        }
        r.default = match default {
            Some((_, p)) if p == "none" => None,
            Some((n, p)) => Some(find(n, &p, &r.pools)?),
            None if r.pools.is_empty() => return Err("no pool declared".into()),
            None => Some(0),
        };
        if let Some((n, p)) = non_tls {
            r.non_tls = Some(find(n, &p, &r.pools)?);
        }
        for (rs, _) in &r.ticket_keys {
            if !r
                .pools
                .iter()
                .any(|p| p.servers.iter().any(|(a, _)| a == rs))
            {
                return Err(format!("ticket-key for {rs}, which is in no pool"));
            }
        }
        Ok(r)
    }
}

type Classifier = TlsClassifier<'static, Sched, MAX_POOLS, WAITING>;

/// The splicer lvsd runs for TLS, with what it needs around it.
pub struct Tls {
    names: Vec<String>,
    /// The engine, its endpoints and buffers.
    run: SpliceRun<Classifier>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("vips", &self.run.vips)
            .field("live", &self.run.engine.live())
            .finish_non_exhaustive()
    }
}

impl Spliced for Tls {
    type C = Classifier;
    const COUNTERS: Counters = splice_counters!("tls");
    fn slot<'a>(d: &'a mut Daemon<'_>) -> &'a mut Option<Box<Self>> {
        &mut d.tls
    }
    fn get<'a>(d: &'a Daemon<'_>) -> Option<&'a Self> {
        d.tls.as_deref()
    }
    fn run(&mut self) -> &mut SpliceRun<Self::C> {
        &mut self.run
    }
    fn run_ref(&self) -> &SpliceRun<Self::C> {
        &self.run
    }
    /// The classifier's hold-downs and the engine's expiry.
    fn on_tick(&mut self, now: Instant) {
        self.run.engine.classifier_mut().tick(now, 64);
    }
}

fn leak<T: Clone>(n: usize, v: T) -> &'static mut [T] {
    Box::leak(vec![v; n].into_boxed_slice())
}

fn rule_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}, nothing started", path.display())
}

impl Tls {
    /// Reads the rules, builds the engine, the pools' schedulers and the splicer.
    ///
    /// # Errors
    /// The file cannot be read, a line is wrong, a scheduler is unknown, a VIP is a server.
    pub fn load(opts: &TlsOpts, words: [u64; 4]) -> Result<Tls, String> {
        let text = std::fs::read_to_string(&opts.rules)
            .map_err(|e| format!("{}: {e}", opts.rules.display()))?;
        let rules = TlsRules::parse(&text).map_err(|e| rule_error(&opts.rules, e))?;
        let mut servers: Vec<SocketAddrV4> = rules
            .pools
            .iter()
            .flat_map(|p| p.servers.iter().map(|(a, _)| *a))
            .collect();
        servers.sort();
        servers.dedup();
        if let Some(v) = opts.vips.iter().find(|v| servers.contains(v)) {
            return Err(format!("--tls-vip {v} is also a pool server"));
        }
        let mut pools = Vec::new();
        for p in &rules.pools {
            let s = Sched::from_name(&p.sched, SchedFlags::default(), words[2])
                .map_err(|e| rule_error(&opts.rules, format!("pool {}: {e}", p.name)))?;
            pools.push(Pool::with_servers(&p.servers, s));
        }
        let storage = TlsStorage {
            sessions: leak(ENTRIES, SessionSlot::EMPTY),
            tickets: leak(ENTRIES, TicketSlot::EMPTY),
            ticket_keys: leak(256, TicketKeySlot::EMPTY),
            sni_rules: leak(256, SniRule::EMPTY),
        };
        let mut persist = TlsPersist::new(
            TlsPersistConfig::with_timeout(rules.timeout),
            storage,
            SipKey(words[3], words[1]),
        )
        .map_err(|e| format!("tls engine: {e}"))?;
        for (pattern, pool) in &rules.sni {
            persist
                .sni_route(pattern, *pool as u16)
                .map_err(|e| rule_error(&opts.rules, format!("sni {pattern}: {e}")))?;
        }
        persist
            .sni_mut()
            .set_default_pool(rules.default.map(|p| p as u16));
        persist.sni_mut().set_refuse_unknown(rules.refuse_unknown);
        for (rs, key) in &rules.ticket_keys {
            persist
                .add_ticket_key(*key, *rs)
                .map_err(|e| rule_error(&opts.rules, e))?;
        }
        let mut ccfg = TlsClassifierConfig::new(SipKey(words[0], words[3]));
        ccfg.on_error = rules
            .non_tls
            .map_or(OnError::Reset, |p| OnError::Pool(p as u16));
        ccfg.hold_down = rules.hold_down;
        let mut cfg = SpliceConfig::new(SipKey(words[0] ^ words[1], words[2] ^ words[3]));
        cfg.linger = Duration::from_secs(1);
        // build the large tables on a thread with room for them, then keep them boxed
        let engine = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || {
                let classifier = TlsClassifier::new(persist, pools, ccfg);
                let slab: &'static mut [u8] = leak(SLOT * SLOTS, 0u8);
                Box::new(Splicer::new(cfg, classifier, slab, SLOT))
            })
            .map_err(|e| format!("tls: {e}"))?
            .join()
            .map_err(|_| "tls: building the splicer failed".to_string())?;
        Ok(Tls {
            names: rules.pools.iter().map(|p| p.name.clone()).collect(),
            run: SpliceRun::new(engine, opts.vips.clone(), servers),
        })
    }

    /// The VIP addresses lvsd answers ARP for.
    pub fn vip_addrs(&self) -> Vec<IpAddr> {
        self.run.vip_addrs()
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let e = self.run.engine.classifier().engine();
        format!(
            "tls splicing on {} with {} pool(s) ({}), {} server name(s), {} ticket key(s), {} server(s)",
            self.run
                .vips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.names.len(),
            self.names.join(", "),
            e.sni().len(),
            e.ticket_keys_len(),
            self.run.servers.len()
        )
    }

    /// `status` lines: the engine's counters (`tls.hits`, `tls.misses`, `tls.learned`,
    /// `tls.expired`...), the classifier's, the splicer's, each pool's and server's.
    pub fn status(&self, out: &mut String) {
        let engine = &self.run.engine;
        let c = engine.classifier();
        let e = c.engine().counters();
        let t = c.stats();
        let s = engine.stats();
        for (k, v) in [
            ("tls.hits", e.hits),
            ("tls.misses", e.misses),
            ("tls.fresh", e.fresh),
            ("tls.fallbacks", e.fallbacks),
            ("tls.refused", e.refused),
            ("tls.learned", e.learned),
            ("tls.replaced", e.replaced),
            ("tls.expired", e.expired),
            ("tls.evicted", e.evicted),
            ("tls.sessions", c.engine().sessions_len() as u64),
            ("tls.tickets", c.engine().tickets_len() as u64),
            ("tls.hellos", t.hellos),
            ("tls.resumption_offers", t.resumption_offers),
            ("tls.remembered", t.remembered),
            ("tls.scheduled", t.scheduled),
            ("tls.not_tls", t.not_tls),
            ("tls.bad_hello", t.bad_hello),
            ("tls.error_fallbacks", t.error_fallbacks),
            ("tls.no_server", t.no_server),
            ("tls.server_hellos", t.server_hellos),
            ("tls.resumed", t.resumed),
            ("tls.full_handshakes", t.full_handshakes),
            ("tls.retry_requests", t.retry_requests),
            ("tls.bad_replies", t.bad_replies),
            ("tls.displaced", t.displaced),
            ("tls.connect_failures", t.connect_failures),
            ("tls.moved", t.moved),
            ("tls.splice.accepted", s.accepted),
            ("tls.splice.spliced", s.spliced),
            ("tls.splice.rejected", s.rejected),
            ("tls.splice.classifier_resets", s.classifier_resets),
            ("tls.splice.header_timeouts", s.header_timeouts),
            ("tls.splice.connect_failures", s.connect_failures),
            ("tls.splice.reconnects", s.reconnects),
            ("tls.splice.retransmits", s.retransmits),
            ("tls.splice.resets", s.resets),
            ("tls.splice.dropped", s.dropped),
            ("tls.splice.full", s.full),
            ("tls.splice.live", engine.live() as u64),
        ] {
            let _ = writeln!(out, "{k} {v}");
        }
        for (name, pool) in self.names.iter().zip(c.pools()) {
            let _ = writeln!(out, "tls.pool.{name}.connections {}", pool.requests);
            for d in pool.dests() {
                let _ = writeln!(out, "tls.pool.{name}.{}.active {}", d.addr, d.active);
            }
        }
    }

    /// The engine's entries as rows of `ipvsadm -L -n -c --persistent-conn`: `TCP`, the time
    /// left (`mm:ss`; configured key names never expire), the kind (`sid`, `ticket`, `key`) in
    /// the state column, `0.0.0.0:0` as the source of a template, the first VIP, the server,
    /// `tls` and the data in hex.
    pub fn listing(&self, now: Instant, out: &mut String) {
        let vip = self
            .run
            .vips
            .first()
            .map_or_else(String::new, ToString::to_string);
        let mut rows: Vec<_> = self.run.engine.classifier().engine().entries().collect();
        rows.sort_by_key(|e| (e.server, e.data.as_bytes().to_vec()));
        for e in rows {
            let expire = match e.expires_in(now) {
                Some(d) => {
                    let s = d.total_millis() / 1000;
                    format!("{:02}:{:02}", s / 60, s % 60)
                }
                None => "never".to_string(),
            };
            let _ = writeln!(
                out,
                "TCP {expire:<6} {:<11} {:<18} {vip:<18} {:<18} {:<16} {}",
                e.kind.name(),
                "0.0.0.0:0",
                e.server.to_string(),
                e.pe_name(),
                e.data
            );
        }
    }
}

impl Daemon<'_> {
    /// The `status` lines of the TLS splicer, if it runs.
    pub(crate) fn tls_status(&self, out: &mut String) {
        if let Some(t) = &self.tls {
            t.status(out);
        }
    }

    /// The TLS engine's rows for `-L -n -c --persistent-conn`, if it runs.
    pub(crate) fn tls_listing(&self, out: &mut String) {
        if let Some(t) = &self.tls {
            t.listing(Instant::from_millis(self.now_ms()), out);
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
    fn tls_options_come_off_the_command_line() {
        let mut a = args("--rules r --tls-rules t.rules --iface d0 --tls-vip=198.18.0.10:443");
        let o = take_args(&mut a).unwrap().unwrap();
        assert_eq!(a, args("--rules r --iface d0"));
        assert_eq!(o.rules, PathBuf::from("t.rules"));
        assert_eq!(o.vips, vec!["198.18.0.10:443".parse().unwrap()]);
        assert_eq!(take_args(&mut args("--rules r")).unwrap(), None);
        assert!(take_args(&mut args("--tls-rules x")).is_err());
        assert!(take_args(&mut args("--tls-vip 198.18.0.10")).is_err());
    }

    const RULES: &str = "\
# two names, two pools
pool a rr 198.18.1.1:443 198.18.1.2:443
pool b wlc 198.18.1.3:443@2   # one server
sni a.example.test -> a
sni *.b.example.test -> b
default none
refuse-unknown
ticket-key 198.18.1.3:443 00112233445566778899AABBCCDDEEFF
timeout 60
non-tls pool b
";

    #[test]
    fn rules_parse_and_errors_name_the_line() {
        let r = TlsRules::parse(RULES).unwrap();
        assert_eq!(r.pools.len(), 2);
        assert_eq!(
            r.pools[1].servers,
            vec![("198.18.1.3:443".parse().unwrap(), 2)]
        );
        assert_eq!(
            r.sni,
            vec![("a.example.test".into(), 0), ("*.b.example.test".into(), 1)]
        );
        assert_eq!(
            (r.default, r.refuse_unknown, r.non_tls),
            (None, true, Some(1))
        );
        assert_eq!(r.ticket_keys[0].1[15], 0xff);
        assert_eq!(r.timeout, Duration::from_secs(60));
        for (bad, line) in [
            ("pool a rr 198.18.1.1\n", 1),
            ("pool a rr 198.18.1.1:1\nsni x -> nope\n", 2),
            ("pool a rr 198.18.1.1:1\nticket-key 198.18.1.1:1 0011\n", 2),
            ("pool a rr 198.18.1.1:1\ntimeout 0\n", 2),
            ("pool a rr 198.18.1.1:1\nfrobnicate\n", 2),
        ] {
            let e = TlsRules::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("line {line}:")), "{bad:?}: {e}");
        }
        assert!(TlsRules::parse(
            "pool a rr 198.18.1.1:1\nticket-key 198.18.9.9:1 00112233445566778899aabbccddeeff\n"
        )
        .is_err());
    }

    #[test]
    fn loads_and_lists_configured_keys() {
        let dir = std::env::temp_dir().join(format!("lvsd-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("tls.rules");
        std::fs::write(&p, RULES).unwrap();
        let opts = TlsOpts {
            rules: p.clone(),
            vips: vec!["198.18.0.10:443".parse().unwrap()],
        };
        let t = Tls::load(&opts, [1, 2, 3, 4]).unwrap();
        assert!(
            t.describe()
                .contains("2 pool(s) (a, b), 2 server name(s), 1 ticket key(s), 3 server(s)"),
            "{}",
            t.describe()
        );
        let mut s = String::new();
        t.listing(Instant::ZERO, &mut s);
        assert_eq!(
            s.trim_end(),
            "TCP never  key         0.0.0.0:0          198.18.0.10:443    198.18.1.3:443     \
             tls              00112233445566778899aabbccddeeff"
        );
        let mut s = String::new();
        t.status(&mut s);
        assert!(s.contains("tls.hits 0\n") && s.contains("tls.pool.b.198.18.1.3:443.active 0"));
        // 36 counts of events and 2 pools' connections, and the levels (/metrics' gauges)
        assert_eq!(
            crate::gauges::levels_of(&s, 38 + 6),
            [
                "tls.sessions",
                "tls.tickets",
                "tls.splice.live",
                "tls.pool.a.198.18.1.1:443.active",
                "tls.pool.a.198.18.1.2:443.active",
                "tls.pool.b.198.18.1.3:443.active"
            ]
        );
        std::fs::write(&p, "pool a nosuch 198.18.1.1:443\n").unwrap();
        assert!(Tls::load(&opts, [1, 2, 3, 4])
            .unwrap_err()
            .contains("nosuch"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
