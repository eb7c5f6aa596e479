//! The hybrid policy: HTTP rules pick a pool, the pool's own scheduler picks the server.
//!
//! A pool declared `key=url` hands its scheduler a flow whose addresses are a keyed hash of
//! Host and path, so a hashing scheduler (`mh`, `sh`, `dh`, `lblc`) keeps each object on one
//! cache server; other pools see the client's real flow and usually run `wlc` on the
//! connection counts the router keeps (up when a connection is spliced, down on
//! [`super::ContentClassifier::closed`]).

use super::classify::FlowInfo;
use super::http::Router;
use super::rules::RequestView;
use super::rules_parse::{PoolDecl, RuleError, RuleErrorKind, RuleSet, MAX_POOL_SERVERS};
use core::net::{IpAddr, SocketAddrV4};
use lvs_core::dest::{Dest, DestConfig, DestId, DestSet, FwdMethod};
use lvs_core::hash::{siphash, SipKey};
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::{Endpoint, FlowKey, Protocol};

/// One pool's servers and scheduler.
#[derive(Debug, Clone)]
pub struct Pool<S> {
    dests: [Dest; MAX_POOL_SERVERS],
    order: [DestId; MAX_POOL_SERVERS],
    len: usize,
    /// The scheduler.
    pub sched: S,
    /// Keyed by URL.
    pub key_url: bool,
    /// Requests routed to this pool.
    pub requests: u64,
}

impl<S: Scheduler> Pool<S> {
    fn new(decl: &PoolDecl<'_>, sched: S) -> Self {
        let mut p = Self::with_servers(decl.servers(), sched);
        p.key_url = decl.key_url;
        p
    }

    /// A pool of `servers` (address, weight; at most [`MAX_POOL_SERVERS`], the rest are
    /// ignored) scheduled by `sched` on the client's flow.
    pub fn with_servers(servers: &[(SocketAddrV4, u32)], mut sched: S) -> Self {
        let blank = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        let mut dests = [blank; MAX_POOL_SERVERS];
        let mut order = [DestId(0); MAX_POOL_SERVERS];
        let len = servers.len().min(MAX_POOL_SERVERS);
        for (k, (addr, w)) in servers[..len].iter().enumerate() {
            dests[k] = Dest::new(&DestConfig::new(
                Endpoint::v4(addr.ip().octets(), addr.port()),
                FwdMethod::Masq,
                *w,
            ));
            order[k] = DestId(k as u16);
        }
        sched.init_service(&DestSet::new(&dests[..len], &order[..len]));
        Pool {
            dests,
            order,
            len,
            sched,
            key_url: false,
            requests: 0,
        }
    }

    /// The servers with their connection counts.
    pub fn dests(&self) -> &[Dest] {
        &self.dests[..self.len]
    }

    /// Whether `server` is one of the pool's.
    pub fn contains(&self, server: SocketAddrV4) -> bool {
        self.position(server).is_some()
    }

    fn position(&self, server: SocketAddrV4) -> Option<usize> {
        self.dests[..self.len]
            .iter()
            .position(|d| v4(&d.addr) == Some(server))
    }

    /// Schedules a connection on `key` (a flow the scheduler hashes or ignores) and counts it
    /// on the chosen server (down again with [`Pool::closed`]).
    pub fn schedule(&mut self, key: FlowKey, now: lvs_core::Instant) -> Option<SocketAddrV4> {
        let set = DestSet::new(&self.dests[..self.len], &self.order[..self.len]);
        let id = self
            .sched
            .schedule(&set, &SchedRequest { flow: key, now })?;
        let d = self.dests.get_mut(id.index())?;
        d.active = d.active.saturating_add(1);
        let addr = v4(&d.addr)?;
        self.requests += 1;
        self.sched.counts_changed(
            &DestSet::new(&self.dests[..self.len], &self.order[..self.len]),
            id,
        );
        Some(addr)
    }

    /// Counts a connection to `server` chosen without the scheduler (e.g. a remembered TLS
    /// session); `false` when the server is not in the pool.
    pub fn opened(&mut self, server: SocketAddrV4) -> bool {
        let Some(k) = self.position(server) else {
            return false;
        };
        self.dests[k].active = self.dests[k].active.saturating_add(1);
        self.sched.counts_changed(
            &DestSet::new(&self.dests[..self.len], &self.order[..self.len]),
            DestId(k as u16),
        );
        true
    }

    /// Schedules the connection of `flow` on its client and virtual service.
    pub fn schedule_flow(&mut self, flow: &FlowInfo) -> Option<SocketAddrV4> {
        self.schedule(client_key(flow), flow.now)
    }

