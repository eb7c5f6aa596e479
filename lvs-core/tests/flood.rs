//! Flood defence at library level: a table of 4096 slots, 1000 established NAT flows, then ten
//! times the capacity in spoofed SYNs (or spoofed handshakes) from random sources while the
//! established flows keep sending. Every established flow must keep being forwarded to its real
//! server; what happens to the flood (refused, evicted) depends on the defence configured.
//!
//! Run with `--nocapture` to see the numbers.

mod common;

use common::*;
use lvs_core::director::{Defense, Director, DirectorConfig, DropReason, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::state::TcpState;
use lvs_core::{
    DestConfig, DestId, Duration, Endpoint, FlowKey, FwdMethod, Instant, Persistence, Protocol,
    ServiceConfig, ServiceKey,
};
use std::collections::HashMap;

const CAP: usize = 4096;
const ESTABLISHED: usize = 1000;

/// xorshift64*: a fixed sequence of spoofed sources.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn spoofed(&mut self) -> Endpoint {
        let r = self.next();
        // 10.0.0.0/8, never one of the legitimate clients (198.19/16, 198.20/16)
        Endpoint::v4(
            [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8],
            (r >> 32) as u16 | 1024,
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Flood {
    /// Bare SYNs.
    Syn,
    /// SYN, the real server's SYN+ACK through the director, then a spoofed ACK.
    Handshake,
}

#[derive(Debug, Default)]
struct Report {
    established_packets: u64,
    established_forwarded: u64,
    established_replies: u64,
    flood_syns: u64,
    flood_forwarded: u64,
    flood_refused: u64,
    legit_tried: u64,
    legit_ok: u64,
    refused: u64,
    evicted: u64,
    max_len: usize,
}

/// A legitimate handshake: SYN, SYN+ACK, ACK, and the server's first ACK (which establishes a
/// NAT connection in secure_tcp mode too). Returns the real server when it got through.
fn handshake(
    d: &mut Director<'_, TestRr>,
    now: Instant,
    c: Endpoint,
) -> Option<(DestId, Endpoint)> {
    let Verdict::Forward(f) = d.handle_inbound(now, &pkt(c, SYN)) else {
        return None;
    };
    let Verdict::Reply(_) = d.handle_outbound(now, &reply(f.daddr, c, SYNACK)) else {
        return None;
    };
    match d.handle_inbound(now, &pkt(c, ACK)) {
        Verdict::Forward(g) if g.dest == f.dest && !g.new_conn => {}
        _ => return None,
    }
    let Verdict::Reply(_) = d.handle_outbound(now, &reply(f.daddr, c, ACK)) else {
        return None;
    };
    Some((f.dest, f.daddr))
}

/// [`run_service`] on a service without persistence.
fn run(name: &str, cfg: DirectorConfig, flood: Flood) -> Report {
    run_service(name, cfg, flood, false)
}

/// Scenario `name`: a director with `cfg` and four real servers (behind a persistent service if
/// `persistent`) takes `flood` amid established flows and a few new legitimate clients.
fn run_service(name: &str, cfg: DirectorConfig, flood: Flood, persistent: bool) -> Report {
    let mut mem = Mem::new(CAP);
    let mut d = Director::new(cfg, mem.borrow(), Instant::ZERO).unwrap();
    let mut svc = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, VIP));
    if persistent {
        svc = svc.with_persistence(Persistence::new(Duration::from_secs(300)));
    }
    let s = d.add_service(svc, TestRr::default()).unwrap();
    for n in 1..=4 {
        add_masq(&mut d, s, rs(n), 1);
    }
    let mut r = Report::default();
    let mut t = Instant::ZERO;

    // the flows established before the flood
    let mut est: Vec<(Endpoint, DestId, Endpoint)> = Vec::new();
    for i in 0..ESTABLISHED {
        let c = Endpoint::v4(
            [198, 19, (i / 250) as u8, (i % 250) as u8 + 1],
            40000 + i as u16,
        );
        let (id, daddr) = handshake(&mut d, t, c).expect("before the flood every handshake works");
        est.push((c, id, daddr));
        t += Duration::from_millis(1);
    }
    // persistence puts a template next to each connection
    let per_client = if persistent { 2 } else { 1 };
    assert_eq!(d.table().len(), ESTABLISHED * per_client);
    for (c, id, _) in &est {
        let e = d
            .table()
            .iter()
            .find(|(_, e)| e.client() == *c && !e.is_template())
            .unwrap()
            .1;
        assert_eq!(e.state(), TcpState::Established as u8);
        assert_eq!(e.dest(), *id);
    }

    // the flood: 10x capacity, with established traffic and a few new legitimate clients mixed in
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut legit = 0u32;
    let mut legit_dest: HashMap<Endpoint, DestId> = HashMap::new();
    let total = 10 * CAP;
    for i in 0..total {
        let c = rng.spoofed();
        r.flood_syns += 1;
        match d.handle_inbound(t, &pkt(c, SYN)) {
            Verdict::Forward(f) => {
                r.flood_forwarded += 1;
                if flood == Flood::Handshake {
                    // the real server answers the spoofed source through the director, and the
                    // attacker blindly completes the handshake
                    let _ = d.handle_outbound(t, &reply(f.daddr, c, SYNACK));
                    let _ = d.handle_inbound(t, &pkt(c, ACK));
                }
            }
            Verdict::Drop(DropReason::TableFull) => r.flood_refused += 1,
            other => panic!("flood SYN: {other:?}"),
        }
        if i % 4 == 0 {
            let (c, id, daddr) = est[(i / 4) % ESTABLISHED];
            r.established_packets += 1;
            match d.handle_inbound(t, &pkt(c, ACK)) {
                Verdict::Forward(f) if f.dest == id && f.daddr == daddr && !f.new_conn => {
                    r.established_forwarded += 1
                }
                other => panic!("{name}: established flow {c} got {other:?}"),
            }
            match d.handle_outbound(t, &reply(daddr, c, ACK)) {
                Verdict::Reply(rp) if rp.client == c && rp.vaddr == VIP => {
                    r.established_replies += 1
                }
                other => panic!("{name}: reply of {c} got {other:?}"),
            }
        }
        if i % 256 == 0 {
            let c = Endpoint::v4(
                [198, 20, (legit / 250) as u8, (legit % 250) as u8 + 1],
                50000,
            );
            legit += 1;
            r.legit_tried += 1;
            if let Some((id, _)) = handshake(&mut d, t, c) {
                r.legit_ok += 1;
                legit_dest.insert(c, id);
            }
        }
        if i % 4 == 3 {
            t += Duration::from_millis(1);
        }
        if i % 400 == 0 {
            d.handle_timeout(t);
        }
        r.max_len = r.max_len.max(d.table().len());
        assert!(d.table().len() <= CAP);
    }
    // the new clients that got in keep their server too
    for (c, id) in &legit_dest {
        match d.handle_inbound(t, &pkt(*c, ACK)) {
            Verdict::Forward(f) => assert_eq!(f.dest, *id),
            other => panic!("{name}: new client {c} got {other:?}"),
        }
    }
    r.refused = d.counters().refused_full;
    r.evicted = d.counters().evicted;
    // counters never drift: per-server counts match the table
    for id in 0..32u16 {
        if let Some(dd) = d.dest(DestId(id)) {
            let (mut a, mut ia, mut p) = (0, 0, 0);
            for (_, e) in d.table().iter().filter(|(_, e)| e.dest() == DestId(id)) {
                if e.is_template() {
                    p += 1;
                } else if e.flags().contains(lvs_core::conn::ConnFlags::INACTIVE) {
                    ia += 1;
                } else {
                    a += 1;
                }
            }
            assert_eq!(
                (dd.active, dd.inactive, dd.persistent),
                (a, ia, p),
                "{name}: dest {id}"
            );
        }
    }
    println!(
        "{name:<44} capacity {CAP}, established flows {ESTABLISHED}, SYNs sent {}, refused {}, \
         evicted {}, established forwarded {:.1}% ({}/{}), replies {}, new legit clients {}/{}, \
         max table {} ({} bytes of slots, {} bytes of director)",
        r.flood_syns,
        r.refused,
        r.evicted,
        100.0 * r.established_forwarded as f64 / r.established_packets as f64,
        r.established_forwarded,
        r.established_packets,
        r.established_replies,
        r.legit_ok,
        r.legit_tried,
        r.max_len,
        CAP * core::mem::size_of::<lvs_core::conn::ConnSlot>(),
        core::mem::size_of::<Director<'_, TestRr>>(),
    );
    // whatever the flood and the defence, every packet of the established flows passes
    assert_eq!(r.established_forwarded, r.established_packets, "{name}");
    r
}

