//! TLS record framing (RFC 8446 5.1, RFC 5246 6.2.1): the 5-byte header in front of every
//! record, the SSL 2.0 compatibility header (RFC 5246 appendix E.2), and the bytes of an alert
//! record, which a director sends when it refuses a hello.
//!
//! ```text
//!  0        1        2        3        4
//! +--------+--------+--------+--------+--------+----------------
//! |  type  | legacy_version  |      length     | fragment ...
//! +--------+--------+--------+--------+--------+----------------
//! ```

use super::TlsError;

/// Bytes in a record header.
pub const HEADER_LEN: usize = 5;

/// The largest plaintext fragment a record may carry, 2^14 bytes (RFC 8446 5.1).
pub const MAX_FRAGMENT: usize = 1 << 14;

/// The record content type (RFC 8446 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `change_cipher_spec` (20).
    ChangeCipherSpec,
    /// `alert` (21).
    Alert,
    /// `handshake` (22).
    Handshake,
    /// `application_data` (23).
    ApplicationData,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for ContentType {
    fn from(v: u8) -> Self {
        match v {
            20 => ContentType::ChangeCipherSpec,
            21 => ContentType::Alert,
            22 => ContentType::Handshake,
            23 => ContentType::ApplicationData,
            v => ContentType::Unknown(v),
        }
    }
}

impl From<ContentType> for u8 {
    fn from(t: ContentType) -> u8 {
        match t {
            ContentType::ChangeCipherSpec => 20,
            ContentType::Alert => 21,
            ContentType::Handshake => 22,
            ContentType::ApplicationData => 23,
            ContentType::Unknown(v) => v,
        }
    }
}

/// A parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// What the fragment holds.
    pub content_type: ContentType,
    /// `legacy_record_version` (0x0301 to 0x0303 in practice; major version 3).
    pub version: u16,
    /// Bytes of fragment that follow the header (at most [`MAX_FRAGMENT`]).
    pub len: u16,
}

impl RecordHeader {
    /// Reads the record header at the start of `bytes`, judging each byte as soon as it is
    /// there: `Ok(None)` when fewer than [`HEADER_LEN`] bytes are present and they could still
    /// start a record.
    ///
    /// # Errors
    /// [`TlsError::NotTls`] for a content type other than 20 to 23 or a major version other
    /// than 3 (or a minor version above 4), [`TlsError::RecordTooLong`] for a length above
    /// [`MAX_FRAGMENT`].
    pub fn parse(bytes: &[u8]) -> Result<Option<RecordHeader>, TlsError> {
        let content_type = match bytes.first() {
            None => return Ok(None),
            Some(&b) => ContentType::from(b),
        };
        if let ContentType::Unknown(_) = content_type {
            return Err(TlsError::NotTls);
        }
        match bytes.get(1) {
            Some(3) | None => {}
            Some(_) => return Err(TlsError::NotTls),
        }
        match bytes.get(2) {
            Some(0..=4) | None => {}
            Some(_) => return Err(TlsError::NotTls),
        }
        let [_, v0, v1, l0, l1, ..] = *bytes else {
            return Ok(None);
        };
        let len = u16::from_be_bytes([l0, l1]);
        if usize::from(len) > MAX_FRAGMENT {
            return Err(TlsError::RecordTooLong);
        }
        Ok(Some(RecordHeader {
            content_type,
            version: u16::from_be_bytes([v0, v1]),
            len,
        }))
    }
}

/// Whether `bytes` start with an SSL 2.0-style ClientHello: a two-byte header with the high bit
/// set, then message type 1 (CLIENT-HELLO). `None` while fewer than three bytes are there and
/// the first has the high bit set.
pub fn is_sslv2_hello(bytes: &[u8]) -> Option<bool> {
    match *bytes {
        [] => None,
        [b0, ..] if b0 & 0x80 == 0 => Some(false),
        [_] | [_, _] => None,
        [_, _, kind, ..] => Some(kind == 1),
    }
}

/// Alert level `fatal` (RFC 8446 6).
pub const ALERT_FATAL: u8 = 2;
/// Alert `handshake_failure` (40): no acceptable set of parameters; a generic refusal.
pub const ALERT_HANDSHAKE_FAILURE: u8 = 40;
/// Alert `decode_error` (50): a message could not be parsed.
pub const ALERT_DECODE_ERROR: u8 = 50;
/// Alert `protocol_version` (70).
pub const ALERT_PROTOCOL_VERSION: u8 = 70;
/// Alert `internal_error` (80): for example no real server is available.
pub const ALERT_INTERNAL_ERROR: u8 = 80;
/// Alert `unrecognized_name` (112, RFC 6066 3): no server is configured for the SNI name.
pub const ALERT_UNRECOGNIZED_NAME: u8 = 112;

/// The 7 bytes of a plaintext fatal alert record carrying `description`, with record version
/// 0x0303 (as a server sends before any key is agreed).
pub const fn fatal_alert(description: u8) -> [u8; 7] {
    [21, 3, 3, 0, 2, ALERT_FATAL, description]
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn header_is_judged_byte_by_byte() {
        let hdr = [22, 3, 1, 0x02, 0x00];
        for n in 0..HEADER_LEN {
            assert_eq!(RecordHeader::parse(&hdr[..n]), Ok(None), "{n} bytes");
        }
        assert_eq!(
            RecordHeader::parse(&hdr),
            Ok(Some(RecordHeader {
                content_type: ContentType::Handshake,
                version: 0x0301,
                len: 512
            }))
        );
        assert_eq!(RecordHeader::parse(b"G"), Err(TlsError::NotTls));
        assert_eq!(RecordHeader::parse(&[22, 2]), Err(TlsError::NotTls));
        assert_eq!(RecordHeader::parse(&[22, 3, 9]), Err(TlsError::NotTls));
        assert_eq!(
            RecordHeader::parse(&[22, 3, 3, 0x40, 0x00]).map(|h| h.map(|h| h.len)),
            Ok(Some(16384))
        );
        assert_eq!(
            RecordHeader::parse(&[22, 3, 3, 0x40, 0x01]),
            Err(TlsError::RecordTooLong)
        );
    }

    #[test]
    fn sslv2_and_alerts() {
        assert_eq!(is_sslv2_hello(&[]), None);
        assert_eq!(is_sslv2_hello(&[0x80, 0x2e]), None);
        assert_eq!(is_sslv2_hello(&[0x80, 0x2e, 1, 0, 2]), Some(true));
        assert_eq!(is_sslv2_hello(&[0x80, 0x2e, 4]), Some(false));
        assert_eq!(is_sslv2_hello(&[22]), Some(false));
        assert_eq!(
            fatal_alert(ALERT_UNRECOGNIZED_NAME),
            [21, 3, 3, 0, 2, 2, 112]
        );
        for t in 0..=255u8 {
            assert_eq!(u8::from(ContentType::from(t)), t);
        }
    }
}
