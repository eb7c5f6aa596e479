//! Hand-built sync messages laid out as `ip_vs_sync.c` describes, decoded and re-encoded byte
//! for byte, and the kernel's rejections of malformed messages.

use lvs_core::addr::{IpAddr, Ipv4Addr, Ipv6Addr, Protocol};
use lvs_core::state::TcpState;
use lvs_core::sync::{
    conn_flags, default_max_len, sctp_state, tcp_state, tpl_state, udp_state, ConnRecord, PeData,
    PeName, SeqAdjust, SeqOptions, SyncConn, SyncError, SyncMessage, SyncMessageBuilder,
    SyncRecords, SyncVersion,
};
use lvs_core::AddrFamily;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// A v4 TCP connection, DR, ESTABLISHED, 198.51.100.7:40000 -> 192.0.2.1:80 -> 10.0.0.2:8080.
#[rustfmt::skip]
const REC_V4_TCP: [u8; 36] = [
    0x00,                   // type: IPv4
    0x06,                   // protocol: TCP
    0x00, 0x24,             // ver_size: version 0, size 36
    0x00, 0x00, 0x00, 0x03, // flags: IP_VS_CONN_F_DROUTE
    0x00, 0x01,             // state: IP_VS_TCP_S_ESTABLISHED
    0x9c, 0x40,             // cport 40000
    0x00, 0x50,             // vport 80
    0x1f, 0x90,             // dport 8080
    0x00, 0x00, 0x00, 0x00, // fwmark 0
    0x00, 0x00, 0x03, 0x84, // timeout 900 s
    198, 51, 100, 7,        // caddr
    192, 0, 2, 1,           // vaddr
    10, 0, 0, 2,            // daddr
];

/// A v6 UDP connection, NAT, 2001:db8::7:5353 -> [2001:db8:1::1]:53 -> [2001:db8:2::2]:53.
#[rustfmt::skip]
const REC_V6_UDP: [u8; 72] = [
    0x01,                   // type: STYPE_F_INET6
    0x11,                   // protocol: UDP
    0x00, 0x48,             // ver_size: size 72
    0x00, 0x00, 0x00, 0x00, // flags: IP_VS_CONN_F_MASQ
    0x00, 0x00,             // state: IP_VS_UDP_S_NORMAL
    0x14, 0xe9,             // cport 5353
    0x00, 0x35,             // vport 53
    0x00, 0x35,             // dport 53
    0x00, 0x00, 0x00, 0x00, // fwmark
    0x00, 0x00, 0x01, 0x2c, // timeout 300 s
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,    // caddr
    0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // vaddr
    0x20, 0x01, 0x0d, 0xb8, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // daddr
];

/// A persistence template of fwmark service 1 (protocol IPPROTO_IP, the mark as vaddr),
/// client network 198.51.100.0, real server 10.0.0.2:80.
#[rustfmt::skip]
const REC_TEMPLATE_FWMARK: [u8; 36] = [
    0x00, 0x00, 0x00, 0x24,
    0x00, 0x00, 0x10, 0x03, // flags: TEMPLATE | DROUTE
    0x00, 0x00,             // state: IP_VS_CTPL_S_NONE
    0x00, 0x00,             // cport 0
    0x00, 0x00,             // vport 0
    0x00, 0x50,             // dport 80
    0x00, 0x00, 0x00, 0x01, // fwmark 1
    0x00, 0x00, 0x01, 0x2c, // timeout 300 s
    198, 51, 100, 0,
    0, 0, 0, 1,
    10, 0, 0, 2,
];

