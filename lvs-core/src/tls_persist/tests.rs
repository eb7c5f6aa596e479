//! Unit tests of the TLS persistence engine: one per rule, and a property over random
//! operation sequences.

use super::*;
use crate::hash::SipKey;
use crate::time::{Duration, Instant};
use proptest::prelude::*;
use std::boxed::Box;
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const TLS12: u16 = 0x0303;

fn engine_with(sessions: usize, tickets: usize, keys: usize) -> TlsPersist<'static, u8> {
    let storage = TlsStorage {
        sessions: Box::leak(vec![SessionSlot::EMPTY; sessions].into_boxed_slice()),
        tickets: Box::leak(vec![TicketSlot::EMPTY; tickets].into_boxed_slice()),
        ticket_keys: Box::leak(vec![TicketKeySlot::EMPTY; keys].into_boxed_slice()),
        sni_rules: Box::leak(vec![SniRule::EMPTY; 16].into_boxed_slice()),
    };
    TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(7, 11)).unwrap()
}

fn engine() -> TlsPersist<'static, u8> {
    engine_with(64, 64, 4)
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn up(_: u8) -> bool {
    true
}

fn hello(id: &[u8]) -> HelloKeys<'_> {
    HelloKeys {
        session_id: id,
        ..HelloKeys::default()
    }
}

/// What `e` decides at `secs` for a hello offering session id `id`, every server up.
fn decide_id(e: &mut TlsPersist<'_, u8>, secs: u64, id: &[u8]) -> Decision<u8> {
    e.decide(t(secs), &hello(id), up)
}

fn ticket(name: u8, id: &[u8]) -> HelloKeys<'_> {
    HelloKeys {
        session_id: id,
        ticket_key_name: Some([name; 16]),
        ..HelloKeys::default()
    }
}

fn psk(name: u8) -> HelloKeys<'static> {
    HelloKeys {
        session_id: &[0x33; 32],
        ticket_key_name: Some([name; 16]),
        tls13: true,
        ..HelloKeys::default()
    }
}

fn reply12(id: &[u8]) -> ReplyKeys<'_> {
    ReplyKeys {
        session_id: id,
        psk_selected: false,
        version: TLS12,
    }
}

fn reply13(id: &[u8], psk_selected: bool) -> ReplyKeys<'_> {
    ReplyKeys {
        session_id: id,
        psk_selected,
        version: TLS13,
    }
}

#[test]
fn full_tls12_handshake_learns_the_servers_session_id() {
    let mut e = engine();
    assert_eq!(decide_id(&mut e, 1, &[]), Decision::Pool(0));
    e.learn(t(1), 3, &hello(&[]), &reply12(&[0xaa; 32]));
    assert_eq!(e.counters().learned, 1);
    assert_eq!(decide_id(&mut e, 2, &[0xaa; 32]), Decision::Remembered(3));
    let c = *e.counters();
    assert_eq!((c.fresh, c.hits, c.misses), (1, 1, 0));
}

#[test]
fn full_handshake_after_an_unknown_offered_id_learns_the_new_id_only() {
    let mut e = engine();
    let h = hello(&[0x01; 32]);
    assert_eq!(e.decide(t(1), &h, up), Decision::Pool(0));
    assert_eq!(e.counters().misses, 1);
    e.learn(t(1), 4, &h, &reply12(&[0x02; 32]));
    assert_eq!(decide_id(&mut e, 2, &[0x01; 32]), Decision::Pool(0));
    assert_eq!(decide_id(&mut e, 2, &[0x02; 32]), Decision::Remembered(4));
    assert_eq!(e.sessions_len(), 1);
}

#[test]
fn accepted_session_resumption_restarts_the_timer_without_counting_a_new_mapping() {
    let mut e = engine();
    e.learn(t(0), 5, &hello(&[]), &reply12(&[9; 16]));
    // the server echoes the offered id: resumed, at 250 s
    e.learn(t(250), 5, &hello(&[9; 16]), &reply12(&[9; 16]));
    assert_eq!(e.counters().learned, 1);
    // alive past the first 300 s because the resumption restarted it
    assert_eq!(decide_id(&mut e, 540, &[9; 16]), Decision::Remembered(5));
}

