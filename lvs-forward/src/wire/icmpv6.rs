//! ICMPv6 (RFC 4443), and neighbour discovery (RFC 4861) through smoltcp in [`ndp`].

use super::{need, ChecksumCaps, Result};
use crate::checksum;
use core::net::{IpAddr, Ipv6Addr};

/// Destination unreachable.
pub const TYPE_DEST_UNREACH: u8 = 1;
/// Packet too big.
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
/// Time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// Parameter problem.
pub const TYPE_PARAM_PROBLEM: u8 = 4;
/// Echo request.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Neighbour solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbour advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// The IPv6 minimum link MTU, also the largest ICMPv6 error packet (RFC 4443 2.4 (c)).
pub const MIN_MTU: usize = 1280;

/// Length of the ICMPv6 header.
pub const HEADER_LEN: usize = 8;

/// Whether this type is an error message (types below 128). IPVS relays all of them
/// (`ip_vs_in_icmp_v6` skips only informational messages).
pub const fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

icmp_header! {
    /// A view of an ICMPv6 message.
    Packet;
    /// An ICMPv6 header: the data stays in the buffer.
    Repr;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The MTU of a packet-too-big message.
    #[inline]
    pub fn mtu(&self) -> u32 {
        u32::from_be_bytes(self.rest())
    }
    /// Whether the checksum (with the pseudo-header) over the whole buffer verifies.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let (src, dst) = (IpAddr::V6(*src), IpAddr::V6(*dst));
        checksum::verify_pseudo(&src, &dst, super::proto::ICMPV6, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let (src, dst) = (IpAddr::V6(*src), IpAddr::V6(*dst));
        let c = checksum::with_pseudo(&src, &dst, super::proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c)
    }
}

impl Repr {
    /// Reads the header of a message (the buffer is the whole message).
    ///
    /// # Errors
    /// [`super::Error::Truncated`], and [`super::Error::BadChecksum`] when `caps.icmp.rx()` and it fails.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        caps: &ChecksumCaps,
    ) -> Result<Repr> {
        p.check_len()?;
        caps.icmp.check_rx(|| p.verify_checksum(src, dst))?;
        Ok(Repr::read(p))
    }
    /// "Packet too big" advertising `mtu`.
    pub const fn packet_too_big(mtu: u32) -> Repr {
        Repr {
            msg_type: TYPE_PACKET_TOO_BIG,
            code: 0,
            rest: mtu.to_be_bytes(),
        }
    }
    /// Writes the header; the data must already follow it. The checksum covers the whole
    /// buffer and is computed if `caps.icmp.tx()`.
    ///
    /// # Panics
    /// If the buffer is shorter than 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        caps: &ChecksumCaps,
    ) {
        self.write(p);
        caps.icmp
            .emit_tx(p, |p| p.fill_checksum(src, dst), |p| p.set_checksum(0));
    }
}

pub mod ndp;

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn too_big_roundtrip() {
        let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&[0x60, 0, 0, 0, 0, 0, 0x3a, 0x40]);
        let r = Repr::packet_too_big(1400);
        r.emit(
            &mut Packet::new_unchecked(&mut b[..]),
            &src,
            &dst,
            &ChecksumCaps::default(),
        );
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1400);
        assert_eq!(Repr::parse(&p, &src, &dst, &ChecksumCaps::default()), Ok(r));
        assert_eq!(
            Repr::parse(&p, &dst, &dst, &ChecksumCaps::default()),
            Err(crate::wire::Error::BadChecksum)
        );
        assert!(is_error(TYPE_PACKET_TOO_BIG) && !is_error(TYPE_NEIGHBOR_SOLICIT));
    }
}
