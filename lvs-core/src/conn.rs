//! The connection table: fixed capacity, keyed hashing, lookups in both directions, and
//! expiry with bounded work per call.
//!
//! # Layout
//! Storage is a caller-provided slice of [`ConnSlot`]s whose length (a power of two) is the
//! capacity; nothing is allocated after construction. Each slot is 64 bytes and holds one
//! connection *and* the head of one hash bucket, so the table costs exactly 64 bytes per
//! connection of capacity (see `slot_is_64_bytes`).
//!
//! Both directions hash the same key, as the kernel does: protocol, client address and client
//! port, keyed with SipHash-1-3 and a 128-bit seed from the embedder (HashDoS resistance).
//! A client-to-VIP packet and a real-server-to-client reply therefore land in the same chain.
//!
//! A new entry goes into its bucket's own slot when that slot is free, else into a free slot
//! of the same 256-byte group, else into the most recently freed slot: a lookup often finds
//! its entry on the cache line it reads for the bucket's head, or on one next to it. Slots are
//! 64-byte aligned, one line each. The free list is doubly linked (through the free slots'
//! `chain` and `tprev`) so that any free slot can be taken.
//!
//! # Expiry
//! Timeouts are lazy: a packet only records when it was seen (`touched`); an entry is filed on a
//! timer wheel (8192 slots of 128 ms, a 1048 s span) at its expiry when its state changes. When
//! the wheel reaches an entry, it is expired if its real deadline (last touch + the state's
//! timeout) has passed, or filed again at that deadline. So the per-packet path does no list
//! work, lookups treat an overdue entry as gone, and `next_expired` does bounded work.

use crate::addr::{Endpoint, FlowKey, IpAddr, Ipv4Addr, Ipv6Addr, Protocol};
use crate::dest::DestId;
use crate::hash::{siphash, SipKey};
use crate::time::{Duration, Instant};
use core::fmt;

mod table;
pub(crate) use table::V4Key;
#[cfg(test)]
mod tests;
mod wheel;
pub use wheel::TimerWheel;

const NIL: u32 = u32::MAX;
// `tprev` of the head of the list being processed by `next_expired`
const PROC_TAG: u32 = u32::MAX - 1;
// `tprev` of a wheel slot's head: the tag plus the slot number
const HEAD_TAG: u32 = 0x8000_0000;

/// Milliseconds per timer-wheel tick.
pub const WHEEL_TICK_MS: u64 = 128;
/// Number of timer-wheel slots.
pub const WHEEL_SLOTS: usize = 8192;
const WHEEL_WORDS: usize = WHEEL_SLOTS / 64;

bitflags::bitflags! {
    /// Connection flag bits, one byte of each [`ConnSlot`] (a [`bitflags`] type).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct ConnFlags: u8 {
        /// Slot holds a connection.
        const IN_USE = 0x01;
        /// IPv6 addresses.
        const IPV6 = 0x02;
        /// Persistence template (`IP_VS_CONN_F_TEMPLATE`).
        const TEMPLATE = 0x04;
        /// Counted in the real server's inactive connections (`IP_VS_CONN_F_INACTIVE`).
        const INACTIVE = 0x08;
        /// Replies bypass the director (DR/tunnel; `IP_VS_CONN_F_NOOUTPUT`).
        const NOOUTPUT = 0x10;
        /// Created under a persistence template (the kernel's `cp->control`).
        const CONTROLLED = 0x20;
        /// A template whose timeout became 60 s because it outlived its timeout while still
        /// controlling connections.
        const EXTENDED = 0x40;
        /// Installed by connection synchronisation from a master (`IP_VS_CONN_F_SYNC`).
        const SYNCED = 0x80;
    }
}

/// A connection's handle: its slot index. Valid until the connection is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub u32);

/// One slot of table storage: a connection entry plus one hash-bucket head (64 bytes).
///
/// Make storage with [`ConnSlot::EMPTY`]:
/// ```
/// use lvs_core::conn::ConnSlot;
/// let storage = [ConnSlot::EMPTY; 1024];
/// assert_eq!(core::mem::size_of_val(&storage), 1024 * 64);
/// ```
///
/// Slots are aligned to 64 bytes, so each is exactly one cache line on the common 64-byte-line
/// machines: a lookup touches one line per chain step, never two.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
pub struct ConnSlot {
    caddr: [u8; 16],
    // the virtual address, or for fwmark templates the mark in the first 4 bytes
    vaddr: [u8; 16],
    cport: u16,
    vport: u16,
    dest: u16,
    proto: u8,
    state: u8,
    flags: ConnFlags,
    // connection synchronisation byte (see `ConnSlot::sync_byte`)
    sync: u8,
    // packets from the client (sync threshold); n_control for templates
    counter: u16,
    // last activity, in milliseconds modulo 2^32
    touched: u32,
    chain: u32,
    tprev: u32,
    tnext: u32,
    // head of hash bucket number `index of this slot`
    head: u32,
}

