//! The readers on hand-built hellos: framing, reassembly, and each kind of bad input.

use super::*;
use std::vec;
use std::vec::Vec;

fn vec8(b: &[u8]) -> Vec<u8> {
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn vec16(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn ext(t: u16, data: &[u8]) -> Vec<u8> {
    let mut v = t.to_be_bytes().to_vec();
    v.extend(vec16(data));
    v
}

fn sni(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend(vec16(name));
    ext(EXT_SERVER_NAME, &vec16(&entry))
}

fn alpn(names: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = names.iter().flat_map(|n| vec8(n)).collect();
    ext(EXT_ALPN, &vec16(&list))
}

fn versions(vs: &[u16]) -> Vec<u8> {
    let list: Vec<u8> = vs.iter().flat_map(|v| v.to_be_bytes()).collect();
    ext(EXT_SUPPORTED_VERSIONS, &vec8(&list))
}

fn psk(ids: &[&[u8]]) -> Vec<u8> {
    let mut idl = Vec::new();
    let mut bl = Vec::new();
    for id in ids {
        idl.extend(vec16(id));
        idl.extend_from_slice(&[0, 0, 0, 42]);
        bl.extend(vec8(&[0x55; 32]));
    }
    let mut d = vec16(&idl);
    d.extend(vec16(&bl));
    ext(EXT_PRE_SHARED_KEY, &d)
}

/// A ClientHello body with the given session id and extensions (`None`: no extension block).
fn ch_body(session_id: &[u8], exts: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[7; 32]);
    b.extend(vec8(session_id));
    b.extend(vec16(&[0x13, 0x01, 0xc0, 0x2f]));
    b.extend(vec8(&[0]));
    if let Some(exts) = exts {
        b.extend(vec16(&exts.concat()));
    }
    b
}

fn sh_body(random: &[u8; 32], session_id: &[u8], exts: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(random);
    b.extend(vec8(session_id));
    b.extend_from_slice(&[0x13, 0x01, 0]);
    if let Some(exts) = exts {
        b.extend(vec16(&exts.concat()));
    }
    b
}

/// A handshake message of `msg_type` around `body`.
fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// `data` framed as records of content type `t` carrying at most `max` bytes each.
fn records(t: u8, data: &[u8], max: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for chunk in data.chunks(max) {
        s.extend_from_slice(&[t, 3, 1]);
        s.extend(vec16(chunk));
    }
    s
}

fn full_ch() -> Vec<u8> {
    ch_body(
        &[0xab; 32],
        Some(&[
            sni(b"www.Example.com"),
            versions(&[0x0a0a, 0x0304, 0x0303]),
            alpn(&[b"h2", b"http/1.1"]),
            ext(EXT_SESSION_TICKET, &[]),
            ext(0xfe0d, &[1, 2, 3]),
            psk(&[&[0x11; 80], &[0x22; 70]]),
        ]),
    )
}

#[test]
fn client_hello_in_one_record() {
    let stream = records(22, &message(1, &full_ch()), 1 << 14);
    let mut scratch = [];
    let ch = read_client_hello(&stream, &mut scratch).unwrap().unwrap();
    assert_eq!(ch.legacy_version(), 0x0303);
    assert_eq!(ch.random(), &[7; 32]);
    assert_eq!(ch.session_id(), &[0xab; 32]);
    assert!(ch.cipher_suites().eq([0x1301, 0xc02f]));
    assert_eq!(ch.compression_methods(), &[0]);
    assert_eq!(ch.server_name(), Some("www.Example.com"));
    assert!(ch.supported_versions().eq([0x0a0a, 0x0304, 0x0303]));
    assert!(ch.offers_tls13());
    assert!(ch.alpn().eq([&b"h2"[..], b"http/1.1"]));
    assert_eq!(ch.session_ticket(), Some(&[][..]));
    assert!(ch.psk_identities().eq([&[0x11; 80][..], &[0x22; 70]]));
    assert_eq!(ch.extensions().count(), 6);
    assert_eq!(
        ch.extensions().nth(4),
        Some(Extension {
            ext_type: 0xfe0d,
            data: &[1, 2, 3]
        })
    );
    // zero-copy: the session id is a slice of the stream
    assert!(stream.as_ptr_range().contains(&ch.session_id().as_ptr()));
}

#[test]
fn minimal_and_extensionless_hellos() {
    let mut scratch = [0; MAX_HELLO];
    for body in [ch_body(&[], None), ch_body(&[], Some(&[]))] {
        let stream = records(22, &message(1, &body), 1 << 14);
        let ch = read_client_hello(&stream, &mut scratch).unwrap().unwrap();
        assert_eq!(ch.session_id(), &[] as &[u8]);
        assert_eq!(ch.server_name(), None);
        assert_eq!(ch.session_ticket(), None);
        assert_eq!(ch.alpn().count() + ch.psk_identities().count(), 0);
        assert!(!ch.offers_tls13());
    }
}

#[test]
fn every_prefix_needs_more_then_the_whole_reads() {
    let msg = message(1, &full_ch());
    for max in [1, 2, 3, 5, 100, 1 << 14] {
        let stream = records(22, &msg, max);
        let mut scratch = [0; MAX_HELLO];
        for n in 0..stream.len() {
            assert_eq!(
                read_client_hello(&stream[..n], &mut scratch),
                Ok(None),
                "max {max} n {n}"
            );
        }
        let mut scratch = [0; MAX_HELLO];
        let ch = read_client_hello(&stream, &mut scratch).unwrap().unwrap();
        assert_eq!(
            ch.server_name(),
            Some("www.Example.com"),
            "records of {max}"
        );
        assert!(ch.psk_identities().eq([&[0x11; 80][..], &[0x22; 70]]));
    }
}

#[test]
fn reassembly_needs_scratch_only_across_records() {
    let msg = message(1, &full_ch());
    let split = records(22, &msg, 64);
    let mut small = vec![0; msg.len() - 1];
    assert_eq!(
        read_client_hello(&split, &mut small),
        Err(TlsError::ScratchTooSmall)
    );
    // known as soon as the handshake header is in
    assert_eq!(
        read_client_hello(&split[..9], &mut small),
        Err(TlsError::ScratchTooSmall)
    );
    let mut exact = vec![0; msg.len()];
    let ch = read_client_hello(&split, &mut exact).unwrap().unwrap();
    assert_eq!(ch.server_name(), Some("www.Example.com"));
    // bytes after the hello (the next handshake message, other records) are not read
    let mut more = records(22, &[msg.clone(), vec![11, 0, 0, 1, 0]].concat(), 1 << 14);
    more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert!(read_client_hello(&more, &mut []).unwrap().is_some());
}

#[test]
fn record_limits() {
    let mut s = [0; MAX_HELLO];
    assert_eq!(
        read_client_hello(&[22, 3, 1, 0x40, 0x01], &mut s),
        Err(TlsError::RecordTooLong)
    );
    let stream = records(22, &message(1, &full_ch()), 64);
    let mut second = stream.clone();
    second[64 + 5 + 3..64 + 5 + 5].copy_from_slice(&0xffffu16.to_be_bytes());
    assert_eq!(
        read_client_hello(&second, &mut s),
        Err(TlsError::RecordTooLong)
    );
    assert_eq!(
        read_client_hello(&[22, 3, 1, 0, 0], &mut s),
        Err(TlsError::Malformed(MalformedKind::EmptyRecord))
    );
    // a declared hello of 16 KiB + 1 is refused from its header alone
    let too_long = [22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfd];
    assert_eq!(
        read_client_hello(&too_long, &mut s),
        Err(TlsError::HelloTooLong)
    );
    let just_fits = [22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfc];
    assert_eq!(read_client_hello(&just_fits, &mut s), Ok(None));
}

#[test]
fn largest_hello_reassembles() {
    let pad = vec![0u8; MAX_HELLO - 4 - ch_body(&[], Some(&[ext(21, &[])])).len()];
    let body = ch_body(&[], Some(&[ext(21, &pad)]));
    let msg = message(1, &body);
    assert_eq!(msg.len(), MAX_HELLO);
    let stream = records(22, &msg, 1 << 14);
    let mut s = vec![0; MAX_HELLO];
    assert!(read_client_hello(&stream, &mut s).unwrap().is_some());
}

#[test]
fn not_tls_and_sslv2() {
    let mut s = [0; 64];
    for junk in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"SSH-2.0-OpenSSH",
        &[22, 2, 0],
        &[22, 3, 7],
        &[0],
    ] {
        assert_eq!(
            read_client_hello(junk, &mut s),
            Err(TlsError::NotTls),
            "{junk:?}"
        );
    }
    // an SSL 2.0-compatible ClientHello offering SSL 3.0 (RFC 5246 E.2)
    let v2 = [
        0x80, 0x2e, 0x01, 0x03, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ];
    assert_eq!(read_client_hello(&v2, &mut s), Err(TlsError::SslV2));
    assert_eq!(read_client_hello(&v2[..2], &mut s), Ok(None));
    assert_eq!(read_server_hello(&v2, &mut s), Err(TlsError::NotTls));
    // garbage where the second record header should be
    let msg = message(1, &full_ch());
    let mut stream = records(22, &msg, 100);
    stream[105] = 0x47;
    assert_eq!(
        read_client_hello(&stream, &mut [0; MAX_HELLO]),
        Err(TlsError::Malformed(MalformedKind::RecordHeader))
    );
}

