//! TLS ClientHello reading (issue 15): lvs-forward's reader against the `tls-parser` crate on
//! real OpenSSL ClientHellos (lvs-forward/tests/data/tls), each extracting what a director
//! routes on: SNI, ALPN, legacy session id, supported_versions, the session ticket and the PSK
//! extension. lvs-forward also checks every nested length, rejects repeated extensions and
//! splits the PSK identities; `tls-parser` hands the PSK extension back raw and allocates its
//! cipher, extension, ALPN and version lists.
//!
//! Keep other TLS benches (for example parse + persistence decision) in their own functions
//! and groups in this file.

use criterion::{criterion_group, criterion_main, Criterion};
use lvs_forward::tls::{read_client_hello, HelloReader, MAX_HELLO};
use std::hint::black_box;
use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_plaintext, SNIType, TlsExtension, TlsMessage,
    TlsMessageHandshake,
};

/// What both readers extract, reduced to numbers so nothing is optimised away.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Facts {
    sni_len: usize,
    alpn: usize,
    versions: usize,
    session_id_len: usize,
    ticket_len: Option<usize>,
    psk_ext: bool,
}

fn ours(stream: &[u8], scratch: &mut [u8]) -> Option<Facts> {
    let ch = read_client_hello(stream, scratch).ok()??;
    Some(Facts {
        sni_len: ch.server_name().map_or(0, str::len),
        alpn: ch.alpn().count(),
        versions: ch.supported_versions().count(),
        session_id_len: ch.session_id().len(),
        ticket_len: ch.session_ticket().map(<[u8]>::len),
        psk_ext: ch.psk_identities().next().is_some(),
    })
}

fn baseline(stream: &[u8]) -> Option<Facts> {
    let (_, rec) = parse_tls_plaintext(stream).ok()?;
    let Some(TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch))) = rec.msg.first() else {
        return None;
    };
    let mut f = Facts {
        sni_len: 0,
        alpn: 0,
        versions: 0,
        session_id_len: ch.session_id.map_or(0, <[u8]>::len),
        ticket_len: None,
        psk_ext: false,
    };
    let (_, exts) = parse_tls_client_hello_extensions(ch.ext?).ok()?;
    for e in &exts {
        match e {
            TlsExtension::SNI(names) => {
                let host = names.iter().find(|(t, _)| *t == SNIType::HostName)?;
                f.sni_len = std::str::from_utf8(host.1).ok()?.len();
            }
            TlsExtension::ALPN(p) => f.alpn = p.len(),
            TlsExtension::SupportedVersions(v) => f.versions = v.len(),
            TlsExtension::SessionTicket(t) => f.ticket_len = Some(t.len()),
            TlsExtension::PreSharedKey(_) => f.psk_ext = true,
            _ => {}
        }
    }
    Some(f)
}

const CAPTURES: [(&str, &[u8]); 3] = [
    (
        "tls13-full",
        include_bytes!("../../lvs-forward/tests/data/tls/tls13-full.client.bin"),
    ),
    (
        "tls13-resume-psk",
        include_bytes!("../../lvs-forward/tests/data/tls/tls13-resume-psk.client.bin"),
    ),
    (
        "tls12-resume-ticket",
        include_bytes!("../../lvs-forward/tests/data/tls/tls12-resume-ticket.client.bin"),
    ),
];

/// Parse one real ClientHello (one record): ours against `tls-parser`, same run.
fn client_hello_parse(c: &mut Criterion) {
    let mut scratch = vec![0u8; MAX_HELLO];
    for (name, stream) in CAPTURES {
        let want = ours(stream, &mut scratch).expect("capture parses");
        assert_eq!(baseline(stream), Some(want), "{name}: both readers agree");
        let mut g = c.benchmark_group(format!("tls_client_hello/{name}"));
        g.throughput(criterion::Throughput::Elements(1));
        g.bench_function("lvs-forward", |b| {
            b.iter(|| ours(black_box(stream), &mut scratch))
        });
        g.bench_function("tls-parser", |b| b.iter(|| baseline(black_box(stream))));
        g.finish();
    }
}

/// A ClientHello in three 512-byte records, reassembled into scratch (ours only: `tls-parser`
/// leaves defragmentation to the caller).
fn client_hello_reassembly(c: &mut Criterion) {
    let stream: &[u8] =
        include_bytes!("../../lvs-forward/tests/data/tls/tls13-fragmented.client.bin");
    let mut scratch = vec![0u8; MAX_HELLO];
    assert!(ours(stream, &mut scratch).is_some());
    let mut g = c.benchmark_group("tls_client_hello/tls13-fragmented");
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function("lvs-forward", |b| {
        b.iter(|| ours(black_box(stream), &mut scratch))
    });
    g.finish();
}

/// `stream`'s handshake bytes re-framed into 1-byte records (a hostile client's framing).
fn one_byte_records(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 5 <= stream.len() {
        let n = usize::from(u16::from_be_bytes([stream[pos + 3], stream[pos + 4]]));
        for &b in &stream[pos + 5..pos + 5 + n] {
            out.extend_from_slice(&[22, 3, 1, 0, 1, b]);
        }
        pos += 5 + n;
    }
    out
}

/// The TLS 1.3 ClientHello arriving one byte at a time (a call per byte), as sent and
/// re-framed into 1-byte records: `read_client_hello` re-reading the stream from the start on
/// every call, against one `HelloReader` resumed.
fn client_hello_trickle(c: &mut Criterion) {
    let one_record = CAPTURES[0].1;
    let tiny_records = one_byte_records(one_record);
    let mut scratch = vec![0u8; MAX_HELLO];
    for (name, stream) in [
        ("one-record", one_record),
        ("1-byte-records", &tiny_records[..]),
    ] {
        let mut g = c.benchmark_group(format!(
            "tls_client_hello/tls13-full-1-byte-segments-{name}"
        ));
        g.throughput(criterion::Throughput::Elements(1));
        g.bench_function("read_client_hello", |b| {
            b.iter(|| {
                let mut found = None;
                for n in 1..=stream.len() {
                    found = ours(black_box(&stream[..n]), &mut scratch);
                }
                found.expect("complete")
            })
        });
        g.bench_function("HelloReader", |b| {
            b.iter(|| {
                let mut r = HelloReader::new();
                let mut found = false;
                for n in 1..=stream.len() {
                    let got = r.client_hello(black_box(&stream[..n]), &mut scratch);
                    found = got.ok().flatten().is_some();
                }
                assert!(found);
            })
        });
        g.finish();
    }
}

criterion_group!(
    tls_reader,
    client_hello_parse,
    client_hello_reassembly,
    client_hello_trickle
);

// the `tls` persistence engine: decide alone, and parse + decide (benches/benches/tls/engine.rs)
#[path = "tls/engine.rs"]
mod engine;

criterion_group!(tls_engine, engine::decide, engine::parse_decide);
criterion_main!(tls_reader, tls_engine);
