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
    flags as cf, ConnHandle, ConnKey, ConnSlot, ConnTable, InsertError, NewConn, TableError,
};
use crate::dest::{Dest, DestConfig, DestFlags, DestId, DestSet, FwdMethod, TunnelKind};
use crate::hash::SipKey;
use crate::sched::{SchedRequest, Scheduler};
use crate::service::{ServiceConfig, ServiceId};
use crate::state::{tcp_transition, TcpDir, TcpState, Timeouts};
use crate::stats::{Stats, ESTIMATOR_INTERVAL};
use crate::time::{Duration, Instant};
use core::fmt;

mod defense;
mod replication;
mod svc_index;

pub use defense::{Defense, EMBRYO_RING_LEN};
use replication::SYNC_CTL_ASSURED;
pub use replication::{SyncCounters, SyncRole, SYNC_OUTBOX_LEN};

/// Packets [`Director::handle_packet_burst`] prepares together (longer bursts are taken in
/// groups of this size).
pub const BURST_MAX: usize = 32;
/// Chain steps a burst walks ahead for its packets (the expected chain at full load is
/// about one entry long; longer chains finish on the packet's own lookup).
const PREFETCH_STEPS: usize = 3;
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

/// Tunables that the kernel exposes as sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectorConfig {
    /// Key of the connection-table hash. Choose it at random at start-up.
    pub hash_seed: SipKey,
    /// Per-state timeouts.
    pub timeouts: Timeouts,
    /// `secure_tcp`: the stricter TCP state table (replies must confirm a handshake), never,
    /// under table pressure, or always. See the module docs.
    pub secure_tcp: Defense,
    /// `drop_entry`: evict embryonic TCP entries to make room for new flows when fewer than
    /// `defense_threshold` + 1 slots are free. See the module docs.
    pub drop_entry: bool,
    /// Free table slots at or below which the table is under pressure (the kernel's
    /// `amemthresh`, counted in slots). 0: only a full table is.
    pub defense_threshold: u32,
    /// `sloppy_tcp`: schedule TCP on any packet, not only SYN.
    pub sloppy_tcp: bool,
    /// `expire_nodest_conn`: expire a connection whose real server was removed on its next
    /// packet (and reschedule it) instead of dropping its packets until it times out.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template`: a persistence template pointing to a weight-0 server is not
    /// used for new connections.
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode` (default 1): a SYN on a connection in TIME_WAIT or CLOSE reschedules it;
    /// bit 2 also for FIN_WAIT on DR/tunnel connections; 0 disables.
    pub conn_reuse_mode: u8,
    /// Most connection entries examined per [`Director::handle_timeout`] call (also the slots
    /// swept per call after a real server was removed with `expire_nodest_conn`).
    pub expire_budget: u32,
    /// Connection synchronisation role.
    pub sync: SyncRole,
    /// Largest sync message in bytes (`sync_maxlen`); 0 for the default, 1472 (a 1500-byte MTU
    /// less the IPv4 and UDP headers).
    pub sync_max_len: u16,
}

impl DirectorConfig {
    /// The kernel's defaults with the given hash seed.
    pub const fn new(hash_seed: SipKey) -> Self {
        DirectorConfig {
            hash_seed,
            timeouts: Timeouts::DEFAULT,
            secure_tcp: Defense::Off,
            drop_entry: false,
            defense_threshold: 0,
            sloppy_tcp: false,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: 1,
            expire_budget: 4096,
            sync: SyncRole::None,
            sync_max_len: 0,
        }
    }

    /// Checks what the director cannot do: a sync policy with a refresh period (it needs
    /// per-connection storage this table does not keep) or emitting version 0.
    ///
    /// # Errors
    /// [`ConfigError::BadValue`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = self.sync.policy() {
            if p.refresh_period() != Duration::ZERO || p.version() != crate::sync::SyncVersion::V1 {
                return Err(ConfigError::BadValue);
            }
        }
        if self.sync_max_len != 0 && usize::from(self.sync_max_len) < crate::sync::HEADER_LEN {
            return Err(ConfigError::BadValue);
        }
        Ok(())
    }
}

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

/// The memory a director works in, all provided by the caller.
///
/// `conns.len()` must be a power of two (the connection capacity); `order.len()` must equal
/// `dests.len()` and `dest_stats.len()` (the real-server capacity, at most 65535).
#[derive(Debug)]
pub struct DirectorMemory<'a, S> {
    /// Connection table storage.
    pub conns: &'a mut [ConnSlot],
    /// Service slots.
    pub services: &'a mut [Option<Service<S>>],
    /// Real-server pool.
    pub dests: &'a mut [Dest],
    /// Per-real-server stats.
    pub dest_stats: &'a mut [Stats],
    /// Scratch for every service's list order.
    pub order: &'a mut [DestId],
}

/// Owned director memory (needs the `alloc` feature).
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct OwnedMemory<S> {
    conns: alloc::vec::Vec<ConnSlot>,
    services: alloc::vec::Vec<Option<Service<S>>>,
    dests: alloc::vec::Vec<Dest>,
    dest_stats: alloc::vec::Vec<Stats>,
    order: alloc::vec::Vec<DestId>,
}

#[cfg(feature = "alloc")]
impl<S> OwnedMemory<S> {
    /// Memory for `conns` connections (rounded up to a power of two), `services` services and
    /// `dests` real servers.
    pub fn new(conns: usize, services: usize, dests: usize) -> Self {
        let dests = dests.min(u16::MAX as usize);
        let mut sv = alloc::vec::Vec::with_capacity(services);
        sv.resize_with(services, || None);
        OwnedMemory {
            conns: alloc::vec![ConnSlot::EMPTY; conns.next_power_of_two().max(2)],
            services: sv,
            dests: alloc::vec![Dest::new(&DestConfig::new(Endpoint::v4([0; 4], 0), FwdMethod::DirectRoute, 0)); dests],
            dest_stats: alloc::vec![Stats::default(); dests],
            order: alloc::vec![DestId(0); dests],
        }
    }

    /// Borrows the memory for a director.
    pub fn borrow(&mut self) -> DirectorMemory<'_, S> {
        DirectorMemory {
            conns: &mut self.conns,
            services: &mut self.services,
            dests: &mut self.dests,
            dest_stats: &mut self.dest_stats,
            order: &mut self.order,
        }
    }
}

/// What the director needs to know about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// use lvs_core::director::{Director, DirectorConfig, DirectorMemory, PacketMeta, Service, Verdict};
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
/// let mem = DirectorMemory { conns: &mut conns, services: &mut services, dests: &mut dests,
///                            dest_stats: &mut stats, order: &mut order };
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
    embryos: defense::EmbryoRing,
    outbox: replication::Outbox,
    // next slot of the sweep of removed real servers' entries
    sweep: Option<u32>,
    // the latest time a call carried
    last_now: Instant,
    // the last client key the reply check of `handle_packet` hashed, packed (see
    // `memo_key`), and its hash: packets toward one virtual service all check the same key
    reply_memo: (u64, u32),
    // the last service lookup: (fwmark, protocol, destination) and its answer; cleared
    // whenever a service is added, edited or removed
    svc_memo: Option<(u32, Protocol, Endpoint, Option<ServiceId>)>,
    // service key -> slot, rebuilt whenever a service is added, edited or removed
    svc_index: svc_index::SvcIndex,
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

impl<'a, S: Scheduler> Director<'a, S> {
    /// A director over `mem`, starting at `now`.
    ///
    /// # Errors
    /// [`ConfigError::BadMemory`] when the connection storage is not a power of two or the
    /// real-server slices differ in length; [`ConfigError::BadValue`] for a configuration
    /// [`DirectorConfig::validate`] refuses.
    pub fn new(
        cfg: DirectorConfig,
        mem: DirectorMemory<'a, S>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let n = mem.dests.len();
        if mem.dest_stats.len() != n || mem.order.len() != n || n > u16::MAX as usize {
            return Err(ConfigError::BadMemory);
        }
        let table = ConnTable::new(mem.conns, cfg.hash_seed, now)?;
        for s in mem.services.iter_mut() {
            *s = None;
        }
        for d in mem.dests.iter_mut() {
            d.flags = DestFlags(0);
        }
        Ok(Director {
            cfg,
            table,
            services: mem.services,
            dests: mem.dests,
            dest_stats: mem.dest_stats,
            order: mem.order,
            order_used: 0,
            total: Stats::new(now),
            counters: DirectorCounters::default(),
            next_estimate: now + ESTIMATOR_INTERVAL,
            embryos: defense::EmbryoRing::new(),
            outbox: replication::Outbox::new(),
            sweep: None,
            last_now: now,
            reply_memo: (0, 0),
            svc_memo: None,
            svc_index: svc_index::SvcIndex::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DirectorConfig {
        &self.cfg
    }

    /// Changes sysctl-style tunables (the hash seed is fixed at construction). What
    /// [`DirectorConfig::validate`] refuses is corrected: a sync policy's refresh period
    /// becomes 0 and its version 1, a too small `sync_max_len` the default. Use
    /// [`Director::try_set_config`] to be told instead.
    pub fn set_config(&mut self, mut cfg: DirectorConfig) {
        if cfg.validate().is_err() {
            let fix = |p: crate::sync::SyncPolicy| {
                p.with_refresh_period(Duration::ZERO)
                    .with_version(crate::sync::SyncVersion::V1)
            };
            cfg.sync = match cfg.sync {
                SyncRole::Master(p) => SyncRole::Master(fix(p)),
                SyncRole::Both(p) => SyncRole::Both(fix(p)),
                other => other,
            };
            if cfg.validate().is_err() {
                cfg.sync_max_len = 0;
            }
        }
        self.apply_config(cfg);
    }

    /// [`Director::set_config`] that refuses what it cannot do.
    ///
    /// # Errors
    /// [`ConfigError::BadValue`] for a configuration [`DirectorConfig::validate`] refuses; the
    /// configuration is then unchanged.
    pub fn try_set_config(&mut self, cfg: DirectorConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        self.apply_config(cfg);
        Ok(())
    }

    fn apply_config(&mut self, mut cfg: DirectorConfig) {
        cfg.hash_seed = self.cfg.hash_seed;
        if cfg.sync.policy().is_none() {
            self.clear_outbox();
        }
        self.cfg = cfg;
    }

    /// Director-wide counters.
    pub fn counters(&self) -> &DirectorCounters {
        &self.counters
    }

    /// Totals over all services (what `ipvsadm -L --stats` sums).
    pub fn total_stats(&self) -> &Stats {
        &self.total
    }

    /// The connection table (read-only).
    pub fn table(&self) -> &ConnTable<'a> {
        &self.table
    }

    // ----- configuration -------------------------------------------------------------------

    /// Finds a service by key.
    pub fn find_service(&self, key: &ServiceKey) -> Option<ServiceId> {
        self.services
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.config.key == *key))
            .map(|i| ServiceId(i as u16))
    }

    /// The service behind `id`.
    pub fn service(&self, id: ServiceId) -> Option<&Service<S>> {
        self.services.get(id.0 as usize).and_then(|s| s.as_ref())
    }

    /// Services in slot order.
    pub fn services(&self) -> impl Iterator<Item = (ServiceId, &Service<S>)> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (ServiceId(i as u16), s)))
    }

    /// A service's real servers in the kernel's list order.
    pub fn dests(&self, id: ServiceId) -> DestSet<'_> {
        match self.service(id) {
            Some(s) => {
                let a = s.order_start as usize;
                let b = a + s.order_len as usize;
                DestSet::new(self.dests, self.order.get(a..b).unwrap_or(&[]))
            }
            None => DestSet::new(self.dests, &[]),
        }
    }

    /// The real server behind `id` (also removed ones still referenced by connections).
    pub fn dest(&self, id: DestId) -> Option<&Dest> {
        self.dests
            .get(id.index())
            .filter(|d| d.flags.0 & DestFlags::IN_USE != 0)
    }

    /// A real server's stats.
    pub fn dest_stats(&self, id: DestId) -> Option<&Stats> {
        self.dest(id)?;
        self.dest_stats.get(id.index())
    }

    /// Finds a real server of a service by address.
    pub fn find_dest(&self, svc: ServiceId, addr: &Endpoint) -> Option<DestId> {
        self.dests(svc)
            .iter()
            .find(|(_, d)| d.addr == *addr)
            .map(|(id, _)| id)
    }

    /// Adds a service with its scheduler (`ipvsadm -A`).
    ///
    /// # Errors
    /// [`ConfigError::ServiceExists`], [`ConfigError::ServicesFull`].
    pub fn add_service(
        &mut self,
        config: ServiceConfig,
        mut sched: S,
    ) -> Result<ServiceId, ConfigError> {
        if self.find_service(&config.key).is_some() {
            return Err(ConfigError::ServiceExists);
        }
        // A removed service's slot stays reserved while its removed real servers still hold
        // connections (the kernel keeps the service object alive through their references), so
        // their traffic and timeouts are never attributed to a newcomer.
        let dests = &*self.dests;
        let referenced = |i: usize| {
            dests
                .iter()
                .any(|d| d.flags.0 & DestFlags::IN_USE != 0 && d.service as usize == i)
        };
        let idx = (0..self.services.len())
            .find(|&i| self.services[i].is_none() && !referenced(i))
            .ok_or(ConfigError::ServicesFull)?;
        // a new service's (empty) segment goes where its slot order says
        let start = self.services[..idx]
            .iter()
            .flatten()
            .map(|s| (s.order_start + s.order_len) as usize)
            .max()
            .unwrap_or(0);
        sched.init_service(&DestSet::new(self.dests, &[]));
        self.svc_memo = None;
        self.services[idx] = Some(Service {
            config,
            sched,
            stats: Stats::default(),
            order_start: start as u32,
            order_len: 0,
            next_tick: Instant::ZERO,
        });
        self.svc_index.rebuild(self.services);
        Ok(ServiceId(idx as u16))
    }

    /// Edits a service's configuration (`ipvsadm -E`); a new scheduler replaces the old one.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], or [`ConfigError::ServiceExists`] if the key changes to
    /// one in use.
    pub fn edit_service(
        &mut self,
        id: ServiceId,
        config: ServiceConfig,
        sched: Option<S>,
    ) -> Result<(), ConfigError> {
        if let Some(other) = self.find_service(&config.key) {
            if other != id {
                return Err(ConfigError::ServiceExists);
            }
        }
        let (a, b) = {
            let s = self.service(id).ok_or(ConfigError::NoSuchService)?;
            (
                s.order_start as usize,
                (s.order_start + s.order_len) as usize,
            )
        };
        let svc = self.services[id.0 as usize]
            .as_mut()
            .ok_or(ConfigError::NoSuchService)?;
        svc.config = config;
        if let Some(mut s) = sched {
            s.init_service(&DestSet::new(self.dests, &self.order[a..b]));
            svc.sched = s;
        }
        self.svc_memo = None;
        self.svc_index.rebuild(self.services);
        Ok(())
    }

    /// Removes a service and all its real servers (`ipvsadm -D`). Connections keep their real
    /// servers until they expire.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`].
    pub fn remove_service(&mut self, id: ServiceId) -> Result<(), ConfigError> {
        let (a, len) = {
            let s = self.service(id).ok_or(ConfigError::NoSuchService)?;
            (s.order_start as usize, s.order_len as usize)
        };
        for k in a..a + len {
            let d = self.order[k];
            self.unlink_dest(d);
        }
        self.order.copy_within(a + len..self.order_used, a);
        self.order_used -= len;
        for s in self.services.iter_mut().flatten() {
            if s.order_start as usize > a {
                s.order_start -= len as u32;
            }
        }
        self.services[id.0 as usize] = None;
        self.svc_memo = None;
        self.svc_index.rebuild(self.services);
        self.start_nodest_sweep();
        Ok(())
    }

    fn check_dest_config(&self, svc: ServiceId, cfg: &DestConfig) -> Result<(), ConfigError> {
        let s = self.service(svc).ok_or(ConfigError::NoSuchService)?;
        if cfg.weight > crate::dest::MAX_WEIGHT
            || (cfg.l_threshold > cfg.u_threshold && cfg.u_threshold != 0)
            || AddrFamily::of(&cfg.addr.addr) != s.config.key.family()
        {
            return Err(ConfigError::BadValue);
        }
        Ok(())
    }

    /// Adds a real server at the head of the service's list (`ipvsadm -a`). A server removed
    /// earlier but still referenced by connections is revived with its counters, as the kernel
    /// takes it back from its trash.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::DestExists`], [`ConfigError::DestsFull`],
    /// [`ConfigError::BadValue`].
    pub fn add_dest(&mut self, svc: ServiceId, cfg: DestConfig) -> Result<DestId, ConfigError> {
        self.check_dest_config(svc, &cfg)?;
        if self.find_dest(svc, &cfg.addr).is_some() {
            return Err(ConfigError::DestExists);
        }
        let trash = self.dests.iter().position(|d| {
            d.flags.0 & DestFlags::IN_USE != 0
                && !d.is_available()
                && d.service == svc.0
                && d.addr == cfg.addr
        });
        let idx = match trash {
            Some(i) => {
                self.dests[i].revive(&cfg);
                i
            }
            None => {
                let i = self
                    .dests
                    .iter()
                    .position(|d| d.flags.0 & DestFlags::IN_USE == 0)
                    .ok_or(ConfigError::DestsFull)?;
                let mut d = Dest::new(&cfg);
                d.service = svc.0;
                d.flags = DestFlags(DestFlags::AVAILABLE | DestFlags::IN_USE);
                self.dests[i] = d;
                self.dest_stats[i] = Stats::default();
                i
            }
        };
        let id = DestId(idx as u16);
        // insert at the head of the service's segment
        let start = self
            .service(svc)
            .map(|s| s.order_start as usize)
            .unwrap_or(0);
        if self.order_used >= self.order.len() {
            return Err(ConfigError::DestsFull);
        }
        self.order.copy_within(start..self.order_used, start + 1);
        self.order[start] = id;
        self.order_used += 1;
        for (i, s) in self.services.iter_mut().enumerate() {
            if let Some(s) = s {
                if i == svc.0 as usize {
                    s.order_len += 1;
                } else if s.order_start as usize >= start && (i > svc.0 as usize) {
                    s.order_start += 1;
                }
            }
        }
        self.with_sched(svc, |sched, set| sched.add_dest(set, id));
        Ok(id)
    }

    /// Edits a real server's weight, thresholds and method (`ipvsadm -e`).
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::NoSuchDest`], [`ConfigError::BadValue`].
    pub fn edit_dest(&mut self, svc: ServiceId, cfg: DestConfig) -> Result<DestId, ConfigError> {
        self.check_dest_config(svc, &cfg)?;
        let id = self
            .find_dest(svc, &cfg.addr)
            .ok_or(ConfigError::NoSuchDest)?;
        self.dests[id.index()].apply_config(&cfg);
        self.with_sched(svc, |sched, set| sched.upd_dest(set, id));
        Ok(id)
    }

    /// Removes a real server (`ipvsadm -d`). Its connections continue (or not) as
    /// `expire_nodest_conn` says.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::NoSuchDest`].
    pub fn remove_dest(&mut self, svc: ServiceId, addr: &Endpoint) -> Result<(), ConfigError> {
        let id = self.find_dest(svc, addr).ok_or(ConfigError::NoSuchDest)?;
        let (start, len) = {
            let s = self.service(svc).ok_or(ConfigError::NoSuchService)?;
            (s.order_start as usize, s.order_len as usize)
        };
        let pos = self.order[start..start + len]
            .iter()
            .position(|&d| d == id)
            .ok_or(ConfigError::NoSuchDest)?;
        self.order
            .copy_within(start + pos + 1..self.order_used, start + pos);
        self.order_used -= 1;
        for (i, s) in self.services.iter_mut().enumerate() {
            if let Some(s) = s {
                if i == svc.0 as usize {
                    s.order_len -= 1;
                } else if s.order_start as usize > start {
                    s.order_start -= 1;
                }
            }
        }
        self.unlink_dest(id);
        self.with_sched(svc, |sched, set| sched.del_dest(set, id, pos));
        self.start_nodest_sweep();
        Ok(())
    }

    fn unlink_dest(&mut self, id: DestId) {
        if let Some(d) = self.dests.get_mut(id.index()) {
            d.set_flag(DestFlags::AVAILABLE, false);
            if d.active == 0 && d.inactive == 0 && d.persistent == 0 {
                d.flags = DestFlags(0);
            }
        }
    }

    fn with_sched(&mut self, svc: ServiceId, f: impl FnOnce(&mut S, &DestSet<'_>)) {
        if let Some(Some(s)) = self.services.get_mut(svc.0 as usize) {
            let a = s.order_start as usize;
            let b = a + s.order_len as usize;
            let set = DestSet::new(self.dests, self.order.get(a..b).unwrap_or(&[]));
            f(&mut s.sched, &set);
        }
    }

    // ----- packet path ---------------------------------------------------------------------

    /// [`Director::lookup_service`], remembering the last answer: packets toward one virtual
    /// service find it without a scan of the service slots.
    #[inline]
    fn lookup_service_memo(&mut self, pkt: &PacketMeta) -> Option<ServiceId> {
        let key = (pkt.fwmark, pkt.flow.proto, pkt.flow.dst);
        if let Some((m, p, d, found)) = self.svc_memo {
            if (m, p, d) == key {
                return found;
            }
        }
        let found = self.lookup_service(pkt);
        self.svc_memo = Some((key.0, key.1, key.2, found));
        found
    }

    /// The service a new flow belongs to: a firewall-mark service matching the packet's mark,
    /// else the service on its destination address and port, else the one on its address with
    /// port 0. Found through the key index, or by a scan when there are too many services.
    fn lookup_service(&self, pkt: &PacketMeta) -> Option<ServiceId> {
        if self.svc_index.usable() {
            self.svc_index
                .lookup(self.services, pkt.fwmark, pkt.flow.proto, &pkt.flow.dst)
        } else {
            scan_service(self.services, pkt)
        }
    }

    fn timeout_of(
        cfg: &DirectorConfig,
        services: &[Option<Service<S>>],
        dests: &[Dest],
        e: &ConnSlot,
    ) -> Duration {
        if e.is_template() {
            if e.flags() & cf::EXTENDED != 0 {
                return TEMPLATE_EXTENSION;
            }
            let svc = dests
                .get(e.dest().index())
                .and_then(|d| services.get(d.service as usize))
                .and_then(|s| s.as_ref());
            match svc.and_then(|s| s.config.persistence) {
                Some(p) => p.timeout,
                None => TEMPLATE_EXTENSION,
            }
        } else {
            cfg.timeouts.of(e.proto(), e.state())
        }
    }

    fn svc_config_of(&self, dest: DestId) -> Option<&ServiceConfig> {
        let d = self.dests.get(dest.index())?;
        self.services
            .get(d.service as usize)?
            .as_ref()
            .map(|s| &s.config)
    }

    fn account_in(&mut self, dest: DestId, len: u32) {
        let len = len as u64;
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            st.counters.inpkts += 1;
            st.counters.inbytes += len;
        }
        let svc = self.dests.get(dest.index()).map(|d| d.service as usize);
        if let Some(Some(s)) = svc.and_then(|i| self.services.get_mut(i)) {
            s.stats.counters.inpkts += 1;
            s.stats.counters.inbytes += len;
        }
        self.total.counters.inpkts += 1;
        self.total.counters.inbytes += len;
    }

    fn account_out(&mut self, dest: DestId, len: u32) {
        let len = len as u64;
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            st.counters.outpkts += 1;
            st.counters.outbytes += len;
        }
        let svc = self.dests.get(dest.index()).map(|d| d.service as usize);
        if let Some(Some(s)) = svc.and_then(|i| self.services.get_mut(i)) {
            s.stats.counters.outpkts += 1;
            s.stats.counters.outbytes += len;
        }
        self.total.counters.outpkts += 1;
        self.total.counters.outbytes += len;
    }

    fn account_conn(&mut self, svc: ServiceId, dest: DestId) {
        if let Some(st) = self.dest_stats.get_mut(dest.index()) {
            st.counters.conns += 1;
        }
        if let Some(Some(s)) = self.services.get_mut(svc.0 as usize) {
            s.stats.counters.conns += 1;
        }
        self.total.counters.conns += 1;
    }

    fn notify_counts(&mut self, dest: DestId) {
        let Some(d) = self.dests.get(dest.index()) else {
            return;
        };
        if d.is_available() {
            self.with_sched(ServiceId(d.service), |s, set| s.counts_changed(set, dest));
        }
    }

    /// `ip_vs_bind_dest` for a new entry.
    fn bind(&mut self, dest: DestId, template: bool) {
        if let Some(d) = self.dests.get_mut(dest.index()) {
            if template {
                d.persistent += 1;
            } else {
                d.inactive += 1;
            }
            d.check_overload_on_bind();
        }
        self.notify_counts(dest);
    }

    /// `ip_vs_bind_dest` for a connection installed by sync: counted as the master had it.
    fn bind_conn(&mut self, dest: DestId, inactive: bool) {
        if let Some(d) = self.dests.get_mut(dest.index()) {
            if inactive {
                d.inactive += 1;
            } else {
                d.active += 1;
            }
            d.check_overload_on_bind();
        }
        self.notify_counts(dest);
    }

    /// `ip_vs_unbind_dest` for an entry going away.
    fn unbind(&mut self, dest: DestId, entry_flags: u8) {
        if let Some(d) = self.dests.get_mut(dest.index()) {
            if entry_flags & cf::TEMPLATE != 0 {
                d.persistent = d.persistent.saturating_sub(1);
            } else if entry_flags & cf::INACTIVE != 0 {
                d.inactive = d.inactive.saturating_sub(1);
            } else {
                d.active = d.active.saturating_sub(1);
            }
            d.check_overload_on_unbind();
            if !d.is_available() && d.active == 0 && d.inactive == 0 && d.persistent == 0 {
                d.flags = DestFlags(0);
            }
        }
        self.notify_counts(dest);
    }

    /// Applies a TCP state transition to an entry, keeping active/inactive counts as
    /// `set_tcp_state` does, and files the entry anew when the state changes.
    fn transition(&mut self, h: ConnHandle, dir: TcpDir, tcp_flags: TcpFlags, now: Instant) {
        let Some(e) = self.table.get(h).copied() else {
            return;
        };
        if e.proto() != Protocol::Tcp {
            return;
        }
        let mut dir = dir;
        let no_output = e.no_output();
        if no_output {
            if dir == TcpDir::Output {
                if let Some(mut m) = self.table.entry_mut(h) {
                    m.set_flags(cf::NOOUTPUT, false);
                }
            } else {
                dir = TcpDir::InputOnly;
            }
        }
        let cur = TcpState::from_u8(e.state()).unwrap_or(TcpState::Close);
        let new = tcp_transition(cur, dir, tcp_flags, self.secure_tcp_active());
        if new == cur {
            return;
        }
        let dest = e.dest();
        let inactive = e.flags() & cf::INACTIVE != 0;
        let mut counts = false;
        if let Some(d) = self.dests.get_mut(dest.index()) {
            if !inactive && new != TcpState::Established {
                d.active = d.active.saturating_sub(1);
                d.inactive += 1;
                counts = true;
            } else if inactive && new == TcpState::Established {
                d.active += 1;
                d.inactive = d.inactive.saturating_sub(1);
                counts = true;
            }
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_state(new as u8);
            if counts {
                m.set_flags(cf::INACTIVE, new != TcpState::Established);
            }
        }
        if counts {
            self.notify_counts(dest);
        }
        let to = self.cfg.timeouts.of(Protocol::Tcp, new as u8);
        self.table.refile(h, to, now);
        if new == TcpState::Established {
            self.assure_controller(h);
        } else if matches!(new, TcpState::SynRecv | TcpState::SynAck)
            && !matches!(cur, TcpState::SynRecv | TcpState::SynAck)
        {
            self.note_embryonic(h);
        }
    }

    /// Removes an entry for good (`ip_vs_conn_expire` when nothing holds it); returns the
    /// template that controlled it, if any.
    fn expire_entry(&mut self, h: ConnHandle) -> Option<ConnHandle> {
        let e = self.table.get(h)?;
        let (dest, fl, key) = (e.dest(), e.flags(), e.key());
        let ctl = if fl & cf::CONTROLLED != 0 {
            self.control_del(dest, &key)
        } else {
            None
        };
        self.table.remove(h);
        self.unbind(dest, fl);
        self.counters.expired += 1;
        ctl
    }

    /// Expires `h` now, unless it is a template still controlling connections, which lives on
    /// with a 60 s timeout (`expire_later`).
    fn expire_or_extend(&mut self, h: ConnHandle, now: Instant) {
        let Some(e) = self.table.get(h) else { return };
        if e.is_template() && e.counter() > 0 {
            if let Some(mut m) = self.table.entry_mut(h) {
                m.set_flags(cf::EXTENDED, true);
            }
            self.table.touch(h, now);
            self.table.refile(h, TEMPLATE_EXTENSION, now);
            self.sync_extended_template(h, now);
        } else {
            self.expire_entry(h);
        }
    }

    fn template_key(&self, cfg: &ServiceConfig, flow: &FlowKey) -> ConnKey {
        let p = cfg
            .persistence
            .unwrap_or(crate::service::Persistence::new(Duration::ZERO));
        let snet = mask_addr(&flow.src.addr, prefix_for(&flow.src.addr, p.prefix_len));
        match cfg.key {
            ServiceKey::Fwmark { mark, .. } => ConnKey::fwmark(snet, mark),
            ServiceKey::Addr { vip, .. } => {
                let vport = if flow.dst.port == vip.port && vip.port != FTP_PORT {
                    flow.dst.port
                } else {
                    0
                };
                ConnKey {
                    proto: flow.proto,
                    caddr: snet,
                    cport: 0,
                    vaddr: flow.dst.addr,
                    vport,
                }
            }
        }
    }

    /// Finds the template controlling a connection of `dest` with `key` (the kernel's
    /// `cp->control`), also after the template was invalidated.
    fn find_controller(&self, dest: DestId, key: &ConnKey) -> Option<ConnHandle> {
        let cfg = self.svc_config_of(dest).copied()?;
        let flow = FlowKey::new(
            key.proto,
            Endpoint::new(key.caddr, key.cport),
            Endpoint::new(key.vaddr, key.vport),
        );
        let tk = self.template_key(&cfg, &flow);
        self.table.find_template_by(tk.proto, &tk.caddr, |t| {
            t.dest() == dest
                && t.counter() > 0
                && t.vaddr().addr == tk.vaddr
                && (t.vaddr().port == tk.vport || t.vaddr().port == INVALID_PORT)
        })
    }

    /// Finds the template controlling a connection of `dest` and decrements its count;
    /// returns it.
    fn control_del(&mut self, dest: DestId, key: &ConnKey) -> Option<ConnHandle> {
        let t = self.find_controller(dest, key)?;
        if let Some(mut m) = self.table.entry_mut(t) {
            let c = m.get().counter();
            m.set_counter(c.saturating_sub(1));
        }
        Some(t)
    }

    /// Classifies a packet from a client toward a virtual address (`ip_vs_in`).
    pub fn handle_inbound(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        self.inbound_hashed(now, pkt, None)
    }

    /// [`Director::handle_inbound`] with the table hash of the packet's source, if known.
    #[inline]
    fn inbound_hashed(&mut self, now: Instant, pkt: &PacketMeta, hash: Option<u32>) -> Verdict {
        self.saw(now);
        let flow = &pkt.flow;
        if flow.src.family() != flow.dst.family() {
            return Verdict::Drop(DropReason::Malformed);
        }
        // the connection key's hash (non-first fragments are never looked up)
        let h = match hash {
            Some(h) => h,
            None if pkt.non_first_fragment => 0,
            None => self.table.hash(flow.proto, &flow.src.addr, flow.src.port),
        };
        let mut found = if pkt.non_first_fragment {
            None
        } else {
            match (flow.src.addr, flow.dst.addr) {
                (IpAddr::V4(c), IpAddr::V4(v)) => self.table.find_v4(
                    h,
                    flow.proto.number(),
                    c.octets(),
                    flow.src.port,
                    v.octets(),
                    flow.dst.port,
                ),
                _ => {
                    let key = ConnKey {
                        proto: flow.proto,
                        caddr: flow.src.addr,
                        cport: flow.src.port,
                        vaddr: flow.dst.addr,
                        vport: flow.dst.port,
                    };
                    self.table.find_hashed(h, &key, false)
                }
            }
        };
        if let Some(h) = found {
            // an entry past its deadline is gone, whether or not the wheel reached it yet
            let overdue = self.table.get(h).is_some_and(|e| {
                let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
                e.expires_in(now, to) == Duration::ZERO
            });
            if overdue {
                self.expire_or_extend(h, now);
                found = None;
            }
        }
        let is_syn = flow.proto == Protocol::Tcp && pkt.tcp_flags.syn();
        if let (Some(h), true) = (found, self.cfg.conn_reuse_mode != 0 && is_syn) {
            let e = self.table.get(h).copied();
            if let Some(e) = e {
                let dest_w0 = self
                    .dests
                    .get(e.dest().index())
                    .is_some_and(|d| d.weight == 0);
                let st = TcpState::from_u8(e.state());
                let expected = e.flags() & cf::CONTROLLED == 0
                    && (st == Some(TcpState::TimeWait)
                        || st == Some(TcpState::Close)
                        || (self.cfg.conn_reuse_mode & 2 != 0
                            && st == Some(TcpState::FinWait)
                            && e.no_output()));
                if (self.cfg.expire_nodest_conn && dest_w0) || expected {
                    self.expire_entry(h);
                    self.counters.rescheduled += 1;
                    found = None;
                }
            }
        }
        if let Some(h) = found {
            let dest = self.table.get(h).map(|e| e.dest()).unwrap_or(DestId(0));
            let available = self
                .dests
                .get(dest.index())
                .is_some_and(|d| d.is_available());
            if !available {
                if self.cfg.expire_nodest_conn {
                    self.expire_entry(h);
                    self.counters.rescheduled += 1;
                    found = None;
                } else {
                    self.counters.dest_unavailable += 1;
                    return Verdict::Drop(DropReason::DestUnavailable);
                }
            }
        }
        if let Some(h) = found {
            return self.forward_existing(h, pkt, now);
        }
        if pkt.non_first_fragment {
            return Verdict::Drop(DropReason::Fragment);
        }
        let Some(svc) = self.lookup_service_memo(pkt) else {
            return Verdict::Deliver;
        };
        if flow.proto == Protocol::Tcp
            && (pkt.tcp_flags.rst() || !(pkt.tcp_flags.syn() || self.cfg.sloppy_tcp))
        {
            return Verdict::Deliver;
        }
        self.schedule_new(svc, pkt, now, h)
    }

    fn forward_existing(&mut self, h: ConnHandle, pkt: &PacketMeta, now: Instant) -> Verdict {
        // Most packets leave the state as it is: then `transition` would only compute that,
        // so it runs only for those that change it.
        let secure = self.secure_tcp_active();
        let Some(e) = self.table.get(h) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let changes = e.proto() == Protocol::Tcp && {
            let dir = if e.no_output() {
                TcpDir::InputOnly
            } else {
                TcpDir::Input
            };
            let cur = TcpState::from_u8(e.state()).unwrap_or(TcpState::Close);
            tcp_transition(cur, dir, pkt.tcp_flags, secure) != cur
        };
        self.table.touch(h, now);
        if changes {
            self.transition(h, TcpDir::Input, pkt.tcp_flags, now);
        }
        let Some(mut m) = self.table.entry_mut(h) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let c = m.get().counter();
        m.set_counter(c.wrapping_add(1));
        let (dest, vaddr) = (m.get().dest(), m.get().vaddr());
        self.account_in(dest, pkt.len);
        if self.cfg.sync.policy().is_some() {
            self.sync_after_packet(h, now);
        }
        self.forward_verdict(Some(h), dest, vaddr, false)
    }

    fn forward_verdict(
        &self,
        conn: Option<ConnHandle>,
        dest: DestId,
        vaddr: Endpoint,
        new_conn: bool,
    ) -> Verdict {
        let Some(d) = self.dests.get(dest.index()) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let dport = conn_dport(self.svc_config_of(dest), d, vaddr.port);
        Verdict::Forward(Forward {
            conn,
            dest,
            daddr: Endpoint::new(d.addr.addr, dport),
            vaddr,
            method: d.fwd,
            tunnel: d.tunnel,
            new_conn,
        })
    }

    fn pick(&mut self, svc: ServiceId, flow: &FlowKey, now: Instant) -> Option<DestId> {
        let req = SchedRequest { flow: *flow, now };
        let mut out = None;
        self.with_sched(svc, |s, set| out = s.schedule(set, &req));
        out.filter(|d| self.dests.get(d.index()).is_some_and(|d| d.is_available()))
    }

    /// Schedules a new flow; `hash` is the table hash of its connection key.
    fn schedule_new(
        &mut self,
        svc: ServiceId,
        pkt: &PacketMeta,
        now: Instant,
        hash: u32,
    ) -> Verdict {
        let flow = pkt.flow;
        let Some(cfg) = self.service(svc).map(|s| s.config) else {
            return Verdict::Deliver;
        };
        let one_packet = cfg.one_packet && flow.proto == Protocol::Udp;
        let needed = usize::from(cfg.persistence.is_some()) + usize::from(!one_packet);
        if needed > 0 {
            self.make_room(needed);
        }
        let mut conn_flags = 0u8;
        let mut tmpl = None;
        let dest = if cfg.persistence.is_some() {
            let tk = self.template_key(&cfg, &flow);
            let mut dest = None;
            if let Some(t) = self.table.find(&tk, true) {
                // past its deadline: gone, or extended if it still controls connections
                let overdue = self.table.get(t).is_some_and(|e| {
                    let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
                    e.expires_in(now, to) == Duration::ZERO
                });
                if overdue {
                    self.expire_or_extend(t, now);
                }
            }
            if let Some(t) = self.table.find(&tk, true) {
                let td = self.table.get(t).map(|e| e.dest()).unwrap_or(DestId(0));
                let ok = self.dests.get(td.index()).is_some_and(|d| {
                    d.is_available() && !(self.cfg.expire_quiescent_template && d.weight == 0)
                });
                if ok {
                    self.table.touch(t, now);
                    dest = Some((td, t));
                } else {
                    // ip_vs_check_template: invalidate, do not restart its timer
                    self.table.set_vport(t, INVALID_PORT);
                }
            }
            let (d, t) = match dest {
                Some(x) => x,
                None => {
                    let Some(d) = self.pick(svc, &flow, now) else {
                        self.counters.no_destination += 1;
                        return Verdict::Drop(DropReason::NoDestination);
                    };
                    let timeout = cfg
                        .persistence
                        .map(|p| p.timeout)
                        .unwrap_or(TEMPLATE_EXTENSION);
                    let nc = NewConn {
                        key: tk,
                        dest: d,
                        state: 0,
                        flags: cf::TEMPLATE,
                    };
                    match self.table.insert_with_timeout(nc, now, timeout) {
                        Ok(t) => {
                            self.bind(d, true);
                            (d, t)
                        }
                        Err(e) => return self.refuse(e),
                    }
                }
            };
            if !one_packet {
                if let Some(mut m) = self.table.entry_mut(t) {
                    let c = m.get().counter();
                    m.set_counter(c.saturating_add(1));
                }
                conn_flags |= cf::CONTROLLED;
            }
            tmpl = Some(t);
            d
        } else {
            let port_ok = match cfg.key {
                ServiceKey::Addr { vip, .. } => vip.port == flow.dst.port,
                ServiceKey::Fwmark { .. } => true,
            };
            if !port_ok {
                self.counters.no_destination += 1;
                return Verdict::Drop(DropReason::NoDestination);
            }
            match self.pick(svc, &flow, now) {
                Some(d) => d,
                None => {
                    self.counters.no_destination += 1;
                    return Verdict::Drop(DropReason::NoDestination);
                }
            }
        };
        let fwd = self
            .dests
            .get(dest.index())
            .map(|d| d.fwd)
            .unwrap_or_default();
        if fwd != FwdMethod::Masq {
            conn_flags |= cf::NOOUTPUT;
        }
        if one_packet {
            // scheduled, counted, and gone: bind and unbind at once
            self.bind(dest, false);
            self.unbind(dest, cf::INACTIVE);
            self.account_conn(svc, dest);
            self.account_in(dest, pkt.len);
            // the sync walk skips the one-packet connection and counts it against its template
            if let Some(t) = tmpl {
                self.sync_template_packet(t, now);
            }
            return self.forward_verdict(None, dest, flow.dst, true);
        }
        let key = ConnKey {
            proto: flow.proto,
            caddr: flow.src.addr,
            cport: flow.src.port,
            vaddr: flow.dst.addr,
            vport: flow.dst.port,
        };
        // Filed at once with the timeout of the state its first packet gives it (as the
        // transition below will compute it, table pressure included), so that the transition
        // finds it already where it would file it.
        let initial = if flow.proto == Protocol::Tcp {
            let dir = if conn_flags & cf::NOOUTPUT != 0 {
                TcpDir::InputOnly
            } else {
                TcpDir::Input
            };
            let secure = match self.cfg.secure_tcp {
                Defense::Off => false,
                Defense::Always => true,
                // pressure as it will be with this entry in the table
                Defense::Auto => {
                    self.table.free_slots().saturating_sub(1) <= self.cfg.defense_threshold as usize
                }
            };
            let st = tcp_transition(TcpState::None, dir, pkt.tcp_flags, secure);
            self.cfg.timeouts.of(Protocol::Tcp, st as u8)
        } else {
            self.cfg.timeouts.of(flow.proto, 0)
        };
        let nc = NewConn {
            key,
            dest,
            state: 0,
            flags: conn_flags | cf::INACTIVE,
        };
        let h = match self.table.insert_hashed(hash, nc, now, initial) {
            Ok(h) => h,
            Err(e) => {
                if conn_flags & cf::CONTROLLED != 0 {
                    let cfgk = self.template_key(&cfg, &flow);
                    if let Some(t) = self.table.find(&cfgk, true) {
                        if let Some(mut m) = self.table.entry_mut(t) {
                            let c = m.get().counter();
                            m.set_counter(c.saturating_sub(1));
                        }
                    }
                }
                return self.refuse(e);
            }
        };
        self.bind(dest, false);
        self.account_conn(svc, dest);
        self.transition(h, TcpDir::Input, pkt.tcp_flags, now);
        if flow.proto != Protocol::Tcp {
            let to = self.cfg.timeouts.of(flow.proto, 0);
            self.table.refile(h, to, now);
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_counter(1);
        }
        self.account_in(dest, pkt.len);
        self.sync_after_packet(h, now);
        self.forward_verdict(Some(h), dest, flow.dst, true)
    }

    fn refuse(&mut self, e: InsertError) -> Verdict {
        match e {
            InsertError::Full => {
                self.counters.refused_full += 1;
                Verdict::Drop(DropReason::TableFull)
            }
            InsertError::MixedFamilies => Verdict::Drop(DropReason::Malformed),
        }
    }

    /// Classifies a packet from a real server (`ip_vs_out`): a NAT reply of a tracked
    /// connection becomes [`Verdict::Reply`]; anything else is [`Verdict::Deliver`].
    pub fn handle_outbound(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        self.saw(now);
        let Some(h) = self.find_reply_conn(&pkt.flow) else {
            return Verdict::Deliver;
        };
        self.outbound_conn(now, pkt, h)
    }

    /// [`Director::handle_outbound`] once the reply's connection `h` was found.
    fn outbound_conn(&mut self, now: Instant, pkt: &PacketMeta, h: ConnHandle) -> Verdict {
        let overdue = self.table.get(h).is_some_and(|e| {
            let to = Self::timeout_of(&self.cfg, self.services, self.dests, e);
            e.expires_in(now, to) == Duration::ZERO
        });
        if overdue {
            self.expire_or_extend(h, now);
            return Verdict::Deliver;
        }
        self.table.touch(h, now);
        self.transition(h, TcpDir::Output, pkt.tcp_flags, now);
        let Some(e) = self.table.get(h).copied() else {
            return Verdict::Deliver;
        };
        if e.proto() == Protocol::Udp {
            // a reply on a controlled UDP flow assures its template
            self.assure_controller(h);
        }
        self.account_out(e.dest(), pkt.len);
        Verdict::Reply(Reply {
            conn: h,
            vaddr: e.vaddr(),
            client: e.client(),
        })
    }

    fn find_reply_conn(&self, flow: &FlowKey) -> Option<ConnHandle> {
        let hash = self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port);
        self.find_reply_conn_hashed(flow, hash)
    }

    /// The packed key of the reply-check memo: IPv4 clients only (bit 63 marks it valid).
    #[inline]
    fn memo_key(proto: Protocol, ep: &Endpoint) -> Option<u64> {
        match ep.addr {
            IpAddr::V4(a) => Some(
                1 << 63
                    | u64::from(proto.number()) << 48
                    | u64::from(ep.port) << 32
                    | u64::from(a.to_bits()),
            ),
            IpAddr::V6(_) => None,
        }
    }

    /// The table hash of the reply check for `flow` (its destination taken as a client),
    /// remembered for the next packet: a burst toward one virtual service hashes it once.
    #[inline]
    fn reply_hash(&mut self, flow: &FlowKey) -> u32 {
        match Self::memo_key(flow.proto, &flow.dst) {
            Some(k) if self.reply_memo.0 == k => self.reply_memo.1,
            Some(k) => {
                let h = self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port);
                self.reply_memo = (k, h);
                h
            }
            None => self.table.hash(flow.proto, &flow.dst.addr, flow.dst.port),
        }
    }

    fn find_reply_conn_hashed(&self, flow: &FlowKey, hash: u32) -> Option<ConnHandle> {
        let services = &*self.services;
        let dests = &*self.dests;
        self.table
            .find_reply_hashed(hash, flow.proto, &flow.dst, |e| {
                let Some(d) = dests.get(e.dest().index()) else {
                    return false;
                };
                if d.addr.addr != flow.src.addr {
                    return false;
                }
                let cfg = services
                    .get(d.service as usize)
                    .and_then(|s| s.as_ref())
                    .map(|s| &s.config);
                conn_dport(cfg, d, e.vaddr().port) == flow.src.port
            })
    }

    /// Classifies a packet either way: a reply of a tracked connection, else an inbound packet.
    pub fn handle_packet(&mut self, now: Instant, pkt: &PacketMeta) -> Verdict {
        let rh = self.reply_hash(&pkt.flow);
        self.packet_hashed(now, pkt, rh, None)
    }

    /// [`Director::handle_packet`] with the reply-check hash `rh` and, if known, the inbound
    /// lookup hash `ih`.
    #[inline]
    fn packet_hashed(
        &mut self,
        now: Instant,
        pkt: &PacketMeta,
        rh: u32,
        ih: Option<u32>,
    ) -> Verdict {
        match self.find_reply_conn_hashed(&pkt.flow, rh) {
            Some(h) => {
                self.saw(now);
                self.outbound_conn(now, pkt, h)
            }
            None => self.inbound_hashed(now, pkt, ih),
        }
    }

    /// Classifies a burst of packets: `verdicts[i]` is what [`Director::handle_packet`] would
    /// return for `pkts[i]`, with the same effects, in order. Processes
    /// `min(pkts.len(), verdicts.len())` packets and returns that number.
    ///
    /// Faster than one call per packet when the table is much larger than the CPU caches:
    /// each group of up to [`BURST_MAX`] packets is first hashed, then the bucket slots of all
    /// of them are read, then their chains a step at a time for the whole group (up to the
    /// entry each lookup will find), so that the memory accesses of the group overlap instead
    /// of following one another; then each packet is handled in order, on lines already in the
    /// cache. The walks ahead only read: every packet's own handling looks up the table as
    /// [`Director::handle_packet`] does, so packets earlier in the burst that add or remove
    /// connections are seen by later ones exactly as one call per packet would see them.
    pub fn handle_packet_burst(
        &mut self,
        now: Instant,
        pkts: &[PacketMeta],
        verdicts: &mut [Verdict],
    ) -> usize {
        let n = pkts.len().min(verdicts.len());
        for (pk, vs) in pkts[..n]
            .chunks(BURST_MAX)
            .zip(verdicts[..n].chunks_mut(BURST_MAX))
        {
            let mut rh = [0u32; BURST_MAX];
            let mut ih = [0u32; BURST_MAX];
            for (i, p) in pk.iter().enumerate() {
                rh[i] = self.reply_hash(&p.flow);
                ih[i] = self
                    .table
                    .hash(p.flow.proto, &p.flow.src.addr, p.flow.src.port);
            }
            // Walk every chain the group needs in lockstep: each step's loads are independent
            // of one another, so their cache misses overlap. Cursors at even places follow the
            // inbound lookups and stop at the entry that matches; odd places follow the reply
            // checks, once per distinct bucket.
            let mut cur = [NIL; 2 * BURST_MAX];
            for i in 0..pk.len() {
                cur[2 * i] = self.table.home_step(ih[i], &pk[i].flow);
                if i == 0 || rh[i] != rh[i - 1] {
                    cur[2 * i + 1] = self.table.bucket_head(rh[i]);
                }
            }
            for _ in 0..PREFETCH_STEPS {
                let mut pending = false;
                for (j, c) in cur[..2 * pk.len()].iter_mut().enumerate() {
                    if *c == NIL {
                        continue;
                    }
                    let flow = &pk[j / 2].flow;
                    let stop = j % 2 == 0 && self.table.matches_flow(*c, flow);
                    *c = if stop { NIL } else { self.table.chain_of(*c) };
                    pending |= *c != NIL;
                }
                if !pending {
                    break;
                }
            }
            for (i, (p, v)) in pk.iter().zip(vs.iter_mut()).enumerate() {
                *v = self.packet_hashed(now, p, rh[i], Some(ih[i]));
            }
        }
        n
    }

    /// Finds the connection an ICMP error refers to by the packet it quotes (`ip_vs_in_icmp`,
    /// `ip_vs_out_icmp`): a quote of a packet the director sent toward a client (VIP to client)
    /// gives [`Verdict::Forward`] toward that connection's real server; a quote of a packet sent
    /// to a real server (client to RIP) gives [`Verdict::Reply`]. Counted like the flow's packets.
    pub fn handle_icmp_error(&mut self, now: Instant, quoted: &FlowKey, len: u32) -> Verdict {
        self.saw(now);
        let key = ConnKey {
            proto: quoted.proto,
            caddr: quoted.dst.addr,
            cport: quoted.dst.port,
            vaddr: quoted.src.addr,
            vport: quoted.src.port,
        };
        if let Some(h) = self.table.find(&key, false) {
            let Some(e) = self.table.get(h).copied() else {
                return Verdict::Deliver;
            };
            self.table.touch(h, now);
            self.account_in(e.dest(), len);
            return self.forward_verdict(Some(h), e.dest(), e.vaddr(), false);
        }
        let reply = quoted.reversed();
        if let Some(h) = self.find_reply_conn(&reply) {
            let Some(e) = self.table.get(h).copied() else {
                return Verdict::Deliver;
            };
            self.table.touch(h, now);
            self.account_out(e.dest(), len);
            return Verdict::Reply(Reply {
                conn: h,
                vaddr: e.vaddr(),
                client: e.client(),
            });
        }
        Verdict::Deliver
    }

    // ----- time ----------------------------------------------------------------------------

    /// When [`Director::handle_timeout`] next has work: the earliest connection deadline, rate
    /// sample or scheduler tick, at once while a sweep after a real server's removal is under
    /// way, and, for a sync master, when [`Director::poll_sync`] has a message (drain it then).
    /// Call it again after every `handle_*` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = Some(self.next_estimate);
        if let Some(c) = self.table.poll_timeout() {
            t = t.map(|x| x.min(c));
        }
        if self.sweep.is_some() {
            t = t.map(|x| x.min(self.last_now));
        }
        if let Some(c) = self.sync_poll_at() {
            t = t.map(|x| x.min(c));
        }
        for s in self.services.iter().flatten() {
            t = t.map(|x| x.min(s.next_tick));
        }
        t
    }

    /// Does the time-driven work due at `now`: expires connections (at most
    /// [`DirectorConfig::expire_budget`] entries examined), advances the sweep of removed real
    /// servers' entries, samples rates every 2 s, and runs schedulers' periodic work. Returns
    /// the number of entries removed or extended.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        self.saw(now);
        let mut budget = self.cfg.expire_budget;
        let mut n = 0;
        if self.sweep.is_some() {
            let k = self.sweep_nodest(self.cfg.expire_budget);
            self.counters.nodest_flushed += k as u64;
            n += k;
        }
        loop {
            let cfg = &self.cfg;
            let services = &*self.services;
            let dests = &*self.dests;
            let next = self.table.next_expired(now, &mut budget, |e| {
                Self::timeout_of(cfg, services, dests, e)
            });
            let Some(h) = next else { break };
            self.expire_or_extend(h, now);
            n += 1;
        }
        // one estimator tick for everything, like the kernel's estimation timer; after a long
        // gap the averages have decayed anyway, so at most 8 samples are taken
        let mut samples = 0;
        while self.next_estimate <= now {
            if samples < 8 {
                self.total.sample();
                for s in self.services.iter_mut().flatten() {
                    s.stats.sample();
                }
                for (d, st) in self.dests.iter().zip(self.dest_stats.iter_mut()) {
                    if d.flags.0 & DestFlags::IN_USE != 0 {
                        st.sample();
                    }
                }
            }
            samples += 1;
            self.next_estimate += ESTIMATOR_INTERVAL;
            if samples >= 8 && self.next_estimate <= now {
                let behind = (now - self.next_estimate).total_millis()
                    / ESTIMATOR_INTERVAL.total_millis()
                    + 1;
                self.next_estimate +=
                    Duration::from_millis(behind * ESTIMATOR_INTERVAL.total_millis());
            }
        }
        for i in 0..self.services.len() {
            let due = matches!(&self.services[i], Some(s) if s.next_tick <= now);
            if due {
                if let Some(s) = self.services[i].as_mut() {
                    s.next_tick = now + Duration::from_millis(s.sched.tick_interval_ms());
                }
                self.with_sched(ServiceId(i as u16), |s, set| s.tick(set, now));
            }
        }
        n
    }

    /// Expires every connection bound to `dest` now, in one full scan, for configuration paths.
    /// (Removing a real server with `expire_nodest_conn` starts a sweep with bounded work per
    /// [`Director::handle_timeout`] instead.)
    pub fn flush_dest(&mut self, dest: DestId, now: Instant) -> usize {
        let mut n = 0;
        let cap = self.table.capacity();
        for i in 0..cap {
            let h = ConnHandle(i as u32);
            if self
                .table
                .get(h)
                .is_some_and(|e| e.dest() == dest && !e.is_template())
            {
                self.expire_or_extend(h, now);
                n += 1;
            }
        }
        n
    }

    /// Deletes one connection now, whatever its timer says (`ip_vs_conn_del`, as `conntrack -D`
    /// would for netfilter): its real server's counters are released, and its template goes
    /// too when nothing else uses it and it never saw an established connection. A template
    /// still controlling connections is kept. Returns whether `h` was live and is gone.
    pub fn drop_conn(&mut self, h: ConnHandle) -> bool {
        if self.table.get(h).is_none() {
            return false;
        }
        self.delete_entry(h, false);
        self.table.get(h).is_none()
    }

    /// Zeroes all counters (`ipvsadm -Z`).
    pub fn zero_stats(&mut self, now: Instant) {
        self.total.zero(now);
        for s in self.services.iter_mut().flatten() {
            s.stats.zero(now);
        }
        for st in self.dest_stats.iter_mut() {
            st.zero(now);
        }
    }

    /// Timeout that applies to an entry now (for listings such as `ipvsadm -c`).
    pub fn entry_timeout(&self, e: &ConnSlot) -> Duration {
        Self::timeout_of(&self.cfg, self.services, self.dests, e)
    }

    /// The real server address and port a connection is sent to.
    pub fn entry_daddr(&self, e: &ConnSlot) -> Option<Endpoint> {
        let d = self.dests.get(e.dest().index())?;
        Some(Endpoint::new(
            d.addr.addr,
            conn_dport(self.svc_config_of(e.dest()), d, e.vaddr().port),
        ))
    }
}

