//! The health-check state machine.

use super::config::{HealthConfigError, OnFailure, ProbeKind, ServerCheck, ServiceHealth};
use crate::addr::{Endpoint, ServiceKey};
use crate::dest::DestConfig;
use crate::time::{Duration, Instant};

/// Names one probe the machine asked for; results carry it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(u32);

impl ProbeId {
    fn new(server: usize, seq: u16) -> Self {
        ProbeId(((server as u32) << 16) | u32::from(seq))
    }
    fn server(self) -> usize {
        (self.0 >> 16) as usize
    }
    fn seq(self) -> u16 {
        self.0 as u16
    }
    /// The raw value (for logs and maps).
    pub const fn to_bits(self) -> u32 {
        self.0
    }
    /// From [`ProbeId::to_bits`].
    pub const fn from_bits(bits: u32) -> Self {
        ProbeId(bits)
    }
}

/// Why a probe failed (for logs; every failure counts the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeError {
    /// No result within the timeout (the machine reports this itself).
    Timeout,
    /// The connection was refused or reset, or the host is unreachable.
    Connect,
    /// An HTTP status other than the expected one.
    Status(u16),
    /// The body's digest differs.
    Digest,
    /// A malformed or unexpected answer (HTTP, DNS), or a TLS failure.
    Answer,
    /// The command exited with this status (or could not run: `-1`).
    Exit(i32),
}

/// A probe to run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRequest<'a> {
    /// Pass it back to [`HealthChecker::probe_result`].
    pub id: ProbeId,
    /// The service.
    pub service: ServiceKey,
    /// The real server's address (as in the rules).
    pub server: Endpoint,
    /// Where the probe goes.
    pub target: Endpoint,
    /// What to do.
    pub probe: ProbeKind<'a>,
    /// Give up (and report nothing, or a failure) after this long; the machine counts a
    /// failure at the deadline anyway.
    pub timeout: Duration,
}

/// A change the director must make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorOp {
    /// Set a real server's weight (`ipvsadm -e ... -w`): 0 to quiesce, the configured weight
    /// to restore.
    SetWeight {
        /// The service.
        service: ServiceKey,
        /// The real server.
        addr: Endpoint,
        /// The new weight.
        weight: u32,
    },
    /// Add a real server (`ipvsadm -a`): a restored server removed on failure, or a sorry
    /// server.
    AddDest {
        /// The service.
        service: ServiceKey,
        /// The server.
        dest: DestConfig,
    },
    /// Remove a real server (`ipvsadm -d`).
    RemoveDest {
        /// The service.
        service: ServiceKey,
        /// The server.
        addr: Endpoint,
    },
}

/// Something that happened, for hooks and logs (keepalived's `notify_up`/`notify_down` and
/// `quorum_up`/`quorum_down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    /// A server went down (after `fall` failures).
    ServerDown {
        /// The service.
        service: ServiceKey,
        /// The server.
        addr: Endpoint,
    },
    /// A server came up (after `rise` successes).
    ServerUp {
        /// The service.
        service: ServiceKey,
        /// The server.
        addr: Endpoint,
    },
    /// The service's up weight fell below its quorum.
    QuorumLost {
        /// The service.
        service: ServiceKey,
    },
    /// The service has its quorum again.
    QuorumGained {
        /// The service.
        service: ServiceKey,
    },
}

/// What [`HealthChecker::poll_output`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Apply this to the director.
    Op(DirectorOp),
    /// Run hooks, log.
    Event(HealthEvent),
}

#[derive(Debug, Clone, Copy)]
struct Server<'a> {
    check: ServerCheck<'a>,
    svc: usize,
    up: bool,
    streak: u32,
    next_at: Instant,
    inflight: Option<(u16, Instant)>,
    seq: u16,
    /// The state the director was last told about (`true`: configured weight, present).
    applied_up: bool,
    event_due: bool,
}

#[derive(Debug, Clone, Copy)]
struct Svc {
    cfg: ServiceHealth,
    quorum: bool,
    applied_quorum: bool,
    event_due: bool,
}

/// Counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounters {
    /// Probes started.
    pub probes: u64,
    /// Failed probes, timeouts included.
    pub failures: u64,
    /// Probes that got no result in time.
    pub timeouts: u64,
    /// Results for no probe in flight (late, after the timeout, or unknown): ignored.
    pub stale_results: u64,
}

