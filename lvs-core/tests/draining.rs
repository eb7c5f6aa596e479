//! Draining and reuse, each checked against the kernel's rules (`ip_vs_in_hook`,
//! `is_new_conn_expected`, `ip_vs_check_template`, `ip_vs_expire_nodest_conn_flush`):
//! `conn_reuse_mode`, `expire_nodest_conn` (packet path and the sweep after a removal),
//! `expire_quiescent_template`, UDP flows to a removed real server, and weight-0 draining.

mod common;

use common::*;
use lvs_core::director::{Director, DirectorConfig, DropReason, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::state::TcpState;
use lvs_core::{
    DestConfig, DestId, Duration, Endpoint, FlowKey, FwdMethod, Instant, Persistence, Protocol,
    ServiceConfig, ServiceId, ServiceKey, TcpFlags,
};

const DNS: Endpoint = Endpoint::v4([198, 18, 0, 1], 53);

fn udp(c: Endpoint) -> PacketMeta {
    PacketMeta::new(FlowKey::new(Protocol::Udp, c, DNS), TcpFlags::NONE, 80)
}

fn fwd(v: Verdict) -> (DestId, bool) {
    match v {
        Verdict::Forward(f) => (f.dest, f.new_conn),
        other => panic!("expected forward, got {other:?}"),
    }
}

struct Setup {
    svc: ServiceId,
    ids: Vec<DestId>,
}

fn director<'m>(
    mem: &'m mut Mem,
    cfg: impl FnOnce(&mut DirectorConfig),
    svc: ServiceConfig,
    fwd: FwdMethod,
    n: u8,
) -> (Director<'m, TestRr>, Setup) {
    let mut c = DirectorConfig::new(SipKey(21, 22));
    cfg(&mut c);
    let mut d = Director::new(c, mem.borrow(), t(0)).unwrap();
    let s = d.add_service(svc, TestRr::default()).unwrap();
    let ids = (1..=n)
        .map(|i| d.add_dest(s, DestConfig::new(rs(i), fwd, 1)).unwrap())
        .collect();
    (d, Setup { svc: s, ids })
}

/// [`director`] of the TCP service with two masqueraded real servers, its configuration
/// changed by `cfg`.
fn nat_pair(mem: &mut Mem, cfg: impl FnOnce(&mut DirectorConfig)) -> (Director<'_, TestRr>, Setup) {
    director(mem, cfg, tcp_svc(), FwdMethod::Masq, 2)
}

fn tcp_svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, VIP))
}

fn udp_svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Udp, DNS))
}

/// SYN, SYN+ACK, ACK through a NAT director; returns the real server.
fn open(d: &mut Director<'_, TestRr>, now: Instant, c: Endpoint) -> DestId {
    let (id, new) = fwd(d.handle_inbound(now, &pkt(c, SYN)));
    assert!(new);
    let daddr = d.dest(id).unwrap().addr;
    let _ = d.handle_outbound(now, &reply(daddr, c, SYNACK));
    let _ = d.handle_inbound(now, &pkt(c, ACK));
    id
}

fn state_of(d: &Director<'_, TestRr>, c: Endpoint) -> Option<u8> {
    d.table()
        .iter()
        .find(|(_, e)| e.client() == c && !e.is_template())
        .map(|(_, e)| e.state())
}

/// Per-server counts equal what the table holds.
fn check_counts(d: &Director<'_, TestRr>) {
    for i in 0..32u16 {
        let id = DestId(i);
        let (a, ia, p) = table_counts(d, id);
        match d.dest(id) {
            Some(dd) => assert_eq!((dd.active, dd.inactive, dd.persistent), (a, ia, p), "{id}"),
            None => assert_eq!((a, ia, p), (0, 0, 0), "{id} freed while referenced"),
        }
    }
}

// ----- conn_reuse_mode -----------------------------------------------------------------------

