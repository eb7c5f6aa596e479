//! Health checks: the `--health FILE` format, and the thread that runs
//! `lvs_core::health::HealthChecker` with real probes and hands its changes to the packet loop
//! as ipvsadm commands (through the same channel as the management plane).
//!
//! The file, one directive a line (`#` comments, blank lines ignored):
//!
//! ```text
//! service SERVICE [quorum N] [hysteresis N] [sorry RIP[:PORT]]
//! check SERVICE -r RIP[:PORT] [interval D] [timeout D] [rise N] [fall N] [jitter D]
//!       [on-failure quiesce|remove] [alpha] [port P] PROBE
//! quorum-up SERVICE CMDLINE...
//! quorum-down SERVICE CMDLINE...
//! ```
//!
//! SERVICE is ipvsadm's `-t|-u|--sctp-service VIP:PORT` or `-f MARK`; the real server must be
//! in the rules file (its forwarding method and weight come from there). Durations are `2s`,
//! `500ms` or plain seconds. Defaults: interval 2s, timeout 1s, rise 2, fall 3, jitter 0,
//! on-failure quiesce (weight 0, established connections continue; `remove` takes the server
//! out). `alpha` starts the server down until `rise` successes. `port` probes another port of
//! the server. A service without a `service` line has quorum 1 and no sorry server. PROBE:
//!
//! - `tcp`: a TCP connection is accepted;
//! - `http PATH [status N] [digest MD5HEX] [host NAME]`: `GET PATH` (HTTP/1.0) answers status
//!   N (200) and, with `digest`, a body with that MD5 (keepalived's `HTTP_GET`);
//! - `https PATH [status N] [digest MD5HEX] [host NAME] [sni NAME] [ca FILE]`: the same over
//!   TLS (keepalived's `SSL_GET`). The SNI name is `sni`, else `host`, else none (an address);
//!   the certificate is not verified unless `ca FILE` (PEM) is given, then its chain must lead
//!   to one of the file's certificates and name the server (the SNI name, else the address);
//! - `tls [sni NAME] [ca FILE]`: a TLS handshake completes (the same certificate policy);
//! - `dns NAME [type a|aaaa]`: a UDP DNS query is answered with RCODE 0;
//! - `command CMDLINE...`: the rest of the line run by `sh -c` exits 0 within the timeout
//!   (keepalived's `MISC_CHECK`).
//!
//! `quorum-up` and `quorum-down` (keepalived's `quorum_up`/`quorum_down`) run the rest of the
//! line with `sh -c` when the service regains or loses its quorum, with `LVS_SERVICE` (as
//! `-t VIP:PORT`) and `LVS_EVENT` (`quorum-up` or `quorum-down`) in the environment; lvsd does
//! not wait for them. A service may have several of each.

use crate::mgmt::Client;
use crate::rules::RuleSet;
use crate::tls_probe::TlsSettings;
use lvs_core::health::{
    HealthChecker, HealthEvent, OnFailure, Output, ProbeError, ProbeId, ProbeKind, ServerCheck,
    ServiceHealth, Timing,
};
use lvs_core::ipvsadm::{parse_rule, Rule};
use lvs_core::{DestConfig, Duration, Endpoint, Instant, ServiceKey};
use std::sync::mpsc;

pub use crate::probe::run_probe;

/// A probe, owning its strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// TCP connect.
    Tcp,
    /// HTTP GET, or HTTPS with `tls`.
    Http {
        /// Path.
        path: String,
        /// Host header.
        host: Option<String>,
        /// Expected status.
        status: u16,
        /// MD5 of the body.
        digest: Option<[u8; 16]>,
        /// Over TLS.
        tls: Option<TlsSettings>,
    },
    /// TLS handshake.
    Tls(TlsSettings),
    /// DNS query.
    Dns {
        /// Name.
        name: String,
        /// Query type.
        qtype: u16,
    },
    /// `sh -c`.
    Command(String),
}

impl Probe {
    fn kind(&self) -> ProbeKind<'_> {
        match self {
            Probe::Tcp => ProbeKind::Tcp,
            Probe::Http {
                path,
                host,
                status,
                digest,
                tls,
            } => ProbeKind::Http {
                path,
                host: host.as_deref(),
                status: *status,
                digest: *digest,
                tls: tls.is_some(),
            },
            Probe::Tls(t) => ProbeKind::Tls {
                server_name: t.sni.as_deref(),
            },
            Probe::Dns { name, qtype } => ProbeKind::Dns {
                name,
                qtype: *qtype,
            },
            Probe::Command(c) => ProbeKind::Command { command: c },
        }
    }
}

