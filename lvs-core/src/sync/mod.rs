//! The IPVS connection-synchronisation protocol (`ip_vs_sync.c`): the wire codec and the master's
//! rules for *when* a connection is sent.
//!
//! A master director multicasts the state of its connections (by default to `224.0.0.81:8848`,
//! [`SYNC_GROUP_V4`]/[`SYNC_PORT`]) so that backup directors can take over established flows.
//! This module is sans-I/O: it encodes and decodes datagram payloads in caller buffers and decides
//! whether a connection should be sent; sockets, timers and the connection table belong to the
//! embedder.
//!
//! # Layers
//! - [`SyncMessage`] is a zero-copy view of one datagram (smoltcp style: `new_checked`,
//!   accessors, setters on `AsMut`), [`ConnRecord`] a view of one connection record inside it, and
//!   [`SyncConn`] the owned, `Copy` representation of a record with `parse`/`emit`/`buffer_len`.
//! - [`SyncMessage::records`] decodes records one by one ([`SyncRecords`]), mirroring the
//!   kernel's `ip_vs_process_message`; [`SyncMessageBuilder`] appends records into a
//!   caller-provided buffer up to an MTU-derived limit, the way `ip_vs_sync_conn` fills a
//!   `sync_buff`.
//! - [`SyncPolicy`] is `ip_vs_sync_conn_needed` and its callers as a pure function.
//!
//! # Version 1 wire format (all integers in network byte order)
//! ```text
//! message header (8 bytes)
//!   0: reserved, must be 0 (the version-0 nr_conns position, so v0 receivers drop v1)
//!   1: syncid           2..4: size of the whole message in bytes
//!   4: nr_conns         5: version = 1          6..8: spare, must be 0
//! connection record (36 bytes for IPv4, 72 for IPv6, then options)
//!   0: type (bit 0: IPv6)   1: protocol   2..4: ver_size (version << 12 | size)
//!   4..8: flags (IP_VS_CONN_F_*)   8..10: state   10..12 cport  12..14 vport  14..16 dport
//!   16..20: fwmark   20..24: timeout in seconds   24..: caddr, vaddr, daddr (4 or 16 bytes each)
//! options (type, length, value), type bit 6 (0x40) = "optional, skip if unknown"
//!   1: sequence data (24 bytes: in_seq then out_seq, each init_seq, delta, previous_delta)
//!   2: persistence-engine data (1..=255 bytes)   3: persistence-engine name (1..=16 bytes)
//! ```
//! `size` counts the record and its options but not the padding that aligns the *next* record
//! on 4 bytes; the message `size` counts everything written, so the last record is never padded.
//!
//! Version 0 (`sync_version=0`, IPv4 only, 4-byte header `nr_conns, syncid, size`, 24-byte
//! records without fwmark and timeout, sequence options in the sender's *host* byte order) is
//! decoded but never emitted; see [`SyncRecords`].
//!
//! The flag and state constants below carry the kernel's values
//! (`include/uapi/linux/ip_vs.h`, `include/net/ip_vs.h`).

mod policy;
mod wire;

pub use policy::{SyncDecision, SyncFacts, SyncPolicy, SyncPolicyError, SyncTrack};
pub use wire::{
    ConnRecord, PeData, PeName, SeqAdjust, SeqOptions, SyncConn, SyncMessage, SyncMessageBuilder,
    SyncRecords,
};

use crate::addr::{AddrFamily, Ipv4Addr};
use crate::time::Duration;
use core::fmt;

/// The default multicast group of the sync daemon (`IP_VS_SYNC_GROUP`, 224.0.0.81).
pub const SYNC_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);

/// The default UDP port of the sync daemon (`IP_VS_SYNC_PORT`); thread `i` of a master with
/// several sync ports sends to `SYNC_PORT + i`.
pub const SYNC_PORT: u16 = 8848;

/// The protocol version written in a version-1 header (`SYNC_PROTO_VER`).
pub const PROTO_VERSION: u8 = 1;

/// How long a master may hold a partly filled message before sending it
/// (`IPVS_SYNC_FLUSH_TIME`, 2 s).
pub const FLUSH_TIME: Duration = Duration::from_secs(2);

