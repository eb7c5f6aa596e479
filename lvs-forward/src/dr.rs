//! Direct routing (VS/DR) and Ethernet header (re)writing.
//!
//! `ip_vs_dr_xmit` sends the packet unchanged at the IP layer to the real server's MAC (the real
//! server also holds the VIP): only the Ethernet addresses change. The kernel's route lookup
//! decrements the TTL on the way ([`crate::route::decrement_ttl`]); this module does not.

use crate::error::ForwardError;
use crate::process::ProcessConfig;
use crate::rewrite::{Emitted, PacketBuf, Rewriter};
use crate::route::check_mtu;
use crate::wire::ethernet::{self, EtherType, Frame};
use crate::wire::{Error, EthernetRepr, MacAddr};
use lvs_core::director::Forward;

/// Direct routing as a [`Rewriter`]: the IP packet goes unchanged (after the MTU check of
/// `cfg.mtu`) to the real server's address as next hop; the caller frames it to that
/// server's MAC (with [`push_ethernet`] or [`dr_rewrite`]). Replies do not pass the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DirectRouting;

impl Rewriter for DirectRouting {
    type Error = ForwardError;

    #[inline(always)]
    fn pre_classify_is_noop(&self) -> bool {
        true
    }

    #[inline]
    fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig) -> Emitted {
        if cfg.mtu != 0 {
            check_mtu(pkt.parsed, cfg.mtu)?;
        }
        Ok(pkt.in_place(f.daddr.addr))
    }
}

/// Direct routing: sets the destination MAC of `frame` to the real server's and the source MAC
/// to the director's. Nothing else changes.
///
/// # Errors
/// [`ForwardError::Wire`] if the frame is shorter than an Ethernet header (then untouched).
pub fn dr_rewrite(
    frame: &mut [u8],
    real_server: MacAddr,
    director: MacAddr,
) -> Result<(), ForwardError> {
    let mut f = Frame::new_checked(frame)?;
    f.set_dst_addr(real_server);
    f.set_src_addr(director);
    Ok(())
}

/// Writes an Ethernet header in front of the IP packet at `buf[l3..]`, into the headroom, and
/// returns the frame's start offset (`l3 - 14`). The EtherType is taken from the IP version
/// nibble when `repr.ethertype` is [`EtherType::Unknown`]`(0)`.
///
/// # Errors
/// [`ForwardError::InsufficientHeadroom`] (`required: 14`) if `l3 < 14`,
/// [`ForwardError::Wire`] if there is no IP version nibble at `l3` to take the EtherType from.
/// The buffer is untouched on error.
pub fn push_ethernet(
    buf: &mut [u8],
    l3: usize,
    repr: &EthernetRepr,
) -> Result<usize, ForwardError> {
    if l3 < ethernet::HEADER_LEN {
        return Err(ForwardError::InsufficientHeadroom {
            required: ethernet::HEADER_LEN,
        });
    }
    if l3 > buf.len() {
        return Err(Error::Truncated { offset: buf.len() }.into());
    }
    let ethertype = match repr.ethertype {
        EtherType::Unknown(0) => match buf.get(l3).map(|b| b >> 4) {
            Some(4) => EtherType::Ipv4,
            Some(6) => EtherType::Ipv6,
            Some(v) => return Err(Error::BadVersion(v).into()),
            None => return Err(Error::Truncated { offset: l3 }.into()),
        },
        t => t,
    };
    let start = l3 - ethernet::HEADER_LEN;
    let mut f = Frame::new_unchecked(&mut buf[start..l3]);
    EthernetRepr { ethertype, ..*repr }.emit(&mut f);
    Ok(start)
}