/// A v4 TCP NAT connection with sequence adjustments (size 62: not a multiple of 4).
#[rustfmt::skip]
const REC_V4_SEQ: [u8; 62] = [
    0x00, 0x06, 0x00, 0x3e,
    0x00, 0x00, 0x06, 0x00, // flags: IN_SEQ | OUT_SEQ (MASQ)
    0x00, 0x01,
    0xc3, 0x50,             // cport 50000
    0x00, 0x15,             // vport 21
    0x00, 0x15,             // dport 21
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x84,
    198, 51, 100, 9,
    192, 0, 2, 1,
    10, 0, 0, 3,
    0x01, 0x18,             // IPVS_OPT_SEQ_DATA, length 24
    0x11, 0x22, 0x33, 0x44, // in_seq.init_seq
    0x00, 0x00, 0x00, 0x05, // in_seq.delta
    0x00, 0x00, 0x00, 0x02, // in_seq.previous_delta
    0xaa, 0xbb, 0xcc, 0xdd, // out_seq.init_seq
    0xff, 0xff, 0xff, 0xfb, // out_seq.delta (-5)
    0x00, 0x00, 0x00, 0x00, // out_seq.previous_delta
];

/// A v4 UDP SIP connection with PE data and PE name (size 60).
#[rustfmt::skip]
const REC_V4_PE: [u8; 60] = [
    0x00, 0x11, 0x00, 0x3c,
    0x00, 0x00, 0x00, 0x03,
    0x00, 0x00,
    0x13, 0xc4, 0x13, 0xc4, 0x13, 0xc4, // ports 5060
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xb4, // timeout 180 s
    198, 51, 100, 10,
    192, 0, 2, 1,
    10, 0, 0, 4,
    0x02, 0x11,             // IPVS_OPT_PE_DATA, length 17
    b'c', b'a', b'l', b'l', b'-', b'1', b'2', b'3', b'4', b'@', b'e', b'x', b'a', b'm', b'p', b'l', b'e',
    0x03, 0x03,             // IPVS_OPT_PE_NAME, length 3
    b's', b'i', b'p',
];

fn conn_v4_tcp() -> SyncConn {
    SyncConn {
        protocol: Protocol::Tcp,
        flags: conn_flags::DROUTE,
        state: tcp_state::ESTABLISHED,
        cport: 40000,
        vport: 80,
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        caddr: v4(198, 51, 100, 7),
        vaddr: v4(192, 0, 2, 1),
        daddr: v4(10, 0, 0, 2),
        seq: None,
        pe_data: None,
        pe_name: None,
    }
}

fn conn_v6_udp() -> SyncConn {
    SyncConn {
        protocol: Protocol::Udp,
        flags: conn_flags::MASQ,
        state: udp_state::NORMAL,
        cport: 5353,
        vport: 53,
        dport: 53,
        fwmark: 0,
        timeout: 300,
        caddr: v6("2001:db8::7"),
        vaddr: v6("2001:db8:1::1"),
        daddr: v6("2001:db8:2::2"),
        seq: None,
        pe_data: None,
        pe_name: None,
    }
}

fn conn_template() -> SyncConn {
    SyncConn {
        protocol: Protocol::Unknown(0),
        flags: conn_flags::TEMPLATE | conn_flags::DROUTE,
        state: tpl_state::NONE,
        cport: 0,
        vport: 0,
        dport: 80,
        fwmark: 1,
        timeout: 300,
        caddr: v4(198, 51, 100, 0),
        vaddr: v4(0, 0, 0, 1),
        daddr: v4(10, 0, 0, 2),
        seq: None,
        pe_data: None,
        pe_name: None,
    }
}

fn conn_seq() -> SyncConn {
    SyncConn {
        protocol: Protocol::Tcp,
        flags: conn_flags::IN_SEQ | conn_flags::OUT_SEQ,
        state: tcp_state::ESTABLISHED,
        cport: 50000,
        vport: 21,
        dport: 21,
        fwmark: 0,
        timeout: 900,
        caddr: v4(198, 51, 100, 9),
        vaddr: v4(192, 0, 2, 1),
        daddr: v4(10, 0, 0, 3),
        seq: Some(SeqOptions {
            in_seq: SeqAdjust {
                init_seq: 0x1122_3344,
                delta: 5,
                previous_delta: 2,
            },
            out_seq: SeqAdjust {
                init_seq: 0xaabb_ccdd,
                delta: 5u32.wrapping_neg(),
                previous_delta: 0,
            },
        }),
        pe_data: None,
        pe_name: None,
    }
}

