//! ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).

use super::{need, ChecksumCaps, Result};
use crate::checksum;

/// Echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const TYPE_DEST_UNREACH: u8 = 3;
/// Source quench (deprecated by RFC 6633, still relayed by IPVS).
pub const TYPE_SOURCE_QUENCH: u8 = 4;
/// Echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Parameter problem.
pub const TYPE_PARAM_PROBLEM: u8 = 12;
/// Destination unreachable code: port unreachable.
pub const CODE_PORT_UNREACH: u8 = 3;
/// Destination unreachable code: fragmentation needed and DF set.
pub const CODE_FRAG_NEEDED: u8 = 4;
/// Time exceeded code: TTL exceeded in transit.
pub const CODE_TTL_EXCEEDED: u8 = 0;

/// Length of the ICMP header (type, code, checksum and the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;

/// Whether IPVS relays this type as an error about a tracked flow: destination unreachable,
/// source quench and time exceeded, exactly the types `ip_vs_in_icmp`/`ip_vs_out_icmp` accept.
pub const fn is_relayed_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        TYPE_DEST_UNREACH | TYPE_SOURCE_QUENCH | TYPE_TIME_EXCEEDED
    )
}

/// Whether this type is an ICMP error message (never answered with another error, RFC 1122
/// 3.2.2).
pub const fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        TYPE_DEST_UNREACH | TYPE_SOURCE_QUENCH | 5 | TYPE_TIME_EXCEEDED | TYPE_PARAM_PROBLEM
    )
}

icmp_header! {
    /// A view of an ICMP message.
    Packet;
    /// An ICMP header: the data (a quote or echo payload) stays in the buffer.
    Repr;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[6], b[7]])
    }
    /// Whether the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add(0, self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c)
    }
}

impl Repr {
    /// Reads the header of a message (the buffer is the whole message).
    ///
    /// # Errors
    /// [`super::Error::Truncated`], and [`super::Error::BadChecksum`] when `caps.icmp.rx()` and it fails.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>, caps: &ChecksumCaps) -> Result<Repr> {
        p.check_len()?;
        caps.icmp.check_rx(|| p.verify_checksum())?;
        Ok(Repr::read(p))
    }
    /// "Fragmentation needed and DF set" advertising `mtu`.
    pub const fn frag_needed(mtu: u16) -> Repr {
        let m = mtu.to_be_bytes();
        Repr {
            msg_type: TYPE_DEST_UNREACH,
            code: CODE_FRAG_NEEDED,
            rest: [0, 0, m[0], m[1]],
        }
    }
    /// Writes the header; the data must already follow it in the buffer. The checksum covers
    /// the whole buffer and is computed if `caps.icmp.tx()`.
    ///
    /// # Panics
    /// If the buffer is shorter than 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>, caps: &ChecksumCaps) {
        self.write(p);
        caps.icmp
            .emit_tx(p, |p| p.fill_checksum(), |p| p.set_checksum(0));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // echo request id 1 seq 1, "abcd": checksum 0x9a8f? computed below by hand
    #[test]
    fn echo_roundtrip() {
        let mut b = [8u8, 0, 0, 0, 0, 1, 0, 1, b'a', b'b', b'c', b'd'];
        let r = Repr {
            msg_type: TYPE_ECHO_REQUEST,
            code: 0,
            rest: [0, 1, 0, 1],
        };
        r.emit(
            &mut Packet::new_unchecked(&mut b[..]),
            &ChecksumCaps::default(),
        );
        let sum: u32 = 0x0800 + 0x0001 + 0x0001 + 0x6162 + 0x6364;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().checksum(),
            !checksum::fold(sum)
        );
        assert_eq!(
            Repr::parse(
                &Packet::new_checked(&b[..]).unwrap(),
                &ChecksumCaps::default()
            ),
            Ok(r)
        );
        let f = Repr::frag_needed(1480);
        assert_eq!(f.rest, [0, 0, 0x05, 0xc8]);
        assert!(
            is_relayed_error(3)
                && is_relayed_error(11)
                && !is_relayed_error(12)
                && !is_relayed_error(8)
        );
    }
}
