//! Users of the management plane, kept in the registry: a name, a role and either an argon2id
//! password hash (PHC string) or `ldap` (the password is checked by a simple bind to the
//! directory of `--ldap`, [`crate::ldap`]); and the API that logs them in and manages them:
//!
//! | method and path | answer | who |
//! |---|---|---|
//! | `POST /api/v1/login` | `{"user","password"}` (JSON) → `{"token","user","role","expires_in_s"}`; 401 wrong, 429 throttled | anyone |
//! | `POST /api/v1/logout` | ends the presented session | a session |
//! | `GET /api/v1/whoami` | `{"user","role"}` of the presented token or session | viewer |
//! | `GET /api/v1/users` | `[{"name","role","source"}]`, never a hash | admin |
//! | `POST /api/v1/users` | `{"name","role","password"}` or `{"name","role","ldap":true}`; 201 | admin |
//! | `DELETE /api/v1/users/NAME` | removes the user and ends their sessions | admin |
//!
//! JSON bodies must say `Content-Type: application/json` (415 otherwise): a form of another
//! origin cannot send that without the browser asking first, so it cannot even log a browser in.

use crate::auth::{Role, Sessions, Throttle, Who, SESSION_TTL};
use crate::http::{error, json, Answer, Req};
use crate::registry::{valid_name, Registry, RegistryError};
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::PasswordVerifier;
use argon2::Argon2;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Instant;

/// The schema [`Registry::open`] creates.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY,
    role TEXT NOT NULL, secret TEXT NOT NULL);";

/// A user as the API shows it: no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Login name ([`valid_name`]).
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: &'static str,
    /// `password` (argon2id hash in the registry) or `ldap`.
    pub source: &'static str,
}

/// A user to create, as the API takes it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// The password (8-1024 bytes), unless `ldap`.
    #[serde(default)]
    pub password: Option<String>,
    /// Check the password against the LDAP directory instead.
    #[serde(default)]
    pub ldap: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("ldap", &self.ldap)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

/// How a stored user's password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// An argon2id PHC string.
    Hash(String),
    /// A simple bind to the LDAP directory.
    Ldap,
}

/// The argon2id PHC string of `password` with a fresh random salt.
///
/// # Errors
/// No randomness, or a password argon2 refuses.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash no password matches, verified against for unknown users so that a wrong user name
/// costs the same time as a wrong password.
fn decoy() -> &'static str {
    static D: OnceLock<String> = OnceLock::new();
    D.get_or_init(|| {
        crate::auth::random_token()
            .and_then(|t| hash_password(&t))
            .unwrap_or_default()
    })
}

