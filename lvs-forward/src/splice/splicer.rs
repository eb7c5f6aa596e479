//! The splicer engine: per-packet entry point, the handshake by cookie, buffering and
//! classification, and the spliced relay.

use super::classify::{Classification, ContentClassifier, FlowInfo};
use super::conn::{pending, Conn, Phase, FIN_CLIENT, FIN_SERVER};
use super::cookie::{self, CookieFlow, CookieOptions};
use super::emit::{build_ipv4_tcp, Segment};
use super::options::{Options, OptionsEmit};
use super::rewrite::{rewrite_ipv4, seq_lt};
use super::table::{FreeList, Index, Queue};
use crate::wire::ChecksumCaps;
use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::{siphash, SipKey};
use lvs_core::{Duration, Instant};

/// Settings of a [`Splicer`].
#[derive(Debug, Clone, Copy)]
pub struct SpliceConfig {
    /// Secret for the SYN cookies and the flow hash; choose it at random and keep it private.
    pub secret: SipKey,
    /// MSS the splicer announces to clients.
    pub mss: u16,
    /// Window scale shift the splicer announces to clients that offer scaling.
    pub wscale: u8,
    /// How long a client may take from its handshake to a complete request.
    pub header_timeout: Duration,
    /// How long a spliced connection may sit idle before its state is dropped.
    pub idle_timeout: Duration,
    /// How long state stays after FINs from both sides (or after a rejected request).
    pub linger: Duration,
    /// First retransmission timeout for the SYN to the server, the replay and responses.
    pub rto: Duration,
    /// Retransmissions before giving up (the connection is then reset).
    pub max_retries: u8,
    /// Checksum verification of received packets.
    pub caps: ChecksumCaps,
}

impl SpliceConfig {
    /// Defaults: MSS 1460, window scale 7, 10 s header timeout, 300 s idle, 10 s linger,
    /// 1 s initial RTO, 5 retries, software checksums.
    pub const fn new(secret: SipKey) -> Self {
        SpliceConfig {
            secret,
            mss: 1460,
            wscale: 7,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            linger: Duration::from_secs(10),
            rto: Duration::from_secs(1),
            max_retries: 5,
            caps: ChecksumCaps::software(),
        }
    }
}

/// Counters of everything the splicer did or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpliceStats {
    /// SYN-ACKs sent with cookies (each SYN costs no state).
    pub syn_cookies: u64,
    /// ACKs whose cookie was stale or forged.
    pub bad_cookies: u64,
    /// Connections established with clients.
    pub accepted: u64,
    /// Connections spliced to a server (SYN-ACK received).
    pub spliced: u64,
    /// Requests rejected with a response (400, 431, 503...).
    pub rejected: u64,
    /// Connections reset by the classifier or for a request cut short by the client's FIN.
    pub classifier_resets: u64,
    /// Clients that did not finish their request in time.
    pub header_timeouts: u64,
    /// Servers that never answered the SYN, or refused it.
    pub connect_failures: u64,
    /// Retransmissions of the SYN, the replayed request and responses.
    pub retransmits: u64,
    /// Resets relayed or sent.
    pub resets: u64,
    /// Connections whose state was freed.
    pub closed: u64,
    /// Packets dropped (all reasons, see [`SpliceDrop`]).
    pub dropped: u64,
    /// Of those, segments outside the window.
    pub out_of_window: u64,
    /// Of those, packets refused because the connection table or buffer slab was full.
    pub full: u64,
    /// Frames not sent because the caller's buffer was too small.
    pub no_room: u64,
}

/// Which side a frame goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// The client (through the interface facing clients).
    Client,
    /// The real server.
    Server,
}

