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

mod parse;
use parse::parse_line;

mod print;
pub(crate) use print::write_persistence;

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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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