#[test]
fn tls13_legacy_session_id_is_never_learned_nor_a_miss() {
    let mut e = engine();
    let h = HelloKeys {
        session_id: &[0x5c; 32],
        tls13: true,
        ..HelloKeys::default()
    };
    assert_eq!(e.decide(t(1), &h, up), Decision::Pool(0));
    // the server echoes the compatibility id (as a TLS 1.2 resumption would look) and a
    // full handshake's ServerHello with another id: neither is learned under TLS 1.3
    e.learn(t(1), 1, &h, &reply13(&[0x5c; 32], false));
    e.learn(t(1), 1, &hello(&[]), &reply13(&[0x77; 32], false));
    assert_eq!(e.sessions_len(), 0);
    assert_eq!(e.decide(t(2), &h, up), Decision::Pool(0));
    let c = *e.counters();
    assert_eq!((c.fresh, c.misses, c.learned), (2, 0, 0));
}

#[test]
fn tls12_session_resumed_by_a_client_that_also_offers_tls13_is_routed() {
    let mut e = engine();
    e.learn(t(0), 2, &hello(&[]), &reply12(&[0x42; 32]));
    let h = HelloKeys {
        session_id: &[0x42; 32],
        tls13: true,
        ..HelloKeys::default()
    };
    assert_eq!(e.decide(t(1), &h, up), Decision::Remembered(2));
}

#[test]
fn tls13_accepted_psk_learns_the_key_name_rejected_psk_does_not() {
    let mut e = engine();
    // first return: unknown key name, a miss
    assert_eq!(e.decide(t(1), &psk(0x10), up), Decision::Pool(0));
    assert_eq!(e.counters().misses, 1);
    // the server rejected it (full handshake): nothing learned
    e.learn(t(1), 6, &psk(0x10), &reply13(&[0x33; 32], false));
    assert_eq!(e.tickets_len(), 0);
    // another server accepted it: learned
    e.learn(t(2), 7, &psk(0x10), &reply13(&[0x33; 32], true));
    assert_eq!(e.tickets_len(), 1);
    assert_eq!(e.decide(t(3), &psk(0x10), up), Decision::Remembered(7));
    assert_eq!(e.counters().hits, 1);
}

#[test]
fn hello_retry_request_learns_nothing() {
    let mut e = engine();
    e.learn(t(1), 1, &psk(0x10), &reply13(&[0x33; 32], false));
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 0));
}

#[test]
fn tls12_accepted_ticket_resumption_learns_the_key_name_not_the_session_id() {
    let mut e = engine();
    // OpenSSL's TLS 1.2 client sends a fresh session id with the ticket; the server echoes it
    let h = ticket(0x20, &[0x61; 32]);
    assert_eq!(e.decide(t(1), &h, up), Decision::Pool(0));
    e.learn(t(1), 8, &h, &reply12(&[0x61; 32]));
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 1));
    // the next resumption carries the same ticket key name and another random id
    assert_eq!(
        e.decide(t(2), &ticket(0x20, &[0x62; 32]), up),
        Decision::Remembered(8)
    );
}

#[test]
fn tls12_rejected_ticket_learns_the_new_session_id() {
    let mut e = engine();
    let h = ticket(0x21, &[0x61; 32]);
    e.learn(t(1), 8, &h, &reply12(&[0x99; 32]));
    assert_eq!((e.sessions_len(), e.tickets_len()), (1, 0));
    assert_eq!(decide_id(&mut e, 2, &[0x99; 32]), Decision::Remembered(8));
}

#[test]
fn ticket_is_tried_before_the_session_id_and_either_may_hit() {
    let mut e = engine();
    e.learn(t(0), 1, &hello(&[]), &reply12(&[0x44; 32]));
    e.learn(t(0), 2, &psk(0x30), &reply13(&[], true));
    let both = ticket(0x30, &[0x44; 32]);
    assert_eq!(e.decide(t(1), &both, up), Decision::Remembered(2));
    // the ticket's server is down, the session's is up
    assert_eq!(e.decide(t(1), &both, |s| s != 2), Decision::Remembered(1));
    assert_eq!(e.decide(t(1), &both, |_| false), Decision::Pool(0));
    let c = *e.counters();
    assert_eq!((c.hits, c.fallbacks), (2, 1));
}

