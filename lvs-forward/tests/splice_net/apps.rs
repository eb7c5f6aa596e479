//! The HTTP applications on the smoltcp stacks: a server that serves generated objects and
//! hashes uploads, and a client that sends scripted requests and hashes response bodies.

use super::{tsval, Host, CLIENT_IP, VIP};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::IpAddress;

/// FNV-1a 64, streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);
impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}
impl Fnv {
    pub fn update(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Byte `k` of the object named `seed`.
pub fn gen_byte(seed: u64, k: u64) -> u8 {
    ((k.wrapping_add(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 56) as u8
}

pub fn gen_fill(seed: u64, from: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = gen_byte(seed, from + i as u64);
    }
}

pub fn expected_hash(seed: u64, len: u64) -> u64 {
    let mut h = Fnv::default();
    let mut buf = vec![0u8; 65536];
    let mut k = 0;
    while k < len {
        let n = (len - k).min(65536) as usize;
        gen_fill(seed, k, &mut buf[..n]);
        h.update(&buf[..n]);
        k += n as u64;
    }
    h.0
}

pub fn path_seed(path: &str) -> u64 {
    let mut h = Fnv::default();
    h.update(path.as_bytes());
    h.0
}

/// Sends what the socket takes of a message: the rest of its head `hdr`, then the bytes
/// `at..len` of the generated body `seed` ([`gen_fill`]); `hdr` and `at` advance.
fn send_message(s: &mut tcp::Socket, hdr: &mut Vec<u8>, seed: u64, at: &mut u64, len: u64) {
    if !hdr.is_empty() && s.can_send() {
        let n = s.send_slice(hdr).unwrap_or(0);
        hdr.drain(..n);
    }
    while hdr.is_empty() && *at < len && s.can_send() {
        let from = *at;
        let n = s
            .send(|b| {
                let n = ((len - from) as usize).min(b.len());
                gen_fill(seed, from, &mut b[..n]);
                (n, n)
            })
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        *at += n as u64;
    }
}

pub fn tcp_socket(buf: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buf]),
        tcp::SocketBuffer::new(vec![0; buf]),
    );
    s.set_tsval_generator(Some(tsval));
    s.set_nagle_enabled(false);
    s.set_ack_delay(None);
    s
}

#[derive(Default)]
struct ServerConn {
    inbuf: Vec<u8>,
    upload_left: u64,
    upload_hash: Fnv,
    in_upload: bool,
    out_hdr: Vec<u8>,
    out_seed: u64,
    out_at: u64,
    out_len: u64,
    close_after: bool,
    requests: u64,
    seen_closed: bool,
}

impl ServerConn {
    /// The upload is in: the response (no more to send after it) carries its hash.
    fn answer_upload(&mut self, server: usize) {
        self.in_upload = false;
        let body = format!("{:016x}", self.upload_hash.0);
        self.out_hdr = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {server}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        self.out_len = 0;
        self.out_at = 0;
        self.requests += 1;
    }
}

/// A server: `listeners` sockets listening on `port`; each serves requests until closed.
pub struct ServerApp {
    pub id: usize,
    pub port: u16,
    socks: Vec<(SocketHandle, ServerConn)>,
    pub served: u64,
    pub resets_seen: u64,
}

impl ServerApp {
    pub fn new(id: usize, port: u16, host: &mut Host, listeners: usize, buf: usize) -> ServerApp {
        let socks = (0..listeners)
            .map(|_| {
                let mut s = tcp_socket(buf);
                s.listen(port).unwrap();
                (host.sockets.add(s), ServerConn::default())
            })
            .collect();
        ServerApp {
            id,
            port,
            socks,
            served: 0,
            resets_seen: 0,
        }
    }