#[test]
fn unexpected_messages_and_alerts() {
    let mut s = [0; MAX_HELLO];
    let cert = records(22, &message(11, &[0, 0, 0]), 100);
    assert_eq!(
        read_client_hello(&cert, &mut s),
        Err(TlsError::UnexpectedMessage)
    );
    let sh = records(22, &message(2, &sh_body(&[1; 32], &[], None)), 100);
    assert_eq!(
        read_client_hello(&sh, &mut s),
        Err(TlsError::UnexpectedMessage)
    );
    assert_eq!(
        read_client_hello(&[23, 3, 3, 0, 1, 0], &mut s),
        Err(TlsError::UnexpectedMessage)
    );
    assert_eq!(
        read_client_hello(&[20, 3, 3, 0, 1, 1], &mut s),
        Err(TlsError::UnexpectedMessage)
    );
    let alert = record::fatal_alert(record::ALERT_HANDSHAKE_FAILURE);
    assert_eq!(
        read_server_hello(&alert, &mut s),
        Err(TlsError::Alert {
            level: 2,
            description: 40
        })
    );
    assert_eq!(read_server_hello(&alert[..6], &mut s), Ok(None));
    assert_eq!(
        read_server_hello(&[21, 3, 3, 0, 1, 2], &mut s),
        Err(TlsError::Malformed(MalformedKind::RecordHeader))
    );
    // an alert between two records of a split hello
    let msg = message(1, &full_ch());
    let mut stream = records(22, &msg[..50], 50);
    stream.extend_from_slice(&alert);
    stream.extend(records(22, &msg[50..], 1 << 14));
    assert_eq!(
        read_client_hello(&stream, &mut s),
        Err(TlsError::Alert {
            level: 2,
            description: 40
        })
    );
}

