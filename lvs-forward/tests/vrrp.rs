//! VRRP version 3: the state machine against keepalived's bytes, RFC 5798's timers, every drop
//! reason of section 7.1, and properties (emit/parse round trips, two routers electing one
//! master, garbage that never changes state).

use core::net::IpAddr;
use lvs_core::time::{Duration, Instant};
use lvs_forward::vrrp::{Action, Config, DropReason, Received, Router, State};
use lvs_forward::wire::vrrp::{AddrList, Packet, Repr};
use lvs_forward::wire::Checksum;
use proptest::prelude::*;

// keepalived 2.2.7, captured with tcpdump: vrid 51, priority 150, advert_int 1, version 3,
// VIPs 198.18.0.10 and 198.18.0.20, from 198.18.0.3 (the IPv4 packet, Ethernet header cut).
static KEEPALIVED_V4: [u8; 36] = [
    0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x14, 0x81, 0xc6, 0x12, 0x00, 0x03,
    0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x05, 0x7a, 0xc6, 0x12, 0x00, 0x0a,
    0xc6, 0x12, 0x00, 0x14,
];
// The IPv6 one: vrid 52, priority 100, VIP 2001:db8::10, from fe80::6436:aeff:fe46:4782.
static KEEPALIVED_V6: [u8; 64] = [
    0x6c, 0x04, 0x8b, 0x7f, 0x00, 0x18, 0x70, 0xff, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x64, 0x36, 0xae,
    0xff, 0xfe, 0x46, 0x47, 0x82, 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x31,
    0x34, 0x64, 0x01, 0x00, 0x64, 0xe5, 0x7f, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0x10,
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vips() -> AddrList {
    AddrList::new(&[ip("198.18.0.10"), ip("198.18.0.20")]).unwrap()
}

fn cfg(priority: u8, primary: &str) -> Config {
    Config {
        vrid: 51,
        priority,
        adver_int: 100,
        preempt: true,
        accept_mode: true,
        addrs: vips(),
        primary: ip(primary),
    }
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn actions(r: &mut Router) -> Vec<Action> {
    core::iter::from_fn(|| r.poll_action()).collect()
}

/// The IPv4 packet of the advert `r` sends with `priority`.
fn advert_from(r: &Router, priority: u8) -> Vec<u8> {
    let c = r.config();
    let repr = Repr {
        vrid: c.vrid,
        priority,
        max_adver_int: c.adver_int,
        addrs: c.addrs,
    };
    let dst = ip("224.0.0.18");
    let mut msg = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut Packet::new_unchecked(&mut msg[..]),
        &c.primary,
        &dst,
        Checksum::Both,
    );
    let mut p = vec![
        0x45, 0xc0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 0, 0, 0, 0, 224, 0, 0, 18,
    ];
    let IpAddr::V4(s) = c.primary else { panic!() };
    p[12..16].copy_from_slice(&s.octets());
    p.extend_from_slice(&msg);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let c = lvs_forward::checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn feed(r: &mut Router, now: Instant, pkt: &[u8]) -> Result<(), DropReason> {
    let rx = Received::from_ip_packet(pkt)?;
    r.handle_packet(now, &rx)
}

#[test]
fn timers_follow_rfc_5798() {
    let r = Router::new(cfg(100, "198.18.0.1")).unwrap();
    // Skew_Time = (256 - 100) * 1 s / 256 = 609.375 ms
    assert_eq!(r.skew_time(), Duration::from_millis(609));
    assert_eq!(r.master_down_interval(), Duration::from_millis(3609));
    let r = Router::new(cfg(254, "198.18.0.1")).unwrap();
    assert_eq!(r.master_down_interval(), Duration::from_millis(3007));
}

#[test]
fn config_errors() {
    let mut c = cfg(100, "198.18.0.1");
    c.vrid = 0;
    assert!(Router::new(c).is_err());
    let mut c = cfg(100, "198.18.0.1");
    c.priority = 0;
    assert!(Router::new(c).is_err());
    let mut c = cfg(100, "198.18.0.1");
    c.adver_int = 4096;
    assert!(Router::new(c).is_err());
    let mut c = cfg(100, "198.18.0.1");
    c.addrs = AddrList::default();
    assert!(Router::new(c).is_err());
    assert!(Router::new(cfg(100, "2001:db8::1")).is_err());
}

#[test]
fn backup_follows_keepalived_then_takes_over() {
    let mut r = Router::new(cfg(100, "198.18.0.1")).unwrap();
    r.start(t(0));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(actions(&mut r), vec![Action::EnterBackup]);
    assert_eq!(r.poll_timeout(), Some(t(3609)));
    // keepalived's real advert keeps us backup
    feed(&mut r, t(1000), &KEEPALIVED_V4).unwrap();
    assert_eq!(r.counters().rx_adverts, 1);
    assert_eq!(r.poll_timeout(), Some(t(4609)));
    r.handle_timeout(t(4608));
    assert_eq!(r.state(), State::Backup);
    // silence: master down
    r.handle_timeout(t(4609));
    assert_eq!(r.state(), State::Master);
    let a = actions(&mut r);
    assert_eq!(a.len(), 2);
    let Action::Send(adv) = a[0] else {
        panic!("{a:?}")
    };
    assert_eq!(a[1], Action::EnterMaster);
    assert_eq!(adv.priority(), 100);
    assert!(r.accepts(&ip("198.18.0.10")));
    assert!(!r.accepts(&ip("198.18.0.11")));
    // the advert as an IP packet reads back, TTL 255, valid checksums
    let mut buf = [0u8; 64];
    let n = adv.write_ip(&mut buf).unwrap();
    let rx = Received::from_ip_packet(&buf[..n]).unwrap();
    assert_eq!(
        (rx.src, rx.dst, rx.hop_limit),
        (ip("198.18.0.1"), ip("224.0.0.18"), 255)
    );
    let back = Repr::parse(
        &Packet::new_unchecked(rx.message),
        &rx.src,
        &rx.dst,
        Checksum::Both,
    )
    .unwrap();
    assert_eq!(
        (back.vrid, back.priority, back.max_adver_int),
        (51, 100, 100)
    );
    // the master re-advertises every interval
    assert_eq!(r.poll_timeout(), Some(t(5609)));
    r.handle_timeout(t(5609));
    assert!(matches!(actions(&mut r)[..], [Action::Send(_)]));
    // keepalived (150) comes back: we step down
    feed(&mut r, t(5700), &KEEPALIVED_V4).unwrap();
    assert_eq!(r.state(), State::Backup);
    assert_eq!(actions(&mut r), vec![Action::EnterBackup]);
    assert!(!r.accepts(&ip("198.18.0.10")));
}

#[test]
fn keepalived_v6_advert_accepted() {
    let mut c = cfg(100, "fe80::1");
    c.vrid = 52;
    c.addrs = AddrList::new(&[ip("2001:db8::10")]).unwrap();
    let mut r = Router::new(c).unwrap();
    r.start(t(0));
    feed(&mut r, t(10), &KEEPALIVED_V6).unwrap();
    assert_eq!(r.counters().rx_adverts, 1);
    // and an IPv4 advert is the wrong family
    assert_eq!(
        feed(&mut r, t(10), &KEEPALIVED_V4),
        Err(DropReason::FamilyMismatch)
    );
}

#[test]
fn preemption_and_tie_break() {
    // a higher-priority backup ignores a lower master and preempts after Master_Down_Interval
    let low = Router::new(cfg(50, "198.18.0.2")).unwrap();
    let mut high = Router::new(cfg(200, "198.18.0.1")).unwrap();
    high.start(t(0));
    let _ = actions(&mut high);
    let due = high.poll_timeout();
    feed(&mut high, t(100), &advert_from(&low, 50)).unwrap();
    assert_eq!(high.poll_timeout(), due);
    assert_eq!(high.counters().rx_lower_ignored, 1);
    // without preemption the same advert holds it back
    let mut c = cfg(200, "198.18.0.1");
    c.preempt = false;
    let mut polite = Router::new(c).unwrap();
    polite.start(t(0));
    feed(&mut polite, t(100), &advert_from(&low, 50)).unwrap();
    assert!(polite.poll_timeout() > due);
    // two masters of equal priority: the higher primary address wins
    let mut a = Router::new(cfg(100, "198.18.0.1")).unwrap();
    let mut b = Router::new(cfg(100, "198.18.0.2")).unwrap();
    for r in [&mut a, &mut b] {
        r.start(t(0));
        r.handle_timeout(t(10_000));
        assert_eq!(r.state(), State::Master);
        let _ = actions(r);
    }
    let from_a = advert_from(&a, 100);
    let from_b = advert_from(&b, 100);
    feed(&mut b, t(10_100), &from_a).unwrap();
    assert_eq!(b.state(), State::Master);
    feed(&mut a, t(10_100), &from_b).unwrap();
    assert_eq!(a.state(), State::Backup);
}

#[test]
fn priority_zero_and_shutdown() {
    let mut m = Router::new(cfg(150, "198.18.0.3")).unwrap();
    m.start(t(0));
    m.handle_timeout(t(5000));
    assert_eq!(m.state(), State::Master);
    let _ = actions(&mut m);
    m.shutdown(t(6000));
    let a = actions(&mut m);
    let [Action::Send(adv), Action::EnterInitialize] = a[..] else {
        panic!("{a:?}")
    };
    assert_eq!(adv.priority(), 0);
    assert_eq!(m.state(), State::Initialize);
    assert_eq!(m.poll_timeout(), None);
    // a backup hearing it takes over after Skew_Time, not Master_Down_Interval
    let mut b = Router::new(cfg(100, "198.18.0.1")).unwrap();
    b.start(t(0));
    let mut buf = [0u8; 64];
    let n = adv.write_ip(&mut buf).unwrap();
    feed(&mut b, t(6000), &buf[..n]).unwrap();
    assert_eq!(b.counters().rx_priority_zero, 1);
    assert_eq!(b.poll_timeout(), Some(t(6000 + 609)));
    // a stopped router drops everything
    assert_eq!(
        feed(&mut m, t(6001), &KEEPALIVED_V4),
        Err(DropReason::NotRunning)
    );
}

#[test]
fn address_owner_is_master_at_once() {
    let mut o = Router::new(cfg(255, "198.18.0.1")).unwrap();
    o.start(t(0));
    assert_eq!(o.state(), State::Master);
    assert!(matches!(
        actions(&mut o)[..],
        [Action::Send(_), Action::EnterMaster]
    ));
    assert_eq!(feed(&mut o, t(1), &KEEPALIVED_V4), Err(DropReason::Owner));
}

#[test]
fn every_drop_reason_counted_and_harmless() {
    let mut r = Router::new(cfg(100, "198.18.0.1")).unwrap();
    r.start(t(0));
    let _ = actions(&mut r);
    let before = (r.state(), r.poll_timeout(), r.master_adver_int());
    let fixed = |mut p: Vec<u8>, vrrp_sum: bool| {
        if vrrp_sum {
            // recompute the VRRP checksum over the (changed) message
            let (s, d) = (ip("198.18.0.3"), ip("224.0.0.18"));
            let mut m = Packet::new_unchecked(&mut p[20..]);
            m.fill_checksum(&s, &d);
        }
        p[10] = 0;
        p[11] = 0;
        let c = lvs_forward::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    };
    let k = KEEPALIVED_V4.to_vec();
    let mut cases: Vec<(Vec<u8>, DropReason)> = Vec::new();
    let mut p = k.clone();
    p[8] = 254;
    cases.push((fixed(p, false), DropReason::BadTtl));
    let mut p = k.clone();
    p[22] = 151; // priority changed, checksum not
    cases.push((p, DropReason::BadChecksum));
    let mut p = k.clone();
    p[20] = 0x21; // version 2
    cases.push((fixed(p, true), DropReason::BadVersion));
    let mut p = k.clone();
    p[20] = 0x32; // type 2
    cases.push((fixed(p, true), DropReason::BadType));
    let mut p = k.clone();
    p[21] = 52;
    cases.push((fixed(p, true), DropReason::VridMismatch));
    let mut p = k.clone();
    p[35] = 0x15; // 198.18.0.21
    cases.push((fixed(p, true), DropReason::AddressMismatch));
    let mut p = k.clone();
    p[23] = 3; // three addresses claimed, two present
    cases.push((fixed(p, true), DropReason::BadLength));
    let mut p = k.clone();
    p[24] = 0;
    p[25] = 0;
    cases.push((fixed(p, true), DropReason::ZeroInterval));
    let mut p = k.clone();
    p[9] = 17;
    cases.push((fixed(p, false), DropReason::NotVrrp));
    let mut p = k.clone();
    p[11] ^= 1;
    cases.push((p, DropReason::BadIp));
    cases.push((k[..30].to_vec(), DropReason::BadIp));
    cases.push((advert_from(&r, 100), DropReason::OwnAdvert));
    for (i, (p, why)) in cases.iter().enumerate() {
        assert_eq!(feed(&mut r, t(50), p), Err(*why), "case {i}");
        if !matches!(why, DropReason::BadIp | DropReason::NotVrrp) {
            assert_eq!(r.counters().dropped(*why), 1, "case {i}");
        }
        assert_eq!((r.state(), r.poll_timeout(), r.master_adver_int()), before);
        assert_eq!(r.poll_action(), None);
    }
    // the address owner may advertise a different list
    let mut p = k.clone();
    p[22] = 255;
    p[35] = 0x15;
    feed(&mut r, t(60), &fixed(p, true)).unwrap();
    assert_eq!(r.counters().dropped_total(), cases.len() as u64 - 3);
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    (
        any::<u8>(),
        any::<u8>(),
        1u16..=4095,
        prop::collection::vec(any::<[u8; 4]>(), 1..=20),
        any::<bool>(),
        prop::collection::vec(any::<[u8; 16]>(), 1..=20),
    )
        .prop_map(|(vrid, priority, max_adver_int, v4, six, v6)| {
            let addrs: Vec<IpAddr> = if six {
                v6.into_iter().map(IpAddr::from).collect()
            } else {
                v4.into_iter().map(IpAddr::from).collect()
            };
            Repr {
                vrid,
                priority,
                max_adver_int,
                addrs: AddrList::new(&addrs).unwrap(),
            }
        })
}

proptest! {
    #[test]
    fn emit_then_parse(r in arb_repr(), src4 in any::<[u8; 4]>(), src6 in any::<[u8; 16]>()) {
        let (src, dst) = if r.addrs.first().unwrap().is_ipv4() {
            (IpAddr::from(src4), ip("224.0.0.18"))
        } else {
            (IpAddr::from(src6), ip("ff02::12"))
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &src, &dst, Checksum::Both);
        let p = Packet::new_unchecked(&buf[..]);
        prop_assert!(p.verify_checksum(&src, &dst));
        prop_assert_eq!(Repr::parse(&p, &src, &dst, Checksum::Both), Ok(r));
    }

    #[test]
    fn garbage_changes_nothing(bytes in prop::collection::vec(any::<u8>(), 0..200), ttl in any::<u8>()) {
        let mut r = Router::new(cfg(100, "198.18.0.1")).unwrap();
        r.start(t(0));
        let _ = actions(&mut r);
        let before = (r.state(), r.poll_timeout());
        let rx = Received { src: ip("198.18.0.3"), dst: ip("224.0.0.18"), hop_limit: ttl, message: &bytes };
        if r.handle_packet(t(10), &rx).is_err() {
            prop_assert_eq!((r.state(), r.poll_timeout()), before);
            prop_assert_eq!(r.poll_action(), None);
        }
        let _ = Received::from_ip_packet(&bytes);
    }

    /// Two routers on one link elect one master, the higher priority when they differ (equal
    /// priorities: whoever was master first, since a backup never preempts an equal); when the
    /// master dies the other takes over within its Master_Down_Interval.
    #[test]
    fn two_routers_elect_one_master(pa in 1u8..=254, pb in 1u8..=254, int in 1u16..=200, delay in 0u64..50) {
        let mut c = cfg(pa, "198.18.0.1");
        c.adver_int = int;
        let a = Router::new(c).unwrap();
        let mut c = cfg(pb, "198.18.0.2");
        c.adver_int = int;
        let b = Router::new(c).unwrap();
        let mut rs = [a, b];
        rs[0].start(t(0));
        rs[1].start(t(delay));
        let mut alive = [true, true];
        let mut wire: Vec<(u64, usize, Vec<u8>)> = Vec::new(); // (deliver at, to, packet)
        let end = 20 * u64::from(int) * 10 + 10_000;
        let mut killed: Option<(usize, u64)> = None;
        for now in 0..end {
            for i in 0..2 {
                if !alive[i] { continue; }
                let r = &mut rs[i];
                if r.poll_timeout().is_some_and(|d| d <= t(now)) {
                    r.handle_timeout(t(now));
                }
                while let Some(act) = r.poll_action() {
                    if let Action::Send(adv) = act {
                        let mut buf = [0u8; 64];
                        let n = adv.write_ip(&mut buf).unwrap();
                        wire.push((now + 1, 1 - i, buf[..n].to_vec()));
                    }
                }
            }
            let (due, later): (Vec<_>, Vec<_>) = wire.drain(..).partition(|w| w.0 <= now);
            wire = later;
            for (_, to, p) in due {
                if alive[to] {
                    let _ = feed(&mut rs[to], t(now), &p);
                }
            }
            if killed.is_none() && now == end / 2 {
                let masters: Vec<usize> = (0..2).filter(|&i| rs[i].state() == State::Master).collect();
                prop_assert_eq!(masters.len(), 1);
                if pa != pb {
                    prop_assert_eq!(masters[0], if pa > pb { 0 } else { 1 });
                }
                alive[masters[0]] = false;
                killed = Some((masters[0], now));
            }
            if let Some((k, at)) = killed {
                let s = &rs[1 - k];
                if s.state() == State::Master {
                    prop_assert!(now - at <= s.master_down_interval().total_millis() + 1);
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "no takeover");
    }
}
