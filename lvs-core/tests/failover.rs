//! Connection synchronisation and failover: a master director with live connections (NAT and
//! DR real servers, IPv4 and IPv6, persistence templates, a firewall-mark service and UDP)
//! sends version-1 messages through `poll_sync`; a backup applies them with `apply_sync`; the
//! master is dropped, and the backup forwards every synced flow to the same real server.

mod common;

use common::*;
use lvs_core::conn::ConnFlags as cf;
use lvs_core::director::{Director, DirectorConfig, PacketMeta, SyncRole, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::sync::{
    conn_flags, SyncConn, SyncError, SyncMessageBuilder, SyncPolicy, SyncRecords, FLUSH_TIME,
};
use lvs_core::{
    AddrFamily, DestConfig, DestId, Duration, Endpoint, FlowKey, FwdMethod, Instant, Persistence,
    Protocol, ServiceConfig, ServiceKey, TcpFlags,
};
use std::collections::HashMap;

const NAT_VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);
const DR_VIP: Endpoint = Endpoint::v4([198, 18, 0, 2], 80);
const DNS_VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 53);
const MARK: u32 = 7;
const SYNCID: u8 = 9;

fn v6(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn v6_vip() -> Endpoint {
    v6("[2001:db8::1]:443")
}

/// A director in sync `role` on `mem`, configured (see [`configure`]): a master hashes with
/// key (1, 2), anything else with (3, 4).
fn director(mem: &mut Mem, role: SyncRole, reverse: bool) -> Director<'_, TestRr> {
    let key = match role {
        SyncRole::Master(_) => SipKey(1, 2),
        _ => SipKey(3, 4),
    };
    let mut cfg = DirectorConfig::new(key);
    cfg.sync = role;
    let mut d = Director::new(cfg, mem.borrow(), Instant::ZERO).unwrap();
    configure(&mut d, reverse);
    d
}

