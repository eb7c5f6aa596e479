//! Property tests of the sync codec: round trips of records and whole messages, and decoding of
//! arbitrary or corrupted bytes.

use lvs_core::addr::{IpAddr, Ipv4Addr, Ipv6Addr, Protocol};
use lvs_core::sync::{
    protocol_num_states, tpl_state, ConnRecord, PeData, PeName, SeqAdjust, SeqOptions, SyncConn,
    SyncError, SyncMessage, SyncMessageBuilder, SyncRecords, SyncVersion, HEADER_LEN,
    RECORD_V4_LEN, V0_HEADER_LEN, V0_RECORD_LEN,
};
use proptest::prelude::*;

fn arb_addrs() -> impl Strategy<Value = (IpAddr, IpAddr, IpAddr)> {
    prop_oneof![
        any::<[u32; 3]>().prop_map(|[a, b, c]| (
            IpAddr::V4(Ipv4Addr::from_bits(a)),
            IpAddr::V4(Ipv4Addr::from_bits(b)),
            IpAddr::V4(Ipv4Addr::from_bits(c)),
        )),
        any::<[u128; 3]>().prop_map(|[a, b, c]| (
            IpAddr::V6(Ipv6Addr::from_bits(a)),
            IpAddr::V6(Ipv6Addr::from_bits(b)),
            IpAddr::V6(Ipv6Addr::from_bits(c)),
        )),
    ]
}

fn arb_seq() -> impl Strategy<Value = Option<SeqOptions>> {
    proptest::option::of(any::<[u32; 6]>().prop_map(|w| SeqOptions {
        in_seq: SeqAdjust {
            init_seq: w[0],
            delta: w[1],
            previous_delta: w[2],
        },
        out_seq: SeqAdjust {
            init_seq: w[3],
            delta: w[4],
            previous_delta: w[5],
        },
    }))
}

fn arb_pe_data() -> impl Strategy<Value = Option<PeData>> {
    proptest::option::of(
        proptest::collection::vec(any::<u8>(), 1..=PeData::MAX_LEN)
            .prop_map(|v| PeData::new(&v).unwrap()),
    )
}

fn arb_pe_name() -> impl Strategy<Value = Option<PeName>> {
    proptest::option::of(
        proptest::collection::vec(any::<u8>(), 1..=PeName::MAX_LEN)
            .prop_map(|v| PeName::new(&v).unwrap()),
    )
}

/// Any record the codec can carry, meaningful or not.
fn arb_conn() -> impl Strategy<Value = SyncConn> {
    (
        (any::<u8>(), any::<u32>(), any::<u16>(), any::<[u16; 3]>()),
        (any::<u32>(), any::<u32>(), arb_addrs()),
        (arb_seq(), arb_pe_data(), arb_pe_name()),
    )
        .prop_map(
            |(
                (protocol, flags, state, [cport, vport, dport]),
                (fwmark, timeout, (caddr, vaddr, daddr)),
                (seq, pe_data, pe_name),
            )| SyncConn {
                protocol: Protocol::from(protocol),
                flags,
                state,
                cport,
                vport,
                dport,
                fwmark,
                timeout,
                caddr,
                vaddr,
                daddr,
                seq,
                pe_data,
                pe_name,
            },
        )
}

/// A record a backup accepts: a template in a template state, or a connection of an IPVS
/// protocol in one of its states; PE data only with a PE name.
fn arb_valid_conn() -> impl Strategy<Value = SyncConn> {
    (
        arb_conn(),
        prop::sample::select(vec![6u8, 17, 132, 50, 51]),
        any::<bool>(),
        any::<u16>(),
    )
        .prop_map(|(mut c, proto, template, s)| {
            if template {
                c.flags |= lvs_core::sync::conn_flags::TEMPLATE;
                c.state = s % tpl_state::LAST;
            } else {
                c.flags &= !lvs_core::sync::conn_flags::TEMPLATE;
                c.protocol = Protocol::from(proto);
                c.state = s % protocol_num_states(proto).unwrap();
            }
            if c.pe_name.is_none() {
                c.pe_data = None;
            }
            c
        })
}

/// Builds messages of at most `max_len` bytes from `conns`, starting a new one whenever a
/// record does not fit.
fn build_messages(conns: &[SyncConn], max_len: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; max_len];
    let mut i = 0;
    while i < conns.len() {
        let mut b = SyncMessageBuilder::new(&mut buf, 42, max_len).unwrap();
        while i < conns.len() {
            match b.push(&conns[i]) {
                Ok(()) => i += 1,
                Err(SyncError::NoRoom { .. } | SyncError::TooManyRecords) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            !b.is_empty(),
            "a lone record always fits in a fresh message"
        );
        let n = b.finish();
        out.push(buf[..n].to_vec());
    }
    out
}