/// Health checks of up to `N` real servers in up to `S` services.
///
/// Sans-I/O: the caller asks [`HealthChecker::poll_timeout`] when to call
/// [`HealthChecker::handle_timeout`], which yields the probes to start; it runs them (own
/// thread, non-blocking sockets, a subprocess...) and feeds each result to
/// [`HealthChecker::probe_result`]; it applies what [`HealthChecker::poll_output`] returns to
/// the director. The machine reads no clock and draws no random numbers.
///
/// Servers start as their rules have them (present, with their configured weight); a server
/// with `initially_up: false` is taken down at once.
///
/// ```
/// use lvs_core::health::*;
/// use lvs_core::{DestConfig, Duration, Endpoint, FwdMethod, Instant, Protocol, ServiceKey};
/// let svc = ServiceKey::Addr { proto: Protocol::Tcp, vip: Endpoint::v4([198, 18, 0, 1], 80) };
/// let rs = Endpoint::v4([198, 18, 1, 1], 80);
/// let mut hc: HealthChecker<'_, 4, 16> = HealthChecker::new();
/// hc.add_service(ServiceHealth::new(svc)).unwrap();
/// let timing = Timing { interval: Duration::from_secs(1), timeout: Duration::from_millis(500),
///                       rise: 1, fall: 2, jitter: Duration::ZERO };
/// hc.add_server(ServerCheck { service: svc, dest: DestConfig::new(rs, FwdMethod::Masq, 5),
///     target: rs, probe: ProbeKind::Tcp, timing, on_failure: OnFailure::Quiesce,
///     initially_up: true }, Instant::ZERO).unwrap();
/// // two failed probes take it down: weight 0
/// for s in 0..2 {
///     let now = Instant::from_secs(s);
///     let p = hc.handle_timeout(now, 0).next().unwrap();
///     hc.probe_result(now, p.id, Err(ProbeError::Connect));
/// }
/// assert_eq!(hc.poll_output(), Some(Output::Op(DirectorOp::SetWeight { service: svc, addr: rs, weight: 0 })));
/// assert_eq!(hc.poll_output(), Some(Output::Event(HealthEvent::ServerDown { service: svc, addr: rs })));
/// assert_eq!(hc.poll_output(), Some(Output::Event(HealthEvent::QuorumLost { service: svc })));
/// assert_eq!(hc.poll_output(), None);
/// assert_eq!(hc.poll_timeout(), Some(Instant::from_secs(2)));
/// ```
#[derive(Debug, Clone)]
pub struct HealthChecker<'a, const S: usize, const N: usize> {
    services: heapless::Vec<Svc, S>,
    servers: heapless::Vec<Server<'a>, N>,
    counters: HealthCounters,
}

