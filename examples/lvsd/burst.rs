//! The batched receive path over an interface's [`crate::frame_io::FrameIo`] (packet rings or
//! `AF_XDP`): frames are copied out of the receive ring into a burst buffer, the common case (an IP frame for this interface's MAC,
//! at most one MTU long, its checksum finished if the kernel left it partial) goes to the
//! library's burst API (`lvs_forward::process::process_burst`, which lets the director look up
//! a whole group of flows at once), and everything else (ARP, NDP, VRRP, GSO super-frames, all
//! traffic while the L7 or TLS splicer runs) takes the per-frame path in [`crate::datapath`]. Transmissions land on
//! the transmit rings, kicked once per batch.
//!
//! Frames keep their order on each interface: a frame that leaves the burst path first sends
//! the burst gathered so far.

use crate::daemon::{ms_instant, Daemon, HEADROOM};
use crate::offload;
use crate::ring::{Rx, SLOT};
use crate::sys::{vnet, VnetHdr, VNET_HDR_LEN};
use lvs_core::Protocol;
use lvs_forward::parse::parse_ethernet;
use lvs_forward::process::{process_burst, Action, BurstFrame};

/// Frames per burst handed to the library.
pub const BURST: usize = 32;
/// Bytes of one frame's place in the burst buffer: headroom, then the frame.
const PLACE: usize = HEADROOM + SLOT;
/// Room for the ICMP errors one burst may answer with.
const RESP_ROOM: usize = BURST * 1280;

/// Buffers of the burst path, kept between batches.
#[derive(Debug, Default)]
pub struct BurstBufs {
    frames: Vec<u8>,
    lens: Vec<usize>,
}

impl Daemon<'_> {
    /// Reads up to `max` frames from interface `ifc`'s receive ring and handles them; returns
    /// how many were read. `big` receives frames too long for a ring slot, at `HEADROOM`.
    pub(crate) fn rx_ring_batch(&mut self, ifc: usize, max: usize, big: &mut [u8]) -> usize {
        let mut b = std::mem::take(&mut self.burst);
        if b.frames.len() < BURST * PLACE {
            b.frames.resize(BURST * PLACE, 0);
        }
        b.lens.clear();
        let plain_ok =
            self.vrrp.is_none() && !self.vrrp_standby && self.l7.is_none() && self.tls.is_none();
        let mac = self.ifaces[ifc].info.mac.0;
        self.batch_now = Some(self.now_ms());
        let mut n = 0;
        while n < max {
            let k = b.lens.len();
            let (gathered, rest) = b.frames.split_at_mut(k * PLACE);
            let place = &mut rest[..PLACE];
            let iface = &mut self.ifaces[ifc];
            let Some(rings) = iface.io.as_mut() else {
                break;
            };
            let got = rings.recv(
                &iface.sock,
                &mut place[HEADROOM - VNET_HDR_LEN..],
                &mut big[HEADROOM - VNET_HDR_LEN..],
            );
            match got {
                Rx::Empty => break,
                Rx::Lost => {
                    n += 1;
                    self.hot.rx_frames += 1;
                    self.count("drop.truncated");
                }
                Rx::Frame(len) => {
                    n += 1;
                    let len = len - VNET_HDR_LEN;
                    if plain_ok && self.burstable(place, len, &mac) {
                        b.lens.push(len);
                        if b.lens.len() == BURST {
                            self.run_burst(&mut b.frames, &mut b.lens);
                        }
                    } else {
                        self.run_burst(gathered, &mut b.lens);
                        self.on_frame(ifc, place, HEADROOM, len);
                    }
                }
                Rx::Big(len) => {
                    n += 1;
                    self.run_burst(gathered, &mut b.lens);
                    if len < VNET_HDR_LEN {
                        self.count("drop.runt");
                    } else {
                        self.on_frame(ifc, big, HEADROOM, len - VNET_HDR_LEN);
                    }
                }
            }
        }
        self.run_burst(&mut b.frames, &mut b.lens);
        self.burst = b;
        self.batch_now = None;
        n
    }

    /// Whether the frame at `place[HEADROOM..HEADROOM + len]` can take the burst path: IPv4 or
    /// IPv6 (not NDP) to `mac`, no segmentation to do. A partial checksum is finished here.
    fn burstable(&mut self, place: &mut [u8], len: usize, mac: &[u8; 6]) -> bool {
        let h = VnetHdr::read(&place[HEADROOM - VNET_HDR_LEN..HEADROOM]).unwrap_or_default();
        if len < 54 || offload::needs_segmentation(&h) {
            return false;
        }
        let f = &place[HEADROOM..HEADROOM + len];
        if f[..6] != mac[..] {
            return false;
        }
        match (f[12], f[13]) {
            (0x08, 0x00) => {}
            // NDP (ICMPv6 in the first header) stays on the per-frame path
            (0x86, 0xdd) if f[20] != 58 => {}
            _ => return false,
        }
        if h.flags & vnet::F_NEEDS_CSUM == 0 {
            return true;
        }
        let f = &mut place[HEADROOM..HEADROOM + len];
        let Ok(p) = parse_ethernet(&*f) else {
            return false;
        };
        let (end, udp) = (p.end(), p.flow.proto == Protocol::Udp);
        offload::complete_csum(
            f,
            usize::from(h.csum_start),
            usize::from(h.csum_offset),
            end,
            udp,
        )
        .is_ok()
    }

    /// Hands the gathered frames to the library and acts on each verdict, then empties the burst.
    fn run_burst(&mut self, frames: &mut [u8], lens: &mut Vec<usize>) {
        let k = lens.len();
        if k == 0 {
            return;
        }
        // the director's clock must never go back (frames on the per-frame path in between
        // read it afresh), so this reads it again rather than using `batch_now`
        let now = ms_instant(self.now_ms());
        let cfg = self.pcfg;
        if self.out.len() < HEADROOM + RESP_ROOM {
            self.out.resize(HEADROOM + RESP_ROOM, 0);
        }
        let mut actions = [Action::Deliver; BURST];
        {
            let mut places = frames.chunks_mut(PLACE);
            let mut frames: [BurstFrame<'_>; BURST] = std::array::from_fn(|i| {
                let place = places.next().unwrap_or_default();
                BurstFrame::new(place, HEADROOM, lens.get(i).copied().unwrap_or(0))
            });
            process_burst(
                &mut self.dir,
                now,
                &mut frames[..k],
                &cfg,
                &mut actions[..k],
                &mut self.out[HEADROOM..],
            );
        }
        let mut resp_at = HEADROOM;
        self.hot.rx_frames += k as u64;
        for (i, a) in actions[..k].iter().enumerate() {
            let place = &mut frames[i * PLACE..(i + 1) * PLACE];
            self.act(*a, place, HEADROOM, lens[i], resp_at);
            if let Action::Respond { len, .. } = a {
                resp_at += len;
            }
        }
        lens.clear();
    }
}
