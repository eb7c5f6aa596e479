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

use crate::addr::{Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, Protocol};
use crate::dest::DestId;
use crate::hash::{siphash, SipKey};
use crate::time::{Duration, Instant};
use core::fmt;

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

/// Connection flag bits (stored per entry).
pub mod flags {
    /// Slot holds a connection.
    pub const IN_USE: u8 = 0x01;
    /// IPv6 addresses.
    pub const IPV6: u8 = 0x02;
    /// Persistence template (`IP_VS_CONN_F_TEMPLATE`).
    pub const TEMPLATE: u8 = 0x04;
    /// Counted in the real server's inactive connections (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: u8 = 0x08;
    /// Replies bypass the director (DR/tunnel; `IP_VS_CONN_F_NOOUTPUT`).
    pub const NOOUTPUT: u8 = 0x10;
    /// Created under a persistence template (the kernel's `cp->control`).
    pub const CONTROLLED: u8 = 0x20;
    /// A template whose timeout became 60 s because it outlived its timeout while still
    /// controlling connections.
    pub const EXTENDED: u8 = 0x40;
    /// Installed by connection synchronisation from a master (`IP_VS_CONN_F_SYNC`).
    pub const SYNCED: u8 = 0x80;
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
    flags: u8,
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
        flags: 0,
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
        self.flags & flags::IN_USE != 0
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
            bytes_addr(&self.caddr, self.flags & flags::IPV6 != 0),
            self.cport,
        )
    }
    /// Virtual endpoint the client addressed.
    pub fn vaddr(&self) -> Endpoint {
        Endpoint::new(
            bytes_addr(&self.vaddr, self.flags & flags::IPV6 != 0),
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
    /// Flag bits (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.flags
    }
    /// Whether this is a persistence template.
    pub fn is_template(&self) -> bool {
        self.flags & flags::TEMPLATE != 0
    }
    /// Whether replies bypass the director.
    pub fn no_output(&self) -> bool {
        self.flags & flags::NOOUTPUT != 0
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
    pub flags: u8,
}

/// Why an insert failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub struct TableStats {
    /// Entries inserted.
    pub inserted: u64,
    /// Inserts refused because the table was full.
    pub refused_full: u64,
    /// Entries removed.
    pub removed: u64,
}

/// The connection table over caller-provided storage.
///
/// ```
/// use lvs_core::conn::{ConnKey, ConnSlot, ConnTable, NewConn};
/// use lvs_core::hash::SipKey;
/// use lvs_core::{DestId, Instant, Protocol};
/// let mut storage = [ConnSlot::EMPTY; 64];
/// let mut t = ConnTable::new(&mut storage, SipKey(1, 2), Instant::ZERO).unwrap();
/// let key = ConnKey { proto: Protocol::Tcp, caddr: "198.19.0.7".parse().unwrap(), cport: 40001,
///                     vaddr: "198.18.0.1".parse().unwrap(), vport: 80 };
/// let h = t.insert(NewConn { key, dest: DestId(0), state: 0, flags: 0 }, Instant::ZERO).unwrap();
/// assert_eq!(t.find(&key, false), Some(h));
/// ```
pub struct ConnTable<'a> {
    slots: &'a mut [ConnSlot],
    mask: u32,
    seed: SipKey,
    free: u32,
    len: u32,
    wheel: [u32; WHEEL_SLOTS],
    wheel_bits: [u64; WHEEL_WORDS],
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

#[inline]
fn tick_of(ms: u64) -> u64 {
    ms.div_ceil(WHEEL_TICK_MS)
}

impl<'a> ConnTable<'a> {
    /// A table over `storage` (length a power of two), hashing with `seed`.
    ///
    /// # Errors
    /// [`TableError::BadCapacity`] if the length is not a power of two in 2..=2^31.
    pub fn new(
        storage: &'a mut [ConnSlot],
        seed: SipKey,
        now: Instant,
    ) -> Result<Self, TableError> {
        let len = storage.len();
        if len < 2 || !len.is_power_of_two() || len > (1usize << 31) {
            return Err(TableError::BadCapacity { len });
        }
        let n = len as u32;
        // the free list, doubly linked through `chain` (next) and `tprev` (previous)
        for (i, s) in storage.iter_mut().enumerate() {
            let i = i as u32;
            *s = ConnSlot::EMPTY;
            s.chain = if i + 1 < n { i + 1 } else { NIL };
            s.tprev = if i > 0 { i - 1 } else { NIL };
        }
        Ok(ConnTable {
            slots: storage,
            mask: n - 1,
            seed,
            free: 0,
            len: 0,
            wheel: [NIL; WHEEL_SLOTS],
            wheel_bits: [0; WHEEL_WORDS],
            wheel_tick: now.total_millis() / WHEEL_TICK_MS,
            proc_head: NIL,
            stats: TableStats::default(),
        })
    }

    /// Capacity in connections.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Live entries (connections and templates).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots not in use.
    pub fn free_slots(&self) -> usize {
        self.slots.len() - self.len as usize
    }

