//! The error of the TLS hello readers.

use core::fmt;

/// Why the first bytes of a connection are not a usable TLS hello.
///
/// Every variant is final: more bytes will not turn it into a hello (the readers return
/// `Ok(None)` while more bytes could still help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsError {
    /// The stream does not start with a TLS record (wrong content type or protocol version).
    NotTls,
    /// The stream starts with an SSL 2.0-style ClientHello (a two-byte record header with the
    /// high bit set, message type 1), which SSL 3.0 and later only tolerate for compatibility
    /// (RFC 5246 appendix E.2) and TLS 1.3 forbids.
    SslV2,
    /// A record announces more than 2^14 bytes of plaintext (RFC 8446 5.1, RFC 5246 6.2.1).
    RecordTooLong,
    /// The hello's handshake message (with its 4-byte header) exceeds
    /// [`MAX_HELLO`](super::MAX_HELLO) bytes.
    HelloTooLong,
    /// A record or handshake message of another kind came where the hello was due (for
    /// example application data, a ChangeCipherSpec, or a Certificate first).
    UnexpectedMessage,
    /// The peer sent an alert record where the hello was due.
    Alert {
        /// The alert level (1 warning, 2 fatal).
        level: u8,
        /// The alert description (RFC 8446 6).
        description: u8,
    },
    /// A length or value inside the hello is inconsistent.
    Malformed(MalformedKind),
    /// The hello spans several records and the caller's scratch buffer is smaller than the
    /// handshake message; a scratch of [`MAX_HELLO`](super::MAX_HELLO) bytes always suffices.
    ScratchTooSmall,
}

/// Which part of a record or hello is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MalformedKind {
    /// A record header after the first is not a TLS record header.
    RecordHeader,
    /// A handshake record with no fragment (RFC 8446 5.1 forbids them).
    EmptyRecord,
    /// The fixed fields of the hello are truncated, or bytes follow its extensions.
    Body,
    /// The legacy session id is longer than 32 bytes.
    SessionId,
    /// The cipher suite list is empty, odd-sized or overruns the hello.
    CipherSuites,
    /// The compression method list is empty or overruns the hello.
    CompressionMethods,
    /// The extension block or an extension's length overruns the hello.
    Extensions,
    /// The same extension type appears twice (RFC 8446 4.2, RFC 5246 7.4.1.4).
    DuplicateExtension(u16),
    /// More than [`MAX_EXTENSIONS`](super::MAX_EXTENSIONS) extensions.
    TooManyExtensions,
    /// The server_name extension (RFC 6066 3) is malformed, or its host name is not a
    /// DNS host name in ASCII.
    ServerName,
    /// The application_layer_protocol_negotiation extension (RFC 7301) is malformed.
    Alpn,
    /// The supported_versions extension (RFC 8446 4.2.1) is malformed.
    SupportedVersions,
    /// The pre_shared_key extension (RFC 8446 4.2.11) is malformed.
    PreSharedKey,
    /// The pre_shared_key extension is not the last one of the ClientHello (RFC 8446 4.2.11).
    PskNotLast,
}

impl From<MalformedKind> for TlsError {
    fn from(k: MalformedKind) -> Self {
        TlsError::Malformed(k)
    }
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedKind::RecordHeader => f.write_str("bad record header"),
            MalformedKind::EmptyRecord => f.write_str("empty handshake record"),
            MalformedKind::Body => f.write_str("bad hello length"),
            MalformedKind::SessionId => f.write_str("session id longer than 32 bytes"),
            MalformedKind::CipherSuites => f.write_str("bad cipher suite list"),
            MalformedKind::CompressionMethods => f.write_str("bad compression method list"),
            MalformedKind::Extensions => f.write_str("bad extension lengths"),
            MalformedKind::DuplicateExtension(t) => write!(f, "duplicate extension {t}"),
            MalformedKind::TooManyExtensions => f.write_str("too many extensions"),
            MalformedKind::ServerName => f.write_str("bad server_name extension"),
            MalformedKind::Alpn => f.write_str("bad ALPN extension"),
            MalformedKind::SupportedVersions => f.write_str("bad supported_versions extension"),
            MalformedKind::PreSharedKey => f.write_str("bad pre_shared_key extension"),
            MalformedKind::PskNotLast => f.write_str("pre_shared_key is not the last extension"),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NotTls => f.write_str("not a TLS stream"),
            TlsError::SslV2 => f.write_str("SSL 2.0-style hello"),
            TlsError::RecordTooLong => f.write_str("TLS record longer than 2^14 bytes"),
            TlsError::HelloTooLong => f.write_str("TLS hello longer than the limit"),
            TlsError::UnexpectedMessage => f.write_str("unexpected TLS message before the hello"),
            TlsError::Alert { level, description } => {
                write!(f, "TLS alert level {level} description {description}")
            }
            TlsError::Malformed(k) => write!(f, "malformed TLS hello: {k}"),
            TlsError::ScratchTooSmall => f.write_str("scratch buffer too small for the hello"),
        }
    }
}

impl core::error::Error for TlsError {}