    /// A connection to `server` ended: counts it down; `false` when the server is not in the
    /// pool or has no connection counted.
    pub fn closed(&mut self, server: SocketAddrV4) -> bool {
        let Some(k) = self.dests[..self.len]
            .iter()
            .position(|d| v4(&d.addr) == Some(server) && d.active > 0)
        else {
            return false;
        };
        self.dests[k].active -= 1;
        self.sched.counts_changed(
            &DestSet::new(&self.dests[..self.len], &self.order[..self.len]),
            DestId(k as u16),
        );
        true
    }

    /// Changes the weight of `server` (0: quiesced, the scheduler passes it over); `false`
    /// when it is not in the pool.
    pub fn set_weight(&mut self, server: SocketAddrV4, weight: u32) -> bool {
        let Some(k) = self.position(server) else {
            return false;
        };
        let d = &mut self.dests[k];
        if d.weight == weight {
            return true;
        }
        if d.weight > 0 {
            d.last_weight = d.weight;
        }
        d.weight = weight;
        self.sched.upd_dest(
            &DestSet::new(&self.dests[..self.len], &self.order[..self.len]),
            DestId(k as u16),
        );
        true
    }
}

/// The scheduler's view of a connection: the client and the virtual service.
fn client_key(flow: &FlowInfo) -> FlowKey {
    FlowKey::new(
        Protocol::Tcp,
        Endpoint::v4(flow.client.ip().octets(), flow.client.port()),
        Endpoint::v4(flow.vip.ip().octets(), flow.vip.port()),
    )
}

fn v4(e: &Endpoint) -> Option<SocketAddrV4> {
    match e.addr {
        IpAddr::V4(a) => Some(SocketAddrV4::new(a, e.port)),
        IpAddr::V6(_) => None,
    }
}

/// A [`Router`] from a [`RuleSet`] and one scheduler per pool.
#[derive(Debug)]
pub struct HybridRouter<'a, S, const R: usize, const P: usize> {
    rules: RuleSet<'a, R, P>,
    pools: [Option<Pool<S>>; P],
    url_key: SipKey,
}

impl<'a, S: Scheduler, const R: usize, const P: usize> HybridRouter<'a, S, R, P> {
    /// Builds the pools of `rules`, each with the scheduler `make` returns for its declaration
    /// (`None`: unknown scheduler). `url_key` keys the URL hash.
    ///
    /// # Errors
    /// [`RuleErrorKind::UnknownScheduler`] with the pool's line.
    pub fn new(
        rules: RuleSet<'a, R, P>,
        url_key: SipKey,
        mut make: impl FnMut(&PoolDecl<'a>) -> Option<S>,
    ) -> Result<Self, RuleError> {
        let mut pools = [const { None }; P];
        for (k, (decl, line)) in rules.pools().enumerate() {
            let s = make(decl).ok_or(RuleError {
                line,
                kind: RuleErrorKind::UnknownScheduler,
            })?;
            pools[k] = Some(Pool::new(decl, s));
        }
        Ok(HybridRouter {
            rules,
            pools,
            url_key,
        })
    }

    /// The pools, in declaration order.
    pub fn pools(&self) -> impl Iterator<Item = &Pool<S>> {
        self.pools.iter().flatten()
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet<'a, R, P> {
        &self.rules
    }

    /// The keyed hash of Host and path a `key=url` pool schedules on.
    pub fn url_hash(&self, host: &str, path: &str) -> u64 {
        let h = siphash::<1, 3>(self.url_key, host.as_bytes());
        siphash::<1, 3>(SipKey(self.url_key.0 ^ h, self.url_key.1), path.as_bytes())
    }

    /// Chooses a server for a request view (what [`Router::route`] does after parsing).
    pub fn route_view(&mut self, flow: &FlowInfo, view: &RequestView<'_>) -> Option<SocketAddrV4> {
        let p = self.rules.select(view);
        let key = if self.pools.get(p)?.as_ref()?.key_url {
            let h = self.url_hash(view.host, view.path);
            let a = (h as u32).to_be_bytes();
            FlowKey::new(
                Protocol::Tcp,
                Endpoint::v4(a, (h >> 32) as u16),
                Endpoint::v4(a, flow.vip.port()),
            )
        } else {
            client_key(flow)
        };
        self.pools.get_mut(p)?.as_mut()?.schedule(key, flow.now)
    }
}

impl<S: Scheduler, const R: usize, const P: usize> Router for HybridRouter<'_, S, R, P> {
    fn route(&mut self, flow: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
        let view = RequestView::new(req)?;
        self.route_view(flow, &view)
    }

    fn closed(&mut self, server: SocketAddrV4) {
        for pool in self.pools.iter_mut().flatten() {
            if pool.closed(server) {
                return;
            }
        }
    }
}
