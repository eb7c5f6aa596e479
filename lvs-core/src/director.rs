//! The director: a sans-I/O engine that classifies flows, schedules new ones, tracks them in the
//! connection table and returns verdicts (`ip_vs_in`, `ip_vs_out`, `ip_vs_schedule`,
//! `ip_vs_sched_persist`, `ip_vs_conn_expire` in the kernel).
//!
//! # Driving it
//! - Call [`Director::handle_inbound`] for each packet from a client toward a virtual address,
//!   and [`Director::handle_outbound`] for each packet from a real server (NAT replies). The
//!   verdict says what to do with the bytes; nothing is sent from inside.
//! - Call [`Director::handle_timeout`] whenever [`Director::poll_timeout`] says so (or
//!   periodically): it expires connections with bounded work, samples rate estimators every 2 s
//!   and runs schedulers' periodic work. Spurious calls are harmless.
//! - Configure services and real servers at any time; other flows are unaffected.
//!
//! # Flood defence
//! The table is fixed, so a flood of new flows can only fill it. What then happens is set by
//! [`DirectorConfig`]:
//! - By default a full table refuses new flows ([`DropReason::TableFull`], counted in
//!   [`DirectorCounters::refused_full`]); no entry is ever evicted, so every flow established
//!   before the flood keeps being forwarded.
//! - [`DirectorConfig::drop_entry`] (`drop_entry`): when a new flow finds fewer than
//!   [`DirectorConfig::defense_threshold`] + 1 slots free (or + 2 for a persistent service),
//!   embryonic TCP entries (SYN_RECV, SYNACK) are evicted first, counted in
//!   [`DirectorCounters::evicted`]. Candidates come from a ring of the last
//!   [`EMBRYO_RING_LEN`] connections that became embryonic, oldest first (each checked when
//!   taken), then from the timer wheel in deadline order; both searches are bounded. An
//!   evicted connection's template goes too when nothing else uses it and it never saw an
//!   established connection (not `ASSURED`), as `ip_vs_conn_del` does. ESTABLISHED and later
//!   states, templates, UDP and other protocols are never evicted (the kernel's
//!   `ip_vs_random_dropentry` also drops a rate-limited share of low-traffic established
//!   entries; this director does not). The kernel scans 1/32 of its table every second
//!   instead of evicting on demand.
//! - [`DirectorConfig::secure_tcp`] (`secure_tcp`, [`Defense::Auto`] or [`Defense::Always`]):
//!   the stricter state table, in which a client's ACK does not establish a NAT connection
//!   until the real server has answered, so spoofed handshakes stay embryonic (and evictable).
//!   As in current kernels it changes the state table only: the timeouts stay those of
//!   [`DirectorConfig::timeouts`] (SYN_RECV 60 s, SYNACK 120 s by default). The per-state
//!   "DoS timeouts" of 2.4-era kernels are gone upstream; set shorter ones in `timeouts` if
//!   wanted.
//! - `drop_packet` (dropping a share of new flows under pressure) is not offered: it needs a
//!   random source; an embedder can rate-limit new flows before calling the director.
//! - No state before the handshake completes (SYN cookies) is not offered: with NAT, the
//!   director must rewrite the SYN toward one real server and the SYN+ACK back, and the ACK
//!   that completes the handshake must reach the same server. Without an entry, that needs a
//!   scheduler that is a pure function of the flow (and of a configuration that does not
//!   change in between), a reverse mapping from real server to virtual address that is unique,
//!   and a way to tell a genuine ACK from a spoofed one; the director does not see the real
//!   server's initial sequence number without state, so it cannot validate the ACK. A
//!   SYN-proxy would, but that terminates TCP, which IPVS does not.
//!
//! # Draining and reuse
//! - Weight 0 quiesces a real server: no new flows are scheduled to it, its flows continue
//!   until they end. Persistence templates still send their clients to it unless
//!   [`DirectorConfig::expire_quiescent_template`] is set.
//! - [`DirectorConfig::conn_reuse_mode`]: a SYN on an entry in TIME_WAIT or CLOSE (bit 2:
//!   also FIN_WAIT on DR/tunnel) is rescheduled (`is_new_conn_expected`); with
//!   `expire_nodest_conn` a SYN on an entry of a weight-0 server is too.
//! - [`DirectorConfig::expire_nodest_conn`]: a packet of a flow whose real server was removed
//!   expires its entry and is scheduled anew if it may start a flow (a UDP packet always may:
//!   UDP flows move to a live server instead of sticking). Removing a real server (or its
//!   service) also starts a sweep, run with bounded work by [`Director::handle_timeout`], that
//!   deletes every entry still bound to a removed server (`expire_nodest_conn_work` in kernels
//!   since 5.9). Without it, packets of such flows are dropped without refreshing the entry,
//!   which expires after its timeout.
//!
//! # Connection synchronisation
//! [`DirectorConfig::sync`] makes the director a master, a backup or both (see
//! [`SyncRole`]). A master decides after every inbound packet whether the connection, and
//! then its template, is sent ([`SyncPolicy`](crate::sync::SyncPolicy), the kernel's
//! `sync_threshold`/`sync_period` rules; templates are offered on every packet of a
//! connection they control and when their expiry is postponed). Decided entries are queued
//! as handles in an outbox of [`SYNC_OUTBOX_LEN`] (when full, counted and dropped); an entry
//! is queued at most once, and its record is built when [`Director::poll_sync`] builds the
//! message, from the entry's state at that time. A backup installs records with
//! [`Director::apply_sync`].
//!
//! The entry's sync byte ([`ConnSlot::sync_byte`]) holds the kernel's `cp->old_state`
//! (connections) or a template's input-packet count (saturating at 127; so with
//! `sync_period` 0, a threshold of 127 or more never sends templates), a "queued" bit, and
//! for connections a "template assured" memo. There is no room for the kernel's
//! `sync_endtime`, so `sync_refresh_period` and `sync_retries` are not supported (a policy
//! with a refresh period is refused by [`Director::new`] and [`Director::try_set_config`]);
//! neither is emitting version 0 (received version-0 messages are applied). Each connection's
//! input-packet count is 16 bits and wraps.
//!
//! A backup binds a record to the service found by firewall mark, or by protocol, virtual
//! address and port (then a port-0 service), and to the real server with the record's
//! address; a record with no match is skipped and counted (the kernel keeps such a
//! connection unbound, with no real server, which an entry here cannot be). Timeouts come
//! from the backup's own configuration, not from the record. Synced connections are not
//! linked to their templates (as in the kernel), and take the forwarding method of the
//! backup's real server.
//!
//! # Choices where IPVS has none (documented deviations)
//! - A full table refuses the new flow ([`DropReason::TableFull`], counted) and never evicts an
//!   established entry; with `drop_entry` it evicts embryonic ones first (see above).
//! - SCTP is scheduled on any packet and tracked with one state (the kernel has a full SCTP state
//!   machine).
//! - A template's count of controlled connections is 16 bits, saturating.
//! - Connections whose real server has been removed keep using it (or are dropped/expired, per
//!   `expire_nodest_conn`) exactly as the kernel does; the pool slot is reused once no connection
//!   references it.

