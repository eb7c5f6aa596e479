// splice_packets: the TCP splicer driven by arbitrary sequences of segments from clients and
// real servers (handshakes completed with the cookies the splicer really sent, requests, the
// server side's SYN-ACKs, data, FINs and resets, raw and bit-flipped packets) and time steps.
// Client and server segments may come with a partial checksum (as TSO/GSO super-frames from a
// local stack do, server data then up to 11 KB long): `handle_partial` first, and, where it
// declines, the checksum finished and `handle_packet`; a segment it rewrote must carry a
// checksum that, once finished, is right.
// After every step: nothing panicked, live connections stay within the table's bound and the
// free buffer slots within the slab. At the end, once time runs far enough, every connection
// has been freed and every buffer slot returned (nothing leaks).
//
// The input is read with a small byte cursor (an exhausted input reads as zeros).

use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_forward::checksum;
use lvs_forward::splice::emit::{build_ipv4_tcp, Segment};
use lvs_forward::splice::http::httparse;
use lvs_forward::splice::http::{HttpClassifier, Router};
use lvs_forward::splice::options::OptionsEmit;
use lvs_forward::splice::{FlowInfo, SpliceConfig, SpliceVerdict, Splicer, Toward};
use lvs_forward::wire::ChecksumCaps;
use std::net::{Ipv4Addr, SocketAddrV4};

const MAX_STEPS: usize = 300;
const N: usize = 64;
const SLOT: usize = 1024;
const SLOTS: usize = 6;
const VIP: ([u8; 4], u16) = ([198, 18, 0, 100], 80);

struct Cursor<'a> {
    data: &'a [u8],
}

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

/// "/sN..." to server N of three; "/none" to nobody (503).
struct ByPath;
impl Router for ByPath {
    fn route(&mut self, _f: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
        let p = req.path?;
        if p.starts_with("/none") {
            return None;
        }
        let n = p.as_bytes().get(2).map_or(0, |b| b % 3);
        Some(SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 1 + n), 8080))
    }
}

const REQUESTS: [&[u8]; 6] = [
    b"GET /s0/a HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /s1/b HTTP/1.1\r\nHost: x\r\n",
    b"\r\n",
    b"POST /s2/c HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /none HTTP/1.1\r\n\r\n",
    b"\x01\x02 garbage\r\n\r\n",
];

#[derive(Clone, Copy, Default)]
struct Client {
    c_isn: u32,
    d_isn: u32,
    d_tsval: u32,
}

#[derive(Clone, Copy)]
struct ServerSide {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    c_isn: u32,
    s_isn: u32,
}

struct World {
    now: u64,
    sp: Splicer<'static, HttpClassifier<ByPath>, N>,
    clients: [Client; 8],
    servers: Vec<ServerSide>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

fn client_ep(k: usize) -> ([u8; 4], u16) {
    ([198, 18, 0, 1 + (k % 2) as u8], 1000 + k as u16)
}

impl World {
    fn feed(&mut self, pkt_len: usize) {
        let now = Instant::from_millis(self.now);
        let v = self.sp.handle_packet(now, &mut self.buf, pkt_len);
        if let SpliceVerdict::Transmit(t) = v {
            assert!(t.len <= self.buf.len());
            self.observe(t.to, t.len, true);
        }
        self.drain();
        self.check();
    }

    /// Feeds `buf[..pkt_len]` (a well-formed packet) with its TCP checksum made partial.
    fn feed_partial(&mut self, pkt_len: usize) {
        let now = Instant::from_millis(self.now);
        let b = &mut self.buf[..pkt_len];
        let ph = checksum::pseudo_header_v4(
            [b[12], b[13], b[14], b[15]],
            [b[16], b[17], b[18], b[19]],
            6,
            (pkt_len - 20) as u16,
        );
        let full = [b[36], b[37]];
        b[36..38].copy_from_slice(&checksum::fold(ph).to_be_bytes());
        match self.sp.handle_partial(now, &mut self.buf, pkt_len) {
            None => {
                self.buf[36..38].copy_from_slice(&full);
                return self.feed(pkt_len);
            }
            Some(SpliceVerdict::Transmit(t)) => {
                assert_eq!(t.len, pkt_len, "a partial segment is rewritten in place");
                let b = &mut self.buf[..pkt_len];
                let c = checksum::checksum(&b[20..]);
                b[36..38].copy_from_slice(&c.to_be_bytes());
                let ph = checksum::pseudo_header_v4(
                    [b[12], b[13], b[14], b[15]],
                    [b[16], b[17], b[18], b[19]],
                    6,
                    (pkt_len - 20) as u16,
                );
                assert_eq!(checksum::fold(checksum::add(ph, &b[20..])), 0xffff, "partial sum");
                assert_eq!(checksum::checksum(&b[..20]), 0, "IPv4 header checksum");
                self.observe(t.to, t.len, true);
            }
            Some(_) => {}
        }
        self.drain();
        self.check();
    }