/// A frame the splicer wrote: `len` bytes of a whole IPv4 packet at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Packet length.
    pub len: usize,
    /// Where it goes.
    pub to: Toward,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceDrop {
    /// Not a well-formed IPv4/TCP packet (or IPv6, which this splicer does not handle).
    Malformed,
    /// A checksum failed.
    BadChecksum,
    /// An IPv4 fragment (the splicer handles whole packets only).
    Fragment,
    /// No connection and not a handshake packet.
    UnknownFlow,
    /// An ACK with a stale or forged cookie.
    BadCookie,
    /// Connection table or request-buffer slab full.
    Full,
    /// A sequence number far outside the window (or an unacceptable reset).
    OutOfWindow,
    /// Nothing to do with this segment (an old duplicate, data past the buffer, a connection
    /// being torn down).
    Ignored,
    /// The buffer cannot hold the reply.
    NoRoom,
}

/// The outcome of [`Splicer::handle_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SpliceVerdict {
    /// The buffer now holds `len` bytes to send (the packet rewritten in place, or a reply
    /// written over it).
    Transmit(Transmit),
    /// The packet was taken in; nothing to send from the buffer (check
    /// [`Splicer::poll_transmit`]).
    Consumed,
    /// The packet was dropped (counted).
    Drop(SpliceDrop),
}

/// How far from the highest sequence seen a segment may start (RFC 7323's largest window).
pub(crate) const MAX_WINDOW: u32 = 1 << 30;
/// How far from the highest sequence seen a reset may start.
pub(crate) const RST_WINDOW: u32 = 1 << 24;

/// A parsed segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    pub(crate) src: SocketAddrV4,
    pub(crate) dst: SocketAddrV4,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: u8,
    pub(crate) window: u16,
    pub(crate) opts: Options,
    pub(crate) data_at: usize,
    pub(crate) data_len: usize,
}

impl Seg {
    fn syn(&self) -> bool {
        self.flags & 0x02 != 0
    }
    fn ack(&self) -> bool {
        self.flags & 0x10 != 0
    }
    fn rst(&self) -> bool {
        self.flags & 0x04 != 0
    }
    fn fin(&self) -> bool {
        self.flags & 0x01 != 0
    }
    /// Sequence space the segment occupies.
    fn seq_len(&self) -> u32 {
        self.data_len as u32 + u32::from(self.syn()) + u32::from(self.fin())
    }
}

/// A sans-I/O TCP splicer for content-aware distribution (delayed binding).
///
/// Give it every IPv4 TCP packet from clients to the virtual services it fronts and every
/// packet from the real servers back to clients ([`Splicer::handle_packet`]); send what it
/// returns and what [`Splicer::poll_transmit`] yields; call [`Splicer::handle_timeout`] at
/// [`Splicer::poll_timeout`]. `N` (a power of two, at most 32768) bounds the index; at most
/// `3N/4` connections live at once. Request buffers are `slot_size`-byte slots carved from the
/// caller's slab; a connection holds one only until the server has acknowledged the replay.
pub struct Splicer<'s, C, const N: usize> {
    pub(crate) cfg: SpliceConfig,
    pub(crate) classifier: C,
    pub(crate) conns: [Option<Conn>; N],
    pub(crate) by_client: Index<N>,
    pub(crate) by_server: Index<N>,
    pub(crate) free: FreeList<N>,
    pub(crate) slots: FreeList<N>,
    pub(crate) slab: &'s mut [u8],
    pub(crate) slot_size: usize,
    pub(crate) queue: Queue<N>,
    pub(crate) live: usize,
    pub(crate) stats: SpliceStats,
}

/// The hash of a packet's (source, destination) endpoints, keyed.
pub(crate) fn flow_hash(key: SipKey, src: SocketAddrV4, dst: SocketAddrV4) -> u32 {
    let mut m = [0u8; 12];
    m[0..4].copy_from_slice(&src.ip().octets());
    m[4..6].copy_from_slice(&src.port().to_be_bytes());
    m[6..10].copy_from_slice(&dst.ip().octets());
    m[10..12].copy_from_slice(&dst.port().to_be_bytes());
    siphash::<1, 3>(key, &m) as u32
}

/// The splicer's timestamp clock: milliseconds, shifted so that it never falls below the TSval
/// of a SYN-ACK made at the same moment (whose low 5 bits carry the cookie options).
pub(crate) fn ts_clock(now: Instant) -> u32 {
    (now.total_millis() as u32).wrapping_add(32)
}

