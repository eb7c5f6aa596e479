//! CRC32c (SCTP's checksum, RFC 9260 appendix A): the byte-at-a-time table lvs-forward had by
//! hand, against the `crc` crate with one table (the same algorithm) and with sixteen
//! (slice-by-16), on an SCTP packet of 64 and of 1400 bytes.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// The hand-written version lvs-forward carried (a 256-entry table, one byte per step).
mod hand {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82f6_3b78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };

    pub fn crc32c(data: &[u8]) -> u32 {
        let mut state = !0u32;
        for &b in data {
            state = TABLE[((state ^ u32::from(b)) & 0xff) as usize] ^ (state >> 8);
        }
        !state
    }
}

const TABLE1: crc::Crc<u32, crc::Table<1>> =
    crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);
const TABLE16: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

fn bench(c: &mut Criterion) {
    for len in [64usize, 1400] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(hand::crc32c(&data), TABLE1.checksum(&data));
        assert_eq!(hand::crc32c(&data), TABLE16.checksum(&data));
        assert_eq!(lvs_forward::checksum::crc32c(&data), TABLE1.checksum(&data));
        let mut g = c.benchmark_group(format!("crc32c/{len}B"));
        g.bench_function("hand_table1", |b| b.iter(|| hand::crc32c(black_box(&data))));
        g.bench_function("crc_table1", |b| {
            b.iter(|| TABLE1.checksum(black_box(&data)))
        });
        g.bench_function("crc_table16", |b| {
            b.iter(|| TABLE16.checksum(black_box(&data)))
        });
        g.bench_function("lvs_forward", |b| {
            b.iter(|| lvs_forward::checksum::crc32c(black_box(&data)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
