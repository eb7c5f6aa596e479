//! A deterministic discrete-event cluster simulator in virtual time.
//!
//! It drives the real `lvs_core::director::Director` with the real `lvs_sched` schedulers:
//! every request opens a TCP connection whose SYN, data and FIN segments pass through
//! `Director::handle_inbound`/`handle_outbound` (LVS-NAT, so replies pass the director too),
//! time advances through `Director::handle_timeout`, and feedback weights reach the schedulers
//! through `Director::edit_dest`. Nothing here schedules by itself: the only decision the
//! simulator takes is to obey the verdicts.
//!
//! Two experiments:
//! - [`run_memory_balance`]: Apache/Perl-CGI servers (prefork process pools, CGI children,
//!   processor sharing, swap slowdown) under virtual clients replaying agendas; wlc with and
//!   without feedback controllers (`lvs_sched::feedback`), and the p2c scheduler fed the same
//!   reports (`lvs_sched::p2c`); free memory per server over time.
//! - [`run_throughput`]: file downloads through a director whose link has a fixed bandwidth,
//!   max-min fair sharing between the link, the real servers and the clients; rr, wrr, lc and
//!   wlc on 2..8 servers; connections, output bytes and packets per second from the director's
//!   own counters.
//!
//! Same configuration and seed, same output, bit for bit: events are ordered by (time,
//! sequence number), the random numbers come from seeded SplitMix64 streams, and every client
//! has its own stream so all variants see the same clients (common random numbers).

#![allow(dead_code)]

use lvs_core::director::{Director, DirectorConfig, OwnedMemory, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::{
    DestConfig, DestId, DestSet, Endpoint, FlowKey, FwdMethod, Instant, Protocol, SchedRequest,
    Scheduler, ServiceConfig, ServiceId, ServiceKey, TcpFlags,
};
use lvs_sched::feedback::{
    Classic, ClassicConfig, FreeMemory, Headroom, HeadroomConfig, LoadReport, WeightController,
};
use lvs_sched::p2c::{InFlight, P2c, P2cConfig};
use lvs_sched::random::SplitMix64;
use lvs_sched::{Lc, Nq, Rr, Sed, Twos, Wlc, Wrr};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::{self, Write as _};
use std::rc::Rc;

/// Most real servers a run can have.
pub const MAX_SERVERS: usize = 64;
/// TCP payload per full segment.
const MSS: u64 = 1460;
/// IP + TCP header bytes per segment.
const HDR: u64 = 40;
const VIP: Endpoint = Endpoint::v4([198, 18, 0, 1], 80);
const FINACK: TcpFlags = TcpFlags(0x11);
const SYNACK: TcpFlags = TcpFlags(0x12);
const PSHACK: TcpFlags = TcpFlags(0x18);

// ----- randomness --------------------------------------------------------------------------------

/// A seeded random stream.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// The stream for `seed`, sub-stream `stream`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut m = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let s = m.next_u64();
        Rng(SplitMix64::new(s))
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform integer below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.0.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

// ----- schedulers ----------------------------------------------------------------------------------

/// The schedulers the simulator can put behind the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection.
    Wlc,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// The kernel's power of two choices on connection counts.
    Twos,
    /// Power of two choices on reported memory headroom (`lvs_sched::p2c`); the simulator
    /// hands it the load reports at the variant's interval.
    P2c,
}

impl SchedKind {
    /// Parses `rr`, `wrr`, `lc`, `wlc`, `sed`, `nq`, `twos`, `p2c`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rr" => SchedKind::Rr,
            "wrr" => SchedKind::Wrr,
            "lc" => SchedKind::Lc,
            "wlc" => SchedKind::Wlc,
            "sed" => SchedKind::Sed,
            "nq" => SchedKind::Nq,
            "twos" => SchedKind::Twos,
            "p2c" => SchedKind::P2c,
            _ => return None,
        })
    }
    /// The kernel name.
    pub fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Twos => "twos",
            SchedKind::P2c => "p2c",
        }
    }
    /// The scheduler, and for p2c the handle through which the simulator feeds it reports.
    fn build(self, seed: u64, p2c: P2cConfig) -> (SimSched, Option<P2cHandle>) {
        match self {
            SchedKind::Rr => (SimSched::Rr(Rr::new()), None),
            SchedKind::Wrr => (SimSched::Wrr(Wrr::new()), None),
            SchedKind::Lc => (SimSched::Lc(Lc::new()), None),
            SchedKind::Wlc => (SimSched::Wlc(Wlc::new()), None),
            SchedKind::Sed => (SimSched::Sed(Sed::new()), None),
            SchedKind::Nq => (SimSched::Nq(Nq::new()), None),
            SchedKind::Twos => {
                let rng = SplitMix64::new(seed ^ 0x0970_C0DE_0000_0001);
                (SimSched::Twos(Twos::new(rng)), None)
            }
            SchedKind::P2c => {
                let rng = SplitMix64::new(seed ^ 0x0970_C0DE_0000_0002);
                let h = Rc::new(RefCell::new(P2c::new(rng, p2c)));
                (SimSched::P2c(h.clone()), Some(h))
            }
        }
    }
}

/// The p2c scheduler, shared between the director (which schedules with it) and the
/// simulator's monitor (which hands it reports).
pub type P2cHandle = Rc<RefCell<P2c<SplitMix64, MAX_SERVERS>>>;

/// One type over the lvs-sched schedulers (pure delegation).
#[derive(Debug)]
pub enum SimSched {
    /// rr
    Rr(Rr),
    /// wrr
    Wrr(Wrr),
    /// lc
    Lc(Lc),
    /// wlc
    Wlc(Wlc),
    /// sed
    Sed(Sed),
    /// nq
    Nq(Nq),
    /// twos
    Twos(Twos<SplitMix64>),
    /// p2c on reported load
    P2c(P2cHandle),
}

macro_rules! each {
    ($s:expr, $x:ident => $e:expr) => {
        match $s {
            SimSched::Rr($x) => $e,
            SimSched::Wrr($x) => $e,
            SimSched::Lc($x) => $e,
            SimSched::Wlc($x) => $e,
            SimSched::Sed($x) => $e,
            SimSched::Nq($x) => $e,
            SimSched::Twos($x) => $e,
            SimSched::P2c(h) => {
                let $x = &mut *h.borrow_mut();
                $e
            }
        }
    };
}

impl Scheduler for SimSched {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }
    fn init_service(&mut self, d: &DestSet<'_>) {
        each!(self, s => s.init_service(d))
    }
    fn add_dest(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.add_dest(d, id))
    }
    fn del_dest(&mut self, d: &DestSet<'_>, id: DestId, pos: usize) {
        each!(self, s => s.del_dest(d, id, pos))
    }
    fn upd_dest(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.upd_dest(d, id))
    }
    fn counts_changed(&mut self, d: &DestSet<'_>, id: DestId) {
        each!(self, s => s.counts_changed(d, id))
    }
    fn schedule(&mut self, d: &DestSet<'_>, r: &SchedRequest) -> Option<DestId> {
        each!(self, s => s.schedule(d, r))
    }
    fn tick(&mut self, d: &DestSet<'_>, now: Instant) {
        each!(self, s => s.tick(d, now))
    }
}

