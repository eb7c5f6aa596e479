//! What the fanout program ([`crate::fanout`]) hashes with more than one worker: `--steer
//! addr|flow|auto`.
//!
//! - `flow`: the client's address and port. Every connection is placed on its own, so even a
//!   single client address spreads over the workers (the dataplane benchmark's one sender
//!   with 64 flows), but a client's connections from different ports reach different shards,
//!   each with its own persistence templates: a persistent service (`-p`) would pick a
//!   server per shard, not per client, so it is refused.
//! - `addr`: the client's address only, masked to the shortest persistence netmask (`-M`) of
//!   the rules lvsd starts with, per family. All of a client's connections (of a whole `-M`
//!   network) meet in one shard, so persistence templates, TLS session IDs and any other
//!   per-client state behave as with the kernel's single table, at the price of one client
//!   address never spreading over the workers.
//! - `auto` (the default): `addr` when the rules lvsd starts with have a persistent service
//!   or `--tls-rules` is given, `flow` otherwise.
//!
//! The choice is made once, at start: changing it later would move established flows to
//! shards that do not hold them. So with more than one worker a rule that would need more
//! than the steering gives is refused at run time (`-A`/`-E` with `-p` under `flow`, or with a
//! `-M` shorter than the steering's mask under `addr`; a reload bringing such a service is
//! refused whole), with a message that names the option to start with. One worker takes
//! every rule, as before.

use crate::rules::RuleSet;
use lvs_core::ipvsadm::Rule;
use lvs_core::{AddrFamily, ServiceConfig};

/// How frames are steered to workers (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    /// The client's address and port.
    Flow,
    /// The client's address: its first `v4` bits (IPv4) or `v6` bits (IPv6).
    Addr {
        /// IPv4 prefix length hashed (32: the whole address).
        v4: u8,
        /// IPv6 prefix length hashed (128: the whole address).
        v6: u8,
    },
}

impl Steering {
    /// `addr` over whole addresses.
    pub const ADDR: Steering = Steering::Addr { v4: 32, v6: 128 };

    /// The port the hash takes for a client port (0 under `addr`).
    pub fn port(self, port: u16) -> u16 {
        match self {
            Steering::Flow => port,
            Steering::Addr { .. } => 0,
        }
    }

    /// The prefix length hashed for an address of family `v4` (IPv4) or not.
    pub fn prefix(self, v4: bool) -> u8 {
        match self {
            Steering::Flow if v4 => 32,
            Steering::Flow => 128,
            Steering::Addr { v4: p, .. } if v4 => p,
            Steering::Addr { v6: p, .. } => p,
        }
    }

    /// How lvsd says it at start.
    pub fn describe(self) -> String {
        match self {
            Steering::Flow => "client address and port (--steer flow)".into(),
            Steering::ADDR => "client address (--steer addr)".into(),
            Steering::Addr { v4, v6 } => {
                format!("client address, IPv4 /{v4}, IPv6 /{v6} (--steer addr)")
            }
        }
    }
}

/// `--steer`'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SteerArg {
    /// `addr`.
    Addr,
    /// `flow`.
    Flow,
    /// `auto` (the default).
    #[default]
    Auto,
}

/// Takes `--steer addr|flow|auto` out of `args`; `auto` when absent.
///
/// # Errors
/// A missing or unknown value.
pub fn take_args(args: &mut Vec<String>) -> Result<SteerArg, String> {
    let mut v = SteerArg::Auto;
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let s = match a.strip_prefix("--steer=") {
            Some(s) => s.to_string(),
            None if a == "--steer" => it.next().ok_or("--steer needs addr, flow or auto")?,
            None => {
                rest.push(a);
                continue;
            }
        };
        v = match s.as_str() {
            "addr" => SteerArg::Addr,
            "flow" => SteerArg::Flow,
            "auto" => SteerArg::Auto,
            _ => return Err(format!("--steer {s:?}: expected addr, flow or auto")),
        };
    }
    *args = rest;
    Ok(v)
}

/// The persistence prefix length of a service, if persistent: (IPv4 or not, bits).
fn persistence(c: &ServiceConfig) -> Option<(bool, u8)> {
    let v4 = c.key.family() == AddrFamily::Ipv4;
    let p = c.persistence?;
    Some((v4, p.prefix_len.min(if v4 { 32 } else { 128 })))
}

/// The steering for `arg`, given the rules lvsd starts with and whether `--tls-rules` is
/// given.
pub fn resolve(arg: SteerArg, set: &RuleSet, tls: bool) -> Steering {
    let persistent: Vec<(bool, u8)> = set
        .services
        .iter()
        .filter_map(|s| persistence(&s.config))
        .collect();
    let addr = match arg {
        SteerArg::Flow => return Steering::Flow,
        SteerArg::Addr => true,
        SteerArg::Auto => tls || !persistent.is_empty(),
    };
    if !addr {
        return Steering::Flow;
    }
    let (mut v4, mut v6) = (32, 128);
    for (is4, bits) in persistent {
        if is4 {
            v4 = v4.min(bits);
        } else {
            v6 = v6.min(bits);
        }
    }
    Steering::Addr { v4, v6 }
}