#[test]
fn configured_ticket_keys_route_never_expire_and_are_not_overwritten() {
    let mut e = engine_with(64, 64, 2);
    assert_eq!(e.add_ticket_key([0x50; 16], 3), Ok(None));
    assert_eq!(e.add_ticket_key([0x51; 16], 4), Ok(None));
    assert_eq!(e.add_ticket_key([0x52; 16], 5), Err(TicketKeyError::Full));
    assert_eq!(e.add_ticket_key([0x51; 16], 6), Ok(Some(4)));
    assert_eq!(e.ticket_keys_len(), 2);
    let far = t(10_000_000);
    e.expire(far);
    assert_eq!(e.decide(far, &psk(0x50), up), Decision::Remembered(3));
    assert_eq!(
        e.decide(far, &ticket(0x51, &[1; 32]), up),
        Decision::Remembered(6)
    );
    // another server accepting it does not change the configuration
    e.learn(far, 9, &psk(0x50), &reply13(&[], true));
    assert_eq!(e.tickets_len(), 0);
    assert_eq!(e.decide(far, &psk(0x50), up), Decision::Remembered(3));
    // its server down: the pool
    assert_eq!(e.decide(far, &psk(0x50), |s| s != 3), Decision::Pool(0));
    assert_eq!(e.remove_ticket_key(&[0x50; 16]), Some(3));
    assert_eq!(e.remove_ticket_key(&[0x50; 16]), None);
    assert_eq!(e.decide(far, &psk(0x50), up), Decision::Pool(0));
    let c = *e.counters();
    assert_eq!((c.hits, c.fallbacks, c.misses), (3, 1, 1));
}

#[test]
fn fallback_then_learn_replaces_the_mapping() {
    let mut e = engine();
    e.learn(t(0), 1, &psk(0x60), &reply13(&[], true));
    // server 1 quiesced: the pool decides, counted
    assert_eq!(e.decide(t(1), &psk(0x60), |s| s != 1), Decision::Pool(0));
    assert_eq!(e.counters().fallbacks, 1);
    // the scheduler picked 2, which shares the ticket key and accepted it
    e.learn(t(1), 2, &psk(0x60), &reply13(&[], true));
    assert_eq!(e.decide(t(2), &psk(0x60), up), Decision::Remembered(2));
    let c = *e.counters();
    assert_eq!((c.learned, c.replaced, c.hits), (2, 1, 1));
    assert_eq!(e.tickets_len(), 1);
}

#[test]
fn entries_time_out_after_300_s_unless_used() {
    let mut e = engine();
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 32]));
    e.learn(t(0), 1, &hello(&[]), &reply12(&[2; 32]));
    // a hit at 200 s restarts the first one's timer
    assert_eq!(decide_id(&mut e, 200, &[1; 32]), Decision::Remembered(1));
    assert_eq!(
        e.decide(Instant::from_millis(299_999), &hello(&[2; 32]), up),
        Decision::Remembered(1)
    );
    // the second was last used at 299.999 s
    assert_eq!(
        e.decide(Instant::from_millis(599_999), &hello(&[2; 32]), up),
        Decision::Pool(0)
    );
    assert_eq!(e.counters().expired, 1);
    assert_eq!(e.counters().misses, 1);
    assert_eq!(e.sessions_len(), 1);
    // the first was last used at 200 s
    assert_eq!(e.expire(t(499)), 0);
    assert_eq!(e.expire(t(500)), 1);
    assert_eq!(e.sessions_len(), 0);
    assert_eq!(e.counters().expired, 2);
}

#[test]
fn configured_timeouts_apply_per_kind() {
    let mut e = engine();
    e.set_config(TlsPersistConfig {
        session_timeout: Duration::from_secs(10),
        ticket_timeout: Duration::from_secs(1000),
    });
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 32]));
    e.learn(t(0), 2, &psk(0x70), &reply13(&[], true));
    assert_eq!(decide_id(&mut e, 11, &[1; 32]), Decision::Pool(0));
    assert_eq!(e.decide(t(999), &psk(0x70), up), Decision::Remembered(2));
}

