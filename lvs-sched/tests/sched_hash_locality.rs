//! lblc and lblcr: hits, misses, the kernel's quirks, expiry, collection and the pool policies.

mod sched_hash_fixtures;

use lvs_core::{DestId, Duration, Endpoint, Instant, IpAddr, Scheduler};
use lvs_sched::lblc::{self, Lblc};
use lvs_sched::lblcr::{self, Lblcr};
use sched_hash_fixtures::{server, to, Svc};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn three<S: Scheduler>(s: S) -> Svc<S> {
    Svc::with(s, &[(server(0), 1), (server(1), 1), (server(2), 1)])
}

const D0: DestId = DestId(0);
const D1: DestId = DestId(1);
const D2: DestId = DestId(2);

// ---------------------------------------------------------------------------------------------
// lblc

#[test]
fn lblc_miss_then_hit_sticks_to_the_cached_server() {
    let mut svc = three(Lblc::new());
    let x = ip("203.0.113.9");
    svc.set_counts(D0, 0, 3);
    // miss: weighted least connection (server 1, first of the idle ones)
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D1));
    assert_eq!(svc.s.lookup(&x), Some((D1, t(1))));
    assert_eq!((svc.s.len(), svc.s.entries()), (1, 1));
    // server 1 becomes the busiest; the cache still answers, and lastuse moves
    svc.set_counts(D1, 1, 50);
    assert_eq!(svc.schedule(&to(x, t(5))), Some(D1));
    assert_eq!(svc.s.lookup(&x), Some((D1, t(5))));
    // another destination address gets its own entry
    let y = ip("2001:db8::80");
    assert_eq!(svc.schedule(&to(y, t(6))), Some(D2));
    assert_eq!(svc.s.len(), 2);
    // 0.0.0.1 and ::1 fold to the same bucket but are different keys
    let (a, b) = (ip("0.0.0.1"), ip("::1"));
    assert_eq!(lblc::hashkey(&a), lblc::hashkey(&b));
    svc.schedule(&to(a, t(7)));
    svc.schedule(&to(b, t(7)));
    assert_eq!(svc.s.len(), 4);
    assert_eq!(svc.s.name(), "lblc");
}

#[test]
fn lblc_hit_ignores_the_overload_flag() {
    let mut svc = three(Lblc::new());
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    svc.overload(D0, true);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D0));
    // but a miss skips OVERLOADed servers
    assert_eq!(svc.schedule(&to(ip("203.0.113.10"), t(2))), Some(D1));
}

#[test]
fn lblc_weight_zero_replaces_the_entry_and_the_counter_drifts() {
    let mut svc = three(Lblc::new());
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    svc.set_weight(D0, 0);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D1));
    assert_eq!(svc.s.lookup(&x), Some((D1, t(2))));
    // one live entry, but the replaced one was deleted without decrementing `entries`
    assert_eq!((svc.s.len(), svc.s.entries()), (1, 2));
}

#[test]
fn lblc_own_overload_test() {
    let mut svc = Svc::with(Lblc::new(), &[(server(0), 2), (server(1), 4)]);
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    // active 3 > weight 2, but nobody has active*2 < weight: keep it
    svc.set_counts(D0, 3, 0);
    svc.set_counts(D1, 2, 0);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D0));
    // server 1 at active 1: 1*2 < 4, so server 0 is lblc-overloaded -> reschedule
    svc.set_counts(D1, 1, 0);
    assert_eq!(svc.schedule(&to(x, t(3))), Some(D1));
    assert_eq!(svc.s.lookup(&x).map(|e| e.0), Some(D1));
    // active == weight is not overloaded
    svc.set_counts(D1, 4, 0);
    svc.set_counts(D0, 0, 0);
    assert_eq!(svc.schedule(&to(x, t(4))), Some(D1));
}

#[test]
fn lblc_no_destination_keeps_the_entry() {
    let mut svc = three(Lblc::new());
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    for d in [D0, D1, D2] {
        svc.set_weight(d, 0);
    }
    assert_eq!(svc.schedule(&to(x, t(2))), None);
    // the hit still updated lastuse, and nothing was replaced
    assert_eq!(svc.s.lookup(&x), Some((D0, t(2))));
    assert_eq!(svc.s.entries(), 1);
    assert_eq!(svc.schedule(&to(ip("198.51.100.1"), t(2))), None);
    assert_eq!(svc.s.len(), 1);
}

