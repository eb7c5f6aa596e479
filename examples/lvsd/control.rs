//! ipvsadm's listings of a running director, and the parsing of control commands.
//!
//! Listings are ipvsadm 1.31's formats (through `lvs_core::ipvsadm`), sorted as ipvsadm sorts
//! them (services by protocol/address/port or mark, real servers by address and port) unless
//! `--nosort` is given.
//!
//! Listings are always numeric: `-L` without `-n` prints what `-L -n` prints. ipvsadm without
//! `-n` resolves every address with a reverse DNS query and every port with
//! `getservbyport`; lvsd answers control commands on its forwarding thread, where a resolver
//! that waits seconds for a DNS server would stall every packet. Scripts use `-n` anyway.
//!
//! Each answer carries ipvsadm's exit code for the same command ([`Exit`]).

use crate::sched::Sched;
use lvs_core::director::Director;
use lvs_core::ipvsadm::{
    cmp_dests, cmp_services, parse_rule, write_list, write_save, write_service, write_title,
    DestRow, ListHeader, ListMode, Rule, ServiceRow,
};
use lvs_core::state::TcpState;
use lvs_core::{AddrFamily, Duration, Endpoint, Protocol, Scheduler, ServiceKey};
use std::fmt::Write;

/// ipvsadm's exit codes, which `lvsd ctl` exits with.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// `-L` of a service that does not exist (ipvsadm's `list_service`: `exit(1)`).
    pub const NO_SUCH_SERVICE: u8 = 1;
    /// A command line ipvsadm rejects before doing anything (`fail(2, ...)`).
    pub const USAGE: u8 = 2;
    /// A command the kernel refused (ipvsadm returns -1 from `main`).
    pub const REFUSED: u8 = 255;
}

/// The exit code and output of a control command.
pub type Exit = (u8, String);

/// The controls lvsd has besides ipvsadm's, for messages.
pub const VERBS: &str = "reload, status, neigh, sysctl, announce";

/// The message for a command line that failed to parse as an ipvsadm command.
fn rule_error(line: &str, kind: lvs_core::ipvsadm::RuleErrorKind) -> String {
    use lvs_core::ipvsadm::RuleErrorKind;
    if kind == RuleErrorKind::MissingCommand {
        if let Some(first) = line.split_whitespace().find(|t| *t != "ipvsadm") {
            if !first.starts_with('-') {
                return format!(
                    "unknown command {first:?}: expected an ipvsadm command (-A -E -D -C -a \
                     -e -d -L -S -Z --set) or one of {VERBS}"
                );
            }
        }
    }
    crate::rulefile::describe(line, kind)
}

/// Options of `-L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOpts {
    /// Which table.
    pub mode: ListMode,
    /// `-c`: connections instead of services.
    pub conns: bool,
    /// Sort like ipvsadm (default) or keep the director's order (`--nosort`).
    pub nosort: bool,
    /// Only this service.
    pub service: Option<ServiceKey>,
}

/// A control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// A rule (`-A`, `-a`, `-e`...).
    Rule(Rule<'a>),
    /// `-L`.
    List(ListOpts),
    /// `-S`.
    Save,
    /// `-Z`.
    Zero,
    /// `reload`.
    Reload,
    /// `status`.
    Status,
    /// `-L --daemon`: the sync daemons.
    Daemon,
    /// `announce`: gratuitous ARP / unsolicited NA for every VIP and own address.
    Announce,
    /// `neigh`.
    Neigh,
    /// `sysctl` or `sysctl NAME=VALUE`.
    Sysctl(Option<(String, u32)>),
    /// `-L --timeout`.
    Timeout,
    /// `--set TCP TCPFIN UDP` (seconds; 0 leaves a value unchanged).
    SetTimeout([Duration; 3]),
}

/// `--set TCP TCPFIN UDP`: three timeouts, each 0..=2678400 s as ipvsadm's `parse_timeout`.
fn set_timeouts(args: &[&str]) -> Result<Command<'static>, String> {
    if args.len() < 3 {
        return Err("--set option requires 3 timeout values".into());
    }
    if let Some(extra) = args.get(3) {
        return Err(format!("unexpected argument {extra}"));
    }
    let mut t = [Duration::ZERO; 3];
    for (slot, a) in t.iter_mut().zip(args) {
        let secs: u32 = a
            .parse()
            .ok()
            .filter(|&s| s <= 86400 * 31)
            .ok_or_else(|| format!("invalid timeout value `{a}' specified"))?;
        *slot = Duration::from_secs(u64::from(secs));
    }
    Ok(Command::SetTimeout(t))
}

