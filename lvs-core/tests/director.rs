//! Director behaviour: scheduling, state tracking, timeouts, thresholds, quiescing, persistence,
//! OPS, full-table policy and removal semantics.

mod common;

use common::*;
use lvs_core::director::{Director, DirectorConfig, DropReason, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, DestId, Duration, Endpoint, FlowKey, FwdMethod, Persistence, Protocol,
    ServiceConfig, ServiceKey, TcpFlags,
};

fn tcp_svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, VIP))
}

fn fwd_dest(v: Verdict) -> DestId {
    match v {
        Verdict::Forward(f) => f.dest,
        other => panic!("expected forward, got {other:?}"),
    }
}

fn setup(mem: &mut Mem, n: u8, fwd: FwdMethod) -> (Director<'_, TestRr>, Vec<DestId>) {
    let mut d = Director::new(DirectorConfig::new(SipKey(3, 4)), mem.borrow(), t(0)).unwrap();
    let s = d.add_service(tcp_svc(), TestRr::default()).unwrap();
    let ids = (1..=n)
        .map(|i| d.add_dest(s, DestConfig::new(rs(i), fwd, 1)).unwrap())
        .collect();
    (d, ids)
}

#[test]
fn syn_schedules_and_replies_are_natted() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 2, FwdMethod::Masq);
    let c = client(7, 40001);
    let v = d.handle_inbound(t(0), &pkt(c, SYN));
    let f = match v {
        Verdict::Forward(f) => f,
        other => panic!("{other:?}"),
    };
    // newest first: the second server added is first in list order
    assert_eq!(f.dest, ids[1]);
    assert_eq!(f.daddr, rs(2));
    assert_eq!(f.vaddr, VIP);
    assert!(f.new_conn);
    assert_eq!(d.dest(ids[1]).unwrap().inactive, 1);
    // SYN+ACK from the real server is a NAT reply
    match d.handle_outbound(t(0), &reply(rs(2), c, SYNACK)) {
        Verdict::Reply(r) => {
            assert_eq!(r.vaddr, VIP);
            assert_eq!(r.client, c);
        }
        other => panic!("{other:?}"),
    }
    // the client's ACK establishes it: active now
    assert_eq!(fwd_dest(d.handle_inbound(t(0), &pkt(c, ACK))), ids[1]);
    let dd = d.dest(ids[1]).unwrap();
    assert_eq!((dd.active, dd.inactive), (1, 0));
    // a non-SYN from an unknown client is not scheduled
    assert_eq!(
        d.handle_inbound(t(0), &pkt(client(8, 1), ACK)),
        Verdict::Deliver
    );
    // stats: 2 packets in, 1 out, 1 connection
    let st = d.dest_stats(ids[1]).unwrap().counters;
    assert_eq!(
        (st.conns, st.inpkts, st.outpkts, st.inbytes),
        (1, 2, 1, 120)
    );
    let svc = d.services().next().unwrap().1.stats.counters;
    assert_eq!((svc.conns, svc.inpkts, svc.outpkts), (1, 2, 1));
}

#[test]
fn tcp_timeouts_follow_state() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 1, FwdMethod::Masq);
    let c = client(1, 1000);
    let _ = d.handle_inbound(t(0), &pkt(c, SYN));
    // SYN_RECV: 60 s
    d.handle_timeout(t(59));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(t(61));
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.dest(ids[0]).unwrap().inactive, 0);

    // ESTABLISHED: 900 s, refreshed by traffic
    let _ = d.handle_inbound(t(100), &pkt(c, SYN));
    let _ = d.handle_outbound(t(100), &reply(rs(1), c, SYNACK));
    let _ = d.handle_inbound(t(100), &pkt(c, ACK));
    assert_eq!(d.dest(ids[0]).unwrap().active, 1);
    let _ = d.handle_inbound(t(900), &pkt(c, ACK));
    d.handle_timeout(t(1700));
    assert_eq!(d.table().len(), 1, "touched at 900 s, lives until 1800 s");
    // FIN from the client: CLOSE_WAIT (60 s), the active count moves to inactive
    let _ = d.handle_inbound(t(1700), &pkt(c, FINACK));
    let dd = d.dest(ids[0]).unwrap();
    assert_eq!((dd.active, dd.inactive), (0, 1));
    d.handle_timeout(t(1759));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(t(1761));
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.dest(ids[0]).unwrap().inactive, 0);
}