/// One `check` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// Line number.
    pub line: usize,
    /// Service.
    pub service: ServiceKey,
    /// The real server as the rules have it.
    pub dest: DestConfig,
    /// Where probes go.
    pub target: Endpoint,
    /// Probe.
    pub probe: Probe,
    /// Timing.
    pub timing: Timing,
    /// On failure.
    pub on_failure: OnFailure,
    /// Not `alpha`.
    pub initially_up: bool,
}

/// A parsed health file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// `service` lines (line, settings).
    pub services: Vec<(usize, ServiceHealth)>,
    /// `check` lines.
    pub checks: Vec<CheckSpec>,
    /// `quorum-up` and `quorum-down` lines.
    pub hooks: Vec<Hook>,
}

/// A `quorum-up` or `quorum-down` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Line number.
    pub line: usize,
    /// Service.
    pub service: ServiceKey,
    /// Run on quorum up (`true`) or down.
    pub up: bool,
    /// The command line, run by `sh -c`.
    pub command: String,
}

fn duration(s: &str) -> Option<Duration> {
    let ms = if let Some(v) = s.strip_suffix("ms") {
        v.parse::<u64>().ok()?
    } else {
        let v = s.strip_suffix('s').unwrap_or(s);
        v.parse::<u64>().ok()?.checked_mul(1000)?
    };
    Some(Duration::from_millis(ms))
}

/// `-t VIP:PORT` (etc.) at the start of `toks`: the key and the tokens used.
fn service_of(toks: &[&str]) -> Result<(ServiceKey, usize), String> {
    let (opt, v) = match toks {
        [o, v, ..] => (*o, *v),
        _ => return Err("expected a service (-t|-u|--sctp-service VIP:PORT or -f MARK)".into()),
    };
    match parse_rule(&format!("-D {opt} {v}")) {
        Ok(Rule::DelService { service }) => Ok((service, 2)),
        Ok(_) => Err(format!("bad service {opt} {v:?}")),
        Err(e) => Err(crate::rulefile::describe(&format!("-D {opt} {v}"), e)),
    }
}

fn find_dest(rules: &RuleSet, service: &ServiceKey, rip: &str) -> Result<DestConfig, String> {
    let line = format!("-d {} -r {rip}", service_text(service));
    let addr = match parse_rule(&line) {
        Ok(Rule::DelDest { addr, .. }) => addr,
        Ok(_) => return Err(format!("bad real server {rip:?}")),
        Err(e) => return Err(crate::rulefile::describe(&line, e)),
    };
    let s = rules
        .services
        .iter()
        .find(|s| s.config.key == *service)
        .ok_or_else(|| format!("service {} is not in the rules", service_text(service)))?;
    s.dests
        .iter()
        .find(|d| d.addr == addr || (d.addr.addr == addr.addr && addr.port == 0))
        .copied()
        .ok_or_else(|| {
            format!(
                "real server {rip} is not in service {} of the rules",
                service_text(service)
            )
        })
}

fn service_text(k: &ServiceKey) -> String {
    // the -D line ipvsadm-save would print, less the command
    Rule::DelService { service: *k }
        .to_string()
        .trim_start_matches("-D ")
        .to_string()
}

fn number<T: std::str::FromStr>(v: Option<&&str>, what: &str) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{what} needs a value"))?;
    v.parse().map_err(|_| format!("{what}: bad value {v:?}"))
}

fn word(v: Option<&&str>, what: &str) -> Result<String, String> {
    v.map(|s| s.to_string())
        .ok_or_else(|| format!("{what} needs a value"))
}

fn md5_hex(v: Option<&&str>) -> Result<[u8; 16], String> {
    let hex = v.ok_or("digest needs a value")?;
    let mut d = [0u8; 16];
    let ok = hex.len() == 32
        && hex.is_ascii()
        && d.iter_mut().enumerate().all(|(j, b)| {
            u8::from_str_radix(&hex[j * 2..j * 2 + 2], 16)
                .map(|x| *b = x)
                .is_ok()
        });
    if ok {
        Ok(d)
    } else {
        Err(format!("digest: {hex:?} is not 32 hex digits (MD5)"))
    }
}

