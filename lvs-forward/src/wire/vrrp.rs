//! VRRP version 3 advertisements (RFC 5798 section 5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(4)    |       |(Rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPvX Address(es)                        |
//! ```
//!
//! The message rides directly on IP (protocol 112) to 224.0.0.18 or ff02::12 with a TTL / hop
//! limit of 255. Its checksum covers the whole message plus the IP pseudo-header, for IPv4 too
//! (that is new in version 3). All addresses of one message are of the message's IP family.

use super::{need, Checksum, Error, Field, Result};
use crate::checksum;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    pub(super) const VER_TYPE: usize = 0;
    pub(super) const MAX_ADVER_INT: usize = 4;
    pub(super) const ADDRS: usize = 8;
}

/// The IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group adverts go to.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group adverts go to.
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit every advert is sent with and must arrive with.
pub const TTL: u8 = 255;
/// The only version this module reads and writes.
pub const VERSION: u8 = 3;
/// The only message type (advertisement).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed part of the message.
pub const HEADER_LEN: usize = 8;
/// The most addresses a [`Repr`] holds (keepalived puts at most 20 in an advert, too).
pub const MAX_ADDRS: usize = 20;
/// The longest message a [`Repr`] emits: the header and [`MAX_ADDRS`] IPv6 addresses.
pub const MAX_LEN: usize = HEADER_LEN + MAX_ADDRS * 16;
/// The largest Max Advertise Interval (12 bits of centiseconds).
pub const MAX_ADVER_INT: u16 = 0x0fff;

view! {
    /// A view of a VRRP message.
    Packet {
        /// The virtual router ID.
        vrid, set_vrid: u8 = 1;
        /// The sender's priority (0: it stops being master).
        priority, set_priority: u8 = 2;
        /// The number of addresses.
        addr_count, set_addr_count: u8 = 3;
        /// The checksum field.
        checksum, set_checksum: u16 = 6;
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the fixed header fits. The address list's length depends on the IP family,
    /// which the message does not carry: [`Packet::addrs_len`] checks it.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn check_len(&self) -> Result<()> {
        need(self.buffer.as_ref(), HEADER_LEN)
    }

    /// The version nibble.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }
    /// The type nibble.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }
    /// The Max Advertise Interval in centiseconds (12 bits; the reserved bits are ignored).
    #[inline]
    pub fn max_adver_int(&self) -> u16 {
        let at = field::MAX_ADVER_INT..field::MAX_ADVER_INT + 2;
        <u16 as Field>::read(&self.buffer.as_ref()[at]) & MAX_ADVER_INT
    }

    /// The length of the address list for addresses of `addr_len` bytes (4 or 16), checked
    /// against the buffer.
    ///
    /// # Errors
    /// [`Error::LengthBeyondBuffer`] when the count claims more addresses than the buffer holds.
    pub fn addrs_len(&self, addr_len: usize) -> Result<usize> {
        let len = usize::from(self.addr_count()) * addr_len;
        let have = self.buffer.as_ref().len().saturating_sub(HEADER_LEN);
        if len > have {
            return Err(Error::LengthBeyondBuffer {
                claimed: HEADER_LEN + len,
                available: self.buffer.as_ref().len(),
            });
        }
        Ok(len)
    }

    /// Whether the checksum verifies over the whole buffer (the message as the IP payload) with
    /// the pseudo-header of `src` → `dst`.
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        checksum::verify_pseudo(src, dst, PROTOCOL, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version and type nibbles.
    #[inline]
    pub fn set_version_and_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }
    /// Sets the Max Advertise Interval (centiseconds, 12 bits; the reserved bits are zeroed).
    #[inline]
    pub fn set_max_adver_int(&mut self, v: u16) {
        let at = field::MAX_ADVER_INT..field::MAX_ADVER_INT + 2;
        (v & MAX_ADVER_INT).write(&mut self.buffer.as_mut()[at]);
    }
    /// Computes and stores the checksum over the whole buffer with the pseudo-header.
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = checksum::with_pseudo(src, dst, PROTOCOL, self.buffer.as_ref());
        self.set_checksum(c);
    }
    /// The address list bytes (everything after the header).
    #[inline]
    pub fn addrs_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::ADDRS..]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The address list bytes (everything after the header).
    #[inline]
    pub fn addrs(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::ADDRS..]
    }
}

