//! TLS session persistence: a persistence engine (named `tls`, as IPVS names `sip`) that sends a
//! returning TLS client to the real server holding its session, and routes by server name.
//!
//! A TLS server can resume a session only if it holds it (a TLS 1.2 session-ID cache) or can
//! decrypt its ticket (its own ticket key). This engine remembers both, bounded and timed out
//! like the director's persistence templates (`ipvsadm -p`, 300 s by default):
//!
//! - **Session IDs (TLS 1.2).** Learned from the ServerHello of a full handshake (the server
//!   names a session ID the client did not offer); a ClientHello offering a known ID goes to
//!   that server. In TLS 1.3 the legacy session ID is a random compatibility value the server
//!   echoes (RFC 8446 §4.1.3), so it is never learned when TLS 1.3 was negotiated.
//! - **Ticket key names (TLS 1.2 and 1.3).** The first 16 bytes of an RFC 5077-format ticket
//!   (RFC 5077 §4's recommended `key_name`, as OpenSSL, nginx and most servers issue them), from
//!   the session-ticket extension (1.2) or the first pre_shared_key identity (1.3). Learned from
//!   resumptions the server *accepted* (1.2: the ServerHello echoes the client's non-empty
//!   session ID; 1.3: it selects the PSK), and configured by the operator per server
//!   ([`TlsPersist::add_ticket_key`], never expire). A ticket issued in a TLS 1.3 full handshake
//!   travels encrypted, so the first return of such a client is routed only by a configured key
//!   name; every accepted resumption after that is learned.
//! - **Server names.** Exact and leading-wildcard names map to pools, with a default pool and an
//!   option to refuse unknown names ([`SniRouter`]).
//! - **Fallback.** A remembered server the caller reports unavailable (down, or quiesced with
//!   weight 0) is not used: the decision is the pool's scheduler, counted as a fallback, and the
//!   next [`TlsPersist::learn`] for that key replaces the mapping.
//!
//! The engine parses no bytes: the caller (a ClientHello/ServerHello reader) fills in
//! [`HelloKeys`] and [`ReplyKeys`]. Memory comes from the caller ([`TlsStorage`]); nothing is
//! allocated, and a full table evicts instead of failing a connection.
//!
//! # Layout
//! - `table`: the bounded, set-associative, timed table behind session IDs and ticket key names.
//! - [`sni`]: server-name routes.
//! - `engine`: [`TlsPersist`], its decisions and what it learns.
//! - `listing`: [`TlsCounters`] and the entries for an `ipvsadm -L -n --persistent-conn`-style
//!   listing ([`PersistEntry`]).

mod engine;
mod listing;
pub mod sni;
mod table;
#[cfg(test)]
mod tests;

pub use engine::{TicketKeyError, TicketKeySlot, TlsPersist, TlsPersistConfig, TlsStorage};
pub use listing::{EntryKind, PeData, PersistEntry, TlsCounters, PE_NAME};
pub use sni::{NameKind, SniError, SniRouter, SniRule};
pub use table::{SessionSlot, Slot, TableError, TicketSlot};

/// A pool of real servers, as the caller numbers them (an index into its pool list).
pub type PoolId = u16;

/// The TLS record `legacy_version`/`supported_versions` value of TLS 1.3.
pub const TLS13: u16 = 0x0304;

/// Default lifetime of a learned mapping, refreshed by each use: 300 s, `ipvsadm -p`'s default.
pub const DEFAULT_TIMEOUT: crate::Duration = crate::Duration::from_secs(300);

/// What the engine needs from a ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HelloKeys<'a> {
    /// The SNI `host_name`, if the client sent one.
    pub server_name: Option<&'a str>,
    /// The legacy session ID (0..=32 bytes).
    pub session_id: &'a [u8],
    /// The key name of the offered ticket: the first 16 bytes of the session-ticket extension's
    /// ticket (TLS 1.2) or of the first pre_shared_key identity (TLS 1.3), if long enough.
    pub ticket_key_name: Option<[u8; 16]>,
    /// The client offers TLS 1.3 (`supported_versions` lists 0x0304).
    pub tls13: bool,
}

/// What the engine needs from the real server's ServerHello.
///
/// Pass the ServerHello, not a HelloRetryRequest (which accepts nothing; it would learn
/// nothing either, as it selects no PSK and negotiates TLS 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyKeys<'a> {
    /// The session ID in the ServerHello (a new one, or the client's echoed).
    pub session_id: &'a [u8],
    /// The server selected a pre_shared_key identity (TLS 1.3 resumption accepted).
    pub psk_selected: bool,
    /// The negotiated version: the `supported_versions` extension's, else `legacy_version`.
    pub version: u16,
}

/// Where a new TLS connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<S> {
    /// The real server that holds the offered session or ticket key.
    Remembered(S),
    /// No usable memory: schedule a server of this pool.
    Pool(PoolId),
    /// The server name is refused (or there is no pool for a hello without one): close the
    /// connection, e.g. with an `unrecognized_name` alert (RFC 6066 §3).
    Refuse,
}
