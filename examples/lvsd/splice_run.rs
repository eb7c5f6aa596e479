//! What lvsd's two splicers share ([`crate::l7`]: HTTP rules, [`crate::tls`]: the TLS
//! classifier): the engine with the endpoints it answers for, its buffers and timer
//! ([`SpliceRun`]), and the glue on the packet path, generic over the two ([`Spliced`]).
//!
//! Per frame, before the director: an IPv4 TCP segment to a VIP, or from a pool server's
//! address and port, is the splicer's.
//!
//! - A frame whose TCP checksum the kernel left partial (`CHECKSUM_PARTIAL`), which is how a
//!   local stack's TSO/GSO super-frames (up to 64 KiB of one connection behind one header) and
//!   most of its segments cross a veth, goes whole to [`Splicer::handle_partial`] when it
//!   belongs to a spliced connection: its headers are rewritten once, and it leaves with the
//!   same offload request (a virtio header with the received segment size, the checksum left
//!   partial), so that the kernel cuts and checksums the segments on transmit, or a veth hands
//!   the super-frame on whole. No byte of the payload is touched or summed by lvsd.
//! - Everything else (handshakes, buffering, frames with finished checksums) is finished by
//!   [`crate::offload`] (checksum, segments) and goes to [`Splicer::handle_packet`] one MTU at
//!   a time.
//!
//! What either returns (a rewritten segment, a cookie SYN-ACK, an ACK), then everything
//! [`Splicer::poll_transmit`] has queued (the SYN to the chosen server, the replayed request,
//! resets), is routed by its destination address and framed like any other packet lvsd sends,
//! onto the interface's transmit ring (frames longer than a ring slot by one `send`). The
//! splicer's timers run every [`TICK_MS`] while it holds connections.

use crate::daemon::{Daemon, HEADROOM};
use crate::offload;
use crate::sys::{vnet, VnetHdr};
use lvs_core::{Instant, IpAddr};
use lvs_forward::splice::{ContentClassifier, SpliceDrop, SpliceVerdict, Splicer};
use std::net::SocketAddrV4;

/// Connection index size of each splicer (at most 3/4 of it live at once).
pub const CONNS: usize = 16384;
/// How often a splicer's timers run while it holds connections.
pub const TICK_MS: u64 = 20;

/// A splicer engine with what lvsd needs around it.
pub struct SpliceRun<C> {
    /// The engine.
    pub engine: Box<Splicer<'static, C, CONNS>>,
    /// Virtual services (IPv4 address and TCP port).
    pub vips: Vec<SocketAddrV4>,
    /// Every pool server (segments from these go to the splicer).
    pub servers: Vec<SocketAddrV4>,
    out: Vec<u8>,
    scratch: Vec<u8>,
    next_tick: u64,
}

impl<C: ContentClassifier> SpliceRun<C> {
    /// Wraps `engine` serving `vips` with pool servers `servers`.
    pub fn new(
        engine: Box<Splicer<'static, C, CONNS>>,
        vips: Vec<SocketAddrV4>,
        servers: Vec<SocketAddrV4>,
    ) -> Self {
        SpliceRun {
            engine,
            vips,
            servers,
            out: vec![0u8; HEADROOM + 1600],
            scratch: Vec::new(),
            next_tick: 0,
        }
    }

    /// The VIP addresses lvsd answers ARP for.
    pub fn vip_addrs(&self) -> Vec<IpAddr> {
        self.vips.iter().map(|v| IpAddr::V4(*v.ip())).collect()
    }

    /// Whether the IPv4 packet `ip` is the splicer's: TCP to a VIP or from a pool server.
    pub fn claims(&self, ip: &[u8]) -> bool {
        if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != 6 {
            return false;
        }
        let ihl = usize::from(ip[0] & 15) * 4;
        if ip.len() < ihl + 4 {
            return false;
        }
        let addr = |o: usize| std::net::Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]);
        let port = |o: usize| u16::from_be_bytes([ip[o], ip[o + 1]]);
        self.vips
            .contains(&SocketAddrV4::new(addr(16), port(ihl + 2)))
            || self
                .servers
                .contains(&SocketAddrV4::new(addr(12), port(ihl)))
    }
}

