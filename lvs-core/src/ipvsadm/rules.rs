//! The `ipvsadm-save -n` / `ipvsadm-restore` rule language.
//!
//! One command per line, as ipvsadm reads it from stdin with `-R`:
//!
//! ```text
//! -A -t|-u|--sctp-service VIP[:PORT] [-s SCHED] [-b FLAGS] [-p [TIMEOUT]] [-M NETMASK] [-o]
//! -A -f MARK [-6] ...           -E ... (edit service, same options)
//! -D -t|-u|--sctp-service|-f SERVICE
//! -C
//! -a|-e SERVICE -r RIP[:PORT] [-g|-i|-m] [-w WEIGHT] [-x UPPER] [-y LOWER]
//!       [--tun-type ipip|gue] [--tun-port PORT] [--tun-nocsum|--tun-csum]
//! -d SERVICE -r RIP[:PORT]
//! ```
//!
//! Options are read like popt reads them: long names (`--add-service`, `--weight=3`), short
//! ones (`-w 3`, `-w3`) and bundles (`-At 198.18.0.1:80`, `-gw 3`). Blank lines and everything
//! from `#` on are ignored, and so is a token that is exactly `ipvsadm` (as ipvsadm's
//! `config_stream_read` does, so `ipvsadm -A ...` lines are accepted).
//!
//! ipvsadm's defaults apply: scheduler `wlc`, `-p` without a value is 300 s, weight 1,
//! forwarding `-g`, a real server without a port takes the service port, and with `-g` or `-i`
//! on an address service the real-server port is always the service port (ipvsadm overwrites
//! it). The persistence netmask defaults to /32 for IPv4 and /128 for IPv6.
//!
//! Validation is ipvsadm's (`process_options`, `generic_opt_check`, `tunnel_opt_check`) plus
//! what the kernel's `ip_vs_ctl.c` rejects (lower threshold above the upper one, IPv6 netmask
//! outside 1..=128).
//!
//! Deviations, all on input ipvsadm would misread or that this library cannot represent:
//! - Only numeric addresses and ports; `inet_aton` shorthands (`10.1`, octal) are rejected.
//! - `-M` is interpreted after all options, in the service's final family (ipvsadm reads it in
//!   whatever family is known when it meets `-M`). An IPv4 `-M` must be a contiguous mask.
//!   `-M` without `-p` is validated and then dropped, as it has no effect in the kernel.
//! - `--pe`, `--tun-type gre` and `--tun-remcsum` are valid ipvsadm but have no counterpart in
//!   [`ServiceConfig`]/[`DestConfig`]: they are rejected with [`RuleErrorKind::Unsupported`].
//! - A scheduler name longer than 15 bytes is rejected (ipvsadm silently truncates it).
//! - `-x`/`-y` are printed back when non-zero; `ipvsadm-save` drops them.

use super::{NumericAddr, NumericEndpoint, SchedFlags};
use crate::addr::{AddrFamily, Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, ServiceKey};
use crate::dest::{DestConfig, FwdMethod, TunnelKind, MAX_WEIGHT};
use crate::service::{Persistence, ServiceConfig};
use crate::time::Duration;
use core::fmt;

/// The scheduler ipvsadm uses when `-s` is not given.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// The persistence timeout `-p` means without a value, in seconds.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 300;
/// The longest persistence timeout ipvsadm accepts (31 days), in seconds.
pub const MAX_PERSISTENT_TIMEOUT: u32 = 86400 * 31;
/// The longest scheduler name, in bytes (`IP_VS_SCHEDNAME_MAXLEN` less the NUL).
pub const MAX_SCHEDULER_LEN: usize = 15;
/// The largest `-x`/`-y` threshold ipvsadm accepts (`INT_MAX`).
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;

