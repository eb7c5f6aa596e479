//! A bounds-checked reader over the big-endian, length-prefixed fields of TLS
//! (RFC 8446 3: `uint8`..`uint32` and `opaque x<a..b>` vectors).
//!
//! Every read returns `None` instead of reading past the end, so the parsers built on it turn
//! a bad length into a typed error with `ok_or`, never a panic.

use super::error::MalformedKind;

/// A cursor over a byte slice; reads advance it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) const fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    /// Whether every byte has been read.
    pub(crate) const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(head)
    }

    /// The next byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    /// The next big-endian `uint16`.
    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    /// The next big-endian `uint32`.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An `opaque x<0..2^8-1>` vector: a one-byte length, then that many bytes.
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// An `opaque x<0..2^16-1>` vector: a two-byte length, then that many bytes.
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// What a ClientHello and a ServerHello begin with (RFC 8446 4.1.2, 4.1.3):
    /// `legacy_version`, `random` and `legacy_session_id` (at most 32 bytes).
    pub(crate) fn hello_head(&mut self) -> Result<HelloHead<'a>, MalformedKind> {
        let legacy_version = self.u16().ok_or(MalformedKind::Body)?;
        let random = self
            .take(32)
            .and_then(|r| r.try_into().ok())
            .ok_or(MalformedKind::Body)?;
        let session_id = self.vec8().ok_or(MalformedKind::Body)?;
        if session_id.len() > 32 {
            return Err(MalformedKind::SessionId);
        }
        Ok((legacy_version, random, session_id))
    }

    /// What ends a hello: its extensions block, which must end the body, or nothing (an
    /// empty block) when the body ends before it.
    pub(crate) fn hello_extensions(&mut self) -> Result<&'a [u8], MalformedKind> {
        if self.is_empty() {
            return Ok(&[]);
        }
        let block = self.vec16().ok_or(MalformedKind::Extensions)?;
        if !self.is_empty() {
            return Err(MalformedKind::Body);
        }
        Ok(block)
    }
}

/// A hello's `legacy_version`, `random` and `legacy_session_id`.
pub(crate) type HelloHead<'a> = (u16, &'a [u8; 32], &'a [u8]);

#[cfg(test)]
mod test {
    use super::Cursor;

    #[test]
    fn reads_stop_at_the_end() {
        let mut c = Cursor::new(&[0, 3, 1, 2, 3, 9]);
        assert_eq!(c.vec16(), Some(&[1u8, 2, 3][..]));
        assert_eq!(c.u16(), None);
        assert_eq!(c.u8(), Some(9));
        assert!(c.is_empty());
        assert_eq!(c.u8(), None);
        assert_eq!(Cursor::new(&[2, 1]).vec8(), None);
        assert_eq!(Cursor::new(&[0, 0, 0, 7]).u32(), Some(7));
    }
}
