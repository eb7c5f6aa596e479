//! IPv4 headers (RFC 791), options included in the view (IHL > 5).

use super::{fits, need, ChecksumCaps, Error, Result};
use crate::checksum;
use core::net::Ipv4Addr;

/// Offset of the byte holding the version and IHL.
const VER_IHL: usize = 0;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// The DF flag within the flags/fragment-offset field.
pub const FLAG_DF: u16 = 0x4000;
/// The MF flag within the flags/fragment-offset field.
pub const FLAG_MF: u16 = 0x2000;
/// The fragment offset mask (in 8-byte units) within the flags/fragment-offset field.
pub const OFFSET_MASK: u16 = 0x1fff;

view! {
    /// A view of an IPv4 packet.
    Packet {
        /// The TOS byte (DSCP and ECN).
        tos, set_tos: u8 = 1;
        /// Total length.
        total_len, set_total_len: u16 = 2;
        /// Identification.
        ident, set_ident: u16 = 4;
        /// The raw flags and fragment offset field.
        flags_frag, set_flags_frag: u16 = 6;
        /// TTL.
        ttl, set_ttl: u8 = 8;
        /// Protocol number.
        protocol, set_protocol: u8 = 9;
        /// Header checksum field.
        checksum, set_checksum: u16 = 10;
        /// Source address.
        src_addr, set_src_addr: Ipv4Addr = 12;
        /// Destination address.
        dst_addr, set_dst_addr: Ipv4Addr = 16;
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the header (with options) and the total length fit in the buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] below 20 bytes or before the end of the options, [`Error::BadIhl`]
    /// for IHL < 5, [`Error::BadLength`] when the total length is below the header length, and
    /// [`Error::LengthBeyondBuffer`] when it exceeds the buffer.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        let ihl = b[VER_IHL] & 0x0f;
        if ihl < 5 {
            return Err(Error::BadIhl(ihl));
        }
        let hl = self.header_len();
        need(b, hl)?;
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(Error::BadLength);
        }
        fits(total, b)
    }

    /// Version nibble.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[VER_IHL] & 0x0f) * 4
    }
    /// DF.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    /// MF.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & OFFSET_MASK) << 3
    }
    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add(0, &self.buffer.as_ref()[..self.header_len()])) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The options bytes (between byte 20 and the header length).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload up to the total length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f)
    }
    /// Recomputes the header checksum in full.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c)
    }
    /// The payload up to the total length, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// An IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length (total length minus the header).
    pub payload_len: usize,
    /// TTL.
    pub ttl: u8,
    /// The TOS byte (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// DF flag.
    pub dont_frag: bool,
}

impl Repr {
    /// Validates a packet and reads its header; options are skipped, fragments are refused.
    ///
    /// # Errors
    /// [`Error::BadVersion`], the [`Packet::check_len`] errors, [`Error::NonFirstFragment`] for
    /// any fragment (MF or offset set; this representation has no fragment fields), and
    /// [`Error::BadChecksum`] when `caps.ipv4.rx()` and the checksum fails.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>, caps: &ChecksumCaps) -> Result<Repr> {
        need(p.buffer.as_ref(), 1)?;
        if p.version() != 4 {
            return Err(Error::BadVersion(p.version()));
        }
        p.check_len()?;
        if p.more_frags() || p.frag_offset() != 0 {
            return Err(Error::NonFirstFragment);
        }
        caps.ipv4.check_rx(|| p.verify_checksum())?;
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
        })
    }

    /// Header length (20).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header; the checksum is computed if `caps.ipv4.tx()`, else zeroed.
    ///
    /// # Panics
    /// If the buffer is shorter than 20 bytes, or `payload_len + 20` exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>, caps: &ChecksumCaps) {
        p.set_version_and_header_len(HEADER_LEN);
        p.set_tos(self.tos);
        let total = u16::try_from(self.payload_len + HEADER_LEN).expect("IPv4 payload too long");
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_flags_frag(if self.dont_frag { FLAG_DF } else { 0 });
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        caps.ipv4
            .emit_tx(p, |p| p.fill_checksum(), |p| p.set_checksum(0));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // 45 00 00 1c, id 0x1234, DF, ttl 64, proto UDP, 192.0.2.1 -> 198.51.100.7, 8 bytes UDP
    static PACKET: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0x00, 0x02,
        0x01, 0xc6, 0x33, 0x64, 0x07, 0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    fn with_checksum() -> [u8; 28] {
        let mut p = PACKET;
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn deconstruct() {
        let bytes = with_checksum();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 7));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn parse_emit_roundtrip() {
        let bytes = with_checksum();
        let r = Repr::parse(
            &Packet::new_checked(&bytes[..]).unwrap(),
            &ChecksumCaps::default(),
        )
        .unwrap();
        let mut out = [0u8; 28];
        out[20..].copy_from_slice(&bytes[20..]);
        r.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            &ChecksumCaps::default(),
        );
        assert_eq!(out, bytes);
    }

    #[test]
    fn rejects() {
        let mut b = with_checksum();
        b[11] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..]), &ChecksumCaps::default()),
            Err(Error::BadChecksum)
        );
        assert_eq!(
            Packet::new_checked(&b[..27]).unwrap_err(),
            Error::LengthBeyondBuffer {
                claimed: 28,
                available: 27
            }
        );
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::BadIhl(4));
        b[0] = 0x46; // options claimed, but total length 28 still >= 24
        assert!(Packet::new_checked(&b[..]).is_ok());
        b[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated { offset: 28 }
        );
    }
}
