//! The splicer engine: per-packet entry point, the handshake by cookie, buffering and
//! classification, and the spliced relay.

use super::classify::{ContentClassifier, FlowInfo, MAX_CONNECT_ATTEMPTS, REPLY_LIMIT};
use super::conn::{pending, Conn, Phase, FIN_CLIENT, FIN_SERVER};
use super::cookie::{self, CookieFlow, CookieOptions};
use super::emit::{build_ipv4_tcp, Segment};
use super::options::{Options, OptionsEmit};
use super::rewrite::{rewrite_ipv4_with, seq_lt, SegmentMap, TcpChecksum};
use super::table::{FreeList, Index, Queue};
use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::{siphash, SipKey};
use lvs_core::{Duration, Instant};

pub use super::verdict::{SpliceConfig, SpliceDrop, SpliceStats, SpliceVerdict, Toward, Transmit};
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
    /// What the TCP checksum field holds (kept so by the spliced rewrite).
    pub(crate) csum: TcpChecksum,
}

impl Seg {
    pub(crate) fn syn(&self) -> bool {
        self.flags & 0x02 != 0
    }
    pub(crate) fn ack(&self) -> bool {
        self.flags & 0x10 != 0
    }
    pub(crate) fn rst(&self) -> bool {
        self.flags & 0x04 != 0
    }
    pub(crate) fn fin(&self) -> bool {
        self.flags & 0x01 != 0
    }
    /// Sequence space the segment occupies.
    pub(crate) fn seq_len(&self) -> u32 {
        self.data_len as u32 + u32::from(self.syn()) + u32::from(self.fin())
    }

