//! TLS-aware distribution on the splicer: the ClientHello picks the server, the ServerHello
//! teaches the engine.
//!
//! [`TlsClassifier`] reads the client's ClientHello ([`crate::tls::read_client_hello`]), asks
//! the `tls` persistence engine ([`lvs_core::tls_persist::TlsPersist`]) where it goes — the
//! server that holds the offered session or ticket, or a pool by server name — and, for a pool,
//! that pool's own scheduler ([`super::hybrid::Pool`]). It then watches the chosen server's
//! reply ([`super::ContentClassifier::reply`]) for the ServerHello and lets the engine learn
//! the session ID or ticket key name the server now holds.
//!
//! - A refused server name is answered with a fatal `unrecognized_name` alert
//!   ([`ALERT_UNRECOGNIZED_NAME`], RFC 6066 §3), then the connection closes.
//! - Bytes that are not a TLS ClientHello (plain text on port 443, SSLv2-style hellos, bad
//!   lengths, a hello larger than the splicer's buffer) go to a fallback pool or are reset,
//!   as configured ([`OnError`]).
//! - A server that refuses the connection (or never answers it) is passed over for
//!   [`TlsClassifierConfig::hold_down`]; the connection moves to the next choice (the engine's
//!   fallback and the pool's scheduler) with the same ClientHello, so the client sees only a
//!   full handshake instead of a resumption.
//!
//! State between a ClientHello and its ServerHello sits in `W` fixed slots (direct-mapped by
//! client and virtual service; a newer connection displaces an older one, counted), each with
//! room for [`REPLY_BUF`] bytes of the reply in case the ServerHello arrives in pieces.

use super::classify::{Classification, ContentClassifier, FlowInfo};
use super::hybrid::Pool;
use crate::tls::{read_client_hello, read_server_hello, ticket_key_name, TlsError, MAX_HELLO};
use core::net::{IpAddr, SocketAddrV4};
use lvs_core::hash::{siphash, SipKey};
use lvs_core::sched::Scheduler;
use lvs_core::tls_persist::{Decision, HelloKeys, PoolId, ReplyKeys, TlsPersist, TLS13};
use lvs_core::{Duration, Instant};

/// A fatal `unrecognized_name` alert record (RFC 6066 §3, RFC 8446 §6), sent for a refused name.
pub const ALERT_UNRECOGNIZED_NAME: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Reply bytes kept per connection until its ServerHello is complete (a ServerHello with a
/// post-quantum key share is about 1,200 bytes).
pub const REPLY_BUF: usize = 2048;

/// Longest server name kept between the ClientHello and the ServerHello (DNS names are at most
/// 253 bytes).
const MAX_NAME: usize = 255;

/// Servers held down at once after failed connects.
const MAX_DOWN: usize = 32;

/// What to do with a connection whose first bytes are not a usable ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Reset the connection.
    Reset,
    /// Schedule it in this pool anyway (e.g. a pool that answers with an error page).
    Pool(PoolId),
}

/// Settings of a [`TlsClassifier`].
#[derive(Debug, Clone, Copy)]
pub struct TlsClassifierConfig {
    /// Non-TLS bytes, SSLv2 hellos, malformed or oversized hellos.
    pub on_error: OnError,
    /// How long a server that refused a connection is passed over.
    pub hold_down: Duration,
    /// Key of the hash placing connections in the reply slots.
    pub secret: SipKey,
}

impl TlsClassifierConfig {
    /// Resets bad hellos, holds a failed server down for 5 s.
    pub const fn new(secret: SipKey) -> Self {
        TlsClassifierConfig {
            on_error: OnError::Reset,
            hold_down: Duration::from_secs(5),
            secret,
        }
    }
}