#[test]
fn expire_step_does_bounded_work() {
    let mut e = engine_with(64, 0, 0);
    for i in 0..20u8 {
        e.learn(t(0), 1, &hello(&[]), &reply12(&[i + 1; 8]));
    }
    let mut freed = 0;
    let mut calls = 0;
    while freed < 20 {
        let n = e.expire_step(t(301), 8);
        assert!(n <= 8);
        freed += n;
        calls += 1;
        assert!(calls <= 8, "64 slots in steps of 8");
    }
    assert_eq!(e.sessions_len(), 0);
    assert_eq!(e.counters().expired, 20);
}

#[test]
fn a_full_table_evicts_the_soonest_expiring_entry() {
    // eight slots: one set
    let mut e = engine_with(8, 8, 0);
    for i in 0..8u8 {
        e.learn(t(u64::from(i)), i, &hello(&[]), &reply12(&[i + 1; 32]));
    }
    assert_eq!(e.sessions_len(), 8);
    // refresh the oldest (learned at 0 s): the one learned at 1 s is now the oldest
    assert_eq!(decide_id(&mut e, 10, &[1; 32]), Decision::Remembered(0));
    e.learn(t(11), 9, &hello(&[]), &reply12(&[100; 32]));
    assert_eq!(e.sessions_len(), 8);
    assert_eq!(e.counters().evicted, 1);
    assert_eq!(decide_id(&mut e, 12, &[2; 32]), Decision::Pool(0));
    for (i, id) in [(0u8, 1u8), (2, 3), (9, 100)] {
        assert_eq!(decide_id(&mut e, 12, &[id; 32]), Decision::Remembered(i));
    }
}

#[test]
fn a_full_set_reuses_an_overdue_entry_before_evicting() {
    let mut e = engine_with(8, 8, 0);
    e.learn(t(0), 0, &hello(&[]), &reply12(&[1; 32]));
    for i in 1..8u8 {
        e.learn(t(200), i, &hello(&[]), &reply12(&[i + 1; 32]));
    }
    e.learn(t(301), 9, &hello(&[]), &reply12(&[50; 32]));
    let c = *e.counters();
    assert_eq!((c.expired, c.evicted, c.learned), (1, 0, 9));
    assert_eq!(e.sessions_len(), 8);
}

#[test]
fn zero_sized_tables_learn_nothing_and_still_decide() {
    let mut e = engine_with(0, 0, 0);
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 32]));
    e.learn(t(0), 1, &psk(1), &reply13(&[], true));
    assert_eq!(decide_id(&mut e, 1, &[1; 32]), Decision::Pool(0));
    assert_eq!(e.counters().learned, 0);
}

#[test]
fn storage_lengths_must_be_powers_of_two() {
    let mut s = [SessionSlot::<u8>::EMPTY; 12];
    let mut tk = [TicketSlot::<u8>::EMPTY; 4];
    let storage = TlsStorage {
        sessions: &mut s,
        tickets: &mut tk,
        ticket_keys: &mut [],
        sni_rules: &mut [],
    };
    let e = TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(0, 0));
    assert_eq!(e.err(), Some(TableError::BadCapacity { len: 12 }));
    assert_eq!(
        TableError::BadCapacity { len: 12 }.to_string(),
        "table length 12 is neither zero nor a power of two"
    );
}

#[test]
fn oversized_session_ids_are_ignored() {
    let mut e = engine();
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 33]));
    assert_eq!(e.sessions_len(), 0);
    assert_eq!(decide_id(&mut e, 0, &[1; 33]), Decision::Pool(0));
}

fn named<'a>(name: &'a str, id: &'a [u8]) -> HelloKeys<'a> {
    HelloKeys {
        server_name: Some(name),
        session_id: id,
        ..HelloKeys::default()
    }
}

