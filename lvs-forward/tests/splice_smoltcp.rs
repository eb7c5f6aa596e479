//! The splicer between real TCP stacks (smoltcp) on an in-memory wire with virtual time:
//! routing, byte-exact transfers both ways (with loss and reordering), keep-alive, pipelining,
//! resets, sequence wrap-around, SYN floods, slow and malformed clients.

mod splice_net;

use core::net::SocketAddrV4;
use lvs_forward::splice::http::{HttpClassifier, Router};
use lvs_forward::splice::{FlowInfo, Phase, SpliceDrop, SpliceVerdict};
use smoltcp::socket::tcp::State;
use splice_net::apps::{expected_hash, path_seed, ClientConn, Fnv, Req, ServerApp};
use splice_net::{server_addr, Impair, Net, VIP};

/// "/s<N>/..." goes to server N; anything else to server 0.
#[derive(Default)]
struct PathRouter {
    closed: u64,
}

impl Router for PathRouter {
    fn route(&mut self, _f: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
        let p = req.path?;
        if p.starts_with("/none") {
            return None;
        }
        let n = p
            .strip_prefix("/s")
            .and_then(|r| r.split('/').next())
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        Some(server_addr(n))
    }
    fn closed(&mut self, _s: SocketAddrV4) {
        self.closed += 1;
    }
}

type TestNet = Net<HttpClassifier<PathRouter>>;

struct World {
    net: TestNet,
    servers: Vec<ServerApp>,
    clients: Vec<ClientConn>,
}

const SOCK_BUF: usize = 256 * 1024;

impl World {
    fn new(nservers: usize, seed: u64) -> World {
        let mut net = Net::new(HttpClassifier::new(PathRouter::default()), nservers, seed);
        let servers = (0..nservers)
            .map(|i| ServerApp::new(i, 8080, &mut net.servers[i], 12, SOCK_BUF))
            .collect();
        World {
            net,
            servers,
            clients: vec![],
        }
    }

    /// A world of `nservers` servers with one client, from port `port`, getting `path`.
    fn get(nservers: usize, seed: u64, port: u16, path: &str) -> World {
        let mut w = World::new(nservers, seed);
        w.open(port, vec![Req::get(path, "h")], false);
        w
    }

    fn open(&mut self, port: u16, reqs: Vec<Req>, pipelined: bool) -> usize {
        let c = ClientConn::open(&mut self.net.client, port, reqs, pipelined, SOCK_BUF);
        self.clients.push(c);
        self.clients.len() - 1
    }

    fn step(&mut self) {
        self.net.step();
        for (i, s) in self.servers.iter_mut().enumerate() {
            s.run(&mut self.net.servers[i]);
        }
        for c in &mut self.clients {
            c.run(&mut self.net.client);
        }
    }

    /// Steps until `done` holds; panics after `max_steps`.
    fn run_until(&mut self, max_steps: u64, what: &str, mut done: impl FnMut(&mut World) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!(
            "{what}: not done after {max_steps} steps (virtual {} ms); splicer {:?}; drops {:?}",
            self.net.now,
            self.net.splicer.stats(),
            &self.net.drops[..self.net.drops.len().min(20)]
        );
    }

    fn all_done(&mut self) -> bool {
        self.clients.iter().all(|c| c.done())
    }

    /// After everything is done: the sockets close and the splicer lets go of all state.
    fn settle(&mut self) {
        self.run_until(200_000, "settle", |w| {
            let closed = w.clients.iter().all(|c| {
                let st = w
                    .net
                    .client
                    .sockets
                    .get_mut::<smoltcp::socket::tcp::Socket>(c.handle)
                    .state();
                matches!(st, State::Closed | State::TimeWait)
            });
            closed && w.net.splicer.live() == 0
        });
        assert_eq!(
            self.net.splicer.free_slots(),
            64,
            "every buffer slot returned"
        );
    }
}

fn check_download(r: &splice_net::apps::Resp, path: &str, len: u64) {
    assert_eq!(r.status, 200);
    assert_eq!(r.len, len);
    assert_eq!(
        r.hash,
        expected_hash(path_seed(path), len),
        "body of {path} byte-exact"
    );
}

fn upload_hash(seed: u64, len: u64) -> Vec<u8> {
    format!("{:016x}", expected_hash(seed, len)).into_bytes()
}

