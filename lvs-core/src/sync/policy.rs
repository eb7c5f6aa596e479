//! When a master sends a connection: `ip_vs_sync_conn_needed` and the rules of its callers in
//! `ip_vs_sync.c`, `ip_vs_core.c` and `ip_vs_conn.c`, as pure functions of the facts the kernel
//! reads. The connection table keeps one [`SyncTrack`] per entry (the kernel's `old_state` and
//! `sync_endtime`) and stores back the one each decision returns.

use super::{conn_flags, sctp_state, tcp_state, SyncVersion};
use crate::addr::{AddrFamily, Protocol};
use crate::time::{Duration, Instant};
use core::fmt;

/// The master's sync sysctls (`net.ipv4.vs.sync_*`).
///
/// The kernel's defaults are [`SyncPolicy::DEFAULT`]: `sync_threshold = 3 50`,
/// `sync_refresh_period = 0`, `sync_retries = 0`, `sync_persist_mode = 0`, `sync_version = 1`.
/// Time is in milliseconds, as jiffies at HZ=1000.
///
/// # The decision (`ip_vs_sync_conn_needed`)
/// With `pkts` the connection's input-packet count
/// (see [`pkts_for_packet`](Self::pkts_for_packet)):
/// 1. A template (`IP_VS_CONN_F_TEMPLATE`) is never forced. Otherwise, with `persist_mode`, a
///    connection controlled by a template is never sent (the template is). A TCP connection is
///    considered only in ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT and TIME_WAIT, an SCTP one
///    only in ESTABLISHED, SHUTDOWN_SENT, SHUTDOWN_RECEIVED, SHUTDOWN_ACK_SENT and CLOSED; in
///    those states a change since the last sent state *forces* a send, at once unless the new
///    state is ESTABLISHED. Other protocols have one state and are never forced.
/// 2. With a refresh period, a connection whose announced expiry (`sync_endtime`, the expiry
///    the last sync implied) differs from `now + timeout` by less than
///    `min(refresh_period, max(timeout / 2, 10 s))` was synced recently: it is resent only as
///    one of `retries` retries (counted in the low two bits of `sync_endtime`) and only once
///    `refresh_period / 8` has passed since the last send.
/// 3. With a period, a non-template is sent only when `pkts % period == threshold`; templates
///    pass. Without period and without refresh period, only when `pkts == threshold`.
/// 4. A send records the state as the last sent one and the new expiry (and retry count).
///
/// Before that, `ip_vs_sync_conn` never sends a one-packet connection (`IP_VS_CONN_F_ONE_PACKET`)
/// itself, and version 0 sends only IPv4 connections ([`decide`](Self::decide)). After it, the
/// connection's controller, if any, goes through the same decision
/// ([`sync_controller`](Self::sync_controller),
/// [`pkts_for_controller`](Self::pkts_for_controller),
/// [`decide_controller`](Self::decide_controller)); that is how
/// persistence templates are sent along with the connections they control.
///
/// ```
/// use lvs_core::addr::{AddrFamily, Protocol};
/// use lvs_core::sync::{tcp_state, SyncFacts, SyncPolicy, SyncTrack};
/// use lvs_core::time::{Duration, Instant};
/// let policy = SyncPolicy::DEFAULT;
/// let t0 = Instant::from_secs(100);
/// let mut track = SyncTrack::new(t0);
/// let mut facts = SyncFacts {
///     family: AddrFamily::Ipv4,
///     protocol: Protocol::Tcp,
///     state: tcp_state::ESTABLISHED,
///     flags: 0,
///     pkts: 0,
///     timeout: Duration::from_secs(900),
///     in_persistence: false,
/// };
/// let mut sent = Vec::new();
/// for pkts in 1..=110 {
///     facts.pkts = pkts;
///     let d = policy.decide(&facts, track, t0);
///     track = d.track;
///     if d.send {
///         sent.push(pkts);
///     }
/// }
/// assert_eq!(sent, [3, 53, 103]); // pkts % 50 == 3
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SyncPolicy {
    threshold: u32,
    period: u32,
    refresh_period: Duration,
    retries: u8,
    persist_mode: bool,
    version: SyncVersion,
}

