//! The per-segment rewrite of a spliced connection, in place, with RFC 1624 incremental
//! checksums.
//!
//! A spliced segment keeps its payload and most of its header; what changes is one endpoint
//! (address and port), the sequence or acknowledgment number by a constant offset, the SACK
//! edges and one timestamp by constant offsets, and the window when the two halves negotiated
//! different scale shifts. Each changed field feeds [`crate::checksum::diff2`] with its old and
//! new 16-bit words; fields inside options may sit at odd offsets, so [`patch_u32`] works on
//! the aligned words around them.
//!
//! A segment whose checksum is still to be computed ([`TcpChecksum::Partial`], Linux's
//! `CHECKSUM_PARTIAL`: a TSO/GSO super-frame as a local TCP stack hands it to a virtual device)
//! is rewritten the same way, but its checksum field holds only the pseudo-header sum, so only
//! the address change touches it; the device, or the kernel's segmentation, sums the rest of
//! each segment on transmit.

use crate::checksum::{diff2, diff4, diff_words, finish, fold, start};

/// What the TCP checksum field of a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpChecksum {
    /// The finished checksum (RFC 9293): every rewritten field updates it.
    #[default]
    Full,
    /// The folded, uncomplemented sum of the pseudo-header only, the rest to be summed on
    /// transmit (Linux's `CHECKSUM_PARTIAL` with `csum_offset` 16 from the TCP header, as a
    /// virtio-net header or a packet socket's `PACKET_VNET_HDR` announces it). Only the address
    /// change updates it; the segment's length, which the pseudo-header also covers, is kept.
    Partial,
}

/// Which endpoint of the packet changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The source (server to client: the real server becomes the virtual service).
    Source,
    /// The destination (client to server: the virtual service becomes the real server).
    Destination,
}

/// One direction's rewrite: everything needed to map a segment of one half-connection onto the
/// other, as constants fixed when the splice is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMap {
    /// Which endpoint is replaced.
    pub endpoint: Endpoint,
    /// The new address of that endpoint.
    pub addr: [u8; 4],
    /// The new port of that endpoint.
    pub port: u16,
    /// Added (mod 2^32) to the sequence number.
    pub seq_add: u32,
    /// Added (mod 2^32) to the acknowledgment number (when ACK is set).
    pub ack_add: u32,
    /// After the offset, an acknowledgment below this value is raised to it (data the splicer
    /// acknowledged itself before the splice must not be acknowledged as older).
    pub ack_floor: Option<u32>,
    /// Added to both edges of every SACK block.
    pub sack_add: u32,
    /// Added to TSval.
    pub tsval_add: u32,
    /// Added to TSecr.
    pub tsecr_add: u32,
    /// The shift the sender scales its window with.
    pub win_shift_in: u8,
    /// The shift the receiver reads the window with.
    pub win_shift_out: u8,
}

/// Why a segment could not be rewritten (the buffer is left untouched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// The IPv4 or TCP header is truncated or inconsistent.
    Malformed,
    /// The TCP options are malformed.
    BadOptions,
}

impl core::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RewriteError::Malformed => "malformed IPv4/TCP header",
            RewriteError::BadOptions => "malformed TCP options",
        })
    }
}

impl core::error::Error for RewriteError {}

/// Sequence-space comparison (RFC 9293 section 3.4): `a < b` modulo 2^32.
#[inline]
pub const fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Rescales a window field from the sender's shift to the receiver's, saturating at 65535 and
/// never turning an open window into a zero one.
#[inline]
pub fn rescale_window(w: u16, shift_in: u8, shift_out: u8) -> u16 {
    if shift_in == shift_out {
        return w;
    }
    let real = u64::from(w) << shift_in.min(14);
    let out = (real >> shift_out.min(14)).min(65535) as u16;
    if out == 0 && w != 0 {
        1
    } else {
        out
    }
}