/// `body` after its first `n` words, as written (quoting and spacing kept for the shell).
fn rest_after(body: &str, n: usize) -> &str {
    let mut rest = body.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

fn parse_hook(
    toks: &[&str],
    body: &str,
    rules: &RuleSet,
    line: usize,
    up: bool,
) -> Result<Hook, String> {
    let (service, i) = service_of(toks)?;
    if !rules.services.iter().any(|s| s.config.key == service) {
        return Err(format!(
            "service {} is not in the rules",
            service_text(&service)
        ));
    }
    // the directive, the service's two words, then the command
    let command = rest_after(body, 1 + i).to_string();
    if command.is_empty() {
        return Err("no command after the service".into());
    }
    Ok(Hook {
        line,
        service,
        up,
        command,
    })
}

fn parse_check(toks: &[&str], rules: &RuleSet, line: usize) -> Result<CheckSpec, String> {
    let (service, mut i) = service_of(toks)?;
    if toks.get(i) != Some(&"-r") {
        return Err("expected -r RIP[:PORT] after the service".into());
    }
    let rip = toks.get(i + 1).ok_or("-r needs a value")?;
    let dest = find_dest(rules, &service, rip)?;
    i += 2;
    let mut timing = Timing::DEFAULT;
    let mut on_failure = OnFailure::Quiesce;
    let mut initially_up = true;
    let mut target = dest.addr;
    if target.port == 0 {
        if let ServiceKey::Addr { vip, .. } = service {
            target.port = vip.port;
        }
    }
    let dur = |v: Option<&&str>, what: &str| {
        v.and_then(|s| duration(s))
            .ok_or_else(|| format!("{what}: expected a duration like 2s or 500ms"))
    };
    while let Some(&t) = toks.get(i) {
        let v = toks.get(i + 1);
        match t {
            "interval" => timing.interval = dur(v, t)?,
            "timeout" => timing.timeout = dur(v, t)?,
            "jitter" => timing.jitter = dur(v, t)?,
            "rise" => timing.rise = number(v, t)?,
            "fall" => timing.fall = number(v, t)?,
            "port" => target.port = number(v, t)?,
            "on-failure" => {
                on_failure = match v.copied() {
                    Some("quiesce") => OnFailure::Quiesce,
                    Some("remove") => OnFailure::Remove,
                    _ => return Err("on-failure: expected quiesce or remove".into()),
                }
            }
            "alpha" => {
                initially_up = false;
                i += 1;
                continue;
            }
            _ => break,
        }
        i += 2;
    }
    let probe = match toks.get(i).copied() {
        Some("tcp") => {
            i += 1;
            Probe::Tcp
        }
        Some(w @ ("http" | "https")) => {
            let path = toks.get(i + 1).ok_or("http needs a path")?.to_string();
            i += 2;
            let (mut status, mut digest, mut host) = (200, None, None);
            let (mut sni, mut ca) = (None, None);
            while let Some(&t) = toks.get(i) {
                let v = toks.get(i + 1);
                match t {
                    "status" => status = number(v, t)?,
                    "host" => host = Some(word(v, t)?),
                    "sni" if w == "https" => sni = Some(word(v, t)?),
                    "ca" if w == "https" => ca = Some(word(v, t)?),
                    "digest" => digest = Some(md5_hex(v)?),
                    _ => break,
                }
                i += 2;
            }
            let tls = if w == "https" {
                Some(TlsSettings::new(
                    sni.or_else(|| host.as_deref().map(crate::tls_probe::sni_of_host)),
                    ca,
                )?)
            } else {
                None
            };
            Probe::Http {
                path,
                host,
                status,
                digest,
                tls,
            }
        }
        Some("tls") => {
            i += 1;
            let (mut sni, mut ca) = (None, None);
            while let Some(&t) = toks.get(i) {
                let v = toks.get(i + 1);
                match t {
                    "sni" => sni = Some(word(v, t)?),
                    "ca" => ca = Some(word(v, t)?),
                    _ => break,
                }
                i += 2;
            }
            Probe::Tls(TlsSettings::new(sni, ca)?)
        }
        Some("dns") => {
            let name = toks.get(i + 1).ok_or("dns needs a name")?.to_string();
            i += 2;
            let mut qtype = 1;
            if toks.get(i) == Some(&"type") {
                qtype = match toks.get(i + 1).map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("a") => 1,
                    Some("aaaa") => 28,
                    _ => return Err("type: expected a or aaaa".into()),
                };
                i += 2;
            }
            Probe::Dns { name, qtype }
        }
        Some("command") => {
            let rest = toks[i + 1..].join(" ");
            i = toks.len();
            Probe::Command(rest)
        }
        Some(other) => {
            return Err(format!(
                "unknown word {other:?}: expected an option or a probe (tcp, http, https, tls, dns, command)"
            ))
        }
        None => return Err("no probe (tcp, http, https, tls, dns or command)".into()),
    };
    if let Some(extra) = toks.get(i) {
        return Err(format!("unexpected {extra:?} after the probe"));
    }
    let spec = CheckSpec {
        line,
        service,
        dest,
        target,
        probe,
        timing,
        on_failure,
        initially_up,
    };
    spec.timing.validate().map_err(|e| e.to_string())?;
    spec.probe.kind().validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

fn parse_service(toks: &[&str]) -> Result<ServiceHealth, String> {
    let (key, mut i) = service_of(toks)?;
    let mut s = ServiceHealth::new(key);
    while let Some(&t) = toks.get(i) {
        let v = toks.get(i + 1);
        match t {
            "quorum" => s.quorum = number(v, t)?,
            "hysteresis" => s.hysteresis = number(v, t)?,
            "sorry" => {
                let rip = v.ok_or("sorry needs RIP[:PORT]")?;
                let line = format!("-a {} -r {rip} -m", service_text(&key));
                s.sorry = match parse_rule(&line) {
                    Ok(Rule::AddDest { dest, .. }) => Some(dest),
                    Ok(_) => None,
                    Err(e) => return Err(crate::rulefile::describe(&line, e)),
                };
            }
            _ => {
                return Err(format!(
                    "unknown word {t:?}: expected quorum, hysteresis or sorry"
                ))
            }
        }
        i += 2;
    }
    if s.hysteresis > s.quorum {
        return Err("the hysteresis is larger than the quorum".into());
    }
    Ok(s)
}

impl HealthConfig {
    /// Parses a health file against the rules it checks.
    ///
    /// # Errors
    /// Every rejected line, `line N: why`.
    pub fn parse(text: &str, rules: &RuleSet) -> Result<HealthConfig, Vec<String>> {
        let mut cfg = HealthConfig::default();
        let mut errs = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let body = raw.split('#').next().unwrap_or("");
            let toks: Vec<&str> = body.split_whitespace().collect();
            let r = match toks.first().copied() {
                None => continue,
                Some("service") => parse_service(&toks[1..]).map(|s| cfg.services.push((line, s))),
                Some("check") => parse_check(&toks[1..], rules, line).map(|c| cfg.checks.push(c)),
                Some(w @ ("quorum-up" | "quorum-down")) => {
                    parse_hook(&toks[1..], body, rules, line, w == "quorum-up")
                        .map(|h| cfg.hooks.push(h))
                }
                Some(other) => Err(format!(
                    "unknown directive {other:?}: expected service, check, quorum-up or quorum-down"
                )),
            };
            if let Err(e) = r {
                errs.push(format!("line {line}: {e}"));
            }
        }
        // what the machine refuses (duplicates, sorry server among the real servers)
        if errs.is_empty() {
            if let Err(e) = cfg.checker(Instant::ZERO) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(errs)
        }
    }

    /// The state machine over this configuration.
    ///
    /// # Errors
    /// `line N: why` for a line the machine refuses.
    pub fn checker(&self, now: Instant) -> Result<Box<Checker<'_>>, String> {
        let mut hc: Box<Checker<'_>> = Box::default();
        for (line, s) in &self.services {
            hc.add_service(*s)
                .map_err(|e| format!("line {line}: {e}"))?;
        }
        for c in &self.checks {
            if hc.has_quorum(&c.service).is_none() {
                hc.add_service(ServiceHealth::new(c.service))
                    .map_err(|e| format!("line {}: {e}", c.line))?;
            }
            hc.add_server(
                ServerCheck {
                    service: c.service,
                    dest: c.dest,
                    target: c.target,
                    probe: c.probe.kind(),
                    timing: c.timing,
                    on_failure: c.on_failure,
                    initially_up: c.initially_up,
                },
                now,
            )
            .map_err(|e| format!("line {}: {e}", c.line))?;
        }
        Ok(hc)
    }
}

