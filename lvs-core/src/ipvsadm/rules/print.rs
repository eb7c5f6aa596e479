//! Printing a rule back as the canonical `ipvsadm-save -n` line.

use super::*;

/// The service part of a rule: `-t 198.18.0.1:80`, `-f 7 -6`.
pub(super) struct ServiceArg(ServiceKey);

impl fmt::Display for ServiceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ServiceKey::Addr { proto, vip } => {
                let opt = match proto {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                    Protocol::Unknown(_) => "--xxx-service",
                };
                write!(f, "{opt} {}", NumericEndpoint(vip))
            }
            ServiceKey::Fwmark { af, mark } => match af {
                AddrFamily::Ipv4 => write!(f, "-f {mark}"),
                AddrFamily::Ipv6 => write!(f, "-f {mark} -6"),
            },
        }
    }
}

/// A persistence netmask as ipvsadm prints it: dotted for IPv4, a prefix length for IPv6.
/// `None` when it is the family's full length, which ipvsadm does not print.
fn netmask_text(af: AddrFamily, prefix_len: u8) -> Option<NetmaskText> {
    match af {
        AddrFamily::Ipv4 if prefix_len < 32 => {
            let bits = if prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix_len))
            };
            Some(NetmaskText::V4(Ipv4Addr::from_bits(bits)))
        }
        AddrFamily::Ipv6 if prefix_len != 128 => Some(NetmaskText::V6(prefix_len)),
        _ => None,
    }
}

/// Writes the persistence and one-packet options of the service `key` with ipvsadm's words
/// `[persistent, mask, one-packet]`: `-p 300 -M 255.255.255.0 -o` in a rule, `persistent 300
/// mask 255.255.255.0 ops` in a listing (the mask only when it is not the family's full
/// length).
pub(crate) fn write_persistence<W: fmt::Write + ?Sized>(
    w: &mut W,
    key: ServiceKey,
    persistence: Option<Persistence>,
    one_packet: bool,
    words: [&str; 3],
) -> fmt::Result {
    let [persistent, mask, ops] = words;
    if let Some(p) = persistence {
        write!(w, " {persistent} {}", p.timeout.secs())?;
        if let Some(m) = netmask_text(key.family(), p.prefix_len) {
            write!(w, " {mask} {m}")?;
        }
    }
    if one_packet {
        write!(w, " {ops}")?;
    }
    Ok(())
}

/// See [`netmask_text`].
enum NetmaskText {
    V4(Ipv4Addr),
    V6(u8),
}

impl fmt::Display for NetmaskText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetmaskText::V4(m) => write!(f, "{}", NumericAddr(IpAddr::V4(*m))),
            NetmaskText::V6(p) => write!(f, "{p}"),
        }
    }
}

pub(super) fn write_service_rule(
    f: &mut fmt::Formatter<'_>,
    cmd: &str,
    config: &ServiceConfig,
    scheduler: &str,
    flags: SchedFlags,
) -> fmt::Result {
    write!(f, "{cmd} {} -s {scheduler}", ServiceArg(config.key))?;
    write_persistence(
        f,
        config.key,
        config.persistence,
        config.one_packet,
        ["-p", "-M", "-o"],
    )?;
    if !flags.is_empty() {
        write!(f, " -b {}", flags.display_for(scheduler))?;
    }
    Ok(())
}

pub(super) fn write_dest_rule(
    f: &mut fmt::Formatter<'_>,
    cmd: &str,
    service: ServiceKey,
    d: &DestConfig,
) -> fmt::Result {
    let fwd = match d.fwd {
        FwdMethod::Masq => "-m",
        FwdMethod::Tunnel => "-i",
        FwdMethod::DirectRoute => "-g",
    };
    write!(
        f,
        "{cmd} {} -r {} {fwd} -w {}",
        ServiceArg(service),
        NumericEndpoint(d.addr),
        d.weight
    )?;
    if d.fwd == FwdMethod::Tunnel {
        match d.tunnel {
            TunnelKind::Ipip => f.write_str(" --tun-type ipip")?,
            TunnelKind::Gue { port, csum } => {
                let c = if csum { "--tun-csum" } else { "--tun-nocsum" };
                write!(f, " --tun-type gue --tun-port {port} {c}")?;
            }
        }
    }
    if d.u_threshold != 0 {
        write!(f, " -x {}", d.u_threshold)?;
    }
    if d.l_threshold != 0 {
        write!(f, " -y {}", d.l_threshold)?;
    }
    Ok(())
}

/// The canonical `ipvsadm-save -n` line, without a newline.
///
/// Service and real-server lines are exactly what `ipvsadm-save -n` (ipvsadm 1.31) prints,
/// except that non-zero thresholds are appended as `-x`/`-y` (ipvsadm-save loses them).
/// [`Rule::EditService`], [`Rule::EditDest`] and the deletions use the same shape with
/// `-E`, `-e`, `-D`, `-d`.
impl fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::AddService {
                config,
                scheduler,
                flags,
            } => write_service_rule(f, "-A", config, scheduler, *flags),
            Rule::EditService {
                config,
                scheduler,
                flags,
            } => write_service_rule(f, "-E", config, scheduler, *flags),
            Rule::DelService { service } => write!(f, "-D {}", ServiceArg(*service)),
            Rule::Clear => f.write_str("-C"),
            Rule::AddDest { service, dest } => write_dest_rule(f, "-a", *service, dest),
            Rule::EditDest { service, dest } => write_dest_rule(f, "-e", *service, dest),
            Rule::DelDest { service, addr } => write!(
                f,
                "-d {} -r {}",
                ServiceArg(*service),
                NumericEndpoint(*addr)
            ),
        }
    }
}