/// Length of the version-1 message header.
pub const HEADER_LEN: usize = 8;
/// Length of the version-0 message header.
pub const V0_HEADER_LEN: usize = 4;
/// Length of the fixed part of an IPv4 record (`sizeof(struct ip_vs_sync_v4)`).
pub const RECORD_V4_LEN: usize = 36;
/// Length of the fixed part of an IPv6 record (`sizeof(struct ip_vs_sync_v6)`).
pub const RECORD_V6_LEN: usize = 72;
/// Length of a version-0 record without options (`SIMPLE_CONN_SIZE`).
pub const V0_RECORD_LEN: usize = 24;
/// Length of a version-0 record with sequence options (`FULL_CONN_SIZE`).
pub const V0_RECORD_SEQ_LEN: usize = 48;
/// Largest message a datagram can carry (the 16-bit `size` field).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// Most records one message can count (the 8-bit `nr_conns` field).
pub const MAX_RECORDS: usize = 255;

/// The payload limit a master uses by default: a 1500-byte MTU minus the IP and UDP headers of the
/// multicast family (1472 for IPv4, 1452 for IPv6), as `start_sync_thread` computes
/// `sync_maxlen` when none is configured.
pub const fn default_max_len(mcast_family: AddrFamily) -> usize {
    match mcast_family {
        AddrFamily::Ipv4 => 1500 - 20 - 8,
        AddrFamily::Ipv6 => 1500 - 40 - 8,
    }
}

/// Which message format a master emits or a received message uses (`sync_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SyncVersion {
    /// The original IPv4-only format.
    V0,
    /// The current format: IPv6, fwmark, timeout, options.
    V1,
}

/// `IP_VS_CONN_F_*`: connection flags. Bits 0..=15 travel in sync messages; a backup keeps only
/// [`BACKUP_MASK`](conn_flags::BACKUP_MASK) of what it receives.
pub mod conn_flags {
    /// Mask of the forwarding method.
    pub const FWD_MASK: u32 = 0x0007;
    /// Masquerading (NAT).
    pub const MASQ: u32 = 0x0000;
    /// Local node.
    pub const LOCALNODE: u32 = 0x0001;
    /// Tunnelling.
    pub const TUNNEL: u32 = 0x0002;
    /// Direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// Cache bypass.
    pub const BYPASS: u32 = 0x0004;
    /// Entry created by sync (set by the backup on receipt).
    pub const SYNC: u32 = 0x0020;
    /// Hashed entry (never sent: the master clears it).
    pub const HASHED: u32 = 0x0040;
    /// No output packets seen.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established.
    pub const INACTIVE: u32 = 0x0100;
    /// Output sequence adjustment needed.
    pub const OUT_SEQ: u32 = 0x0200;
    /// Input sequence adjustment needed.
    pub const IN_SEQ: u32 = 0x0400;
    /// Both sequence flags; a v1 master sends sequence options iff one is set.
    pub const SEQ_MASK: u32 = 0x0600;
    /// Client port not known yet.
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling (never synced itself).
    pub const ONE_PACKET: u32 = 0x2000;
    /// Use netfilter conntrack; bits from 16 up are not sent.
    pub const NFCT: u32 = 1 << 16;
    /// Flags a backup accepts from a v1 record.
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// Flags a backup updates on an existing entry.
    pub const BACKUP_UPD_MASK: u32 = INACTIVE | SEQ_MASK;
}

/// `IP_VS_TCP_S_*`: TCP connection states.
pub mod tcp_state {
    /// No state.
    pub const NONE: u16 = 0;
    /// Established.
    pub const ESTABLISHED: u16 = 1;
    /// SYN sent.
    pub const SYN_SENT: u16 = 2;
    /// SYN received.
    pub const SYN_RECV: u16 = 3;
    /// FIN wait.
    pub const FIN_WAIT: u16 = 4;
    /// TIME_WAIT.
    pub const TIME_WAIT: u16 = 5;
    /// Closed.
    pub const CLOSE: u16 = 6;
    /// CLOSE_WAIT.
    pub const CLOSE_WAIT: u16 = 7;
    /// LAST_ACK.
    pub const LAST_ACK: u16 = 8;
    /// Listen.
    pub const LISTEN: u16 = 9;
    /// SYN-ACK (secure_tcp).
    pub const SYNACK: u16 = 10;
    /// Number of TCP states.
    pub const LAST: u16 = 11;
}