/// What the classifier saw and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Complete ClientHellos read.
    pub hellos: u64,
    /// Of those, offering a resumption (a ticket, a PSK identity, or a TLS 1.2-only hello with
    /// a session ID).
    pub resumption_offers: u64,
    /// Sent to a remembered server.
    pub remembered: u64,
    /// Scheduled in a pool.
    pub scheduled: u64,
    /// Refused names (answered with an alert).
    pub refused: u64,
    /// Not TLS at all (or SSLv2-style).
    pub not_tls: u64,
    /// TLS, but a malformed or oversized hello.
    pub bad_hello: u64,
    /// Bad hellos sent to the fallback pool (the rest were reset).
    pub error_fallbacks: u64,
    /// No server available in the pool (reset).
    pub no_server: u64,
    /// ServerHellos read.
    pub server_hellos: u64,
    /// Of those, accepting a resumption (TLS 1.2: the client's session ID echoed; TLS 1.3: a
    /// PSK selected).
    pub resumed: u64,
    /// Of those, full handshakes.
    pub full_handshakes: u64,
    /// HelloRetryRequests (nothing learned from those connections).
    pub retry_requests: u64,
    /// Replies that were not a readable ServerHello (an alert, garbage, too long).
    pub bad_replies: u64,
    /// Waiting connections displaced from their reply slot by a newer one.
    pub displaced: u64,
    /// Failed connects to a server.
    pub connect_failures: u64,
    /// Connections moved to another server after a failed connect.
    pub moved: u64,
}

/// One connection between its ClientHello and its ServerHello.
#[derive(Clone, Copy)]
struct Waiting {
    used: bool,
    client: SocketAddrV4,
    vip: SocketAddrV4,
    server: SocketAddrV4,
    sid: [u8; 32],
    sid_len: u8,
    ticket: Option<[u8; 16]>,
    tls13: bool,
    name: [u8; MAX_NAME],
    name_len: u8,
    has_name: bool,
    reply: [u8; REPLY_BUF],
    reply_len: u16,
}

impl Waiting {
    const EMPTY: Waiting = Waiting {
        used: false,
        client: SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0),
        vip: SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0),
        server: SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0),
        sid: [0; 32],
        sid_len: 0,
        ticket: None,
        tls13: false,
        name: [0; MAX_NAME],
        name_len: 0,
        has_name: false,
        reply: [0; REPLY_BUF],
        reply_len: 0,
    };

    fn keys(&self) -> HelloKeys<'_> {
        HelloKeys {
            server_name: if self.has_name {
                core::str::from_utf8(&self.name[..usize::from(self.name_len)]).ok()
            } else {
                None
            },
            session_id: &self.sid[..usize::from(self.sid_len)],
            ticket_key_name: self.ticket,
            tls13: self.tls13,
        }
    }

    fn store(&mut self, flow: &FlowInfo, server: SocketAddrV4, keys: &HelloKeys<'_>) {
        self.used = true;
        self.client = flow.client;
        self.vip = flow.vip;
        self.server = server;
        let n = keys.session_id.len().min(32);
        self.sid[..n].copy_from_slice(&keys.session_id[..n]);
        self.sid_len = n as u8;
        self.ticket = keys.ticket_key_name;
        self.tls13 = keys.tls13;
        self.has_name = false;
        self.name_len = 0;
        if let Some(name) = keys.server_name.filter(|n| n.len() <= MAX_NAME) {
            self.name[..name.len()].copy_from_slice(name.as_bytes());
            self.name_len = name.len() as u8;
            self.has_name = true;
        }
        self.reply_len = 0;
    }
}

/// The ticket key name a hello offers: the session-ticket extension's (TLS 1.2), else the
/// first pre_shared_key identity's (TLS 1.3).
fn offered_key_name(hello: &crate::tls::ClientHello<'_>) -> Option<[u8; 16]> {
    hello
        .session_ticket()
        .and_then(ticket_key_name)
        .or_else(|| hello.psk_identities().next().and_then(ticket_key_name))
}

fn v4(e: &lvs_core::Endpoint) -> Option<SocketAddrV4> {
    match e.addr {
        IpAddr::V4(a) => Some(SocketAddrV4::new(a, e.port)),
        IpAddr::V6(_) => None,
    }
}

/// A [`ContentClassifier`] for TLS: SNI pools, session persistence, the pools' schedulers.
///
/// `P` pools (numbered as the engine's [`PoolId`]s), `W` reply slots. Large: keep it boxed or
/// static.
pub struct TlsClassifier<'e, S, const P: usize, const W: usize> {
    inner: Inner<'e, S, P, W>,
    /// Reassembly room for hellos that span several records.
    scratch: [u8; MAX_HELLO],
}

