//! The first handshake message of a stream, reassembled across records (RFC 8446 5.1: a
//! handshake message may be split over several records, and records over several TCP
//! segments).
//!
//! ```text
//! handshake message:  msg_type (1) | length (3) | body (length bytes)
//! ```
//!
//! The reader walks the records as far as the stream goes, judging every byte once it is
//! there, and copies nothing until the message is complete: when the whole message sits in the
//! first record it returns a slice of the stream itself; otherwise it copies the fragments into
//! the caller's scratch buffer once, on the call that completes the message.

use super::record::{ContentType, RecordHeader, HEADER_LEN};
use super::{MalformedKind, TlsError, MAX_HELLO};

/// Handshake type `client_hello` (RFC 8446 4).
const CLIENT_HELLO: u8 = 1;
/// Handshake type `server_hello` (RFC 8446 4).
const SERVER_HELLO: u8 = 2;

/// The hello a [`Walk`] reads: the client's (where an SSL 2.0-style header at the start is
/// reported as [`TlsError::SslV2`]) or the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hello {
    /// `client_hello`.
    Client,
    /// `server_hello`.
    Server,
}

impl Hello {
    /// The handshake type.
    const fn msg_type(self) -> u8 {
        match self {
            Hello::Client => CLIENT_HELLO,
            Hello::Server => SERVER_HELLO,
        }
    }
}

/// Bytes in a handshake message header.
const MSG_HEADER_LEN: usize = 4;

/// Where the walk over a stream's records stands, so a caller whose stream grows by a few
/// bytes at a time can resume it instead of starting again from offset 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Walk {
    /// Offset of the record being read.
    pos: usize,
    /// Handshake bytes in the records before it.
    before: usize,
    /// Handshake bytes seen so far, over all records.
    seen: usize,
    /// The message header, as far as seen.
    header: [u8; MSG_HEADER_LEN],
    /// The message length with its header, once known.
    total: Option<usize>,
    /// Fragment length of the first record.
    first_len: usize,
    /// The answer once it is final.
    failed: Option<TlsError>,
}

impl Walk {
    /// A walk at the start of a stream.
    pub(crate) const fn new() -> Self {
        Walk {
            pos: 0,
            before: 0,
            seen: 0,
            header: [0; MSG_HEADER_LEN],
            total: None,
            first_len: 0,
            failed: None,
        }
    }

    /// The body of the first handshake message of `stream` if it is complete, checking that it
    /// is `hello`. `Ok(None)`: the stream is a plausible prefix, more bytes are needed.
    /// `stream` must extend the stream of the previous call on this walk; each call reads only
    /// the bytes added since. An error is final: later calls return it again.
    pub(crate) fn first_message<'a>(
        &mut self,
        stream: &'a [u8],
        scratch: &'a mut [u8],
        hello: Hello,
    ) -> Result<Option<&'a [u8]>, TlsError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.step(stream, scratch, hello);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn step<'a>(
        &mut self,
        stream: &'a [u8],
        scratch: &'a mut [u8],
        hello: Hello,
    ) -> Result<Option<&'a [u8]>, TlsError> {
        if hello == Hello::Client && self.pos == 0 {
            match super::record::is_sslv2_hello(stream) {
                Some(true) => return Err(TlsError::SslV2),
                Some(false) => {}
                None => return Ok(None),
            }
        }
        loop {
            if let Some(t) = self.total {
                if self.seen >= t {
                    return assemble(stream, scratch, t, self.first_len).map(Some);
                }
            }
            let rest = stream.get(self.pos..).unwrap_or(&[]);
            let rec = match RecordHeader::parse(rest) {
                Ok(Some(rec)) => rec,
                Ok(None) => return Ok(None),
                Err(TlsError::NotTls) if self.pos > 0 => {
                    return Err(MalformedKind::RecordHeader.into())
                }
                Err(e) => return Err(e),
            };
            let len = usize::from(rec.len);
            let avail = rest.get(HEADER_LEN..).unwrap_or(&[]);
            let frag = avail.get(..len).unwrap_or(avail);
            match rec.content_type {
                ContentType::Handshake => {}
                ContentType::Alert => {
                    return match *frag {
                        [level, description, ..] => Err(TlsError::Alert { level, description }),
                        _ if len < 2 => Err(MalformedKind::RecordHeader.into()),
                        _ => Ok(None),
                    };
                }
                _ => return Err(TlsError::UnexpectedMessage),
            }
            if len == 0 {
                return Err(MalformedKind::EmptyRecord.into());
            }
            if self.pos == 0 {
                self.first_len = len;
            }
            // Only the bytes of this record not read by an earlier call.
            let new = frag.get(self.seen - self.before..).unwrap_or(&[]);
            // The message header may itself be split over records.
            let prev = self.seen;
            for (dst, &b) in self.header.iter_mut().skip(prev).zip(new) {
                *dst = b;
            }
            self.seen = prev + new.len();
            if prev < MSG_HEADER_LEN && self.seen >= MSG_HEADER_LEN {
                let t = message_len(&self.header, hello.msg_type())?;
                if t > self.first_len && scratch.len() < t {
                    return Err(TlsError::ScratchTooSmall);
                }
                self.total = Some(t);
            }
            if self.total.is_some_and(|t| self.seen >= t) {
                continue; // complete: assembled at the top of the loop
            }
            if frag.len() < len {
                return Ok(None);
            }
            self.pos += HEADER_LEN + len;
            self.before = self.seen;
        }
    }
}

/// The length of the message with its header, from the header; checks type and size.
fn message_len(header: &[u8; MSG_HEADER_LEN], msg_type: u8) -> Result<usize, TlsError> {
    let [kind, l0, l1, l2] = *header;
    if kind != msg_type {
        return Err(TlsError::UnexpectedMessage);
    }
    let len = MSG_HEADER_LEN + (usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2));
    if len > MAX_HELLO {
        return Err(TlsError::HelloTooLong);
    }
    Ok(len)
}

/// The body of the complete message of `total` bytes: a slice of the first record when it holds
/// the whole message, else the fragments copied into `scratch` (which the caller checked to be
/// large enough). The records were validated by the walk that found the message complete.
fn assemble<'a>(
    stream: &'a [u8],
    scratch: &'a mut [u8],
    total: usize,
    first_len: usize,
) -> Result<&'a [u8], TlsError> {
    const BAD: TlsError = TlsError::Malformed(MalformedKind::RecordHeader);
    if total <= first_len {
        return stream
            .get(HEADER_LEN + MSG_HEADER_LEN..HEADER_LEN + total)
            .ok_or(BAD);
    }
    let out = scratch.get_mut(..total).ok_or(TlsError::ScratchTooSmall)?;
    let mut pos = 0usize;
    let mut filled = 0usize;
    while filled < total {
        let hdr = stream.get(pos..pos + HEADER_LEN).ok_or(BAD)?;
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        let avail = stream.get(pos + HEADER_LEN..).ok_or(BAD)?;
        let frag = avail.get(..len).unwrap_or(avail);
        let n = frag.len().min(total - filled);
        out.get_mut(filled..filled + n)
            .ok_or(BAD)?
            .copy_from_slice(&frag[..n]);
        filled += n;
        pos += HEADER_LEN + len;
    }
    let out: &'a [u8] = out;
    Ok(&out[MSG_HEADER_LEN..])
}
