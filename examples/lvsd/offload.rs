//! What the kernel leaves undone in frames a packet socket reads: transport checksums still to
//! be computed (`CHECKSUM_PARTIAL`) and TSO/GRO super-frames to be cut into MTU-sized segments.
//!
//! Frames that crossed a veth from a local TCP stack arrive like that (the sender's device
//! "offloads" both jobs to the receiver); so do GRO-merged frames from a real NIC. The kernel
//! would finish them in `skb_checksum_help` and `skb_gso_segment` before forwarding; lvsd does
//! the same here, in software, so that everything after this point sees ordinary packets with
//! valid checksums, at most one MTU long.
//!
//! (A candidate for `lvs-forward`: it is link-agnostic byte work, like the rewriters.)

use crate::sys::{vnet, VnetHdr};
use lvs_core::{IpAddr, Protocol};
use lvs_forward::checksum;
use lvs_forward::parse::Parsed;

/// Why a frame could not be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// The checksum offsets point outside the packet.
    BadOffsets,
    /// A GSO type lvsd does not segment (UFO, or GSO on a protocol it does not match).
    UnsupportedGso(u8),
}

impl std::fmt::Display for OffloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffloadError::BadOffsets => f.write_str("checksum offsets outside the packet"),
            OffloadError::UnsupportedGso(t) => write!(f, "unsupported GSO type {t:#x}"),
        }
    }
}

