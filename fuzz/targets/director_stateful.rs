// director_stateful: the director driven by arbitrary sequences of packets (both directions,
// ICMP errors, fragments), time steps, configuration changes (weights, real servers and
// services added and removed, every defence and reuse sysctl, sync roles and policies), sync
// messages from a master to a backup, and hostile sync bytes. After every step, on both
// directors:
// - each real server's active/inactive/persistent counters equal the table entries bound to it
//   (so no counter ever underflowed or drifted), and no entry is bound to a freed server;
// - a flow's real server never changes while its entry lives: a packet forwarded on an existing
//   entry goes where that entry went before the step, and a step that inserted nothing changed
//   no connection's real server;
// - the table and the sync outbox stay within their capacities;
// - nothing panics.
//
// The input is read with a small byte cursor (an exhausted input reads as zeros), not the
// `arbitrary` crate: this file is also compiled into lvs-core's tests, which do not have that
// crate.

use lvs_core::conn::{ConnFlags as cf, ConnKey, ConnSlot};
use lvs_core::director::{
    Defense, Director, DirectorConfig, DirectorMemory, PacketMeta, Service, SyncRole, Verdict,
    SYNC_OUTBOX_LEN,
};
use lvs_core::hash::SipKey;
use lvs_core::stats::Stats;
use lvs_core::sync::SyncPolicy;
use lvs_core::{
    AddrFamily, Dest, DestConfig, DestId, DestSet, Duration, Endpoint, FlowKey, FwdMethod, Instant,
    Persistence, Protocol, SchedRequest, Scheduler, ServiceConfig, ServiceKey, TcpFlags,
};

const POOL: usize = 12;
const MAX_STEPS: usize = 400;

struct Cursor<'a> {
    data: &'a [u8],
}

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

/// Round robin over servers with weight > 0 and not overloaded.
#[derive(Default)]
struct Rr {
    last: usize,
}

impl Scheduler for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }
    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let order = dests.order();
        for k in 0..order.len() {
            let i = (self.last + 1 + k) % order.len();
            let d = dests.get(order[i])?;
            if d.weight > 0 && !d.is_overloaded() {
                self.last = i;
                return Some(order[i]);
            }
        }
        None
    }
}

struct Mem {
    conns: Vec<ConnSlot>,
    services: Vec<Option<Service<Rr>>>,
    dests: Vec<Dest>,
    stats: Vec<Stats>,
    order: Vec<DestId>,
    fixed: Box<lvs_core::director::DirectorFixed>,
}

impl Mem {
    fn new(conns: usize) -> Self {
        let blank = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        Mem {
            conns: vec![ConnSlot::EMPTY; conns],
            services: (0..6).map(|_| None).collect(),
            dests: vec![blank; POOL],
            stats: vec![Stats::default(); POOL],
            order: vec![DestId(0); POOL],
            fixed: Box::default(),
        }
    }
    fn borrow(&mut self) -> DirectorMemory<'_, Rr> {
        DirectorMemory {
            conns: &mut self.conns,
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.stats,
            order: &mut self.order,
            fixed: &mut self.fixed,
        }
    }
}

const N_SVC: usize = 5;

fn v6(last: u8, port: u16) -> Endpoint {
    Endpoint::v6(
        [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last],
        port,
    )
}

fn service(i: usize) -> ServiceConfig {
    let p = Persistence::new(Duration::from_secs(30));
    match i {
        0 => ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: Endpoint::v4([198, 18, 0, 1], 80),
        }),
        1 => ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: Endpoint::v4([198, 18, 0, 2], 0),
        })
        .with_persistence(p.with_prefix(24)),
        2 => ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Udp,
            vip: Endpoint::v4([198, 18, 0, 1], 53),
        })
        .with_persistence(p),
        3 => ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: v6(1, 443),
        })
        .with_persistence(p),
        _ => ServiceConfig::new(ServiceKey::Fwmark {
            af: AddrFamily::Ipv4,
            mark: 7,
        })
        .with_persistence(p),
    }
}