#[test]
fn lookups_treat_overdue_entries_as_gone() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 1, FwdMethod::Masq);
    let c = client(1, 1000);
    let _ = d.handle_inbound(t(0), &pkt(c, SYN));
    // no handle_timeout call at all: at 61 s the SYN_RECV entry is dead, an ACK is not forwarded
    assert_eq!(d.handle_inbound(t(61), &pkt(c, ACK)), Verdict::Deliver);
    assert_eq!(d.dest(ids[0]).unwrap().inactive, 0);
}

#[test]
fn dr_connections_use_input_only_table() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 1, FwdMethod::DirectRoute);
    let c = client(1, 1000);
    let f = match d.handle_inbound(t(0), &pkt(c, SYN)) {
        Verdict::Forward(f) => f,
        o => panic!("{o:?}"),
    };
    assert_eq!(f.method, FwdMethod::DirectRoute);
    let _ = d.handle_inbound(t(0), &pkt(c, ACK));
    assert_eq!(d.dest(ids[0]).unwrap().active, 1);
    // FIN from the client: INPUT-ONLY goes to FIN_WAIT (120 s)
    let _ = d.handle_inbound(t(1), &pkt(c, FINACK));
    d.handle_timeout(t(120));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(t(122));
    assert_eq!(d.table().len(), 0);
}

#[test]
fn thresholds_set_and_clear_overload() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(1, 1)), mem.borrow(), t(0)).unwrap();
    let s = d.add_service(tcp_svc(), TestRr::default()).unwrap();
    let a = d
        .add_dest(
            s,
            DestConfig::new(rs(1), FwdMethod::Masq, 1).with_thresholds(4, 0),
        )
        .unwrap();
    let b = add_masq(&mut d, s, rs(2), 1);
    // rr alternates b, a, b, a ...; after 4 conns on a, a is overloaded
    let mut on_a = 0;
    for i in 0..8 {
        if fwd_dest(d.handle_inbound(t(0), &pkt(client(1, 2000 + i), SYN))) == a {
            on_a += 1;
        }
    }
    assert_eq!(on_a, 4);
    assert!(d.dest(a).unwrap().is_overloaded());
    for i in 8..12 {
        assert_eq!(
            fwd_dest(d.handle_inbound(t(0), &pkt(client(1, 2000 + i), SYN))),
            b
        );
    }
    // reset the connections on a one by one: overload clears below 3/4 of 4, i.e. at 2
    let mut remaining = 4;
    for i in 0..8u16 {
        let c = client(1, 2000 + i);
        let v = d.handle_inbound(
            t(1),
            &PacketMeta::new(FlowKey::new(Protocol::Tcp, c, VIP), TcpFlags::RST, 40),
        );
        if fwd_dest(v) == a {
            remaining -= 1;
        }
    }
    assert_eq!(remaining, 0);
    // A client RST in SYN_RECV keeps SYN_RECV (the kernel's input table), so they live 60 s
    d.handle_timeout(t(12));
    assert!(d.dest(a).unwrap().is_overloaded());
    d.handle_timeout(t(62));
    assert!(!d.dest(a).unwrap().is_overloaded());
    assert_eq!(d.dest(a).unwrap().total_conns(), 0);
}

