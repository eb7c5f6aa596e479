//! lvsd's HTTP server (`--http ADDR`): the live status page, a JSON API and `/metrics`, on a
//! thread of its own that reaches the packet loop only through [`crate::mgmt::Client`].
//!
//! | method and path | answer | who |
//! |---|---|---|
//! | `GET /` | the status page (HTML, script and style inline, nothing from elsewhere) | anyone |
//! | `GET /metrics` | OpenMetrics text ([`crate::metrics`]) | anyone |
//! | `GET /api/v1/status` | the [`crate::mgmt::Snapshot`] as JSON | viewer (anyone without `--http-tokens`) |
//! | `POST /api/v1/command` | runs one control command (`lvsd ctl` syntax, the body as text); JSON `{"ok":..,"output":..}` | operator, admin |
//! | `/api/v1/hosts`, `/api/v1/clusters`, ... | the registry (`--registry FILE`), see [`crate::registry_api`] | by method |
//!
//! Access: `--http-tokens FILE` holds lines `ROLE TOKEN [NAME]` (`viewer`, `operator`,
//! `admin`; the name is what the audit log records; `#` comments). A request presents `Authorization: Bearer TOKEN`. Without the file, reads are
//! open and every write is refused: a management port never accepts changes from anyone by
//! default. Tokens travel in a header, never in a cookie, so a page of another origin cannot
//! make the browser send one (no CSRF); tokens are compared in constant time and never
//! logged or echoed. Bodies over [`MAX_BODY`] are refused with 413.

use crate::metrics;
use crate::mgmt::Client;
use crate::registry::Registry;
use crate::registry_api;
use std::io::Read;
use std::net::SocketAddr;
use tiny_http::{Header, Method, Request, Response, Server};

/// Largest request body read.
pub const MAX_BODY: usize = 16 * 1024;

const PAGE: &str = include_str!("page.html");

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read the API.
    Viewer,
    /// Read, and change real servers and services.
    Operator,
    /// Everything.
    Admin,
}

/// The tokens of `--http-tokens`.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    entries: Vec<(Role, Vec<u8>, String)>,
}

impl Tokens {
    /// Parses `ROLE TOKEN` lines.
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
            let role = match it.next() {
                Some("viewer") => Role::Viewer,
                Some("operator") => Role::Operator,
                Some("admin") => Role::Admin,
                Some(r) => return Err(format!("line {}: unknown role {r:?}", i + 1)),
                None => continue,
            };
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
                None => format!("{role:?}").to_lowercase(),
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

/// The outcome of a request, before it is written.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

/// A JSON answer.
pub fn json(status: u16, v: &serde_json::Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: v.to_string(),
    }
}

/// A JSON error answer `{"error": msg}`.
pub fn error(status: u16, msg: &str) -> Answer {
    json(status, &serde_json::json!({ "error": msg }))
}

/// Handles one request: `auth` is the `Authorization` header's value, `body` the body (already
/// bounded; `None` when it was too large).
pub fn handle(
    client: &Client,
    tokens: &Tokens,
    registry: Option<&mut Registry>,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let who = auth
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|t| tokens.who(t.trim().as_bytes()));
    let role = who.map(|(r, _)| r);
    let presented_bad = auth.is_some() && role.is_none();
    let path = path.split('?').next().unwrap_or("");
    if let Some(reg) = registry {
        if presented_bad {
            if let Some(a) = registry_api::route(reg, method, path, None, body) {
                return a;
            }
        } else if let Some(a) = registry_api::route(reg, method, path, who, body) {
            return a;
        }
    }
    match (method, path) {
        ("GET", "/") | ("GET", "/index.html") => Answer {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.to_string(),
        },
        ("GET", "/metrics") => match client.snapshot() {
            Ok(s) => Answer {
                status: 200,
                content_type: metrics::CONTENT_TYPE,
                body: metrics::render(&s),
            },
            Err(_) => error(503, "the packet loop did not answer"),
        },
        ("GET", "/api/v1/status") => {
            if presented_bad || (tokens.configured() && role.is_none()) {
                return error(401, "a viewer, operator or admin token is needed");
            }
            match client.snapshot() {
                Ok(s) => match serde_json::to_value(&s) {
                    Ok(v) => json(200, &v),
                    Err(_) => error(500, "snapshot not serialisable"),
                },
                Err(_) => error(503, "the packet loop did not answer"),
            }
        }
        ("POST", "/api/v1/command") => {
            if !tokens.configured() {
                return error(403, "writes are disabled: start lvsd with --http-tokens");
            }
            match role {
                None => return error(401, "an operator or admin token is needed"),
                Some(Role::Viewer) => return error(403, "a viewer token cannot change anything"),
                Some(_) => {}
            }
            let Some(body) = body else {
                return error(413, "request body too large");
            };
            let line = body.trim();
            if line.is_empty() || line.contains('\n') {
                return error(400, "the body must be one control command line");
            }
            match client.command(line) {
                Ok((ok, output)) => json(
                    if ok { 200 } else { 400 },
                    &serde_json::json!({ "ok": ok, "output": output }),
                ),
                Err(_) => error(503, "the packet loop did not answer"),
            }
        }
        (_, "/" | "/index.html" | "/metrics" | "/api/v1/status" | "/api/v1/command") => {
            error(405, "method not allowed")
        }
        _ => error(404, "no such resource"),
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn serve_one(client: &Client, tokens: &Tokens, registry: Option<&mut Registry>, mut req: Request) {
    let method = match req.method() {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        _ => "OTHER",
    };
    let path = req.url().to_string();
    let auth = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let mut raw = Vec::new();
    let too_large = req
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut raw)
        .map_or(true, |n| n > MAX_BODY);
    let body = if too_large {
        None
    } else {
        Some(String::from_utf8_lossy(&raw).into_owned())
    };
    let a = handle(
        client,
        tokens,
        registry,
        method,
        &path,
        auth.as_deref(),
        body.as_deref(),
    );
    let mut resp = Response::from_string(a.body).with_status_code(a.status);
    for h in [
        header("Content-Type", a.content_type),
        header("Cache-Control", "no-store"),
        header("X-Content-Type-Options", "nosniff"),
        header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
    ]
    .into_iter()
    .flatten()
    {
        resp.add_header(h);
    }
    let _ = req.respond(resp);
}

/// Starts the server thread on `addr`.
///
/// # Errors
/// The address cannot be bound.
pub fn spawn(
    addr: SocketAddr,
    client: Client,
    tokens: Tokens,
    mut registry: Option<Registry>,
) -> Result<(), String> {
    let server = Server::http(addr).map_err(|e| format!("--http {addr}: {e}"))?;
    std::thread::Builder::new()
        .name("lvsd-http".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                serve_one(&client, &tokens, registry.as_mut(), req);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
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
}
