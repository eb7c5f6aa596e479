//! UDP headers (RFC 768).

use super::{fits, need, Checksum, ChecksumCaps, Error, Result};
use crate::checksum;
use core::net::IpAddr;

/// Length of a UDP header.
pub const HEADER_LEN: usize = 8;
/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = 6;

view! {
    /// A view of a UDP datagram.
    Packet {
        /// Source port.
        src_port, set_src_port: u16 = 0;
        /// Destination port.
        dst_port, set_dst_port: u16 = 2;
        /// Length field (header and payload).
        length, set_len: u16 = 4;
        /// Checksum field (0: none, IPv4 only).
        checksum, set_checksum: u16 = CHECKSUM_OFFSET;
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
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
        fits(len, b)
    }

    /// Whether the checksum verifies over the length field's span; a zero checksum (none)
    /// verifies.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = usize::from(self.length());
        checksum::verify_pseudo(src, dst, super::proto::UDP, &self.buffer.as_ref()[..len])
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
    /// Computes the checksum in full over the length field's span; a result of 0 is sent as
    /// 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let len = usize::from(self.length());
        let c = checksum::with_pseudo(src, dst, super::proto::UDP, &self.buffer.as_ref()[..len]);
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
        caps.udp.check_rx(|| p.verify_checksum(src, dst))?;
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
        let policy = if with_checksum {
            caps.udp
        } else {
            Checksum::None
        };
        policy.emit_tx(p, |p| p.fill_checksum(src, dst), |p| p.set_checksum(0));
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
