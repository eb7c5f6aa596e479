//! A `#![no_std]` consumer of lvs-core, lvs-sched and lvs-forward with default features off.
#![no_std]

use lvs_core::conn::ConnSlot;
use lvs_core::director::{
    Director, DirectorConfig, DirectorFixed, DirectorMemory, PacketMeta, Service, Verdict,
};
use lvs_core::hash::SipKey;
use lvs_core::stats::Stats;
use lvs_core::{
    Dest, DestConfig, DestId, Endpoint, FlowKey, FwdMethod, Instant, Protocol, ServiceConfig,
    ServiceKey, TcpFlags,
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Builds a director on the stack, schedules one flow with wlc and returns the chosen port.
#[unsafe(no_mangle)]
pub extern "C" fn lvs_nostd_smoke() -> u32 {
    let mut conns = [ConnSlot::EMPTY; 16];
    let mut services: [Option<Service<lvs_sched::Wlc>>; 1] = [None];
    let blank = Dest::new(&DestConfig::new(Endpoint::v4([0; 4], 0), FwdMethod::Masq, 0));
    let mut dests = [blank; 2];
    let mut stats = [Stats::default(); 2];
    let mut order = [DestId(0); 2];
    let mut fixed = DirectorFixed::new();
    let mem = DirectorMemory {
        conns: &mut conns,
        services: &mut services,
        dests: &mut dests,
        dest_stats: &mut stats,
        order: &mut order,
        fixed: &mut fixed,
    };
    let Ok(mut d) = Director::new(DirectorConfig::new(SipKey(1, 2)), mem, Instant::ZERO) else {
        return 0;
    };
    let vip = Endpoint::v4([198, 18, 0, 1], 80);
    let key = ServiceKey::Addr { proto: Protocol::Tcp, vip };
    let Ok(s) = d.add_service(ServiceConfig::new(key), lvs_sched::Wlc::new()) else {
        return 0;
    };
    let _ = d.add_dest(s, DestConfig::new(Endpoint::v4([198, 18, 1, 1], 8080), FwdMethod::Masq, 1));
    let flow = FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 1234), vip);
    let verdict = d.handle_inbound(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::SYN, 60));
    // touch lvs-forward too: parse a too-short frame (an error, not a panic)
    let parsed = lvs_forward::parse::parse_ethernet(&[0u8; 4]).is_err();
    match verdict {
        Verdict::Forward(f) if parsed => u32::from(f.daddr.port),
        _ => 0,
    }
}

/// mh through the registry with its table lent from the caller's memory (no allocator):
/// returns the server in slot 0.
#[unsafe(no_mangle)]
pub extern "C" fn lvs_nostd_mh_lent() -> u32 {
    use lvs_core::{DestSet, Scheduler};
    use lvs_sched::registry::{AnyScheduler, SchedOptions, SchedStorage};
    let mut table = lvs_sched::mh::MhTable::new();
    let Ok(mut mh) =
        AnyScheduler::from_name_in("mh", &SchedOptions::default(), SchedStorage::Mh(&mut table))
    else {
        return u32::MAX;
    };
    let pool = [Dest::new(&DestConfig::new(Endpoint::v4([198, 18, 1, 1], 80), FwdMethod::Masq, 1))];
    mh.init_service(&DestSet::new(&pool, &[DestId(0)]));
    match mh {
        AnyScheduler::Mh(m) => m.slot(0).map_or(u32::MAX, |id| u32::from(id.0)),
        _ => u32::MAX,
    }
}