/// `IP_VS_UDP_S_*`: UDP has a single state.
pub mod udp_state {
    /// The only state.
    pub const NORMAL: u16 = 0;
    /// Number of UDP states.
    pub const LAST: u16 = 1;
}

/// `IP_VS_SCTP_S_*`: SCTP association states.
pub mod sctp_state {
    /// No state.
    pub const NONE: u16 = 0;
    /// INIT seen from the client.
    pub const INIT1: u16 = 1;
    /// INIT.
    pub const INIT: u16 = 2;
    /// COOKIE sent.
    pub const COOKIE_SENT: u16 = 3;
    /// COOKIE replied.
    pub const COOKIE_REPLIED: u16 = 4;
    /// COOKIE wait.
    pub const COOKIE_WAIT: u16 = 5;
    /// COOKIE.
    pub const COOKIE: u16 = 6;
    /// COOKIE echoed.
    pub const COOKIE_ECHOED: u16 = 7;
    /// Established.
    pub const ESTABLISHED: u16 = 8;
    /// SHUTDOWN sent.
    pub const SHUTDOWN_SENT: u16 = 9;
    /// SHUTDOWN received.
    pub const SHUTDOWN_RECEIVED: u16 = 10;
    /// SHUTDOWN-ACK sent.
    pub const SHUTDOWN_ACK_SENT: u16 = 11;
    /// Rejected.
    pub const REJECTED: u16 = 12;
    /// Closed.
    pub const CLOSED: u16 = 13;
    /// Number of SCTP states.
    pub const LAST: u16 = 14;
}

/// `IP_VS_CTPL_S_*`: states of persistence templates.
pub mod tpl_state {
    /// Not assured.
    pub const NONE: u16 = 0;
    /// Assured (a controlled connection reached ESTABLISHED).
    pub const ASSURED: u16 = 1;
    /// Number of template states.
    pub const LAST: u16 = 2;
}

/// Number of states of the protocols a backup accepts (`ip_vs_proto_get(..)->num_states`): TCP,
/// UDP, SCTP, and AH/ESP (protocols 51/50, one state). `None` for any other protocol.
pub const fn protocol_num_states(protocol: u8) -> Option<u16> {
    match protocol {
        6 => Some(tcp_state::LAST),
        17 => Some(udp_state::LAST),
        132 => Some(sctp_state::LAST),
        50 | 51 => Some(1),
        _ => None,
    }
}

/// Why a sync message or record was rejected, or could not be built.
///
/// Decoding errors come in two kinds, as in the kernel ([`SyncError::is_fatal`]): a *malformed*
/// record makes the kernel drop the rest of the message (the decoder yields the error and
/// stops), a *rejected* record is skipped and decoding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncError {
    /// The buffer is shorter than the header it needs (fatal).
    HeaderTruncated {
        /// Bytes needed.
        required: usize,
        /// Bytes present.
        len: usize,
    },
    /// The header's `size` is not the datagram length (fatal; "bogus message size").
    SizeMismatch {
        /// The `size` field.
        size: u16,
        /// The datagram length.
        len: usize,
    },
    /// A record's fixed part does not fit in what is left of the message (fatal).
    RecordTruncated {
        /// Bytes needed from the record start.
        required: usize,
        /// Bytes left from the record start.
        available: usize,
    },
    /// A record's `size` runs past the end of the message (fatal).
    RecordOverrun {
        /// The record's `size`.
        size: u16,
        /// Bytes left from the record start.
        available: usize,
    },
    /// A record's version nibble is not 0 (fatal).
    RecordVersion(u8),
    /// A record's type byte is neither 0 nor has the IPv6 bit (fatal).
    RecordType(u8),
    /// A record's `size` is smaller than its fixed part (fatal).
    RecordTooShort {
        /// The record's `size`.
        size: u16,
        /// The fixed part it needs.
        required: usize,
    },
    /// An option header does not fit in the record (fatal).
    OptionTruncated,
    /// An option has length 0 or runs past the record (fatal).
    OptionLength {
        /// Option type.
        kind: u8,
        /// Option length.
        len: u8,
    },
    /// A sequence option whose length is not 24 (fatal).
    SeqOptionLength(u8),
    /// An option appears twice in one record (fatal).
    DuplicateOption(u8),
    /// A persistence-engine name longer than 16 bytes (fatal).
    PeNameTooLong(u8),
    /// An unknown option without the "optional" bit (record rejected).
    UnknownMandatoryOption(u8),
    /// A non-template record for a protocol IPVS does not handle (record rejected).
    UnsupportedProtocol(u8),
    /// A state out of range for the protocol, or for a template (record rejected).
    InvalidState {
        /// Protocol number.
        protocol: u8,
        /// The state.
        state: u16,
    },
    /// Persistence-engine data without an engine name (record rejected).
    PeDataWithoutName,
    /// A record's addresses are not all of one family (cannot be emitted).
    MixedFamilies,
    /// A persistence-engine value of length 0 or over its limit (cannot be built).
    PeLength(usize),
    /// The record does not fit in the room left (nothing was written).
    NoRoom {
        /// Bytes the record needs, padding included.
        required: usize,
        /// Bytes left.
        available: usize,
    },
    /// The message already counts 255 records (nothing was written).
    TooManyRecords,
}