#[test]
fn routes_and_downloads_20_mb_across_the_sequence_wrap() {
    let mut w = World::new(3, 7);
    let path = "/s2/big/20000000";
    w.open(40000, vec![Req::get(path, "example.test")], false);
    let mut saw_wrap = false;
    w.run_until(2_000_000, "download", |w| {
        if let Some(c) = w
            .net
            .splicer
            .connection(SocketAddrV4::new(splice_net::CLIENT_IP, 40000), VIP)
        {
            if c.phase == Phase::Spliced {
                // the cookie ISN sits in the top 16 MiB: 20 MB toward the client wraps 2^32
                assert!(c.d_isn >= 0xff00_0000, "d_isn {:#x}", c.d_isn);
                saw_wrap = true;
            }
        }
        w.all_done()
    });
    assert!(saw_wrap);
    let r = &w.clients[0].responses[0];
    assert_eq!(r.server, Some(2));
    check_download(r, path, 20_000_000);
    w.settle();
    let st = *w.net.splicer.stats();
    assert_eq!((st.accepted, st.spliced, st.closed), (1, 1, 1));
    assert_eq!(w.net.splicer.classifier().router.closed, 1);
    println!(
        "20 MB download: {} packets, {} virtual ms, {:?}",
        w.net.packets,
        w.net.now - splice_net::START_MS,
        st
    );
}

#[test]
fn uploads_5_mb_byte_exact() {
    let mut w = World::new(2, 11);
    w.open(40001, vec![Req::post("/s1/upload", 5_000_000, 99)], false);
    w.run_until(2_000_000, "upload", World::all_done);
    let r = &w.clients[0].responses[0];
    assert_eq!((r.status, r.server), (200, Some(1)));
    assert_eq!(r.body_prefix, upload_hash(99, 5_000_000));
    w.settle();
}

#[test]
fn loss_and_reordering_both_ways() {
    for seed in [3u64, 5] {
        let mut w = World::new(2, seed);
        w.net.impair = Impair {
            loss_per_mille: 10,
            reorder_per_mille: 20,
        };
        let path = "/s1/lossy/3000000";
        w.open(
            40100,
            vec![Req::get(path, "a"), Req::post("/s1/up", 1_000_000, seed)],
            false,
        );
        let mut k = 0u64;
        w.run_until(600_000, "lossy transfer", |w| {
            k += 1;
            if w.net.splicer.stats().closed > 0 {
                let c = &w.clients[0];
                let st = w.clients[0].state(&mut w.net.client);
                panic!("closed early t={} state={st} responses={} wire drops={} splicer={:?} drops={:?}", w.net.now - splice_net::START_MS, c.responses.len(), w.net.dropped_by_wire, w.net.splicer.stats(), w.net.drops);
            }
            if k.is_multiple_of(50_000) {
                let c = &w.clients[0];
                eprintln!("t={} responses={} wire drops={} splicer={:?}", w.net.now, c.responses.len(), w.net.dropped_by_wire, w.net.splicer.stats());
            }
            w.all_done()
        });
        let c = &w.clients[0];
        check_download(&c.responses[0], path, 3_000_000);
        assert_eq!(c.responses[1].body_prefix, upload_hash(seed, 1_000_000));
        assert!(
            w.net.dropped_by_wire > 50,
            "the wire did lose packets ({})",
            w.net.dropped_by_wire
        );
        w.settle();
        println!(
            "seed {seed}: wire dropped {} of {} packets; {:?}",
            w.net.dropped_by_wire,
            w.net.packets,
            w.net.splicer.stats()
        );
    }
}

/// A GET (host "h") of each path.
fn gets(paths: &[&str]) -> Vec<Req> {
    paths.iter().map(|p| Req::get(p, "h")).collect()
}

#[test]
fn keep_alive_first_request_decides() {
    let mut w = World::new(3, 13);
    let paths = [
        "/s1/a/1000",
        "/s2/b/70000",
        "/s0/c/5",
        "/s1/d/300000",
        "/x/e/1",
    ];
    w.open(40200, gets(&paths), false);
    w.run_until(1_000_000, "keep-alive", World::all_done);
    for (r, p) in w.clients[0].responses.iter().zip(paths) {
        assert_eq!(
            r.server,
            Some(1),
            "{p}: the first request's server keeps the connection"
        );
        let len = p.rsplit('/').next().unwrap().parse().unwrap();
        check_download(r, p, len);
    }
    assert_eq!(w.servers[1].served, 5);
    w.settle();
}

#[test]
fn pipelined_requests() {
    let mut w = World::new(2, 17);
    let paths = ["/s1/p/100", "/s1/q/200000", "/s1/r/7", "/s1/s/4096"];
    w.open(40300, gets(&paths), true);
    w.run_until(1_000_000, "pipelined", World::all_done);
    for (r, p) in w.clients[0].responses.iter().zip(paths) {
        let len = p.rsplit('/').next().unwrap().parse().unwrap();
        check_download(r, p, len);
    }
    w.settle();
}

