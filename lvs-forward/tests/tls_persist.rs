//! The `tls` persistence engine (`lvs_core::tls_persist`) fed by the TLS hello readers with
//! real OpenSSL handshakes (tests/data/tls, see its MANIFEST.txt): each `*-full*` capture and
//! the `*-resume-*` capture after it are one client's first visit and its return to the same
//! `s_server`, so what the engine learns from the first must route the second.

use lvs_core::hash::SipKey;
use lvs_core::tls_persist::{
    Decision, HelloKeys, ReplyKeys, SessionSlot, SniRule, TicketKeySlot, TicketSlot, TlsPersist,
    TlsPersistConfig, TlsStorage, TLS13,
};
use lvs_core::Instant;
use lvs_forward::tls::{read_client_hello, read_server_hello, ticket_key_name, MAX_HELLO};

macro_rules! capture {
    ($name:literal) => {
        (
            include_bytes!(concat!("data/tls/", $name, ".client.bin")) as &[u8],
            include_bytes!(concat!("data/tls/", $name, ".server.bin")) as &[u8],
        )
    };
}

/// A client's first visit (the `full` capture) and its return (`resume`), read: its
/// ClientHello and the ServerHello, then the same on its return.
macro_rules! visit {
    ($full:literal, $resume:literal) => {{
        let (c1, s1) = capture!($full);
        let (c2, s2) = capture!($resume);
        let (first, reply) = (client(c1), server(s1).unwrap());
        (first, reply, client(c2), server(s2).unwrap())
    }};
}

/// A ClientHello's keys, owned (the reader's result borrows its scratch).
#[derive(Debug, Clone, PartialEq)]
struct Hello {
    name: Option<String>,
    session_id: Vec<u8>,
    ticket: Option<[u8; 16]>,
    tls13: bool,
}

impl Hello {
    fn keys(&self) -> HelloKeys<'_> {
        HelloKeys {
            server_name: self.name.as_deref(),
            session_id: &self.session_id,
            ticket_key_name: self.ticket,
            tls13: self.tls13,
        }
    }
}

/// A ServerHello's keys, owned; `None` for a HelloRetryRequest.
struct Reply {
    session_id: Vec<u8>,
    psk: bool,
    version: u16,
}

impl Reply {
    fn keys(&self) -> ReplyKeys<'_> {
        ReplyKeys {
            session_id: &self.session_id,
            psk_selected: self.psk,
            version: self.version,
        }
    }
}

fn client(bytes: &[u8]) -> Hello {
    let mut scratch = vec![0u8; MAX_HELLO];
    let h = read_client_hello(bytes, &mut scratch).unwrap().unwrap();
    let ticket = h
        .session_ticket()
        .and_then(ticket_key_name)
        .or_else(|| h.psk_identities().next().and_then(ticket_key_name));
    Hello {
        name: h.server_name().map(str::to_string),
        session_id: h.session_id().to_vec(),
        ticket,
        tls13: h.offers_tls13(),
    }
}

fn server(bytes: &[u8]) -> Option<Reply> {
    let mut scratch = vec![0u8; MAX_HELLO];
    let h = read_server_hello(bytes, &mut scratch).unwrap().unwrap();
    (!h.is_hello_retry_request()).then(|| Reply {
        session_id: h.session_id().to_vec(),
        psk: h.selected_psk().is_some(),
        version: h.selected_version(),
    })
}

fn engine() -> TlsPersist<'static, u8> {
    let storage = TlsStorage {
        sessions: Box::leak(vec![SessionSlot::EMPTY; 64].into_boxed_slice()),
        tickets: Box::leak(vec![TicketSlot::EMPTY; 64].into_boxed_slice()),
        ticket_keys: Box::leak(vec![TicketKeySlot::EMPTY; 4].into_boxed_slice()),
        sni_rules: Box::leak(vec![SniRule::EMPTY; 4].into_boxed_slice()),
    };
    let mut e = TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(3, 4)).unwrap();
    e.sni_route("www.example.com", 1).unwrap();
    e.sni_route("*.example.org", 2).unwrap();
    e
}

const T0: Instant = Instant::from_secs(1);
const T1: Instant = Instant::from_secs(2);
const HOME: u8 = 7;

