//! Test support shared by the director tests: a small scheduler and caller-provided memory.
#![allow(dead_code)]

use lvs_core::conn::ConnFlags as cf;
use lvs_core::conn::ConnSlot;
use lvs_core::director::{Director, PacketMeta};
use lvs_core::director::{DirectorMemory, Service};
use lvs_core::stats::Stats;
use lvs_core::{
    Dest, DestConfig, DestId, DestSet, Endpoint, FlowKey, FwdMethod, Instant, Protocol,
    SchedRequest, Scheduler, ServiceConfig, ServiceId, ServiceKey, TcpFlags,
};

/// The TCP virtual service most tests use.
pub const VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);
pub const SYN: TcpFlags = TcpFlags::SYN;
pub const ACK: TcpFlags = TcpFlags::ACK;
pub const FINACK: TcpFlags = TcpFlags(0x11);
pub const SYNACK: TcpFlags = TcpFlags(0x12);
pub const RST: TcpFlags = TcpFlags::RST;

/// `s` seconds.
pub fn t(s: u64) -> Instant {
    Instant::from_secs(s)
}

/// Client `n` (198.19.0.`n`) at `port`.
pub fn client(n: u8, port: u16) -> Endpoint {
    Endpoint::v4([198, 19, 0, n], port)
}

/// Real server `n` (198.18.1.`n`:8080).
pub fn rs(n: u8) -> Endpoint {
    Endpoint::v4([198, 18, 1, n], 8080)
}

/// A 60-byte TCP packet from `c` to [`VIP`].
pub fn pkt(c: Endpoint, flags: TcpFlags) -> PacketMeta {
    PacketMeta::new(FlowKey::new(Protocol::Tcp, c, VIP), flags, 60)
}

/// A 60-byte TCP packet from a real server `from` to client `c`.
pub fn reply(from: Endpoint, c: Endpoint, flags: TcpFlags) -> PacketMeta {
    PacketMeta::new(FlowKey::new(Protocol::Tcp, from, c), flags, 60)
}

/// What the connection table holds for server `id`: (active, inactive, persistent) entries.
pub fn table_counts(d: &Director<'_, TestRr>, id: DestId) -> (u32, u32, u32) {
    let (mut a, mut ia, mut p) = (0, 0, 0);
    for (_, e) in d.table().iter().filter(|(_, e)| e.dest() == id) {
        if e.is_template() {
            p += 1;
        } else if e.flags().contains(cf::INACTIVE) {
            ia += 1;
        } else {
            a += 1;
        }
    }
    (a, ia, p)
}

/// Round robin with the kernel's cursor rules, enough to drive the director in these tests.
#[derive(Default)]
pub struct TestRr {
    last: Option<DestId>,
}

impl Scheduler for TestRr {
    fn name(&self) -> &'static str {
        "test-rr"
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        if self.last == Some(id) {
            self.last = if position == 0 {
                None
            } else {
                dests.order().get(position - 1).copied()
            };
        }
    }
    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let order = dests.order();
        let start = match self.last.and_then(|l| dests.position(l)) {
            Some(p) => p + 1,
            None => 0,
        };
        for k in 0..order.len() {
            let id = order[(start + k) % order.len()];
            let d = dests.get(id)?;
            if d.weight > 0 && !d.is_overloaded() {
                self.last = Some(id);
                return Some(id);
            }
        }
        None
    }
}

/// Adds a TCP service at `vip` scheduled by [`TestRr`].
pub fn add_rr(d: &mut Director<'_, TestRr>, vip: Endpoint) -> ServiceId {
    let cfg = ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, vip));
    d.add_service(cfg, TestRr::default()).unwrap()
}

/// Adds the masqueraded real server `addr` of weight `weight` to `svc`.
pub fn add_masq<S: Scheduler>(
    d: &mut Director<'_, S>,
    svc: ServiceId,
    addr: Endpoint,
    weight: u32,
) -> DestId {
    d.add_dest(svc, DestConfig::new(addr, FwdMethod::Masq, weight))
        .unwrap()
}

/// Caller-provided director memory for schedulers of type `S`.
pub struct Mem<S = TestRr> {
    conns: Vec<ConnSlot>,
    services: Vec<Option<Service<S>>>,
    dests: Vec<Dest>,
    stats: Vec<Stats>,
    order: Vec<DestId>,
    fixed: Box<lvs_core::director::DirectorFixed>,
}

impl Mem {
    /// Memory for `conns` connections, 8 services and 32 real servers, for [`TestRr`].
    pub fn new(conns: usize) -> Self {
        Mem::for_sched(conns)
    }
}

impl<S> Mem<S> {
    /// [`Mem::new`] for another scheduler type.
    pub fn for_sched(conns: usize) -> Self {
        let proto = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        Mem {
            conns: vec![ConnSlot::EMPTY; conns],
            services: (0..8).map(|_| None).collect(),
            dests: vec![proto; 32],
            stats: vec![Stats::default(); 32],
            order: vec![DestId(0); 32],
            fixed: Box::default(),
        }
    }
    pub fn borrow(&mut self) -> DirectorMemory<'_, S> {
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
