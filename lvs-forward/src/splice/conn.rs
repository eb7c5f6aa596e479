//! The state of one connection the splicer holds, from the cookie-validated ACK to teardown.

use super::rewrite::{Endpoint, SegmentMap};
use core::net::SocketAddrV4;
use lvs_core::Instant;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Handshake with the client done; buffering its bytes until the classifier chooses.
    Buffering,
    /// A server was chosen; the SYN to it is out (and retransmitted) and no SYN-ACK came yet.
    Connecting,
    /// Spliced: segments are rewritten both ways. The buffered bytes may still be in flight to
    /// the server (see [`Conn::replay_done`]).
    Spliced,
    /// The classifier rejected the request; the response and a FIN are out, waiting for the
    /// client to acknowledge them.
    Rejecting,
}

/// Pending transmissions (bits of [`Conn::pending`]).
pub(crate) mod pending {
    /// The SYN to the server.
    pub(crate) const SYN: u8 = 1;
    /// Replayed bytes (from `replay_next`) to the server.
    pub(crate) const REPLAY: u8 = 2;
    /// A pure ACK to the server (SYN-ACK answered with nothing to replay).
    pub(crate) const ACK_SERVER: u8 = 4;
    /// The reject response (with FIN) to the client.
    pub(crate) const RESPONSE: u8 = 8;
    /// A reset to the client, after which the connection is freed.
    pub(crate) const RST_CLIENT: u8 = 16;
    /// A reset to the server, after which the connection is freed.
    pub(crate) const RST_SERVER: u8 = 32;
}

/// FIN seen from the client (bit of [`Conn::fins`]).
pub(crate) const FIN_CLIENT: u8 = 1;
/// FIN seen from the server.
pub(crate) const FIN_SERVER: u8 = 2;

/// One connection.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// Client endpoint.
    pub client: SocketAddrV4,
    /// Virtual service endpoint.
    pub vip: SocketAddrV4,
    /// Chosen real server (unspecified until chosen).
    pub server: SocketAddrV4,
    /// Hash of (client, vip), the client-side index key.
    pub(crate) h_client: u32,
    /// Hash of (server, client), the server-side index key (valid once chosen).
    pub(crate) h_server: u32,
    /// Life stage.
    pub phase: Phase,
    /// Client's initial sequence number.
    pub c_isn: u32,
    /// Our initial sequence number toward the client (the cookie).
    pub d_isn: u32,
    /// Server's initial sequence number.
    pub s_isn: u32,
    /// Client MSS (from the cookie).
    pub c_mss: u16,
    /// Client's window scale shift (None: not negotiated).
    pub c_ws: Option<u8>,
    /// Our window scale shift toward the client (0 when not negotiated).
    pub d_ws: u8,
    /// Client SACK-permitted.
    pub c_sack: bool,
    /// Client timestamps on.
    pub c_ts: bool,
    /// The client's last window field (scaled by `c_ws`).
    pub c_wnd: u16,
    /// Server's MSS.
    pub s_mss: u16,
    /// Server's window scale shift (None: it did not agree to scaling).
    pub s_ws: Option<u8>,
    /// Server timestamps on.
    pub s_ts: bool,
    /// Next client sequence number the splicer expects while buffering.
    pub rcv_nxt: u32,
    /// Request-buffer slot (when one is held).
    pub(crate) slot: Option<u16>,
    /// Buffered bytes.
    pub buf_len: u16,
    /// Latest client TSval (echoed by the splicer's own segments).
    pub ts_recent: u32,
    /// Latest server TSval.
    pub srv_ts_recent: u32,
    /// Added to server TSvals toward the client (TSecr toward the server gets the negation).
    pub ts_off: u32,
    /// Next buffered byte to (re)send to the server.
    pub(crate) replay_next: u16,
    /// Buffered bytes the server has acknowledged.
    pub(crate) srv_acked: u16,
    /// Server's receive window in bytes, as last seen.
    pub(crate) srv_wnd: u32,
    /// Timer.
    pub deadline: Option<Instant>,
    /// Current retransmission timeout in milliseconds.
    pub(crate) rto_ms: u32,
    /// Retransmissions so far of the current thing.
    pub(crate) retries: u8,
    /// Pending transmissions.
    pub(crate) pending: u8,
    /// Whether the slot sits in the transmit queue.
    pub(crate) queued: bool,
    /// FINs seen.
    pub(crate) fins: u8,
    /// End of the highest client sequence seen (spliced phase).
    pub(crate) c_high: u32,
    /// End of the highest server sequence seen (server space, spliced phase).
    pub(crate) s_high: u32,
    /// Reject response.
    pub(crate) response: &'static [u8],
    /// Server bytes shown to the classifier so far ([`super::ContentClassifier::reply`]).
    pub(crate) reply_seen: u16,
    /// Whether the classifier still wants to see server bytes.
    pub(crate) reply_watch: bool,
    /// Servers tried so far (the first choice and each one after a failed connect).
    pub(crate) attempts: u8,
}

impl Conn {
    /// Offset from server sequence space to the client's view of it.
    pub fn delta(&self) -> u32 {
        self.d_isn.wrapping_sub(self.s_isn)
    }

    /// Whether the server has acknowledged every buffered byte.
    pub fn replay_done(&self) -> bool {
        self.slot.is_none()
    }

    /// Window shift the server reads client windows with.
    fn shift_to_server(&self) -> u8 {
        match (self.c_ws, self.s_ws) {
            (Some(c), Some(_)) => c,
            _ => 0,
        }
    }

    /// The rewrite for client-to-server segments.
    pub fn map_to_server(&self) -> SegmentMap {
        SegmentMap {
            endpoint: Endpoint::Destination,
            addr: self.server.ip().octets(),
            port: self.server.port(),
            seq_add: 0,
            ack_add: self.delta().wrapping_neg(),
            ack_floor: None,
            sack_add: self.delta().wrapping_neg(),
            tsval_add: 0,
            tsecr_add: self.ts_off.wrapping_neg(),
            win_shift_in: self.c_ws.unwrap_or(0),
            win_shift_out: self.shift_to_server(),
        }
    }

    /// The rewrite for server-to-client segments.
    pub fn map_to_client(&self) -> SegmentMap {
        SegmentMap {
            endpoint: Endpoint::Source,
            addr: self.vip.ip().octets(),
            port: self.vip.port(),
            seq_add: self.delta(),
            ack_add: 0,
            ack_floor: (!self.replay_done()).then(|| {
                self.c_isn
                    .wrapping_add(1)
                    .wrapping_add(u32::from(self.buf_len))
            }),
            sack_add: 0,
            tsval_add: self.ts_off,
            tsecr_add: 0,
            win_shift_in: if self.c_ws.is_some() {
                self.s_ws.unwrap_or(0)
            } else {
                0
            },
            win_shift_out: self.d_ws,
        }
    }
}
