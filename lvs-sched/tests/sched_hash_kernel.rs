//! Kernel values pinned for dh, sh and mh: hash functions, test vectors and whole decisions.
//!
//! Where a value is not derivable by hand (SipHash), it was computed by a separate Python
//! model of `ip_vs_{dh,sh,mh}.c`, `include/linux/hash.h` and `lib/siphash.c` (64-bit), written
//! from the C sources and checked against the kernel's own SipHash test vectors below.

mod sched_hash_fixtures;

use lvs_core::hash::{hash_32, siphash, SipKey};
use lvs_core::{DestId, Endpoint, FlowKey, Instant, IpAddr, Protocol, SchedRequest, Scheduler};
use lvs_sched::dh::{self, Dh};
use lvs_sched::mh::{self, Mh, MhError};
use lvs_sched::sh::{self, Sh};
use sched_hash_fixtures::{client_v4, from, Svc};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// hash functions

/// `test_vectors_hsiphash` of lib/tests/siphash_kunit.c (64-bit): key 00..0f, message
/// 00 01 .. (i-1) for i = 0..64.
const HSIPHASH_VECTORS: [u32; 64] = [
    0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140,
    0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956,
    0x7d908b66, 0x63dbd80c, 0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123,
    0x67349c8c, 0x705b0979, 0xca9913a5, 0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc,
    0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91, 0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392,
    0x99e41531, 0x3f1ad944, 0xc8138825, 0xc28949a6, 0xfaf8876b, 0x9f042196, 0x68b1d623, 0x8b5114fd,
    0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0, 0x73f0bce6, 0x70a7e980,
    0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0, 0xb7bbb3a8,
];

const TEST_KEY: SipKey = SipKey(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);

#[test]
fn hsiphash_kernel_vectors() {
    let msg: [u8; 64] = core::array::from_fn(|i| i as u8);
    for (len, &want) in HSIPHASH_VECTORS.iter().enumerate() {
        assert_eq!(
            siphash::<1, 3>(TEST_KEY, &msg[..len]) as u32,
            want,
            "hsiphash vector {len}"
        );
    }
    // hsiphash_1u32(0x03020100) is vector 4; mh hashes its u32 the same way
    assert_eq!(mh::hsiphash_u32(TEST_KEY, 0x0302_0100), HSIPHASH_VECTORS[4]);
}

#[test]
fn hsiphash_with_the_mh_keys() {
    assert_eq!(mh::HASH1_KEY, SipKey(2654435761, 2654435761));
    assert_eq!(mh::HASH2_KEY, SipKey(2654446892, 2654446892));
    assert_eq!(mh::hsiphash_u32(mh::HASH1_KEY, 0), 0x1d5a_77c2);
    assert_eq!(mh::hsiphash_u32(mh::HASH2_KEY, 0), 0xf882_433f);
    assert_eq!(mh::hsiphash_u32(mh::HASH1_KEY, 1), 0x16ec_66b2);
    assert_eq!(mh::hsiphash_u32(mh::HASH2_KEY, 1), 0x8210_aad1);
    // 10.0.0.1:80 -> v = 0x0a000001 + 80
    assert_eq!(mh::hsiphash_u32(mh::HASH1_KEY, 0x0a00_0051), 0x439c_0cbe);
    assert_eq!(
        mh::hashkey(&ip("10.0.0.1"), 80, mh::HASH1_KEY, 0),
        1_134_300_350
    );
    assert_eq!(
        mh::hashkey(&ip("10.0.0.1"), 80, mh::HASH2_KEY, 0),
        2_545_146_951
    );
    assert_eq!(
        mh::hashkey(&ip("2001:db8::1"), 443, mh::HASH1_KEY, 0),
        2_453_200_754
    );
    // the u32 input is offset + port + fold(addr), wrapping
    assert_eq!(
        mh::hashkey(&ip("10.0.0.1"), 0, mh::HASH1_KEY, 80),
        mh::hashkey(&ip("10.0.0.1"), 80, mh::HASH1_KEY, 0)
    );
    assert_eq!(
        mh::hashkey(&ip("255.255.255.255"), 2, mh::HASH1_KEY, 0),
        mh::hsiphash_u32(mh::HASH1_KEY, 1)
    );
}

