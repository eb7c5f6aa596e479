//! The memory-balance experiment's parameters: the published testbed of the memory-feedback
//! study by default, and the checks that refuse an impossible one.

use super::*;

/// Mean free memory per server under WLC in the published Table 1, KB
/// (`(129680.1 + 145873.9) / 2`): the target of the RAM fit.
pub const PUBLISHED_WLC_MEAN_FREE_KB: f64 = 137_777.0;

/// RAM per server, MB: the model's one fitted parameter. Fitted with
/// `simulate --experiment fit-ram` (WLC, fit seeds 9001..=9005, never used for evaluation) so
/// that WLC's mean free memory over the loaded 15 minutes lands on
/// [`PUBLISHED_WLC_MEAN_FREE_KB`].
pub const FITTED_RAM_MB: f64 = 213.6;

/// How the director forwards to the real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding {
    /// IP tunnelling as published: replies go straight to the clients, the director sees only
    /// the client's packets (the kernel's input-only state table).
    Tunnel,
    /// LVS-NAT: the replies pass the director too.
    Nat,
}

impl Forwarding {
    pub(crate) fn method(self) -> FwdMethod {
        match self {
            Forwarding::Tunnel => FwdMethod::Tunnel,
            Forwarding::Nat => FwdMethod::Masq,
        }
    }
}

/// The memory-balance experiment's parameters. The defaults are the published testbed and
/// this model's documented assumptions (docs/simulation.md); every assumption is a flag of
/// `simulate`.
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
    /// Resident memory of one httpd process, MB (published: 3.6).
    pub httpd_mb: f64,
    /// Memory of one CGI child, MB (published: 1.7).
    pub cgi_mb: f64,
    /// CPU slowdown per unit of swapped-out fraction of memory.
    pub swap_slowdown: f64,
    /// Apache prefork: StartServers, MinSpareServers, MaxSpareServers, MaxClients.
    pub apache: [u32; 4],
    /// Load servers (published: 3).
    pub load_servers: u32,
    /// Virtual clients each load server creates per batch (published: 100).
    pub clients_per_batch: u32,
    /// Seconds between batches (published: 30).
    pub batch_interval_s: f64,
    /// A batch's clients start at uniform moments within this many seconds of its start
    /// (`None`, the default: the whole batch interval).
    pub ramp_s: Option<f64>,
    /// Seconds during which batches are created (published: 15 minutes).
    pub duration_s: f64,
    /// The agenda every client replays, as indices into `classes` (published: Figure 6).
    pub agenda: Vec<u8>,
    /// The request classes.
    pub classes: [ReqClass; 5],
    /// Mean think time before a page (a non-GIF request), s.
    pub think_s: f64,
    /// Client round-trip time, ms (published: an isolated Ethernet LAN).
    pub rtt_ms: f64,
    /// Bandwidth of one client's transfer, kbit/s.
    pub client_kbps: f64,
    /// A request not answered within this many seconds counts as timed out.
    pub timeout_s: f64,
    /// Forwarding method (published: tunnelling).
    pub forwarding: Forwarding,
    /// Whether a CGI's httpd parent stays busy (not free for the next connection) while the
    /// child finishes its post-response disk writes (`ReqClass::tail_ms`): Apache 1.3 reaps a
    /// CGI child when it clears the connection's pool, after the connection is closed and
    /// before it accepts the next one.
    pub tail_holds_httpd: bool,
    /// Mean memory per connection the published controllers assume, KiB (published: 3500).
    pub mem_per_conn_kb: u32,
    /// Alternative 2's `k`; `None` (the published rule) sets it at every report to the
    /// accesses per real server in the last minute, clamped to 1..=2000.
    pub alt2_k: Option<u32>,
    /// Prints one line per report to stderr (time, k, free memory, weights, connections).
    pub trace: bool,
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
        MemoryConfig {
            seed: 1,
            mem_mb: vec![FITTED_RAM_MB; 2],
            cpu_speed: vec![1.0; 2],
            base_mb: 32.0,
            min_free_mb: 2.0,
            httpd_mb: 3.6,
            cgi_mb: 1.7,
            swap_slowdown: 20.0,
            apache: [5, 5, 10, 150],
            load_servers: 3,
            clients_per_batch: 100,
            batch_interval_s: 30.0,
            ramp_s: None,
            duration_s: 900.0,
            agenda: figure6_agenda(),
            classes: CLASSES,
            think_s: 7.0,
            rtt_ms: 0.5,
            client_kbps: 10_000.0,
            timeout_s: 30.0,
            forwarding: Forwarding::Tunnel,
            tail_holds_httpd: true,
            mem_per_conn_kb: 3500,
            alt2_k: None,
            trace: false,
            variants: ["wlc", "wlc+alt1@60", "wlc+alt2@60"]
                .iter()
                .filter_map(|s| Variant::parse(s, 60.0))
                .collect(),
            sample_s: 1.0,
            classic: ClassicConfig::DEFAULT,
            headroom: HeadroomConfig::DEFAULT,
            p2c: P2cConfig::DEFAULT,
        }
    }
}

