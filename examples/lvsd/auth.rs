//! Who may do what on lvsd's HTTP port: fixed tokens (`--http-tokens`), sessions that
//! `POST /api/v1/login` issues to registry users ([`crate::users`]), and the per-address login
//! throttle.
//!
//! Every credential travels in the `Authorization: Bearer` header, never in a cookie, so a page
//! of another origin cannot make a browser present one (no CSRF). Tokens and passwords are
//! never logged, echoed, or stored in clear: a session token is 256 random bits held only in
//! memory (lost on restart), a password only as its argon2id hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What a token or user allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read the API.
    Viewer,
    /// Read, and change real servers, services and the registry.
    Operator,
    /// Everything: also users and the audit log.
    Admin,
}

impl Role {
    /// `viewer`, `operator` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The word [`Role::parse`] takes.
    pub fn word(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated caller: a role and the name the audit log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// What the caller may do.
    pub role: Role,
    /// The token's or user's name (never the secret).
    pub name: String,
}

/// The tokens of `--http-tokens`.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    entries: Vec<(Role, Vec<u8>, String)>,
}

impl Tokens {
    /// Parses `ROLE TOKEN [NAME]` lines.
    ///
    /// # Errors
    /// The first bad line, with its number (the token itself is never quoted).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut it = line.split_whitespace();
            let Some(word) = it.next() else { continue };
            let role = Role::parse(word)
                .ok_or_else(|| format!("line {}: unknown role {word:?}", i + 1))?;
            let token = it
                .next()
                .ok_or_else(|| format!("line {}: a token is missing", i + 1))?;
            if token.len() < 16 {
                return Err(format!(
                    "line {}: tokens must be at least 16 characters",
                    i + 1
                ));
            }
            let name = match it.next() {
                Some(n) if crate::registry::valid_name(n) => n.to_string(),
                Some(_) => {
                    return Err(format!(
                        "line {}: a token name is 1-64 of A-Z a-z 0-9 . _ -",
                        i + 1
                    ))
                }
                None => role.word().to_string(),
            };
            if it.next().is_some() {
                return Err(format!("line {}: expected `ROLE TOKEN [NAME]`", i + 1));
            }
            entries.push((role, token.as_bytes().to_vec(), name));
        }
        Ok(Tokens { entries })
    }

    /// Whether any token is configured.
    pub fn configured(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The role and name of a presented token (constant time in the token's bytes).
    pub fn who(&self, presented: &[u8]) -> Option<(Role, &str)> {
        let mut found: Option<(Role, &str)> = None;
        for (role, t, name) in &self.entries {
            let mut diff = u8::from(t.len() != presented.len());
            for (i, b) in t.iter().enumerate() {
                diff |= b ^ presented.get(i).copied().unwrap_or(0);
            }
            if diff == 0 && found.is_none_or(|(r, _)| *role > r) {
                found = Some((*role, name));
            }
        }
        found
    }

    /// The role of a presented token.
    #[cfg(test)]
    pub fn role(&self, presented: &[u8]) -> Option<Role> {
        self.who(presented).map(|(r, _)| r)
    }
}

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Most sessions held at once (the oldest goes first).
pub const MAX_SESSIONS: usize = 1024;

/// Sessions issued by the login endpoint, by token.
#[derive(Debug, Default)]
pub struct Sessions {
    by_token: HashMap<String, (Who, Instant)>,
}

/// A fresh random token: 32 bytes from the OS, hex.
///
/// # Errors
/// The OS has no randomness to give.
pub fn random_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Sessions {
    /// Opens a session for `who`; the token is the caller's to hand out (once).
    ///
    /// # Errors
    /// No randomness.
    pub fn open(&mut self, who: Who, now: Instant) -> Result<String, String> {
        self.by_token.retain(|_, (_, exp)| *exp > now);
        if self.by_token.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_token
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(k, _)| k.clone())
            {
                self.by_token.remove(&oldest);
            }
        }
        let t = random_token()?;
        self.by_token.insert(t.clone(), (who, now + SESSION_TTL));
        Ok(t)
    }

    /// The caller behind a session token, if it is live.
    pub fn who(&self, token: &str, now: Instant) -> Option<&Who> {
        self.by_token
            .get(token)
            .filter(|(_, exp)| *exp > now)
            .map(|(w, _)| w)
    }

    /// Ends a session; whether there was one.
    pub fn close(&mut self, token: &str) -> bool {
        self.by_token.remove(token).is_some()
    }

    /// Ends every session of `user` (removed or demoted).
    pub fn close_user(&mut self, user: &str) {
        self.by_token.retain(|_, (w, _)| w.name != user);
    }
}

