// tls_classify: the splicer's TLS classifier (ClientHello reader + `tls` persistence engine +
// a scheduler per pool) driven by arbitrary client streams, server replies, failed connects,
// closes and time steps, over a few connections at once. After every step: nothing panicked,
// a chosen server is one of the pools' servers, a rejection is the unrecognized_name alert,
// and the counters stay consistent (no more ServerHellos than hellos, no more resumptions than
// ServerHellos).
//
// Input: a list of operations, each an op byte then its arguments; an exhausted input ends it.

use lvs_core::hash::SipKey;
use lvs_core::tls_persist::{
    SessionSlot, SniRule, TicketKeySlot, TicketSlot, TlsPersist, TlsPersistConfig, TlsStorage,
};
use lvs_core::{Duration, Instant};
use lvs_forward::splice::hybrid::Pool;
use lvs_forward::splice::tls::{OnError, TlsClassifier, TlsClassifierConfig, ALERT_UNRECOGNIZED_NAME};
use lvs_forward::splice::{Classification, ContentClassifier, FlowInfo};
use lvs_sched::{AnyScheduler, SchedOptions};
use std::net::{Ipv4Addr, SocketAddrV4};

const MAX_STEPS: usize = 400;
const CONNS: usize = 4;

fn rs(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, n), 443)
}

type Classifier<'a> = TlsClassifier<'a, AnyScheduler<'static>, 4, 8>;

/// The engine's memory (borrowed by the classifier, freed when the run ends).
struct Memory {
    sessions: Vec<SessionSlot<SocketAddrV4>>,
    tickets: Vec<TicketSlot<SocketAddrV4>>,
    keys: Vec<TicketKeySlot<SocketAddrV4>>,
    rules: Vec<SniRule>,
}

fn classifier(flags: u8, m: &mut Memory) -> Box<Classifier<'_>> {
    let storage = TlsStorage {
        sessions: &mut m.sessions,
        tickets: &mut m.tickets,
        ticket_keys: &mut m.keys,
        sni_rules: &mut m.rules,
    };
    let mut e = TlsPersist::new(TlsPersistConfig::with_timeout(Duration::from_secs(5)), storage, SipKey(1, 2))
        .expect("power-of-two tables");
    let _ = e.sni_route("a.test", 0);
    let _ = e.sni_route("*.b.test", 1);
    e.sni_mut().set_default_pool(if flags & 1 == 0 { Some(0) } else { None });
    e.sni_mut().set_refuse_unknown(flags & 2 != 0);
    let _ = e.add_ticket_key([0x33; 16], rs(3));
    let rr = || AnyScheduler::from_name("rr", &SchedOptions::default()).expect("rr");
    let wlc = || AnyScheduler::from_name("wlc", &SchedOptions::default()).expect("wlc");
    let pools = [
        Pool::with_servers(&[(rs(1), 1), (rs(2), 1)], rr()),
        Pool::with_servers(&[(rs(2), 1), (rs(3), 2)], wlc()),
    ];
    let mut cfg = TlsClassifierConfig::new(SipKey(3, 4));
    cfg.on_error = if flags & 4 == 0 { OnError::Reset } else { OnError::Pool(1) };
    cfg.hold_down = Duration::from_millis(500);
    Box::new(TlsClassifier::new(e, pools, cfg))
}

#[derive(Default, Clone)]
struct Conn {
    port: u16,
    client: Vec<u8>,
    server: Option<SocketAddrV4>,
    reply_at: usize,
    done: bool,
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn bytes(&mut self) -> Option<&[u8]> {
        let n = usize::from(u16::from_be_bytes([self.u8()?, self.u8()?]));
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
}

pub fn run(data: &[u8]) {
    let mut input = Input(data);
    let Some(flags) = input.u8() else { return };
    let mut mem = Memory {
        sessions: vec![SessionSlot::EMPTY; 16],
        tickets: vec![TicketSlot::EMPTY; 16],
        keys: vec![TicketKeySlot::EMPTY; 4],
        rules: vec![SniRule::EMPTY; 4],
    };
    let mut c = classifier(flags, &mut mem);
    let servers = [rs(1), rs(2), rs(3)];
    let mut conns: Vec<Conn> = (0..CONNS).map(|k| Conn { port: 1000 + k as u16, ..Conn::default() }).collect();
    let mut now = 0u64;
    let mut next_port = 2000u16;
    let mut classify_calls = 0u64;
    for _ in 0..MAX_STEPS {
        let Some(op) = input.u8() else { break };
        let k = usize::from(op >> 4) % CONNS;
        let flow = FlowInfo {
            client: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), conns[k].port),
            vip: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), 443),
            now: Instant::from_millis(now),
        };
        match op & 15 {
            // client bytes: the whole stream so far is classified, until decided
            0 => {
                let Some(b) = input.bytes() else { break };
                if conns[k].done {
                    continue;
                }
                conns[k].client.extend_from_slice(b);
                classify_calls += 1;
                match c.classify(&flow, &conns[k].client) {
                    Classification::NeedMore => {}
                    Classification::Choose(s) => {
                        assert!(servers.contains(&s), "chose {s}");
                        conns[k].server = Some(s);
                        conns[k].done = true;
                    }
                    Classification::Reject(r) => {
                        assert_eq!(r, ALERT_UNRECOGNIZED_NAME);
                        conns[k].done = true;
                    }
                    Classification::Reset => conns[k].done = true,
                }
            }
            // server bytes, in order, on a chosen connection
            1 => {
                let Some(b) = input.bytes() else { break };
                if let Some(s) = conns[k].server {
                    let _ = c.reply(&flow, s, conns[k].reply_at, b);
                    conns[k].reply_at += b.len();
                }
            }
            2 => {
                if let Some(s) = conns[k].server {
                    c.closed(s);
                    let next = c.connect_failed(&flow, s);
                    if let Some(n) = next {
                        assert!(servers.contains(&n), "moved to {n}");
                    }
                    conns[k].server = next;
                    conns[k].reply_at = 0;
                }
            }
            3 => {
                if let Some(s) = conns[k].server.take() {
                    c.closed(s);
                }
                conns[k] = Conn { port: next_port, ..Conn::default() };
                next_port = next_port.wrapping_add(1).max(2000);
            }
            4 => {
                now += u64::from(input.u8().unwrap_or(0)) * 20;
                c.tick(Instant::from_millis(now), 4);
            }
            5 if !conns[k].done => {
                if let Classification::Choose(s) = c.overflow(&flow) {
                    assert!(servers.contains(&s));
                    conns[k].server = Some(s);
                }
                conns[k].done = true;
            }
            _ => {}
        }
        let st = c.stats();
        assert!(st.hellos <= classify_calls);
        assert!(st.server_hellos <= st.hellos + st.moved);
        assert!(st.resumed + st.full_handshakes == st.server_hellos);
        for p in c.pools() {
            for d in p.dests() {
                assert!(d.active <= 10_000, "runaway connection count");
            }
        }
    }
}
