//! Real servers ("destinations" in IPVS) and the read-only view schedulers get of them.

use crate::addr::Endpoint;
use core::fmt;

/// A real server's handle: a stable index into the director's real-server pool.
///
/// A handle stays valid while the real server is in its service or still referenced by
/// connections after removal (the kernel's "trash"); it is reused only after both end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DestId(pub u16);

impl DestId {
    /// The pool index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// How packets reach a real server (`-m`, `-i`, `-g`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum FwdMethod {
    /// Masquerading (NAT): rewrite the destination to the real server, and replies back.
    Masq,
    /// IP tunnelling: encapsulate toward the real server, which answers the client directly.
    Tunnel,
    /// Direct routing ("gatewaying"): rewrite the destination MAC only.
    #[default]
    DirectRoute,
}

impl FwdMethod {
    /// The name ipvsadm lists in its `Forward` column.
    pub const fn ipvsadm_name(self) -> &'static str {
        match self {
            FwdMethod::Masq => "Masq",
            FwdMethod::Tunnel => "Tunnel",
            FwdMethod::DirectRoute => "Route",
        }
    }

    /// The one-letter tag of `ip_vs_fwd_tag` (`M`, `T`, `R`).
    pub const fn tag(self) -> char {
        match self {
            FwdMethod::Masq => 'M',
            FwdMethod::Tunnel => 'T',
            FwdMethod::DirectRoute => 'R',
        }
    }
}

/// Encapsulation used by [`FwdMethod::Tunnel`] (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TunnelKind {
    /// IP-in-IP (IPv4 in IPv4, IPv6 in IPv6).
    #[default]
    Ipip,
    /// Generic UDP Encapsulation on the given UDP port.
    Gue {
        /// Destination UDP port of the encapsulation.
        port: u16,
        /// Whether the outer UDP checksum is computed (`--tun-nocsum` clears it).
        csum: bool,
    },
}

/// What an operator sets on a real server (`ipvsadm -a`/`-e`).
///
/// ```
/// use lvs_core::dest::{DestConfig, FwdMethod};
/// use lvs_core::addr::Endpoint;
/// let c = DestConfig::new(Endpoint::v4([198, 18, 1, 1], 80), FwdMethod::Masq, 3).with_thresholds(100, 0);
/// assert_eq!(c.effective_lower_threshold(), 75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DestConfig {
    /// Real server address and port (port 0: use the packet's destination port).
    pub addr: Endpoint,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Tunnel encapsulation, used with [`FwdMethod::Tunnel`].
    pub tunnel: TunnelKind,
    /// Weight, 0..=65535; 0 quiesces the server.
    pub weight: u32,
    /// Upper connection threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`), 0 = derived from the upper one.
    pub l_threshold: u32,
}

/// The largest weight IPVS accepts.
pub const MAX_WEIGHT: u32 = 65535;

impl DestConfig {
    /// A configuration with no thresholds and IPIP tunnelling.
    pub const fn new(addr: Endpoint, fwd: FwdMethod, weight: u32) -> Self {
        DestConfig {
            addr,
            fwd,
            tunnel: TunnelKind::Ipip,
            weight,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    /// The same configuration with thresholds set.
    pub const fn with_thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.u_threshold = upper;
        self.l_threshold = lower;
        self
    }

    /// The same configuration with tunnel encapsulation `tunnel` (for [`FwdMethod::Tunnel`]).
    pub const fn with_tunnel(mut self, tunnel: TunnelKind) -> Self {
        self.tunnel = tunnel;
        self
    }

    /// The lower threshold in effect: `-y` if set, else 3/4 of `-x` (as `ipvsadm -L` shows it).
    pub const fn effective_lower_threshold(&self) -> u32 {
        if self.l_threshold != 0 {
            self.l_threshold
        } else {
            // the kernel clears overload when total*4 < upper*3
            (self.u_threshold as u64 * 3 / 4) as u32
        }
    }
}

bitflags::bitflags! {
    /// Real-server flag bits (a [`bitflags`] type).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct DestFlags: u8 {
        /// In its service's list (`IP_VS_DEST_F_AVAILABLE`); cleared on removal.
        const AVAILABLE = 0x01;
        /// Over its upper threshold (`IP_VS_DEST_F_OVERLOAD`).
        const OVERLOAD = 0x02;
        /// The pool slot is taken: the server is in a service, or removed but still referenced
        /// by connections (the kernel's trash).
        const IN_USE = 0x04;
    }
}