/// The checker lvsd runs: up to 64 services and 1024 servers, as lvsd's defaults.
pub type Checker<'a> = HealthChecker<'a, 64, 1024>;

/// The ipvsadm command for a director change.
fn op_line(op: &lvs_core::health::DirectorOp, cfg: &HealthConfig) -> String {
    use lvs_core::health::DirectorOp as Op;
    match *op {
        Op::SetWeight {
            service,
            addr,
            weight,
        } => {
            let base = cfg
                .checks
                .iter()
                .find(|c| c.service == service && c.dest.addr == addr)
                .map_or(
                    DestConfig::new(addr, lvs_core::FwdMethod::Masq, weight),
                    |c| c.dest,
                );
            let mut dest = base;
            dest.weight = weight;
            Rule::EditDest { service, dest }.to_string()
        }
        Op::AddDest { service, dest } => Rule::AddDest { service, dest }.to_string(),
        Op::RemoveDest { service, addr } => Rule::DelDest { service, addr }.to_string(),
    }
}

/// Starts `hook` (`sh -c`, with `LVS_SERVICE` and `LVS_EVENT` set) and returns at once; a
/// thread of its own waits for it and logs a failure.
pub fn run_hook(hook: &Hook) {
    let event = if hook.up { "quorum-up" } else { "quorum-down" };
    let child = std::process::Command::new("sh")
        .args(["-c", &hook.command])
        .env("LVS_SERVICE", service_text(&hook.service))
        .env("LVS_EVENT", event)
        .stdin(std::process::Stdio::null())
        .spawn();
    let what = format!("{event} hook (line {}): {}", hook.line, hook.command);
    match child {
        Ok(mut c) => {
            let _ = std::thread::Builder::new()
                .name("lvsd-hook".into())
                .spawn(move || match c.wait() {
                    Ok(st) if st.success() => {}
                    Ok(st) => eprintln!("lvsd: health: {what}: {st}"),
                    Err(e) => eprintln!("lvsd: health: {what}: {e}"),
                });
        }
        Err(e) => eprintln!("lvsd: health: {what}: {e}"),
    }
}

