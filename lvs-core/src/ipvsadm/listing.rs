//! `ipvsadm -L -n` listings, `ipvsadm -S -n` dumps and the `ipvsadm -L -n -c` connection list.
//!
//! The formats are ipvsadm 1.31's (`print_title`, `print_service_entry`, `print_largenum`,
//! `list_conn`, `print_conn`), reproduced byte for byte for numeric output, including the
//! trailing blanks of left-aligned last columns. Everything is written to a
//! [`core::fmt::Write`]; nothing is allocated (padded fields go through a 64-byte stack buffer).
//!
//! The caller supplies rows in the order it wants them printed. ipvsadm sorts services and real
//! servers unless given `--nosort`; [`cmp_services`] and [`cmp_dests`] give that order.
//!
//! A director fills a [`ServiceRow`] per service whose `dests` is any iterator of
//! [`DestRow`], typically a `map` over its real servers, so no list is built:
//!
//! ```
//! use lvs_core::ipvsadm::{write_list, DestRow, ListHeader, ListMode, ServiceRow};
//! use lvs_core::{Endpoint, FwdMethod, Protocol, ServiceConfig, ServiceKey};
//! let key = ServiceKey::Addr { proto: Protocol::Tcp, vip: Endpoint::v4([198, 18, 0, 1], 80) };
//! let servers = [(Endpoint::v4([198, 18, 1, 1], 80), 3u32, 12u32, 40u32)];
//! let cfg = ServiceConfig::new(key);
//! let row = ServiceRow::new(&cfg, "wlc", servers.iter().map(|&(addr, weight, active, inactive)| {
//!     let mut d = DestRow::new(addr, FwdMethod::Masq, weight);
//!     d.active = active;
//!     d.inactive = inactive;
//!     d
//! }));
//! let mut out = String::new();
//! write_list(&mut out, &ListHeader::new(4096), [row], ListMode::Plain).unwrap();
//! assert_eq!(out, "\
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
//! TCP  198.18.0.1:80 wlc
//!   -> 198.18.1.1:80                Masq    3      12         40        \n");
//! ```

use super::rules::{write_persistence, Rule};
use super::{NumericEndpoint, SchedFlags};
use crate::addr::{AddrFamily, Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, ServiceKey};
use crate::dest::{Dest, DestConfig, FwdMethod, TunnelKind};
use crate::service::{Persistence, ServiceConfig};
use crate::stats::{Counters, Rates};
use crate::time::Duration;
use core::cmp::Ordering;
use core::fmt::{self, Write};

/// The first line of a listing: `IP Virtual Server version 1.2.1 (size=4096)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListHeader {
    /// IPVS version reported (major, minor, patch); the kernel has said 1.2.1 since 2005.
    pub version: (u8, u8, u8),
    /// Connection table size (the kernel's `ip_vs_conn_tab_size`).
    pub conn_table_size: u32,
}

impl ListHeader {
    /// A header for version 1.2.1 and a connection table of `conn_table_size` buckets.
    pub const fn new(conn_table_size: u32) -> Self {
        ListHeader {
            version: (1, 2, 1),
            conn_table_size,
        }
    }
}

impl fmt::Display for ListHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b, c) = self.version;
        write!(
            f,
            "IP Virtual Server version {a}.{b}.{c} (size={})",
            self.conn_table_size
        )
    }
}

/// Which `ipvsadm -L -n` table to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ListMode {
    /// `-L -n`: scheduler, flags, persistence; forwarding, weight and connection counts.
    #[default]
    Plain,
    /// `-L -n --stats`: cumulative counters.
    Stats {
        /// `--exact`: full numbers instead of K/M/G/T scaling.
        exact: bool,
    },
    /// `-L -n --rate`: per-second rates.
    Rate {
        /// `--exact`: full numbers instead of K/M/G/T scaling.
        exact: bool,
    },
    /// `-L -n --thresholds`: upper and lower thresholds.
    Thresholds,
    /// `-L -n --persistent-conn`: persistence template counts.
    PersistentConn,
    /// `-L -n --tun-info`: tunnel encapsulation.
    TunInfo,
}

