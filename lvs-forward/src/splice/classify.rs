//! The decision point of delayed binding: the splicer buffers the client's first bytes and asks
//! a [`ContentClassifier`] which real server gets the connection.
//!
//! HTTP ([`super::http::HttpClassifier`]) and TLS ([`super::tls::TlsClassifier`]) fit the same
//! trait: both look at a prefix of the stream, ask for more until it is complete, then choose,
//! or refuse with a response the splicer sends before closing. A classifier may also watch the
//! start of the server's answer ([`ContentClassifier::reply`], TLS: the ServerHello) and name
//! another server when the chosen one refuses the connection
//! ([`ContentClassifier::connect_failed`]).

use core::net::SocketAddrV4;

/// How many of the first bytes a real server sends back a classifier may see
/// ([`ContentClassifier::reply`]).
pub const REPLY_LIMIT: usize = 16 * 1024;

/// How many servers the splicer tries for one connection
/// ([`ContentClassifier::connect_failed`]).
pub const MAX_CONNECT_ATTEMPTS: u8 = 3;

/// The connection being classified, as the client addressed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// Client address and port.
    pub client: SocketAddrV4,
    /// Virtual service address and port the client connected to.
    pub vip: SocketAddrV4,
    /// The time the bytes arrived (for schedulers with time-based state, such as lblc).
    pub now: lvs_core::Instant,
}

/// What to do with a connection after looking at its buffered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// The prefix is incomplete; ask again when more bytes arrive.
    NeedMore,
    /// Splice the connection to this real server.
    Choose(SocketAddrV4),
    /// Send these bytes to the client (e.g. an HTTP 400 response or a TLS alert), then close.
    Reject(&'static [u8]),
    /// Reset the connection without a response.
    Reset,
}

/// Chooses a real server from the first bytes of a connection.
///
/// The splicer calls [`ContentClassifier::classify`] each time new in-order bytes were
/// buffered, with everything buffered so far (`data` grows; it never loses a prefix), until it
/// returns something other than [`Classification::NeedMore`]. When the per-connection buffer is
/// full and the answer is still `NeedMore`, it calls [`ContentClassifier::overflow`] instead.
pub trait ContentClassifier {
    /// Classifies the buffered prefix of a connection.
    fn classify(&mut self, flow: &FlowInfo, data: &[u8]) -> Classification;

    /// The buffer is full and the prefix is still incomplete (a header flood). The default
    /// resets the connection; HTTP answers 431.
    fn overflow(&mut self, flow: &FlowInfo) -> Classification {
        let _ = flow;
        Classification::Reset
    }

    /// The real server's first bytes on a spliced connection, in order: `data` starts at byte
    /// `offset` of the server's stream (0 for the first call, then the previous `offset` plus
    /// the previous `data.len()`), and nothing past [`REPLY_LIMIT`] is shown. Return `true` to
    /// see more. Only segments that continue the stream are shown: when a segment arrives
    /// ahead of a gap, nothing more is shown until the gap is filled (the client may never
    /// need a retransmission of it, so a classifier must not rely on seeing the whole prefix).
    ///
    /// The splicer rewrites the segments as usual; this only lets a classifier learn from the
    /// answer (e.g. the TLS ServerHello). The default wants nothing, so the HTTP classifier
    /// pays one call per connection.
    fn reply(&mut self, flow: &FlowInfo, server: SocketAddrV4, offset: usize, data: &[u8]) -> bool {
        let _ = (flow, server, offset, data);
        false
    }

    /// The server chosen for a connection refused it (a reset answered the SYN) or never
    /// answered the SYN. Return another server to try with the same buffered bytes (the client
    /// notices nothing but the delay), or `None` to reset the client, which is the default.
    /// [`ContentClassifier::closed`] has already been called for `server`. The splicer asks at
    /// most [`MAX_CONNECT_ATTEMPTS`] times per connection.
    fn connect_failed(&mut self, flow: &FlowInfo, server: SocketAddrV4) -> Option<SocketAddrV4> {
        let _ = (flow, server);
        None
    }

    /// A connection spliced to `server` has ended (FIN both ways, a reset, a timeout, or the
    /// server never answered), so that a least-connections scheduler can count it down.
    fn closed(&mut self, server: SocketAddrV4) {
        let _ = server;
    }
}

impl<F: FnMut(&FlowInfo, &[u8]) -> Classification> ContentClassifier for F {
    fn classify(&mut self, flow: &FlowInfo, data: &[u8]) -> Classification {
        self(flow, data)
    }
}