impl ConnSlot {
    /// An unused slot.
    pub const EMPTY: ConnSlot = ConnSlot {
        caddr: [0; 16],
        vaddr: [0; 16],
        cport: 0,
        vport: 0,
        dest: 0,
        proto: 0,
        state: 0,
        flags: ConnFlags::empty(),
        sync: 0,
        counter: 0,
        touched: 0,
        chain: NIL,
        tprev: NIL,
        tnext: NIL,
        head: NIL,
    };

    #[inline]
    fn in_use(&self) -> bool {
        self.flags.contains(ConnFlags::IN_USE)
    }
}

impl fmt::Debug for ConnSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.in_use() {
            return f.write_str("ConnSlot(free)");
        }
        f.debug_struct("Conn")
            .field("proto", &self.proto)
            .field("client", &self.client())
            .field("vaddr", &self.vaddr())
            .field("dest", &self.dest)
            .field("state", &self.state)
            .field("flags", &self.flags)
            .finish()
    }
}

fn addr_bytes(a: &IpAddr) -> ([u8; 16], bool) {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, false)
        }
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

fn bytes_addr(b: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// `siphash::<1, 3>(key, &[proto, port (big-endian), addr])`, truncated to 32 bits: the
/// 7-byte message and its length fit in the one final block, so this is that block's
/// compression round and the three finalisation rounds, without the byte loop.
#[inline]
fn siphash13_v4(key: SipKey, proto: u8, addr: [u8; 4], port: u16) -> u32 {
    let p = port.to_be_bytes();
    let m = u64::from_le_bytes([proto, p[0], p[1], addr[0], addr[1], addr[2], addr[3], 7]);
    crate::hash::siphash13_block(key, m) as u32
}

/// What identifies a connection or template, and what it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// Protocol; `Unknown(0)` (IPPROTO_IP) for fwmark templates.
    pub proto: Protocol,
    /// Client address (masked, for templates).
    pub caddr: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual address, or the firewall mark for fwmark templates (see [`ConnKey::fwmark`]).
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
}

impl ConnKey {
    /// The key of the connection `flow` (client to virtual service) belongs to.
    pub const fn of_flow(flow: &FlowKey) -> Self {
        ConnKey {
            proto: flow.proto,
            caddr: flow.src.addr,
            cport: flow.src.port,
            vaddr: flow.dst.addr,
            vport: flow.dst.port,
        }
    }

    /// The key of a fwmark template: `<IPPROTO_IP, snet, 0, mark, 0>`.
    pub fn fwmark(snet: IpAddr, mark: u32) -> Self {
        let v = match snet {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from_bits(mark)),
            IpAddr::V6(_) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&mark.to_be_bytes());
                IpAddr::V6(Ipv6Addr::from(b))
            }
        };
        ConnKey {
            proto: Protocol::Unknown(0),
            caddr: snet,
            cport: 0,
            vaddr: v,
            vport: 0,
        }
    }
}