fn cfg() -> DirectorConfig {
    DirectorConfig::new(SipKey(0x0123_4567, 0x89ab_cdef))
}

/// [`cfg`] with `drop_entry` on.
fn drop_entry() -> DirectorConfig {
    let mut c = cfg();
    c.drop_entry = true;
    c
}

#[test]
fn syn_flood_without_defence_refuses_and_keeps_established() {
    let r = run("no defence, SYN flood", cfg(), Flood::Syn);
    assert_eq!(r.established_replies, r.established_packets);
    assert_eq!(r.evicted, 0);
    // the table filled up, and everything after that was refused and counted
    assert_eq!(r.max_len, CAP);
    assert!(r.flood_refused > 9 * CAP as u64 - ESTABLISHED as u64);
    assert_eq!(r.refused, r.flood_refused + (r.legit_tried - r.legit_ok));
    assert!(
        r.legit_ok < r.legit_tried / 4,
        "a full table has no room for new clients"
    );
}

#[test]
fn syn_flood_with_drop_entry_evicts_embryonic_only() {
    let r = run("drop_entry, SYN flood", drop_entry(), Flood::Syn);
    assert_eq!(r.established_replies, r.established_packets);
    // every flood SYN got a slot by evicting an older one
    assert_eq!(r.flood_refused, 0);
    assert!(r.evicted >= r.flood_syns - CAP as u64);
    // and new legitimate clients still get in
    assert_eq!(r.legit_ok, r.legit_tried);
}

