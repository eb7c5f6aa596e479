//! What the unit tests share: requests and servers.

use lvs_core::{Dest, DestId, Endpoint, FlowKey, Instant, Protocol, SchedRequest};

/// A TCP request from `client` to `service` at `now`.
pub(crate) fn req(client: Endpoint, service: Endpoint, now: Instant) -> SchedRequest {
    let flow = FlowKey::new(Protocol::Tcp, client, service);
    SchedRequest { flow, now }
}

/// A TCP request from 1.1.1.1:1 to 2.2.2.2:80 at time zero.
pub(crate) fn tcp_req() -> SchedRequest {
    let (client, service) = (
        Endpoint::v4([1, 1, 1, 1], 1),
        Endpoint::v4([2, 2, 2, 2], 80),
    );
    req(client, service, Instant::ZERO)
}

/// Server `i`, 198.18.1.`i`:80, with a weight and connection counts.
pub(crate) const fn server(i: u8, weight: u32, active: u32, inactive: u32) -> Dest {
    Dest::with_counts(Endpoint::v4([198, 18, 1, i], 80), weight, active, inactive)
}

/// Servers 0, 1, 2, 3 in list order: a service's order of its first servers (slice it).
pub(crate) const ORDER: [DestId; 4] = [DestId(0), DestId(1), DestId(2), DestId(3)];