/// One ipvsadm command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule<'a> {
    /// `-A`: add a virtual service.
    AddService {
        /// The service: key, persistence, one-packet scheduling.
        config: ServiceConfig,
        /// Scheduler name (`-s`, default `wlc`), borrowed from the input.
        scheduler: &'a str,
        /// Scheduler flags (`-b`).
        flags: SchedFlags,
    },
    /// `-E`: replace a virtual service's settings. Like ipvsadm, options not given take their
    /// defaults (no `-s` means `wlc`, no `-p` removes persistence).
    EditService {
        /// The service: key, persistence, one-packet scheduling.
        config: ServiceConfig,
        /// Scheduler name (`-s`, default `wlc`), borrowed from the input.
        scheduler: &'a str,
        /// Scheduler flags (`-b`).
        flags: SchedFlags,
    },
    /// `-D`: delete a virtual service.
    DelService {
        /// The service.
        service: ServiceKey,
    },
    /// `-C`: delete every virtual service.
    Clear,
    /// `-a`: add a real server to a service.
    AddDest {
        /// The service.
        service: ServiceKey,
        /// The real server.
        dest: DestConfig,
    },
    /// `-e`: replace a real server's settings (options not given take their defaults).
    EditDest {
        /// The service.
        service: ServiceKey,
        /// The real server.
        dest: DestConfig,
    },
    /// `-d`: remove a real server from a service.
    DelDest {
        /// The service.
        service: ServiceKey,
        /// The real server's address and port.
        addr: Endpoint,
    },
}

/// Every option ipvsadm knows, for naming options in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleOption {
    /// `-A`, `--add-service`.
    AddService,
    /// `-E`, `--edit-service`.
    EditService,
    /// `-D`, `--delete-service`.
    DeleteService,
    /// `-C`, `--clear`.
    Clear,
    /// `-a`, `--add-server`.
    AddServer,
    /// `-e`, `--edit-server`.
    EditServer,
    /// `-d`, `--delete-server`.
    DeleteServer,
    /// `-L`, `-l`, `--list`.
    List,
    /// `-Z`, `--zero`.
    Zero,
    /// `--set`.
    Set,
    /// `-R`, `--restore`.
    Restore,
    /// `-S`, `--save`.
    Save,
    /// `--start-daemon`.
    StartDaemon,
    /// `--stop-daemon`.
    StopDaemon,
    /// `-h`, `--help`.
    Help,
    /// `-v`, `--version`.
    Version,
    /// `-t`, `--tcp-service`.
    TcpService,
    /// `-u`, `--udp-service`.
    UdpService,
    /// `--sctp-service`.
    SctpService,
    /// `-f`, `--fwmark-service`.
    FwmarkService,
    /// `-s`, `--scheduler`.
    Scheduler,
    /// `-p`, `--persistent`.
    Persistent,
    /// `-M`, `--netmask`.
    Netmask,
    /// `-r`, `--real-server`.
    RealServer,
    /// `-m`, `--masquerading`.
    Masquerading,
    /// `-i`, `--ipip`.
    Ipip,
    /// `-g`, `--gatewaying`.
    Gatewaying,
    /// `-w`, `--weight`.
    Weight,
    /// `-x`, `--u-threshold`.
    UThreshold,
    /// `-y`, `--l-threshold`.
    LThreshold,
    /// `-6`, `--ipv6`.
    Ipv6,
    /// `-o`, `--ops`.
    Ops,
    /// `--pe`.
    Pe,
    /// `-b`, `--sched-flags`.
    SchedFlags,
    /// `--tun-type`.
    TunType,
    /// `--tun-port`.
    TunPort,
    /// `--tun-nocsum`.
    TunNoCsum,
    /// `--tun-csum`.
    TunCsum,
    /// `--tun-remcsum`.
    TunRemCsum,
    /// `-n`, `--numeric`.
    Numeric,
    /// `-c`, `--connection`.
    Connection,
    /// `--mcast-interface`.
    McastInterface,
    /// `--syncid`.
    SyncId,
    /// `--timeout`.
    Timeout,
    /// `--daemon`.
    Daemon,
    /// `--stats`.
    Stats,
    /// `--rate`.
    Rate,
    /// `--thresholds`.
    Thresholds,
    /// `--persistent-conn`.
    PersistentConn,
    /// `--nosort`.
    NoSort,
    /// `--sort`.
    Sort,
    /// `-X`, `--exact`.
    Exact,
    /// `--mcast-group`.
    McastGroup,
    /// `--mcast-port`.
    McastPort,
    /// `--mcast-ttl`.
    McastTtl,
    /// `--sync-maxlen`.
    SyncMaxlen,
    /// `--tun-info`.
    TunInfo,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// ipvsadm's popt table: option, long name, short name, argument.
