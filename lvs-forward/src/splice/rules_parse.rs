//! The text format of the HTTP rules, read on borrowed text without allocation.
//!
//! ```text
//! # l7.rules: content-aware routing, kept beside the ipvsadm rules
//! pool static mh key=url 198.18.1.1:8080 198.18.1.2:8080@2
//! pool app    wlc        198.18.1.3:8080 198.18.1.4:8080
//! route ext=jpg,png,gif,css,js          -> static
//! route host=.example.com prefix=/img/  -> static
//! route method=POST                     -> app
//! route header=x-debug path=/api/*      -> app
//! default app
//! ```
//!
//! One statement a line; `#` starts a comment (at the start of a line or after whitespace).
//! - `pool NAME SCHEDULER [key=url|key=client] ADDR:PORT[@WEIGHT]...`: a pool of real servers
//!   with its own scheduler (an ipvsadm name: `rr`, `wlc`, `mh`, `lblc`...). `key=url` makes
//!   the scheduler see a hash of Host and path instead of the client's address, so that a
//!   hashing scheduler (`mh`, `sh`, `dh`, `lblc`) keeps each object on one server.
//! - `route COND... -> NAME`: conditions `host=NAME`, `host=.SUFFIX` (or `*.SUFFIX`),
//!   `path=GLOB`, `prefix=PATH`, `method=METHOD`, `header=NAME`, `header=NAME:VALUE`,
//!   `ext=E1,E2` (see [`super::rules::Cond`]); all must hold; the first matching route wins.
//! - `default NAME`: the pool for requests no route matches (required, once).

use super::rules::{Cond, Rule};
use core::net::SocketAddrV4;

/// Servers a pool may list at most.
pub const MAX_POOL_SERVERS: usize = 32;

/// A `pool` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolDecl<'a> {
    /// Name.
    pub name: &'a str,
    /// Scheduler name.
    pub scheduler: &'a str,
    /// Whether the scheduler is keyed by Host + path.
    pub key_url: bool,
    servers: [(SocketAddrV4, u32); MAX_POOL_SERVERS],
    len: u8,
}

impl<'a> PoolDecl<'a> {
    /// The servers and their weights.
    pub fn servers(&self) -> &[(SocketAddrV4, u32)] {
        &self.servers[..usize::from(self.len)]
    }
}

/// One statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement<'a> {
    /// `pool ...`
    Pool(PoolDecl<'a>),
    /// `route ... -> NAME`
    Route(Rule<'a>),
    /// `default NAME`
    Default(&'a str),
}

/// What is wrong with a line (or the whole text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The first word is not `pool`, `route` or `default`.
    UnknownStatement,
    /// A name is missing or has characters other than letters, digits, `-`, `_`, `.`.
    BadName,
    /// `pool` without a scheduler name.
    MissingScheduler,
    /// A server is not `ADDR:PORT` or `ADDR:PORT@WEIGHT` (IPv4, weight 0..=65535).
    BadServer,
    /// A `pool` without servers.
    NoServers,
    /// More than [`MAX_POOL_SERVERS`] servers.
    TooManyServers,
    /// `key=` other than `url` or `client`.
    BadKey,
    /// A `route` without `-> NAME`, or with words after the name.
    MissingArrow,
    /// A condition is not `KEY=VALUE` with a known key, or its value is empty.
    BadCondition,
    /// A `route` without conditions (use `default`).
    NoConditions,
    /// More than [`super::rules::MAX_CONDS`] conditions.
    TooManyConditions,
    /// Words after `default NAME`.
    TrailingInput,
    /// A route or the default names a pool that is not declared.
    UnknownPool,
    /// Two pools with one name.
    DuplicatePool,
    /// A second `default`.
    DuplicateDefault,
    /// No `default` statement.
    NoDefault,
    /// More routes or pools than the rule set holds.
    TooMany,
    /// The pool's scheduler name is not known.
    UnknownScheduler,
}

impl core::fmt::Display for RuleErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RuleErrorKind::UnknownStatement => "expected `pool`, `route` or `default`",
            RuleErrorKind::BadName => "bad or missing name",
            RuleErrorKind::MissingScheduler => "pool needs a scheduler name",
            RuleErrorKind::BadServer => "server must be IPV4:PORT or IPV4:PORT@WEIGHT",
            RuleErrorKind::NoServers => "pool needs at least one server",
            RuleErrorKind::TooManyServers => "too many servers in pool",
            RuleErrorKind::BadKey => "key must be `url` or `client`",
            RuleErrorKind::MissingArrow => "route must end with `-> POOL`",
            RuleErrorKind::BadCondition => {
                "condition must be host=, path=, prefix=, method=, header= or ext= with a value"
            }
            RuleErrorKind::NoConditions => "route without conditions (use `default`)",
            RuleErrorKind::TooManyConditions => "too many conditions",
            RuleErrorKind::TrailingInput => "unexpected words at end of line",
            RuleErrorKind::UnknownPool => "no pool of that name",
            RuleErrorKind::DuplicatePool => "pool declared twice",
            RuleErrorKind::DuplicateDefault => "second `default`",
            RuleErrorKind::NoDefault => "no `default` pool",
            RuleErrorKind::TooMany => "too many routes or pools",
            RuleErrorKind::UnknownScheduler => "unknown scheduler",
        })
    }
}

