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
//! Transmit: [`Rings::push`] copies a frame (virtio header first) into a batch buffer;
//! [`Rings::kick`] sends the batch with one `sendmmsg(2)` on a send-only socket of the same
//! interface. No `PACKET_TX_RING`: the kernel sends a transmit ring's frames as page fragments
//! of the mapping (zero copy), and a veth must then copy each into a freshly allocated page
//! before handing it on (`skb_copy_ubufs`); a profile of lvsd forwarding 64-byte frames showed
//! that page allocation, copy, free and completion at about 8 % of lvsd's CPU, where `sendmmsg`
//! copies the small frame into the socket buffer's own data.
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
/// Frames a transmit batch holds before the caller must kick.
pub const TX_BATCH: usize = 1024;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_COPY_THRESH: libc::c_int = 7;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_LOSS: libc::c_int = 14;
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_COPY: u32 = 2;
/// `struct tpacket2_hdr` offsets: status, len, snaplen, mac.
const H_STATUS: usize = 0;
const H_LEN: usize = 4;
const H_SNAPLEN: usize = 8;
const H_MAC: usize = 12;

/// Size of one slot (a page holds two). Received frames up to about 1,970 bytes fit; longer
/// ones take the copy path.
pub const SLOT: usize = 2048;
/// Slots per block (the kernel allocates a ring in blocks).
const SLOTS_PER_BLOCK: usize = 32;
/// Receive slots (16 MiB): about 30 ms of buffering at 250k frames per second, enough to ride
/// out lvsd losing its CPU for a while on a busy machine.
pub const RX_SLOTS: usize = 8192;

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
    /// Frames queued since the last [`Rings::kick`], back to back (virtio header first).
    tx_buf: Vec<u8>,
    /// Their ends in `tx_buf`.
    tx_ends: Vec<usize>,
    /// The send-only socket on the same interface the batches go out by.
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
    crate::sys::set_sockopt(sock.as_raw_fd(), SOL_PACKET, name, v)
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
        let map_len = RX_SLOTS * SLOT;
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
            tx_buf: Vec::with_capacity(TX_BATCH * 128),
            tx_ends: Vec::with_capacity(TX_BATCH),
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

    fn word(slot: *mut u8, off: usize) -> u32 {
        // SAFETY: the header words are inside the slot, aligned, and the slot is ours
        // (TP_STATUS_USER) while they are read.
        unsafe { std::ptr::read(slot.add(off) as *const u32) }
    }

    /// Whether the next receive slot holds a frame (what [`Rings::recv`] would take), without
    /// taking it.
    pub fn ready(&self) -> bool {
        let slot = self.rx_slot(self.rx_next);
        self.status(slot).load(Ordering::Acquire) & TP_STATUS_USER != 0
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

    /// Queues `frame` (virtio header first) for the next [`Rings::kick`]; `false` when the
    /// batch is full (the caller kicks and retries).
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if self.tx_ends.len() >= TX_BATCH {
            return false;
        }
        self.tx_buf.extend_from_slice(frame);
        self.tx_ends.push(self.tx_buf.len());
        true
    }

    /// Sends `frame` (virtio header first) by itself, after what the batch holds.
    ///
    /// # Errors
    /// The kernel's refusal.
    pub fn send_one(&mut self, sock: &PacketSocket, frame: &[u8]) -> io::Result<()> {
        self.kick(sock)?;
        self.big.send(frame)
    }

    /// Sends every queued frame: one `sendmmsg(2)` per [`TX_BATCH`] frames (blocking while the
    /// socket's send buffer is full, as `send(2)` does). `sock` is the receiving socket, unused
    /// here (the batch goes out by the send-only one).
    ///
    /// # Errors
    /// The kernel's refusal of a frame: it and the frames after it in the batch are dropped.
    pub fn kick(&mut self, sock: &PacketSocket) -> io::Result<()> {
        let _ = sock;
        let n = self.tx_ends.len();
        if n == 0 {
            return Ok(());
        }
        let base = self.tx_buf.as_mut_ptr();
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(n);
        let mut start = 0;
        for &end in &self.tx_ends {
            iovs.push(libc::iovec {
                // SAFETY: `start <= end <= tx_buf.len()`, so the pointer stays inside `tx_buf`.
                iov_base: unsafe { base.add(start) }.cast(),
                iov_len: end - start,
            });
            start = end;
        }
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value (no name, no control).
        let mut msgs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let mut done = 0;
        let mut r = Ok(());
        while done < n {
            // SAFETY: `msgs[done..]` are valid headers, each pointing at one iovec of `iovs`,
            // which points into `tx_buf`; all live across the call and the kernel only reads
            // them.
            let k = unsafe {
                libc::sendmmsg(
                    self.big.as_raw_fd(),
                    msgs.as_mut_ptr().add(done),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if k < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                r = Err(e);
                break;
            }
            if k == 0 {
                break;
            }
            done += k as usize;
        }
        self.tx_buf.clear();
        self.tx_ends.clear();
        r
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
