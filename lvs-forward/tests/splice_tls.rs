//! The TLS classifier on its own: SNI pools, learning session IDs from ServerHellos, ticket
//! key names (configured and learned), refusals with an alert, bad bytes, a server that
//! refuses connections (held down, the connection moved), and hellos arriving byte by byte.

use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::SipKey;
use lvs_core::tls_persist::{
    SessionSlot, SniRule, TicketKeySlot, TicketSlot, TlsPersist, TlsPersistConfig, TlsStorage,
};
use lvs_core::{Duration, Instant};
use lvs_forward::splice::hybrid::Pool;
use lvs_forward::splice::tls::{
    OnError, TlsClassifier, TlsClassifierConfig, ALERT_UNRECOGNIZED_NAME,
};
use lvs_forward::splice::{Classification, ContentClassifier, FlowInfo};
use lvs_sched::{AnyScheduler, SchedOptions};

fn rs(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, n), 443)
}

fn flow(port: u16, ms: u64) -> FlowInfo {
    FlowInfo {
        client: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), port),
        vip: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), 443),
        now: Instant::from_millis(ms),
    }
}

fn u16be(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn ext(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&u16be(body.len()));
    out.extend_from_slice(body);
}

/// A handshake message of type `ty` in one record.
fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![ty, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(body);
    let mut r = vec![0x16, 0x03, 0x01];
    r.extend_from_slice(&u16be(hs.len()));
    r.extend_from_slice(&hs);
    r
}

/// A ClientHello: optional SNI, legacy session ID, a TLS 1.2 ticket, TLS 1.3 (supported
/// versions, and a PSK identity when `psk` is given).
fn client_hello(
    sni: Option<&str>,
    sid: &[u8],
    ticket: Option<&[u8]>,
    tls13: bool,
    psk: Option<&[u8]>,
) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[7; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
    b.extend_from_slice(&[1, 0]);
    let mut e = Vec::new();
    if let Some(n) = sni {
        let mut l = vec![0];
        l.extend_from_slice(&u16be(n.len()));
        l.extend_from_slice(n.as_bytes());
        let mut s = u16be(l.len()).to_vec();
        s.extend_from_slice(&l);
        ext(&mut e, 0, &s);
    }
    if let Some(t) = ticket {
        ext(&mut e, 35, t);
    }
    if tls13 {
        ext(&mut e, 43, &[4, 0x03, 0x04, 0x03, 0x03]);
        ext(&mut e, 45, &[1, 1]);
    }
    if let Some(id) = psk {
        // identities, then binders (pre_shared_key must come last)
        let mut ids = u16be(id.len()).to_vec();
        ids.extend_from_slice(id);
        ids.extend_from_slice(&[0, 0, 0, 0]);
        let mut body = u16be(ids.len()).to_vec();
        body.extend_from_slice(&ids);
        body.extend_from_slice(&[0, 33, 32]);
        body.extend_from_slice(&[9; 32]);
        ext(&mut e, 41, &body);
    }
    b.extend_from_slice(&u16be(e.len()));
    b.extend_from_slice(&e);
    record(1, &b)
}

/// A ServerHello with session ID `sid`, TLS 1.3 when `tls13` (and the PSK selected when
/// `psk`).
fn server_hello(sid: &[u8], tls13: bool, psk: bool) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[5; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&[0x13, 0x01, 0]);
    let mut e = Vec::new();
    if tls13 {
        ext(&mut e, 43, &[0x03, 0x04]);
        if psk {
            ext(&mut e, 41, &[0, 0]);
        }
    }
    b.extend_from_slice(&u16be(e.len()));
    b.extend_from_slice(&e);
    record(2, &b)
}

fn ticket(key: u8) -> Vec<u8> {
    let mut t = vec![key; 16];
    t.extend_from_slice(&[0xee; 100]);
    t
}

type Classifier = TlsClassifier<'static, AnyScheduler<'static>, 4, 64>;

fn leak<T: Clone>(n: usize, v: T) -> &'static mut [T] {
    Box::leak(vec![v; n].into_boxed_slice())
}