fn conn_pe() -> SyncConn {
    SyncConn {
        protocol: Protocol::Udp,
        flags: conn_flags::DROUTE,
        state: 0,
        cport: 5060,
        vport: 5060,
        dport: 5060,
        fwmark: 0,
        timeout: 180,
        caddr: v4(198, 51, 100, 10),
        vaddr: v4(192, 0, 2, 1),
        daddr: v4(10, 0, 0, 4),
        seq: None,
        pe_data: Some(PeData::new(b"call-1234@example").unwrap()),
        pe_name: Some(PeName::new(b"sip").unwrap()),
    }
}

fn header(syncid: u8, size: u16, nr_conns: u8) -> Vec<u8> {
    let s = size.to_be_bytes();
    vec![0, syncid, s[0], s[1], nr_conns, 1, 0, 0]
}

/// Concatenates records with the kernel's 4-byte alignment padding between them.
fn message(syncid: u8, records: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        body.extend_from_slice(r);
    }
    let mut m = header(syncid, (8 + body.len()) as u16, records.len() as u8);
    m.extend_from_slice(&body);
    m
}

fn decode_all(bytes: &[u8]) -> Vec<Result<SyncConn, SyncError>> {
    SyncRecords::new(bytes).unwrap().collect()
}

fn build(syncid: u8, conns: &[SyncConn]) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let mut b = SyncMessageBuilder::new(&mut buf, syncid, 2048).unwrap();
    for c in conns {
        b.push(c).unwrap();
    }
    let n = b.finish();
    buf[..n].to_vec()
}

#[test]
fn state_numbers_match_the_connection_table() {
    for s in TcpState::ALL {
        let n = s as u16;
        let expected = match s {
            TcpState::None => tcp_state::NONE,
            TcpState::Established => tcp_state::ESTABLISHED,
            TcpState::SynSent => tcp_state::SYN_SENT,
            TcpState::SynRecv => tcp_state::SYN_RECV,
            TcpState::FinWait => tcp_state::FIN_WAIT,
            TcpState::TimeWait => tcp_state::TIME_WAIT,
            TcpState::Close => tcp_state::CLOSE,
            TcpState::CloseWait => tcp_state::CLOSE_WAIT,
            TcpState::LastAck => tcp_state::LAST_ACK,
            TcpState::Listen => tcp_state::LISTEN,
            TcpState::SynAck => tcp_state::SYNACK,
        };
        assert_eq!(n, expected, "{s:?}");
    }
    assert_eq!(tcp_state::LAST as usize, TcpState::ALL.len());
    assert_eq!(sctp_state::LAST, 14);
    assert_eq!(conn_flags::BACKUP_MASK, 0x1f87);
}

#[test]
fn record_views_read_every_field() {
    let r = ConnRecord::new_checked(&REC_V4_TCP[..]).unwrap();
    assert!(!r.is_ipv6());
    assert_eq!(r.protocol(), 6);
    assert_eq!((r.record_version(), r.size(), r.padded_len()), (0, 36, 36));
    assert_eq!(r.flags(), conn_flags::DROUTE);
    assert_eq!(r.state(), 1);
    assert_eq!((r.cport(), r.vport(), r.dport()), (40000, 80, 8080));
    assert_eq!((r.fwmark(), r.timeout()), (0, 900));
    assert_eq!(r.caddr(), v4(198, 51, 100, 7));
    assert_eq!(r.vaddr(), v4(192, 0, 2, 1));
    assert_eq!(r.daddr(), v4(10, 0, 0, 2));
    assert!(r.options().is_empty());

    let r6 = ConnRecord::new_checked(&REC_V6_UDP[..]).unwrap();
    assert!(r6.is_ipv6());
    assert_eq!(r6.fixed_len(), 72);
    assert_eq!(r6.vaddr(), v6("2001:db8:1::1"));

    let rs = ConnRecord::new_checked(&REC_V4_SEQ[..]).unwrap();
    assert_eq!((rs.size(), rs.padded_len()), (62, 64));
    assert_eq!(rs.options().len(), 26);
}