    fn observe(&mut self, to: Toward, len: usize, from_buf: bool) {
        let p = if from_buf { &self.buf[..len] } else { &self.out[..len] };
        if len < 40 {
            return;
        }
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let flags = p[33];
        let dst = ([p[16], p[17], p[18], p[19]], u16::from_be_bytes([p[22], p[23]]));
        let src = ([p[12], p[13], p[14], p[15]], u16::from_be_bytes([p[20], p[21]]));
        match to {
            Toward::Client if flags & 0x12 == 0x12 => {
                if let Some(k) = (0..8).find(|&k| client_ep(k) == dst) {
                    self.clients[k].d_isn = be(&p[24..]);
                    let doff = usize::from(p[32] >> 4) * 4;
                    if let Ok(o) = lvs_forward::splice::options::Options::parse(&p[40..(20 + doff).min(len)]) {
                        self.clients[k].d_tsval = o.timestamp.map_or(0, |t| t.0);
                    }
                }
            }
            Toward::Server if flags & 0x12 == 0x02 && self.servers.len() < 16 => {
                self.servers.push(ServerSide { client: src, server: dst, c_isn: be(&p[24..]), s_isn: 0 });
            }
            _ => {}
        }
    }

    fn drain(&mut self) {
        let now = Instant::from_millis(self.now);
        for _ in 0..10_000 {
            let Some(t) = self.sp.poll_transmit(now, &mut self.out) else { return };
            assert!(t.len <= self.out.len());
            self.observe(t.to, t.len, false);
        }
        panic!("poll_transmit never ran dry");
    }

    fn timers(&mut self) {
        if let Some(t) = self.sp.poll_timeout() {
            if t.total_millis() <= self.now {
                self.sp.handle_timeout(Instant::from_millis(self.now));
                self.drain();
            }
        }
        self.check();
    }

