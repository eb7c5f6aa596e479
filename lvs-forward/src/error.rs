//! The error of the forwarding operations.

use crate::wire;
use core::fmt;

/// Why a rewrite, encapsulation or reply could not be done. The buffer is untouched whenever one
/// of these is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardError {
    /// The bytes are not a packet the operation can handle (or do not match the
    /// [`crate::parse::Parsed`] given with them).
    Wire(wire::Error),
    /// Not enough room in front of the packet for the headers to push; leave at least
    /// `required` bytes of headroom.
    InsufficientHeadroom {
        /// Bytes of headroom needed.
        required: usize,
    },
    /// Not enough room after the packet for what the method appends; leave at least
    /// `required` bytes of tailroom.
    InsufficientTailroom {
        /// Bytes of tailroom needed.
        required: usize,
    },
    /// The output buffer is too small; it needs at least `required` bytes.
    BufferTooSmall {
        /// Bytes needed.
        required: usize,
    },
    /// The packet does not fit the path MTU and may not be fragmented: drop it and answer with
    /// "fragmentation needed" (IPv4) or "packet too big" (IPv6) advertising `mtu`
    /// (see [`crate::icmp::build_error`]).
    MtuExceeded {
        /// The MTU to advertise (the route MTU less any tunnel overhead).
        mtu: u32,
    },
    /// After the tunnel overhead the route MTU falls below the protocol minimum (68 for IPv4,
    /// 1280 for IPv6); the kernel drops such packets.
    RouteMtuTooSmall {
        /// The MTU that was left.
        mtu: u32,
    },
    /// The TTL or hop limit would reach zero: drop and answer with "time exceeded".
    TtlExpired,
    /// The result would exceed the 65535-byte IP length limit.
    TooLong,
    /// Addresses of different families were mixed where one family is required.
    FamilyMismatch,
    /// The operation needs an ICMP error quoting a flow, and the packet is not one.
    NotIcmpError,
    /// No ICMP error may be sent about this packet (it is itself an ICMP error, a non-first
    /// fragment, or has a multicast, broadcast or unspecified source; RFC 1122 3.2.2, RFC 4443
    /// 2.4 (e)).
    IcmpSuppressed,
    /// The operation does not apply to this packet (for example plain NAT on an ICMP error,
    /// which needs [`crate::icmp::nat_icmp`], or SCTP NAT on a fragment).
    Unsupported,
    /// A forwarding method refused the packet for a reason of its own (see
    /// [`crate::rewrite::Rewriter::Error`]).
    Refused(&'static str),
}

impl From<wire::Error> for ForwardError {
    fn from(e: wire::Error) -> Self {
        ForwardError::Wire(e)
    }
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardError::Wire(e) => write!(f, "bad packet: {e}"),
            ForwardError::InsufficientHeadroom { required } => {
                write!(f, "insufficient headroom: {required} bytes required")
            }
            ForwardError::InsufficientTailroom { required } => {
                write!(f, "insufficient tailroom: {required} bytes required")
            }
            ForwardError::BufferTooSmall { required } => {
                write!(f, "output buffer too small: {required} bytes required")
            }
            ForwardError::MtuExceeded { mtu } => write!(f, "packet exceeds path MTU {mtu}"),
            ForwardError::RouteMtuTooSmall { mtu } => write!(f, "route MTU {mtu} below minimum"),
            ForwardError::TtlExpired => f.write_str("TTL expired in transit"),
            ForwardError::TooLong => f.write_str("packet would exceed 65535 bytes"),
            ForwardError::FamilyMismatch => f.write_str("address family mismatch"),
            ForwardError::NotIcmpError => f.write_str("not an ICMP error quoting a flow"),
            ForwardError::IcmpSuppressed => {
                f.write_str("no ICMP error may be sent about this packet")
            }
            ForwardError::Unsupported => f.write_str("operation not supported for this packet"),
            ForwardError::Refused(why) => write!(f, "refused by the forwarding method: {why}"),
        }
    }
}

impl core::error::Error for ForwardError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ForwardError::Wire(e) => Some(e),
            _ => None,
        }
    }
}
