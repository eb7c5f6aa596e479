//! UDP headers (RFC 768).

use super::{need, ChecksumCaps, Error, Result};
use crate::checksum;
use core::net::IpAddr;

mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const LENGTH: Range<usize> = 4..6;
    pub(super) const CHECKSUM: Range<usize> = 6..8;
}

/// Length of a UDP header.
pub const HEADER_LEN: usize = 8;
/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and runs [`Packet::check_len`].
    ///
    /// # Errors
    /// As [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the header fits and the length field covers the header and fits the buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadLength`] (length < 8), [`Error::LengthBeyondBuffer`].
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        let len = usize::from(self.length());
        if len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len > b.len() {
            return Err(Error::LengthBeyondBuffer {
                claimed: len,
                available: b.len(),
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    /// Length field (header and payload).
    #[inline]
    pub fn length(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    /// Checksum field (0: none, IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Whether the checksum verifies over the length field's span; a zero checksum (none)
    /// verifies.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = usize::from(self.length());
        let ph = checksum::pseudo_header(src, dst, super::proto::UDP, len as u32);
        checksum::fold(checksum::add(ph, &self.buffer.as_ref()[..len])) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload up to the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_u16_at(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes())
    }
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16_at(field::SRC_PORT, v)
    }
    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16_at(field::DST_PORT, v)
    }
    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.set_u16_at(field::LENGTH, v)
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v)
    }
    /// Computes the checksum in full over the length field's span; a result of 0 is sent as
    /// 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let len = usize::from(self.length());
        let ph = checksum::pseudo_header(src, dst, super::proto::UDP, len as u32);
        let c = checksum::finish(checksum::add(ph, &self.buffer.as_ref()[..len]));
        self.set_checksum(if c == 0 { 0xffff } else { c })
    }
}

/// A UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    /// Validates a datagram and reads its header.
    ///
    /// # Errors
    /// The [`Packet::check_len`] errors, and [`Error::BadChecksum`] when `caps.udp.rx()` and a
    /// non-zero checksum fails.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        src: &IpAddr,
        dst: &IpAddr,
        caps: &ChecksumCaps,
    ) -> Result<Repr> {
        p.check_len()?;
        if caps.udp.rx() && !p.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
        })
    }

    /// Header length (8).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header in front of `payload_len` bytes already in place, with the checksum
    /// computed if `caps.udp.tx()` and `with_checksum`, else zero.
    ///
    /// # Panics
    /// If the buffer is shorter than `8 + payload_len` or that exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        payload_len: usize,
        src: &IpAddr,
        dst: &IpAddr,
        with_checksum: bool,
        caps: &ChecksumCaps,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(u16::try_from(HEADER_LEN + payload_len).expect("UDP datagram too long"));
        if with_checksum && caps.udp.tx() {
            p.fill_checksum(src, dst);
        } else {
            p.set_checksum(0);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use core::net::Ipv6Addr;

    #[test]
    fn emit_parse_v6() {
        let src = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
        let mut b = [0u8; 12];
        b[8..].copy_from_slice(b"ping");
        let r = Repr {
            src_port: 5353,
            dst_port: 53,
        };
        r.emit(
            &mut Packet::new_unchecked(&mut b[..]),
            4,
            &src,
            &dst,
            true,
            &ChecksumCaps::default(),
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.length(), 12);
        assert_ne!(p.checksum(), 0);
        assert_eq!(Repr::parse(&p, &src, &dst, &ChecksumCaps::default()), Ok(r));
        assert_eq!(p.payload(), b"ping");
        b[9] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, &src, &dst, &ChecksumCaps::default()),
            Err(Error::BadChecksum)
        );
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadLength);
        b[4..6].copy_from_slice(&13u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::LengthBeyondBuffer {
                claimed: 13,
                available: 12
            }
        );
    }
}