/// One real server's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestRow {
    /// Address and port.
    pub addr: Endpoint,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Tunnel encapsulation (listed with [`ListMode::TunInfo`] and saved when `fwd` is
    /// [`FwdMethod::Tunnel`]).
    pub tunnel: TunnelKind,
    /// Weight.
    pub weight: u32,
    /// Upper threshold as configured (0 = none).
    pub u_threshold: u32,
    /// Lower threshold as configured (0 = none); ipvsadm shows the configured value, not the
    /// derived one.
    pub l_threshold: u32,
    /// Active connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// Persistence templates pointing at the server.
    pub persistent: u32,
    /// Cumulative counters ([`ListMode::Stats`]).
    pub counters: Counters,
    /// Rates ([`ListMode::Rate`]).
    pub rates: Rates,
}

impl DestRow {
    /// A row with no thresholds, IPIP tunnelling and zero counts.
    pub const fn new(addr: Endpoint, fwd: FwdMethod, weight: u32) -> Self {
        DestRow {
            addr,
            fwd,
            tunnel: TunnelKind::Ipip,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            active: 0,
            inactive: 0,
            persistent: 0,
            counters: Counters::ZERO,
            rates: Rates::ZERO,
        }
    }

    /// A row from a real server's settings and connection counts; counters and rates are
    /// zero until the caller sets them.
    pub const fn from_dest(d: &Dest) -> Self {
        let mut r = DestRow::new(d.addr, d.fwd, d.weight);
        r.tunnel = d.tunnel;
        r.u_threshold = d.u_threshold;
        r.l_threshold = d.l_threshold;
        r.active = d.active;
        r.inactive = d.inactive;
        r.persistent = d.persistent;
        r
    }

    /// The real server's configuration, as `-a` would set it.
    pub const fn config(&self) -> DestConfig {
        let mut c = DestConfig::new(self.addr, self.fwd, self.weight)
            .with_thresholds(self.u_threshold, self.l_threshold);
        c.tunnel = self.tunnel;
        c
    }
}

/// One virtual service and its real servers.
///
/// `dests` is anything that iterates [`DestRow`]s: a slice iterator, an array, or a `map` over
/// the director's real servers.
#[derive(Debug, Clone)]
pub struct ServiceRow<'a, D> {
    /// What the service matches.
    pub key: ServiceKey,
    /// Scheduler name.
    pub scheduler: &'a str,
    /// Scheduler flags.
    pub flags: SchedFlags,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling.
    pub one_packet: bool,
    /// Cumulative counters ([`ListMode::Stats`]).
    pub counters: Counters,
    /// Rates ([`ListMode::Rate`]).
    pub rates: Rates,
    /// The real servers, in the order to print them.
    pub dests: D,
}

impl<'a, D> ServiceRow<'a, D> {
    /// A row for `config` scheduled by `scheduler`, without flags and with zero counters.
    pub fn new(config: &ServiceConfig, scheduler: &'a str, dests: D) -> Self {
        ServiceRow {
            key: config.key,
            scheduler,
            flags: SchedFlags::NONE,
            persistence: config.persistence,
            one_packet: config.one_packet,
            counters: Counters::default(),
            rates: Rates::default(),
            dests,
        }
    }

    /// The service's configuration.
    pub const fn config(&self) -> ServiceConfig {
        ServiceConfig {
            key: self.key,
            persistence: self.persistence,
            one_packet: self.one_packet,
        }
    }
}