fn vip(i: usize, port: u16) -> (Protocol, Endpoint, u32) {
    match i {
        0 => (Protocol::Tcp, Endpoint::v4([198, 18, 0, 1], 80), 0),
        1 => (
            Protocol::Tcp,
            Endpoint::v4([198, 18, 0, 2], port % 4 + 20),
            0,
        ),
        2 => (Protocol::Udp, Endpoint::v4([198, 18, 0, 1], 53), 0),
        3 => (Protocol::Tcp, v6(1, 443), 0),
        _ => (
            Protocol::Tcp,
            Endpoint::v4([198, 18, 0, 9], port % 3 + 440),
            7,
        ),
    }
}

fn dest_addr(svc: usize, k: u8) -> Endpoint {
    match svc {
        3 => v6(0x10 + k, 8443),
        4 => Endpoint::v4([198, 18, 4, k + 1], 0),
        _ => Endpoint::v4(
            [198, 18, svc as u8 + 1, k + 1],
            if svc == 1 { 0 } else { 8080 },
        ),
    }
}

fn client(svc: usize, c: u8, port: u8) -> Endpoint {
    let port = 1000 + u16::from(port % 4);
    if svc == 3 {
        v6(0x80 + c % 8, port)
    } else {
        Endpoint::v4([198, 19, c % 2, c % 8], port)
    }
}

fn method(b: u8) -> FwdMethod {
    match b % 3 {
        0 => FwdMethod::Masq,
        1 => FwdMethod::DirectRoute,
        _ => FwdMethod::Tunnel,
    }
}

type Snapshot = Vec<Option<(ConnKey, DestId, bool)>>;

fn snapshot(d: &Director<'_, Rr>) -> Snapshot {
    let mut s = vec![None; d.table().capacity()];
    for (h, e) in d.table().iter() {
        s[h.0 as usize] = Some((e.key(), e.dest(), e.is_template()));
    }
    s
}

/// Counters equal the table, and nothing is bound to a freed server.
fn check_counts(d: &Director<'_, Rr>, what: &str) {
    let mut want = [(0u32, 0u32, 0u32); POOL];
    for (_, e) in d.table().iter() {
        let i = e.dest().index();
        assert!(i < POOL, "{what}: entry bound to dest {i}");
        assert!(
            d.dest(e.dest()).is_some(),
            "{what}: entry bound to a freed server"
        );
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
                "{what}: dest {i}"
            );
        }
    }
    assert!(d.table().len() <= d.table().capacity());
    assert!(d.sync_pending() <= SYNC_OUTBOX_LEN);
}

/// A step that inserted nothing changed no live connection's real server.
fn check_stable(before: &Snapshot, d: &Director<'_, Rr>, inserted: bool, what: &str) {
    if inserted {
        return;
    }
    for (h, e) in d.table().iter() {
        if let Some(Some((k, dest, tpl))) = before.get(h.0 as usize) {
            if !*tpl && !e.is_template() && *k == e.key() {
                assert_eq!(*dest, e.dest(), "{what}: connection {k:?} changed server");
            }
        }
    }
}

/// A verdict on an existing entry goes where the entry went before the step.
fn check_verdict(before: &Snapshot, d: &Director<'_, Rr>, v: &Verdict, what: &str) {
    let (h, dest) = match v {
        Verdict::Forward(f) => {
            if let Some(h) = f.conn {
                let e = d.table().get(h).expect("forwarded on a live entry");
                assert_eq!(e.dest(), f.dest, "{what}");
                assert_eq!(d.entry_daddr(e), Some(f.daddr), "{what}");
            }
            if f.new_conn {
                return;
            }
            match f.conn {
                Some(h) => (h, f.dest),
                None => return,
            }
        }
        Verdict::Reply(r) => {
            let e = d.table().get(r.conn).expect("reply on a live entry");
            (r.conn, e.dest())
        }
        _ => return,
    };
    let e = d.table().get(h).expect("live");
    if let Some(Some((k, old, _))) = before.get(h.0 as usize) {
        if *k == e.key() {
            assert_eq!(*old, dest, "{what}: flow changed server");
        }
    }
}