/// A rejected sync setting (the kernel refuses the sysctl write with `EINVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncPolicyError {
    /// `sync_threshold` must have `threshold < period` unless `period` is 0, and both must fit
    /// a C `int`.
    Threshold {
        /// The threshold.
        threshold: u32,
        /// The period.
        period: u32,
    },
    /// `sync_retries` must be 0..=3.
    Retries(u8),
}

impl fmt::Display for SyncPolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SyncPolicyError::Threshold { threshold, period } => write!(
                f,
                "sync threshold {threshold} must be below the period {period} (or the period 0)"
            ),
            SyncPolicyError::Retries(r) => write!(f, "sync retries {r} is outside 0..=3"),
        }
    }
}

impl core::error::Error for SyncPolicyError {}

/// What the kernel reads from a connection when it decides whether to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncFacts {
    /// Address family of the connection.
    pub family: AddrFamily,
    /// Protocol.
    pub protocol: Protocol,
    /// Current state (`cp->state`).
    pub state: u16,
    /// Connection flags (`IP_VS_CONN_F_*`).
    pub flags: u32,
    /// The packet count passed down (`pkts`), from [`SyncPolicy::pkts_for_packet`] or
    /// [`SyncPolicy::pkts_for_controller`]. Interpreted as the kernel's C `int`.
    pub pkts: u32,
    /// Current timeout (`cp->timeout`).
    pub timeout: Duration,
    /// Whether a template controls the connection, directly or through its controller chain
    /// (`in_persistence`); only read with `sync_persist_mode`.
    pub in_persistence: bool,
}

/// The per-connection sync bookkeeping: the state last sent (`cp->old_state`) and
/// `cp->sync_endtime`, the expiry announced by the last send in milliseconds with the retry
/// count in its two low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncTrack {
    old_state: u16,
    endtime: u64,
}

impl SyncTrack {
    /// The bookkeeping of a connection created at `created`: last sent state 0 (NONE) and
    /// `sync_endtime = created & !3`, as `ip_vs_conn_new`.
    pub const fn new(created: Instant) -> Self {
        SyncTrack {
            old_state: 0,
            endtime: created.total_millis() & !3,
        }
    }

    /// Bookkeeping from raw values.
    pub const fn from_parts(old_state: u16, sync_endtime: u64) -> Self {
        SyncTrack {
            old_state,
            endtime: sync_endtime,
        }
    }

    /// The state last sent (or received, on a backup).
    pub const fn old_state(self) -> u16 {
        self.old_state
    }

    /// The raw `sync_endtime` in milliseconds, retry count in the low two bits.
    pub const fn sync_endtime(self) -> u64 {
        self.endtime
    }

    /// Retries sent since the last full refresh (0..=3).
    pub const fn retries(self) -> u8 {
        (self.endtime & 3) as u8
    }

    /// The expiry the last send announced.
    pub const fn announced_expiry(self) -> Instant {
        Instant::from_millis(self.endtime & !3)
    }