    /// Table counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// The bucket hash of (protocol, client address, client port).
    #[inline]
    pub fn hash(&self, proto: Protocol, caddr: &IpAddr, cport: u16) -> u32 {
        if let IpAddr::V4(a) = caddr {
            return self.hash_v4(proto.number(), a.octets(), cport);
        }
        let mut buf = [0u8; 19];
        buf[0] = proto.number();
        buf[1..3].copy_from_slice(&cport.to_be_bytes());
        let n = match caddr {
            IpAddr::V4(a) => {
                buf[3..7].copy_from_slice(&a.octets());
                7
            }
            IpAddr::V6(a) => {
                buf[3..19].copy_from_slice(&a.octets());
                19
            }
        };
        siphash::<1, 3>(self.seed, &buf[..n]) as u32
    }

    /// [`ConnTable::hash`] of an IPv4 key: the same value (SipHash-1-3 of the same 7 bytes),
    /// computed on one 64-bit word.
    #[inline]
    pub(crate) fn hash_v4(&self, proto: u8, caddr: [u8; 4], cport: u16) -> u32 {
        siphash13_v4(self.seed, proto, caddr, cport)
    }

    /// Reads the head of bucket `hash`: the first entry of its chain, or `NIL`. Reading it is
    /// also how a burst brings the bucket's line into the cache ahead of its lookup.
    #[inline]
    pub(crate) fn bucket_head(&self, hash: u32) -> u32 {
        self.slots
            .get((hash & self.mask) as usize)
            .map_or(NIL, |s| s.head)
    }

    /// Reads slot `idx`'s chain link (or `NIL`), bringing the slot's line into the cache.
    #[inline]
    pub(crate) fn chain_of(&self, idx: u32) -> u32 {
        self.slots.get(idx as usize).map_or(NIL, |s| s.chain)
    }

    /// The first step of [`ConnTable::find_v4`]'s walk for `flow` in bucket `hash`: `NIL`
    /// if the bucket's own slot holds the flow's connection, else the next slot to look at.
    /// Reading it is how a burst brings the bucket's line into the cache.
    #[inline]
    pub(crate) fn home_step(&self, hash: u32, flow: &crate::addr::FlowKey) -> u32 {
        let b = hash & self.mask;
        let Some(s) = self.slots.get(b as usize) else {
            return NIL;
        };
        if self.matches_flow(b, flow) {
            NIL
        } else if s.head == b {
            s.chain
        } else {
            s.head
        }
    }

    /// Whether slot `idx` holds the connection (not a template) a packet of `flow` from its
    /// client belongs to (what [`ConnTable::find_hashed`] looks for).
    #[inline]
    pub(crate) fn matches_flow(&self, idx: u32, flow: &crate::addr::FlowKey) -> bool {
        let Some(s) = self.slots.get(idx as usize) else {
            return false;
        };
        if !s.in_use()
            || s.cport != flow.src.port
            || s.vport != flow.dst.port
            || s.proto != flow.proto.number()
            || s.flags & flags::TEMPLATE != 0
        {
            return false;
        }
        match (flow.src.addr, flow.dst.addr) {
            (IpAddr::V4(c), IpAddr::V4(v)) => {
                s.flags & flags::IPV6 == 0
                    && s.caddr[..4] == c.octets()
                    && s.vaddr[..4] == v.octets()
            }
            (IpAddr::V6(c), IpAddr::V6(v)) => {
                s.flags & flags::IPV6 != 0 && s.caddr == c.octets() && s.vaddr == v.octets()
            }
            _ => false,
        }
    }

    /// [`ConnTable::find_hashed`] for an IPv4 connection (not a template), by its parts,
    /// looking at the bucket's own slot first: the same answer as long as no two connections
    /// share a key, which the director ensures (it inserts a connection only after a lookup
    /// of its key found none).
    #[inline]
    pub(crate) fn find_v4(
        &self,
        hash: u32,
        proto: u8,
        caddr: [u8; 4],
        cport: u16,
        vaddr: [u8; 4],
        vport: u16,
    ) -> Option<ConnHandle> {
        // The bucket's own slot first: it is on the line just read for the head, and holds
        // the bucket's oldest entry if that was placed there. The director keeps connection
        // keys unique, so the first match is the only one, wherever the chain puts it.
        let b = hash & self.mask;
        let mut i = b;
        let mut home = true;
        while let Some(s) = self.slots.get(i as usize) {
            let next = if home { s.head } else { s.chain };
            // an IPv4 entry's address bytes past the fourth are zero (and a free slot's flags
            // are zero)
            if s.flags & flags::IN_USE != 0
                && s.cport == cport
                && s.vport == vport
                && s.proto == proto
                && s.flags & (flags::IPV6 | flags::TEMPLATE) == 0
                && s.caddr[..4] == caddr
                && s.vaddr[..4] == vaddr
            {
                return Some(ConnHandle(i));
            }
            home = false;
            i = next;
            if i == b {
                // checked already
                i = self.slots.get(i as usize).map_or(NIL, |s| s.chain);
            }
        }
        None
    }

