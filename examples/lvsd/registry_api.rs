//! The registry's part of the JSON API ([`crate::http`]):
//!
//! | method and path | answer | who |
//! |---|---|---|
//! | `GET /api/v1/hosts`, `GET /api/v1/clusters` | every record | viewer |
//! | `POST /api/v1/hosts`, `POST /api/v1/clusters` | creates one (JSON body; 201, 409 if it exists) | operator |
//! | `PUT /api/v1/hosts/NAME`, `PUT /api/v1/clusters/NAME` | replaces one (the body's name must be NAME) | operator |
//! | `DELETE /api/v1/hosts/NAME`, `DELETE /api/v1/clusters/NAME` | removes one | operator |
//! | `GET /api/v1/registry` | hosts and clusters, one JSON document (export) | viewer |
//! | `PUT /api/v1/registry` | imports such a document: every record created or replaced, in one transaction | operator |
//! | `GET /api/v1/directors/NAME/rules` | the ipvsadm-restore text of the clusters labelled `director=NAME` | viewer |
//! | `GET /api/v1/registry.ldif` | the same as LDIF | viewer |
//! | `GET /api/v1/audit` | the newest 200 changes: who, what, when | admin |
//!
//! Writes take JSON with `Content-Type: application/json` (415 otherwise). Unknown JSON fields, names outside `A-Z a-z 0-9 . _ -`, bad addresses: 400 and nothing
//! changes.

use crate::auth::{Role, Who};
use crate::http::{error, json, Answer, Req};
use crate::registry::{Cluster, Host, Kind, Registry, RegistryError};

/// The answer for a registry error (storage details go to the log, not the client).
pub fn stored(e: &RegistryError) -> Answer {
    match e {
        RegistryError::Invalid(m) => error(400, m),
        RegistryError::NotFound => error(404, "no such record"),
        RegistryError::Exists => error(409, "a record of that name exists"),
        RegistryError::Storage(m) => {
            eprintln!("lvsd: registry: {m}");
            error(500, "the registry failed; see lvsd's log")
        }
    }
}

fn listed<T: serde::Serialize>(r: Result<Vec<T>, RegistryError>) -> Answer {
    match r.map(serde_json::to_value) {
        Ok(Ok(v)) => json(200, &v),
        Ok(Err(_)) => error(500, "not serialisable"),
        Err(e) => stored(&e),
    }
}

/// Answers `method path` when it is a registry resource (`None` otherwise). `who` is the
/// caller, already authenticated.
pub fn route(reg: &mut Registry, req: &Req<'_>, who: Option<&Who>) -> Option<Answer> {
    let (method, body) = (req.method, req.body);
    let rest = req.path.strip_prefix("/api/v1/")?;
    let (kind, name) = match rest.split_once('/') {
        Some(("hosts", n)) if !n.contains('/') => (Some(Kind::Host), Some(n)),
        Some(("clusters", n)) if !n.contains('/') => (Some(Kind::Cluster), Some(n)),
        None if rest == "hosts" => (Some(Kind::Host), None),
        None if rest == "clusters" => (Some(Kind::Cluster), None),
        Some(("directors", n)) if n.ends_with("/rules") && !n[..n.len() - 6].contains('/') => {
            (None, None)
        }
        None if ["registry", "registry.ldif", "audit"].contains(&rest) => (None, None),
        _ => return None,
    };
    let import = method == "PUT" && rest == "registry";
    if kind.is_none() && method != "GET" && !import {
        return Some(error(405, "method not allowed"));
    }
    let need = match (method, kind, rest) {
        ("GET", _, "audit") => Role::Admin,
        ("GET", _, _) => Role::Viewer,
        _ => Role::Operator,
    };
    let Some(Who {
        role,
        name: name_of_caller,
    }) = who
    else {
        return Some(error(401, "a token is needed"));
    };
    if *role < need {
        return Some(error(403, "this token's role may not do that"));
    }
    let parse_body = || -> Result<serde_json::Value, Answer> {
        if !crate::users::is_json(req) {
            return Err(error(415, "send JSON with Content-Type: application/json"));
        }
        let b = body.ok_or_else(|| error(413, "request body too large"))?;
        serde_json::from_str(b).map_err(|e| error(400, &format!("bad JSON: {e}")))
    };
    if import {
        return Some(import_document(reg, parse_body(), name_of_caller));
    }
    if let Some(director) = rest
        .strip_prefix("directors/")
        .and_then(|r| r.strip_suffix("/rules"))
    {
        return Some(match reg.clusters() {
            Ok(c) => Answer::text(
                200,
                "text/plain; charset=utf-8",
                crate::registry_apply::restore_text(&c, director),
            ),
            Err(e) => stored(&e),
        });
    }
    let Some(kind) = kind else {
        return Some(match rest {
            "audit" => listed(reg.audit(200)),
            "registry.ldif" => match reg.ldif("dc=lvs") {
                Ok(t) => Answer::text(200, "text/plain; charset=utf-8", t),
                Err(e) => stored(&e),
            },
            _ => match (reg.hosts(), reg.clusters()) {
                (Ok(h), Ok(c)) => json(200, &serde_json::json!({ "hosts": h, "clusters": c })),
                (Err(e), _) | (_, Err(e)) => stored(&e),
            },
        });
    };
    let result = match (method, name) {
        ("GET", None) => {
            return Some(match kind {
                Kind::Host => listed(reg.hosts()),
                Kind::Cluster => listed(reg.clusters()),
            })
        }
        ("POST", None) | ("PUT", Some(_)) => {
            let v = match parse_body() {
                Ok(v) => v,
                Err(a) => return Some(a),
            };
            let create = name.is_none();
            let named = |n: &str| name.is_none_or(|want| want == n);
            match kind {
                Kind::Host => match serde_json::from_value::<Host>(v) {
                    Ok(h) if named(&h.name) => reg.put_host(&h, create, name_of_caller),
                    Ok(_) => return Some(error(400, "the body's name differs from the path's")),
                    Err(e) => return Some(error(400, &format!("bad host: {e}"))),
                },
                Kind::Cluster => match serde_json::from_value::<Cluster>(v) {
                    Ok(c) if named(&c.name) => reg.put_cluster(&c, create, name_of_caller),
                    Ok(_) => return Some(error(400, "the body's name differs from the path's")),
                    Err(e) => return Some(error(400, &format!("bad cluster: {e}"))),
                },
            }
            .map(|()| if create { 201 } else { 200 })
        }
        ("DELETE", Some(n)) => reg.delete(kind, n, name_of_caller).map(|()| 200),
        _ => return Some(error(405, "method not allowed")),
    };
    Some(match result {
        Ok(status) => json(status, &serde_json::json!({ "ok": true })),
        Err(e) => stored(&e),
    })
}

/// The registry export's shape, for `PUT /api/v1/registry`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    hosts: Vec<Host>,
    #[serde(default)]
    clusters: Vec<Cluster>,
}

/// Imports an exported registry document: all its records or none.
fn import_document(
    reg: &mut Registry,
    body: Result<serde_json::Value, Answer>,
    who: &str,
) -> Answer {
    let v = match body {
        Ok(v) => v,
        Err(a) => return a,
    };
    let doc: Document = match serde_json::from_value(v) {
        Ok(d) => d,
        Err(e) => return error(400, &format!("bad registry document: {e}")),
    };
    match reg.import(&doc.hosts, &doc.clusters, who) {
        Ok(n) => json(200, &serde_json::json!({ "ok": true, "records": n })),
        Err(e) => stored(&e),
    }
}