/// A read-only view of one live connection.
impl ConnSlot {
    /// Protocol.
    pub fn proto(&self) -> Protocol {
        Protocol::from(self.proto)
    }
    /// Client endpoint (for a template: the masked client network and port 0).
    pub fn client(&self) -> Endpoint {
        Endpoint::new(
            bytes_addr(&self.caddr, self.flags.contains(ConnFlags::IPV6)),
            self.cport,
        )
    }
    /// Virtual endpoint the client addressed.
    pub fn vaddr(&self) -> Endpoint {
        Endpoint::new(
            bytes_addr(&self.vaddr, self.flags.contains(ConnFlags::IPV6)),
            self.vport,
        )
    }
    /// The real server.
    pub fn dest(&self) -> DestId {
        DestId(self.dest)
    }
    /// Protocol state number ([`crate::state::TcpState`] for TCP; 0 otherwise).
    pub fn state(&self) -> u8 {
        self.state
    }
    /// Flag bits.
    pub fn flags(&self) -> ConnFlags {
        self.flags
    }
    /// Whether this is a persistence template.
    pub fn is_template(&self) -> bool {
        self.flags.contains(ConnFlags::TEMPLATE)
    }
    /// Whether this is a template still controlling connections (it outlives its timer).
    pub(crate) fn controls_connections(&self) -> bool {
        self.is_template() && self.counter > 0
    }
    /// Whether replies bypass the director.
    pub fn no_output(&self) -> bool {
        self.flags.contains(ConnFlags::NOOUTPUT)
    }
    /// Packets from the client so far, modulo 2^16 (templates: connections they control).
    pub fn counter(&self) -> u16 {
        self.counter
    }
    /// The director's connection-synchronisation byte, 0 for a new entry. The director keeps
    /// the kernel's `cp->old_state` here for connections, and a template's own (saturating)
    /// input-packet count, plus a "queued for sync" bit; see `director` for the layout. There
    /// is no room for the kernel's per-connection `sync_endtime`, which is why the director does
    /// not offer the `sync_refresh_period` mode.
    pub fn sync_byte(&self) -> u8 {
        self.sync
    }
    /// The last activity, in milliseconds modulo 2^32.
    pub fn touched_ms(&self) -> u32 {
        self.touched
    }
    /// The key this entry is hashed under.
    pub fn key(&self) -> ConnKey {
        ConnKey {
            proto: self.proto(),
            caddr: self.client().addr,
            cport: self.cport,
            vaddr: self.vaddr().addr,
            vport: self.vport,
        }
    }
    /// Time until expiry at `now` given the entry's `timeout` (zero if overdue).
    pub fn expires_in(&self, now: Instant, timeout: Duration) -> Duration {
        let age = (now.total_millis() as u32).wrapping_sub(self.touched) as u64;
        Duration::from_millis(timeout.total_millis().saturating_sub(age))
    }
}

/// A new entry to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConn {
    /// The key.
    pub key: ConnKey,
    /// The real server it is bound to.
    pub dest: DestId,
    /// Initial state.
    pub state: u8,
    /// Initial flags (besides IN_USE/IPV6, which the table sets).
    pub flags: ConnFlags,
}

/// Why an insert failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertError {
    /// Every slot is in use.
    Full,
    /// Client and virtual addresses are of different families.
    MixedFamilies,
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::Full => f.write_str("connection table full"),
            InsertError::MixedFamilies => f.write_str("client and virtual address families differ"),
        }
    }
}

impl core::error::Error for InsertError {}

/// Why a table could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableError {
    /// Storage length is not a power of two between 2 and 2^31.
    BadCapacity {
        /// The length given.
        len: usize,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::BadCapacity { len } => {
                write!(
                    f,
                    "table storage of {len} slots is not a power of two in 2..=2^31"
                )
            }
        }
    }
}

impl core::error::Error for TableError {}

/// Table-level counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TableStats {
    /// Entries inserted.
    pub inserted: u64,
    /// Inserts refused because the table was full.
    pub refused_full: u64,
    /// Entries removed.
    pub removed: u64,
}

/// The connection table over caller-provided storage: the slots and the timer wheel.
///
/// ```
/// use lvs_core::conn::{ConnFlags, ConnKey, ConnSlot, ConnTable, NewConn, TimerWheel};
/// use lvs_core::hash::SipKey;
/// use lvs_core::{DestId, Instant, Protocol};
/// let mut storage = [ConnSlot::EMPTY; 64];
/// let mut wheel = TimerWheel::new();
/// let mut t = ConnTable::new(&mut storage, &mut wheel, SipKey(1, 2), Instant::ZERO).unwrap();
/// let key = ConnKey { proto: Protocol::Tcp, caddr: "198.19.0.7".parse().unwrap(), cport: 40001,
///                     vaddr: "198.18.0.1".parse().unwrap(), vport: 80 };
/// let h = t.insert(NewConn { key, dest: DestId(0), state: 0, flags: ConnFlags::empty() }, Instant::ZERO).unwrap();
/// assert_eq!(t.find(&key, false), Some(h));
/// ```
pub struct ConnTable<'a> {
    slots: &'a mut [ConnSlot],
    mask: u32,
    seed: SipKey,
    free: u32,
    len: u32,
    wheel: &'a mut TimerWheel,
    // last wheel tick processed completely
    wheel_tick: u64,
    // detached list of the slot being processed
    proc_head: u32,
    stats: TableStats,
}

impl fmt::Debug for ConnTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnTable")
            .field("capacity", &self.slots.len())
            .field("len", &self.len)
            .field("stats", &self.stats)
            .finish()
    }
}

/// Mutable access to a live entry's director-owned fields.
#[derive(Debug)]
pub struct EntryMut<'t> {
    slot: &'t mut ConnSlot,
}
