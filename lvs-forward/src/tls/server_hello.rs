//! The ServerHello (RFC 8446 4.1.3, RFC 5246 7.4.1.3), read without copying. Both TLS 1.2 and
//! 1.3 send it in cleartext, so a director learns from it which version the server chose,
//! which session id it echoed and whether it accepted an offered PSK.
//!
//! ```text
//! legacy_version (2) | random (32) | legacy_session_id_echo <0..32>
//! cipher_suite (2) | legacy_compression_method (1) | extensions <6..2^16-1> (optional in 1.2)
//! ```

use super::cursor::Cursor;
use super::extensions::{self, Extensions, EXT_PRE_SHARED_KEY, EXT_SUPPORTED_VERSIONS};
use super::{MalformedKind, TlsError};

/// The random of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 4.1.3).
pub const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A parsed ServerHello (or HelloRetryRequest): views into the message bytes, checked at parse
/// time, so the getters cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello<'a> {
    legacy_version: u16,
    random: &'a [u8; 32],
    session_id: &'a [u8],
    cipher_suite: u16,
    compression_method: u8,
    extensions: &'a [u8],
    version: Option<u16>,
    selected_psk: Option<u16>,
}

impl<'a> ServerHello<'a> {
    /// Parses the body of a ServerHello handshake message (the bytes after its 4-byte
    /// handshake header).
    ///
    /// # Errors
    /// [`TlsError::Malformed`] naming the first part found inconsistent.
    pub fn parse(body: &'a [u8]) -> Result<Self, TlsError> {
        let mut c = Cursor::new(body);
        let (legacy_version, random, session_id) = c.hello_head()?;
        let cipher_suite = c.u16().ok_or(MalformedKind::Body)?;
        let compression_method = c.u8().ok_or(MalformedKind::Body)?;
        let mut hello = ServerHello {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions: c.hello_extensions()?,
            version: None,
            selected_psk: None,
        };
        extensions::walk(hello.extensions, |e, _| {
            match e.ext_type {
                EXT_SUPPORTED_VERSIONS => {
                    let v = extensions::exactly_u16(e.data, MalformedKind::SupportedVersions)?;
                    hello.version = Some(v);
                }
                EXT_PRE_SHARED_KEY => {
                    let i = extensions::exactly_u16(e.data, MalformedKind::PreSharedKey)?;
                    hello.selected_psk = Some(i);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(hello)
    }

    /// `legacy_version` (0x0303 in TLS 1.3, which puts the real one in supported_versions).
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// The version the server chose: the supported_versions extension (RFC 8446 4.2.1), else
    /// `legacy_version`.
    pub fn selected_version(&self) -> u16 {
        self.version.unwrap_or(self.legacy_version)
    }

    /// The server's random.
    pub fn random(&self) -> &'a [u8; 32] {
        self.random
    }

    /// `legacy_session_id_echo`: in TLS 1.2 the id of the new session (full handshake) or the
    /// client's id (the server resumed it); in TLS 1.3 the client's id, echoed.
    pub fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// The chosen cipher suite.
    pub fn cipher_suite(&self) -> u16 {
        self.cipher_suite
    }

    /// The chosen compression method (0).
    pub fn compression_method(&self) -> u8 {
        self.compression_method
    }

    /// Every extension, in order.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions::new(self.extensions)
    }

    /// The index of the client's PSK identity the server accepted (pre_shared_key in a TLS 1.3
    /// ServerHello, RFC 8446 4.2.11): `Some` means the session was resumed.
    pub fn selected_psk(&self) -> Option<u16> {
        self.selected_psk
    }

    /// Whether this is a HelloRetryRequest (RFC 8446 4.1.4): the client will send a second
    /// ClientHello, and the handshake is not decided yet.
    pub fn is_hello_retry_request(&self) -> bool {
        *self.random == HELLO_RETRY_REQUEST_RANDOM
    }
}