impl MemoryConfig {
    /// Checks that the parameters describe a physically possible testbed.
    ///
    /// # Errors
    /// [`SimError::BadConfig`] naming the first impossible parameter.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |s: String| Err(SimError::BadConfig(s));
        let n = self.mem_mb.len();
        if !(2..=MAX_SERVERS).contains(&n) || self.cpu_speed.len() != n {
            return bad(format!(
                "need 2..={MAX_SERVERS} servers with one memory size and one CPU speed each"
            ));
        }
        let need = self.base_mb + self.httpd_mb * self.apache[0] as f64 + self.min_free_mb;
        for &m in &self.mem_mb {
            if !(m.is_finite() && m >= need && m <= 1e7) {
                return bad(format!(
                    "--mem-mb {m}: a server needs at least {need} MB (base {} MB, {} start \
                     servers of {} MB, {} MB watermark)",
                    self.base_mb, self.apache[0], self.httpd_mb, self.min_free_mb
                ));
            }
        }
        for &c in &self.cpu_speed {
            if !(c.is_finite() && c > 0.0 && c <= 1e3) {
                return bad(format!("--cpu-speed {c}: must be above 0 and at most 1000"));
            }
        }
        let nonneg = [
            ("base-mb", self.base_mb),
            ("min-free-mb", self.min_free_mb),
            ("httpd-mb", self.httpd_mb),
            ("cgi-mb", self.cgi_mb),
            ("swap-slowdown", self.swap_slowdown),
            ("think-s", self.think_s),
            ("rtt-ms", self.rtt_ms),
        ];
        for (name, v) in nonneg {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return bad(format!("--{name} {v}: must be a number from 0 to 1000000"));
            }
        }
        let positive = [
            ("batch-s", self.batch_interval_s),
            ("duration-s", self.duration_s),
            ("client-kbps", self.client_kbps),
            ("timeout-s", self.timeout_s),
            ("sample-s", self.sample_s),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0 && v <= 1e7) {
                return bad(format!("--{name} {v}: must be above 0"));
            }
        }
        if let Some(r) = self.ramp_s {
            if !(r.is_finite() && (0.0..=self.batch_interval_s).contains(&r)) {
                return bad(format!(
                    "--ramp-s {r}: must be from 0 to --batch-s {}",
                    self.batch_interval_s
                ));
            }
        }
        if self.duration_s / self.batch_interval_s > 1e4 {
            return bad("--duration-s / --batch-s: more than 10000 batches".into());
        }
        let clients = self.clients_per_batch as u64 * self.load_servers as u64;
        if clients == 0 || clients > 10_000 {
            return bad(format!(
                "--clients {} x --load-servers {}: need 1..=10000 clients per batch",
                self.clients_per_batch, self.load_servers
            ));
        }
        let [start, min_spare, max_spare, max_clients] = self.apache;
        if max_clients == 0 || start > max_clients || min_spare > max_spare {
            return bad("--max-clients: Apache needs 0 < StartServers <= MaxClients".into());
        }
        if self.agenda.is_empty() || self.agenda.len() > 1000 {
            return bad("--agenda: needs 1..=1000 requests".into());
        }
        if self.mem_per_conn_kb == 0 {
            return bad("--mem-per-conn-kb: must be above 0".into());
        }
        if let Some(k) = self.alt2_k {
            if !(1..=K_MAX).contains(&k) {
                return bad(format!("--k {k}: published range is 1..=2000"));
            }
        }
        if self.variants.is_empty() {
            return bad("no scheduler to compare".into());
        }
        Ok(())
    }
}