    pub fn run(&mut self, host: &mut Host) {
        for (h, st) in &mut self.socks {
            let s = host.sockets.get_mut::<tcp::Socket>(*h);
            if !s.is_open() {
                // closed (by FIN or RST): listen again, one round later so that a reset from
                // abort() goes out first
                if !st.seen_closed {
                    st.seen_closed = true;
                    continue;
                }
                *st = ServerConn::default();
                let _ = s.listen(self.port);
                continue;
            }
            while s.can_recv() {
                let _ = s.recv(|b| {
                    let n = b.len();
                    if st.in_upload {
                        let take = (st.upload_left as usize).min(n);
                        st.upload_hash.update(&b[..take]);
                        st.upload_left -= take as u64;
                        st.inbuf.extend_from_slice(&b[take..]);
                    } else {
                        st.inbuf.extend_from_slice(b);
                    }
                    (n, ())
                });
                if st.in_upload && st.upload_left == 0 {
                    st.answer_upload(self.id);
                    self.served += 1;
                }
            }
            // start the next request when the previous response is out
            while !st.in_upload && st.out_hdr.is_empty() && st.out_at >= st.out_len {
                let Some(end) = st.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let head = String::from_utf8_lossy(&st.inbuf[..end]).to_string();
                st.inbuf.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let mut rl = lines.next().unwrap_or("").split(' ');
                let method = rl.next().unwrap_or("").to_string();
                let path = rl.next().unwrap_or("/").to_string();
                let mut clen = 0u64;
                for l in lines {
                    let lower = l.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        clen = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("connection:") && lower.contains("close") {
                        st.close_after = true;
                    }
                }
                if path.ends_with("/reset") {
                    s.abort();
                    break;
                }
                if method == "POST" {
                    st.in_upload = true;
                    st.upload_hash = Fnv::default();
                    let take = (clen as usize).min(st.inbuf.len());
                    st.upload_hash.update(&st.inbuf[..take]);
                    st.inbuf.drain(..take);
                    st.upload_left = clen - take as u64;
                    if st.upload_left == 0 {
                        st.answer_upload(self.id);
                        self.served += 1;
                    }
                    continue;
                }
                // GET /<anything>/<size>: size bytes of the object named by the path
                let size: u64 = path
                    .rsplit('/')
                    .next()
                    .and_then(|x| x.split('.').next())
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(100);
                st.out_hdr = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {size}\r\nx-server: {}\r\n\r\n",
                    self.id
                )
                .into_bytes();
                st.out_seed = super::apps::path_seed(&path);
                st.out_at = 0;
                st.out_len = size;
                st.requests += 1;
                self.served += 1;
            }
            if !s.is_open() {
                continue;
            }
            send_message(s, &mut st.out_hdr, st.out_seed, &mut st.out_at, st.out_len);
            if st.close_after
                && st.out_hdr.is_empty()
                && st.out_at >= st.out_len
                && !st.in_upload
                && st.requests > 0
            {
                s.close();
            }
            if s.state() == State::CloseWait && st.out_hdr.is_empty() && st.out_at >= st.out_len {
                s.close();
            }
        }
    }
}

/// One scripted request: raw head bytes, and an upload body length (generated from `seed`).
#[derive(Clone, Debug)]
pub struct Req {
    pub head: Vec<u8>,
    pub upload: u64,
    pub upload_seed: u64,
}

impl Req {
    pub fn get(path: &str, host: &str) -> Req {
        Req {
            head: format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n\r\n")
                .into_bytes(),
            upload: 0,
            upload_seed: 0,
        }
    }
    pub fn post(path: &str, len: u64, seed: u64) -> Req {
        Req {
            head: format!("POST {path} HTTP/1.1\r\nHost: up\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes(),
            upload: len,
            upload_seed: seed,
        }
    }
}

/// A received response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resp {
    pub status: u16,
    pub server: Option<usize>,
    pub len: u64,
    pub hash: u64,
    pub body_prefix: Vec<u8>,
}