#[test]
fn reuse_of_a_closed_port_is_rescheduled() {
    // TIME_WAIT (both FINs) and CLOSE (RST) entries: a SYN on the same client port is a new
    // connection, scheduled afresh (round robin moves on to the other server)
    for close in ["time_wait", "close"] {
        let mut mem = Mem::new(64);
        let (mut d, s) = nat_pair(&mut mem, |_| {});
        let c = client(1, 5555);
        let first = open(&mut d, t(0), c);
        let daddr = d.dest(first).unwrap().addr;
        if close == "time_wait" {
            let _ = d.handle_inbound(t(1), &pkt(c, FINACK));
            let _ = d.handle_outbound(t(1), &reply(daddr, c, FINACK));
            assert_eq!(state_of(&d, c), Some(TcpState::TimeWait as u8));
        } else {
            let _ = d.handle_inbound(t(1), &pkt(c, RST));
            assert_eq!(state_of(&d, c), Some(TcpState::Close as u8));
        }
        let (again, new) = fwd(d.handle_inbound(t(2), &pkt(c, SYN)));
        assert!(new, "{close}: a new connection");
        assert_ne!(again, first, "{close}: rescheduled");
        assert_eq!(d.counters().rescheduled, 1);
        assert_eq!(d.dest(first).unwrap().total_conns(), 0);
        assert_eq!(d.table().len(), 1);
        let _ = s;
        check_counts(&d);
    }
}

#[test]
fn reuse_mode_bit_2_covers_fin_wait_on_direct_routing_only() {
    for (method, mode, expect_resched) in [
        (FwdMethod::DirectRoute, 1u8, false),
        (FwdMethod::DirectRoute, 3, true),
        (FwdMethod::Masq, 3, false),
    ] {
        let mut mem = Mem::new(64);
        let (mut d, _) = director(&mut mem, |c| c.conn_reuse_mode = mode, tcp_svc(), method, 2);
        let c = client(1, 6000);
        let (first, _) = fwd(d.handle_inbound(t(0), &pkt(c, SYN)));
        let _ = d.handle_inbound(t(0), &pkt(c, ACK));
        if method == FwdMethod::Masq {
            // NAT FIN_WAIT: the real server closes first
            let daddr = d.dest(first).unwrap().addr;
            let _ = d.handle_outbound(t(0), &reply(daddr, c, ACK));
            let _ = d.handle_outbound(t(1), &reply(daddr, c, FINACK));
        } else {
            let _ = d.handle_inbound(t(1), &pkt(c, FINACK));
        }
        assert_eq!(state_of(&d, c), Some(TcpState::FinWait as u8), "{method:?}");
        let (again, new) = fwd(d.handle_inbound(t(2), &pkt(c, SYN)));
        assert_eq!(new, expect_resched, "{method:?} mode {mode}");
        assert_eq!(again != first, expect_resched);
        check_counts(&d);
    }
}

#[test]
fn reuse_mode_0_and_controlled_connections_keep_the_entry() {
    // mode 0: the TIME_WAIT entry is reused
    let mut mem = Mem::new(64);
    let (mut d, _) = nat_pair(&mut mem, |c| c.conn_reuse_mode = 0);
    let c = client(1, 7000);
    let first = open(&mut d, t(0), c);
    let _ = d.handle_inbound(t(1), &pkt(c, RST));
    assert_eq!(fwd(d.handle_inbound(t(2), &pkt(c, SYN))), (first, false));
    assert_eq!(d.counters().rescheduled, 0);

    // a connection controlled by a persistence template is never "expected new": kept
    let mut mem = Mem::new(64);
    let svc = tcp_svc().with_persistence(Persistence::new(Duration::from_secs(300)));
    let (mut d, _) = director(&mut mem, |_| {}, svc, FwdMethod::Masq, 2);
    let first = open(&mut d, t(0), c);
    let _ = d.handle_inbound(t(1), &pkt(c, RST));
    assert_eq!(fwd(d.handle_inbound(t(2), &pkt(c, SYN))), (first, false));
    assert_eq!(d.counters().rescheduled, 0);
    check_counts(&d);
}