/// Decodes `bytes` and checks the invariants that hold for any input.
fn check_decoder_invariants(bytes: &[u8]) {
    let Ok(records) = SyncRecords::new(bytes) else {
        return;
    };
    let msg = SyncMessage::new_checked(bytes).unwrap();
    let (hdr, min_rec) = match msg.version() {
        SyncVersion::V1 => (HEADER_LEN, RECORD_V4_LEN),
        SyncVersion::V0 => (V0_HEADER_LEN, V0_RECORD_LEN),
    };
    let items: Vec<_> = records.collect();
    assert!(items.len() <= usize::from(msg.nr_conns()));
    // Only the last item can be fatal.
    for (i, r) in items.iter().enumerate() {
        if let Err(e) = r {
            if e.is_fatal() {
                assert_eq!(i + 1, items.len(), "decoding goes on after {e}");
            }
        }
    }
    // Every record that was framed (decoded or skipped) occupies at least its fixed part.
    let framed = items
        .iter()
        .filter(|r| !matches!(r, Err(e) if e.is_fatal()))
        .count();
    assert!(
        framed * min_rec <= bytes.len().saturating_sub(hdr),
        "{framed} records in {} bytes",
        bytes.len()
    );
    // What decodes re-encodes (as version 1) and parses to the same value.
    let mut buf = [0u8; 512];
    for c in items.iter().filter_map(|r| r.as_ref().ok()) {
        let n = c.emit(&mut buf).unwrap();
        let back = SyncConn::parse(&ConnRecord::new_checked(&buf[..n]).unwrap()).unwrap();
        assert_eq!(&back, c);
        assert_eq!(back.validate(), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn record_round_trip(c in arb_conn()) {
        let mut buf = [0u8; 512];
        let n = c.emit(&mut buf).unwrap();
        prop_assert_eq!(n, c.buffer_len());
        let rec = ConnRecord::new_checked(&buf[..n]).unwrap();
        prop_assert_eq!(usize::from(rec.size()), n);
        prop_assert_eq!(SyncConn::parse(&rec).unwrap(), c);
        // Emitting into a buffer one byte short fails without writing.
        let mut short = vec![0xeeu8; n - 1];
        prop_assert_eq!(c.emit(&mut short), Err(SyncError::NoRoom { required: n, available: n - 1 }));
        prop_assert!(short.iter().all(|&b| b == 0xee));
    }

    #[test]
    fn message_round_trip(
        conns in proptest::collection::vec(arb_valid_conn(), 0..80),
        max_len in prop::sample::select(vec![1452usize, 1472, 9000, 65535]),
    ) {
        let msgs = build_messages(&conns, max_len);
        let mut decoded = Vec::new();
        for m in &msgs {
            prop_assert!(m.len() <= max_len);
            let view = SyncMessage::new_checked(&m[..]).unwrap();
            prop_assert_eq!(view.version(), SyncVersion::V1);
            prop_assert_eq!(view.syncid(), 42);
            for r in view.records() {
                decoded.push(r.unwrap());
            }
        }
        prop_assert_eq!(decoded, conns);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..1600), fix in any::<bool>(), v1 in any::<bool>()) {
        // Half the time make the header consistent so decoding gets past it.
        if fix && bytes.len() >= 8 {
            let len = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            if v1 {
                bytes[0] = 0;
                bytes[5] = 1;
                bytes[6] = 0;
                bytes[7] = 0;
            }
        }
        check_decoder_invariants(&bytes);
        let _ = SyncConn::parse(&ConnRecord::new_unchecked(&bytes[..]));
        let _ = SyncConn::parse_v0(&bytes);
    }

    #[test]
    fn corrupted_messages_never_panic(
        conns in proptest::collection::vec(arb_valid_conn(), 1..20),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        keep_size in any::<bool>(),
    ) {
        let mut m = build_messages(&conns, 65535).remove(0);
        for (i, v) in flips {
            let at = i.index(m.len());
            m[at] = v;
        }
        if keep_size {
            let len = m.len() as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
        }
        check_decoder_invariants(&m);
    }

    #[test]
    fn truncated_messages_are_rejected_or_decode_a_prefix(
        conns in proptest::collection::vec(arb_valid_conn(), 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let m = build_messages(&conns, 65535).remove(0);
        let n = cut.index(m.len());
        let mut t = m[..n].to_vec();
        if t.len() >= 4 {
            let len = t.len() as u16;
            t[2..4].copy_from_slice(&len.to_be_bytes());
        }
        check_decoder_invariants(&t);
        if let Ok(recs) = SyncRecords::new(&t) {
            let items: Vec<_> = recs.collect();
            let oks: Vec<SyncConn> = items.iter().filter_map(|r| r.ok()).collect();
            prop_assert!(oks.len() < conns.len());
            prop_assert_eq!(&conns[..oks.len()], &oks[..]);
        }
    }
}
