//! A director holds its scheduler three ways: a concrete type (monomorphised), `&mut dyn
//! Scheduler` (the caller keeps the scheduler) and `Box<dyn Scheduler>` (different algorithms
//! behind one type). All three make the same decisions on the same packets.

use lvs_core::director::{Director, DirectorConfig, OwnedMemory, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, Endpoint, FlowKey, FwdMethod, Instant, Protocol, Scheduler, ServiceConfig,
    ServiceKey, TcpFlags,
};
use lvs_sched::{Rr, Wlc};

const VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);

fn svc() -> ServiceConfig {
    ServiceConfig::new(ServiceKey::Addr {
        proto: Protocol::Tcp,
        vip: VIP,
    })
}

/// Adds three servers with weights 1, 2, 3 and sends 12 SYNs; returns the chosen servers'
/// ports and what the scheduler's name and tick interval read through the director.
fn drive<S: Scheduler>(mem: &mut OwnedMemory<S>, sched: S) -> (Vec<u16>, &'static str, u64) {
    let mut d = Director::new(
        DirectorConfig::new(SipKey(1, 2)),
        mem.borrow(),
        Instant::ZERO,
    )
    .unwrap();
    let s = d.add_service(svc(), sched).unwrap();
    for w in 1..=3u8 {
        let rs = Endpoint::v4([198, 18, 1, w], 8000 + u16::from(w));
        d.add_dest(s, DestConfig::new(rs, FwdMethod::Masq, u32::from(w)))
            .unwrap();
    }
    let mut picks = Vec::new();
    for i in 0..12u16 {
        let c = Endpoint::v4([198, 19, 0, 7], 40000 + i);
        let pkt = PacketMeta::new(FlowKey::new(Protocol::Tcp, c, VIP), TcpFlags::SYN, 60);
        match d.handle_inbound(Instant::ZERO, &pkt) {
            Verdict::Forward(f) => picks.push(f.daddr.port),
            other => panic!("{other:?}"),
        }
    }
    let sv = d.service(s).unwrap();
    (picks, sv.sched.name(), sv.sched.tick_interval_ms())
}

#[test]
fn concrete_scheduler() {
    let mut mem = OwnedMemory::new(64, 2, 8);
    let (picks, name, tick) = drive(&mut mem, Wlc);
    assert_eq!(name, "wlc");
    assert_eq!(tick, 60_000);
    // wlc with weights 1:2:3 spreads 12 new connections 2:4:6
    for (port, n) in [(8001, 2), (8002, 4), (8003, 6)] {
        assert_eq!(picks.iter().filter(|&&p| p == port).count(), n, "{picks:?}");
    }
}

#[test]
fn mut_dyn_scheduler() {
    let mut wlc = Wlc;
    let mut mem = OwnedMemory::new(64, 2, 8);
    let (picks, name, _) = drive::<&mut dyn Scheduler>(&mut mem, &mut wlc);
    assert_eq!(name, "wlc");
    let mut mem2 = OwnedMemory::new(64, 2, 8);
    assert_eq!(picks, drive(&mut mem2, Wlc).0);
}

#[test]
fn boxed_dyn_scheduler() {
    let mut mem = OwnedMemory::new(64, 2, 8);
    let boxed: Box<dyn Scheduler> = Box::new(Rr::default());
    let (picks, name, _) = drive(&mut mem, boxed);
    assert_eq!(name, "rr");
    let mut mem2 = OwnedMemory::new(64, 2, 8);
    assert_eq!(picks, drive(&mut mem2, Rr::default()).0);
    // two algorithms in one director, behind one type
    let mut mem3 = OwnedMemory::<Box<dyn Scheduler>>::new(64, 2, 8);
    let mut d = Director::new(
        DirectorConfig::new(SipKey(1, 2)),
        mem3.borrow(),
        Instant::ZERO,
    )
    .unwrap();
    d.add_service(svc(), Box::new(Wlc)).unwrap();
    let mut other = svc();
    other.key = ServiceKey::Addr {
        proto: Protocol::Udp,
        vip: VIP,
    };
    d.add_service(other, Box::new(Rr::default())).unwrap();
    let names: Vec<_> = d.services().map(|(_, s)| s.sched.name()).collect();
    assert_eq!(names, ["wlc", "rr"]);
}
