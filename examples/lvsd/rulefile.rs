//! Reading a rules file as `ipvsadm-restore` would, with errors a person can act on.
//!
//! - The file is read as bytes: a line that is not UTF-8 is reported with its number and the
//!   column of the first bad byte, and the other lines are still checked.
//! - An address error quotes the value (`illegal virtual server address[:port] specified:
//!   "198.18.0.300:80"`), as ipvsadm's own message names only the option.
//! - A rejected `-A` line is reported once: the lines after it that fail only because its
//!   service does not exist (`-a`, `-e`, `-d`, `-E`, `-D` of that service) are not reported one
//!   by one but counted on the root error. ipvsadm-restore stops at the first line it cannot
//!   parse, so it never reports them either.

use crate::rules::{check_and_apply, RuleSet};
use lvs_core::ipvsadm::reconcile::LineError;
use lvs_core::ipvsadm::{parse_rule, parse_rules, Rule, RuleErrorKind, RuleOption};
use lvs_core::ServiceKey;

/// The value given to `opt` on `line` (`-t V`, `-tV`, `--tcp-service V`,
/// `--tcp-service=V`, or the last option of a bundle: `-At V`).
pub fn option_value(line: &str, opt: RuleOption) -> Option<&str> {
    let long = opt.long_name();
    let short = opt.short_name();
    let mut toks = line.split_whitespace();
    while let Some(t) = toks.next() {
        if let Some(l) = t.strip_prefix("--") {
            match l.split_once('=') {
                Some((n, v)) if n == long => return Some(v),
                None if l == long => return toks.next(),
                _ => {}
            }
        } else if let (Some(rest), Some(c)) = (t.strip_prefix('-'), short) {
            if let Some(i) = rest.find(c) {
                let after = &rest[i + c.len_utf8()..];
                return if after.is_empty() {
                    toks.next()
                } else {
                    Some(after)
                };
            }
        }
    }
    None
}

/// The message for a rejected rule line: the library's, with the bad value quoted for address
/// errors, in ipvsadm's words.
pub fn describe(line: &str, kind: RuleErrorKind) -> String {
    match kind {
        RuleErrorKind::BadAddress(opt) => {
            let what = if opt == RuleOption::RealServer {
                "real server"
            } else {
                "virtual server"
            };
            match option_value(line, opt) {
                Some(v) => format!("illegal {what} address[:port] specified: {v:?} ({opt})"),
                None => format!("illegal {what} address[:port] specified ({opt})"),
            }
        }
        other => other.to_string(),
    }
}

/// The service a line names, if its service option parses (`-A -t 198.18.0.1:80 -s b@d`
/// names `TCP 198.18.0.1:80` even though the line is rejected).
fn named_service(line: &str) -> Option<ServiceKey> {
    for opt in [
        RuleOption::TcpService,
        RuleOption::UdpService,
        RuleOption::SctpService,
        RuleOption::FwmarkService,
    ] {
        if let Some(v) = option_value(line, opt) {
            let probe = format!("-D --{} {v}", opt.long_name());
            return match parse_rule(&probe) {
                Ok(Rule::DelService { service }) => Some(service),
                _ => None,
            };
        }
    }
    None
}

fn adds_service(line: &str) -> bool {
    let first = line.split_whitespace().find(|t| *t != "ipvsadm");
    first.is_some_and(|t| {
        t == "--add-service"
            || (t.starts_with('-') && !t.starts_with("--") && t[1..].starts_with('A'))
    })
}

fn rule_service(rule: &Rule<'_>) -> Option<ServiceKey> {
    match rule {
        Rule::AddService { config, .. } | Rule::EditService { config, .. } => Some(config.key),
        Rule::DelService { service }
        | Rule::AddDest { service, .. }
        | Rule::EditDest { service, .. }
        | Rule::DelDest { service, .. } => Some(*service),
        _ => None,
    }
}

/// A rejected `-A`: the service it would have made (`None`: its address did not parse), its
/// index in the error list, and how many later lines failed only because of it.
struct Root {
    key: Option<ServiceKey>,
    error: usize,
    followers: usize,
}