/// Pool 0 (a.test): r1 r2; pool 1 (*.b.test): r3; unknown names refused; nameless hellos to 0;
/// r3's ticket key name is 0x33 x 16.
fn classifier(on_error: OnError) -> Box<Classifier> {
    let storage = TlsStorage {
        sessions: leak(64, SessionSlot::EMPTY),
        tickets: leak(64, TicketSlot::EMPTY),
        ticket_keys: leak(8, TicketKeySlot::EMPTY),
        sni_rules: leak(8, SniRule::EMPTY),
    };
    let mut e = TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(1, 2)).unwrap();
    e.sni_route("a.test", 0).unwrap();
    e.sni_route("*.b.test", 1).unwrap();
    e.sni_mut().set_default_pool(Some(0));
    e.sni_mut().set_refuse_unknown(true);
    e.add_ticket_key([0x33; 16], rs(3)).unwrap();
    let rr = || AnyScheduler::from_name("rr", &SchedOptions::default()).unwrap();
    let pools = [
        Pool::with_servers(&[(rs(1), 1), (rs(2), 1)], rr()),
        Pool::with_servers(&[(rs(3), 1)], rr()),
    ];
    let mut cfg = TlsClassifierConfig::new(SipKey(3, 4));
    cfg.on_error = on_error;
    cfg.hold_down = Duration::from_secs(5);
    Box::new(TlsClassifier::new(e, pools, cfg))
}

fn chosen(c: Classification) -> SocketAddrV4 {
    match c {
        Classification::Choose(s) => s,
        other => panic!("expected a server, got {other:?}"),
    }
}

/// One connection: the hello, then the ServerHello `reply` from the chosen server (fed in two
/// pieces to exercise reassembly); returns the server.
fn connect(c: &mut Classifier, port: u16, ms: u64, hello: &[u8], reply: &[u8]) -> SocketAddrV4 {
    let f = flow(port, ms);
    let s = chosen(c.classify(&f, hello));
    let cut = reply.len() / 2;
    assert!(
        c.reply(&f, s, 0, &reply[..cut]),
        "wants the rest of the ServerHello"
    );
    assert!(!c.reply(&f, s, cut, &reply[cut..]), "has the ServerHello");
    c.closed(s);
    s
}

#[test]
fn session_ids_learned_from_full_handshakes_bring_clients_back() {
    let mut c = classifier(OnError::Reset);
    let mut homes = Vec::new();
    for k in 0..6u8 {
        let sid = [k + 1; 32];
        let hello = client_hello(Some("a.test"), &[], None, false, None);
        let s = connect(
            &mut c,
            1000 + u16::from(k),
            10,
            &hello,
            &server_hello(&sid, false, false),
        );
        assert!(s == rs(1) || s == rs(2), "a.test goes to pool 0");
        homes.push((sid, s));
    }
    assert!(homes.iter().any(|h| h.1 == rs(1)) && homes.iter().any(|h| h.1 == rs(2)));
    // every return offering its session ID lands where the session is, and is resumed there
    for (k, (sid, home)) in homes.iter().enumerate() {
        for r in 0..3u16 {
            let hello = client_hello(Some("a.test"), sid, None, false, None);
            let s = connect(
                &mut c,
                2000 + 10 * k as u16 + r,
                20,
                &hello,
                &server_hello(sid, false, false),
            );
            assert_eq!(s, *home);
        }
    }
    let st = *c.stats();
    assert_eq!((st.hellos, st.server_hellos, st.remembered), (24, 24, 18));
    assert_eq!(
        (st.resumed, st.full_handshakes, st.resumption_offers),
        (18, 6, 18)
    );
    assert_eq!(c.engine().counters().hits, 18);
    assert_eq!(c.engine().counters().learned, 6);
}

#[test]
fn tickets_follow_configured_and_learned_key_names() {
    let mut c = classifier(OnError::Reset);
    // a configured key name (r3's) routes even a first return, also under another name's pool
    let hello = client_hello(Some("x.b.test"), &[], None, true, Some(&ticket(0x33)));
    let f = flow(3000, 5);
    assert_eq!(chosen(c.classify(&f, &hello)), rs(3));
    // an unknown ticket goes to the pool; the accepted resumption teaches its key name
    let hello = client_hello(Some("a.test"), &[1; 32], None, true, Some(&ticket(0x44)));
    let first = connect(&mut c, 3001, 6, &hello, &server_hello(&[1; 32], true, true));
    for p in 0..5 {
        let again = connect(
            &mut c,
            3010 + p,
            7,
            &hello,
            &server_hello(&[1; 32], true, true),
        );
        assert_eq!(again, first);
    }
    // TLS 1.2 ticket extension, accepted (the client's session ID echoed)
    let hello = client_hello(Some("a.test"), &[2; 32], Some(&ticket(0x55)), false, None);
    let first = connect(
        &mut c,
        3100,
        8,
        &hello,
        &server_hello(&[2; 32], false, false),
    );
    let hello2 = client_hello(Some("a.test"), &[3; 32], Some(&ticket(0x55)), false, None);
    for p in 0..5 {
        assert_eq!(
            connect(
                &mut c,
                3110 + p,
                9,
                &hello2,
                &server_hello(&[3; 32], false, false)
            ),
            first
        );
    }
    assert!(c.stats().resumed >= 11);
}