fn packet(cur: &mut Cursor<'_>, reply_of: Option<&Director<'_, Rr>>) -> PacketMeta {
    let svc = cur.below(N_SVC as u8) as usize;
    let c = client(svc, cur.u8(), cur.u8());
    let (proto, v, mark) = vip(svc, u16::from(cur.u8()));
    let flags = TcpFlags(cur.u8() & 0x3f);
    let extra = cur.u8();
    let mut flow = FlowKey::new(proto, c, v);
    if let Some(d) = reply_of {
        // from the real server the entry went to, or from some server
        let key = ConnKey {
            proto,
            caddr: c.addr,
            cport: c.port,
            vaddr: v.addr,
            vport: v.port,
        };
        let from = d
            .table()
            .find(&key, false)
            .and_then(|h| d.table().get(h))
            .and_then(|e| d.entry_daddr(e))
            .filter(|_| extra & 0x10 == 0)
            .unwrap_or_else(|| dest_addr(svc, extra % 3));
        flow = FlowKey::new(proto, from, c);
    }
    let mut p = PacketMeta::new(flow, flags, u32::from(extra) * 8);
    p.fwmark = if extra & 0x20 != 0 {
        u32::from(extra & 7)
    } else {
        mark
    };
    p.non_first_fragment = extra & 0xc0 == 0xc0;
    p
}

fn policy(cur: &mut Cursor<'_>) -> SyncPolicy {
    let th = u32::from(cur.below(8));
    let period = u32::from(cur.below(60));
    SyncPolicy::new(th, period)
        .unwrap_or(SyncPolicy::DEFAULT)
        .with_persist_mode(cur.bool())
}

fn configure(cur: &mut Cursor<'_>, d: &mut Director<'_, Rr>) {
    let mut c = *d.config();
    match cur.below(11) {
        0 => {
            c.secure_tcp = match cur.below(3) {
                0 => Defense::Off,
                1 => Defense::Auto,
                _ => Defense::Always,
            }
        }
        1 => c.drop_entry = cur.bool(),
        2 => c.defense_threshold = u32::from(cur.below(20)),
        3 => c.expire_nodest_conn = cur.bool(),
        4 => c.expire_quiescent_template = cur.bool(),
        5 => c.conn_reuse_mode = cur.below(4),
        6 => c.sloppy_tcp = cur.bool(),
        7 => c.expire_budget = u32::from(cur.u8()) + 1,
        8 => {
            let s = cur.below(11) as usize;
            c.timeouts.tcp[s] = Duration::from_secs(u64::from(cur.below(40)) + 1);
            c.timeouts.udp = Duration::from_secs(u64::from(cur.below(40)) + 1);
        }
        9 => {
            c.sync = match cur.below(4) {
                0 => SyncRole::None,
                1 => SyncRole::Master(policy(cur)),
                2 => SyncRole::Backup,
                _ => SyncRole::Both(policy(cur)),
            };
            c.sync_max_len = [0, 100, 200, 1472][cur.below(4) as usize];
        }
        _ => {
            // what the director cannot do is refused, and then nothing changes
            let p = SyncPolicy::DEFAULT.with_refresh_period(Duration::from_secs(5));
            c.sync = SyncRole::Master(p);
            let before = *d.config();
            assert!(d.try_set_config(c).is_err());
            assert_eq!(*d.config(), before);
            return;
        }
    }
    d.set_config(c);
}

