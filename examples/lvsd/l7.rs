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
//! address and port, goes to [`Splicer::handle_packet`]; what it returns (a rewritten segment,
//! a cookie SYN-ACK, an ACK) is routed by its destination address and framed like any other
//! packet lvsd sends, and then everything [`Splicer::poll_transmit`] has queued (the SYN to the
//! chosen server, the replayed request, resets). The splicer's timers run every [`TICK_MS`]
//! while it holds connections. Real servers must route replies to clients through lvsd.
//!
//! Counters are in `lvsd ctl SOCKET status` (`l7.*`, per pool and per server) and logged at
//! exit. The L7 rules are read at start only (SIGHUP reloads the ipvsadm rules, not these).

use crate::daemon::{Daemon, HEADROOM};
use crate::sched::Sched;
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::{Duration, Instant, IpAddr};
use lvs_forward::splice::http::{HttpClassifier, Router};
use lvs_forward::splice::hybrid::HybridRouter;
use lvs_forward::splice::rules_parse::RuleSet;
use lvs_forward::splice::{FlowInfo, SpliceConfig, SpliceDrop, SpliceVerdict, Splicer};
use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::path::PathBuf;

/// Routes a rules file holds at most.
pub const MAX_ROUTES: usize = 64;
/// Pools a rules file holds at most.
pub const MAX_POOLS: usize = 16;
/// Connection index size (at most 3/4 of it live at once).
pub const CONNS: usize = 16384;
/// Request buffer per connection while the head is read.
pub const SLOT: usize = 8192;
/// Request buffers in all.
pub const SLOTS: usize = 4096;
/// How often the splicer's timers run while it holds connections.
pub const TICK_MS: u64 = 20;

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

type Engine = Splicer<'static, HttpClassifier<Pools>, CONNS>;

/// The splicer lvsd runs, with what it needs around it.
pub struct L7 {
    /// Virtual services.
    pub vips: Vec<SocketAddrV4>,
    /// Every pool server (segments from these go to the splicer).
    servers: Vec<SocketAddrV4>,
    /// Pool names in declaration order.
    names: Vec<String>,
    engine: Box<Engine>,
    out: Vec<u8>,
    scratch: Vec<u8>,
    next_tick: u64,
}

impl std::fmt::Debug for L7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L7")
            .field("vips", &self.vips)
            .field("servers", &self.servers)
            .field("live", &self.engine.live())
            .finish()
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
            vips: opts.vips.clone(),
            servers,
            names,
            engine,
            out: vec![0u8; HEADROOM + 1600],
            scratch: Vec::new(),
            next_tick: 0,
        })
    }

    /// The VIP addresses lvsd answers ARP for.
    pub fn vip_addrs(&self) -> Vec<IpAddr> {
        self.vips.iter().map(|v| IpAddr::V4(*v.ip())).collect()
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let r = self.engine.classifier().router.0.rules();
        format!(
            "l7 splicing on {} with {} pool(s) ({}), {} route(s), {} server(s)",
            self.vips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.names.len(),
            self.names.join(", "),
            r.routes().count(),
            self.servers.len()
        )
    }

    /// Whether the IPv4 packet `ip` is the splicer's: TCP to a VIP or from a pool server.
    fn claims(&self, ip: &[u8]) -> bool {
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 {
            return false;
        }
        let ihl = usize::from(ip[0] & 15) * 4;
        if ip.len() < ihl + 4 {
            return false;
        }
        let addr = |o: usize| std::net::Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]);
        let port = |o: usize| u16::from_be_bytes([ip[o], ip[o + 1]]);
        let src = SocketAddrV4::new(addr(12), port(ihl));
        let dst = SocketAddrV4::new(addr(16), port(ihl + 2));
        self.vips.contains(&dst) || self.servers.contains(&src)
    }

    /// `status` lines: the splicer's counters, the HTTP classifier's, each pool's requests and
    /// each server's open connections.
    pub fn status(&self, out: &mut String) {
        let s = self.engine.stats();
        let h = &self.engine.classifier().stats;
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
            ("l7.live", self.engine.live() as u64),
            ("l7.http.routed", h.routed),
            ("l7.http.bad_request", h.bad_request),
            ("l7.http.too_large", h.too_large),
            ("l7.http.unavailable", h.unavailable),
        ] {
            let _ = writeln!(out, "{k} {v}");
        }
        for (name, pool) in self
            .names
            .iter()
            .zip(self.engine.classifier().router.0.pools())
        {
            let _ = writeln!(out, "l7.pool.{name}.requests {}", pool.requests);
            for d in pool.dests() {
                let _ = writeln!(out, "l7.pool.{name}.{}.active {}", d.addr, d.active);
            }
        }
    }
}