#[test]
fn syn_on_a_quiesced_server_is_rescheduled_with_expire_nodest_conn() {
    for expire_nodest in [false, true] {
        let mut mem = Mem::new(64);
        let (mut d, s) = nat_pair(&mut mem, |c| c.expire_nodest_conn = expire_nodest);
        let c = client(1, 8000);
        let first = open(&mut d, t(0), c);
        let addr = d.dest(first).unwrap().addr;
        d.edit_dest(s.svc, DestConfig::new(addr, FwdMethod::Masq, 0))
            .unwrap();
        // an established flow's packets keep going to its quiesced server
        assert_eq!(fwd(d.handle_inbound(t(1), &pkt(c, ACK))), (first, false));
        // a SYN reusing the port: rescheduled only with expire_nodest_conn (kernel: weight 0)
        let (again, new) = fwd(d.handle_inbound(t(2), &pkt(c, SYN)));
        assert_eq!(new, expire_nodest);
        assert_eq!(again == first, !expire_nodest);
        check_counts(&d);
    }
}

// ----- expire_nodest_conn ----------------------------------------------------------------

#[test]
fn removed_server_without_expire_nodest_drops_until_timeout() {
    let mut mem = Mem::new(64);
    let (mut d, s) = nat_pair(&mut mem, |_| {});
    let c = client(1, 9000);
    let first = open(&mut d, t(0), c);
    let addr = d.dest(first).unwrap().addr;
    d.remove_dest(s.svc, &addr).unwrap();
    assert!(!d.sweeping(), "no sweep without expire_nodest_conn");
    // packets are dropped, and being dropped they do not refresh the entry
    for k in 1..=5 {
        assert_eq!(
            d.handle_inbound(t(100 * k), &pkt(c, ACK)),
            Verdict::Drop(DropReason::DestUnavailable)
        );
        // a SYN on the same port is dropped too: only weight 0 or expire_nodest reschedule
        assert_eq!(
            d.handle_inbound(t(100 * k), &pkt(c, SYN)),
            Verdict::Drop(DropReason::DestUnavailable)
        );
    }
    assert_eq!(d.counters().dest_unavailable, 10);
    // ESTABLISHED times out 900 s after the last accepted packet; the slot is then freed
    d.handle_timeout(t(899));
    assert_eq!(d.table().len(), 1);
    assert!(d.dest(first).is_some(), "kept while referenced");
    d.handle_timeout(t(901));
    assert_eq!(d.table().len(), 0);
    assert!(d.dest(first).is_none());
    let (again, new) = fwd(d.handle_inbound(t(902), &pkt(c, SYN)));
    assert!(new && again != first);
}

#[test]
fn removal_with_expire_nodest_sweeps_every_entry_with_bounded_work() {
    let mut mem = Mem::new(256);
    let svc = tcp_svc().with_persistence(Persistence::new(Duration::from_secs(300)));
    let (mut d, s) = director(
        &mut mem,
        |c| {
            c.expire_nodest_conn = true;
            c.expire_budget = 32;
        },
        svc,
        FwdMethod::Masq,
        2,
    );
    // 40 persistent clients with two connections each, half of them on each server
    let mut on = [0u32; 2];
    for n in 1..=40u8 {
        let a = open(&mut d, t(0), client(n, 1000));
        let b = open(&mut d, t(0), client(n, 1001));
        assert_eq!(a, b, "persistence");
        on[usize::from(a == s.ids[1])] += 1;
    }
    assert_eq!(d.table().len(), 120);
    check_counts(&d);
    let gone = s.ids[0];
    let kept = s.ids[1];
    let addr = d.dest(gone).unwrap().addr;
    assert!(d.dest(gone).unwrap().persistent > 0);
    d.remove_dest(s.svc, &addr).unwrap();
    assert!(d.sweeping());
    // the sweep is due at once
    assert!(d.poll_timeout().unwrap() <= t(1));
    // 256 slots at 32 per call: 8 calls
    let mut calls = 0;
    while d.sweeping() {
        d.handle_timeout(t(1));
        calls += 1;
        check_counts(&d);
    }
    assert_eq!(calls, 8);
    assert_eq!(
        d.counters().nodest_flushed,
        u64::from(on[0]) * 3,
        "connections and their templates"
    );
    assert!(d.dest(gone).is_none(), "nothing references it any more");
    assert_eq!(d.table().len() as u32, on[1] * 3);
    assert_eq!(d.dest(kept).unwrap().persistent, on[1]);
    // the swept clients come back on the remaining server
    for n in 1..=40u8 {
        let (id, _) = fwd(d.handle_inbound(t(2), &pkt(client(n, 2000), SYN)));
        assert_eq!(id, kept);
    }
}