impl SyncError {
    /// Whether the kernel drops the rest of the message on this error (`true`) or only skips
    /// the record (`false`). Build errors count as fatal.
    pub const fn is_fatal(&self) -> bool {
        !matches!(
            self,
            SyncError::UnknownMandatoryOption(_)
                | SyncError::UnsupportedProtocol(_)
                | SyncError::InvalidState { .. }
                | SyncError::PeDataWithoutName
        )
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SyncError::HeaderTruncated { required, len } => {
                write!(f, "sync message header needs {required} bytes, got {len}")
            }
            SyncError::SizeMismatch { size, len } => {
                write!(
                    f,
                    "sync message size field {size} does not match length {len}"
                )
            }
            SyncError::RecordTruncated {
                required,
                available,
            } => write!(
                f,
                "sync record needs {required} bytes, only {available} left in the message"
            ),
            SyncError::RecordOverrun { size, available } => write!(
                f,
                "sync record size {size} exceeds the {available} bytes left in the message"
            ),
            SyncError::RecordVersion(v) => write!(f, "unknown sync record version {v}"),
            SyncError::RecordType(t) => write!(f, "unknown sync record type {t:#04x}"),
            SyncError::RecordTooShort { size, required } => {
                write!(
                    f,
                    "sync record size {size} is below its fixed part of {required} bytes"
                )
            }
            SyncError::OptionTruncated => f.write_str("sync option header truncated"),
            SyncError::OptionLength { kind, len } => {
                write!(f, "sync option {kind} has bad length {len}")
            }
            SyncError::SeqOptionLength(len) => {
                write!(f, "sync sequence option has length {len}, expected 24")
            }
            SyncError::DuplicateOption(kind) => write!(f, "sync option {kind} appears twice"),
            SyncError::PeNameTooLong(len) => {
                write!(f, "persistence engine name of {len} bytes exceeds 16")
            }
            SyncError::UnknownMandatoryOption(kind) => {
                write!(f, "unknown mandatory sync option {kind}")
            }
            SyncError::UnsupportedProtocol(p) => {
                write!(f, "unsupported protocol {p} in sync record")
            }
            SyncError::InvalidState { protocol, state } => {
                write!(
                    f,
                    "invalid state {state} for protocol {protocol} in sync record"
                )
            }
            SyncError::PeDataWithoutName => {
                f.write_str("persistence engine data without an engine name")
            }
            SyncError::MixedFamilies => f.write_str("sync record addresses mix IPv4 and IPv6"),
            SyncError::PeLength(len) => {
                write!(
                    f,
                    "persistence engine value of {len} bytes is empty or too long"
                )
            }
            SyncError::NoRoom {
                required,
                available,
            } => write!(
                f,
                "sync record needs {required} bytes, only {available} left in the message"
            ),
            SyncError::TooManyRecords => f.write_str("sync message already holds 255 records"),
        }
    }
}

impl core::error::Error for SyncError {}
