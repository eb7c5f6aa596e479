//! Keyed hashing for tables that hold attacker-chosen keys, and the kernel's `hash_32`.

/// The kernel's `GOLDEN_RATIO_32` (`include/linux/hash.h`).
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// The kernel's `hash_32(val, bits)`: multiply by the golden ratio and keep the top `bits`.
///
/// ```
/// assert_eq!(lvs_core::hash::hash_32(0, 8), 0);
/// assert!(lvs_core::hash::hash_32(12345, 8) < 256);
/// ```
#[inline]
pub const fn hash_32(val: u32, bits: u32) -> u32 {
    if bits == 0 {
        return 0;
    }
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// A 128-bit SipHash key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SipKey(pub u64, pub u64);

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash with `C` compression and `D` finalisation rounds over `data`, 64-bit output.
///
/// `siphash::<2, 4>` is SipHash-2-4 (the reference vectors hold); `siphash::<1, 3>` is the
/// variant the kernel's `hsiphash` uses on 64-bit machines.
pub fn siphash<const C: usize, const D: usize>(key: SipKey, data: &[u8]) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        for _ in 0..C {
            sipround(&mut v);
        }
        v[0] ^= m;
    }
    let rem = chunks.remainder();
    let mut last = (data.len() as u64) << 56;
    for (i, &b) in rem.iter().enumerate() {
        last |= (b as u64) << (8 * i);
    }
    v[3] ^= last;
    for _ in 0..C {
        sipround(&mut v);
    }
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..D {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// `siphash::<1, 3>` of a message shorter than 8 bytes, given as its final block: the message
/// bytes little-endian in the low bytes and its length in the top byte. Hot paths (the
/// connection table's IPv4 key, mh's `hsiphash` of a `u32`) use this to skip the byte loop.
///
/// ```
/// use lvs_core::hash::{siphash, siphash13_block, SipKey};
/// let k = SipKey(1, 2);
/// let m = u64::from_le_bytes([9, 8, 7, 0, 0, 0, 0, 3]);
/// assert_eq!(siphash13_block(k, m), siphash::<1, 3>(k, &[9, 8, 7]));
/// ```
#[inline]
pub fn siphash13_block(key: SipKey, m: u64) -> u64 {
    let mut v = [
        key.0 ^ 0x736f_6d65_7073_6575,
        key.1 ^ 0x646f_7261_6e64_6f6d,
        key.0 ^ 0x6c79_6765_6e65_7261,
        key.1 ^ 0x7465_6462_7974_6573 ^ m,
    ];
    sipround(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    sipround(&mut v);
    sipround(&mut v);
    sipround(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn siphash24_reference_vectors() {
        // From the SipHash paper, appendix A: key 00..0f, message 00..0e (15 bytes).
        let key = SipKey(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash::<2, 4>(key, &msg), 0xa129_ca61_49be_45e5);
        // empty message, first entry of the reference vector table
        assert_eq!(siphash::<2, 4>(key, &[]), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn one_block_form_matches_siphash13() {
        let key = SipKey(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        for len in 0..8usize {
            let msg: [u8; 7] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
            let mut b = [0u8; 8];
            b[..len].copy_from_slice(&msg[..len]);
            b[7] = len as u8;
            assert_eq!(
                siphash13_block(key, u64::from_le_bytes(b)),
                siphash::<1, 3>(key, &msg[..len])
            );
        }
    }

    #[test]
    fn hash_32_matches_kernel_formula() {
        assert_eq!(hash_32(1, 32), GOLDEN_RATIO_32);
        assert_eq!(hash_32(1, 8), GOLDEN_RATIO_32 >> 24);
        assert_eq!(
            hash_32(0xdead_beef, 10),
            0xdead_beefu32.wrapping_mul(0x61C8_8647) >> 22
        );
    }
}