/// Starts the health thread: probes from this process (the director's network namespace),
/// each in its own short thread; changes go to the packet loop through `client`.
///
/// # Errors
/// The thread cannot start.
pub fn spawn(cfg: HealthConfig, client: Client, start: std::time::Instant) -> Result<(), String> {
    std::thread::Builder::new()
        .name("lvsd-health".into())
        .spawn(move || run(&cfg, &client, start))
        .map(drop)
        .map_err(|e| format!("health thread: {e}"))
}

fn run(cfg: &HealthConfig, client: &Client, start: std::time::Instant) {
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let Ok(mut hc) = cfg.checker(now()) else {
        return;
    };
    for c in &cfg.checks {
        if client
            .health(c.service, c.dest.addr, c.initially_up)
            .is_err()
        {
            return; // the loop is gone
        }
    }
    let (tx, rx) = mpsc::channel::<(ProbeId, Result<(), ProbeError>)>();
    let mut seed = u64::from(std::process::id()) ^ start.elapsed().as_nanos() as u64;
    loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let t = now();
        for p in hc.handle_timeout(t, seed) {
            let tx = tx.clone();
            let probe = cfg
                .checks
                .iter()
                .find(|c| c.service == p.service && c.dest.addr == p.server)
                .map(|c| c.probe.clone());
            let (target, id, timeout) = (p.target, p.id, p.timeout);
            let _ = std::thread::Builder::new()
                .name("lvsd-probe".into())
                .spawn(move || {
                    let r = match &probe {
                        Some(pr) => run_probe(pr, target, id, timeout),
                        None => Err(ProbeError::Answer),
                    };
                    let _ = tx.send((id, r));
                });
        }
        while let Some(o) = hc.poll_output() {
            match o {
                Output::Op(op) => {
                    let line = op_line(&op, cfg);
                    match client.command(&line) {
                        Ok((true, _)) => eprintln!("lvsd: health: {line}"),
                        Ok((false, e)) => eprintln!("lvsd: health: {line}: {}", e.trim_end()),
                        Err(_) => return, // the loop is gone
                    }
                }
                Output::Event(e) => {
                    eprintln!("lvsd: health: {e:?} at {} ms", now().total_millis());
                    if let HealthEvent::ServerDown { service, addr }
                    | HealthEvent::ServerUp { service, addr } = e
                    {
                        let up = matches!(e, HealthEvent::ServerUp { .. });
                        if client.health(service, addr, up).is_err() {
                            return;
                        }
                    }
                    let (service, up) = match e {
                        HealthEvent::QuorumGained { service } => (service, true),
                        HealthEvent::QuorumLost { service } => (service, false),
                        _ => continue,
                    };
                    for h in cfg
                        .hooks
                        .iter()
                        .filter(|h| h.service == service && h.up == up)
                    {
                        run_hook(h);
                    }
                }
            }
        }
        let wait = hc
            .poll_timeout()
            .map_or(1000, |d| {
                d.total_millis().saturating_sub(now().total_millis())
            })
            .min(1000);
        match rx.recv_timeout(std::time::Duration::from_millis(wait)) {
            Ok((id, r)) => {
                hc.probe_result(now(), id, r);
                while let Ok((id, r)) = rx.try_recv() {
                    hc.probe_result(now(), id, r);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod test;