#[test]
fn lblc_removed_server_misses_even_if_its_id_is_reused() {
    let mut svc = three(Lblc::new());
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    svc.del(D0);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D1));
    // the director reuses id 0 for a new server, added back at the head
    assert_eq!(svc.schedule(&to(x, t(3))), Some(D1));
    svc.pool[0] = lvs_core::Dest::with_counts(server(9), 1, 0, 0);
    svc.order.insert(0, D0);
    let set = lvs_core::DestSet::new(&svc.pool, &svc.order);
    svc.s.add_dest(&set, D0);
    assert_eq!(svc.schedule(&to(x, t(4))), Some(D1));

    // an entry made before removal and not used since stays stale after the id is reused
    let y = ip("203.0.113.10");
    svc.set_counts(D1, 1, 0);
    svc.set_counts(D2, 1, 0);
    assert_eq!(svc.schedule(&to(y, t(5))), Some(D0));
    svc.del(D0);
    svc.pool[0] = lvs_core::Dest::with_counts(server(8), 1, 0, 0);
    svc.order.insert(0, D0);
    let set = lvs_core::DestSet::new(&svc.pool, &svc.order);
    svc.s.add_dest(&set, D0);
    let before = svc.s.entries();
    // the wlc pick is id 0 again, yet the stale entry is replaced (counter drifts)
    assert_eq!(svc.schedule(&to(y, t(6))), Some(D0));
    assert_eq!(svc.s.entries(), before + 1);
}

#[test]
fn lblc_full_sweep_every_30_timer_runs() {
    let mut svc = three(Lblc::new().with_expiration(Duration::from_secs(600)));
    assert_eq!(svc.s.expiration(), Duration::from_secs(600));
    let (x, y) = (ip("203.0.113.9"), ip("203.0.113.10"));
    svc.schedule(&to(x, t(0)));
    assert_eq!(svc.s.next_gc(), Some(t(60)));
    // not due yet
    svc.tick(t(59));
    assert_eq!(svc.s.gc_counter(), 1);
    // runs 1..29 only count
    for k in 1..30 {
        svc.tick(t(60 * k));
        assert_eq!(svc.s.gc_counter(), 1 + k as u32);
    }
    // y is created at 1200 s and used at 1201 s; x is idle since 0
    svc.schedule(&to(y, t(1200)));
    svc.schedule(&to(y, t(1201)));
    assert_eq!(svc.s.len(), 2);
    // run 30 (at 1800 s) is a full sweep: x (idle 1800 s >= 600) goes, y (599 s) stays
    svc.tick(t(1800));
    assert_eq!(svc.s.gc_counter(), 1);
    assert_eq!(svc.s.lookup(&x), None);
    assert_eq!(svc.s.lookup(&y), Some((D0, t(1201))));
    assert_eq!((svc.s.len(), svc.s.entries()), (1, 1));
    assert_eq!(svc.s.next_gc(), Some(t(1860)));
    // the next full sweep, 30 runs later
    for k in 1..30 {
        svc.tick(t(1800 + 60 * k));
    }
    assert_eq!(svc.s.gc_counter(), 30);
    assert_eq!(svc.s.len(), 1);
    svc.tick(t(3600));
    assert_eq!(svc.s.len(), 0);
    assert_eq!(svc.s.entries(), 0);
}

#[test]
fn lblc_expiry_boundary_is_inclusive() {
    let mut s = Lblc::new().with_expiration(Duration::from_secs(100));
    let pool = [lvs_core::Dest::with_counts(server(0), 1, 0, 0)];
    let order = [D0];
    let set = lvs_core::DestSet::new(&pool, &order);
    s.schedule(&set, &to(ip("203.0.113.1"), Instant::from_millis(1_000)));
    s.schedule(&set, &to(ip("203.0.113.2"), Instant::from_millis(1_001)));
    // force the full-sweep branch: 29 counting runs first
    for _ in 0..29 {
        s.collect(t(0));
    }
    assert_eq!(s.gc_counter(), 30);
    s.collect(Instant::from_millis(101_000));
    assert_eq!(s.lookup(&ip("203.0.113.1")), None);
    assert!(s.lookup(&ip("203.0.113.2")).is_some());
}