    /// The entry behind `h`, if live.
    #[inline]
    pub fn get(&self, h: ConnHandle) -> Option<&ConnSlot> {
        self.slots.get(h.0 as usize).filter(|s| s.in_use())
    }

    /// Finds a connection (`template == false`) or template by key.
    pub fn find(&self, key: &ConnKey, template: bool) -> Option<ConnHandle> {
        let h = self.hash(key.proto, &key.caddr, key.cport);
        self.find_hashed(h, key, template)
    }

    /// [`ConnTable::find`] with a precomputed [`ConnTable::hash`].
    #[inline]
    pub fn find_hashed(&self, hash: u32, key: &ConnKey, template: bool) -> Option<ConnHandle> {
        let (caddr, v6) = addr_bytes(&key.caddr);
        let (vaddr, _) = addr_bytes(&key.vaddr);
        let want_flags =
            if v6 { flags::IPV6 } else { 0 } | if template { flags::TEMPLATE } else { 0 };
        let proto = key.proto.number();
        let mut i = self.slots.get((hash & self.mask) as usize)?.head;
        while let Some(s) = self.slots.get(i as usize) {
            if s.cport == key.cport
                && s.vport == key.vport
                && s.proto == proto
                && s.flags & (flags::IPV6 | flags::TEMPLATE) == want_flags
                && s.caddr == caddr
                && s.vaddr == vaddr
            {
                return Some(ConnHandle(i));
            }
            i = s.chain;
        }
        None
    }

    /// Finds the connection a reply from a real server belongs to: `client` is the reply's
    /// destination; `is_dest(entry)` checks the entry's real server address and port.
    pub fn find_reply(
        &self,
        proto: Protocol,
        client: &Endpoint,
        is_dest: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let hash = self.hash(proto, &client.addr, client.port);
        self.find_reply_hashed(hash, proto, client, is_dest)
    }

    /// [`ConnTable::find_reply`] with a precomputed [`ConnTable::hash`] of the client.
    #[inline]
    pub fn find_reply_hashed(
        &self,
        hash: u32,
        proto: Protocol,
        client: &Endpoint,
        mut is_dest: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let (caddr, v6) = addr_bytes(&client.addr);
        let want_flags = if v6 { flags::IPV6 } else { 0 };
        let proto = proto.number();
        let mut i = self.slots.get((hash & self.mask) as usize)?.head;
        while let Some(s) = self.slots.get(i as usize) {
            if s.cport == client.port
                && s.proto == proto
                && s.flags & (flags::IPV6 | flags::TEMPLATE) == want_flags
                && s.caddr == caddr
                && is_dest(s)
            {
                return Some(ConnHandle(i));
            }
            i = s.chain;
        }
        None
    }

    /// Calls `f` on each template in the chain of (`proto`, `snet`, port 0) until it returns
    /// true; returns that template. Used to find the template controlling a connection even
    /// after the template was invalidated (re-keyed to port 0xffff).
    pub fn find_template_by(
        &self,
        proto: Protocol,
        snet: &IpAddr,
        mut f: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let hash = self.hash(proto, snet, 0);
        let mut i = self.slots.get((hash & self.mask) as usize)?.head;
        while let Some(s) = self.slots.get(i as usize) {
            if s.flags & flags::TEMPLATE != 0 && s.cport == 0 && f(s) {
                return Some(ConnHandle(i));
            }
            i = s.chain;
        }
        None
    }

    /// Inserts a new entry, filed to expire `timeout` after `now`.
    ///
    /// # Errors
    /// [`InsertError::Full`] when no slot is free (the table never evicts on its own);
    /// [`InsertError::MixedFamilies`] for inconsistent addresses.
    pub fn insert(&mut self, new: NewConn, now: Instant) -> Result<ConnHandle, InsertError> {
        self.insert_with_timeout(new, now, Duration::ZERO)
    }

    /// [`ConnTable::insert`] with the entry filed on the wheel at `now + timeout`.
    pub fn insert_with_timeout(
        &mut self,
        new: NewConn,
        now: Instant,
        timeout: Duration,
    ) -> Result<ConnHandle, InsertError> {
        let hash = self.hash(new.key.proto, &new.key.caddr, new.key.cport);
        self.insert_hashed(hash, new, now, timeout)
    }

