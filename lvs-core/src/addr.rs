//! Addresses, protocols, flows and service keys.
//!
//! IP addresses are `core::net` types. An [`Endpoint`] is an address and a port, displayed the way
//! ipvsadm prints it (`198.18.0.1:80`, `[2001:db8::1]:80`).

use core::fmt;
pub use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family of a service, real server or flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AddrFamily {
    /// IPv4 (`AF_INET`).
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl AddrFamily {
    /// The family of `addr`.
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddrFamily::Ipv4,
            IpAddr::V6(_) => AddrFamily::Ipv6,
        }
    }
}

/// A transport protocol number as IPVS uses it: TCP, UDP, SCTP, or any other IP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// Any other protocol number.
    Unknown(u8),
}

impl Protocol {
    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Unknown(n) => n,
        }
    }

    /// Whether the protocol carries 16-bit ports IPVS can use (TCP, UDP, SCTP).
    pub const fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }
}

impl From<u8> for Protocol {
    fn from(n: u8) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        p.number()
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Unknown(n) => write!(f, "IP/{n}"),
        }
    }
}

/// An IP address and a port.
///
/// ```
/// use lvs_core::addr::Endpoint;
/// let e = Endpoint::v4([198, 18, 0, 1], 80);
/// assert_eq!(format!("{e}"), "198.18.0.1:80");
/// let e6: Endpoint = "[2001:db8::1]:443".parse().unwrap();
/// assert_eq!(format!("{e6}"), "[2001:db8::1]:443");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Endpoint {
    /// The address.
    pub addr: IpAddr,
    /// The port (0 for portless protocols or wildcard services).
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from an address and a port.
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint { addr, port }
    }

    /// An IPv4 endpoint from its octets.
    pub const fn v4(octets: [u8; 4], port: u16) -> Self {
        Endpoint {
            addr: IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3])),
            port,
        }
    }

    /// An IPv6 endpoint from its octets.
    pub const fn v6(octets: [u8; 16], port: u16) -> Self {
        Endpoint {
            addr: IpAddr::V6(Ipv6Addr::from_bits(u128::from_be_bytes(octets))),
            port,
        }
    }

    /// The address family.
    pub const fn family(&self) -> AddrFamily {
        AddrFamily::of(&self.addr)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// The error from parsing an [`Endpoint`] that is not `a.b.c.d:port` or `[v6]:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointParseError;

impl fmt::Display for EndpointParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)")
    }
}

impl core::error::Error for EndpointParseError {}

impl core::str::FromStr for Endpoint {
    type Err = EndpointParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix('[') {
            let (a, p) = rest.split_once("]:").ok_or(EndpointParseError)?;
            let addr: Ipv6Addr = a.parse().map_err(|_| EndpointParseError)?;
            let port: u16 = p.parse().map_err(|_| EndpointParseError)?;
            Ok(Endpoint::new(IpAddr::V6(addr), port))
        } else {
            let (a, p) = s.rsplit_once(':').ok_or(EndpointParseError)?;
            let addr: Ipv4Addr = a.parse().map_err(|_| EndpointParseError)?;
            let port: u16 = p.parse().map_err(|_| EndpointParseError)?;
            Ok(Endpoint::new(IpAddr::V4(addr), port))
        }
    }
}

/// TCP header flags, as far as IPVS looks at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.0 & 0x04 != 0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// A flow's 5-tuple as seen on the wire: protocol, source and destination endpoints.
///
/// For a packet from a client to a virtual service, `src` is the client and `dst` the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FlowKey {
    /// Transport protocol.
    pub proto: Protocol,
    /// Source address and port.
    pub src: Endpoint,
    /// Destination address and port.
    pub dst: Endpoint,
}

impl FlowKey {
    /// A flow key from its parts.
    pub const fn new(proto: Protocol, src: Endpoint, dst: Endpoint) -> Self {
        FlowKey { proto, src, dst }
    }

    /// The same flow seen from the other side.
    pub const fn reversed(&self) -> Self {
        FlowKey {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
        }
    }
}

/// What identifies a virtual service: protocol, VIP and port (`-t`/`-u`/`--sctp-service`), or a
/// firewall mark (`-f`) with its address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ServiceKey {
    /// A service on an address and port (port 0 is the all-ports wildcard, persistent only).
    Addr {
        /// Protocol.
        proto: Protocol,
        /// Virtual address and port.
        vip: Endpoint,
    },
    /// A firewall-mark service.
    Fwmark {
        /// Address family of the traffic the mark selects.
        af: AddrFamily,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The service at `vip` for `proto` (`-t`/`-u`/`--sctp-service`).
    pub const fn addr(proto: Protocol, vip: Endpoint) -> Self {
        ServiceKey::Addr { proto, vip }
    }

    /// The address family of the service.
    pub const fn family(&self) -> AddrFamily {
        match self {
            ServiceKey::Addr { vip, .. } => vip.family(),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { proto, vip } => write!(f, "{proto}  {vip}"),
            ServiceKey::Fwmark { mark, .. } => write!(f, "FWM  {mark}"),
        }
    }
}

/// Which way a packet travels relative to the virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Direction {
    /// Client to virtual service (`IP_VS_DIR_INPUT`).
    Input,
    /// Real server back to the client, seen by a NAT director (`IP_VS_DIR_OUTPUT`).
    Output,
}

/// The kernel's 32-bit fold of an address used by the dh, sh, lblc and lblcr hashes: an IPv4
/// address as a host-order `u32`, an IPv6 address as the XOR of its four 32-bit words.
///
/// ```
/// use lvs_core::addr::{fold_addr, IpAddr, Ipv4Addr};
/// assert_eq!(fold_addr(&IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))), 0x0102_0304);
/// ```
pub fn fold_addr(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => a.to_bits(),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

/// Masks `addr` to its first `prefix_len` bits (persistence `-M`); longer prefixes keep all bits.
///
/// ```
/// use lvs_core::addr::{mask_addr, IpAddr, Ipv4Addr};
/// let a = IpAddr::V4(Ipv4Addr::new(198, 19, 7, 9));
/// assert_eq!(mask_addr(&a, 24), IpAddr::V4(Ipv4Addr::new(198, 19, 7, 0)));
/// ```
pub fn mask_addr(addr: &IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        // all ones shifted left by the host bits: none for long prefixes, all (the shift
        // overflows) for /0
        IpAddr::V4(a) => {
            let host = 32u32.saturating_sub(u32::from(prefix_len));
            IpAddr::V4(Ipv4Addr::from_bits(
                a.to_bits() & u32::MAX.checked_shl(host).unwrap_or(0),
            ))
        }
        IpAddr::V6(a) => {
            let host = 128u32.saturating_sub(u32::from(prefix_len));
            IpAddr::V6(Ipv6Addr::from_bits(
                a.to_bits() & u128::MAX.checked_shl(host).unwrap_or(0),
            ))
        }
    }
}
