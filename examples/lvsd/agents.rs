//! Load agents: weights that follow the real servers' load.
//!
//! `lvs_agent` on each real server sends a report (`lvs_sched::agent`) every few seconds to
//! lvsd's own address, UDP port 4455; lvsd takes it on its packet path (it has no kernel
//! sockets on its interfaces), checks length, magic, version, the HMAC-SHA256 tag under the
//! shared key, that the source is a real server of some service, and that the sequence
//! number (the agent's send time) is above the last one from that source and within 30 s of
//! lvsd's clock. Every refusal is counted by reason (`status`: `agent.drop.*`) and changes
//! nothing.
//!
//! Every report period, each service's weights go through the library's LVS dynamic-feedback
//! controller (`lvs_sched::feedback::Classic`, with its cube-root damping, threshold and
//! `1..=10 × configured weight` bounds; target: the mean load of the service's servers). A
//! server whose last report is older than three periods is stale: it gets its configured
//! (static) weight back, and so do all servers when no agent reports at all.

use crate::daemon::Daemon;
use lvs_core::dest::DestConfig;
use lvs_core::{IpAddr, ServiceId};
use lvs_forward::parse::Parsed;
use lvs_sched::agent::{AgentError, ReplayWindow, Report, DEFAULT_PORT};
use lvs_sched::feedback::{Classic, ClassicConfig, LoadReport, WeightController};
use std::collections::BTreeMap;

/// Most real servers per service the controller keeps state for.
const MAX_DESTS: usize = 64;

/// The `--agent*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOpts {
    /// The shared key.
    pub key: Vec<u8>,
    /// UDP port on lvsd's own addresses.
    pub port: u16,
    /// Expected report period, ms.
    pub period_ms: u64,
    /// Largest distance of a report's send time from lvsd's clock, ms.
    pub window_ms: u64,
}

/// Takes the `--agent*` options out of `args`.
///
/// # Errors
/// A bad value, an unreadable or short key, or `--agent-*` without `--agent-key`.
pub fn split_args(args: Vec<String>) -> Result<(Option<AgentOpts>, Vec<String>), String> {
    let mut rest = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut o = AgentOpts {
        key: Vec::new(),
        port: DEFAULT_PORT,
        period_ms: 2000,
        window_ms: 30_000,
    };
    let mut other: Option<String> = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if !a.starts_with("--agent") {
            rest.push(a);
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let v = inline
            .or_else(|| it.next())
            .ok_or_else(|| format!("{name} needs a value"))?;
        let secs = |v: &str| -> Result<u64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| (0.1..=3600.0).contains(s))
                .map(|s| (s * 1000.0) as u64)
                .ok_or_else(|| format!("{name} {v:?}: seconds in 0.1..=3600"))
        };
        match name.as_str() {
            "--agent-key" => {
                let mut k = std::fs::read(&v).map_err(|e| format!("--agent-key {v}: {e}"))?;
                while k.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    k.pop();
                }
                if k.len() < 16 {
                    return Err(format!(
                        "--agent-key {v}: a key of at least 16 bytes is needed"
                    ));
                }
                key = Some(k);
                continue;
            }
            "--agent-port" => {
                o.port = v
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("--agent-port {v:?}: not a port"))?
            }
            "--agent-interval" => o.period_ms = secs(&v)?,
            "--agent-window" => o.window_ms = secs(&v)?,
            _ => return Err(format!("unknown option {name}")),
        }
        other.get_or_insert(name);
    }
    match (key, other) {
        (Some(k), _) => Ok((Some(AgentOpts { key: k, ..o }), rest)),
        (None, Some(n)) => Err(format!("{n} needs --agent-key FILE")),
        (None, None) => Ok((None, rest)),
    }
}

/// What is known of one reporting server.
#[derive(Debug, Default)]
struct Source {
    replay: ReplayWindow,
    /// (ms since lvsd's start when received, the report).
    last: Option<(u64, Report)>,
}

/// The load-agent state of a running lvsd.
#[derive(Debug)]
pub struct Agents {
    opts: AgentOpts,
    sources: BTreeMap<IpAddr, Source>,
    controllers: BTreeMap<ServiceId, Classic<MAX_DESTS>>,
    /// Configured weights, (service, real server address) → weight, as first seen.
    statics: BTreeMap<(ServiceId, IpAddr), u32>,
    next_round: u64,
    accepted: u64,
    drops: [u64; 8],
    rounds: u64,
    weight_changes: u64,
    restored: u64,
}

impl Agents {
    /// Agent state for `opts`.
    pub fn new(opts: AgentOpts) -> Agents {
        Agents {
            next_round: opts.period_ms,
            opts,
            sources: BTreeMap::new(),
            controllers: BTreeMap::new(),
            statics: BTreeMap::new(),
            accepted: 0,
            drops: [0; 8],
            rounds: 0,
            weight_changes: 0,
            restored: 0,
        }
    }