#[test]
fn hash_32_buckets_for_known_addresses() {
    // hand check: 0xc0a80101 * 0x61c88647 = 0x88_..., top 8 bits 0x88 = 136
    assert_eq!(0xc0a8_0101u32.wrapping_mul(0x61c8_8647) >> 24, 136);
    let cases = [
        // addr, fold, dh bucket (8 bits), lblc bucket (10 bits)
        ("192.168.1.1", 0xc0a8_0101, 136, 547),
        ("10.1.2.3", 0x0a01_0203, 2, 10),
        ("203.0.113.9", 0xcb00_7109, 64, 257),
        ("2001:db8::1", 0x2001_0db9, 63, 252),
        ("2001:db8:0:1::5", 0x2001_0dbc, 100, 401),
        ("0.0.0.0", 0, 0, 0),
    ];
    for (a, fold, b8, b10) in cases {
        let a = ip(a);
        assert_eq!(lvs_core::addr::fold_addr(&a), fold, "{a}");
        assert_eq!(hash_32(fold, 8) as usize, b8);
        assert_eq!(dh::hashkey(&a), b8, "dh {a}");
        assert_eq!(lvs_sched::lblc::hashkey(&a), b10, "lblc {a}");
        assert_eq!(lvs_sched::lblcr::hashkey(&a), b10, "lblcr {a}");
    }
}

#[test]
fn sh_hashkey_known_values() {
    assert_eq!(sh::hashkey(&ip("198.19.0.1"), 0, 0), 67);
    assert_eq!(sh::hashkey(&ip("198.19.0.1"), 40000, 0), 231);
    assert_eq!(sh::hashkey(&ip("2001:db8::7"), 0, 0), 137);
    assert_eq!(sh::hashkey(&ip("2001:db8::7"), 443, 0), 191);
    // port + addr wraps at 32 bits: 0xffffffff + 65535 = 65534
    assert_eq!(sh::hashkey(&ip("255.255.255.255"), 65535, 0), 194);
    assert_eq!(sh::hashkey(&ip("0.0.0.0"), 65534, 0), 194);
    // the offset is added after hashing, mod 256
    assert_eq!(sh::hashkey(&ip("198.19.0.1"), 0, 200), (67 + 200) % 256);
}

// ---------------------------------------------------------------------------------------------
// dh

fn req_to(daddr: &str, client: Endpoint) -> SchedRequest {
    SchedRequest {
        flow: FlowKey::new(Protocol::Tcp, client, Endpoint::new(ip(daddr), 80)),
        now: Instant::ZERO,
    }
}