/// A client connection running a script of requests, sequential or pipelined.
pub struct ClientConn {
    pub handle: SocketHandle,
    pub reqs: Vec<Req>,
    pub pipelined: bool,
    next_req: usize,
    send_hdr: Vec<u8>,
    send_body_at: u64,
    send_body_len: u64,
    send_body_seed: u64,
    inbuf: Vec<u8>,
    body_left: Option<u64>,
    cur: Option<Resp>,
    hasher: Fnv,
    pub responses: Vec<Resp>,
    pub close_when_done: bool,
}

impl ClientConn {
    pub fn open(
        host: &mut Host,
        local_port: u16,
        reqs: Vec<Req>,
        pipelined: bool,
        buf: usize,
    ) -> ClientConn {
        let mut s = tcp_socket(buf);
        s.connect(
            host.iface.context(),
            (IpAddress::Ipv4(*VIP.ip()), VIP.port()),
            local_port,
        )
        .unwrap();
        let _ = CLIENT_IP;
        ClientConn {
            handle: host.sockets.add(s),
            reqs,
            pipelined,
            next_req: 0,
            send_hdr: vec![],
            send_body_at: 0,
            send_body_len: 0,
            send_body_seed: 0,
            inbuf: vec![],
            body_left: None,
            cur: None,
            hasher: Fnv::default(),
            responses: vec![],
            close_when_done: true,
        }
    }

    pub fn state(&self, host: &mut Host) -> State {
        host.sockets.get_mut::<tcp::Socket>(self.handle).state()
    }

    pub fn done(&self) -> bool {
        self.responses.len() == self.reqs.len()
    }

    pub fn run(&mut self, host: &mut Host) {
        let s = host.sockets.get_mut::<tcp::Socket>(self.handle);
        // queue requests
        let may_start = if self.pipelined {
            true
        } else {
            self.responses.len() == self.next_req
        };
        if may_start
            && self.next_req < self.reqs.len()
            && self.send_hdr.is_empty()
            && self.send_body_at >= self.send_body_len
            && s.may_send()
        {
            let r = &self.reqs[self.next_req];
            self.send_hdr = r.head.clone();
            self.send_body_at = 0;
            self.send_body_len = r.upload;
            self.send_body_seed = r.upload_seed;
            self.next_req += 1;
        }
        let (seed, len) = (self.send_body_seed, self.send_body_len);
        send_message(s, &mut self.send_hdr, seed, &mut self.send_body_at, len);
        while s.can_recv() {
            let _ = s.recv(|b| {
                self.inbuf.extend_from_slice(b);
                (b.len(), ())
            });
            self.parse();
        }
        self.parse();
        if self.close_when_done && self.done() && s.may_send() {
            s.close();
        }
    }

    fn parse(&mut self) {
        loop {
            if let Some(left) = self.body_left {
                let take = (left as usize).min(self.inbuf.len());
                self.hasher.update(&self.inbuf[..take]);
                if let Some(c) = self.cur.as_mut() {
                    if c.body_prefix.len() < 64 {
                        let k = take.min(64 - c.body_prefix.len());
                        c.body_prefix.extend_from_slice(&self.inbuf[..k]);
                    }
                }
                self.inbuf.drain(..take);
                let left = left - take as u64;
                if left > 0 {
                    self.body_left = Some(left);
                    return;
                }
                self.body_left = None;
                let mut r = self.cur.take().unwrap();
                r.hash = self.hasher.0;
                self.responses.push(r);
                continue;
            }
            let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.inbuf[..end]).to_string();
            self.inbuf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let mut len = 0;
            let mut server = None;
            for l in lines {
                let lower = l.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("x-server:") {
                    server = v.trim().parse().ok();
                }
            }
            self.hasher = Fnv::default();
            self.cur = Some(Resp {
                status,
                server,
                len,
                hash: 0,
                body_prefix: vec![],
            });
            self.body_left = Some(len);
        }
    }
}