#[test]
fn each_hand_built_record_parses_and_emits_identically() {
    let cases: [(&[u8], SyncConn); 5] = [
        (&REC_V4_TCP, conn_v4_tcp()),
        (&REC_V6_UDP, conn_v6_udp()),
        (&REC_TEMPLATE_FWMARK, conn_template()),
        (&REC_V4_SEQ, conn_seq()),
        (&REC_V4_PE, conn_pe()),
    ];
    for (bytes, expected) in cases {
        let parsed = SyncConn::parse(&ConnRecord::new_checked(bytes).unwrap()).unwrap();
        assert_eq!(parsed, expected);
        assert_eq!(parsed.validate(), Ok(()));
        assert_eq!(parsed.buffer_len(), bytes.len());
        let mut out = vec![0xa5; bytes.len()];
        assert_eq!(parsed.emit(&mut out), Ok(bytes.len()));
        assert_eq!(out, bytes);
    }
}

#[test]
fn message_with_v4_and_v6_records_decodes_and_rebuilds_byte_for_byte() {
    let bytes = message(5, &[&REC_V4_TCP, &REC_V6_UDP]);
    assert_eq!(bytes.len(), 116);
    assert_eq!(&bytes[..8], &[0, 5, 0, 116, 2, 1, 0, 0]);
    let msg = SyncMessage::new_checked(&bytes[..]).unwrap();
    assert_eq!(msg.version(), SyncVersion::V1);
    assert_eq!((msg.syncid(), msg.size(), msg.nr_conns()), (5, 116, 2));
    assert!(msg.accepts_syncid(0) && msg.accepts_syncid(5) && !msg.accepts_syncid(6));
    let got = decode_all(&bytes);
    assert_eq!(got, vec![Ok(conn_v4_tcp()), Ok(conn_v6_udp())]);
    assert_eq!(build(5, &[conn_v4_tcp(), conn_v6_udp()]), bytes);
}

#[test]
fn template_and_padded_option_records_rebuild_byte_for_byte() {
    // 62-byte seq record, 2 bytes padding, 60-byte PE record, then the template.
    let bytes = message(
        1,
        &[&REC_V4_SEQ, &REC_V4_PE, &REC_TEMPLATE_FWMARK, &REC_V4_TCP],
    );
    assert_eq!(bytes.len(), 8 + 62 + 2 + 60 + 36 + 36);
    assert_eq!(&bytes[70..72], &[0, 0], "padding after the 62-byte record");
    let expected = [conn_seq(), conn_pe(), conn_template(), conn_v4_tcp()];
    let got = decode_all(&bytes);
    assert_eq!(got, expected.iter().map(|c| Ok(*c)).collect::<Vec<_>>());
    assert_eq!(build(1, &expected), bytes);
    // The template keeps its flags; a backup stores them masked, plus SYNC.
    assert_eq!(
        conn_template().backup_flags(SyncVersion::V1),
        conn_flags::TEMPLATE | conn_flags::DROUTE | conn_flags::SYNC
    );
}

