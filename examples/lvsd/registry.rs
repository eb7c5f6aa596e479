//! The cluster registry (`--registry FILE`): hosts and clusters as records in an embedded
//! SQLite database, with an audit log of every change, served by the HTTP thread.
//!
//! Durability: WAL journal with `synchronous=FULL`, one transaction per change (the record and
//! its audit row together), so a change the API acknowledged survives `kill -9` and a crash
//! never leaves half a record. Queries are parameterised; names are checked against
//! [`valid_name`] before they reach SQL, and free text (descriptions, labels) is stored as
//! given and escaped by whoever shows it (the status page sets `textContent`).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A machine of the cluster: a director, a real server or anything else an operator tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Unique name ([`valid_name`]).
    pub name: String,
    /// `director`, `backup-director`, `real-server` or `other`.
    pub role: String,
    /// CPU model or type.
    #[serde(default)]
    pub cpu: String,
    /// Memory in MiB.
    #[serde(default)]
    pub memory_mb: u64,
    /// Network interfaces by name.
    #[serde(default)]
    pub nics: Vec<String>,
    /// IP addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A load-balanced cluster: its virtual service and the machines behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Unique name ([`valid_name`]).
    pub name: String,
    /// The virtual service, `ADDRESS:PORT` (`[v6]:PORT` for IPv6).
    pub vip: String,
    /// `tcp` or `udp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    /// Scheduler name (`wlc`, `rr`, ...).
    pub scheduler: String,
    /// Backup directors' addresses.
    #[serde(default)]
    pub backup_directors: Vec<String>,
    /// Real servers, `ADDRESS:PORT`.
    #[serde(default)]
    pub real_servers: Vec<String>,
    /// What the cluster serves (`web`, `mail`, ...).
    #[serde(default)]
    pub service_type: String,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn tcp() -> String {
    "tcp".into()
}

/// Why a registry operation failed (the API answers 400, 404, 409 and 500 for them).
#[derive(Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The input is not acceptable (400).
    Invalid(String),
    /// No such record (404).
    NotFound,
    /// A record of that name exists (409).
    Exists,
    /// The database failed (500); the text is for the log, not the client.
    Storage(String),
}

impl From<rusqlite::Error> for RegistryError {
    fn from(e: rusqlite::Error) -> Self {
        RegistryError::Storage(e.to_string())
    }
}