/// Writes `v` big-endian at `seg[off..off + 4]` and adds the change to the partial sum `acc`,
/// whatever the alignment of `off` (the checksum pads an odd tail with a zero byte).
///
/// # Panics
/// If `off + 4 > seg.len()`.
#[inline]
pub fn patch_u32(seg: &mut [u8], off: usize, v: u32, acc: u32) -> u32 {
    let startb = off & !1;
    let end = (off + 5) & !1; // exclusive, even
    let mut old = [0u8; 6];
    let have = end.min(seg.len()) - startb;
    old[..have].copy_from_slice(&seg[startb..startb + have]);
    seg[off..off + 4].copy_from_slice(&v.to_be_bytes());
    let mut new = [0u8; 6];
    new[..have].copy_from_slice(&seg[startb..startb + have]);
    diff_words(&old, &new[..end - startb], acc)
}

#[inline]
fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

#[inline]
fn rd16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Rewrites the IPv4 packet `pkt` (a whole packet, TCP inside, no fragments) according to
/// `map`, updating the IPv4 header checksum and the TCP checksum incrementally. Returns the
/// flags byte of the segment.
///
/// # Errors
/// [`RewriteError`] when the headers do not fit the buffer or the options are malformed; the
/// buffer is then unchanged.
pub fn rewrite_ipv4(pkt: &mut [u8], map: &SegmentMap) -> Result<u8, RewriteError> {
    rewrite_ipv4_with(pkt, map, TcpChecksum::Full)
}