    /// Checks one datagram from `src`, as received at `now` (ms since lvsd's start) and
    /// `wall_ms` (lvsd's wall clock); remembers it if good.
    ///
    /// # Errors
    /// Why it was dropped (also counted).
    pub fn receive(
        &mut self,
        src: IpAddr,
        payload: &[u8],
        known: bool,
        now: u64,
        wall_ms: u64,
    ) -> Result<(), AgentError> {
        let r = self.check(src, payload, known, wall_ms);
        match r {
            Ok(rep) => {
                self.accepted += 1;
                self.sources.entry(src).or_default().last = Some((now, rep));
                Ok(())
            }
            Err(e) => {
                self.drops[e as usize] += 1;
                Err(e)
            }
        }
    }

    fn check(
        &mut self,
        src: IpAddr,
        payload: &[u8],
        known: bool,
        wall_ms: u64,
    ) -> Result<Report, AgentError> {
        let rep = Report::decode(payload, &self.opts.key)?;
        if !known {
            return Err(AgentError::UnknownSource);
        }
        self.sources
            .entry(src)
            .or_default()
            .replay
            .check(rep.seq, wall_ms, self.opts.window_ms)?;
        Ok(rep)
    }

    fn fresh(&self, addr: &IpAddr, now: u64) -> Option<LoadReport> {
        let (at, r) = self.sources.get(addr)?.last?;
        (now.saturating_sub(at) <= 3 * self.opts.period_ms).then(|| r.to_load_report())
    }
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Daemon<'_> {
    /// Takes a datagram for lvsd's own address if it is for the agent port: returns whether
    /// it was (then it was used or counted as dropped).
    pub fn agent_datagram(&mut self, frame: &[u8], p: &Parsed) -> bool {
        let Some(port) = self.agents.as_ref().map(|a| a.opts.port) else {
            return false;
        };
        if p.flow.proto.number() != 17 || p.flow.dst.port != port {
            return false;
        }
        let src = p.flow.src.addr;
        let payload = frame.get(p.payload..p.end()).unwrap_or(&[]);
        let known = self
            .dir
            .services()
            .any(|(id, _)| self.dir.dests(id).iter().any(|(_, d)| d.addr.addr == src));
        let now = self.now_ms();
        let verbose = self.opts.verbose;
        if let Some(a) = self.agents.as_mut() {
            if let Err(e) = a.receive(src, payload, known, now, wall_ms()) {
                if verbose {
                    eprintln!("lvsd: agent report from {src} dropped: {e}");
                }
            }
        }
        true
    }

    /// When [`Daemon::agents_poll`] is due (ms since start).
    pub fn agents_deadline(&self) -> Option<u64> {
        self.agents.as_ref().map(|a| a.next_round)
    }

    /// Once per report period: new weights from the fresh reports, configured weights for
    /// servers whose reports went stale.
    pub fn agents_poll(&mut self) {
        let now = self.now_ms();
        let Some(mut a) = self.agents.take() else {
            return;
        };
        if now >= a.next_round {
            a.next_round = now + a.opts.period_ms;
            a.rounds += 1;
            let services: Vec<ServiceId> = self.dir.services().map(|(id, _)| id).collect();
            for id in services {
                self.agents_round(&mut a, id, now);
            }
        }
        self.agents = Some(a);
    }

    fn agents_round(&mut self, a: &mut Agents, id: ServiceId, now: u64) {
        let dests: Vec<DestConfig> = self
            .dir
            .dests(id)
            .iter()
            .take(MAX_DESTS)
            .map(|(_, d)| {
                let mut c = DestConfig::new(d.addr, d.fwd, d.weight);
                c.tunnel = d.tunnel;
                c.u_threshold = d.u_threshold;
                c.l_threshold = d.l_threshold;
                c
            })
            .collect();
        for d in &dests {
            a.statics.entry((id, d.addr.addr)).or_insert(d.weight);
        }
        let reports: Vec<LoadReport> = dests
            .iter()
            .map(|d| a.fresh(&d.addr.addr, now).unwrap_or(LoadReport::MISSING))
            .collect();
        let mut weights: Vec<u32> = dests.iter().map(|d| d.weight).collect();
        if reports.iter().any(|r| r.fresh) {
            let c = a
                .controllers
                .entry(id)
                .or_insert_with(|| Classic::new(ClassicConfig::DEFAULT));
            if c.update(&reports, &mut weights).is_err() {
                return;
            }
        }
        for (i, r) in reports.iter().enumerate() {
            if !r.fresh {
                // stale or never reported: back to the configured weight
                let w = a.statics[&(id, dests[i].addr.addr)];
                if weights[i] != w {
                    a.restored += 1;
                }
                weights[i] = w;
            }
        }
        for (d, w) in dests.iter().zip(&weights) {
            if d.weight != *w {
                let mut c = *d;
                c.weight = *w;
                if self.dir.edit_dest(id, c).is_ok() {
                    a.weight_changes += 1;
                    if self.opts.verbose {
                        eprintln!("lvsd: agent: {} weight {} -> {w}", d.addr, d.weight);
                    }
                }
            }
        }
    }

