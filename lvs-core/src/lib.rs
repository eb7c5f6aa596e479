//! # lvs-core
//!
//! The core of an IPVS-style layer-4 load balancer, as a `no_std`, allocation-free, sans-I/O
//! library: services and real servers, the connection table with the kernel's TCP state machine,
//! persistence, the [`director::Director`] that classifies a flow and returns a verdict, and
//! statistics that match `ipvsadm -L -n --stats/--rate`.
//!
//! # Traits
//!
//! - [`Scheduler`] ([`sched`]): a load-balancing algorithm, told about every change to a
//!   service's real servers and asked for one per new connection; the kernel's fourteen are in
//!   `lvs-sched`. It is dyn-compatible: a director holds a concrete scheduler (monomorphised),
//!   `&mut dyn Scheduler` or `Box<dyn Scheduler>`.
//!
//! ```
//! use lvs_core::{Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol};
//! use lvs_core::{SchedRequest, Scheduler};
//!
//! /// The first server in list order that has weight and is not overloaded.
//! struct First;
//! impl Scheduler for First {
//!     fn name(&self) -> &'static str { "first" }
//!     fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
//!         dests.iter().find(|(_, d)| d.weight > 0 && !d.is_overloaded()).map(|(id, _)| id)
//!     }
//! }
//!
//! let pool = [Dest::with_counts(Endpoint::v4([198, 18, 1, 1], 80), 0, 0, 0),
//!             Dest::with_counts(Endpoint::v4([198, 18, 1, 2], 80), 5, 0, 0)];
//! let req = SchedRequest {
//!     flow: FlowKey::new(Protocol::Tcp, Endpoint::v4([198, 19, 0, 1], 40000),
//!                        Endpoint::v4([198, 18, 0, 1], 80)),
//!     now: Instant::ZERO,
//! };
//! let mut s = First;
//! let dynamic: &mut dyn Scheduler = &mut s;
//! assert_eq!(dynamic.schedule(&DestSet::new(&pool, &[DestId(0), DestId(1)]), &req), Some(DestId(1)));
//! ```
//!
//! # Layers
//!
//! - [`addr`], [`time`]: plain values (endpoints, flows, service keys; time passed in).
//! - [`dest`], [`sched`]: real servers and the [`sched::Scheduler`] trait (algorithms live in
//!   `lvs-sched`).
//! - [`conn`]: the fixed-capacity connection table.
//! - [`director`]: services, scheduling, persistence and verdicts.
//! - [`stats`]: counters and the kernel's rate estimator.
//! - [`tls_persist`]: the `tls` persistence engine (SNI routes, TLS session IDs and ticket key
//!   names to the real server that holds them), bounded and timed out like the templates.
//! - `ipvsadm` (feature `ipvsadm`): the `ipvsadm-save`/`-restore` rule language and the
//!   `ipvsadm -L -n` listings, for tools and daemons; a firmware build leaves it out.
//!
//! There are no clocks, no random numbers and no sockets inside: time comes in as an argument,
//! hash keys are constructor arguments, and outputs are returned as values.
#![no_std]
#![warn(unreachable_pub)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod addr;
pub mod conn;
pub mod dest;
pub mod director;
pub mod hash;
mod prefetch;
pub mod sched;
pub mod state;
pub mod time;
pub mod tls_persist;

pub use addr::{
    AddrFamily, Endpoint, FlowKey, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, ServiceKey, TcpFlags,
};
pub use dest::{Dest, DestConfig, DestId, DestSet, FwdMethod, TunnelKind};
pub use sched::{SchedRequest, Scheduler};
pub use time::{Duration, Instant};
pub mod service;
pub use service::{Persistence, ServiceConfig, ServiceId};
pub mod health;
#[cfg(feature = "ipvsadm")]
pub mod ipvsadm;
pub mod stats;
pub mod sync;

/// The examples of this crate's README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
