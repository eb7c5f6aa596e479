//! Health checks of real servers, sans-I/O: keepalived's checker logic as a state machine that
//! reads no clock, opens no socket and emits director operations as values.
//!
//! Per real server a [`ServerCheck`]: the probe ([`ProbeKind`]: TCP connect, HTTP(S) GET with
//! an expected status and optional body digest, a TLS handshake, a DNS query, an external
//! command), its
//! [`Timing`] (interval, timeout, rise and fall counts, jitter) and what a failure does
//! ([`OnFailure`]: quiesce to weight 0 keeping established flows, keepalived's
//! `inhibit_on_failure`, or remove). Per service a [`ServiceHealth`]: a quorum of up weight,
//! with hysteresis, and a sorry server installed while the quorum is lost.
//!
//! The loop around a [`HealthChecker`]:
//!
//! 1. sleep until [`HealthChecker::poll_timeout`];
//! 2. [`HealthChecker::handle_timeout`]`(now, random)` yields the [`ProbeRequest`]s to start;
//! 3. run them, feed each result to [`HealthChecker::probe_result`] (a probe with no result
//!    by its deadline is a failure: the machine counts it at the next `handle_timeout`);
//! 4. apply every [`Output::Op`] from [`HealthChecker::poll_output`] to the director, and run
//!    the hooks of every [`Output::Event`].
//!
//! A server goes down after `fall` consecutive failures and comes up after `rise` consecutive
//! successes, so a dead server is noticed within `fall * interval + timeout` of its death,
//! and a restarted one is back within `rise * interval` (plus the probe's own time).

mod config;
mod machine;

pub use config::{HealthConfigError, OnFailure, ProbeKind, ServerCheck, ServiceHealth, Timing};
pub use machine::{
    DirectorOp, Due, HealthChecker, HealthCounters, HealthEvent, Output, ProbeError, ProbeId,
    ProbeRequest,
};

#[cfg(test)]
mod tests;