impl core::error::Error for RuleErrorKind {}

/// An error with its 1-based line number (0 for whole-text errors such as [`RuleErrorKind::NoDefault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub kind: RuleErrorKind,
}

impl core::fmt::Display for RuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl core::error::Error for RuleError {}

fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn name(s: Option<&str>) -> Result<&str, RuleErrorKind> {
    match s {
        Some(n)
            if !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) =>
        {
            Ok(n)
        }
        _ => Err(RuleErrorKind::BadName),
    }
}

fn server(s: &str) -> Result<(SocketAddrV4, u32), RuleErrorKind> {
    let (addr, weight) = match s.split_once('@') {
        Some((a, w)) => (a, w.parse::<u16>().map_err(|_| RuleErrorKind::BadServer)?),
        None => (s, 1),
    };
    let a: SocketAddrV4 = addr.parse().map_err(|_| RuleErrorKind::BadServer)?;
    Ok((a, u32::from(weight)))
}

fn cond(s: &str) -> Result<Cond<'_>, RuleErrorKind> {
    let (k, v) = s.split_once('=').ok_or(RuleErrorKind::BadCondition)?;
    if v.is_empty() {
        return Err(RuleErrorKind::BadCondition);
    }
    Ok(match k {
        "host" => {
            if let Some(suf) = v.strip_prefix("*.").or_else(|| v.strip_prefix('.')) {
                if suf.is_empty() {
                    return Err(RuleErrorKind::BadCondition);
                }
                Cond::HostSuffix(suf)
            } else {
                Cond::Host(v)
            }
        }
        "path" => Cond::Path(v),
        "prefix" => Cond::PathPrefix(v),
        "method" => Cond::Method(v),
        "header" => match v.split_once(':') {
            Some(("", _)) => return Err(RuleErrorKind::BadCondition),
            Some((n, val)) => Cond::HeaderEq(n, val),
            None => Cond::Header(v),
        },
        "ext" => {
            if v.split(',').all(str::is_empty) {
                return Err(RuleErrorKind::BadCondition);
            }
            Cond::Ext(v)
        }
        _ => return Err(RuleErrorKind::BadCondition),
    })
}

/// Parses one line: `Ok(None)` for a blank or comment line.
///
/// # Errors
/// The [`RuleErrorKind`] of the first problem on the line.
pub fn parse_statement(line: &str) -> Result<Option<Statement<'_>>, RuleErrorKind> {
    let mut w = strip_comment(line).split_ascii_whitespace();
    let Some(first) = w.next() else {
        return Ok(None);
    };
    match first {
        "pool" => {
            let n = name(w.next())?;
            let scheduler = name(w.next()).map_err(|_| RuleErrorKind::MissingScheduler)?;
            let mut p = PoolDecl {
                name: n,
                scheduler,
                key_url: false,
                servers: [(SocketAddrV4::new([0; 4].into(), 0), 0); MAX_POOL_SERVERS],
                len: 0,
            };
            for (i, word) in w.enumerate() {
                if let Some(k) = word.strip_prefix("key=") {
                    if i != 0 {
                        return Err(RuleErrorKind::BadServer);
                    }
                    p.key_url = match k {
                        "url" => true,
                        "client" => false,
                        _ => return Err(RuleErrorKind::BadKey),
                    };
                    continue;
                }
                let s = server(word)?;
                let slot = p
                    .servers
                    .get_mut(usize::from(p.len))
                    .ok_or(RuleErrorKind::TooManyServers)?;
                *slot = s;
                p.len += 1;
            }
            if p.len == 0 {
                return Err(RuleErrorKind::NoServers);
            }
            Ok(Some(Statement::Pool(p)))
        }
        "route" => {
            let mut r = Rule::new("");
            loop {
                match w.next() {
                    None => return Err(RuleErrorKind::MissingArrow),
                    Some("->") => {
                        r.pool = name(w.next())?;
                        if w.next().is_some() {
                            return Err(RuleErrorKind::MissingArrow);
                        }
                        break;
                    }
                    Some(c) => r
                        .push(cond(c)?)
                        .map_err(|_| RuleErrorKind::TooManyConditions)?,
                }
            }
            if r.conds().is_empty() {
                return Err(RuleErrorKind::NoConditions);
            }
            Ok(Some(Statement::Route(r)))
        }
        "default" => {
            let n = name(w.next())?;
            if w.next().is_some() {
                return Err(RuleErrorKind::TrailingInput);
            }
            Ok(Some(Statement::Default(n)))
        }
        _ => Err(RuleErrorKind::UnknownStatement),
    }
}

