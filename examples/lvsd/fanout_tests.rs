//! The steering program run in [`super::run`] over NAT flows in both directions.

use super::*;
use crate::steering::Steering;
use lvs_core::{Ipv4Addr, Ipv6Addr};

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// An IPv4 packet from `s:sp` to `d:dp` (protocol `proto`, `opts` bytes of IP options).
fn v4(proto: u8, s: [u8; 4], sp: u16, d: [u8; 4], dp: u16, opts: usize) -> Vec<u8> {
    let ihl = 20 + opts;
    let mut p = vec![0u8; ihl + 20];
    p[0] = 0x40 | (ihl / 4) as u8;
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&s);
    p[16..20].copy_from_slice(&d);
    p[ihl..ihl + 2].copy_from_slice(&sp.to_be_bytes());
    p[ihl + 2..ihl + 4].copy_from_slice(&dp.to_be_bytes());
    p
}

fn v6(proto: u8, s: [u8; 16], sp: u16, d: [u8; 16], dp: u16) -> Vec<u8> {
    let mut p = vec![0u8; 60];
    p[0] = 0x60;
    p[6] = proto;
    p[7] = 64;
    p[8..24].copy_from_slice(&s);
    p[24..40].copy_from_slice(&d);
    p[40..42].copy_from_slice(&sp.to_be_bytes());
    p[42..44].copy_from_slice(&dp.to_be_bytes());
    p
}

fn w4(a: [u8; 4]) -> Vec<u32> {
    vec![u32::from_be_bytes(a)]
}

fn w6(a: [u8; 16]) -> Vec<u32> {
    a.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

const VIPS4: [[u8; 4]; 3] = [[198, 18, 2, 10], [198, 18, 2, 11], [198, 19, 0, 1]];
const OWN4: [u8; 4] = [198, 18, 0, 1];

fn addrs() -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut vips: Vec<IpAddr> = VIPS4
        .iter()
        .map(|a| IpAddr::V4(Ipv4Addr::from(*a)))
        .collect();
    let mut v6vip = [0u8; 16];
    v6vip[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v6vip[15] = 10;
    vips.push(IpAddr::V6(Ipv6Addr::from(v6vip)));
    let own = vec![
        IpAddr::V4(Ipv4Addr::from(OWN4)),
        IpAddr::V4(Ipv4Addr::from([198, 18, 1, 1])),
    ];
    (vips, own)
}

#[test]
fn both_directions_of_nat_flows_reach_the_same_worker() {
    let (vips, own) = addrs();
    let prog = program(&vips, &own, Steering::Flow).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut per = [[0usize; 4]; 5];
    let flows = 4000;
    for i in 0..flows {
        let r = rng.next();
        let c = [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 32) as u8];
        let cp = (r >> 24) as u16 | 1024;
        let vip = VIPS4[i % VIPS4.len()];
        let vp = [80, 443, 5001][(r >> 40) as usize % 3];
        let rs = [198, 18, 1, 2 + (r >> 48) as u8 % 50];
        let rp = vp + (r >> 56) as u16 % 2 * 8000;
        let proto = if i % 2 == 0 { 6 } else { 17 };
        let opts = if i % 7 == 0 { 4 } else { 0 };
        let inbound = v4(proto, c, cp, vip, vp, opts);
        let reply = v4(proto, rs, rp, c, cp, 0);
        let a = run(&prog, 0x0800, &inbound).unwrap();
        let b = run(&prog, 0x0800, &reply).unwrap();
        assert_eq!(a, b, "flow {i}: {c:?}:{cp} -> {vip:?}:{vp} -> {rs:?}:{rp}");
        assert_eq!(a, steer(&w4(c), cp));
        for n in 2..=4 {
            per[n][(a % n as u32) as usize] += 1;
        }
    }
    for (n, counts) in per.iter().enumerate().skip(2) {
        for w in &counts[..n] {
            // each worker gets its share within 15 %
            assert!(
                *w * n * 100 >= flows * 85,
                "{n} workers: {:?}",
                &counts[..n]
            );
        }
    }
}