    /// [`ConnTable::insert_with_timeout`] with `hash`, the [`ConnTable::hash`] of the key.
    pub(crate) fn insert_hashed(
        &mut self,
        hash: u32,
        new: NewConn,
        now: Instant,
        timeout: Duration,
    ) -> Result<ConnHandle, InsertError> {
        let (caddr, v6) = addr_bytes(&new.key.caddr);
        let (vaddr, v6b) = addr_bytes(&new.key.vaddr);
        if v6 != v6b {
            return Err(InsertError::MixedFamilies);
        }
        if self.free == NIL {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }
        let bucket = (hash & self.mask) as usize;
        // The bucket's own slot when it is free: a lookup then finds the entry on the line
        // that holds the bucket's head. Else a free slot among the other three of its
        // 256-byte group: a second line that close costs a lookup about 20-35 ns where a line
        // anywhere else costs a whole memory latency. Else the most recently freed slot.
        let free = |i: usize| self.slots.get(i).is_some_and(|s| !s.in_use());
        let idx = [bucket, bucket ^ 1, bucket ^ 2, bucket ^ 3]
            .into_iter()
            .find(|&i| free(i))
            .map_or(self.free, |i| i as u32);
        self.take_free(idx);
        let head = self.slots[bucket].head;
        let s = &mut self.slots[idx as usize];
        s.caddr = caddr;
        s.vaddr = vaddr;
        s.cport = new.key.cport;
        s.vport = new.key.vport;
        s.dest = new.dest.0;
        s.proto = new.key.proto.number();
        s.state = new.state;
        s.flags = (new.flags & !(flags::IN_USE | flags::IPV6))
            | flags::IN_USE
            | if v6 { flags::IPV6 } else { 0 };
        s.counter = 0;
        s.sync = 0;
        s.touched = now.total_millis() as u32;
        s.chain = head;
        s.tprev = NIL;
        s.tnext = NIL;
        self.slots[bucket].head = idx;
        self.len += 1;
        self.stats.inserted += 1;
        self.file(idx, now.total_millis() + timeout.total_millis());
        Ok(ConnHandle(idx))
    }

    /// Removes `h` from the table (a no-op for a dead handle).
    pub fn remove(&mut self, h: ConnHandle) {
        let idx = h.0;
        let Some(s) = self.slots.get(idx as usize) else {
            return;
        };
        if !s.in_use() {
            return;
        }
        let key_hash = {
            let c = s.client();
            self.hash(s.proto(), &c.addr, c.port)
        };
        self.unlink_chain(idx, key_hash);
        self.unfile(idx);
        let s = &mut self.slots[idx as usize];
        *s = ConnSlot {
            head: s.head,
            ..ConnSlot::EMPTY
        };
        self.push_free(idx);
        self.len -= 1;
        self.stats.removed += 1;
    }