/// Whether a service of config `c` can run under `steering`: `Err` says why not.
fn check_service(steering: Steering, c: &ServiceConfig) -> Result<(), String> {
    let Some((v4, bits)) = persistence(c) else {
        return Ok(());
    };
    match steering {
        Steering::Flow => Err(format!(
            "{}: a persistent service needs every connection of a client in one worker's \
             table, and lvsd steers by client address and port (--steer flow); start lvsd \
             with --steer addr (or with the service in its rules, --steer auto)",
            c.key
        )),
        s if s.prefix(v4) > bits => Err(format!(
            "{}: persistence netmask /{bits} is wider than the /{} lvsd steers clients by \
             (set at start from its rules); start lvsd with the service in its rules",
            c.key,
            s.prefix(v4)
        )),
        _ => Ok(()),
    }
}

/// Whether `rule` can run with `workers` workers under `steering` (always with one).
///
/// # Errors
/// Why not, for the control command's answer.
pub fn check_rule(workers: usize, steering: Steering, rule: &Rule<'_>) -> Result<(), String> {
    match rule {
        Rule::AddService { config, .. } | Rule::EditService { config, .. } if workers > 1 => {
            check_service(steering, config)
        }
        _ => Ok(()),
    }
}

/// Whether rule set `set` can run with `workers` workers under `steering` (a reload).
///
/// # Errors
/// Why not: the first service that cannot.
pub fn check_set(workers: usize, steering: Steering, set: &RuleSet) -> Result<(), String> {
    if workers < 2 {
        return Ok(());
    }
    set.services
        .iter()
        .try_for_each(|s| check_service(steering, &s.config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{parse_command, Command};

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn set(text: &str) -> RuleSet {
        crate::rules::load(text).expect("rules")
    }

    fn rule(line: &str) -> Rule<'_> {
        match parse_command(line) {
            Ok(Command::Rule(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn option() {
        let mut a = args("--iface d0 --steer addr --workers 2");
        assert_eq!(take_args(&mut a), Ok(SteerArg::Addr));
        assert_eq!(a, args("--iface d0 --workers 2"));
        assert_eq!(take_args(&mut args("--steer=flow")), Ok(SteerArg::Flow));
        assert_eq!(take_args(&mut args("--iface d0")), Ok(SteerArg::Auto));
        assert!(take_args(&mut args("--steer port")).is_err());
        assert!(take_args(&mut args("--steer")).is_err());
    }

    #[test]
    fn auto_follows_the_rules() {
        let plain = set("-A -t 198.18.2.10:80 -s rr\n-a -t 198.18.2.10:80 -r 198.18.1.2:80 -m\n");
        let sticky = set(
            "-A -t 198.18.2.10:80 -s rr -p 60\n-A -t 198.18.2.11:80 -s wlc -p 60 -M 255.255.255.0\n\
             -A -t [2001:db8::10]:80 -p 60 -M 64\n",
        );
        assert_eq!(resolve(SteerArg::Auto, &plain, false), Steering::Flow);
        assert_eq!(resolve(SteerArg::Auto, &plain, true), Steering::ADDR);
        assert_eq!(resolve(SteerArg::Addr, &plain, false), Steering::ADDR);
        assert_eq!(
            resolve(SteerArg::Auto, &sticky, false),
            Steering::Addr { v4: 24, v6: 64 }
        );
        assert_eq!(resolve(SteerArg::Flow, &sticky, true), Steering::Flow);
    }

    #[test]
    fn persistent_services_need_addr_with_workers() {
        let p = rule("-A -t 198.18.2.12:443 -s rr -p 300");
        let e = check_rule(2, Steering::Flow, &p).unwrap_err();
        assert!(e.contains("--steer addr"), "{e}");
        assert_eq!(check_rule(1, Steering::Flow, &p), Ok(()));
        assert_eq!(check_rule(2, Steering::ADDR, &p), Ok(()));
        assert_eq!(
            check_rule(2, Steering::Flow, &rule("-A -t 198.18.2.12:443 -s rr")),
            Ok(())
        );
        let e = check_rule(2, Steering::Flow, &rule("-E -t 198.18.2.12:443 -p 10")).unwrap_err();
        assert!(e.contains("--steer addr"), "{e}");
        // a netmask wider than the steering's mask
        let m = rule("-A -t 198.18.2.12:443 -p 300 -M 255.255.0.0");
        assert!(check_rule(2, Steering::ADDR, &m).is_err());
        assert_eq!(
            check_rule(2, Steering::Addr { v4: 16, v6: 128 }, &m),
            Ok(())
        );
        let m6 = rule("-A -t [2001:db8::12]:443 -p 300 -M 48");
        assert!(check_rule(2, Steering::Addr { v4: 16, v6: 64 }, &m6).is_err());
        let sticky = set("-A -t 198.18.2.10:80 -s rr -p 60\n");
        assert!(check_set(2, Steering::Flow, &sticky).is_err());
        assert_eq!(check_set(1, Steering::Flow, &sticky), Ok(()));
        assert_eq!(check_set(2, Steering::ADDR, &sticky), Ok(()));
    }
}
