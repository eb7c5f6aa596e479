//! Segments the splicer originates: SYN-ACKs and ACKs toward the client, the SYN, replayed
//! data and ACKs toward the server, resets and reject responses. Each is a whole IPv4 packet
//! (20-byte header, DF set, TTL 64) written into a caller buffer with full checksums.

use super::options::OptionsEmit;
use crate::checksum;

/// An IPv4 endpoint as bytes: address and port.
pub type Addr = ([u8; 4], u16);

/// A segment to write.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Source endpoint.
    pub src: Addr,
    /// Destination endpoint.
    pub dst: Addr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (sets ACK).
    pub ack: Option<u32>,
    /// TCP flags other than ACK (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08).
    pub flags: u8,
    /// Window field as sent.
    pub window: u16,
    /// Options.
    pub options: OptionsEmit,
    /// Payload.
    pub payload: &'a [u8],
}

/// The buffer is too small for the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom {
    /// Bytes the segment needs.
    pub required: usize,
}

impl Segment<'_> {
    /// Total IPv4 packet length.
    pub fn len(&self) -> usize {
        40 + self.options.len() + self.payload.len()
    }

    /// Whether the segment is empty (never: headers are always there).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Writes `seg` as an IPv4 packet at the start of `out` and returns its length.
///
/// # Errors
/// [`NoRoom`] when `out` is too short (nothing is written) or the packet would exceed 65535
/// bytes.
pub fn build_ipv4_tcp(out: &mut [u8], seg: &Segment<'_>) -> Result<usize, NoRoom> {
    let total = seg.len();
    if total > out.len() || total > 65535 {
        return Err(NoRoom { required: total });
    }
    let olen = seg.options.len();
    let ip = &mut out[..20];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[12..16].copy_from_slice(&seg.src.0);
    ip[16..20].copy_from_slice(&seg.dst.0);
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let t = &mut out[20..total];
    t[0..2].copy_from_slice(&seg.src.1.to_be_bytes());
    t[2..4].copy_from_slice(&seg.dst.1.to_be_bytes());
    t[4..8].copy_from_slice(&seg.seq.to_be_bytes());
    t[8..12].copy_from_slice(&seg.ack.unwrap_or(0).to_be_bytes());
    t[12] = (((20 + olen) / 4) as u8) << 4;
    t[13] = seg.flags | if seg.ack.is_some() { 0x10 } else { 0 };
    t[14..16].copy_from_slice(&seg.window.to_be_bytes());
    t[16..20].fill(0);
    seg.options.emit(&mut t[20..20 + olen]);
    t[20 + olen..].copy_from_slice(seg.payload);
    let ps = checksum::pseudo_header_v4(seg.src.0, seg.dst.0, 6, (total - 20) as u16);
    let c = checksum::finish(checksum::add(ps, t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn builds_valid_packet() {
        let mut b = [0u8; 100];
        let s = Segment {
            src: ([198, 18, 0, 100], 80),
            dst: ([198, 18, 0, 1], 5000),
            seq: 1,
            ack: Some(2),
            flags: 0x02,
            window: 8192,
            options: OptionsEmit {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((1, 2)),
            },
            payload: &[],
        };
        let n = build_ipv4_tcp(&mut b, &s).unwrap();
        assert_eq!(n, 60);
        let p = crate::parse::parse_ip(&b[..n]).unwrap();
        assert!(p.tcp_flags.syn() && p.tcp_flags.ack());
        assert_eq!(
            build_ipv4_tcp(&mut b[..59], &s),
            Err(NoRoom { required: 60 })
        );
    }
}