    /// Takes the segment into the sequence space of one side, whose highest sequence seen is
    /// `high`: a RST farther than [`RST_WINDOW`] from it is out of window; otherwise `high`
    /// advances to the segment's end.
    pub(crate) fn advance(&self, high: &mut u32) -> Result<(), SpliceDrop> {
        if self.rst() && !within(self.seq, *high, RST_WINDOW) {
            return Err(SpliceDrop::OutOfWindow);
        }
        let end = self.seq.wrapping_add(self.seq_len());
        if seq_lt(*high, end) {
            *high = end;
        }
        Ok(())
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

/// Whether `seq` lies within `window` bytes either side of `high` (modulo 2^32).
pub(crate) const fn within(seq: u32, high: u32, window: u32) -> bool {
    seq.wrapping_sub(high).wrapping_add(window) <= 2 * window
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

pub(crate) fn ep(a: SocketAddrV4) -> ([u8; 4], u16) {
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
        assert!(
            slot_size > 0 && slot_size <= 65535,
            "slot_size in 1..=65535"
        );
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

    pub(crate) fn drop(&mut self, why: SpliceDrop) -> SpliceVerdict {
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
        let seg = match self.parse(&buf[..len], TcpChecksum::Full) {
            Ok(s) => s,
            Err(e) => return self.drop(e),
        };
        let h = flow_hash(self.cfg.secret, seg.src, seg.dst);
        let conns = &self.conns;
        if let Some(i) = self.by_client.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.client == seg.src && c.vip == seg.dst)) {
            let i = usize::from(i);
            if !self.new_incarnation(i, &seg) {
                return self.on_client(now, i, &seg, buf, len);
            }
            // the client reuses its port for a new connection while the old one lingers
            self.free_conn(i);
            return self.syn(now, &seg, buf);
        }
        if let Some(i) = self.by_server.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.server == seg.src && c.client == seg.dst)) {
            return self.on_server(now, usize::from(i), &seg, buf, len);
        }
        if seg.syn() && !seg.ack() && !seg.rst() {
            return self.syn(now, &seg, buf);
        }
        if seg.ack() && !seg.syn() && !seg.rst() {
            return self.cookie_ack(now, &seg, h, buf, len);
        }
        self.drop(SpliceDrop::UnknownFlow)
    }

    /// Whether `seg` is a SYN opening a new connection from the endpoint of connection `i`,
    /// which has seen FINs both ways and only lingers: as a TIME-WAIT socket accepts a SYN
    /// (RFC 6191, Linux's `tcp_timewait_state_process`), one whose timestamp is newer than the
    /// last one seen, or, without timestamps, whose sequence number lies beyond the old stream.
    /// (Dropping it would cost the client a SYN retransmission, a second or more, whenever it
    /// reuses a port soon after closing, as a load generator does.)
    fn new_incarnation(&self, i: usize, seg: &Seg) -> bool {
        let Some(c) = &self.conns[i] else {
            return false;
        };
        if !seg.syn() || seg.ack() || seg.rst() || c.fins != FIN_CLIENT | FIN_SERVER {
            return false;
        }
        match seg.opts.timestamp {
            Some((val, _)) if c.c_ts => seq_lt(c.ts_recent, val),
            _ => seq_lt(c.c_high, seg.seq),
        }
    }

    /// Takes one IPv4 packet whose TCP checksum is still to be computed
    /// ([`TcpChecksum::Partial`]: the field holds the pseudo-header sum), such as a TSO/GSO
    /// super-frame a local TCP stack handed to a virtual device: up to 64 KiB of one
    /// connection's data behind one header, to be cut into segments (and each checksummed) on
    /// transmit.
    ///
    /// Only a segment of a spliced connection is taken: rewritten in place exactly as
    /// [`Splicer::handle_packet`] would rewrite it, with the same bookkeeping, its checksum field
    /// left partial but right for the new address; the verdict says where it goes, and the
    /// caller sends it with the same offload request (segment size, checksum start and offset).
    /// No reply is ever written into `buf`. For anything else (a handshake, a connection still
    /// buffering or connecting or being reset, an unknown flow, a SYN, a malformed packet) the
    /// result is `None`, with nothing changed and nothing counted: finish the checksum (and cut
    /// the segments) and give the packet to [`Splicer::handle_packet`].
    ///
    /// Afterwards, as after [`Splicer::handle_packet`], call [`Splicer::poll_transmit`].
    pub fn handle_partial(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Option<SpliceVerdict> {
        let len = len.min(buf.len());
        let seg = self.parse(&buf[..len], TcpChecksum::Partial).ok()?;
        if seg.syn() {
            return None;
        }
        let h = flow_hash(self.cfg.secret, seg.src, seg.dst);
        let conns = &self.conns;
        let spliced = |i: u16| {
            conns[usize::from(i)].is_some_and(|c| {
                c.phase == Phase::Spliced
                    && c.pending & (pending::RST_CLIENT | pending::RST_SERVER) == 0
            })
        };
        if let Some(i) = self.by_client.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.client == seg.src && c.vip == seg.dst)) {
            return spliced(i).then(|| self.client_spliced(now, usize::from(i), &seg, buf, len));
        }
        if let Some(i) = self.by_server.find(h, |s| matches!(&conns[usize::from(s)], Some(c) if c.server == seg.src && c.client == seg.dst)) {
            return spliced(i).then(|| self.on_server(now, usize::from(i), &seg, buf, len));
        }
        None
    }

    /// Parses an IPv4/TCP packet; its TCP checksum is verified (if the configuration asks) only
    /// when `csum` says it is finished.
    pub(crate) fn parse(&self, p: &[u8], csum: TcpChecksum) -> Result<Seg, SpliceDrop> {
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
        if csum == TcpChecksum::Full
            && self.cfg.caps.tcp.rx()
            && !tcp.verify_checksum(&src.into(), &dst.into())
        {
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
            csum,
        })
    }

    /// A SYN to a virtual service: answer with a cookie SYN-ACK, in place, keeping nothing.
    pub(crate) fn syn(&mut self, now: Instant, seg: &Seg, buf: &mut [u8]) -> SpliceVerdict {
        let o = &seg.opts;
        let co = CookieOptions::from_syn(o.mss, o.wscale, o.sack_permitted, o.timestamp.is_some());
        let flow = CookieFlow {
            client: ep(seg.src),
            vip: ep(seg.dst),
        };
        // the cookie TSval is this millisecond count with its low 5 bits replaced, so at most 31
        // above it: below `ts_clock(now)`, which every later segment of ours carries at least
        // (a TSval going backwards makes the client drop our segments by PAWS, RFC 7323 5.3)
        let ms = now.total_millis() as u32;
        let (isn, tsval) = cookie::make(self.cfg.secret, &flow, seg.seq, &co, now, ms);
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
        let v = self.answer_client(buf, &out);
        if let SpliceVerdict::Transmit(_) = v {
            self.stats.syn_cookies += 1;
        }
        v
    }

    /// An ACK for no known connection: a handshake completing by cookie, or junk.
    pub(crate) fn cookie_ack(
        &mut self,
        now: Instant,
        seg: &Seg,
        h: u32,
        buf: &mut [u8],
        len: usize,
    ) -> SpliceVerdict {
        let flow = CookieFlow {
            client: ep(seg.src),
            vip: ep(seg.dst),
        };
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
            d_ws: if c_ws.is_some() {
                self.cfg.wscale.min(14)
            } else {
                0
            },
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
            reply_seen: 0,
            reply_watch: true,
            attempts: 0,
        });
        self.by_client.insert(h, i);
        self.live += 1;
        self.stats.accepted += 1;
        self.on_client(now, usize::from(i), seg, buf, len)
    }

    pub(crate) fn client_spliced(
        &mut self,
        now: Instant,
        i: usize,
        seg: &Seg,
        buf: &mut [u8],
        len: usize,
    ) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
        if !within(seg.seq, c.c_high, MAX_WINDOW) {
            return self.drop(SpliceDrop::OutOfWindow);
        }
        if seg.syn() {
            return self.drop(SpliceDrop::Ignored);
        }
        if let Err(why) = seg.advance(&mut c.c_high) {
            return self.drop(why);
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
            c.deadline = Some(self.spliced_deadline(now, &c));
        }
        self.conns[i] = Some(c);
        self.relay(i, seg, &mut buf[..len], &c.map_to_server(), Toward::Server)
    }

    pub(crate) fn on_server(
        &mut self,
        now: Instant,
        i: usize,
        seg: &Seg,
        buf: &mut [u8],
        len: usize,
    ) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
        if c.pending & (pending::RST_CLIENT | pending::RST_SERVER) != 0 {
            return self.drop(SpliceDrop::Ignored);
        }
        let isn_ack = c.c_isn.wrapping_add(1);
        match c.phase {
            Phase::Connecting => {
                if seg.rst() && seg.ack() && seg.ack == isn_ack {
                    self.connect_failed(now, i, false);
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
                    c.ts_off = if c.s_ts {
                        ts_clock(now).wrapping_sub(val)
                    } else {
                        0
                    };
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
                if !within(seg.seq, c.s_high, MAX_WINDOW) {
                    return self.drop(SpliceDrop::OutOfWindow);
                }
                if let Err(why) = seg.advance(&mut c.s_high) {
                    return self.drop(why);
                }
                if let Some((val, _)) = seg.opts.timestamp {
                    c.srv_ts_recent = val;
                }
                if seg.fin() {
                    c.fins |= FIN_SERVER;
                }
                if c.reply_watch && seg.data_len > 0 {
                    self.show_reply(now, &mut c, seg, buf);
                }
                let mut more_replay = false;
                if !c.replay_done() && seg.ack() {
                    let acked = seg.ack.wrapping_sub(isn_ack);
                    if acked <= u32::from(c.buf_len) && acked > u32::from(c.srv_acked) {
                        c.srv_acked = acked as u16;
                        c.retries = 0;
                        c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
                    }
                    let shift = if c.c_ws.is_some() {
                        c.s_ws.unwrap_or(0)
                    } else {
                        0
                    };
                    c.srv_wnd = u32::from(seg.window) << shift;
                    more_replay = c.replay_next < c.buf_len;
                }
                self.conns[i] = Some(c);
                if !c.replay_done() && c.srv_acked == c.buf_len {
                    self.release_slot(i);
                }
                let Some(mut c) = self.conns[i] else {
                    return self.drop(SpliceDrop::Ignored);
                };
                if c.replay_done() {
                    c.deadline = Some(self.spliced_deadline(now, &c));
                    self.conns[i] = Some(c);
                } else if more_replay {
                    self.want(i, pending::REPLAY);
                }
                self.relay(i, seg, &mut buf[..len], &c.map_to_client(), Toward::Client)
            }
            Phase::Buffering | Phase::Rejecting => self.drop(SpliceDrop::Ignored),
        }
    }

    /// When spliced connection `c`, its replay done, expires if nothing more comes: after
    /// `linger` once both sides have sent their FIN, else after `idle_timeout`.
    fn spliced_deadline(&self, now: Instant, c: &Conn) -> Instant {
        now + if c.fins == FIN_CLIENT | FIN_SERVER {
            self.cfg.linger
        } else {
            self.cfg.idle_timeout
        }
    }

    /// Builds `seg` over `buf` and answers the client with it; a buffer too small for it is a
    /// counted [`SpliceDrop::NoRoom`].
    pub(crate) fn answer_client(&mut self, buf: &mut [u8], seg: &Segment<'_>) -> SpliceVerdict {
        match build_ipv4_tcp(buf, seg) {
            Ok(len) => SpliceVerdict::Transmit(Transmit {
                len,
                to: Toward::Client,
            }),
            Err(_) => {
                self.stats.no_room += 1;
                self.drop(SpliceDrop::NoRoom)
            }
        }
    }

    /// Rewrites a spliced segment of connection `i` (the packet `pkt`) by `map` and sends it
    /// on `to`; a RST frees the connection.
    fn relay(
        &mut self,
        i: usize,
        seg: &Seg,
        pkt: &mut [u8],
        map: &SegmentMap,
        to: Toward,
    ) -> SpliceVerdict {
        if rewrite_ipv4_with(pkt, map, seg.csum).is_err() {
            return self.drop(SpliceDrop::Malformed);
        }
        if seg.rst() {
            self.stats.resets += 1;
            self.free_conn(i);
        }
        SpliceVerdict::Transmit(Transmit { len: pkt.len(), to })
    }

    /// The chosen server refused the connection or never answered: try the server the
    /// classifier names next, or reset the client (and the server too, if `rst_server`).
    pub(crate) fn connect_failed(&mut self, now: Instant, i: usize, rst_server: bool) {
        self.stats.connect_failures += 1;
        let Some(mut c) = self.conns[i] else { return };
        c.attempts = c.attempts.saturating_add(1);
        let next = if c.attempts < MAX_CONNECT_ATTEMPTS {
            let conns = &self.conns;
            self.by_server.remove(c.h_server, i as u16, |s| {
                conns[usize::from(s)].map_or(0, |o| o.h_server)
            });
            self.classifier.closed(c.server);
            let flow = FlowInfo {
                client: c.client,
                vip: c.vip,
                now,
            };
            self.classifier.connect_failed(&flow, c.server)
        } else {
            None
        };
        let Some(server) = next else {
            if c.attempts < MAX_CONNECT_ATTEMPTS {
                // already out of the server index and counted down: free without a second
                // `closed`
                c.phase = Phase::Buffering;
                self.conns[i] = Some(c);
            }
            self.abort(i, true, rst_server);
            return;
        };
        let h = flow_hash(self.cfg.secret, server, c.client);
        let conns = &self.conns;
        let taken = self.by_server.find(h, |s| matches!(&conns[usize::from(s)], Some(o) if o.server == server && o.client == c.client)).is_some();
        if taken {
            c.phase = Phase::Buffering;
            self.conns[i] = Some(c);
            self.abort(i, true, false);
            return;
        }
        c.server = server;
        c.h_server = h;
        c.retries = 0;
        c.rto_ms = self.cfg.rto.total_millis().max(1) as u32;
        c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
        self.conns[i] = Some(c);
        self.by_server.insert(h, i as u16);
        self.stats.reconnects += 1;
        self.want(i, pending::SYN);
    }

    /// Shows the classifier the part of a server segment that continues the in-order prefix it
    /// has seen, up to [`REPLY_LIMIT`].
    fn show_reply(&mut self, now: Instant, c: &mut Conn, seg: &Seg, buf: &[u8]) {
        let seen = u32::from(c.reply_seen);
        // offset of the segment's first byte in the server's stream (byte 0 follows the SYN)
        let at = seg.seq.wrapping_sub(c.s_isn.wrapping_add(1));
        let end = at.wrapping_add(seg.data_len as u32);
        if seq_lt(seen, at) || !seq_lt(seen, end) {
            return;
        }
        let skip = seen.wrapping_sub(at) as usize;
        let take = (seg.data_len - skip).min(REPLY_LIMIT - seen as usize);
        let start = seg.data_at + skip;
        let Some(data) = buf.get(start..start + take) else {
            return;
        };
        let flow = FlowInfo {
            client: c.client,
            vip: c.vip,
            now,
        };
        let more = self.classifier.reply(&flow, c.server, seen as usize, data);
        c.reply_seen = (seen as usize + take) as u16;
        c.reply_watch = more && usize::from(c.reply_seen) < REPLY_LIMIT;
    }
}
