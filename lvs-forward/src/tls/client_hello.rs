//! The ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2), read without copying.
//!
//! ```text
//! legacy_version (2) | random (32) | legacy_session_id <0..32>
//! cipher_suites <2..2^16-2> | legacy_compression_methods <1..2^8-1>
//! extensions <8..2^16-1>   (absent in some pre-TLS 1.2 hellos)
//! ```

use super::cursor::Cursor;
use super::extensions::{
    self, Extensions, ProtocolNames, PskIdentities, Versions, EXT_ALPN, EXT_PRE_SHARED_KEY,
    EXT_SERVER_NAME, EXT_SESSION_TICKET, EXT_SUPPORTED_VERSIONS,
};
use super::{MalformedKind, TlsError};

/// The version number of TLS 1.3 in supported_versions.
pub(crate) const TLS13: u16 = 0x0304;

/// A parsed ClientHello: views into the message bytes, checked once at parse time (every
/// length, no repeated extension, and the contents of the extensions that have getters), so
/// the getters cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    legacy_version: u16,
    random: &'a [u8; 32],
    session_id: &'a [u8],
    cipher_suites: &'a [u8],
    compression_methods: &'a [u8],
    extensions: &'a [u8],
    server_name: Option<&'a str>,
    alpn: Option<&'a [u8]>,
    versions: Option<&'a [u8]>,
    session_ticket: Option<&'a [u8]>,
    psk_identities: Option<&'a [u8]>,
}

impl<'a> ClientHello<'a> {
    /// Parses the body of a ClientHello handshake message (the bytes after its 4-byte
    /// handshake header).
    ///
    /// # Errors
    /// [`TlsError::Malformed`] naming the first part found inconsistent.
    pub fn parse(body: &'a [u8]) -> Result<Self, TlsError> {
        let mut c = Cursor::new(body);
        let (legacy_version, random, session_id) = c.hello_head()?;
        let cipher_suites = match c.vec16() {
            Some(s) if !s.is_empty() && s.len() % 2 == 0 => s,
            _ => return Err(MalformedKind::CipherSuites.into()),
        };
        let compression_methods = match c.vec8() {
            Some(m) if !m.is_empty() => m,
            _ => return Err(MalformedKind::CompressionMethods.into()),
        };
        let mut hello = ClientHello {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions: c.hello_extensions()?,
            server_name: None,
            alpn: None,
            versions: None,
            session_ticket: None,
            psk_identities: None,
        };
        extensions::walk(hello.extensions, |e, last| {
            match e.ext_type {
                EXT_SERVER_NAME => hello.server_name = extensions::server_name(e.data)?,
                EXT_ALPN => hello.alpn = Some(extensions::alpn(e.data)?),
                EXT_SUPPORTED_VERSIONS => {
                    hello.versions = Some(extensions::client_versions(e.data)?);
                }
                EXT_SESSION_TICKET => hello.session_ticket = Some(e.data),
                EXT_PRE_SHARED_KEY => {
                    if !last {
                        return Err(MalformedKind::PskNotLast);
                    }
                    hello.psk_identities = Some(extensions::psk_offer(e.data)?);
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(hello)
    }

    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients; TLS 1.3 is offered in
    /// [`supported_versions`](Self::supported_versions)).
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// The client's random.
    pub fn random(&self) -> &'a [u8; 32] {
        self.random
    }

    /// `legacy_session_id`, 0 to 32 bytes: the session a TLS 1.2 client wants to resume (or a
    /// random value in TLS 1.3 middlebox-compatibility mode).
    pub fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// The offered cipher suites, in the client's order.
    pub fn cipher_suites(&self) -> impl Iterator<Item = u16> + 'a {
        self.cipher_suites
            .chunks_exact(2)
            .map(|s| u16::from_be_bytes([s[0], s[1]]))
    }

    /// The offered compression methods (`[0]` for any modern client).
    pub fn compression_methods(&self) -> &'a [u8] {
        self.compression_methods
    }

    /// Every extension, in order.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions::new(self.extensions)
    }

    /// The SNI host name (RFC 6066 3): ASCII letters, digits, `-`, `_` and dots, as sent
    /// (compare case-insensitively).
    pub fn server_name(&self) -> Option<&'a str> {
        self.server_name
    }

    /// The session_ticket extension (RFC 5077): `Some(&[])` when the client asks for a new
    /// ticket, `Some(ticket)` when it resumes with one, `None` without the extension.
    pub fn session_ticket(&self) -> Option<&'a [u8]> {
        self.session_ticket
    }

    /// The identities of the pre_shared_key extension (RFC 8446 4.2.11): in TLS 1.3
    /// resumption, the tickets the client offers.
    pub fn psk_identities(&self) -> PskIdentities<'a> {
        PskIdentities::new(self.psk_identities)
    }

    /// The ALPN protocol names (RFC 7301), in the client's order.
    pub fn alpn(&self) -> ProtocolNames<'a> {
        ProtocolNames::new(self.alpn)
    }

    /// The versions of the supported_versions extension (RFC 8446 4.2.1), empty without it.
    pub fn supported_versions(&self) -> Versions<'a> {
        Versions::new(self.versions)
    }

    /// Whether the client offers TLS 1.3 (0x0304 in supported_versions).
    pub fn offers_tls13(&self) -> bool {
        self.supported_versions().any(|v| v == TLS13)
    }
}