fn service_arg(opt: &str, v: &str) -> Result<ServiceKey, String> {
    let proto = match opt {
        "-t" | "--tcp-service" => Protocol::Tcp,
        "-u" | "--udp-service" => Protocol::Udp,
        "--sctp-service" => Protocol::Sctp,
        _ => {
            let mark: u32 = v
                .parse()
                .ok()
                .filter(|&m| m != 0)
                .ok_or_else(|| format!("bad fwmark {v:?}"))?;
            return Ok(ServiceKey::Fwmark {
                af: AddrFamily::Ipv4,
                mark,
            });
        }
    };
    let vip: Endpoint = v
        .parse()
        .map_err(|_| format!("illegal virtual server address[:port] {v:?}"))?;
    Ok(ServiceKey::Addr { proto, vip })
}

/// Parses a control line.
///
/// # Errors
/// A message for a line that is neither a listing command, an lvsd command nor a valid rule.
pub fn parse_command(line: &str) -> Result<Command<'_>, String> {
    let toks: Vec<&str> = line
        .split_whitespace()
        .filter(|t| *t != "ipvsadm")
        .collect();
    match toks.first().copied() {
        None => return Err("empty command".into()),
        Some("reload") if toks.len() == 1 => return Ok(Command::Reload),
        Some("status") if toks.len() == 1 => return Ok(Command::Status),
        Some("neigh") if toks.len() == 1 => return Ok(Command::Neigh),
        Some("announce") if toks.len() == 1 => return Ok(Command::Announce),
        Some("--set") => return set_timeouts(&toks[1..]),
        Some("sysctl") => {
            return match toks.len() {
                1 => Ok(Command::Sysctl(None)),
                2 => crate::config::parse_sysctl(toks[1]).map(|s| Command::Sysctl(Some(s))),
                _ => Err("usage: sysctl [NAME=VALUE]".into()),
            }
        }
        _ => {}
    }
    // expand single-dash bundles of flags without values (-Ln, -lnc)
    let mut words: Vec<String> = Vec::new();
    for t in &toks {
        if t.len() > 2 && t.starts_with('-') && !t.starts_with("--") {
            words.extend(t[1..].chars().map(|c| format!("-{c}")));
        } else {
            words.push((*t).to_string());
        }
    }
    let is = |w: &str, names: &[&str]| names.contains(&w);
    let cmd = words
        .iter()
        .find(|w| is(w, &["-L", "-l", "--list", "-S", "--save", "-Z", "--zero"]));
    let Some(cmd) = cmd.cloned() else {
        return parse_rule(line)
            .map(Command::Rule)
            .map_err(|e| rule_error(line, e));
    };
    let mut opts = ListOpts::default();
    let (mut stats, mut rate, mut exact, mut daemon) = (false, false, false, false);
    let mut timeout = false;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "-L" | "-l" | "--list" | "-S" | "--save" | "-Z" | "--zero" => {
                if *w != cmd
                    && !(is(w, &["-L", "-l", "--list"]) && is(&cmd, &["-L", "-l", "--list"]))
                {
                    return Err("multiple commands specified".into());
                }
            }
            "-n" | "--numeric" => {}
            "--stats" => stats = true,
            "--rate" => rate = true,
            "--exact" | "-X" => exact = true,
            "--thresholds" => opts.mode = ListMode::Thresholds,
            "--persistent-conn" => opts.mode = ListMode::PersistentConn,
            "--tun-info" => opts.mode = ListMode::TunInfo,
            "-c" | "--connection" => opts.conns = true,
            "--nosort" => opts.nosort = true,
            "--daemon" => daemon = true,
            "--timeout" => timeout = true,
            "--sort" => opts.nosort = false,
            "-t" | "--tcp-service" | "-u" | "--udp-service" | "--sctp-service" | "-f"
            | "--fwmark-service" => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("option {w} requires an argument"))?;
                opts.service = Some(service_arg(w, v)?);
            }
            other => return Err(format!("unknown option {other:?} for {cmd}")),
        }
    }
    if stats && rate {
        return Err("--stats and --rate are exclusive".into());
    }
    let listing = is(&cmd, &["-L", "-l", "--list"]);
    // ipvsadm: "options conflicts in the list command"
    if (opts.conns || timeout || daemon) && (stats || rate || opts.mode == ListMode::Thresholds)
        || (timeout || daemon) && opts.mode == ListMode::PersistentConn
    {
        return Err("options conflicts in the list command".into());
    }
    if timeout {
        if !listing {
            return Err(format!("--timeout is a listing option, not for {cmd}"));
        }
        return Ok(Command::Timeout);
    }
    if daemon {
        if !listing {
            return Err(format!("--daemon is a listing option, not for {cmd}"));
        }
        return Ok(Command::Daemon);
    }
    if stats {
        opts.mode = ListMode::Stats { exact };
    } else if rate {
        opts.mode = ListMode::Rate { exact };
    }
    Ok(match cmd.as_str() {
        "-S" | "--save" => Command::Save,
        "-Z" | "--zero" => Command::Zero,
        _ => Command::List(opts),
    })
}