/// A record name: 1–64 characters of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-` (so no
/// path separators, quotes, spaces, markup or `..`).
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && !n.starts_with(['.', '-'])
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn check_host(h: &Host) -> Result<(), RegistryError> {
    if !valid_name(&h.name) {
        return Err(RegistryError::Invalid(
            "name: 1-64 of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    if !["director", "backup-director", "real-server", "other"].contains(&h.role.as_str()) {
        return Err(RegistryError::Invalid(
            "role: director, backup-director, real-server or other".into(),
        ));
    }
    for a in &h.addresses {
        a.parse::<std::net::IpAddr>()
            .map_err(|_| RegistryError::Invalid(format!("address {a:?} is not an IP address")))?;
    }
    if h.description.len() > 1024
        || h.labels.len() > 64
        || h.nics.len() > 64
        || h.addresses.len() > 64
    {
        return Err(RegistryError::Invalid(
            "too many labels, NICs or addresses, or too long a description".into(),
        ));
    }
    Ok(())
}

fn check_cluster(c: &Cluster) -> Result<(), RegistryError> {
    if !valid_name(&c.name) {
        return Err(RegistryError::Invalid(
            "name: 1-64 of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    for s in std::iter::once(&c.vip).chain(&c.real_servers) {
        s.parse::<std::net::SocketAddr>()
            .map_err(|_| RegistryError::Invalid(format!("{s:?} is not ADDRESS:PORT")))?;
    }
    for a in &c.backup_directors {
        a.parse::<std::net::IpAddr>().map_err(|_| {
            RegistryError::Invalid(format!("backup director {a:?} is not an IP address"))
        })?;
    }
    if !["tcp", "udp"].contains(&c.protocol.as_str()) {
        return Err(RegistryError::Invalid("protocol: tcp or udp".into()));
    }
    if !valid_name(&c.scheduler) || c.real_servers.len() > 4096 || c.labels.len() > 64 {
        return Err(RegistryError::Invalid(
            "bad scheduler name, or too many servers or labels".into(),
        ));
    }
    Ok(())
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who: the token's name (never the token).
    pub who: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `host/NAME` or `cluster/NAME`.
    pub object: String,
}

/// The registry database.
#[derive(Debug)]
pub struct Registry {
    pub(crate) db: Connection,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Appends one audit row inside the change's transaction.
///
/// # Errors
/// Storage.
pub fn audit_row(
    tx: &rusqlite::Transaction<'_>,
    who: &str,
    action: &str,
    object: &str,
) -> Result<(), RegistryError> {
    tx.execute(
        "INSERT INTO audit (at_ms, who, action, object) VALUES (?1, ?2, ?3, ?4)",
        params![now_ms(), who, action, object],
    )?;
    Ok(())
}

/// The kinds of record, each a table of (name, JSON document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Host`] records.
    Host,
    /// [`Cluster`] records.
    Cluster,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Host => "hosts",
            Kind::Cluster => "clusters",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Cluster => "cluster",
        }
    }
}

impl Registry {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or its schema created.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(2))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS clusters (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 at_ms INTEGER NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
                 object TEXT NOT NULL);",
        )?;
        db.execute_batch(crate::users::SCHEMA)?;
        Ok(Registry { db })
    }

    fn put(
        &mut self,
        kind: Kind,
        name: &str,
        doc: String,
        create: bool,
        who: &str,
    ) -> Result<(), RegistryError> {
        let tx = self.db.transaction()?;
        let exists = tx
            .query_row(
                &format!("SELECT 1 FROM {} WHERE name = ?1", kind.table()),
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        match (create, exists) {
            (true, true) => return Err(RegistryError::Exists),
            (false, false) => return Err(RegistryError::NotFound),
            _ => {}
        }
        tx.execute(
            &format!(
                "INSERT OR REPLACE INTO {} (name, doc) VALUES (?1, ?2)",
                kind.table()
            ),
            params![name, doc],
        )?;
        audit_row(
            &tx,
            who,
            if create { "create" } else { "update" },
            &format!("{}/{name}", kind.word()),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Adds (`create`) or replaces a host.
    ///
    /// # Errors
    /// Invalid input, an existing name on create, a missing one on update, storage.
    pub fn put_host(&mut self, h: &Host, create: bool, who: &str) -> Result<(), RegistryError> {
        check_host(h)?;
        let doc = serde_json::to_string(h).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.put(Kind::Host, &h.name, doc, create, who)
    }

    /// Adds (`create`) or replaces a cluster.
    ///
    /// # Errors
    /// As [`Registry::put_host`].
    pub fn put_cluster(
        &mut self,
        c: &Cluster,
        create: bool,
        who: &str,
    ) -> Result<(), RegistryError> {
        check_cluster(c)?;
        let doc = serde_json::to_string(c).map_err(|e| RegistryError::Storage(e.to_string()))?;
        self.put(Kind::Cluster, &c.name, doc, create, who)
    }

    /// Creates or replaces every host and cluster given, in one transaction (an import of
    /// what `GET /api/v1/registry` exports): all of them are stored, or, on the first invalid
    /// record, none. Returns how many records were written.
    ///
    /// # Errors
    /// Invalid input (nothing written), storage.
    pub fn import(
        &mut self,
        hosts: &[Host],
        clusters: &[Cluster],
        who: &str,
    ) -> Result<usize, RegistryError> {
        let mut rows = Vec::with_capacity(hosts.len() + clusters.len());
        let enc = |v: Result<String, serde_json::Error>| {
            v.map_err(|e| RegistryError::Storage(e.to_string()))
        };
        for h in hosts {
            check_host(h)?;
            rows.push((Kind::Host, h.name.clone(), enc(serde_json::to_string(h))?));
        }
        for c in clusters {
            check_cluster(c)?;
            rows.push((
                Kind::Cluster,
                c.name.clone(),
                enc(serde_json::to_string(c))?,
            ));
        }
        let tx = self.db.transaction()?;
        for (kind, name, doc) in &rows {
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO {} (name, doc) VALUES (?1, ?2)",
                    kind.table()
                ),
                params![name, doc],
            )?;
            audit_row(&tx, who, "import", &format!("{}/{name}", kind.word()))?;
        }
        tx.commit()?;
        Ok(rows.len())
    }

    /// Removes a record.
    ///
    /// # Errors
    /// A bad name, no such record, storage.
    pub fn delete(&mut self, kind: Kind, name: &str, who: &str) -> Result<(), RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::NotFound);
        }
        let tx = self.db.transaction()?;
        let n = tx.execute(
            &format!("DELETE FROM {} WHERE name = ?1", kind.table()),
            [name],
        )?;
        if n == 0 {
            return Err(RegistryError::NotFound);
        }
        audit_row(&tx, who, "delete", &format!("{}/{name}", kind.word()))?;
        tx.commit()?;
        Ok(())
    }

    fn docs(&self, kind: Kind) -> Result<Vec<serde_json::Value>, RegistryError> {
        let mut st = self
            .db
            .prepare(&format!("SELECT doc FROM {} ORDER BY name", kind.table()))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for doc in rows {
            out.push(
                serde_json::from_str(&doc?).map_err(|e| RegistryError::Storage(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Every host, by name.
    ///
    /// # Errors
    /// Storage.
    pub fn hosts(&self) -> Result<Vec<Host>, RegistryError> {
        self.docs(Kind::Host)?
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| RegistryError::Storage(e.to_string())))
            .collect()
    }

    /// Every cluster, by name.
    ///
    /// # Errors
    /// Storage.
    pub fn clusters(&self) -> Result<Vec<Cluster>, RegistryError> {
        self.docs(Kind::Cluster)?
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| RegistryError::Storage(e.to_string())))
            .collect()
    }

    /// The newest `limit` audit entries, newest first.
    ///
    /// # Errors
    /// Storage.
    pub fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>, RegistryError> {
        let mut st = self.db.prepare(
            "SELECT id, at_ms, who, action, object FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                who: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The whole registry as LDIF (RFC 2849), for sites that keep such data in LDAP: one entry
    /// per host (`ou=hosts`) and cluster (`ou=clusters`) under `base`.
    ///
    /// # Errors
    /// Storage.
    pub fn ldif(&self, base: &str) -> Result<String, RegistryError> {
        let mut entries: Vec<Vec<(&str, String)>> = Vec::new();
        for h in self.hosts()? {
            let mut e = vec![
                ("dn", format!("cn={},ou=hosts,{base}", h.name)),
                ("objectClass", "device".into()),
                ("objectClass", "ipHost".into()),
                ("cn", h.name.clone()),
            ];
            e.extend(h.addresses.iter().map(|a| ("ipHostNumber", a.clone())));
            if !h.description.is_empty() {
                e.push(("description", h.description.clone()));
            }
            e.push((
                "description",
                format!("role={} cpu={} memory_mb={}", h.role, h.cpu, h.memory_mb),
            ));
            entries.push(e);
        }
        for c in self.clusters()? {
            let mut e = vec![
                ("dn", format!("cn={},ou=clusters,{base}", c.name)),
                ("objectClass", "device".into()),
                ("cn", c.name.clone()),
                (
                    "description",
                    format!(
                        "vip={} protocol={} scheduler={} type={}",
                        c.vip, c.protocol, c.scheduler, c.service_type
                    ),
                ),
            ];
            e.extend(
                c.real_servers
                    .iter()
                    .map(|r| ("description", format!("real-server={r}"))),
            );
            entries.push(e);
        }
        let mut out = String::from("version: 1\n");
        for e in entries {
            out.push('\n');
            for (k, v) in e {
                // values that are not plain printable ASCII, or start with a space, colon or
                // '<', or end with a space, are written base64 (RFC 2849)
                let safe = v.bytes().all(|b| (0x20..0x7f).contains(&b))
                    && !v.starts_with([' ', ':', '<'])
                    && !v.ends_with(' ');
                if safe {
                    out.push_str(&format!("{k}: {v}\n"));
                } else {
                    use base64::Engine;
                    let b = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
                    out.push_str(&format!("{k}:: {b}\n"));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn host(name: &str) -> Host {
        Host {
            name: name.into(),
            role: "real-server".into(),
            cpu: "x86_64".into(),
            memory_mb: 2048,
            nics: vec!["eth0".into()],
            addresses: vec!["198.18.1.11".into()],
            description: "<script>alert(1)</script>".into(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn records_audit_and_refusals() {
        let dir = std::env::temp_dir().join(format!("lvs-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.db");
        let mut r = Registry::open(&path).unwrap();
        r.put_host(&host("rs1"), true, "ops").unwrap();
        assert_eq!(
            r.put_host(&host("rs1"), true, "ops"),
            Err(RegistryError::Exists)
        );
        assert_eq!(
            r.put_host(&host("rs2"), false, "ops"),
            Err(RegistryError::NotFound)
        );
        for bad in [
            "",
            "../etc",
            "a b",
            "x';DROP TABLE hosts;--",
            "<script>",
            ".hidden",
            &"n".repeat(65),
        ] {
            assert!(
                matches!(
                    r.put_host(&host(bad), true, "ops"),
                    Err(RegistryError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let mut h = host("rs3");
        h.addresses = vec!["not-an-ip".into()];
        assert!(matches!(
            r.put_host(&h, true, "ops"),
            Err(RegistryError::Invalid(_))
        ));
        let c = Cluster {
            name: "web".into(),
            vip: "198.18.0.10:80".into(),
            protocol: "tcp".into(),
            scheduler: "wlc".into(),
            backup_directors: vec!["198.18.0.3".into()],
            real_servers: vec!["198.18.1.11:8080".into()],
            service_type: "web".into(),
            labels: BTreeMap::new(),
        };
        r.put_cluster(&c, true, "admin").unwrap();
        r.delete(Kind::Host, "rs1", "ops").unwrap();
        assert_eq!(
            r.delete(Kind::Host, "rs1", "ops"),
            Err(RegistryError::NotFound)
        );
        drop(r);
        // reopened: what was committed is there, with its audit trail
        let r = Registry::open(&path).unwrap();
        assert!(r.hosts().unwrap().is_empty());
        assert_eq!(r.clusters().unwrap(), vec![c]);
        let audit: Vec<_> = r
            .audit(10)
            .unwrap()
            .into_iter()
            .map(|a| (a.who, a.action, a.object))
            .collect();
        assert_eq!(
            audit,
            [
                (
                    "ops".to_string(),
                    "delete".to_string(),
                    "host/rs1".to_string()
                ),
                ("admin".into(), "create".into(), "cluster/web".into()),
                ("ops".into(), "create".into(), "host/rs1".into()),
            ]
        );
        let ldif = r.ldif("dc=example,dc=org").unwrap();
        assert!(
            ldif.contains("dn: cn=web,ou=clusters,dc=example,dc=org\n"),
            "{ldif}"
        );
        assert!(
            ldif.contains("description: real-server=198.18.1.11:8080\n"),
            "{ldif}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_with_unknown_fields_is_refused() {
        let e = serde_json::from_str::<Host>(r#"{"name":"a","role":"other","admin":true}"#);
        assert!(e.is_err());
    }
}
