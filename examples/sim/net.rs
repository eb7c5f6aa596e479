//! The director as the simulator drives it: setup, weights, timers and packets.

use super::*;

pub(crate) fn rs_addr(i: usize) -> Endpoint {
    Endpoint::v4([10, 0, (i / 250) as u8, (i % 250 + 1) as u8], 80)
}

pub(crate) fn client_ep(n: u32, port: u16) -> Endpoint {
    Endpoint::v4([198, 19, (n / 250) as u8, (n % 250 + 1) as u8], port)
}

pub(crate) fn t_ms(us: u64) -> Instant {
    Instant::from_millis(us / 1000)
}

/// A virtual service with `weights.len()` real servers forwarded by `fwd`.
pub(crate) fn setup<'a>(
    mem: &'a mut OwnedMemory<SimSched>,
    seed: u64,
    sched: SimSched,
    weights: &[u32],
    fwd: FwdMethod,
) -> Result<(Director<'a, SimSched>, ServiceId, Vec<usize>), SimError> {
    let key = SipKey(seed ^ 0x5151, seed.rotate_left(17) ^ 0xA5A5);
    let mut dir =
        Director::new(DirectorConfig::new(key), mem.borrow(), Instant::ZERO).map_err(derr)?;
    let svc = dir
        .add_service(
            ServiceConfig::new(ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip: VIP,
            }),
            sched,
        )
        .map_err(derr)?;
    // DestId -> server index
    let mut by_id = vec![usize::MAX; weights.len() + 1];
    for (i, &w) in weights.iter().enumerate() {
        let id = dir
            .add_dest(svc, DestConfig::new(rs_addr(i), fwd, w))
            .map_err(derr)?;
        if by_id.len() <= id.index() {
            by_id.resize(id.index() + 1, usize::MAX);
        }
        by_id[id.index()] = i;
    }
    Ok((dir, svc, by_id))
}

pub(crate) fn set_weight(
    dir: &mut Director<'_, SimSched>,
    svc: ServiceId,
    i: usize,
    w: u32,
    fwd: FwdMethod,
) {
    // the destination exists and the weight is in range: a refusal would be a simulator bug
    dir.edit_dest(svc, DestConfig::new(rs_addr(i), fwd, w))
        .expect("edit_dest on a configured server");
}

pub(crate) fn expire(dir: &mut Director<'_, SimSched>, now_us: u64) {
    let now = t_ms(now_us);
    while dir.poll_timeout().is_some_and(|t| t <= now) {
        let budget = dir.config().expire_budget as usize;
        let n = dir.handle_timeout(now);
        if n < budget {
            break;
        }
    }
}

pub(crate) fn syn(
    dir: &mut Director<'_, SimSched>,
    now_us: u64,
    client: Endpoint,
) -> Option<DestId> {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, client, VIP), TcpFlags::SYN, 60);
    match dir.handle_inbound(t_ms(now_us), &p) {
        Verdict::Forward(f) => Some(f.dest),
        _ => None,
    }
}

pub(crate) fn inbound(
    dir: &mut Director<'_, SimSched>,
    now_us: u64,
    client: Endpoint,
    flags: TcpFlags,
    len: u32,
) {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, client, VIP), flags, len);
    let _ = dir.handle_inbound(t_ms(now_us), &p);
}

pub(crate) fn outbound(
    dir: &mut Director<'_, SimSched>,
    now_us: u64,
    rs: Endpoint,
    client: Endpoint,
    flags: TcpFlags,
    len: u32,
) {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, rs, client), flags, len);
    let _ = dir.handle_outbound(t_ms(now_us), &p);
}

/// Data segments of `bytes` of payload as IP lengths: full segments and the remainder.
pub(crate) fn segments(bytes: u64) -> (u64, u64) {
    (bytes / MSS, bytes % MSS)
}
