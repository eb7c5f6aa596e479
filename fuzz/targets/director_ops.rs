// director_ops: a structured target. The input is decoded with the `arbitrary` crate into a
// scheduler name and a sequence of control operations and packets, built from the library's
// own `Arbitrary` types (`DirectorConfig`, `ServiceConfig`, `DestConfig`, `TcpFlags`,
// `Duration`): configuration changes (through `try_set_config`, so invalid ones must be
// refused with an error and change nothing), services and real servers added, edited and
// removed, packets from clients toward the services and replies from the real servers, time
// steps, stats zeroing and flushes. The director runs any of the 14 kernel schedulers
// (`AnyScheduler`). After every operation:
// - nothing panicked;
// - each real server's active/inactive/persistent counters equal the table entries bound to it,
//   and no entry is bound to a freed server;
// - the table holds at most its capacity, and every service's real servers belong to it;
// - a refused configuration left the configuration as it was.

use arbitrary::{Arbitrary, Unstructured};
use lvs_core::conn::ConnFlags as cf;
use lvs_core::director::{Director, DirectorConfig, OwnedMemory, PacketMeta};
use lvs_core::hash::SipKey;
use lvs_core::{
    AddrFamily, DestConfig, DestId, Duration, Endpoint, FlowKey, Instant, Protocol, ServiceConfig, ServiceKey,
    TcpFlags,
};
use lvs_sched::registry::{AnyScheduler, SchedOptions, NAMES};

const CONNS: usize = 64;
const SERVICES: usize = 4;
const DESTS: usize = 8;
const MAX_OPS: usize = 256;

/// One step.
#[derive(Arbitrary, Debug)]
enum Op {
    SetConfig(DirectorConfig),
    AddService(ServiceConfig, u8),
    EditService(u8, ServiceConfig, u8),
    RemoveService(u8),
    AddDest(u8, DestConfig),
    EditDest(u8, u8, u32),
    RemoveDest(u8, u8),
    /// A client packet toward service `svc`: client number, port, TCP flags, length.
    Inbound {
        svc: u8,
        client: u8,
        port: u16,
        flags: TcpFlags,
        len: u16,
    },
    /// A reply from real server `dest` of service `svc` to a client.
    Outbound {
        svc: u8,
        dest: u8,
        client: u8,
        port: u16,
        flags: TcpFlags,
    },
    /// Any flow at all.
    Packet(FlowKey, TcpFlags, u16),
    Advance(Duration),
    ZeroStats,
    FlushDest(u8, u8),
}

fn sched(pick: u8) -> AnyScheduler<'static> {
    let name = NAMES[pick as usize % NAMES.len()];
    let mut opts = SchedOptions::default();
    opts.mh_table_size = 251;
    AnyScheduler::from_name(name, &opts).unwrap_or_else(|_| {
        AnyScheduler::from_name("rr", &SchedOptions::default()).expect("rr")
    })
}

fn service_key(d: &Director<'_, AnyScheduler>, i: u8) -> Option<ServiceKey> {
    let n = d.services().count();
    if n == 0 {
        return None;
    }
    d.services()
        .nth(i as usize % n)
        .map(|(_, s)| s.config.key)
}

fn dest_of(d: &Director<'_, AnyScheduler>, svc: u8, i: u8) -> Option<(ServiceKey, Endpoint)> {
    let key = service_key(d, svc)?;
    let id = d.find_service(&key)?;
    let set = d.dests(id);
    let n = set.order().len();
    if n == 0 {
        return None;
    }
    let dest = set.order()[i as usize % n];
    Some((key, d.dest(dest)?.addr))
}

fn client(n: u8, port: u16, family_v6: bool) -> Endpoint {
    if family_v6 {
        Endpoint::new(
            lvs_core::IpAddr::V6(lvs_core::Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, n.into())),
            port,
        )
    } else {
        Endpoint::v4([198, 19, 0, n], port)
    }
}

