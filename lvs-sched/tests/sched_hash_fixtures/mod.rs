//! Fixtures for the hashing and locality scheduler tests (dh, sh, mh, lblc, lblcr): a service's
//! real servers as a pool plus the kernel's list order, changed the way a director changes
//! them, with the matching scheduler callbacks.
#![allow(dead_code)]

use lvs_core::{Endpoint, FlowKey, Instant, IpAddr, Protocol, SchedRequest, Scheduler};

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

#[path = "../common/mod.rs"]
mod common;
pub use common::Svc;

impl<S: Scheduler> Svc<S> {
    /// `n` servers `10.0.<i/250>.<i%250+1>:80` with weight 1.
    pub fn uniform(s: S, n: usize) -> Self {
        let servers: Vec<(Endpoint, u32)> = (0..n).map(|i| (server(i), 1)).collect();
        Self::with(s, &servers)
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