#[test]
fn ipv6_flows_too() {
    let (vips, own) = addrs();
    let prog = program(&vips, &own, Steering::Flow).unwrap();
    let IpAddr::V6(vip) = vips[3] else {
        unreachable!()
    };
    let mut rng = Rng(77);
    let mut on_one = 0;
    for _ in 0..1000 {
        let r = rng.next();
        let mut c = [0u8; 16];
        c[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        c[8..16].copy_from_slice(&r.to_be_bytes());
        let mut rs = [0u8; 16];
        rs[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        rs[5] = 1;
        rs[15] = (r >> 3) as u8;
        let cp = (r >> 20) as u16 | 1024;
        let a = run(&prog, 0x86dd, &v6(6, c, cp, vip.octets(), 443)).unwrap();
        let b = run(&prog, 0x86dd, &v6(6, rs, 8443, c, cp)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, steer(&w6(c), cp));
        on_one += (a % 2) as usize;
    }
    assert!(
        (400..=600).contains(&on_one),
        "{on_one} of 1000 on worker 1"
    );
}

#[test]
fn control_traffic_goes_to_worker_zero() {
    let (vips, own) = addrs();
    let prog = program(&vips, &own, Steering::Flow).unwrap();
    let c = [198, 18, 0, 2];
    // ARP, ICMP (pings, errors), VRRP
    assert_eq!(run(&prog, 0x0806, &[0u8; 28]), Some(0));
    assert_eq!(run(&prog, 0x0800, &v4(1, c, 0, VIPS4[0], 0, 0)), Some(0));
    assert_eq!(
        run(&prog, 0x0800, &v4(112, c, 0, [224, 0, 0, 18], 0, 0)),
        Some(0)
    );
    // a load agent's report to lvsd's own address
    assert_eq!(run(&prog, 0x0800, &v4(17, c, 999, OWN4, 7777, 0)), Some(0));
    // a non-first fragment
    let mut frag = v4(17, c, 5, VIPS4[0], 5001, 0);
    frag[7] = 8;
    assert_eq!(run(&prog, 0x0800, &frag), Some(0));
    // NDP and other ICMPv6
    assert_eq!(run(&prog, 0x86dd, &v6(58, [1; 16], 0, [2; 16], 0)), Some(0));
}

#[test]
fn many_addresses_fit_or_are_refused() {
    let many = |n: u32| -> Vec<IpAddr> {
        (0..n)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i)))
            .collect()
    };
    let prog = program(&many(1800), &[], Steering::Flow).unwrap();
    assert!(prog.len() <= MAX_INSNS);
    // the last VIP is still recognised: its client's frames hash by source
    let vip = (0xc612_0000u32 + 1799).to_be_bytes();
    let a = run(&prog, 0x0800, &v4(6, [10, 0, 0, 1], 4000, vip, 80, 0)).unwrap();
    assert_eq!(a, steer(&[0x0a00_0001], 4000));
    assert_eq!(program(&many(2100), &[], Steering::Flow), Err(TooManyAddrs));
}

/// Shares of `n` workers within `pct` % of an even split.
fn within(counts: &[usize], total: usize, pct: usize) -> bool {
    let n = counts.len();
    counts
        .iter()
        .all(|w| w * n * 100 >= total * (100 - pct) && w * n * 100 <= total * (100 + pct))
}