const OPTIONS: &[(RuleOption, &str, Option<char>, Arg)] = {
    use Arg::*;
    use RuleOption as O;
    &[
        (O::AddService, "add-service", Some('A'), None),
        (O::EditService, "edit-service", Some('E'), None),
        (O::DeleteService, "delete-service", Some('D'), None),
        (O::Clear, "clear", Some('C'), None),
        (O::List, "list", Some('L'), None),
        (O::List, "list", Some('l'), None),
        (O::Zero, "zero", Some('Z'), None),
        (O::AddServer, "add-server", Some('a'), None),
        (O::EditServer, "edit-server", Some('e'), None),
        (O::DeleteServer, "delete-server", Some('d'), None),
        (O::Set, "set", Option::None, None),
        (O::Help, "help", Some('h'), None),
        (O::Version, "version", Some('v'), None),
        (O::Restore, "restore", Some('R'), None),
        (O::Save, "save", Some('S'), None),
        (O::StartDaemon, "start-daemon", Option::None, Required),
        (O::StopDaemon, "stop-daemon", Option::None, Required),
        (O::TcpService, "tcp-service", Some('t'), Required),
        (O::UdpService, "udp-service", Some('u'), Required),
        (O::SctpService, "sctp-service", Option::None, Required),
        (O::FwmarkService, "fwmark-service", Some('f'), Required),
        (O::Scheduler, "scheduler", Some('s'), Required),
        (O::Persistent, "persistent", Some('p'), Optional),
        (O::Netmask, "netmask", Some('M'), Required),
        (O::RealServer, "real-server", Some('r'), Required),
        (O::Masquerading, "masquerading", Some('m'), None),
        (O::Ipip, "ipip", Some('i'), None),
        (O::Gatewaying, "gatewaying", Some('g'), None),
        (O::Weight, "weight", Some('w'), Required),
        (O::UThreshold, "u-threshold", Some('x'), Required),
        (O::LThreshold, "l-threshold", Some('y'), Required),
        (O::Numeric, "numeric", Some('n'), None),
        (O::Connection, "connection", Some('c'), None),
        (O::McastInterface, "mcast-interface", Option::None, Required),
        (O::SyncId, "syncid", Option::None, Required),
        (O::Timeout, "timeout", Option::None, None),
        (O::Daemon, "daemon", Option::None, None),
        (O::Stats, "stats", Option::None, None),
        (O::Rate, "rate", Option::None, None),
        (O::Thresholds, "thresholds", Option::None, None),
        (O::PersistentConn, "persistent-conn", Option::None, None),
        (O::NoSort, "nosort", Option::None, None),
        (O::Sort, "sort", Option::None, None),
        (O::Exact, "exact", Some('X'), None),
        (O::Ipv6, "ipv6", Some('6'), None),
        (O::Ops, "ops", Some('o'), None),
        (O::Pe, "pe", Option::None, Required),
        (O::SchedFlags, "sched-flags", Some('b'), Required),
        (O::McastGroup, "mcast-group", Option::None, Required),
        (O::McastPort, "mcast-port", Option::None, Required),
        (O::McastTtl, "mcast-ttl", Option::None, Required),
        (O::SyncMaxlen, "sync-maxlen", Option::None, Required),
        (O::TunInfo, "tun-info", Option::None, None),
        (O::TunType, "tun-type", Option::None, Required),
        (O::TunPort, "tun-port", Option::None, Required),
        (O::TunNoCsum, "tun-nocsum", Option::None, None),
        (O::TunCsum, "tun-csum", Option::None, None),
        (O::TunRemCsum, "tun-remcsum", Option::None, None),
    ]
};

impl RuleOption {
    fn entry(self) -> Option<&'static (RuleOption, &'static str, Option<char>, Arg)> {
        OPTIONS.iter().find(|e| e.0 == self)
    }

    /// The long spelling without the dashes (`"weight"`).
    pub fn long_name(self) -> &'static str {
        self.entry().map_or("", |e| e.1)
    }

    /// The short spelling, if any (`'w'`).
    pub fn short_name(self) -> Option<char> {
        self.entry().and_then(|e| e.2)
    }

    fn arg(self) -> Arg {
        self.entry().map_or(Arg::None, |e| e.3)
    }

    fn by_long(name: &str) -> Option<RuleOption> {
        OPTIONS.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    fn by_short(c: char) -> Option<RuleOption> {
        OPTIONS.iter().find(|e| e.2 == Some(c)).map(|e| e.0)
    }
}

impl fmt::Display for RuleOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.short_name() {
            Some(c) => write!(f, "-{c}/--{}", self.long_name()),
            None => write!(f, "--{}", self.long_name()),
        }
    }
}