#[test]
fn weight_zero_quiesces_without_breaking_flows() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 2, FwdMethod::Masq);
    let s = d.services().next().unwrap().0;
    let c1 = client(1, 1);
    let first = fwd_dest(d.handle_inbound(t(0), &pkt(c1, SYN)));
    assert_eq!(first, ids[1]);
    d.edit_dest(s, DestConfig::new(rs(2), FwdMethod::Masq, 0))
        .unwrap();
    // the existing flow continues to its quiesced server
    assert_eq!(fwd_dest(d.handle_inbound(t(1), &pkt(c1, ACK))), ids[1]);
    // new flows avoid it
    for i in 0..5 {
        assert_eq!(
            fwd_dest(d.handle_inbound(t(1), &pkt(client(2, 100 + i), SYN))),
            ids[0]
        );
    }
}

#[test]
fn removal_follows_expire_nodest_conn() {
    for expire_nodest in [false, true] {
        let mut mem = Mem::new(64);
        let (mut d, ids) = setup(&mut mem, 2, FwdMethod::Masq);
        let mut cfg = *d.config();
        cfg.expire_nodest_conn = expire_nodest;
        d.set_config(cfg);
        let s = d.services().next().unwrap().0;
        let c = client(1, 1);
        assert_eq!(fwd_dest(d.handle_inbound(t(0), &pkt(c, SYN))), ids[1]);
        let _ = d.handle_inbound(t(0), &pkt(c, ACK));
        d.remove_dest(s, &rs(2)).unwrap();
        // the removed server is kept while referenced
        assert!(d.dest(ids[1]).is_some());
        assert!(!d.dest(ids[1]).unwrap().is_available());
        let v = d.handle_inbound(t(1), &pkt(c, ACK));
        if expire_nodest {
            // expired and, an ACK not being a SYN, not rescheduled
            assert_eq!(v, Verdict::Deliver);
            assert_eq!(d.table().len(), 0);
            assert!(d.dest(ids[1]).is_none(), "slot freed once unreferenced");
            // a new SYN from the same client goes to the remaining server
            assert_eq!(fwd_dest(d.handle_inbound(t(1), &pkt(c, SYN))), ids[0]);
        } else {
            assert_eq!(v, Verdict::Drop(DropReason::DestUnavailable));
            assert_eq!(d.table().len(), 1);
            // re-adding the server revives it with its connection
            let back = add_masq(&mut d, s, rs(2), 1);
            assert_eq!(back, ids[1]);
            assert_eq!(d.dest(back).unwrap().active, 1);
            assert_eq!(fwd_dest(d.handle_inbound(t(2), &pkt(c, ACK))), back);
        }
    }
}

#[test]
fn conn_reuse_reschedules_time_wait_port_reuse() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 2, FwdMethod::Masq);
    let c = client(1, 5555);
    assert_eq!(fwd_dest(d.handle_inbound(t(0), &pkt(c, SYN))), ids[1]);
    let _ = d.handle_outbound(t(0), &reply(rs(2), c, SYNACK));
    let _ = d.handle_inbound(t(0), &pkt(c, ACK));
    let _ = d.handle_inbound(t(1), &pkt(c, FINACK));
    let _ = d.handle_outbound(t(1), &reply(rs(2), c, FINACK));
    // TIME_WAIT now; a new SYN on the same port is rescheduled (rr moves to the other server)
    assert_eq!(fwd_dest(d.handle_inbound(t(2), &pkt(c, SYN))), ids[0]);
    assert_eq!(d.counters().rescheduled, 1);
    assert_eq!(d.dest(ids[1]).unwrap().total_conns(), 0);
    // with conn_reuse_mode 0 the old entry would have been reused
    let mut mem2 = Mem::new(64);
    let (mut d2, ids2) = setup(&mut mem2, 2, FwdMethod::Masq);
    let mut cfg = *d2.config();
    cfg.conn_reuse_mode = 0;
    d2.set_config(cfg);
    let _ = d2.handle_inbound(t(0), &pkt(c, SYN));
    let _ = d2.handle_outbound(t(0), &reply(rs(2), c, SYNACK));
    let _ = d2.handle_inbound(t(0), &pkt(c, ACK));
    let _ = d2.handle_inbound(t(1), &pkt(c, FINACK));
    let _ = d2.handle_outbound(t(1), &reply(rs(2), c, FINACK));
    assert_eq!(fwd_dest(d2.handle_inbound(t(2), &pkt(c, SYN))), ids2[1]);
}

