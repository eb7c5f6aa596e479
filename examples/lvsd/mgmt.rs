//! The management plane's link to the packet loop: what lvsd shows over HTTP is a [`Snapshot`]
//! the loop captures on request, and what an operator changes over HTTP is a control command
//! the loop runs, exactly as `lvsd ctl` would.
//!
//! The HTTP server ([`crate::http`]) runs on its own thread and never touches the director: it
//! sends a [`Request`] down a channel, writes one byte to the loop's wake-up socket (the one
//! signals use), and waits for the answer with a deadline. So a slow or hostile HTTP client
//! costs the packet loop nothing but the capture of one snapshot per request.

use crate::control::ListOpts;
use crate::daemon::Daemon;
use lvs_core::{FwdMethod, ServiceKey};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// Counters and rates of a service or a real server, as `ipvsadm --stats` / `--rate` show them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Traffic {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients.
    pub outpkts: u64,
    /// Bytes from clients.
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
    /// Connections per second (2 s estimator).
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second to clients.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second to clients.
    pub outbps: u64,
}

/// One real server of a service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RealServer {
    /// Address, as ipvsadm prints it (`198.18.1.11` or `2001:db8::11`).
    pub address: String,
    /// Port.
    pub port: u16,
    /// `masq`, `route` or `tunnel`.
    pub forward: &'static str,
    /// Weight (0 = quiesced).
    pub weight: u32,
    /// Active (established) connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// Persistence templates pointing at it.
    pub persistent: u32,
    /// What its health check last said (`true` up, `false` down); absent when unchecked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<bool>,
    /// Traffic.
    pub traffic: Traffic,
}

/// One virtual service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VirtualService {
    /// `TCP 198.18.0.10:80`, `FWM 7`: the service as ipvsadm names it.
    pub name: String,
    /// `tcp`, `udp`, `sctp`, or `fwmark`.
    pub protocol: &'static str,
    /// Virtual address (empty for a firewall-mark service).
    pub address: String,
    /// Virtual port (0 for a firewall-mark service).
    pub port: u16,
    /// Firewall mark (0 for an address service).
    pub fwmark: u32,
    /// Scheduler name.
    pub scheduler: String,
    /// Traffic.
    pub traffic: Traffic,
    /// Real servers, in ipvsadm's listing order.
    pub real_servers: Vec<RealServer>,
}

/// What the management plane shows, captured by the packet loop at one instant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Snapshot {
    /// Milliseconds since lvsd started.
    pub uptime_ms: u64,
    /// Connection-sync role: `none`, `master`, `backup` or `master+backup`.
    pub sync_role: &'static str,
    /// Connection-table entries in use (connections and templates).
    pub table_entries: u64,
    /// Connection-table capacity.
    pub table_capacity: u64,
    /// Totals over every service (`/proc/net/ip_vs_stats`).
    pub totals: Traffic,
    /// Services, in ipvsadm's listing order.
    pub services: Vec<VirtualService>,
    /// lvsd's and the director's named counters (the `status` control command's lines whose
    /// value is a whole number; the levels among them: [`crate::gauges`]).
    pub counters: BTreeMap<String, u64>,
    /// The `status` lines whose value is not a number (`vrrp.state master`), for `/metrics`;
    /// not in the JSON API.
    #[serde(skip)]
    pub states: BTreeMap<String, String>,
}

fn traffic(c: &lvs_core::stats::Counters, r: &lvs_core::stats::Rates) -> Traffic {
    Traffic {
        conns: c.conns,
        inpkts: c.inpkts,
        outpkts: c.outpkts,
        inbytes: c.inbytes,
        outbytes: c.outbytes,
        cps: r.cps,
        inpps: r.inpps,
        outpps: r.outpps,
        inbps: r.inbps,
        outbps: r.outbps,
    }
}

fn fwd_name(f: FwdMethod) -> &'static str {
    match f {
        FwdMethod::Masq => "masq",
        FwdMethod::DirectRoute => "route",
        FwdMethod::Tunnel => "tunnel",
    }
}

fn service_names(key: &ServiceKey) -> (String, &'static str, String, u16, u32) {
    match key {
        ServiceKey::Addr { proto, vip } => {
            let p = match proto {
                lvs_core::Protocol::Tcp => "tcp",
                lvs_core::Protocol::Udp => "udp",
                _ => "sctp",
            };
            let a = vip.addr.to_string();
            let shown = match vip.addr {
                lvs_core::IpAddr::V6(_) => format!("[{a}]:{}", vip.port),
                lvs_core::IpAddr::V4(_) => format!("{a}:{}", vip.port),
            };
            (format!("{} {shown}", p.to_uppercase()), p, a, vip.port, 0)
        }
        ServiceKey::Fwmark { mark, .. } => {
            (format!("FWM {mark}"), "fwmark", String::new(), 0, *mark)
        }
    }
}

