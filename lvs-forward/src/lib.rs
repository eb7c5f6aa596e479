//! # lvs-forward
//!
//! Zero-copy packet views and the in-place rewriters of an IPVS-style director: bytes in,
//! a flow key out; a verdict in, rewritten bytes out. `no_std`, allocation-free, no `unsafe`,
//! and no panics on any input bytes.
//!
//! # Traits
//!
//! - [`Rewriter`] (module [`rewrite`]): a forwarding method over a byte buffer: what it needs
//!   from the director's verdict, the room it needs around the packet, its own error type. NAT
//!   ([`nat::Nat`]), IPIP ([`tunnel::Ipip`]), GUE ([`tunnel::Gue`]) and direct routing
//!   ([`dr::DirectRouting`]) are rewriters, and [`rewrite::Standard`] picks among them by the
//!   verdict as IPVS does. The packet path ([`process::process_frame_with`],
//!   [`process::process_burst_with`]) takes any rewriter as a generic parameter, so an embedder
//!   adds a method (FULLNAT, VXLAN, a hardware offload) without forking the crate, and the
//!   per-packet code stays monomorphised.
//!
//! ```
//! use lvs_core::director::{Forward, Reply};
//! use lvs_forward::process::ProcessConfig;
//! use lvs_forward::rewrite::{Emit, PacketBuf, Rewriter, Room, Standard};
//! use lvs_forward::ForwardError;
//!
//! /// IPVS's methods, counting the packets they rewrite.
//! #[derive(Default)]
//! struct Counted { packets: u64 }
//! impl Rewriter for Counted {
//!     type Error = ForwardError;
//!     fn room(&self, f: &Forward) -> Room { Standard.room(f) }
//!     fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig)
//!         -> Result<Emit, ForwardError> {
//!         self.packets += 1;
//!         Standard.forward(pkt, f, cfg)
//!     }
//!     fn reply(&mut self, pkt: PacketBuf<'_>, r: &Reply, cfg: &ProcessConfig)
//!         -> Result<Emit, ForwardError> {
//!         self.packets += 1;
//!         Standard.reply(pkt, r, cfg)
//!     }
//! }
//! // process_frame_with(&mut director, &mut Counted::default(), now, &mut frame, ...)
//! # let _ = Counted::default();
//! ```
//!
//! - [`splice::classify::ContentClassifier`]: for layer-7 splicing, chooses a real server from
//!   the first bytes of a connection (any `FnMut(&FlowInfo, &[u8]) -> Classification` is one).
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddrV4};
//! use lvs_forward::splice::classify::{Classification, ContentClassifier, FlowInfo};
//! let mut tls_or_not = |_: &FlowInfo, data: &[u8]| match data.first() {
//!     None => Classification::NeedMore,
//!     Some(0x16) => Classification::Choose(SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 1), 443)),
//!     Some(_) => Classification::Reset,
//! };
//! let flow = FlowInfo {
//!     client: SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), 40000),
//!     vip: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 443),
//!     now: lvs_core::Instant::ZERO,
//! };
//! assert_eq!(tls_or_not.classify(&flow, &[0x16, 3, 1]),
//!            Classification::Choose(SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 1), 443)));
//! ```
//!
//! - [`splice::http::Router`]: for HTTP splicing, chooses a real server for a parsed request
//!   head (any `FnMut(&FlowInfo, &httparse::Request) -> Option<SocketAddrV4>` is one).
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddrV4};
//! use lvs_forward::splice::classify::FlowInfo;
//! use lvs_forward::splice::http::Router;
//! /// `/static/...` to one server, everything else to another.
//! struct ByPath;
//! impl Router for ByPath {
//!     fn route(&mut self, _: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
//!         let last = if req.path?.starts_with("/static/") { 1 } else { 2 };
//!         Some(SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, last), 80))
//!     }
//! }
//! # let _ = ByPath;
//! ```
//!
//! # Layers
//!
//! - [`checksum`]: RFC 1071 sums and the RFC 1624 incremental updates IPVS uses
//!   (`ip_vs_check_diff2/4/16`).
//! - [`wire`]: smoltcp-style `Packet<T>` views and `Repr`s for Ethernet, ARP, IPv4, IPv6, TCP,
//!   UDP, ICMPv4 and ICMPv6 (with neighbour discovery), and VRRP version 3 advertisements.
//! - [`parse`]: one call from an Ethernet frame or a bare IP packet to a [`parse::Parsed`]
//!   (offsets, the [`lvs_core::FlowKey`], TCP flags, lengths, fragment facts, and the quoted flow
//!   of an ICMP error).
//! - The rewriters, each in place, each leaving the buffer untouched when it fails:
//!   [`nat`] (masquerading both ways, `ip_vs_nat_xmit` and `handle_response`), [`icmp`] (ICMP
//!   errors about NATed flows, `ip_vs_nat_icmp`, and building "fragmentation needed", "packet
//!   too big" and "time exceeded" replies), [`tunnel`] (IPIP and GUE encapsulation,
//!   `ip_vs_tunnel_xmit`, and decapsulation), [`dr`] (direct routing and Ethernet headers), and
//!   [`route`] (the TTL decrement and MTU check the kernel does on every forwarded packet).
//! - [`tls`]: the TLS ClientHello and ServerHello readers a TLS-aware director routes and learns
//!   on (SNI, ALPN, session id, session ticket, PSK identities, selected version and PSK), over
//!   records and TCP segments, with bounded reassembly and typed errors.
//! - [`vrrp`]: VIP failover between directors, a sans-I/O VRRP version 3 (RFC 5798) state
//!   machine that takes packets and time and returns advertisement bytes and transitions.
//!
//! A forwarding step, as the kernel orders it, is: [`parse::parse_ethernet`] → ask the director
//! → [`route::decrement_ttl`] → [`route::check_mtu`] (or the check built into
//! [`tunnel::encapsulate`]) → the method's rewriter.
#![no_std]
#![warn(unreachable_pub)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod checksum;
pub mod dr;
pub mod error;
mod fast;
pub mod icmp;
mod ip_header;
pub mod nat;
pub mod parse;
pub mod process;
pub mod rewrite;
pub mod route;
pub mod splice;
pub mod tls;
pub mod tunnel;
pub mod vrrp;
pub mod wire;

pub use error::ForwardError;
pub use rewrite::Rewriter;
pub use wire::{Checksum, ChecksumCaps, MacAddr};

/// The examples of this crate's README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