// ----- errors ----------------------------------------------------------------------------------------

/// Why a run could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    /// A configuration value is out of range.
    BadConfig(String),
    /// The director refused its configuration.
    Director(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::BadConfig(s) => write!(f, "bad configuration: {s}"),
            SimError::Director(s) => write!(f, "director: {s}"),
        }
    }
}

impl std::error::Error for SimError {}

fn derr(e: impl fmt::Display) -> SimError {
    SimError::Director(e.to_string())
}

// ----- the director ---------------------------------------------------------------------------------

fn rs_addr(i: usize) -> Endpoint {
    Endpoint::v4([10, 0, (i / 250) as u8, (i % 250 + 1) as u8], 80)
}

fn client_ep(n: u32, port: u16) -> Endpoint {
    Endpoint::v4([198, 19, (n / 250) as u8, (n % 250 + 1) as u8], port)
}

fn t_ms(us: u64) -> Instant {
    Instant::from_millis(us / 1000)
}

/// A NAT virtual service with `weights.len()` real servers.
fn setup<'a>(
    mem: &'a mut OwnedMemory<SimSched>,
    seed: u64,
    sched: SimSched,
    weights: &[u32],
) -> Result<(Director<'a, SimSched>, ServiceId, Vec<usize>), SimError> {
    let key = SipKey(seed ^ 0x5151, seed.rotate_left(17) ^ 0xA5A5);
    let mut dir =
        Director::new(DirectorConfig::new(key), mem.borrow(), Instant::ZERO).map_err(derr)?;
    let svc = dir
        .add_service(
            ServiceConfig::new(ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip: VIP,
            }),
            sched,
        )
        .map_err(derr)?;
    // DestId -> server index
    let mut by_id = vec![usize::MAX; weights.len() + 1];
    for (i, &w) in weights.iter().enumerate() {
        let id = dir
            .add_dest(svc, DestConfig::new(rs_addr(i), FwdMethod::Masq, w))
            .map_err(derr)?;
        if by_id.len() <= id.index() {
            by_id.resize(id.index() + 1, usize::MAX);
        }
        by_id[id.index()] = i;
    }
    Ok((dir, svc, by_id))
}

fn set_weight(dir: &mut Director<'_, SimSched>, svc: ServiceId, i: usize, w: u32) {
    // the destination exists and the weight is in range: a refusal would be a simulator bug
    dir.edit_dest(svc, DestConfig::new(rs_addr(i), FwdMethod::Masq, w))
        .expect("edit_dest on a configured server");
}

fn expire(dir: &mut Director<'_, SimSched>, now_us: u64) {
    let now = t_ms(now_us);
    while dir.poll_timeout().is_some_and(|t| t <= now) {
        let budget = dir.config().expire_budget as usize;
        let n = dir.handle_timeout(now);
        if n < budget {
            break;
        }
    }
}

fn syn(dir: &mut Director<'_, SimSched>, now_us: u64, client: Endpoint) -> Option<DestId> {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, client, VIP), TcpFlags::SYN, 60);
    match dir.handle_inbound(t_ms(now_us), &p) {
        Verdict::Forward(f) => Some(f.dest),
        _ => None,
    }
}

fn inbound(
    dir: &mut Director<'_, SimSched>,
    now_us: u64,
    client: Endpoint,
    flags: TcpFlags,
    len: u32,
) {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, client, VIP), flags, len);
    let _ = dir.handle_inbound(t_ms(now_us), &p);
}

fn outbound(
    dir: &mut Director<'_, SimSched>,
    now_us: u64,
    rs: Endpoint,
    client: Endpoint,
    flags: TcpFlags,
    len: u32,
) {
    let p = PacketMeta::new(FlowKey::new(Protocol::Tcp, rs, client), flags, len);
    let _ = dir.handle_outbound(t_ms(now_us), &p);
}

/// Data segments of `bytes` of payload as IP lengths: full segments and the remainder.
fn segments(bytes: u64) -> (u64, u64) {
    (bytes / MSS, bytes % MSS)
}

// ----- events -------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Queue<E: Ord> {
    heap: BinaryHeap<Reverse<(u64, u64, E)>>,
    seq: u64,
}

impl<E: Ord> Queue<E> {
    fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
    fn push(&mut self, at_us: u64, e: E) {
        self.seq += 1;
        self.heap.push(Reverse((at_us, self.seq, e)));
    }
    fn pop(&mut self) -> Option<(u64, E)> {
        self.heap.pop().map(|Reverse((t, _, e))| (t, e))
    }
}

// ===== memory balance ==================================================================================

/// A request class of the memory-balance workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReqClass {
    /// Name.
    pub name: &'static str,
    /// Response bytes.
    pub resp_bytes: u64,
    /// Request bytes (the POST body, headers).
    pub req_bytes: u64,
    /// Mean CPU time at full speed, ms (exponentially distributed).
    pub cpu_ms: f64,
    /// Spawns a CGI child for its CPU phase.
    pub cgi: bool,
}

/// The classes: HTML page, GIF image, CGI bulletin-board read, CGI form POST.
pub const CLASSES: [ReqClass; 4] = [
    ReqClass {
        name: "html",
        resp_bytes: 8 * 1024,
        req_bytes: 300,
        cpu_ms: 3.0,
        cgi: false,
    },
    ReqClass {
        name: "gif",
        resp_bytes: 5 * 1024,
        req_bytes: 300,
        cpu_ms: 1.0,
        cgi: false,
    },
    ReqClass {
        name: "board",
        resp_bytes: 16 * 1024,
        req_bytes: 400,
        cpu_ms: 25.0,
        cgi: true,
    },
    ReqClass {
        name: "post",
        resp_bytes: 2 * 1024,
        req_bytes: 2 * 1024,
        cpu_ms: 35.0,
        cgi: true,
    },
];

/// A feedback controller choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ControllerKind {
    /// No feedback: weights stay 1.
    None,
    /// Published alternative 1.
    Alt1,
    /// Published alternative 2 with damping `k`.
    Alt2(u32),
    /// The LVS project's dynamic feedback (defaults of `ClassicConfig`).
    Classic,
    /// lvs-sched's headroom controller (defaults of `HeadroomConfig`).
    Headroom,
}

/// A scheduler with a controller and its report interval: one row group of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Label in the table (`wlc+alt2@60s`).
    pub label: String,
    /// Scheduler.
    pub sched: SchedKind,
    /// Controller.
    pub controller: ControllerKind,
    /// Report interval, seconds.
    pub interval_s: f64,
    /// p2c only: overrides of the configured cost per connection (KiB) and window (ms, 0 for
    /// the since-the-report count).
    pub p2c_override: (Option<u32>, Option<u32>),
}