/// The services and real servers, added in `order` so that the backup's ids differ.
fn configure(d: &mut Director<'_, TestRr>, reverse: bool) {
    let persist = Persistence::new(Duration::from_secs(600));
    let mut services: Vec<(ServiceConfig, Vec<DestConfig>)> = vec![
        (
            ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, NAT_VIP)),
            (1..=3)
                .map(|n| DestConfig::new(Endpoint::v4([198, 18, 1, n], 8080), FwdMethod::Masq, 1))
                .collect(),
        ),
        (
            ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, DR_VIP)).with_persistence(persist),
            (1..=3)
                .map(|n| {
                    DestConfig::new(Endpoint::v4([198, 18, 2, n], 80), FwdMethod::DirectRoute, 1)
                })
                .collect(),
        ),
        (
            ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, v6_vip())).with_persistence(persist),
            (1..=2)
                .map(|n| {
                    DestConfig::new(v6(&format!("[2001:db8:1::{n}]:8443")), FwdMethod::Masq, 1)
                })
                .collect(),
        ),
        (
            ServiceConfig::new(ServiceKey::addr(Protocol::Udp, DNS_VIP)),
            (1..=2)
                .map(|n| DestConfig::new(Endpoint::v4([198, 18, 3, n], 53), FwdMethod::Masq, 1))
                .collect(),
        ),
        (
            ServiceConfig::new(ServiceKey::Fwmark {
                af: AddrFamily::Ipv4,
                mark: MARK,
            })
            .with_persistence(persist.with_prefix(24)),
            (1..=2)
                .map(|n| DestConfig::new(Endpoint::v4([198, 18, 4, n], 0), FwdMethod::Tunnel, 1))
                .collect(),
        ),
    ];
    if reverse {
        services.reverse();
        for (_, dests) in services.iter_mut() {
            dests.reverse();
        }
    }
    for (svc, dests) in services {
        let id = d.add_service(svc, TestRr::default()).unwrap();
        for dc in dests {
            d.add_dest(id, dc).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    pkt: PacketMeta,
    nat: bool,
    persistent: bool,
    daddr: Endpoint,
}

fn meta(proto: Protocol, c: Endpoint, vip: Endpoint, flags: TcpFlags, mark: u32) -> PacketMeta {
    let mut p = PacketMeta::new(FlowKey::new(proto, c, vip), flags, 60);
    p.fwmark = mark;
    p
}

fn forward(v: Verdict) -> lvs_core::director::Forward {
    match v {
        Verdict::Forward(f) => f,
        other => panic!("expected forward, got {other:?}"),
    }
}

/// Opens a flow on `d` with three client packets (the default sync threshold), replies for
/// NAT, and returns it.
fn open(d: &mut Director<'_, TestRr>, now: Instant, mut pkt: PacketMeta, nat: bool) -> Flow {
    let tcp = pkt.flow.proto == Protocol::Tcp;
    if tcp {
        pkt.tcp_flags = SYN;
    }
    let f = forward(d.handle_inbound(now, &pkt));
    assert!(f.new_conn);
    let client = pkt.flow.src;
    if tcp {
        if nat {
            let r = PacketMeta::new(FlowKey::new(Protocol::Tcp, f.daddr, client), SYNACK, 60);
            assert!(matches!(d.handle_outbound(now, &r), Verdict::Reply(_)));
        }
        pkt.tcp_flags = ACK;
    }
    for _ in 0..2 {
        let g = forward(d.handle_inbound(now, &pkt));
        assert_eq!((g.daddr, g.new_conn), (f.daddr, false));
    }
    let persistent = d
        .table()
        .iter()
        .any(|(_, e)| e.is_template() && e.dest() == f.dest);
    Flow {
        pkt,
        nat,
        persistent,
        daddr: f.daddr,
    }
}

/// Counts per real-server address: (active, inactive, persistent).
fn counts(d: &Director<'_, TestRr>) -> HashMap<Endpoint, (u32, u32, u32)> {
    let mut m = HashMap::new();
    for (id, _) in d.services() {
        for (_, dd) in d.dests(id).iter() {
            m.insert(dd.addr, (dd.active, dd.inactive, dd.persistent));
        }
    }
    m
}

fn check_counts(d: &Director<'_, TestRr>) {
    for i in 0..32u16 {
        let Some(dd) = d.dest(DestId(i)) else {
            continue;
        };
        let counts = (dd.active, dd.inactive, dd.persistent);
        assert_eq!(counts, table_counts(d, DestId(i)));
    }
}

/// Drains the master's outbox at `now` into the backup; returns (messages, records).
fn pump(
    master: &mut Director<'_, TestRr>,
    backup: &mut Director<'_, TestRr>,
    now: Instant,
) -> (usize, usize) {
    let mut buf = [0u8; 1500];
    let (mut msgs, mut recs) = (0, 0);
    while let Some(n) = master.poll_sync(now, &mut buf, SYNCID) {
        assert!(n <= 1472, "a message fits the default MTU");
        let bytes = &buf[..n];
        assert!(SyncRecords::new(bytes).unwrap().all(|r| r.is_ok()));
        msgs += 1;
        recs += backup.apply_sync(now, bytes, SYNCID).unwrap();
    }
    (msgs, recs)
}

#[test]
fn backup_takes_over_every_synced_flow() {
    let mut bmem = Mem::new(1024);
    let mut backup = director(&mut bmem, SyncRole::Backup, true);

    let flows: Vec<Flow>;
    let master_counts;
    {
        let mut mmem = Mem::new(1024);
        let mut master = director(&mut mmem, SyncRole::Master(SyncPolicy::DEFAULT), false);
        let t0 = Instant::from_secs(10);
        let mut fl = Vec::new();
        for i in 0..40u16 {
            let c4 = Endpoint::v4([198, 19, (i / 200) as u8, (i % 200) as u8 + 1], 40000 + i);
            let c6 = v6(&format!("[2001:db8:9::{:x}]:{}", i + 1, 40000 + i));
            fl.push(open(
                &mut master,
                t0,
                meta(Protocol::Tcp, c4, NAT_VIP, SYN, 0),
                true,
            ));
            fl.push(open(
                &mut master,
                t0,
                meta(Protocol::Tcp, c4, DR_VIP, SYN, 0),
                false,
            ));
            fl.push(open(
                &mut master,
                t0,
                meta(Protocol::Tcp, c6, v6_vip(), SYN, 0),
                true,
            ));
            fl.push(open(
                &mut master,
                t0,
                meta(Protocol::Udp, c4, DNS_VIP, SYN, 0),
                true,
            ));
            let marked = Endpoint::new(c4.addr, 30000 + i);
            let dst = Endpoint::v4([198, 18, 0, 9], 443);
            fl.push(open(
                &mut master,
                t0,
                meta(Protocol::Tcp, marked, dst, SYN, MARK),
                false,
            ));
        }
        flows = fl;
        check_counts(&master);
        let entries = master.table().len();
        let templates = master
            .table()
            .iter()
            .filter(|(_, e)| e.is_template())
            .count();
        // everything sent at pkts == 3, templates with it, each queued once
        assert_eq!(master.sync_pending(), entries);
        // full messages go at once; the partial rest waits for the flush time
        let t1 = t0 + Duration::from_millis(1999);
        let (early_msgs, early_recs) = pump(&mut master, &mut backup, t0);
        assert!(early_msgs >= 8, "{entries} records fill several messages");
        let pending = master.sync_pending();
        assert!(pending < 40, "less than a message waits: {pending}");
        if pending > 0 {
            assert_eq!(master.sync_poll_at(), Some(t0 + FLUSH_TIME));
            assert_eq!(pump(&mut master, &mut backup, t1), (0, 0));
        }
        let (late_msgs, late_recs) = pump(&mut master, &mut backup, t0 + FLUSH_TIME);
        let (msgs, recs) = (early_msgs + late_msgs, early_recs + late_recs);
        let sc = master.counters().sync;
        println!(
            "master: {} entries ({} templates) -> {} messages / {} records ({} bytes of outbox \
             handles); backup applied {}, queue drops {}",
            entries,
            templates,
            sc.messages_sent,
            sc.records_sent,
            lvs_core::director::SYNC_OUTBOX_LEN * 8,
            recs,
            sc.queue_full
        );
        assert!(msgs > 0);
        assert_eq!(recs, entries, "every entry was applied on the backup");
        assert_eq!(backup.table().len(), entries);
        assert_eq!(master.sync_pending(), 0);
        assert_eq!(sc.queue_full, 0);
        master_counts = counts(&master);
        // the master is dropped here
    }
    let bc = backup.counters().sync;
    assert_eq!(
        (bc.unbound, bc.rejected, bc.table_full, bc.malformed),
        (0, 0, 0, 0)
    );
    check_counts(&backup);
    assert_eq!(
        counts(&backup),
        master_counts,
        "the master's active/inactive/persistent counts"
    );
    assert!(backup
        .table()
        .iter()
        .all(|(_, e)| e.flags().contains(cf::SYNCED)));

    // failover: non-SYN packets of every flow reach the same real server
    let t2 = Instant::from_secs(20);
    for f in &flows {
        let g = forward(backup.handle_inbound(t2, &f.pkt));
        assert_eq!(g.daddr, f.daddr, "{:?}", f.pkt.flow);
        assert!(!g.new_conn);
        if f.nat {
            let r = PacketMeta::new(
                FlowKey::new(f.pkt.flow.proto, f.daddr, f.pkt.flow.src),
                ACK,
                60,
            );
            match backup.handle_outbound(t2, &r) {
                Verdict::Reply(rp) => assert_eq!(rp.vaddr, f.pkt.flow.dst),
                other => panic!("reply of {:?}: {other:?}", f.pkt.flow),
            }
        }
    }
    // persistent clients open new connections to the same server through the synced templates
    let mut persistent = 0;
    for f in flows.iter().filter(|f| f.persistent) {
        let mut p = f.pkt;
        p.flow.src.port ^= 0x4000;
        p.tcp_flags = SYN;
        let g = forward(backup.handle_inbound(t2, &p));
        assert!(g.new_conn);
        assert_eq!(g.daddr.addr, f.daddr.addr, "{:?}", p.flow);
        persistent += 1;
    }
    assert_eq!(persistent, 120);
    check_counts(&backup);
}

#[test]
fn flush_rule_and_bounded_outbox() {
    let mut mmem = Mem::new(4096);
    let mut master = director(&mut mmem, SyncRole::Master(SyncPolicy::DEFAULT), false);
    let t0 = Instant::from_secs(1);
    // one flow: one record, held until 2 s after it was queued
    let f = open(
        &mut master,
        t0,
        meta(
            Protocol::Udp,
            Endpoint::v4([198, 19, 0, 1], 1),
            DNS_VIP,
            SYN,
            0,
        ),
        true,
    );
    let _ = f;
    assert_eq!(master.sync_pending(), 1);
    assert!(master.poll_timeout().unwrap() <= t0 + FLUSH_TIME);
    let mut buf = [0u8; 1500];
    assert_eq!(
        master.poll_sync(t0 + Duration::from_millis(1999), &mut buf, 1),
        None
    );
    let n = master.poll_sync(t0 + FLUSH_TIME, &mut buf, 1).unwrap();
    let recs: Vec<SyncConn> = SyncRecords::new(&buf[..n])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].protocol, Protocol::Udp);
    assert_eq!(recs[0].flags & conn_flags::INACTIVE, conn_flags::INACTIVE);
    assert_eq!(recs[0].timeout, 300);
    assert_eq!(buf[1], 1, "syncid");

    // 2000 UDP flows synced at once: the outbox holds 1024, the rest is dropped and counted
    for i in 0..2000u16 {
        let c = Endpoint::v4([198, 20, (i / 250) as u8, (i % 250) as u8 + 1], 2);
        open(
            &mut master,
            t0,
            meta(Protocol::Udp, c, DNS_VIP, SYN, 0),
            true,
        );
    }
    let sc = master.counters().sync;
    assert_eq!(master.sync_pending(), lvs_core::director::SYNC_OUTBOX_LEN);
    assert_eq!(sc.queue_full, 2000 - 1024);
    // full messages are due at once: 40 IPv4 records fill 1472 bytes
    let mut msgs = 0;
    while let Some(n) = master.poll_sync(t0, &mut buf, 1) {
        assert_eq!(SyncRecords::new(&buf[..n]).unwrap().count(), 40);
        msgs += 1;
    }
    assert_eq!(msgs, 1024 / 40);
    assert_eq!(master.sync_pending(), 1024 % 40);
}

