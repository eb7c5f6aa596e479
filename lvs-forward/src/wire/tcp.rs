//! TCP headers (RFC 9293), enough for a load balancer: ports, flags and the checksum.

use super::{need, ChecksumCaps, Error, Result};
use crate::checksum;
use core::net::IpAddr;
use lvs_core::TcpFlags;

mod field {
    use core::ops::Range;
    pub(super) const SRC_PORT: Range<usize> = 0..2;
    pub(super) const DST_PORT: Range<usize> = 2..4;
    pub(super) const SEQ_NUM: Range<usize> = 4..8;
    pub(super) const ACK_NUM: Range<usize> = 8..12;
    pub(super) const DATA_OFF: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: Range<usize> = 14..16;
    pub(super) const CHECKSUM: Range<usize> = 16..18;
    pub(super) const URGENT: Range<usize> = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view of a TCP segment.
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

    /// Checks that the header, options included, fits.
    ///
    /// # Errors
    /// [`Error::Truncated`] on a short buffer, [`Error::BadLength`] for a data offset below 5.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        if self.header_len() < HEADER_LEN {
            return Err(Error::BadLength);
        }
        need(b, self.header_len())
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
    #[inline]
    fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
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
    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM)
    }
    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM)
    }
    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }
    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        self.u16_at(field::URGENT)
    }
    /// Whether the checksum over the whole buffer (header and payload) verifies.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, super::proto::TCP, b.len() as u32);
        checksum::fold(checksum::add(ph, b)) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
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
    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes())
    }
    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.to_be_bytes())
    }
    /// Sets the header length in bytes (a multiple of 4) and clears the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, v: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((v / 4) as u8) << 4
    }
    /// Sets the flags byte.
    #[inline]
    pub fn set_flags(&mut self, v: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = v.0
    }
    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        self.set_u16_at(field::WINDOW, v)
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v)
    }
    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        self.set_u16_at(field::URGENT, v)
    }
    /// Recomputes the checksum over the whole buffer in full.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_header(src, dst, super::proto::TCP, b.len() as u32);
        let c = checksum::finish(checksum::add(ph, b));
        self.set_checksum(c)
    }
}

/// A TCP header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgement number.
    pub ack_number: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window.
    pub window: u16,
}

impl Repr {
    /// Validates a segment (the buffer is the whole segment) and reads its header; options are
    /// skipped.
    ///
    /// # Errors
    /// The [`Packet::check_len`] errors, and [`Error::BadChecksum`] when `caps.tcp.rx()` and
    /// the checksum fails.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        src: &IpAddr,
        dst: &IpAddr,
        caps: &ChecksumCaps,
    ) -> Result<Repr> {
        p.check_len()?;
        if caps.tcp.rx() && !p.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window: p.window(),
        })
    }

    /// Header length (20).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header at the start of a buffer holding the whole segment (the payload
    /// already after byte 20), computing the checksum if `caps.tcp.tx()`.
    ///
    /// # Panics
    /// If the buffer is shorter than 20 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
        caps: &ChecksumCaps,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len(HEADER_LEN);
        p.set_flags(self.flags);
        p.set_window(self.window);
        p.set_urgent(0);
        if caps.tcp.tx() {
            p.fill_checksum(src, dst);
        } else {
            p.set_checksum(0);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use core::net::Ipv4Addr;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

    // SYN 1234 -> 80, seq 1, window 65535, checksum computed by hand below.
    static SEGMENT: [u8; 24] = [
        0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn construct_and_verify() {
        let mut b = SEGMENT;
        let r = Repr::parse(
            &Packet::new_checked(&b[..]).unwrap(),
            &SRC,
            &DST,
            &ChecksumCaps::ignored(),
        )
        .unwrap();
        assert_eq!((r.src_port, r.dst_port, r.seq_number), (1234, 80, 1));
        assert!(r.flags.syn() && !r.flags.ack());
        r.emit(
            &mut Packet::new_unchecked(&mut b[..]),
            &SRC,
            &DST,
            &ChecksumCaps::default(),
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&SRC, &DST));
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        // checksum by hand: pseudo header 0xc000+0x0201+0xc633+0x6407+6+24, then the segment
        let sum: u32 = 0xc000
            + 0x0201
            + 0xc633
            + 0x6407
            + 6
            + 24
            + 0x04d2
            + 0x0050
            + 0x0001
            + 0x5002
            + 0xffff
            + 0xdead
            + 0xbeef;
        assert_eq!(p.checksum(), !checksum::fold(sum));
        assert!(Repr::parse(&p, &SRC, &DST, &ChecksumCaps::default()).is_ok());
        b[23] ^= 0xff;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, &SRC, &DST, &ChecksumCaps::default()),
            Err(Error::BadChecksum)
        );
        let mut short = SEGMENT;
        short[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&short[..]).unwrap_err(),
            Error::BadLength
        );
        short[12] = 0x70;
        assert_eq!(
            Packet::new_checked(&short[..]).unwrap_err(),
            Error::Truncated { offset: 24 }
        );
    }
}