#[test]
fn established_packet_to_removed_server_expires_and_is_not_rescheduled() {
    let mut mem = Mem::new(64);
    let (mut d, s) = nat_pair(&mut mem, |c| c.expire_nodest_conn = true);
    let c = client(1, 1234);
    let first = open(&mut d, t(0), c);
    let addr = d.dest(first).unwrap().addr;
    d.remove_dest(s.svc, &addr).unwrap();
    // before the sweep runs, the flow's next packet expires the entry; an ACK cannot start a
    // flow, so it goes to the host (the client's stack gets a reset from there)
    assert_eq!(d.handle_inbound(t(1), &pkt(c, ACK)), Verdict::Deliver);
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.counters().rescheduled, 1);
    check_counts(&d);
}

// ----- UDP ---------------------------------------------------------------------------------

#[test]
fn udp_flows_to_a_removed_server_move_with_expire_nodest_conn() {
    let mut mem = Mem::new(64);
    let (mut d, s) = director(
        &mut mem,
        |c| c.expire_nodest_conn = true,
        udp_svc(),
        FwdMethod::Masq,
        2,
    );
    let clients: Vec<Endpoint> = (1..=6).map(|n| client(n, 5353)).collect();
    let first: Vec<DestId> = clients
        .iter()
        .map(|c| fwd(d.handle_inbound(t(0), &udp(*c))).0)
        .collect();
    let gone = s.ids[0];
    let addr = d.dest(gone).unwrap().addr;
    d.remove_dest(s.svc, &addr).unwrap();
    // a packet before the sweep: expired and rescheduled at once (a UDP packet may start a
    // flow), not dropped
    let moved = clients[first.iter().position(|&id| id == gone).unwrap()];
    let (id, new) = fwd(d.handle_inbound(t(1), &udp(moved)));
    assert!(new);
    assert_eq!(id, s.ids[1]);
    // the sweep takes the rest; every client then lands on the live server
    d.handle_timeout(t(1));
    assert!(!d.sweeping());
    for c in &clients {
        assert_eq!(fwd(d.handle_inbound(t(2), &udp(*c))).0, s.ids[1]);
    }
    assert!(d.dest(gone).is_none());
    check_counts(&d);
}

#[test]
fn udp_flows_to_a_removed_server_stick_only_until_timeout_without_it() {
    let mut mem = Mem::new(64);
    let (mut d, s) = director(&mut mem, |_| {}, udp_svc(), FwdMethod::Masq, 2);
    let c = client(1, 5353);
    let (first, _) = fwd(d.handle_inbound(t(0), &udp(c)));
    let addr = d.dest(first).unwrap().addr;
    d.remove_dest(s.svc, &addr).unwrap();
    // a client that keeps sending does not keep the entry alive: drops do not refresh it
    for k in 1..=29 {
        assert_eq!(
            d.handle_inbound(t(10 * k), &udp(c)),
            Verdict::Drop(DropReason::DestUnavailable)
        );
    }
    // UDP lives 300 s after the last accepted packet; then the flow is scheduled anew
    let (id, new) = fwd(d.handle_inbound(t(301), &udp(c)));
    assert!(new);
    assert_ne!(id, first);
    check_counts(&d);
}

// ----- quiescing and templates -------------------------------------------------------------