#[test]
fn dh_bucket_i_is_server_i_mod_n() {
    let mut svc = Svc::with(
        Dh::new(),
        &[
            (ep("10.0.0.1:80"), 1),
            (ep("10.0.0.2:80"), 5),
            (ep("10.0.0.3:80"), 0),
        ],
    );
    for i in 0..256 {
        assert_eq!(svc.s.bucket(i), Some(DestId((i % 3) as u16)));
    }
    assert_eq!(svc.s.bucket(256), None);
    // 192.168.1.1 -> bucket 136 -> 136 % 3 = 1; the client does not matter
    for c in 1..20 {
        assert_eq!(
            svc.schedule(&req_to("192.168.1.1", client_v4(c))),
            Some(DestId(1))
        );
    }
    // 10.1.2.3 -> bucket 2 -> server 2, weight 0: no destination, no fallback
    assert_eq!(svc.schedule(&req_to("10.1.2.3", client_v4(1))), None);
    // 2001:db8::1 -> bucket 63 -> server 0
    assert_eq!(
        svc.schedule(&req_to("2001:db8::1", ep("[2001:db8:1::1]:5000"))),
        Some(DestId(0))
    );
    svc.overload(DestId(1), true);
    assert_eq!(svc.schedule(&req_to("192.168.1.1", client_v4(1))), None);
    svc.overload(DestId(1), false);

    // add_dest rebuilds: 4 servers, newest first
    let d3 = svc.add_at(ep("10.0.0.4:80"), 1);
    assert_eq!(svc.order[0], d3);
    for i in 0..256 {
        assert_eq!(svc.s.bucket(i), Some(svc.order[i % 4]));
    }
    // 136 % 4 = 0 -> the new server
    assert_eq!(svc.schedule(&req_to("192.168.1.1", client_v4(1))), Some(d3));
    // del_dest rebuilds
    svc.del(d3);
    assert_eq!(
        svc.schedule(&req_to("192.168.1.1", client_v4(1))),
        Some(DestId(1))
    );
    // a weight edit has no callback effect on the table
    svc.set_weight(DestId(2), 7);
    assert_eq!(
        svc.schedule(&req_to("10.1.2.3", client_v4(1))),
        Some(DestId(2))
    );
    assert_eq!(svc.s.name(), "dh");
}

#[test]
fn dh_empty_service() {
    let mut svc = Svc::with(Dh::new(), &[]);
    assert_eq!(svc.s.bucket(0), None);
    assert_eq!(svc.schedule(&req_to("192.168.1.1", client_v4(1))), None);
    let a = svc.add_at(ep("10.0.0.1:80"), 1);
    assert_eq!(svc.schedule(&req_to("192.168.1.1", client_v4(1))), Some(a));
    svc.del(a);
    assert_eq!(svc.schedule(&req_to("192.168.1.1", client_v4(1))), None);
}

// ---------------------------------------------------------------------------------------------
// sh

/// The sh fill for weights 2, 0, 3: period A A B C C C.
fn sh_pattern_203(i: usize) -> u16 {
    [0, 0, 1, 2, 2, 2][i % 6]
}

fn sh_203(fallback: bool, port: bool) -> Svc<Sh> {
    Svc::with(
        Sh::new(fallback, port),
        &[
            (ep("10.0.0.1:80"), 2),
            (ep("10.0.0.2:80"), 0),
            (ep("10.0.0.3:80"), 3),
        ],
    )
}

#[test]
fn sh_fill_gives_weight_consecutive_buckets_and_one_to_weight_zero() {
    let svc = sh_203(false, false);
    for i in 0..256 {
        assert_eq!(
            svc.s.bucket(i),
            Some(DestId(sh_pattern_203(i))),
            "bucket {i}"
        );
    }
    // the last cycle is cut off: 252..255 = A A B C
    assert_eq!(
        (252..256)
            .map(|i| svc.s.bucket(i).unwrap().0)
            .collect::<Vec<_>>(),
        [0, 0, 1, 2]
    );
}

#[test]
fn sh_lookups_without_and_with_fallback() {
    // clients 198.19.0.1..12: hash keys 67, 164, 6, 104, 202, 43, 141, 239, 81, 179, 20, 118
    let keys = [67, 164, 6, 104, 202, 43, 141, 239, 81, 179, 20, 118];
    let mut plain = sh_203(false, false);
    let mut fb = sh_203(true, false);
    let want_plain = [
        Some(0),
        None,
        Some(0),
        None,
        Some(2),
        Some(0),
        Some(2),
        Some(2),
        Some(2),
        Some(2),
        None,
        Some(2),
    ];
    let want_fb = [0, 0, 0, 2, 2, 0, 2, 2, 2, 2, 2, 2];
    for (i, k) in keys.iter().enumerate() {
        let c = client_v4(i as u8 + 1);
        assert_eq!(sh::hashkey(&c.addr, 0, 0), *k);
        assert_eq!(
            plain.schedule(&from(c)),
            want_plain[i].map(DestId),
            "client {i}"
        );
        assert_eq!(
            fb.schedule(&from(c)),
            Some(DestId(want_fb[i])),
            "client {i}"
        );
    }
    // by hand: client .2 has ihash 164 (164 % 6 = 2: the weight-0 server); the first probe is
    // bucket (2 * 164) & 255 = 72, not 165; 72 % 6 = 0 -> server 0 (bucket 165 is server 2)
    assert_eq!(sh_pattern_203(165), 2);
    assert_eq!(sh_pattern_203(72), 0);
}

