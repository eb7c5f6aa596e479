//! Decoding a sync message into its records, version 0 or 1.

use super::*;

/// The records of a message, decoded in order as `ip_vs_process_message` does.
///
/// Yields at most `nr_conns` items; bytes after the last announced record are ignored, as are
/// the contents of alignment padding. For each record:
/// - a *malformed* record (framing or option error, [`SyncError::is_fatal`]) yields its error and
///   ends the iteration — the kernel drops the rest of the message;
/// - a *rejected* record (unknown mandatory option, unsupported protocol, invalid state, PE data
///   without a name) yields its error and decoding goes on with the next record — the kernel
///   skips it;
/// - otherwise the record is yielded as a [`SyncConn`].
///
/// Version-0 messages are decoded too (see [`SyncConn::parse_v0`]); their records are 24 or 48
/// bytes and are validated the same way.
///
/// Every yielded record occupies at least 36 bytes (24 in version 0) of the message, so a
/// message of `len` bytes yields at most `(len - 8) / 36` records.
#[derive(Debug, Clone)]
pub struct SyncRecords<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: u8,
    version: SyncVersion,
    pending: Option<SyncError>,
}

impl<'a> SyncRecords<'a> {
    /// Decodes the datagram `datagram`.
    ///
    /// # Errors
    /// The message-level errors of [`SyncMessage::check_len`].
    pub fn new(datagram: &'a [u8]) -> Result<Self, SyncError> {
        let msg = SyncMessage::new_checked(datagram)?;
        let version = msg.version();
        Ok(SyncRecords {
            buf: datagram,
            pos: msg.header_len(),
            remaining: msg.nr_conns(),
            version,
            pending: None,
        })
    }

    pub(super) fn failed(e: SyncError) -> Self {
        SyncRecords {
            buf: &[],
            pos: 0,
            remaining: 0,
            version: SyncVersion::V1,
            pending: Some(e),
        }
    }

    /// The message format.
    pub fn version(&self) -> SyncVersion {
        self.version
    }

    /// Offset in the message where the next record starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub(super) fn next_v1(&mut self) -> Result<SyncConn, SyncError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let rec = ConnRecord::new_checked(rest)?;
        self.pos = self.pos.saturating_add(rec.padded_len());
        let conn = SyncConn::parse(&rec)?;
        conn.validate()?;
        Ok(conn)
    }

    pub(super) fn next_v0(&mut self) -> Result<SyncConn, SyncError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let need = SyncConn::v0_len(rest)?;
        let record = rest.get(..need).ok_or(SyncError::RecordTruncated {
            required: need,
            available: rest.len(),
        })?;
        self.pos = self.pos.saturating_add(need);
        let conn = SyncConn::parse_v0(record)?;
        conn.validate()?;
        Ok(conn)
    }
}

impl Iterator for SyncRecords<'_> {
    type Item = Result<SyncConn, SyncError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let r = match self.version {
            SyncVersion::V1 => self.next_v1(),
            SyncVersion::V0 => self.next_v0(),
        };
        if matches!(&r, Err(e) if e.is_fatal()) {
            self.remaining = 0;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = usize::from(self.pending.is_some());
        (0, Some(usize::from(self.remaining) + pending))
    }
}
