//! `sched_trace`: a what-if tool for one service's scheduler.
//!
//! ```text
//! sched_trace [--seed N] SCENARIO.jsonl      (SCENARIO "-" reads standard input)
//! ```
//!
//! The scenario is JSON Lines, one operation per line (blank lines are skipped):
//!
//! - `{"op":"service","scheduler":"wlc","flags":["sh-port"],"mh_table_size":4093}`: first line;
//!   any of the 14 kernel names; `flags` (ipvsadm `-b` names) and `mh_table_size` optional.
//! - `{"op":"add","dest":"198.18.1.1:80","weight":4,"upper":0,"lower":0}`: a real server, at
//!   the head of the list (thresholds optional). Adding a removed server back revives it with
//!   its counters, as the kernel does from its trash (its `last_weight` becomes the new weight,
//!   even 0).
//! - `{"op":"edit","dest":"198.18.1.1:80","weight":0,"upper":0,"lower":0}`: like `ipvsadm -e`.
//! - `{"op":"del","dest":"198.18.1.1:80"}`
//! - `{"op":"connect","client":"198.19.0.7:40001","dst":"203.0.113.9:80"}`: schedules a new TCP
//!   connection (`dst` defaults to the service address 198.18.0.1:80); it counts as inactive
//!   (after its SYN) on the chosen server. Prints `<conn-id> <ip:port>` or `<conn-id> none`;
//!   ids count connects from 0.
//! - `{"op":"establish","conn":3}` (inactive to active), `{"op":"deactivate","conn":3}`
//!   (active to inactive), `{"op":"close","conn":3}` (gone, counters decremented).
//! - `{"op":"tick","ms":60000}`: time passes; the scheduler's periodic work runs at least
//!   every second of it.
//!
//! Thresholds set and clear the OVERLOAD flag as the kernel's `ip_vs_bind_dest`,
//! `ip_vs_unbind_dest` and `__ip_vs_update_dest` do. `--seed` seeds twos. A malformed or
//! impossible line stops the run with exit code 2 and `line N: <reason>` on standard error;
//! usage and I/O errors exit with 1.

use std::io::{self, Read, Write};

use lvs_core::dest::{DestConfig, DestFlags, MAX_WEIGHT};
use lvs_core::{
    Dest, DestId, DestSet, Duration, Endpoint, FlowKey, FwdMethod, Instant, Protocol, SchedRequest,
    Scheduler,
};
use lvs_sched::{AnyScheduler, SchedOptions};
use serde::Deserialize;

/// The service address used when a connect has no `dst`.
pub const DEFAULT_VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);

/// One scenario line.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Op {
    Service {
        scheduler: String,
        #[serde(default)]
        flags: Vec<String>,
        mh_table_size: Option<u32>,
    },
    Add {
        dest: String,
        weight: u32,
        #[serde(default)]
        upper: u32,
        #[serde(default)]
        lower: u32,
    },
    Edit {
        dest: String,
        weight: u32,
        #[serde(default)]
        upper: u32,
        #[serde(default)]
        lower: u32,
    },
    Del {
        dest: String,
    },
    Connect {
        client: String,
        dst: Option<String>,
    },
    Establish {
        conn: usize,
    },
    Deactivate {
        conn: usize,
    },
    Close {
        conn: usize,
    },
    Tick {
        ms: u64,
    },
}

/// Why a scenario stopped: the 1-based line number and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Line number, from 1.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    Inactive,
    Active,
    Closed,
}

/// One service, driven the way a director drives its scheduler.
struct Trace {
    sched: AnyScheduler<'static>,
    pool: Vec<Dest>,
    order: Vec<DestId>,
    conns: Vec<Option<(DestId, ConnState)>>,
    now: Instant,
}

fn endpoint(s: &str) -> Result<Endpoint, String> {
    s.parse().map_err(|e| format!("bad address {s:?}: {e}"))
}

fn config(dest: &str, weight: u32, upper: u32, lower: u32) -> Result<DestConfig, String> {
    if weight > MAX_WEIGHT {
        return Err(format!("weight {weight} out of range 0..={MAX_WEIGHT}"));
    }
    if lower > upper {
        // ip_vs_ctl.c: "lower threshold is higher than upper threshold"
        return Err(format!(
            "lower threshold {lower} is above upper threshold {upper}"
        ));
    }
    Ok(DestConfig::new(endpoint(dest)?, FwdMethod::Masq, weight).with_thresholds(upper, lower))
}

