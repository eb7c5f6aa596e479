//! IPv6 headers (RFC 8200) and the walk over extension headers to the transport header.

use super::{byte, fits, need, proto, Error, Field, Result};
use core::net::Ipv6Addr;

/// Offset of the word holding the version, traffic class and flow label.
const VER_TC_FLOW: usize = 0;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// The most extension headers [`walk_extensions`] follows before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

view! {
    /// A view of an IPv6 packet.
    Packet {
        /// Payload length.
        payload_len, set_payload_len: u16 = 4;
        /// Next header of the fixed header.
        next_header, set_next_header: u8 = 6;
        /// Hop limit.
        hop_limit, set_hop_limit: u8 = 7;
        /// Source address.
        src_addr, set_src_addr: Ipv6Addr = 8;
        /// Destination address.
        dst_addr, set_dst_addr: Ipv6Addr = 24;
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the fixed header and the payload length fit in the buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] below 40 bytes, [`Error::LengthBeyondBuffer`] when the payload
    /// length runs past the buffer. (Jumbograms, payload length 0 with a hop-by-hop jumbo
    /// option, are not supported and read as an empty payload.)
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need(b, HEADER_LEN)?;
        fits(HEADER_LEN + usize::from(self.payload_len()), b)
    }

    /// Version nibble.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let at = VER_TC_FLOW..VER_TC_FLOW + 4;
        <u32 as Field>::read(&self.buffer.as_ref()[at]) & 0x000f_ffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload (extension headers included) up to the payload length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        let at = VER_TC_FLOW..VER_TC_FLOW + 4;
        v.write(&mut self.buffer.as_mut()[at])
    }
}

/// The fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
}

impl Repr {
    /// Validates a packet and reads its fixed header.
    ///
    /// # Errors
    /// [`Error::BadVersion`] and the [`Packet::check_len`] errors.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Result<Repr> {
        need(p.buffer.as_ref(), 1)?;
        if p.version() != 6 {
            return Err(Error::BadVersion(p.version()));
        }
        p.check_len()?;
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// Header length (40).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header.
    ///
    /// # Panics
    /// If the buffer is shorter than 40 bytes or `payload_len` exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(u16::try_from(self.payload_len).expect("IPv6 payload too long"));
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

/// What a fragment header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

/// Where the extension header chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtChain {
    /// The upper-layer protocol (the last next-header value).
    pub protocol: u8,
    /// Offset of the upper-layer header, from the start of the buffer given to
    /// [`walk_extensions`].
    pub offset: usize,
    /// The fragment header, if one was crossed.
    pub fragment: Option<FragmentInfo>,
}

/// Follows the extension headers of an IPv6 packet to the upper-layer header.
///
/// `b` is the buffer, `next` the fixed header's next-header value, `off` the offset of the first
/// extension header (40 past the IPv6 header) and `end` the end of the packet in `b`. Hop-by-hop
/// (0), routing (43), fragment (44), destination options (60) and AH (51) are skipped; anything
/// else ends the walk and is reported as the protocol. The walk stops at a fragment header of a
/// non-first fragment (its upper-layer header is elsewhere), reporting the fragment's next
/// header.
///
/// # Errors
/// [`Error::Truncated`] if a header runs past `end`, [`Error::BadExtensionHeader`] after
/// [`MAX_EXT_HEADERS`] headers or for a hop-by-hop header that is not first.
pub fn walk_extensions(b: &[u8], mut next: u8, mut off: usize, end: usize) -> Result<ExtChain> {
    let b = b.get(..end).unwrap_or(b);
    let mut fragment = None;
    for i in 0..=MAX_EXT_HEADERS {
        let len = match next {
            proto::HOPOPT if i != 0 => return Err(Error::BadExtensionHeader),
            proto::HOPOPT | proto::ROUTING | proto::DSTOPTS => {
                (usize::from(byte(b, off + 1)?) + 1) * 8
            }
            proto::AH => (usize::from(byte(b, off + 1)?) + 2) * 4,
            proto::FRAGMENT => {
                need(b, off + 8)?;
                let fo = super::be16(b, off + 2)?;
                let id = u32::from_be_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]);
                let info = FragmentInfo {
                    offset: fo & 0xfff8,
                    more: fo & 1 != 0,
                    ident: id,
                };
                fragment = Some(info);
                if info.offset != 0 {
                    return Ok(ExtChain {
                        protocol: b[off],
                        offset: off + 8,
                        fragment,
                    });
                }
                8
            }
            _ => {
                return Ok(ExtChain {
                    protocol: next,
                    offset: off,
                    fragment,
                })
            }
        };
        need(b, off + len)?;
        next = b[off];
        off += len;
    }
    Err(Error::BadExtensionHeader)
}

#[cfg(test)]
mod test {
    use super::*;

    fn packet_with_exts() -> [u8; 40 + 8 + 8 + 16 + 8] {
        let mut p = [0u8; 80];
        p[0] = 0x6b; // version 6, traffic class 0xb8 (DSCP EF)
        p[1] = 0x81;
        p[2] = 0x23;
        p[3] = 0x45;
        p[4..6].copy_from_slice(&40u16.to_be_bytes());
        p[6] = proto::HOPOPT;
        p[7] = 64;
        p[8..24].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        p[24..40].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        // hop-by-hop, 8 bytes (PadN)
        p[40] = proto::FRAGMENT;
        p[41] = 0;
        p[42] = 1;
        p[43] = 4;
        // fragment: offset 0, M=1, id 0xdeadbeef
        p[48] = proto::DSTOPTS;
        p[50..52].copy_from_slice(&1u16.to_be_bytes());
        p[52..56].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        // destination options, 16 bytes
        p[56] = proto::UDP;
        p[57] = 1;
        p[58] = 1;
        p[59] = 12;
        // UDP header at 72
        p
    }

    #[test]
    fn deconstruct_and_walk() {
        let b = packet_with_exts();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 40);
        let c = walk_extensions(&b, p.next_header(), 40, 80).unwrap();
        assert_eq!(c.protocol, proto::UDP);
        assert_eq!(c.offset, 72);
        assert_eq!(
            c.fragment,
            Some(FragmentInfo {
                offset: 0,
                more: true,
                ident: 0xdead_beef
            })
        );
    }

    #[test]
    fn walk_errors() {
        let b = packet_with_exts();
        assert_eq!(
            walk_extensions(&b, proto::HOPOPT, 40, 60),
            Err(Error::Truncated { offset: 60 })
        );
        let mut c = b;
        c[48] = proto::HOPOPT; // hop-by-hop not first
        assert_eq!(
            walk_extensions(&c, proto::HOPOPT, 40, 80),
            Err(Error::BadExtensionHeader)
        );
        // non-first fragment stops the walk
        let mut d = b;
        d[50..52].copy_from_slice(&(8u16 << 3).to_be_bytes());
        let w = walk_extensions(&d, proto::HOPOPT, 40, 80).unwrap();
        assert_eq!(w.fragment.unwrap().offset, 64);
        assert_eq!(w.protocol, proto::DSTOPTS);
    }

    #[test]
    fn repr_roundtrip() {
        let b = packet_with_exts();
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        let mut out = b;
        out[..40].fill(0);
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, b);
    }
}
