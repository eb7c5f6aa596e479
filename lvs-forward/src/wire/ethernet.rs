//! Ethernet II frames (IEEE 802.3), with at most one 802.1Q tag recognised by the parser.

use super::{need, Result};
use core::fmt;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Whether the group (multicast) bit is set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// The multicast MAC an IPv6 multicast address maps to (RFC 2464 section 7).
    pub const fn ipv6_multicast(addr: &[u8; 16]) -> MacAddr {
        MacAddr([0x33, 0x33, addr[12], addr[13], addr[14], addr[15]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// EtherType values this crate knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// IPv4 (0x0800).
    Ipv4,
    /// ARP (0x0806).
    Arp,
    /// IPv6 (0x86dd).
    Ipv6,
    /// An 802.1Q VLAN tag (0x8100).
    Vlan,
    /// Anything else.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            0x8100 => EtherType::Vlan,
            o => EtherType::Unknown(o),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Vlan => 0x8100,
            EtherType::Unknown(o) => o,
        }
    }
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;

field_impl! {
    MacAddr: 6, MacAddr, |v: MacAddr| v.0;
    EtherType: 2, |a| EtherType::from(u16::from_be_bytes(a)), |v| u16::from(v).to_be_bytes();
}

view! {
    /// A view of an Ethernet II frame.
    Frame {
        /// Destination MAC.
        dst_addr, set_dst_addr: MacAddr = 0;
        /// Source MAC.
        src_addr, set_src_addr: MacAddr = 6;
        /// The EtherType field.
        ethertype, set_ethertype: EtherType = 12;
    }
}

fixed_header!(Frame, 14, payload, payload_mut, "The payload");

/// An untagged Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: MacAddr,
    /// Destination MAC.
    pub dst_addr: MacAddr,
    /// EtherType.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked frame.
    ///
    /// # Errors
    /// [`super::Error::Truncated`] on a short buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length (14).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header.
    ///
    /// # Panics
    /// If the buffer is shorter than 14 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    static FRAME: [u8; 18] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn deconstruct_construct() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.src_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        let r = Repr::parse(&f).unwrap();
        let mut out = [0u8; 18];
        out[14..].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        r.emit(&mut Frame::new_unchecked(&mut out[..]));
        assert_eq!(out, FRAME);
        assert!(Frame::new_checked(&FRAME[..13]).is_err());
        assert_eq!(std::format!("{}", f.src_addr()), "02:00:00:00:00:01");
    }
}
