//! `PACKET_MMAP` rings on lvsd's packet sockets: a `TPACKET_V2` receive ring and a transmit ring
//! in one shared mapping, so that frames move without a system call each. All of the rings'
//! `unsafe` code is in this file: the mapping, the slot headers the kernel and lvsd hand back and
//! forth, and the copies in and out of slots.
//!
//! Receive: the kernel writes each frame into the next free slot (`virtio_net_hdr` just before
//! the Ethernet header, as `PACKET_VNET_HDR` asks) and sets the slot's status to
//! `TP_STATUS_USER`; [`Rings::recv`] copies the frame out and gives the slot back
//! (`TP_STATUS_KERNEL`). When every slot is taken the kernel drops the frame in its softirq and
//! counts it (`PACKET_STATISTICS`): the cheapest place to shed load. A frame longer than a slot
//! (a GSO super-frame) is also queued whole on the socket (`PACKET_COPY_THRESH`), its slot marked
//! `TP_STATUS_COPY`; [`Rings::recv`] then reads the whole frame from the socket instead.
//!
//! Transmit: [`Rings::push`] copies a frame (virtio header first) into the next free slot and
//! marks it `TP_STATUS_SEND_REQUEST`; [`Rings::kick`] makes one `send(2)` that transmits every
//! requested slot (`MSG_DONTWAIT`: the call does not wait for them to be freed). The kernel
//! marks a slot `TP_STATUS_AVAILABLE` again when its frame has left.
//!
//! Slot status words are shared with the kernel, which writes them from softirq on another CPU:
//! they are read with acquire and written with release ordering through `AtomicU32` views.

use crate::sys::{PacketSocket, VNET_HDR_LEN};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

// <linux/if_packet.h>: fixed kernel ABI values.
const SOL_PACKET: libc::c_int = 263;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_COPY_THRESH: libc::c_int = 7;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_TX_RING: libc::c_int = 13;
const PACKET_LOSS: libc::c_int = 14;
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_COPY: u32 = 2;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
/// `struct tpacket2_hdr` offsets: status, len, snaplen, mac.
const H_STATUS: usize = 0;
const H_LEN: usize = 4;
const H_SNAPLEN: usize = 8;
const H_MAC: usize = 12;
/// Where a transmitted frame starts in its slot: `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`.
const TX_DATA: usize = 32;

/// Size of one slot (a page holds two). Received frames up to about 1,970 bytes fit; longer
/// ones take the copy path.
pub const SLOT: usize = 2048;
/// Slots per block (the kernel allocates a ring in blocks).
const SLOTS_PER_BLOCK: usize = 32;
/// Receive slots (16 MiB): about 30 ms of buffering at 250k frames per second, enough to ride
/// out lvsd losing its CPU for a while on a busy machine.
pub const RX_SLOTS: usize = 8192;
/// Transmit slots.
pub const TX_SLOTS: usize = 1024;

/// What [`Rings::recv`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// Nothing waiting.
    Empty,
    /// A frame of this many bytes, virtio header included, is in the small buffer.
    Frame(usize),
    /// A frame too long for a slot: this many bytes, virtio header included, are in the big
    /// buffer.
    Big(usize),
    /// A frame whose full copy could not be read (it was too long for the buffer, or the copy
    /// was dropped): counted and skipped.
    Lost,
}

/// The rings of one packet socket and its mapping.
#[derive(Debug)]
pub struct Rings {
    map: *mut u8,
    map_len: usize,
    rx_next: usize,
    tx_next: usize,
    /// Frames queued on the transmit ring since the last [`Rings::kick`].
    pub tx_pending: usize,
    /// A send-only socket on the same interface for frames longer than a slot.
    big: PacketSocket,
}

// SAFETY: the mapping is owned by this value alone (no copies of the pointer escape), so moving
// it to another thread moves sole access with it.
unsafe impl Send for Rings {}

#[repr(C)]
#[derive(Default)]
struct TpacketReq {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    packets: u32,
    drops: u32,
}