impl<'a, const S: usize, const N: usize> Default for HealthChecker<'a, S, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, const S: usize, const N: usize> HealthChecker<'a, S, N> {
    /// No services, no servers.
    pub const fn new() -> Self {
        HealthChecker {
            services: heapless::Vec::new(),
            servers: heapless::Vec::new(),
            counters: HealthCounters {
                probes: 0,
                failures: 0,
                timeouts: 0,
                stale_results: 0,
            },
        }
    }

    /// Adds a service's pool settings.
    ///
    /// # Errors
    /// [`HealthConfigError::HysteresisOverQuorum`], [`HealthConfigError::DuplicateService`],
    /// [`HealthConfigError::Full`].
    pub fn add_service(&mut self, cfg: ServiceHealth) -> Result<(), HealthConfigError> {
        if cfg.hysteresis > cfg.quorum {
            return Err(HealthConfigError::HysteresisOverQuorum);
        }
        if self.services.iter().any(|s| s.cfg.key == cfg.key) {
            return Err(HealthConfigError::DuplicateService);
        }
        self.services
            .push(Svc {
                cfg,
                quorum: cfg.quorum == 0,
                applied_quorum: true,
                event_due: false,
            })
            .map_err(|_| HealthConfigError::Full)
    }

    /// Adds a server's check; its first probe is due at `now`.
    ///
    /// # Errors
    /// The timing's or probe's problem, [`HealthConfigError::UnknownService`],
    /// [`HealthConfigError::DuplicateServer`], [`HealthConfigError::SorryIsRealServer`],
    /// [`HealthConfigError::Full`].
    pub fn add_server(
        &mut self,
        check: ServerCheck<'a>,
        now: Instant,
    ) -> Result<(), HealthConfigError> {
        check.timing.validate()?;
        check.probe.validate()?;
        let svc = self
            .services
            .iter()
            .position(|s| s.cfg.key == check.service)
            .ok_or(HealthConfigError::UnknownService)?;
        if self.services[svc]
            .cfg
            .sorry
            .is_some_and(|d| d.addr == check.dest.addr)
        {
            return Err(HealthConfigError::SorryIsRealServer);
        }
        if self
            .servers
            .iter()
            .any(|s| s.svc == svc && s.check.dest.addr == check.dest.addr)
        {
            return Err(HealthConfigError::DuplicateServer);
        }
        if self.servers.len() >= N.min(1 << 16) {
            return Err(HealthConfigError::Full);
        }
        let _ = self.servers.push(Server {
            check,
            svc,
            up: check.initially_up,
            streak: 0,
            next_at: now,
            inflight: None,
            seq: 0,
            applied_up: true,
            event_due: false,
        });
        self.update_quorum(svc);
        Ok(())
    }

    /// The earliest time [`HealthChecker::handle_timeout`] has work: a probe due or a probe's
    /// deadline. `None` without servers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.servers
            .iter()
            .map(|s| match s.inflight {
                Some((_, deadline)) => deadline,
                None => s.next_at,
            })
            .min()
    }

    /// Counts the probes past their deadline as failures, and returns the probes to start
    /// now. Each one yielded is in flight from then on; one not taken stays due. `random`
    /// (any value, fresh per call) spreads the next intervals by each check's jitter.
    pub fn handle_timeout(&mut self, now: Instant, random: u64) -> Due<'_, 'a, S, N> {
        for i in 0..self.servers.len() {
            if let Some((_, deadline)) = self.servers[i].inflight {
                if deadline <= now {
                    self.servers[i].inflight = None;
                    self.counters.timeouts += 1;
                    self.record(i, false);
                }
            }
        }
        Due {
            hc: self,
            now,
            rng: random | 1,
            next: 0,
        }
    }

    /// A probe's result. Returns whether it was taken: a result after the probe's deadline
    /// (already counted as a failure), or for no probe in flight, is ignored.
    pub fn probe_result(
        &mut self,
        now: Instant,
        id: ProbeId,
        result: Result<(), ProbeError>,
    ) -> bool {
        let i = id.server();
        let Some(s) = self.servers.get_mut(i) else {
            self.counters.stale_results += 1;
            return false;
        };
        match s.inflight {
            Some((seq, deadline)) if seq == id.seq() && now <= deadline => {
                s.inflight = None;
                self.record(i, result.is_ok());
                true
            }
            _ => {
                self.counters.stale_results += 1;
                false
            }
        }
    }

    fn record(&mut self, i: usize, ok: bool) {
        let s = &mut self.servers[i];
        if !ok {
            self.counters.failures += 1;
        }
        let timing = s.check.timing;
        let changed = match (s.up, ok) {
            (true, true) | (false, false) => {
                s.streak = 0;
                false
            }
            (true, false) => {
                s.streak += 1;
                s.streak >= timing.fall
            }
            (false, true) => {
                s.streak += 1;
                s.streak >= timing.rise
            }
        };
        if changed {
            s.up = !s.up;
            s.streak = 0;
            let svc = s.svc;
            self.update_quorum(svc);
        }
    }

    fn update_quorum(&mut self, svc: usize) {
        let alive: u64 = self
            .servers
            .iter()
            .filter(|s| s.svc == svc && s.up)
            .map(|s| u64::from(s.check.dest.weight))
            .sum();
        let q = &mut self.services[svc];
        let (quorum, hyst) = (u64::from(q.cfg.quorum), u64::from(q.cfg.hysteresis));
        if q.quorum && alive < quorum.saturating_sub(hyst) {
            q.quorum = false;
        } else if !q.quorum && alive >= quorum + hyst {
            q.quorum = true;
        }
    }

    /// The next change for the director or event, until `None`. Server changes come before
    /// the service changes they cause (a sorry server is added after the last server went,
    /// removed after the first came back). A server that went down and up again between two
    /// polls yields nothing.
    pub fn poll_output(&mut self) -> Option<Output> {
        for s in self.servers.iter_mut() {
            let service = s.check.service;
            let addr = s.check.dest.addr;
            if s.applied_up != s.up {
                s.applied_up = s.up;
                s.event_due = true;
                let op = match (s.up, s.check.on_failure) {
                    (false, OnFailure::Quiesce) => DirectorOp::SetWeight {
                        service,
                        addr,
                        weight: 0,
                    },
                    (true, OnFailure::Quiesce) => DirectorOp::SetWeight {
                        service,
                        addr,
                        weight: s.check.dest.weight,
                    },
                    (false, OnFailure::Remove) => DirectorOp::RemoveDest { service, addr },
                    (true, OnFailure::Remove) => DirectorOp::AddDest {
                        service,
                        dest: s.check.dest,
                    },
                };
                return Some(Output::Op(op));
            }
            if s.event_due {
                s.event_due = false;
                return Some(Output::Event(if s.up {
                    HealthEvent::ServerUp { service, addr }
                } else {
                    HealthEvent::ServerDown { service, addr }
                }));
            }
        }
        for q in self.services.iter_mut() {
            let service = q.cfg.key;
            if q.applied_quorum != q.quorum {
                q.applied_quorum = q.quorum;
                q.event_due = true;
                if let Some(dest) = q.cfg.sorry {
                    return Some(Output::Op(if q.quorum {
                        DirectorOp::RemoveDest {
                            service,
                            addr: dest.addr,
                        }
                    } else {
                        DirectorOp::AddDest { service, dest }
                    }));
                }
            }
            if q.event_due {
                q.event_due = false;
                return Some(Output::Event(if q.quorum {
                    HealthEvent::QuorumGained { service }
                } else {
                    HealthEvent::QuorumLost { service }
                }));
            }
        }
        None
    }

    /// Every checked server: its check and whether it is up.
    pub fn servers(&self) -> impl Iterator<Item = (&ServerCheck<'a>, bool)> + '_ {
        self.servers.iter().map(|s| (&s.check, s.up))
    }

    /// Whether `addr` in `service` is up (`None`: not checked).
    pub fn is_up(&self, service: &ServiceKey, addr: &Endpoint) -> Option<bool> {
        self.servers
            .iter()
            .find(|s| s.check.service == *service && s.check.dest.addr == *addr)
            .map(|s| s.up)
    }

    /// Whether `service` has its quorum (`None`: not configured).
    pub fn has_quorum(&self, service: &ServiceKey) -> Option<bool> {
        self.services
            .iter()
            .find(|q| q.cfg.key == *service)
            .map(|q| q.quorum)
    }

    /// The counters.
    pub fn counters(&self) -> HealthCounters {
        self.counters
    }
}

