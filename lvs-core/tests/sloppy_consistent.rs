//! `sloppy_tcp_consistent`: directors behind an ECMP router, sharing one service
//! configuration, take over each other's TCP flows mid-stream when the scheduler is
//! consistent, and only then.

mod common;

use common::*;
use lvs_core::director::{Director, DirectorConfig, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, DestId, DestSet, Duration, Endpoint, FwdMethod, Persistence, Protocol,
    SchedRequest, Scheduler, ServiceConfig, ServiceKey,
};

/// A consistent scheduler: the client port modulo the number of servers, in list order.
struct PortHash;

impl Scheduler for PortHash {
    fn name(&self) -> &'static str {
        "test-port-hash"
    }
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        let order = dests.order();
        if order.is_empty() {
            return None;
        }
        Some(order[usize::from(req.flow.src.port) % order.len()])
    }
    fn is_consistent(&self) -> bool {
        true
    }
}

fn svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, VIP))
}

fn config(consistent: bool, hash_seed: u64) -> DirectorConfig {
    let mut c = DirectorConfig::new(SipKey(hash_seed, 7));
    c.sloppy_tcp_consistent = consistent;
    c
}

/// A director with the service on three direct-routing servers, added in the same order.
fn director<S: Scheduler>(
    mem: &mut Mem<S>,
    cfg: DirectorConfig,
    service: ServiceConfig,
    sched: S,
) -> Director<'_, S> {
    let mut d = Director::new(cfg, mem.borrow(), t(0)).unwrap();
    let s = d.add_service(service, sched).unwrap();
    for i in 1..=3 {
        d.add_dest(s, DestConfig::new(rs(i), FwdMethod::DirectRoute, 1))
            .unwrap();
    }
    d
}

fn server(v: Verdict) -> Endpoint {
    match v {
        Verdict::Forward(f) => f.daddr,
        other => panic!("expected a forward, got {other:?}"),
    }
}

#[test]
fn a_second_director_takes_over_flows_mid_stream_to_the_same_server() {
    let (mut ma, mut mb) = (Mem::for_sched(256), Mem::for_sched(256));
    // different table seeds: only the scheduler has to agree
    let mut a = director(&mut ma, config(true, 1), svc(), PortHash);
    let mut b = director(&mut mb, config(true, 2), svc(), PortHash);
    for port in 40000..40030u16 {
        let c = client(9, port);
        let first = server(a.handle_inbound(t(1), &pkt(c, SYN)));
        assert_eq!(server(a.handle_inbound(t(1), &pkt(c, ACK))), first);
        // the router moves the flow to b: b never saw its SYN
        let v = b.handle_inbound(t(2), &pkt(c, ACK));
        match v {
            Verdict::Forward(f) => {
                assert!(f.new_conn, "port {port}: not a new entry");
                assert_eq!(f.daddr, first, "port {port}: b picked another server");
            }
            other => panic!("port {port}: {other:?}"),
        }
        // b now tracks it: the next packet is an established flow, not rescheduled
        let f = match b.handle_inbound(t(3), &pkt(c, ACK)) {
            Verdict::Forward(f) => f,
            other => panic!("{other:?}"),
        };
        assert!(!f.new_conn);
        assert_eq!(f.daddr, first);
    }
    assert_eq!(b.counters().sloppy_scheduled, 30);
    assert_eq!(a.counters().sloppy_scheduled, 0);
    assert_eq!(b.table().len(), 30);
    // the kernel's state table files an entry started by an ACK in CLOSE (10 s, renewed by
    // every packet): counted inactive, and an ACK flood cannot pin table slots for long
    let (svc_id, _) = b.services().next().unwrap();
    let counts = b
        .dests(svc_id)
        .iter()
        .fold((0, 0), |(a, i), (_, d)| (a + d.active, i + d.inactive));
    assert_eq!(counts, (0, 30));
    let c = client(9, 40000);
    for at in [12, 21] {
        let v = b.handle_inbound(t(at), &pkt(c, ACK));
        assert!(
            matches!(v, Verdict::Forward(f) if !f.new_conn),
            "renewed by every packet: {v:?}"
        );
    }
    let v = b.handle_inbound(t(40), &pkt(c, ACK));
    assert!(
        matches!(v, Verdict::Forward(f) if f.new_conn),
        "expired after 10 s idle: {v:?}"
    );
    // a FIN of an unknown flow is scheduled too, so the close reaches the server
    let c = client(9, 50001);
    let f = server(b.handle_inbound(t(4), &pkt(c, FINACK)));
    assert_eq!(f, server(a.handle_inbound(t(4), &pkt(c, SYN))));
    assert_eq!(b.counters().sloppy_scheduled, 32);
}

#[test]
fn off_by_default_and_never_on_rst() {
    let mut m = Mem::for_sched(64);
    let mut d = director(&mut m, DirectorConfig::new(SipKey(1, 2)), svc(), PortHash);
    assert!(!d.config().sloppy_tcp_consistent);
    assert_eq!(
        d.handle_inbound(t(1), &pkt(client(1, 1000), ACK)),
        Verdict::Deliver
    );
    let mut c = *d.config();
    c.sloppy_tcp_consistent = true;
    d.set_config(c);
    assert_eq!(
        d.handle_inbound(t(1), &pkt(client(1, 1001), RST)),
        Verdict::Deliver
    );
    assert_eq!(d.table().len(), 0);
    assert_eq!(d.counters().sloppy_scheduled, 0);
    // SYNs are scheduled as before and are not counted as sloppy
    server(d.handle_inbound(t(1), &pkt(client(1, 1002), SYN)));
    assert_eq!(d.counters().sloppy_scheduled, 0);
    server(d.handle_inbound(t(1), &pkt(client(1, 1003), ACK)));
    assert_eq!(d.counters().sloppy_scheduled, 1);
}

#[test]
fn not_for_history_dependent_schedulers_or_persistence() {
    // round robin: another director would pick another server, so the packet is left alone
    let mut m1 = Mem::new(64);
    let mut d = director(&mut m1, config(true, 1), svc(), TestRr::default());
    assert_eq!(
        d.handle_inbound(t(1), &pkt(client(2, 2000), ACK)),
        Verdict::Deliver
    );
    assert_eq!(d.counters().sloppy_scheduled, 0);
    // persistence: the template of the client's first connection decides, which another
    // director does not hold
    let mut m2 = Mem::for_sched(64);
    let persistent = svc().with_persistence(Persistence::new(Duration::from_secs(300)));
    let mut d = director(&mut m2, config(true, 1), persistent, PortHash);
    assert_eq!(
        d.handle_inbound(t(1), &pkt(client(2, 2001), ACK)),
        Verdict::Deliver
    );
    assert_eq!(d.table().len(), 0);
    // the kernel's sloppy_tcp schedules with any scheduler, and is counted the same way
    let mut m3 = Mem::new(64);
    let mut cfg = DirectorConfig::new(SipKey(1, 2));
    cfg.sloppy_tcp = true;
    let mut d = director(&mut m3, cfg, svc(), TestRr::default());
    server(d.handle_inbound(t(1), &pkt(client(2, 2002), ACK)));
    assert_eq!(d.counters().sloppy_scheduled, 1);
}
