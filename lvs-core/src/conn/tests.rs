//! Connection table tests.

use super::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

pub(super) fn key(c: u32, cport: u16) -> ConnKey {
    ConnKey {
        proto: Protocol::Tcp,
        caddr: IpAddr::V4(Ipv4Addr::from_bits(0xC613_0000 | c)),
        cport,
        vaddr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
        vport: 80,
    }
}

pub(super) fn nc(k: ConnKey) -> NewConn {
    NewConn {
        key: k,
        dest: DestId(3),
        state: 0,
        flags: ConnFlags::empty(),
    }
}

/// Inserts the entries of keys (1, 1) and then (2, 2) at time zero, both to expire after `to`.
fn insert_two(t: &mut ConnTable<'_>, to: Duration) -> (ConnHandle, ConnHandle) {
    let mut add = |k| t.insert_with_timeout(nc(k), Instant::ZERO, to).unwrap();
    (add(key(1, 1)), add(key(2, 2)))
}

/// [`ConnTable::next_expired`] at `ms` milliseconds where every entry's timeout is `to`.
fn expire(t: &mut ConnTable<'_>, ms: u64, budget: &mut u32, to: Duration) -> Option<ConnHandle> {
    t.next_expired(Instant::from_millis(ms), budget, |_| to)
}

/// Binds `$t` to a table over `$n` fresh slots and a wheel of its own, keyed with `$key`, at
/// time zero.
macro_rules! table {
    ($t:ident, $n:expr, $key:expr) => {
        let mut s = vec![ConnSlot::EMPTY; $n];
        let mut w = TimerWheel::new();
        let mut $t = ConnTable::new(&mut s, &mut w, $key, Instant::ZERO).unwrap();
    };
}

#[test]
pub(super) fn v4_hash_is_siphash13_of_the_key_bytes() {
    let mut x = 0x0123_4567_89ab_cdefu64;
    for _ in 0..1000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let seed = SipKey(x, x.rotate_left(17) ^ 0x5555);
        let (proto, port) = ((x >> 8) as u8, (x >> 16) as u16);
        let addr = ((x >> 32) as u32).to_be_bytes();
        let mut buf = [0u8; 7];
        buf[0] = proto;
        buf[1..3].copy_from_slice(&port.to_be_bytes());
        buf[3..7].copy_from_slice(&addr);
        assert_eq!(
            siphash13_v4(seed, proto, addr, port),
            siphash::<1, 3>(seed, &buf) as u32
        );
    }
}

/// Random inserts and removals: every live entry is found (by the public lookup and the
/// director's home-first one), the free list holds exactly the free slots with consistent
/// back links, and entries sit in their bucket's own slot whenever it was free.
#[test]
pub(super) fn free_list_and_home_slots_stay_consistent() {
    table!(t, 64, SipKey(3, 4));
    let mut live: Vec<(ConnKey, ConnHandle)> = Vec::new();
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut homes = 0;
    for step in 0..5000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if !x.is_multiple_of(3) && live.len() < 64 {
            let k = key(step, (x >> 8) as u16);
            let b = t.hash(k.proto, &k.caddr, k.cport) & t.mask;
            let home_free = t.get(ConnHandle(b)).is_none();
            let h = t.insert(nc(k), Instant::ZERO).unwrap();
            assert_eq!(
                home_free,
                h.0 == b,
                "placed in its own slot iff that was free"
            );
            homes += usize::from(home_free);
            live.push((k, h));
        } else if !live.is_empty() {
            let (_, h) = live.swap_remove((x >> 16) as usize % live.len());
            t.remove(h);
        }
        for (k, h) in &live {
            assert_eq!(t.find(k, false), Some(*h));
            let hash = t.hash(k.proto, &k.caddr, k.cport);
            let (IpAddr::V4(c), IpAddr::V4(v)) = (k.caddr, k.vaddr) else {
                unreachable!()
            };
            let found = t.find_v4(hash, 6, c.octets(), k.cport, v.octets(), k.vport);
            assert_eq!(found, Some(*h));
        }
        // the free list: exactly the free slots, linked both ways
        let mut n = 0;
        let (mut prev, mut i) = (NIL, t.free);
        while i != NIL {
            let sl = &t.slots[i as usize];
            assert!(!sl.in_use());
            assert_eq!(sl.tprev, prev);
            n += 1;
            prev = i;
            i = sl.chain;
        }
        assert_eq!(n, t.free_slots());
        assert_eq!(t.len(), live.len());
    }
    assert!(homes > 100, "{homes}");
}