fn ep(a: SocketAddrV4) -> ([u8; 4], u16) {
    (a.ip().octets(), a.port())
}

impl<'s, C: ContentClassifier, const N: usize> Splicer<'s, C, N> {
    /// A splicer with request buffers of `slot_size` bytes (e.g. 8192) carved from `slab`
    /// (`slab.len() / slot_size` of them, at most `N`).
    ///
    /// # Panics
    /// At compile time if `N` is not a power of two in `4..=32768`; at run time if `slot_size`
    /// is 0 or above 65535.
    pub fn new(cfg: SpliceConfig, classifier: C, slab: &'s mut [u8], slot_size: usize) -> Self {
        assert!(slot_size > 0 && slot_size <= 65535, "slot_size in 1..=65535");
        let nslots = slab.len() / slot_size;
        Splicer {
            cfg,
            classifier,
            conns: [const { None }; N],
            by_client: Index::new(),
            by_server: Index::new(),
            free: FreeList::new(N * 3 / 4),
            slots: FreeList::new(nslots),
            slab,
            slot_size,
            queue: Queue::new(),
            live: 0,
            stats: SpliceStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &SpliceStats {
        &self.stats
    }

    /// Connections holding state now.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Request-buffer slots free now.
    pub fn free_slots(&self) -> usize {
        self.slots.len()
    }

    /// The classifier (e.g. to read its counters).
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The classifier, mutably (e.g. to change its rules between packets).
    pub fn classifier_mut(&mut self) -> &mut C {
        &mut self.classifier
    }

    /// The connection a client endpoint has with a virtual service, if any.
    pub fn connection(&self, client: SocketAddrV4, vip: SocketAddrV4) -> Option<&Conn> {
        let h = flow_hash(self.cfg.secret, client, vip);
        let i = self.by_client.find(h, |s| matches!(&self.conns[usize::from(s)], Some(c) if c.client == client && c.vip == vip))?;
        self.conns[usize::from(i)].as_ref()
    }

    fn drop(&mut self, why: SpliceDrop) -> SpliceVerdict {
        self.stats.dropped += 1;
        match why {
            SpliceDrop::OutOfWindow => self.stats.out_of_window += 1,
            SpliceDrop::Full => self.stats.full += 1,
            _ => {}
        }
        SpliceVerdict::Drop(why)
    }

    /// Takes one IPv4 packet (`buf[..len]`, no link header) at time `now`.
    ///
    /// Handshake packets are answered in place (a SYN becomes its SYN-ACK, a data segment
    /// becomes its ACK), spliced segments are rewritten in place; either way the verdict says
    /// how many bytes of `buf` to send and where. `buf` must have room for a reply of at least
    /// 60 bytes beyond a short packet. Afterwards, call [`Splicer::poll_transmit`] until it
    /// returns `None`, and re-read [`Splicer::poll_timeout`].
    pub fn handle_packet(&mut self, now: Instant, buf: &mut [u8], len: usize) -> SpliceVerdict {
        let len = len.min(buf.len());
        let seg = match self.parse(&buf[..len]) {
            Ok(s) => s,
            Err(e) => return self.drop(e),
        };
        let h = flow_hash(self.cfg.secret, seg.src, seg.dst);
        let conns = &self.conns;
        if let Some(i) = self.by_client.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.client == seg.src && c.vip == seg.dst)) {
            return self.from_client(now, usize::from(i), &seg, buf, len);
        }
        if let Some(i) = self.by_server.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.server == seg.src && c.client == seg.dst)) {
            return self.from_server(now, usize::from(i), &seg, buf, len);
        }
        if seg.syn() && !seg.ack() && !seg.rst() {
            return self.syn(now, &seg, buf);
        }
        if seg.ack() && !seg.syn() && !seg.rst() {
            return self.cookie_ack(now, &seg, h, buf, len);
        }
        self.drop(SpliceDrop::UnknownFlow)
    }

    fn parse(&self, p: &[u8]) -> Result<Seg, SpliceDrop> {
        use crate::wire::{Ipv4Packet, TcpPacket};
        let ip = Ipv4Packet::new_checked(p).map_err(|_| SpliceDrop::Malformed)?;
        if ip.version() != 4 || ip.protocol() != 6 {
            return Err(SpliceDrop::Malformed);
        }
        if ip.more_frags() || ip.frag_offset() != 0 {
            return Err(SpliceDrop::Fragment);
        }
        if self.cfg.caps.ipv4.rx() && !ip.verify_checksum() {
            return Err(SpliceDrop::BadChecksum);
        }
        let ihl = ip.header_len();
        let total = usize::from(ip.total_len());
        let tcp = TcpPacket::new_checked(&p[ihl..total]).map_err(|_| SpliceDrop::Malformed)?;
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if self.cfg.caps.tcp.rx() && !tcp.verify_checksum(&src.into(), &dst.into()) {
            return Err(SpliceDrop::BadChecksum);
        }
        let hl = tcp.header_len();
        let opts = Options::parse(&p[ihl + 20..ihl + hl]).map_err(|_| SpliceDrop::Malformed)?;
        Ok(Seg {
            src: SocketAddrV4::new(src, tcp.src_port()),
            dst: SocketAddrV4::new(dst, tcp.dst_port()),
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            flags: tcp.flags().0,
            window: tcp.window(),
            opts,
            data_at: ihl + hl,
            data_len: total - ihl - hl,
        })
    }

    /// A SYN to a virtual service: answer with a cookie SYN-ACK, in place, keeping nothing.
    fn syn(&mut self, now: Instant, seg: &Seg, buf: &mut [u8]) -> SpliceVerdict {
        let o = &seg.opts;
        let co = CookieOptions::from_syn(o.mss, o.wscale, o.sack_permitted, o.timestamp.is_some());
        let flow = CookieFlow { client: ep(seg.src), vip: ep(seg.dst) };
        let (isn, tsval) = cookie::make(self.cfg.secret, &flow, seg.seq, &co, now, ts_clock(now));
        let out = Segment {
            src: ep(seg.dst),
            dst: ep(seg.src),
            seq: isn,
            ack: Some(seg.seq.wrapping_add(1)),
            flags: 0x02,
            window: self.slot_size.min(65535) as u16,
            options: OptionsEmit {
                mss: Some(self.cfg.mss),
                wscale: co.wscale.map(|_| self.cfg.wscale),
                sack_permitted: co.sack_permitted,
                timestamp: o.timestamp.map(|(val, _)| (tsval, val)),
            },
            payload: &[],
        };
        match build_ipv4_tcp(buf, &out) {
            Ok(len) => {
                self.stats.syn_cookies += 1;
                SpliceVerdict::Transmit(Transmit { len, to: Toward::Client })
            }
            Err(_) => {
                self.stats.no_room += 1;
                self.drop(SpliceDrop::NoRoom)
            }
        }
    }

    /// An ACK for no known connection: a handshake completing by cookie, or junk.
    fn cookie_ack(&mut self, now: Instant, seg: &Seg, h: u32, buf: &mut [u8], len: usize) -> SpliceVerdict {
        let flow = CookieFlow { client: ep(seg.src), vip: ep(seg.dst) };
        let tsecr = seg.opts.timestamp.map(|t| t.1);
        let co = match cookie::check(self.cfg.secret, &flow, seg.seq, seg.ack, tsecr, now) {
            Ok(c) => c,
            Err(_) => {
                self.stats.bad_cookies += 1;
                return self.drop(SpliceDrop::BadCookie);
            }
        };
        let Some(slot) = self.slots.pop() else {
            return self.drop(SpliceDrop::Full);
        };
        let Some(i) = self.free.pop() else {
            self.slots.push(slot);
            return self.drop(SpliceDrop::Full);
        };
        let c_ws = co.wscale;
        self.conns[usize::from(i)] = Some(Conn {
            client: seg.src,
            vip: seg.dst,
            server: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            h_client: h,
            h_server: 0,
            phase: Phase::Buffering,
            c_isn: seg.seq.wrapping_sub(1),
            d_isn: seg.ack.wrapping_sub(1),
            s_isn: 0,
            c_mss: co.mss(),
            c_ws,
            d_ws: if c_ws.is_some() { self.cfg.wscale.min(14) } else { 0 },
            c_sack: co.sack_permitted,
            c_ts: co.timestamps,
            c_wnd: seg.window,
            s_mss: 536,
            s_ws: None,
            s_ts: false,
            rcv_nxt: seg.seq,
            slot: Some(slot),
            buf_len: 0,
            ts_recent: seg.opts.timestamp.map_or(0, |t| t.0),
            srv_ts_recent: 0,
            ts_off: 0,
            replay_next: 0,
            srv_acked: 0,
            srv_wnd: 0,
            deadline: Some(now + self.cfg.header_timeout),
            rto_ms: self.cfg.rto.total_millis().max(1) as u32,
            retries: 0,
            pending: 0,
            queued: false,
            fins: 0,
            c_high: seg.seq,
            s_high: 0,
            response: &[],
        });
        self.by_client.insert(h, i);
        self.live += 1;
        self.stats.accepted += 1;
        self.from_client(now, usize::from(i), seg, buf, len)
    }

    /// The window the splicer advertises to a client while buffering.
    fn client_window(&self, c: &Conn) -> u16 {
        let free = self.slot_size.saturating_sub(usize::from(c.buf_len));
        ((free >> c.d_ws) as u64).min(65535) as u16
    }

    /// An ACK from the splicer to the client, written over `buf`.
    fn ack_client(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> SpliceVerdict {
        let Some(c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        let out = Segment {
            src: ep(c.vip),
            dst: ep(c.client),
            seq: c.d_isn.wrapping_add(1),
            ack: Some(c.rcv_nxt),
            flags: 0,
            window: self.client_window(&c),
            options: OptionsEmit { timestamp: c.c_ts.then(|| (ts_clock(now), c.ts_recent)), ..OptionsEmit::default() },
            payload: &[],
        };
        match build_ipv4_tcp(buf, &out) {
            Ok(len) => SpliceVerdict::Transmit(Transmit { len, to: Toward::Client }),
            Err(_) => {
                self.stats.no_room += 1;
                self.drop(SpliceDrop::NoRoom)
            }
        }
    }

    fn from_client(&mut self, now: Instant, i: usize, seg: &Seg, buf: &mut [u8], len: usize) -> SpliceVerdict {
        let Some(c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        if c.pending & (pending::RST_CLIENT | pending::RST_SERVER) != 0 {
            return self.drop(SpliceDrop::Ignored);
        }
        match c.phase {
            Phase::Buffering | Phase::Connecting => self.client_buffering(now, i, seg, buf),
            Phase::Rejecting => self.client_rejecting(now, i, seg, buf),
            Phase::Spliced => self.client_spliced(now, i, seg, buf, len),
        }
    }

    fn client_buffering(&mut self, now: Instant, i: usize, seg: &Seg, buf: &mut [u8]) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        if seg.rst() {
            if seg.seq != c.rcv_nxt {
                return self.drop(SpliceDrop::OutOfWindow);
            }
            self.stats.resets += 1;
            let rst_server = c.phase == Phase::Connecting;
            self.abort(i, false, rst_server);
            return SpliceVerdict::Consumed;
        }
        if seg.syn() || !seg.ack() {
            return self.drop(SpliceDrop::Ignored);
        }
        let off = c.rcv_nxt.wrapping_sub(seg.seq) as i32;
        if off < 0 || off as u32 > MAX_WINDOW {
            // a hole before this segment (no reassembly while buffering: the client resends)
            // or a wild sequence number: answer with the ACK the client needs
            return self.ack_client(now, i, buf);
        }
        if let Some((val, _)) = seg.opts.timestamp {
            if !seq_lt(val, c.ts_recent) {
                c.ts_recent = val;
            }
        }
        c.c_wnd = seg.window;
        let off = off as usize;
        let mut took = 0;
        if off < seg.data_len {
            let room = self.slot_size - usize::from(c.buf_len);
            took = (seg.data_len - off).min(room);
            if let Some(s) = c.slot {
                let at = usize::from(s) * self.slot_size + usize::from(c.buf_len);
                self.slab[at..at + took].copy_from_slice(&buf[seg.data_at + off..seg.data_at + off + took]);
            } else {
                took = 0;
            }
            c.buf_len += took as u16;
            c.rcv_nxt = c.rcv_nxt.wrapping_add(took as u32);
        }
        let fin_now = seg.fin() && off + took == seg.data_len;
        self.conns[i] = Some(c);
        if c.phase == Phase::Buffering && (took > 0 || fin_now) {
            let flow = FlowInfo { client: c.client, vip: c.vip };
            let full = usize::from(c.buf_len) == self.slot_size;
            let data = match c.slot {
                Some(s) => {
                    let at = usize::from(s) * self.slot_size;
                    &self.slab[at..at + usize::from(c.buf_len)]
                }
                None => &[][..],
            };
            let mut verdict = self.classifier.classify(&flow, data);
            if verdict == Classification::NeedMore && full {
                verdict = self.classifier.overflow(&flow);
            }
            if verdict == Classification::NeedMore && fin_now {
                // the client closed before the request was complete
                verdict = Classification::Reset;
            }
            match verdict {
                Classification::NeedMore => {}
                Classification::Choose(server) => return self.choose(now, i, server, buf),
                Classification::Reject(resp) => return self.reject(now, i, resp, fin_now),
                Classification::Reset => {
                    self.stats.classifier_resets += 1;
                    self.abort(i, true, false);
                    return SpliceVerdict::Consumed;
                }
            }
        }
        self.ack_client(now, i, buf)
    }

    fn choose(&mut self, now: Instant, i: usize, server: SocketAddrV4, buf: &mut [u8]) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        let h = flow_hash(self.cfg.secret, server, c.client);
        let conns = &self.conns;
        let taken = self.by_server.find(h, |s| matches!(&conns[usize::from(s)], Some(o) if o.server == server && o.client == c.client)).is_some();
        if taken {
            // the same client endpoint already talks to this server through another service
            self.stats.classifier_resets += 1;
            self.abort(i, true, false);
            return SpliceVerdict::Consumed;
        }
        c.server = server;
        c.h_server = h;
        c.phase = Phase::Connecting;
        c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
        c.retries = 0;
        self.conns[i] = Some(c);
        self.by_server.insert(h, i as u16);
        self.want(i, pending::SYN);
        self.ack_client(now, i, buf)
    }

    fn reject(&mut self, now: Instant, i: usize, resp: &'static [u8], client_fin: bool) -> SpliceVerdict {
        let Some(c) = self.conns[i].as_mut() else { return self.drop(SpliceDrop::Ignored) };
        c.phase = Phase::Rejecting;
        c.response = &resp[..resp.len().min(usize::from(c.c_mss))];
        if client_fin {
            c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
            c.fins |= FIN_CLIENT;
        }
        c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
        c.retries = 0;
        self.stats.rejected += 1;
        self.release_slot(i);
        self.want(i, pending::RESPONSE);
        SpliceVerdict::Consumed
    }

    fn client_rejecting(&mut self, now: Instant, i: usize, seg: &Seg, buf: &mut [u8]) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        if seg.rst() {
            self.free_conn(i);
            return SpliceVerdict::Consumed;
        }
        let fin_seq = c.d_isn.wrapping_add(1).wrapping_add(c.response.len() as u32);
        if seg.ack() && !seq_lt(seg.ack, fin_seq.wrapping_add(1)) {
            c.fins |= FIN_SERVER; // our FIN is acknowledged
            c.pending &= !pending::RESPONSE;
        }
        if seg.fin() && seg.seq.wrapping_add(seg.data_len as u32) == c.rcv_nxt && c.fins & FIN_CLIENT == 0 {
            c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
            c.fins |= FIN_CLIENT;
        }
        if seg.fin() || seg.data_len > 0 {
            // acknowledge (data after a rejected request is discarded: accept it as read)
            if seg.data_len > 0 && seg.seq == c.rcv_nxt {
                c.rcv_nxt = c.rcv_nxt.wrapping_add(seg.data_len as u32);
            }
        }
        let done = c.fins == FIN_CLIENT | FIN_SERVER;
        if c.fins & FIN_SERVER != 0 {
            c.deadline = Some(now + self.cfg.linger);
        }
        self.conns[i] = Some(c);
        if seg.fin() || seg.data_len > 0 {
            let out = Segment {
                src: ep(c.vip),
                dst: ep(c.client),
                seq: fin_seq.wrapping_add(1),
                ack: Some(c.rcv_nxt),
                flags: 0,
                window: 0,
                options: OptionsEmit { timestamp: c.c_ts.then(|| (ts_clock(now), c.ts_recent)), ..OptionsEmit::default() },
                payload: &[],
            };
            if done {
                self.free_conn(i);
            }
            return match build_ipv4_tcp(buf, &out) {
                Ok(len) => SpliceVerdict::Transmit(Transmit { len, to: Toward::Client }),
                Err(_) => self.drop(SpliceDrop::NoRoom),
            };
        }
        if done {
            self.free_conn(i);
        }
        SpliceVerdict::Consumed
    }

    fn client_spliced(&mut self, now: Instant, i: usize, seg: &Seg, buf: &mut [u8], len: usize) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        let dist = seg.seq.wrapping_sub(c.c_high).wrapping_add(MAX_WINDOW);
        if dist > 2 * MAX_WINDOW {
            return self.drop(SpliceDrop::OutOfWindow);
        }
        if seg.syn() {
            return self.drop(SpliceDrop::Ignored);
        }
        if seg.rst() {
            let d = seg.seq.wrapping_sub(c.c_high).wrapping_add(RST_WINDOW);
            if d > 2 * RST_WINDOW {
                return self.drop(SpliceDrop::OutOfWindow);
            }
        }
        let end = seg.seq.wrapping_add(seg.seq_len());
        if seq_lt(c.c_high, end) {
            c.c_high = end;
        }
        if let Some((val, _)) = seg.opts.timestamp {
            if !seq_lt(val, c.ts_recent) {
                c.ts_recent = val;
            }
        }
        c.c_wnd = seg.window;
        if seg.fin() {
            c.fins |= FIN_CLIENT;
        }
        if c.replay_done() {
            c.deadline = Some(now + if c.fins == FIN_CLIENT | FIN_SERVER { self.cfg.linger } else { self.cfg.idle_timeout });
        }
        self.conns[i] = Some(c);
        let map = c.map_to_server();
        if rewrite_ipv4(&mut buf[..len], &map).is_err() {
            return self.drop(SpliceDrop::Malformed);
        }
        if seg.rst() {
            self.stats.resets += 1;
            self.free_conn(i);
        }
        SpliceVerdict::Transmit(Transmit { len, to: Toward::Server })
    }

    fn from_server(&mut self, now: Instant, i: usize, seg: &Seg, buf: &mut [u8], len: usize) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
        if c.pending & (pending::RST_CLIENT | pending::RST_SERVER) != 0 {
            return self.drop(SpliceDrop::Ignored);
        }
        let isn_ack = c.c_isn.wrapping_add(1);
        match c.phase {
            Phase::Connecting => {
                if seg.rst() && seg.ack() && seg.ack == isn_ack {
                    self.stats.connect_failures += 1;
                    self.abort(i, true, false);
                    return SpliceVerdict::Consumed;
                }
                if !(seg.syn() && seg.ack() && seg.ack == isn_ack) || seg.rst() {
                    return self.drop(SpliceDrop::Ignored);
                }
                let o = &seg.opts;
                c.s_isn = seg.seq;
                c.s_mss = o.mss.unwrap_or(536).max(64);
                c.s_ws = if c.c_ws.is_some() { o.wscale } else { None };
                c.s_ts = c.c_ts && o.timestamp.is_some();
                if let Some((val, _)) = o.timestamp {
                    c.srv_ts_recent = val;
                    c.ts_off = if c.s_ts { ts_clock(now).wrapping_sub(val) } else { 0 };
                }
                c.srv_wnd = u32::from(seg.window);
                c.phase = Phase::Spliced;
                c.c_high = c.rcv_nxt;
                c.s_high = seg.seq.wrapping_add(1);
                c.replay_next = 0;
                c.srv_acked = 0;
                c.retries = 0;
                c.rto_ms = self.cfg.rto.total_millis().max(1) as u32;
                c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
                self.conns[i] = Some(c);
                self.stats.spliced += 1;
                if c.buf_len == 0 {
                    self.release_slot(i);
                    self.want(i, pending::ACK_SERVER);
                } else {
                    self.want(i, pending::REPLAY);
                }
                SpliceVerdict::Consumed
            }
            Phase::Spliced => {
                if seg.syn() {
                    if seg.ack() && seg.seq == c.s_isn && !c.replay_done() {
                        // our replay (or its ACK) was lost: go back to what the server has
                        if let Some(c) = self.conns[i].as_mut() {
                            c.replay_next = c.srv_acked;
                        }
                        self.want(i, pending::REPLAY);
                        return SpliceVerdict::Consumed;
                    }
                    return self.drop(SpliceDrop::Ignored);
                }
                let dist = seg.seq.wrapping_sub(c.s_high).wrapping_add(MAX_WINDOW);
                if dist > 2 * MAX_WINDOW {
                    return self.drop(SpliceDrop::OutOfWindow);
                }
                if seg.rst() {
                    let d = seg.seq.wrapping_sub(c.s_high).wrapping_add(RST_WINDOW);
                    if d > 2 * RST_WINDOW {
                        return self.drop(SpliceDrop::OutOfWindow);
                    }
                }
                let end = seg.seq.wrapping_add(seg.seq_len());
                if seq_lt(c.s_high, end) {
                    c.s_high = end;
                }
                if let Some((val, _)) = seg.opts.timestamp {
                    c.srv_ts_recent = val;
                }
                if seg.fin() {
                    c.fins |= FIN_SERVER;
                }
                let mut more_replay = false;
                if !c.replay_done() && seg.ack() {
                    let acked = seg.ack.wrapping_sub(isn_ack);
                    if acked <= u32::from(c.buf_len) && acked > u32::from(c.srv_acked) {
                        c.srv_acked = acked as u16;
                        c.retries = 0;
                        c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
                    }
                    let shift = if c.c_ws.is_some() { c.s_ws.unwrap_or(0) } else { 0 };
                    c.srv_wnd = u32::from(seg.window) << shift;
                    more_replay = c.replay_next < c.buf_len;
                }
                self.conns[i] = Some(c);
                if !c.replay_done() && c.srv_acked == c.buf_len {
                    self.release_slot(i);
                }
                let Some(mut c) = self.conns[i] else { return self.drop(SpliceDrop::Ignored) };
                if c.replay_done() {
                    c.deadline = Some(now + if c.fins == FIN_CLIENT | FIN_SERVER { self.cfg.linger } else { self.cfg.idle_timeout });
                    self.conns[i] = Some(c);
                } else if more_replay {
                    self.want(i, pending::REPLAY);
                }
                let map = c.map_to_client();
                if rewrite_ipv4(&mut buf[..len], &map).is_err() {
                    return self.drop(SpliceDrop::Malformed);
                }
                if seg.rst() {
                    self.stats.resets += 1;
                    self.free_conn(i);
                }
                SpliceVerdict::Transmit(Transmit { len, to: Toward::Client })
            }
            Phase::Buffering | Phase::Rejecting => self.drop(SpliceDrop::Ignored),
        }
    }
}