/// The probes due now; see [`HealthChecker::handle_timeout`].
#[derive(Debug)]
pub struct Due<'h, 'a, const S: usize, const N: usize> {
    hc: &'h mut HealthChecker<'a, S, N>,
    now: Instant,
    rng: u64,
    next: usize,
}

impl<'a, const S: usize, const N: usize> Iterator for Due<'_, 'a, S, N> {
    type Item = ProbeRequest<'a>;

    fn next(&mut self) -> Option<ProbeRequest<'a>> {
        while self.next < self.hc.servers.len() {
            let i = self.next;
            self.next += 1;
            let s = &mut self.hc.servers[i];
            if s.inflight.is_some() || s.next_at > self.now {
                continue;
            }
            // xorshift64: a different jitter for every probe of this call
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let t = s.check.timing;
            let jitter = self.rng % (t.jitter.total_millis() + 1);
            s.seq = s.seq.wrapping_add(1);
            s.inflight = Some((s.seq, self.now + t.timeout));
            s.next_at = self.now + Duration::from_millis(t.interval.total_millis() - jitter);
            self.hc.counters.probes += 1;
            return Some(ProbeRequest {
                id: ProbeId::new(i, s.seq),
                service: s.check.service,
                server: s.check.dest.addr,
                target: s.check.target,
                probe: s.check.probe,
                timeout: t.timeout,
            });
        }
        None
    }
}