impl Trace {
    fn new(mut sched: AnyScheduler<'static>) -> Self {
        sched.init_service(&DestSet::new(&[], &[]));
        Trace {
            sched,
            pool: Vec::new(),
            order: Vec::new(),
            conns: Vec::new(),
            now: Instant::ZERO,
        }
    }

    fn find(&self, addr: Endpoint) -> Option<DestId> {
        self.pool
            .iter()
            .position(|d| d.addr == addr)
            .map(|i| DestId(i as u16))
    }

    fn listed(&self, dest: &str) -> Result<DestId, String> {
        let addr = endpoint(dest)?;
        self.find(addr)
            .filter(|id| self.order.contains(id))
            .ok_or_else(|| format!("no real server {addr}"))
    }

    fn add(&mut self, cfg: &DestConfig) -> Result<(), String> {
        let id = match self.find(cfg.addr) {
            Some(id) if self.order.contains(&id) => {
                return Err(format!("real server {} already exists", cfg.addr))
            }
            Some(id) => {
                // revived from the trash: counters kept, configuration applied, last_weight
                // reset to the new weight as the kernel's add path does
                self.pool[id.index()].revive(cfg);
                id
            }
            None => {
                let id = u16::try_from(self.pool.len())
                    .map_err(|_| "too many real servers".to_string())?;
                self.pool.push(Dest::new(cfg));
                DestId(id)
            }
        };
        self.order.insert(0, id);
        let set = DestSet::new(&self.pool, &self.order);
        self.sched.add_dest(&set, id);
        Ok(())
    }

    fn conn(&self, conn: usize) -> Result<(DestId, ConnState), String> {
        match self.conns.get(conn) {
            None => Err(format!("no connection {conn}")),
            Some(None) => Err(format!("connection {conn} has no real server")),
            Some(Some((_, ConnState::Closed))) => Err(format!("connection {conn} is closed")),
            Some(&Some(c)) => Ok(c),
        }
    }

    fn apply(&mut self, op: Op, out: &mut dyn Write) -> Result<(), String> {
        match op {
            Op::Service { .. } => return Err("the service is already defined".into()),
            Op::Add {
                dest,
                weight,
                upper,
                lower,
            } => self.add(&config(&dest, weight, upper, lower)?)?,
            Op::Edit {
                dest,
                weight,
                upper,
                lower,
            } => {
                let cfg = config(&dest, weight, upper, lower)?;
                let id = self.listed(&dest)?;
                self.pool[id.index()].apply_config(&cfg);
                let set = DestSet::new(&self.pool, &self.order);
                self.sched.upd_dest(&set, id);
            }
            Op::Del { dest } => {
                let id = self.listed(&dest)?;
                let pos = self.order.iter().position(|&d| d == id).unwrap_or(0);
                self.order.remove(pos);
                let set = DestSet::new(&self.pool, &self.order);
                self.sched.del_dest(&set, id, pos);
                self.pool[id.index()].set_flag(DestFlags::AVAILABLE, false);
            }
            Op::Connect { client, dst } => {
                let client = endpoint(&client)?;
                let dst = match dst {
                    Some(d) => endpoint(&d)?,
                    None => DEFAULT_VIP,
                };
                let req = SchedRequest {
                    flow: FlowKey::new(Protocol::Tcp, client, dst),
                    now: self.now,
                };
                let n = self.conns.len();
                let set = DestSet::new(&self.pool, &self.order);
                match self.sched.schedule(&set, &req) {
                    Some(id) => {
                        let d = &mut self.pool[id.index()];
                        d.inactive = d.inactive.saturating_add(1);
                        d.check_overload_on_bind();
                        let addr = d.addr;
                        let set = DestSet::new(&self.pool, &self.order);
                        self.sched.counts_changed(&set, id);
                        self.conns.push(Some((id, ConnState::Inactive)));
                        writeln!(out, "{n} {addr}").map_err(|e| e.to_string())?;
                    }
                    None => {
                        self.conns.push(None);
                        writeln!(out, "{n} none").map_err(|e| e.to_string())?;
                    }
                }
            }
            Op::Establish { conn } | Op::Deactivate { conn } => {
                let (id, state) = self.conn(conn)?;
                let to_active = matches!(op, Op::Establish { .. });
                let d = &mut self.pool[id.index()];
                match (state, to_active) {
                    (ConnState::Inactive, true) => {
                        d.inactive -= 1;
                        d.active += 1;
                    }
                    (ConnState::Active, false) => {
                        d.active -= 1;
                        d.inactive += 1;
                    }
                    (ConnState::Active, true) => {
                        return Err(format!("connection {conn} is already active"))
                    }
                    _ => return Err(format!("connection {conn} is not active")),
                }
                let new = if to_active {
                    ConnState::Active
                } else {
                    ConnState::Inactive
                };
                self.conns[conn] = Some((id, new));
                let set = DestSet::new(&self.pool, &self.order);
                self.sched.counts_changed(&set, id);
            }
            Op::Close { conn } => {
                let (id, state) = self.conn(conn)?;
                let d = &mut self.pool[id.index()];
                if state == ConnState::Active {
                    d.active -= 1;
                } else {
                    d.inactive -= 1;
                }
                d.check_overload_on_unbind();
                self.conns[conn] = Some((id, ConnState::Closed));
                let set = DestSet::new(&self.pool, &self.order);
                self.sched.counts_changed(&set, id);
            }
            Op::Tick { ms } => {
                let end = self.now + Duration::from_millis(ms);
                while self.now < end {
                    let step = end.saturating_since(self.now).total_millis().min(1000);
                    self.now += Duration::from_millis(step);
                    let set = DestSet::new(&self.pool, &self.order);
                    self.sched.tick(&set, self.now);
                }
            }
        }
        Ok(())
    }
}