/// A bounded, copyable list of addresses of one family (at most [`MAX_ADDRS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrList {
    addrs: [IpAddr; MAX_ADDRS],
    len: u8,
}

impl Default for AddrList {
    fn default() -> Self {
        AddrList {
            addrs: [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_ADDRS],
            len: 0,
        }
    }
}

impl AddrList {
    /// A list of `addrs`, or `None` when there are more than [`MAX_ADDRS`] or the families mix.
    pub fn new(addrs: &[IpAddr]) -> Option<AddrList> {
        let mut l = AddrList::default();
        for a in addrs {
            l.push(*a).ok()?;
        }
        Some(l)
    }

    /// Appends `a`, or returns it when the list is full or `a` is of the other family.
    ///
    /// # Errors
    /// The rejected address.
    pub fn push(&mut self, a: IpAddr) -> core::result::Result<(), IpAddr> {
        let n = usize::from(self.len);
        if n >= MAX_ADDRS || self.first().is_some_and(|f| f.is_ipv4() != a.is_ipv4()) {
            return Err(a);
        }
        self.addrs[n] = a;
        self.len += 1;
        Ok(())
    }

    /// The addresses.
    pub fn as_slice(&self) -> &[IpAddr] {
        &self.addrs[..usize::from(self.len)]
    }

    /// The first address.
    pub fn first(&self) -> Option<&IpAddr> {
        self.as_slice().first()
    }

    /// How many addresses.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether both lists hold the same addresses, in any order (duplicates count).
    pub fn same_set(&self, other: &AddrList) -> bool {
        self.len == other.len
            && self
                .as_slice()
                .iter()
                .all(|a| count(self, a) == count(other, a))
    }
}

fn count(l: &AddrList, a: &IpAddr) -> usize {
    l.as_slice().iter().filter(|b| *b == a).count()
}

/// Why bytes are not a VRRP version 3 advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvertError {
    /// The buffer is shorter than the header or the address list its count claims, or longer
    /// than it (trailing bytes).
    BadLength,
    /// A version other than 3 (version 2 adverts, with their authentication, included).
    BadVersion(u8),
    /// A type other than 1 (advertisement).
    BadType(u8),
    /// The checksum does not verify.
    BadChecksum,
    /// More addresses than [`MAX_ADDRS`], or none.
    BadAddrCount(u8),
    /// A Max Advertise Interval of zero.
    ZeroInterval,
}

impl core::fmt::Display for AdvertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AdvertError::BadLength => f.write_str("VRRP length does not match its address count"),
            AdvertError::BadVersion(v) => write!(f, "VRRP version {v}, expected 3"),
            AdvertError::BadType(t) => write!(f, "VRRP type {t}, expected 1 (advertisement)"),
            AdvertError::BadChecksum => f.write_str("VRRP checksum mismatch"),
            AdvertError::BadAddrCount(n) => write!(f, "VRRP address count {n} out of 1..=20"),
            AdvertError::ZeroInterval => f.write_str("VRRP max advertise interval of zero"),
        }
    }
}

impl core::error::Error for AdvertError {}

/// A VRRP version 3 advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Virtual router ID (1..=255).
    pub vrid: u8,
    /// The sender's priority: 255 for the address owner, 0 when it stops being master.
    pub priority: u8,
    /// Max Advertise Interval in centiseconds (1..=4095).
    pub max_adver_int: u16,
    /// The virtual addresses, all of the family of the IP packet that carries them.
    pub addrs: AddrList,
}