fn check(d: &Director<'_, AnyScheduler>, what: &str) {
    let mut want = [(0u32, 0u32, 0u32); DESTS];
    for (_, e) in d.table().iter() {
        let i = e.dest().index();
        assert!(i < DESTS, "{what}: entry bound to dest {i}");
        assert!(d.dest(e.dest()).is_some(), "{what}: entry bound to a freed server");
        if e.is_template() {
            want[i].2 += 1;
        } else if e.flags().contains(cf::INACTIVE) {
            want[i].1 += 1;
        } else {
            want[i].0 += 1;
        }
    }
    for (i, w) in want.iter().enumerate() {
        if let Some(dd) = d.dest(DestId(i as u16)) {
            assert_eq!(
                (dd.active, dd.inactive, dd.persistent),
                *w,
                "{what}: counters of dest {i}"
            );
        }
    }
    assert!(d.table().len() <= d.table().capacity(), "{what}: table bound");
    for (id, s) in d.services() {
        for (did, dest) in d.dests(id).iter() {
            assert!(dest.is_available(), "{what}: listed server {did:?} not available");
            assert_eq!(dest.service, id.0, "{what}: server {did:?} in another service");
        }
        let _ = s;
    }
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(seed) = u64::arbitrary(&mut u) else {
        return;
    };
    let mut mem = OwnedMemory::<AnyScheduler>::new(CONNS, SERVICES, DESTS);
    let Ok(mut d) = Director::new(
        DirectorConfig::new(SipKey(seed, !seed)),
        mem.borrow(),
        Instant::ZERO,
    ) else {
        return;
    };
    let mut now = Instant::ZERO;
    for step in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        let what = format!("step {step} {op:?}");
        match op {
            Op::SetConfig(mut cfg) => {
                // the hash seed is fixed at construction; keep the budget small but non-zero
                cfg.hash_seed = d.config().hash_seed;
                let before = *d.config();
                if d.try_set_config(cfg).is_err() {
                    assert_eq!(*d.config(), before, "{what}: refused config changed something");
                }
            }
            Op::AddService(cfg, s) => {
                let _ = d.add_service(cfg, sched(s));
            }
            Op::EditService(i, cfg, s) => {
                if let Some(key) = service_key(&d, i) {
                    if let Some(id) = d.find_service(&key) {
                        let _ = d.edit_service(id, cfg, Some(sched(s)));
                    }
                }
            }
            Op::RemoveService(i) => {
                if let Some(key) = service_key(&d, i) {
                    if let Some(id) = d.find_service(&key) {
                        d.remove_service(id).expect("listed service removes");
                    }
                }
            }
            Op::AddDest(i, mut cfg) => {
                if let Some(key) = service_key(&d, i) {
                    if let Some(id) = d.find_service(&key) {
                        // mostly valid servers: small weights, the service's address family
                        // (an out-of-range weight is kept one time in eight)
                        if cfg.weight & 0x7000_0000 != 0x7000_0000 {
                            cfg.weight %= 8;
                        }
                        if cfg.addr.family() != key.family() {
                            let n = cfg.addr.port as u8;
                            cfg.addr = client(n, cfg.addr.port, key.family() == AddrFamily::Ipv6);
                        }
                        let r = d.add_dest(id, cfg);
                        if cfg.weight > lvs_core::dest::MAX_WEIGHT {
                            assert!(r.is_err(), "{what}: bad weight accepted");
                        }
                    }
                }
            }
            Op::EditDest(s, i, weight) => {
                if let Some((key, addr)) = dest_of(&d, s, i) {
                    let id = d.find_service(&key).expect("listed");
                    let did = d.find_dest(id, &addr).expect("listed");
                    let mut cfg = d.dest(did).expect("listed").config();
                    cfg.weight = weight;
                    let r = d.edit_dest(id, cfg);
                    assert_eq!(r.is_ok(), weight <= lvs_core::dest::MAX_WEIGHT, "{what}");
                }
            }
            Op::RemoveDest(s, i) => {
                if let Some((key, addr)) = dest_of(&d, s, i) {
                    let id = d.find_service(&key).expect("listed");
                    d.remove_dest(id, &addr).expect("listed server removes");
                }
            }
            Op::Inbound {
                svc,
                client: c,
                port,
                flags,
                len,
            } => {
                if let Some(key) = service_key(&d, svc) {
                    let v6 = key.family() == AddrFamily::Ipv6;
                    let (flow, mark) = match key {
                        ServiceKey::Addr { proto, vip } => {
                            (FlowKey::new(proto, client(c, port, v6), vip), 0)
                        }
                        ServiceKey::Fwmark { mark, .. } => {
                            let vip = client(200, 80, v6);
                            (FlowKey::new(Protocol::Tcp, client(c, port, v6), vip), mark)
                        }
                    };
                    let mut pkt = PacketMeta::new(flow, flags, len.into());
                    pkt.fwmark = mark;
                    let _ = d.handle_inbound(now, &pkt);
                }
            }
            Op::Outbound {
                svc,
                dest,
                client: c,
                port,
                flags,
            } => {
                if let Some((key, addr)) = dest_of(&d, svc, dest) {
                    let proto = match key {
                        ServiceKey::Addr { proto, .. } => proto,
                        ServiceKey::Fwmark { .. } => Protocol::Tcp,
                    };
                    let v6 = matches!(addr.addr, lvs_core::IpAddr::V6(_));
                    let flow = FlowKey::new(proto, addr, client(c, port, v6));
                    let _ = d.handle_outbound(now, &PacketMeta::new(flow, flags, 60));
                }
            }
            Op::Packet(flow, flags, len) => {
                let _ = d.handle_packet(now, &PacketMeta::new(flow, flags, len.into()));
            }
            Op::Advance(dt) => {
                // at most an hour per step, so that the table sees expiries and ticks
                let ms = dt.total_millis() % 3_600_000;
                now += Duration::from_millis(ms);
                let _ = d.handle_timeout(now);
            }
            Op::ZeroStats => d.zero_stats(now),
            Op::FlushDest(s, i) => {
                if let Some((key, addr)) = dest_of(&d, s, i) {
                    let id = d.find_service(&key).expect("listed");
                    let did = d.find_dest(id, &addr).expect("listed");
                    let _ = d.flush_dest(did, now);
                }
            }
        }
        check(&d, &what);
    }
}
