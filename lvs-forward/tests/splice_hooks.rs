//! The classifier's hooks on the server side.
//!
//! The reply hook: a classifier sees the first in-order bytes the real server sends back
//! ([`ContentClassifier::reply`]), gaps hold it back until filled, it stops when the classifier
//! has enough or at [`REPLY_LIMIT`], and the segments reach the client rewritten either way.
//!
//! The connect-failure hook: a server that resets the SYN is replaced by the one the classifier
//! names, with the same buffered bytes, at most [`MAX_CONNECT_ATTEMPTS`] servers in all.

mod handshake;

use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_forward::splice::emit::{build_ipv4_tcp, Segment};
use lvs_forward::splice::options::OptionsEmit;
use lvs_forward::splice::{
    Classification, ContentClassifier, FlowInfo, SpliceConfig, SpliceVerdict, Splicer, Toward,
    Transmit, MAX_CONNECT_ATTEMPTS, REPLY_LIMIT,
};

const CLIENT: ([u8; 4], u16) = ([198, 18, 0, 2], 40000);
const VIP: ([u8; 4], u16) = ([198, 18, 0, 10], 443);
const SERVER: ([u8; 4], u16) = ([198, 18, 1, 1], 443);
const S_ISN: u32 = 0xffff_fff0; // the server's stream wraps the sequence space early

/// Records what it is shown; wants bytes until it has `want` of them.
struct Recorder {
    want: usize,
    seen: Vec<(usize, Vec<u8>)>,
    flows: Vec<(FlowInfo, SocketAddrV4)>,
    /// Servers reported failed, and the next servers to name.
    failed: Vec<SocketAddrV4>,
    next: Vec<SocketAddrV4>,
    closed: Vec<SocketAddrV4>,
}

impl ContentClassifier for Recorder {
    fn classify(&mut self, _: &FlowInfo, data: &[u8]) -> Classification {
        if data.ends_with(b"\n") {
            Classification::Choose(SocketAddrV4::new(SERVER.0.into(), SERVER.1))
        } else {
            Classification::NeedMore
        }
    }
    fn reply(&mut self, flow: &FlowInfo, server: SocketAddrV4, offset: usize, data: &[u8]) -> bool {
        self.seen.push((offset, data.to_vec()));
        self.flows.push((*flow, server));
        offset + data.len() < self.want
    }
    fn connect_failed(&mut self, _: &FlowInfo, server: SocketAddrV4) -> Option<SocketAddrV4> {
        self.failed.push(server);
        self.next.pop()
    }
    fn closed(&mut self, server: SocketAddrV4) {
        self.closed.push(server);
    }
}

fn fields(p: &[u8]) -> (u32, u32, u8, &[u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    let t = &p[ihl..];
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let hl = usize::from(t[12] >> 4) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    (seq, ack, t[13], &p[ihl + hl..total])
}

struct Rig<'s> {
    sp: Box<Splicer<'s, Recorder, 64>>,
    now: Instant,
    /// The splicer's initial sequence number toward the client (the cookie).
    cookie: u32,
}

fn seg<'a>(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    payload: &'a [u8],
) -> Segment<'a> {
    handshake::data(src, dst, seq, ack, 65_000, payload)
}

/// A splicer over `slab` (512-byte slots) whose [`Recorder`] wants `want` bytes and names
/// `next` after a refused connect.
fn splicer(
    slab: &mut [u8],
    want: usize,
    next: Vec<SocketAddrV4>,
) -> Box<Splicer<'_, Recorder, 64>> {
    let rec = Recorder {
        want,
        seen: Vec::new(),
        flows: Vec::new(),
        failed: Vec::new(),
        next,
        closed: Vec::new(),
    };
    Box::new(Splicer::new(
        SpliceConfig::new(SipKey(5, 6)),
        rec,
        slab,
        512,
    ))
}