    /// The bookkeeping after a backup stored `state` from a sync record (`cp->old_state =
    /// cp->state` in `ip_vs_proc_conn`), so a backup that becomes master does not resend it.
    pub const fn received(self, state: u16) -> Self {
        SyncTrack {
            old_state: state,
            endtime: self.endtime,
        }
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "store `track` back into the connection"]
pub struct SyncDecision {
    /// Whether to append the connection to the current sync message.
    pub send: bool,
    /// The bookkeeping to store back (changed only when `send`).
    pub track: SyncTrack,
}

/// `time_before(a, b)` on wrapping millisecond counters.
const fn time_before(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

/// Whether `state` is one of those in which `ip_vs_sync_conn_needed` considers a connection of
/// a multi-state protocol (`mask` has bit `s` set for each).
const fn state_in(state: u16, mask: u32) -> bool {
    state < 32 && (1u32 << state) & mask != 0
}

const TCP_SYNC_STATES: u32 = (1 << tcp_state::ESTABLISHED)
    | (1 << tcp_state::FIN_WAIT)
    | (1 << tcp_state::CLOSE)
    | (1 << tcp_state::CLOSE_WAIT)
    | (1 << tcp_state::TIME_WAIT);

const SCTP_SYNC_STATES: u32 = (1 << sctp_state::ESTABLISHED)
    | (1 << sctp_state::SHUTDOWN_SENT)
    | (1 << sctp_state::SHUTDOWN_RECEIVED)
    | (1 << sctp_state::SHUTDOWN_ACK_SENT)
    | (1 << sctp_state::CLOSED);

/// The minimum of the refresh window's half-timeout bound (`10UL * HZ`).
const MIN_REFRESH_DIFF_MS: u64 = 10_000;

impl SyncPolicy {
    /// The kernel defaults: threshold 3, period 50, no refresh period, no retries, no persist
    /// mode, version 1.
    pub const DEFAULT: SyncPolicy = SyncPolicy {
        threshold: 3,
        period: 50,
        refresh_period: Duration::ZERO,
        retries: 0,
        persist_mode: false,
        version: SyncVersion::V1,
    };

    /// A policy with `sync_threshold = threshold period` and the other defaults.
    ///
    /// # Errors
    /// [`SyncPolicyError::Threshold`] unless `threshold < period` or `period == 0`, both fitting
    /// an `i32`.
    pub const fn new(threshold: u32, period: u32) -> Result<Self, SyncPolicyError> {
        if threshold > i32::MAX as u32
            || period > i32::MAX as u32
            || (period != 0 && threshold >= period)
        {
            return Err(SyncPolicyError::Threshold { threshold, period });
        }
        let mut p = Self::DEFAULT;
        p.threshold = threshold;
        p.period = period;
        Ok(p)
    }

    /// Sets `sync_refresh_period` (zero disables it).
    pub const fn with_refresh_period(mut self, refresh_period: Duration) -> Self {
        self.refresh_period = refresh_period;
        self
    }

    /// Sets `sync_retries`.
    ///
    /// # Errors
    /// [`SyncPolicyError::Retries`] if `retries > 3`.
    pub const fn with_retries(mut self, retries: u8) -> Result<Self, SyncPolicyError> {
        if retries > 3 {
            return Err(SyncPolicyError::Retries(retries));
        }
        self.retries = retries;
        Ok(self)
    }

    /// Sets `sync_persist_mode`: send templates but not the connections they control.
    pub const fn with_persist_mode(mut self, on: bool) -> Self {
        self.persist_mode = on;
        self
    }

    /// Sets `sync_version`.
    pub const fn with_version(mut self, version: SyncVersion) -> Self {
        self.version = version;
        self
    }

    /// `sync_threshold[0]`.
    pub const fn threshold(&self) -> u32 {
        self.threshold
    }

    /// `sync_threshold[1]`.
    pub const fn period(&self) -> u32 {
        self.period
    }

    /// `sync_refresh_period`.
    pub const fn refresh_period(&self) -> Duration {
        self.refresh_period
    }

    /// `sync_retries`.
    pub const fn retries(&self) -> u8 {
        self.retries
    }

    /// `sync_persist_mode`.
    pub const fn persist_mode(&self) -> bool {
        self.persist_mode
    }

    /// `sync_version`.
    pub const fn version(&self) -> SyncVersion {
        self.version
    }

    /// The `pkts` a master passes for a packet that just went through a connection
    /// (`ip_vs_in_hook`): the threshold for a one-packet connection, otherwise the
    /// connection's input-packet count after counting this packet.
    ///
    /// A one-packet connection's controller still counts the packet: increment the
    /// controller's count (inside the sync walk on a master, directly otherwise).
    pub const fn pkts_for_packet(&self, flags: u32, in_pkts_after_increment: u32) -> u32 {
        if flags & conn_flags::ONE_PACKET != 0 {
            self.threshold
        } else {
            in_pkts_after_increment
        }
    }

    /// The `pkts` for a connection's controller in the sync walk: a template's own input-packet
    /// count after incrementing it (the walk counts the packet against the template), the
    /// threshold for any other controller.
    pub const fn pkts_for_controller(
        &self,
        controller_flags: u32,
        template_in_pkts_after_increment: u32,
    ) -> u32 {
        if controller_flags & conn_flags::TEMPLATE != 0 {
            template_in_pkts_after_increment
        } else {
            self.threshold
        }
    }

    /// The `pkts` for a connection whose expiry was postponed because it still controls others
    /// (`ip_vs_conn_expire`, "expire_later": the timeout becomes 60 s and the entry is offered
    /// for sync): the threshold.
    pub const fn pkts_for_expire_later(&self) -> u32 {
        self.threshold
    }

    /// Whether the walk continues with the controller after deciding for a connection:
    /// version 1 always does, version 0 only after the connection was sent.
    pub const fn sync_controller(&self, sent: bool) -> bool {
        match self.version {
            SyncVersion::V1 => true,
            SyncVersion::V0 => sent,
        }
    }

    /// `ip_vs_sync_conn` for a connection reached directly (from a packet or an expiry): no
    /// send for a one-packet connection, nor for a non-IPv4 one under version 0; otherwise
    /// [`conn_needed`](Self::conn_needed).
    pub fn decide(&self, facts: &SyncFacts, track: SyncTrack, now: Instant) -> SyncDecision {
        let skip = facts.flags & conn_flags::ONE_PACKET != 0
            || (matches!(self.version, SyncVersion::V0)
                && !matches!(facts.family, AddrFamily::Ipv4));
        if skip {
            return SyncDecision { send: false, track };
        }
        self.conn_needed(facts, track, now)
    }

    /// The decision for a controller reached by the walk: version 1 jumps straight to
    /// [`conn_needed`](Self::conn_needed), version 0 re-enters [`decide`](Self::decide).
    pub fn decide_controller(
        &self,
        facts: &SyncFacts,
        track: SyncTrack,
        now: Instant,
    ) -> SyncDecision {
        match self.version {
            SyncVersion::V1 => self.conn_needed(facts, track, now),
            SyncVersion::V0 => self.decide(facts, track, now),
        }
    }

    /// `ip_vs_sync_conn_needed`, step for step (see the type documentation). Jiffies
    /// arithmetic is reproduced with wrapping millisecond counters.
    pub fn conn_needed(&self, facts: &SyncFacts, track: SyncTrack, now: Instant) -> SyncDecision {
        let no = SyncDecision { send: false, track };
        let orig = track.endtime;
        let now_ms = now.total_millis();
        let timeout = facts.timeout.total_millis();
        let mut n = now_ms.wrapping_add(timeout) & !3;
        let template = facts.flags & conn_flags::TEMPLATE != 0;

        if !template {
            if self.persist_mode && facts.in_persistence {
                return no;
            }
            let multi_state = match facts.protocol {
                Protocol::Tcp => Some((TCP_SYNC_STATES, tcp_state::ESTABLISHED)),
                Protocol::Sctp => Some((SCTP_SYNC_STATES, sctp_state::ESTABLISHED)),
                _ => None,
            };
            if let Some((mask, established)) = multi_state {
                if !state_in(facts.state, mask) {
                    return no;
                }
                // A state change is forced out at once, unless the new state is ESTABLISHED,
                // which still passes the rate checks below.
                if facts.state != track.old_state && facts.state != established {
                    return Self::set(facts, n);
                }
            }
        }

        let refresh = self.refresh_period.total_millis();
        if refresh > 0 {
            let diff = n.wrapping_sub(orig) as i64;
            let min_diff = (timeout >> 1).max(MIN_REFRESH_DIFF_MS);
            if diff.unsigned_abs() < refresh.min(min_diff) {
                let retries = orig & 3;
                if retries >= u64::from(self.retries) {
                    return no;
                }
                if time_before(
                    now_ms,
                    orig.wrapping_sub(timeout).wrapping_add(refresh >> 3),
                ) {
                    return no;
                }
                n |= retries + 1;
            }
        }

        // The kernel's `pkts` and sysctls are C ints; `new` keeps both sysctls in range.
        let pkts = facts.pkts as i32;
        let threshold = self.threshold as i32;
        if self.period > 0 {
            if !template && pkts % (self.period as i32) != threshold {
                return no;
            }
        } else if refresh == 0 && pkts != threshold {
            return no;
        }
        Self::set(facts, n)
    }

    /// The `set:` label: remember the state and the expiry. The kernel returns
    /// `cmpxchg(..) == orig || force`; with one writer the exchange always succeeds, so the
    /// connection is sent whether or not it was forced.
    fn set(facts: &SyncFacts, n: u64) -> SyncDecision {
        SyncDecision {
            send: true,
            track: SyncTrack {
                old_state: facts.state,
                endtime: n,
            },
        }
    }
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}