use crate::addr::{
    mask_addr, AddrFamily, Endpoint, FlowKey, IpAddr, Protocol, ServiceKey, TcpFlags,
};
use crate::conn::{
    ConnFlags as cf, ConnHandle, ConnKey, ConnSlot, ConnTable, InsertError, NewConn, TableError,
};
use crate::dest::{Dest, DestConfig, DestFlags, DestId, DestSet, FwdMethod, TunnelKind};
use crate::hash::SipKey;
use crate::sched::{SchedRequest, Scheduler};
use crate::service::{ServiceConfig, ServiceId};
use crate::state::{tcp_transition, TcpDir, TcpState, Timeouts};
use crate::stats::{Stats, ESTIMATOR_INTERVAL};
use crate::time::{Duration, Instant};
use core::fmt;

mod accounting;
mod config;
mod control;
mod defense;
mod established;
mod expiry;
#[cfg(feature = "ipvsadm")]
mod listing;
mod memory;
mod packet;
mod pass;
mod persistence;
mod replication;
mod schedule;
mod svc_index;

use accounting::Counter;
pub use config::DirectorConfig;
pub use defense::{Defense, EMBRYO_RING_LEN};
pub use established::LookupHint;
#[cfg(feature = "alloc")]
pub use memory::OwnedMemory;
pub use memory::{memory_bytes, DirectorFixed, DirectorMemory};
pub use pass::EstablishedPass;
use replication::SYNC_CTL_ASSURED;
pub use replication::{SyncCounters, SyncRole, SYNC_OUTBOX_LEN};

