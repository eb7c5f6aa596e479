//! Command line, interfaces, lvsd's own addresses and its routing table.

use lvs_core::director::Defense;
use lvs_core::{IpAddr, Ipv4Addr, Ipv6Addr};
use lvs_forward::wire::MacAddr;
use std::fmt;
use std::path::PathBuf;

/// The usage text.
pub const USAGE: &str = include_str!("usage.txt").trim_ascii_end();

/// The side of connection synchronisation lvsd plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Send this director's connections.
    Master,
    /// Install a master's connections.
    Backup,
    /// Both (as a kernel running both sync daemons).
    Both,
}

impl SyncMode {
    fn parse(s: &str) -> Result<SyncMode, String> {
        match s {
            "master" => Ok(SyncMode::Master),
            "backup" => Ok(SyncMode::Backup),
            "both" => Ok(SyncMode::Both),
            _ => Err(format!("--sync {s:?}: expected master, backup or both")),
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, SyncMode::Master | SyncMode::Both)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, SyncMode::Backup | SyncMode::Both)
    }
}

/// Connection synchronisation settings (`ipvsadm --start-daemon` and its options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOpts {
    /// Master, backup or both.
    pub mode: SyncMode,
    /// The interface the multicast group is used on.
    pub iface: String,
    /// Sync ID.
    pub syncid: u8,
    /// Multicast group.
    pub group: Ipv4Addr,
    /// UDP port.
    pub port: u16,
    /// Multicast TTL.
    pub ttl: u8,
    /// Largest message payload; `None`: the interface's MTU less the IPv4 and UDP headers.
    pub maxlen: Option<u16>,
}

/// Smallest message payload lvsd lets a master use: a header and one IPv6 record.
pub const SYNC_MIN_LEN: u16 = (lvs_core::sync::HEADER_LEN + lvs_core::sync::RECORD_V6_LEN) as u16;

impl SyncOpts {
    /// The message size a master uses on an interface of `mtu` bytes: `--sync-maxlen` (or the
    /// MTU less the IPv4 and UDP headers), at most that, at least [`SYNC_MIN_LEN`], as the
    /// kernel clamps `sync_maxlen`.
    pub fn max_len(&self, mtu: u32) -> u16 {
        let link = mtu.saturating_sub(28).min(65507) as u16;
        self.maxlen.unwrap_or(link).min(link).max(SYNC_MIN_LEN)
    }
}