#[test]
pub(super) fn slot_is_64_bytes() {
    assert_eq!(core::mem::size_of::<ConnSlot>(), 64);
}

#[test]
pub(super) fn rejects_bad_capacity() {
    let mut s = vec![ConnSlot::EMPTY; 100];
    assert_eq!(
        ConnTable::new(&mut s, &mut TimerWheel::new(), SipKey(0, 0), Instant::ZERO).err(),
        Some(TableError::BadCapacity { len: 100 })
    );
}

#[test]
pub(super) fn insert_find_remove_and_full_policy() {
    table!(t, 8, SipKey(7, 9));
    let mut hs = Vec::new();
    for i in 0..8 {
        hs.push(
            t.insert(nc(key(i, 1000 + i as u16)), Instant::ZERO)
                .unwrap(),
        );
    }
    assert_eq!(t.len(), 8);
    assert_eq!(
        t.insert(nc(key(99, 1)), Instant::ZERO),
        Err(InsertError::Full)
    );
    assert_eq!(t.stats().refused_full, 1);
    for i in 0..8 {
        assert_eq!(
            t.find(&key(i, 1000 + i as u16), false),
            Some(hs[i as usize])
        );
        assert_eq!(t.find(&key(i, 1000 + i as u16), true), None);
    }
    t.remove(hs[3]);
    assert_eq!(t.find(&key(3, 1003), false), None);
    assert_eq!(t.len(), 7);
    let h = t.insert(nc(key(99, 1)), Instant::ZERO).unwrap();
    assert_eq!(h, hs[3]);
    assert_eq!(t.find(&key(99, 1), false), Some(h));
    for i in [0u32, 1, 2, 4, 5, 6, 7] {
        assert_eq!(
            t.find(&key(i, 1000 + i as u16), false),
            Some(hs[i as usize])
        );
    }
}

#[test]
pub(super) fn reply_lookup_uses_same_chain() {
    table!(t, 16, SipKey(1, 1));
    let k = key(5, 4242);
    let h = t.insert(nc(k), Instant::ZERO).unwrap();
    let client = Endpoint::new(k.caddr, k.cport);
    assert_eq!(
        t.find_reply(Protocol::Tcp, &client, |e| e.dest() == DestId(3)),
        Some(h)
    );
    assert_eq!(
        t.find_reply(Protocol::Tcp, &client, |e| e.dest() == DestId(4)),
        None
    );
    assert_eq!(t.find_reply(Protocol::Udp, &client, |_| true), None);
}

#[test]
pub(super) fn ipv6_and_ipv4_do_not_collide() {
    table!(t, 16, SipKey(1, 1));
    let k6 = ConnKey {
        proto: Protocol::Tcp,
        caddr: "2001:db8::7".parse().unwrap(),
        cport: 1,
        vaddr: "2001:db8::1".parse().unwrap(),
        vport: 80,
    };
    let h = t.insert(nc(k6), Instant::ZERO).unwrap();
    assert_eq!(t.find(&k6, false), Some(h));
    assert_eq!(t.get(h).unwrap().client().to_string(), "[2001:db8::7]:1");
    let bad = ConnKey {
        vaddr: "198.18.0.1".parse().unwrap(),
        ..k6
    };
    assert_eq!(
        t.insert(nc(bad), Instant::ZERO),
        Err(InsertError::MixedFamilies)
    );
}