impl Repr {
    /// Reads an advertisement carried from `src` to `dst`. The whole buffer must be the message
    /// (the IP payload). `checksum.rx()` says whether to verify the checksum.
    ///
    /// # Errors
    /// An [`AdvertError`]: the checks are in RFC 5798 section 7.1 order (version, type... then
    /// checksum, then the address list).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &Packet<&T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: Checksum,
    ) -> core::result::Result<Repr, AdvertError> {
        p.check_len().map_err(|_| AdvertError::BadLength)?;
        if p.version() != VERSION {
            return Err(AdvertError::BadVersion(p.version()));
        }
        if p.msg_type() != TYPE_ADVERTISEMENT {
            return Err(AdvertError::BadType(p.msg_type()));
        }
        let alen = if src.is_ipv4() { 4 } else { 16 };
        let len = p.addrs_len(alen).map_err(|_| AdvertError::BadLength)?;
        if HEADER_LEN + len != p.buffer.as_ref().len() {
            return Err(AdvertError::BadLength);
        }
        checksum
            .check_rx(|| p.verify_checksum(src, dst))
            .map_err(|_| AdvertError::BadChecksum)?;
        let n = p.addr_count();
        if n == 0 || usize::from(n) > MAX_ADDRS {
            return Err(AdvertError::BadAddrCount(n));
        }
        if p.max_adver_int() == 0 {
            return Err(AdvertError::ZeroInterval);
        }
        let mut addrs = AddrList::default();
        for c in p.addrs().chunks_exact(alen) {
            let a = match *c {
                [a, b, c, d] => IpAddr::from([a, b, c, d]),
                _ => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::from(o)
                }
            };
            // same family by construction, and n <= MAX_ADDRS
            let _ = addrs.push(a);
        }
        Ok(Repr {
            vrid: p.vrid(),
            priority: p.priority(),
            max_adver_int: p.max_adver_int(),
            addrs,
        })
    }

    /// The message length.
    pub fn buffer_len(&self) -> usize {
        let alen = match self.addrs.first() {
            Some(IpAddr::V6(_)) => 16,
            _ => 4,
        };
        HEADER_LEN + self.addrs.len() * alen
    }

    /// Writes the message into `p` (exactly [`Repr::buffer_len`] bytes long), with the checksum
    /// for `src` → `dst` when `checksum.tx()`.
    ///
    /// # Panics
    /// If the buffer is not [`Repr::buffer_len`] bytes long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: &IpAddr,
        dst: &IpAddr,
        checksum: Checksum,
    ) {
        assert_eq!(
            p.buffer.as_ref().len(),
            self.buffer_len(),
            "VRRP buffer length"
        );
        p.set_version_and_type(VERSION, TYPE_ADVERTISEMENT);
        p.set_vrid(self.vrid);
        p.set_priority(self.priority);
        p.set_addr_count(self.addrs.len() as u8);
        p.set_max_adver_int(self.max_adver_int);
        let mut off = 0;
        let out = p.addrs_mut();
        for a in self.addrs.as_slice() {
            match a {
                IpAddr::V4(a) => {
                    out[off..off + 4].copy_from_slice(&a.octets());
                    off += 4;
                }
                IpAddr::V6(a) => {
                    out[off..off + 16].copy_from_slice(&a.octets());
                    off += 16;
                }
            }
        }
        checksum.emit_tx(p, |p| p.fill_checksum(src, dst), |p| p.set_checksum(0));
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::vec::Vec;

    /// `r` emitted from `src` to `dst`, its checksum computed.
    fn emitted(r: &Repr, src: &IpAddr, dst: &IpAddr) -> Vec<u8> {
        let mut b = std::vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_unchecked(&mut b[..]),
            src,
            dst,
            Checksum::Both,
        );
        b
    }

    // Captured with tcpdump from keepalived 2.2.7 (vrid 51, priority 150, advert_int 1,
    // version 3, VIPs 198.18.0.10 and 198.18.0.20) from 198.18.0.3: the IP payload.
    static V4_ADVERT: [u8; 16] = [
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x05, 0x7a, 0xc6, 0x12, 0x00, 0x0a, 0xc6, 0x12, 0x00,
        0x14,
    ];
    // The same for IPv6 (vrid 52, priority 100, VIP 2001:db8::10) from
    // fe80::6436:aeff:fe46:4782.
    static V6_ADVERT: [u8; 24] = [
        0x31, 0x34, 0x64, 0x01, 0x00, 0x64, 0xe5, 0x7f, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x10,
    ];
    const SRC4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3));
    const DST4: IpAddr = IpAddr::V4(GROUP_V4);
    const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(
        0xfe80, 0, 0, 0, 0x6436, 0xaeff, 0xfe46, 0x4782,
    ));
    const DST6: IpAddr = IpAddr::V6(GROUP_V6);

    fn v4_repr() -> Repr {
        Repr {
            vrid: 51,
            priority: 150,
            max_adver_int: 100,
            addrs: AddrList::new(&[
                "198.18.0.10".parse().unwrap(),
                "198.18.0.20".parse().unwrap(),
            ])
            .unwrap(),
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&V4_ADVERT[..]).unwrap();
        assert_eq!(
            (p.version(), p.msg_type(), p.vrid(), p.priority()),
            (3, 1, 51, 150)
        );
        assert_eq!(
            (p.addr_count(), p.max_adver_int(), p.checksum()),
            (2, 100, 0x057a)
        );
        assert!(p.verify_checksum(&SRC4, &DST4));
        assert!(!p.verify_checksum(&IpAddr::V4(Ipv4Addr::new(198, 18, 0, 4)), &DST4));
    }

    #[test]
    fn parse_keepalived_v4_and_v6() {
        let p = Packet::new_unchecked(&V4_ADVERT[..]);
        assert_eq!(Repr::parse(&p, &SRC4, &DST4, Checksum::Both), Ok(v4_repr()));
        let p = Packet::new_unchecked(&V6_ADVERT[..]);
        let r = Repr::parse(&p, &SRC6, &DST6, Checksum::Both).unwrap();
        assert_eq!((r.vrid, r.priority, r.max_adver_int), (52, 100, 100));
        assert_eq!(
            r.addrs.as_slice(),
            &["2001:db8::10".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn emit_matches_keepalived() {
        let r = v4_repr();
        let buf = emitted(&r, &SRC4, &DST4);
        assert_eq!(buf, V4_ADVERT);
        let p = Packet::new_unchecked(&V6_ADVERT[..]);
        let r6 = Repr::parse(&p, &SRC6, &DST6, Checksum::Both).unwrap();
        assert_eq!(r6.buffer_len(), 24);
        let buf = emitted(&r6, &SRC6, &DST6);
        assert_eq!(buf, V6_ADVERT);
    }

    #[test]
    fn bad_messages() {
        let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b), &SRC4, &DST4, Checksum::Both);
        let mut b = V4_ADVERT;
        b[0] = 0x21;
        assert_eq!(parse(&b), Err(AdvertError::BadVersion(2)));
        b[0] = 0x32;
        assert_eq!(parse(&b), Err(AdvertError::BadType(2)));
        let mut b = V4_ADVERT;
        b[2] = 151;
        assert_eq!(parse(&b), Err(AdvertError::BadChecksum));
        assert_eq!(parse(&V4_ADVERT[..7]), Err(AdvertError::BadLength));
        assert_eq!(parse(&V4_ADVERT[..15]), Err(AdvertError::BadLength));
        let mut long = [0u8; 17];
        long[..16].copy_from_slice(&V4_ADVERT);
        assert_eq!(parse(&long), Err(AdvertError::BadLength));
        // a v4 message read as if it came over IPv6 claims 32 address bytes
        let p = Packet::new_unchecked(&V4_ADVERT[..]);
        assert_eq!(
            Repr::parse(&p, &SRC6, &DST6, Checksum::Both),
            Err(AdvertError::BadLength)
        );
        // zero addresses, zero interval (with valid checksums)
        let mut r = v4_repr();
        r.addrs = AddrList::default();
        let b = emitted(&r, &SRC4, &DST4);
        assert_eq!(parse(&b), Err(AdvertError::BadAddrCount(0)));
        let mut r = v4_repr();
        r.max_adver_int = 0;
        let b = emitted(&r, &SRC4, &DST4);
        assert_eq!(parse(&b), Err(AdvertError::ZeroInterval));
    }

    #[test]
    fn addr_lists() {
        let a: IpAddr = "198.18.0.1".parse().unwrap();
        let b: IpAddr = "198.18.0.2".parse().unwrap();
        let six: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(AddrList::new(&[a, six]).is_none());
        assert!(AddrList::new(&[a; MAX_ADDRS + 1]).is_none());
        let x = AddrList::new(&[a, b]).unwrap();
        assert!(x.same_set(&AddrList::new(&[b, a]).unwrap()));
        assert!(!x.same_set(&AddrList::new(&[a, a]).unwrap()));
        assert!(!x.same_set(&AddrList::new(&[a]).unwrap()));
    }
}