#[test]
fn builder_keeps_a_valid_header_and_respects_the_mtu_limit() {
    let mut buf = [0u8; 4096];
    let max = default_max_len(AddrFamily::Ipv4);
    assert_eq!(max, 1472);
    let mut b = SyncMessageBuilder::new(&mut buf, 3, max).unwrap();
    assert!(b.is_empty());
    assert_eq!(b.as_bytes(), &[0, 3, 0, 8, 0, 1, 0, 0]);
    let c = conn_seq(); // 62 bytes, 64 with padding
    let mut n = 0;
    loop {
        match b.push(&c) {
            Ok(()) => n += 1,
            Err(SyncError::NoRoom {
                required,
                available,
            }) => {
                assert!(required > available);
                break;
            }
            Err(e) => panic!("{e}"),
        }
        // Every prefix is a complete message.
        let m = SyncMessage::new_checked(b.as_bytes()).unwrap();
        assert_eq!(usize::from(m.nr_conns()), n);
    }
    // 8 + 62 + k * 64 <= 1472  =>  k = 21, so 22 records.
    assert_eq!(n, 22);
    let before = b.as_bytes().to_vec();
    assert!(b.push(&c).is_err());
    assert_eq!(b.as_bytes(), &before[..], "a failed push writes nothing");
    let len = b.finish();
    assert_eq!(len, 8 + 62 + 21 * 64);
    let recs = decode_all(&buf[..len]);
    assert_eq!(recs.len(), 22);
    assert!(recs.iter().all(|r| r == &Ok(c)));
}

#[test]
fn builder_stops_at_255_records() {
    let mut buf = vec![0u8; 65535];
    let mut b = SyncMessageBuilder::new(&mut buf, 0, 65535).unwrap();
    let c = conn_v4_tcp();
    for _ in 0..255 {
        b.push(&c).unwrap();
    }
    assert_eq!(b.push(&c), Err(SyncError::TooManyRecords));
    assert!(!b.fits(&c));
    let len = b.finish();
    assert_eq!(len, 8 + 255 * 36);
    assert_eq!(SyncRecords::new(&buf[..len]).unwrap().count(), 255);
}

#[test]
fn builder_and_emit_reject_bad_inputs() {
    let mut tiny = [0u8; 7];
    assert_eq!(
        SyncMessageBuilder::new(&mut tiny, 0, 1500).err(),
        Some(SyncError::NoRoom {
            required: 8,
            available: 7
        })
    );
    let mut mixed = conn_v4_tcp();
    mixed.daddr = v6("2001:db8::2");
    let mut buf = [0u8; 128];
    assert_eq!(mixed.emit(&mut buf), Err(SyncError::MixedFamilies));
    let mut short = [0u8; 35];
    assert_eq!(
        conn_v4_tcp().emit(&mut short),
        Err(SyncError::NoRoom {
            required: 36,
            available: 35
        })
    );
    assert_eq!(short, [0u8; 35]);
    assert_eq!(PeName::new(b"").err(), Some(SyncError::PeLength(0)));
    assert_eq!(
        PeName::new(&[b'x'; 17]).err(),
        Some(SyncError::PeLength(17))
    );
    assert_eq!(PeData::new(&[1; 256]).err(), Some(SyncError::PeLength(256)));
    assert_eq!(PeData::new(&[1; 255]).unwrap().len(), 255);
}

#[test]
fn message_level_checks() {
    assert_eq!(
        SyncMessage::new_checked(&[0u8, 1, 0][..]).err(),
        Some(SyncError::HeaderTruncated {
            required: 4,
            len: 3
        })
    );
    let mut m = message(1, &[&REC_V4_TCP]);
    m.push(0); // trailing byte: size no longer matches
    assert_eq!(
        SyncRecords::new(&m).err(),
        Some(SyncError::SizeMismatch { size: 44, len: 45 })
    );
    // records() on an unchecked view reports the error once.
    let v = SyncMessage::new_unchecked(&m[..]);
    let all: Vec<_> = v.records().collect();
    assert_eq!(
        all,
        vec![Err(SyncError::SizeMismatch { size: 44, len: 45 })]
    );
}

#[test]
fn more_records_announced_than_present_is_fatal() {
    let mut m = message(1, &[&REC_V4_TCP]);
    m[4] = 3; // nr_conns
    let got = decode_all(&m);
    assert_eq!(
        got,
        vec![
            Ok(conn_v4_tcp()),
            Err(SyncError::RecordTruncated {
                required: 36,
                available: 0
            })
        ]
    );
}

#[test]
fn fewer_records_announced_ignores_the_rest() {
    let mut m = message(1, &[&REC_V4_TCP, &REC_V6_UDP]);
    m[4] = 1;
    assert_eq!(decode_all(&m), vec![Ok(conn_v4_tcp())]);
}