#[test]
fn sni_exact_wildcard_dot_and_default() {
    let mut e = engine();
    let r = e.sni_mut();
    assert_eq!(r.add("www.example.com", 1), Ok(None));
    assert_eq!(r.add("*.example.com", 2), Ok(None));
    assert_eq!(r.add("*.img.example.com", 3), Ok(None));
    assert_eq!(r.add(".example.org", 4), Ok(None));
    assert_eq!(r.add("API.Example.NET.", 5), Ok(None));
    r.set_default_pool(Some(9));
    let cases = [
        ("www.example.com", 1),
        ("WWW.EXAMPLE.COM", 1),
        ("www.example.com.", 1),
        ("a.example.com", 2),
        ("a.b.example.com", 2),      // one or more labels, like nginx
        ("x.img.example.com", 3),    // the longest wildcard wins
        ("img.example.com", 2),      // "*.img" needs a label before it
        ("example.com", 9),          // "*." does not match the bare name
        ("example.org", 4),          // ".name" matches the name
        ("deep.sub.example.org", 4), // and every name under it
        ("api.example.net", 5),
        ("x.api.example.net", 9),
        ("notexample.com", 9),
        ("", 9),
    ];
    for (name, pool) in cases {
        assert_eq!(
            e.decide(t(0), &named(name, &[]), up),
            Decision::Pool(pool),
            "{name}"
        );
    }
    assert_eq!(decide_id(&mut e, 0, &[]), Decision::Pool(9));
}

#[test]
fn sni_exact_beats_a_wildcard_written_later_or_earlier() {
    let mut rules = [SniRule::EMPTY; 4];
    let mut r = SniRouter::new(&mut rules);
    r.add("*.example.com", 2).unwrap();
    r.add("a.example.com", 1).unwrap();
    r.add(".b.example.com", 3).unwrap();
    assert_eq!(r.lookup("a.example.com"), Some(1));
    assert_eq!(r.lookup("b.example.com"), Some(3));
    assert_eq!(r.lookup("c.example.com"), Some(2));
    assert_eq!(r.lookup("example.com"), None);
    let listed: Vec<_> = r.rules().map(|x| (x.to_string(), x.pool())).collect();
    assert_eq!(
        listed,
        [
            ("a.example.com".to_string(), 1),
            (".b.example.com".to_string(), 3),
            ("*.example.com".to_string(), 2)
        ]
    );
}

#[test]
fn sni_refuse_unknown_is_counted_and_a_nameless_hello_uses_the_default() {
    let mut e = engine();
    e.sni_route("www.example.com", 1).unwrap();
    e.sni_mut().set_refuse_unknown(true);
    assert_eq!(
        e.decide(t(0), &named("www.example.com", &[]), up),
        Decision::Pool(1)
    );
    assert_eq!(
        e.decide(t(0), &named("evil.example", &[]), up),
        Decision::Refuse
    );
    assert_eq!(decide_id(&mut e, 0, &[]), Decision::Pool(0));
    e.sni_mut().set_default_pool(None);
    assert_eq!(decide_id(&mut e, 0, &[]), Decision::Refuse);
    assert_eq!(e.counters().refused, 2);
}

#[test]
fn sni_refuse_comes_before_a_known_session() {
    let mut e = engine();
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 32]));
    e.sni_mut().set_refuse_unknown(true);
    assert_eq!(
        e.decide(t(0), &named("unknown.example", &[1; 32]), up),
        Decision::Refuse
    );
}

#[test]
fn sni_rule_errors_replacement_and_removal() {
    let mut rules = [SniRule::EMPTY; 2];
    let mut r = SniRouter::new(&mut rules);
    for bad in [
        "",
        "*.",
        ".",
        "a..b",
        "a b",
        "*.*.a",
        "a.*",
        "ü.example",
        "-",
    ] {
        let want = if bad == "-" {
            Ok(None)
        } else {
            Err(SniError::BadName)
        };
        assert_eq!(r.add(bad, 1), want, "{bad:?}");
        r.clear();
    }
    let label = "a".repeat(64);
    assert_eq!(r.add(&label, 1), Err(SniError::BadName));
    let long = ["abcdefghi"; 26].join(".");
    assert_eq!(r.add(&long, 1), Err(SniError::NameTooLong));
    assert_eq!(r.add("a.example", 1), Ok(None));
    assert_eq!(r.add("A.example", 2), Ok(Some(1)));
    assert_eq!(r.add("*.a.example", 3), Ok(None));
    assert_eq!(r.add("b.example", 3), Err(SniError::Full));
    assert_eq!(r.lookup("a.example"), Some(2));
    assert_eq!(r.remove("a.example"), Some(2));
    assert_eq!(r.remove("a.example"), None);
    assert_eq!(r.len(), 1);
    assert_eq!(r.lookup("x.a.example"), Some(3));
    assert_eq!(
        SniError::Full.to_string(),
        "no room for another server-name rule"
    );
}