    /// Takes free slot `idx` off the free list (doubly linked through `chain` and `tprev`).
    fn take_free(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.tprev, s.chain)
        };
        if prev == NIL {
            self.free = next;
        } else {
            self.slots[prev as usize].chain = next;
        }
        if next != NIL {
            self.slots[next as usize].tprev = prev;
        }
    }

    /// Puts the emptied slot `idx` at the front of the free list.
    fn push_free(&mut self, idx: u32) {
        let free = self.free;
        if free != NIL {
            self.slots[free as usize].tprev = idx;
        }
        let s = &mut self.slots[idx as usize];
        s.chain = free;
        s.tprev = NIL;
        self.free = idx;
    }

    fn unlink_chain(&mut self, idx: u32, hash: u32) {
        let bucket = (hash & self.mask) as usize;
        let mut prev = NIL;
        let mut i = self.slots[bucket].head;
        while i != NIL {
            let next = self.slots[i as usize].chain;
            if i == idx {
                if prev == NIL {
                    self.slots[bucket].head = next;
                } else {
                    self.slots[prev as usize].chain = next;
                }
                return;
            }
            prev = i;
            i = next;
        }
    }

    /// Re-keys `h` in place (template invalidation sets both ports to 0xffff); the chain is
    /// unchanged because the hash covers only protocol, client address and client port, which
    /// this keeps.
    pub fn set_vport(&mut self, h: ConnHandle, vport: u16) {
        if let Some(s) = self.slots.get_mut(h.0 as usize).filter(|s| s.in_use()) {
            s.vport = vport;
        }
    }

    /// Records activity on `h` at `now`: the deadline moves to `now + timeout` lazily.
    #[inline]
    pub fn touch(&mut self, h: ConnHandle, now: Instant) {
        if let Some(s) = self.slots.get_mut(h.0 as usize) {
            s.touched = now.total_millis() as u32;
        }
    }

    /// Mutable access to the fields the director changes on a live entry.
    #[inline]
    pub fn entry_mut(&mut self, h: ConnHandle) -> Option<EntryMut<'_>> {
        self.slots
            .get_mut(h.0 as usize)
            .filter(|s| s.in_use())
            .map(|slot| EntryMut { slot })
    }

    /// Files `h` again to expire `timeout` after its last touch; call after a state change that
    /// may shorten the timeout.
    pub fn refile(&mut self, h: ConnHandle, timeout: Duration, now: Instant) {
        let idx = h.0;
        let Some(s) = self.slots.get(idx as usize).filter(|s| s.in_use()) else {
            return;
        };
        let age = (now.total_millis() as u32).wrapping_sub(s.touched) as u64;
        let deadline = now.total_millis() + timeout.total_millis().saturating_sub(age);
        if s.tprev == HEAD_TAG | self.slot_for(deadline) as u32 {
            // already first in the list it would be filed at the front of: nothing changes
            return;
        }
        self.unfile(idx);
        self.file(idx, deadline);
    }

    /// The wheel slot an entry due at `deadline_ms` is filed in.
    #[inline]
    fn slot_for(&self, deadline_ms: u64) -> usize {
        let mut tick = tick_of(deadline_ms);
        if tick <= self.wheel_tick {
            tick = self.wheel_tick + 1;
        }
        (tick as usize) & (WHEEL_SLOTS - 1)
    }

    fn file(&mut self, idx: u32, deadline_ms: u64) {
        let slot = self.slot_for(deadline_ms);
        let head = self.wheel[slot];
        if head != NIL {
            self.slots[head as usize].tprev = idx;
        }
        let s = &mut self.slots[idx as usize];
        // a list head's `tprev` names its wheel slot, so unlinking it needs no search
        s.tprev = HEAD_TAG | slot as u32;
        s.tnext = head;
        self.wheel[slot] = idx;
        self.wheel_bits[slot / 64] |= 1 << (slot % 64);
    }

    fn unfile(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.tprev, s.tnext)
        };
        if prev == NIL {
            return;
        }
        if next != NIL {
            self.slots[next as usize].tprev = prev;
        }
        if prev == PROC_TAG {
            self.proc_head = next;
        } else if prev & HEAD_TAG != 0 {
            let slot = (prev & !HEAD_TAG) as usize & (WHEEL_SLOTS - 1);
            self.wheel[slot] = next;
            if next == NIL {
                self.wheel_bits[slot / 64] &= !(1 << (slot % 64));
            }
        } else {
            self.slots[prev as usize].tnext = next;
        }
        let s = &mut self.slots[idx as usize];
        s.tprev = NIL;
        s.tnext = NIL;
    }

    /// The earliest time at which [`ConnTable::next_expired`] may have work, or `None` when the
    /// wheel is empty.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.proc_head != NIL {
            return Some(Instant::from_millis(self.wheel_tick * WHEEL_TICK_MS));
        }
        let start = ((self.wheel_tick + 1) as usize) & (WHEEL_SLOTS - 1);
        // scan the bitmap circularly from `start`
        for k in 0..=WHEEL_WORDS {
            let w = (start / 64 + k) % WHEEL_WORDS;
            let mut bits = self.wheel_bits[w];
            if k == 0 {
                bits &= !0u64 << (start % 64);
            } else if k == WHEEL_WORDS {
                bits &= !(!0u64 << (start % 64));
            }
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                let dist = (slot + WHEEL_SLOTS - start) % WHEEL_SLOTS;
                let tick = self.wheel_tick + 1 + dist as u64;
                return Some(Instant::from_millis(tick * WHEEL_TICK_MS));
            }
        }
        None
    }

    /// Returns the next entry whose deadline has passed at `now`, unfiled from the wheel but
    /// still in the table: the caller removes it or re-files it. Entries the wheel reaches that
    /// are not due yet are filed again at their deadline. At most `budget` entries are examined
    /// per call sequence (the caller's counter is decremented); when it reaches zero this returns
    /// `None` and [`ConnTable::poll_timeout`] reports pending work.
    ///
    /// `timeout_of` gives an entry's current timeout.
    pub fn next_expired(
        &mut self,
        now: Instant,
        budget: &mut u32,
        mut timeout_of: impl FnMut(&ConnSlot) -> Duration,
    ) -> Option<ConnHandle> {
        let now_ms = now.total_millis();
        let target = now_ms / WHEEL_TICK_MS;
        loop {
            // walk the detached list of the slot being processed
            while self.proc_head != NIL {
                if *budget == 0 {
                    return None;
                }
                *budget -= 1;
                let idx = self.proc_head;
                let (next, touched) = {
                    let s = &self.slots[idx as usize];
                    (s.tnext, s.touched)
                };
                self.proc_head = next;
                if next != NIL {
                    self.slots[next as usize].tprev = PROC_TAG;
                }
                {
                    let s = &mut self.slots[idx as usize];
                    s.tprev = NIL;
                    s.tnext = NIL;
                }
                let timeout = timeout_of(&self.slots[idx as usize]).total_millis();
                let age = (now_ms as u32).wrapping_sub(touched) as u64;
                if age >= timeout {
                    return Some(ConnHandle(idx));
                }
                self.file(idx, now_ms + (timeout - age));
            }
            if self.wheel_tick >= target {
                return None;
            }
            // advance to the next non-empty slot, at most one full turn
            let ahead = target - self.wheel_tick;
            let steps = ahead.min(WHEEL_SLOTS as u64);
            let mut moved = false;
            for _ in 0..steps {
                self.wheel_tick += 1;
                let slot = (self.wheel_tick as usize) & (WHEEL_SLOTS - 1);
                let head = self.wheel[slot];
                if head != NIL {
                    self.slots[head as usize].tprev = PROC_TAG;
                    self.proc_head = head;
                    self.wheel[slot] = NIL;
                    self.wheel_bits[slot / 64] &= !(1 << (slot % 64));
                    moved = true;
                    break;
                }
            }
            if !moved {
                self.wheel_tick = target;
            }
        }
    }

    /// Finds an entry for which `pred` holds, looking first at the entries the timer wheel
    /// reaches soonest: the list being expired, then the wheel slots in deadline order. At most
    /// `budget` entries are examined, so the cost is bounded whatever the table holds.
    ///
    /// Entries are filed at their deadline when their state last changed, so among entries
    /// of one state the first found are (to within a wheel tick, and lazily refreshed
    /// deadlines aside) the oldest: this is how the director finds eviction candidates
    /// without a full scan.
    pub fn scan_filed(
        &self,
        mut budget: u32,
        mut pred: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let mut walk = |mut i: u32, budget: &mut u32| -> Result<Option<ConnHandle>, ()> {
            while let Some(s) = self.slots.get(i as usize) {
                if *budget == 0 {
                    return Err(());
                }
                *budget -= 1;
                if s.in_use() && pred(s) {
                    return Ok(Some(ConnHandle(i)));
                }
                i = s.tnext;
            }
            Ok(None)
        };
        match walk(self.proc_head, &mut budget) {
            Ok(Some(h)) => return Some(h),
            Ok(None) => {}
            Err(()) => return None,
        }
        let start = ((self.wheel_tick + 1) as usize) & (WHEEL_SLOTS - 1);
        for k in 0..=WHEEL_WORDS {
            let w = (start / 64 + k) % WHEEL_WORDS;
            let mut bits = self.wheel_bits[w];
            if k == 0 {
                bits &= !0u64 << (start % 64);
            } else if k == WHEEL_WORDS {
                bits &= !(!0u64 << (start % 64));
            }
            while bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                match walk(self.wheel[slot], &mut budget) {
                    Ok(Some(h)) => return Some(h),
                    Ok(None) => {}
                    Err(()) => return None,
                }
            }
        }
        None
    }

    /// Iterates over live entries (a full scan: for listings, not the packet path).
    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, &ConnSlot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.in_use())
            .map(|(i, s)| (ConnHandle(i as u32), s))
    }
}