/// Everything but the scratch buffer (which a parsed hello borrows while the rest changes).
struct Inner<'e, S, const P: usize, const W: usize> {
    engine: TlsPersist<'e, SocketAddrV4>,
    pools: [Option<Pool<S>>; P],
    cfg: TlsClassifierConfig,
    waiting: [Waiting; W],
    /// Servers passed over until a time, with the weight to give back.
    down: [Option<(SocketAddrV4, Instant, u32)>; MAX_DOWN],
    stats: TlsStats,
}

impl<S, const P: usize, const W: usize> core::fmt::Debug for TlsClassifier<'_, S, P, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsClassifier")
            .field("engine", &self.inner.engine)
            .field("stats", &self.inner.stats)
            .finish_non_exhaustive()
    }
}

impl<'e, S: Scheduler, const P: usize, const W: usize> TlsClassifier<'e, S, P, W> {
    /// A classifier over a configured engine (server names, default pool, ticket keys) and its
    /// pools, in [`PoolId`] order (at most `P`; more are ignored).
    ///
    /// # Panics
    /// At compile time if `W` is 0.
    pub fn new(
        engine: TlsPersist<'e, SocketAddrV4>,
        pools: impl IntoIterator<Item = Pool<S>>,
        cfg: TlsClassifierConfig,
    ) -> Self {
        const { assert!(W > 0, "W reply slots: at least one") };
        let mut slots = [const { None }; P];
        for (slot, p) in slots.iter_mut().zip(pools) {
            *slot = Some(p);
        }
        TlsClassifier {
            inner: Inner {
                engine,
                pools: slots,
                cfg,
                waiting: [Waiting::EMPTY; W],
                down: [None; MAX_DOWN],
                stats: TlsStats::default(),
            },
            scratch: [0; MAX_HELLO],
        }
    }

    /// Counters.
    pub fn stats(&self) -> &TlsStats {
        &self.inner.stats
    }

    /// The persistence engine (counters, entries for a listing).
    pub fn engine(&self) -> &TlsPersist<'e, SocketAddrV4> {
        &self.inner.engine
    }

    /// The persistence engine, to change (names, ticket keys, timeouts).
    pub fn engine_mut(&mut self) -> &mut TlsPersist<'e, SocketAddrV4> {
        &mut self.inner.engine
    }

    /// The pools, in [`PoolId`] order.
    pub fn pools(&self) -> impl Iterator<Item = &Pool<S>> {
        self.inner.pools.iter().flatten()
    }

    /// The pool `id`, to change (e.g. a server's weight).
    pub fn pool_mut(&mut self, id: PoolId) -> Option<&mut Pool<S>> {
        self.inner.pools.get_mut(usize::from(id))?.as_mut()
    }

    /// The settings.
    pub fn config(&self) -> &TlsClassifierConfig {
        &self.inner.cfg
    }

    /// Periodic work: gives held-down servers their weight back when their time is up and
    /// expires overdue engine entries (`budget` slots of each table; bounded work).
    pub fn tick(&mut self, now: Instant, budget: usize) {
        for k in 0..MAX_DOWN {
            if let Some((server, until, weight)) = self.inner.down[k] {
                if until <= now {
                    self.inner.down[k] = None;
                    for p in self.inner.pools.iter_mut().flatten() {
                        p.set_weight(server, weight);
                    }
                }
            }
        }
        self.inner.engine.expire_step(now, budget);
    }
}

impl<'e, S: Scheduler, const P: usize, const W: usize> Inner<'e, S, P, W> {
    /// Whether `server` may take connections (in a pool with a non-zero weight).
    fn available(pools: &[Option<Pool<S>>; P], server: SocketAddrV4) -> bool {
        pools.iter().flatten().any(|p| {
            p.dests()
                .iter()
                .any(|d| v4(&d.addr) == Some(server) && d.weight > 0)
        })
    }