#[test]
fn sh_fallback_probe_sequence_is_2ihash_plus_i() {
    // Overload everything but server 0 and check that the fallback answer is the first
    // bucket of the sequence (2*ihash + i) & 255 holding server 0.
    let mut svc = sh_203(true, false);
    svc.overload(DestId(2), true);
    for c in 1..=200u8 {
        let cl = client_v4(c);
        let ihash = sh::hashkey(&cl.addr, 0, 0);
        let want = if sh_pattern_203(ihash) == 0 {
            0
        } else {
            let first = (0..256)
                .map(|i| (2 * ihash + i) & 255)
                .find(|&b| sh_pattern_203(b) == 0)
                .unwrap();
            sh_pattern_203(first)
        };
        assert_eq!(svc.schedule(&from(cl)), Some(DestId(want)));
    }
    // nothing usable: the fallback gives up
    svc.overload(DestId(0), true);
    assert_eq!(svc.schedule(&from(client_v4(1))), None);
}

#[test]
fn sh_port_only_for_tcp_udp_sctp() {
    let mut svc = Svc::with(Sh::new(false, true), &[(ep("10.0.0.1:80"), 1); 1]);
    // rebuild with 256 distinct servers so a bucket identifies a server
    for i in 1..256u16 {
        svc.add_at(Endpoint::v4([10, 0, 1, i as u8], 80), 1);
    }
    let c = ep("198.19.0.1:40000");
    let vip = ep("198.18.0.1:80");
    let bucket = |svc: &Svc<Sh>, b: usize| svc.s.bucket(b);
    for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        let r = SchedRequest {
            flow: FlowKey::new(proto, c, vip),
            now: Instant::ZERO,
        };
        assert_eq!(svc.schedule(&r), bucket(&svc, 231), "{proto}");
    }
    let icmp = SchedRequest {
        flow: FlowKey::new(Protocol::Unknown(1), c, vip),
        now: Instant::ZERO,
    };
    assert_eq!(svc.schedule(&icmp), bucket(&svc, 67));
    // without sh-port, TCP ignores the port too
    let mut noport = Svc::with(Sh::new(false, false), &[]);
    noport.pool = svc.pool.clone();
    noport.order = svc.order.clone();
    let set = lvs_core::DestSet::new(&noport.pool, &noport.order);
    noport.s.init_service(&set);
    assert_eq!(noport.schedule(&from(c)), noport.s.bucket(67));
}

#[test]
fn sh_rebuilds_on_weight_edit() {
    let mut svc = sh_203(false, false);
    svc.set_weight(DestId(1), 2); // A A B B C C C, period 7
    let p = [0, 0, 1, 1, 2, 2, 2];
    for i in 0..256 {
        assert_eq!(svc.s.bucket(i), Some(DestId(p[i % 7])));
    }
    svc.del(DestId(0)); // B B C C C
    let p = [1, 1, 2, 2, 2];
    for i in 0..256 {
        assert_eq!(svc.s.bucket(i), Some(DestId(p[i % 5])));
    }
    svc.del(DestId(1));
    svc.del(DestId(2));
    assert_eq!(svc.s.bucket(0), None);
    assert_eq!(svc.schedule(&from(client_v4(1))), None);
}