/// One `ipvsadm -L -n -c` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRow<'a> {
    /// Protocol (templates of firewall-mark services are `Protocol::Unknown(0)`, shown `IP`).
    pub proto: Protocol,
    /// Time left; shown as whole minutes and seconds.
    pub expire: Duration,
    /// State name (`ESTABLISHED`, `FIN_WAIT`, `NONE` for templates, ...).
    pub state: &'a str,
    /// Client address and port (`source`).
    pub client: Endpoint,
    /// Virtual address and port the client used (`virtual`). For a firewall-mark persistence
    /// template the kernel stores the mark here; see [`fwmark_template_vaddr`].
    pub virt: Endpoint,
    /// Real server address and port (`destination`).
    pub dest: Endpoint,
}

/// A fixed stack buffer for padding formatted values.
struct Buf {
    bytes: [u8; 64],
    len: usize,
}

impl Buf {
    const fn new() -> Self {
        Buf {
            bytes: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        let filled = self.bytes.get(..self.len).unwrap_or(&[]);
        core::str::from_utf8(filled).unwrap_or("")
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes `value` left-aligned in `width` columns (C's `%-Ns`).
fn left<W: Write + ?Sized>(w: &mut W, width: usize, value: impl fmt::Display) -> fmt::Result {
    let mut b = Buf::new();
    write!(b, "{value}")?;
    write!(w, "{:<width$}", b.as_str())
}

/// ipvsadm's `print_largenum`.
///
/// Without `--exact`: `%9llu` below 10^8, then `%8llu` followed by `K` (thousands, below 10^9),
/// `M` (millions, below 10^11), `G` (billions, below 10^14) or `T` (trillions). With it: the
/// full number right-aligned in 9 columns, or with one leading blank when it is longer.
fn largenum<W: Write + ?Sized>(w: &mut W, n: u64, exact: bool) -> fmt::Result {
    if exact {
        return write!(w, " {n:>8}");
    }
    match n {
        0..100_000_000 => write!(w, "{n:9}"),
        100_000_000..1_000_000_000 => write!(w, "{:8}K", n / 1_000),
        1_000_000_000..100_000_000_000 => write!(w, "{:8}M", n / 1_000_000),
        100_000_000_000..100_000_000_000_000 => write!(w, "{:8}G", n / 1_000_000_000),
        _ => write!(w, "{:8}T", n / 1_000_000_000_000),
    }
}

/// ipvsadm's `protocol_name`.
fn service_proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Unknown(_) => "?",
    }
}

/// The service column: `TCP  198.18.0.1:80`, `FWM  7`, `FWM  7 IPv6`. (ipvsadm cuts IPv4
/// names at 33 characters and real servers at 28; numeric IPv4 never reaches either.)
struct SvcName(ServiceKey);

impl fmt::Display for SvcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ServiceKey::Addr { proto, vip } => {
                write!(
                    f,
                    "{:<4} {}",
                    service_proto_name(proto),
                    NumericEndpoint(vip)
                )
            }
            ServiceKey::Fwmark { af, mark } => match af {
                AddrFamily::Ipv4 => write!(f, "FWM  {mark}"),
                AddrFamily::Ipv6 => write!(f, "FWM  {mark} IPv6"),
            },
        }
    }
}

/// ipvsadm's `fwd_tun_info`: `ipip`, `gue:PORT:-c` / `gue:PORT:+c`, or `n/a`.
struct TunInfo(FwdMethod, TunnelKind);

impl fmt::Display for TunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (FwdMethod::Tunnel, TunnelKind::Ipip) => f.write_str("ipip"),
            (FwdMethod::Tunnel, TunnelKind::Gue { port, csum }) => {
                write!(f, "gue:{port}:{}", if csum { "+c" } else { "-c" })
            }
            _ => f.write_str("n/a"),
        }
    }
}

