//! What the splicer sends on its own (the SYN and replay toward the server, reject responses,
//! resets), its timers, and freeing state.

use super::classify::ContentClassifier;
use super::conn::{pending, Conn, Phase, FIN_CLIENT, FIN_SERVER};
use super::emit::{build_ipv4_tcp, Segment};
use super::options::OptionsEmit;
use super::rewrite::rescale_window;
use super::splicer::{ts_clock, Splicer, Toward, Transmit};
use lvs_core::{Duration, Instant};

fn ep(a: core::net::SocketAddrV4) -> ([u8; 4], u16) {
    (a.ip().octets(), a.port())
}

/// Headers plus the largest option block on a data segment.
const DATA_OVERHEAD: usize = 20 + 20 + 12;

impl<C: ContentClassifier, const N: usize> Splicer<'_, C, N> {
    /// Marks `what` pending on connection `i` and queues it.
    pub(crate) fn want(&mut self, i: usize, what: u8) {
        if let Some(c) = self.conns[i].as_mut() {
            c.pending |= what;
            if !c.queued && self.queue.push(i as u16) {
                c.queued = true;
            }
        }
    }

    /// Gives the request-buffer slot back.
    pub(crate) fn release_slot(&mut self, i: usize) {
        if let Some(c) = self.conns[i].as_mut() {
            if let Some(s) = c.slot.take() {
                self.slots.push(s);
            }
        }
    }

    /// Tears a connection down: resets to the sides asked for (sent by `poll_transmit`, which
    /// then frees it), or frees it now.
    pub(crate) fn abort(&mut self, i: usize, rst_client: bool, rst_server: bool) {
        let bits = if rst_client { pending::RST_CLIENT } else { 0 }
            | if rst_server { pending::RST_SERVER } else { 0 };
        if bits == 0 {
            self.free_conn(i);
            return;
        }
        if let Some(c) = self.conns[i].as_mut() {
            c.pending = bits;
            c.deadline = None;
        }
        self.release_slot(i);
        self.want(i, bits);
    }

    /// Frees connection `i`: indices, slot, table entry; tells the classifier.
    pub(crate) fn free_conn(&mut self, i: usize) {
        let Some(c) = self.conns[i] else { return };
        self.release_slot(i);
        let conns = &self.conns;
        let secret = self.cfg.secret;
        self.by_client.remove(c.h_client, i as u16, |s| {
            conns[usize::from(s)].map_or(0, |o| o.h_client)
        });
        if c.phase != Phase::Buffering && c.phase != Phase::Rejecting {
            self.by_server.remove(c.h_server, i as u16, |s| {
                conns[usize::from(s)].map_or(0, |o| o.h_server)
            });
            self.classifier.closed(c.server);
        }
        let _ = secret;
        self.conns[i] = None;
        self.free.push(i as u16);
        self.live -= 1;
        self.stats.closed += 1;
    }

    /// Writes the next frame the splicer originates into `out` (a whole IPv4 packet), if any.
    ///
    /// Call after every [`Splicer::handle_packet`] and [`Splicer::handle_timeout`] until it
    /// returns `None`. `out` should hold an MTU-sized packet (1500 bytes); frames that do not
    /// fit are counted in [`super::SpliceStats::no_room`] and skipped.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<Transmit> {
        while let Some(q) = self.queue.pop() {
            let i = usize::from(q);
            let Some(mut c) = self.conns[i] else { continue };
            c.queued = false;
            self.conns[i] = Some(c);
            if c.pending == 0 {
                continue;
            }
            let bit = [
                pending::RST_CLIENT,
                pending::RST_SERVER,
                pending::SYN,
                pending::RESPONSE,
                pending::ACK_SERVER,
                pending::REPLAY,
            ]
            .into_iter()
            .find(|b| c.pending & b != 0)
            .unwrap_or(0);
            let r = self.frame(now, i, bit, out);
            let mut c = match self.conns[i] {
                Some(c) => c,
                None => return r,
            };
            if bit != pending::REPLAY || c.replay_next >= c.buf_len || !self.window_open(&c) {
                c.pending &= !bit;
            }
            self.conns[i] = Some(c);
            if c.pending & (pending::RST_CLIENT | pending::RST_SERVER) == 0
                && bit & (pending::RST_CLIENT | pending::RST_SERVER) != 0
            {
                self.free_conn(i);
            } else if c.pending != 0 {
                self.want(i, 0);
            }
            if r.is_some() {
                return r;
            }
        }
        None
    }

    fn window_open(&self, c: &Conn) -> bool {
        let in_flight = u32::from(c.replay_next.saturating_sub(c.srv_acked));
        in_flight < c.srv_wnd.max(1)
    }

    fn frame(&mut self, now: Instant, i: usize, bit: u8, out: &mut [u8]) -> Option<Transmit> {
        let mut c = self.conns[i]?;
        let ts = ts_clock(now);
        let mut payload: &[u8] = &[];
        let (seg, to) = match bit {
            pending::RST_CLIENT => {
                self.stats.resets += 1;
                let seq = match c.phase {
                    Phase::Spliced => c.s_high.wrapping_add(c.delta()),
                    Phase::Rejecting => c
                        .d_isn
                        .wrapping_add(2)
                        .wrapping_add(c.response.len() as u32),
                    _ => c.d_isn.wrapping_add(1),
                };
                let s = Segment {
                    src: ep(c.vip),
                    dst: ep(c.client),
                    seq,
                    ack: Some(c.rcv_nxt),
                    flags: 0x04,
                    window: 0,
                    options: OptionsEmit::default(),
                    payload: &[],
                };
                (s, Toward::Client)
            }
            pending::RST_SERVER => {
                self.stats.resets += 1;
                let seq = if c.phase == Phase::Spliced {
                    c.c_high
                } else {
                    c.c_isn.wrapping_add(1)
                };
                let s = Segment {
                    src: ep(c.client),
                    dst: ep(c.server),
                    seq,
                    ack: None,
                    flags: 0x04,
                    window: 0,
                    options: OptionsEmit::default(),
                    payload: &[],
                };
                (s, Toward::Server)
            }
            pending::SYN => {
                let window = (u64::from(c.c_wnd) << c.c_ws.unwrap_or(0)).min(65535) as u16;
                let s = Segment {
                    src: ep(c.client),
                    dst: ep(c.server),
                    seq: c.c_isn,
                    ack: None,
                    flags: 0x02,
                    window,
                    options: OptionsEmit {
                        mss: Some(c.c_mss),
                        wscale: c.c_ws,
                        sack_permitted: c.c_sack,
                        timestamp: c.c_ts.then_some((c.ts_recent, 0)),
                    },
                    payload: &[],
                };
                (s, Toward::Server)
            }
            pending::RESPONSE => {
                let room = out.len().saturating_sub(DATA_OVERHEAD);
                payload = &c.response[..c.response.len().min(room)];
                let s = Segment {
                    src: ep(c.vip),
                    dst: ep(c.client),
                    seq: c.d_isn.wrapping_add(1),
                    ack: Some(c.rcv_nxt),
                    flags: 0x09,
                    window: 0,
                    options: OptionsEmit {
                        timestamp: c.c_ts.then_some((ts, c.ts_recent)),
                        ..OptionsEmit::default()
                    },
                    payload,
                };
                (s, Toward::Client)
            }
            pending::ACK_SERVER | pending::REPLAY => {
                let map = c.map_to_server();
                let window = rescale_window(c.c_wnd, map.win_shift_in, map.win_shift_out);
                let mut seq = c.c_isn.wrapping_add(1).wrapping_add(u32::from(c.buf_len));
                if bit == pending::REPLAY && c.replay_next < c.buf_len {
                    let max = usize::from(c.s_mss)
                        .min(out.len().saturating_sub(DATA_OVERHEAD))
                        .max(1);
                    let in_flight = u32::from(c.replay_next - c.srv_acked.min(c.replay_next));
                    let allowed =
                        c.srv_wnd
                            .saturating_sub(in_flight)
                            .max(if in_flight == 0 { 1 } else { 0 })
                            as usize;
                    let n = usize::from(c.buf_len - c.replay_next).min(max).min(allowed);
                    if n == 0 {
                        return None;
                    }
                    let slot = c.slot?;
                    let at = usize::from(slot) * self.slot_size + usize::from(c.replay_next);
                    payload = &self.slab[at..at + n];
                    seq = c
                        .c_isn
                        .wrapping_add(1)
                        .wrapping_add(u32::from(c.replay_next));
                    c.replay_next += n as u16;
                    self.conns[i] = Some(c);
                } else if bit == pending::REPLAY {
                    return None;
                }
                let last = seq.wrapping_add(payload.len() as u32)
                    == c.c_isn.wrapping_add(1).wrapping_add(u32::from(c.buf_len));
                let s = Segment {
                    src: ep(c.client),
                    dst: ep(c.server),
                    seq,
                    ack: Some(c.s_isn.wrapping_add(1)),
                    flags: if last && !payload.is_empty() { 0x08 } else { 0 },
                    window,
                    options: OptionsEmit {
                        timestamp: c.s_ts.then_some((c.ts_recent, c.srv_ts_recent)),
                        ..OptionsEmit::default()
                    },
                    payload,
                };
                (s, Toward::Server)
            }
            _ => return None,
        };
        match build_ipv4_tcp(out, &seg) {
            Ok(len) => Some(Transmit { len, to }),
            Err(_) => {
                self.stats.no_room += 1;
                None
            }
        }
    }

    /// The earliest time [`Splicer::handle_timeout`] has work, if any. Re-read it after each
    /// call into the splicer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns.iter().flatten().filter_map(|c| c.deadline).min()
    }

    /// Runs the timers due at `now`: header timeouts, retransmissions of the SYN, the replay
    /// and responses, idle and linger expiry. Spurious calls do nothing. Afterwards, drain
    /// [`Splicer::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..N {
            let Some(mut c) = self.conns[i] else { continue };
            match c.deadline {
                Some(d) if d <= now => {}
                _ => continue,
            }
            let give_up = c.retries >= self.cfg.max_retries;
            let backoff = |c: &mut Conn| {
                c.retries += 1;
                c.rto_ms = c.rto_ms.saturating_mul(2).min(60_000);
                c.deadline = Some(now + Duration::from_millis(u64::from(c.rto_ms)));
            };
            match c.phase {
                Phase::Buffering => {
                    self.stats.header_timeouts += 1;
                    self.abort(i, true, false);
                }
                Phase::Connecting if give_up => self.connect_failed(now, i, true),
                Phase::Connecting => {
                    backoff(&mut c);
                    self.conns[i] = Some(c);
                    self.stats.retransmits += 1;
                    self.want(i, pending::SYN);
                }
                Phase::Spliced if !c.replay_done() => {
                    if give_up {
                        self.abort(i, true, true);
                    } else {
                        backoff(&mut c);
                        c.replay_next = c.srv_acked;
                        self.conns[i] = Some(c);
                        self.stats.retransmits += 1;
                        self.want(i, pending::REPLAY);
                    }
                }
                Phase::Spliced => self.free_conn(i),
                Phase::Rejecting if c.fins & FIN_SERVER == 0 && !give_up => {
                    backoff(&mut c);
                    self.conns[i] = Some(c);
                    self.stats.retransmits += 1;
                    self.want(i, pending::RESPONSE);
                }
                Phase::Rejecting => {
                    let _ = FIN_CLIENT;
                    self.free_conn(i);
                }
            }
        }
    }
}