#[test]
fn duplicate_extensions_are_errors() {
    let mut s = [0; MAX_HELLO];
    for dup in [sni(b"a.example"), alpn(&[b"h2"]), ext(0xff01, &[0])] {
        let body = ch_body(&[], Some(&[dup.clone(), versions(&[0x0304]), dup.clone()]));
        let t = u16::from_be_bytes([dup[0], dup[1]]);
        assert_eq!(
            read_client_hello(&records(22, &message(1, &body), 1 << 14), &mut s),
            Err(TlsError::Malformed(MalformedKind::DuplicateExtension(t)))
        );
    }
    let v = ext(EXT_SUPPORTED_VERSIONS, &[3, 4]);
    let body = sh_body(&[1; 32], &[], Some(&[v.clone(), v]));
    assert_eq!(
        read_server_hello(&records(22, &message(2, &body), 1 << 14), &mut s),
        Err(TlsError::Malformed(MalformedKind::DuplicateExtension(43)))
    );
}

/// Reads a ClientHello built from `body` in one record.
fn read_body(body: &[u8]) -> Result<(), TlsError> {
    let stream = records(22, &message(1, body), 1 << 14);
    read_client_hello(&stream, &mut [0; MAX_HELLO]).map(|_| ())
}

#[test]
fn bad_nested_lengths() {
    use MalformedKind::*;
    let m = |k| Err(TlsError::Malformed(k));
    let base = ch_body(&[1; 4], Some(&[sni(b"a.example")]));
    // the fixed fields, each cut short or overrun
    assert_eq!(read_body(&base[..20]), m(Body));
    assert_eq!(read_body(&base[..34]), m(Body));
    assert_eq!(
        read_body(&[&base[..34], &[33], &[0; 33]].concat()),
        m(SessionId)
    );
    assert_eq!(
        read_body(&[&base[..39], &[0, 3, 0, 1, 2, 1, 0]].concat()),
        m(CipherSuites)
    );
    assert_eq!(
        read_body(&[&base[..39], &[0, 0, 1, 0]].concat()),
        m(CipherSuites)
    );
    assert_eq!(
        read_body(&[&base[..39], &[0, 2, 0, 1, 0]].concat()),
        m(CompressionMethods)
    );
    assert_eq!(
        read_body(&[&base[..39], &[0, 2, 0, 1, 2, 0]].concat()),
        m(CompressionMethods)
    );
    assert_eq!(read_body(&[&base[..], &[0]].concat()), m(Body));
    assert_eq!(read_body(&base[..base.len() - 1]), m(Extensions));
    // lengths inside the extensions
    let with = |e: Vec<u8>| ch_body(&[], Some(&[e]));
    assert_eq!(
        read_body(&with(ext(0, &[0, 6, 0, 0, 2, b'a', b'b']))),
        m(ServerName)
    );
    assert_eq!(
        read_body(&with(ext(0, &[0, 4, 0, 0, 3, b'a', b'b']))),
        m(ServerName)
    );
    assert_eq!(read_body(&with(ext(0, &[]))), m(ServerName));
    assert_eq!(read_body(&with(sni(b"bad name"))), m(ServerName));
    assert_eq!(read_body(&with(ext(16, &[0, 3, 3, b'h', b'2']))), m(Alpn));
    assert_eq!(
        read_body(&with(ext(43, &[3, 3, 4, 3]))),
        m(SupportedVersions)
    );
    assert_eq!(read_body(&with(ext(41, &[0, 7, 0, 1]))), m(PreSharedKey));
    let mut bad_psk = psk(&[b"id"]);
    let n = bad_psk.len();
    bad_psk[n - 33] = 40; // binder length past the end
    assert_eq!(read_body(&with(bad_psk)), m(PreSharedKey));
    assert_eq!(
        read_body(&ch_body(&[], Some(&[psk(&[b"id"]), sni(b"a.b")]))),
        m(PskNotLast)
    );
    let two_psks_one_binder = {
        let p = psk(&[b"id1", b"id2"]);
        // drop the second binder: 33 bytes, and fix the two outer lengths
        let mut d = p[4..p.len() - 33].to_vec();
        let ids = usize::from(u16::from_be_bytes([d[0], d[1]]));
        d[2 + ids..4 + ids].copy_from_slice(&33u16.to_be_bytes());
        ext(41, &d)
    };
    assert_eq!(read_body(&with(two_psks_one_binder)), m(PreSharedKey));
    // an unknown extension's contents are not judged
    assert_eq!(read_body(&with(ext(0x1234, &[0xff; 9]))), Ok(()));
}

