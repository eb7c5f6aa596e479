//! The engine's counters and its entries as an `ipvsadm -L -n --persistent-conn`-style listing
//! shows them (engine name `tls`, the session ID or key name in hex as the PE data).

use super::PoolId;
use crate::time::{Duration, Instant};
use core::fmt;

/// The persistence-engine name, for the `pe name` column.
pub const PE_NAME: &str = "tls";

/// The engine's counters (all only grow).
///
/// Every [`decide`](super::TlsPersist::decide) counts exactly one of `hits`, `fallbacks`,
/// `misses`, `fresh`, `refused`. Learned entries stored = `learned - replaced - expired -
/// evicted - removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsCounters {
    /// Hellos sent to the server that holds their session or ticket key.
    pub hits: u64,
    /// Hellos offering a resumption (a ticket, a PSK, or a TLS 1.2 session ID) nobody is known
    /// to hold.
    pub misses: u64,
    /// Hellos offering no resumption (full handshakes by the client's choice).
    pub fresh: u64,
    /// Hellos whose remembered servers were all unavailable: sent to the pool.
    pub fallbacks: u64,
    /// Hellos refused by their server name.
    pub refused: u64,
    /// Mappings learned: new entries, and entries whose server changed.
    pub learned: u64,
    /// Of `learned`, those that changed an entry's server (a fallback's replacement).
    pub replaced: u64,
    /// Entries that timed out.
    pub expired: u64,
    /// Live entries displaced by new ones (both sets the key may go in were full).
    pub evicted: u64,
    /// Entries forgotten by [`remove_server`](super::TlsPersist::remove_server).
    pub removed: u64,
}

/// The kind of a stored mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A learned TLS 1.2 session ID.
    SessionId,
    /// A learned ticket key name.
    TicketKey,
    /// An operator-configured ticket key name (never expires).
    ConfiguredTicketKey,
}

impl EntryKind {
    /// A short name for listings: `sid`, `ticket`, `key`.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::SessionId => "sid",
            EntryKind::TicketKey => "ticket",
            EntryKind::ConfiguredTicketKey => "key",
        }
    }
}

/// A mapping's key (a session ID or ticket key name, up to 32 bytes); `Display` writes it in
/// lower-case hex, the `pe_data` column.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeData {
    bytes: [u8; 32],
    len: u8,
}

impl PeData {
    /// `bytes` (at most 32; more are cut).
    pub fn new(bytes: &[u8]) -> Self {
        let n = bytes.len().min(32);
        let mut b = [0u8; 32];
        b[..n].copy_from_slice(&bytes[..n]);
        PeData {
            bytes: b,
            len: n as u8,
        }
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for PeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeData({self})")
    }
}

/// One stored mapping, as [`TlsPersist::entries`](super::TlsPersist::entries) lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PersistEntry<S> {
    /// What the key is.
    pub kind: EntryKind,
    /// The key; `Display` is the hex `pe_data`.
    pub data: PeData,
    /// The real server that holds it.
    pub server: S,
    /// The pool the client's server name routed to when learned (`None`: any pool).
    pub pool: Option<PoolId>,
    /// When it expires (`None`: configured, never).
    pub expires: Option<Instant>,
}

impl<S> PersistEntry<S> {
    /// Time left at `now` (zero if overdue); `None` for an entry that never expires.
    pub fn expires_in(&self, now: Instant) -> Option<Duration> {
        self.expires.map(|t| t.saturating_since(now))
    }

    /// The persistence-engine name, [`PE_NAME`].
    pub fn pe_name(&self) -> &'static str {
        PE_NAME
    }
}