/// Failed logins allowed per address per [`THROTTLE_WINDOW`]; past that, every login from
/// the address is answered 429 until the window ends.
pub const MAX_FAILURES: u32 = 5;
/// The throttle's window.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 4096;

/// Login counters, shown in `/metrics` as `lvsd_events_total{event="http_login_*"}`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoginCounts {
    /// Sessions issued.
    pub ok: u64,
    /// Wrong user or password.
    pub failed: u64,
    /// Refused with 429 before any password was checked.
    pub throttled: u64,
}

/// The per-source-address login throttle.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: HashMap<IpAddr, (u32, Instant)>,
    /// What happened so far.
    pub counts: LoginCounts,
}

impl Throttle {
    /// Whether `addr` may try now: `Err(seconds to wait)` if not (counted).
    pub fn check(&mut self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        match self.failures.get(&addr) {
            Some((n, start)) if *n >= MAX_FAILURES && now < *start + THROTTLE_WINDOW => {
                self.counts.throttled += 1;
                Err((*start + THROTTLE_WINDOW - now).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records the outcome of an attempt `check` allowed.
    pub fn record(&mut self, addr: IpAddr, ok: bool, now: Instant) {
        if ok {
            self.counts.ok += 1;
            return;
        }
        self.counts.failed += 1;
        if self.failures.len() >= MAX_TRACKED {
            self.failures
                .retain(|_, (_, start)| now < *start + THROTTLE_WINDOW);
        }
        if self.failures.len() >= MAX_TRACKED && !self.failures.contains_key(&addr) {
            // every slot is a live window: the table stays bounded, this address untracked
            return;
        }
        let e = self.failures.entry(addr).or_insert((0, now));
        if now >= e.1 + THROTTLE_WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn tokens_roles_and_refusals() {
        let t =
            Tokens::parse("# who\nviewer vvvvvvvvvvvvvvvv\noperator oooooooooooooooo\n").unwrap();
        assert_eq!(t.role(b"vvvvvvvvvvvvvvvv"), Some(Role::Viewer));
        assert_eq!(t.role(b"oooooooooooooooo"), Some(Role::Operator));
        assert_eq!(t.role(b"oooooooooooooooO"), None);
        assert_eq!(t.role(b"oooooooooooooooo0"), None);
        assert_eq!(t.role(b""), None);
        assert!(Tokens::parse("root xxxxxxxxxxxxxxxxxx")
            .unwrap_err()
            .contains("line 1"));
        assert!(Tokens::parse("admin short").unwrap_err().contains("16"));
        let e = Tokens::parse("admin abcdefghijklmnopq name extra").unwrap_err();
        assert!(
            !e.contains("abcdefghijklmnopq"),
            "the token is never quoted: {e}"
        );
    }

    #[test]
    fn sessions_expire_and_close() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let who = Who {
            role: Role::Operator,
            name: "ann".into(),
        };
        let tok = s.open(who.clone(), t0).unwrap();
        assert_eq!(tok.len(), 64);
        assert_eq!(s.who(&tok, t0), Some(&who));
        assert_eq!(s.who(&tok, t0 + SESSION_TTL), None);
        assert_eq!(s.who("nope", t0), None);
        assert!(s.close(&tok));
        assert_eq!(s.who(&tok, t0), None);
        let tok2 = s.open(who, t0).unwrap();
        assert_ne!(tok, tok2);
        s.close_user("ann");
        assert_eq!(s.who(&tok2, t0), None);
    }

    #[test]
    fn throttle_per_address() {
        let mut t = Throttle::default();
        let now = Instant::now();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(t.check(a, now).is_ok());
            t.record(a, false, now);
        }
        assert!(t.check(a, now).is_err());
        assert!(t.check(b, now).is_ok(), "another address is not affected");
        assert!(t.check(a, now + THROTTLE_WINDOW).is_ok(), "the window ends");
        assert_eq!(
            t.counts,
            LoginCounts {
                ok: 0,
                failed: 5,
                throttled: 1
            }
        );
    }
}