#[test]
fn addr_steering_keeps_every_port_of_a_client_on_one_worker() {
    let (vips, own) = addrs();
    let IpAddr::V6(vip6) = vips[3] else {
        unreachable!()
    };
    for steering in [Steering::ADDR, Steering::Addr { v4: 24, v6: 64 }] {
        let prog = program(&vips, &own, steering).unwrap();
        let mut rng = Rng(0xfeed_beef_1234_5678);
        let clients = 2000;
        let mut per = [[0usize; 4]; 5];
        for i in 0..clients {
            let r = rng.next();
            let (l3, mut worker) = (i % 2 == 0, None);
            // IPv4 and IPv6 clients, each opening connections from many ports, NAT replies too
            for _ in 0..16 {
                let p = rng.next();
                let cp = (p >> 8) as u16 | 1024;
                let rp = 80 + (p >> 40) as u16 % 2 * 8000;
                let (a, b, want) = if l3 {
                    let c = [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 32) as u8];
                    let vip = VIPS4[p as usize % VIPS4.len()];
                    let rs = [198, 18, 1, 2 + (p >> 48) as u8 % 50];
                    let inbound = v4(6, c, cp, vip, 80, if p.is_multiple_of(5) { 8 } else { 0 });
                    let a = run(&prog, 0x0800, &inbound).unwrap();
                    let b = run(&prog, 0x0800, &v4(6, rs, rp, c, cp, 0)).unwrap();
                    (
                        a,
                        b,
                        steer_client(IpAddr::V4(Ipv4Addr::from(c)), cp, steering),
                    )
                } else {
                    let mut c = [0u8; 16];
                    c[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                    // varying within the first 64 bits too (a /64 mask keeps them)
                    c[4..12].copy_from_slice(&r.to_be_bytes());
                    let mut rs = c;
                    rs[5] = 1;
                    rs[15] = (p >> 3) as u8;
                    let a = run(&prog, 0x86dd, &v6(17, c, cp, vip6.octets(), 53)).unwrap();
                    let b = run(&prog, 0x86dd, &v6(17, rs, rp, c, cp)).unwrap();
                    (
                        a,
                        b,
                        steer_client(IpAddr::V6(Ipv6Addr::from(c)), cp, steering),
                    )
                };
                assert_eq!(a, b, "client {i}: both directions");
                assert_eq!(a, want, "client {i}: the program and steer_client agree");
                assert_eq!(*worker.get_or_insert(a), a, "client {i}: every port alike");
            }
            let w = worker.unwrap_or(0);
            for (n, counts) in per.iter_mut().enumerate().skip(2) {
                counts[(w % n as u32) as usize] += 1;
            }
        }
        for (n, counts) in per.iter().enumerate().skip(2) {
            assert!(
                within(&counts[..n], clients, 15),
                "{steering:?}, {n} workers: {:?}",
                &counts[..n]
            );
        }
    }
}

#[test]
fn addr_steering_masks_to_the_persistence_netmask() {
    let s = Steering::Addr { v4: 24, v6: 64 };
    let v4c = |last: u8| IpAddr::V4(Ipv4Addr::from([10, 1, 2, last]));
    let v6c = |last: u8| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[7] = 9;
        a[15] = last;
        IpAddr::V6(Ipv6Addr::from(a))
    };
    // one /24 (one /64): one worker, whatever the port
    let w4 = steer_client(v4c(1), 1000, s);
    let w6 = steer_client(v6c(1), 1000, s);
    for last in 2..=255 {
        assert_eq!(steer_client(v4c(last), 1000 + u16::from(last), s), w4);
        assert_eq!(steer_client(v6c(last), 1000 + u16::from(last), s), w6);
    }
    // whole addresses: they spread
    let on1 = (1..=255)
        .filter(|l| steer_client(v4c(*l), 7, Steering::ADDR) % 2 == 1)
        .count();
    assert!((90..=165).contains(&on1), "{on1} of 255 on worker 1");
}

#[test]
fn flow_steering_spreads_one_client_over_workers() {
    // the dataplane benchmark's case: one client address, many ports
    let c = IpAddr::V4(Ipv4Addr::from([198, 18, 0, 2]));
    let mut counts = [0usize; 2];
    for port in 0..64u16 {
        counts[(steer_client(c, 40_000 + port * 13, Steering::Flow) % 2) as usize] += 1;
    }
    assert!(within(&counts, 64, 40), "{counts:?}");
    let one = steer_client(c, 40_000, Steering::ADDR);
    assert!((0..64u16).all(|p| steer_client(c, 40_000 + p, Steering::ADDR) == one));
}

/// An ICMPv4 message of `typ` from `s` to `d` quoting `quoted`, with `opts` bytes of IP
/// options in the outer header.
fn icmp4(typ: u8, s: [u8; 4], d: [u8; 4], quoted: &[u8], opts: usize) -> Vec<u8> {
    let mut p = v4(1, s, 0, d, 0, opts);
    let ihl = 20 + opts;
    p.truncate(ihl);
    p.extend_from_slice(&[typ, 4, 0, 0, 0, 0, 0x05, 0x00]);
    p.extend_from_slice(quoted);
    p
}