/// The names of a splicer's packet counters (`status`), e.g. `l7.tx`.
#[derive(Debug)]
pub struct Counters {
    /// Packets sent.
    pub tx: &'static str,
    /// Partial-checksum frames (super-frames and segments) spliced whole.
    pub whole: &'static str,
    /// Packets taken in with nothing to send.
    pub consumed: &'static str,
    /// Drops by [`SpliceDrop`], in the order of [`drop_index`].
    pub drops: [&'static str; 9],
}

/// Builds a [`Counters`] whose names start with `$p.`.
macro_rules! splice_counters {
    ($p:literal) => {
        $crate::splice_run::Counters {
            tx: concat!($p, ".tx"),
            whole: concat!($p, ".whole"),
            consumed: concat!($p, ".consumed"),
            drops: [
                concat!($p, ".drop.malformed"),
                concat!($p, ".drop.checksum"),
                concat!($p, ".drop.fragment"),
                concat!($p, ".drop.unknown_flow"),
                concat!($p, ".drop.bad_cookie"),
                concat!($p, ".drop.full"),
                concat!($p, ".drop.out_of_window"),
                concat!($p, ".drop.ignored"),
                concat!($p, ".drop.no_room"),
            ],
        }
    };
}
pub(crate) use splice_counters;

/// Where a drop reason's counter is in [`Counters::drops`].
pub fn drop_index(d: SpliceDrop) -> usize {
    match d {
        SpliceDrop::Malformed => 0,
        SpliceDrop::BadChecksum => 1,
        SpliceDrop::Fragment => 2,
        SpliceDrop::UnknownFlow => 3,
        SpliceDrop::BadCookie => 4,
        SpliceDrop::Full => 5,
        SpliceDrop::OutOfWindow => 6,
        SpliceDrop::Ignored => 7,
        SpliceDrop::NoRoom => 8,
    }
}

/// A splicer lvsd runs: where the [`Daemon`] keeps it, its engine, its counters' names.
pub trait Spliced: Sized {
    /// The engine's classifier.
    type C: ContentClassifier;
    /// Counter names.
    const COUNTERS: Counters;
    /// The daemon's place for it.
    fn slot<'a>(d: &'a mut Daemon<'_>) -> &'a mut Option<Box<Self>>;
    /// The daemon's place for it, to read.
    fn get<'a>(d: &'a Daemon<'_>) -> Option<&'a Self>;
    /// The engine and its buffers.
    fn run(&mut self) -> &mut SpliceRun<Self::C>;
    /// The engine and its buffers, to read.
    fn run_ref(&self) -> &SpliceRun<Self::C>;
    /// Work of its own on each timer tick (before the engine's timers).
    fn on_tick(&mut self, now: Instant) {
        let _ = now;
    }
}

impl Daemon<'_> {
    /// Hands the frame at `buf[head..head + len]` (Ethernet, complete checksums, one MTU) to
    /// splicer `S` if it runs and the frame is its; `false` when not.
    pub(crate) fn splice_take<S: Spliced>(
        &mut self,
        buf: &mut [u8],
        head: usize,
        len: usize,
    ) -> bool {
        let Some(mut s) = S::slot(self).take() else {
            return false;
        };
        let taken = self.splice_frame::<S>(s.run(), buf, head, len);
        *S::slot(self) = Some(s);
        taken
    }

    fn splice_frame<S: Spliced>(
        &mut self,
        run: &mut SpliceRun<S::C>,
        buf: &mut [u8],
        head: usize,
        len: usize,
    ) -> bool {
        let frame = &buf[head..head + len];
        if len < 34 || frame[12..14] != [0x08, 0x00] || !run.claims(&frame[14..]) {
            return false;
        }
        let now = Instant::from_millis(self.now_ms());
        let ip = head + 14;
        let n = len - 14;
        // the splicer may answer with a frame longer than a short segment: give it room
        let mut scratch = std::mem::take(&mut run.scratch);
        let (b, at): (&mut [u8], usize) = if buf.len() - ip >= n + 128 {
            (buf, ip)
        } else {
            scratch.clear();
            scratch.resize(HEADROOM + n + 128, 0);
            scratch[HEADROOM..HEADROOM + n].copy_from_slice(&buf[ip..ip + n]);
            (&mut scratch, HEADROOM)
        };
        let v = run.engine.handle_packet(now, &mut b[at..], n);
        self.splice_verdict::<S>(v, b, at);
        run.scratch = scratch;
        self.splice_drain::<S>(run, now);
        true
    }

    /// Hands the frame at `buf[head..head + len]`, whose TCP checksum the kernel left partial
    /// as virtio header `h` says (a TSO/GSO super-frame or a segment from a local stack), to
    /// splicer `S` whole if it is a segment of one of its spliced connections, and sends it
    /// on with the same offload request; `false` (nothing done) otherwise.
    pub(crate) fn splice_partial<S: Spliced>(
        &mut self,
        buf: &mut [u8],
        head: usize,
        len: usize,
        h: &VnetHdr,
    ) -> bool {
        let Some(mut s) = S::slot(self).take() else {
            return false;
        };
        let taken = self.splice_partial_in::<S>(s.run(), buf, head, len, h);
        *S::slot(self) = Some(s);
        taken
    }

