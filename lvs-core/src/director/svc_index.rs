//! An index from service key to service slot, so that a new flow finds its service without a
//! scan of every slot (`ip_vs_service_find` hashes its keys the same way).
//!
//! Open addressing over a fixed array inside the director: rebuilt from the slots on every
//! service change (rare), probed per new flow. Keys are unique (a director refuses a second
//! service with a key in use), so each probe finds at most one service. With more services than
//! half the array holds, the index is off and the director scans as before.

use super::{Service, ServiceId};
use crate::addr::{AddrFamily, Endpoint, IpAddr, Protocol, ServiceKey};

/// Index positions (a power of two).
const SLOTS: usize = 512;
/// Services indexed at most: beyond this the index is not used.
pub(super) const MAX_INDEXED: usize = SLOTS / 2;
const EMPTY: u16 = 0;

/// See the [module documentation](self).
#[derive(Debug, Clone)]
pub(super) struct SvcIndex {
    /// Service slot + 1 at each position, `EMPTY` for none.
    pos: [u16; SLOTS],
    /// The index covers every service.
    usable: bool,
}

/// A multiply-xorshift mix; the keys are the operator's, not the traffic's, so no seed is
/// needed (a packet can only choose which key is probed, not where configured keys sit).
#[inline]
fn mix(mut h: u64, v: u64) -> u64 {
    h = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

fn addr_words(a: &IpAddr) -> (u64, u64) {
    match a {
        IpAddr::V4(v) => (u64::from(v.to_bits()), 0),
        IpAddr::V6(v) => {
            let b = v.to_bits();
            ((b >> 64) as u64, b as u64 | 1 << 63)
        }
    }
}

#[inline]
fn hash_addr(proto: Protocol, vip: &Endpoint) -> usize {
    let (a, b) = addr_words(&vip.addr);
    let h = mix(
        mix(1, u64::from(proto.number()) << 16 | u64::from(vip.port)),
        a,
    );
    mix(h, b) as usize & (SLOTS - 1)
}

#[inline]
fn hash_mark(af: AddrFamily, mark: u32) -> usize {
    let f = match af {
        AddrFamily::Ipv4 => 4,
        AddrFamily::Ipv6 => 6,
    };
    mix(mix(2, f), u64::from(mark)) as usize & (SLOTS - 1)
}

fn hash_key(k: &ServiceKey) -> usize {
    match k {
        ServiceKey::Addr { proto, vip } => hash_addr(*proto, vip),
        ServiceKey::Fwmark { af, mark } => hash_mark(*af, *mark),
    }
}

impl SvcIndex {
    /// An index of no services.
    #[cfg(test)]
    pub(super) const fn new() -> Self {
        SvcIndex {
            pos: [EMPTY; SLOTS],
            usable: true,
        }
    }

    /// Storage for an index, all zero bytes (not usable: covers nothing) until
    /// [`SvcIndex::reset`].
    pub(super) const fn zeroed() -> Self {
        SvcIndex {
            pos: [EMPTY; SLOTS],
            usable: false,
        }
    }

    /// An index of no services again, in place.
    pub(super) fn reset(&mut self) {
        self.pos.fill(EMPTY);
        self.usable = true;
    }

    /// Whether the index covers every service (else the caller scans).
    pub(super) fn usable(&self) -> bool {
        self.usable
    }

    /// Indexes the services in `slots` anew.
    pub(super) fn rebuild<S>(&mut self, slots: &[Option<Service<S>>]) {
        self.pos.fill(EMPTY);
        let n = slots.iter().flatten().count();
        self.usable = n <= MAX_INDEXED && slots.len() < usize::from(u16::MAX);
        if !self.usable {
            return;
        }
        for (i, s) in slots.iter().enumerate() {
            let Some(s) = s else { continue };
            let mut p = hash_key(&s.config.key);
            while self.pos[p] != EMPTY {
                p = (p + 1) & (SLOTS - 1);
            }
            self.pos[p] = i as u16 + 1;
        }
    }

    /// The service whose key is `key`, probing from `start`.
    #[inline]
    fn probe<S>(
        &self,
        slots: &[Option<Service<S>>],
        start: usize,
        key: &ServiceKey,
    ) -> Option<ServiceId> {
        let mut p = start;
        loop {
            let v = self.pos[p];
            if v == EMPTY {
                return None;
            }
            let i = usize::from(v - 1);
            if slots
                .get(i)
                .and_then(|s| s.as_ref())
                .is_some_and(|s| s.config.key == *key)
            {
                return Some(ServiceId(i as u16));
            }
            p = (p + 1) & (SLOTS - 1);
        }
    }

    /// The service of a packet toward `dst` over `proto` with firewall mark `fwmark`, by the
    /// scan's priorities: a matching firewall-mark service, else the exact address and port,
    /// else the address with port 0.
    #[inline]
    pub(super) fn lookup<S>(
        &self,
        slots: &[Option<Service<S>>],
        fwmark: u32,
        proto: Protocol,
        dst: &Endpoint,
    ) -> Option<ServiceId> {
        if fwmark != 0 {
            let af = dst.family();
            let k = ServiceKey::Fwmark { af, mark: fwmark };
            if let Some(id) = self.probe(slots, hash_mark(af, fwmark), &k) {
                return Some(id);
            }
        }
        let k = ServiceKey::Addr { proto, vip: *dst };
        if let Some(id) = self.probe(slots, hash_addr(proto, dst), &k) {
            return Some(id);
        }
        if dst.port == 0 {
            return None;
        }
        let any = Endpoint::new(dst.addr, 0);
        let k = ServiceKey::Addr { proto, vip: any };
        self.probe(slots, hash_addr(proto, &any), &k)
    }
}

#[cfg(test)]
mod test {
    use super::super::{scan_service, PacketMeta};
    use super::*;
    use crate::addr::{FlowKey, TcpFlags};
    use crate::service::ServiceConfig;
    use crate::stats::Stats;
    use crate::time::Instant;
    use std::vec::Vec;

    fn service(key: ServiceKey) -> Option<Service<()>> {
        Some(Service {
            config: ServiceConfig::new(key),
            sched: (),
            stats: Stats::default(),
            order_start: 0,
            order_len: 0,
            next_tick: Instant::ZERO,
        })
    }

    /// The index answers what the kernel's scan answers, for random service sets (with
    /// wildcards, firewall marks, both families, colliding positions) and random packets.
    #[test]
    fn index_agrees_with_the_scan() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..300 {
            let addr = |i: u64| -> IpAddr {
                if i.is_multiple_of(3) {
                    IpAddr::V6(crate::addr::Ipv6Addr::new(
                        0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16,
                    ))
                } else {
                    IpAddr::V4(crate::addr::Ipv4Addr::new(198, 18, 0, i as u8))
                }
            };
            let proto = |i: u64| [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][i as usize % 3];
            let n_slots = 1 + rnd(if round % 10 == 0 { 400 } else { 40 }) as usize;
            let mut slots: Vec<Option<Service<()>>> = (0..n_slots).map(|_| None).collect();
            let mut keys = Vec::new();
            for slot in slots.iter_mut() {
                if rnd(4) == 0 {
                    continue;
                }
                let key = if rnd(5) == 0 {
                    let af = if rnd(2) == 0 {
                        AddrFamily::Ipv4
                    } else {
                        AddrFamily::Ipv6
                    };
                    ServiceKey::Fwmark {
                        af,
                        mark: 1 + rnd(4) as u32,
                    }
                } else {
                    let port = [0, 80, 443, 53][rnd(4) as usize];
                    ServiceKey::Addr {
                        proto: proto(rnd(3)),
                        vip: Endpoint::new(addr(rnd(6)), port),
                    }
                };
                if keys.contains(&key) {
                    continue; // a director refuses a second service with a key in use
                }
                keys.push(key);
                *slot = service(key);
            }
            let mut index = SvcIndex::new();
            index.rebuild(&slots);
            assert_eq!(index.usable(), keys.len() <= MAX_INDEXED);
            if !index.usable() {
                continue;
            }
            for _ in 0..200 {
                let dst = Endpoint::new(addr(rnd(7)), [0, 80, 443, 53, 8080][rnd(5) as usize]);
                let src = match dst.addr {
                    IpAddr::V4(_) => Endpoint::v4([198, 19, 0, 1], 4000),
                    IpAddr::V6(_) => Endpoint::new(addr(99), 4000),
                };
                let mut pkt =
                    PacketMeta::new(FlowKey::new(proto(rnd(3)), src, dst), TcpFlags::SYN, 60);
                pkt.fwmark = rnd(6) as u32;
                assert_eq!(
                    index.lookup(&slots, pkt.fwmark, pkt.flow.proto, &pkt.flow.dst),
                    scan_service(&slots, &pkt),
                    "{pkt:?}"
                );
            }
        }
    }
}