    fn check(&self) {
        assert!(self.sp.live() <= N * 3 / 4);
        assert!(self.sp.free_slots() <= SLOTS);
    }
}

fn options(c: &mut Cursor<'_>) -> OptionsEmit {
    let b = c.u8();
    OptionsEmit {
        mss: (b & 1 != 0).then_some(1460 - u16::from(b >> 4) * 64),
        wscale: (b & 2 != 0).then_some(b >> 4),
        sack_permitted: b & 4 != 0,
        timestamp: (b & 8 != 0).then(|| (u32::from(b) << 20, 0)),
    }
}

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let mut c = Cursor { data };
    let mut cfg = SpliceConfig::new(SipKey(1, 2));
    cfg.caps = ChecksumCaps::ignored();
    cfg.header_timeout = lvs_core::Duration::from_secs(5);
    cfg.idle_timeout = lvs_core::Duration::from_secs(60);
    let slab: &'static mut [u8] = Box::leak(vec![0u8; SLOT * SLOTS].into_boxed_slice());
    let mut w = World {
        now: 10_000 + u64::from(c.u16()) * 1000,
        sp: Splicer::new(cfg, HttpClassifier::new(ByPath), slab, SLOT),
        clients: [Client::default(); 8],
        servers: Vec::new(),
        buf: vec![0u8; 12_000],
        out: vec![0u8; 1500],
    };
    for _ in 0..MAX_STEPS {
        if c.data.is_empty() {
            break;
        }
        let op = c.u8();
        let k = usize::from(c.u8() % 8);
        match op % 8 {
            0 => {
                // a client SYN
                let isn = c.u32();
                w.clients[k].c_isn = isn;
                let seg = Segment { src: client_ep(k), dst: VIP, seq: isn, ack: None, flags: 0x02, window: c.u16(), options: options(&mut c), payload: &[] };
                let n = build_ipv4_tcp(&mut w.buf, &seg).unwrap();
                w.feed(n);
            }
            1 | 2 => {
                // a client segment near the expected numbers (or anywhere)
                let cl = w.clients[k];
                let wild = c.u8();
                let seq = if wild & 0x80 != 0 { c.u32() } else { cl.c_isn.wrapping_add(1).wrapping_add(u32::from(c.u16() % 64)) };
                let ack = if wild & 0x40 != 0 { c.u32() } else { cl.d_isn.wrapping_add(1).wrapping_add(u32::from(c.u8() % 4)) };
                let fb = c.u8();
                let (flags, partial) = (fb & 0x0d, fb & 0x80 != 0);
                let req = REQUESTS[usize::from(c.u8()) % REQUESTS.len()];
                let payload: Vec<u8> = if wild & 0x20 != 0 {
                    let n = usize::from(c.u8() % 200) * 8;
                    c.bytes(n).to_vec()
                } else {
                    req.to_vec()
                };
                let ts = (wild & 0x10 != 0).then(|| (c.u32(), cl.d_tsval));
                let seg = Segment { src: client_ep(k), dst: VIP, seq, ack: Some(ack), flags, window: c.u16(), options: OptionsEmit { timestamp: ts, ..OptionsEmit::default() }, payload: &payload };
                let n = build_ipv4_tcp(&mut w.buf, &seg).unwrap();
                if payload.len() == req.len() {
                    let off = u32::from(c.u8() % 2) * req.len() as u32;
                    w.clients[k].c_isn = w.clients[k].c_isn.wrapping_add(off);
                }
                if partial {
                    w.feed_partial(n);
                } else {
                    w.feed(n);
                }
            }
            3 | 4 => {
                // a server segment for a connection the splicer opened
                if w.servers.is_empty() {
                    continue;
                }
                let j = k % w.servers.len();
                let s = w.servers[j];
                let kind = c.u8();
                let (flags, seq, opts, partial) = if kind.is_multiple_of(3) {
                    let isn = c.u32();
                    w.servers[j].s_isn = isn;
                    (0x02, isn, options(&mut c), false)
                } else {
                    let fb = c.u8();
                    (fb & 0x0d, s.s_isn.wrapping_add(1).wrapping_add(u32::from(c.u16())), OptionsEmit::default(), fb & 0x80 != 0)
                };
                let ack = s.c_isn.wrapping_add(1).wrapping_add(u32::from(c.u8()) * 16);
                let n = usize::from(c.u8() % 4) * 100;
                let payload = if partial {
                    // a super-frame's worth: the input's bytes repeated
                    let p = c.bytes(n).to_vec();
                    p.iter().cycle().take(p.len() * 37).copied().collect()
                } else {
                    c.bytes(n).to_vec()
                };
                let seg = Segment { src: s.server, dst: s.client, seq, ack: Some(ack), flags, window: c.u16(), options: opts, payload: &payload };
                let n = build_ipv4_tcp(&mut w.buf, &seg).unwrap();
                if partial {
                    w.feed_partial(n);
                } else {
                    w.feed(n);
                }
            }
            5 => {
                // raw bytes, possibly behind a plausible IPv4 header
                let len = usize::from(c.u8()) + 1;
                let raw = c.bytes(len).to_vec();
                w.buf[..raw.len()].copy_from_slice(&raw);
                if k % 2 == 0 && raw.len() >= 20 {
                    w.buf[0] = 0x45;
                    w.buf[9] = 6;
                    w.buf[2..4].copy_from_slice(&(raw.len() as u16).to_be_bytes());
                    w.buf[6] &= 0x40;
                    w.buf[7] = 0;
                }
                let claimed = if k == 7 { usize::from(c.u16()) } else { raw.len() };
                w.feed(claimed.min(w.buf.len()));
            }
            6 => {
                w.now += u64::from(c.u16());
                w.timers();
            }
            _ => {
                w.now += u64::from(c.u8()) * 10_000;
                w.timers();
            }
        }
    }
    // let every timer run out: all state must go, every slot come back
    for _ in 0..200 {
        match w.sp.poll_timeout() {
            Some(t) => {
                w.now = w.now.max(t.total_millis());
                w.timers();
            }
            None => break,
        }
    }
    assert_eq!(w.sp.live(), 0, "connections left after every timer ran");
    assert_eq!(w.sp.free_slots(), SLOTS, "buffer slots leaked");
}
