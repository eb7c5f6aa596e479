//! The hybrid policy: rules send cacheable objects to a URL-hashed cache pool (mh keyed by
//! Host + path) and dynamic requests to a wlc pool; every URL lives on exactly one cache.

use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_forward::splice::http::Router;
use lvs_forward::splice::hybrid::HybridRouter;
use lvs_forward::splice::rules_parse::{RuleErrorKind, RuleSet};
use lvs_forward::splice::FlowInfo;
use lvs_sched::{AnyScheduler, SchedOptions};
use std::collections::HashMap;

const RULES: &str = "\
# content-aware pools beside the ipvsadm rules
pool cache mh key=url 198.18.1.1:8080 198.18.1.2:8080 198.18.1.3:8080 198.18.1.4:8080
pool app   wlc        198.18.2.1:8080 198.18.2.2:8080 198.18.2.3:8080
route ext=jpg,png,gif,css,js,html   -> cache
route prefix=/static/               -> cache
route method=POST                   -> app
default app
";

fn router() -> Box<HybridRouter<'static, AnyScheduler<'static>, 8, 4>> {
    let rules = RuleSet::parse(RULES).unwrap();
    Box::new(
        HybridRouter::new(rules, SipKey(7, 9), |p| {
            AnyScheduler::from_name(p.scheduler, &SchedOptions::default()).ok()
        })
        .unwrap(),
    )
}

fn route(
    r: &mut HybridRouter<'static, AnyScheduler<'static>, 8, 4>,
    client: u32,
    head: &str,
) -> SocketAddrV4 {
    let mut h = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut h);
    assert!(req.parse(head.as_bytes()).unwrap().is_complete());
    let flow = FlowInfo {
        client: SocketAddrV4::new(
            Ipv4Addr::from(0xc612_0000 | (client & 0xffff)),
            1024 + (client % 60000) as u16,
        ),
        vip: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 100), 80),
        now: Instant::from_secs(1),
    };
    r.route(&flow, &req).expect("a server")
}

/// A router with four pools is large (built by value before it is boxed):
/// run the tests on a thread with a roomy stack.
fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn each_cacheable_url_lives_on_exactly_one_cache() {
    big_stack(cache_affinity);
}

fn cache_affinity() {
    let mut r = router();
    let mut home: HashMap<String, SocketAddrV4> = HashMap::new();
    let mut per_cache: HashMap<SocketAddrV4, usize> = HashMap::new();
    let exts = ["jpg", "png", "css", "js", "html"];
    let mut misplaced = 0;
    let mut seen: HashMap<String, HashMap<SocketAddrV4, usize>> = HashMap::new();
    let mut total = 0usize;
    for round in 0..3u32 {
        for i in 0..10_000u32 {
            let path = if i % 7 == 0 {
                format!("/static/obj{i}")
            } else {
                format!("/img/{i}/pic.{}", exts[(i % 5) as usize])
            };
            let host = if i % 2 == 0 {
                "www.example.com"
            } else {
                "cdn.example.com"
            };
            let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let s = route(&mut r, round * 100_000 + i, &head);
            if s.ip().octets()[2] != 1 {
                misplaced += 1;
            }
            let key = format!("{host}{path}");
            *seen.entry(key.clone()).or_default().entry(s).or_default() += 1;
            total += 1;
            if let std::collections::hash_map::Entry::Vacant(v) = home.entry(key) {
                v.insert(s);
                *per_cache.entry(s).or_default() += 1;
            }
            r.closed(s);
        }
    }
    assert_eq!(misplaced, 0);
    assert_eq!(home.len(), 10_000);
    assert_eq!(per_cache.len(), 4);
    for (s, n) in &per_cache {
        assert!((2000..3000).contains(n), "{s} holds {n} of 10000 objects");
    }
    // affinity: the share of requests that went to their URL's most frequent server
    let on_home: usize = seen
        .values()
        .map(|m| m.values().max().copied().unwrap_or(0))
        .sum();
    let affinity = on_home as f64 / total as f64;
    assert_eq!(
        on_home, total,
        "every request for a URL went to the same cache"
    );
    println!(
        "cache-affinity={affinity:.3} objects={} per cache {:?}",
        home.len(),
        per_cache
    );
}

#[test]
fn dynamic_requests_balance_by_least_connections() {
    big_stack(least_connections);
}

fn least_connections() {
    let mut r = router();
    let mut open = vec![];
    for i in 0..300u32 {
        let head = if i % 2 == 0 {
            "POST /cgi-bin/order HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_string()
        } else {
            format!("GET /app?q={i} HTTP/1.1\r\nHost: x\r\n\r\n")
        };
        let s = route(&mut r, i, &head);
        assert_eq!(
            s.ip().octets()[2],
            2,
            "dynamic content goes to the app pool"
        );
        open.push(s);
    }
    let app = r.pools().nth(1).unwrap();
    let active: Vec<u32> = app.dests().iter().map(|d| d.active).collect();
    assert_eq!(
        active,
        [100, 100, 100],
        "wlc with equal weights spreads open connections evenly"
    );
    // closing every connection of one server sends the next requests there
    let first = app.dests()[0].addr;
    for s in open.iter().filter(|s| s.ip().octets()[3] == 1) {
        r.closed(*s);
    }
    assert_eq!(r.pools().nth(1).unwrap().dests()[0].active, 0);
    for i in 0..50 {
        let s = route(&mut r, 1000 + i, "GET /app HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(lvs_core::Endpoint::v4(s.ip().octets(), s.port()), first);
    }
}

#[test]
fn unknown_scheduler_is_a_line_numbered_error() {
    big_stack(unknown_scheduler);
}

fn unknown_scheduler() {
    let rules = RuleSet::<'_, 4, 4>::parse(
        "pool a nosuch 1.2.3.4:80\n\npool b wlc 1.2.3.4:81\ndefault a\n",
    )
    .unwrap();
    let e = HybridRouter::new(rules, SipKey(0, 0), |p| {
        AnyScheduler::from_name(p.scheduler, &SchedOptions::default()).ok()
    })
    .unwrap_err();
    assert_eq!((e.line, e.kind), (1, RuleErrorKind::UnknownScheduler));
}
