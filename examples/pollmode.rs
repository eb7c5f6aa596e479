//! A poll-mode driver loop on the burst API, shaped like a DPDK or AF_XDP forwarding loop:
//! frame buffers in one region (AF_XDP's UMEM, a DPDK mempool), descriptor rings between the
//! NIC and the loop, and per iteration:
//!
//! 1. recycle: buffers the NIC has finished sending (completion ring) go back to the fill ring;
//! 2. rx burst: up to [`BURST`] descriptors from the rx ring;
//! 3. classify and rewrite in place: one [`process_burst`] call over the frames where they lie;
//! 4. tx burst: each forwarded frame gets its Ethernet header written into its own headroom
//!    and its descriptor (same buffer, new offset and length) goes on the tx ring; an ICMP error
//!    the director answers with is written into the buffer of the frame it answers; dropped
//!    frames' buffers go straight back to the fill ring.
//!
//! Nothing is allocated and nothing is copied on the way: the loop owns no buffers, only
//! descriptors move. The NIC side of the rings is [`nic`], a stand-in for the driver or kernel
//! (tests and the `fastpath` burst benchmark use it; an embedder replaces it with the real
//! rings: `xsk_ring_cons__peek` / `rte_eth_rx_burst` and their tx counterparts).
//!
//! Plain safe Rust and `core` only: it runs as well in a `no_std` firmware.

use lvs_core::director::Director;
use lvs_core::sched::Scheduler;
use lvs_core::{Instant, IpAddr};
use lvs_forward::process::{process_burst, Action, BurstFrame, ProcessConfig};
use lvs_forward::wire::MacAddr;

/// Frames per burst (the burst API's group size).
pub const BURST: usize = 32;
/// Size of each frame buffer (an AF_XDP chunk, a DPDK mbuf's data room).
pub const FRAME_SIZE: usize = 2048;
/// Room the NIC leaves in front of each received frame (DPDK's `RTE_PKTMBUF_HEADROOM`): the
/// Ethernet header of a forwarded packet and tunnel headers are written there.
pub const HEADROOM: usize = 128;
/// Room for the ICMP errors of one burst (a response that does not fit is a drop).
const RESP_ROOM: usize = 8 * 1280;

/// A descriptor: which buffer, where the frame starts in it and how long it is (AF_XDP's
/// `xdp_desc`, a DPDK mbuf's `data_off`/`data_len`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Desc {
    /// Buffer index in the frame region.
    pub buf: u32,
    /// Offset of the frame in the buffer.
    pub off: u32,
    /// Frame length.
    pub len: u32,
}

/// A single-producer single-consumer ring of `N` descriptors (`N` a power of two), with free
/// running head and tail counters as AF_XDP's rings have.
#[derive(Debug, Clone)]
pub struct Ring<const N: usize> {
    slots: [Desc; N],
    head: u32,
    tail: u32,
}

impl<const N: usize> Ring<N> {
    const MASK: u32 = {
        assert!(
            N.is_power_of_two() && N <= 1 << 30,
            "ring size: a power of two"
        );
        N as u32 - 1
    };

    /// An empty ring.
    pub const fn new() -> Self {
        Ring {
            slots: [Desc {
                buf: 0,
                off: 0,
                len: 0,
            }; N],
            head: 0,
            tail: 0,
        }
    }

