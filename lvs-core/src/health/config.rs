//! What a health check is: the probe, its timing, and what a failure does; and their checks.

use crate::addr::{Endpoint, ServiceKey};
use crate::dest::DestConfig;
use crate::time::Duration;
use core::fmt;

/// How a real server is probed. The machine does not run probes; it hands these to the
/// caller, which runs them from the director toward the server and reports the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind<'a> {
    /// A TCP connection to the target is accepted (keepalived's `TCP_CHECK`).
    Tcp,
    /// `GET path` over HTTP, or HTTPS with `tls` (keepalived's `HTTP_GET`/`SSL_GET`): the
    /// response has status `status`, and, with `digest`, a body whose MD5 is that digest.
    Http {
        /// Request path (`/health`).
        path: &'a str,
        /// The `Host` header; `None`: the target address.
        host: Option<&'a str>,
        /// The expected status code (100..=599).
        status: u16,
        /// MD5 of the expected body, as keepalived's `digest`.
        digest: Option<[u8; 16]>,
        /// Over TLS.
        tls: bool,
    },
    /// A DNS query for `name` over UDP (keepalived's `DNS_CHECK`): any answer with the query's
    /// ID and RCODE 0 is a success.
    Dns {
        /// The name asked for (`example.org`).
        name: &'a str,
        /// The query type (1 = A, 28 = AAAA).
        qtype: u16,
    },
    /// A TLS handshake with the target completes: the service speaks TLS, whatever runs over
    /// it. Which certificates pass is the caller's policy (none checked, as keepalived's
    /// `SSL_GET`, or a chain to a CA).
    Tls {
        /// The name sent as SNI (and matched by a verified certificate); `None`: the target
        /// address.
        server_name: Option<&'a str>,
    },
    /// An external command (keepalived's `MISC_CHECK`): exit status 0 is a success.
    Command {
        /// The command line, run by a shell.
        command: &'a str,
    },
}

/// When a server is probed and how many results change its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    /// Time between the starts of two probes (keepalived's `delay_loop`).
    pub interval: Duration,
    /// A probe without a result after this long has failed (`connect_timeout`).
    pub timeout: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down (`retry`).
    pub fall: u32,
    /// Each interval is shortened by up to this much, by the caller's random value, so that
    /// servers configured alike are not probed in lock step. Intervals only shrink, so a
    /// failure is still detected within `fall * interval + timeout`.
    pub jitter: Duration,
}

impl Timing {
    /// 2 s interval, 1 s timeout, rise 2, fall 3, no jitter.
    pub const DEFAULT: Timing = Timing {
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
        jitter: Duration::ZERO,
    };

    /// Checks the timing.
    ///
    /// # Errors
    /// The first problem: a zero count or duration, a timeout longer than the interval, a
    /// jitter not shorter than the interval.
    ///
    /// ```
    /// use lvs_core::health::{HealthConfigError, Timing};
    /// use lvs_core::Duration;
    /// let t = Timing { timeout: Duration::from_secs(5), ..Timing::DEFAULT };
    /// assert_eq!(t.validate(), Err(HealthConfigError::TimeoutOverInterval));
    /// assert_eq!(Timing { rise: 0, ..Timing::DEFAULT }.validate(), Err(HealthConfigError::ZeroRise));
    /// ```
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        use HealthConfigError as E;
        if self.interval == Duration::ZERO {
            return Err(E::ZeroInterval);
        }
        if self.timeout == Duration::ZERO {
            return Err(E::ZeroTimeout);
        }
        if self.timeout > self.interval {
            return Err(E::TimeoutOverInterval);
        }
        if self.rise == 0 {
            return Err(E::ZeroRise);
        }
        if self.fall == 0 {
            return Err(E::ZeroFall);
        }
        if self.jitter >= self.interval {
            return Err(E::JitterNotBelowInterval);
        }
        Ok(())
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing::DEFAULT
    }
}

/// What a failed server becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnFailure {
    /// Weight 0: no new connections, established ones continue (keepalived's
    /// `inhibit_on_failure`).
    #[default]
    Quiesce,
    /// Removed from the service (keepalived's default); its connections go on or not as the
    /// director's `expire_nodest_conn` says.
    Remove,
}

