//! FULLNAT as a forwarding method written outside lvs-forward: an embedder's
//! [`Rewriter`].
//!
//! FULLNAT (the method of Alibaba's LVS fork and of DPVS) rewrites both ends of a packet on its
//! way to the real server: the destination VIP:vport becomes RIP:rport, as NAT does, and the
//! source CIP:cport becomes a local address and port LIP:lport taken from a pool. The real
//! servers then need no route back through the director: their replies go to LIP:lport, which
//! the director owns. On the way back both ends are restored: LIP:lport becomes CIP:cport
//! again (in [`Rewriter::pre_classify`], before the director looks the reply up, so that it
//! finds the connection), then RIP:rport becomes VIP:vport (the director's reply verdict, done
//! as NAT does it).
//!
//! The director is configured as for NAT (the real servers with [`lvs_core::FwdMethod::Masq`]);
//! this rewriter replaces what the packet path does with its verdicts. Checksums are updated
//! incrementally by [`lvs_forward::nat::rewrite`], twice.
//!
//! Limits of this example: the mapping lives in `std` hash maps and is freed only by
//! [`FullNat::release`] (a firmware would key it by the director's connection and free it on
//! expiry); ICMP errors about FULLNAT flows are refused.

use lvs_core::director::{Forward, Reply};
use lvs_core::{AddrFamily, Endpoint, IpAddr, Protocol};
use lvs_forward::nat::{self, Nat, Side};
use lvs_forward::parse::Parsed;
use lvs_forward::process::ProcessConfig;
use lvs_forward::rewrite::{Emit, PacketBuf};
use lvs_forward::route::check_mtu;
use lvs_forward::{ForwardError, Rewriter};
use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;

/// Why FULLNAT could not forward a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullNatError {
    /// Every local address and port toward this real server is taken.
    PoolExhausted,
    /// The packet cannot be rewritten (see [`ForwardError`]).
    Forward(ForwardError),
}

impl From<ForwardError> for FullNatError {
    fn from(e: ForwardError) -> Self {
        FullNatError::Forward(e)
    }
}

impl From<FullNatError> for ForwardError {
    fn from(e: FullNatError) -> Self {
        match e {
            FullNatError::PoolExhausted => ForwardError::Refused("FULLNAT local pool exhausted"),
            FullNatError::Forward(e) => e,
        }
    }
}