/// Writes ipvsadm's column titles for `mode` (`print_title`): two lines.
pub fn write_title<W: Write + ?Sized>(w: &mut W, mode: ListMode) -> fmt::Result {
    const PROT: &str = "Prot LocalAddress:Port";
    const REMOTE: &str = "  -> RemoteAddress:Port";
    match mode {
        ListMode::Stats { .. } => writeln!(
            w,
            "{PROT:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REMOTE}",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        ),
        ListMode::Rate { .. } => writeln!(
            w,
            "{PROT:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REMOTE}",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        ),
        ListMode::Thresholds => writeln!(
            w,
            "{PROT:<33} {:<10} {:<10} {:<10} {:<10}\n{REMOTE}",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ),
        ListMode::PersistentConn => writeln!(
            w,
            "{PROT:<33} {:<9} {:<11} {:<10} {:<10}\n{REMOTE}",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        ),
        ListMode::TunInfo => w.write_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           \
             Forward TunnelInfo    Weight ActiveConn InActConn\n",
        ),
        ListMode::Plain => w.write_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           \
             Forward Weight ActiveConn InActConn\n",
        ),
    }
}

/// Writes one service and its real servers (`print_service_entry`), without title.
pub fn write_service<'a, W, D>(w: &mut W, row: ServiceRow<'a, D>, mode: ListMode) -> fmt::Result
where
    W: Write + ?Sized,
    D: IntoIterator<Item = DestRow>,
{
    let name = SvcName(row.key);
    match mode {
        ListMode::Stats { exact } => {
            let c = &row.counters;
            left(w, 33, name)?;
            for n in [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes] {
                largenum(w, n, exact)?;
            }
        }
        ListMode::Rate { exact } => {
            let r = &row.rates;
            left(w, 33, name)?;
            for n in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
                largenum(w, n, exact)?;
            }
        }
        _ => {
            write!(w, "{name} {}", row.scheduler)?;
            if !row.flags.is_empty() {
                write!(w, " ({})", row.flags.display_for(row.scheduler))?;
            }
            write_persistence(
                w,
                row.key,
                row.persistence,
                row.one_packet,
                ["persistent", "mask", "ops"],
            )?;
        }
    }
    w.write_str("\n")?;
    for d in row.dests {
        w.write_str("  -> ")?;
        left(w, 28, NumericEndpoint(d.addr))?;
        match mode {
            ListMode::Plain => writeln!(
                w,
                " {:<7} {:<6} {:<10} {:<10}",
                d.fwd.ipvsadm_name(),
                d.weight,
                d.active,
                d.inactive
            )?,
            ListMode::Stats { exact } => {
                let c = &d.counters;
                for n in [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes] {
                    largenum(w, n, exact)?;
                }
                w.write_str("\n")?;
            }
            ListMode::Rate { exact } => {
                // ipvsadm prints the first three real-server rates with %8llu, unscaled
                let r = &d.rates;
                write!(w, " {:8} {:8} {:8}", r.cps, r.inpps, r.outpps)?;
                largenum(w, r.inbps, exact)?;
                largenum(w, r.outbps, exact)?;
                w.write_str("\n")?;
            }
            ListMode::Thresholds => writeln!(
                w,
                " {:<10} {:<10} {:<10} {:<10}",
                d.u_threshold, d.l_threshold, d.active, d.inactive
            )?,
            ListMode::PersistentConn => writeln!(
                w,
                " {:<9} {:<11} {:<10} {:<10}",
                d.weight, d.persistent, d.active, d.inactive
            )?,
            ListMode::TunInfo => {
                write!(w, " {:<7} ", d.fwd.ipvsadm_name())?;
                left(w, 13, TunInfo(d.fwd, d.tunnel))?;
                writeln!(w, " {:<6} {:<10} {:<10}", d.weight, d.active, d.inactive)?;
            }
        }
    }
    Ok(())
}