impl Snapshot {
    /// Captures the daemon's state now.
    pub fn capture(d: &Daemon<'_>) -> Self {
        // every shard's, summed (crate::views)
        let view = d.view(crate::views::Ask::Rows, &ListOpts::default());
        let services = view
            .rows
            .into_iter()
            .map(|row| {
                let (name, protocol, address, port, fwmark) = service_names(&row.key);
                VirtualService {
                    name,
                    protocol,
                    address,
                    port,
                    fwmark,
                    scheduler: row.scheduler.to_string(),
                    traffic: traffic(&row.counters, &row.rates),
                    real_servers: row
                        .dests
                        .iter()
                        .map(|r| RealServer {
                            address: r.addr.addr.to_string(),
                            port: r.addr.port,
                            forward: fwd_name(r.fwd),
                            weight: r.weight,
                            active: r.active,
                            inactive: r.inactive,
                            persistent: r.persistent,
                            health: d.health.get(&(row.key, r.addr)).copied(),
                            traffic: traffic(&r.counters, &r.rates),
                        })
                        .collect(),
                }
            })
            .collect();
        let mut counters = BTreeMap::new();
        let mut states = BTreeMap::new();
        for l in d.status().lines() {
            let Some((k, v)) = l.split_once(' ') else {
                continue;
            };
            if let Ok(n) = v.parse::<u64>() {
                counters.insert(k.to_string(), n);
            } else {
                states.insert(k.to_string(), v.to_string());
            }
        }
        Snapshot {
            uptime_ms: d.now_ms(),
            sync_role: d.sync.as_ref().map_or("none", |l| match l.opts.mode {
                crate::config::SyncMode::Master => "master",
                crate::config::SyncMode::Backup => "backup",
                crate::config::SyncMode::Both => "master+backup",
            }),
            table_entries: view.table_len as u64,
            table_capacity: view.table_cap as u64,
            totals: traffic(&view.total, &view.total_rates),
            services,
            counters,
            states,
        }
    }
}

/// What the HTTP thread asks of the packet loop.
#[derive(Debug)]
pub enum Request {
    /// A fresh snapshot.
    Snapshot(Sender<Snapshot>),
    /// Run a control command (`lvsd ctl` syntax); the answer is (success, output).
    Command(String, Sender<(bool, String)>),
    /// A real server's health as its checks now say (from the health thread; no answer).
    Health(lvs_core::ServiceKey, lvs_core::Endpoint, bool),
}

/// The HTTP thread's end of the link.
#[derive(Debug)]
pub struct Client {
    tx: Sender<Request>,
    wake: UnixStream,
    timeout: Duration,
}

/// Why the packet loop did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopGone;

impl Client {
    /// Another end of the same link (for a second thread: the health checker).
    ///
    /// # Errors
    /// The wake-up socket cannot be cloned.
    pub fn try_clone(&self) -> std::io::Result<Client> {
        Ok(Client {
            tx: self.tx.clone(),
            wake: self.wake.try_clone()?,
            timeout: self.timeout,
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Request) -> Result<T, LoopGone> {
        let (tx, rx) = mpsc::channel();
        self.tx.send(make(tx)).map_err(|_| LoopGone)?;
        // a full wake-up socket already holds a byte: the loop wakes all the same
        let _ = (&self.wake).write(b"m");
        match rx.recv_timeout(self.timeout) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => Err(LoopGone),
        }
    }

    /// A snapshot captured by the loop now.
    ///
    /// # Errors
    /// The loop did not answer within the deadline.
    pub fn snapshot(&self) -> Result<Snapshot, LoopGone> {
        self.ask(Request::Snapshot)
    }

    /// Tells the loop a real server's health (for the status page, the JSON API and
    /// `/metrics`); nothing is answered.
    ///
    /// # Errors
    /// The loop is gone.
    pub fn health(
        &self,
        service: lvs_core::ServiceKey,
        server: lvs_core::Endpoint,
        up: bool,
    ) -> Result<(), LoopGone> {
        self.tx
            .send(Request::Health(service, server, up))
            .map_err(|_| LoopGone)?;
        let _ = (&self.wake).write(b"m");
        Ok(())
    }

    /// Runs a control command in the loop.
    ///
    /// # Errors
    /// The loop did not answer within the deadline.
    pub fn command(&self, line: &str) -> Result<(bool, String), LoopGone> {
        let line = line.to_string();
        self.ask(|tx| Request::Command(line, tx))
    }
}

/// A connected pair: the loop keeps the receiver, the HTTP thread the [`Client`].
///
/// # Errors
/// The wake-up socket cannot be cloned.
pub fn link(wake: &UnixStream) -> std::io::Result<(Client, Receiver<Request>)> {
    let (tx, rx) = mpsc::channel();
    let wake = wake.try_clone()?;
    wake.set_nonblocking(true)?;
    Ok((
        Client {
            tx,
            wake,
            timeout: Duration::from_secs(3),
        },
        rx,
    ))
}

impl Daemon<'_> {
    /// Answers every request waiting from the management plane.
    pub fn serve_mgmt(&mut self) {
        let Some(rx) = self.mgmt.take() else { return };
        while let Ok(r) = rx.try_recv() {
            match r {
                Request::Snapshot(tx) => {
                    let _ = tx.send(Snapshot::capture(self));
                }
                Request::Command(line, tx) => {
                    let r = self.control(&line);
                    if r.0 {
                        self.log(&format!("http: {line}"));
                    }
                    let _ = tx.send(r);
                }
                Request::Health(service, server, up) => {
                    self.health.insert((service, server), up);
                }
            }
        }
        self.mgmt = Some(rx);
    }
}