/// A real server and its connection counters, as schedulers see it.
///
/// The director owns these; schedulers get them read-only through a [`DestSet`]. Fields are
/// public so that tests and simulators can build fixtures directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    /// Address and port.
    pub addr: Endpoint,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Tunnel encapsulation.
    pub tunnel: TunnelKind,
    /// Current weight.
    pub weight: u32,
    /// The last non-zero weight (the kernel's `last_weight`, used by mh).
    pub last_weight: u32,
    /// Upper threshold, 0 = none.
    pub u_threshold: u32,
    /// Lower threshold, 0 = derived.
    pub l_threshold: u32,
    /// [`DestFlags`] bits.
    pub flags: DestFlags,
    /// Connections in ESTABLISHED (`activeconns`).
    pub active: u32,
    /// Other connections (`inactconns`); UDP connections are always here.
    pub inactive: u32,
    /// Persistence templates pointing at this server (`persistconns`).
    pub persistent: u32,
    /// Index of the owning service in the director.
    pub service: u16,
}

impl Dest {
    /// A fresh, available real server with zero counters.
    pub const fn new(cfg: &DestConfig) -> Self {
        Dest {
            addr: cfg.addr,
            fwd: cfg.fwd,
            tunnel: cfg.tunnel,
            weight: cfg.weight,
            last_weight: cfg.weight,
            u_threshold: cfg.u_threshold,
            l_threshold: cfg.l_threshold,
            flags: DestFlags::AVAILABLE,
            active: 0,
            inactive: 0,
            persistent: 0,
            service: 0,
        }
    }

    /// The server's configuration as [`DestConfig`] (what `ipvsadm -a`/`-e` would set).
    pub const fn config(&self) -> DestConfig {
        DestConfig {
            addr: self.addr,
            fwd: self.fwd,
            tunnel: self.tunnel,
            weight: self.weight,
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
        }
    }

    /// Test and simulation helper: a server at `addr` with `weight` and the given counters.
    ///
    /// ```
    /// use lvs_core::dest::Dest;
    /// use lvs_core::addr::Endpoint;
    /// let d = Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 2, 3, 1);
    /// assert_eq!(d.overhead(), 3 * 256 + 1);
    /// ```
    pub const fn with_counts(addr: Endpoint, weight: u32, active: u32, inactive: u32) -> Self {
        let mut d = Dest::new(&DestConfig::new(addr, FwdMethod::Masq, weight));
        d.active = active;
        d.inactive = inactive;
        d
    }

    /// Still in its service (`IP_VS_DEST_F_AVAILABLE`).
    #[inline]
    pub const fn is_available(&self) -> bool {
        self.flags.contains(DestFlags::AVAILABLE)
    }

    /// Marked overloaded by its upper threshold (`IP_VS_DEST_F_OVERLOAD`).
    #[inline]
    pub const fn is_overloaded(&self) -> bool {
        self.flags.contains(DestFlags::OVERLOAD)
    }

    /// The kernel's `ip_vs_dest_conn_overhead`: `(active << 8) + inactive`.
    #[inline]
    pub const fn overhead(&self) -> u32 {
        (self.active << 8).wrapping_add(self.inactive)
    }

    /// `active + inactive` (`ip_vs_dest_totalconns`).
    #[inline]
    pub const fn total_conns(&self) -> u32 {
        self.active.wrapping_add(self.inactive)
    }

    /// Sets or clears flags.
    pub fn set_flag(&mut self, flag: DestFlags, on: bool) {
        self.flags.set(flag, on);
    }

