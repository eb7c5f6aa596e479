//! Neighbour resolution for lvsd's own transmissions: a small ARP/NDP cache with a queue of
//! frames waiting for an answer, and the request frames and reply parsing `lvs-forward` does not
//! have (it answers requests for a VIP; lvsd also has to ask).
//!
//! Policy, close to the kernel's neighbour code:
//! - an unknown next hop gets a request (ARP who-has, or an NDP solicitation to the
//!   solicited-node group); up to [`QUEUE_LEN`] frames wait for it (`unres_qlen`); it is asked
//!   [`MAX_PROBES`] times, [`RETRANS_MS`] apart, then the waiting frames are dropped and the
//!   failure is remembered for [`FAILED_HOLD_MS`];
//! - an answer, or a request from the neighbour itself, fills the entry and flushes the queue;
//! - an entry older than [`REACHABLE_MS`] is still used, and re-asked (unicast-free, at most
//!   once per [`RETRANS_MS`]) until an answer refreshes it.
//!
//! The builders and `parse_advert` are candidates for `lvs-forward::wire` (`arp`, `ndp`).

use lvs_core::{IpAddr, Ipv4Addr, Ipv6Addr};
use lvs_forward::checksum;
use lvs_forward::wire::MacAddr;
use std::collections::{HashMap, VecDeque};

/// Frames kept per unresolved neighbour.
pub const QUEUE_LEN: usize = 16;
/// Requests sent before giving up.
pub const MAX_PROBES: u8 = 3;
/// Time between requests, ms.
pub const RETRANS_MS: u64 = 1000;
/// How long a failed resolution is remembered (frames to it are dropped at once), ms.
pub const FAILED_HOLD_MS: u64 = 3000;
/// Age after which an entry is re-confirmed, ms.
pub const REACHABLE_MS: u64 = 30_000;

#[derive(Debug)]
struct Entry {
    mac: Option<MacAddr>,
    updated: u64,
    probes: u8,
    next_probe: u64,
    queue: VecDeque<Vec<u8>>,
}

/// What [`NeighCache::resolve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// Send to this MAC; `probe` asks the caller to re-confirm it with a request.
    Known {
        /// The neighbour's MAC.
        mac: MacAddr,
        /// Send a request now.
        probe: bool,
    },
    /// Unknown: queue the frame with [`NeighCache::enqueue`]; `probe` asks for a request now.
    Pending {
        /// Send a request now.
        probe: bool,
    },
    /// Resolution failed recently: drop.
    Failed,
}

/// The cache, keyed by (interface index in lvsd's list, address).
#[derive(Debug, Default)]
pub struct NeighCache {
    map: HashMap<(usize, IpAddr), Entry>,
    /// Frames dropped because resolution failed or the queue was full.
    pub dropped: u64,
    /// The last lookup that found a known MAC needing no probe: interface, address, MAC and
    /// when the MAC was learnt. Until that entry is [`REACHABLE_MS`] old the same lookup has the
    /// same answer and changes nothing, so [`NeighCache::resolve`] gives it without hashing (the
    /// per-frame case: a director sends most frames to a few next hops, often one in a row);
    /// [`NeighCache::learn`] forgets it (only learning changes a known entry's MAC or age).
    fresh: Option<(usize, IpAddr, MacAddr, u64)>,
}

/// Whether an entry learnt at `updated` is still used without re-confirming it at `now` (ms).
fn fresh_at(updated: u64, now: u64) -> bool {
    now.saturating_sub(updated) <= REACHABLE_MS
}

impl NeighCache {
    /// Looks `ip` up on interface `ifc` at `now` (ms).
    pub fn resolve(&mut self, ifc: usize, ip: IpAddr, now: u64) -> Resolved {
        if let Some((i, a, mac, updated)) = self.fresh {
            if i == ifc && a == ip && fresh_at(updated, now) {
                return Resolved::Known { mac, probe: false };
            }
        }
        let e = self.map.entry((ifc, ip)).or_insert(Entry {
            mac: None,
            updated: now,
            probes: 0,
            next_probe: now,
            queue: VecDeque::new(),
        });
        match e.mac {
            Some(mac) => {
                let fresh = fresh_at(e.updated, now);
                let probe = !fresh && now >= e.next_probe;
                if probe {
                    e.next_probe = now + RETRANS_MS;
                }
                if fresh {
                    self.fresh = Some((ifc, ip, mac, e.updated));
                }
                Resolved::Known { mac, probe }
            }
            None if e.probes > MAX_PROBES => Resolved::Failed,
            None => {
                let probe = e.probes == 0;
                if probe {
                    e.probes = 1;
                    e.next_probe = now + RETRANS_MS;
                }
                Resolved::Pending { probe }
            }
        }
    }