    fn slot_of(&self, client: SocketAddrV4, vip: SocketAddrV4) -> usize {
        let mut m = [0u8; 12];
        m[0..4].copy_from_slice(&client.ip().octets());
        m[4..6].copy_from_slice(&client.port().to_be_bytes());
        m[6..10].copy_from_slice(&vip.ip().octets());
        m[10..12].copy_from_slice(&vip.port().to_be_bytes());
        (siphash::<1, 3>(self.cfg.secret, &m) % W as u64) as usize
    }

    /// Engine decision to a server: remembered ones counted on their pool, pools scheduled.
    fn place(&mut self, flow: &FlowInfo, keys: &HelloKeys<'_>) -> Classification {
        let pools = &self.pools;
        match self
            .engine
            .decide(flow.now, keys, |s| Self::available(pools, s))
        {
            Decision::Remembered(s) => {
                self.stats.remembered += 1;
                if let Some(p) = self.pools.iter_mut().flatten().find(|p| p.contains(s)) {
                    p.opened(s);
                }
                Classification::Choose(s)
            }
            Decision::Pool(id) => match self.schedule(flow, id) {
                Some(s) => Classification::Choose(s),
                None => Classification::Reset,
            },
            Decision::Refuse => {
                self.stats.refused += 1;
                Classification::Reject(ALERT_UNRECOGNIZED_NAME)
            }
        }
    }

    fn schedule(&mut self, flow: &FlowInfo, id: PoolId) -> Option<SocketAddrV4> {
        let s = self
            .pools
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
            .and_then(|p| p.schedule_flow(flow));
        match s {
            Some(_) => self.stats.scheduled += 1,
            None => self.stats.no_server += 1,
        }
        s
    }

    fn bad_hello(&mut self, flow: &FlowInfo) -> Classification {
        match self.cfg.on_error {
            OnError::Reset => Classification::Reset,
            OnError::Pool(id) => match self.schedule(flow, id) {
                Some(s) => {
                    self.stats.error_fallbacks += 1;
                    Classification::Choose(s)
                }
                None => Classification::Reset,
            },
        }
    }

    /// Remembers the hello of a connection sent to `server`, for its ServerHello.
    fn wait_reply(&mut self, flow: &FlowInfo, server: SocketAddrV4, keys: &HelloKeys<'_>) {
        let k = self.slot_of(flow.client, flow.vip);
        let w = &mut self.waiting[k];
        if w.used {
            self.stats.displaced += 1;
        }
        w.store(flow, server, keys);
    }
}

