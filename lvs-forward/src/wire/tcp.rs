//! TCP headers (RFC 9293), enough for a load balancer: ports, flags and the checksum.

use super::{need, ChecksumCaps, Error, Result};
use crate::checksum;
use core::net::IpAddr;
use lvs_core::TcpFlags;

/// Offset of the byte holding the data offset.
const DATA_OFF: usize = 12;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Offset of the checksum field within the header.
pub const CHECKSUM_OFFSET: usize = 16;

view! {
    /// A view of a TCP segment.
    Packet {
        /// Source port.
        src_port, set_src_port: u16 = 0;
        /// Destination port.
        dst_port, set_dst_port: u16 = 2;
        /// Sequence number.
        seq_number, set_seq_number: u32 = 4;
        /// Acknowledgement number.
        ack_number, set_ack_number: u32 = 8;
        /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN).
        flags, set_flags: TcpFlags = 13;
        /// Window.
        window, set_window: u16 = 14;
        /// Checksum field.
        checksum, set_checksum: u16 = CHECKSUM_OFFSET;
        /// Urgent pointer.
        urgent, set_urgent: u16 = 18;
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
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

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[DATA_OFF] >> 4) * 4
    }
    /// Whether the checksum over the whole buffer (header and payload) verifies.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::verify_pseudo(src, dst, super::proto::TCP, self.buffer.as_ref())
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
    /// Sets the header length in bytes (a multiple of 4) and clears the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, v: usize) {
        self.buffer.as_mut()[DATA_OFF] = ((v / 4) as u8) << 4
    }
    /// Recomputes the checksum over the whole buffer in full.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::with_pseudo(src, dst, super::proto::TCP, self.buffer.as_ref());
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
        caps.tcp.check_rx(|| p.verify_checksum(src, dst))?;
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
        caps.tcp
            .emit_tx(p, |p| p.fill_checksum(src, dst), |p| p.set_checksum(0));
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