/// Why a rule line was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleErrorKind {
    /// The line has no command (`-A`, `-E`, `-D`, `-C`, `-a`, `-e`, `-d`), or its first option
    /// is not one.
    MissingCommand,
    /// A second command after the first.
    MultipleCommands,
    /// A command that is not a rule (`-L`, `-Z`, `--set`, `-R`, `-S`, daemons, `-h`, `-v`).
    UnsupportedCommand(RuleOption),
    /// A token starting with `-` that is no ipvsadm option.
    UnknownOption {
        /// 1-based byte column of the token.
        column: usize,
    },
    /// A service option for a protocol ipvsadm has no option for (`--xxx-service`, which
    /// `ipvsadm-save` writes for such services).
    UnknownProtocol {
        /// 1-based byte column of the token.
        column: usize,
    },
    /// A token that is not an option, or a value given to an option that takes none.
    UnexpectedArgument {
        /// 1-based byte column of the token.
        column: usize,
    },
    /// An option that needs a value is last on the line.
    MissingArgument(RuleOption),
    /// The same option twice.
    DuplicateOption(RuleOption),
    /// An option that the command does not take (ipvsadm's `commands_v_options` table).
    OptionNotAllowed {
        /// The option.
        option: RuleOption,
        /// The command.
        command: RuleOption,
    },
    /// No `-t`/`-u`/`--sctp-service`/`-f`.
    MissingService,
    /// No `-r` for a real-server command.
    MissingRealServer,
    /// More than one of `-g`, `-i`, `-m`.
    ConflictingForwarding,
    /// A service or real-server address that is not `a.b.c.d[:port]`, `[v6]:port` or a bare
    /// IPv6 address.
    BadAddress(RuleOption),
    /// A firewall mark that is not an integer in 1..=4294967295.
    BadFwmark,
    /// An empty scheduler name, one longer than 15 bytes, or one with characters other than
    /// letters, digits, `_` and `-`.
    BadScheduler,
    /// A persistence timeout outside 1..=2678400 s.
    BadTimeout,
    /// A netmask that is not a contiguous dotted IPv4 mask (IPv4) or 1..=128 (IPv6).
    BadNetmask,
    /// A weight outside 0..=65535.
    BadWeight,
    /// An upper threshold outside 0..=2147483647.
    BadUpperThreshold,
    /// A lower threshold outside 0..=2147483647.
    BadLowerThreshold,
    /// The lower threshold is above the upper one (the kernel's `-ERANGE`).
    ThresholdOrder,
    /// A scheduler flag other than `flag-1..3`, `sh-fallback`, `sh-port`, `mh-fallback`,
    /// `mh-port`.
    BadSchedFlag,
    /// An `sh-*` flag without `-s sh`, or an `mh-*` flag without `-s mh`.
    IncompatibleSchedFlag,
    /// A `--tun-type` other than `ipip`, `gue` (or `gre`, see [`RuleErrorKind::Unsupported`]).
    BadTunnelType,
    /// A `--tun-port` outside 1..=65535.
    BadTunnelPort,
    /// A tunnel option on a real server that is not tunnelled (`-i`).
    TunnelOptionWithoutTunnel(RuleOption),
    /// A tunnel option the tunnel type does not take (`--tun-port` with `ipip`).
    TunnelOptionNotAllowed(RuleOption),
    /// `--tun-type gue` without `--tun-port`.
    MissingTunnelPort,
    /// Both `--tun-nocsum` and `--tun-csum`.
    ConflictingTunnelChecksum,
    /// Valid ipvsadm that this library cannot represent (`--pe`, `--tun-type gre`,
    /// `--tun-remcsum`).
    Unsupported(RuleOption),
    /// `-6` before `-f`, or without it.
    Ipv6WithoutFwmark,
    /// A non-persistent address service on port 0.
    ZeroPortNotPersistent,
    /// `-o` on a TCP or SCTP service.
    OnePacketNotUdp,
    /// A real server of another address family than its service, without tunnelling.
    FamilyMismatch,
}