#[test]
fn drop_entry_with_a_threshold_keeps_slots_free() {
    let mut c = drop_entry();
    c.defense_threshold = 256;
    let r = run("drop_entry + threshold 256, SYN flood", c, Flood::Syn);
    assert_eq!(r.legit_ok, r.legit_tried);
    // eviction starts when fewer than 257 slots are free, so the table never fills
    assert!(r.max_len <= CAP - 256, "{}", r.max_len);
}

#[test]
fn handshake_flood_needs_secure_tcp() {
    // without secure_tcp, a blind ACK establishes a spoofed NAT connection: those are never
    // evicted, so the table fills with them (the established flows still pass)
    let r = run(
        "drop_entry, spoofed-handshake flood",
        drop_entry(),
        Flood::Handshake,
    );
    assert!(r.flood_refused > 0);
    assert!(r.legit_ok < r.legit_tried / 2);

    // with secure_tcp the real server must answer before ESTABLISHED: spoofed handshakes stay
    // embryonic and are evicted
    let mut c = drop_entry();
    c.secure_tcp = Defense::Always;
    let r = run(
        "drop_entry + secure_tcp, handshake flood",
        c,
        Flood::Handshake,
    );
    assert_eq!(r.flood_refused, 0);
    assert_eq!(r.legit_ok, r.legit_tried);

    // automatic secure_tcp switches on under pressure, which a flood brings quickly
    let mut c = drop_entry();
    c.secure_tcp = Defense::Auto;
    c.defense_threshold = 512;
    let r = run(
        "drop_entry + auto secure_tcp, handshake flood",
        c,
        Flood::Handshake,
    );
    assert_eq!(r.legit_ok, r.legit_tried);
}

#[test]
fn persistent_service_flood_evicts_templates_with_their_connections() {
    let r = run_service(
        "drop_entry, SYN flood on a persistent service",
        drop_entry(),
        Flood::Syn,
        true,
    );
    assert_eq!(r.flood_refused, 0);
    assert_eq!(r.legit_ok, r.legit_tried);
}

#[test]
fn secure_tcp_auto_follows_table_pressure() {
    let mut mem = Mem::new(16);
    let mut c = cfg();
    c.secure_tcp = Defense::Auto;
    c.defense_threshold = 4;
    let mut d = Director::new(c, mem.borrow(), Instant::ZERO).unwrap();
    let s = add_rr(&mut d, VIP);
    add_masq(&mut d, s, rs(1), 1);
    let t = Instant::ZERO;
    // 11 entries: 5 free, no pressure: a client ACK establishes (normal table)
    for i in 0..11u16 {
        let _ = d.handle_inbound(t, &pkt(Endpoint::v4([10, 0, 0, 1], i + 1), SYN));
    }
    assert!(!d.under_pressure() && !d.secure_tcp_active());
    let a = Endpoint::v4([198, 19, 0, 1], 1);
    let _ = d.handle_inbound(t, &pkt(a, SYN));
    // 12 entries, 4 free: under pressure now
    assert!(d.under_pressure() && d.secure_tcp_active());
    let _ = d.handle_inbound(t, &pkt(a, ACK));
    let state = |d: &Director<'_, TestRr>, c: Endpoint| {
        d.table()
            .iter()
            .find(|(_, e)| e.client() == c)
            .unwrap()
            .1
            .state()
    };
    assert_eq!(
        state(&d, a),
        TcpState::SynRecv as u8,
        "secure table: the client's ACK is not enough"
    );
    let _ = d.handle_outbound(t, &reply(rs(1), a, SYNACK));
    assert_eq!(state(&d, a), TcpState::SynAck as u8);
    let _ = d.handle_outbound(t, &reply(rs(1), a, ACK));
    assert_eq!(state(&d, a), TcpState::Established as u8);
}