#[test]
fn refused_names_get_an_alert_bad_bytes_reset_or_fall_back() {
    let mut c = classifier(OnError::Reset);
    let hello = client_hello(Some("evil.test"), &[], None, true, None);
    assert_eq!(
        c.classify(&flow(1, 1), &hello),
        Classification::Reject(ALERT_UNRECOGNIZED_NAME)
    );
    assert_eq!(c.stats().refused, 1);
    // no name: the default pool
    let hello = client_hello(None, &[], None, true, None);
    let s = chosen(c.classify(&flow(2, 1), &hello));
    assert!(s == rs(1) || s == rs(2));
    // plain HTTP, an SSLv2-style hello, a hello with a bad inner length
    let mut bad = client_hello(Some("a.test"), &[], None, false, None);
    bad[9 + 2 + 32] = 200; // session ID length past the message
    for junk in [
        &b"GET / HTTP/1.1\r\n"[..],
        &[0x80, 0x2e, 0x01, 0x03, 0x01][..],
        &bad[..],
    ] {
        assert_eq!(
            c.classify(&flow(3, 1), junk),
            Classification::Reset,
            "{junk:02x?}"
        );
    }
    assert_eq!(c.overflow(&flow(4, 1)), Classification::Reset);
    assert_eq!((c.stats().not_tls, c.stats().bad_hello), (2, 2));
    let mut c = classifier(OnError::Pool(1));
    assert_eq!(
        chosen(c.classify(&flow(5, 1), b"GET / HTTP/1.1\r\n")),
        rs(3)
    );
    assert_eq!(c.stats().error_fallbacks, 1);
}

#[test]
fn byte_by_byte_hellos_wait_then_decide_once() {
    let mut c = classifier(OnError::Reset);
    let hello = client_hello(Some("q.b.test"), &[], None, true, None);
    let f = flow(7, 1);
    for n in 1..hello.len() {
        assert_eq!(
            c.classify(&f, &hello[..n]),
            Classification::NeedMore,
            "at {n}"
        );
    }
    assert_eq!(chosen(c.classify(&f, &hello)), rs(3));
    assert_eq!(c.stats().hellos, 1);
}

#[test]
fn a_refusing_server_is_held_down_and_its_clients_moved() {
    let mut c = classifier(OnError::Reset);
    let sid = [9; 32];
    let hello = client_hello(Some("a.test"), &[], None, false, None);
    let home = connect(&mut c, 4000, 10, &hello, &server_hello(&sid, false, false));
    let other = if home == rs(1) { rs(2) } else { rs(1) };
    // the home server died: the connect fails, the classifier names the other server and
    // learns the new session there
    let back = client_hello(Some("a.test"), &sid, None, false, None);
    let f = flow(4001, 1_000);
    assert_eq!(chosen(c.classify(&f, &back)), home);
    c.closed(home);
    assert_eq!(c.connect_failed(&f, home), Some(other));
    let new_sid = [10; 32];
    assert!(!c.reply(&f, other, 0, &server_hello(&new_sid, false, false)));
    assert_eq!(c.stats().moved, 1);
    // while held down, every new connection of the pool goes to the other server
    for p in 0..6 {
        let h = client_hello(Some("a.test"), &[], None, false, None);
        assert_eq!(chosen(c.classify(&flow(4100 + p, 2_000), &h)), other);
    }
    // the new session is remembered on the other server
    let h = client_hello(Some("a.test"), &new_sid, None, false, None);
    assert_eq!(chosen(c.classify(&flow(4200, 3_000), &h)), other);
    // after the hold-down the server takes connections again
    c.tick(Instant::from_millis(7_000), 64);
    let mut seen_home = false;
    for p in 0..4 {
        let h = client_hello(Some("a.test"), &[], None, false, None);
        seen_home |= chosen(c.classify(&flow(4300 + p, 7_001), &h)) == home;
    }
    assert!(seen_home, "the server is back after its hold-down");
    // no server left in pool 1 once r3 fails: the connection is not moved
    let h = client_hello(Some("z.b.test"), &[], None, false, None);
    let f = flow(4400, 8_000);
    assert_eq!(chosen(c.classify(&f, &h)), rs(3));
    assert_eq!(c.connect_failed(&f, rs(3)), None);
}