    /// Applies the bind-time threshold rule (`ip_vs_bind_dest`): set OVERLOAD when the upper
    /// threshold is reached.
    pub fn check_overload_on_bind(&mut self) {
        if self.u_threshold != 0 && self.total_conns() >= self.u_threshold {
            self.set_flag(DestFlags::OVERLOAD, true);
        }
    }

    /// Applies the unbind-time threshold rule (`ip_vs_unbind_dest`): clear OVERLOAD below the
    /// lower threshold, below 3/4 of the upper one when no lower is set, or always without one.
    pub fn check_overload_on_unbind(&mut self) {
        let total = self.total_conns() as u64;
        let clear = if self.l_threshold != 0 {
            total < self.l_threshold as u64
        } else if self.u_threshold != 0 {
            total * 4 < self.u_threshold as u64 * 3
        } else {
            true
        };
        if clear {
            self.set_flag(DestFlags::OVERLOAD, false);
        }
    }

    /// Applies an edit (`__ip_vs_update_dest`): new weight, thresholds and method. OVERLOAD is
    /// cleared when the upper threshold is removed or raised; `last_weight` follows non-zero
    /// weights.
    pub fn apply_config(&mut self, cfg: &DestConfig) {
        if cfg.u_threshold == 0 || cfg.u_threshold > self.u_threshold {
            self.set_flag(DestFlags::OVERLOAD, false);
        }
        self.weight = cfg.weight;
        if cfg.weight != 0 {
            self.last_weight = cfg.weight;
        }
        self.fwd = cfg.fwd;
        self.tunnel = cfg.tunnel;
        self.u_threshold = cfg.u_threshold;
        self.l_threshold = cfg.l_threshold;
    }

    /// Takes a removed server back from the trash (`__ip_vs_update_dest` with `add` set):
    /// applies `cfg` as [`Dest::apply_config`] does, except that `last_weight` becomes the new
    /// weight even when it is 0, as the kernel's add path sets it; the counters are kept and the
    /// server is marked available again.
    pub fn revive(&mut self, cfg: &DestConfig) {
        self.apply_config(cfg);
        self.last_weight = cfg.weight;
        self.set_flag(DestFlags::AVAILABLE, true);
    }
}

/// The real servers of one service in the kernel's list order (most recently added first),
/// as schedulers see them.
///
/// `pool` is indexed by [`DestId`]; `order` lists the service's members. Ids in `order` that
/// fall outside `pool` are skipped, so a malformed set cannot panic.
///
/// ```
/// use lvs_core::dest::{Dest, DestId, DestSet};
/// use lvs_core::addr::Endpoint;
/// let pool = [Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 1, 0, 0),
///             Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 1, 0, 0)];
/// // server 1 was added last, so the kernel lists it first
/// let order = [DestId(1), DestId(0)];
/// let set = DestSet::new(&pool, &order);
/// assert_eq!(set.iter().next().unwrap().0, DestId(1));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DestSet<'a> {
    pool: &'a [Dest],
    order: &'a [DestId],
}

impl<'a> DestSet<'a> {
    /// A view over `pool` listing `order`.
    pub const fn new(pool: &'a [Dest], order: &'a [DestId]) -> Self {
        DestSet { pool, order }
    }

    /// Members in list order, with their ids.
    #[inline]
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (DestId, &'a Dest)> + 'a {
        let pool = self.pool;
        self.order
            .iter()
            .filter_map(move |&id| pool.get(id.index()).map(|d| (id, d)))
    }

    /// The member ids in list order.
    #[inline]
    pub const fn order(&self) -> &'a [DestId] {
        self.order
    }

    /// The real server behind `id`, member or not (a removed server is still readable while
    /// connections reference it; check [`Dest::is_available`]).
    #[inline]
    pub fn get(&self, id: DestId) -> Option<&'a Dest> {
        self.pool.get(id.index())
    }

    /// Number of members.
    #[inline]
    pub const fn len(&self) -> usize {
        self.order.len()
    }

    /// No members.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Position of `id` in list order.
    pub fn position(&self, id: DestId) -> Option<usize> {
        self.order.iter().position(|&d| d == id)
    }
}

impl fmt::Display for DestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dest#{}", self.0)
    }
}
