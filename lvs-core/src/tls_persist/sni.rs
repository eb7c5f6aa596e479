//! Server-name (SNI) routes: exact and wildcard names to pools, a default pool, and an option
//! to refuse unknown names.
//!
//! Names follow nginx's `server_name` rules for the forms they share:
//! - `www.example.com`: that name exactly;
//! - `*.example.com`: any name that ends in `.example.com` with **one or more** labels before it
//!   (`a.example.com`, `a.b.example.com`), not `example.com` itself;
//! - `.example.com`: `example.com` and every name under it.
//!
//! Matching ignores ASCII case and one trailing dot. An exact name wins over every wildcard;
//! among wildcards the longest suffix wins (`*.a.example.com` before `*.example.com`), as in
//! nginx. A lookup costs one binary search per label of the name, over rules kept sorted in
//! the caller's storage.

use super::PoolId;
use core::fmt;

/// The longest DNS name accepted (RFC 1035 §2.3.4, without the trailing dot).
pub const MAX_NAME: usize = 253;

/// Which names a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NameKind {
    /// The name itself.
    Exact,
    /// `.example.com`: the name and every name under it.
    Dot,
    /// `*.example.com`: every name under it (one or more labels), not the name itself.
    Wildcard,
}

/// One rule of route storage: a name pattern and its pool.
///
/// Make storage with [`SniRule::EMPTY`]: `[SniRule::EMPTY; 64]` (260 bytes a rule).
#[derive(Clone, Copy)]
pub struct SniRule {
    name: [u8; MAX_NAME],
    len: u8,
    kind: NameKind,
    pool: PoolId,
}

impl SniRule {
    /// An unused rule.
    pub const EMPTY: SniRule = SniRule {
        name: [0; MAX_NAME],
        len: 0,
        kind: NameKind::Exact,
        pool: 0,
    };

    /// The name without its wildcard prefix, lower case.
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..usize::from(self.len)]).unwrap_or("")
    }

    /// Which names the rule matches.
    pub fn kind(&self) -> NameKind {
        self.kind
    }

    /// The pool of matching names.
    pub fn pool(&self) -> PoolId {
        self.pool
    }

    fn key(&self) -> (&[u8], NameKind) {
        (&self.name[..usize::from(self.len)], self.kind)
    }
}

impl fmt::Debug for SniRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SniRule({self} -> {})", self.pool)
    }
}

impl fmt::Display for SniRule {
    /// The pattern as written: `www.example.com`, `.example.com` or `*.example.com`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            NameKind::Exact => {}
            NameKind::Dot => f.write_str(".")?,
            NameKind::Wildcard => f.write_str("*.")?,
        }
        f.write_str(self.name())
    }
}

/// Why a route was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SniError {
    /// The pattern is not a host name (letters, digits, `-`, `_`; labels of 1..=63 bytes
    /// separated by dots), optionally after `*.` or `.`.
    BadName,
    /// The name is longer than [`MAX_NAME`] bytes.
    NameTooLong,
    /// Every rule slot is in use.
    Full,
}

impl fmt::Display for SniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SniError::BadName => "not a host name or wildcard name",
            SniError::NameTooLong => "name longer than 253 bytes",
            SniError::Full => "no room for another server-name rule",
        })
    }
}

impl core::error::Error for SniError {}

/// Server-name routes over caller storage.
///
/// ```
/// use lvs_core::tls_persist::{SniRouter, SniRule};
/// let mut rules = [SniRule::EMPTY; 8];
/// let mut r = SniRouter::new(&mut rules);
/// r.add("www.example.com", 1).unwrap();
/// r.add("*.example.com", 2).unwrap();
/// assert_eq!(r.route(Some("WWW.Example.com")), Some(1));
/// assert_eq!(r.route(Some("a.b.example.com")), Some(2));
/// assert_eq!(r.route(Some("example.com")), Some(0)); // "*." needs a label before the suffix
/// r.set_refuse_unknown(true);
/// assert_eq!(r.route(Some("example.org")), None); // refuse
/// ```
#[derive(Debug)]
pub struct SniRouter<'a> {
    rules: &'a mut [SniRule],
    len: usize,
    default_pool: Option<PoolId>,
    refuse_unknown: bool,
}

/// `pattern` split into its kind and normalised (lower-case, no trailing dot) name.
fn parse_pattern(pattern: &str) -> Result<(NameKind, [u8; MAX_NAME], usize), SniError> {
    let (kind, name) = if let Some(n) = pattern.strip_prefix("*.") {
        (NameKind::Wildcard, n)
    } else if let Some(n) = pattern.strip_prefix('.') {
        (NameKind::Dot, n)
    } else {
        (NameKind::Exact, pattern)
    };
    let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
    if name.len() > MAX_NAME {
        return Err(SniError::NameTooLong);
    }
    if name.is_empty()
        || name
            .split(|&b| b == b'.')
            .any(|l| l.is_empty() || l.len() > 63)
        || !name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(SniError::BadName);
    }
    let mut buf = [0u8; MAX_NAME];
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Ok((kind, buf, name.len()))
}