#[test]
fn a_mapping_learned_under_one_pool_is_not_used_for_another() {
    let mut e = engine();
    e.sni_route("a.example", 1).unwrap();
    e.sni_route("b.example", 2).unwrap();
    e.learn(t(0), 1, &named("a.example", &[]), &reply12(&[5; 32]));
    assert_eq!(
        e.decide(t(1), &named("a.example", &[5; 32]), up),
        Decision::Remembered(1)
    );
    assert_eq!(
        e.decide(t(1), &named("b.example", &[5; 32]), up),
        Decision::Pool(2)
    );
    assert_eq!(e.counters().misses, 1);
}

#[test]
fn entries_list_kinds_hex_data_servers_and_expiry() {
    let mut e = engine();
    e.learn(t(10), 1, &hello(&[]), &reply12(&[0xab, 0xcd]));
    e.learn(t(20), 2, &psk(0x0f), &reply13(&[], true));
    e.add_ticket_key(*b"0123456789abcdef", 3).unwrap();
    let now = t(30);
    let got: Vec<_> = e
        .entries()
        .map(|x| {
            (
                x.pe_name(),
                x.kind.name(),
                format!("{}", x.data),
                x.server,
                x.expires_in(now).map(|d| d.secs()),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("tls", "sid", "abcd".to_string(), 1, Some(280)),
            ("tls", "ticket", "0f".repeat(16), 2, Some(290)),
            (
                "tls",
                "key",
                "30313233343536373839616263646566".to_string(),
                3,
                None
            ),
        ]
    );
}

#[test]
fn remove_server_forgets_its_learned_mappings() {
    let mut e = engine();
    e.learn(t(0), 1, &hello(&[]), &reply12(&[1; 32]));
    e.learn(t(0), 2, &hello(&[]), &reply12(&[2; 32]));
    e.learn(t(0), 1, &psk(3), &reply13(&[], true));
    assert_eq!(e.remove_server(1), 2);
    assert_eq!((e.sessions_len(), e.tickets_len()), (1, 0));
    assert_eq!(e.counters().removed, 2);
}

#[derive(Debug, Clone)]
enum Op {
    Decide {
        name: u8,
        sid: u8,
        ticket: Option<u8>,
        tls13: bool,
        down: u8,
    },
    Learn {
        name: u8,
        server: u8,
        offered: u8,
        reply: u8,
        ticket: Option<u8>,
        version13: bool,
        psk: bool,
    },
    AddKey(u8, u8),
    Advance(u16),
    ExpireStep(u8),
    RemoveServer(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..12, proptest::option::of(0u8..10), any::<bool>(), 0u8..6).prop_map(
            |(name, sid, ticket, tls13, down)| Op::Decide { name, sid, ticket, tls13, down }
        ),
        4 => (0u8..4, 0u8..5, 0u8..12, 0u8..12, proptest::option::of(0u8..10), any::<bool>(),
              any::<bool>())
            .prop_map(|(name, server, offered, reply, ticket, version13, psk)| Op::Learn {
                name, server, offered, reply, ticket, version13, psk
            }),
        1 => (0u8..10, 0u8..5).prop_map(|(k, s)| Op::AddKey(k, s)),
        2 => (0u16..400).prop_map(Op::Advance),
        1 => (0u8..20).prop_map(Op::ExpireStep),
        1 => (0u8..5).prop_map(Op::RemoveServer),
    ]
}

const NAMES: [Option<&str>; 4] = [
    None,
    Some("a.example"),
    Some("x.b.example"),
    Some("c.example"),
];

