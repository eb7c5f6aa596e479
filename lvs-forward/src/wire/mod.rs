//! Zero-copy views of the headers a director reads and writes, smoltcp style.
//!
//! Each header has a `Packet<T: AsRef<[u8]>>` view over a byte buffer and a small `Copy` `Repr`.
//! The view "makes no judgement as to content": it reads and writes fields at fixed offsets. The
//! `Repr` is the checked, high-level form: `Repr::parse` validates (lengths, versions and, as
//! [`ChecksumCaps`] asks, checksums) and `Repr::emit` writes a well-formed header, computing any
//! checksum in full (RFC 1071) when the capabilities say software must.
//!
//! # Panic contract
//!
//! `Packet::new_unchecked` wraps any buffer; `Packet::new_checked` is `new_unchecked` followed by
//! `check_len`. Once `check_len` has returned `Ok(())`, no getter or setter of that view panics.
//! Getters on a view that was not checked may panic on a short buffer; every function in this
//! crate that takes untrusted bytes checks first. When *emitting* into a reused buffer, wrap it
//! with `new_unchecked` and let `Repr::emit` fill it: `new_checked` would read stale length
//! fields.
//!
//! ARP and NDP are parsed and built with smoltcp's wire types (see [`arp`] and [`icmpv6::ndp`]).

use core::fmt;

pub mod arp;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vrrp;

pub use self::ethernet::{EtherType, Frame as EthernetFrame, MacAddr, Repr as EthernetRepr};
pub use self::icmpv4::{Packet as Icmpv4Packet, Repr as Icmpv4Repr};
pub use self::icmpv6::{Packet as Icmpv6Packet, Repr as Icmpv6Repr};
pub use self::ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use self::ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use self::tcp::{Packet as TcpPacket, Repr as TcpRepr};
pub use self::udp::{Packet as UdpPacket, Repr as UdpRepr};

/// IP protocol numbers this crate handles by name.
pub mod proto {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulation (IPIP).
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulation.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const NO_NEXT: u8 = 59;
    /// IPv6 destination options.
    pub const DSTOPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// Why bytes could not be read as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the header or field at `offset` does.
    Truncated {
        /// Offset (from the start of the buffer given) at which more bytes were needed.
        offset: usize,
    },
    /// The IP version nibble is not the one expected (or neither 4 nor 6).
    BadVersion(u8),
    /// An IPv4 header length (IHL) below 5 words.
    BadIhl(u8),
    /// A length field is smaller than the header it must cover (IPv4 total length < IHL,
    /// UDP length < 8, TCP data offset < 5 words).
    BadLength,
    /// A length field claims more bytes than the buffer holds.
    LengthBeyondBuffer {
        /// Bytes the length field claims (from the start of its header).
        claimed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A non-first fragment: it carries no transport header, so no flow can be read from it.
    /// Reassemble first (the kernel's IPVS defragments IPv4 before it looks, too).
    NonFirstFragment,
    /// An EtherType this crate does not parse.
    UnknownEtherType(u16),
    /// An IPv6 extension header chain longer than this crate walks, or malformed.
    BadExtensionHeader,
    /// A checksum did not verify (only when [`ChecksumCaps`] asks for receive verification).
    BadChecksum,
    /// A field holds a value the representation does not allow (for example an ARP packet that
    /// is not Ethernet/IPv4).
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated { offset } => write!(f, "packet truncated at offset {offset}"),
            Error::BadVersion(v) => write!(f, "unexpected IP version {v}"),
            Error::BadIhl(ihl) => write!(f, "IPv4 header length {ihl} words is below 5"),
            Error::BadLength => f.write_str("length field smaller than its header"),
            Error::LengthBeyondBuffer { claimed, available } => {
                write!(
                    f,
                    "length field claims {claimed} bytes, {available} available"
                )
            }
            Error::NonFirstFragment => f.write_str("non-first fragment has no transport header"),
            Error::UnknownEtherType(t) => write!(f, "unsupported EtherType {t:#06x}"),
            Error::BadExtensionHeader => {
                f.write_str("malformed or too long IPv6 extension header chain")
            }
            Error::BadChecksum => f.write_str("checksum mismatch"),
            Error::Malformed => f.write_str("malformed header"),
        }
    }
}

impl core::error::Error for Error {}

/// Result of wire operations.
pub type Result<T> = core::result::Result<T, Error>;

/// Where a checksum is handled, like smoltcp's `phy::Checksum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Checksum {
    /// Verify on receive and compute on transmit in software.
    #[default]
    Both,
    /// Verify on receive only (transmit is offloaded to the device).
    Rx,
    /// Compute on transmit only (receive was verified by the device).
    Tx,
    /// Neither: the device does both.
    None,
}

impl Checksum {
    /// Receive-side verification is done in software.
    ///
    /// Always `false` when built for fuzzing (`cfg(fuzzing)`), so that fuzzers reach past it.
    pub const fn rx(self) -> bool {
        !cfg!(fuzzing) && matches!(self, Checksum::Both | Checksum::Rx)
    }
    /// Transmit-side computation (or incremental update) is done in software.
    pub const fn tx(self) -> bool {
        matches!(self, Checksum::Both | Checksum::Tx)
    }
}

/// Per-protocol checksum offload settings (smoltcp's `ChecksumCapabilities`).
///
/// With `tx()` off for a protocol, rewriters leave that checksum field alone and the device is
/// expected to fill it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChecksumCaps {
    /// IPv4 header checksum.
    pub ipv4: Checksum,
    /// TCP checksum.
    pub tcp: Checksum,
    /// UDP checksum.
    pub udp: Checksum,
    /// ICMP and ICMPv6 checksums.
    pub icmp: Checksum,
    /// SCTP CRC32c.
    pub sctp: Checksum,
}

impl ChecksumCaps {
    /// Everything in software (the default).
    pub const fn software() -> Self {
        ChecksumCaps {
            ipv4: Checksum::Both,
            tcp: Checksum::Both,
            udp: Checksum::Both,
            icmp: Checksum::Both,
            sctp: Checksum::Both,
        }
    }

    /// Everything offloaded: no checksum is computed or verified.
    pub const fn ignored() -> Self {
        ChecksumCaps {
            ipv4: Checksum::None,
            tcp: Checksum::None,
            udp: Checksum::None,
            icmp: Checksum::None,
            sctp: Checksum::None,
        }
    }
}

/// Reads a big-endian `u16` at `off`, or reports where the buffer ended.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Result<u16> {
    match b.get(off..off.wrapping_add(2)) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(Error::Truncated { offset: off }),
    }
}

/// Reads one byte at `off`, or reports where the buffer ended.
#[inline]
pub(crate) fn byte(b: &[u8], off: usize) -> Result<u8> {
    b.get(off).copied().ok_or(Error::Truncated { offset: off })
}

/// Checks that `b` holds at least `len` bytes.
#[inline]
pub(crate) fn need(b: &[u8], len: usize) -> Result<()> {
    if b.len() < len {
        Err(Error::Truncated { offset: b.len() })
    } else {
        Ok(())
    }
}