impl Variant {
    /// Parses `SCHED[+CTRL][@SECONDS]`, CTRL one of alt1, alt2, lvs-dfb, headroom;
    /// `k` is alternative 2's damping, `default_s` the interval when none is given. For `p2c`
    /// the interval is how often the scheduler gets reports, and `p2c:COST` or
    /// `p2c:COST:WINDOW` override the configured cost per connection (KiB) and window (ms; 0
    /// counts the connections scheduled since the report instead).
    pub fn parse(s: &str, k: u32, default_s: f64) -> Option<Variant> {
        let (body, interval_s) = match s.split_once('@') {
            Some((b, i)) => (b, i.trim_end_matches('s').parse::<f64>().ok()?),
            None => (s, default_s),
        };
        if !(interval_s.is_finite() && interval_s >= 0.1) {
            return None;
        }
        let (sched, ctrl) = match body.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (body, None),
        };
        let (sched, p2c_override) = match sched.split_once(':') {
            Some(("p2c", o)) => {
                let (c, w) = match o.split_once(':') {
                    Some((c, w)) => (c.parse().ok()?, Some(w.parse().ok()?)),
                    None => (o.parse().ok()?, None),
                };
                (SchedKind::P2c, (Some(c), w))
            }
            Some(_) => return None,
            None => (SchedKind::parse(sched)?, (None, None)),
        };
        let controller = match ctrl {
            None => ControllerKind::None,
            Some("alt1") => ControllerKind::Alt1,
            Some("alt2") => ControllerKind::Alt2(k),
            Some("lvs-dfb") => ControllerKind::Classic,
            Some("headroom") => ControllerKind::Headroom,
            Some(_) => return None,
        };
        let label = match ctrl {
            None if sched == SchedKind::P2c => {
                let mut l = String::from("p2c");
                for o in [p2c_override.0, p2c_override.1].into_iter().flatten() {
                    let _ = write!(l, ":{o}");
                }
                format!("{l}@{interval_s}s")
            }
            None => sched.name().to_string(),
            Some(c) => format!("{}+{}@{}s", sched.name(), c, interval_s),
        };
        Some(Variant {
            label,
            sched,
            controller,
            interval_s,
            p2c_override,
        })
    }

    /// The p2c settings this variant runs with.
    fn p2c_config(&self, cfg: &MemoryConfig) -> P2cConfig {
        let mut c = cfg.p2c;
        if let Some(cost) = self.p2c_override.0 {
            c.conn_cost_kb = cost;
        }
        match self.p2c_override.1 {
            Some(0) => c.in_flight = InFlight::Scheduled,
            Some(w) => c.in_flight = InFlight::Window { window_ms: w },
            None => {}
        }
        c
    }

    fn build(&self, cfg: &MemoryConfig) -> Option<Box<dyn WeightController>> {
        let c = cfg.mem_per_conn_kb;
        Some(match self.controller {
            ControllerKind::None => return None,
            ControllerKind::Alt1 => Box::new(FreeMemory::alternative1(c)),
            ControllerKind::Alt2(k) => Box::new(FreeMemory::alternative2(c, k)),
            ControllerKind::Classic => Box::new(Classic::<MAX_SERVERS>::new(cfg.classic)),
            ControllerKind::Headroom => Box::new(Headroom::<MAX_SERVERS>::new(HeadroomConfig {
                mem_per_conn_kb: c,
                ..cfg.headroom
            })),
        })
    }
}

/// The memory-balance experiment's parameters (defaults: the published workload and the model
/// documented in docs/simulation.md).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Seed.
    pub seed: u64,
    /// Physical memory of each server, MB (one entry per server).
    pub mem_mb: Vec<f64>,
    /// CPU speed of each server relative to the reference (1.0), one entry per server.
    pub cpu_speed: Vec<f64>,
    /// Memory in use without any httpd process (kernel, daemons, cache floor), MB.
    pub base_mb: f64,
    /// Free memory the kernel keeps before it swaps (watermark), MB.
    pub min_free_mb: f64,
    /// Resident memory of one httpd process, MB.
    pub httpd_mb: f64,
    /// Memory of one CGI child, MB.
    pub cgi_mb: f64,
    /// CPU slowdown per unit of swapped-out fraction of memory.
    pub swap_slowdown: f64,
    /// Apache prefork: StartServers, MinSpareServers, MaxSpareServers, MaxClients.
    pub apache: [u32; 4],
    /// Virtual clients created per batch.
    pub clients_per_batch: u32,
    /// Seconds between batches.
    pub batch_interval_s: f64,
    /// Seconds during which batches are created.
    pub duration_s: f64,
    /// HTML page visits (each followed by `gifs_per_page` images), board reads and posts per
    /// agenda.
    pub agenda: [u32; 3],
    /// Images per page.
    pub gifs_per_page: u32,
    /// Mean think time between page views, s.
    pub think_s: f64,
    /// Client round-trip time, ms.
    pub rtt_ms: f64,
    /// Client bandwidth, kbit/s.
    pub client_kbps: f64,
    /// Mean memory per connection the published controllers assume, KiB.
    pub mem_per_conn_kb: u32,
    /// The variants to compare.
    pub variants: Vec<Variant>,
    /// Sampling period of the free-memory series, s.
    pub sample_s: f64,
    /// Settings of the LVS dynamic feedback controller.
    pub classic: ClassicConfig,
    /// Settings of the headroom controller (its memory per connection is `mem_per_conn_kb`).
    pub headroom: HeadroomConfig,
    /// Settings of the p2c scheduler.
    pub p2c: P2cConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        let k = 100;
        MemoryConfig {
            seed: 1,
            mem_mb: vec![128.0; 2],
            cpu_speed: vec![1.0; 2],
            base_mb: 32.0,
            min_free_mb: 2.0,
            httpd_mb: 3.6,
            cgi_mb: 1.7,
            swap_slowdown: 20.0,
            apache: [5, 5, 10, 150],
            clients_per_batch: 100,
            batch_interval_s: 30.0,
            duration_s: 900.0,
            agenda: [8, 4, 4],
            gifs_per_page: 3,
            think_s: 7.0,
            rtt_ms: 80.0,
            client_kbps: 1000.0,
            mem_per_conn_kb: 3500,
            variants: [
                "wlc",
                "rr",
                "wlc+alt1@60",
                "wlc+alt2@60",
                "wlc+lvs-dfb@5",
                "wlc+alt2@2",
                "wlc+headroom@2",
                "twos",
                "p2c:3500:0@1",
                "p2c@1",
            ]
            .iter()
            .filter_map(|s| Variant::parse(s, k, 60.0))
            .collect(),
            sample_s: 1.0,
            classic: ClassicConfig::DEFAULT,
            headroom: HeadroomConfig::DEFAULT,
            p2c: P2cConfig::DEFAULT,
        }
    }
}