impl<S: Scheduler, const P: usize, const W: usize> ContentClassifier
    for TlsClassifier<'_, S, P, W>
{
    fn classify(&mut self, flow: &FlowInfo, data: &[u8]) -> Classification {
        self.inner.classify(flow, data, &mut self.scratch)
    }

    fn overflow(&mut self, flow: &FlowInfo) -> Classification {
        self.inner.stats.bad_hello += 1;
        self.inner.bad_hello(flow)
    }

    fn reply(&mut self, flow: &FlowInfo, server: SocketAddrV4, offset: usize, data: &[u8]) -> bool {
        let k = self.inner.slot_of(flow.client, flow.vip);
        let w = &mut self.inner.waiting[k];
        if !w.used || w.client != flow.client || w.vip != flow.vip || w.server != server {
            return false;
        }
        let have = usize::from(w.reply_len);
        if offset != have {
            w.used = false;
            self.inner.stats.bad_replies += 1;
            return false;
        }
        let n = data.len().min(REPLY_BUF - have);
        w.reply[have..have + n].copy_from_slice(&data[..n]);
        w.reply_len = (have + n) as u16;
        let w = self.inner.waiting[k];
        let stream = &w.reply[..usize::from(w.reply_len)];
        let (version, sid, psk) = match read_server_hello(stream, &mut self.scratch) {
            Ok(None) if usize::from(w.reply_len) < REPLY_BUF => return true,
            Ok(Some(sh)) if sh.is_hello_retry_request() => {
                self.inner.stats.retry_requests += 1;
                self.inner.waiting[k].used = false;
                return false;
            }
            Ok(Some(sh)) => {
                let mut sid = [0u8; 32];
                let n = sh.session_id().len().min(32);
                sid[..n].copy_from_slice(&sh.session_id()[..n]);
                (sh.selected_version(), (sid, n), sh.selected_psk().is_some())
            }
            Ok(None) | Err(_) => {
                self.inner.stats.bad_replies += 1;
                self.inner.waiting[k].used = false;
                return false;
            }
        };
        self.inner.waiting[k].used = false;
        self.inner.stats.server_hellos += 1;
        let keys = w.keys();
        let reply = ReplyKeys {
            session_id: &sid.0[..sid.1],
            psk_selected: psk,
            version,
        };
        let resumed = if version >= TLS13 {
            psk
        } else {
            !keys.session_id.is_empty() && reply.session_id == keys.session_id
        };
        if resumed {
            self.inner.stats.resumed += 1;
        } else {
            self.inner.stats.full_handshakes += 1;
        }
        self.inner.engine.learn(flow.now, server, &keys, &reply);
        false
    }

    fn connect_failed(&mut self, flow: &FlowInfo, server: SocketAddrV4) -> Option<SocketAddrV4> {
        self.inner.stats.connect_failures += 1;
        self.inner.hold_down(flow.now, server);
        let k = self.inner.slot_of(flow.client, flow.vip);
        let w = self.inner.waiting[k];
        if !w.used || w.client != flow.client || w.vip != flow.vip || w.server != server {
            return None;
        }
        let keys = w.keys();
        let next = match self.inner.place(flow, &keys) {
            Classification::Choose(s) => s,
            _ => return None,
        };
        self.inner.stats.moved += 1;
        self.inner.waiting[k].server = next;
        Some(next)
    }

    fn closed(&mut self, server: SocketAddrV4) {
        for p in self.inner.pools.iter_mut().flatten() {
            if p.closed(server) {
                return;
            }
        }
    }
}

impl<S: Scheduler, const P: usize, const W: usize> Inner<'_, S, P, W> {
    fn classify(
        &mut self,
        flow: &FlowInfo,
        data: &[u8],
        scratch: &mut [u8; MAX_HELLO],
    ) -> Classification {
        let hello = match read_client_hello(data, scratch) {
            Ok(None) => return Classification::NeedMore,
            Ok(Some(h)) => h,
            Err(TlsError::NotTls | TlsError::SslV2) => {
                self.stats.not_tls += 1;
                return self.bad_hello(flow);
            }
            Err(_) => {
                self.stats.bad_hello += 1;
                return self.bad_hello(flow);
            }
        };
        self.stats.hellos += 1;
        let keys = HelloKeys {
            server_name: hello.server_name(),
            session_id: hello.session_id(),
            ticket_key_name: offered_key_name(&hello),
            tls13: hello.offers_tls13(),
        };
        if keys.ticket_key_name.is_some()
            || hello.session_ticket().is_some_and(|t| !t.is_empty())
            || hello.psk_identities().next().is_some()
            || (!keys.tls13 && !keys.session_id.is_empty())
        {
            self.stats.resumption_offers += 1;
        }
        let c = self.place(flow, &keys);
        if let Classification::Choose(s) = c {
            self.wait_reply(flow, s, &keys);
        }
        c
    }

    /// Passes `server` over for the hold-down time (its weight 0 in every pool).
    fn hold_down(&mut self, now: Instant, server: SocketAddrV4) {
        let until = now + self.cfg.hold_down;
        if let Some(d) = self.down.iter_mut().flatten().find(|d| d.0 == server) {
            d.1 = until;
            return;
        }
        let weight = self
            .pools
            .iter()
            .flatten()
            .flat_map(|p| p.dests())
            .find(|d| v4(&d.addr) == Some(server))
            .map_or(0, |d| d.weight);
        if weight == 0 {
            return;
        }
        if let Some(slot) = self.down.iter_mut().find(|d| d.is_none()) {
            *slot = Some((server, until, weight));
            for p in self.pools.iter_mut().flatten() {
                p.set_weight(server, 0);
            }
        }
    }
}
