//! An interface's frame path, one interface for the rest of lvsd whichever backend carries the
//! frames: the `PACKET_MMAP` rings of [`crate::ring`] on the interface's packet socket (the
//! default), or with `--xdp` the `AF_XDP` socket of [`crate::xsk`] fed by an XDP program.
//!
//! With `--xdp` the packet socket stays open: frames the XSK cannot carry (a virtio header
//! asking for segmentation or a checksum, a frame longer than a UMEM chunk) are sent by it
//! after what the XSK's transmit ring holds. It receives nothing lvsd reads: the program takes
//! every frame of receive queue 0 before the packet taps, so neither the kernel's stack nor
//! the packet socket sees them (frames of other queues pass to the kernel, which lvsd does not
//! poll).

use crate::ring::{Rings, Rx};
use crate::sys::PacketSocket;
use crate::xsk::{Push, Xsk};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The backend of one interface's frame path.
#[derive(Debug)]
pub enum FrameIo {
    /// `PACKET_MMAP` receive ring and batched `sendmmsg` on the packet socket.
    Packet(Rings),
    /// `--xdp`: an `AF_XDP` socket on receive queue 0 (boxed: its rings and counters make it
    /// much larger than the other variant).
    Xdp(Box<Xsk>),
}

impl FrameIo {
    /// The descriptor to `poll(2)` for received frames: the XSK's, or the packet socket's.
    pub fn poll_fd(&self, sock: &PacketSocket) -> RawFd {
        match self {
            FrameIo::Packet(_) => sock.as_raw_fd(),
            FrameIo::Xdp(x) => x.fd(),
        }
    }

    /// Whether a received frame is waiting (for busy polling), without taking it.
    pub fn ready(&self) -> bool {
        match self {
            FrameIo::Packet(r) => r.ready(),
            FrameIo::Xdp(x) => x.ready(),
        }
    }

    /// Takes the next received frame into `buf`, virtio header first (see [`Rings::recv`];
    /// the XSK writes a zeroed header and never answers [`Rx::Big`]).
    pub fn recv(&mut self, sock: &PacketSocket, buf: &mut [u8], big: &mut [u8]) -> Rx {
        match self {
            FrameIo::Packet(r) => r.recv(sock, buf, big),
            FrameIo::Xdp(x) => x.recv(buf),
        }
    }

    /// Queues `frame` (virtio header first) for the next [`FrameIo::kick`], or sends it at once
    /// when it cannot wait: a full batch of the rings is kicked first; a frame the XSK cannot
    /// carry goes by the packet socket after a kick.
    ///
    /// # Errors
    /// The kernel's refusal; no free XSK chunk.
    pub fn send(&mut self, sock: &PacketSocket, frame: &[u8]) -> io::Result<()> {
        match self {
            FrameIo::Packet(r) => {
                if r.push(frame) {
                    return Ok(());
                }
                r.kick(sock)?;
                if r.push(frame) {
                    return Ok(());
                }
                r.send_one(sock, frame)
            }
            FrameIo::Xdp(x) => match x.push(frame) {
                Push::Queued => Ok(()),
                Push::Offload => {
                    x.kick()?;
                    sock.send(frame)
                }
                Push::NoChunk => Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "no free AF_XDP transmit chunk",
                )),
            },
        }
    }

    /// Sends what is queued (and, for the XSK, hands received chunks back to the kernel).
    ///
    /// # Errors
    /// The kernel's refusal.
    pub fn kick(&mut self, sock: &PacketSocket) -> io::Result<()> {
        match self {
            FrameIo::Packet(r) => r.kick(sock),
            FrameIo::Xdp(x) => x.kick(),
        }
    }

    /// Adds the kernel's drop counters since the last call to `counters`: `rx.ring_drops`
    /// (the receive ring was full; for the XSK also the frames the kernel dropped for want of
    /// a fill-ring chunk, which is how a full receive side shows there) for both; for the XSK also `xdp.rx_frames`,
    /// `xdp.tx_frames`, `xdp.rx_dropped`, `xdp.fill_ring_empty`, `xdp.tx_invalid` and
    /// `xdp.tx_no_chunk`.
    pub fn stats(&mut self, sock: &PacketSocket, counters: &mut BTreeMap<&'static str, u64>) {
        let mut add = |k: &'static str, v: u64| *counters.entry(k).or_insert(0) += v;
        match self {
            FrameIo::Packet(_) => add("rx.ring_drops", Rings::stats(sock).1),
            FrameIo::Xdp(x) => {
                let s = x.stats();
                // no room: the receive ring full, or (lvsd behind: every receive chunk waits
                // on the receive ring) no chunk on the fill ring, counted in rx_dropped
                add("rx.ring_drops", s.rx_ring_full + s.rx_dropped);
                add("xdp.rx_frames", s.rx_frames);
                add("xdp.tx_frames", s.tx_frames);
                add("xdp.rx_dropped", s.rx_dropped);
                add("xdp.fill_ring_empty", s.rx_fill_ring_empty);
                add("xdp.tx_invalid", s.tx_invalid);
                add("xdp.tx_no_chunk", s.tx_no_chunk);
            }
        }
    }
}