    /// Descriptors in the ring.
    pub fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head) as usize
    }

    /// No descriptors.
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Adds `d` at the tail; `false` (and nothing added) when full.
    pub fn push(&mut self, d: Desc) -> bool {
        if self.len() == N {
            return false;
        }
        self.slots[(self.tail & Self::MASK) as usize] = d;
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// Takes the descriptor at the head.
    pub fn pop(&mut self) -> Option<Desc> {
        if self.is_empty() {
            return None;
        }
        let d = self.slots[(self.head & Self::MASK) as usize];
        self.head = self.head.wrapping_add(1);
        Some(d)
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The four rings of a port: fill (free buffers for the NIC), rx, tx and completion.
#[derive(Debug, Clone, Default)]
pub struct Rings<const N: usize> {
    /// Free buffers handed to the NIC to receive into.
    pub fill: Ring<N>,
    /// Received frames.
    pub rx: Ring<N>,
    /// Frames to send.
    pub tx: Ring<N>,
    /// Sent frames whose buffers the NIC gave back.
    pub completion: Ring<N>,
}

impl<const N: usize> Rings<N> {
    /// Rings with buffers `0..buffers` (at most `N`) on the fill ring.
    pub fn new(buffers: u32) -> Self {
        let mut r = Rings {
            fill: Ring::new(),
            rx: Ring::new(),
            tx: Ring::new(),
            completion: Ring::new(),
        };
        for buf in 0..buffers {
            if !r.fill.push(Desc {
                buf,
                off: 0,
                len: 0,
            }) {
                break;
            }
        }
        r
    }
}

/// What the loop did, cumulatively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Frames taken from the rx ring.
    pub rx: u64,
    /// Frames put on the tx ring (forwarded and ICMP errors).
    pub tx: u64,
    /// ICMP errors among them.
    pub icmp: u64,
    /// Frames for the host stack (not a service); their buffers are recycled here.
    pub host: u64,
    /// Frames dropped by the director.
    pub dropped: u64,
    /// Frames dropped by the loop: a next hop without a known MAC, no headroom for the
    /// Ethernet header, a full tx ring, a bad descriptor.
    pub lost: u64,
}

/// The loop's state: the actions and ICMP room of one burst, and its counters.
#[derive(Debug, Clone)]
pub struct PollLoop {
    /// The port's MAC, the source of every frame sent.
    pub mac: MacAddr,
    actions: [Action; BURST],
    resp: [u8; RESP_ROOM],
    /// Counters.
    pub stats: PollStats,
}

/// Writes an Ethernet header for the IP packet starting at `buf[at + 14]`.
fn ethernet(buf: &mut [u8], at: usize, dst: MacAddr, src: MacAddr) {
    let v6 = buf.get(at + 14).is_some_and(|b| b >> 4 == 6);
    buf[at..at + 6].copy_from_slice(&dst.0);
    buf[at + 6..at + 12].copy_from_slice(&src.0);
    let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
    buf[at + 12..at + 14].copy_from_slice(&ethertype.to_be_bytes());
}

impl PollLoop {
    /// A loop for a port with MAC `mac`.
    pub fn new(mac: MacAddr) -> Self {
        PollLoop {
            mac,
            actions: [Action::Deliver; BURST],
            resp: [0; RESP_ROOM],
            stats: PollStats::default(),
        }
    }

    fn recycle<const N: usize>(&mut self, rings: &mut Rings<N>, buf: u32) {
        // the fill ring has room for every buffer: one taken from rx always fits back
        let _ = rings.fill.push(Desc {
            buf,
            off: 0,
            len: 0,
        });
    }

    /// One iteration: recycle completed buffers, take a burst from the rx ring, run it through
    /// the director, put what goes out on the tx ring. `neighbour` gives the MAC of a next
    /// hop (`None`: not known yet; the frame is lost, counted). Returns the frames taken.
    #[allow(clippy::too_many_arguments)]
    pub fn poll<S: Scheduler, const N: usize>(
        &mut self,
        dir: &mut Director<'_, S>,
        now: Instant,
        cfg: &ProcessConfig,
        umem: &mut [[u8; FRAME_SIZE]],
        rings: &mut Rings<N>,
        neighbour: &mut impl FnMut(&IpAddr) -> Option<MacAddr>,
    ) -> usize {
        while let Some(d) = rings.completion.pop() {
            self.recycle(rings, d.buf);
        }
        // rx burst, in arrival order
        let mut descs = [Desc::default(); BURST];
        let mut n = 0;
        while n < BURST {
            let Some(d) = rings.rx.pop() else { break };
            descs[n] = d;
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        self.stats.rx += n as u64;

        // the burst's buffers as disjoint slices of the region: walk it once in buffer order
        // and put each slice at its frame's place in the burst
        let mut order = [(0u32, 0u8); BURST];
        for (i, d) in descs[..n].iter().enumerate() {
            order[i] = (d.buf, i as u8);
        }
        order[..n].sort_unstable();
        let mut frames: [BurstFrame<'_>; BURST] =
            core::array::from_fn(|_| BurstFrame::new(&mut [], 0, 0));
        let mut valid = [false; BURST];
        let mut rest: &mut [[u8; FRAME_SIZE]] = umem;
        let mut base = 0u32;
        for &(buf, pos) in &order[..n] {
            let d = descs[pos as usize];
            let fits = d.off as usize + d.len as usize <= FRAME_SIZE;
            // a buffer twice in one burst, or out of the region: a driver bug, not a panic
            if buf < base || (buf - base) as usize >= rest.len() || !fits {
                continue;
            }
            let (_, tail) = core::mem::take(&mut rest).split_at_mut((buf - base) as usize);
            let Some((one, tail)) = tail.split_first_mut() else {
                continue;
            };
            rest = tail;
            base = buf + 1;
            frames[pos as usize] = BurstFrame::new(&mut one[..], d.off as usize, d.len as usize);
            valid[pos as usize] = true;
        }

        // classify and rewrite in place
        let done = process_burst(
            dir,
            now,
            &mut frames[..n],
            cfg,
            &mut self.actions,
            &mut self.resp,
        );

        // tx burst
        let mut resp_at = 0;
        for (i, f) in frames[..n].iter_mut().enumerate() {
            let buf = descs[i].buf;
            if !valid[i] || i >= done {
                self.stats.lost += 1;
                if valid[i] {
                    self.recycle(rings, buf);
                }
                continue;
            }
            let out = match self.actions[i] {
                Action::Transmit {
                    start,
                    len,
                    next_hop,
                    ..
                } => match neighbour(&next_hop) {
                    Some(mac) if start >= 14 => {
                        ethernet(f.buf, start - 14, mac, self.mac);
                        Some((start - 14, len + 14))
                    }
                    _ => None,
                },
                Action::Respond { len, dst } => {
                    let bytes = self.resp.get(resp_at..resp_at + len);
                    resp_at += len;
                    match (bytes, neighbour(&dst)) {
                        (Some(b), Some(mac)) if HEADROOM + 14 + len <= f.buf.len() => {
                            f.buf[HEADROOM + 14..HEADROOM + 14 + len].copy_from_slice(b);
                            ethernet(f.buf, HEADROOM, mac, self.mac);
                            self.stats.icmp += 1;
                            Some((HEADROOM, len + 14))
                        }
                        _ => None,
                    }
                }
                Action::Deliver => {
                    self.stats.host += 1;
                    self.recycle(rings, buf);
                    continue;
                }
                Action::Drop(_) => {
                    self.stats.dropped += 1;
                    self.recycle(rings, buf);
                    continue;
                }
            };
            let sent = out.is_some_and(|(off, len)| {
                rings.tx.push(Desc {
                    buf,
                    off: off as u32,
                    len: len as u32,
                })
            });
            if sent {
                self.stats.tx += 1;
            } else {
                self.stats.lost += 1;
                self.recycle(rings, buf);
            }
        }
        n
    }
}

/// The NIC's side of the rings, for tests and benchmarks: receiving takes buffers from the
/// fill ring and writes frames into them (the NIC's DMA), transmitting takes the tx ring and
/// gives the buffers back on the completion ring.
pub mod nic {
    use super::{Desc, Rings, FRAME_SIZE, HEADROOM};

    /// Receives up to `n` frames: each takes a buffer from the fill ring, `write` puts the
    /// frame at [`HEADROOM`] in it and returns its length, and its descriptor goes on the rx
    /// ring. Returns the frames received (fewer when the fill ring runs dry).
    pub fn receive<const N: usize>(
        umem: &mut [[u8; FRAME_SIZE]],
        rings: &mut Rings<N>,
        n: usize,
        mut write: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let mut got = 0;
        while got < n {
            let Some(d) = rings.fill.pop() else { break };
            let Some(b) = umem.get_mut(d.buf as usize) else {
                continue;
            };
            let len = write(&mut b[HEADROOM..]).min(FRAME_SIZE - HEADROOM);
            let rx = Desc {
                buf: d.buf,
                off: HEADROOM as u32,
                len: len as u32,
            };
            if !rings.rx.push(rx) {
                let _ = rings.fill.push(d);
                break;
            }
            got += 1;
        }
        got
    }

    /// Sends what is on the tx ring: `send` sees each frame; its buffer goes on the
    /// completion ring. Returns the frames sent.
    pub fn transmit<const N: usize>(
        umem: &[[u8; FRAME_SIZE]],
        rings: &mut Rings<N>,
        mut send: impl FnMut(&[u8]),
    ) -> usize {
        let mut sent = 0;
        while let Some(d) = rings.tx.pop() {
            if let Some(frame) = umem
                .get(d.buf as usize)
                .and_then(|b| b.get(d.off as usize..(d.off + d.len) as usize))
            {
                send(frame);
            }
            let _ = rings.completion.push(d);
            sent += 1;
        }
        sent
    }
}