impl<'a> SniRouter<'a> {
    /// No routes over `rules` (its length is the most rules): every hello goes to the default
    /// pool, 0, until configured otherwise.
    pub fn new(rules: &'a mut [SniRule]) -> Self {
        for r in rules.iter_mut() {
            *r = SniRule::EMPTY;
        }
        SniRouter {
            rules,
            len: 0,
            default_pool: Some(0),
            refuse_unknown: false,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No rules.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most rules.
    pub fn capacity(&self) -> usize {
        self.rules.len()
    }

    /// The pool of names no rule matches (and of hellos without a name).
    pub fn default_pool(&self) -> Option<PoolId> {
        self.default_pool
    }

    /// Sets the pool of names no rule matches; `None` refuses them.
    pub fn set_default_pool(&mut self, pool: Option<PoolId>) {
        self.default_pool = pool;
    }

    /// Whether a name no rule matches is refused (a hello without a name still goes to the
    /// default pool).
    pub fn refuse_unknown(&self) -> bool {
        self.refuse_unknown
    }

    /// Refuse (`true`) names no rule matches instead of sending them to the default pool.
    pub fn set_refuse_unknown(&mut self, on: bool) {
        self.refuse_unknown = on;
    }

    fn search(&self, name: &[u8], kind: NameKind) -> Result<usize, usize> {
        self.rules[..self.len].binary_search_by(|r| r.key().cmp(&(name, kind)))
    }

    /// Routes names matching `pattern` (`name`, `*.name` or `.name`) to `pool`; returns the
    /// pool the same pattern had before, if any.
    ///
    /// # Errors
    /// [`SniError::BadName`], [`SniError::NameTooLong`], or [`SniError::Full`] when a new
    /// pattern finds no free rule slot.
    pub fn add(&mut self, pattern: &str, pool: PoolId) -> Result<Option<PoolId>, SniError> {
        let (kind, name, len) = parse_pattern(pattern)?;
        match self.search(&name[..len], kind) {
            Ok(i) => Ok(Some(core::mem::replace(&mut self.rules[i].pool, pool))),
            Err(i) => {
                if self.len == self.rules.len() {
                    return Err(SniError::Full);
                }
                self.rules[i..=self.len].rotate_right(1);
                self.rules[i] = SniRule {
                    name,
                    len: len as u8,
                    kind,
                    pool,
                };
                self.len += 1;
                Ok(None)
            }
        }
    }

    /// Removes the rule for exactly `pattern`; returns its pool.
    pub fn remove(&mut self, pattern: &str) -> Option<PoolId> {
        let (kind, name, len) = parse_pattern(pattern).ok()?;
        let i = self.search(&name[..len], kind).ok()?;
        let pool = self.rules[i].pool;
        self.rules[i..self.len].rotate_left(1);
        self.len -= 1;
        self.rules[self.len] = SniRule::EMPTY;
        Some(pool)
    }

    /// Removes every rule (the default pool and the refuse option stay).
    pub fn clear(&mut self) {
        for r in &mut self.rules[..self.len] {
            *r = SniRule::EMPTY;
        }
        self.len = 0;
    }

    /// The rules, sorted by name.
    pub fn rules(&self) -> impl Iterator<Item = &SniRule> + '_ {
        self.rules[..self.len].iter()
    }

    /// The pool of the rule matching `name`, if one does (no default).
    pub fn lookup(&self, name: &str) -> Option<PoolId> {
        if self.len == 0 {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
        if name.is_empty() || name.len() > MAX_NAME {
            return None;
        }
        let mut buf = [0u8; MAX_NAME];
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let name = &buf[..name.len()];
        let at = |n: &[u8], k| self.search(n, k).ok().map(|i| self.rules[i].pool);
        if let Some(p) = at(name, NameKind::Exact).or_else(|| at(name, NameKind::Dot)) {
            return Some(p);
        }
        // proper suffixes, longest first
        for (i, _) in name.iter().enumerate().filter(|(_, &b)| b == b'.') {
            let suffix = &name[i + 1..];
            if suffix.is_empty() {
                break;
            }
            if let Some(p) = at(suffix, NameKind::Dot).or_else(|| at(suffix, NameKind::Wildcard)) {
                return Some(p);
            }
        }
        None
    }

    /// The pool of a hello naming `name` (or none): the matching rule's, else the default pool
    /// (for a name no rule matches, only without [`SniRouter::set_refuse_unknown`]).
    /// `None` means refuse.
    pub fn route(&self, name: Option<&str>) -> Option<PoolId> {
        match name {
            None => self.default_pool,
            Some(n) => match self.lookup(n) {
                Some(p) => Some(p),
                None if self.refuse_unknown => None,
                None => self.default_pool,
            },
        }
    }
}

impl PartialEq for SniRule {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key() && self.pool == other.pool
    }
}

impl Eq for SniRule {}