#[test]
fn persistence_by_netmask_pins_clients() {
    let mut mem = Mem::new(256);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let cfg =
        tcp_svc().with_persistence(Persistence::new(Duration::from_secs(300)).with_prefix(24));
    let s = d.add_service(cfg, TestRr::default()).unwrap();
    let a = add_masq(&mut d, s, rs(1), 1);
    let b = add_masq(&mut d, s, rs(2), 1);
    // all of 198.19.0.0/24 sticks to the first pick
    let first = fwd_dest(d.handle_inbound(t(0), &pkt(client(1, 1000), SYN)));
    for n in 2..20u8 {
        assert_eq!(
            fwd_dest(d.handle_inbound(t(1), &pkt(client(n, 1000 + n as u16), SYN))),
            first
        );
    }
    assert_eq!(d.dest(first).unwrap().persistent, 1);
    // another /24 gets the other server
    let other = Endpoint::v4([198, 19, 1, 1], 1);
    let second = fwd_dest(d.handle_inbound(t(1), &pkt(other, SYN)));
    assert_ne!(second, first);
    assert!([a, b].contains(&second));
    // quiescing does not break persistence (expire_quiescent_template off)...
    let first_addr = d.dest(first).unwrap().addr;
    d.edit_dest(s, DestConfig::new(first_addr, FwdMethod::Masq, 0))
        .unwrap();
    assert_eq!(
        fwd_dest(d.handle_inbound(t(2), &pkt(client(30, 3000), SYN))),
        first
    );
    // ... but with expire_quiescent_template the template is invalidated
    let mut c = *d.config();
    c.expire_quiescent_template = true;
    d.set_config(c);
    assert_eq!(
        fwd_dest(d.handle_inbound(t(3), &pkt(client(31, 3001), SYN))),
        second
    );
}

#[test]
fn template_outlives_timeout_while_controlling() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let cfg = tcp_svc().with_persistence(Persistence::new(Duration::from_secs(30)));
    let s = d.add_service(cfg, TestRr::default()).unwrap();
    let a = add_masq(&mut d, s, rs(1), 1);
    let c = client(1, 1000);
    let _ = d.handle_inbound(t(0), &pkt(c, SYN));
    let _ = d.handle_outbound(t(0), &reply(rs(1), c, SYNACK));
    let _ = d.handle_inbound(t(0), &pkt(c, ACK));
    assert_eq!(d.table().len(), 2);
    // at 31 s the template is due but controls an established connection: extended 60 s
    d.handle_timeout(t(31));
    assert_eq!(d.table().len(), 2);
    assert_eq!(d.dest(a).unwrap().persistent, 1);
    // the connection closes (RST -> CLOSE, 10 s), then the template may go
    let _ = d.handle_inbound(
        t(40),
        &PacketMeta::new(FlowKey::new(Protocol::Tcp, c, VIP), TcpFlags::RST, 40),
    );
    d.handle_timeout(t(51));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(t(92));
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.dest(a).unwrap().persistent, 0);
}

#[test]
fn one_packet_scheduling_keeps_no_state() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let key = ServiceKey::Addr {
        proto: Protocol::Udp,
        vip: Endpoint::v4([198, 18, 0, 1], 53),
    };
    let s = d
        .add_service(
            ServiceConfig::new(key).with_one_packet(true),
            TestRr::default(),
        )
        .unwrap();
    let a = add_masq(&mut d, s, rs(1), 1);
    let b = add_masq(&mut d, s, rs(2), 1);
    let c = client(1, 5353);
    let flow = FlowKey::new(Protocol::Udp, c, Endpoint::v4([198, 18, 0, 1], 53));
    let mut seen = vec![];
    for _ in 0..4 {
        match d.handle_inbound(t(0), &PacketMeta::new(flow, TcpFlags::NONE, 80)) {
            Verdict::Forward(f) => {
                assert!(f.conn.is_none());
                seen.push(f.dest);
            }
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(seen, vec![b, a, b, a]);
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.dest(a).unwrap().inactive, 0);
    assert_eq!(d.service(s).unwrap().stats.counters.conns, 4);
}