#[test]
fn lblc_timer_is_armed_by_first_use_and_fires_once_per_tick() {
    let mut svc = three(Lblc::new());
    assert_eq!(svc.s.next_gc(), None);
    svc.tick(t(10));
    assert_eq!(svc.s.next_gc(), Some(t(70)));
    // a tick 5 minutes late runs once and re-arms from now
    svc.tick(t(400));
    assert_eq!(svc.s.gc_counter(), 2);
    assert_eq!(svc.s.next_gc(), Some(t(460)));
    // a slightly late tick keeps the 60 s grid
    svc.tick(t(461));
    assert_eq!(svc.s.next_gc(), Some(t(520)));
}

/// Drives the `entries` counter above `MAX_SIZE` by replacing the entry of `x` over and over
/// (each replacement leaks one count, as in the kernel).
fn drift_past_max(svc: &mut Svc<Lblc>, x: IpAddr, now: Instant, target: u32) {
    // creation stops above MAX_SIZE, so the counter cannot pass MAX_SIZE + 1
    assert!(target <= lblc::MAX_SIZE + 1);
    let mut cur = svc.schedule(&to(x, now)).unwrap();
    while svc.s.entries() < target {
        let other = if cur == D0 { D1 } else { D0 };
        svc.set_weight(cur, 0);
        svc.set_weight(other, 1);
        cur = svc.schedule(&to(x, now)).unwrap();
        assert_eq!(cur, other);
    }
}

#[test]
fn lblc_drift_stops_caching_past_max_size() {
    let mut svc = Svc::with(Lblc::new(), &[(server(0), 1), (server(1), 1)]);
    let x = ip("203.0.113.9");
    drift_past_max(&mut svc, x, t(1), lblc::MAX_SIZE + 1);
    assert_eq!((svc.s.len(), svc.s.entries()), (1, lblc::MAX_SIZE + 1));
    // the next replacement deletes the entry and may not create one: the mapping is lost
    let cur = svc.s.lookup(&x).unwrap().0;
    svc.set_weight(cur, 0);
    let other = if cur == D0 { D1 } else { D0 };
    svc.set_weight(other, 1);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(other));
    assert_eq!(svc.s.lookup(&x), None);
    assert_eq!(svc.s.len(), 0);
    assert_eq!(svc.schedule(&to(ip("198.51.100.7"), t(2))), Some(other));
    assert_eq!(svc.s.len(), 0);
    // the collector only runs partial sweeps now, and the counter never comes back down
    for k in 1..100 {
        svc.tick(t(60 * k));
    }
    assert_eq!(svc.s.entries(), lblc::MAX_SIZE + 1);
    assert_eq!(svc.s.gc_counter(), 1);
    assert_eq!(svc.s.len(), 0);
}