#[test]
fn server_hellos() {
    let mut s = [0; MAX_HELLO];
    // TLS 1.3, PSK accepted, followed by the middlebox-compatibility ChangeCipherSpec
    let body = sh_body(
        &[9; 32],
        &[0xab; 32],
        Some(&[ext(43, &[3, 4]), ext(41, &[0, 1])]),
    );
    let mut stream = records(22, &message(2, &body), 1 << 14);
    stream.extend_from_slice(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 30]);
    let sh = read_server_hello(&stream, &mut s).unwrap().unwrap();
    assert_eq!(sh.legacy_version(), 0x0303);
    assert_eq!(sh.selected_version(), 0x0304);
    assert_eq!(sh.session_id(), &[0xab; 32]);
    assert_eq!(sh.selected_psk(), Some(1));
    assert_eq!(sh.cipher_suite(), 0x1301);
    assert_eq!(sh.compression_method(), 0);
    assert_eq!(sh.random(), &[9; 32]);
    assert_eq!(sh.extensions().count(), 2);
    assert!(!sh.is_hello_retry_request());
    // TLS 1.2 without extensions, followed by a Certificate in the same record
    let msgs = [
        message(2, &sh_body(&[9; 32], &[5; 32], None)),
        message(11, &[0; 300]),
    ]
    .concat();
    let sh12 = records(22, &msgs, 1 << 14);
    let sh = read_server_hello(&sh12, &mut s).unwrap().unwrap();
    assert_eq!((sh.selected_version(), sh.selected_psk()), (0x0303, None));
    // the ServerHello is returned before the rest of its record has arrived
    assert!(read_server_hello(&sh12[..5 + 4 + 70 + 4], &mut s)
        .unwrap()
        .is_some());
    let hrr = sh_body(&HELLO_RETRY_REQUEST_RANDOM, &[], Some(&[ext(43, &[3, 4])]));
    let hrr = records(22, &message(2, &hrr), 7);
    let sh = read_server_hello(&hrr, &mut s).unwrap().unwrap();
    assert!(sh.is_hello_retry_request());
    let bad = sh_body(&[9; 32], &[], Some(&[ext(43, &[3, 4, 0])]));
    assert_eq!(
        read_server_hello(&records(22, &message(2, &bad), 99), &mut s),
        Err(TlsError::Malformed(MalformedKind::SupportedVersions))
    );
    let bad = sh_body(&[9; 32], &[], Some(&[ext(41, &[])]));
    assert_eq!(
        read_server_hello(&records(22, &message(2, &bad), 99), &mut s),
        Err(TlsError::Malformed(MalformedKind::PreSharedKey))
    );
    assert_eq!(
        read_server_hello(&records(22, &message(1, &full_ch()), 99), &mut s),
        Err(TlsError::UnexpectedMessage)
    );
}

