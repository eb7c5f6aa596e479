//! The OpenAPI 3.0 description of lvsd's HTTP API, served at `/api/v1/openapi.json`
//! (`openapi.json` next to this file, so tools read it as it is).
//!
//! The test below holds the description and the server to each other: every operation it
//! lists is answered by [`crate::http::Server::handle`], and every method on every path the
//! description names (plus a few that it does not) is refused with 404 "no such resource" or
//! 405 unless the description lists it.

/// The description, as served.
pub const DOC: &str = include_str!("openapi.json");

#[cfg(test)]
mod test {
    use super::*;
    use crate::auth::Tokens;
    use crate::http::{Req, Server};
    use crate::mgmt::{self, Request, Snapshot, Traffic};
    use crate::registry::Registry;
    use std::collections::{BTreeMap, BTreeSet};
    use std::os::unix::net::UnixStream;

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "OTHER"];
    const ADMIN: &str = "Bearer admin-0123456789abcdef";

    /// A server whose packet loop is a thread answering with an empty snapshot.
    fn server(dir: &std::path::Path) -> (Server, UnixStream) {
        let (wake, keep) = UnixStream::pair().unwrap();
        let (client, rx) = mgmt::link(&wake).unwrap();
        std::thread::spawn(move || {
            while let Ok(r) = rx.recv() {
                match r {
                    Request::Snapshot(tx) => {
                        let _ = tx.send(Snapshot {
                            uptime_ms: 1,
                            sync_role: "none",
                            table_entries: 0,
                            table_capacity: 16,
                            totals: Traffic::default(),
                            services: Vec::new(),
                            counters: BTreeMap::new(),
                            states: BTreeMap::new(),
                        });
                    }
                    Request::Command(_, tx) => {
                        let _ = tx.send((false, "no such service".into()));
                    }
                    Request::Health(..) => {}
                }
            }
        });
        let tokens = Tokens::parse("admin admin-0123456789abcdef\n").unwrap();
        let reg = Registry::open(&dir.join("r.db")).unwrap();
        let hub = std::sync::Arc::new(crate::events::Hub::default());
        (Server::new(client, tokens, Some(reg), hub), keep)
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOC).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                assert!(op["responses"].is_object(), "{method} {path}: responses");
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    #[test]
    fn every_route_is_described_and_every_description_is_answered() {
        let dir = std::env::temp_dir().join(format!("lvs-openapi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut srv, _keep) = server(&dir);
        let ops = documented();
        assert!(ops.len() >= 24, "{} operations", ops.len());
        let mut paths: BTreeSet<String> = ops.iter().map(|(_, p)| p.clone()).collect();
        // paths the description does not name must not be answered either
        for extra in [
            "/api",
            "/api/v1",
            "/api/v1/",
            "/api/v1/hosts/a/b",
            "/api/v1/users/a/b",
            "/api/v1/registry/x",
            "/api/v2/status",
            "/metrics/x",
            "/../../etc/passwd",
            "/api/v1/sessions",
        ] {
            paths.insert(extra.to_string());
        }
        let mut answered = 0;
        for template in &paths {
            let path = template.replace("{name}", "probe");
            for method in METHODS {
                let req = Req {
                    auth: Some(ADMIN),
                    content_type: Some("application/json"),
                    body: Some("{}"),
                    ..Req::new(method, &path)
                };
                let a = srv.handle(&req);
                let refused =
                    a.status == 405 || (a.status == 404 && a.body.contains("no such resource"));
                let listed = ops.contains(&(method.to_string(), template.clone()));
                assert_eq!(
                    !refused,
                    listed,
                    "{method} {path}: answered {} {} but the description {}",
                    a.status,
                    a.body,
                    if listed { "lists it" } else { "does not" }
                );
                answered += usize::from(!refused);
            }
        }
        assert_eq!(answered, ops.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn registry_import_and_director_rules() {
        let dir = std::env::temp_dir().join(format!("lvs-import-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut srv, _keep) = server(&dir);
        let put = |srv: &mut Server, body: &str| {
            let req = Req {
                auth: Some(ADMIN),
                content_type: Some("application/json"),
                body: Some(body),
                ..Req::new("PUT", "/api/v1/registry")
            };
            srv.handle(&req)
        };
        let good = r#"{"hosts":[{"name":"rs1","role":"real-server"}],
            "clusters":[{"name":"web","vip":"198.18.0.20:80","scheduler":"wlc",
            "real_servers":["198.18.1.11:80","198.18.1.12:80"],
            "labels":{"director":"d1","forward":"dr"}},
            {"name":"other","vip":"198.18.0.21:80","scheduler":"rr","labels":{"director":"d2"}}]}"#;
        let a = put(&mut srv, good);
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("\"records\":3"), "{}", a.body);
        // all or nothing: one bad cluster, nothing of the document is written
        let bad = r#"{"hosts":[{"name":"rs2","role":"real-server"}],
            "clusters":[{"name":"bad/name","vip":"198.18.0.22:80","scheduler":"rr"}]}"#;
        assert_eq!(put(&mut srv, bad).status, 400);
        assert_eq!(put(&mut srv, r#"{"hosts":[],"extra":1}"#).status, 400);
        let get = |srv: &mut Server, path: &str| {
            let req = Req {
                auth: Some(ADMIN),
                ..Req::new("GET", path)
            };
            srv.handle(&req)
        };
        let hosts = get(&mut srv, "/api/v1/hosts");
        assert!(
            hosts.body.contains("rs1") && !hosts.body.contains("rs2"),
            "{}",
            hosts.body
        );
        let rules = get(&mut srv, "/api/v1/directors/d1/rules");
        assert_eq!(rules.status, 200);
        assert_eq!(
            rules.body,
            "-A -t 198.18.0.20:80 -s wlc\n-a -t 198.18.0.20:80 -r 198.18.1.11:80 -g -w 1\n\
             -a -t 198.18.0.20:80 -r 198.18.1.12:80 -g -w 1\n"
        );
        assert_eq!(get(&mut srv, "/api/v1/directors/nobody/rules").body, "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
