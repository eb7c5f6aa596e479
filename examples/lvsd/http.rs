//! lvsd's HTTP server (`--http ADDR`): the live status page, a JSON API, Server-Sent Events
//! and `/metrics`, on a thread of its own that reaches the packet loop only through
//! [`crate::mgmt::Client`]. Every route is in the OpenAPI description at
//! `/api/v1/openapi.json` ([`crate::openapi`]).
//!
//! | method and path | answer | who |
//! |---|---|---|
//! | `GET /` | the status page (HTML, script and style inline, nothing from elsewhere) | anyone |
//! | `GET /metrics` | OpenMetrics text ([`crate::metrics`]) | anyone |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.0 description | anyone |
//! | `GET /api/v1/status` | the [`crate::mgmt::Snapshot`] as JSON | viewer |
//! | `GET /api/v1/events` | Server-Sent Events ([`crate::events`]) | viewer |
//! | `POST /api/v1/command` | runs one control command (`lvsd ctl` syntax, the body as text); JSON `{"ok":..,"output":..}` | operator, admin |
//! | `/api/v1/login`, `/api/v1/users`, ... | sessions and users, see [`crate::users`] | by method |
//! | `/api/v1/hosts`, `/api/v1/clusters`, `/api/v1/registry`, `/api/v1/directors/NAME/rules`, ... | the registry (`--registry FILE`), see [`crate::registry_api`] | by method |
//!
//! Access ([`crate::auth`]): `--http-tokens FILE` holds lines `ROLE TOKEN [NAME]` (`viewer`,
//! `operator`, `admin`; the name is what the audit log records; `#` comments), and users of
//! the registry log in for a session token. A request presents either as
//! `Authorization: Bearer TOKEN`. With neither tokens nor users, reads are open and every write
//! is refused: a management port never accepts changes from anyone by default. Bodies over
//! [`MAX_BODY`] are refused with 413.

use crate::auth::{Role, Tokens, Who};
use crate::events::Hub;
use crate::metrics;
use crate::mgmt::Client;
use crate::registry::Registry;
use crate::registry_api;
use crate::users::Logins;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tiny_http::{Header, Method, Request, Response, Server as Listener};

/// Largest request body read.
pub const MAX_BODY: usize = 16 * 1024;

const PAGE: &str = include_str!("page.html");

/// The outcome of a request, before it is written.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl Answer {
    /// A body of any type.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Answer {
        Answer {
            status,
            content_type,
            body,
            retry_after: None,
        }
    }
}

/// A JSON answer.
pub fn json(status: u16, v: &serde_json::Value) -> Answer {
    Answer::text(status, "application/json", v.to_string())
}

/// A JSON error answer `{"error": msg}`.
pub fn error(status: u16, msg: &str) -> Answer {
    json(status, &serde_json::json!({ "error": msg }))
}

/// One request as the handlers see it.
#[derive(Debug, Clone, Copy)]
pub struct Req<'a> {
    /// `GET`, `POST`, `PUT`, `DELETE` or `OTHER`.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Authorization` header's value.
    pub auth: Option<&'a str>,
    /// The `Content-Type` header's value.
    pub content_type: Option<&'a str>,
    /// The peer's address (the login throttle's key).
    pub peer: IpAddr,
    /// The body, already bounded; `None` when it was too large.
    pub body: Option<&'a str>,
}

impl<'a> Req<'a> {
    /// A request with no headers and no body from loopback (tests).
    #[cfg(test)]
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Req {
            method,
            path,
            auth: None,
            content_type: None,
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            body: Some(""),
        }
    }
}

/// The server's state: the link to the packet loop, credentials, the registry, the event hub.
#[derive(Debug)]
pub struct Server {
    client: Client,
    tokens: Tokens,
    registry: Option<Registry>,
    logins: Logins,
    hub: Arc<Hub>,
    peers: crate::http_tls::Peers,
    /// Reload the rules (file + registry clusters) after a cluster write
    /// ([`crate::registry_apply`]).
    apply_clusters: bool,
}

impl Server {
    /// A server over these parts.
    pub fn new(client: Client, tokens: Tokens, registry: Option<Registry>, hub: Arc<Hub>) -> Self {
        Server {
            client,
            tokens,
            registry,
            logins: Logins::default(),
            hub,
            peers: crate::http_tls::Peers::default(),
            apply_clusters: false,
        }
    }