#[test]
pub(super) fn wheel_expires_lazily_and_refiles_touched_entries() {
    table!(t, 16, SipKey(1, 1));
    let to = Duration::from_secs(10);
    let (a, b) = insert_two(&mut t, to);
    assert_eq!(t.poll_timeout(), Some(Instant::from_millis(10_112)));
    // b is touched at 5 s: its deadline moves to 15 s without any list work
    t.touch(b, Instant::from_secs(5));
    let mut budget = 100;
    assert_eq!(expire(&mut t, 9_000, &mut budget, to), None);
    let got = expire(&mut t, 10_200, &mut budget, to);
    assert_eq!(got, Some(a));
    t.remove(a);
    assert_eq!(expire(&mut t, 10_200, &mut budget, to), None);
    assert!(t.get(b).is_some());
    let next = t.poll_timeout().unwrap();
    assert!(next >= Instant::from_secs(15) && next <= Instant::from_millis(15_128));
    assert_eq!(expire(&mut t, 16_000, &mut budget, to), Some(b));
}

/// Refiling an entry into the slot it heads changes nothing; any other entry of that slot
/// moves to the front of the slot's list, as filing it anew does.
#[test]
pub(super) fn refile_in_place_keeps_the_list_order() {
    table!(t, 16, SipKey(1, 1));
    let to = Duration::from_secs(10);
    let (a, b) = insert_two(&mut t, to);
    // b was filed last, so it is found first
    assert_eq!(t.scan_filed(10, |_| true), Some(b));
    t.refile(b, to, Instant::ZERO);
    assert_eq!(t.scan_filed(10, |_| true), Some(b));
    t.refile(a, to, Instant::ZERO);
    assert_eq!(t.scan_filed(10, |_| true), Some(a));
    let mut budget = 10;
    assert_eq!(expire(&mut t, 11_000, &mut budget, to), Some(a));
    assert_eq!(expire(&mut t, 11_000, &mut budget, to), Some(b));
}

#[test]
pub(super) fn refile_shortens_deadline() {
    table!(t, 16, SipKey(1, 1));
    let h = t
        .insert_with_timeout(nc(key(1, 1)), Instant::ZERO, Duration::from_secs(900))
        .unwrap();
    t.touch(h, Instant::from_secs(1));
    t.refile(h, Duration::from_secs(10), Instant::from_secs(1));
    let mut budget = 10;
    assert_eq!(
        t.next_expired(
            Instant::from_secs(12),
            &mut budget,
            |_| Duration::from_secs(10)
        ),
        Some(h)
    );
}

#[test]
pub(super) fn budget_bounds_work_and_far_deadlines_survive_wraps() {
    table!(t, 64, SipKey(1, 1));
    let short = Duration::from_secs(1);
    let long = Duration::from_secs(5000); // beyond one wheel turn (1048 s)
    for i in 0..20 {
        t.insert_with_timeout(nc(key(i, 1)), Instant::ZERO, short)
            .unwrap();
    }
    let far = t
        .insert_with_timeout(nc(key(100, 1)), Instant::ZERO, long)
        .unwrap();
    let tof = |e: &ConnSlot| {
        if e.cport == 1 && e.caddr[3] == 100 {
            long
        } else {
            short
        }
    };
    let mut budget = 5;
    let mut n = 0;
    while let Some(h) = t.next_expired(Instant::from_secs(2), &mut budget, tof) {
        t.remove(h);
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(
        t.poll_timeout(),
        Some(Instant::from_millis(t.wheel_tick * WHEEL_TICK_MS))
    );
    let mut budget = 1000;
    while let Some(h) = t.next_expired(Instant::from_secs(2), &mut budget, tof) {
        t.remove(h);
        n += 1;
    }
    assert_eq!(n, 20);
    // two full wheel turns later the far entry is still there, then it expires
    let mut budget = 1000;
    assert_eq!(
        t.next_expired(Instant::from_secs(4000), &mut budget, tof),
        None
    );
    assert!(t.get(far).is_some());
    assert_eq!(
        t.next_expired(Instant::from_secs(5001), &mut budget, tof),
        Some(far)
    );
}
