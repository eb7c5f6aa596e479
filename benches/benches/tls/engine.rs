//! The `tls` persistence engine's decision for a ClientHello, on an engine warmed with 10k
//! learned session IDs and 10k learned ticket key names (tables of 16384 slots each).

use criterion::Criterion;
use lvs_core::hash::{siphash, SipKey};
use lvs_core::tls_persist::{
    Decision, HelloKeys, ReplyKeys, SessionSlot, SniRule, TicketKeySlot, TicketSlot, TlsPersist,
    TlsPersistConfig, TlsStorage, TLS13,
};
use lvs_core::Instant;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddrV4;

/// Entries learned into each table of the warm engine.
pub const WARM: usize = 10_000;
const CAP: usize = 16_384;

/// A pseudo-random 32-byte session ID (what a server issues).
pub fn session_id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    for (j, c) in id.chunks_exact_mut(8).enumerate() {
        c.copy_from_slice(&siphash::<1, 3>(SipKey(i, j as u64), b"sid").to_le_bytes());
    }
    id
}

/// A pseudo-random 16-byte ticket key name.
pub fn key_name(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&siphash::<1, 3>(SipKey(i, 99), b"key").to_le_bytes());
    k[8..].copy_from_slice(&siphash::<1, 3>(SipKey(i, 98), b"key").to_le_bytes());
    k
}

/// Real server `i % 3` of the pool.
pub fn server(i: u64) -> SocketAddrV4 {
    SocketAddrV4::new([198, 18, 1, 1 + (i % 3) as u8].into(), 443)
}

/// An engine with [`WARM`] session IDs and [`WARM`] ticket key names learned at time zero,
/// two server-name rules (the default pool 0 for other names).
pub fn warm_engine() -> TlsPersist<'static, SocketAddrV4> {
    let storage = TlsStorage {
        sessions: Box::leak(vec![SessionSlot::EMPTY; CAP].into_boxed_slice()),
        tickets: Box::leak(vec![TicketSlot::EMPTY; CAP].into_boxed_slice()),
        ticket_keys: Box::leak(vec![TicketKeySlot::EMPTY; 8].into_boxed_slice()),
        sni_rules: Box::leak(vec![SniRule::EMPTY; 16].into_boxed_slice()),
    };
    let mut e = TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(0x1234, 0x5678)).unwrap();
    e.sni_route("www.example.com", 1).unwrap();
    e.sni_route("*.example.org", 2).unwrap();
    for i in 0..WARM as u64 {
        let full = HelloKeys {
            server_name: Some("www.example.com"),
            ..HelloKeys::default()
        };
        let sid = session_id(i);
        let reply = ReplyKeys {
            session_id: &sid,
            psk_selected: false,
            version: 0x0303,
        };
        e.learn(Instant::ZERO, server(i), &full, &reply);
        let psk = HelloKeys {
            ticket_key_name: Some(key_name(i)),
            tls13: true,
            ..full
        };
        let reply = ReplyKeys {
            session_id: &[],
            psk_selected: true,
            version: TLS13,
        };
        e.learn(Instant::ZERO, server(i), &psk, &reply);
    }
    assert_eq!(e.sessions_len(), WARM);
    assert_eq!(e.tickets_len(), WARM);
    e
}

/// `tls_engine/decide_10k`: the engine's decision for a returning TLS 1.2 session ID (a hit) beside
/// `std_hashmap`, a `std::collections::HashMap<[u8; 32], SocketAddrV4>` lookup with the same
/// availability check.
pub fn decide(c: &mut Criterion) {
    let mut e = warm_engine();
    let mut map: HashMap<[u8; 32], SocketAddrV4> = HashMap::with_capacity(CAP);
    for i in 0..WARM as u64 {
        map.insert(session_id(i), server(i));
    }
    let ids: Vec<[u8; 32]> = (0..1024u64)
        .map(|i| session_id(i * 7919 % WARM as u64))
        .collect();
    let now = Instant::from_secs(10);
    for (n, id) in ids.iter().enumerate() {
        let h = HelloKeys {
            server_name: Some("www.example.com"),
            session_id: id,
            ..HelloKeys::default()
        };
        let want = map[id];
        assert_eq!(
            e.decide(now, &h, |_| true),
            Decision::Remembered(want),
            "{n}"
        );
    }
    let mut g = c.benchmark_group("tls_engine/decide_10k");
    g.throughput(criterion::Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("lvs", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            let h = HelloKeys {
                server_name: Some("www.example.com"),
                session_id: &ids[i],
                ..HelloKeys::default()
            };
            black_box(e.decide(now, black_box(&h), |s| s.port() != 0))
        })
    });
    let mut i = 0usize;
    g.bench_function("std_hashmap", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            let id = black_box(&ids[i]);
            black_box(map.get(id).copied().filter(|s| s.port() != 0))
        })
    });
    g.finish();
}