    /// The presented bearer credential: `Ok(None)` when none, `Err` when it is not valid.
    fn who(&self, auth: Option<&str>) -> Result<Option<Who>, ()> {
        let Some(a) = auth else { return Ok(None) };
        let t = a.strip_prefix("Bearer ").ok_or(())?.trim();
        if let Some((role, name)) = self.tokens.who(t.as_bytes()) {
            return Ok(Some(Who {
                role,
                name: name.to_string(),
            }));
        }
        self.logins
            .sessions
            .who(t, std::time::Instant::now())
            .cloned()
            .map(Some)
            .ok_or(())
    }

    /// Whether anyone can authenticate (tokens or registry users): if not, reads are open.
    fn locked(&self) -> bool {
        self.tokens.configured()
            || self
                .registry
                .as_ref()
                .is_some_and(|r| r.users().map_or(true, |u| !u.is_empty()))
    }

    /// May a viewer-level read go ahead? `Err` is the refusal.
    fn may_read(&self, who: &Result<Option<Who>, ()>) -> Result<(), Answer> {
        match who {
            Err(()) => Err(error(401, "the token is not valid")),
            Ok(None) if self.locked() => {
                Err(error(401, "a viewer, operator or admin token is needed"))
            }
            _ => Ok(()),
        }
    }

    /// Handles one request.
    pub fn handle(&mut self, req: &Req<'_>) -> Answer {
        let who = self.who(req.auth);
        let session = req
            .auth
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::trim);
        let ok_who = who.as_ref().ok().and_then(Option::as_ref);
        if let Some(a) = self
            .logins
            .route(self.registry.as_mut(), req, ok_who, session)
        {
            return a;
        }
        if let Some(reg) = self.registry.as_mut() {
            if let Some(a) = registry_api::route(reg, req, ok_who) {
                return a;
            }
        }
        match (req.method, req.path) {
            ("GET", "/") | ("GET", "/index.html") => {
                Answer::text(200, "text/html; charset=utf-8", PAGE.to_string())
            }
            ("GET", "/api/v1/openapi.json") => {
                Answer::text(200, "application/json", crate::openapi::DOC.to_string())
            }
            ("GET", "/metrics") => match self.client.snapshot() {
                Ok(mut s) => {
                    let c = self.logins.throttle.counts;
                    for (k, v) in [
                        ("http_login_ok", c.ok),
                        ("http_login_failed", c.failed),
                        ("http_login_throttled", c.throttled),
                    ] {
                        s.counters.insert(k.to_string(), v);
                    }
                    Answer::text(200, metrics::CONTENT_TYPE, metrics::render(&s))
                }
                Err(_) => error(503, "the packet loop did not answer"),
            },
            ("GET", "/api/v1/status") => {
                if let Err(a) = self.may_read(&who) {
                    return a;
                }
                match self.client.snapshot() {
                    Ok(s) => match serde_json::to_value(&s) {
                        Ok(v) => json(200, &v),
                        Err(_) => error(500, "snapshot not serialisable"),
                    },
                    Err(_) => error(503, "the packet loop did not answer"),
                }
            }
            ("GET", "/api/v1/events") => match self.may_read(&who) {
                // the stream itself is started by `serve_one`, which owns the connection
                Err(a) => a,
                Ok(()) => error(503, "too many event streams"),
            },
            ("POST", "/api/v1/command") => {
                let role = match who {
                    Ok(Some(w)) => w.role,
                    Ok(None) if !self.locked() => {
                        return error(
                            403,
                            "writes are disabled: start lvsd with --http-tokens or add users",
                        );
                    }
                    _ => return error(401, "an operator or admin token is needed"),
                };
                if role == Role::Viewer {
                    return error(403, "a viewer cannot change anything");
                }
                let Some(body) = req.body else {
                    return error(413, "request body too large");
                };
                let line = body.trim();
                if line.is_empty() || line.contains('\n') {
                    return error(400, "the body must be one control command line");
                }
                match self.client.command(line) {
                    Ok((ok, output)) => json(
                        if ok { 200 } else { 400 },
                        &serde_json::json!({ "ok": ok, "output": output }),
                    ),
                    Err(_) => error(503, "the packet loop did not answer"),
                }
            }
            (
                _,
                "/"
                | "/index.html"
                | "/metrics"
                | "/api/v1/status"
                | "/api/v1/command"
                | "/api/v1/events"
                | "/api/v1/openapi.json",
            ) => error(405, "method not allowed"),
            _ => error(404, "no such resource"),
        }
    }

    /// The name recorded with a `change` event.
    fn caller(&self, auth: Option<&str>) -> String {
        self.who(auth)
            .ok()
            .flatten()
            .map_or_else(|| "-".into(), |w| w.name)
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn header_value(req: &Request, name: &'static str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

fn serve_one(srv: &mut Server, mut req: Request) {
    let method = match req.method() {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        _ => "OTHER",
    };
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("");
    let auth = header_value(&req, "Authorization");
    let content_type = header_value(&req, "Content-Type");
    let peer = req
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| srv.peers.client(*a));
    if (method, path) == ("GET", "/api/v1/events")
        && srv.may_read(&srv.who(auth.as_deref())).is_ok()
    {
        if let Some(rx) = srv.hub.subscribe() {
            crate::events::stream(req.into_writer(), rx);
            srv.hub.publish_status(&srv.client);
            return;
        }
    }
    let mut raw = Vec::new();
    let too_large = req
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut raw)
        .map_or(true, |n| n > MAX_BODY);
    let body = (!too_large).then(|| String::from_utf8_lossy(&raw).into_owned());
    let r = Req {
        method,
        path,
        auth: auth.as_deref(),
        content_type: content_type.as_deref(),
        peer,
        body: body.as_deref(),
    };
    let a = srv.handle(&r);
    let write = method != "GET" && (200..300).contains(&a.status) && !path.ends_with("/login");
    if write
        && srv.apply_clusters
        && (path.starts_with("/api/v1/clusters") || path == "/api/v1/registry")
    {
        match srv.client.command("reload") {
            Ok((true, _)) => {}
            Ok((false, out)) => eprintln!("lvsd: registry clusters not applied: {}", out.trim()),
            Err(_) => {
                eprintln!("lvsd: registry clusters not applied: the packet loop did not answer")
            }
        }
    }
    if write && srv.hub.streams() > 0 {
        let who = srv.caller(auth.as_deref());
        let change = serde_json::json!({ "method": method, "path": path, "who": who,
            "status": a.status });
        srv.hub.publish("change", &change.to_string());
        srv.hub.publish_status(&srv.client);
    }
    let mut resp = Response::from_string(a.body).with_status_code(a.status);
    for h in [
        header("Content-Type", a.content_type),
        header("Cache-Control", "no-store"),
        header("X-Content-Type-Options", "nosniff"),
        header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; connect-src 'self'; frame-ancestors 'none'",
        ),
        a.retry_after
            .and_then(|s| header("Retry-After", &s.to_string())),
    ]
    .into_iter()
    .flatten()
    {
        resp.add_header(h);
    }
    let _ = req.respond(resp);
}

