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
use core::net::{Ipv4Addr, Ipv6Addr};

/// Declares a header view `$name<T: AsRef<[u8]>>` over a byte buffer with what every view shares:
/// `new_unchecked`, `new_checked` (which runs the view's own `check_len`) and `into_inner`, and
/// a getter and a setter per fixed-offset field listed as `get, set: Type = offset;` (a
/// [`Field`] of `Type` at byte `offset`).
macro_rules! view {
    ($(#[$attr:meta])* $name:ident {
        $($(#[$doc:meta])* $get:ident, $set:ident: $ty:ty = $off:expr;)*
    }) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checking it.
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            #[doc = concat!("Wraps a buffer and runs [`", stringify!($name), "::check_len`].")]
            ///
            /// # Errors
            #[doc = concat!("As [`", stringify!($name), "::check_len`].")]
            pub fn new_checked(buffer: T) -> $crate::wire::Result<$name<T>> {
                let p = Self::new_unchecked(buffer);
                p.check_len()?;
                Ok(p)
            }

            /// The underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            $(
                $(#[$doc])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    let at = $off..$off + <$ty as $crate::wire::Field>::LEN;
                    $crate::wire::Field::read(&self.buffer.as_ref()[at])
                }
            )*
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                #[doc = concat!("Sets the field [`", stringify!($name), "::", stringify!($get), "`] reads.")]
                #[inline]
                pub fn $set(&mut self, v: $ty) {
                    let at = $off..$off + <$ty as $crate::wire::Field>::LEN;
                    $crate::wire::Field::write(v, &mut self.buffer.as_mut()[at])
                }
            )*
        }
    };
}

/// For a view `$name` whose header has the fixed length `HEADER_LEN` (`$len` bytes, in scope
/// where it is used): `check_len` (the header fits) and the accessors `$data` and `$data_mut`
/// of the bytes after the header, `$what` in their docs.
macro_rules! fixed_header {
    ($name:ident, $len:literal, $data:ident, $data_mut:ident, $what:literal) => {
        impl<T: AsRef<[u8]>> $name<T> {
            #[doc = concat!("Checks that the ", $len, "-byte header fits.")]
            ///
            /// # Errors
            /// [`super::Error::Truncated`] if the buffer is shorter.
            pub fn check_len(&self) -> Result<()> {
                need(self.buffer.as_ref(), HEADER_LEN)
            }
        }

        impl<'a, T: AsRef<[u8]> + ?Sized> $name<&'a T> {
            #[doc = concat!($what, " after the ", $len, "-byte header.")]
            #[inline]
            pub fn $data(&self) -> &'a [u8] {
                &self.buffer.as_ref()[HEADER_LEN..]
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            #[doc = concat!($what, " after the header, mutably.")]
            #[inline]
            pub fn $data_mut(&mut self) -> &mut [u8] {
                &mut self.buffer.as_mut()[HEADER_LEN..]
            }
        }
    };
}

/// The 8-byte header ICMP and ICMPv6 share (type, code, checksum, 4 more bytes): the view
/// `Packet` with its length check and data accessors, and `Repr` with its fields, `buffer_len`
/// and the private `read`/`write` of the three fields. Each protocol adds its checksum, `parse`
/// and `emit`.
macro_rules! icmp_header {
    ($(#[$packet:meta])* Packet; $(#[$repr:meta])* Repr;) => {
        view! {
            $(#[$packet])*
            Packet {
                /// Message type.
                msg_type, set_msg_type: u8 = 0;
                /// Code.
                code, set_code: u8 = 1;
                /// Checksum field.
                checksum, set_checksum: u16 = 2;
                /// The 4 bytes after the checksum (identifier and sequence, an MTU, a pointer, ...).
                rest, set_rest: [u8; 4] = 4;
            }
        }

        fixed_header!(Packet, 8, data, data_mut, "The data (for errors: the quoted packet)");

        $(#[$repr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct Repr {
            /// Message type.
            pub msg_type: u8,
            /// Code.
            pub code: u8,
            /// The 4 bytes after the checksum.
            pub rest: [u8; 4],
        }

        impl Repr {
            /// Header length (8).
            pub const fn buffer_len(&self) -> usize {
                HEADER_LEN
            }

            fn read<T: AsRef<[u8]> + ?Sized>(p: &Packet<&T>) -> Repr {
                Repr {
                    msg_type: p.msg_type(),
                    code: p.code(),
                    rest: p.rest(),
                }
            }

            fn write<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
                p.set_msg_type(self.msg_type);
                p.set_code(self.code);
                p.set_rest(self.rest);
            }
        }
    };
}

/// A value stored at a fixed offset of a header, big-endian where it has a byte order.
pub(crate) trait Field: Sized {
    /// How many bytes it takes.
    const LEN: usize;
    /// Reads it from exactly [`Field::LEN`] bytes.
    fn read(b: &[u8]) -> Self;
    /// Writes it to exactly [`Field::LEN`] bytes.
    fn write(self, b: &mut [u8]);
}

/// Implements [`Field`] for types of a fixed size: `Type: bytes, from_array, to_array;`.
macro_rules! field_impl {
    ($($t:ty: $n:expr, $from:expr, $to:expr;)*) => {$(
        impl $crate::wire::Field for $t {
            const LEN: usize = $n;
            #[inline]
            fn read(b: &[u8]) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(b);
                ($from)(a)
            }
            #[inline]
            fn write(self, b: &mut [u8]) {
                b.copy_from_slice(&($to)(self))
            }
        }
    )*};
}

field_impl! {
    u8: 1, u8::from_be_bytes, u8::to_be_bytes;
    u16: 2, u16::from_be_bytes, u16::to_be_bytes;
    u32: 4, u32::from_be_bytes, u32::to_be_bytes;
    [u8; 4]: 4, |a| a, |v| v;
    Ipv4Addr: 4, Ipv4Addr::from, |v: Ipv4Addr| v.octets();
    Ipv6Addr: 16, Ipv6Addr::from, |v: Ipv6Addr| v.octets();
    lvs_core::TcpFlags: 1, |a: [u8; 1]| lvs_core::TcpFlags(a[0]), |v: lvs_core::TcpFlags| [v.0];
}

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
    /// [`Error::BadChecksum`] when receive-side verification is done in software
    /// ([`Checksum::rx`]) and `verifies` (run only then) says the checksum fails.
    #[inline]
    pub(crate) fn check_rx(self, verifies: impl FnOnce() -> bool) -> Result<()> {
        if self.rx() && !verifies() {
            return Err(Error::BadChecksum);
        }
        Ok(())
    }
    /// Transmit-side computation (or incremental update) is done in software.
    pub const fn tx(self) -> bool {
        matches!(self, Checksum::Both | Checksum::Tx)
    }
    /// On transmit, runs `fill` (computing the checksum) when that is done in software
    /// ([`Checksum::tx`]), else `zero` (clearing the field for the device): the counterpart of
    /// [`Checksum::check_rx`] for a header's `emit`.
    #[inline]
    pub(crate) fn emit_tx<P>(
        self,
        p: &mut P,
        fill: impl FnOnce(&mut P),
        zero: impl FnOnce(&mut P),
    ) {
        if self.tx() {
            fill(p)
        } else {
            zero(p)
        }
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

/// Checks that a length field's `claimed` bytes (from the start of the header) fit in `b`.
#[inline]
pub(crate) fn fits(claimed: usize, b: &[u8]) -> Result<()> {
    if claimed > b.len() {
        Err(Error::LengthBeyondBuffer {
            claimed,
            available: b.len(),
        })
    } else {
        Ok(())
    }
}