    /// The `agent.*` lines of `status`.
    pub fn agents_status(&self, out: &mut String) {
        let Some(a) = self.agents.as_ref() else {
            return;
        };
        let mut kv = |k: &str, v: u64| out.push_str(&format!("agent.{k} {v}\n"));
        kv("accepted", a.accepted);
        kv("rounds", a.rounds);
        kv("weight_changes", a.weight_changes);
        kv("restored_static", a.restored);
        kv("sources", a.sources.len() as u64);
        for e in AgentError::ALL {
            kv(&format!("drop.{}", e.name()), a.drops[e as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef-test";

    fn agents() -> Agents {
        Agents::new(AgentOpts {
            key: KEY.to_vec(),
            port: DEFAULT_PORT,
            period_ms: 1000,
            window_ms: 30_000,
        })
    }

    fn report(seq: u64, avail: u64) -> [u8; lvs_sched::agent::LEN] {
        Report {
            seq,
            cpu_idle_permille: 1000,
            mem_available_kb: avail,
            mem_total_kb: 1 << 20,
            ..Report::default()
        }
        .encode(KEY)
    }

    /// Every bad datagram is dropped, counted under its reason, and leaves the last good
    /// report (what the weights come from) as it was.
    #[test]
    fn bad_datagrams_are_counted_and_change_nothing() {
        let mut a = agents();
        let src: IpAddr = "198.18.1.11".parse().unwrap();
        let wall = 1_765_000_000_000;
        assert_eq!(
            a.receive(src, &report(wall, 500_000), true, 10, wall),
            Ok(())
        );
        let good = a.fresh(&src, 10);
        let long = {
            let mut v = report(wall + 5, 1).to_vec();
            v.push(0);
            v
        };
        let mut other_key = Report {
            seq: wall + 6,
            ..Report::default()
        }
        .encode(b"another key, 16+ bytes");
        let cases: Vec<(Vec<u8>, bool, AgentError)> = vec![
            (report(wall + 1, 1)[..40].to_vec(), true, AgentError::Short),
            (long, true, AgentError::Oversized),
            (report(wall, 1).to_vec(), true, AgentError::Replayed),
            (report(wall - 1, 1).to_vec(), true, AgentError::Replayed),
            (report(wall + 60_000, 1).to_vec(), true, AgentError::Stale),
            (
                report(wall + 7, 1).to_vec(),
                false,
                AgentError::UnknownSource,
            ),
            (other_key.to_vec(), true, AgentError::BadKey),
            (
                {
                    other_key[0] = b'X';
                    other_key.to_vec()
                },
                true,
                AgentError::BadMagic,
            ),
            (
                {
                    let mut b = report(wall + 8, 1);
                    b[4] = 9;
                    b.to_vec()
                },
                true,
                AgentError::BadVersion,
            ),
        ];
        for (i, (bytes, known, why)) in cases.iter().enumerate() {
            assert_eq!(
                a.receive(src, bytes, *known, 20, wall + 10),
                Err(*why),
                "case {i}"
            );
            assert_eq!(
                a.drops[*why as usize],
                if *why == AgentError::Replayed {
                    (i - 1) as u64
                } else {
                    1
                }
            );
            assert_eq!(a.fresh(&src, 20), good, "case {i}");
        }
        assert_eq!(a.accepted, 1);
        assert_eq!(a.drops.iter().sum::<u64>(), cases.len() as u64);
        // a good one later still goes through
        assert_eq!(
            a.receive(src, &report(wall + 20, 1), true, 30, wall + 20),
            Ok(())
        );
    }

    #[test]
    fn reports_go_stale_after_three_periods() {
        let mut a = agents();
        let src: IpAddr = "198.18.1.11".parse().unwrap();
        let wall = 1_765_000_000_000;
        a.receive(src, &report(wall, 500_000), true, 1000, wall)
            .unwrap();
        assert!(a.fresh(&src, 4000).is_some());
        assert!(a.fresh(&src, 4001).is_none());
    }

    #[test]
    fn options() {
        let dir = std::env::temp_dir().join(format!("ha-agent-key-{}", std::process::id()));
        std::fs::write(&dir, "0123456789abcdef0123\n").unwrap();
        let k = dir.to_string_lossy().to_string();
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let (o, rest) = split_args(args(&format!(
            "--iface d0 --agent-key {k} --agent-interval 0.5"
        )))
        .unwrap();
        let o = o.unwrap();
        assert_eq!((o.key.len(), o.period_ms, o.port), (20, 500, DEFAULT_PORT));
        assert_eq!(rest, args("--iface d0"));
        assert!(split_args(args("--agent-interval 1")).is_err());
        assert!(split_args(args(&format!("--agent-key {k} --agent-port 0"))).is_err());
        std::fs::write(&dir, "short").unwrap();
        assert!(split_args(args(&format!("--agent-key {k}"))).is_err());
        let _ = std::fs::remove_file(&dir);
    }
}