/// [`rewrite_ipv4`] for a segment whose TCP checksum field holds what `csum` says: with
/// [`TcpChecksum::Partial`] the field stays a partial (pseudo-header) sum, updated for the new
/// address, so that the checksum finished on transmit is right for the rewritten segment.
///
/// # Errors
/// As [`rewrite_ipv4`].
pub fn rewrite_ipv4_with(
    pkt: &mut [u8],
    map: &SegmentMap,
    csum: TcpChecksum,
) -> Result<u8, RewriteError> {
    if pkt.len() < 20 {
        return Err(RewriteError::Malformed);
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(rd16(pkt, 2));
    if pkt[0] >> 4 != 4 || ihl < 20 || total > pkt.len() || total < ihl + 20 {
        return Err(RewriteError::Malformed);
    }
    let (ip, rest) = pkt[..total].split_at_mut(ihl);
    let seg = rest;
    let doff = usize::from(seg[12] >> 4) * 4;
    if doff < 20 || doff > seg.len() {
        return Err(RewriteError::Malformed);
    }
    let opts =
        super::options::Options::parse(&seg[20..doff]).map_err(|_| RewriteError::BadOptions)?;
    let flags = seg[13];

    // addresses and port: the pseudo-header and the port both feed the TCP checksum
    let (addr_at, port_at) = match map.endpoint {
        Endpoint::Source => (12, 0),
        Endpoint::Destination => (16, 2),
    };
    let old_addr = [
        ip[addr_at],
        ip[addr_at + 1],
        ip[addr_at + 2],
        ip[addr_at + 3],
    ];
    let ip_sum = diff4(old_addr, map.addr, start(rd16(ip, 10)));
    ip[addr_at..addr_at + 4].copy_from_slice(&map.addr);
    ip[10..12].copy_from_slice(&finish(ip_sum).to_be_bytes());

    let old_check = rd16(seg, 16);
    let mut acc = start(old_check);
    acc = diff4(old_addr, map.addr, acc);
    let old_port = rd16(seg, port_at);
    acc = diff2(old_port, map.port, acc);
    seg[port_at..port_at + 2].copy_from_slice(&map.port.to_be_bytes());

    if map.seq_add != 0 {
        let v = rd32(seg, 4).wrapping_add(map.seq_add);
        acc = patch_u32(seg, 4, v, acc);
    }
    if flags & 0x10 != 0 {
        let mut v = rd32(seg, 8).wrapping_add(map.ack_add);
        if let Some(floor) = map.ack_floor {
            if seq_lt(v, floor) {
                v = floor;
            }
        }
        if v != rd32(seg, 8) {
            acc = patch_u32(seg, 8, v, acc);
        }
    }
    let w = rd16(seg, 14);
    // the window of a SYN is never scaled (RFC 7323 section 2.2)
    let w2 = if flags & 0x02 != 0 {
        w
    } else {
        rescale_window(w, map.win_shift_in, map.win_shift_out)
    };
    if w2 != w {
        acc = diff2(w, w2, acc);
        seg[14..16].copy_from_slice(&w2.to_be_bytes());
    }
    if opts.timestamp.is_some() {
        let at = 20 + opts.timestamp_at;
        if map.tsval_add != 0 {
            let v = rd32(seg, at).wrapping_add(map.tsval_add);
            acc = patch_u32(seg, at, v, acc);
        }
        // TSecr is only meaningful with ACK set (RFC 7323 section 3.2)
        if map.tsecr_add != 0 && flags & 0x10 != 0 && rd32(seg, at + 4) != 0 {
            let v = rd32(seg, at + 4).wrapping_add(map.tsecr_add);
            acc = patch_u32(seg, at + 4, v, acc);
        }
    }
    if map.sack_add != 0 {
        for b in 0..usize::from(opts.sack_blocks) {
            for edge in 0..2 {
                let at = 20 + opts.sack_at + b * 8 + edge * 4;
                let v = rd32(seg, at).wrapping_add(map.sack_add);
                acc = patch_u32(seg, at, v, acc);
            }
        }
    }
    let check = match csum {
        TcpChecksum::Full => finish(acc),
        // the pseudo-header's share: only the address is in it
        TcpChecksum::Partial => fold(diff4(old_addr, map.addr, u32::from(old_check))),
    };
    seg[16..18].copy_from_slice(&check.to_be_bytes());
    Ok(flags)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::checksum;
    use crate::splice::emit::{build_ipv4_tcp, Segment};
    use crate::splice::options::OptionsEmit;
    use core::net::{IpAddr, Ipv4Addr};

    fn verify(pkt: &[u8]) {
        assert_eq!(checksum::checksum(&pkt[..20]), 0, "ip checksum");
        let total = usize::from(rd16(pkt, 2));
        let src = [pkt[12], pkt[13], pkt[14], pkt[15]];
        let dst = [pkt[16], pkt[17], pkt[18], pkt[19]];
        let p = crate::wire::TcpPacket::new_checked(&pkt[20..total]).unwrap();
        assert!(
            p.verify_checksum(
                &IpAddr::V4(Ipv4Addr::from(src)),
                &IpAddr::V4(Ipv4Addr::from(dst))
            ),
            "tcp checksum"
        );
    }

    #[test]
    fn rewrite_all_fields_with_wrap_and_odd_sack() {
        // a segment with timestamps and a SACK block at odd alignment (one NOP before it)
        let mut b = [0u8; 200];
        let seg = Segment {
            src: ([198, 18, 0, 1], 40000),
            dst: ([198, 18, 0, 100], 80),
            seq: 0xffff_fff0,
            ack: Some(0x0000_0010),
            flags: 0x10,
            window: 1000,
            options: OptionsEmit {
                timestamp: Some((5, 0xffff_ff00)),
                ..OptionsEmit::default()
            },
            payload: b"hello, odd length",
        };
        let n = build_ipv4_tcp(&mut b, &seg).unwrap();
        verify(&b[..n]);
        let map = SegmentMap {
            endpoint: Endpoint::Destination,
            addr: [198, 18, 1, 7],
            port: 8080,
            seq_add: 0,
            ack_add: 0x20,
            ack_floor: None,
            sack_add: 0,
            tsval_add: 0,
            tsecr_add: 0x200,
            win_shift_in: 7,
            win_shift_out: 2,
        };
        let flags = rewrite_ipv4(&mut b[..n], &map).unwrap();
        assert_eq!(flags, 0x10);
        verify(&b[..n]);
        assert_eq!(&b[16..20], &[198, 18, 1, 7]);
        assert_eq!(rd16(&b, 22), 8080);
        assert_eq!(rd32(&b, 28), 0x30);
        assert_eq!(rd16(&b, 34), 32000);
        // TSecr wrapped: 0xffffff00 + 0x200
        let o = crate::splice::options::Options::parse(&b[40..52]).unwrap();
        assert_eq!(o.timestamp, Some((5, 0x100)));
        assert_eq!(&b[52..n], b"hello, odd length");
    }

    #[test]
    fn sack_edges_and_floor() {
        let mut b = [0u8; 120];
        let seg = Segment {
            src: ([198, 18, 1, 7], 8080),
            dst: ([198, 18, 0, 1], 40000),
            seq: 0x7fff_ffff,
            ack: Some(100),
            flags: 0x18,
            window: 65535,
            options: OptionsEmit::default(),
            payload: b"x",
        };
        let n0 = build_ipv4_tcp(&mut b, &seg).unwrap();
        // splice a NOP + SACK(1 block) option in by hand: data offset 5 -> 8 (12 bytes of options)
        let mut p = [0u8; 120];
        p[..40].copy_from_slice(&b[..40]);
        p[40..52].copy_from_slice(&[1, 1, 5, 10, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 4]);
        p[52] = b'x';
        let n = n0 + 12;
        p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        p[32] = 8 << 4;
        p[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[36..38].copy_from_slice(&[0, 0]);
        let ps = checksum::pseudo_header_v4([198, 18, 1, 7], [198, 18, 0, 1], 6, (n - 20) as u16);
        let c = checksum::finish(checksum::add(ps, &p[20..n]));
        p[36..38].copy_from_slice(&c.to_be_bytes());
        verify(&p[..n]);
        let map = SegmentMap {
            endpoint: Endpoint::Source,
            addr: [198, 18, 0, 100],
            port: 80,
            seq_add: 0x8000_0002,
            ack_add: 0,
            ack_floor: Some(150),
            sack_add: 3,
            tsval_add: 0,
            tsecr_add: 0,
            win_shift_in: 0,
            win_shift_out: 0,
        };
        rewrite_ipv4(&mut p[..n], &map).unwrap();
        verify(&p[..n]);
        assert_eq!(rd32(&p, 24), 1); // 0x7fffffff + 0x80000002 wraps to 1
        assert_eq!(rd32(&p, 28), 150); // raised to the floor
        assert_eq!(rd32(&p, 44), 1); // 0xfffffffe + 3
        assert_eq!(rd32(&p, 48), 7);
        // malformed input leaves the buffer alone
        let before = p;
        p[32] = 0xf0;
        assert_eq!(
            rewrite_ipv4(&mut p[..n], &map),
            Err(RewriteError::Malformed)
        );
        p[32] = before[32];
        p[43] = 9;
        assert_eq!(
            rewrite_ipv4(&mut p[..n], &map),
            Err(RewriteError::BadOptions)
        );
        assert_eq!(
            rewrite_ipv4(&mut p[..10], &map),
            Err(RewriteError::Malformed)
        );
    }

    /// `pkt` with its TCP checksum field turned into the partial sum a local stack leaves.
    fn make_partial(pkt: &mut [u8]) {
        let total = usize::from(rd16(pkt, 2));
        let ph = checksum::pseudo_header_v4(
            [pkt[12], pkt[13], pkt[14], pkt[15]],
            [pkt[16], pkt[17], pkt[18], pkt[19]],
            6,
            (total - 20) as u16,
        );
        pkt[36..38].copy_from_slice(&checksum::fold(ph).to_be_bytes());
    }

    /// Finishes a partial checksum as the kernel or a NIC does on transmit.
    fn complete(pkt: &mut [u8]) {
        let total = usize::from(rd16(pkt, 2));
        let c = checksum::checksum(&pkt[20..total]);
        pkt[36..38].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn partial_checksum_rewrite_finishes_like_the_full_one() {
        // SACK blocks at an odd offset (after one NOP), timestamps, odd payload length; maps
        // from a small generator covering wrap-around, floors, rescaling, both endpoints
        let mut x = 0x2545_f491_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for round in 0..200 {
            let mut b = [0u8; 400];
            let payload = [round as u8; 257];
            let seg = Segment {
                src: ([198, 18, 1, 7], 8080),
                dst: ([198, 18, 0, 1], 40000),
                seq: next(),
                ack: Some(next()),
                flags: if round % 3 == 0 { 0x18 } else { 0x11 },
                window: next() as u16,
                options: OptionsEmit {
                    timestamp: Some((next(), next())),
                    ..OptionsEmit::default()
                },
                payload: &payload[..round % 257],
            };
            let n0 = build_ipv4_tcp(&mut b, &seg).unwrap();
            // append NOP + SACK with two blocks to the options (data offset grows by 20)
            let doff = usize::from(b[32] >> 4) * 4;
            let mut p = [0u8; 400];
            p[..20 + doff].copy_from_slice(&b[..20 + doff]);
            let mut sack = [
                1u8, 1, 5, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ];
            for k in 0..4 {
                sack[4 + 4 * k..8 + 4 * k].copy_from_slice(&next().to_be_bytes());
            }
            p[20 + doff..40 + doff].copy_from_slice(&sack);
            p[40 + doff..n0 + 20].copy_from_slice(&b[20 + doff..n0]);
            let n = n0 + 20;
            p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            p[32] = ((doff as u8 + 20) / 4) << 4 | (p[32] & 0x0f);
            p[10..12].fill(0);
            let c = checksum::checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            make_partial(&mut p[..n]);
            complete(&mut p[..n]);
            verify(&p[..n]);
            let map = SegmentMap {
                endpoint: if round % 2 == 0 {
                    Endpoint::Source
                } else {
                    Endpoint::Destination
                },
                addr: next().to_be_bytes(),
                port: next() as u16,
                seq_add: next(),
                ack_add: next(),
                ack_floor: (round % 5 == 0).then(&mut next),
                sack_add: next(),
                tsval_add: next(),
                tsecr_add: next(),
                win_shift_in: (next() % 15) as u8,
                win_shift_out: (next() % 15) as u8,
            };
            let mut full = p;
            rewrite_ipv4(&mut full[..n], &map).unwrap();
            verify(&full[..n]);
            let mut part = p;
            make_partial(&mut part[..n]);
            rewrite_ipv4_with(&mut part[..n], &map, TcpChecksum::Partial).unwrap();
            // still a partial sum, right for the new addresses (compared with 0 and 0xffff,
            // the two ones' complement zeros, taken as one)
            let mut expect = part;
            make_partial(&mut expect[..n]);
            assert_eq!(
                checksum::fold(u32::from(rd16(&part, 36)) + 0x1_0000 - 1),
                checksum::fold(u32::from(rd16(&expect, 36)) + 0x1_0000 - 1),
                "round {round}: partial sum"
            );
            complete(&mut part[..n]);
            verify(&part[..n]);
            // every field as the full rewrite left it
            assert_eq!(&part[..36], &full[..36], "round {round}");
            assert_eq!(&part[38..n], &full[38..n], "round {round}");
        }
    }

    #[test]
    fn window_rescale() {
        assert_eq!(rescale_window(100, 7, 7), 100);
        assert_eq!(rescale_window(100, 7, 2), 3200);
        assert_eq!(rescale_window(1000, 7, 0), 65535);
        assert_eq!(rescale_window(1, 0, 7), 1);
        assert_eq!(rescale_window(0, 0, 7), 0);
        assert_eq!(rescale_window(256, 0, 7), 2);
    }
}
