//! TCP options the splicer reads and writes (RFC 9293 section 3.2, RFC 7323, RFC 2018).
//!
//! [`Options::parse`] walks an option block once and records what it found together with the
//! byte offsets of the fields the splice rewrites (the timestamp pair and the SACK blocks), so
//! that [`super::rewrite`] can patch them in place. [`OptionsEmit`] writes the handful of layouts
//! the splicer originates (SYN, SYN-ACK, plain segments).

/// Option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub(super) const END: u8 = 0;
    pub(super) const NOP: u8 = 1;
    pub(super) const MSS: u8 = 2;
    pub(super) const WSCALE: u8 = 3;
    pub(super) const SACK_PERM: u8 = 4;
    pub(super) const SACK: u8 = 5;
    pub(super) const TIMESTAMP: u8 = 8;
}

/// The largest shift RFC 7323 section 2.3 allows; larger values are used as 14.
pub const MAX_WSCALE: u8 = 14;

/// A malformed option block: an option runs past the header, or a known option has the wrong
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOptions {
    /// Offset (within the option block) of the offending option.
    pub offset: usize,
}

impl core::fmt::Display for BadOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed TCP option at offset {}", self.offset)
    }
}

impl core::error::Error for BadOptions {}

/// What an option block holds, with the positions of the rewritable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Maximum segment size (RFC 9293 section 3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 section 2), clamped to [`MAX_WSCALE`].
    pub wscale: Option<u8>,
    /// SACK-permitted (RFC 2018 section 2).
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 section 3).
    pub timestamp: Option<(u32, u32)>,
    /// Offset of TSval within the option block (TSecr follows at `+ 4`).
    pub timestamp_at: usize,
    /// Offset of the first SACK block's left edge within the option block.
    pub sack_at: usize,
    /// Number of SACK blocks (each 8 bytes: left edge, right edge).
    pub sack_blocks: u8,
}

impl Options {
    /// Parses an option block (the bytes between the fixed 20-byte header and the data offset).
    ///
    /// Unknown options are skipped by their length; a second copy of an option overrides the
    /// first, as most stacks do.
    ///
    /// # Errors
    /// [`BadOptions`] when an option's length byte is missing, below 2, runs past the block,
    /// or does not match the fixed length of MSS (4), window scale (3), SACK-permitted (2),
    /// timestamps (10) or SACK (2 + 8n, n in 1..=4).
    pub fn parse(block: &[u8]) -> Result<Options, BadOptions> {
        let mut o = Options::default();
        let mut i = 0;
        while i < block.len() {
            match block[i] {
                kind::END => break,
                kind::NOP => {
                    i += 1;
                    continue;
                }
                k => {
                    let bad = BadOptions { offset: i };
                    let len = *block.get(i + 1).ok_or(bad)? as usize;
                    if len < 2 || i + len > block.len() {
                        return Err(bad);
                    }
                    let body = &block[i + 2..i + len];
                    match k {
                        kind::MSS if len == 4 => {
                            o.mss = Some(u16::from_be_bytes([body[0], body[1]]))
                        }
                        kind::WSCALE if len == 3 => o.wscale = Some(body[0].min(MAX_WSCALE)),
                        kind::SACK_PERM if len == 2 => o.sack_permitted = true,
                        kind::TIMESTAMP if len == 10 => {
                            o.timestamp = Some((be32(&body[0..4]), be32(&body[4..8])));
                            o.timestamp_at = i + 2;
                        }
                        kind::SACK if len >= 10 && (len - 2).is_multiple_of(8) && len <= 34 => {
                            o.sack_at = i + 2;
                            o.sack_blocks = ((len - 2) / 8) as u8;
                        }
                        kind::MSS
                        | kind::WSCALE
                        | kind::SACK_PERM
                        | kind::TIMESTAMP
                        | kind::SACK => return Err(bad),
                        _ => {}
                    }
                    i += len;
                }
            }
        }
        Ok(o)
    }
}

#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The options of a segment the splicer originates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionsEmit {
    /// MSS option (SYN and SYN-ACK only).
    pub mss: Option<u16>,
    /// Window scale option (SYN and SYN-ACK only).
    pub wscale: Option<u8>,
    /// SACK-permitted (SYN and SYN-ACK only).
    pub sack_permitted: bool,
    /// Timestamps `(TSval, TSecr)`.
    pub timestamp: Option<(u32, u32)>,
}