impl<'s> Rig<'s> {
    /// Client handshake by cookie, a one-line request, the server's SYN-ACK and its ACK of the
    /// replayed request: the connection is spliced.
    fn new(slab: &'s mut [u8], want: usize) -> Self {
        let mut sp = splicer(slab, want, Vec::new());
        let now = Instant::from_secs(3);
        let mut buf = [0u8; 1600];
        let syn = Segment {
            flags: 0x02,
            ack: None,
            options: OptionsEmit {
                mss: Some(1460),
                ..OptionsEmit::default()
            },
            ..seg(CLIENT, VIP, 1_000, 0, &[])
        };
        let (cookie, t) = hello_to_server(&mut sp, now, &mut buf, &syn);
        let (c_isn, _, flags, _) = fields(&buf[..t.len]);
        assert_eq!((t.to, flags & 0x12), (Toward::Server, 0x02));
        let syn_ack = Segment {
            flags: 0x12,
            options: OptionsEmit {
                mss: Some(1460),
                ..OptionsEmit::default()
            },
            ..seg(SERVER, CLIENT, S_ISN, c_isn.wrapping_add(1), &[])
        };
        let n = build_ipv4_tcp(&mut buf, &syn_ack).unwrap();
        assert_eq!(sp.handle_packet(now, &mut buf, n), SpliceVerdict::Consumed);
        let t = sp.poll_transmit(now, &mut buf).expect("replayed request");
        assert_eq!(fields(&buf[..t.len]).3, b"hello\n");
        Rig { sp, now, cookie }
    }

    /// The server sends `data` at stream offset `off` (acknowledging the request); returns the
    /// sequence number and payload the client receives.
    fn server_sends(&mut self, off: u32, data: &[u8]) -> (u32, Vec<u8>) {
        let mut buf = [0u8; 1600];
        let seq = S_ISN.wrapping_add(1).wrapping_add(off);
        let n = build_ipv4_tcp(&mut buf, &seg(SERVER, CLIENT, seq, 1_007, data)).unwrap();
        let SpliceVerdict::Transmit(t) = self.sp.handle_packet(self.now, &mut buf, n) else {
            panic!("server segment not relayed")
        };
        assert_eq!(t.to, Toward::Client);
        let (seq, _, _, payload) = fields(&buf[..t.len]);
        (seq, payload.to_vec())
    }

    fn seen(&self) -> &[(usize, Vec<u8>)] {
        &self.sp.classifier().seen
    }
}

fn bytes(from: usize, n: usize) -> Vec<u8> {
    (from..from + n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn in_order_prefix_shown_once_with_offsets_gaps_wait() {
    let mut slab = vec![0u8; 512 * 8];
    let mut r = Rig::new(&mut slab, 4000);
    // first segment: shown from offset 0; the client gets it at the cookie's sequence space
    let (seq, payload) = r.server_sends(0, &bytes(0, 1000));
    assert_eq!(seq, r.cookie.wrapping_add(1));
    assert_eq!(payload, bytes(0, 1000));
    // a segment after a gap (1000..1500 missing) is relayed but not shown
    let _ = r.server_sends(1500, &bytes(1500, 500));
    assert_eq!(r.seen().len(), 1);
    // an old duplicate is not shown again
    let _ = r.server_sends(0, &bytes(0, 1000));
    assert_eq!(r.seen().len(), 1);
    // the gap is filled by a segment overlapping what was seen: only the new part is shown
    let _ = r.server_sends(900, &bytes(900, 600));
    // the retransmitted segment after the gap continues the stream
    let _ = r.server_sends(1500, &bytes(1500, 500));
    let seen = r.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], (0, bytes(0, 1000)));
    assert_eq!(seen[1], (1000, bytes(1000, 500)));
    assert_eq!(seen[2], (1500, bytes(1500, 500)));
    let (flow, server) = r.sp.classifier().flows[0];
    assert_eq!(
        flow.client,
        SocketAddrV4::new(Ipv4Addr::from(CLIENT.0), CLIENT.1)
    );
    assert_eq!(flow.vip, SocketAddrV4::new(Ipv4Addr::from(VIP.0), VIP.1));
    assert_eq!(
        server,
        SocketAddrV4::new(Ipv4Addr::from(SERVER.0), SERVER.1)
    );
}