fn service(op: Op, seed: u64) -> Result<AnyScheduler<'static>, String> {
    let Op::Service {
        scheduler,
        flags,
        mh_table_size,
    } = op
    else {
        return Err("the first operation must be \"service\"".into());
    };
    let mut opts = SchedOptions::default();
    opts.twos_seed = seed;
    if let Some(size) = mh_table_size {
        opts.mh_table_size = size;
    }
    for f in &flags {
        opts.flags
            .set_by_name(f)
            .map_err(|e| format!("flag {f:?}: {e}"))?;
    }
    AnyScheduler::from_name(&scheduler, &opts).map_err(|e| format!("scheduler {scheduler:?}: {e}"))
}

/// Runs a scenario, writing one line per connect to `out`.
///
/// # Errors
/// The first malformed or impossible line.
pub fn run(scenario: &str, seed: u64, out: &mut dyn Write) -> Result<(), LineError> {
    let mut trace: Option<Box<Trace>> = None;
    for (i, text) in scenario.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let fail = |reason: String| LineError {
            line: i + 1,
            reason,
        };
        let op: Op = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        match trace.as_mut() {
            None => trace = Some(Box::new(Trace::new(service(op, seed).map_err(fail)?))),
            Some(t) => t.apply(op, out).map_err(fail)?,
        }
    }
    Ok(())
}

#[allow(dead_code)] // unused when the integration tests include this file
fn main() {
    let usage = "usage: sched_trace [--seed N] SCENARIO.jsonl";
    let mut seed = 0u64;
    let mut path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => {
                    eprintln!("--seed needs a number\n{usage}");
                    std::process::exit(1);
                }
            },
            "-h" | "--help" => {
                println!("{usage}");
                return;
            }
            _ if path.is_none() => path = Some(a),
            _ => {
                eprintln!("{usage}");
                std::process::exit(1);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{usage}");
        std::process::exit(1);
    };
    let mut text = String::new();
    let read = if path == "-" {
        io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(&path).map(|t| text = t)
    };
    if let Err(e) = read {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = run(&text, seed, &mut out);
    let _ = out.flush();
    if let Err(e) = result {
        eprintln!("line {}: {}", e.line, e.reason);
        std::process::exit(2);
    }
}