#[test]
fn secure_tcp_keeps_the_kernels_timeouts() {
    // current kernels switch only the state table: SYN_RECV still lives 60 s, SYNACK 120 s
    let mut mem = Mem::new(64);
    let mut c = cfg();
    c.secure_tcp = Defense::Always;
    let mut d = Director::new(c, mem.borrow(), Instant::ZERO).unwrap();
    let s = add_rr(&mut d, VIP);
    d.add_dest(s, DestConfig::new(rs(1), FwdMethod::DirectRoute, 1))
        .unwrap();
    let nat = d
        .add_service(
            ServiceConfig::new(ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip: Endpoint::v4([198, 18, 0, 2], 80),
            }),
            TestRr::default(),
        )
        .unwrap();
    add_masq(&mut d, nat, rs(2), 1);
    let c1 = Endpoint::v4([198, 19, 0, 1], 1);
    let c2 = Endpoint::v4([198, 19, 0, 2], 2);
    // DR: a SYN goes to SYNACK in the secure table
    let _ = d.handle_inbound(Instant::ZERO, &pkt(c1, SYN));
    let p2 = PacketMeta::new(
        FlowKey::new(Protocol::Tcp, c2, Endpoint::v4([198, 18, 0, 2], 80)),
        SYN,
        60,
    );
    let _ = d.handle_inbound(Instant::ZERO, &p2);
    let st: Vec<(Endpoint, u8)> = d
        .table()
        .iter()
        .map(|(_, e)| (e.client(), e.state()))
        .collect();
    assert!(st.contains(&(c1, TcpState::SynAck as u8)));
    assert!(st.contains(&(c2, TcpState::SynRecv as u8)));
    d.handle_timeout(Instant::from_secs(59));
    assert_eq!(d.table().len(), 2);
    d.handle_timeout(Instant::from_secs(61));
    assert_eq!(d.table().len(), 1, "SYN_RECV: 60 s");
    d.handle_timeout(Instant::from_secs(119));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(Instant::from_secs(121));
    assert_eq!(d.table().len(), 0, "SYNACK: 120 s");
}

#[test]
fn eviction_prefers_the_oldest_embryonic_entry() {
    let mut mem = Mem::new(8);
    let mut d = Director::new(drop_entry(), mem.borrow(), Instant::ZERO).unwrap();
    let s = add_rr(&mut d, VIP);
    add_masq(&mut d, s, rs(1), 1);
    // 4 established, then 4 embryonic at 1 s intervals
    for i in 0..4u16 {
        handshake(&mut d, Instant::ZERO, Endpoint::v4([198, 19, 0, 1], i + 1)).unwrap();
    }
    let emb = |i: u16| Endpoint::v4([10, 0, 0, 1], 100 + i);
    for i in 0..4u16 {
        let _ = d.handle_inbound(Instant::from_secs(u64::from(i)), &pkt(emb(i), SYN));
    }
    assert_eq!(d.table().len(), 8);
    // each new SYN evicts the oldest embryonic entry still there
    for k in 0..4u16 {
        let v = d.handle_inbound(Instant::from_secs(10), &pkt(emb(10 + k), SYN));
        assert!(matches!(v, Verdict::Forward(_)));
        let present = |c: Endpoint| d.table().iter().any(|(_, e)| e.client() == c);
        for j in 0..4u16 {
            assert_eq!(present(emb(j)), j > k, "after {} evictions", k + 1);
        }
    }
    assert_eq!(d.counters().evicted, 4);
    // established entries are never candidates: with only those left, a new flow is refused
    for i in 0..4u16 {
        handshake(&mut d, Instant::from_secs(11), emb(10 + i)).unwrap_or_else(|| {
            // the embryonic ones complete their handshake and become established
            panic!("client {i}")
        });
    }
    assert_eq!(
        d.handle_inbound(Instant::from_secs(12), &pkt(emb(50), SYN)),
        Verdict::Drop(DropReason::TableFull)
    );
    assert_eq!(d.counters().refused_full, 1);
}
