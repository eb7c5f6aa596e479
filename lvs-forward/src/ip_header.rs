//! A new IP header of either family, for the packets the director builds itself: tunnel
//! encapsulation, ICMP errors and VRRP advertisements.

use crate::error::ForwardError;
use crate::wire::{ipv4, ipv6, ChecksumCaps};
use lvs_core::IpAddr;

/// The fields of a new IPv4 or IPv6 header (without options or extension headers); the family
/// is that of `src` and `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeader {
    /// Source address.
    pub(crate) src: IpAddr,
    /// Destination address.
    pub(crate) dst: IpAddr,
    /// Protocol (IPv4) or next header (IPv6).
    pub(crate) protocol: u8,
    /// Length of what follows the header.
    pub(crate) payload_len: usize,
    /// TTL or hop limit.
    pub(crate) ttl: u8,
    /// TOS byte or traffic class.
    pub(crate) tos: u8,
    /// Identification (IPv4 only).
    pub(crate) ident: u16,
    /// DF (IPv4 only).
    pub(crate) dont_frag: bool,
}

impl IpHeader {
    /// Writes the header at the start of `buf` (20 or 40 bytes; the IPv4 checksum as `caps`
    /// says, an IPv6 flow label of 0).
    ///
    /// # Errors
    /// [`ForwardError::FamilyMismatch`], with nothing written, when `src` and `dst` differ in
    /// family.
    ///
    /// # Panics
    /// If `buf` is shorter than the header, or `payload_len` is too long for the family.
    #[inline]
    pub(crate) fn emit(&self, buf: &mut [u8], caps: &ChecksumCaps) -> Result<(), ForwardError> {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ipv4::Repr {
                src_addr: s,
                dst_addr: d,
                protocol: self.protocol,
                payload_len: self.payload_len,
                ttl: self.ttl,
                tos: self.tos,
                ident: self.ident,
                dont_frag: self.dont_frag,
            }
            .emit(&mut ipv4::Packet::new_unchecked(buf), caps),
            (IpAddr::V6(s), IpAddr::V6(d)) => ipv6::Repr {
                src_addr: s,
                dst_addr: d,
                next_header: self.protocol,
                payload_len: self.payload_len,
                hop_limit: self.ttl,
                traffic_class: self.tos,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(buf)),
            _ => return Err(ForwardError::FamilyMismatch),
        }
        Ok(())
    }
}