/// Computes a partial checksum in place (`skb_checksum_help`): the field at
/// `csum_start + csum_offset` holds the pseudo-header sum; the result is the complement of the
/// sum from `csum_start` to `end`. A UDP result of 0 is sent as 0xffff.
pub fn complete_csum(
    frame: &mut [u8],
    csum_start: usize,
    csum_offset: usize,
    end: usize,
    udp: bool,
) -> Result<(), OffloadError> {
    let field = csum_start + csum_offset;
    if end > frame.len() || field + 2 > end || csum_start >= end {
        return Err(OffloadError::BadOffsets);
    }
    let mut v = checksum::checksum(&frame[csum_start..end]);
    if udp && v == 0 {
        v = 0xffff;
    }
    frame[field..field + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Whether a frame with this virtio header must be segmented.
pub fn needs_segmentation(h: &VnetHdr) -> bool {
    h.gso_type & !vnet::GSO_ECN != vnet::GSO_NONE && h.gso_size != 0
}

/// Cuts the TCP or UDP (`UDP_SEGMENT`) super-frame `frame` (parsed as `p`) into segments of at
/// most `mss` payload bytes, each with fresh IP lengths, IPv4 identification and header
/// checksum, TCP sequence numbers and flags (FIN and PSH on the last segment only, CWR on the
/// first only) or UDP lengths, and a full transport checksum, as `tcp_gso_segment` and
/// `__udp_gso_segment` do. Each segment is written into `scratch` at `head` and handed to
/// `emit(scratch, head, len)`.
pub fn segment(
    frame: &[u8],
    p: &Parsed,
    h: &VnetHdr,
    scratch: &mut Vec<u8>,
    head: usize,
    mut emit: impl FnMut(&mut [u8], usize, usize),
) -> Result<usize, OffloadError> {
    let kind = h.gso_type & !vnet::GSO_ECN;
    let tcp = match (kind, p.flow.proto) {
        (vnet::GSO_TCPV4 | vnet::GSO_TCPV6, Protocol::Tcp) => true,
        (vnet::GSO_UDP_L4, Protocol::Udp) => false,
        _ => return Err(OffloadError::UnsupportedGso(h.gso_type)),
    };
    let mss = usize::from(h.gso_size).max(1);
    let end = p.end();
    if p.payload > end || end > frame.len() || p.l4 + if tcp { 20 } else { 8 } > p.payload {
        return Err(OffloadError::BadOffsets);
    }
    let hdr = &frame[..p.payload];
    let data = &frame[p.payload..end];
    let (src, dst) = (p.flow.src.addr, p.flow.dst.addr);
    let v4 = matches!(src, IpAddr::V4(_));
    let ident = u16::from_be_bytes([frame[p.l3 + 4], frame[p.l3 + 5]]);
    let seq = u32::from_be_bytes([
        frame[p.l4 + 4],
        frame[p.l4 + 5],
        frame[p.l4 + 6],
        frame[p.l4 + 7],
    ]);
    let n = data.len().div_ceil(mss).max(1);
    for i in 0..n {
        let off = i * mss;
        let chunk = &data[off.min(data.len())..(off + mss).min(data.len())];
        let len = hdr.len() + chunk.len();
        scratch.clear();
        scratch.resize(head, 0);
        scratch.extend_from_slice(hdr);
        scratch.extend_from_slice(chunk);
        let s = &mut scratch[head..head + len];
        let l3 = p.l3;
        let l4 = p.l4;
        if v4 {
            let total = (len - l3) as u16;
            s[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
            s[l3 + 4..l3 + 6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
            s[l3 + 10..l3 + 12].fill(0);
            let ihl = usize::from(s[l3] & 0x0f) * 4;
            let c = checksum::checksum(&s[l3..l3 + ihl]);
            s[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let plen = (len - l3 - 40) as u16;
            s[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        let l4_len = len - l4;
        let csum_field = if tcp {
            let sq = seq.wrapping_add(off as u32);
            s[l4 + 4..l4 + 8].copy_from_slice(&sq.to_be_bytes());
            let mut flags = s[l4 + 13];
            if i + 1 < n {
                flags &= !(0x01 | 0x08); // FIN, PSH
            }
            if i > 0 {
                flags &= !0x80; // CWR
            }
            s[l4 + 13] = flags;
            l4 + 16
        } else {
            s[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4 + 6
        };
        s[csum_field..csum_field + 2].fill(0);
        let proto = if tcp { 6 } else { 17 };
        let sum = checksum::add(
            checksum::pseudo_header(&src, &dst, proto, l4_len as u32),
            &s[l4..],
        );
        let mut c = checksum::finish(sum);
        if !tcp && c == 0 {
            c = 0xffff;
        }
        s[csum_field..csum_field + 2].copy_from_slice(&c.to_be_bytes());
        emit(scratch, head, len);
    }
    Ok(n)
}

/// The virtio header that sends the TCP super-frame whose IP packet is `pkt` whole, for the
/// kernel (or the NIC) to segment: `gso_type` and `gso_size` as received, the checksum left
/// partial from the TCP header on. Its TCP checksum field is set to the pseudo-header sum over
/// the whole segment, as the kernel expects of a `CHECKSUM_PARTIAL` frame (the NAT rewrite
/// before this left it stale). `None` for anything but TCP over IPv4 or IPv6 without extension
/// headers.
pub fn whole_gso_header(pkt: &mut [u8], rx: &VnetHdr) -> Option<VnetHdr> {
    let v = partial_header(pkt, rx)?;
    let ihl = usize::from(v.csum_start) - 14;
    let l4_len = pkt.len() - ihl;
    let ph = if pkt[0] >> 4 == 4 {
        let (s, d) = (pkt[12..16].try_into().ok()?, pkt[16..20].try_into().ok()?);
        checksum::pseudo_header_v4(s, d, 6, u16::try_from(l4_len).ok()?)
    } else {
        let (s, d) = (pkt[8..24].try_into().ok()?, pkt[24..40].try_into().ok()?);
        checksum::pseudo_header_v6(&s, &d, 6, l4_len as u32)
    };
    pkt[ihl + 16..ihl + 18].copy_from_slice(&checksum::fold(ph).to_be_bytes());
    Some(v)
}

/// The virtio header that sends the TCP packet `pkt` (IP header first, its checksum field
/// already holding the pseudo-header sum, as the splicer's partial rewrite leaves it) with the
/// same offload request it came with: the checksum left to the kernel from the TCP header on,
/// and, for a super-frame, `gso_type` and `gso_size` as received. `None` for anything but TCP
/// over IPv4 or IPv6 without extension headers, or a GSO type that does not match the family.
pub fn partial_header(pkt: &[u8], rx: &VnetHdr) -> Option<VnetHdr> {
    let kind = rx.gso_type & !vnet::GSO_ECN;
    let (ihl, v4) = match pkt.first()? >> 4 {
        4 if matches!(kind, vnet::GSO_TCPV4 | vnet::GSO_NONE) => {
            (usize::from(pkt[0] & 0x0f) * 4, true)
        }
        6 if matches!(kind, vnet::GSO_TCPV6 | vnet::GSO_NONE) => (40, false),
        _ => return None,
    };
    let proto = if v4 { *pkt.get(9)? } else { *pkt.get(6)? };
    if proto != 6 || ihl < 20 || pkt.len() < ihl + 20 {
        return None;
    }
    let thl = usize::from(pkt[ihl + 12] >> 4) * 4;
    if thl < 20 || pkt.len() - ihl < thl {
        return None;
    }
    let gso = kind != vnet::GSO_NONE;
    Some(VnetHdr {
        flags: vnet::F_NEEDS_CSUM,
        gso_type: if gso { rx.gso_type } else { vnet::GSO_NONE },
        hdr_len: (14 + ihl + thl) as u16,
        gso_size: if gso { rx.gso_size } else { 0 },
        csum_start: (14 + ihl) as u16,
        csum_offset: 16,
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use lvs_forward::parse::parse_ethernet;

    /// An Ethernet/IPv4/TCP frame with `payload` bytes, checksum left partial (pseudo-header
    /// sum in the field) as a local stack hands it to a veth.
    fn tcp_frame(payload: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + payload];
        f[12] = 0x08;
        f[14] = 0x45;
        let total = (20 + 20 + payload) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[18..20].copy_from_slice(&7u16.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[198, 18, 0, 2]);
        f[30..34].copy_from_slice(&[198, 18, 0, 10]);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[38..42].copy_from_slice(&1000u32.to_be_bytes());
        f[46] = 0x50;
        f[47] = flags;
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let ph =
            checksum::pseudo_header_v4([198, 18, 0, 2], [198, 18, 0, 10], 6, (20 + payload) as u16);
        f[50..52].copy_from_slice(&checksum::fold(ph).to_be_bytes());
        f
    }

    fn tcp_ok(seg: &[u8]) -> bool {
        let p = parse_ethernet(seg).unwrap();
        let ph = checksum::pseudo_header(
            &p.flow.src.addr,
            &p.flow.dst.addr,
            6,
            (p.end() - p.l4) as u32,
        );
        checksum::fold(checksum::add(ph, &seg[p.l4..p.end()])) == 0xffff
            && checksum::checksum(&seg[14..34]) == 0
    }

    #[test]
    fn partial_checksum_is_completed() {
        let mut f = tcp_frame(100, 0x18);
        assert!(!tcp_ok(&f));
        let end = f.len();
        complete_csum(&mut f, 34, 16, end, false).unwrap();
        assert!(tcp_ok(&f));
        assert_eq!(
            complete_csum(&mut f, 34, 16, end + 1, false),
            Err(OffloadError::BadOffsets)
        );
    }

    #[test]
    fn tso_frame_is_cut_into_valid_segments() {
        let f = tcp_frame(3000, 0x19); // FIN|PSH|ACK
        let p = parse_ethernet(&f).unwrap();
        let h = VnetHdr {
            flags: vnet::F_NEEDS_CSUM,
            gso_type: vnet::GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert!(needs_segmentation(&h));
        let mut segs = Vec::new();
        let mut scratch = Vec::new();
        let n = segment(&f, &p, &h, &mut scratch, 8, |b, head, len| {
            segs.push(b[head..head + len].to_vec())
        })
        .unwrap();
        assert_eq!(n, 3);
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            assert!(tcp_ok(s), "segment {i}");
            let p = parse_ethernet(s).unwrap();
            let seq = u32::from_be_bytes([s[38], s[39], s[40], s[41]]);
            assert_eq!(seq, 1000 + data.len() as u32);
            assert_eq!(u16::from_be_bytes([s[18], s[19]]), 7 + i as u16);
            let last = i == 2;
            assert_eq!(p.tcp_flags.fin(), last);
            assert_eq!(s[47] & 0x08 != 0, last);
            data.extend_from_slice(&s[p.payload..p.end()]);
        }
        assert_eq!(data, f[54..].to_vec());
        assert_eq!(segs[0].len(), 54 + 1448);
        assert_eq!(segs[2].len(), 54 + 3000 - 2 * 1448);
    }

    #[test]
    fn whole_super_frame_gets_a_partial_checksum_and_header() {
        let mut f = tcp_frame(3000, 0x18);
        let rx = VnetHdr {
            flags: vnet::F_NEEDS_CSUM,
            gso_type: vnet::GSO_TCPV4,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        // a NAT rewrite of the destination leaves the partial sum stale
        f[30..34].copy_from_slice(&[198, 18, 1, 2]);
        f[24..26].fill(0);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[50..52].copy_from_slice(&[0xde, 0xad]);
        let v = whole_gso_header(&mut f[14..], &rx).unwrap();
        assert_eq!(v, rx);
        // finished the way the kernel finishes it, the checksum is right for the new address
        let end = f.len();
        complete_csum(&mut f, 34, 16, end, false).unwrap();
        assert!(tcp_ok(&f));
        // not TCP over IPv4 as the header says: left to the segmentation path
        let v6 = VnetHdr {
            gso_type: vnet::GSO_TCPV6,
            ..rx
        };
        assert_eq!(whole_gso_header(&mut f[14..], &v6), None);
        f[23] = 17;
        assert_eq!(whole_gso_header(&mut f[14..], &rx), None);
    }
}