/// Parses every line, yielding `(line number, statement)` or the line's error, skipping blank
/// and comment lines.
pub fn parse_statements(
    text: &str,
) -> impl Iterator<Item = Result<(usize, Statement<'_>), RuleError>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| match parse_statement(l) {
            Ok(None) => None,
            Ok(Some(s)) => Some(Ok((i + 1, s))),
            Err(kind) => Some(Err(RuleError { line: i + 1, kind })),
        })
}

/// A checked rule set: up to `R` routes and `P` pools, each route naming a declared pool, and
/// a default.
#[derive(Debug, Clone)]
pub struct RuleSet<'a, const R: usize, const P: usize> {
    routes: [(Rule<'a>, u16); R],
    nroutes: usize,
    pools: [(Option<PoolDecl<'a>>, usize); P],
    npools: usize,
    default: u16,
}

impl<'a, const R: usize, const P: usize> RuleSet<'a, R, P> {
    /// Reads and checks a whole rules text.
    ///
    /// # Errors
    /// The first [`RuleError`]: a line's syntax, then references (unknown pool, duplicates),
    /// then [`RuleErrorKind::NoDefault`] (line 0).
    pub fn parse(text: &'a str) -> Result<Self, RuleError> {
        let mut set = RuleSet {
            routes: [(Rule::new(""), 0); R],
            nroutes: 0,
            pools: [(None, 0); P],
            npools: 0,
            default: u16::MAX,
        };
        let mut route_lines = [0usize; R];
        let mut default: Option<(&'a str, usize)> = None;
        for item in parse_statements(text) {
            let (line, st) = item?;
            let err = |kind| RuleError { line, kind };
            match st {
                Statement::Pool(p) => {
                    if set.pool_index(p.name).is_some() {
                        return Err(err(RuleErrorKind::DuplicatePool));
                    }
                    let slot = set
                        .pools
                        .get_mut(set.npools)
                        .ok_or(err(RuleErrorKind::TooMany))?;
                    *slot = (Some(p), line);
                    set.npools += 1;
                }
                Statement::Route(r) => {
                    let slot = set
                        .routes
                        .get_mut(set.nroutes)
                        .ok_or(err(RuleErrorKind::TooMany))?;
                    *slot = (r, 0);
                    route_lines[set.nroutes] = line;
                    set.nroutes += 1;
                }
                Statement::Default(n) => {
                    if default.is_some() {
                        return Err(err(RuleErrorKind::DuplicateDefault));
                    }
                    default = Some((n, line));
                }
            }
        }
        for (k, &line) in route_lines.iter().enumerate().take(set.nroutes) {
            let pool = set.routes[k].0.pool;
            let idx = set.pool_index(pool).ok_or(RuleError {
                line,
                kind: RuleErrorKind::UnknownPool,
            })?;
            set.routes[k].1 = idx as u16;
        }
        let (dname, dline) = default.ok_or(RuleError {
            line: 0,
            kind: RuleErrorKind::NoDefault,
        })?;
        set.default = set.pool_index(dname).ok_or(RuleError {
            line: dline,
            kind: RuleErrorKind::UnknownPool,
        })? as u16;
        Ok(set)
    }

    fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools[..self.npools]
            .iter()
            .position(|(p, _)| p.is_some_and(|p| p.name == name))
    }

    /// The pools, in declaration order, with their line numbers.
    pub fn pools(&self) -> impl Iterator<Item = (&PoolDecl<'a>, usize)> {
        self.pools[..self.npools]
            .iter()
            .filter_map(|(p, l)| p.as_ref().map(|p| (p, *l)))
    }

    /// The routes, in order.
    pub fn routes(&self) -> impl Iterator<Item = &Rule<'a>> {
        self.routes[..self.nroutes].iter().map(|(r, _)| r)
    }

    /// The index (into [`RuleSet::pools`]) of the pool for a request: the first matching
    /// route's, else the default's.
    pub fn select(&self, req: &super::rules::RequestView<'_>) -> usize {
        self.routes[..self.nroutes]
            .iter()
            .find(|(r, _)| r.matches(req))
            .map_or(usize::from(self.default), |(_, p)| usize::from(*p))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const TEXT: &str = "# l7 rules\n\
        pool static mh key=url 198.18.1.1:8080 198.18.1.2:8080@2 # caches\n\
        pool app wlc 198.18.1.3:8080\n\
        \n\
        route ext=jpg,png -> static\n\
        route host=*.example.com prefix=/img/ -> static\n\
        route method=POST -> app\n\
        default app\n";

    #[test]
    fn parses_and_selects() {
        let set: RuleSet<'_, 8, 4> = RuleSet::parse(TEXT).unwrap();
        let pools: std::vec::Vec<_> = set
            .pools()
            .map(|(p, l)| (p.name, p.scheduler, p.key_url, p.servers().len(), l))
            .collect();
        assert_eq!(
            pools,
            [("static", "mh", true, 2, 2), ("app", "wlc", false, 1, 3)]
        );
        assert_eq!(set.routes().count(), 3);
        let sel = |head: &str| {
            let mut h = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut h);
            req.parse(head.as_bytes()).unwrap();
            set.select(&super::super::rules::RequestView::new(&req).unwrap())
        };
        assert_eq!(sel("GET /a/b.png HTTP/1.1\r\n\r\n"), 0);
        assert_eq!(
            sel("GET /img/x HTTP/1.1\r\nHost: cdn.example.com\r\n\r\n"),
            0
        );
        assert_eq!(sel("GET /img/x HTTP/1.1\r\nHost: example.org\r\n\r\n"), 1);
        assert_eq!(sel("POST /a.png HTTP/1.1\r\n\r\n"), 0);
        assert_eq!(sel("POST /cgi HTTP/1.1\r\n\r\n"), 1);
    }

    #[test]
    fn line_numbered_errors() {
        let cases: &[(&str, usize, RuleErrorKind)] = &[
            ("frob x", 1, RuleErrorKind::UnknownStatement),
            ("pool", 1, RuleErrorKind::BadName),
            ("pool a", 1, RuleErrorKind::MissingScheduler),
            ("pool a wlc", 1, RuleErrorKind::NoServers),
            ("pool a wlc 1.2.3.4", 1, RuleErrorKind::BadServer),
            ("pool a wlc 1.2.3.4:80@x", 1, RuleErrorKind::BadServer),
            ("pool a wlc key=foo 1.2.3.4:80", 1, RuleErrorKind::BadKey),
            ("\nroute ext=x", 2, RuleErrorKind::MissingArrow),
            ("route ext=x -> a b", 1, RuleErrorKind::MissingArrow),
            ("route -> a", 1, RuleErrorKind::NoConditions),
            ("route colour=red -> a", 1, RuleErrorKind::BadCondition),
            ("route host= -> a", 1, RuleErrorKind::BadCondition),
            ("route host=*. -> a", 1, RuleErrorKind::BadCondition),
            ("route header=:v -> a", 1, RuleErrorKind::BadCondition),
            ("route ext=, -> a", 1, RuleErrorKind::BadCondition),
            ("route m=1 -> a", 1, RuleErrorKind::BadCondition),
            ("route method=A method=A method=A method=A method=A method=A method=A method=A method=A -> a", 1, RuleErrorKind::TooManyConditions),
            ("default a b", 1, RuleErrorKind::TrailingInput),
            ("pool a wlc 1.2.3.4:80\npool a rr 1.2.3.4:81", 2, RuleErrorKind::DuplicatePool),
            ("pool a wlc 1.2.3.4:80\ndefault a\ndefault a", 3, RuleErrorKind::DuplicateDefault),
            ("pool a wlc 1.2.3.4:80\nroute ext=x -> b\ndefault a", 2, RuleErrorKind::UnknownPool),
            ("pool a wlc 1.2.3.4:80\ndefault b", 2, RuleErrorKind::UnknownPool),
            ("pool a wlc 1.2.3.4:80", 0, RuleErrorKind::NoDefault),
        ];
        for &(text, line, kind) in cases {
            let got = RuleSet::<'_, 4, 4>::parse(text).unwrap_err();
            assert_eq!(got, RuleError { line, kind }, "{text:?}");
            assert!(!std::format!("{got}").is_empty());
        }
        let many: std::string::String = (0..40)
            .map(|i| std::format!("route ext=e{i} -> a\n"))
            .collect();
        assert_eq!(
            RuleSet::<'_, 4, 4>::parse(&many).unwrap_err().kind,
            RuleErrorKind::TooMany
        );
    }
}
