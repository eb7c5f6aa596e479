//! Reading one rule line: commands, options, values and their checks.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmd {
    AddService,
    EditService,
    DelService,
    Clear,
    AddDest,
    EditDest,
    DelDest,
}

impl Cmd {
    pub(super) fn from_option(o: RuleOption) -> Option<Cmd> {
        Some(match o {
            RuleOption::AddService => Cmd::AddService,
            RuleOption::EditService => Cmd::EditService,
            RuleOption::DeleteService => Cmd::DelService,
            RuleOption::Clear => Cmd::Clear,
            RuleOption::AddServer => Cmd::AddDest,
            RuleOption::EditServer => Cmd::EditDest,
            RuleOption::DeleteServer => Cmd::DelDest,
            _ => return None,
        })
    }

    pub(super) fn option(self) -> RuleOption {
        match self {
            Cmd::AddService => RuleOption::AddService,
            Cmd::EditService => RuleOption::EditService,
            Cmd::DelService => RuleOption::DeleteService,
            Cmd::Clear => RuleOption::Clear,
            Cmd::AddDest => RuleOption::AddServer,
            Cmd::EditDest => RuleOption::EditServer,
            Cmd::DelDest => RuleOption::DeleteServer,
        }
    }

    /// ipvsadm's `commands_v_options` rows for the rule commands (`-6` is checked apart).
    pub(super) fn allows(self, o: RuleOption) -> bool {
        use RuleOption as O;
        let service = matches!(
            o,
            O::TcpService | O::UdpService | O::SctpService | O::FwmarkService | O::Ipv6
        );
        match self {
            Cmd::Clear => false,
            Cmd::AddService | Cmd::EditService => {
                service
                    || matches!(
                        o,
                        O::Scheduler | O::Persistent | O::Netmask | O::Ops | O::Pe | O::SchedFlags
                    )
            }
            Cmd::DelService => service,
            Cmd::AddDest | Cmd::EditDest => {
                service
                    || matches!(
                        o,
                        O::RealServer
                            | O::Masquerading
                            | O::Ipip
                            | O::Gatewaying
                            | O::Weight
                            | O::UThreshold
                            | O::LThreshold
                            | O::TunType
                            | O::TunPort
                            | O::TunNoCsum
                            | O::TunCsum
                            | O::TunRemCsum
                    )
            }
            Cmd::DelDest => service || o == O::RealServer,
        }
    }
}

/// The service before `-6` and the netmask are applied.
#[derive(Clone, Copy)]
pub(super) enum RawService {
    Addr(Protocol, IpAddr, u16),
    Fwmark(u32),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TunType {
    Ipip,
    Gue,
}

/// Options seen so far on a line.
pub(super) struct Opts<'a> {
    cmd: Cmd,
    service: Option<RawService>,
    fwmark_v6: bool,
    scheduler: Option<&'a str>,
    persistent: Option<u32>,
    netmask: Option<&'a str>,
    real: Option<(IpAddr, Option<u16>)>,
    fwd: Option<FwdMethod>,
    weight: Option<u32>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
    ops: bool,
    sched_flags: Option<&'a str>,
    tun_type: Option<TunType>,
    tun_port: Option<u16>,
    tun_nocsum: bool,
    tun_csum: bool,
}

/// Tokens of a line: whitespace separated, up to a `#`, with `ipvsadm` tokens dropped; each
/// with its 1-based column.
pub(super) fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let content = line.split('#').next().unwrap_or("");
    let base = line.as_ptr() as usize;
    content
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty() && *t != "ipvsadm")
        .map(move |t| ((t.as_ptr() as usize).saturating_sub(base) + 1, t))
}

/// A decimal integer in `min..=max`, with strtol's optional `+`.
pub(super) fn number(s: &str, min: u64, max: u64) -> Option<u64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (min..=max).contains(&n).then_some(n)
}