#[test]
fn ticket_key_names() {
    let mut t = [0u8; 64];
    t[..16].copy_from_slice(b"0123456789abcdef");
    assert_eq!(ticket_key_name(&t), Some(*b"0123456789abcdef"));
    assert_eq!(ticket_key_name(&t[..63]), None);
    assert_eq!(ticket_key_name(&[]), None);
}

#[test]
fn errors_display() {
    use std::string::ToString;
    assert_eq!(TlsError::NotTls.to_string(), "not a TLS stream");
    assert_eq!(
        TlsError::Malformed(MalformedKind::DuplicateExtension(43)).to_string(),
        "malformed TLS hello: duplicate extension 43"
    );
}

#[test]
fn a_resumed_reader_agrees_with_one_shot_reads() {
    let msg = message(1, &full_ch());
    for max in [1, 3, 64, 1 << 14] {
        let stream = records(22, &msg, max);
        let mut reader = HelloReader::new();
        for step in [1, 2, 7] {
            let mut r = HelloReader::new();
            let mut n = 0;
            while n < stream.len() {
                assert_eq!(r.client_hello(&stream[..n], &mut [0; MAX_HELLO]), Ok(None));
                n += step;
            }
            let mut s = [0; MAX_HELLO];
            let ch = r.client_hello(&stream, &mut s).unwrap().unwrap();
            assert_eq!(
                ch.server_name(),
                Some("www.Example.com"),
                "max {max} step {step}"
            );
            // asking again after completion gives the hello again
            assert!(r.client_hello(&stream, &mut s).unwrap().is_some());
        }
        assert!(reader
            .client_hello(&stream, &mut [0; MAX_HELLO])
            .unwrap()
            .is_some());
    }
    // errors are final
    let mut r = HelloReader::new();
    assert_eq!(
        r.server_hello(&[22, 3, 3, 0x40, 0x01], &mut []),
        Err(TlsError::RecordTooLong)
    );
    assert_eq!(
        r.server_hello(&[22, 3, 3, 0, 1], &mut []),
        Err(TlsError::RecordTooLong)
    );
    // a stream that shrinks is misuse: an error or a wait, never a panic
    let stream = records(22, &msg, 64);
    let mut r = HelloReader::new();
    assert_eq!(
        r.client_hello(&stream[..200], &mut [0; MAX_HELLO]),
        Ok(None)
    );
    let _ = r.client_hello(&stream[..10], &mut [0; MAX_HELLO]);
}