/// The listing rows of the services `opts` selects, sorted like ipvsadm's unless `--nosort`.
pub fn rows(dir: &Director<'_, Sched>, opts: &ListOpts) -> Vec<ServiceRow<'static, Vec<DestRow>>> {
    let mut svcs: Vec<_> = dir
        .services()
        .filter(|(_, s)| opts.service.is_none_or(|k| k == s.config.key))
        .collect();
    if !opts.nosort {
        svcs.sort_by(|a, b| cmp_services(&a.1.config.key, &b.1.config.key));
    }
    svcs.into_iter()
        .map(|(id, s)| {
            let mut dests: Vec<DestRow> = dir
                .dests(id)
                .iter()
                .map(|(did, d)| {
                    let mut r = DestRow::from_dest(d);
                    if let Some(st) = dir.dest_stats(did) {
                        r.counters = st.counters;
                        r.rates = st.rates();
                    }
                    r
                })
                .collect();
            if !opts.nosort {
                dests.sort_by(|a, b| cmp_dests(&a.addr, &b.addr));
            }
            let mut row = ServiceRow::new(&s.config, s.sched.name(), dests);
            row.flags = s.sched.sched_flags();
            row.counters = s.stats.counters;
            row.rates = s.stats.rates();
            row
        })
        .collect()
}

/// Writes an `ipvsadm -L -n ...` listing of one director, with ipvsadm's exit code (lvsd lists
/// every shard through [`crate::views`]; this is the tests' single director).
///
/// With a service (`-L -n -t VIP:PORT`), ipvsadm's `list_service`: the column titles and that
/// service only (no version line), or `No such service` and exit code 1 when it does not exist.
#[cfg(test)]
pub fn list(dir: &Director<'_, Sched>, opts: &ListOpts, now: lvs_core::Instant) -> Exit {
    if opts.conns {
        let mut out = String::new();
        let pe = opts.mode == ListMode::PersistentConn;
        let _ = dir.write_conns_mode(&mut out, now, pe);
        return (exit::OK, out);
    }
    list_rows(rows(dir, opts), dir.table().capacity(), opts)
}

/// [`list`] of services and real servers from their rows (as [`rows`] selects and sorts them
/// for `opts`) and the connection table's capacity (the version line's `size`).
pub fn list_rows(
    rows: Vec<ServiceRow<'static, Vec<DestRow>>>,
    cap: usize,
    opts: &ListOpts,
) -> Exit {
    let mut out = String::new();
    if opts.service.is_some() {
        let Some(row) = rows.into_iter().next() else {
            return (exit::NO_SUCH_SERVICE, "No such service\n".into());
        };
        let _ = write_title(&mut out, opts.mode);
        let _ = write_service(&mut out, row, opts.mode);
        return (exit::OK, out);
    }
    let header = ListHeader::new(cap as u32);
    let _ = write_list(&mut out, &header, rows, opts.mode);
    (exit::OK, out)
}

/// `-L --timeout`: `Timeout (tcp tcpfin udp): 900 120 300`.
pub fn timeouts(dir: &Director<'_, Sched>) -> String {
    let t = &dir.config().timeouts;
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp[TcpState::Established as usize].secs(),
        t.tcp[TcpState::FinWait as usize].secs(),
        t.udp.secs()
    )
}

/// Writes an `ipvsadm -S -n` dump.
pub fn save(dir: &Director<'_, Sched>) -> String {
    let mut out = String::new();
    let _ = write_save(&mut out, rows(dir, &ListOpts::default()));
    out
}