fn check_new(u: &NewUser) -> Result<(Role, Secret), RegistryError> {
    if !valid_name(&u.name) {
        return Err(RegistryError::Invalid(
            "name: 1-64 of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    let role = Role::parse(&u.role)
        .ok_or_else(|| RegistryError::Invalid("role: viewer, operator or admin".into()))?;
    match (&u.password, u.ldap) {
        (None, true) => Ok((role, Secret::Ldap)),
        (Some(p), false) if (8..=1024).contains(&p.len()) => Ok((
            role,
            Secret::Hash(hash_password(p).map_err(RegistryError::Storage)?),
        )),
        (Some(_), false) => Err(RegistryError::Invalid("a password is 8-1024 bytes".into())),
        _ => Err(RegistryError::Invalid(
            "give either a password or \"ldap\": true".into(),
        )),
    }
}

impl Registry {
    /// Adds a user (the password hashed here; it is not kept).
    ///
    /// # Errors
    /// Invalid input, an existing name, storage.
    pub fn add_user(&mut self, u: &NewUser, who: &str) -> Result<(), RegistryError> {
        let (role, secret) = check_new(u)?;
        let secret = match secret {
            Secret::Hash(h) => h,
            Secret::Ldap => "ldap".into(),
        };
        let tx = self.db.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO users (name, role, secret) VALUES (?1, ?2, ?3)",
            params![u.name, role.word(), secret],
        )?;
        if n == 0 {
            return Err(RegistryError::Exists);
        }
        crate::registry::audit_row(&tx, who, "create", &format!("user/{}", u.name))?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a user.
    ///
    /// # Errors
    /// No such user, storage.
    pub fn delete_user(&mut self, name: &str, who: &str) -> Result<(), RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::NotFound);
        }
        let tx = self.db.transaction()?;
        if tx.execute("DELETE FROM users WHERE name = ?1", [name])? == 0 {
            return Err(RegistryError::NotFound);
        }
        crate::registry::audit_row(&tx, who, "delete", &format!("user/{name}"))?;
        tx.commit()?;
        Ok(())
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// Storage.
    pub fn users(&self) -> Result<Vec<User>, RegistryError> {
        let mut st = self
            .db
            .prepare("SELECT name, role, secret FROM users ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role, secret) = row?;
            out.push(User {
                name,
                role: Role::parse(&role).unwrap_or(Role::Viewer).word(),
                source: if secret == "ldap" { "ldap" } else { "password" },
            });
        }
        Ok(out)
    }

    /// A user's role and how their password is checked.
    ///
    /// # Errors
    /// Storage.
    pub fn credential(&self, name: &str) -> Result<Option<(Role, Secret)>, RegistryError> {
        if !valid_name(name) {
            return Ok(None);
        }
        let row = self
            .db
            .query_row(
                "SELECT role, secret FROM users WHERE name = ?1",
                [name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(role, secret)| {
            let role = Role::parse(&role)?;
            Some((
                role,
                if secret == "ldap" {
                    Secret::Ldap
                } else {
                    Secret::Hash(secret)
                },
            ))
        }))
    }
}

/// What the login and user endpoints need besides the registry.
#[derive(Debug, Default)]
pub struct Logins {
    /// Live sessions.
    pub sessions: Sessions,
    /// The per-address throttle and its counters.
    pub throttle: Throttle,
    /// The directory `ldap` users are checked against (`--ldap`).
    pub ldap: Option<crate::ldap::Ldap>,
}

/// Whether the body is declared JSON.
pub fn is_json(req: &Req<'_>) -> bool {
    req.content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"))
}

fn stored(e: &RegistryError) -> Answer {
    crate::registry_api::stored(e)
}

impl Logins {
    fn login(&mut self, reg: Option<&mut Registry>, req: &Req<'_>) -> Answer {
        if !is_json(req) {
            return error(415, "send JSON with Content-Type: application/json");
        }
        let now = Instant::now();
        if let Err(wait) = self.throttle.check(req.peer, now) {
            let mut a = error(429, "too many failed logins from this address; try later");
            a.retry_after = Some(wait);
            return a;
        }
        let Some(body) = req.body else {
            return error(413, "request body too large");
        };
        let Ok(l) = serde_json::from_str::<Login>(body) else {
            return error(400, "expected {\"user\": .., \"password\": ..}");
        };
        let Some(reg) = reg else {
            return error(404, "no users: start lvsd with --registry");
        };
        let cred = match reg.credential(&l.user) {
            Ok(c) => c,
            Err(e) => return stored(&e),
        };
        let role = match cred {
            Some((role, Secret::Hash(phc))) => verify_password(&l.password, &phc).then_some(role),
            Some((role, Secret::Ldap)) => match &self.ldap {
                Some(d) => match d.check(&l.user, &l.password) {
                    Ok(ok) => ok.then_some(role),
                    Err(e) => {
                        eprintln!("lvsd: ldap: {e}");
                        return error(503, "the directory did not answer");
                    }
                },
                None => None,
            },
            None => {
                let _ = verify_password(&l.password, decoy());
                None
            }
        };
        self.throttle.record(req.peer, role.is_some(), now);
        let Some(role) = role else {
            return error(401, "wrong user or password");
        };
        let who = Who {
            role,
            name: l.user.clone(),
        };
        match self.sessions.open(who, now) {
            Ok(token) => json(
                200,
                &serde_json::json!({ "token": token, "user": l.user, "role": role.word(),
                    "expires_in_s": SESSION_TTL.as_secs() }),
            ),
            Err(_) => error(500, "no randomness for a session token"),
        }
    }

    /// Answers the login and user endpoints (`None` for other paths). `who` is the caller
    /// already authenticated, `session` the bearer token presented.
    pub fn route(
        &mut self,
        reg: Option<&mut Registry>,
        req: &Req<'_>,
        who: Option<&Who>,
        session: Option<&str>,
    ) -> Option<Answer> {
        let rest = req.path.strip_prefix("/api/v1/")?;
        let name = match rest.split_once('/') {
            Some(("users", n)) if !n.contains('/') => Some(n),
            None if ["login", "logout", "whoami", "users"].contains(&rest) => None,
            _ => return None,
        };
        Some(match (req.method, rest, name) {
            ("POST", "login", _) => self.login(reg, req),
            ("POST", "logout", _) => match session {
                Some(t) if self.sessions.close(t) => json(200, &serde_json::json!({"ok": true})),
                _ => error(401, "no session presented"),
            },
            ("GET", "whoami", _) => match who {
                Some(w) => json(
                    200,
                    &serde_json::json!({ "user": w.name, "role": w.role.word() }),
                ),
                None => error(401, "a token or session is needed"),
            },
            (_, "login" | "logout" | "whoami", _) => error(405, "method not allowed"),
            (m, _, _) => {
                let Some(w) = who else {
                    return Some(error(401, "a token or session is needed"));
                };
                if w.role < Role::Admin {
                    return Some(error(403, "only an admin manages users"));
                }
                let Some(reg) = reg else {
                    return Some(error(404, "no users: start lvsd with --registry"));
                };
                match (m, name) {
                    ("GET", None) => match reg.users().map(serde_json::to_value) {
                        Ok(Ok(v)) => json(200, &v),
                        Ok(Err(_)) => error(500, "not serialisable"),
                        Err(e) => stored(&e),
                    },
                    ("POST", None) => {
                        if !is_json(req) {
                            return Some(error(
                                415,
                                "send JSON with Content-Type: application/json",
                            ));
                        }
                        let Some(body) = req.body else {
                            return Some(error(413, "request body too large"));
                        };
                        match serde_json::from_str::<NewUser>(body) {
                            Ok(u) => match reg.add_user(&u, &w.name) {
                                Ok(()) => json(201, &serde_json::json!({"ok": true})),
                                Err(e) => stored(&e),
                            },
                            Err(_) => error(400, "bad user: name, role, password or ldap"),
                        }
                    }
                    ("DELETE", Some(n)) => match reg.delete_user(n, &w.name) {
                        Ok(()) => {
                            self.sessions.close_user(n);
                            json(200, &serde_json::json!({"ok": true}))
                        }
                        Err(e) => stored(&e),
                    },
                    _ => error(405, "method not allowed"),
                }
            }
        })
    }
}

/// `lvsd user REGISTRY NAME ROLE [--ldap]`: adds a user from the command line (the first
/// administrator), the password read from standard input's first line.
///
/// # Errors
/// Usage, the registry, a bad name, role or password.
pub fn cli(args: &[String]) -> Result<(), String> {
    let (path, name, role, ldap) = match args {
        [p, n, r] => (p, n, r, false),
        [p, n, r, l] if l == "--ldap" => (p, n, r, true),
        _ => return Err("usage: lvsd user REGISTRY NAME ROLE [--ldap] < password".into()),
    };
    let password = if ldap {
        None
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let mut reg = Registry::open(std::path::Path::new(path)).map_err(|e| format!("{e:?}"))?;
    let u = NewUser {
        name: name.clone(),
        role: role.clone(),
        password,
        ldap,
    };
    reg.add_user(&u, "cli").map_err(|e| match e {
        RegistryError::Invalid(m) => m,
        RegistryError::Exists => format!("user {name} exists"),
        e => format!("{e:?}"),
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hashes_verify_and_users_show_no_secret() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("x", decoy()));
        let dir = std::env::temp_dir().join(format!("lvs-users-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Registry::open(&dir.join("r.db")).unwrap();
        let u = NewUser {
            name: "ann".into(),
            role: "operator".into(),
            password: Some("correct horse".into()),
            ldap: false,
        };
        r.add_user(&u, "cli").unwrap();
        assert_eq!(r.add_user(&u, "cli"), Err(RegistryError::Exists));
        assert!(!format!("{u:?}").contains("horse"));
        let short = NewUser {
            password: Some("short".into()),
            name: "bob".into(),
            ..u.clone()
        };
        assert!(matches!(
            r.add_user(&short, "cli"),
            Err(RegistryError::Invalid(_))
        ));
        let shown = serde_json::to_string(&r.users().unwrap()).unwrap();
        assert_eq!(
            shown,
            r#"[{"name":"ann","role":"operator","source":"password"}]"#
        );
        let Some((Role::Operator, Secret::Hash(phc))) = r.credential("ann").unwrap() else {
            panic!("ann");
        };
        assert!(verify_password("correct horse", &phc));
        r.delete_user("ann", "cli").unwrap();
        assert_eq!(r.credential("ann").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