/// Per-variant result of the memory-balance experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRun {
    /// The variant.
    pub label: String,
    /// Average free memory per server over the run, MB.
    pub avg_free_mb: Vec<f64>,
    /// Mean absolute free-memory difference between servers (mean over pairs), MB.
    pub mean_abs_diff_mb: f64,
    /// Requests completed.
    pub requests: u64,
    /// Mean request latency (SYN to last byte), ms.
    pub mean_latency_ms: f64,
    /// Largest swapped-out memory seen on any server, MB.
    pub max_swapped_mb: f64,
    /// Sample times, s.
    pub times: Vec<f64>,
    /// Free memory per server per sample, MB (`free[server][sample]`).
    pub free: Vec<Vec<f64>>,
}

/// The memory-balance experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryResult {
    /// One entry per variant, in order.
    pub runs: Vec<MemoryRun>,
}

impl MemoryResult {
    /// CSV with the header `scheduler,server,avg_free_mb,mean_abs_diff_mb`.
    pub fn csv(&self) -> String {
        let mut s = String::from("scheduler,server,avg_free_mb,mean_abs_diff_mb\n");
        for r in &self.runs {
            for (i, f) in r.avg_free_mb.iter().enumerate() {
                let _ = writeln!(s, "{},{},{:.3},{:.3}", r.label, i, f, r.mean_abs_diff_mb);
            }
        }
        s
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let base = self.runs.first().map(|r| r.mean_abs_diff_mb).unwrap_or(0.0);
        let _ = writeln!(
            s,
            "{:<22} {:>28} {:>10} {:>8} {:>9} {:>9} {:>9}",
            "scheduler",
            "avg free MB per server",
            "|diff| MB",
            "vs first",
            "requests",
            "lat ms",
            "swap MB"
        );
        for r in &self.runs {
            let frees: Vec<String> = r.avg_free_mb.iter().map(|f| format!("{f:.1}")).collect();
            let _ = writeln!(
                s,
                "{:<22} {:>28} {:>10.2} {:>7.2}x {:>9} {:>9.0} {:>9.1}",
                r.label,
                frees.join(" / "),
                r.mean_abs_diff_mb,
                if r.mean_abs_diff_mb > 0.0 {
                    base / r.mean_abs_diff_mb
                } else {
                    f64::INFINITY
                },
                r.requests,
                r.mean_latency_ms,
                r.max_swapped_mb
            );
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MemEv {
    ClientStart(u32),
    ClientNext(u32),
    Arrive(u32),
    CpuDone(u16, u64),
    XferDone(u32),
    Maintain(u16),
    Report,
    Sample,
    Expire,
}

#[derive(Debug)]
struct Client {
    rng: Rng,
    agenda: Vec<u8>,
    /// Think before request i (0: follows at once).
    think: Vec<f64>,
    pos: usize,
}

#[derive(Debug, Clone, Copy)]
struct Req {
    client: u32,
    port: u16,
    class: u8,
    server: u16,
    work_us: f64,
    start_us: u64,
}

#[derive(Debug, Default)]
struct Httpd {
    total_mb: f64,
    speed: f64,
    pool: u32,
    busy: u32,
    cgi: u32,
    backlog: VecDeque<u32>,
    jobs: Vec<(u32, f64)>,
    last_us: u64,
    gen: u64,
    spawn_rate: u32,
    busy_us: u64,
    report_from_us: u64,
    max_swapped: f64,
}

struct MemSim<'c> {
    cfg: &'c MemoryConfig,
    q: Queue<MemEv>,
    clients: Vec<Client>,
    reqs: Vec<Req>,
    free_reqs: Vec<u32>,
    srv: Vec<Httpd>,
    requests: u64,
    latency_sum_us: u64,
    live_clients: u32,
}

impl Httpd {
    fn used_mb(&self, c: &MemoryConfig) -> f64 {
        c.base_mb + c.httpd_mb * self.pool as f64 + c.cgi_mb * self.cgi as f64
    }
    fn swapped_mb(&self, c: &MemoryConfig) -> f64 {
        (self.used_mb(c) - (self.total_mb - c.min_free_mb)).max(0.0)
    }
    fn free_mb(&self, c: &MemoryConfig) -> f64 {
        (self.total_mb - self.used_mb(c)).max(c.min_free_mb.min(self.total_mb))
    }
    /// Memory the running processes touch: the base, busy httpd processes and CGI children
    /// (idle processes are the kernel's first victims and cost nothing when swapped out).
    fn working_set_mb(&self, c: &MemoryConfig) -> f64 {
        c.base_mb + c.httpd_mb * self.busy as f64 + c.cgi_mb * self.cgi as f64
    }
    /// Working set that does not fit: every CPU step of a running process waits for page-ins.
    fn thrash_mb(&self, c: &MemoryConfig) -> f64 {
        (self.working_set_mb(c) - (self.total_mb - c.min_free_mb)).max(0.0)
    }
    /// CPU progress per µs of a lone job.
    fn rate(&self, c: &MemoryConfig) -> f64 {
        self.speed / (1.0 + c.swap_slowdown * self.thrash_mb(c) / self.total_mb)
    }
    fn advance(&mut self, c: &MemoryConfig, now: u64) {
        let dt = now.saturating_sub(self.last_us);
        if dt > 0 && !self.jobs.is_empty() {
            let per = dt as f64 * self.rate(c) / self.jobs.len() as f64;
            for j in &mut self.jobs {
                j.1 -= per;
            }
            self.busy_us += dt;
        }
        self.last_us = now;
    }
}

impl<'c> MemSim<'c> {
    fn reschedule(&mut self, s: usize, now: u64) {
        let h = &mut self.srv[s];
        h.gen += 1;
        if let Some(min) = h.jobs.iter().map(|j| j.1).min_by(|a, b| a.total_cmp(b)) {
            let dt = (min.max(0.0) * h.jobs.len() as f64 / h.rate(self.cfg)).ceil() as u64;
            let g = h.gen;
            self.q.push(now + dt, MemEv::CpuDone(s as u16, g));
        }
    }

    fn start(&mut self, s: usize, r: u32) {
        let class = CLASSES[self.reqs[r as usize].class as usize];
        let work = self.reqs[r as usize].work_us;
        let h = &mut self.srv[s];
        h.busy += 1;
        if class.cgi {
            h.cgi += 1;
        }
        h.jobs.push((r, work));
    }

    fn new_req(&mut self, rq: Req) -> u32 {
        if let Some(i) = self.free_reqs.pop() {
            self.reqs[i as usize] = rq;
            i
        } else {
            self.reqs.push(rq);
            (self.reqs.len() - 1) as u32
        }
    }

    fn issue(&mut self, dir: &mut Director<'_, SimSched>, now: u64, c: u32) {
        let cl = &mut self.clients[c as usize];
        let Some(&class) = cl.agenda.get(cl.pos) else {
            self.live_clients -= 1;
            return;
        };
        let port = 1024 + cl.pos as u16;
        let k = CLASSES[class as usize];
        let work_us = cl.rng.exp(k.cpu_ms * 1000.0);
        let ep = client_ep(c, port);
        match syn(dir, now, ep) {
            Some(d) => {
                let server = self.by_id(d);
                let r = self.new_req(Req {
                    client: c,
                    port,
                    class,
                    server: server as u16,
                    work_us,
                    start_us: now,
                });
                let rtt = (self.cfg.rtt_ms * 1000.0) as u64;
                self.q.push(now + rtt, MemEv::Arrive(r));
            }
            None => {
                // refused: the client moves on after its think time
                self.next_of(now, c);
            }
        }
    }

    fn by_id(&self, d: DestId) -> usize {
        // rs index is the DestId order in which setup() added servers
        d.index()
    }

    fn next_of(&mut self, now: u64, c: u32) {
        let cl = &mut self.clients[c as usize];
        cl.pos += 1;
        if cl.pos >= cl.agenda.len() {
            self.live_clients -= 1;
            return;
        }
        let think = (cl.think[cl.pos] * 1e6) as u64;
        self.q.push(now + think, MemEv::ClientNext(c));
    }

    fn report(&mut self, now: u64, s: usize, active: u32) -> LoadReport {
        let c = self.cfg;
        let h = &mut self.srv[s];
        let span = now.saturating_sub(h.report_from_us).max(1);
        let idle = 1000u64.saturating_sub(h.busy_us * 1000 / span) as u16;
        h.busy_us = 0;
        h.report_from_us = now;
        let rate = h.rate(c) / h.speed;
        let run = h.jobs.len() as u32;
        let blocked = (run as f64 * (1.0 - rate)).round() as u32;
        let swapped = (h.swapped_mb(c) / c.httpd_mb).ceil() as u32;
        LoadReport::new((h.free_mb(c) * 1024.0) as u64, (h.total_mb * 1024.0) as u64)
            .with_cpu_idle(idle)
            .with_procs(run - blocked.min(run), blocked, swapped)
            .with_conns(active)
    }
}

fn build_clients(cfg: &MemoryConfig) -> (Vec<Client>, Vec<u64>) {
    let batches = (cfg.duration_s / cfg.batch_interval_s).ceil().max(1.0) as u32;
    let n = batches * cfg.clients_per_batch;
    let mut clients = Vec::with_capacity(n as usize);
    let mut starts = Vec::with_capacity(n as usize);
    let [pages, reads, posts] = cfg.agenda;
    for i in 0..n {
        let mut rng = Rng::new(cfg.seed, 1000 + i as u64);
        let b = i / cfg.clients_per_batch.max(1);
        let start = (b as f64 + rng.unit()) * cfg.batch_interval_s;
        // page views in random order; each page is followed at once by its images
        let mut views: Vec<u8> = std::iter::repeat_n(0u8, pages as usize)
            .chain(std::iter::repeat_n(2u8, reads as usize))
            .chain(std::iter::repeat_n(3u8, posts as usize))
            .collect();
        for j in (1..views.len()).rev() {
            let k = rng.below(j as u64 + 1) as usize;
            views.swap(j, k);
        }
        let mut agenda = Vec::new();
        let mut think = Vec::new();
        for (vi, &v) in views.iter().enumerate() {
            agenda.push(v);
            think.push(if vi == 0 { 0.0 } else { rng.exp(cfg.think_s) });
            if v == 0 {
                for _ in 0..cfg.gifs_per_page {
                    agenda.push(1);
                    think.push(0.0);
                }
            }
        }
        clients.push(Client {
            rng,
            agenda,
            think,
            pos: 0,
        });
        starts.push((start * 1e6) as u64);
    }
    (clients, starts)
}

/// Runs every variant of the memory-balance experiment.
///
/// # Errors
/// [`SimError::BadConfig`] for inconsistent parameters, [`SimError::Director`] if the director
/// refuses its setup.
pub fn run_memory_balance(cfg: &MemoryConfig) -> Result<MemoryResult, SimError> {
    let n = cfg.mem_mb.len();
    if !(2..=MAX_SERVERS).contains(&n) || cfg.cpu_speed.len() != n {
        return Err(SimError::BadConfig(format!(
            "need 2..={MAX_SERVERS} servers with one memory size and one CPU speed each"
        )));
    }
    if cfg.clients_per_batch == 0 || cfg.batch_interval_s <= 0.0 || cfg.duration_s <= 0.0 {
        return Err(SimError::BadConfig("empty workload".into()));
    }
    if cfg.variants.is_empty() {
        return Err(SimError::BadConfig("no scheduler to compare".into()));
    }
    let mut runs = Vec::new();
    for v in &cfg.variants {
        runs.push(run_memory_variant(cfg, v)?);
    }
    Ok(MemoryResult { runs })
}

fn run_memory_variant(cfg: &MemoryConfig, v: &Variant) -> Result<MemoryRun, SimError> {
    let n = cfg.mem_mb.len();
    let mut mem = OwnedMemory::<SimSched>::new(1 << 16, 1, n);
    let mut weights = vec![1u32; n];
    let (built, p2c) = v.sched.build(cfg.seed, v.p2c_config(cfg));
    let (mut dir, svc, by_id) = setup(&mut mem, cfg.seed, built, &weights)?;
    debug_assert!(by_id.iter().take(n).enumerate().all(|(i, &s)| s == i));
    let mut ctrl = v.build(cfg);
    let (clients, starts) = build_clients(cfg);
    let [start_servers, _, _, _] = cfg.apache;
    let mut sim = MemSim {
        cfg,
        q: Queue::new(),
        live_clients: clients.len() as u32,
        clients,
        reqs: Vec::new(),
        free_reqs: Vec::new(),
        srv: (0..n)
            .map(|i| Httpd {
                total_mb: cfg.mem_mb[i],
                speed: cfg.cpu_speed[i].max(1e-3),
                pool: start_servers,
                spawn_rate: 1,
                ..Httpd::default()
            })
            .collect(),
        requests: 0,
        latency_sum_us: 0,
    };
    for (i, &t) in starts.iter().enumerate() {
        sim.q.push(t, MemEv::ClientStart(i as u32));
    }
    for s in 0..n {
        // Apache's maintenance runs once a second; stagger the servers a little
        sim.q
            .push(1_000_000 + s as u64 * 1000, MemEv::Maintain(s as u16));
    }
    let report_us = (v.interval_s * 1e6) as u64;
    if ctrl.is_some() || p2c.is_some() {
        sim.q.push(report_us, MemEv::Report);
    }
    let sample_us = (cfg.sample_s.max(0.01) * 1e6) as u64;
    sim.q.push(0, MemEv::Sample);
    sim.q.push(1_000_000, MemEv::Expire);
    let hard_end = ((cfg.duration_s + cfg.batch_interval_s + 3600.0) * 1e6) as u64;
    let mut times = Vec::new();
    let mut free: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut last_t = 0;
    while let Some((now, ev)) = sim.q.pop() {
        if now > hard_end || (sim.live_clients == 0 && now > last_t) {
            break;
        }
        match ev {
            MemEv::ClientStart(c) | MemEv::ClientNext(c) => sim.issue(&mut dir, now, c),
            MemEv::Arrive(r) => {
                let rq = sim.reqs[r as usize];
                let s = rq.server as usize;
                let ep = client_ep(rq.client, rq.port);
                let rs = rs_addr(s);
                outbound(&mut dir, now, rs, ep, SYNACK, 60);
                let k = CLASSES[rq.class as usize];
                inbound(&mut dir, now, ep, PSHACK, (k.req_bytes + HDR) as u32);
                sim.srv[s].advance(cfg, now);
                if sim.srv[s].pool > sim.srv[s].busy {
                    sim.start(s, r);
                    sim.reschedule(s, now);
                } else {
                    sim.srv[s].backlog.push_back(r);
                }
            }
            MemEv::CpuDone(s16, g) => {
                let s = s16 as usize;
                if sim.srv[s].gen != g {
                    continue;
                }
                sim.srv[s].advance(cfg, now);
                let mut done = Vec::new();
                sim.srv[s].jobs.retain(|&(r, rem)| {
                    if rem <= 1e-6 {
                        done.push(r);
                        false
                    } else {
                        true
                    }
                });
                for r in done {
                    let rq = sim.reqs[r as usize];
                    let k = CLASSES[rq.class as usize];
                    if k.cgi {
                        sim.srv[s].cgi -= 1;
                    }
                    // response to the client at its bandwidth, plus half a round trip
                    let xfer = k.resp_bytes as f64 * 8.0 / (cfg.client_kbps * 1000.0) * 1e6
                        + cfg.rtt_ms * 500.0;
                    sim.q.push(now + xfer as u64, MemEv::XferDone(r));
                }
                sim.reschedule(s, now);
            }
            MemEv::XferDone(r) => {
                let rq = sim.reqs[r as usize];
                let s = rq.server as usize;
                let ep = client_ep(rq.client, rq.port);
                let rs = rs_addr(s);
                let k = CLASSES[rq.class as usize];
                let (full, rest) = segments(k.resp_bytes);
                for _ in 0..full {
                    outbound(&mut dir, now, rs, ep, TcpFlags::ACK, (MSS + HDR) as u32);
                }
                if rest > 0 {
                    outbound(&mut dir, now, rs, ep, PSHACK, (rest + HDR) as u32);
                }
                inbound(&mut dir, now, ep, TcpFlags::ACK, 40);
                // Apache closes; the client answers with its own FIN; the server ACKs it
                outbound(&mut dir, now, rs, ep, FINACK, 40);
                inbound(&mut dir, now, ep, FINACK, 40);
                outbound(&mut dir, now, rs, ep, TcpFlags::ACK, 40);
                sim.requests += 1;
                sim.latency_sum_us += now - rq.start_us;
                sim.free_reqs.push(r);
                sim.srv[s].advance(cfg, now);
                sim.srv[s].busy -= 1;
                if let Some(next) = sim.srv[s].backlog.pop_front() {
                    sim.start(s, next);
                }
                sim.reschedule(s, now);
                sim.next_of(now, rq.client);
            }
            MemEv::Maintain(s16) => {
                let s = s16 as usize;
                let [_, min_spare, max_spare, max_clients] = cfg.apache;
                sim.srv[s].advance(cfg, now);
                let h = &mut sim.srv[s];
                let idle = h.pool - h.busy;
                if idle > max_spare {
                    h.pool -= 1;
                    h.spawn_rate = 1;
                } else if idle < min_spare {
                    let room = max_clients.saturating_sub(h.pool);
                    h.pool += h.spawn_rate.min(room);
                    h.spawn_rate = (h.spawn_rate * 2).min(32);
                } else {
                    h.spawn_rate = 1;
                }
                while sim.srv[s].pool > sim.srv[s].busy {
                    let Some(r) = sim.srv[s].backlog.pop_front() else {
                        break;
                    };
                    sim.start(s, r);
                }
                let sw = sim.srv[s].swapped_mb(cfg);
                sim.srv[s].max_swapped = sim.srv[s].max_swapped.max(sw);
                sim.reschedule(s, now);
                sim.q.push(now + 1_000_000, MemEv::Maintain(s16));
            }
            MemEv::Report => {
                let mut reports = Vec::with_capacity(n);
                for s in 0..n {
                    sim.srv[s].advance(cfg, now);
                    let active = dir.dest(DestId(s as u16)).map(|d| d.active).unwrap_or(0);
                    reports.push(sim.report(now, s, active));
                }
                if let Some(h) = &p2c {
                    // n <= MAX_SERVERS was checked: the reports always fit
                    let _ = h.borrow_mut().set_reports(&reports);
                }
                if let Some(c) = ctrl.as_mut() {
                    let old = weights.clone();
                    if c.update(&reports, &mut weights).is_ok() {
                        for s in 0..n {
                            if weights[s] != old[s] {
                                set_weight(&mut dir, svc, s, weights[s]);
                            }
                        }
                    } else {
                        weights = old;
                    }
                }
                sim.q.push(now + report_us, MemEv::Report);
            }
            MemEv::Sample => {
                times.push(now as f64 / 1e6);
                for (f, h) in free.iter_mut().zip(&sim.srv) {
                    f.push(h.free_mb(cfg));
                }
                sim.q.push(now + sample_us, MemEv::Sample);
            }
            MemEv::Expire => {
                expire(&mut dir, now);
                sim.q.push(now + 1_000_000, MemEv::Expire);
            }
        }
        last_t = now;
    }
    let samples = times.len().max(1) as f64;
    let avg_free_mb = free
        .iter()
        .map(|f| f.iter().sum::<f64>() / samples)
        .collect();
    let mut diff = 0.0;
    let pairs = (n * (n - 1) / 2) as f64;
    for (i, fi) in free.iter().enumerate() {
        for fj in &free[i + 1..] {
            diff += fi.iter().zip(fj).map(|(a, b)| (a - b).abs()).sum::<f64>();
        }
    }
    Ok(MemoryRun {
        label: v.label.clone(),
        avg_free_mb,
        mean_abs_diff_mb: diff / pairs / samples,
        requests: sim.requests,
        mean_latency_ms: sim.latency_sum_us as f64 / sim.requests.max(1) as f64 / 1000.0,
        max_swapped_mb: sim.srv.iter().map(|h| h.max_swapped).fold(0.0, f64::max),
        times,
        free,
    })
}

// ===== throughput scaling ===============================================================================

/// A file set of the throughput experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSet {
    /// Name.
    pub name: String,
    /// File sizes in bytes, drawn uniformly.
    pub sizes: Vec<u64>,
}

impl FileSet {
    /// The published sets: `light`, `heavy`, `mixed`.
    pub fn named(name: &str) -> Option<FileSet> {
        const K: u64 = 1000;
        let sizes = match name {
            "light" => vec![76 * K, 103 * K, 505 * K, 1_800 * K],
            "heavy" => vec![41 * K, 4_000 * K, 10_000 * K, 50_000 * K],
            "mixed" => (1..=10).map(|i| i * 100 * K).chain([10_000 * K]).collect(),
            _ => return None,
        };
        Some(FileSet {
            name: name.to_string(),
            sizes,
        })
    }
}

/// The throughput experiment's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputConfig {
    /// Seed.
    pub seed: u64,
    /// Schedulers.
    pub schedulers: Vec<SchedKind>,
    /// Server counts.
    pub server_counts: Vec<usize>,
    /// File sets.
    pub sets: Vec<FileSet>,
    /// The director's internal link, Mbit/s.
    pub link_mbps: f64,
    /// What one real server can serve, Mbit/s (disk, CPU and NIC together).
    pub server_mbps: f64,
    /// Per-request setup time at a server, ms.
    pub server_setup_ms: f64,
    /// Each client's NIC, Mbit/s.
    pub client_mbps: f64,
    /// Clients.
    pub clients: u32,
    /// Concurrent downloads per client.
    pub streams: u32,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Warm-up before measuring, s.
    pub warmup_s: f64,
    /// Measured window, s.
    pub window_s: f64,
    /// Make every other server twice as fast (weights 2 for wrr and wlc).
    pub hetero: bool,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        ThroughputConfig {
            seed: 1,
            schedulers: vec![SchedKind::Rr, SchedKind::Wrr, SchedKind::Lc, SchedKind::Wlc],
            server_counts: vec![2, 4, 6, 8],
            sets: ["light", "heavy", "mixed"]
                .iter()
                .filter_map(|s| FileSet::named(s))
                .collect(),
            link_mbps: 100.0,
            server_mbps: 40.0,
            server_setup_ms: 5.0,
            client_mbps: 100.0,
            clients: 4,
            streams: 8,
            rtt_ms: 0.5,
            warmup_s: 20.0,
            window_s: 120.0,
            hetero: false,
        }
    }
}