#[test]
fn lblc_partial_sweep_goal_and_rover() {
    let mut svc = Svc::with(Lblc::new(), &[(server(0), 1), (server(1), 1)]);
    // 40 entries used at t = 0
    let addrs: Vec<IpAddr> = (1..=40u8)
        .map(|i| IpAddr::from([198, 51, 100, i]))
        .collect();
    for &a in &addrs {
        svc.schedule(&to(a, t(0)));
    }
    // drift to entries = MAX_SIZE + 1 (the most it can reach) at t = 400 s with another
    // address: goal = 1 * 4 / 3 = 1
    let x = ip("203.0.113.9");
    drift_past_max(&mut svc, x, t(400), lblc::MAX_SIZE + 1);
    assert_eq!(svc.s.len(), 41);
    // the 40 old entries are idle for >= 6 min at t = 420 s; x is not
    svc.s.collect(t(420));
    // expected: walk buckets from rover + 1 = 1, deleting idle entries, stop at the end of the
    // first bucket that had one
    let mut by_bucket: Vec<(usize, IpAddr)> =
        addrs.iter().map(|a| (lblc::hashkey(a), *a)).collect();
    by_bucket.sort();
    let mut deleted = 0;
    let mut rover = 0;
    let mut gone = Vec::new();
    for b in 1..lblc::TAB_SIZE {
        let here: Vec<IpAddr> = by_bucket.iter().filter(|e| e.0 == b).map(|e| e.1).collect();
        deleted += here.len();
        gone.extend(here);
        if deleted >= 1 {
            rover = b;
            break;
        }
    }
    assert_eq!(svc.s.rover(), rover);
    assert_eq!(svc.s.len(), 41 - deleted);
    assert_eq!(svc.s.entries(), lblc::MAX_SIZE + 1 - deleted as u32);
    for a in &addrs {
        assert_eq!(svc.s.lookup(a).is_none(), gone.contains(a), "{a}");
    }
    assert!(svc.s.lookup(&x).is_some());
    assert!(rover > 1, "the sweep went past bucket 1");
    // back at or below MAX_SIZE: the next run counts again, and new entries are allowed
    svc.s.collect(t(480));
    assert_eq!(svc.s.gc_counter(), 2);
}

#[test]
fn lblc_full_pool_recycles_the_least_recently_used_entry() {
    let mut svc = three(Lblc::<4>::with_capacity());
    let a: Vec<IpAddr> = (1..=6u8).map(|i| IpAddr::from([198, 51, 100, i])).collect();
    for (i, &x) in a[..4].iter().enumerate() {
        svc.schedule(&to(x, t(i as u64 + 1)));
    }
    assert_eq!(svc.s.len(), 4);
    // touch a[0]: a[1] is now the least recently used
    svc.schedule(&to(a[0], t(5)));
    svc.schedule(&to(a[4], t(6)));
    assert_eq!(svc.s.evictions(), 1);
    assert_eq!(svc.s.lookup(&a[1]), None);
    for x in [a[0], a[2], a[3], a[4]] {
        assert!(svc.s.lookup(&x).is_some(), "{x}");
    }
    assert_eq!((svc.s.len(), svc.s.entries()), (4, 4));
    svc.schedule(&to(a[5], t(7)));
    assert_eq!(svc.s.lookup(&a[2]), None);
    assert_eq!(svc.s.evictions(), 2);
    // a replacement reuses its own slot, no eviction
    svc.set_weight(svc.s.lookup(&a[5]).unwrap().0, 0);
    svc.schedule(&to(a[5], t(8)));
    assert_eq!(svc.s.evictions(), 2);
    assert_eq!(svc.s.len(), 4);
}

#[test]
fn lblc_init_service_resets() {
    let mut svc = three(Lblc::new().with_expiration(Duration::from_secs(5)));
    svc.schedule(&to(ip("203.0.113.9"), t(1)));
    svc.s
        .init_service(&lvs_core::DestSet::new(&svc.pool, &svc.order));
    assert_eq!(
        (svc.s.len(), svc.s.entries(), svc.s.gc_counter()),
        (0, 0, 1)
    );
    assert_eq!(svc.s.next_gc(), None);
    assert_eq!(svc.s.expiration(), Duration::from_secs(5));
    assert!(svc.s.is_empty());
}

// ---------------------------------------------------------------------------------------------
// lblcr

fn members(s: &Lblcr, x: &IpAddr) -> Vec<DestId> {
    let mut out = [DestId(0); 16];
    let (n, _, _) = s.lookup(x, &mut out).unwrap();
    out[..n].to_vec()
}