/// Appends `name value` lines.
pub fn kv(out: &mut String, name: &str, v: impl std::fmt::Display) {
    let _ = writeln!(out, "{name} {v}");
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::rules::{self, sync};
    use lvs_core::director::{DirectorConfig, OwnedMemory};
    use lvs_core::hash::SipKey;
    use lvs_core::Instant;

    #[test]
    fn commands_parse() {
        assert_eq!(
            parse_command("-L -n --stats --exact").unwrap(),
            Command::List(ListOpts {
                mode: ListMode::Stats { exact: true },
                ..ListOpts::default()
            })
        );
        assert_eq!(
            parse_command("ipvsadm -Lnc").unwrap(),
            Command::List(ListOpts {
                conns: true,
                ..ListOpts::default()
            })
        );
        assert!(matches!(
            parse_command("-L -n -t 198.18.0.10:80 --rate").unwrap(),
            Command::List(ListOpts {
                mode: ListMode::Rate { exact: false },
                service: Some(ServiceKey::Addr { .. }),
                ..
            })
        ));
        assert_eq!(parse_command("-S -n").unwrap(), Command::Save);
        assert_eq!(parse_command("-Z").unwrap(), Command::Zero);
        assert_eq!(parse_command("reload").unwrap(), Command::Reload);
        assert_eq!(parse_command("-L --daemon").unwrap(), Command::Daemon);
        assert_eq!(parse_command("announce").unwrap(), Command::Announce);
        assert_eq!(
            parse_command("ipvsadm -ln --daemon").unwrap(),
            Command::Daemon
        );
        assert!(parse_command("-S --daemon").is_err());
        assert_eq!(
            parse_command("sysctl expire_nodest_conn=1").unwrap(),
            Command::Sysctl(Some(("expire_nodest_conn".into(), 1)))
        );
        assert!(matches!(
            parse_command("-e -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 0").unwrap(),
            Command::Rule(Rule::EditDest { .. })
        ));
        assert!(parse_command("-L --stats --rate").is_err());
        assert!(parse_command("-L -S").is_err());
        assert!(parse_command("-L --bogus").is_err());
        assert!(parse_command("-a -t 198.18.0.10:80").is_err());
        assert!(parse_command("").is_err());
    }

    #[test]
    fn listings_are_sorted_like_ipvsadm() {
        let text = "\
-A -t 198.18.0.20:80 -s wrr
-a -t 198.18.0.20:80 -r 198.18.1.12 -g -w 2
-a -t 198.18.0.20:80 -r 198.18.1.11 -g -w 3
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m
";
        let mut mem = OwnedMemory::new(4096, 4, 8);
        let mut dir = Director::new(
            DirectorConfig::new(SipKey(1, 2)),
            mem.borrow(),
            Instant::ZERO,
        )
        .unwrap();
        sync(&mut dir, &rules::load(text).unwrap(), 1, Instant::ZERO).unwrap();
        let (code, l) = list(&dir, &ListOpts::default(), Instant::ZERO);
        assert_eq!(code, exit::OK);
        assert_eq!(
            l,
            "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.10:80 rr
  -> 198.18.1.11:80               Masq    1      0          0         
TCP  198.18.0.20:80 wrr
  -> 198.18.1.11:80               Route   3      0          0         
  -> 198.18.1.12:80               Route   2      0          0         
"
        );
        let s = save(&dir);
        assert_eq!(
            s,
            "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1
-A -t 198.18.0.20:80 -s wrr
-a -t 198.18.0.20:80 -r 198.18.1.11:80 -g -w 3
-a -t 198.18.0.20:80 -r 198.18.1.12:80 -g -w 2
"
        );
        // what -S prints loads back to the same director state
        let back = rules::load(&s).unwrap();
        assert_eq!(back.services.len(), 2);
        let (_, st) = list(
            &dir,
            &ListOpts {
                mode: ListMode::Stats { exact: true },
                ..ListOpts::default()
            },
            Instant::ZERO,
        );
        assert!(
            st.contains("Conns   InPkts  OutPkts  InBytes OutBytes"),
            "{st}"
        );
    }

    fn director(mem: &mut OwnedMemory<Sched>) -> Director<'_, Sched> {
        let text = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m
";
        let mut dir = Director::new(
            DirectorConfig::new(SipKey(1, 2)),
            mem.borrow(),
            Instant::ZERO,
        )
        .unwrap();
        sync(&mut dir, &rules::load(text).unwrap(), 1, Instant::ZERO).unwrap();
        dir
    }

    fn run(dir: &Director<'_, Sched>, line: &str) -> Exit {
        match parse_command(line) {
            Ok(Command::List(o)) => list(dir, &o, Instant::ZERO),
            Ok(Command::Timeout) => (exit::OK, timeouts(dir)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => (exit::USAGE, e),
        }
    }

    #[test]
    fn listing_a_missing_service_fails_like_ipvsadm() {
        let mut mem = OwnedMemory::new(1024, 4, 8);
        let dir = director(&mut mem);
        // ipvsadm's list_service: "No such service" on stderr, exit 1
        assert_eq!(
            run(&dir, "-L -n -t 198.18.0.99:80"),
            (exit::NO_SUCH_SERVICE, "No such service\n".into())
        );
        assert_eq!(
            run(&dir, "-L -n -u 198.18.0.10:80").0,
            exit::NO_SUCH_SERVICE
        );
        // an existing one: the titles and that service, no version line
        let (code, out) = run(&dir, "-L -n -t 198.18.0.10:80");
        assert_eq!(code, exit::OK);
        assert_eq!(
            out,
            "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.18.0.10:80 rr
  -> 198.18.1.11:80               Masq    1      0          0         
"
        );
        // a service address that does not parse is a usage error, quoted
        let (code, msg) = run(&dir, "-L -n -t 198.18.0.300:80");
        assert_eq!(code, exit::USAGE);
        assert!(msg.contains("\"198.18.0.300:80\""), "{msg}");
    }

    #[test]
    fn timeouts_list_and_set() {
        let mut mem = OwnedMemory::new(1024, 4, 8);
        let mut dir = director(&mut mem);
        assert_eq!(
            run(&dir, "-L --timeout"),
            (exit::OK, "Timeout (tcp tcpfin udp): 900 120 300\n".into())
        );
        let Ok(Command::SetTimeout([tcp, fin, udp])) = parse_command("--set 3600 0 60") else {
            panic!("--set did not parse");
        };
        let mut c = *dir.config();
        c.timeouts.set(tcp, fin, udp);
        dir.set_config(c);
        // 0 leaves tcpfin as it was, as ipvsadm
        assert_eq!(
            run(&dir, "ipvsadm -L --timeout").1,
            "Timeout (tcp tcpfin udp): 3600 120 60\n"
        );
        assert_eq!(
            parse_command("--set 1 2").unwrap_err(),
            "--set option requires 3 timeout values"
        );
        assert_eq!(
            parse_command("--set 1 2 x").unwrap_err(),
            "invalid timeout value `x' specified"
        );
        assert_eq!(
            parse_command("--set 1 2 2678401").unwrap_err(),
            "invalid timeout value `2678401' specified"
        );
        assert_eq!(
            parse_command("--set 1 2 3 4").unwrap_err(),
            "unexpected argument 4"
        );
        assert_eq!(
            parse_command("-L --timeout --stats").unwrap_err(),
            "options conflicts in the list command"
        );
    }

    #[test]
    fn list_without_numeric_is_numeric() {
        let mut mem = OwnedMemory::new(1024, 4, 8);
        let dir = director(&mut mem);
        assert_eq!(run(&dir, "-L"), run(&dir, "-L -n"));
        assert_eq!(run(&dir, "-L -c"), run(&dir, "-L -n -c"));
    }

    #[test]
    fn persistent_conn_listing_has_the_pe_columns() {
        let mut mem = OwnedMemory::new(1024, 4, 8);
        let dir = director(&mut mem);
        let (code, out) = run(&dir, "-L -n -c --persistent-conn");
        assert_eq!(code, exit::OK);
        assert_eq!(
            out,
            "IPVS connection entries\npro expire state       source             virtual            \
             destination        pe name          pe_data\n"
        );
        let (_, plain) = run(&dir, "-L -n -c");
        assert!(
            plain.ends_with("virtual            destination\n"),
            "{plain}"
        );
    }

    #[test]
    fn unknown_verbs_are_named() {
        let e = parse_command("relaod").unwrap_err();
        assert!(
            e.starts_with("unknown command \"relaod\": expected an ipvsadm command"),
            "{e}"
        );
        assert!(e.contains("reload, status"), "{e}");
        // a misspelt option is an option error, not an unknown verb
        let e = parse_command("-A -t 198.18.0.1:80 --bogus").unwrap_err();
        assert_eq!(e, "unknown option at column 21");
    }
}