/// The longest block [`OptionsEmit::emit`] writes.
pub const MAX_EMIT_LEN: usize = 20;

impl OptionsEmit {
    /// Length of the block [`OptionsEmit::emit`] writes (a multiple of 4, at most
    /// [`MAX_EMIT_LEN`]).
    pub const fn len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        if self.timestamp.is_some() || self.sack_permitted {
            n += 12;
            if self.timestamp.is_none() {
                n -= 8;
            }
        }
        if self.wscale.is_some() {
            n += 4;
        }
        n
    }

    /// Whether no option is set.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the block in the layout Linux uses (MSS; SACK-permitted folded into the padding
    /// of timestamps; NOP + window scale) and returns its length.
    ///
    /// # Panics
    /// If `out` is shorter than [`OptionsEmit::len`].
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let mut i = 0;
        if let Some(mss) = self.mss {
            out[i..i + 4].copy_from_slice(&[kind::MSS, 4, (mss >> 8) as u8, mss as u8]);
            i += 4;
        }
        match (self.sack_permitted, self.timestamp) {
            (sack, Some((val, ecr))) => {
                let head = if sack {
                    [kind::SACK_PERM, 2]
                } else {
                    [kind::NOP, kind::NOP]
                };
                out[i..i + 2].copy_from_slice(&head);
                out[i + 2] = kind::TIMESTAMP;
                out[i + 3] = 10;
                out[i + 4..i + 8].copy_from_slice(&val.to_be_bytes());
                out[i + 8..i + 12].copy_from_slice(&ecr.to_be_bytes());
                i += 12;
            }
            (true, None) => {
                out[i..i + 4].copy_from_slice(&[kind::NOP, kind::NOP, kind::SACK_PERM, 2]);
                i += 4;
            }
            (false, None) => {}
        }
        if let Some(ws) = self.wscale {
            out[i..i + 4].copy_from_slice(&[kind::NOP, kind::WSCALE, 3, ws.min(MAX_WSCALE)]);
            i += 4;
        }
        i
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn emit_then_parse() {
        for mss in [None, Some(1460)] {
            for wscale in [None, Some(0), Some(7), Some(14)] {
                for sack_permitted in [false, true] {
                    for timestamp in [None, Some((0xdead_beef, 7))] {
                        let e = OptionsEmit {
                            mss,
                            wscale,
                            sack_permitted,
                            timestamp,
                        };
                        let mut b = [0u8; MAX_EMIT_LEN];
                        let n = e.emit(&mut b);
                        assert_eq!(n, e.len());
                        assert_eq!(n % 4, 0);
                        let p = Options::parse(&b[..n]).unwrap();
                        assert_eq!(
                            (p.mss, p.wscale, p.sack_permitted, p.timestamp),
                            (mss, wscale, sack_permitted, timestamp)
                        );
                        if timestamp.is_some() {
                            assert_eq!(be32(&b[p.timestamp_at..]), 0xdead_beef);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sack_blocks_and_errors() {
        // NOP NOP SACK(2 blocks)
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(&[1, 1, 5, 18]);
        b[4..8].copy_from_slice(&100u32.to_be_bytes());
        let p = Options::parse(&b).unwrap();
        assert_eq!((p.sack_at, p.sack_blocks), (4, 2));
        assert_eq!(Options::parse(&[2, 4, 5]), Err(BadOptions { offset: 0 }));
        assert_eq!(Options::parse(&[1, 3, 2, 1]), Err(BadOptions { offset: 1 }));
        assert_eq!(
            Options::parse(&[5, 9, 0, 0, 0, 0, 0, 0, 0]),
            Err(BadOptions { offset: 0 })
        );
        assert_eq!(Options::parse(&[99]), Err(BadOptions { offset: 0 }));
        assert_eq!(Options::parse(&[3, 3, 200, 0]).unwrap().wscale, Some(14));
        // unknown option skipped, END stops
        assert_eq!(
            Options::parse(&[30, 3, 0, 0, 2, 4, 1, 0]).unwrap().mss,
            None
        );
        assert_eq!(
            Options::parse(&[30, 3, 0, 2, 4, 1, 0]).unwrap().mss,
            Some(256)
        );
    }
}