impl fmt::Display for RuleErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RuleErrorKind::*;
        match self {
            MissingCommand => f.write_str("no command (-A, -E, -D, -C, -a, -e or -d) first"),
            MultipleCommands => f.write_str("multiple commands specified"),
            UnsupportedCommand(o) => write!(f, "command {o} is not a rule"),
            UnknownOption { column } => write!(f, "unknown option at column {column}"),
            UnknownProtocol { column } => {
                write!(f, "unknown service protocol at column {column}")
            }
            UnexpectedArgument { column } => write!(f, "unexpected argument at column {column}"),
            MissingArgument(o) => write!(f, "option {o} requires an argument"),
            DuplicateOption(o) => write!(f, "multiple {o} options specified"),
            OptionNotAllowed { option, command } => {
                write!(f, "illegal {option} option with the {command} command")
            }
            MissingService => f.write_str("no virtual service (-t, -u, --sctp-service or -f)"),
            MissingRealServer => f.write_str("no real server (-r)"),
            ConflictingForwarding => f.write_str("multiple forwarding methods (-g, -i, -m)"),
            BadAddress(o) => write!(f, "illegal address[:port] for {o}"),
            BadFwmark => f.write_str("invalid fwmark value"),
            BadScheduler => f.write_str("invalid scheduler name"),
            BadTimeout => f.write_str("invalid persistence timeout (1..=2678400)"),
            BadNetmask => f.write_str("illegal persistent netmask"),
            BadWeight => f.write_str("illegal weight (0..=65535)"),
            BadUpperThreshold => f.write_str("illegal u_threshold"),
            BadLowerThreshold => f.write_str("illegal l_threshold"),
            ThresholdOrder => f.write_str("lower threshold is higher than upper threshold"),
            BadSchedFlag => f.write_str("invalid scheduler flag"),
            IncompatibleSchedFlag => f.write_str("scheduler flag incompatible with the scheduler"),
            BadTunnelType => f.write_str("illegal tunnel type"),
            BadTunnelPort => f.write_str("illegal tunnel port (1..=65535)"),
            TunnelOptionWithoutTunnel(o) => {
                write!(f, "tunnel option {o} conflicts with forward method")
            }
            TunnelOptionNotAllowed(o) => write!(f, "illegal {o} option with this tunnel type"),
            MissingTunnelPort => f.write_str("tunnel type gue needs --tun-port"),
            ConflictingTunnelChecksum => f.write_str("--tun-nocsum conflicts with --tun-csum"),
            Unsupported(o) => write!(f, "option {o} is not supported"),
            Ipv6WithoutFwmark => f.write_str("-6 used before -f"),
            ZeroPortNotPersistent => f.write_str("zero port specified for non-persistent service"),
            OnePacketNotUdp => f.write_str("one-packet scheduling is only for UDP services"),
            FamilyMismatch => {
                f.write_str("different address family is allowed only for tunneling servers")
            }
        }
    }
}

impl core::error::Error for RuleErrorKind {}

/// A rejected line of a rules file.
///
/// ```
/// use lvs_core::ipvsadm::{parse_rules, RuleError, RuleErrorKind};
/// let err = parse_rules("-C\n\n-a -t 198.18.0.1:80 -r 198.18.1.1 -w 70000\n")
///     .find_map(Result::err)
///     .unwrap();
/// assert_eq!(err, RuleError { line: 3, kind: RuleErrorKind::BadWeight });
/// assert_eq!(err.to_string(), "line 3: illegal weight (0..=65535)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: RuleErrorKind,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl core::error::Error for RuleError {}

/// The rules of a text, one per line: an iterator of `(line number, rule)` or the error of a
/// line. Blank and comment-only lines are skipped; iteration continues after an error.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    lines: core::str::Lines<'a>,
    line_no: usize,
}

impl<'a> Iterator for Rules<'a> {
    type Item = Result<(usize, Rule<'a>), RuleError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            self.line_no += 1;
            match parse_line(line) {
                Ok(None) => continue,
                Ok(Some(rule)) => return Some(Ok((self.line_no, rule))),
                Err(kind) => {
                    return Some(Err(RuleError {
                        line: self.line_no,
                        kind,
                    }))
                }
            }
        }
    }
}

/// Parses a rules text (what `ipvsadm-save -n` writes and `ipvsadm-restore` reads).
///
/// Collect into a `Result` to stop at the first error, or iterate to see every line's result.
pub fn parse_rules(text: &str) -> Rules<'_> {
    Rules {
        lines: text.lines(),
        line_no: 0,
    }
}