#[test]
fn backup_rejects_hostile_bytes_and_stays_bounded() {
    let mut bmem = Mem::new(64);
    let mut backup = director(&mut bmem, SyncRole::Backup, false);
    let now = Instant::from_secs(1);
    // typed errors for framing problems
    assert!(matches!(
        backup.apply_sync(now, &[0, 1], 0),
        Err(SyncError::HeaderTruncated { .. })
    ));
    assert!(matches!(
        backup.apply_sync(now, &[0, 1, 0, 99, 0, 1, 0, 0], 0),
        Err(SyncError::SizeMismatch { .. })
    ));
    // 600 records of real flows into a 64-slot table: the table stays 64 and the rest is
    // refused and counted
    let mut applied = 0;
    let mut i = 0u32;
    while i < 600 {
        let mut buf = [0u8; 1472];
        let mut b = SyncMessageBuilder::new(&mut buf, 0, 1472).unwrap();
        loop {
            let c = Endpoint::v4([10, 0, (i >> 8) as u8, i as u8], 1000);
            let mut r = SyncConn::new(
                Protocol::Tcp,
                c,
                NAT_VIP,
                Endpoint::v4([198, 18, 1, 1], 8080),
            );
            r.state = 1;
            if i >= 600 || b.push(&r).is_err() {
                break;
            }
            i += 1;
        }
        let n = b.finish();
        applied += backup.apply_sync(now, &buf[..n], 0).unwrap();
    }
    assert_eq!(applied, 64);
    assert_eq!(backup.table().len(), 64);
    assert_eq!(backup.counters().sync.table_full, 600 - 64);
    check_counts(&backup);
    // records for services this backup does not have are skipped
    let mut buf = [0u8; 200];
    let mut b = SyncMessageBuilder::new(&mut buf, 0, 200).unwrap();
    let r = SyncConn::new(
        Protocol::Tcp,
        Endpoint::v4([10, 9, 9, 9], 1),
        Endpoint::v4([203, 0, 113, 1], 80),
        Endpoint::v4([198, 18, 1, 1], 8080),
    );
    b.push(&r).unwrap();
    let n = b.finish();
    assert_eq!(backup.apply_sync(now, &buf[..n], 0), Ok(0));
    assert_eq!(backup.counters().sync.unbound, 1);
    // another sync ID: ignored
    assert_eq!(backup.apply_sync(now, &buf[..n], 5), Ok(0));
    // a director that is not a backup ignores messages
    let mut mem2 = Mem::new(64);
    let mut none = Director::new(DirectorConfig::new(SipKey(0, 0)), mem2.borrow(), now).unwrap();
    configure(&mut none, false);
    assert_eq!(none.apply_sync(now, &buf[..n], 0), Ok(0));
    assert_eq!(none.table().len(), 0);
}

