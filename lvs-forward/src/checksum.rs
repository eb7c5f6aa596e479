//! Internet checksums: the RFC 1071 full sum and RFC 1624 incremental updates.
//!
//! A *partial sum* (`u32`) is an unfolded one's-complement accumulation of 16-bit big-endian
//! words, like the kernel's `__wsum`. [`fold`] reduces it to 16 bits; a header's checksum field is
//! the complement of the folded sum of everything it covers.
//!
//! The incremental helpers mirror IPVS (`include/net/ip_vs.h`): [`diff2`], [`diff4`] and
//! [`diff16`] are `ip_vs_check_diff2/4/16`, which add `~old` and `new` to a running partial sum, and
//! [`update_u16`], [`update_u32`], [`update_addr16`] apply one such difference to a stored checksum
//! with RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`. Chains are written the way
//! `tcp_fast_csum_update` writes them:
//!
//! ```
//! use lvs_forward::checksum::{diff2, diff4, finish, start};
//! # let (check, old_ip, new_ip, old_port, new_port) = (0x1234u16, [10, 0, 0, 1], [10, 0, 0, 2], 80u16, 8080u16);
//! let new_check = finish(diff4(old_ip, new_ip, diff2(old_port, new_port, start(check))));
//! # let _ = new_check;
//! ```

use core::net::IpAddr;

/// Adds `data` (big-endian 16-bit words, odd length padded with a zero byte) to the partial sum
/// `acc` (RFC 1071). The result is folded to at most 17 bits, so sums can be chained freely.
///
/// Slices of more than [`SHORT`] bytes are summed by smoltcp's `wire::checksum::data`, whose
/// loop the compiler vectorises (about 4× faster than this one on a 1460-byte segment, see
/// docs/dependencies.md); short ones (addresses, headers) stay inline here.
#[inline]
pub fn add(acc: u32, data: &[u8]) -> u32 {
    if data.len() > SHORT {
        return fold64(u64::from(acc) + u64::from(smoltcp::wire::checksum::data(data)));
    }
    let mut sum = u64::from(acc);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        sum += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = rest.remainder() {
        sum += u64::from(*b) << 8;
    }
    fold64(sum)
}

/// Longest slice [`add`] sums inline (an IPv4 header with no options, an IPv6 address pair).
pub const SHORT: usize = 64;

#[inline]
fn fold64(mut sum: u64) -> u32 {
    while sum > 0x1_ffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u32
}

/// Folds a partial sum to 16 bits with end-around carries (`csum_fold` without the complement).
#[inline]
pub const fn fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The RFC 1071 checksum of `data`: the complement of its folded sum.
///
/// ```
/// // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2
/// assert_eq!(lvs_forward::checksum::checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
/// ```
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add(0, data))
}

/// The partial sum of the IPv4 pseudo-header (RFC 793 / RFC 768).
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    let s = add(add(0, &src), &dst);
    s + u32::from(proto) + u32::from(len)
}

/// The partial sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    let s = add(add(0, src), dst);
    fold64(u64::from(s) + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(next_header))
}

/// The partial sum of the pseudo-header for `src`/`dst` of either family (an IPv4 address paired
/// with an IPv6 one is taken as IPv4-mapped; no valid packet has such a pair).
#[inline]
pub fn pseudo_header(src: &IpAddr, dst: &IpAddr, proto: u8, len: u32) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo_header_v4(s.octets(), d.octets(), proto, len as u16)
        }
        _ => {
            let v6 = |a: &IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                IpAddr::V6(a) => a.octets(),
            };
            pseudo_header_v6(&v6(src), &v6(dst), proto, len)
        }
    }
}

/// The checksum of `data` (its checksum field zeroed) with the pseudo-header of `src` → `dst`,
/// protocol `proto` and length `data.len()`, ready to store.
#[inline]
pub fn with_pseudo(src: &IpAddr, dst: &IpAddr, proto: u8, data: &[u8]) -> u16 {
    finish(add(pseudo_header(src, dst, proto, data.len() as u32), data))
}

/// Whether the checksum stored in `data` verifies with the pseudo-header of `src` → `dst`,
/// protocol `proto` and length `data.len()`.
#[inline]
pub fn verify_pseudo(src: &IpAddr, dst: &IpAddr, proto: u8, data: &[u8]) -> bool {
    with_pseudo(src, dst, proto, data) == 0
}

/// The partial sum a stored checksum field stands for (`~csum_unfold(check)`), to start a chain.
#[inline]
pub const fn start(check: u16) -> u32 {
    (!check) as u32
}

/// The checksum field value for a partial sum (`csum_fold`, which complements).
#[inline]
pub const fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// `ip_vs_check_diff2`: adds `~old + new` for a 16-bit field change to `acc`.
#[inline]
pub const fn diff2(old: u16, new: u16, acc: u32) -> u32 {
    let s = acc as u64 + (!old) as u64 + new as u64;
    ((s & 0xffff) + (s >> 16)) as u32
}

/// `ip_vs_check_diff4`: adds `~old + new` for a 32-bit field (an IPv4 address) change to `acc`.
#[inline]
pub const fn diff4(old: [u8; 4], new: [u8; 4], acc: u32) -> u32 {
    let a = diff2(
        u16::from_be_bytes([old[0], old[1]]),
        u16::from_be_bytes([new[0], new[1]]),
        acc,
    );
    diff2(
        u16::from_be_bytes([old[2], old[3]]),
        u16::from_be_bytes([new[2], new[3]]),
        a,
    )
}

/// `ip_vs_check_diff16`: adds `~old + new` for a 128-bit field (an IPv6 address) change to `acc`.
#[inline]
pub const fn diff16(old: &[u8; 16], new: &[u8; 16], acc: u32) -> u32 {
    diff_words(old, new, acc)
}