#[test]
fn udp_flows_live_five_minutes_and_stay_inactive() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let vip = Endpoint::v4([198, 18, 0, 1], 53);
    let s = d
        .add_service(
            ServiceConfig::new(ServiceKey::addr(Protocol::Udp, vip)),
            TestRr::default(),
        )
        .unwrap();
    let a = add_masq(&mut d, s, rs(1), 1);
    let flow = FlowKey::new(Protocol::Udp, client(1, 5353), vip);
    for i in 0..3 {
        assert_eq!(
            fwd_dest(d.handle_inbound(t(i), &PacketMeta::new(flow, TcpFlags::NONE, 80))),
            a
        );
    }
    assert_eq!(
        (d.dest(a).unwrap().active, d.dest(a).unwrap().inactive),
        (0, 1)
    );
    d.handle_timeout(t(301));
    assert_eq!(d.table().len(), 1);
    d.handle_timeout(t(303));
    assert_eq!(d.table().len(), 0);
}

#[test]
fn full_table_refuses_new_flows_and_keeps_old_ones() {
    let mut mem = Mem::new(8);
    let (mut d, ids) = setup(&mut mem, 1, FwdMethod::Masq);
    let mut est = vec![];
    for i in 0..8u16 {
        let c = client(1, 100 + i);
        let _ = d.handle_inbound(t(0), &pkt(c, SYN));
        let _ = d.handle_outbound(t(0), &reply(rs(1), c, SYNACK));
        let _ = d.handle_inbound(t(0), &pkt(c, ACK));
        est.push(c);
    }
    for i in 0..100u16 {
        assert_eq!(
            d.handle_inbound(t(1), &pkt(client(9, i), SYN)),
            Verdict::Drop(DropReason::TableFull)
        );
    }
    assert_eq!(d.counters().refused_full, 100);
    for c in est {
        assert_eq!(fwd_dest(d.handle_inbound(t(2), &pkt(c, ACK))), ids[0]);
    }
}

#[test]
fn rates_match_kernel_estimator() {
    let mut mem = Mem::new(1024);
    let (mut d, _) = setup(&mut mem, 1, FwdMethod::Masq);
    // 10 new connections and 100 packets of 100 bytes every 2 s, for 80 s
    let mut port = 1000;
    for step in 0..40u64 {
        for _ in 0..10 {
            let _ = d.handle_inbound(
                t(step * 2),
                &PacketMeta::new(FlowKey::new(Protocol::Tcp, client(1, port), VIP), SYN, 100),
            );
            port += 1;
        }
        for k in 0..90u16 {
            let c = client(1, port - 1 - (k % 10));
            let _ = d.handle_inbound(
                t(step * 2),
                &PacketMeta::new(FlowKey::new(Protocol::Tcp, c, VIP), ACK, 100),
            );
        }
        d.handle_timeout(t(step * 2 + 1));
        d.handle_timeout(t(step * 2 + 2));
    }
    let r = d.total_stats().rates();
    // converged: 5 cps, 50 pps, 5000 B/s
    assert_eq!((r.cps, r.inpps, r.inbps), (5, 50, 5000));
}