/// ipvsadm's `parse_service`: `[v6]:port`, a bare IPv6 address (no port), or `v4[:port]`.
pub(super) fn parse_addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let port = |p: &str| number(p, 0, 65535).map(|n| n as u16);
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        let a: Ipv6Addr = a.parse().ok()?;
        return Some((IpAddr::V6(a), Some(port(p)?)));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some((IpAddr::V6(a), None));
    }
    match s.rsplit_once(':') {
        Some((a, p)) => Some((IpAddr::V4(a.parse::<Ipv4Addr>().ok()?), Some(port(p)?))),
        None => Some((IpAddr::V4(s.parse::<Ipv4Addr>().ok()?), None)),
    }
}

pub(super) fn valid_scheduler(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCHEDULER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// ipvsadm's `parse_sched_flags`.
pub(super) fn parse_sched_flags(arg: &str, scheduler: &str) -> Result<SchedFlags, RuleErrorKind> {
    let mut flags = SchedFlags::NONE;
    let mut any = false;
    for name in arg.split(',').filter(|n| !n.is_empty()) {
        any = true;
        let (flag, needs) = match name {
            "flag-1" => (SchedFlags::FLAG_1, None),
            "flag-2" => (SchedFlags::FLAG_2, None),
            "flag-3" => (SchedFlags::FLAG_3, None),
            "sh-fallback" => (SchedFlags::SH_FALLBACK, Some("sh")),
            "sh-port" => (SchedFlags::SH_PORT, Some("sh")),
            "mh-fallback" => (SchedFlags::MH_FALLBACK, Some("mh")),
            "mh-port" => (SchedFlags::MH_PORT, Some("mh")),
            _ => return Err(RuleErrorKind::BadSchedFlag),
        };
        if needs.is_some_and(|s| s != scheduler) {
            return Err(RuleErrorKind::IncompatibleSchedFlag);
        }
        flags |= flag;
    }
    if any {
        Ok(flags)
    } else {
        Err(RuleErrorKind::BadSchedFlag)
    }
}

/// `-M`: a contiguous dotted mask for IPv4, a prefix length 1..=128 for IPv6.
pub(super) fn parse_netmask(s: &str, af: AddrFamily) -> Result<u8, RuleErrorKind> {
    match af {
        AddrFamily::Ipv6 => number(s, 1, 128)
            .map(|n| n as u8)
            .ok_or(RuleErrorKind::BadNetmask),
        AddrFamily::Ipv4 => {
            let bits = s
                .parse::<Ipv4Addr>()
                .map_err(|_| RuleErrorKind::BadNetmask)?
                .to_bits();
            let host = !bits;
            if host & host.wrapping_add(1) != 0 {
                return Err(RuleErrorKind::BadNetmask);
            }
            Ok(bits.leading_ones() as u8)
        }
    }
}

/// The default persistence prefix of a family: a single client.
pub(super) const fn full_prefix(af: AddrFamily) -> u8 {
    match af {
        AddrFamily::Ipv4 => 32,
        AddrFamily::Ipv6 => 128,
    }
}

pub(super) fn parse_line(line: &str) -> Result<Option<Rule<'_>>, RuleErrorKind> {
    let mut toks = tokens(line).peekable();
    if toks.peek().is_none() {
        return Ok(None);
    }
    let mut opts: Option<Opts<'_>> = None;
    let mut end_of_options = false;
    while let Some((col, tok)) = toks.next() {
        if end_of_options || tok == "-" || !tok.starts_with('-') {
            if opts.is_none() {
                return Err(RuleErrorKind::MissingCommand);
            }
            return Err(RuleErrorKind::UnexpectedArgument { column: col });
        }
        if tok == "--" {
            end_of_options = true;
            continue;
        }
        if let Some(long) = tok.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let Some(opt) = RuleOption::by_long(name) else {
                if name.ends_with("-service") {
                    return Err(RuleErrorKind::UnknownProtocol { column: col });
                }
                return Err(RuleErrorKind::UnknownOption { column: col });
            };
            let value = match opt.arg() {
                Arg::None if inline.is_some() => {
                    return Err(RuleErrorKind::UnexpectedArgument { column: col })
                }
                Arg::None => None,
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => Some(toks.next().ok_or(RuleErrorKind::MissingArgument(opt))?.1),
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None => toks.next_if(|(_, t)| !t.starts_with('-')).map(|(_, t)| t),
                },
            };
            apply(&mut opts, opt, value)?;
            continue;
        }
        // a bundle of short options; one taking a value ends it
        let mut rest = &tok[1..];
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            let Some(opt) = RuleOption::by_short(c) else {
                return Err(RuleErrorKind::UnknownOption { column: col });
            };
            let value = match opt.arg() {
                Arg::None => None,
                Arg::Required if !rest.is_empty() => Some(core::mem::take(&mut rest)),
                Arg::Required => Some(toks.next().ok_or(RuleErrorKind::MissingArgument(opt))?.1),
                Arg::Optional if !rest.is_empty() => Some(core::mem::take(&mut rest)),
                Arg::Optional => toks.next_if(|(_, t)| !t.starts_with('-')).map(|(_, t)| t),
            };
            apply(&mut opts, opt, value)?;
        }
    }
    match opts {
        Some(o) => o.finish().map(Some),
        None => Err(RuleErrorKind::MissingCommand),
    }
}