#[test]
fn tls12_session_id_learned_from_the_full_handshake_routes_the_resumption() {
    let (first, reply, back, resumed) = visit!("tls12-full-noticket", "tls12-resume-sessionid");
    let mut e = engine();
    assert_eq!(e.decide(T0, &first.keys(), |_| true), Decision::Pool(1));
    assert_eq!(reply.version, 0x0303);
    assert_eq!(reply.session_id.len(), 32, "OpenSSL names a session id");
    e.learn(T0, HOME, &first.keys(), &reply.keys());
    assert_eq!(e.sessions_len(), 1);

    assert_eq!(
        back.session_id, reply.session_id,
        "the client offers it back"
    );
    assert_eq!(
        e.decide(T1, &back.keys(), |_| true),
        Decision::Remembered(HOME)
    );
    // the server resumed it (echoes the id): a refresh, no new mapping
    assert_eq!(resumed.session_id, back.session_id);
    e.learn(T1, HOME, &back.keys(), &resumed.keys());
    let c = *e.counters();
    assert_eq!((c.hits, c.learned, c.misses), (1, 1, 0));
    let listed: Vec<String> = e.entries().map(|x| x.data.to_string()).collect();
    let hex: String = reply
        .session_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(listed, [hex]);
}

#[test]
fn tls12_ticket_is_learned_from_the_accepted_resumption_or_configured_before() {
    let (first, reply, back, resumed) = visit!("tls12-full-ticket", "tls12-resume-ticket");
    let mut e = engine();
    // OpenSSL issues a ticket and no session id: nothing to learn from the ServerHello
    assert!(reply.session_id.is_empty());
    e.learn(T0, HOME, &first.keys(), &reply.keys());
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 0));

    let key = back.ticket.expect("an RFC 5077 ticket with a key name");
    assert!(!back.session_id.is_empty());
    // unknown key name: a miss, the pool decides
    assert_eq!(e.decide(T1, &back.keys(), |_| true), Decision::Pool(1));
    // the server accepted it (echoes the client's session id): learned
    assert_eq!(resumed.session_id, back.session_id);
    e.learn(T1, HOME, &back.keys(), &resumed.keys());
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 1));
    assert_eq!(
        e.decide(T1, &back.keys(), |_| true),
        Decision::Remembered(HOME)
    );

    // with the server's key name configured, the first return is routed too
    let mut e = engine();
    e.add_ticket_key(key, HOME).unwrap();
    assert_eq!(
        e.decide(T1, &back.keys(), |_| true),
        Decision::Remembered(HOME)
    );
}

#[test]
fn tls13_psk_is_learned_when_selected_and_the_legacy_session_id_never() {
    let (first, reply, back, resumed) = visit!("tls13-full", "tls13-resume-psk");
    let mut e = engine();
    assert!(
        first.tls13 && first.session_id.len() == 32,
        "a compatibility id"
    );
    assert_eq!(reply.version, TLS13);
    assert_eq!(reply.session_id, first.session_id, "echoed");
    assert_eq!(e.decide(T0, &first.keys(), |_| true), Decision::Pool(2));
    e.learn(T0, HOME, &first.keys(), &reply.keys());
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 0));

    assert!(
        back.ticket.is_some(),
        "the PSK identity is an RFC 5077-format ticket"
    );
    assert_eq!(e.decide(T1, &back.keys(), |_| true), Decision::Pool(2));
    assert!(resumed.psk);
    e.learn(T1, HOME, &back.keys(), &resumed.keys());
    assert_eq!((e.sessions_len(), e.tickets_len()), (0, 1));
    assert_eq!(
        e.decide(T1, &back.keys(), |_| true),
        Decision::Remembered(HOME)
    );
    // and the ticket's server down: the pool, counted
    assert_eq!(e.decide(T1, &back.keys(), |s| s != HOME), Decision::Pool(2));
    let c = *e.counters();
    assert_eq!((c.fresh, c.misses, c.hits, c.fallbacks), (1, 1, 1, 1));
}

#[test]
fn hello_retry_request_and_nameless_hellos() {
    let (c, s) = capture!("tls13-hrr");
    assert!(server(s).is_none(), "a HelloRetryRequest");
    let mut e = engine();
    assert_eq!(e.decide(T0, &client(c).keys(), |_| true), Decision::Pool(1));

    let (c, _) = capture!("tls12-nosni");
    let h = client(c);
    assert_eq!(h.name, None);
    assert_eq!(e.decide(T0, &h.keys(), |_| true), Decision::Pool(0));
    e.sni_mut().set_default_pool(None);
    assert_eq!(e.decide(T0, &h.keys(), |_| true), Decision::Refuse);
    assert_eq!(e.counters().refused, 1);
}