/// One measured point.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputRow {
    /// Scheduler.
    pub sched: &'static str,
    /// Real servers.
    pub servers: usize,
    /// File set.
    pub set: String,
    /// Connections per second.
    pub cps: f64,
    /// Output (director to clients) bytes per second.
    pub out_bps: f64,
    /// Output packets per second.
    pub out_pps: f64,
}

/// The throughput experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputResult {
    /// Points, in configuration order.
    pub rows: Vec<ThroughputRow>,
    /// Link capacity in bytes per second.
    pub link_bps: f64,
}

impl ThroughputResult {
    /// CSV with the header `scheduler,servers,file_set,cps,out_bps,out_pps`.
    pub fn csv(&self) -> String {
        let mut s = String::from("scheduler,servers,file_set,cps,out_bps,out_pps\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{:.3},{:.0},{:.1}",
                r.sched, r.servers, r.set, r.cps, r.out_bps, r.out_pps
            );
        }
        s
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<5} {:>7} {:<6} {:>9} {:>12} {:>10} {:>8}",
            "sched", "servers", "set", "conn/s", "out MB/s", "out pkt/s", "of link"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<5} {:>7} {:<6} {:>9.2} {:>12.3} {:>10.0} {:>7.1}%",
                r.sched,
                r.servers,
                r.set,
                r.cps,
                r.out_bps / 1e6,
                r.out_pps,
                100.0 * r.out_bps / self.link_bps
            );
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TpEv {
    Start(u32),
    Ready(u32),
    Done(u64),
    Emit,
    Expire,
    Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowState {
    Free,
    Pending,
    Active,
}

#[derive(Debug, Clone, Copy)]
struct Flow {
    state: FlowState,
    stream: u32,
    server: usize,
    port: u16,
    size: u64,
    sent: f64,
    emitted: u64,
    rate: f64,
}

/// Runs every combination of the throughput experiment.
///
/// # Errors
/// [`SimError::BadConfig`] for inconsistent parameters, [`SimError::Director`] if the director
/// refuses its setup.
pub fn run_throughput(cfg: &ThroughputConfig) -> Result<ThroughputResult, SimError> {
    if cfg.server_counts.iter().any(|&n| n == 0 || n > MAX_SERVERS)
        || cfg.clients == 0
        || cfg.streams == 0
        || cfg.window_s <= 0.0
        || cfg.link_mbps <= 0.0
        || cfg.server_mbps <= 0.0
        || cfg.client_mbps <= 0.0
        || cfg.sets.iter().any(|s| s.sizes.is_empty())
    {
        return Err(SimError::BadConfig(
            "throughput parameters out of range".into(),
        ));
    }
    let mut rows = Vec::new();
    for set in &cfg.sets {
        for &sched in &cfg.schedulers {
            for &n in &cfg.server_counts {
                rows.push(run_throughput_point(cfg, sched, n, set)?);
            }
        }
    }
    Ok(ThroughputResult {
        rows,
        link_bps: cfg.link_mbps * 1e6 / 8.0,
    })
}

/// Max-min fair rates (payload bytes/µs) for the active flows under the link, per-server and
/// per-client capacities, by progressive filling.
fn fair_rates(flows: &mut [Flow], caps: &Caps, streams: u32) {
    // constraints: 0 = link, 1..=servers, then clients
    let ns = caps.server.len();
    let mut cap: Vec<f64> = std::iter::once(caps.link)
        .chain(caps.server.iter().copied())
        .chain(std::iter::repeat_n(caps.client, caps.clients))
        .collect();
    let members = |f: &Flow| [0usize, 1 + f.server, 1 + ns + (f.stream / streams) as usize];
    let mut open: Vec<bool> = flows.iter().map(|f| f.state == FlowState::Active).collect();
    for f in flows.iter_mut() {
        f.rate = 0.0;
    }
    let mut count = vec![0usize; cap.len()];
    loop {
        count.iter_mut().for_each(|c| *c = 0);
        for (f, &o) in flows.iter().zip(&open) {
            if o {
                for m in members(f) {
                    count[m] += 1;
                }
            }
        }
        let mut best: Option<(f64, usize)> = None;
        for (k, &c) in count.iter().enumerate() {
            if c > 0 {
                let share = cap[k].max(0.0) / c as f64;
                if best.is_none_or(|(b, _)| share < b) {
                    best = Some((share, k));
                }
            }
        }
        let Some((share, k)) = best else { break };
        for (i, f) in flows.iter_mut().enumerate() {
            if open[i] && members(f).contains(&k) {
                f.rate = share;
                open[i] = false;
                for m in members(f) {
                    cap[m] -= share;
                }
            }
        }
    }
}

struct Caps {
    link: f64,
    server: Vec<f64>,
    client: f64,
    clients: usize,
}

fn run_throughput_point(
    cfg: &ThroughputConfig,
    sched: SchedKind,
    n: usize,
    set: &FileSet,
) -> Result<ThroughputRow, SimError> {
    let fast = |i: usize| cfg.hetero && i % 2 == 1;
    let weights: Vec<u32> = (0..n).map(|i| if fast(i) { 2 } else { 1 }).collect();
    let mut mem = OwnedMemory::<SimSched>::new(1 << 15, 1, n);
    let (built, _) = sched.build(cfg.seed, P2cConfig::DEFAULT);
    let (mut dir, _svc, _) = setup(&mut mem, cfg.seed, built, &weights)?;
    // capacities in payload bytes per µs (the wire also carries 40 header bytes per segment)
    let wire = (MSS + HDR) as f64 / MSS as f64;
    let caps = Caps {
        link: cfg.link_mbps / 8.0 / wire,
        server: (0..n)
            .map(|i| cfg.server_mbps / 8.0 / wire * if fast(i) { 2.0 } else { 1.0 })
            .collect(),
        client: cfg.client_mbps / 8.0 / wire,
        clients: cfg.clients as usize,
    };
    let streams_total = cfg.clients * cfg.streams;
    let mut rng: Vec<Rng> = (0..streams_total)
        .map(|s| Rng::new(cfg.seed, 10_000_000 + s as u64))
        .collect();
    let mut port = vec![0u32; streams_total as usize];
    let mut flows: Vec<Flow> = Vec::new();
    let mut free_slots: Vec<u32> = Vec::new();
    let mut q: Queue<TpEv> = Queue::new();
    for s in 0..streams_total {
        // stagger the streams over the first 100 ms
        q.push(s as u64 * 100_000 / streams_total as u64, TpEv::Start(s));
    }
    let emit_us = 10_000u64;
    q.push(emit_us, TpEv::Emit);
    q.push(1_000_000, TpEv::Expire);
    let warm = (cfg.warmup_s * 1e6) as u64;
    let end = warm + (cfg.window_s * 1e6) as u64;
    q.push(warm, TpEv::Mark);
    q.push(end, TpEv::Mark);
    let mut marks = Vec::new();
    let mut last = 0u64;
    let mut gen = 0u64;
    let rtt = (cfg.rtt_ms * 1000.0) as u64;
    let setup_us = (cfg.server_setup_ms * 1000.0) as u64;
    let streams = cfg.streams;
    let client_of = move |s: u32| s / streams;
    while let Some((now, ev)) = q.pop() {
        if now > end {
            break;
        }
        // progress every active flow to `now`, emitting the segments it has sent
        let dt = (now - last) as f64;
        last = now;
        for f in flows.iter_mut().filter(|f| f.state == FlowState::Active) {
            f.sent = (f.sent + f.rate * dt).min(f.size as f64);
            let whole = if f.sent >= f.size as f64 - 0.5 {
                f.size
            } else {
                f.sent as u64
            };
            let (full, rest) = segments(whole);
            let target = full + u64::from(whole == f.size && rest > 0);
            if f.emitted < target {
                let ep = client_ep(client_of(f.stream), f.port);
                let rs = rs_addr(f.server);
                while f.emitted < target {
                    let len = if f.emitted < full { MSS } else { rest };
                    outbound(&mut dir, now, rs, ep, TcpFlags::ACK, (len + HDR) as u32);
                    f.emitted += 1;
                    // a delayed ACK for every second segment
                    if f.emitted % 2 == 0 || f.emitted == target {
                        inbound(&mut dir, now, ep, TcpFlags::ACK, HDR as u32);
                    }
                }
            }
        }
        let mut reshare = false;
        match ev {
            TpEv::Start(s) => {
                let r = &mut rng[s as usize];
                let size = set.sizes[r.below(set.sizes.len() as u64) as usize];
                // each stream of a client cycles through its own range of source ports
                let span = (64_000 / cfg.streams).max(1);
                let p = &mut port[s as usize];
                *p = (*p + 1) % span;
                let p = (1024 + (s % cfg.streams) * span + *p) as u16;
                let ep = client_ep(client_of(s), p);
                match syn(&mut dir, now, ep) {
                    Some(d) => {
                        let server = d.index();
                        outbound(&mut dir, now, rs_addr(server), ep, SYNACK, 60);
                        inbound(&mut dir, now, ep, PSHACK, 300);
                        let flow = Flow {
                            state: FlowState::Pending,
                            stream: s,
                            server,
                            port: p,
                            size,
                            sent: 0.0,
                            emitted: 0,
                            rate: 0.0,
                        };
                        let idx = match free_slots.pop() {
                            Some(i) => {
                                flows[i as usize] = flow;
                                i
                            }
                            None => {
                                flows.push(flow);
                                (flows.len() - 1) as u32
                            }
                        };
                        q.push(now + rtt + setup_us, TpEv::Ready(idx));
                    }
                    None => q.push(now + 1_000_000, TpEv::Start(s)),
                }
            }
            TpEv::Ready(i) => {
                flows[i as usize].state = FlowState::Active;
                reshare = true;
            }
            TpEv::Done(g) => {
                if g == gen {
                    for (k, f) in flows.iter_mut().enumerate() {
                        if f.state == FlowState::Active
                            && f.emitted >= segments(f.size).0 + u64::from(f.size % MSS > 0)
                        {
                            let ep = client_ep(client_of(f.stream), f.port);
                            let rs = rs_addr(f.server);
                            outbound(&mut dir, now, rs, ep, FINACK, 40);
                            inbound(&mut dir, now, ep, FINACK, 40);
                            outbound(&mut dir, now, rs, ep, TcpFlags::ACK, 40);
                            q.push(now + rtt, TpEv::Start(f.stream));
                            f.state = FlowState::Free;
                            free_slots.push(k as u32);
                        }
                    }
                    reshare = true;
                }
            }
            TpEv::Emit => q.push(now + emit_us, TpEv::Emit),
            TpEv::Expire => {
                expire(&mut dir, now);
                q.push(now + 1_000_000, TpEv::Expire);
            }
            TpEv::Mark => marks.push(dir.total_stats().counters),
        }
        if reshare {
            fair_rates(&mut flows, &caps, cfg.streams);
            gen += 1;
            let next = flows
                .iter()
                .filter(|f| f.state == FlowState::Active && f.rate > 0.0)
                .map(|f| (f.size as f64 - f.sent).max(0.0) / f.rate)
                .min_by(|a, b| a.total_cmp(b));
            if let Some(dt) = next {
                q.push(now + dt.ceil() as u64, TpEv::Done(gen));
            }
        }
    }
    let (a, b) = match marks.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => return Err(SimError::BadConfig("window did not complete".into())),
    };
    let w = cfg.window_s;
    Ok(ThroughputRow {
        sched: sched.name(),
        servers: n,
        set: set.name.clone(),
        cps: (b.conns - a.conns) as f64 / w,
        out_bps: (b.outbytes - a.outbytes) as f64 / w,
        out_pps: (b.outpkts - a.outpkts) as f64 / w,
    })
}
