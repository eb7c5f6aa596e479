//! Building sync messages record by record.

use super::*;

/// Builds a version-1 message in a caller buffer, record by record, as a master fills its
/// current `sync_buff`: each record after the first is preceded by zero padding to a 4-byte
/// boundary, and the header's `size` and `nr_conns` are kept up to date after every record.
///
/// When [`push`](Self::push) reports [`SyncError::NoRoom`] or [`SyncError::TooManyRecords`],
/// send the message and start a new one (the kernel queues the full buffer and allocates a new
/// one); a master also sends a non-empty message that is [`FLUSH_TIME`](crate::sync::FLUSH_TIME) old.
///
/// ```
/// use lvs_core::addr::{Endpoint, Protocol};
/// use lvs_core::sync::{default_max_len, SyncConn, SyncMessageBuilder, SyncRecords};
/// use lvs_core::AddrFamily;
/// let conn = SyncConn::new(
///     Protocol::Udp,
///     Endpoint::v4([198, 51, 100, 7], 5353),
///     Endpoint::v4([192, 0, 2, 1], 53),
///     Endpoint::v4([10, 0, 0, 2], 53),
/// );
/// let mut buf = [0u8; 1500];
/// let mut b = SyncMessageBuilder::new(&mut buf, 9, default_max_len(AddrFamily::Ipv4)).unwrap();
/// b.push(&conn).unwrap();
/// b.push(&conn).unwrap();
/// let len = b.finish();
/// let got: Vec<_> = SyncRecords::new(&buf[..len]).unwrap().collect();
/// assert_eq!(got, [Ok(conn), Ok(conn)]);
/// ```
#[derive(Debug)]
pub struct SyncMessageBuilder<'a> {
    buf: &'a mut [u8],
    limit: usize,
    len: usize,
    count: u8,
    syncid: u8,
}

impl<'a> SyncMessageBuilder<'a> {
    /// Starts an empty message with `syncid` in `buf`, never growing past `max_len` bytes (the
    /// master's `sync_maxlen`, for example [`default_max_len`](crate::sync::default_max_len)), nor past
    /// `buf`, nor past 65535.
    ///
    /// # Errors
    /// [`SyncError::NoRoom`] if fewer than 8 bytes are allowed.
    pub fn new(buf: &'a mut [u8], syncid: u8, max_len: usize) -> Result<Self, SyncError> {
        let limit = buf.len().min(max_len).min(MAX_MESSAGE_LEN);
        if limit < HEADER_LEN {
            return Err(SyncError::NoRoom {
                required: HEADER_LEN,
                available: limit,
            });
        }
        let mut b = SyncMessageBuilder {
            buf,
            limit,
            len: HEADER_LEN,
            count: 0,
            syncid,
        };
        b.write_header();
        Ok(b)
    }

    pub(super) fn write_header(&mut self) {
        if let Some(h) = self.buf.get_mut(..HEADER_LEN) {
            // `len` never exceeds `limit`, which is at most 65535.
            SyncMessage::new_unchecked(h).init_v1_header(self.syncid, self.len as u16, self.count);
        }
    }

    /// The bytes a record would take here, padding included.
    pub fn required_for(&self, conn: &SyncConn) -> usize {
        (self.len.wrapping_neg() & 3) + conn.buffer_len()
    }

    /// Whether `conn` fits.
    pub fn fits(&self, conn: &SyncConn) -> bool {
        usize::from(self.count) < MAX_RECORDS && self.required_for(conn) <= self.remaining()
    }

    /// Appends `conn`. Nothing is written on error.
    ///
    /// # Errors
    /// [`SyncError::TooManyRecords`] after 255 records, [`SyncError::NoRoom`] if the record
    /// does not fit, [`SyncError::MixedFamilies`] from [`SyncConn::emit`].
    pub fn push(&mut self, conn: &SyncConn) -> Result<(), SyncError> {
        if usize::from(self.count) >= MAX_RECORDS {
            return Err(SyncError::TooManyRecords);
        }
        let pad = self.len.wrapping_neg() & 3;
        let required = pad + conn.buffer_len();
        let available = self.remaining();
        if required > available {
            return Err(SyncError::NoRoom {
                required,
                available,
            });
        }
        let region = self
            .buf
            .get_mut(self.len..self.len + required)
            .ok_or(SyncError::NoRoom {
                required,
                available,
            })?;
        let (padding, record) = region.split_at_mut(pad);
        conn.emit(record)?;
        padding.fill(0);
        self.len += required;
        self.count += 1;
        self.write_header();
        Ok(())
    }

    /// The message length so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records added.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Bytes left before the limit.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// The message so far (a complete, valid message at every step).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Ends the message and returns its length: send `&buf[..len]`.
    pub fn finish(self) -> usize {
        self.len
    }
}