/// One real server's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerCheck<'a> {
    /// The service the server belongs to (added with [`ServiceHealth`] first).
    pub service: ServiceKey,
    /// The server as the rules configure it; a rise restores this (its weight).
    pub dest: DestConfig,
    /// Where probes go (usually `dest.addr`; another port for a separate health port).
    pub target: Endpoint,
    /// The probe.
    pub probe: ProbeKind<'a>,
    /// Its timing.
    pub timing: Timing,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Whether the server counts as up before any probe (keepalived's default); `false` is
    /// keepalived's `alpha` mode: down until `rise` successes.
    pub initially_up: bool,
}

/// A service's pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceHealth {
    /// The service.
    pub key: ServiceKey,
    /// The least total weight of up servers for the service to have quorum (keepalived's
    /// `quorum`, 1 by default: at least one server up with a weight).
    pub quorum: u32,
    /// Quorum is lost below `quorum - hysteresis` and regained at `quorum + hysteresis`.
    pub hysteresis: u32,
    /// Added while the service lacks quorum, removed when it regains it (keepalived's
    /// `sorry_server`).
    pub sorry: Option<DestConfig>,
}

impl ServiceHealth {
    /// Quorum 1, no hysteresis, no sorry server.
    pub const fn new(key: ServiceKey) -> Self {
        ServiceHealth {
            key,
            quorum: 1,
            hysteresis: 0,
            sorry: None,
        }
    }
}

/// A health-check configuration that makes no sense, or does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthConfigError {
    /// `rise` is 0.
    ZeroRise,
    /// `fall` is 0.
    ZeroFall,
    /// The interval is 0.
    ZeroInterval,
    /// The timeout is 0.
    ZeroTimeout,
    /// The timeout is longer than the interval.
    TimeoutOverInterval,
    /// The jitter is not shorter than the interval.
    JitterNotBelowInterval,
    /// An HTTP status outside 100..=599.
    BadStatus,
    /// An empty HTTP path, DNS name, TLS server name or command.
    EmptyProbeArgument,
    /// A hysteresis larger than the quorum.
    HysteresisOverQuorum,
    /// A server whose service was not added.
    UnknownService,
    /// The service is already there.
    DuplicateService,
    /// The server is already checked in that service.
    DuplicateServer,
    /// The sorry server is also one of the service's real servers.
    SorryIsRealServer,
    /// No room for another service or server.
    Full,
}

impl fmt::Display for HealthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HealthConfigError::*;
        f.write_str(match self {
            ZeroRise => "rise must be at least 1",
            ZeroFall => "fall must be at least 1",
            ZeroInterval => "the interval must not be 0",
            ZeroTimeout => "the timeout must not be 0",
            TimeoutOverInterval => "the timeout is longer than the interval",
            JitterNotBelowInterval => "the jitter must be shorter than the interval",
            BadStatus => "the expected HTTP status must be 100..=599",
            EmptyProbeArgument => "empty HTTP path, DNS name, TLS server name or command",
            HysteresisOverQuorum => "the hysteresis is larger than the quorum",
            UnknownService => "no health settings for this server's service",
            DuplicateService => "the service already has health settings",
            DuplicateServer => "the server is already checked in this service",
            SorryIsRealServer => "the sorry server is one of the service's real servers",
            Full => "no room for another service or server",
        })
    }
}

impl core::error::Error for HealthConfigError {}

impl ProbeKind<'_> {
    /// Checks the probe's parameters.
    ///
    /// # Errors
    /// [`HealthConfigError::BadStatus`] or [`HealthConfigError::EmptyProbeArgument`].
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        match *self {
            ProbeKind::Tcp => Ok(()),
            ProbeKind::Http { path, status, .. } => {
                if !(100..=599).contains(&status) {
                    Err(HealthConfigError::BadStatus)
                } else if path.is_empty() {
                    Err(HealthConfigError::EmptyProbeArgument)
                } else {
                    Ok(())
                }
            }
            ProbeKind::Dns { name: "", .. }
            | ProbeKind::Tls {
                server_name: Some(""),
            } => Err(HealthConfigError::EmptyProbeArgument),
            ProbeKind::Command { command } if command.trim().is_empty() => {
                Err(HealthConfigError::EmptyProbeArgument)
            }
            _ => Ok(()),
        }
    }
}