#[test]
fn ipv6_service_works() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let vip: Endpoint = "[2001:db8::1]:80".parse().unwrap();
    let s = add_rr(&mut d, vip);
    let rip: Endpoint = "[2001:db8:1::1]:8080".parse().unwrap();
    let a = add_masq(&mut d, s, rip, 1);
    assert!(
        d.add_dest(s, DestConfig::new(rs(9), FwdMethod::Masq, 1))
            .is_err(),
        "family mismatch"
    );
    let c: Endpoint = "[2001:db8:2::7]:40000".parse().unwrap();
    let f = match d.handle_inbound(
        t(0),
        &PacketMeta::new(FlowKey::new(Protocol::Tcp, c, vip), SYN, 80),
    ) {
        Verdict::Forward(f) => f,
        o => panic!("{o:?}"),
    };
    assert_eq!((f.dest, f.daddr), (a, rip));
    match d.handle_outbound(
        t(0),
        &PacketMeta::new(FlowKey::new(Protocol::Tcp, rip, c), SYNACK, 80),
    ) {
        Verdict::Reply(r) => assert_eq!(r.vaddr, vip),
        o => panic!("{o:?}"),
    }
}

#[test]
fn fwmark_and_port_zero_services() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let fw = d
        .add_service(
            ServiceConfig::new(ServiceKey::Fwmark {
                af: lvs_core::AddrFamily::Ipv4,
                mark: 7,
            }),
            TestRr::default(),
        )
        .unwrap();
    let a = d
        .add_dest(
            fw,
            DestConfig::new(Endpoint::v4([198, 18, 1, 1], 0), FwdMethod::DirectRoute, 1),
        )
        .unwrap();
    let mut p = pkt(client(1, 1), SYN);
    p.flow.dst = Endpoint::v4([198, 18, 0, 9], 443);
    p.fwmark = 7;
    let f = match d.handle_inbound(t(0), &p) {
        Verdict::Forward(f) => f,
        o => panic!("{o:?}"),
    };
    // port 0 real server: the packet's port is kept
    assert_eq!((f.dest, f.daddr.port), (a, 443));
    // unmarked traffic to the same address is not ours
    p.fwmark = 0;
    p.flow.src.port = 2;
    assert_eq!(d.handle_inbound(t(0), &p), Verdict::Deliver);
    // a persistent port-0 service takes every port of its VIP
    let vip0 = Endpoint::v4([198, 18, 0, 2], 0);
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip0))
        .with_persistence(Persistence::new(Duration::from_secs(60)));
    let s0 = d.add_service(cfg, TestRr::default()).unwrap();
    let b = d
        .add_dest(
            s0,
            DestConfig::new(Endpoint::v4([198, 18, 1, 2], 0), FwdMethod::DirectRoute, 1),
        )
        .unwrap();
    for port in [22u16, 80, 443] {
        let p = PacketMeta::new(
            FlowKey::new(
                Protocol::Tcp,
                client(2, 999 + port),
                Endpoint::v4([198, 18, 0, 2], port),
            ),
            SYN,
            60,
        );
        match d.handle_inbound(t(0), &p) {
            Verdict::Forward(f) => assert_eq!((f.dest, f.daddr.port), (b, port)),
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn icmp_errors_find_their_flow() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 1, FwdMethod::Masq);
    let c = client(1, 1000);
    let _ = d.handle_inbound(t(0), &pkt(c, SYN));
    // an error from the client side quoting VIP -> client
    match d.handle_icmp_error(t(0), &FlowKey::new(Protocol::Tcp, VIP, c), 56) {
        Verdict::Forward(f) => assert_eq!(f.dest, ids[0]),
        o => panic!("{o:?}"),
    }
    // an error from the real server side quoting client -> RIP
    match d.handle_icmp_error(t(0), &FlowKey::new(Protocol::Tcp, c, rs(1)), 56) {
        Verdict::Reply(r) => assert_eq!(r.vaddr, VIP),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        d.handle_icmp_error(t(0), &FlowKey::new(Protocol::Tcp, client(5, 5), rs(1)), 56),
        Verdict::Deliver
    );
}

