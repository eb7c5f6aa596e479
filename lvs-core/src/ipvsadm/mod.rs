//! ipvsadm compatibility: the `ipvsadm-save -n` / `ipvsadm-restore` rule language and the
//! `ipvsadm -L -n` listings, without allocation.
//!
//! - [`rules`] parses one command per line (`-A -t 198.18.0.1:80 -s rr -p 600`) into a
//!   [`Rule`] that borrows from the input, with ipvsadm's defaults and its and the kernel's
//!   validation, and prints a [`Rule`] back as the canonical `ipvsadm-save -n` line.
//! - [`listing`] writes the `ipvsadm -L -n` tables (plain, `--stats`, `--rate`, `--thresholds`,
//!   `--persistent-conn`, `--tun-info`), the `ipvsadm -S -n` dump and the `ipvsadm -L -n -c`
//!   connection list to any [`core::fmt::Write`], byte for byte as ipvsadm 1.31 prints them.
//!
//! Everything is numeric (`-n`): there is no resolver, so host and service names are neither
//! accepted nor printed.
//!
//! ```
//! use lvs_core::ipvsadm::{parse_rules, Rule};
//! let text = "# web\n-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1 -m -w 2\n";
//! let rules: Vec<_> = parse_rules(text).collect::<Result<_, _>>().unwrap();
//! assert_eq!(rules.len(), 2);
//! assert_eq!(rules[1].0, 3); // line numbers count comments and blank lines
//! assert_eq!(rules[1].1.to_string(), "-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 2");
//! assert!(matches!(rules[0].1, Rule::AddService { scheduler: "rr", .. }));
//! ```

use crate::addr::{Endpoint, IpAddr, Ipv6Addr};
use core::fmt;

pub mod listing;
#[cfg(feature = "alloc")]
pub mod reconcile;
pub mod rules;

pub use listing::{
    cmp_dests, cmp_services, conn_proto_name, fwmark_template_vaddr, write_conns, write_conns_mode,
    write_list, write_save, write_service, write_title, ConnRow, DestRow, ListHeader, ListMode,
    ServiceRow,
};
pub use rules::{parse_rule, parse_rules, Rule, RuleError, RuleErrorKind, RuleOption, Rules};

/// The scheduler flags live with the scheduler interface; re-exported here for the rule and
/// listing code and for existing paths.
pub use crate::sched::{SchedFlags, SchedFlagsDisplay};

/// An address as glibc's `inet_ntop` prints it, which is what ipvsadm shows.
///
/// It differs from [`core::net::Ipv6Addr`]'s `Display` only for IPv4-compatible addresses
/// (`::a.b.c.d` with the first 96 bits zero), which glibc prints in dotted form.
///
/// ```
/// use lvs_core::ipvsadm::NumericAddr;
/// use lvs_core::addr::{IpAddr, Ipv6Addr};
/// let a = IpAddr::V6("::c612:1".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(NumericAddr(a).to_string(), "::198.18.0.1");
/// let b = IpAddr::V6("2001:db8:0:0:1:0:0:1".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(NumericAddr(b).to_string(), "2001:db8::1:0:0:1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericAddr(pub IpAddr);

impl fmt::Display for NumericAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(a) => {
                let o = a.octets();
                write!(f, "{}.{}.{}.{}", o[0], o[1], o[2], o[3])
            }
            IpAddr::V6(a) => write_inet6(f, &a),
        }
    }
}

/// glibc `inet_ntop6`: the first longest run of two or more zero words becomes `::`; an
/// address whose first six words are zero (or five zeros then `ffff`) ends in dotted IPv4.
fn write_inet6(f: &mut fmt::Formatter<'_>, a: &Ipv6Addr) -> fmt::Result {
    let w = a.segments();
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let (mut cur_base, mut cur_len) = (usize::MAX, 0usize);
    for (i, &word) in w.iter().enumerate() {
        if word == 0 {
            if cur_len == 0 {
                cur_base = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                best_base = cur_base;
                best_len = cur_len;
            }
        } else {
            cur_len = 0;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
        best_len = 0;
    }
    let embedded_v4 = best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff));
    let in_run = |i: usize| best_len != 0 && i >= best_base && i < best_base + best_len;
    for (i, &word) in w.iter().enumerate() {
        if in_run(i) {
            if i == best_base {
                f.write_str(":")?;
            }
            continue;
        }
        if i != 0 {
            f.write_str(":")?;
        }
        if i == 6 && embedded_v4 {
            let o = a.octets();
            return write!(f, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
        }
        write!(f, "{word:x}")?;
    }
    if best_len != 0 && best_base + best_len == 8 {
        f.write_str(":")?;
    }
    Ok(())
}

/// An endpoint as ipvsadm prints it with `-n`: `a.b.c.d:port` or `[v6]:port`, the address
/// formatted by [`NumericAddr`].
///
/// ```
/// use lvs_core::ipvsadm::NumericEndpoint;
/// use lvs_core::addr::Endpoint;
/// assert_eq!(NumericEndpoint(Endpoint::v4([198, 18, 0, 1], 80)).to_string(), "198.18.0.1:80");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericEndpoint(pub Endpoint);

impl fmt::Display for NumericEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.addr {
            IpAddr::V4(_) => write!(f, "{}:{}", NumericAddr(self.0.addr), self.0.port),
            IpAddr::V6(_) => write!(f, "[{}]:{}", NumericAddr(self.0.addr), self.0.port),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::string::ToString;

    fn v6(s: &str) -> std::string::String {
        NumericAddr(IpAddr::V6(s.parse().unwrap())).to_string()
    }

    #[test]
    fn inet_ntop6_matches_glibc() {
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("1::"), "1::");
        assert_eq!(v6("2001:db8::1"), "2001:db8::1");
        // a single zero word is not compressed
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        // the first of two equally long runs is compressed
        assert_eq!(v6("1:0:0:1:0:0:1:1"), "1::1:0:0:1:1");
        // the longer run wins even when later
        assert_eq!(v6("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(v6("::ffff:198.18.0.1"), "::ffff:198.18.0.1");
        assert_eq!(v6("::198.18.0.1"), "::198.18.0.1");
        // ::0.0.1.0 has seven leading zero words: plain hex, as glibc
        assert_eq!(v6("::100"), "::100");
        assert_eq!(v6("fe80::abcd:ef01"), "fe80::abcd:ef01");
    }
}
