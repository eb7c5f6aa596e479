//! [`TlsPersist`]: decisions for new TLS connections and what the engine learns from replies.

use super::listing::{EntryKind, PeData, PersistEntry, TlsCounters};
use super::sni::{SniError, SniRouter, SniRule};
use super::table::{Displaced, SessionSlot, Table, TableError, TicketSlot, Upsert};
use super::{Decision, HelloKeys, PoolId, ReplyKeys, DEFAULT_TIMEOUT, TLS13};
use crate::hash::SipKey;
use crate::time::{Duration, Instant};
use core::fmt;

/// Timeouts of learned mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsPersistConfig {
    /// Lifetime of a learned session ID, restarted by each use (default 300 s).
    pub session_timeout: Duration,
    /// Lifetime of a learned ticket key name, restarted by each use (default 300 s).
    /// Operator-configured key names never expire.
    pub ticket_timeout: Duration,
}

impl TlsPersistConfig {
    /// The defaults: 300 s for both, `ipvsadm -p`'s default persistence timeout.
    pub const fn new() -> Self {
        TlsPersistConfig {
            session_timeout: DEFAULT_TIMEOUT,
            ticket_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same timeout for session IDs and ticket key names.
    pub const fn with_timeout(timeout: Duration) -> Self {
        TlsPersistConfig {
            session_timeout: timeout,
            ticket_timeout: timeout,
        }
    }
}

impl Default for TlsPersistConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One slot for an operator-configured ticket key name.
///
/// Make storage with [`TicketKeySlot::EMPTY`].
#[derive(Clone, Copy)]
pub struct TicketKeySlot<S> {
    e: Option<([u8; 16], S)>,
}

impl<S> TicketKeySlot<S> {
    /// An unused slot.
    pub const EMPTY: Self = TicketKeySlot { e: None };
}

impl<S> fmt::Debug for TicketKeySlot<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.e.is_some() {
            "TicketKeySlot(used)"
        } else {
            "TicketKeySlot(empty)"
        })
    }
}

/// The caller's memory for a [`TlsPersist`]; each slice's length is that table's capacity.
#[derive(Debug)]
pub struct TlsStorage<'a, S> {
    /// Learned TLS 1.2 session IDs (length zero or a power of two).
    pub sessions: &'a mut [SessionSlot<S>],
    /// Learned ticket key names (length zero or a power of two).
    pub tickets: &'a mut [TicketSlot<S>],
    /// Operator-configured ticket key names (any length; searched linearly, keep it short).
    pub ticket_keys: &'a mut [TicketKeySlot<S>],
    /// Server-name routes (any length).
    pub sni_rules: &'a mut [SniRule],
}

/// Why a ticket key name was not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketKeyError {
    /// Every configured-key slot is in use.
    Full,
}

impl fmt::Display for TicketKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TicketKeyError::Full => f.write_str("no room for another ticket key name"),
        }
    }
}

impl core::error::Error for TicketKeyError {}

/// The TLS persistence engine: server-name routes, and the real server that holds each
/// session ID and ticket key, bounded and timed out (see the [module](super) documentation).
///
/// `S` is the caller's real-server id (`Copy + Eq`: a `SocketAddr`, a `DestId`, an index).
/// Per connection: [`decide`](Self::decide) on the ClientHello, and after the real server's
/// ServerHello [`learn`](Self::learn). Call [`expire_step`](Self::expire_step) now and then
/// (lookups treat overdue entries as gone anyway).
///
/// ```
/// use lvs_core::tls_persist::*;
/// use lvs_core::{hash::SipKey, Instant};
///
/// let mut sessions = [SessionSlot::<u8>::EMPTY; 1024];
/// let mut tickets = [TicketSlot::<u8>::EMPTY; 1024];
/// let mut keys = [TicketKeySlot::<u8>::EMPTY; 8];
/// let mut rules = [SniRule::EMPTY; 8];
/// let storage = TlsStorage { sessions: &mut sessions, tickets: &mut tickets,
///                            ticket_keys: &mut keys, sni_rules: &mut rules };
/// let mut tls = TlsPersist::new(TlsPersistConfig::new(), storage, SipKey(1, 2)).unwrap();
/// tls.sni_route("*.example.com", 1).unwrap();
/// let up = |_server: u8| true;
/// let now = Instant::from_secs(100);
///
/// // a first visit: no session yet, schedule in the name's pool
/// let hello = HelloKeys { server_name: Some("www.example.com"), ..HelloKeys::default() };
/// assert_eq!(tls.decide(now, &hello, up), Decision::Pool(1));
/// // the scheduler chose server 7; its ServerHello names a new TLS 1.2 session
/// let reply = ReplyKeys { session_id: &[0xab; 32], psk_selected: false, version: 0x0303 };
/// tls.learn(now, 7, &hello, &reply);
///
/// // the client returns with that session ID: server 7, which holds it
/// let back = HelloKeys { session_id: &[0xab; 32], ..hello };
/// assert_eq!(tls.decide(now, &back, up), Decision::Remembered(7));
/// // server 7 is down: the pool decides, and the next learn() replaces the mapping
/// assert_eq!(tls.decide(now, &back, |s| s != 7), Decision::Pool(1));
/// let c = tls.counters();
/// assert_eq!((c.hits, c.fallbacks, c.learned), (1, 1, 1));
///
/// // an operator-configured ticket key name routes the first return of a TLS 1.3 client
/// tls.add_ticket_key(*b"server-3-key-001", 3).unwrap();
/// let psk = HelloKeys { ticket_key_name: Some(*b"server-3-key-001"), tls13: true, ..hello };
/// assert_eq!(tls.decide(now, &psk, up), Decision::Remembered(3));
/// ```
pub struct TlsPersist<'a, S> {
    cfg: TlsPersistConfig,
    seed: SipKey,
    sessions: Table<'a, 32, S>,
    tickets: Table<'a, 16, S>,
    keys: &'a mut [TicketKeySlot<S>],
    sni: SniRouter<'a>,
    counters: TlsCounters,
}