#[test]
fn sh_ipv6_clients() {
    let mut svc = Svc::with(Sh::new(false, false), &[]);
    for i in 0..256u16 {
        svc.add_at(
            Endpoint::v6(
                [
                    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i as u8,
                ],
                80,
            ),
            1,
        );
    }
    let c = ep("[2001:db8::7]:443");
    assert_eq!(svc.schedule(&from(c)), svc.s.bucket(137));
}

// ---------------------------------------------------------------------------------------------
// mh

fn mh_svc<const CAP: usize>(
    size: u32,
    fallback: bool,
    port: bool,
    servers: &[(Endpoint, u32)],
) -> Svc<Mh<CAP>> {
    Svc::with(
        Mh::<CAP>::with_table_size(size, fallback, port).unwrap(),
        servers,
    )
}

fn five() -> Vec<(Endpoint, u32)> {
    (1..=5u8)
        .map(|i| (Endpoint::v4([10, 0, 0, i], 80), u32::from(i)))
        .collect()
}

/// Sum of `i * (list position + 1)` over the table, mod 2^32.
fn checksum<S>(svc: &Svc<S>, slots: &[DestId]) -> u64 {
    slots
        .iter()
        .enumerate()
        .map(|(i, id)| i as u64 * (svc.order.iter().position(|o| o == id).unwrap() as u64 + 1))
        .sum::<u64>()
        % (1 << 32)
}

fn counts(slots: &[DestId], n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| slots.iter().filter(|d| d.index() == i).count())
        .collect()
}

/// The table of `svc` starts with the servers `first`, gives server `i` `per_server[i]` slots
/// and has the position-weighted `sum` ([`checksum`]).
fn assert_table<S>(svc: &Svc<S>, slots: &[DestId], first: &[u16], per_server: &[usize], sum: u64) {
    let head: Vec<u16> = slots[..first.len()].iter().map(|d| d.0).collect();
    assert_eq!(head, first);
    assert_eq!(counts(slots, per_server.len()), per_server);
    assert_eq!(checksum(svc, slots), sum);
}

#[test]
fn mh_constructor_sizes() {
    for p in mh::PRIMES {
        let r = Mh::<131071>::with_table_size(p, false, false);
        assert_eq!(r.map(|m| m.table_size()), Ok(p));
    }
    assert_eq!(Mh::new(4093, false, false).unwrap().table_size(), 4093);
    assert_eq!(Mh::default().table_size(), mh::DEFAULT_TABLE_SIZE);
    assert!(matches!(
        Mh::new(4096, false, false),
        Err(MhError::UnsupportedSize { size: 4096 })
    ));
    assert_eq!(
        Mh::new(8191, false, false).unwrap_err(),
        MhError::ExceedsCapacity {
            size: 8191,
            capacity: 4093
        }
    );
    assert!(Mh::<65537>::with_table_size(65537, false, false).is_ok());
    let e = Mh::new(0, false, false).unwrap_err();
    assert!(e.to_string().contains("not one of the kernel's primes"));
    let e: &dyn core::error::Error = &e;
    assert!(e.source().is_none());
    assert_eq!(mh::tab_bits(251), Some(4));
    assert_eq!(mh::tab_bits(2039), Some(5));
    assert_eq!(mh::tab_bits(65521), Some(8));
    assert_eq!(mh::tab_bits(131071), Some(8));
}