#[test]
fn stops_when_the_classifier_has_enough() {
    let mut slab = vec![0u8; 512 * 8];
    let mut r = Rig::new(&mut slab, 100);
    let _ = r.server_sends(0, &bytes(0, 60));
    let _ = r.server_sends(60, &bytes(60, 60)); // reaches 120 >= 100: enough
    let (_, payload) = r.server_sends(120, &bytes(120, 60));
    assert_eq!(
        payload,
        bytes(120, 60),
        "relayed unchanged after watching stops"
    );
    assert_eq!(r.seen().len(), 2);
}

#[test]
fn nothing_past_the_limit() {
    let mut slab = vec![0u8; 512 * 8];
    let mut r = Rig::new(&mut slab, usize::MAX);
    let mut off = 0;
    while off < REPLY_LIMIT + 3000 {
        let _ = r.server_sends(off as u32, &bytes(off, 1400));
        off += 1400;
    }
    let seen = r.seen();
    let total: usize = seen.iter().map(|(_, d)| d.len()).sum();
    assert_eq!(total, REPLY_LIMIT);
    let (last_off, last) = seen.last().unwrap();
    assert_eq!(last_off + last.len(), REPLY_LIMIT);
    assert_eq!(*last, bytes(*last_off, last.len()));
}

/// The client's SYN `syn` (answered by cookie), then its ACK carrying "hello\n": returns the
/// the cookie and the splicer's SYN toward the server it chose, in `buf`.
fn hello_to_server(
    sp: &mut Splicer<'_, Recorder, 64>,
    now: Instant,
    buf: &mut [u8],
    syn: &Segment<'_>,
) -> (u32, Transmit) {
    let n = build_ipv4_tcp(buf, syn).unwrap();
    let SpliceVerdict::Transmit(t) = sp.handle_packet(now, buf, n) else {
        panic!("no SYN-ACK")
    };
    let (cookie, ..) = fields(&buf[..t.len]);
    let hello = seg(CLIENT, VIP, 1_001, cookie.wrapping_add(1), b"hello\n");
    let n = build_ipv4_tcp(buf, &hello).unwrap();
    let _ = sp.handle_packet(now, buf, n);
    let t = sp.poll_transmit(now, buf).expect("SYN to the server");
    (cookie, t)
}

fn addr(a: ([u8; 4], u16)) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a.0), a.1)
}

/// Client handshake and a request chosen for [`SERVER`]; returns the splicer with the SYN to
/// the server sent, and that SYN's sequence number.
fn connecting<'s>(
    slab: &'s mut [u8],
    next: Vec<SocketAddrV4>,
) -> (Box<Splicer<'s, Recorder, 64>>, u32) {
    let mut sp = splicer(slab, 0, next);
    let now = Instant::from_secs(3);
    let mut buf = [0u8; 1600];
    let syn = Segment {
        flags: 0x02,
        ack: None,
        ..seg(CLIENT, VIP, 1_000, 0, &[])
    };
    let (_, t) = hello_to_server(&mut sp, now, &mut buf, &syn);
    let (c_isn, ..) = fields(&buf[..t.len]);
    (sp, c_isn)
}

/// What the splicer makes of a segment with `flags` and no payload from server `from` to the
/// client, sequence number `seq`, acknowledging `ack` (built over `buf`).
fn from_server(
    sp: &mut Splicer<'_, Recorder, 64>,
    buf: &mut [u8],
    from: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    ack: u32,
) -> SpliceVerdict {
    let s = Segment {
        flags,
        ..seg(from, CLIENT, seq, ack, &[])
    };
    let n = build_ipv4_tcp(buf, &s).unwrap();
    sp.handle_packet(Instant::from_secs(3), buf, n)
}

