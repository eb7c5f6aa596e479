//! Model-based test: random sequences of new flows, packets in both directions with random TCP
//! flags, time steps and real-server edits/removals run against the director (and its
//! connection table) and against a plain reference model written from the kernel's rules.
//! Verdicts, lookups, states and per-server active/inactive counters must agree at every step.
//!
//! Timeouts are set to multiples of the timer-wheel tick and every event happens on a tick, so
//! the model can demand exact expiry times.

mod common;

use common::{add_masq, add_rr, Mem};
use lvs_core::conn::{ConnKey, WHEEL_TICK_MS};
use lvs_core::director::{Director, DirectorConfig, DropReason, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::state::{tcp_transition, TcpDir, TcpState, Timeouts};
use lvs_core::{
    DestConfig, DestId, Duration, Endpoint, FlowKey, FwdMethod, Instant, Protocol, TcpFlags,
};
use proptest::prelude::*;
use std::collections::HashMap;

const VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);
const N_DESTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// A client packet with these flags.
    In { client: u8, flags: u8 },
    /// A reply from the connection's real server.
    Out { client: u8, flags: u8 },
    /// Advance time by this many wheel ticks and run timers.
    Advance(u16),
    /// Set a server's weight.
    Weight { dest: u8, weight: u8 },
    /// Remove a server, or add it back if removed.
    Toggle { dest: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    // flags weighted toward meaningful combinations
    let flags = prop_oneof![
        Just(0x02u8),
        Just(0x10),
        Just(0x11),
        Just(0x12),
        Just(0x04),
        Just(0x14),
        any::<u8>().prop_map(|f| f & 0x3f),
    ];
    prop_oneof![
        4 => (0u8..12, flags.clone()).prop_map(|(client, flags)| Op::In { client, flags }),
        3 => (0u8..12, flags).prop_map(|(client, flags)| Op::Out { client, flags }),
        2 => (1u16..600).prop_map(Op::Advance),
        1 => (0u8..N_DESTS as u8, 0u8..3).prop_map(|(dest, weight)| Op::Weight { dest, weight }),
        1 => (0u8..N_DESTS as u8).prop_map(|dest| Op::Toggle { dest }),
    ]
}

#[derive(Debug, Clone, Copy)]
struct MConn {
    dest: usize,
    state: TcpState,
    touched: u64,
    active: bool,
}

#[derive(Debug, Clone, Copy)]
struct MDest {
    weight: u32,
    available: bool,
}

struct Model {
    conns: HashMap<u8, MConn>,
    dests: [MDest; N_DESTS],
    timeouts: Timeouts,
}

impl Model {
    fn deadline(&self, c: &MConn) -> u64 {
        c.touched
            + self
                .timeouts
                .of(Protocol::Tcp, c.state as u8)
                .total_millis()
    }
    fn counts(&self, d: usize) -> (i64, i64) {
        let mut a = 0;
        let mut i = 0;
        for c in self.conns.values().filter(|c| c.dest == d) {
            if c.active {
                a += 1
            } else {
                i += 1
            }
        }
        (a, i)
    }
    fn expire_overdue(&mut self, now: u64) {
        let dead: Vec<u8> = self
            .conns
            .iter()
            .filter(|(_, c)| self.deadline(c) <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            self.conns.remove(&k);
        }
    }
}

fn client(n: u8) -> Endpoint {
    Endpoint::v4([198, 19, 0, 1 + n / 4], 1000 + u16::from(n % 4))
}

fn rip(i: usize) -> Endpoint {
    Endpoint::v4([198, 18, 1, 1 + i as u8], 8080)
}

fn tick_timeouts() -> Timeouts {
    // each timeout a whole number of wheel ticks, different per state
    let mut t = Timeouts::DEFAULT;
    for (i, d) in t.tcp.iter_mut().enumerate() {
        *d = Duration::from_millis(WHEEL_TICK_MS * (8 + 16 * i as u64));
    }
    t.tcp[TcpState::Established as usize] = Duration::from_millis(WHEEL_TICK_MS * 400);
    t
}