impl<S> fmt::Debug for TlsPersist<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPersist")
            .field("cfg", &self.cfg)
            .field("sni", &self.sni)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<'a, S: Copy + Eq> TlsPersist<'a, S> {
    /// An empty engine over `storage`, hashing keys with `seed` (clients choose the session IDs
    /// and tickets they offer: keep the seed secret). Server names all go to pool 0 until
    /// configured ([`sni_mut`](Self::sni_mut)).
    ///
    /// # Errors
    /// [`TableError::BadCapacity`] if `sessions` or `tickets` has a length that is neither zero
    /// nor a power of two.
    pub fn new(
        cfg: TlsPersistConfig,
        storage: TlsStorage<'a, S>,
        seed: SipKey,
    ) -> Result<Self, TableError> {
        let sessions = Table::new(storage.sessions)?;
        let tickets = Table::new(storage.tickets)?;
        for k in storage.ticket_keys.iter_mut() {
            *k = TicketKeySlot::EMPTY;
        }
        Ok(TlsPersist {
            cfg,
            seed,
            sessions,
            tickets,
            keys: storage.ticket_keys,
            sni: SniRouter::new(storage.sni_rules),
            counters: TlsCounters::default(),
        })
    }

    /// The timeouts.
    pub fn config(&self) -> &TlsPersistConfig {
        &self.cfg
    }

    /// Changes the timeouts; entries already stored keep their deadlines until next used.
    pub fn set_config(&mut self, cfg: TlsPersistConfig) {
        self.cfg = cfg;
    }

    /// The server-name routes.
    pub fn sni(&self) -> &SniRouter<'a> {
        &self.sni
    }

    /// The server-name routes, to change (default pool, refusing unknown names, rules).
    pub fn sni_mut(&mut self) -> &mut SniRouter<'a> {
        &mut self.sni
    }

    /// Routes names matching `pattern` (`name`, `*.name` or `.name`, see [`SniRouter`]) to
    /// `pool`; returns the pool the pattern had before.
    ///
    /// # Errors
    /// As [`SniRouter::add`].
    pub fn sni_route(&mut self, pattern: &str, pool: PoolId) -> Result<Option<PoolId>, SniError> {
        self.sni.add(pattern, pool)
    }

    /// Configures a ticket key name of `server` (RFC 5077 `key_name`: the first 16 bytes of
    /// the tickets it issues); it never expires. Returns the server the name had before.
    ///
    /// # Errors
    /// [`TicketKeyError::Full`] if the name is new and every configured-key slot is in use.
    pub fn add_ticket_key(
        &mut self,
        key_name: [u8; 16],
        server: S,
    ) -> Result<Option<S>, TicketKeyError> {
        if let Some((_, s)) = self
            .keys
            .iter_mut()
            .filter_map(|k| k.e.as_mut())
            .find(|(n, _)| *n == key_name)
        {
            return Ok(Some(core::mem::replace(s, server)));
        }
        let free = self
            .keys
            .iter_mut()
            .find(|k| k.e.is_none())
            .ok_or(TicketKeyError::Full)?;
        free.e = Some((key_name, server));
        Ok(None)
    }

    /// Removes a configured ticket key name; returns its server.
    pub fn remove_ticket_key(&mut self, key_name: &[u8; 16]) -> Option<S> {
        let slot = self
            .keys
            .iter_mut()
            .find(|k| k.e.is_some_and(|(n, _)| n == *key_name))?;
        slot.e.take().map(|(_, s)| s)
    }

    fn configured_key(&self, key_name: &[u8; 16]) -> Option<S> {
        self.keys
            .iter()
            .filter_map(|k| k.e.as_ref())
            .find(|(n, _)| n == key_name)
            .map(|(_, s)| *s)
    }

    /// Where a new connection with this ClientHello goes.
    ///
    /// In order: a server name that routes nowhere is refused (counted in `refused`); an
    /// offered ticket key name (configured, then learned) or a session ID that maps to a
    /// server `available` accepts is a hit (`hits`; a learned entry's timer restarts);
    /// one that maps only to unavailable servers gives the pool (`fallbacks`); an offered
    /// resumption nobody knows gives the pool (`misses`), and a hello offering none gives the
    /// pool (`fresh`). A learned mapping made under another pool than the name's now routes to
    /// is not used (a miss).
    ///
    /// A TLS 1.3 client's legacy session ID is usually a random compatibility value: it is
    /// looked up (a TLS 1.2 session may be resumed by a client that also offers 1.3), but not
    /// knowing it is not a miss.
    pub fn decide(
        &mut self,
        now: Instant,
        hello: &HelloKeys<'_>,
        mut available: impl FnMut(S) -> bool,
    ) -> Decision<S> {
        let Some(pool) = self.sni.route(hello.server_name) else {
            self.counters.refused += 1;
            return Decision::Refuse;
        };
        let mut known = false;
        let mut offered = false;
        if let Some(k) = hello.ticket_key_name {
            offered = true;
            if let Some(s) = self.configured_key(&k) {
                known = true;
                if available(s) {
                    self.counters.hits += 1;
                    return Decision::Remembered(s);
                }
            } else {
                let h = Table::<16, S>::hash(self.seed, &k);
                if let Some(f) = self.tickets.find(now, h, &k, &mut self.counters.expired) {
                    if f.pool.is_none_or(|p| p == pool) {
                        known = true;
                        if available(f.server) {
                            self.tickets.touch(f.slot, now + self.cfg.ticket_timeout);
                            self.counters.hits += 1;
                            return Decision::Remembered(f.server);
                        }
                    }
                }
            }
        }
        let id = hello.session_id;
        if !id.is_empty() {
            offered |= !hello.tls13;
            let h = Table::<32, S>::hash(self.seed, id);
            if let Some(f) = self.sessions.find(now, h, id, &mut self.counters.expired) {
                if f.pool.is_none_or(|p| p == pool) {
                    known = true;
                    if available(f.server) {
                        self.sessions.touch(f.slot, now + self.cfg.session_timeout);
                        self.counters.hits += 1;
                        return Decision::Remembered(f.server);
                    }
                }
            }
        }
        if known {
            self.counters.fallbacks += 1;
        } else if offered {
            self.counters.misses += 1;
        } else {
            self.counters.fresh += 1;
        }
        Decision::Pool(pool)
    }

    /// Learns from `server`'s ServerHello `reply` to `hello` (call it for every connection the
    /// engine decided, whichever way): replaces a mapping to another server, restarts the timer
    /// of one to the same server.
    ///
    /// - TLS 1.3 negotiated (`reply.version` 0x0304): with `psk_selected`, the offered ticket
    ///   key name maps to `server`. The legacy session ID is never learned.
    /// - TLS 1.2, resumption accepted (the reply echoes the client's non-empty session ID): the
    ///   offered ticket key name maps to `server` if the client offered a ticket, else the
    ///   session ID does.
    /// - TLS 1.2 full handshake (any other non-empty session ID in the reply): that session ID
    ///   maps to `server`.
    ///
    /// Configured ticket key names are not changed. A new entry displaces an overdue one
    /// (`expired`) or, in a full set, the one that expires soonest (`evicted`).
    pub fn learn(&mut self, now: Instant, server: S, hello: &HelloKeys<'_>, reply: &ReplyKeys<'_>) {
        let pool = self.sni.route(hello.server_name);
        if reply.version >= TLS13 {
            if reply.psk_selected {
                if let Some(k) = hello.ticket_key_name {
                    self.learn_ticket(now, server, pool, &k);
                }
            }
            return;
        }
        let offered = hello.session_id;
        if !offered.is_empty() && reply.session_id == offered {
            match hello.ticket_key_name {
                Some(k) => self.learn_ticket(now, server, pool, &k),
                None => self.learn_session(now, server, pool, offered),
            }
        } else if !reply.session_id.is_empty() {
            self.learn_session(now, server, pool, reply.session_id);
        }
    }

    /// Learns a ticket key name `server` issued, for a caller that reads the TLS 1.2
    /// NewSessionTicket (sent in the clear before the server's ChangeCipherSpec) of the
    /// connection whose ClientHello was `hello`.
    pub fn learn_issued_ticket(
        &mut self,
        now: Instant,
        server: S,
        hello: &HelloKeys<'_>,
        key_name: &[u8; 16],
    ) {
        let pool = self.sni.route(hello.server_name);
        self.learn_ticket(now, server, pool, key_name);
    }

    fn learn_ticket(&mut self, now: Instant, server: S, pool: Option<PoolId>, k: &[u8; 16]) {
        if self.configured_key(k).is_some() {
            return;
        }
        let h = Table::<16, S>::hash(self.seed, k);
        let to = self.cfg.ticket_timeout;
        let r = self.tickets.upsert(now, h, k, server, pool, to);
        self.count(r);
    }

    fn learn_session(&mut self, now: Instant, server: S, pool: Option<PoolId>, id: &[u8]) {
        let h = Table::<32, S>::hash(self.seed, id);
        let to = self.cfg.session_timeout;
        let r = self.sessions.upsert(now, h, id, server, pool, to);
        self.count(r);
    }

    fn count(&mut self, (what, d): (Upsert, Displaced)) {
        let c = &mut self.counters;
        match what {
            Upsert::New => c.learned += 1,
            Upsert::Changed => {
                c.learned += 1;
                c.replaced += 1;
            }
            Upsert::Refreshed | Upsert::Ignored => {}
        }
        c.expired += u64::from(d.expired);
        c.evicted += u64::from(d.evicted);
    }

    /// Frees every overdue learned entry (work proportional to the capacity); returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let n = self.sessions.capacity().max(self.tickets.capacity());
        self.expire_step(now, n)
    }

    /// Frees overdue learned entries among the next `budget` slots of each table (round
    /// robin, bounded work per call); returns how many.
    pub fn expire_step(&mut self, now: Instant, budget: usize) -> usize {
        let n = self.sessions.expire_step(now, budget) + self.tickets.expire_step(now, budget);
        self.counters.expired += n as u64;
        n
    }

    /// Forgets every learned mapping to `server` (a removed real server); returns how many.
    /// Configured key names stay (remove them with
    /// [`remove_ticket_key`](Self::remove_ticket_key)).
    pub fn remove_server(&mut self, server: S) -> usize {
        let n = self.sessions.remove_server(server) + self.tickets.remove_server(server);
        self.counters.removed += n as u64;
        n
    }

    /// The counters.
    pub fn counters(&self) -> &TlsCounters {
        &self.counters
    }

    /// Learned session IDs stored (overdue ones included until freed).
    pub fn sessions_len(&self) -> usize {
        self.sessions.len()
    }

    /// Learned ticket key names stored (overdue ones included until freed).
    pub fn tickets_len(&self) -> usize {
        self.tickets.len()
    }

    /// Configured ticket key names.
    pub fn ticket_keys_len(&self) -> usize {
        self.keys.iter().filter(|k| k.e.is_some()).count()
    }

    /// Capacity of the session-ID and ticket-key-name tables.
    pub fn capacity(&self) -> (usize, usize) {
        (self.sessions.capacity(), self.tickets.capacity())
    }

    /// Every stored mapping, for an `ipvsadm -L -n --persistent-conn`-style listing: learned
    /// session IDs, learned ticket key names, configured key names (overdue entries included
    /// until freed; their remaining time is zero).
    pub fn entries(&self) -> impl Iterator<Item = PersistEntry<S>> + '_ {
        let sessions = self.sessions.iter().map(|e| PersistEntry {
            kind: EntryKind::SessionId,
            data: PeData::new(e.key()),
            server: e.server,
            pool: e.pool,
            expires: Some(e.expires),
        });
        let tickets = self.tickets.iter().map(|e| PersistEntry {
            kind: EntryKind::TicketKey,
            data: PeData::new(e.key()),
            server: e.server,
            pool: e.pool,
            expires: Some(e.expires),
        });
        let keys = self
            .keys
            .iter()
            .filter_map(|k| k.e.as_ref())
            .map(|(n, s)| PersistEntry {
                kind: EntryKind::ConfiguredTicketKey,
                data: PeData::new(n),
                server: *s,
                pool: None,
                expires: None,
            });
        sessions.chain(tickets).chain(keys)
    }
}