fn id(n: u8) -> [u8; 32] {
    [n; 32]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_operations_keep_tables_bounded_and_counters_consistent(
        ops in proptest::collection::vec(op(), 1..200),
        sessions in 0usize..4,
        tickets in 0usize..4,
    ) {
        let (sc, tc) = ([0usize, 1, 8, 16][sessions], [0usize, 2, 8, 32][tickets]);
        let mut e = engine_with(sc, tc, 3);
        e.sni_route("a.example", 1).unwrap();
        e.sni_route("*.b.example", 2).unwrap();
        e.sni_mut().set_refuse_unknown(true);
        let mut now = Instant::from_secs(1);
        let mut decides = 0u64;
        for op in ops {
            match op {
                Op::Decide { name, sid, ticket, tls13, down } => {
                    let sid = id(sid);
                    let h = HelloKeys {
                        server_name: NAMES[usize::from(name)],
                        session_id: if sid[0] == 0 { &[] } else { &sid },
                        ticket_key_name: ticket.map(|k| [k; 16]),
                        tls13,
                    };
                    let d = e.decide(now, &h, |s| s != down);
                    decides += 1;
                    match d {
                        Decision::Remembered(s) => prop_assert_ne!(s, down),
                        Decision::Pool(p) => prop_assert!(p <= 2),
                        Decision::Refuse => prop_assert_eq!(name, 3),
                    }
                }
                Op::Learn { name, server, offered, reply, ticket, version13, psk } => {
                    let (o, r) = (id(offered), id(reply));
                    let h = HelloKeys {
                        server_name: NAMES[usize::from(name)],
                        session_id: if offered == 0 { &[] } else { &o },
                        ticket_key_name: ticket.map(|k| [k; 16]),
                        tls13: version13,
                    };
                    let rk = ReplyKeys {
                        session_id: if reply == 0 { &[] } else { &r },
                        psk_selected: psk,
                        version: if version13 { TLS13 } else { TLS12 },
                    };
                    e.learn(now, server, &h, &rk);
                    // a session id just learned from a full TLS 1.2 handshake routes back to
                    // its server at once (when the name has a pool)
                    let full = !version13 && reply != 0 && reply != offered;
                    if full && sc > 0 && name != 3 {
                        let back = HelloKeys { session_id: &r, ticket_key_name: None, ..h };
                        let before = *e.counters();
                        prop_assert_eq!(e.decide(now, &back, |_| true),
                                        Decision::Remembered(server));
                        prop_assert_eq!(e.counters().hits, before.hits + 1);
                        decides += 1;
                    }
                }
                Op::AddKey(k, s) => {
                    let _ = e.add_ticket_key([k; 16], s);
                }
                Op::Advance(secs) => now += Duration::from_secs(u64::from(secs)),
                Op::ExpireStep(n) => {
                    e.expire_step(now, usize::from(n));
                }
                Op::RemoveServer(s) => {
                    e.remove_server(s);
                }
            }
            let c = *e.counters();
            prop_assert!(e.sessions_len() <= sc);
            prop_assert!(e.tickets_len() <= tc);
            prop_assert!(e.ticket_keys_len() <= 3);
            prop_assert_eq!(c.hits + c.misses + c.fresh + c.fallbacks + c.refused, decides);
            prop_assert_eq!(
                c.learned - c.replaced - c.expired - c.evicted - c.removed,
                (e.sessions_len() + e.tickets_len()) as u64
            );
            prop_assert_eq!(
                e.entries().count(),
                e.sessions_len() + e.tickets_len() + e.ticket_keys_len()
            );
        }
        // a full sweep at the end of time leaves only configured keys
        e.expire(now + Duration::from_secs(301));
        prop_assert_eq!(e.sessions_len() + e.tickets_len(), 0);
    }
}

#[test]
fn two_choice_sets_fill_most_of_the_table_before_evicting() {
    let mut e = engine_with(16384, 0, 0);
    let mut evicted_at = std::vec::Vec::new();
    for i in 0..16384u32 {
        let mut sid = [0u8; 32];
        sid[..4].copy_from_slice(&i.to_le_bytes());
        let before = e.counters().evicted;
        e.learn(t(0), 1, &hello(&[]), &reply12(&sid));
        if e.counters().evicted > before {
            evicted_at.push(i);
        }
    }
    // two choices of eight slots: nothing is evicted below three quarters full (the first
    // eviction here comes at 13196 of 16384), and filling every slot evicts few entries
    assert!(
        evicted_at.first().is_some_and(|&i| i >= 12288),
        "{:?}",
        evicted_at.first()
    );
    assert!(evicted_at.len() < 1024, "{}", evicted_at.len());
    assert_eq!(e.sessions_len(), 16384 - evicted_at.len());
}