#[test]
fn service_removal_keeps_other_flows() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let s1 = d.add_service(tcp_svc(), TestRr::default()).unwrap();
    let vip2 = Endpoint::v4([198, 18, 0, 2], 80);
    let s2 = add_rr(&mut d, vip2);
    let a = add_masq(&mut d, s1, rs(1), 1);
    let b = add_masq(&mut d, s2, rs(2), 1);
    let b2 = add_masq(&mut d, s2, rs(3), 1);
    let a2 = add_masq(&mut d, s1, rs(4), 1);
    assert_eq!(d.dests(s1).order(), &[a2, a]);
    assert_eq!(d.dests(s2).order(), &[b2, b]);
    let c = client(1, 1);
    let flow2 = FlowKey::new(Protocol::Tcp, c, vip2);
    let got = fwd_dest(d.handle_inbound(t(0), &PacketMeta::new(flow2, SYN, 60)));
    d.remove_service(s1).unwrap();
    assert_eq!(d.dests(s2).order(), &[b2, b]);
    assert_eq!(
        fwd_dest(d.handle_inbound(t(1), &PacketMeta::new(flow2, ACK, 60))),
        got
    );
    assert_eq!(
        d.handle_inbound(t(1), &pkt(client(2, 2), SYN)),
        Verdict::Deliver
    );
}

#[test]
fn removed_service_slot_is_not_reused_while_referenced() {
    let mut mem = Mem::new(64);
    let mut d = Director::new(DirectorConfig::new(SipKey(5, 6)), mem.borrow(), t(0)).unwrap();
    let s1 = d.add_service(tcp_svc(), TestRr::default()).unwrap();
    let a = add_masq(&mut d, s1, rs(1), 1);
    let c = client(1, 1);
    assert_eq!(fwd_dest(d.handle_inbound(t(0), &pkt(c, SYN))), a);
    d.remove_service(s1).unwrap();
    // a new service must not take the slot the old one's connections still point into
    let vip2 = Endpoint::v4([198, 18, 0, 2], 80);
    let s2 = add_rr(&mut d, vip2);
    assert_ne!(s1, s2);
    let before = d.service(s2).unwrap().stats.counters;
    let _ = d.handle_inbound(t(1), &pkt(c, ACK));
    assert_eq!(
        d.service(s2).unwrap().stats.counters,
        before,
        "old flow not counted on the newcomer"
    );
    // once the old connection is gone the slot is free again
    d.handle_timeout(t(200));
    let vip3 = Endpoint::v4([198, 18, 0, 3], 80);
    let s3 = add_rr(&mut d, vip3);
    assert_eq!(s3, s1);
}

/// A server removed while a connection still uses it stays in the trash; adding it back with
/// weight 0 revives the same slot with its counters, and resets `last_weight` to 0 as the
/// kernel's `__ip_vs_update_dest(..., add=1)` does (mh then gives it no slots).
#[test]
fn revive_from_trash_with_weight_0_resets_last_weight() {
    let mut mem = Mem::new(64);
    let (mut d, ids) = setup(&mut mem, 2, FwdMethod::Masq);
    let s = d.find_service(&tcp_svc().key).unwrap();
    let c = client(7, 40001);
    assert_eq!(fwd_dest(d.handle_inbound(t(0), &pkt(c, SYN))), ids[1]);
    d.edit_dest(s, DestConfig::new(rs(2), FwdMethod::Masq, 5))
        .unwrap();
    assert_eq!(d.dest(ids[1]).unwrap().last_weight, 5);
    d.remove_dest(s, &rs(2)).unwrap();
    let back = add_masq(&mut d, s, rs(2), 0);
    assert_eq!(back, ids[1], "revived from the trash, not a new slot");
    let rd = d.dest(back).unwrap();
    assert_eq!(rd.inactive, 1, "counters kept");
    assert_eq!(rd.weight, 0);
    assert_eq!(rd.last_weight, 0, "add path sets last_weight even to 0");
    // an edit to weight 0 afterwards keeps the last non-zero weight, as before
    d.edit_dest(s, DestConfig::new(rs(2), FwdMethod::Masq, 3))
        .unwrap();
    d.edit_dest(s, DestConfig::new(rs(2), FwdMethod::Masq, 0))
        .unwrap();
    assert_eq!(d.dest(back).unwrap().last_weight, 3);
}