/// Parses one rule line.
///
/// # Errors
/// [`RuleErrorKind::MissingCommand`] for a blank or comment-only line, otherwise the first
/// problem found.
///
/// ```
/// use lvs_core::ipvsadm::{parse_rule, Rule, RuleErrorKind};
/// use lvs_core::{Endpoint, Protocol, ServiceKey};
/// let r = parse_rule("-D -u [2001:db8::53]:53").unwrap();
/// let vip = "[2001:db8::53]:53".parse::<Endpoint>().unwrap();
/// assert_eq!(r, Rule::DelService { service: ServiceKey::Addr { proto: Protocol::Udp, vip } });
/// assert_eq!(parse_rule("-A -t 198.18.0.1:80 -m"),
///            Err(RuleErrorKind::OptionNotAllowed {
///                option: lvs_core::ipvsadm::RuleOption::Masquerading,
///                command: lvs_core::ipvsadm::RuleOption::AddService }));
/// ```
pub fn parse_rule(line: &str) -> Result<Rule<'_>, RuleErrorKind> {
    parse_line(line)?.ok_or(RuleErrorKind::MissingCommand)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    AddService,
    EditService,
    DelService,
    Clear,
    AddDest,
    EditDest,
    DelDest,
}

impl Cmd {
    fn from_option(o: RuleOption) -> Option<Cmd> {
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

    fn option(self) -> RuleOption {
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
    fn allows(self, o: RuleOption) -> bool {
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
enum RawService {
    Addr(Protocol, IpAddr, u16),
    Fwmark(u32),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TunType {
    Ipip,
    Gue,
}

/// Options seen so far on a line.
struct Opts<'a> {
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
fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let content = line.split('#').next().unwrap_or("");
    let base = line.as_ptr() as usize;
    content
        .split(|c: char| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty() && *t != "ipvsadm")
        .map(move |t| ((t.as_ptr() as usize).saturating_sub(base) + 1, t))
}

/// A decimal integer in `min..=max`, with strtol's optional `+`.
fn number(s: &str, min: u64, max: u64) -> Option<u64> {
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
fn parse_addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
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

fn valid_scheduler(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCHEDULER_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// ipvsadm's `parse_sched_flags`.
fn parse_sched_flags(arg: &str, scheduler: &str) -> Result<SchedFlags, RuleErrorKind> {
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
fn parse_netmask(s: &str, af: AddrFamily) -> Result<u8, RuleErrorKind> {
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
const fn full_prefix(af: AddrFamily) -> u8 {
    match af {
        AddrFamily::Ipv4 => 32,
        AddrFamily::Ipv6 => 128,
    }
}

fn parse_line(line: &str) -> Result<Option<Rule<'_>>, RuleErrorKind> {
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
fn apply<'a>(
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
    fn set<T>(slot: &mut Option<T>, x: T, opt: RuleOption) -> Result<(), RuleErrorKind> {
        if slot.is_some() {
            return Err(RuleErrorKind::DuplicateOption(opt));
        }
        *slot = Some(x);
        Ok(())
    }
    fn flag(slot: &mut bool, opt: RuleOption) -> Result<(), RuleErrorKind> {
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
    fn new(cmd: Cmd) -> Self {
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

    fn finish(self) -> Result<Rule<'a>, RuleErrorKind> {
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
    fn tunnel(&self, fwd: FwdMethod) -> Result<TunnelKind, RuleErrorKind> {
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

/// The service part of a rule: `-t 198.18.0.1:80`, `-f 7 -6`.
struct ServiceArg(ServiceKey);

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
pub(crate) fn netmask_text(af: AddrFamily, prefix_len: u8) -> Option<NetmaskText> {
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

/// See [`netmask_text`].
pub(crate) enum NetmaskText {
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

fn write_service_rule(
    f: &mut fmt::Formatter<'_>,
    cmd: &str,
    config: &ServiceConfig,
    scheduler: &str,
    flags: SchedFlags,
) -> fmt::Result {
    write!(f, "{cmd} {} -s {scheduler}", ServiceArg(config.key))?;
    if let Some(p) = config.persistence {
        write!(f, " -p {}", p.timeout.secs())?;
        if let Some(m) = netmask_text(config.key.family(), p.prefix_len) {
            write!(f, " -M {m}")?;
        }
    }
    if config.one_packet {
        f.write_str(" -o")?;
    }
    if !flags.is_empty() {
        write!(f, " -b {}", flags.display_for(scheduler))?;
    }
    Ok(())
}

fn write_dest_rule(
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