impl fmt::Display for FullNatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullNatError::PoolExhausted => f.write_str("local address pool exhausted"),
            FullNatError::Forward(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FullNatError {}

/// The client side of a FULLNAT connection: protocol, client, virtual service.
type ClientKey = (Protocol, Endpoint, Endpoint);
/// The real-server side: protocol, local endpoint, real server.
type LocalKey = (Protocol, Endpoint, Endpoint);

/// FULLNAT toward real servers with source addresses from a local pool.
#[derive(Debug)]
pub struct FullNat {
    pool: Vec<IpAddr>,
    ports: RangeInclusive<u16>,
    /// Next port to try, an offset into `ports`.
    cursor: u32,
    by_client: HashMap<ClientKey, Endpoint>,
    by_local: HashMap<LocalKey, Endpoint>,
}

impl FullNat {
    /// Local addresses `pool` (of either family; a flow takes one of its own family) and the
    /// local `ports` to use.
    pub fn new(pool: &[IpAddr], ports: RangeInclusive<u16>) -> Self {
        FullNat {
            pool: pool.to_vec(),
            ports,
            cursor: 0,
            by_client: HashMap::new(),
            by_local: HashMap::new(),
        }
    }

    /// The local endpoint a client's flow to a virtual service uses, if it has one.
    pub fn local_of(&self, proto: Protocol, client: Endpoint, vaddr: Endpoint) -> Option<Endpoint> {
        self.by_client.get(&(proto, client, vaddr)).copied()
    }

    /// Number of flows holding a local endpoint.
    pub fn len(&self) -> usize {
        self.by_client.len()
    }

    /// Whether no flow holds a local endpoint.
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// Frees the local endpoint of a flow (when its connection expires).
    pub fn release(&mut self, proto: Protocol, client: Endpoint, vaddr: Endpoint) {
        if let Some(local) = self.by_client.remove(&(proto, client, vaddr)) {
            self.by_local
                .retain(|&(p, l, _), c| !(p == proto && l == local && *c == client));
        }
    }

    /// A local endpoint of `family` not yet used toward `real` for `proto`.
    fn allocate(
        &mut self,
        proto: Protocol,
        family: AddrFamily,
        real: Endpoint,
    ) -> Option<Endpoint> {
        let span = u32::from(*self.ports.end()).checked_sub(u32::from(*self.ports.start()))? + 1;
        for _ in 0..span {
            let port = (u32::from(*self.ports.start()) + self.cursor % span) as u16;
            self.cursor = (self.cursor + 1) % span;
            for &addr in self.pool.iter().filter(|a| AddrFamily::of(a) == family) {
                let local = Endpoint::new(addr, port);
                if !self.by_local.contains_key(&(proto, local, real)) {
                    return Some(local);
                }
            }
        }
        None
    }
}

impl Rewriter for FullNat {
    type Error = FullNatError;

    /// Client → real server: source to LIP:lport (allocated on the flow's first packet),
    /// destination to RIP:rport.
    fn forward(
        &mut self,
        mut pkt: PacketBuf<'_>,
        f: &Forward,
        cfg: &ProcessConfig,
    ) -> Result<Emit, FullNatError> {
        let p = pkt.parsed;
        if p.is_icmp_error() {
            return Err(ForwardError::Unsupported.into());
        }
        if f.daddr.family() != p.family {
            return Err(ForwardError::FamilyMismatch.into());
        }
        if cfg.mtu != 0 {
            check_mtu(p, cfg.mtu)?;
        }
        let (proto, client, vaddr) = (p.flow.proto, p.flow.src, p.flow.dst);
        let (local, fresh) = match self.local_of(proto, client, vaddr) {
            Some(l) => (l, false),
            None => (
                self.allocate(proto, p.family, f.daddr)
                    .ok_or(FullNatError::PoolExhausted)?,
                true,
            ),
        };
        let frame = pkt.frame_mut();
        // Both rewrites check the same things (whole packet, family, not an ICMP error), so
        // once the first has succeeded the second does too: the buffer is never half done.
        nat::rewrite(frame, p, Side::Src, local, &cfg.caps)?;
        nat::rewrite(frame, p, Side::Dst, f.daddr, &cfg.caps)?;
        if fresh {
            self.by_client.insert((proto, client, vaddr), local);
            self.by_local.insert((proto, local, f.daddr), client);
        }
        Ok(pkt.in_place(f.daddr.addr))
    }

    /// Real server → director: NAT back to the virtual service, as [`Nat`] does (the
    /// destination was restored before classification).
    fn reply(
        &mut self,
        pkt: PacketBuf<'_>,
        r: &Reply,
        cfg: &ProcessConfig,
    ) -> Result<Emit, FullNatError> {
        Ok(Nat.reply(pkt, r, cfg)?)
    }

    /// A reply to LIP:lport from a real server: the destination becomes the client again.
    fn pre_classify(
        &mut self,
        frame: &mut [u8],
        p: &mut Parsed,
        cfg: &ProcessConfig,
    ) -> Result<(), FullNatError> {
        if p.icmp.is_some_and(|i| i.quote.is_some()) {
            return Ok(());
        }
        let Some(&client) = self.by_local.get(&(p.flow.proto, p.flow.dst, p.flow.src)) else {
            return Ok(());
        };
        nat::rewrite(frame, p, Side::Dst, client, &cfg.caps)?;
        p.flow.dst = client;
        Ok(())
    }
}