#[test]
fn many_connections_route_by_path() {
    let mut w = World::new(3, 19);
    let mut want = vec![];
    for i in 0..30u16 {
        let n = usize::from(i % 3);
        let p = format!("/s{n}/obj{i}/{}", 1000 + u64::from(i) * 37);
        want.push((n, p.clone()));
        w.open(41000 + i, vec![Req::get(&p, "h")], false);
    }
    w.run_until(1_000_000, "30 connections", World::all_done);
    for (c, (n, p)) in w.clients.iter().zip(&want) {
        assert_eq!(c.responses[0].server, Some(*n));
        check_download(
            &c.responses[0],
            p,
            p.rsplit('/').next().unwrap().parse().unwrap(),
        );
    }
    w.settle();
    assert_eq!(w.net.splicer.stats().spliced, 30);
}

#[test]
fn client_reset_mid_download_frees_both_sides() {
    let mut w = World::get(2, 23, 40400, "/s1/big/50000000");
    w.run_until(1_000_000, "download started", |w| {
        w.net.splicer.stats().spliced == 1
            && w.clients[0].responses.is_empty()
            && w.net.now > splice_net::START_MS + 50
    });
    for _ in 0..50 {
        w.step();
    }
    w.net
        .client
        .sockets
        .get_mut::<smoltcp::socket::tcp::Socket>(w.clients[0].handle)
        .abort();
    w.clients[0].close_when_done = false;
    w.run_until(100_000, "reset relayed", |w| w.net.splicer.live() == 0);
    assert!(w.net.splicer.stats().resets >= 1);
    // the server saw the reset: its socket is listening again
    w.run_until(100_000, "server socket recycled", |w| {
        let h = &mut w.net.servers[1];
        h.sockets.iter().all(
            |(_, s)| matches!(s, smoltcp::socket::Socket::Tcp(t) if t.state() == State::Listen),
        )
    });
}

#[test]
fn server_reset_reaches_the_client() {
    let mut w = World::get(2, 29, 40500, "/s1/reset");
    w.run_until(100_000, "server reset", |w| {
        let st = w.clients[0].state(&mut w.net.client);
        st == State::Closed && w.net.splicer.live() == 0
    });
    println!(
        "{:?} {:?} t={}",
        w.net.splicer.stats(),
        w.net.drops,
        w.net.now - splice_net::START_MS
    );
    assert!(w.net.splicer.stats().resets >= 1);
    assert_eq!(w.net.splicer.free_slots(), 64);
}

#[test]
fn syn_flood_holds_no_state() {
    let mut w = World::new(1, 31);
    let mut syn = vec![0u8; 60];
    for i in 0..20_000u32 {
        let src = [198, 19, (i >> 8) as u8, i as u8];
        let seg = lvs_forward::splice::emit::Segment {
            src: (src, 1024 + (i % 50000) as u16),
            dst: (VIP.ip().octets(), 80),
            seq: i.wrapping_mul(2_654_435_761),
            ack: None,
            flags: 0x02,
            window: 65535,
            options: lvs_forward::splice::options::OptionsEmit {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((i, 0)),
            },
            payload: &[],
        };
        let n = lvs_forward::splice::emit::build_ipv4_tcp(&mut syn, &seg).unwrap();
        let (v, out) = w.net.inject(&syn[..n]);
        assert!(matches!(v, SpliceVerdict::Transmit(_)));
        assert_eq!(out[33] & 0x12, 0x12, "SYN-ACK");
        // a bare ACK with a guessed cookie is refused
        if i % 100 == 0 {
            let mut ack = seg;
            ack.flags = 0;
            ack.ack = Some(i);
            ack.seq = seg.seq.wrapping_add(1);
            ack.options = Default::default();
            let n = lvs_forward::splice::emit::build_ipv4_tcp(&mut syn, &ack).unwrap();
            assert_eq!(
                w.net.inject(&syn[..n]).0,
                SpliceVerdict::Drop(SpliceDrop::BadCookie)
            );
        }
    }
    assert_eq!(w.net.splicer.live(), 0);
    assert_eq!(w.net.splicer.stats().syn_cookies, 20_000);
    assert_eq!(w.net.splicer.stats().bad_cookies, 200);
    // a real client still gets through
    w.open(40600, vec![Req::get("/s0/x/1000", "h")], false);
    w.run_until(100_000, "after flood", World::all_done);
    check_download(&w.clients[0].responses[0], "/s0/x/1000", 1000);
}