/// Mutable access to a live entry's director-owned fields.
#[derive(Debug)]
pub struct EntryMut<'t> {
    slot: &'t mut ConnSlot,
}

impl EntryMut<'_> {
    /// The entry.
    pub fn get(&self) -> &ConnSlot {
        self.slot
    }
    /// Sets the protocol state.
    pub fn set_state(&mut self, state: u8) {
        self.slot.state = state;
    }
    /// Sets flag bits (IN_USE and IPV6 are protected).
    pub fn set_flags(&mut self, bits: u8, on: bool) {
        let bits = bits & !(flags::IN_USE | flags::IPV6);
        if on {
            self.slot.flags |= bits;
        } else {
            self.slot.flags &= !bits;
        }
    }
    /// Sets the 16-bit counter (packets, or n_control for templates).
    pub fn set_counter(&mut self, v: u16) {
        self.slot.counter = v;
    }
    /// Rebinds the entry to another real server (sync updates).
    pub fn set_dest(&mut self, d: DestId) {
        self.slot.dest = d.0;
    }
    /// Sets the connection-synchronisation byte (see [`ConnSlot::sync_byte`]).
    pub fn set_sync_byte(&mut self, v: u8) {
        self.slot.sync = v;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    fn key(c: u32, cport: u16) -> ConnKey {
        ConnKey {
            proto: Protocol::Tcp,
            caddr: IpAddr::V4(Ipv4Addr::from_bits(0xC613_0000 | c)),
            cport,
            vaddr: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            vport: 80,
        }
    }

    fn nc(k: ConnKey) -> NewConn {
        NewConn {
            key: k,
            dest: DestId(3),
            state: 0,
            flags: 0,
        }
    }

    #[test]
    fn v4_hash_is_siphash13_of_the_key_bytes() {
        let mut x = 0x0123_4567_89ab_cdefu64;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let seed = SipKey(x, x.rotate_left(17) ^ 0x5555);
            let (proto, port) = ((x >> 8) as u8, (x >> 16) as u16);
            let addr = ((x >> 32) as u32).to_be_bytes();
            let mut buf = [0u8; 7];
            buf[0] = proto;
            buf[1..3].copy_from_slice(&port.to_be_bytes());
            buf[3..7].copy_from_slice(&addr);
            assert_eq!(
                siphash13_v4(seed, proto, addr, port),
                siphash::<1, 3>(seed, &buf) as u32
            );
        }
    }

    /// Random inserts and removals: every live entry is found (by the public lookup and the
    /// director's home-first one), the free list holds exactly the free slots with consistent
    /// back links, and entries sit in their bucket's own slot whenever it was free.
    #[test]
    fn free_list_and_home_slots_stay_consistent() {
        let mut s = vec![ConnSlot::EMPTY; 64];
        let mut t = ConnTable::new(&mut s, SipKey(3, 4), Instant::ZERO).unwrap();
        let mut live: Vec<(ConnKey, ConnHandle)> = Vec::new();
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut homes = 0;
        for step in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if !x.is_multiple_of(3) && live.len() < 64 {
                let k = key(step, (x >> 8) as u16);
                let b = t.hash(k.proto, &k.caddr, k.cport) & t.mask;
                let home_free = t.get(ConnHandle(b)).is_none();
                let h = t.insert(nc(k), Instant::ZERO).unwrap();
                assert_eq!(
                    home_free,
                    h.0 == b,
                    "placed in its own slot iff that was free"
                );
                homes += usize::from(home_free);
                live.push((k, h));
            } else if !live.is_empty() {
                let (_, h) = live.swap_remove((x >> 16) as usize % live.len());
                t.remove(h);
            }
            for (k, h) in &live {
                assert_eq!(t.find(k, false), Some(*h));
                let hash = t.hash(k.proto, &k.caddr, k.cport);
                let (IpAddr::V4(c), IpAddr::V4(v)) = (k.caddr, k.vaddr) else {
                    unreachable!()
                };
                let found = t.find_v4(hash, 6, c.octets(), k.cport, v.octets(), k.vport);
                assert_eq!(found, Some(*h));
            }
            // the free list: exactly the free slots, linked both ways
            let mut n = 0;
            let (mut prev, mut i) = (NIL, t.free);
            while i != NIL {
                let sl = &t.slots[i as usize];
                assert!(!sl.in_use());
                assert_eq!(sl.tprev, prev);
                n += 1;
                prev = i;
                i = sl.chain;
            }
            assert_eq!(n, t.free_slots());
            assert_eq!(t.len(), live.len());
        }
        assert!(homes > 100, "{homes}");
    }

    #[test]
    fn slot_is_64_bytes() {
        assert_eq!(core::mem::size_of::<ConnSlot>(), 64);
    }

    #[test]
    fn rejects_bad_capacity() {
        let mut s = vec![ConnSlot::EMPTY; 100];
        assert_eq!(
            ConnTable::new(&mut s, SipKey(0, 0), Instant::ZERO).err(),
            Some(TableError::BadCapacity { len: 100 })
        );
    }

    #[test]
    fn insert_find_remove_and_full_policy() {
        let mut s = vec![ConnSlot::EMPTY; 8];
        let mut t = ConnTable::new(&mut s, SipKey(7, 9), Instant::ZERO).unwrap();
        let mut hs = Vec::new();
        for i in 0..8 {
            hs.push(
                t.insert(nc(key(i, 1000 + i as u16)), Instant::ZERO)
                    .unwrap(),
            );
        }
        assert_eq!(t.len(), 8);
        assert_eq!(
            t.insert(nc(key(99, 1)), Instant::ZERO),
            Err(InsertError::Full)
        );
        assert_eq!(t.stats().refused_full, 1);
        for i in 0..8 {
            assert_eq!(
                t.find(&key(i, 1000 + i as u16), false),
                Some(hs[i as usize])
            );
            assert_eq!(t.find(&key(i, 1000 + i as u16), true), None);
        }
        t.remove(hs[3]);
        assert_eq!(t.find(&key(3, 1003), false), None);
        assert_eq!(t.len(), 7);
        let h = t.insert(nc(key(99, 1)), Instant::ZERO).unwrap();
        assert_eq!(h, hs[3]);
        assert_eq!(t.find(&key(99, 1), false), Some(h));
        for i in [0u32, 1, 2, 4, 5, 6, 7] {
            assert_eq!(
                t.find(&key(i, 1000 + i as u16), false),
                Some(hs[i as usize])
            );
        }
    }

    #[test]
    fn reply_lookup_uses_same_chain() {
        let mut s = vec![ConnSlot::EMPTY; 16];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let k = key(5, 4242);
        let h = t.insert(nc(k), Instant::ZERO).unwrap();
        let client = Endpoint::new(k.caddr, k.cport);
        assert_eq!(
            t.find_reply(Protocol::Tcp, &client, |e| e.dest() == DestId(3)),
            Some(h)
        );
        assert_eq!(
            t.find_reply(Protocol::Tcp, &client, |e| e.dest() == DestId(4)),
            None
        );
        assert_eq!(t.find_reply(Protocol::Udp, &client, |_| true), None);
    }

    #[test]
    fn ipv6_and_ipv4_do_not_collide() {
        let mut s = vec![ConnSlot::EMPTY; 16];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let k6 = ConnKey {
            proto: Protocol::Tcp,
            caddr: "2001:db8::7".parse().unwrap(),
            cport: 1,
            vaddr: "2001:db8::1".parse().unwrap(),
            vport: 80,
        };
        let h = t.insert(nc(k6), Instant::ZERO).unwrap();
        assert_eq!(t.find(&k6, false), Some(h));
        assert_eq!(t.get(h).unwrap().client().to_string(), "[2001:db8::7]:1");
        let bad = ConnKey {
            vaddr: "198.18.0.1".parse().unwrap(),
            ..k6
        };
        assert_eq!(
            t.insert(nc(bad), Instant::ZERO),
            Err(InsertError::MixedFamilies)
        );
    }

    #[test]
    fn wheel_expires_lazily_and_refiles_touched_entries() {
        let mut s = vec![ConnSlot::EMPTY; 16];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let to = Duration::from_secs(10);
        let a = t
            .insert_with_timeout(nc(key(1, 1)), Instant::ZERO, to)
            .unwrap();
        let b = t
            .insert_with_timeout(nc(key(2, 2)), Instant::ZERO, to)
            .unwrap();
        assert_eq!(t.poll_timeout(), Some(Instant::from_millis(10_112)));
        // b is touched at 5 s: its deadline moves to 15 s without any list work
        t.touch(b, Instant::from_secs(5));
        let mut budget = 100;
        assert_eq!(
            t.next_expired(Instant::from_secs(9), &mut budget, |_| to),
            None
        );
        let got = t.next_expired(Instant::from_millis(10_200), &mut budget, |_| to);
        assert_eq!(got, Some(a));
        t.remove(a);
        assert_eq!(
            t.next_expired(Instant::from_millis(10_200), &mut budget, |_| to),
            None
        );
        assert!(t.get(b).is_some());
        let next = t.poll_timeout().unwrap();
        assert!(next >= Instant::from_secs(15) && next <= Instant::from_millis(15_128));
        assert_eq!(
            t.next_expired(Instant::from_secs(16), &mut budget, |_| to),
            Some(b)
        );
    }

    /// Refiling an entry into the slot it heads changes nothing; any other entry of that slot
    /// moves to the front of the slot's list, as filing it anew does.
    #[test]
    fn refile_in_place_keeps_the_list_order() {
        let mut s = vec![ConnSlot::EMPTY; 16];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let to = Duration::from_secs(10);
        let a = t
            .insert_with_timeout(nc(key(1, 1)), Instant::ZERO, to)
            .unwrap();
        let b = t
            .insert_with_timeout(nc(key(2, 2)), Instant::ZERO, to)
            .unwrap();
        // b was filed last, so it is found first
        assert_eq!(t.scan_filed(10, |_| true), Some(b));
        t.refile(b, to, Instant::ZERO);
        assert_eq!(t.scan_filed(10, |_| true), Some(b));
        t.refile(a, to, Instant::ZERO);
        assert_eq!(t.scan_filed(10, |_| true), Some(a));
        let mut budget = 10;
        assert_eq!(
            t.next_expired(Instant::from_secs(11), &mut budget, |_| to),
            Some(a)
        );
        assert_eq!(
            t.next_expired(Instant::from_secs(11), &mut budget, |_| to),
            Some(b)
        );
    }

    #[test]
    fn refile_shortens_deadline() {
        let mut s = vec![ConnSlot::EMPTY; 16];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let h = t
            .insert_with_timeout(nc(key(1, 1)), Instant::ZERO, Duration::from_secs(900))
            .unwrap();
        t.touch(h, Instant::from_secs(1));
        t.refile(h, Duration::from_secs(10), Instant::from_secs(1));
        let mut budget = 10;
        assert_eq!(
            t.next_expired(
                Instant::from_secs(12),
                &mut budget,
                |_| Duration::from_secs(10)
            ),
            Some(h)
        );
    }

    #[test]
    fn budget_bounds_work_and_far_deadlines_survive_wraps() {
        let mut s = vec![ConnSlot::EMPTY; 64];
        let mut t = ConnTable::new(&mut s, SipKey(1, 1), Instant::ZERO).unwrap();
        let short = Duration::from_secs(1);
        let long = Duration::from_secs(5000); // beyond one wheel turn (1048 s)
        for i in 0..20 {
            t.insert_with_timeout(nc(key(i, 1)), Instant::ZERO, short)
                .unwrap();
        }
        let far = t
            .insert_with_timeout(nc(key(100, 1)), Instant::ZERO, long)
            .unwrap();
        let tof = |e: &ConnSlot| {
            if e.cport == 1 && e.caddr[3] == 100 {
                long
            } else {
                short
            }
        };
        let mut budget = 5;
        let mut n = 0;
        while let Some(h) = t.next_expired(Instant::from_secs(2), &mut budget, tof) {
            t.remove(h);
            n += 1;
        }
        assert_eq!(n, 5);
        assert_eq!(
            t.poll_timeout(),
            Some(Instant::from_millis(t.wheel_tick * WHEEL_TICK_MS))
        );
        let mut budget = 1000;
        while let Some(h) = t.next_expired(Instant::from_secs(2), &mut budget, tof) {
            t.remove(h);
            n += 1;
        }
        assert_eq!(n, 20);
        // two full wheel turns later the far entry is still there, then it expires
        let mut budget = 1000;
        assert_eq!(
            t.next_expired(Instant::from_secs(4000), &mut budget, tof),
            None
        );
        assert!(t.get(far).is_some());
        assert_eq!(
            t.next_expired(Instant::from_secs(5001), &mut budget, tof),
            Some(far)
        );
    }
}