/// Packets [`Director::handle_packet_burst`] prepares together (longer bursts are taken in
/// groups of this size).
pub const BURST_MAX: usize = 32;
/// No slot (the table's end-of-chain mark).
const NIL: u32 = u32::MAX;

/// Template state bit `IP_VS_CTPL_S_ASSURED`: a connection it controlled was established.
const TPL_ASSURED: u8 = 1;

/// The FTP control port, which the kernel treats specially in persistence templates.
const FTP_PORT: u16 = 21;
/// Timeout of a template that outlived its own while still controlling connections.
const TEMPLATE_EXTENSION: Duration = Duration::from_secs(60);
/// The port an invalidated template is re-keyed to.
const INVALID_PORT: u16 = 0xffff;

/// A virtual service: configuration, scheduler, stats and its real servers' place in the list.
#[derive(Debug)]
pub struct Service<S> {
    /// Configuration.
    pub config: ServiceConfig,
    /// The scheduler.
    pub sched: S,
    /// Counters and rates.
    pub stats: Stats,
    order_start: u32,
    order_len: u32,
    next_tick: Instant,
}

/// What the director needs to know about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PacketMeta {
    /// The packet's 5-tuple as on the wire.
    pub flow: FlowKey,
    /// TCP flags (ignored for other protocols).
    pub tcp_flags: TcpFlags,
    /// IP length in bytes (counted in the byte statistics).
    pub len: u32,
    /// Firewall mark, 0 for none.
    pub fwmark: u32,
    /// A fragment other than the first: its ports are unknown.
    pub non_first_fragment: bool,
}

impl PacketMeta {
    /// Metadata of an unfragmented, unmarked packet.
    pub const fn new(flow: FlowKey, tcp_flags: TcpFlags, len: u32) -> Self {
        PacketMeta {
            flow,
            tcp_flags,
            len,
            fwmark: 0,
            non_first_fragment: false,
        }
    }
}

/// Send the packet to a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The connection, or `None` for one-packet scheduling.
    pub conn: Option<ConnHandle>,
    /// The real server.
    pub dest: DestId,
    /// Real server address and port to send to (NAT rewrites the destination to this).
    pub daddr: Endpoint,
    /// Virtual address and port the client used.
    pub vaddr: Endpoint,
    /// Forwarding method.
    pub method: FwdMethod,
    /// Tunnel encapsulation for [`FwdMethod::Tunnel`].
    pub tunnel: TunnelKind,
    /// This packet created the connection.
    pub new_conn: bool,
}

/// A NAT reply: rewrite the source to the virtual endpoint and send it to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The connection.
    pub conn: ConnHandle,
    /// Virtual address and port to put as the source.
    pub vaddr: Endpoint,
    /// The client.
    pub client: Endpoint,
}

/// Why a packet is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The connection table is full; the new flow was refused.
    TableFull,
    /// The scheduler found no available real server (the kernel also sends ICMP port
    /// unreachable).
    NoDestination,
    /// The connection's real server was removed and `expire_nodest_conn` is off.
    DestUnavailable,
    /// A non-first fragment without a connection.
    Fragment,
    /// Addresses of different families, or otherwise impossible input.
    Malformed,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::TableFull => "connection table full",
            DropReason::NoDestination => "no destination available",
            DropReason::DestUnavailable => "real server removed",
            DropReason::Fragment => "non-first fragment of an unknown flow",
            DropReason::Malformed => "malformed flow",
        })
    }
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Send to a real server.
    Forward(Forward),
    /// NAT reply to the client.
    Reply(Reply),
    /// Not for a virtual service (or a TCP segment that may not start one): hand it to the host.
    Deliver,
    /// Drop it.
    Drop(DropReason),
}

