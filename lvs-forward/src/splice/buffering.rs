//! Before the splice: the client's bytes are buffered and acknowledged until the classifier
//! chooses a server, rejects the request, or the client gives up.

use super::classify::{Classification, ContentClassifier, FlowInfo};
use super::conn::{pending, Conn, Phase, FIN_CLIENT, FIN_SERVER};
use super::emit::{build_ipv4_tcp, Segment};
use super::options::OptionsEmit;
use super::rewrite::seq_lt;
use super::splicer::{ep, flow_hash, ts_clock, Seg, Splicer, MAX_WINDOW};
use super::verdict::{SpliceDrop, SpliceVerdict, Toward, Transmit};
use core::net::SocketAddrV4;
use lvs_core::{Duration, Instant};

impl<C: ContentClassifier, const N: usize> Splicer<'_, C, N> {
    /// The window the splicer advertises to a client while buffering.
    pub(crate) fn client_window(&self, c: &Conn) -> u16 {
        let free = self.slot_size.saturating_sub(usize::from(c.buf_len));
        ((free >> c.d_ws) as u64).min(65535) as u16
    }

    /// An ACK from the splicer to the client, written over `buf`.
    pub(crate) fn ack_client(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> SpliceVerdict {
        let Some(c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
        let out = Segment {
            src: ep(c.vip),
            dst: ep(c.client),
            seq: c.d_isn.wrapping_add(1),
            ack: Some(c.rcv_nxt),
            flags: 0,
            window: self.client_window(&c),
            options: OptionsEmit {
                timestamp: c.c_ts.then(|| (ts_clock(now), c.ts_recent)),
                ..OptionsEmit::default()
            },
            payload: &[],
        };
        self.answer_client(buf, &out)
    }

    pub(crate) fn on_client(
        &mut self,
        now: Instant,
        i: usize,
        seg: &Seg,
        buf: &mut [u8],
        len: usize,
    ) -> SpliceVerdict {
        let Some(c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
        if c.pending & (pending::RST_CLIENT | pending::RST_SERVER) != 0 {
            return self.drop(SpliceDrop::Ignored);
        }
        match c.phase {
            Phase::Buffering | Phase::Connecting => self.client_buffering(now, i, seg, buf),
            Phase::Rejecting => self.client_rejecting(now, i, seg, buf),
            Phase::Spliced => self.client_spliced(now, i, seg, buf, len),
        }
    }

    pub(crate) fn client_buffering(
        &mut self,
        now: Instant,
        i: usize,
        seg: &Seg,
        buf: &mut [u8],
    ) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
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
                self.slab[at..at + took]
                    .copy_from_slice(&buf[seg.data_at + off..seg.data_at + off + took]);
            } else {
                took = 0;
            }
            c.buf_len += took as u16;
            c.rcv_nxt = c.rcv_nxt.wrapping_add(took as u32);
        }
        let fin_now = seg.fin() && off + took == seg.data_len;
        self.conns[i] = Some(c);
        if c.phase == Phase::Buffering && (took > 0 || fin_now) {
            let flow = FlowInfo {
                client: c.client,
                vip: c.vip,
                now,
            };
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

    pub(crate) fn choose(
        &mut self,
        now: Instant,
        i: usize,
        server: SocketAddrV4,
        buf: &mut [u8],
    ) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
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

    pub(crate) fn reject(
        &mut self,
        now: Instant,
        i: usize,
        resp: &'static [u8],
        client_fin: bool,
    ) -> SpliceVerdict {
        let Some(c) = self.conns[i].as_mut() else {
            return self.drop(SpliceDrop::Ignored);
        };
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

    pub(crate) fn client_rejecting(
        &mut self,
        now: Instant,
        i: usize,
        seg: &Seg,
        buf: &mut [u8],
    ) -> SpliceVerdict {
        let Some(mut c) = self.conns[i] else {
            return self.drop(SpliceDrop::Ignored);
        };
        if seg.rst() {
            self.free_conn(i);
            return SpliceVerdict::Consumed;
        }
        let fin_seq = c
            .d_isn
            .wrapping_add(1)
            .wrapping_add(c.response.len() as u32);
        if seg.ack() && !seq_lt(seg.ack, fin_seq.wrapping_add(1)) {
            c.fins |= FIN_SERVER; // our FIN is acknowledged
            c.pending &= !pending::RESPONSE;
        }
        if seg.fin()
            && seg.seq.wrapping_add(seg.data_len as u32) == c.rcv_nxt
            && c.fins & FIN_CLIENT == 0
        {
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
                options: OptionsEmit {
                    timestamp: c.c_ts.then(|| (ts_clock(now), c.ts_recent)),
                    ..OptionsEmit::default()
                },
                payload: &[],
            };
            if done {
                self.free_conn(i);
            }
            return match build_ipv4_tcp(buf, &out) {
                Ok(len) => SpliceVerdict::Transmit(Transmit {
                    len,
                    to: Toward::Client,
                }),
                Err(_) => self.drop(SpliceDrop::NoRoom),
            };
        }
        if done {
            self.free_conn(i);
        }
        SpliceVerdict::Consumed
    }
}
