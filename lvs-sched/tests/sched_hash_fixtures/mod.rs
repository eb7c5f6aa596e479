//! Fixtures for the hashing and locality scheduler tests (dh, sh, mh, lblc, lblcr): a service's
//! real servers as a pool plus the kernel's list order, changed the way a director changes
//! them, with the matching scheduler callbacks.
#![allow(dead_code)]

use lvs_core::dest::DestFlags;
use lvs_core::{
    Dest, DestId, DestSet, Endpoint, FlowKey, Instant, IpAddr, Protocol, SchedRequest, Scheduler,
};

/// A TCP flow from `client` to `dst`.
pub fn flow(client: Endpoint, dst: Endpoint) -> FlowKey {
    FlowKey::new(Protocol::Tcp, client, dst)
}

/// A request at `now` for a TCP flow from `client` to `dst`.
pub fn req(client: Endpoint, dst: Endpoint, now: Instant) -> SchedRequest {
    SchedRequest {
        flow: flow(client, dst),
        now,
    }
}

/// A request from `client` to the VIP `198.18.0.1:80` at time zero.
pub fn from(client: Endpoint) -> SchedRequest {
    req(client, Endpoint::v4([198, 18, 0, 1], 80), Instant::ZERO)
}

/// A request from `198.19.0.1:40000` to destination address `daddr` port 80 at `now`.
pub fn to(daddr: IpAddr, now: Instant) -> SchedRequest {
    req(
        Endpoint::v4([198, 19, 0, 1], 40000),
        Endpoint::new(daddr, 80),
        now,
    )
}

/// `198.19.0.<i>` (port 0).
pub fn client_v4(i: u8) -> Endpoint {
    Endpoint::v4([198, 19, 0, i], 0)
}

/// One service: `pool[i]` is server `i`, `order` the list (newest first).
pub struct Svc<S> {
    pub pool: Vec<Dest>,
    pub order: Vec<DestId>,
    pub s: S,
}

impl<S: Scheduler> Svc<S> {
    /// A service already holding `servers` (endpoint, weight), listed in the given order (so
    /// `DestId(0)` is first), then bound to `s` (`init_service`).
    pub fn with(s: S, servers: &[(Endpoint, u32)]) -> Self {
        let pool: Vec<Dest> = servers
            .iter()
            .map(|&(e, w)| Dest::with_counts(e, w, 0, 0))
            .collect();
        let order = (0..servers.len()).map(|i| DestId(i as u16)).collect();
        let mut svc = Svc { pool, order, s };
        let set = DestSet::new(&svc.pool, &svc.order);
        svc.s.init_service(&set);
        svc
    }

    /// `n` servers `10.0.<i/250>.<i%250+1>:80` with weight 1.
    pub fn uniform(s: S, n: usize) -> Self {
        let servers: Vec<(Endpoint, u32)> = (0..n).map(|i| (server(i), 1)).collect();
        Self::with(s, &servers)
    }

    pub fn set(&self) -> DestSet<'_> {
        DestSet::new(&self.pool, &self.order)
    }

    pub fn schedule(&mut self, r: &SchedRequest) -> Option<DestId> {
        let set = DestSet::new(&self.pool, &self.order);
        self.s.schedule(&set, r)
    }

    pub fn tick(&mut self, now: Instant) {
        let set = DestSet::new(&self.pool, &self.order);
        self.s.tick(&set, now);
    }

    /// Adds a server at the head of the list (`add_dest`).
    pub fn add(&mut self, e: Endpoint, weight: u32) -> DestId {
        let id = DestId(self.pool.len() as u16);
        self.pool.push(Dest::with_counts(e, weight, 0, 0));
        self.order.insert(0, id);
        let set = DestSet::new(&self.pool, &self.order);
        self.s.add_dest(&set, id);
        id
    }

    /// Removes a server from the list (`del_dest` with its old position).
    pub fn del(&mut self, id: DestId) {
        let pos = self.order.iter().position(|&d| d == id).expect("listed");
        self.order.remove(pos);
        self.pool[id.index()].set_flag(DestFlags::AVAILABLE, false);
        let set = DestSet::new(&self.pool, &self.order);
        self.s.del_dest(&set, id, pos);
    }

    /// Edits a server's weight the way `__ip_vs_update_dest` does (`upd_dest`).
    pub fn set_weight(&mut self, id: DestId, weight: u32) {
        let d = &mut self.pool[id.index()];
        d.weight = weight;
        if weight != 0 {
            d.last_weight = weight;
        }
        let set = DestSet::new(&self.pool, &self.order);
        self.s.upd_dest(&set, id);
    }

    /// Sets or clears OVERLOAD (no callback; the kernel has none either).
    pub fn overload(&mut self, id: DestId, on: bool) {
        self.pool[id.index()].set_flag(DestFlags::OVERLOAD, on);
    }

    /// Sets the connection counters of a server.
    pub fn counts(&mut self, id: DestId, active: u32, inactive: u32) {
        let d = &mut self.pool[id.index()];
        d.active = active;
        d.inactive = inactive;
        let set = DestSet::new(&self.pool, &self.order);
        self.s.counts_changed(&set, id);
    }
}

/// Real server number `i`: `10.0.<i/250>.<i%250+1>:80`.
pub fn server(i: usize) -> Endpoint {
    Endpoint::v4([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 80)
}

/// A tiny deterministic generator (SplitMix64) for flow samples.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random IPv4 client with a random port.
    pub fn client(&mut self) -> Endpoint {
        let x = self.next_u64();
        Endpoint::v4((x as u32).to_be_bytes(), (x >> 32) as u16)
    }
}