/// An address of lvsd's own on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Whether `a` is inside the prefix.
    pub fn contains(&self, a: &IpAddr) -> bool {
        match (self.addr, a) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.len.min(32)))
                };
                u32::from(n) & m == u32::from(*a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.len.min(128)))
                };
                u128::from(n) & m == u128::from(*a) & m
            }
            _ => false,
        }
    }

    fn parse(s: &str) -> Result<Prefix, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected ADDRESS/LENGTH"))?;
        let addr: IpAddr = a.parse().map_err(|_| format!("{a:?}: not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = l
            .parse()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| format!("{l:?}: not a prefix length 0..={max}"))?;
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A static route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix.
    pub dest: Prefix,
    /// Next hop.
    pub via: IpAddr,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Rules file.
    pub rules: PathBuf,
    /// Interfaces by name.
    pub ifaces: Vec<String>,
    /// (interface name, own address).
    pub addrs: Vec<(String, Prefix)>,
    /// Static routes.
    pub routes: Vec<RouteSpec>,
    /// Control socket.
    pub control: Option<PathBuf>,
    /// HTTP management address.
    pub http: Option<std::net::SocketAddr>,
    /// HTTP API tokens file.
    pub http_tokens: Option<PathBuf>,
    /// Registry database.
    pub registry: Option<PathBuf>,
    /// `--ldap URL`: the directory LDAP users bind to (`ldaps://` or StartTLS on `ldap://`).
    pub ldap: Option<String>,
    /// `--ldap-user-dn TEMPLATE`: a user's DN, `{user}` replaced by the login name.
    pub ldap_user_dn: Option<String>,
    /// `--ldap-ca FILE`: the CA (PEM) the directory's certificate is checked against.
    pub ldap_ca: Option<String>,
    /// `--snmp-agentx TARGET`: snmpd's AgentX socket (`unix:PATH` or `tcp:ADDR:PORT`).
    pub agentx: Option<String>,
    /// Health-check file (`--health`).
    pub health: Option<PathBuf>,
    /// Connection table size.
    pub conns: usize,
    /// Service capacity.
    pub services: usize,
    /// Real-server capacity.
    pub dests: usize,
    /// sysctl settings in order.
    pub sysctls: Vec<(String, u32)>,
    /// Promiscuous mode.
    pub promisc: bool,
    /// `--no-rings`: the per-frame `recv`/`send` path instead of `PACKET_MMAP` rings.
    pub no_rings: bool,
    /// `--xdp`: the `AF_XDP` frame path (an XDP program on each interface redirecting receive
    /// queue 0 to an `AF_XDP` socket) instead of the packet socket's rings.
    pub xdp: bool,
    /// `--busy-poll USEC`: after the receive rings run dry, keep looking at them for this many
    /// microseconds before sleeping in `poll(2)` (0: sleep at once).
    pub busy_poll_us: u32,
    /// `--xdp-busy-poll USEC[,BUDGET]`: the kernel's preferred busy polling on each `AF_XDP`
    /// socket (microseconds lvsd keeps driving the interfaces' NAPI after its receive rings run
    /// dry, frames per NAPI poll); `None`: off. Only with `--xdp`.
    pub xdp_busy_poll: Option<crate::busy_poll::XdpBusyPoll>,
    /// `--sched-fifo PRIO`: the frame path's threads under `SCHED_FIFO` at this priority
    /// (1–99; [`crate::sys::sched_fifo`]); `None`: the normal policy.
    pub sched_fifo: Option<u8>,
    /// Only check.
    pub check: bool,
    /// Verbose logging.
    pub verbose: bool,
    /// Connection synchronisation.
    pub sync: Option<SyncOpts>,
    /// VIP failover (`--vrrp*`, taken out of the arguments by [`crate::vrrp::split_args`]).
    pub vrrp: Option<crate::vrrp::VrrpOpts>,
}

/// The sysctls lvsd knows, with their largest values.
pub const SYSCTLS: &[(&str, u32)] = &[
    ("expire_nodest_conn", 1),
    ("expire_quiescent_template", 1),
    ("sloppy_tcp", 1),
    ("sloppy_tcp_consistent", 1),
    ("secure_tcp", 3),
    ("drop_entry", 1),
    ("conn_reuse_mode", 3),
];

/// Parses `NAME=VALUE` for a known sysctl.
pub fn parse_sysctl(s: &str) -> Result<(String, u32), String> {
    let (n, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=VALUE"))?;
    let max = SYSCTLS
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let names: Vec<_> = SYSCTLS.iter().map(|(k, _)| *k).collect();
            format!("unknown sysctl {n:?} (known: {})", names.join(", "))
        })?;
    let v: u32 = v
        .parse()
        .ok()
        .filter(|&x| x <= max)
        .ok_or_else(|| format!("{n}: value must be 0..={max}"))?;
    Ok((n.to_string(), v))
}

/// The value a sysctl reads back as.
pub fn sysctl_value(cfg: &lvs_core::director::DirectorConfig, name: &str) -> u32 {
    match name {
        "expire_nodest_conn" => u32::from(cfg.expire_nodest_conn),
        "expire_quiescent_template" => u32::from(cfg.expire_quiescent_template),
        "sloppy_tcp" => u32::from(cfg.sloppy_tcp),
        "sloppy_tcp_consistent" => u32::from(cfg.sloppy_tcp_consistent),
        "secure_tcp" => match cfg.secure_tcp {
            Defense::Off => 0,
            Defense::Auto => 1,
            Defense::Always => 3,
        },
        "drop_entry" => u32::from(cfg.drop_entry),
        "conn_reuse_mode" => u32::from(cfg.conn_reuse_mode),
        _ => 0,
    }
}

