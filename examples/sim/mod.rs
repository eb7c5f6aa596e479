//! A deterministic discrete-event cluster simulator in virtual time.
//!
//! It drives the real `lvs_core::director::Director` with the real `lvs_sched` schedulers:
//! every request opens a TCP connection whose SYN, data and FIN segments pass through
//! `Director::handle_inbound` (and, with LVS-NAT, the replies through `handle_outbound`),
//! time advances through `Director::handle_timeout`, and feedback weights reach the schedulers
//! through `Director::edit_dest`. Nothing here schedules by itself: the only decision the
//! simulator takes is to obey the verdicts.
//!
//! Two experiments:
//! - [`run_memory_balance`]: the memory-feedback study's testbed (two Apache/Perl-CGI servers
//!   behind an IP-tunnelling director on a LAN, three load servers replaying the Figure 6
//!   agenda); every scheduler and feedback controller (`lvs_sched::feedback`, `lvs_sched::p2c`)
//!   with the same report period; per-run metrics ([`MemoryRun`]), summaries with intervals
//!   ([`summarise`]) and the published Table 1 ([`paper_table1`]); and an oracle bound
//!   ([`Oracle`]) that sees each server's true free memory: a measuring stick for what any
//!   scheduler could reach, never a controller nor the winner.
//! - [`run_throughput`]: the LVS-NAT thesis's downloads through a 100 Mbit/s director, max-min
//!   fair sharing between the link, the real servers and the clients, an offered-load sweep on
//!   2..8 servers, against the thesis's measured points ([`thesis_points`]).
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

mod disk;
mod memory;
mod metrics;
mod net;
mod oracle;
mod paper;
mod plot;
mod sched;
mod testbed;
mod thesis;
mod throughput;
mod variant;
mod workload;

use disk::*;
pub use memory::*;
pub use metrics::*;
use net::*;
pub use oracle::*;
pub use paper::*;
#[allow(unused_imports)] // the tests do not draw
pub use plot::*;
pub use sched::*;
pub use testbed::*;
pub use thesis::*;
pub use throughput::*;
pub use variant::*;
pub use workload::*;

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