/// Writes a full `ipvsadm -L -n` listing: the version line, the titles, then every service.
///
/// ```
/// use lvs_core::ipvsadm::{write_list, DestRow, ListHeader, ListMode, ServiceRow};
/// use lvs_core::{Endpoint, ServiceConfig, ServiceKey, AddrFamily};
/// let cfg = ServiceConfig::new(ServiceKey::Fwmark { af: AddrFamily::Ipv4, mark: 1 });
/// let mut row = ServiceRow::new(&cfg, "rr", core::iter::empty::<DestRow>());
/// row.counters.inbytes = 123_456_789_012;
/// let mut out = String::new();
/// write_list(&mut out, &ListHeader::new(4096), [row], ListMode::Stats { exact: false }).unwrap();
/// // "%-33s", then five print_largenum fields of 9 columns each
/// let last = out.lines().last().unwrap();
/// assert_eq!(last, format!("{:<33}{:>9}{:>9}{:>9}{:>9}{:>9}", "FWM  1", 0, 0, 0, "123G", 0));
/// ```
pub fn write_list<'a, W, S, D>(
    w: &mut W,
    header: &ListHeader,
    services: S,
    mode: ListMode,
) -> fmt::Result
where
    W: Write + ?Sized,
    S: IntoIterator<Item = ServiceRow<'a, D>>,
    D: IntoIterator<Item = DestRow>,
{
    writeln!(w, "{header}")?;
    write_title(w, mode)?;
    for row in services {
        write_service(w, row, mode)?;
    }
    Ok(())
}

/// Writes an `ipvsadm -S -n` dump: per service its `-A` line, then an `-a` line per real
/// server, each the [`Rule`] `Display` form; the result reads back with
/// [`parse_rules`](super::parse_rules).
pub fn write_save<'a, W, S, D>(w: &mut W, services: S) -> fmt::Result
where
    W: Write + ?Sized,
    S: IntoIterator<Item = ServiceRow<'a, D>>,
    D: IntoIterator<Item = DestRow>,
{
    for row in services {
        let rule = Rule::AddService {
            config: row.config(),
            scheduler: row.scheduler,
            flags: row.flags,
        };
        writeln!(w, "{rule}")?;
        for d in row.dests {
            let rule = Rule::AddDest {
                service: row.key,
                dest: d.config(),
            };
            writeln!(w, "{rule}")?;
        }
    }
    Ok(())
}

/// The kernel's `ip_vs_proto_name`, as `-c` shows it: `TCP`, `UDP`, `SCTP`, `ICMP`, `ICMPv6`,
/// `IP` (0), or `IP_n`.
///
/// ```
/// use lvs_core::ipvsadm::conn_proto_name;
/// use lvs_core::Protocol;
/// assert_eq!(conn_proto_name(Protocol::Unknown(47)).to_string(), "IP_47");
/// ```
pub fn conn_proto_name(p: Protocol) -> impl fmt::Display {
    struct Name(Protocol);
    impl fmt::Display for Name {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Protocol::Tcp => f.write_str("TCP"),
                Protocol::Udp => f.write_str("UDP"),
                Protocol::Sctp => f.write_str("SCTP"),
                Protocol::Unknown(0) => f.write_str("IP"),
                Protocol::Unknown(1) => f.write_str("ICMP"),
                Protocol::Unknown(58) => f.write_str("ICMPv6"),
                Protocol::Unknown(n) => write!(f, "IP_{n}"),
            }
        }
    }
    Name(p)
}

/// The "virtual address" the kernel gives a firewall-mark service's persistence template: the
/// mark in the first 32 bits, in network order (`union nf_inet_addr fwmark = { .ip =
/// htonl(svc->fwmark) }` in `ip_vs_sched_persist`). `-c` shows it as `0.0.0.7:0`.
///
/// ```
/// use lvs_core::ipvsadm::fwmark_template_vaddr;
/// use lvs_core::AddrFamily;
/// assert_eq!(fwmark_template_vaddr(AddrFamily::Ipv4, 7).to_string(), "0.0.0.7");
/// assert_eq!(fwmark_template_vaddr(AddrFamily::Ipv6, 7).to_string(), "0:7::");
/// ```
pub const fn fwmark_template_vaddr(af: AddrFamily, mark: u32) -> IpAddr {
    match af {
        AddrFamily::Ipv4 => IpAddr::V4(Ipv4Addr::from_bits(mark)),
        AddrFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from_bits((mark as u128) << 96)),
    }
}

