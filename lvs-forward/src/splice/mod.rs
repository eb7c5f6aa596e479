//! Content-aware distribution by TCP splicing (delayed binding), sans-I/O.
//!
//! A [`Splicer`] completes the handshake with the client itself, statelessly, with SYN cookies
//! ([`cookie`]); buffers the client's first bytes in a bounded slot until a
//! [`ContentClassifier`] (HTTP: [`http::HttpClassifier`]; TLS: [`tls::TlsClassifier`]) chooses
//! a real server; opens the connection to that server with the options the client offered,
//! replays the buffered bytes (retransmitting them on its own timer); and from then on only
//! rewrites each segment in place ([`rewrite`]): addresses and ports, sequence and
//! acknowledgment offsets, SACK blocks, timestamps and windows, with RFC 1624 incremental
//! checksums. No second TCP stack, no copy of the response stream.
//!
//! ```text
//!   client ── SYN ──────────────▶ splicer (cookie SYN-ACK, no state)
//!   client ── ACK + request ────▶ splicer (buffer, ACK, classify)
//!                                 splicer ── SYN (client's options) ──▶ server
//!                                 splicer ◀── SYN-ACK ───────────────── server
//!                                 splicer ── replayed request ───────▶ server
//!   client ◀══ rewritten segments ══ splicer ══ rewritten segments ══▶ server
//! ```
//!
//! Choices and limits:
//! - IPv4 only; NAT-style: the server sees the client's address and must route replies back
//!   through the splicer (as with IPVS masquerading).
//! - Keep-alive: the first request decides; later requests on the same connection go to the
//!   same server. Re-binding at request boundaries is not supported.
//! - While buffering, out-of-order client segments are not reassembled: the splicer answers
//!   with the ACK it needs and the client retransmits.
//! - A FIN from the client before the request is complete resets the connection; after that,
//!   a FIN is not acknowledged by the splicer but relayed after the splice.
//! - Without timestamps, window scaling and SACK are not offered to the client (the cookie has
//!   nowhere to keep them). If the server agrees to fewer options than the client (no SACK, no
//!   scaling), windows are rescaled per segment; if it refuses timestamps, its segments reach
//!   the client without them.
//! - Reject responses must fit one segment of the client's MSS.

mod buffering;
pub mod classify;
pub mod conn;
pub mod cookie;
pub mod emit;
pub mod http;
pub mod hybrid;
pub mod options;
pub mod rewrite;
pub mod rules;
pub mod rules_parse;
mod splicer;
mod table;
pub mod tls;
mod transmit;
mod verdict;

pub use classify::{
    Classification, ContentClassifier, FlowInfo, MAX_CONNECT_ATTEMPTS, REPLY_LIMIT,
};
pub use conn::{Conn, Phase};
pub use splicer::{
    SpliceConfig, SpliceDrop, SpliceStats, SpliceVerdict, Splicer, Toward, Transmit,
};