#[test]
fn backup_follows_state_changes_and_replacements() {
    let mut bmem = Mem::new(64);
    let mut backup = director(&mut bmem, SyncRole::Backup, false);
    let c = Endpoint::v4([10, 0, 0, 1], 1000);
    let rs1 = Endpoint::v4([198, 18, 1, 1], 8080);
    let rs2 = Endpoint::v4([198, 18, 1, 2], 8080);
    let send = |d: &mut Director<'_, TestRr>, daddr: Endpoint, state: u16, inactive: bool| {
        let mut r = SyncConn::new(Protocol::Tcp, c, NAT_VIP, daddr);
        r.state = state;
        if inactive {
            r.flags |= conn_flags::INACTIVE;
        }
        let mut buf = [0u8; 100];
        let mut b = SyncMessageBuilder::new(&mut buf, 0, 100).unwrap();
        b.push(&r).unwrap();
        let n = b.finish();
        d.apply_sync(Instant::from_secs(1), &buf[..n], 0).unwrap()
    };
    let by_addr = |d: &Director<'_, TestRr>, a: Endpoint| counts(d)[&a];
    assert_eq!(send(&mut backup, rs1, 1, false), 1);
    assert_eq!(by_addr(&backup, rs1), (1, 0, 0));
    // ESTABLISHED -> FIN_WAIT, inactive: the counts follow the master
    assert_eq!(send(&mut backup, rs1, 4, true), 1);
    assert_eq!(by_addr(&backup, rs1), (0, 1, 0));
    check_counts(&backup);
    // the master replaced the connection (same client port, another server, active)
    assert_eq!(send(&mut backup, rs2, 1, false), 1);
    assert_eq!(by_addr(&backup, rs1), (0, 0, 0));
    assert_eq!(by_addr(&backup, rs2), (1, 0, 0));
    // a late inactive record of the old connection does not undo that
    assert_eq!(send(&mut backup, rs1, 5, true), 0);
    assert_eq!(backup.counters().sync.superseded, 1);
    assert_eq!(by_addr(&backup, rs2), (1, 0, 0));
    assert_eq!(backup.table().len(), 1);
    check_counts(&backup);
}