/// The engine's view of a parsed ClientHello: ticket key name from ext 35, else from the
/// first PSK identity.
pub fn hello_keys<'a>(h: &lvs_forward::tls::ClientHello<'a>) -> HelloKeys<'a> {
    use lvs_forward::tls::ticket_key_name;
    let ticket = h
        .session_ticket()
        .and_then(ticket_key_name)
        .or_else(|| h.psk_identities().next().and_then(ticket_key_name));
    HelloKeys {
        server_name: h.server_name(),
        session_id: h.session_id(),
        ticket_key_name: ticket,
        tls13: h.offers_tls13(),
    }
}

/// Real OpenSSL ClientHellos (`lvs-forward/tests/data/tls/`, captured by its `capture.py`):
/// a TLS 1.3 PSK resumption and a TLS 1.2 session-ID resumption.
const CAPTURES: [(&str, &[u8]); 2] = [
    (
        "tls13-resume-psk",
        include_bytes!("../../../lvs-forward/tests/data/tls/tls13-resume-psk.client.bin"),
    ),
    (
        "tls12-resume-sessionid",
        include_bytes!("../../../lvs-forward/tests/data/tls/tls12-resume-sessionid.client.bin"),
    ),
];

/// `tls_engine/parse_decide_<capture>`: read a real ClientHello and decide with the warm engine,
/// which has learned that hello's ticket key name or session ID among its 10k + 10k entries
/// (a hit), beside `parse_only`, the reader alone on the same bytes.
pub fn parse_decide(c: &mut Criterion) {
    let mut e = warm_engine();
    let mut scratch = vec![0u8; lvs_forward::tls::MAX_HELLO];
    let now = Instant::from_secs(10);
    let home = server(1);
    for (name, bytes) in CAPTURES {
        let h = lvs_forward::tls::read_client_hello(bytes, &mut scratch)
            .expect("a real ClientHello")
            .expect("complete");
        let keys = hello_keys(&h);
        // teach the engine this client's session: an accepted resumption
        let reply = if keys.tls13 && keys.ticket_key_name.is_some() {
            ReplyKeys {
                session_id: keys.session_id,
                psk_selected: true,
                version: TLS13,
            }
        } else {
            ReplyKeys {
                session_id: keys.session_id,
                psk_selected: false,
                version: 0x0303,
            }
        };
        e.learn(Instant::ZERO, home, &keys, &reply);
        assert_eq!(
            e.decide(now, &keys, |_| true),
            Decision::Remembered(home),
            "{name}"
        );

        let mut g = c.benchmark_group(format!("tls_engine/parse_decide_{name}"));
        g.throughput(criterion::Throughput::Elements(1));
        g.bench_function("lvs", |b| {
            b.iter(|| {
                let h = lvs_forward::tls::read_client_hello(black_box(bytes), &mut scratch);
                match h {
                    Ok(Some(h)) => e.decide(now, &hello_keys(&h), |s| s.port() != 0),
                    _ => Decision::Refuse,
                }
            })
        });
        g.bench_function("parse_only", |b| {
            b.iter(|| {
                let h = lvs_forward::tls::read_client_hello(black_box(bytes), &mut scratch);
                match h {
                    Ok(Some(h)) => black_box(hello_keys(&h)).session_id.len(),
                    _ => 0,
                }
            })
        });
        g.finish();
    }
}