#[test]
fn mh_table_m251_weights_1_to_5() {
    let svc = mh_svc::<251>(251, false, false, &five());
    let slots = svc.s.slots().unwrap();
    assert_eq!(slots.len(), 251);
    assert_eq!((svc.s.gcd(), svc.s.rshift()), (1, 0));
    let first = [
        3, 4, 3, 3, 4, 0, 4, 4, 1, 4, 3, 0, 4, 3, 3, 1, 1, 1, 3, 4, 3, 3, 4, 0,
    ];
    assert_table(&svc, slots, &first, &[17, 34, 51, 68, 81], 111_987);
    // each server's first slot is its preferred offset (hash1 % 251) unless taken earlier
    assert_eq!(
        mh::hashkey(&ip("10.0.0.1"), 80, mh::HASH1_KEY, 0) % 251,
        226
    );
    assert_eq!(slots[226], DestId(0));
}

#[test]
fn mh_lookups_m251_with_and_without_port() {
    let mut plain = mh_svc::<251>(251, false, false, &five());
    let mut port = mh_svc::<251>(251, false, true, &five());
    let want_plain = [0, 2, 3, 3, 1, 3, 3, 2, 2, 2];
    let want_port = [4, 1, 0, 3, 3, 2, 3, 4, 3, 2];
    for i in 0..10u8 {
        let c = Endpoint::v4([198, 19, 0, i + 1], 40001 + u16::from(i));
        assert_eq!(
            plain.schedule(&from(c)),
            Some(DestId(want_plain[i as usize]))
        );
        assert_eq!(port.schedule(&from(c)), Some(DestId(want_port[i as usize])));
        // mh-port with a portless protocol hashes port 0
        let r = SchedRequest {
            flow: FlowKey::new(Protocol::Unknown(47), c, ep("198.18.0.1:0")),
            now: Instant::ZERO,
        };
        assert_eq!(port.schedule(&r), Some(DestId(want_plain[i as usize])));
    }
}

#[test]
fn mh_table_m4093_and_stability() {
    let mut svc = mh_svc::<4093>(4093, false, false, &five());
    let slots = svc.s.slots().unwrap();
    let first = [
        3, 3, 1, 3, 2, 2, 1, 2, 2, 4, 3, 1, 3, 3, 0, 3, 1, 3, 2, 3, 2, 3, 2, 2,
    ];
    assert_table(
        &svc,
        slots,
        &first,
        &[273, 546, 819, 1092, 1363],
        30_680_613,
    );
    let want = [3, 4, 3, 4, 4, 1, 3, 3, 3, 4];
    for _ in 0..3 {
        for i in 0..10u8 {
            assert_eq!(
                svc.schedule(&from(client_v4(i + 1))),
                Some(DestId(want[i as usize]))
            );
        }
    }
}

/// Servers with weights 100, 0 (edited down from 50), 300.
fn quiesced(fallback: bool) -> Svc<Mh> {
    let mut svc = Svc::with(
        Mh::new(4093, fallback, false).unwrap(),
        &[
            (ep("10.0.0.1:80"), 100),
            (ep("10.0.0.2:80"), 50),
            (ep("10.0.0.3:80"), 300),
        ],
    );
    svc.set_weight(DestId(1), 0);
    svc
}

#[test]
fn mh_weight_zero_keeps_its_slots() {
    let plain = quiesced(false);
    let slots = plain.s.slots().unwrap().to_vec();
    assert_eq!(plain.s.gcd(), 50);
    assert_eq!(counts(&slots, 3), [910, 455, 2728]);
    assert_eq!(checksum(&plain, &slots), 20_429_464);
    // back to 50: the same table (built from last_weight both times)
    let mut back = quiesced(false);
    back.set_weight(DestId(1), 50);
    assert_eq!(back.s.slots().unwrap(), &slots[..]);
    // a server added with weight 0 has last_weight 0 and no slots
    let added0 = Svc::with(
        Mh::new(4093, false, false).unwrap(),
        &[
            (ep("10.0.0.1:80"), 100),
            (ep("10.0.0.2:80"), 0),
            (ep("10.0.0.3:80"), 300),
        ],
    );
    assert_eq!(added0.s.gcd(), 100);
    assert_eq!(counts(added0.s.slots().unwrap(), 3), [1024, 0, 3069]);
}