fn setup<'m>(mem: &'m mut Mem, seed: u64, role: SyncRole) -> Director<'m, Rr> {
    let mut cfg = DirectorConfig::new(SipKey(seed, !seed));
    cfg.sync = role;
    let mut d = Director::new(cfg, mem.borrow(), Instant::from_secs(1000)).expect("valid memory");
    for i in 0..N_SVC {
        let s = d.add_service(service(i), Rr::default()).expect("room");
        for k in 0..2 {
            let m = if i == 0 || i == 3 {
                FwdMethod::Masq
            } else {
                method(k)
            };
            d.add_dest(s, DestConfig::new(dest_addr(i, k), m, 1))
                .expect("room");
        }
    }
    d
}

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let mut cur = Cursor { data };
    let mut ma = Mem::new(64);
    let mut mb = Mem::new(32);
    let mut a = setup(&mut ma, 1, SyncRole::Both(SyncPolicy::DEFAULT));
    let mut b = setup(&mut mb, 2, SyncRole::Backup);
    let mut now = Instant::from_secs(1000);
    let mut buf = [0u8; 1500];
    for step in 0..MAX_STEPS {
        if cur.data.is_empty() {
            break;
        }
        let on_b = cur.bool();
        let op = cur.below(12);
        let (d, other) = if on_b {
            (&mut b, &mut a)
        } else {
            (&mut a, &mut b)
        };
        let before = snapshot(d);
        let ins = d.table().stats().inserted;
        let what = format!("step {step} op {op} on {}", if on_b { "b" } else { "a" });
        match op {
            0..=2 => {
                let p = packet(&mut cur, None);
                let v = d.handle_inbound(now, &p);
                check_verdict(&before, d, &v, &what);
            }
            3 | 4 => {
                let p = packet(&mut cur, Some(d));
                let v = if op == 3 {
                    d.handle_outbound(now, &p)
                } else {
                    d.handle_packet(now, &p)
                };
                check_verdict(&before, d, &v, &what);
            }
            5 => {
                let step = u64::from(cur.u16()) << cur.below(8);
                now += Duration::from_millis(step);
                d.handle_timeout(now);
                other.handle_timeout(now);
            }
            6 => {
                let svc = lvs_core::ServiceId(cur.below(N_SVC as u8).into());
                let k = cur.below(3);
                let w = u32::from(cur.below(3));
                let m = method(cur.u8());
                let addr = dest_addr(svc.0 as usize, k);
                let fwd = if svc.0 == 0 || svc.0 == 3 {
                    FwdMethod::Masq
                } else {
                    m
                };
                let cfgd =
                    DestConfig::new(addr, fwd, w).with_thresholds(u32::from(cur.below(4)), 0);
                match cur.below(3) {
                    0 => {
                        let _ = d.edit_dest(svc, cfgd);
                    }
                    1 => {
                        let _ = d.remove_dest(svc, &addr);
                    }
                    _ => {
                        let _ = d.add_dest(svc, cfgd);
                    }
                }
            }
            7 => {
                let i = cur.below(N_SVC as u8) as usize;
                match d.find_service(&service(i).key) {
                    Some(id) if cur.bool() => {
                        d.remove_service(id).expect("exists");
                    }
                    Some(_) => {}
                    None => {
                        if let Ok(s) = d.add_service(service(i), Rr::default()) {
                            let _ =
                                d.add_dest(s, DestConfig::new(dest_addr(i, 0), FwdMethod::Masq, 1));
                        }
                    }
                }
            }
            8 => configure(&mut cur, d),
            9 => {
                // the master's messages to the other director
                let syncid = cur.below(3);
                let want = cur.below(3);
                let at = now + Duration::from_millis(u64::from(cur.u16()));
                let mut n = 0;
                while let Some(len) = d.poll_sync(at, &mut buf, syncid) {
                    n += 1;
                    assert!(n <= 2 * SYNC_OUTBOX_LEN, "poll_sync must run dry");
                    let bytes = &buf[..len];
                    assert!(lvs_core::sync::SyncRecords::new(bytes)
                        .expect("a built message is well-formed")
                        .all(|r| r.is_ok()));
                    let ins_o = other.table().stats().inserted;
                    let before_o = snapshot(other);
                    let _ = other.apply_sync(at, bytes, want);
                    check_stable(
                        &before_o,
                        other,
                        other.table().stats().inserted != ins_o,
                        &what,
                    );
                    check_counts(other, &what);
                }
            }
            10 => {
                // hostile bytes, as received, and with the header's size patched to fit
                let len = usize::from(cur.u8());
                let mut bytes = cur.bytes(len).to_vec();
                let _ = d.apply_sync(now, &bytes, 0);
                if bytes.len() >= 8 {
                    let n = bytes.len() as u16;
                    bytes[2..4].copy_from_slice(&n.to_be_bytes());
                    bytes[0] = 0;
                    bytes[5] = 1;
                    bytes[6] = 0;
                    bytes[7] = 0;
                    let _ = d.apply_sync(now, &bytes, 0);
                }
            }
            _ => {
                let p = packet(&mut cur, None);
                let v = if cur.bool() {
                    d.handle_icmp_error(now, &p.flow, 56)
                } else {
                    let q = p.flow.reversed();
                    d.handle_icmp_error(now, &q, 56)
                };
                check_verdict(&before, d, &v, &what);
                if cur.u8() == 0xff {
                    let id = DestId(u16::from(cur.below(POOL as u8)));
                    d.flush_dest(id, now);
                }
            }
        }
        let inserted = d.table().stats().inserted != ins;
        check_stable(&before, d, inserted, &what);
        check_counts(d, &what);
        check_counts(other, &what);
        let _ = d.poll_timeout();
    }
}