/// The model index of a director id; a removed server's stale id may alias a reused slot, so
/// members win.
fn idx_of(id: DestId, ids: &[DestId; N_DESTS], m: &Model) -> usize {
    (0..N_DESTS)
        .find(|&i| ids[i] == id && m.dests[i].available)
        .or_else(|| (0..N_DESTS).find(|&i| ids[i] == id))
        .unwrap()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut mem = Mem::new(64);
    let mut cfg = DirectorConfig::new(SipKey(11, 13));
    cfg.timeouts = tick_timeouts();
    let mut d = Director::new(cfg, mem.borrow(), Instant::ZERO).unwrap();
    let svc = add_rr(&mut d, VIP);
    let mut ids = [DestId(0); N_DESTS];
    for (i, id) in ids.iter_mut().enumerate() {
        *id = add_masq(&mut d, svc, rip(i), 1);
    }
    let mut m = Model {
        conns: HashMap::new(),
        dests: [MDest {
            weight: 1,
            available: true,
        }; N_DESTS],
        timeouts: cfg.timeouts,
    };
    let mut now = 0u64;

    for op in ops {
        let t = Instant::from_millis(now);
        match op {
            Op::In { client: c, flags } => {
                let f = TcpFlags(flags);
                let pkt = PacketMeta::new(FlowKey::new(Protocol::Tcp, client(c), VIP), f, 60);
                // the model, from the kernel's rules
                if let Some(mc) = m.conns.get(&c) {
                    if m.deadline(mc) <= now {
                        m.conns.remove(&c);
                    }
                }
                if let Some(mc) = m.conns.get(&c).copied() {
                    if f.syn() && matches!(mc.state, TcpState::TimeWait | TcpState::Close) {
                        m.conns.remove(&c);
                    }
                }
                let v = d.handle_inbound(t, &pkt);
                match m.conns.get(&c).copied() {
                    Some(mc) if !m.dests[mc.dest].available => {
                        prop_assert_eq!(v, Verdict::Drop(DropReason::DestUnavailable));
                    }
                    Some(mut mc) => {
                        match v {
                            Verdict::Forward(fw) => {
                                prop_assert_eq!(idx_of(fw.dest, &ids, &m), mc.dest);
                                prop_assert!(!fw.new_conn);
                            }
                            other => prop_assert!(false, "expected forward, got {:?}", other),
                        }
                        mc.state = tcp_transition(mc.state, TcpDir::Input, f, false);
                        mc.active = mc.state == TcpState::Established;
                        mc.touched = now;
                        m.conns.insert(c, mc);
                    }
                    None => {
                        let may_schedule = f.syn() && !f.rst();
                        let any =
                            (0..N_DESTS).any(|i| m.dests[i].available && m.dests[i].weight > 0);
                        match v {
                            Verdict::Forward(fw) => {
                                prop_assert!(may_schedule && any);
                                prop_assert!(fw.new_conn);
                                let di = idx_of(fw.dest, &ids, &m);
                                prop_assert!(m.dests[di].available && m.dests[di].weight > 0);
                                let state = tcp_transition(TcpState::None, TcpDir::Input, f, false);
                                m.conns.insert(
                                    c,
                                    MConn {
                                        dest: di,
                                        state,
                                        touched: now,
                                        active: state == TcpState::Established,
                                    },
                                );
                            }
                            Verdict::Deliver => prop_assert!(!may_schedule),
                            Verdict::Drop(DropReason::NoDestination) => {
                                prop_assert!(may_schedule && !any)
                            }
                            other => prop_assert!(false, "unexpected {:?}", other),
                        }
                    }
                }
            }
            Op::Out { client: c, flags } => {
                let f = TcpFlags(flags);
                if let Some(mc) = m.conns.get(&c) {
                    if m.deadline(mc) <= now {
                        m.conns.remove(&c);
                    }
                }
                let from = m.conns.get(&c).map(|mc| rip(mc.dest)).unwrap_or(rip(0));
                let pkt = PacketMeta::new(FlowKey::new(Protocol::Tcp, from, client(c)), f, 60);
                let v = d.handle_outbound(t, &pkt);
                match m.conns.get(&c).copied() {
                    Some(mut mc) => {
                        match v {
                            Verdict::Reply(r) => {
                                prop_assert_eq!(r.vaddr, VIP);
                                prop_assert_eq!(r.client, client(c));
                            }
                            other => prop_assert!(false, "expected reply, got {:?}", other),
                        }
                        mc.state = tcp_transition(mc.state, TcpDir::Output, f, false);
                        mc.active = mc.state == TcpState::Established;
                        mc.touched = now;
                        m.conns.insert(c, mc);
                    }
                    None => prop_assert_eq!(v, Verdict::Deliver),
                }
            }
            Op::Advance(k) => {
                now += u64::from(k) * WHEEL_TICK_MS;
                d.handle_timeout(Instant::from_millis(now));
                m.expire_overdue(now);
            }
            Op::Weight { dest, weight } => {
                let i = dest as usize;
                if m.dests[i].available {
                    d.edit_dest(
                        svc,
                        DestConfig::new(rip(i), FwdMethod::Masq, u32::from(weight)),
                    )
                    .unwrap();
                    m.dests[i].weight = u32::from(weight);
                }
            }
            Op::Toggle { dest } => {
                let i = dest as usize;
                if m.dests[i].available {
                    d.remove_dest(svc, &rip(i)).unwrap();
                    m.dests[i].available = false;
                } else {
                    let id = d
                        .add_dest(
                            svc,
                            DestConfig::new(rip(i), FwdMethod::Masq, m.dests[i].weight),
                        )
                        .unwrap();
                    // a server still referenced comes back with the same id; a free one may not
                    if m.conns.values().any(|c| c.dest == i) {
                        prop_assert_eq!(id, ids[i]);
                    }
                    ids[i] = id;
                    m.dests[i].available = true;
                }
            }
        }
        // counters and lookups agree at every step
        // per pool slot: a slot is shared over time by servers whose ids alias, but only one
        // of them can hold connections, so the model's counts summed per id must match
        for i in 0..N_DESTS {
            let (mut a, mut ia) = (0, 0);
            for j in (0..N_DESTS).filter(|&j| ids[j] == ids[i]) {
                let (x, y) = m.counts(j);
                prop_assert!(x >= 0 && y >= 0);
                a += x;
                ia += y;
            }
            match d.dest(ids[i]) {
                Some(dd) => {
                    prop_assert_eq!(
                        (i64::from(dd.active), i64::from(dd.inactive)),
                        (a, ia),
                        "dest {} after {:?}",
                        i,
                        op
                    );
                }
                None => prop_assert_eq!((a, ia), (0, 0)),
            }
        }
        for (c, mc) in &m.conns {
            let key = ConnKey {
                proto: Protocol::Tcp,
                caddr: client(*c).addr,
                cport: client(*c).port,
                vaddr: VIP.addr,
                vport: 80,
            };
            let h = d.table().find(&key, false);
            prop_assert!(h.is_some(), "model conn {} missing", c);
            let e = d.table().get(h.unwrap()).unwrap();
            prop_assert_eq!(e.state(), mc.state as u8);
            prop_assert_eq!(e.dest(), ids[mc.dest]);
        }
        prop_assert_eq!(d.table().len(), m.conns.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn director_agrees_with_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