#[test]
fn mh_weight_zero_lookup_and_fallback() {
    let mut plain = quiesced(false);
    let mut fb = quiesced(true);
    // clients 198.19.0.16, .19, .20 land on the quiesced server's slots
    for (c, want_fb) in [(16u8, 2u16), (19, 0), (20, 2), (22, 2), (28, 2), (40, 2)] {
        let r = from(client_v4(c));
        assert_eq!(
            plain.s.slot(plain.s.slot_of(&r.flow.src.addr, 0)),
            Some(DestId(1))
        );
        assert_eq!(plain.schedule(&r), None, "client {c}");
        assert_eq!(fb.schedule(&r), Some(DestId(want_fb)), "client {c}");
    }
    // everything else is unaffected, with or without fallback
    let want = [0, 0, 2, 2, 2, 2, 2, 2, 0, 2];
    for i in 0..10u8 {
        let r = from(client_v4(i + 1));
        assert_eq!(plain.schedule(&r), Some(DestId(want[i as usize])));
        assert_eq!(fb.schedule(&r), Some(DestId(want[i as usize])));
    }
    // overload works like weight 0; nothing usable: None even with fallback
    fb.overload(DestId(0), true);
    fb.overload(DestId(2), true);
    assert_eq!(fb.schedule(&from(client_v4(1))), None);
}

#[test]
fn mh_rshift_scales_large_weights() {
    let svc = Svc::with(
        Mh::new(4093, false, false).unwrap(),
        &[(ep("10.0.0.1:80"), 65535), (ep("10.0.0.2:80"), 1)],
    );
    // fls(65535) = 16, minus TAB_BITS 6: turns 65535 >> 10 = 63 and (1 >> 10 = 0) -> 1
    assert_eq!((svc.s.gcd(), svc.s.rshift()), (1, 10));
    let slots = svc.s.slots().unwrap();
    assert_table(&svc, slots, &[], &[4030, 63], 8_508_721);
}