fn members_s<const N: usize, const S: usize>(s: &Lblcr<N, S>, x: &IpAddr) -> Vec<DestId> {
    let mut out = [DestId(0); 16];
    let (n, _, _) = s.lookup(x, &mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn lblcr_miss_creates_a_set_and_hits_pick_the_least_loaded_member() {
    let mut svc = three(Lblcr::new());
    let x = ip("203.0.113.9");
    assert_eq!(svc.schedule(&to(x, t(1))), Some(D0));
    assert_eq!(members(&svc.s, &x), [D0]);
    let mut out = [DestId(0); 4];
    assert_eq!(svc.s.lookup(&x, &mut out), Some((1, t(1), t(1))));
    // D0 lblc-overloaded (active 2 > weight 1, and D1 has 0*2 < 1): D1 joins at the head
    svc.set_counts(D0, 2, 0);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D1));
    assert_eq!(members(&svc.s, &x), [D1, D0]);
    assert_eq!(svc.s.lookup(&x, &mut out), Some((2, t(2), t(2))));
    // now the set answers with its weighted least-loaded member
    svc.set_counts(D0, 0, 1);
    svc.set_counts(D1, 0, 3);
    assert_eq!(svc.schedule(&to(x, t(3))), Some(D0));
    // the least loaded overall (D2) is not in the set and is not used
    assert_eq!(svc.s.lookup(&x, &mut out), Some((2, t(3), t(2))));
    assert_eq!(svc.s.name(), "lblcr");
}

#[test]
fn lblcr_set_min_skips_overloaded_weight_zero_and_removed() {
    let mut svc = three(Lblcr::new());
    let x = ip("203.0.113.9");
    svc.schedule(&to(x, t(1)));
    svc.set_counts(D0, 2, 0);
    svc.schedule(&to(x, t(2))); // D1 joins
    svc.set_counts(D1, 2, 0);
    svc.set_counts(D0, 0, 0);
    svc.set_counts(D2, 0, 0);
    // D1 lblc-overloaded? active 2 > 1 and D0 has 0 < 1: set_min picks D0 anyway (least)
    assert_eq!(svc.schedule(&to(x, t(3))), Some(D0));
    // OVERLOAD flag on D0: set_min skips it and takes D1, which is lblc-overloaded -> wlc D2
    svc.overload(D0, true);
    assert_eq!(svc.schedule(&to(x, t(4))), Some(D2));
    assert_eq!(members(&svc.s, &x), [D2, D1, D0]);
    svc.overload(D0, false);
    // weight 0 first member is skipped
    svc.set_weight(D2, 0);
    assert_eq!(svc.schedule(&to(x, t(5))), Some(D0));
    // a removed member is never picked
    svc.set_weight(D2, 1);
    svc.del(D0);
    assert_eq!(svc.schedule(&to(x, t(6))), Some(D2));
}

/// lblcr (expiration 100 s) over [`three`], the set of `x` grown to [D1, D0] at second
/// `grown` (D0 loaded after the first pick).
fn lblcr_pair(x: IpAddr, grown: u64) -> Svc<Lblcr> {
    let mut svc = three(Lblcr::new().with_expiration(Duration::from_secs(100)));
    svc.schedule(&to(x, t(0)));
    svc.set_counts(D0, 2, 0);
    svc.schedule(&to(x, t(grown)));
    assert_eq!(members(&svc.s, &x), [D1, D0]);
    svc
}

#[test]
fn lblcr_prunes_after_expiration_and_may_return_the_pruned_server() {
    let x = ip("203.0.113.9");
    let mut svc = lblcr_pair(x, 10); // lastmod 10
                                     // D1 is OVERLOADed: set_min skips it and picks D0; set_max ignores the flag
    svc.overload(D1, true);
    svc.set_counts(D0, 1, 0);
    svc.set_counts(D1, 0, 0);
    // at exactly lastmod + expiration nothing is pruned (strict)
    assert_eq!(svc.schedule(&to(x, t(110))), Some(D0));
    assert_eq!(members(&svc.s, &x), [D1, D0]);
    // one millisecond later the most loaded member, D0, is erased, and still returned
    let r = svc.schedule(&to(x, Instant::from_millis(110_001)));
    assert_eq!(r, Some(D0));
    assert_eq!(members(&svc.s, &x), [D1]);
    let mut out = [DestId(0); 2];
    assert_eq!(
        svc.s.lookup(&x, &mut out).map(|e| e.2),
        Some(Instant::from_millis(110_001))
    );
    // a single member is never pruned
    svc.overload(D1, false);
    assert_eq!(svc.schedule(&to(x, t(1000))), Some(D1));
    assert_eq!(members(&svc.s, &x), [D1]);
}