fn drop_name(d: SpliceDrop) -> &'static str {
    match d {
        SpliceDrop::Malformed => "l7.drop.malformed",
        SpliceDrop::BadChecksum => "l7.drop.checksum",
        SpliceDrop::Fragment => "l7.drop.fragment",
        SpliceDrop::UnknownFlow => "l7.drop.unknown_flow",
        SpliceDrop::BadCookie => "l7.drop.bad_cookie",
        SpliceDrop::Full => "l7.drop.full",
        SpliceDrop::OutOfWindow => "l7.drop.out_of_window",
        SpliceDrop::Ignored => "l7.drop.ignored",
        SpliceDrop::NoRoom => "l7.drop.no_room",
    }
}

impl Daemon<'_> {
    /// Hands the frame at `buf[head..head + len]` (Ethernet, complete checksums, one MTU) to
    /// the splicer if it is the splicer's; `false` when it is not.
    pub(crate) fn l7_take(&mut self, buf: &mut [u8], head: usize, len: usize) -> bool {
        let Some(mut l7) = self.l7.take() else {
            return false;
        };
        let frame = &buf[head..head + len];
        if len < 34 || frame[12..14] != [0x08, 0x00] || !l7.claims(&frame[14..]) {
            self.l7 = Some(l7);
            return false;
        }
        let now = Instant::from_millis(self.now_ms());
        let ip = head + 14;
        let n = len - 14;
        // the splicer may answer with a frame longer than a short segment: give it room
        let mut scratch = std::mem::take(&mut l7.scratch);
        let (b, at): (&mut [u8], usize) = if buf.len() - ip >= n + 128 {
            (buf, ip)
        } else {
            scratch.clear();
            scratch.resize(HEADROOM + n + 128, 0);
            scratch[HEADROOM..HEADROOM + n].copy_from_slice(&buf[ip..ip + n]);
            (&mut scratch, HEADROOM)
        };
        match l7.engine.handle_packet(now, &mut b[at..], n) {
            SpliceVerdict::Transmit(t) => self.l7_send(b, at, t.len),
            SpliceVerdict::Consumed => self.count("l7.consumed"),
            SpliceVerdict::Drop(d) => self.count(drop_name(d)),
        }
        l7.scratch = scratch;
        self.l7_drain(&mut l7, now);
        self.l7 = Some(l7);
        true
    }

    /// Routes the IPv4 packet at `buf[start..start + len]` by its destination and sends it.
    pub(crate) fn l7_send(&mut self, buf: &mut [u8], start: usize, len: usize) {
        let d = &buf[start + 16..start + 20];
        let dst = IpAddr::V4(std::net::Ipv4Addr::new(d[0], d[1], d[2], d[3]));
        let Some((oif, nh)) = self.routes.lookup(&dst) else {
            return self.count("drop.no_route");
        };
        self.count("l7.tx");
        self.send_ip(oif, nh, buf, start, len);
    }

    /// Sends everything the splicer has queued.
    fn l7_drain(&mut self, l7: &mut L7, now: Instant) {
        let mut out = std::mem::take(&mut l7.out);
        for _ in 0..4 * CONNS {
            let Some(t) = l7
                .engine
                .poll_transmit(now, &mut out[HEADROOM..HEADROOM + 1500])
            else {
                break;
            };
            self.l7_send(&mut out, HEADROOM, t.len);
        }
        l7.out = out;
    }

    /// When the loop should next wake for the splicer's timers (ms since start), if ever.
    pub(crate) fn l7_poll_at(&self) -> Option<u64> {
        let l7 = self.l7.as_ref()?;
        (l7.engine.live() > 0).then_some(l7.next_tick)
    }

    /// Runs the splicer's timers when a tick is due, and sends what they queue.
    pub(crate) fn l7_timers(&mut self, now_ms: u64) {
        let Some(mut l7) = self.l7.take() else {
            return;
        };
        if now_ms >= l7.next_tick {
            l7.next_tick = now_ms + TICK_MS;
            if l7.engine.live() > 0 {
                let now = Instant::from_millis(now_ms);
                l7.engine.handle_timeout(now);
                self.l7_drain(&mut l7, now);
            }
        }
        self.l7 = Some(l7);
    }

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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