/// Minutes and seconds as `print_conn` writes them (`%02d:%02d`).
struct Expire(Duration);

impl fmt::Display for Expire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.secs();
        write!(f, "{:02}:{:02}", s / 60, s % 60)
    }
}

/// Writes an `ipvsadm -L -n -c` connection list (`list_conn`, `print_conn`).
///
/// ```
/// use lvs_core::ipvsadm::{write_conns, ConnRow};
/// use lvs_core::{Duration, Endpoint, Protocol};
/// let row = ConnRow {
///     proto: Protocol::Tcp,
///     expire: Duration::from_secs(899),
///     state: "ESTABLISHED",
///     client: Endpoint::v4([198, 19, 0, 7], 40000),
///     virt: Endpoint::v4([198, 18, 0, 1], 80),
///     dest: Endpoint::v4([198, 18, 1, 1], 80),
/// };
/// let mut out = String::new();
/// write_conns(&mut out, [row]).unwrap();
/// assert_eq!(out, "\
/// IPVS connection entries
/// pro expire state       source             virtual            destination
/// TCP 14:59  ESTABLISHED 198.19.0.7:40000   198.18.0.1:80      198.18.1.1:80\n");
/// ```
pub fn write_conns<'a, W, I>(w: &mut W, rows: I) -> fmt::Result
where
    W: Write + ?Sized,
    I: IntoIterator<Item = ConnRow<'a>>,
{
    write_conns_mode(w, rows, false)
}

/// [`write_conns`], or with `persistent_conn` the `ipvsadm -L -n -c --persistent-conn` form,
/// whose header adds the `pe name` and `pe_data` columns.
///
/// ipvsadm fills those columns only for a connection that carries persistence-engine data
/// (`--pe sip`); the director's connections carry none, so rows keep the short form, as
/// ipvsadm prints a connection without PE data. The `tls` engine's mappings
/// ([`crate::tls_persist::TlsPersist::entries`]) have no client or virtual address; an
/// embedder lists them with [`crate::tls_persist::PE_NAME`] and their hex
/// [`crate::tls_persist::PeData`].
///
/// ```
/// use lvs_core::ipvsadm::{write_conns_mode, ConnRow};
/// let mut out = String::new();
/// write_conns_mode(&mut out, core::iter::empty::<ConnRow<'_>>(), true).unwrap();
/// assert_eq!(out, "\
/// IPVS connection entries
/// pro expire state       source             virtual            destination        pe name          pe_data\n");
/// ```
pub fn write_conns_mode<'a, W, I>(w: &mut W, rows: I, persistent_conn: bool) -> fmt::Result
where
    W: Write + ?Sized,
    I: IntoIterator<Item = ConnRow<'a>>,
{
    w.write_str("IPVS connection entries\n")?;
    if persistent_conn {
        // "pro expire %-11s %-18s %-18s %-18s %-16s %s\n"
        writeln!(
            w,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        )?;
    } else {
        // "pro expire %-11s %-18s %-18s %s\n"
        writeln!(
            w,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        )?;
    }
    for r in rows {
        left(w, 3, conn_proto_name(r.proto))?;
        w.write_str(" ")?;
        left(w, 6, Expire(r.expire))?;
        write!(w, " {:<11} ", r.state)?;
        left(w, 18, NumericEndpoint(r.client))?;
        w.write_str(" ")?;
        left(w, 18, NumericEndpoint(r.virt))?;
        writeln!(w, " {}", NumericEndpoint(r.dest))?;
    }
    Ok(())
}

fn addr_key(a: &IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(v4) => (0, u128::from(v4.to_bits())),
        IpAddr::V6(v6) => (1, v6.to_bits()),
    }
}

