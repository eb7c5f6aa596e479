//! The splicer's settings, counters and outputs.

use crate::wire::ChecksumCaps;
use lvs_core::hash::SipKey;
use lvs_core::Duration;

/// Settings of a [`super::Splicer`].
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
    /// Connections moved to another server after a failed connect
    /// ([`super::ContentClassifier::connect_failed`]).
    pub reconnects: u64,
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

/// The outcome of [`super::Splicer::handle_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SpliceVerdict {
    /// The buffer now holds `len` bytes to send (the packet rewritten in place, or a reply
    /// written over it).
    Transmit(Transmit),
    /// The packet was taken in; nothing to send from the buffer (check
    /// [`super::Splicer::poll_transmit`]).
    Consumed,
    /// The packet was dropped (counted).
    Drop(SpliceDrop),
}