fn with_record(rec: &[u8]) -> Vec<u8> {
    message(1, &[rec, &REC_V4_TCP])
}

/// `rec` with byte `at` set to `v`.
fn patched(rec: &[u8], at: usize, v: u8) -> Vec<u8> {
    let mut r = rec.to_vec();
    r[at] = v;
    r
}

/// `rec` with `opts` appended and its size byte set to `size`.
fn with_options(rec: &[u8], opts: &[u8], size: u8) -> Vec<u8> {
    let mut r = patched(rec, 3, size);
    r.extend_from_slice(opts);
    r
}

#[test]
fn fatal_record_errors_stop_decoding() {
    let cases: Vec<(Vec<u8>, SyncError)> = vec![
        // size past the end of the message
        (
            message(1, &[&patched(&REC_V4_TCP, 3, 200)]),
            SyncError::RecordOverrun {
                size: 200,
                available: 36,
            },
        ),
        // version nibble 1
        (
            with_record(&patched(&REC_V4_TCP, 2, 0x10)),
            SyncError::RecordVersion(1),
        ),
        // unknown type on an IPv4 record
        (
            with_record(&patched(&REC_V4_TCP, 0, 0x02)),
            SyncError::RecordType(2),
        ),
        // IPv6 type bit with an IPv4-sized record
        (
            with_record(&patched(&REC_V4_TCP, 0, 0x01)),
            SyncError::RecordTooShort {
                size: 36,
                required: 72,
            },
        ),
        // size below the fixed part
        (
            with_record(&patched(&REC_V4_TCP, 3, 32)),
            SyncError::RecordTooShort {
                size: 32,
                required: 36,
            },
        ),
        // a lone option type byte
        (
            with_record(&with_options(&REC_V4_TCP, &[0x41], 37)),
            SyncError::OptionTruncated,
        ),
        // zero-length option
        (
            with_record(&with_options(&REC_V4_TCP, &[0x41, 0x00], 38)),
            SyncError::OptionLength { kind: 0x41, len: 0 },
        ),
        // option running past the record
        (
            with_record(&with_options(&REC_V4_TCP, &[0x02, 0x05, 1, 2], 40)),
            SyncError::OptionLength { kind: 2, len: 5 },
        ),
        // sequence option of the wrong length
        (
            with_record(&with_options(&REC_V4_TCP, &[0x01, 0x02, 0, 0], 40)),
            SyncError::SeqOptionLength(2),
        ),
        // sequence option twice
        (
            with_record(&with_options(&REC_V4_SEQ, &REC_V4_SEQ[36..], 88)),
            SyncError::DuplicateOption(1),
        ),
        // PE name of 17 bytes
        (
            with_record(&with_options(
                &REC_V4_TCP,
                &[&[0x03, 17][..], &[b'n'; 17]].concat(),
                55,
            )),
            SyncError::PeNameTooLong(17),
        ),
    ];
    for (bytes, err) in cases {
        assert!(err.is_fatal());
        let got = decode_all(&bytes);
        assert_eq!(got, vec![Err(err)], "{err}");
    }
}

#[test]
fn rejected_records_are_skipped_and_decoding_goes_on() {
    let cases: Vec<(Vec<u8>, SyncError)> = vec![
        // unknown mandatory option 5
        (
            with_options(&REC_V4_TCP, &[0x05, 0x02, 0xde, 0xad], 40),
            SyncError::UnknownMandatoryOption(5),
        ),
        // ICMP is not an IPVS protocol
        (
            patched(&REC_V4_TCP, 1, 1),
            SyncError::UnsupportedProtocol(1),
        ),
        // TCP state 11 does not exist
        (
            patched(&REC_V4_TCP, 9, 11),
            SyncError::InvalidState {
                protocol: 6,
                state: 11,
            },
        ),
        // template state 2 does not exist
        (
            patched(&REC_TEMPLATE_FWMARK, 9, 2),
            SyncError::InvalidState {
                protocol: 0,
                state: 2,
            },
        ),
        // PE data without a PE name
        (
            {
                let mut r = REC_V4_PE.to_vec();
                r.truncate(55);
                r[3] = 55;
                r
            },
            SyncError::PeDataWithoutName,
        ),
    ];
    for (rec, err) in cases {
        assert!(!err.is_fatal());
        let got = decode_all(&message(1, &[&rec, &REC_V6_UDP]));
        assert_eq!(got, vec![Err(err), Ok(conn_v6_udp())], "{err}");
    }
}