/// Parses a rules file's bytes and runs it on an empty rule set; see the module docs.
///
/// # Errors
/// The rejected lines, in order, each with its number.
pub fn load(bytes: &[u8]) -> Result<RuleSet, Vec<LineError>> {
    let mut errors = Vec::new();
    let mut roots: Vec<Root> = Vec::new();
    let mut text = String::with_capacity(bytes.len());
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(raw) {
            Ok(s) => text.push_str(s),
            Err(e) => {
                let at = e.valid_up_to();
                // what came before the bad byte still says whether it was an -A
                if adds_service(std::str::from_utf8(&raw[..at]).unwrap_or("")) {
                    roots.push(Root {
                        key: None,
                        error: errors.len(),
                        followers: 0,
                    });
                }
                errors.push(LineError::new(
                    i + 1,
                    format!("invalid UTF-8: byte 0x{:02x} at column {}", raw[at], at + 1),
                ));
            }
        }
        text.push('\n');
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut set = RuleSet::default();
    let record = |errors: &mut Vec<LineError>, roots: &mut Vec<Root>, e: LineError| {
        let src = lines.get(e.line - 1).copied().unwrap_or("");
        if adds_service(src) {
            roots.push(Root {
                key: named_service(src),
                error: errors.len(),
                followers: 0,
            });
        }
        errors.push(e);
    };
    let no_svc = lvs_core::director::ConfigError::NoSuchService.to_string();
    for item in parse_rules(&text) {
        match item {
            Err(e) => {
                let src = lines.get(e.line - 1).copied().unwrap_or("");
                let reason = describe(src, e.kind);
                record(&mut errors, &mut roots, LineError::new(e.line, reason));
            }
            Ok((line, rule)) => {
                let Err(reason) = check_and_apply(&mut set, &rule) else {
                    continue;
                };
                if reason == no_svc {
                    let key = rule_service(&rule);
                    let root = roots
                        .iter_mut()
                        .rev()
                        .find(|r| r.key.is_none() || r.key == key);
                    if let Some(r) = root {
                        r.followers += 1;
                        continue;
                    }
                }
                record(&mut errors, &mut roots, LineError::new(line, reason));
            }
        }
    }
    for r in &roots {
        if r.followers > 0 {
            let e = &mut errors[r.error];
            e.reason.push_str(&format!(
                " (and {} later line(s) for the service it did not add)",
                r.followers
            ));
        }
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn option_values_in_every_spelling() {
        let v = option_value;
        assert_eq!(
            v("-A -t 1.2.3.4:80", RuleOption::TcpService),
            Some("1.2.3.4:80")
        );
        assert_eq!(
            v("-At 1.2.3.4:80", RuleOption::TcpService),
            Some("1.2.3.4:80")
        );
        assert_eq!(v("-A -tx:80", RuleOption::TcpService), Some("x:80"));
        assert_eq!(v("-A --tcp-service=x", RuleOption::TcpService), Some("x"));
        assert_eq!(v("-A --tcp-service y", RuleOption::TcpService), Some("y"));
        assert_eq!(v("-a -t a -r b", RuleOption::RealServer), Some("b"));
        assert_eq!(v("-a -t a", RuleOption::RealServer), None);
    }

    #[test]
    fn address_errors_quote_the_value() {
        let errs = load(b"-A -t 198.18.0.300:80 -s rr\n").unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "line 1: illegal virtual server address[:port] specified: \"198.18.0.300:80\" \
             (-t/--tcp-service)"
        );
        let errs =
            load(b"-A -u 198.18.0.1:53\n-a -u 198.18.0.1:53 -r 198.18.1.x -m\n").unwrap_err();
        assert_eq!(
            errs[0].reason,
            "illegal real server address[:port] specified: \"198.18.1.x\" (-r/--real-server)"
        );
    }

    #[test]
    fn non_utf8_is_reported_with_its_line_and_the_rest_is_checked() {
        let text =
            b"-A -t 198.18.0.10:80 -s rr\n# caf\xe9\n-a -t 198.18.0.10:80 -r 198.18.1.1 -w 70000\n";
        let errs = load(text).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "line 2: invalid UTF-8: byte 0xe9 at column 6"
        );
        assert_eq!(errs[1].line, 3);
        // a file whose only problem is fixed loads
        assert!(load(b"-A -t 198.18.0.10:80 -s rr\n# cafe\n").is_ok());
    }

    #[test]
    fn a_bad_add_service_is_reported_once() {
        let text = "\
-A -t 198.18.0.10:80 -s r@r
-a -t 198.18.0.10:80 -r 198.18.1.11 -m
-a -t 198.18.0.10:80 -r 198.18.1.12 -m
-e -t 198.18.0.10:80 -r 198.18.1.12 -m -w 3
-a -t 198.18.0.99:80 -r 198.18.1.12 -m
";
        let errs = load(text.as_bytes()).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            errs[0].to_string(),
            "line 1: invalid scheduler name (and 3 later line(s) for the service it did not add)"
        );
        // another service's missing -A is its own error
        assert_eq!(errs[1].to_string(), "line 5: no such service");
        // an -A whose address does not parse covers every later "no such service"
        let errs =
            load(b"-A -t 198.18.0.300:80\n-a -t 198.18.0.30:80 -r 198.18.1.1\n").unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0]
            .reason
            .ends_with("(and 1 later line(s) for the service it did not add)"));
        // a non-UTF-8 -A line too
        let errs = load(b"-A -t 198.18.0.10:80 -s \xff\n-a -t 198.18.0.10:80 -r 198.18.1.1\n")
            .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
    }
}