    /// Queues `frame` for `ip` (after [`Resolved::Pending`]); the oldest frame is dropped when
    /// the queue is full.
    pub fn enqueue(&mut self, ifc: usize, ip: IpAddr, frame: Vec<u8>) {
        if let Some(e) = self.map.get_mut(&(ifc, ip)) {
            if e.queue.len() >= QUEUE_LEN {
                e.queue.pop_front();
                self.dropped += 1;
            }
            e.queue.push_back(frame);
        }
    }

    /// Records that `ip` is at `mac` on `ifc`. A new entry is made only with `create` (the
    /// neighbour asked for one of lvsd's addresses, or answered lvsd); otherwise only known
    /// entries are refreshed. Returns the frames that were waiting, to send now.
    pub fn learn(
        &mut self,
        ifc: usize,
        ip: IpAddr,
        mac: MacAddr,
        now: u64,
        create: bool,
    ) -> Vec<Vec<u8>> {
        if mac.is_multicast() || mac == MacAddr([0; 6]) {
            return Vec::new();
        }
        self.fresh = None;
        let e = match self.map.get_mut(&(ifc, ip)) {
            Some(e) => e,
            None if create => self.map.entry((ifc, ip)).or_insert(Entry {
                mac: None,
                updated: now,
                probes: 0,
                next_probe: now,
                queue: VecDeque::new(),
            }),
            None => return Vec::new(),
        };
        e.mac = Some(mac);
        e.updated = now;
        e.probes = 0;
        e.next_probe = now;
        e.queue.drain(..).collect()
    }

    /// Retransmits due at `now`: the neighbours to ask again. A neighbour asked
    /// [`MAX_PROBES`] times without answer loses its queued frames and is held as failed for
    /// [`FAILED_HOLD_MS`], then forgotten.
    pub fn poll(&mut self, now: u64) -> Vec<(usize, IpAddr)> {
        let mut ask = Vec::new();
        let mut forget = Vec::new();
        for (k, e) in self.map.iter_mut() {
            if e.mac.is_some() || now < e.next_probe {
                continue;
            }
            if e.probes < MAX_PROBES {
                e.probes += 1;
                e.next_probe = now + RETRANS_MS;
                ask.push(*k);
            } else if e.probes == MAX_PROBES {
                e.probes += 1;
                e.next_probe = now + FAILED_HOLD_MS;
                self.dropped += e.queue.len() as u64;
                e.queue.clear();
            } else {
                forget.push(*k);
            }
        }
        for k in forget {
            self.map.remove(&k);
        }
        ask
    }

    /// The next time [`NeighCache::poll`] has work, ms.
    pub fn next_deadline(&self) -> Option<u64> {
        self.map
            .values()
            .filter(|e| e.mac.is_none())
            .map(|e| e.next_probe)
            .min()
    }

    /// Entries for a listing: interface, address, MAC (if known), age in ms.
    pub fn entries(&self, now: u64) -> Vec<(usize, IpAddr, Option<MacAddr>, u64)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(k, e)| (k.0, k.1, e.mac, now.saturating_sub(e.updated)))
            .collect();
        v.sort_by_key(|e| (e.0, e.1));
        v
    }
}

/// Length of an ARP request frame.
pub const ARP_FRAME_LEN: usize = 42;
/// Length of a neighbour solicitation frame with the source link-layer option.
pub const NS_FRAME_LEN: usize = 14 + 40 + 32;