/// Why a configuration change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A service with that key exists.
    ServiceExists,
    /// No such service.
    NoSuchService,
    /// Every service slot is taken.
    ServicesFull,
    /// The real server is already in the service.
    DestExists,
    /// No such real server in the service.
    NoSuchDest,
    /// The real-server pool is full.
    DestsFull,
    /// Weight above 65535, lower threshold above upper, or a family mismatch.
    BadValue,
    /// The memory handed to the director is inconsistent.
    BadMemory,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::ServiceExists => "service already exists",
            ConfigError::NoSuchService => "no such service",
            ConfigError::ServicesFull => "no room for another service",
            ConfigError::DestExists => "real server already exists",
            ConfigError::NoSuchDest => "no such real server",
            ConfigError::DestsFull => "no room for another real server",
            ConfigError::BadValue => "invalid value",
            ConfigError::BadMemory => "inconsistent director memory",
        })
    }
}

impl core::error::Error for ConfigError {}

impl From<TableError> for ConfigError {
    fn from(_: TableError) -> Self {
        ConfigError::BadMemory
    }
}

/// Director-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DirectorCounters {
    /// New flows refused because the table was full.
    pub refused_full: u64,
    /// New flows with no real server available.
    pub no_destination: u64,
    /// Packets dropped for a removed real server.
    pub dest_unavailable: u64,
    /// Connections expired.
    pub expired: u64,
    /// Connections rescheduled by `conn_reuse_mode` or `expire_nodest_conn`.
    pub rescheduled: u64,
    /// TCP flows scheduled on a packet other than a SYN (`sloppy_tcp`,
    /// `sloppy_tcp_consistent`): flows this director took over mid-stream.
    pub sloppy_scheduled: u64,
    /// Embryonic connections evicted by `drop_entry` (also counted in `expired`).
    pub evicted: u64,
    /// Entries deleted by the sweep after a real server was removed with
    /// `expire_nodest_conn` (also counted in `expired`).
    pub nodest_flushed: u64,
    /// Connection synchronisation.
    pub sync: SyncCounters,
}

/// The director.
///
/// ```
/// use lvs_core::director::{Director, DirectorConfig, DirectorFixed, DirectorMemory, PacketMeta, Service, Verdict};
/// use lvs_core::conn::ConnSlot;
/// use lvs_core::stats::Stats;
/// use lvs_core::{Dest, DestConfig, DestId, DestSet, Endpoint, FlowKey, FwdMethod, Instant, Protocol,
///                SchedRequest, Scheduler, ServiceConfig, ServiceKey, TcpFlags};
/// use lvs_core::hash::SipKey;
///
/// struct First; // a trivial scheduler for the example
/// impl Scheduler for First {
///     fn name(&self) -> &'static str { "first" }
///     fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> {
///         d.iter().find(|(_, d)| d.weight > 0).map(|(id, _)| id)
///     }
/// }
///
/// // all memory comes from the caller: here, arrays on the stack
/// let mut conns = [ConnSlot::EMPTY; 64];
/// let mut services: [Option<Service<First>>; 2] = [None, None];
/// let blank = Dest::new(&DestConfig::new(Endpoint::v4([0; 4], 0), FwdMethod::Masq, 0));
/// let (mut dests, mut stats, mut order) = ([blank; 4], [Stats::default(); 4], [DestId(0); 4]);
/// let mut fixed = DirectorFixed::new(); // timer wheel, rings, service index: 47 KiB
/// let mem = DirectorMemory { conns: &mut conns, services: &mut services, dests: &mut dests,
///                            dest_stats: &mut stats, order: &mut order, fixed: &mut fixed };
/// let mut dir = Director::new(DirectorConfig::new(SipKey(1, 2)), mem, Instant::ZERO).unwrap();
/// let vip = Endpoint::v4([198, 18, 0, 1], 80);
/// let svc = dir.add_service(ServiceConfig::new(ServiceKey::Addr { proto: Protocol::Tcp, vip }), First).unwrap();
/// dir.add_dest(svc, DestConfig::new(Endpoint::v4([198, 18, 1, 1], 8080), FwdMethod::Masq, 1)).unwrap();
/// let flow = FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 7], 40001), vip);
/// match dir.handle_inbound(Instant::ZERO, &PacketMeta::new(flow, TcpFlags::SYN, 60)) {
///     Verdict::Forward(f) => assert_eq!(f.daddr, Endpoint::v4([198, 18, 1, 1], 8080)),
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct Director<'a, S: Scheduler> {
    cfg: DirectorConfig,
    table: ConnTable<'a>,
    services: &'a mut [Option<Service<S>>],
    dests: &'a mut [Dest],
    dest_stats: &'a mut [Stats],
    order: &'a mut [DestId],
    order_used: usize,
    total: Stats,
    counters: DirectorCounters,
    next_estimate: Instant,
    embryos: &'a mut defense::EmbryoRing,
    outbox: &'a mut replication::Outbox,
    // next slot of the sweep of removed real servers' entries
    sweep: Option<u32>,
    // the latest time a call carried
    last_now: Instant,
    // the last client key the reply check of `handle_packet` hashed, packed (see
    // `memo_key`), and its hash: packets toward one virtual service all check the same key
    reply_memo: (u64, u32),
    // the table's insert count + 1 when the reply check of `reply_memo`'s key last found no
    // entry with that client in its bucket (0: not known): until the next insert, packets
    // toward that key skip the reply walk (no entry can match without an insert)
    reply_none: u64,
    // the last service lookup: (fwmark, protocol, destination) and its answer; cleared
    // whenever a service is added, edited or removed
    svc_memo: Option<(u32, Protocol, Endpoint, Option<ServiceId>)>,
    // the generation of the current `EstablishedPass` (0: none yet): its hints carry it
    pass: u64,
    // service key -> slot, rebuilt whenever a service is added, edited or removed
    svc_index: &'a mut svc_index::SvcIndex,
}

