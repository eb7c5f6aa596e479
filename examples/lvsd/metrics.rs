//! `/metrics`: a [`Snapshot`] in the OpenMetrics text format, under node_exporter's IPVS metric
//! names and labels so dashboards built for kernel IPVS work unchanged, plus lvsd's own.
//!
//! node_exporter's `ipvs` collector names: the totals `node_ipvs_connections_total`,
//! `node_ipvs_{incoming,outgoing}_{packets,bytes}_total` (no labels, `/proc/net/ip_vs_stats`),
//! and per real server `node_ipvs_backend_connections_{active,inactive}` and
//! `node_ipvs_backend_weight` with the labels `local_address`, `local_port`, `remote_address`,
//! `remote_port`, `proto` (`TCP`, `UDP`, `SCTP`, `FWM`) and `local_mark` (empty for an address
//! service; a firewall-mark service has empty `local_address`/`local_port`).
//!
//! lvsd's own: per-service and per-server traffic counters (`lvs_service_*`,
//! `lvs_backend_*`), connection-table fill, and the `status` command's lines, each in exactly
//! one of two families by what it is ([`crate::gauges`]):
//!
//! - a count of events (frames, drops by reason, refusals, sync messages...), which only goes
//!   up: the counter `lvsd_events_total{event="<line>"}`;
//! - a level, which can go down (open connections `l7.live`, `tls.splice.live` and per pool
//!   server `l7.pool.<pool>.<server>.active`; cache entries `tls.sessions`, `tls.tickets`; the
//!   table's `director.connections`; `agent.sources`; `workers`; the VRRP router's
//!   `vrrp.priority`, `vrrp.master_adver_int_cs`, `vrrp.master_down_ms`): the gauge
//!   `lvsd_status_gauge{name="<line>"}`.
//!
//! A line whose value is not a number (`vrrp.state master`) is the gauge
//! `lvsd_status_state{name="vrrp.state",state="master"} 1`.
//!
//! With `--workers N` (N > 1) the unprefixed lines are the totals over every shard: a count is
//! the sum; a level is the sum where a sum means something for the whole director (connections
//! open, entries held: each shard holds its own) and worker 0's where it is a setting or state
//! of the one virtual router (`vrrp.*`), as [`crate::status_merge`] merges them. Each shard's
//! own lines (`status`'s `worker<k>.<name>`) are `lvsd_worker_events_total{worker="<k>",event}`
//! and `lvsd_worker_status_gauge{worker="<k>",name}`, so that a sum over `lvsd_events_total`
//! never counts a frame twice; a shard's own state lines (`worker0.vrrp.state`, the lead's
//! again) are not exported. The table fill is also `lvs_table_entries` and the worker count
//! `lvsd_workers`, under the names they had before.

use crate::gauges::is_gauge;
use crate::mgmt::{Snapshot, Traffic, VirtualService};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// node_exporter's labels of a real server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Backend {
    local_address: String,
    local_port: String,
    remote_address: String,
    remote_port: String,
    proto: String,
    local_mark: String,
}

/// The labels of a virtual service (node_exporter's, less the real server).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    local_address: String,
    local_port: String,
    proto: String,
    local_mark: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Event {
    event: String,
}

/// The labels of one shard's named counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerEvent {
    worker: String,
    event: String,
}

/// The labels of a level among the status lines.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Level {
    name: String,
}

/// The labels of one shard's level.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLevel {
    worker: String,
    name: String,
}

/// The labels of a status line whose value is not a number.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    name: String,
    state: String,
}

/// A status line's value as a gauge's.
fn level_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `worker<k>.<name>` split into the worker's number and the name.
fn worker_line(k: &str) -> Option<(&str, &str)> {
    let rest = k.strip_prefix("worker")?;
    let (n, name) = rest.split_once('.')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some((n, name))
}

fn service_labels(s: &VirtualService) -> Service {
    let fwm = s.protocol == "fwmark";
    Service {
        local_address: if fwm {
            String::new()
        } else {
            s.address.clone()
        },
        local_port: if fwm {
            String::new()
        } else {
            s.port.to_string()
        },
        proto: if fwm {
            "FWM".into()
        } else {
            s.protocol.to_uppercase()
        },
        local_mark: if fwm {
            s.fwmark.to_string()
        } else {
            String::new()
        },
    }
}

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