/// An ICMPv6 message of `typ` from `s` to `d` quoting `quoted`.
fn icmp6(typ: u8, s: [u8; 16], d: [u8; 16], quoted: &[u8]) -> Vec<u8> {
    let mut p = v6(58, s, 0, d, 0);
    p.truncate(40);
    p.extend_from_slice(&[typ, 0, 0, 0, 0, 0, 0x05, 0x00]);
    p.extend_from_slice(quoted);
    p
}

/// A v4 packet as an ICMP error quotes it: its IP header and the first 8 bytes after it.
fn quote(p: &[u8]) -> Vec<u8> {
    let ihl = usize::from(p[0] & 0xf) * 4;
    p[..ihl + 8].to_vec()
}

#[test]
fn icmp_errors_quoting_either_direction_reach_the_flows_worker() {
    let (vips, own) = addrs();
    let IpAddr::V6(vip6) = vips[3] else {
        unreachable!()
    };
    let router4 = [198, 18, 0, 254];
    let mut router6 = [0u8; 16];
    router6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    router6[15] = 0xfe;
    for steering in [
        Steering::Flow,
        Steering::ADDR,
        Steering::Addr { v4: 24, v6: 64 },
    ] {
        let prog = program(&vips, &own, steering).unwrap();
        let mut rng = Rng(0x0bad_cafe_f00d_1234);
        let mut per = [[0usize; 4]; 5];
        let (mut errors, flows) = (0, 2000);
        for i in 0..flows {
            let r = rng.next();
            let cp = (r >> 24) as u16 | 1024;
            let proto = if i % 2 == 0 { 6 } else { 17 };
            let (flow, errs) = if i % 3 != 2 {
                let c = [10, (r >> 8) as u8, (r >> 16) as u8, (r >> 32) as u8];
                let vip = VIPS4[i % VIPS4.len()];
                let vp = [80, 443, 5001][(r >> 40) as usize % 3];
                let rs = [198, 18, 1, 2 + (r >> 48) as u8 % 50];
                let rp = vp + (r >> 56) as u16 % 2 * 8000;
                let (o1, o2) = (
                    if i % 5 == 0 { 8 } else { 0 },
                    if i % 7 == 0 { 4 } else { 0 },
                );
                let inbound = v4(proto, c, cp, vip, vp, o1);
                let a = run(&prog, 0x0800, &inbound).unwrap();
                let b = run(&prog, 0x0800, &v4(proto, rs, rp, c, cp, 0)).unwrap();
                assert_eq!(a, b);
                assert_eq!(a, steer_client(IpAddr::V4(Ipv4Addr::from(c)), cp, steering));
                // the director's reply (VIP → client) quoted by a router toward the client, sent
                // to the VIP; the packet sent on to the real server (client → real server)
                // quoted by a router toward it or the server, sent to the client
                let reply = quote(&v4(proto, vip, vp, c, cp, o2));
                let sent = quote(&v4(proto, c, cp, rs, rp, o1));
                let t = [3, 4, 11, 12][i % 4];
                let errs = vec![
                    (icmp4(t, router4, vip, &reply, o2), 0x0800),
                    (icmp4(3, router4, vip, &reply, 0), 0x0800),
                    (icmp4(t, [198, 18, 1, 254], c, &sent, o1), 0x0800),
                    (icmp4(11, rs, c, &sent, 0), 0x0800),
                ];
                (a, errs)
            } else {
                let mut c = [0u8; 16];
                c[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                c[4..12].copy_from_slice(&r.to_be_bytes());
                let mut rs = [0u8; 16];
                rs[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                rs[5] = 1;
                rs[15] = (r >> 3) as u8;
                let a = run(&prog, 0x86dd, &v6(proto, c, cp, vip6.octets(), 443)).unwrap();
                let b = run(&prog, 0x86dd, &v6(proto, rs, 8443, c, cp)).unwrap();
                assert_eq!(a, b);
                assert_eq!(a, steer_client(IpAddr::V6(Ipv6Addr::from(c)), cp, steering));
                let reply = v6(proto, vip6.octets(), 443, c, cp);
                let sent = v6(proto, c, cp, rs, 8443);
                let t = 1 + (i % 4) as u8;
                let errs = vec![
                    (icmp6(t, router6, vip6.octets(), &reply[..48]), 0x86dd),
                    (icmp6(2, router6, vip6.octets(), &reply), 0x86dd),
                    (icmp6(t, rs, c, &sent[..48]), 0x86dd),
                ];
                (a, errs)
            };
            for (e, proto) in &errs {
                assert_eq!(
                    run(&prog, *proto, e),
                    Some(flow),
                    "{steering:?}, flow {i}: {e:02x?}"
                );
                errors += 1;
                // a quote cut short of what the hash needs: worker 0, no fault
                let outer = if *proto == 0x0800 {
                    usize::from(e[0] & 0xf) * 4
                } else {
                    40
                };
                let inner = if *proto == 0x0800 {
                    usize::from(e[outer + 8] & 0xf) * 4
                } else {
                    40
                };
                // (the client's address ends 16 (IPv6: 24) or 20 (40) bytes into the quoted
                // header, its port 2 or 4 bytes into the quoted transport header)
                let (need, most) = match (steering.port(1), *proto) {
                    (0, 0x0800) => (outer + 8 + 16, outer + 8 + 20),
                    (0, _) => (outer + 8 + 24, outer + 8 + 40),
                    _ => (outer + 8 + inner + 2, outer + 8 + inner + 4),
                };
                for cut in 0..most {
                    let got = run(&prog, *proto, &e[..cut]);
                    assert!(
                        got == Some(0) || (cut >= need && got == Some(flow)),
                        "{steering:?}, flow {i}, cut at {cut}: {got:?}"
                    );
                }
            }
            for (n, counts) in per.iter_mut().enumerate().skip(2) {
                counts[(flow % n as u32) as usize] += 1;
            }
        }
        assert!(errors >= 3 * flows);
        // the flows themselves spread
        for (n, counts) in per.iter().enumerate().skip(2) {
            assert!(
                within(&counts[..n], flows, 20),
                "{steering:?}, {n} workers: {:?}",
                &counts[..n]
            );
        }
    }
}

#[test]
fn other_icmp_goes_to_worker_zero() {
    let (vips, own) = addrs();
    for steering in [Steering::Flow, Steering::ADDR] {
        let prog = program(&vips, &own, steering).unwrap();
        let c = [10, 1, 2, 3];
        let q = quote(&v4(6, VIPS4[0], 80, c, 4000, 0));
        // echo request and reply, redirect, router advertisement, timestamp: not errors
        for t in [0, 5, 8, 9, 13] {
            assert_eq!(run(&prog, 0x0800, &icmp4(t, c, VIPS4[0], &q, 0)), Some(0));
        }
        // an error quoting neither TCP nor UDP (an ICMP echo)
        let ping = quote(&v4(1, VIPS4[0], 0, c, 0, 0));
        assert_eq!(
            run(&prog, 0x0800, &icmp4(3, c, VIPS4[0], &ping, 0)),
            Some(0)
        );
        // an error quoting a non-first fragment
        let mut frag = v4(17, VIPS4[0], 53, c, 4000, 0);
        frag[7] = 8;
        let e = icmp4(3, c, VIPS4[0], &quote(&frag), 0);
        assert_eq!(run(&prog, 0x0800, &e), Some(0));
        // an error to lvsd's own address
        assert_eq!(run(&prog, 0x0800, &icmp4(3, c, OWN4, &q, 0)), Some(0));
        // an outer non-first fragment
        let mut e = icmp4(3, c, VIPS4[0], &q, 0);
        e[7] = 8;
        assert_eq!(run(&prog, 0x0800, &e), Some(0));
        // ICMPv6: echo, NDP (router/neighbour solicitation, advertisement), MLD
        let q6 = v6(6, [1; 16], 80, [2; 16], 4000);
        for t in [128, 129, 130, 133, 134, 135, 136, 143] {
            assert_eq!(
                run(&prog, 0x86dd, &icmp6(t, [3; 16], [1; 16], &q6)),
                Some(0)
            );
        }
        // an ICMPv6 error quoting a packet with an extension header (hop-by-hop)
        let hbh = v6(0, [1; 16], 80, [2; 16], 4000);
        assert_eq!(
            run(&prog, 0x86dd, &icmp6(1, [3; 16], [1; 16], &hbh)),
            Some(0)
        );
    }
}