#[test]
fn mh_ipv6() {
    let servers: Vec<(Endpoint, u32)> = (1..=3u8)
        .map(|i| {
            let mut o = [0u8; 16];
            o[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            o[15] = i;
            (Endpoint::v6(o, 443), 1)
        })
        .collect();
    let mut svc = mh_svc::<509>(509, false, false, &servers);
    let slots = svc.s.slots().unwrap();
    assert_table(&svc, slots, &[], &[170, 170, 169], 257_508);
    let want = [0, 2, 0, 1, 2, 1, 0, 2];
    for i in 1..=8u8 {
        let mut o = [0u8; 16];
        o[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        o[15] = i;
        let c = Endpoint::v6(o, 0);
        assert_eq!(svc.schedule(&from(c)), Some(DestId(want[i as usize - 1])));
    }
}

fn hundred() -> Vec<(Endpoint, u32)> {
    (1..=100u32)
        .map(|i| {
            let b = i.to_be_bytes();
            (Endpoint::v4([10, b[1], b[2], b[3]], 80), 1)
        })
        .collect()
}

#[test]
fn mh_100_servers_m65537_and_m65521() {
    for (size, first, sum, want) in [
        (
            65537u32,
            [96u16, 92, 69, 37, 66, 52, 56, 17, 25, 87, 74, 95],
            895_356_294u64,
            [39u16, 15, 71, 27, 86, 89, 21, 37, 28, 89],
        ),
        (
            65521,
            [57, 83, 63, 43, 3, 25, 80, 57, 15, 51, 1, 65],
            964_488_957,
            [38, 50, 93, 17, 91, 31, 39, 17, 55, 20],
        ),
    ] {
        let mut svc = mh_svc::<65537>(size, false, false, &hundred());
        let slots = svc.s.slots().unwrap();
        assert_eq!(slots.len(), size as usize);
        let got: Vec<u16> = slots[..12].iter().map(|d| d.0).collect();
        assert_eq!(got, first, "M={size}");
        let c = counts(slots, 100);
        assert!(c.iter().all(|&k| k == 655 || k == 656), "M={size}");
        assert_eq!(checksum(&svc, slots), sum, "M={size}");
        for i in 0..10u8 {
            assert_eq!(
                svc.schedule(&from(client_v4(i + 1))),
                Some(DestId(want[i as usize]))
            );
        }
    }
}

#[test]
fn mh_uncached_servers_are_placed_exactly() {
    // The same 100 servers with the population cursor cached for only 7 of them: the slow
    // path for the others must give the identical table.
    let fast = mh_svc::<65537>(65537, false, false, &hundred());
    let slow: Svc<Mh<65537, 7>> = Svc::with(
        Mh::<65537, 7>::with_table_size(65537, false, false).unwrap(),
        &hundred(),
    );
    assert_eq!(fast.s.slots(), slow.s.slots());
    let small = mh_svc::<251>(251, false, false, &five());
    let none: Svc<Mh<251, 1>> = Svc::with(
        Mh::<251, 1>::with_table_size(251, false, false).unwrap(),
        &five(),
    );
    assert_eq!(small.s.slots(), none.s.slots());
}

#[test]
fn mh_empty_and_degenerate_sets() {
    let mut svc = Svc::with(Mh::new(251, true, false).unwrap(), &[]);
    assert_eq!(svc.s.slots(), None);
    assert_eq!(svc.schedule(&from(client_v4(1))), None);
    // only weight-0 servers (last_weight 0): gcd 0, empty table
    let z = svc.add_at(ep("10.0.0.1:80"), 0);
    assert_eq!(svc.s.gcd(), 0);
    assert_eq!(svc.schedule(&from(client_v4(1))), None);
    svc.set_weight(z, 3);
    assert_eq!(svc.schedule(&from(client_v4(1))), Some(z));
    // more servers than slots: the kernel refuses the rebuild and keeps the old table
    for i in 0..250u32 {
        let b = i.to_be_bytes();
        svc.add_at(Endpoint::v4([10, 1, b[2], b[3]], 80), 1);
    }
    assert_eq!(svc.order.len(), 251);
    let before = svc.s.slots().unwrap().to_vec();
    assert_eq!(counts(&before, 251).iter().filter(|&&k| k > 0).count(), 251);
    let extra = svc.add_at(ep("10.3.0.1:80"), 100);
    assert_eq!(svc.s.slots().unwrap(), &before[..]);
    assert!(!before.contains(&extra));
    // init with too many servers: empty
    let servers: Vec<(Endpoint, u32)> = (0..252u32)
        .map(|i| (Endpoint::v4([10, 2, (i >> 8) as u8, i as u8], 80), 1))
        .collect();
    let mut big = Svc::with(Mh::new(251, false, false).unwrap(), &servers);
    assert_eq!(big.s.slots(), None);
    assert_eq!(big.schedule(&from(client_v4(1))), None);
    assert_eq!(big.s.name(), "mh");
}

// ---------------------------------------------------------------------------------------------
// sizes stated in the docs

#[test]
#[cfg(target_pointer_width = "64")]
fn documented_sizes() {
    use core::mem::size_of;
    assert_eq!(size_of::<Dh>(), 514);
    assert_eq!(size_of::<Sh>(), 516);
    assert_eq!(size_of::<Mh>(), 20_496);
    assert_eq!(size_of::<Mh<65537>>(), 143_384);
    assert_eq!(size_of::<lvs_sched::lblc::Lblc>(), 43_064);
    assert_eq!(
        size_of::<lvs_sched::lblc::Lblc<{ lvs_sched::lblc::KERNEL_EXACT_CAPACITY }>>(),
        657_504
    );
    assert_eq!(size_of::<lvs_sched::lblcr::Lblcr>(), 67_648);
}