#[test]
fn weight_zero_drains_a_server() {
    let mut mem = Mem::new(256);
    let (mut d, s) = nat_pair(&mut mem, |_| {});
    let mut on_a = Vec::new();
    for p in 0..20u16 {
        let c = client(1, 3000 + p);
        if open(&mut d, t(0), c) == s.ids[0] {
            on_a.push(c);
        }
    }
    let a = s.ids[0];
    assert_eq!(d.dest(a).unwrap().active, 10);
    let addr = d.dest(a).unwrap().addr;
    d.edit_dest(s.svc, DestConfig::new(addr, FwdMethod::Masq, 0))
        .unwrap();
    // none arrive: 50 new flows all go to the other server
    for p in 0..50u16 {
        assert_eq!(
            fwd(d.handle_inbound(t(1), &pkt(client(2, p + 1), SYN))).0,
            s.ids[1]
        );
    }
    // the existing flows continue, then end one by one
    for (i, c) in on_a.iter().enumerate() {
        assert_eq!(fwd(d.handle_inbound(t(2), &pkt(*c, ACK))), (a, false));
        let _ = d.handle_inbound(t(3), &pkt(*c, FINACK));
        let _ = d.handle_outbound(t(3), &reply(addr, *c, FINACK));
        let dd = d.dest(a).unwrap();
        assert_eq!(dd.active as usize, on_a.len() - i - 1);
    }
    // TIME_WAIT is 120 s: then the server holds nothing
    d.handle_timeout(t(124));
    let dd = d.dest(a).unwrap();
    assert_eq!((dd.active, dd.inactive), (0, 0));
    assert_eq!(dd.weight, 0);
    check_counts(&d);
}

#[test]
fn quiescent_templates_expire_only_with_the_option() {
    for option in [false, true] {
        let mut mem = Mem::new(64);
        let svc = tcp_svc().with_persistence(Persistence::new(Duration::from_secs(300)));
        let (mut d, s) = director(
            &mut mem,
            |c| c.expire_quiescent_template = option,
            svc,
            FwdMethod::Masq,
            2,
        );
        let first = open(&mut d, t(0), client(1, 1000));
        let addr = d.dest(first).unwrap().addr;
        d.edit_dest(s.svc, DestConfig::new(addr, FwdMethod::Masq, 0))
            .unwrap();
        // the established connection goes on either way
        assert_eq!(
            fwd(d.handle_inbound(t(1), &pkt(client(1, 1000), ACK))),
            (first, false)
        );
        // a new connection of the persistent client
        let (id, new) = fwd(d.handle_inbound(t(2), &pkt(client(1, 1001), SYN)));
        assert!(new);
        if option {
            // the template was invalidated: the client is scheduled anew, and stays there
            assert_ne!(id, first);
            assert_eq!(
                fwd(d.handle_inbound(t(3), &pkt(client(1, 1002), SYN))).0,
                id
            );
        } else {
            // the kernel keeps sending persistent clients to a quiesced server
            assert_eq!(id, first);
        }
        check_counts(&d);
        // the old template lives while it controls the old connection, then goes
        let _ = d.handle_inbound(t(4), &pkt(client(1, 1000), RST));
        d.handle_timeout(t(400));
        d.handle_timeout(t(500));
        assert_eq!(d.dest(first).unwrap().persistent, 0, "option {option}");
        check_counts(&d);
    }
}

#[cfg(feature = "ipvsadm")]
#[test]
fn templates_become_assured_and_are_listed_so() {
    let mut mem = Mem::new(64);
    let svc = tcp_svc().with_persistence(Persistence::new(Duration::from_secs(300)));
    let (mut d, _) = director(&mut mem, |_| {}, svc, FwdMethod::Masq, 1);
    let c = client(1, 1000);
    let _ = d.handle_inbound(t(0), &pkt(c, SYN));
    let mut out = String::new();
    d.write_conns(&mut out, t(0)).unwrap();
    assert!(out.contains("TCP 05:00  NONE"), "{out}");
    let _ = d.handle_inbound(t(0), &pkt(c, ACK));
    let mut out = String::new();
    d.write_conns(&mut out, t(0)).unwrap();
    assert!(out.contains("TCP 05:00  ASSURED"), "{out}");
    assert!(out.contains("ESTABLISHED"), "{out}");
}