/// Records one option. The first option of a line (while `opts` is `None`) must be the command,
/// as in ipvsadm.
pub(super) fn apply<'a>(
    opts: &mut Option<Opts<'a>>,
    opt: RuleOption,
    value: Option<&'a str>,
) -> Result<(), RuleErrorKind> {
    use RuleErrorKind as E;
    use RuleOption as O;
    let is_command = matches!(
        opt,
        O::AddService
            | O::EditService
            | O::DeleteService
            | O::Clear
            | O::AddServer
            | O::EditServer
            | O::DeleteServer
            | O::List
            | O::Zero
            | O::Set
            | O::Restore
            | O::Save
            | O::StartDaemon
            | O::StopDaemon
            | O::Help
            | O::Version
    );
    let Some(o) = opts.as_mut() else {
        if !is_command {
            return Err(E::MissingCommand);
        }
        let cmd = Cmd::from_option(opt).ok_or(E::UnsupportedCommand(opt))?;
        *opts = Some(Opts::new(cmd));
        return Ok(());
    };
    if is_command {
        return Err(E::MultipleCommands);
    }
    if opt == O::Ipv6 {
        // like ipvsadm: -6 only turns an already given fwmark service into IPv6
        return match o.service {
            Some(RawService::Fwmark(_)) => {
                o.fwmark_v6 = true;
                Ok(())
            }
            _ => Err(E::Ipv6WithoutFwmark),
        };
    }
    if !o.cmd.allows(opt) {
        return Err(E::OptionNotAllowed {
            option: opt,
            command: o.cmd.option(),
        });
    }
    let v = value.unwrap_or("");
    pub(super) fn set<T>(slot: &mut Option<T>, x: T, opt: RuleOption) -> Result<(), RuleErrorKind> {
        if slot.is_some() {
            return Err(RuleErrorKind::DuplicateOption(opt));
        }
        *slot = Some(x);
        Ok(())
    }
    pub(super) fn flag(slot: &mut bool, opt: RuleOption) -> Result<(), RuleErrorKind> {
        if *slot {
            return Err(RuleErrorKind::DuplicateOption(opt));
        }
        *slot = true;
        Ok(())
    }
    match opt {
        O::TcpService | O::UdpService | O::SctpService | O::FwmarkService => {
            if o.service.is_some() {
                return Err(E::DuplicateOption(opt));
            }
            o.service = Some(if opt == O::FwmarkService {
                let mark = number(v, 1, u64::from(u32::MAX)).ok_or(E::BadFwmark)?;
                RawService::Fwmark(mark as u32)
            } else {
                let proto = match opt {
                    O::TcpService => Protocol::Tcp,
                    O::UdpService => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                let (addr, port) = parse_addr_port(v).ok_or(E::BadAddress(opt))?;
                RawService::Addr(proto, addr, port.unwrap_or(0))
            });
        }
        O::Scheduler => {
            if !valid_scheduler(v) {
                return Err(E::BadScheduler);
            }
            set(&mut o.scheduler, v, opt)?;
        }
        O::Persistent => {
            let secs = match value {
                None => DEFAULT_PERSISTENT_TIMEOUT,
                Some(t) => {
                    number(t, 1, u64::from(MAX_PERSISTENT_TIMEOUT)).ok_or(E::BadTimeout)? as u32
                }
            };
            set(&mut o.persistent, secs, opt)?;
        }
        O::Netmask => set(&mut o.netmask, v, opt)?,
        O::RealServer => {
            let real = parse_addr_port(v).ok_or(E::BadAddress(opt))?;
            set(&mut o.real, real, opt)?;
        }
        O::Masquerading | O::Ipip | O::Gatewaying => {
            let fwd = match opt {
                O::Masquerading => FwdMethod::Masq,
                O::Ipip => FwdMethod::Tunnel,
                _ => FwdMethod::DirectRoute,
            };
            if o.fwd.is_some() {
                return Err(E::ConflictingForwarding);
            }
            o.fwd = Some(fwd);
        }
        O::Weight => {
            let w = number(v, 0, u64::from(MAX_WEIGHT)).ok_or(E::BadWeight)?;
            set(&mut o.weight, w as u32, opt)?;
        }
        O::UThreshold => {
            let x = number(v, 0, u64::from(MAX_THRESHOLD)).ok_or(E::BadUpperThreshold)?;
            set(&mut o.u_threshold, x as u32, opt)?;
        }
        O::LThreshold => {
            let y = number(v, 0, u64::from(MAX_THRESHOLD)).ok_or(E::BadLowerThreshold)?;
            set(&mut o.l_threshold, y as u32, opt)?;
        }
        O::Ops => flag(&mut o.ops, opt)?,
        O::SchedFlags => set(&mut o.sched_flags, v, opt)?,
        O::TunType => {
            let t = match v {
                "ipip" => TunType::Ipip,
                "gue" => TunType::Gue,
                "gre" => return Err(E::Unsupported(opt)),
                _ => return Err(E::BadTunnelType),
            };
            set(&mut o.tun_type, t, opt)?;
        }
        O::TunPort => {
            let p = number(v, 1, 65535).ok_or(E::BadTunnelPort)?;
            set(&mut o.tun_port, p as u16, opt)?;
        }
        O::TunNoCsum => flag(&mut o.tun_nocsum, opt)?,
        O::TunCsum => flag(&mut o.tun_csum, opt)?,
        _ => return Err(E::Unsupported(opt)), // --pe, --tun-remcsum
    }
    Ok(())
}

impl<'a> Opts<'a> {
    pub(super) fn new(cmd: Cmd) -> Self {
        Opts {
            cmd,
            service: None,
            fwmark_v6: false,
            scheduler: None,
            persistent: None,
            netmask: None,
            real: None,
            fwd: None,
            weight: None,
            u_threshold: None,
            l_threshold: None,
            ops: false,
            sched_flags: None,
            tun_type: None,
            tun_port: None,
            tun_nocsum: false,
            tun_csum: false,
        }
    }

    pub(super) fn finish(self) -> Result<Rule<'a>, RuleErrorKind> {
        use RuleErrorKind as E;
        if self.cmd == Cmd::Clear {
            return Ok(Rule::Clear);
        }
        let service = match self.service.ok_or(E::MissingService)? {
            RawService::Addr(proto, addr, port) => ServiceKey::Addr {
                proto,
                vip: Endpoint::new(addr, port),
            },
            RawService::Fwmark(mark) => ServiceKey::Fwmark {
                af: if self.fwmark_v6 {
                    AddrFamily::Ipv6
                } else {
                    AddrFamily::Ipv4
                },
                mark,
            },
        };
        let af = service.family();
        match self.cmd {
            Cmd::AddService | Cmd::EditService => {
                let scheduler = self.scheduler.unwrap_or(DEFAULT_SCHEDULER);
                let flags = match self.sched_flags {
                    Some(arg) => parse_sched_flags(arg, scheduler)?,
                    None => SchedFlags::NONE,
                };
                let prefix = match self.netmask {
                    Some(m) => parse_netmask(m, af)?,
                    None => full_prefix(af),
                };
                if let ServiceKey::Addr { proto, vip } = service {
                    if vip.port == 0 && self.persistent.is_none() {
                        return Err(E::ZeroPortNotPersistent);
                    }
                    if self.ops && proto != Protocol::Udp {
                        return Err(E::OnePacketNotUdp);
                    }
                }
                let mut config = ServiceConfig::new(service).with_one_packet(self.ops);
                if let Some(secs) = self.persistent {
                    config = config.with_persistence(
                        Persistence::new(Duration::from_secs(u64::from(secs))).with_prefix(prefix),
                    );
                }
                Ok(if self.cmd == Cmd::AddService {
                    Rule::AddService {
                        config,
                        scheduler,
                        flags,
                    }
                } else {
                    Rule::EditService {
                        config,
                        scheduler,
                        flags,
                    }
                })
            }
            Cmd::DelService => Ok(Rule::DelService { service }),
            Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
                let (raddr, rport) = self.real.ok_or(E::MissingRealServer)?;
                let (svc_port, is_fwmark) = match service {
                    ServiceKey::Addr { vip, .. } => (vip.port, false),
                    ServiceKey::Fwmark { .. } => (0, true),
                };
                if self.cmd == Cmd::DelDest {
                    let addr = Endpoint::new(raddr, rport.unwrap_or(svc_port));
                    return Ok(Rule::DelDest { service, addr });
                }
                let fwd = self.fwd.unwrap_or(FwdMethod::DirectRoute);
                // ipvsadm: DR and tunnelled servers of an address service listen on its port
                let port = if !is_fwmark && fwd != FwdMethod::Masq {
                    svc_port
                } else {
                    rport.unwrap_or(svc_port)
                };
                if AddrFamily::of(&raddr) != af && fwd != FwdMethod::Tunnel {
                    return Err(E::FamilyMismatch);
                }
                let tunnel = self.tunnel(fwd)?;
                let u = self.u_threshold.unwrap_or(0);
                let l = self.l_threshold.unwrap_or(0);
                if l > u {
                    return Err(E::ThresholdOrder);
                }
                let mut dest =
                    DestConfig::new(Endpoint::new(raddr, port), fwd, self.weight.unwrap_or(1))
                        .with_thresholds(u, l);
                dest.tunnel = tunnel;
                Ok(if self.cmd == Cmd::AddDest {
                    Rule::AddDest { service, dest }
                } else {
                    Rule::EditDest { service, dest }
                })
            }
            Cmd::Clear => Ok(Rule::Clear),
        }
    }

    /// ipvsadm's tunnel checks: tunnel options need `-i`, and `tunnel_types_v_options`.
    pub(super) fn tunnel(&self, fwd: FwdMethod) -> Result<TunnelKind, RuleErrorKind> {
        use RuleErrorKind as E;
        let given = [
            (self.tun_type.is_some(), RuleOption::TunType),
            (self.tun_port.is_some(), RuleOption::TunPort),
            (self.tun_nocsum, RuleOption::TunNoCsum),
            (self.tun_csum, RuleOption::TunCsum),
        ];
        let first_given = given.iter().find(|g| g.0).map(|g| g.1);
        if fwd != FwdMethod::Tunnel {
            return match first_given {
                Some(o) => Err(E::TunnelOptionWithoutTunnel(o)),
                None => Ok(TunnelKind::Ipip),
            };
        }
        match self.tun_type.unwrap_or(TunType::Ipip) {
            TunType::Ipip => match given.iter().skip(1).find(|g| g.0) {
                Some(g) => Err(E::TunnelOptionNotAllowed(g.1)),
                None => Ok(TunnelKind::Ipip),
            },
            TunType::Gue => {
                let port = self.tun_port.ok_or(E::MissingTunnelPort)?;
                if self.tun_nocsum && self.tun_csum {
                    return Err(E::ConflictingTunnelChecksum);
                }
                Ok(TunnelKind::Gue {
                    port,
                    csum: self.tun_csum,
                })
            }
        }
    }
}