/// Applies a sysctl to a director configuration.
pub fn apply_sysctl(cfg: &mut lvs_core::director::DirectorConfig, name: &str, v: u32) {
    match name {
        "expire_nodest_conn" => cfg.expire_nodest_conn = v != 0,
        "expire_quiescent_template" => cfg.expire_quiescent_template = v != 0,
        "sloppy_tcp" => cfg.sloppy_tcp = v != 0,
        "sloppy_tcp_consistent" => cfg.sloppy_tcp_consistent = v != 0,
        "secure_tcp" => {
            cfg.secure_tcp = match v {
                0 => Defense::Off,
                1 | 2 => Defense::Auto,
                _ => Defense::Always,
            }
        }
        "drop_entry" => cfg.drop_entry = v != 0,
        "conn_reuse_mode" => cfg.conn_reuse_mode = v as u8,
        _ => {}
    }
}

impl Options {
    /// Parses the daemon's arguments (without the program name).
    ///
    /// # Errors
    /// A message naming the bad argument.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            rules: PathBuf::new(),
            ifaces: Vec::new(),
            addrs: Vec::new(),
            routes: Vec::new(),
            control: None,
            http: None,
            http_tokens: None,
            registry: None,
            ldap: None,
            ldap_user_dn: None,
            ldap_ca: None,
            agentx: None,
            health: None,
            conns: 65536,
            services: 64,
            dests: 1024,
            sysctls: Vec::new(),
            promisc: false,
            no_rings: false,
            xdp: false,
            busy_poll_us: 0,
            xdp_busy_poll: None,
            sched_fifo: None,
            check: false,
            verbose: false,
            sync: None,
            vrrp: None,
        };
        let mut rules = None;
        let mut sync_mode: Option<SyncMode> = None;
        let mut sync_iface: Option<String> = None;
        let mut sync_extra: Vec<&str> = Vec::new(); // sync options given, for the error
        let mut syncid = 0u8;
        let mut group = lvs_core::sync::SYNC_GROUP_V4;
        let mut port = lvs_core::sync::SYNC_PORT;
        let mut ttl = 1u8;
        let mut maxlen = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut value = || -> Result<String, String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value")),
                }
            };
            let number = |v: String, max: usize| -> Result<usize, String> {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1 && n <= max)
                    .ok_or_else(|| format!("{name}: {v:?} is not a number in 1..={max}"))
            };
            match name {
                "--rules" => rules = Some(PathBuf::from(value()?)),
                "--iface" => {
                    let v = value()?;
                    if o.ifaces.contains(&v) {
                        return Err(format!("--iface {v} given twice"));
                    }
                    o.ifaces.push(v)
                }
                "--addr" => {
                    let v = value()?;
                    let (i, p) = v
                        .split_once('=')
                        .ok_or_else(|| format!("--addr {v:?}: expected IFACE=IP/LEN"))?;
                    o.addrs.push((i.to_string(), Prefix::parse(p)?));
                }
                "--route" => {
                    let v = value()?;
                    let (d, g) = v
                        .split_once('=')
                        .ok_or_else(|| format!("--route {v:?}: expected PREFIX=GATEWAY"))?;
                    let via: IpAddr = g
                        .parse()
                        .map_err(|_| format!("--route {v:?}: gateway is not an address"))?;
                    let dest = if d == "default" {
                        Prefix {
                            addr: if via.is_ipv4() {
                                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                            } else {
                                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                            },
                            len: 0,
                        }
                    } else {
                        Prefix::parse(d)?
                    };
                    if dest.addr.is_ipv4() != via.is_ipv4() {
                        return Err(format!("--route {v:?}: families differ"));
                    }
                    o.routes.push(RouteSpec { dest, via });
                }
                "--control" => o.control = Some(PathBuf::from(value()?)),
                "--http" => {
                    let v = value()?;
                    o.http = Some(
                        v.parse()
                            .map_err(|_| format!("--http {v:?}: expected ADDRESS:PORT"))?,
                    );
                }
                "--http-tokens" => o.http_tokens = Some(PathBuf::from(value()?)),
                "--registry" => o.registry = Some(PathBuf::from(value()?)),
                "--ldap" => o.ldap = Some(value()?),
                "--ldap-user-dn" => o.ldap_user_dn = Some(value()?),
                "--ldap-ca" => o.ldap_ca = Some(value()?),
                "--snmp-agentx" => o.agentx = Some(value()?),
                "--health" => o.health = Some(PathBuf::from(value()?)),
                "--conns" => o.conns = number(value()?, 1 << 24)?,
                "--services" => o.services = number(value()?, 4096)?,
                "--dests" => o.dests = number(value()?, 65535)?,
                "--sysctl" => o.sysctls.push(parse_sysctl(&value()?)?),
                "--sync" | "--start-daemon" => {
                    let m = SyncMode::parse(&value()?)?;
                    sync_mode = Some(match (sync_mode, m) {
                        (None, m) => m,
                        (Some(SyncMode::Master), SyncMode::Backup)
                        | (Some(SyncMode::Backup), SyncMode::Master) => SyncMode::Both,
                        _ => return Err(format!("{name}: sync role given twice")),
                    });
                }
                "--sync-iface" | "--mcast-interface" => {
                    if sync_iface.is_some() {
                        return Err(format!("{name} given twice"));
                    }
                    sync_iface = Some(value()?);
                }
                "--syncid" => {
                    let v = value()?;
                    syncid = v
                        .parse()
                        .map_err(|_| format!("--syncid {v:?}: not a number in 0..=255"))?;
                    sync_extra.push("--syncid");
                }
                "--mcast-group" => {
                    let v = value()?;
                    group = v
                        .parse::<Ipv4Addr>()
                        .ok()
                        .filter(Ipv4Addr::is_multicast)
                        .ok_or_else(|| {
                            format!("--mcast-group {v:?}: not an IPv4 multicast address")
                        })?;
                    sync_extra.push("--mcast-group");
                }
                "--mcast-port" => {
                    port = number(value()?, 65535)? as u16;
                    sync_extra.push("--mcast-port");
                }
                "--mcast-ttl" => {
                    ttl = number(value()?, 255)? as u8;
                    sync_extra.push("--mcast-ttl");
                }
                "--sync-maxlen" => {
                    maxlen = Some(number(value()?, 65507)? as u16);
                    sync_extra.push("--sync-maxlen");
                }
                "--promisc" => o.promisc = true,
                "--no-rings" => o.no_rings = true,
                "--xdp" => o.xdp = true,
                "--busy-poll" => o.busy_poll_us = number(value()?, 1_000_000)? as u32,
                "--xdp-busy-poll" => {
                    o.xdp_busy_poll = Some(crate::busy_poll::XdpBusyPoll::parse(&value()?)?)
                }
                "--sched-fifo" => o.sched_fifo = Some(number(value()?, 99)? as u8),
                "--check" => o.check = true,
                "-v" | "--verbose" => o.verbose = true,
                "-h" | "--help" => return Err(USAGE.to_string()),
                _ => return Err(format!("unknown argument {a:?}\n{USAGE}")),
            }
        }
        o.rules = rules.ok_or_else(|| format!("--rules is required\n{USAGE}"))?;
        o.sync = match (sync_mode, sync_iface) {
            (Some(mode), Some(iface)) => Some(SyncOpts {
                mode,
                iface,
                syncid,
                group,
                port,
                ttl,
                maxlen,
            }),
            (Some(_), None) => {
                return Err("--sync needs --sync-iface IFACE (the multicast interface)".into())
            }
            (None, Some(_)) => {
                sync_extra.insert(0, "--sync-iface");
                None
            }
            (None, None) => None,
        };
        if let Some(opt) = sync_extra.first().filter(|_| o.sync.is_none()) {
            return Err(format!("{opt} needs --sync master|backup|both"));
        }
        if o.xdp_busy_poll.is_some() && !o.xdp {
            return Err("--xdp-busy-poll needs --xdp".into());
        }
        if !o.check && o.ifaces.is_empty() {
            return Err(format!("at least one --iface is required\n{USAGE}"));
        }
        for (i, p) in &o.addrs {
            if !o.ifaces.contains(i) && !o.check {
                return Err(format!("--addr {i}={p}: {i} is not an --iface"));
            }
        }
        for r in &o.routes {
            if !o.addrs.iter().any(|(_, p)| p.contains(&r.via)) {
                return Err(format!(
                    "--route {}={}: the gateway is not inside any --addr prefix",
                    r.dest, r.via
                ));
            }
        }
        Ok(o)
    }
}