/// Starts the server thread on `addr` (and the events ticker). With `tls`, `addr` is a TLS
/// listener ([`crate::http_tls`]) in front of the server on an ephemeral loopback port.
///
/// # Errors
/// The address cannot be bound.
pub fn spawn(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    client: Client,
    tokens: Tokens,
    registry: Option<Registry>,
    ldap: Option<crate::ldap::Ldap>,
    apply_clusters: bool,
) -> Result<(), String> {
    let bind = match tls {
        Some(_) if addr.is_ipv6() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
        Some(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        None => addr,
    };
    let listener = Listener::http(bind).map_err(|e| format!("--http {bind}: {e}"))?;
    let peers = crate::http_tls::Peers::default();
    if let Some(cfg) = tls {
        let inner = listener
            .server_addr()
            .to_ip()
            .ok_or("--http: no inner address")?;
        crate::http_tls::spawn(addr, cfg, inner, peers.clone())?;
    }
    let hub = Arc::new(Hub::default());
    let ticker = client.try_clone().map_err(|e| e.to_string())?;
    crate::events::spawn_ticker(ticker, hub.clone())?;
    let mut srv = Server::new(client, tokens, registry, hub);
    srv.peers = peers;
    srv.apply_clusters = apply_clusters;
    srv.logins.ldap = ldap;
    std::thread::Builder::new()
        .name("lvsd-http".into())
        .spawn(move || {
            for req in listener.incoming_requests() {
                serve_one(&mut srv, req);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
