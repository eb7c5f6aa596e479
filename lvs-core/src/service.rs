//! Virtual service configuration (`ipvsadm -A`/`-E`).

use crate::addr::ServiceKey;
use crate::time::Duration;

/// Client persistence (`-p TIMEOUT [-M NETMASK]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Persistence {
    /// How long a template outlives its last use (`-p`, default 300 s).
    pub timeout: Duration,
    /// Client address prefix length that shares a template (`-M`): 32 (IPv4) or 128 (IPv6)
    /// pins single clients; 24 pins a /24.
    pub prefix_len: u8,
}

impl Persistence {
    /// The kernel's default persistence timeout, 300 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    /// Persistence with `timeout` per single client address.
    pub const fn new(timeout: Duration) -> Self {
        Persistence {
            timeout,
            prefix_len: 128,
        }
    }

    /// The same persistence shared by a network of `prefix_len` bits.
    pub const fn with_prefix(mut self, prefix_len: u8) -> Self {
        self.prefix_len = prefix_len;
        self
    }
}

/// A virtual service's configuration.
///
/// ```
/// use lvs_core::service::{Persistence, ServiceConfig};
/// use lvs_core::{Endpoint, Protocol, ServiceKey, Duration};
/// let key = ServiceKey::Addr { proto: Protocol::Tcp, vip: Endpoint::v4([198, 18, 0, 1], 80) };
/// let cfg = ServiceConfig::new(key).with_persistence(Persistence::new(Duration::from_secs(300)).with_prefix(24));
/// assert!(cfg.persistence.is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ServiceConfig {
    /// What the service matches.
    pub key: ServiceKey,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (`-o`, `--ops`): each UDP datagram is scheduled on its own and no
    /// connection entry outlives it.
    pub one_packet: bool,
}

impl ServiceConfig {
    /// A service with no persistence.
    pub const fn new(key: ServiceKey) -> Self {
        ServiceConfig {
            key,
            persistence: None,
            one_packet: false,
        }
    }

    /// The same service with persistence.
    pub const fn with_persistence(mut self, p: Persistence) -> Self {
        self.persistence = Some(p);
        self
    }

    /// The same service with one-packet scheduling.
    pub const fn with_one_packet(mut self, on: bool) -> Self {
        self.one_packet = on;
        self
    }
}

/// A service's handle: its index in the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ServiceId(pub u16);