/// What lvsd knows about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceInfo {
    /// Name.
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// MAC address.
    pub mac: MacAddr,
    /// MTU.
    pub mtu: u32,
}

/// Reads an interface's index, MAC and MTU from sysfs.
///
/// # Errors
/// When the interface does not exist or is not Ethernet-like.
pub fn iface_info(name: &str) -> Result<IfaceInfo, String> {
    let base = format!("/sys/class/net/{name}");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{base}/{f}"))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("interface {name}: {f}: {e}"))
    };
    let index = read("ifindex")?
        .parse()
        .map_err(|_| format!("interface {name}: bad ifindex"))?;
    let mtu = read("mtu")?
        .parse()
        .map_err(|_| format!("interface {name}: bad mtu"))?;
    let mac = parse_mac(&read("address")?)
        .ok_or_else(|| format!("interface {name}: not an Ethernet interface"))?;
    Ok(IfaceInfo {
        name: name.to_string(),
        index,
        mac,
        mtu,
    })
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in m.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(MacAddr(m))
}

/// Formats a MAC address.
pub fn mac_str(m: &MacAddr) -> String {
    let b = m.0;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// A route: connected (no gateway) or through a gateway, out of an interface (index into
/// lvsd's interface list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub dest: Prefix,
    /// Gateway, `None` for on-link.
    pub via: Option<IpAddr>,
    /// Outgoing interface.
    pub iface: usize,
}