#[test]
fn optional_unknown_options_are_skipped_and_flag_bit_6_is_ignored() {
    let mut r = REC_V4_TCP.to_vec();
    r.extend_from_slice(&[0x47, 0x03, 9, 9, 9]); // unknown optional option 7
    r.extend_from_slice(&[0x41, 0x18]); // sequence data marked optional
    r.extend_from_slice(&REC_V4_SEQ[38..]);
    r[3] = r.len() as u8;
    let got = decode_all(&message(1, &[&r, &REC_V4_TCP]));
    let mut expected = conn_v4_tcp();
    expected.seq = conn_seq().seq;
    assert_eq!(got, vec![Ok(expected), Ok(conn_v4_tcp())]);
    // IPv6 records may carry other type bits; the kernel reads only bit 0.
    let mut r6 = REC_V6_UDP;
    r6[0] = 0x81;
    assert_eq!(decode_all(&message(1, &[&r6])), vec![Ok(conn_v6_udp())]);
}

#[test]
fn version_0_messages_decode() {
    #[rustfmt::skip]
    let mut m: Vec<u8> = vec![
        2, 9, 0, 76, // nr_conns 2, syncid 9, size 76
        // record 1: TCP DR established, no options
        0, 6, 0x9c, 0x40, 0x00, 0x50, 0x1f, 0x90,
        198, 51, 100, 7, 192, 0, 2, 1, 10, 0, 0, 2,
        0x00, 0x43, // flags: DROUTE | HASHED (v0 masters did not clear it in old kernels)
        0x00, 0x01,
        // record 2: TCP NAT with sequence options in host (little-endian) order
        0, 6, 0xc3, 0x50, 0x00, 0x15, 0x00, 0x15,
        198, 51, 100, 9, 192, 0, 2, 1, 10, 0, 0, 3,
        0x06, 0x00,
        0x00, 0x01,
    ];
    for w in [0x1122_3344u32, 5, 2, 0xaabb_ccdd, 5u32.wrapping_neg(), 0] {
        m.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(m.len(), 76);
    let msg = SyncMessage::new_checked(&m[..]).unwrap();
    assert_eq!(msg.version(), SyncVersion::V0);
    assert_eq!((msg.nr_conns(), msg.syncid(), msg.header_len()), (2, 9, 4));
    let got = decode_all(&m);
    let mut first = conn_v4_tcp();
    first.flags = conn_flags::DROUTE | conn_flags::HASHED;
    first.timeout = 0;
    let mut second = conn_seq();
    second.timeout = 0;
    assert_eq!(got, vec![Ok(first), Ok(second)]);
    assert_eq!(
        first.backup_flags(SyncVersion::V0),
        conn_flags::DROUTE | conn_flags::SYNC
    );

    // Announcing a third record that is not there is fatal.
    m[0] = 3;
    let got = decode_all(&m);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[2],
        Err(SyncError::RecordTruncated {
            required: 24,
            available: 0
        })
    );
}

#[test]
fn errors_display_without_allocation_surprises() {
    let e = SyncError::NoRoom {
        required: 64,
        available: 10,
    };
    assert_eq!(
        e.to_string(),
        "sync record needs 64 bytes, only 10 left in the message"
    );
    assert_eq!(
        SyncError::RecordType(2).to_string(),
        "unknown sync record type 0x02"
    );
    let _: &dyn core::error::Error = &e;
}