fn setopt<T>(sock: &PacketSocket, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a live reference and the length passed is its size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            SOL_PACKET,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Rings {
    /// Sets up the receive and transmit rings on `sock` (opened with `PACKET_VNET_HDR`, bound)
    /// and maps them. On an error the socket is left without rings, for the per-frame path.
    ///
    /// # Errors
    /// The kernel's refusal of a ring option or of the mapping.
    pub fn setup(sock: &PacketSocket, ifindex: u32) -> io::Result<Rings> {
        let big = PacketSocket::open_tx(ifindex)?;
        setopt(sock, PACKET_VERSION, &TPACKET_V2)?;
        setopt(sock, PACKET_LOSS, &1i32)?;
        setopt(sock, PACKET_COPY_THRESH, &1i32)?;
        // No PACKET_QDISC_BYPASS: it would also skip the packet taps, so tcpdump on the
        // director (and the replay e2e, which compares its capture with the replay tool's
        // output) would see nothing lvsd sends; a veth has no queue to bypass anyway.
        let req = |n: usize| TpacketReq {
            block_size: (SLOT * SLOTS_PER_BLOCK) as u32,
            block_nr: (n / SLOTS_PER_BLOCK) as u32,
            frame_size: SLOT as u32,
            frame_nr: n as u32,
        };
        setopt(sock, PACKET_RX_RING, &req(RX_SLOTS))?;
        if let Err(e) = setopt(sock, PACKET_TX_RING, &req(TX_SLOTS)) {
            let _ = setopt(sock, PACKET_RX_RING, &TpacketReq::default());
            return Err(e);
        }
        let map_len = (RX_SLOTS + TX_SLOTS) * SLOT;
        // SAFETY: a fresh shared mapping of the socket's rings, of the size the kernel was
        // asked for; the result is checked before use.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                sock.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            let _ = setopt(sock, PACKET_RX_RING, &TpacketReq::default());
            let _ = setopt(sock, PACKET_TX_RING, &TpacketReq::default());
            return Err(e);
        }
        // frames that arrived between bind() and the ring sit on the socket's queue, where a
        // TP_STATUS_COPY slot would find them first: drop them
        let mut scratch = [0u8; 128];
        while let Ok(Some(_)) = sock.recv(&mut scratch) {}
        Ok(Rings {
            map: map.cast(),
            map_len,
            rx_next: 0,
            tx_next: 0,
            tx_pending: 0,
            big,
        })
    }

    fn status(&self, slot: *mut u8) -> &AtomicU32 {
        // SAFETY: `slot` is the start of a slot inside the live mapping; slots are page-aligned
        // multiples of SLOT bytes, so the status word is aligned, and the kernel accesses it
        // only as a 32-bit word.
        unsafe { &*(slot.add(H_STATUS) as *const AtomicU32) }
    }

    fn rx_slot(&self, i: usize) -> *mut u8 {
        // SAFETY: i < RX_SLOTS, so the offset is inside the mapping's receive part.
        unsafe { self.map.add(i * SLOT) }
    }

    fn tx_slot(&self, i: usize) -> *mut u8 {
        // SAFETY: i < TX_SLOTS, so the offset is inside the mapping's transmit part.
        unsafe { self.map.add((RX_SLOTS + i) * SLOT) }
    }

    fn word(slot: *mut u8, off: usize) -> u32 {
        // SAFETY: the header words are inside the slot, aligned, and the slot is ours
        // (TP_STATUS_USER) while they are read.
        unsafe { std::ptr::read(slot.add(off) as *const u32) }
    }

    /// Takes the next received frame: copies it, its virtio header first, to `buf` and gives the
    /// slot back to the kernel. A slot marked `TP_STATUS_COPY` has the whole frame on the
    /// socket's queue: it is read from `sock` into `big`.
    pub fn recv(&mut self, sock: &PacketSocket, buf: &mut [u8], big: &mut [u8]) -> Rx {
        let slot = self.rx_slot(self.rx_next);
        let st = self.status(slot).load(Ordering::Acquire);
        if st & TP_STATUS_USER == 0 {
            return Rx::Empty;
        }
        let r = if st & TP_STATUS_COPY != 0 {
            match sock.recv(big) {
                Ok(Some(n)) if n <= big.len() => Rx::Big(n),
                _ => Rx::Lost,
            }
        } else {
            let snap = Self::word(slot, H_SNAPLEN) as usize;
            // SAFETY: tp_mac is a 16-bit offset inside the slot the kernel filled.
            let mac = usize::from(unsafe { std::ptr::read(slot.add(H_MAC) as *const u16) });
            let n = snap + VNET_HDR_LEN;
            let whole = Self::word(slot, H_LEN) as usize == snap;
            if !whole || mac < VNET_HDR_LEN || mac + snap > SLOT || n > buf.len() {
                Rx::Lost
            } else {
                // SAFETY: the slot is ours (TP_STATUS_USER) and `mac - 10 .. mac + snap` lies
                // inside it (checked above); `buf` holds at least `n` bytes and does not overlap
                // the mapping.
                unsafe {
                    std::ptr::copy_nonoverlapping(slot.add(mac - VNET_HDR_LEN), buf.as_mut_ptr(), n)
                };
                Rx::Frame(n)
            }
        };
        self.status(slot).store(TP_STATUS_KERNEL, Ordering::Release);
        self.rx_next = (self.rx_next + 1) % RX_SLOTS;
        r
    }

    /// Queues `frame` (virtio header first) on the transmit ring; `false` when it does not fit
    /// in a slot or no slot is free (the caller sends it another way, or kicks and retries).
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if frame.len() > SLOT - TX_DATA {
            return false;
        }
        let slot = self.tx_slot(self.tx_next);
        let st = self.status(slot).load(Ordering::Acquire);
        if st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT {
            return false;
        }
        // SAFETY: the slot is ours (TP_STATUS_AVAILABLE) and `frame` fits after its header
        // (checked above); `frame` does not overlap the mapping. tp_len is an aligned word of
        // the slot's header.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), slot.add(TX_DATA), frame.len());
            std::ptr::write(slot.add(H_LEN) as *mut u32, frame.len() as u32);
        }
        self.status(slot)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_next = (self.tx_next + 1) % TX_SLOTS;
        self.tx_pending += 1;
        true
    }

    /// Sends `frame` (virtio header first) by itself, after what the ring holds: the way for a
    /// frame longer than a slot (a GSO super-frame) or one that finds the ring full.
    ///
    /// # Errors
    /// The kernel's refusal.
    pub fn send_one(&mut self, sock: &PacketSocket, frame: &[u8]) -> io::Result<()> {
        self.kick(sock)?;
        self.big.send(frame)
    }

    /// Transmits every frame queued on the transmit ring with one system call.
    ///
    /// # Errors
    /// The kernel's refusal (frames it could not send are skipped, `PACKET_LOSS`).
    pub fn kick(&mut self, sock: &PacketSocket) -> io::Result<()> {
        if self.tx_pending == 0 {
            return Ok(());
        }
        self.tx_pending = 0;
        // SAFETY: no buffer: a zero-length send on a socket with a transmit ring sends the
        // ring's requested slots.
        let r = unsafe { libc::send(sock.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The kernel's receive counters since the last call: (frames, frames dropped because the
    /// ring was full).
    pub fn stats(sock: &PacketSocket) -> (u64, u64) {
        let mut st = TpacketStats::default();
        let mut len = std::mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are live and `len` is `st`'s size.
        let r = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStats).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return (0, 0);
        }
        (u64::from(st.packets), u64::from(st.drops))
    }
}

impl Drop for Rings {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `setup` with this length and is unmapped once.
        unsafe { libc::munmap(self.map.cast(), self.map_len) };
    }
}