/// Writes an ARP who-has `target` tell `src_ip` (from `src_mac`, broadcast) into `out`.
pub fn arp_request(
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
    out: &mut [u8; ARP_FRAME_LEN],
) {
    out[..6].fill(0xff);
    out[6..12].copy_from_slice(&src_mac.0);
    out[12..14].copy_from_slice(&[0x08, 0x06]);
    out[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
    out[22..28].copy_from_slice(&src_mac.0);
    out[28..32].copy_from_slice(&src_ip.octets());
    out[32..38].fill(0);
    out[38..42].copy_from_slice(&target.octets());
}

/// Writes a neighbour solicitation for `target` from `src_ip`/`src_mac` to the target's
/// solicited-node group (RFC 4861 section 7.2.2) into `out`.
pub fn neighbour_solicit(
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    target: Ipv6Addr,
    out: &mut [u8; NS_FRAME_LEN],
) {
    let t = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    let dst = group.octets();
    out[..6].copy_from_slice(&MacAddr::ipv6_multicast(&dst).0);
    out[6..12].copy_from_slice(&src_mac.0);
    out[12..14].copy_from_slice(&[0x86, 0xdd]);
    let ip = &mut out[14..54];
    ip.fill(0);
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = 58;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&src_ip.octets());
    ip[24..40].copy_from_slice(&dst);
    let icmp = &mut out[54..86];
    icmp.fill(0);
    icmp[0] = 135;
    icmp[8..24].copy_from_slice(&t);
    icmp[24] = 1; // source link-layer address option
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&src_mac.0);
    let ph = checksum::pseudo_header_v6(&src_ip.octets(), &dst, 58, 32);
    let c = checksum::finish(checksum::add(ph, icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Length of an unsolicited neighbour advertisement frame with the target link-layer option.
pub const NA_FRAME_LEN: usize = 14 + 40 + 32;

/// Writes an unsolicited neighbour advertisement (RFC 4861 section 7.2.6) of `addr` at
/// `mac` to all nodes (ff02::1), with the Override flag and the target link-layer address option,
/// into `out`: IPv6's gratuitous ARP.
pub fn unsolicited_advert(mac: MacAddr, addr: Ipv6Addr, out: &mut [u8; NA_FRAME_LEN]) {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
    out[..6].copy_from_slice(&MacAddr::ipv6_multicast(&dst).0);
    out[6..12].copy_from_slice(&mac.0);
    out[12..14].copy_from_slice(&[0x86, 0xdd]);
    let ip = &mut out[14..54];
    ip.fill(0);
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = 58;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&addr.octets());
    ip[24..40].copy_from_slice(&dst);
    let icmp = &mut out[54..86];
    icmp.fill(0);
    icmp[0] = 136;
    icmp[4] = 0x20; // Override
    icmp[8..24].copy_from_slice(&addr.octets());
    icmp[24] = 2; // target link-layer address option
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&mac.0);
    let ph = checksum::pseudo_header_v6(&addr.octets(), &dst, 58, 32);
    let c = checksum::finish(checksum::add(ph, icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// A neighbour advertisement read from a frame: the target and its link-layer address (the
/// target option, else the frame's source MAC).
pub fn parse_advert(frame: &[u8]) -> Option<(Ipv6Addr, MacAddr)> {
    let f = frame.get(..14 + 40 + 24)?;
    if f[12..14] != [0x86, 0xdd] || f[14] >> 4 != 6 || f[20] != 58 || f[21] != 255 {
        return None;
    }
    let plen = usize::from(u16::from_be_bytes([f[18], f[19]]));
    let icmp = frame.get(54..54 + plen)?;
    if icmp.len() < 24 || icmp[0] != 136 || icmp[1] != 0 {
        return None;
    }
    let src: [u8; 16] = frame[22..38].try_into().ok()?;
    let dst: [u8; 16] = frame[38..54].try_into().ok()?;
    let ph = checksum::pseudo_header_v6(&src, &dst, 58, plen as u32);
    if checksum::fold(checksum::add(ph, icmp)) != 0xffff {
        return None;
    }
    let target: [u8; 16] = icmp[8..24].try_into().ok()?;
    let mut mac = MacAddr(frame[6..12].try_into().ok()?);
    let mut opts = &icmp[24..];
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        if opts[0] == 2 {
            mac = MacAddr(opts[2..8].try_into().ok()?);
        }
        opts = &opts[len..];
    }
    Some((Ipv6Addr::from(target), mac))
}

#[cfg(test)]
mod test {
    use super::*;
    use lvs_forward::wire::icmpv6::ndp;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn solicitation_is_valid_and_answerable() {
        let src: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let target: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
        let mut ns = [0u8; NS_FRAME_LEN];
        neighbour_solicit(MAC, src, target, &mut ns);
        let s = ndp::parse_solicitation(&ns).unwrap().unwrap();
        assert_eq!(s.target, target);
        assert_eq!(s.src_mac, Some(MAC));
        assert_eq!(ns[..6], [0x33, 0x33, 0xff, 0, 0, 0x11]);
        // the target answers with lvs-forward's advert builder; lvsd reads it back
        let tmac = MacAddr([2, 0, 0, 0, 0, 0x11]);
        let mut na = [0u8; ndp::ADVERT_FRAME_LEN];
        assert!(ndp::advert_for(&ns, target, tmac, &mut na)
            .unwrap()
            .is_some());
        assert_eq!(parse_advert(&na), Some((target, tmac)));
        na[60] ^= 1;
        assert_eq!(parse_advert(&na), None);
    }

    #[test]
    fn unsolicited_advert_is_valid() {
        let a: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let mut na = [0u8; NA_FRAME_LEN];
        unsolicited_advert(MAC, a, &mut na);
        assert_eq!(parse_advert(&na), Some((a, MAC)));
        assert_eq!(na[..6], [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(na[58], 0x20, "override, not solicited, not router");
    }

    #[test]
    fn arp_request_is_answerable() {
        let mut req = [0u8; ARP_FRAME_LEN];
        let (me, rs) = (Ipv4Addr::new(198, 18, 1, 1), Ipv4Addr::new(198, 18, 1, 11));
        arp_request(MAC, me, rs, &mut req);
        let m = lvs_forward::wire::arp::parse(&req[14..]).unwrap();
        assert_eq!((m.operation, m.sender_ip, m.target_ip), (1, me, rs));
        let mut out = [0u8; 64];
        let rmac = MacAddr([2, 0, 0, 0, 0, 0x11]);
        let n = lvs_forward::wire::arp::reply_for(&req, rs, rmac, &mut out)
            .unwrap()
            .unwrap();
        let r = lvs_forward::wire::arp::parse(&out[14..n]).unwrap();
        assert_eq!((r.sender_ip, r.sender_mac), (rs, rmac));
    }

    #[test]
    fn cache_queues_retries_and_fails() {
        let ip = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 11));
        let mut c = NeighCache::default();
        assert_eq!(c.resolve(0, ip, 0), Resolved::Pending { probe: true });
        c.enqueue(0, ip, vec![1]);
        assert_eq!(c.resolve(0, ip, 10), Resolved::Pending { probe: false });
        c.enqueue(0, ip, vec![2]);
        assert_eq!(c.next_deadline(), Some(RETRANS_MS));
        assert!(c.poll(500).is_empty());
        assert_eq!(c.poll(1000), vec![(0, ip)]);
        assert_eq!(c.poll(2000), vec![(0, ip)]);
        // answered before the last probe ran out: the queue is flushed in order
        let q = c.learn(0, ip, MacAddr([2, 0, 0, 0, 0, 0x11]), 2500, false);
        assert_eq!(q, vec![vec![1], vec![2]]);
        assert!(matches!(
            c.resolve(0, ip, 2600),
            Resolved::Known { probe: false, .. }
        ));
        // a neighbour that never answers
        let ip2 = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 99));
        assert_eq!(c.resolve(0, ip2, 0), Resolved::Pending { probe: true });
        c.enqueue(0, ip2, vec![9]);
        assert_eq!(c.poll(1000), vec![(0, ip2)]);
        assert_eq!(c.poll(2000), vec![(0, ip2)]);
        assert!(c.poll(3000).is_empty());
        assert_eq!(c.dropped, 1);
        assert_eq!(c.resolve(0, ip2, 3100), Resolved::Failed);
        let _ = c.poll(3000 + FAILED_HOLD_MS + 1);
        assert_eq!(c.resolve(0, ip2, 7000), Resolved::Pending { probe: true });
        // a known neighbour asked again and again (answered from the last lookup), then moved
        let m1 = MacAddr([2, 0, 0, 0, 0, 0x11]);
        for t in [2600, 2601, 2500 + REACHABLE_MS] {
            assert_eq!(
                c.resolve(0, ip, t),
                Resolved::Known {
                    mac: m1,
                    probe: false
                }
            );
        }
        // another neighbour in between, then the first again
        assert_eq!(c.resolve(1, ip, 2700), Resolved::Pending { probe: true });
        assert_eq!(
            c.resolve(0, ip, 2800),
            Resolved::Known {
                mac: m1,
                probe: false
            }
        );
        let m2 = MacAddr([2, 0, 0, 0, 0, 0x12]);
        assert!(c.learn(0, ip, m2, 2900, false).is_empty());
        assert_eq!(
            c.resolve(0, ip, 3000),
            Resolved::Known {
                mac: m2,
                probe: false
            }
        );
        // old: probed once per RETRANS_MS, the MAC still used
        let old = 2900 + REACHABLE_MS + 1;
        assert_eq!(
            c.resolve(0, ip, old),
            Resolved::Known {
                mac: m2,
                probe: true
            }
        );
        assert_eq!(
            c.resolve(0, ip, old + 1),
            Resolved::Known {
                mac: m2,
                probe: false
            }
        );
        assert_eq!(
            c.resolve(0, ip, old + RETRANS_MS),
            Resolved::Known {
                mac: m2,
                probe: true
            }
        );
        // passive learning only refreshes known entries unless asked to create
        let ip3 = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 50));
        c.learn(0, ip3, MAC, 0, false);
        assert_eq!(c.resolve(0, ip3, 0), Resolved::Pending { probe: true });
    }
}