/// `from` resets the SYN; returns what the splicer sends next (destination, flags).
fn refuse(
    sp: &mut Splicer<'_, Recorder, 64>,
    from: ([u8; 4], u16),
    c_isn: u32,
) -> Option<(SocketAddrV4, u8)> {
    let mut buf = [0u8; 1600];
    let v = from_server(sp, &mut buf, from, 0x14, 0, c_isn.wrapping_add(1));
    assert_eq!(v, SpliceVerdict::Consumed);
    let t = sp.poll_transmit(Instant::from_secs(3), &mut buf)?;
    let p = &buf[..t.len];
    let dst = SocketAddrV4::new(
        Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        u16::from_be_bytes([p[22], p[23]]),
    );
    Some((dst, fields(p).2))
}

#[test]
fn refused_connect_moves_to_the_next_server_with_the_same_bytes() {
    const S2: ([u8; 4], u16) = ([198, 18, 1, 2], 443);
    let mut slab = vec![0u8; 512 * 8];
    let (mut sp, c_isn) = connecting(&mut slab, vec![addr(S2)]);
    // SERVER refuses: a SYN to S2 with the client's sequence number, nothing to the client
    let (dst, flags) = refuse(&mut sp, SERVER, c_isn).expect("a SYN to the next server");
    assert_eq!((dst, flags & 0x16), (addr(S2), 0x02));
    assert_eq!(sp.classifier().failed, vec![addr(SERVER)]);
    assert_eq!(sp.classifier().closed, vec![addr(SERVER)]);
    assert_eq!(sp.stats().reconnects, 1);
    assert_eq!(
        sp.connection(addr(CLIENT), addr(VIP)).unwrap().server,
        addr(S2)
    );
    // S2 answers: the buffered request is replayed to it
    let now = Instant::from_secs(3);
    let mut buf = [0u8; 1600];
    let v = from_server(&mut sp, &mut buf, S2, 0x12, 77, c_isn.wrapping_add(1));
    assert_eq!(v, SpliceVerdict::Consumed);
    let t = sp.poll_transmit(now, &mut buf).expect("replay");
    assert_eq!(t.to, Toward::Server);
    assert_eq!(fields(&buf[..t.len]).3, b"hello\n");
    // a late reset from the first server no longer matches the connection
    let v = from_server(&mut sp, &mut buf, SERVER, 0x14, 0, c_isn.wrapping_add(1));
    assert!(matches!(v, SpliceVerdict::Drop(_)));
    assert_eq!(
        sp.connection(addr(CLIENT), addr(VIP)).unwrap().server,
        addr(S2)
    );
}

#[test]
fn no_next_server_or_too_many_attempts_reset_the_client() {
    // the classifier has nothing else: the client is reset, the connection freed, `closed`
    // called once
    let mut slab = vec![0u8; 512 * 8];
    let (mut sp, c_isn) = connecting(&mut slab, vec![]);
    let (dst, flags) = refuse(&mut sp, SERVER, c_isn).expect("a reset to the client");
    assert_eq!((dst, flags & 0x04), (addr(CLIENT), 0x04));
    assert!(sp.connection(addr(CLIENT), addr(VIP)).is_none());
    assert_eq!(sp.classifier().closed, vec![addr(SERVER)]);
    assert_eq!(sp.live(), 0);
    // the classifier would go on forever: the splicer stops after MAX_CONNECT_ATTEMPTS servers
    let servers: Vec<_> = (0..10u8).map(|k| addr(([198, 18, 2, k], 443))).collect();
    let mut slab = vec![0u8; 512 * 8];
    let (mut sp, c_isn) = connecting(&mut slab, servers.clone());
    let mut from = SERVER;
    let mut tried = 1;
    loop {
        let (dst, flags) = refuse(&mut sp, from, c_isn).expect("something sent");
        if dst == addr(CLIENT) {
            assert_eq!(flags & 0x04, 0x04);
            break;
        }
        tried += 1;
        from = (dst.ip().octets(), dst.port());
    }
    assert_eq!(tried, usize::from(MAX_CONNECT_ATTEMPTS));
    assert_eq!(
        sp.classifier().closed.len(),
        tried,
        "each server counted down once"
    );
    assert_eq!(sp.live(), 0);
}