/// The routing table: connected prefixes from the addresses, then the static routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// Every route.
    pub routes: Vec<Route>,
}

impl Routes {
    /// Builds the table; `addrs` are (interface index, own prefix).
    ///
    /// # Errors
    /// A gateway that no connected prefix holds.
    pub fn new(addrs: &[(usize, Prefix)], statics: &[RouteSpec]) -> Result<Routes, String> {
        let mut routes: Vec<Route> = addrs
            .iter()
            .map(|&(iface, p)| Route {
                dest: p,
                via: None,
                iface,
            })
            .collect();
        for s in statics {
            let iface = addrs
                .iter()
                .filter(|(_, p)| p.contains(&s.via))
                .max_by_key(|(_, p)| p.len)
                .map(|(i, _)| *i)
                .ok_or_else(|| format!("route {}: gateway {} is not on-link", s.dest, s.via))?;
            routes.push(Route {
                dest: s.dest,
                via: Some(s.via),
                iface,
            });
        }
        Ok(Routes { routes })
    }

    /// The longest-prefix route for `dst`: (interface, next hop).
    pub fn lookup(&self, dst: &IpAddr) -> Option<(usize, IpAddr)> {
        self.routes
            .iter()
            .filter(|r| r.dest.contains(dst))
            .max_by_key(|r| (r.dest.len, r.via.is_none()))
            .map(|r| (r.iface, r.via.unwrap_or(*dst)))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_and_routes() {
        let o = Options::parse(&args(
            "--rules r --iface d0 --iface d1 --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 \
             --addr d1=2001:db8:1::1/64 --route default=198.18.0.254 --route 198.19.0.0/16=198.18.1.254 \
             --sysctl expire_nodest_conn=1 --control=/tmp/s",
        ))
        .unwrap();
        assert_eq!(o.ifaces, ["d0", "d1"]);
        assert_eq!(o.sysctls, [("expire_nodest_conn".to_string(), 1)]);
        assert_eq!(o.control, Some(PathBuf::from("/tmp/s")));
        let addrs: Vec<_> = o
            .addrs
            .iter()
            .map(|(i, p)| (o.ifaces.iter().position(|x| x == i).unwrap(), *p))
            .collect();
        let r = Routes::new(&addrs, &o.routes).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(r.lookup(&ip("198.18.1.11")), Some((1, ip("198.18.1.11"))));
        assert_eq!(r.lookup(&ip("198.19.3.4")), Some((1, ip("198.18.1.254"))));
        assert_eq!(r.lookup(&ip("203.0.113.9")), Some((0, ip("198.18.0.254"))));
        assert_eq!(
            r.lookup(&ip("2001:db8:1::11")),
            Some((1, ip("2001:db8:1::11")))
        );
        assert_eq!(r.lookup(&ip("2001:db8:2::11")), None);
        for bad in [
            "--rules r",
            "--iface d0",
            "--rules r --iface d0 --addr d1=198.18.0.1/24",
            "--rules r --iface d0 --addr d0=198.18.0.1/33",
            "--rules r --iface d0 --route default=198.18.0.254",
            "--rules r --iface d0 --sysctl nope=1",
            "--rules r --iface d0 --sysctl conn_reuse_mode=4",
            "--rules r --iface d0 --bogus",
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            parse_mac("02:00:00:00:00:0a"),
            Some(MacAddr([2, 0, 0, 0, 0, 10]))
        );
        assert_eq!(parse_mac("02:00:00:00:00"), None);
    }

    #[test]
    fn busy_poll_option() {
        let p = |extra: &str| Options::parse(&args(&format!("--rules r --iface d0 {extra}")));
        assert_eq!(p("").unwrap().busy_poll_us, 0);
        assert_eq!(p("--busy-poll 200").unwrap().busy_poll_us, 200);
        for bad in [
            "--busy-poll",
            "--busy-poll x",
            "--busy-poll -1",
            "--busy-poll 1000001",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sched_fifo_option() {
        let p = |extra: &str| Options::parse(&args(&format!("--rules r --iface d0 {extra}")));
        assert_eq!(p("").unwrap().sched_fifo, None);
        assert_eq!(p("--sched-fifo 1").unwrap().sched_fifo, Some(1));
        assert_eq!(p("--sched-fifo 99").unwrap().sched_fifo, Some(99));
        for bad in [
            "--sched-fifo",
            "--sched-fifo 0",
            "--sched-fifo 100",
            "--sched-fifo x",
            "--sched-fifo -1",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_options() {
        let base = "--rules r --iface d0";
        let p = |extra: &str| Options::parse(&args(&format!("{base} {extra}")));
        assert_eq!(p("").unwrap().sync, None);
        let o = p("--sync master --sync-iface y0 --syncid 7").unwrap();
        assert_eq!(
            o.sync,
            Some(SyncOpts {
                mode: SyncMode::Master,
                iface: "y0".into(),
                syncid: 7,
                group: Ipv4Addr::new(224, 0, 0, 81),
                port: 8848,
                ttl: 1,
                maxlen: None,
            })
        );
        // ipvsadm's spelling, twice for both roles
        let o = p("--start-daemon master --mcast-interface eth1 --syncid 1 --start-daemon backup")
            .unwrap()
            .sync
            .unwrap();
        assert_eq!(
            (o.mode, o.iface.as_str(), o.syncid),
            (SyncMode::Both, "eth1", 1)
        );
        let o = p(
            "--sync=backup --sync-iface=y0 --mcast-group 239.1.2.3 --mcast-port 9000 \
                   --mcast-ttl 4 --sync-maxlen 1000",
        )
        .unwrap()
        .sync
        .unwrap();
        assert_eq!(o.mode, SyncMode::Backup);
        assert!(o.mode.receives() && !o.mode.sends());
        assert_eq!(
            (o.group, o.port, o.ttl, o.maxlen),
            (Ipv4Addr::new(239, 1, 2, 3), 9000, 4, Some(1000))
        );
        assert_eq!(
            p("--sync both --sync-iface y0").unwrap().sync.unwrap().mode,
            SyncMode::Both
        );
        assert_eq!(
            p("--sync both --sync-iface y0")
                .unwrap()
                .sync
                .unwrap()
                .syncid,
            0
        );
        for bad in [
            "--sync master",                  // no interface
            "--sync-iface y0",                // no role
            "--syncid 3",                     // no role
            "--mcast-ttl 2 --sync-iface y0",  // no role
            "--sync primary --sync-iface y0", // unknown role
            "--sync master --sync master --sync-iface y0",
            "--sync both --sync backup --sync-iface y0",
            "--sync master --sync-iface y0 --sync-iface y1",
            "--sync master --sync-iface y0 --syncid 256",
            "--sync master --sync-iface y0 --syncid -1",
            "--sync master --sync-iface y0 --mcast-group 198.18.0.1",
            "--sync master --sync-iface y0 --mcast-group ff02::81",
            "--sync master --sync-iface y0 --mcast-port 0",
            "--sync master --sync-iface y0 --mcast-ttl 0",
            "--sync master --sync-iface y0 --mcast-ttl 256",
            "--sync master --sync-iface y0 --sync-maxlen 70000",
            "--sync master --sync-iface",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert!(p("--sync-iface y0").unwrap_err().contains("needs --sync"));
        assert!(p("--sync master").unwrap_err().contains("--sync-iface"));
    }
}