    fn splice_partial_in<S: Spliced>(
        &mut self,
        run: &mut SpliceRun<S::C>,
        buf: &mut [u8],
        head: usize,
        len: usize,
        h: &VnetHdr,
    ) -> bool {
        let frame = &buf[head..head + len];
        if len < 54 || frame[12..14] != [0x08, 0x00] || !run.claims(&frame[14..]) {
            return false;
        }
        // the sum left to do must be TCP's, from the TCP header on, and any segmentation TCP's
        let ihl = usize::from(frame[14] & 15) * 4;
        let kind = h.gso_type & !vnet::GSO_ECN;
        if h.flags & vnet::F_NEEDS_CSUM == 0
            || usize::from(h.csum_start) != 14 + ihl
            || h.csum_offset != 16
            || !matches!(kind, vnet::GSO_NONE | vnet::GSO_TCPV4)
        {
            return false;
        }
        let now = Instant::from_millis(self.now_ms());
        let ip = head + 14;
        let Some(v) = run
            .engine
            .handle_partial(now, &mut buf[ip..head + len], len - 14)
        else {
            return false;
        };
        if let SpliceVerdict::Transmit(t) = v {
            match offload::partial_header(&buf[ip..ip + t.len], h) {
                Some(tx) => {
                    self.count(S::COUNTERS.whole);
                    self.tx_vnet = tx;
                    self.splice_verdict::<S>(v, buf, ip);
                    self.tx_vnet = VnetHdr::default();
                }
                None => self.count("drop.gso"),
            }
        } else {
            self.splice_verdict::<S>(v, buf, ip);
        }
        self.splice_drain::<S>(run, now);
        true
    }

    /// Carries out splicer `S`'s verdict on the IPv4 packet at `buf[at..]`.
    fn splice_verdict<S: Spliced>(&mut self, v: SpliceVerdict, buf: &mut [u8], at: usize) {
        match v {
            SpliceVerdict::Transmit(t) => self.splice_send(S::COUNTERS.tx, buf, at, t.len),
            SpliceVerdict::Consumed => self.count(S::COUNTERS.consumed),
            SpliceVerdict::Drop(d) => self.count(S::COUNTERS.drops[drop_index(d)]),
        }
    }

    /// Routes the IPv4 packet at `buf[start..start + len]` by its destination and sends it,
    /// counting it as `counter`.
    fn splice_send(&mut self, counter: &'static str, buf: &mut [u8], start: usize, len: usize) {
        let d = &buf[start + 16..start + 20];
        let dst = IpAddr::V4(std::net::Ipv4Addr::new(d[0], d[1], d[2], d[3]));
        let Some((oif, nh)) = self.routes.lookup(&dst) else {
            return self.count("drop.no_route");
        };
        self.count(counter);
        self.send_ip(oif, nh, buf, start, len);
    }

    /// Sends everything splicer `S` has queued.
    fn splice_drain<S: Spliced>(&mut self, run: &mut SpliceRun<S::C>, now: Instant) {
        let mut out = std::mem::take(&mut run.out);
        for _ in 0..4 * CONNS {
            let Some(t) = run
                .engine
                .poll_transmit(now, &mut out[HEADROOM..HEADROOM + 1500])
            else {
                break;
            };
            self.splice_send(S::COUNTERS.tx, &mut out, HEADROOM, t.len);
        }
        run.out = out;
    }

    /// When the loop should next wake for splicer `S`'s timers (ms since start), if ever.
    pub(crate) fn splice_poll_at<S: Spliced>(&self) -> Option<u64> {
        let r = S::get(self)?.run_ref();
        (r.engine.live() > 0).then_some(r.next_tick)
    }

    /// Runs splicer `S`'s timers when a tick is due, and sends what they queue.
    pub(crate) fn splice_timers<S: Spliced>(&mut self, now_ms: u64) {
        let Some(mut s) = S::slot(self).take() else {
            return;
        };
        if now_ms >= s.run().next_tick {
            s.run().next_tick = now_ms + TICK_MS;
            let now = Instant::from_millis(now_ms);
            s.on_tick(now);
            let run = s.run();
            if run.engine.live() > 0 {
                run.engine.handle_timeout(now);
                self.splice_drain::<S>(run, now);
            }
        }
        *S::slot(self) = Some(s);
    }
}