/// Registers the five traffic counters of `labels -> Traffic` under `prefix`.
fn traffic_families<L>(reg: &mut Registry, prefix: &str, what: &str, rows: &[(L, &Traffic)])
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    type Pick = fn(&Traffic) -> u64;
    let fields: [(&str, &str, Pick); 5] = [
        ("connections", "connections scheduled", |t| t.conns),
        ("incoming_packets", "packets from clients", |t| t.inpkts),
        ("outgoing_packets", "packets to clients", |t| t.outpkts),
        ("incoming_bytes", "bytes from clients", |t| t.inbytes),
        ("outgoing_bytes", "bytes to clients", |t| t.outbytes),
    ];
    for (name, help, pick) in fields {
        let fam = Family::<L, Counter>::default();
        for (l, t) in rows {
            fam.get_or_create(l).inc_by(pick(t));
        }
        reg.register(format!("{prefix}_{name}"), format!("{what}: {help}"), fam);
    }
}

/// The snapshot as OpenMetrics text.
pub fn render(s: &Snapshot) -> String {
    let mut reg = Registry::default();
    let t = &s.totals;
    counter(
        &mut reg,
        "node_ipvs_connections",
        "The total number of connections made.",
        t.conns,
    );
    counter(
        &mut reg,
        "node_ipvs_incoming_packets",
        "The total number of incoming packets.",
        t.inpkts,
    );
    counter(
        &mut reg,
        "node_ipvs_outgoing_packets",
        "The total number of outgoing packets.",
        t.outpkts,
    );
    counter(
        &mut reg,
        "node_ipvs_incoming_bytes",
        "The total amount of incoming data.",
        t.inbytes,
    );
    counter(
        &mut reg,
        "node_ipvs_outgoing_bytes",
        "The total amount of outgoing data.",
        t.outbytes,
    );

    let active = Family::<Backend, Gauge>::default();
    let inactive = Family::<Backend, Gauge>::default();
    let weight = Family::<Backend, Gauge>::default();
    let health = Family::<Backend, Gauge>::default();
    let mut svc_rows = Vec::new();
    let mut backend_rows = Vec::new();
    for svc in &s.services {
        let sl = service_labels(svc);
        for r in &svc.real_servers {
            let b = Backend {
                local_address: sl.local_address.clone(),
                local_port: sl.local_port.clone(),
                remote_address: r.address.clone(),
                remote_port: r.port.to_string(),
                proto: sl.proto.clone(),
                local_mark: sl.local_mark.clone(),
            };
            active.get_or_create(&b).set(i64::from(r.active));
            inactive.get_or_create(&b).set(i64::from(r.inactive));
            weight.get_or_create(&b).set(i64::from(r.weight));
            if let Some(up) = r.health {
                health.get_or_create(&b).set(i64::from(up));
            }
            backend_rows.push((b, &r.traffic));
        }
        svc_rows.push((sl, &svc.traffic));
    }
    reg.register(
        "node_ipvs_backend_connections_active",
        "The current active connections by local and remote address.",
        active,
    );
    reg.register(
        "node_ipvs_backend_connections_inactive",
        "The current inactive connections by local and remote address.",
        inactive,
    );
    reg.register(
        "node_ipvs_backend_weight",
        "The current backend weight by local and remote address.",
        weight,
    );
    reg.register(
        "lvs_backend_health_up",
        "1 while the real server's health check says up, 0 while down (checked servers only).",
        health,
    );
    traffic_families(&mut reg, "lvs_service", "per virtual service", &svc_rows);
    traffic_families(&mut reg, "lvs_backend", "per real server", &backend_rows);

    let entries: Gauge = Gauge::default();
    entries.set(s.table_entries as i64);
    reg.register(
        "lvs_table_entries",
        "Connection-table entries in use (connections and templates).",
        entries,
    );
    let cap: Gauge = Gauge::default();
    cap.set(s.table_capacity as i64);
    reg.register("lvs_table_capacity", "Connection-table capacity.", cap);
    let events = Family::<Event, Counter>::default();
    let worker_events = Family::<WorkerEvent, Counter>::default();
    let levels = Family::<Level, Gauge>::default();
    let worker_levels = Family::<WorkerLevel, Gauge>::default();
    let mut workers = None;
    for (k, v) in &s.counters {
        if k == "workers" {
            workers = Some(*v);
        }
        match worker_line(k) {
            Some((worker, name)) if is_gauge(name) => {
                let labels = WorkerLevel {
                    worker: worker.to_string(),
                    name: name.to_string(),
                };
                worker_levels.get_or_create(&labels).set(level_value(*v));
            }
            Some((worker, name)) => {
                let labels = WorkerEvent {
                    worker: worker.to_string(),
                    event: name.to_string(),
                };
                worker_events.get_or_create(&labels).inc_by(*v);
            }
            None if is_gauge(k) => {
                let labels = Level { name: k.clone() };
                levels.get_or_create(&labels).set(level_value(*v));
            }
            None => {
                events.get_or_create(&Event { event: k.clone() }).inc_by(*v);
            }
        }
    }
    reg.register(
        "lvsd_events",
        "lvsd's and the director's named counters (frames, drops by reason, refusals, sync; \
         with workers the totals over every shard).",
        events,
    );
    reg.register(
        "lvsd_status_gauge",
        "lvsd's and the director's levels among the status lines (open connections, cache \
         entries, table entries, VRRP settings; with workers a sum over the shards, the VRRP \
         settings worker 0's).",
        levels,
    );
    let states = Family::<State, Gauge>::default();
    let mut any_state = false;
    for (k, v) in &s.states {
        if worker_line(k).is_none() {
            let labels = State {
                name: k.clone(),
                state: v.clone(),
            };
            states.get_or_create(&labels).set(1);
            any_state = true;
        }
    }
    if any_state {
        reg.register(
            "lvsd_status_state",
            "1 for the current value of a status line that is not a number (vrrp.state).",
            states,
        );
    }
    if let Some(n) = workers {
        reg.register(
            "lvsd_worker_events",
            "Each worker's own named counters (with --workers N > 1).",
            worker_events,
        );
        reg.register(
            "lvsd_worker_status_gauge",
            "Each worker's own levels among the status lines (with --workers N > 1).",
            worker_levels,
        );
        let g: Gauge = Gauge::default();
        g.set(level_value(n));
        reg.register(
            "lvsd_workers",
            "Worker threads, each with its own shard.",
            g,
        );
    }
    let mut out = String::new();
    // writing into a String cannot fail
    let _ = encode(&mut out, &reg);
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::mgmt::RealServer;
    use std::collections::BTreeMap;

    fn snapshot() -> Snapshot {
        let t = |n: u64| Traffic {
            conns: n,
            inpkts: 10 * n,
            outpkts: 20 * n,
            inbytes: 1000 * n,
            outbytes: 2000 * n,
            ..Traffic::default()
        };
        let rs = |a: &str, w: u32, act: u32, n: u64| RealServer {
            address: a.into(),
            port: 8080,
            forward: "masq",
            weight: w,
            active: act,
            inactive: 1,
            persistent: 0,
            // a quiesced server reads as one its check took down
            health: Some(w > 0),
            traffic: t(n),
        };
        Snapshot {
            uptime_ms: 5,
            sync_role: "none",
            table_entries: 7,
            table_capacity: 1024,
            totals: t(5),
            services: vec![
                VirtualService {
                    name: "TCP 198.18.0.10:80".into(),
                    protocol: "tcp",
                    address: "198.18.0.10".into(),
                    port: 80,
                    fwmark: 0,
                    scheduler: "wlc".into(),
                    traffic: t(5),
                    real_servers: vec![rs("198.18.1.11", 3, 2, 3), rs("198.18.1.12", 1, 1, 2)],
                },
                VirtualService {
                    name: "FWM 7".into(),
                    protocol: "fwmark",
                    address: String::new(),
                    port: 0,
                    fwmark: 7,
                    scheduler: "rr".into(),
                    traffic: t(0),
                    real_servers: vec![rs("2001:db8::11", 0, 0, 0)],
                },
            ],
            counters: BTreeMap::from([("drop.not_ours".to_string(), 4)]),
            states: BTreeMap::new(),
        }
    }

    #[test]
    fn node_exporter_names_and_labels_parse_back() {
        let text = render(&snapshot());
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("the text parses");
        let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
            let s = scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.get(k).unwrap_or_default() == *v)
                })
                .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"));
            match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{name}: unexpected {other:?}"),
            }
        };
        assert_eq!(value("node_ipvs_connections_total", &[]), 5.0);
        assert_eq!(value("node_ipvs_incoming_packets_total", &[]), 50.0);
        assert_eq!(value("node_ipvs_outgoing_bytes_total", &[]), 10000.0);
        let b1 = [
            ("local_address", "198.18.0.10"),
            ("local_port", "80"),
            ("remote_address", "198.18.1.11"),
            ("remote_port", "8080"),
            ("proto", "TCP"),
            ("local_mark", ""),
        ];
        assert_eq!(value("node_ipvs_backend_connections_active", &b1), 2.0);
        assert_eq!(value("node_ipvs_backend_connections_inactive", &b1), 1.0);
        assert_eq!(value("node_ipvs_backend_weight", &b1), 3.0);
        assert_eq!(value("lvs_backend_connections_total", &b1), 3.0);
        let fwm = [
            ("local_address", ""),
            ("remote_address", "2001:db8::11"),
            ("proto", "FWM"),
            ("local_mark", "7"),
        ];
        assert_eq!(value("node_ipvs_backend_weight", &fwm), 0.0);
        assert_eq!(value("lvs_backend_health_up", &b1), 1.0);
        assert_eq!(value("lvs_backend_health_up", &fwm), 0.0);
        assert_eq!(
            value("lvs_service_incoming_bytes_total", &[("local_port", "80")]),
            5000.0
        );
        assert_eq!(value("lvs_table_capacity", &[]), 1024.0);
        assert_eq!(
            value("lvsd_events_total", &[("event", "drop.not_ours")]),
            4.0
        );
    }

    /// With workers, `status`'s totals are `lvsd_events_total`, each shard's own lines
    /// `lvsd_worker_events_total{worker}`, and the gauges are no events.
    #[test]
    fn worker_lines_get_their_own_family() {
        let mut snap = snapshot();
        snap.counters = BTreeMap::from([
            ("rx.frames".to_string(), 30),
            ("director.connections".to_string(), 7),
            ("workers".to_string(), 2),
            ("worker0.rx.frames".to_string(), 10),
            ("worker1.rx.frames".to_string(), 20),
            ("worker1.director.connections".to_string(), 3),
            ("workerx.odd".to_string(), 1),
        ]);
        let text = render(&snap);
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("the text parses");
        let find = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
            let s = scrape.samples.iter().find(|s| {
                s.metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(k).unwrap_or_default() == *v)
            })?;
            match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            }
        };
        assert_eq!(
            find("lvsd_events_total", &[("event", "rx.frames")]),
            Some(30.0)
        );
        let w1 = [("worker", "1"), ("event", "rx.frames")];
        assert_eq!(find("lvsd_worker_events_total", &w1), Some(20.0));
        let w0 = [("worker", "0"), ("event", "rx.frames")];
        assert_eq!(find("lvsd_worker_events_total", &w0), Some(10.0));
        assert_eq!(find("lvsd_workers", &[]), Some(2.0));
        // the levels are gauges: the total and each worker's own
        let conns = [("name", "director.connections")];
        assert_eq!(find("lvsd_status_gauge", &conns), Some(7.0));
        let w1 = [("worker", "1"), ("name", "director.connections")];
        assert_eq!(find("lvsd_worker_status_gauge", &w1), Some(3.0));
        // gauges are not events, whether totals or a worker's
        assert!(!text.contains("event=\"director.connections\""), "{text}");
        assert!(!text.contains("event=\"workers\""), "{text}");
        // not a worker line: an event like any other
        assert_eq!(
            find("lvsd_events_total", &[("event", "workerx.odd")]),
            Some(1.0)
        );
        // every worker line left the totals' family
        assert!(!text.contains("event=\"worker1.rx.frames\""), "{text}");
    }

    #[test]
    fn without_workers_no_worker_families() {
        let text = render(&snapshot());
        assert!(!text.contains("lvsd_worker_events"), "{text}");
        assert!(!text.contains("lvsd_workers"), "{text}");
        assert!(!text.contains("lvsd_worker_status_gauge"), "{text}");
        // no state line, no state family
        assert!(!text.contains("lvsd_status_state"), "{text}");
    }

    /// Every level among the status lines, named as their producers write them
    /// (`Daemon::shard_status`, `L7::status`, `Tls::status`, `vrrp_status`, `agents_status`,
    /// `workers_status`): each must be a gauge in `/metrics`, never an event.
    const LEVEL_LINES: &[&str] = &[
        "director.connections",
        "l7.live",
        "l7.pool.api.198.18.1.11:80.active",
        "tls.splice.live",
        "tls.sessions",
        "tls.tickets",
        "tls.pool.web.198.18.1.12:443.active",
        "agent.sources",
        "workers",
        "vrrp.priority",
        "vrrp.master_adver_int_cs",
        "vrrp.master_down_ms",
    ];

    /// Lines that sound like levels but count events (they only go up).
    const EVENT_LINES: &[&str] = &[
        "l7.pool.api.requests",
        "tls.pool.web.connections",
        "l7.accepted",
        "l7.closed",
        "tls.learned",
        "tls.evicted",
        "tls.splice.spliced",
        "director.expired",
        "neigh.dropped",
        "vrrp.became_master",
        "agent.accepted",
        "workers.view_timeouts",
    ];

    /// Each level's sample is in a family whose `# TYPE` is gauge, totals and every worker's,
    /// and no level is an `event` of a counter family; the counts stay counters.
    #[test]
    fn every_level_is_a_gauge_never_an_event() {
        let mut snap = snapshot();
        snap.counters.clear();
        for (i, n) in LEVEL_LINES.iter().chain(EVENT_LINES).enumerate() {
            snap.counters.insert(n.to_string(), i as u64 + 1);
            snap.counters.insert(format!("worker1.{n}"), i as u64 + 100);
        }
        snap.counters
            .insert("worker1.vrrp.mirrored_master".into(), 1);
        snap.states.insert("vrrp.state".into(), "master".into());
        snap.states
            .insert("worker0.vrrp.state".into(), "master".into());
        let text = render(&snap);
        let types: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
            .collect();
        for (family, want) in [
            ("lvsd_status_gauge", "gauge"),
            ("lvsd_worker_status_gauge", "gauge"),
            ("lvsd_status_state", "gauge"),
            ("lvsd_events", "counter"),
            ("lvsd_worker_events", "counter"),
        ] {
            assert_eq!(types.get(family), Some(&want), "{family} in\n{text}");
        }
        // the family of every sample, by its `# TYPE` line
        let type_of = |line: &str| -> &str {
            let metric = line.split(['{', ' ']).next().unwrap_or("");
            let family = types
                .keys()
                .filter(|f| metric.starts_with(**f))
                .max_by_key(|f| f.len())
                .unwrap_or_else(|| panic!("no # TYPE for {line}"));
            types[family]
        };
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let sample = |start: &str| -> &str {
            samples
                .iter()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no {start} in\n{text}"))
        };
        for (i, n) in LEVEL_LINES.iter().enumerate() {
            let total = sample(&format!("lvsd_status_gauge{{name=\"{n}\"}} "));
            assert_eq!(type_of(total), "gauge", "{total}");
            assert!(total.ends_with(&format!(" {}", i + 1)), "{total}");
            let own = sample(&format!(
                "lvsd_worker_status_gauge{{worker=\"1\",name=\"{n}\"}} "
            ));
            assert_eq!(type_of(own), "gauge", "{own}");
            let tag = format!("\"{n}\"");
            for l in samples.iter().filter(|l| l.contains(&tag)) {
                assert_eq!(type_of(l), "gauge", "{n} exported as a counter: {l}");
            }
        }
        let own = sample("lvsd_worker_status_gauge{worker=\"1\",name=\"vrrp.mirrored_master\"} ");
        assert_eq!(type_of(own), "gauge");
        for n in EVENT_LINES {
            let total = sample(&format!("lvsd_events_total{{event=\"{n}\"}} "));
            assert_eq!(type_of(total), "counter", "{total}");
            sample(&format!(
                "lvsd_worker_events_total{{worker=\"1\",event=\"{n}\"}} "
            ));
            assert!(!text.contains(&format!("name=\"{n}\"")), "{n} is no level");
        }
        // the lead's state; a shard's own state lines are not exported
        let state = sample("lvsd_status_state{name=\"vrrp.state\",state=\"master\"} ");
        assert!(state.ends_with(" 1"), "{state}");
        assert!(!text.contains("worker0.vrrp.state"), "{text}");
        // and the whole text still parses
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).expect("the text parses");
    }
}