#[test]
fn slow_client_times_out_and_state_is_freed() {
    let mut w = World::new(1, 37);
    let mut r = Req::get("/s0/a/10", "h");
    r.head.truncate(r.head.len() - 2); // never finishes the head
    w.open(40700, vec![r], false);
    w.clients[0].close_when_done = false;
    w.run_until(100_000, "buffering", |w| w.net.splicer.live() == 1);
    w.run_until(100_000, "header timeout", |w| {
        w.clients[0].state(&mut w.net.client) == State::Closed
    });
    assert_eq!(w.net.splicer.live(), 0);
    assert_eq!(w.net.splicer.stats().header_timeouts, 1);
    assert_eq!(w.net.splicer.free_slots(), 64);
}

#[test]
fn malformed_and_oversized_heads_get_400_and_431() {
    let mut w = World::new(1, 41);
    let bad = Req {
        head: b"GET /\x01 HTTP/1.1\r\n\r\n".to_vec(),
        upload: 0,
        upload_seed: 0,
    };
    let mut flood = b"GET / HTTP/1.1\r\n".to_vec();
    while flood.len() < 9000 {
        flood.extend_from_slice(b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    flood.extend_from_slice(b"\r\n");
    let flood = Req {
        head: flood,
        upload: 0,
        upload_seed: 0,
    };
    w.open(40800, vec![bad], false);
    w.open(40801, vec![flood], false);
    w.open(40802, vec![Req::get("/none", "h")], false);
    w.run_until(100_000, "rejections", World::all_done);
    let codes: Vec<u16> = w.clients.iter().map(|c| c.responses[0].status).collect();
    assert_eq!(codes, [400, 431, 503]);
    w.settle();
    let hs = w.net.splicer.classifier().stats;
    assert_eq!((hs.bad_request, hs.too_large, hs.unavailable), (1, 1, 1));
    assert_eq!(w.net.splicer.stats().rejected, 3);
}

#[test]
fn segments_far_outside_the_window_are_dropped() {
    let mut w = World::get(2, 43, 40900, "/s1/big/3000000");
    w.run_until(1_000_000, "spliced", |w| {
        w.net.splicer.stats().spliced == 1 && w.net.now > splice_net::START_MS + 20
    });
    let c = *w
        .net
        .splicer
        .connection(SocketAddrV4::new(splice_net::CLIENT_IP, 40900), VIP)
        .unwrap();
    let mut b = vec![0u8; 100];
    for (seq, rst) in [
        (c.rcv_nxt.wrapping_add(0x8000_0000), false),
        (c.rcv_nxt.wrapping_add(1 << 25), true),
    ] {
        let seg = lvs_forward::splice::emit::Segment {
            src: (splice_net::CLIENT_IP.octets(), 40900),
            dst: (VIP.ip().octets(), 80),
            seq,
            ack: Some(c.d_isn.wrapping_add(1)),
            flags: if rst { 0x04 } else { 0 },
            window: 100,
            options: Default::default(),
            payload: b"junk",
        };
        let n = lvs_forward::splice::emit::build_ipv4_tcp(&mut b, &seg).unwrap();
        assert_eq!(
            w.net.inject(&b[..n]).0,
            SpliceVerdict::Drop(SpliceDrop::OutOfWindow)
        );
    }
    // truncated and non-TCP packets are typed drops too
    assert_eq!(
        w.net.inject(&b[..30]).0,
        SpliceVerdict::Drop(SpliceDrop::Malformed)
    );
    assert_eq!(w.net.splicer.stats().out_of_window, 2);
    w.run_until(1_000_000, "download unaffected", World::all_done);
    check_download(&w.clients[0].responses[0], "/s1/big/3000000", 3_000_000);
    let _ = Fnv::default();
}

#[test]
fn handshake_and_replay_survive_heavy_loss() {
    let mut retransmits = 0;
    for seed in 1..=6u64 {
        let mut w = World::new(2, 100 + seed);
        w.net.impair = Impair {
            loss_per_mille: 250,
            reorder_per_mille: 100,
        };
        let path = format!("/s1/h{seed}/20000");
        w.open(42000 + seed as u16, vec![Req::get(&path, "h")], false);
        w.run_until(2_000_000, "heavy loss", World::all_done);
        check_download(&w.clients[0].responses[0], &path, 20_000);
        retransmits += w.net.splicer.stats().retransmits;
        w.net.impair = Impair::default();
        w.settle();
    }
    assert!(
        retransmits > 0,
        "the splicer retransmitted the SYN or the replay"
    );
}