// ----- listings ----------------------------------------------------------------------------

impl<S: Scheduler> Director<'_, S> {
    /// Writes `ipvsadm -L -n` (with `--stats`, `--rate`, ... per `mode`) for every service, in
    /// slot order, real servers in list order.
    pub fn write_list<W: fmt::Write + ?Sized>(
        &self,
        w: &mut W,
        mode: crate::ipvsadm::ListMode,
    ) -> fmt::Result {
        use crate::ipvsadm::{write_list, DestRow, ListHeader, ServiceRow};
        let header = ListHeader::new(self.table.capacity() as u32);
        let rows = self.services().map(|(id, s)| {
            let set = self.dests(id);
            let stats = &*self.dest_stats;
            let dests = set.iter().map(move |(did, d)| {
                let mut r = DestRow::from_dest(d);
                if let Some(st) = stats.get(did.index()) {
                    r.counters = st.counters;
                    r.rates = st.rates();
                }
                r
            });
            let mut row = ServiceRow::new(&s.config, s.sched.name(), dests);
            row.flags = s.sched.sched_flags();
            row.counters = s.stats.counters;
            row.rates = s.stats.rates();
            row
        });
        write_list(w, &header, rows, mode)
    }

    /// Writes `ipvsadm -L -n -c`: every connection and template with its time left.
    pub fn write_conns<W: fmt::Write + ?Sized>(&self, w: &mut W, now: Instant) -> fmt::Result {
        use crate::ipvsadm::{write_conns, ConnRow};
        let rows = self.table.iter().map(|(_, e)| {
            let state = match e.proto() {
                // templates have their own states (`ip_vs_ctpl_state_name_table`)
                _ if e.is_template() && e.state() & TPL_ASSURED != 0 => "ASSURED",
                _ if e.is_template() => "NONE",
                Protocol::Tcp => TcpState::from_u8(e.state()).map_or("ERR!", |s| s.name()),
                Protocol::Udp => "UDP",
                _ => "NONE",
            };
            // a fwmark template stores the mark where the address goes, as the kernel does
            let virt = e.vaddr();
            ConnRow {
                proto: e.proto(),
                expire: e.expires_in(now, self.entry_timeout(e)),
                state,
                client: e.client(),
                virt,
                dest: self.entry_daddr(e).unwrap_or(virt),
            }
        });
        write_conns(w, rows)
    }
}
