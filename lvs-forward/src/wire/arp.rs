//! ARP (RFC 826) for Ethernet/IPv4, through smoltcp's ARP wire types: enough to answer
//! requests for a VIP.

use super::ethernet::{self, EtherType, Frame, MacAddr};
use super::{Error, Result};
use core::net::Ipv4Addr;
use smoltcp::wire::EthernetAddress;
pub use smoltcp::wire::{ArpOperation as Operation, ArpPacket as Packet, ArpRepr as Repr};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Length of the reply frame [`reply_for`] writes (Ethernet header and ARP packet, no padding).
pub const REPLY_FRAME_LEN: usize = ethernet::HEADER_LEN + PACKET_LEN;

/// An Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpMessage {
    /// Request (1) or reply (2); other values are kept as read.
    pub operation: u16,
    /// Sender MAC.
    pub sender_mac: MacAddr,
    /// Sender IPv4 address.
    pub sender_ip: Ipv4Addr,
    /// Target MAC.
    pub target_mac: MacAddr,
    /// Target IPv4 address.
    pub target_ip: Ipv4Addr,
}

/// Parses an ARP packet (the Ethernet payload).
///
/// # Errors
/// [`Error::Truncated`] below 28 bytes, [`Error::Malformed`] for anything but Ethernet/IPv4.
pub fn parse(payload: &[u8]) -> Result<ArpMessage> {
    let p = Packet::new_checked(payload).map_err(|_| Error::Truncated {
        offset: payload.len(),
    })?;
    match Repr::parse(&p).map_err(|_| Error::Malformed)? {
        Repr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } => Ok(ArpMessage {
            operation: u16::from(operation),
            sender_mac: MacAddr(source_hardware_addr.0),
            sender_ip: source_protocol_addr,
            target_mac: MacAddr(target_hardware_addr.0),
            target_ip: target_protocol_addr,
        }),
        _ => Err(Error::Malformed),
    }
}

/// If `frame` is an Ethernet ARP request for `vip`, writes the reply frame (sender `mac`/`vip`,
/// addressed to the requester) into `out` and returns its length; `Ok(None)` for any other valid
/// ARP or non-ARP frame. Gratuitous requests (sender address = target address) are not answered.
///
/// # Errors
/// The [`parse`] errors for a malformed ARP packet, and [`Error::Truncated`] if `out` holds
/// fewer than [`REPLY_FRAME_LEN`] bytes (`out` is then untouched).
pub fn reply_for(
    frame: &[u8],
    vip: Ipv4Addr,
    mac: MacAddr,
    out: &mut [u8],
) -> Result<Option<usize>> {
    let f = Frame::new_checked(frame)?;
    if f.ethertype() != EtherType::Arp {
        return Ok(None);
    }
    let m = parse(f.payload())?;
    if m.operation != 1 || m.target_ip != vip || m.sender_ip == m.target_ip {
        return Ok(None);
    }
    let have = out.len();
    let out = out
        .get_mut(..REPLY_FRAME_LEN)
        .ok_or(Error::Truncated { offset: have })?;
    let mut of = Frame::new_unchecked(&mut *out);
    ethernet::Repr {
        src_addr: mac,
        dst_addr: m.sender_mac,
        ethertype: EtherType::Arp,
    }
    .emit(&mut of);
    let reply = Repr::EthernetIpv4 {
        operation: Operation::Reply,
        source_hardware_addr: EthernetAddress(mac.0),
        source_protocol_addr: vip,
        target_hardware_addr: EthernetAddress(m.sender_mac.0),
        target_protocol_addr: m.sender_ip,
    };
    reply.emit(&mut Packet::new_unchecked(
        &mut of.payload_mut()[..PACKET_LEN],
    ));
    Ok(Some(REPLY_FRAME_LEN))
}

#[cfg(test)]
mod test {
    use super::*;

    // who-has 198.18.0.1 tell 198.18.0.100, from 02:00:00:00:00:64
    static REQUEST: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 198, 18, 0, 100, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 1,
    ];
    static REPLY: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 198, 18, 0, 1, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 198, 18, 0, 100,
    ];

    #[test]
    fn answers_for_vip_only() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let mut out = [0u8; 64];
        let n = reply_for(&REQUEST, Ipv4Addr::new(198, 18, 0, 1), mac, &mut out).unwrap();
        assert_eq!(n, Some(42));
        assert_eq!(out[..42], REPLY);
        assert_eq!(
            reply_for(&REQUEST, Ipv4Addr::new(198, 18, 0, 2), mac, &mut out),
            Ok(None)
        );
        assert_eq!(
            reply_for(&REPLY, Ipv4Addr::new(198, 18, 0, 100), mac, &mut out),
            Ok(None)
        );
        let mut small = [0u8; 41];
        assert!(reply_for(&REQUEST, Ipv4Addr::new(198, 18, 0, 1), mac, &mut small).is_err());
        assert_eq!(small, [0u8; 41]);
        let m = parse(&REQUEST[14..]).unwrap();
        assert_eq!(m.sender_ip, Ipv4Addr::new(198, 18, 0, 100));
        assert!(parse(&REQUEST[14..40]).is_err());
    }
}