#[test]
fn lblcr_set_max_needs_positive_weight() {
    let x = ip("203.0.113.9");
    let mut svc = lblcr_pair(x, 1);
    svc.set_counts(D0, 0, 0);
    // D0 has weight 0: the prune must take D1 even though D0 is "busier" per weight
    svc.set_counts(D1, 0, 1);
    svc.pool[0].inactive = 1000;
    svc.set_weight(D0, 0);
    assert_eq!(svc.schedule(&to(x, t(200))), Some(D1));
    assert_eq!(members(&svc.s, &x), [D0]);
}

#[test]
fn lblcr_full_set_drops_removed_then_oldest_member() {
    let mut svc = Svc::with(
        Lblcr::<1024, 2>::with_capacity(),
        &[
            (server(0), 1),
            (server(1), 1),
            (server(2), 1),
            (server(3), 1),
        ],
    );
    let x = ip("203.0.113.9");
    svc.schedule(&to(x, t(0))); // [D0]
    svc.set_counts(D0, 5, 0);
    svc.schedule(&to(x, t(1))); // [D1, D0]
    svc.set_counts(D1, 5, 0);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D2)); // full: the oldest (D0) goes
    assert_eq!(members_s(&svc.s, &x), [D2, D1]);
    assert_eq!(svc.s.set_evictions(), 1);
    // a removed member is dropped before an older live one
    svc.del(D2);
    svc.set_counts(D1, 5, 0);
    assert_eq!(svc.schedule(&to(x, t(3))), Some(DestId(3)));
    assert_eq!(members_s(&svc.s, &x), [DestId(3), D1]);
    assert_eq!(svc.s.set_evictions(), 2);
}

#[test]
fn lblcr_collection_and_pool() {
    let mut svc = three(Lblcr::<2, 8>::with_capacity().with_expiration(Duration::from_secs(600)));
    let (a, b, c) = (ip("198.51.100.1"), ip("198.51.100.2"), ip("198.51.100.3"));
    svc.schedule(&to(a, t(1)));
    svc.schedule(&to(b, t(2)));
    svc.schedule(&to(a, t(3)));
    svc.schedule(&to(c, t(4))); // recycles b
    assert_eq!(svc.s.evictions(), 1);
    assert!(svc.s.lookup(&b, &mut []).is_none());
    assert_eq!(svc.s.lookup(&c, &mut []).map(|e| e.0), Some(0));
    assert_eq!((svc.s.len(), svc.s.entries()), (2, 2));
    for k in 1..25 {
        svc.tick(t(1 + 60 * k));
    }
    svc.schedule(&to(c, t(1500)));
    for k in 25..30 {
        svc.tick(t(1 + 60 * k));
    }
    assert_eq!(svc.s.gc_counter(), 30);
    svc.tick(t(1801));
    assert_eq!(svc.s.gc_counter(), 1);
    assert!(svc.s.lookup(&a, &mut []).is_none());
    assert!(svc.s.lookup(&c, &mut []).is_some());
    assert_eq!((svc.s.len(), svc.s.entries()), (1, 1));
    assert_eq!(svc.s.rover(), 0);
    let set = lvs_core::DestSet::new(&svc.pool, &svc.order);
    svc.s.init_service(&set);
    assert!(svc.s.is_empty());
    assert_eq!(lblcr::MAX_SIZE, 16384);
    assert_eq!(lblcr::KERNEL_EXACT_CAPACITY, 16385);
    assert_eq!(svc.s.expiration(), Duration::from_secs(600));
    assert_eq!(svc.s.next_gc(), None);
}

#[test]
fn lblcr_no_destination() {
    let mut svc = three(Lblcr::new());
    let x = ip("203.0.113.9");
    for d in [D0, D1, D2] {
        svc.set_weight(d, 0);
    }
    assert_eq!(svc.schedule(&to(x, t(1))), None);
    assert!(svc.s.is_empty());
    svc.set_weight(D1, 1);
    assert_eq!(svc.schedule(&to(x, t(2))), Some(D1));
    svc.set_weight(D1, 0);
    assert_eq!(svc.schedule(&to(x, t(3))), None);
    assert_eq!(members(&svc.s, &x), [D1]);
    let _ = Endpoint::v4([0, 0, 0, 0], 0);
}