/// Adds `~old + new` for each 16-bit word of an even-length field change to `acc`.
///
/// # Panics
/// If `old` is shorter than `new` or `new` has an odd length.
#[inline]
pub const fn diff_words(old: &[u8], new: &[u8], acc: u32) -> u32 {
    let mut acc = acc;
    let mut i = 0;
    while i < new.len() {
        acc = diff2(
            u16::from_be_bytes([old[i], old[i + 1]]),
            u16::from_be_bytes([new[i], new[i + 1]]),
            acc,
        );
        i += 2;
    }
    acc
}

/// RFC 1624 update of `check` for a 16-bit field going from `old` to `new`.
///
/// ```
/// use lvs_forward::checksum::{checksum, update_u16};
/// let mut hdr = [0x45u8, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
/// let c = checksum(&hdr);
/// hdr[8] = 63; // TTL 64 -> 63
/// assert_eq!(update_u16(c, 0x4006, 0x3f06), checksum(&hdr));
/// ```
#[inline]
pub const fn update_u16(check: u16, old: u16, new: u16) -> u16 {
    finish(diff2(old, new, start(check)))
}

/// RFC 1624 update of `check` for a 32-bit field (an IPv4 address) change.
#[inline]
pub const fn update_u32(check: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    finish(diff4(old, new, start(check)))
}

/// RFC 1624 update of `check` for a 128-bit field (an IPv6 address) change.
#[inline]
pub const fn update_addr16(check: u16, old: &[u8; 16], new: &[u8; 16]) -> u16 {
    finish(diff16(old, new, start(check)))
}

/// The `crc` crate's table layout for CRC32c: slice-by-16 with the `crc-slice16` feature
/// (16 KiB of tables in read-only memory, about 7× faster, see docs/dependencies.md), else one
/// 256-entry table (1 KiB, for flash-constrained builds).
#[cfg(feature = "crc-slice16")]
type CrcTable = crc::Table<16>;
#[cfg(not(feature = "crc-slice16"))]
type CrcTable = crc::Table<1>;

/// CRC32c (Castagnoli, reflected, as SCTP uses it: RFC 9260 appendix A), from the `crc`
/// crate (`CRC_32_ISCSI`).
const CRC32C: crc::Crc<u32, CrcTable> = crc::Crc::<u32, CrcTable>::new(&crc::CRC_32_ISCSI);

/// CRC32c of `data`.
///
/// ```
/// assert_eq!(lvs_forward::checksum::crc32c(b"123456789"), 0xe306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// CRC32c of the concatenation of `parts` (a packet whose checksum field reads as zero
/// without copying it).
///
/// ```
/// use lvs_forward::checksum::{crc32c, crc32c_parts};
/// assert_eq!(crc32c_parts(&[b"1234", b"56789"]), crc32c(b"123456789"));
/// ```
pub fn crc32c_parts(parts: &[&[u8]]) -> u32 {
    let mut d = CRC32C.digest();
    for p in parts {
        d.update(p);
    }
    d.finalize()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rfc1071_example() {
        let d = [0x00u8, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &d)), 0xddf2);
        // odd length pads with zero
        assert_eq!(fold(add(0, &[0xab])), 0xab00);
        assert_eq!(fold(add(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn known_ipv4_header() {
        // Wikipedia's IPv4 header checksum example: checksum 0xb861
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn incremental_address_and_port_chain() {
        let mut seg = [0u8; 24];
        seg[..4].copy_from_slice(&[10, 0, 0, 1]);
        seg[4..6].copy_from_slice(&80u16.to_be_bytes());
        for (i, b) in seg[6..].iter_mut().enumerate() {
            *b = (i * 37 + 11) as u8;
        }
        let c = checksum(&seg);
        let mut seg2 = seg;
        seg2[..4].copy_from_slice(&[192, 168, 7, 9]);
        seg2[4..6].copy_from_slice(&8080u16.to_be_bytes());
        let inc = finish(diff4(
            [10, 0, 0, 1],
            [192, 168, 7, 9],
            diff2(80, 8080, start(c)),
        ));
        assert_eq!(inc, checksum(&seg2));
        let a: [u8; 16] = core::array::from_fn(|i| i as u8);
        let b: [u8; 16] = core::array::from_fn(|i| 255 - i as u8);
        let mut s = [0u8; 20];
        s[..16].copy_from_slice(&a);
        s[16] = 7;
        let c = checksum(&s);
        s[..16].copy_from_slice(&b);
        assert_eq!(update_addr16(c, &a, &b), checksum(&s));
    }

    #[test]
    fn long_and_short_sums_agree() {
        // the word-by-word definition, against both paths of `add` (either side of SHORT,
        // odd and even lengths, a running sum carried in)
        let data: std::vec::Vec<u8> = (0..1500u32).map(|i| (i * 151 + 17) as u8).collect();
        for len in (0..200).chain([1459, 1460, 1499, 1500]) {
            let d = &data[..len];
            let mut want: u64 = 0xfffe;
            for w in d.chunks(2) {
                want += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
            }
            let want = fold(fold64(want));
            assert_eq!(fold(add(0xfffe, d)), want, "len {len}");
            assert!(add(0xfffe, d) <= 0x1_ffff);
        }
    }

    #[test]
    fn crc32c_vectors() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa); // RFC 3720 B.4
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(crc32c(&inc), 0x46dd_794e); // RFC 3720 B.4, incrementing
        assert_eq!(crc32c_parts(&[&inc[..5], &[], &inc[5..]]), 0x46dd_794e);
    }
}