impl<S: Scheduler> fmt::Debug for Director<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Director")
            .field("table", &self.table)
            .field("counters", &self.counters)
            .finish()
    }
}

/// Which service a real server belongs to and how it maps ports: what the packet path needs.
#[inline]
fn conn_dport(svc: Option<&ServiceConfig>, dest: &Dest, vport: u16) -> u16 {
    match svc {
        Some(c) if c.persistence.is_some() => {
            let sport = match c.key {
                ServiceKey::Addr { vip, .. } => vip.port,
                ServiceKey::Fwmark { .. } => 0,
            };
            if vport == sport && dest.addr.port != 0 {
                dest.addr.port
            } else {
                vport
            }
        }
        _ => {
            if dest.addr.port != 0 {
                dest.addr.port
            } else {
                vport
            }
        }
    }
}

/// The kernel's service lookup by a scan of every slot (`__ip_vs_service_find` over the
/// table, then `__ip_vs_svc_fwm_find`): a firewall-mark match wins at once, else the exact
/// address and port, else the address with port 0, each the first in slot order.
fn scan_service<S>(services: &[Option<Service<S>>], pkt: &PacketMeta) -> Option<ServiceId> {
    let flow = &pkt.flow;
    let af = flow.dst.family();
    let mut exact = None;
    let mut wildcard = None;
    for (i, s) in services.iter().enumerate() {
        let Some(s) = s else { continue };
        match s.config.key {
            ServiceKey::Fwmark { af: maf, mark } => {
                if pkt.fwmark != 0 && mark == pkt.fwmark && maf == af {
                    return Some(ServiceId(i as u16));
                }
            }
            ServiceKey::Addr { proto, vip } => {
                if proto == flow.proto && vip.addr == flow.dst.addr {
                    if vip.port == flow.dst.port {
                        exact = exact.or(Some(ServiceId(i as u16)));
                    } else if vip.port == 0 {
                        wildcard = wildcard.or(Some(ServiceId(i as u16)));
                    }
                }
            }
        }
    }
    exact.or(wildcard)
}

fn prefix_for(addr: &IpAddr, prefix_len: u8) -> u8 {
    match addr {
        IpAddr::V4(_) => prefix_len.min(32),
        IpAddr::V6(_) => prefix_len.min(128),
    }
}
