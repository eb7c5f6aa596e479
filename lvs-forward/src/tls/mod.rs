//! TLS hello readers: the ClientHello a director routes on and the ServerHello it learns from,
//! read from the first bytes of a connection, `no_std`, without allocating and without
//! panicking on any input.
//!
//! The readers take the connection's byte stream from offset 0 as it grows, one call per
//! arrival, and answer `Ok(None)` until the hello is complete. They frame records
//! ([`record`], RFC 8446 5.1) and reassemble the first handshake message across records; when
//! it sits in one record (the usual case) the result borrows the stream itself, otherwise the
//! message is copied once into the caller's `scratch` (at most [`MAX_HELLO`] bytes). A
//! [`HelloReader`] kept per connection resumes where the previous call stopped, so a hello
//! trickling in one byte at a time costs linear, not quadratic, work. Every
//! length, nested length and extension the getters expose is checked before a hello is
//! returned, and a repeated extension is an error, so the getters cannot fail.
//!
//! ```
//! use lvs_forward::tls::{read_client_hello, TlsError, MAX_HELLO};
//! let mut scratch = [0u8; MAX_HELLO];
//! // A connection that starts with an HTTP request is not TLS:
//! assert_eq!(read_client_hello(b"GET / HTTP/1.1\r\n", &mut scratch), Err(TlsError::NotTls));
//! // The first three bytes of a TLS handshake record: wait for more.
//! assert_eq!(read_client_hello(&[0x16, 0x03, 0x01], &mut scratch), Ok(None));
//! ```
//!
//! Bad input gives a [`TlsError`]: [`TlsError::NotTls`], [`TlsError::SslV2`] (an SSL
//! 2.0-style hello), [`TlsError::RecordTooLong`], [`TlsError::HelloTooLong`],
//! [`TlsError::UnexpectedMessage`], [`TlsError::Alert`] or [`TlsError::Malformed`].

mod client_hello;
mod cursor;
mod error;
mod extensions;
mod handshake;
mod reader;
pub mod record;
mod server_hello;

pub use client_hello::ClientHello;
pub use error::{MalformedKind, TlsError};
pub use extensions::{
    Extension, Extensions, ProtocolNames, PskIdentities, Versions, EXT_ALPN, EXT_PRE_SHARED_KEY,
    EXT_SERVER_NAME, EXT_SESSION_TICKET, EXT_SUPPORTED_VERSIONS, MAX_EXTENSIONS,
};
pub use reader::{read_client_hello, read_server_hello, HelloReader};
pub use server_hello::{ServerHello, HELLO_RETRY_REQUEST_RANDOM};

/// The largest hello handshake message accepted, with its 4-byte header: 16 KiB. Real
/// ClientHellos are 200 to 2,000 bytes (post-quantum key shares bring them near 1,800); a
/// scratch of this size always suffices.
pub const MAX_HELLO: usize = 16 * 1024;

/// The key name of an RFC 5077-format session ticket: its first 16 bytes, which name the
/// server key that encrypted it (RFC 5077 4; OpenSSL, nginx and most servers issue tickets in
/// this format, also as TLS 1.3 PSK identities). `None` for tickets shorter than 64 bytes
/// (key name, IV and MAC alone take 64).
pub fn ticket_key_name(ticket: &[u8]) -> Option<[u8; 16]> {
    if ticket.len() < 64 {
        return None;
    }
    ticket.get(..16)?.try_into().ok()
}

#[cfg(test)]
mod tests;