/// ipvsadm's service order (`ipvs_cmp_services`): address services before firewall marks (by
/// mark), then IPv4 before IPv6, then protocol number, address and port.
///
/// (libipvs compares addresses by subtracting them as `int`, which misorders addresses more
/// than 2^31 apart; this is the order it means.)
pub fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> Ordering {
    fn key(s: &ServiceKey) -> (u32, u8, u8, u128, u16) {
        match s {
            ServiceKey::Addr { proto, vip } => {
                let (af, addr) = addr_key(&vip.addr);
                (0, af, proto.number(), addr, vip.port)
            }
            ServiceKey::Fwmark { af, mark } => (*mark, u8::from(*af == AddrFamily::Ipv6), 0, 0, 0),
        }
    }
    key(a).cmp(&key(b))
}

/// ipvsadm's real-server order (`ipvs_cmp_dests`): by address (IPv4 first), then port.
pub fn cmp_dests(a: &Endpoint, b: &Endpoint) -> Ordering {
    (addr_key(&a.addr), a.port).cmp(&(addr_key(&b.addr), b.port))
}

#[cfg(test)]
mod test {
    use super::*;
    use std::string::String;

    fn num(n: u64, exact: bool) -> String {
        let mut s = String::new();
        largenum(&mut s, n, exact).unwrap();
        s
    }

    #[test]
    fn largenum_scales_like_ipvsadm() {
        assert_eq!(num(0, false), "        0");
        assert_eq!(num(99_999_999, false), " 99999999");
        assert_eq!(num(100_000_000, false), "  100000K");
        assert_eq!(num(999_999_999, false), "  999999K");
        assert_eq!(num(1_000_000_000, false), "    1000M");
        assert_eq!(num(99_999_999_999, false), "   99999M");
        assert_eq!(num(100_000_000_000, false), "     100G");
        assert_eq!(num(99_999_999_999_999, false), "   99999G");
        assert_eq!(num(100_000_000_000_000, false), "     100T");
        assert_eq!(num(u64::MAX, false), "18446744T");
        // --exact: %9llu up to 8 digits, then the digits after one blank
        assert_eq!(num(12345678, true), " 12345678");
        assert_eq!(num(123456789, true), " 123456789");
        assert_eq!(num(u64::MAX, true), " 18446744073709551615");
    }

    #[test]
    fn buf_reports_overflow_instead_of_panicking() {
        let mut b = Buf::new();
        assert!(b.write_str(&"x".repeat(64)).is_ok());
        assert!(b.write_str("y").is_err());
        assert_eq!(b.as_str().len(), 64);
    }

    #[test]
    fn orders() {
        let tcp = |a: [u8; 4], p| ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: Endpoint::v4(a, p),
        };
        let udp = ServiceKey::Addr {
            proto: Protocol::Udp,
            vip: Endpoint::v4([1, 0, 0, 0], 1),
        };
        let fw1 = ServiceKey::Fwmark {
            af: AddrFamily::Ipv4,
            mark: 1,
        };
        let fw1v6 = ServiceKey::Fwmark {
            af: AddrFamily::Ipv6,
            mark: 1,
        };
        let v6 = ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: Endpoint::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 80),
        };
        let mut v = [
            fw1v6,
            fw1,
            v6,
            udp,
            tcp([200, 0, 0, 1], 80),
            tcp([1, 0, 0, 0], 80),
        ];
        v.sort_by(cmp_services);
        assert_eq!(
            v,
            [
                tcp([1, 0, 0, 0], 80),
                tcp([200, 0, 0, 1], 80),
                udp,
                v6,
                fw1,
                fw1v6
            ]
        );
        let mut d = [
            Endpoint::v4([10, 0, 0, 2], 80),
            Endpoint::v4([10, 0, 0, 1], 8080),
            Endpoint::v4([10, 0, 0, 1], 80),
        ];
        d.sort_by(cmp_dests);
        assert_eq!(d[0], Endpoint::v4([10, 0, 0, 1], 80));
        assert_eq!(d[2], Endpoint::v4([10, 0, 0, 2], 80));
    }
}
