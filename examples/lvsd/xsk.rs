//! `--xdp`: an `AF_XDP` socket (XSK) on an interface's receive queue 0, fed by the XDP program
//! of [`crate::xdp_prog`], as the frame path instead of the `PACKET_MMAP` rings of
//! [`crate::ring`]. All of this path's `unsafe` code is in this file and that one: the socket
//! options, the mappings of the UMEM and of the four rings, the ring indices and descriptors
//! shared with the kernel, and the copies in and out of UMEM chunks.
//!
//! The UMEM is [`CHUNKS`] chunks of [`CHUNK`] bytes in one anonymous mapping: the first
//! [`RX_CHUNKS`] are receive buffers, lent to the kernel through the fill ring; the other
//! [`TX_CHUNKS`] are transmit buffers, on lvsd's free list until a frame is copied into one and posted on the transmit
//! ring, back on the list when the completion ring returns it.
//!
//! Receive: the driver runs the program in its NAPI poll, the program redirects the frame, and
//! the kernel copies it (copy mode, `XDP_COPY`: veth has no zero-copy) into a chunk taken from
//! the fill ring and posts a descriptor on the receive ring. [`Xsk::recv`] copies the frame out
//! after a zeroed virtio header (so that the rest of lvsd reads it as a frame of the packet
//! socket, no offloads asked) and gives the chunk back through the fill ring; ring indices are
//! published every [`PUBLISH_EVERY`] frames, when the ring is found empty, and at each kick.
//! A frame reaches lvsd without an skb and without the stack.
//!
//! Transmit: [`Xsk::push`] copies a frame (its virtio header stripped) into a free chunk and
//! posts it; [`Xsk::kick`] wakes the kernel with `sendto(2)` (copy mode sends at most 32
//! descriptors per call, building an skb for each, and says `EAGAIN` while more remain),
//! repeated while the ring holds descriptors, at most [`KICK_ROUNDS`] times. A frame whose
//! virtio header asks for segmentation or a checksum cannot go through the XSK (a descriptor
//! carries no offload request): the caller sends it by the interface's packet socket instead
//! ([`Push::Offload`]). No free chunk after a kick: the frame is dropped and counted.
//!
//! Ring indices are free-running `u32`s shared with the kernel (another CPU): the other side's
//! index is read with acquire ordering, lvsd's own written with release ordering, through
//! `AtomicU32` views into the mappings.

use crate::ring::Rx;
use crate::sys::{VnetHdr, VNET_HDR_LEN};
use crate::xdp_prog::XdpProgram;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes of one UMEM chunk. The kernel puts a received frame 256 bytes in
/// (`XDP_PACKET_HEADROOM`), so frames up to 1,792 bytes fit: enough for a 1,500-byte MTU.
pub const CHUNK: usize = 2048;
/// Receive chunks (16 MiB), as many as the packet rings' slots ([`crate::ring::RX_SLOTS`]):
/// about 30 ms of buffering at 250k frames per second.
pub const RX_CHUNKS: usize = 8192;
/// Transmit chunks (4 MiB).
pub const TX_CHUNKS: usize = 2048;
/// Chunks in the UMEM: the receive ones first, then the transmit ones.
pub const CHUNKS: usize = RX_CHUNKS + TX_CHUNKS;
/// Received frames between publications of the receive consumer and fill producer indices.
const PUBLISH_EVERY: u32 = 32;
/// Most `sendto(2)` calls one [`Xsk::kick`] makes (64 x 32 descriptors: a full transmit ring).
const KICK_ROUNDS: usize = 64;
/// The queue lvsd's socket is bound to; frames of other queues pass to the kernel.
pub const QUEUE: u32 = 0;
/// `sizeof(struct xdp_desc)`.
const DESC: usize = 16;

/// What [`Xsk::push`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Copied into a chunk and posted on the transmit ring.
    Queued,
    /// Not taken: its virtio header asks for an offload, or it is longer than a chunk (the
    /// caller sends it another way).
    Offload,
    /// Dropped: no free chunk even after a kick (counted).
    NoChunk,
}

/// The XSK's own counters since the last [`Xsk::stats`] plus the kernel's (`XDP_STATISTICS`)
/// increments over the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames lvsd took from the receive ring.
    pub rx_frames: u64,
    /// Frames posted on the transmit ring.
    pub tx_frames: u64,
    /// Frames the kernel dropped (too long for a chunk, and the like).
    pub rx_dropped: u64,
    /// Frames the kernel dropped because the receive ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    /// Transmit descriptors the kernel refused.
    pub tx_invalid: u64,
    /// Frames dropped for want of a free transmit chunk.
    pub tx_no_chunk: u64,
}

/// A shared or anonymous mapping, unmapped when dropped.
#[derive(Debug)]
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize, fd: RawFd, offset: i64) -> io::Result<Mapping> {
        let (flags, fd) = if fd < 0 {
            (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
            )
        } else {
            (libc::MAP_SHARED | libc::MAP_POPULATE, fd)
        };
        // SAFETY: a fresh mapping (anonymous, or of the socket's ring at `offset`, which the
        // kernel checks against the ring's size); the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this length and is unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One of the four rings: its mapping, where the kernel placed the producer and consumer
/// indices, the flags word and the descriptors, and lvsd's side of it.
#[derive(Debug)]
struct Ring {
    map: Mapping,
    prod: usize,
    cons: usize,
    flags: usize,
    desc: usize,
    /// Entries (a power of two: as many as the chunks of its direction, so the fill and
    /// transmit rings always have room for what lvsd holds) less one: the index mask.
    mask: u32,
    /// lvsd's own index (producer or consumer, by ring), possibly not yet published.
    local: u32,
    /// The kernel's index as last read (the receive ring's producer); on the transmit ring,
    /// lvsd's producer index as last published.
    seen: u32,
}

impl Ring {
    fn open(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        pgoff: i64,
        entry: usize,
        entries: usize,
    ) -> io::Result<Ring> {
        let len = off.desc as usize + entries * entry;
        let map = Mapping::new(len, fd, pgoff)?;
        Ok(Ring {
            map,
            prod: off.producer as usize,
            cons: off.consumer as usize,
            flags: off.flags as usize,
            desc: off.desc as usize,
            mask: entries as u32 - 1,
            local: 0,
            seen: 0,
        })
    }

    fn word(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is one of the offsets the kernel gave for this ring
        // (`XDP_MMAP_OFFSETS`), inside the mapping and 4-byte aligned; the kernel accesses the
        // word only atomically (smp_load_acquire/smp_store_release).
        unsafe { &*(self.map.ptr.add(at) as *const AtomicU32) }
    }

    fn producer(&self) -> &AtomicU32 {
        self.word(self.prod)
    }

    fn consumer(&self) -> &AtomicU32 {
        self.word(self.cons)
    }

    fn flags(&self) -> u32 {
        self.word(self.flags).load(Ordering::Relaxed)
    }

    /// Entry `i` (a free-running index) of a ring of `size`-byte entries.
    fn entry(&self, i: u32, size: usize) -> *mut u8 {
        // SAFETY: the index is masked to the ring, so the entry lies inside the mapping,
        // which holds `mask + 1` entries after `desc`.
        unsafe {
            self.map
                .ptr
                .add(self.desc + (i & self.mask) as usize * size)
        }
    }

    /// The `u64` at the start of entry `i` of a ring of `size`-byte entries (a fill or
    /// completion ring's address, a descriptor's `addr`).
    fn read_u64(&self, i: u32, size: usize) -> u64 {
        // SAFETY: an 8-byte field inside the mapping (see `entry`), 8-byte aligned (the
        // kernel's `desc` offset is aligned and entries are 8 or 16 bytes); the entry is
        // between the consumer and producer indices, so the kernel does not write it now.
        unsafe { std::ptr::read_volatile(self.entry(i, size) as *const u64) }
    }

    /// The `u32` at offset `at` of entry `i` (8: a descriptor's `len`).
    fn read_u32(&self, i: u32, size: usize, at: usize) -> u32 {
        // SAFETY: as in `read_u64`, for a 4-byte field inside the entry.
        unsafe { std::ptr::read_volatile(self.entry(i, size).add(at) as *const u32) }
    }

    fn write_u64(&self, i: u32, size: usize, at: usize, v: u64) {
        // SAFETY: as in `read_u64`; the entry is past the published producer index, so the
        // kernel does not read it until lvsd publishes it.
        unsafe { std::ptr::write_volatile(self.entry(i, size).add(at) as *mut u64, v) }
    }

    fn write_u32(&self, i: u32, size: usize, at: usize, v: u32) {
        // SAFETY: as in `write_u64`, for a 4-byte field at offset `at` (8: `xdp_desc.len`).
        unsafe { std::ptr::write_volatile(self.entry(i, size).add(at) as *mut u32, v) }
    }
}

fn setopt<T>(fd: RawFd, name: libc::c_int, v: &T) -> io::Result<()> {
    crate::sys::set_sockopt(fd, libc::SOL_XDP, name, v)
}

/// Sets the `SOL_SOCKET` option `name` to the integer `v`.
fn sol_socket_set(fd: RawFd, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    crate::sys::set_sockopt(fd, libc::SOL_SOCKET, name, &v)
}

/// libc's XDP structures this file reads or fills: integers only, so all-zero is a valid value.
trait Plain: Copy {}
impl Plain for libc::xdp_mmap_offsets {}
impl Plain for libc::xdp_statistics {}
impl Plain for libc::sockaddr_xdp {}

/// An all-zero value of one of them.
fn zeroed<T: Plain>() -> T {
    // SAFETY: `T` is one of the `Plain` structures above, made of integers only, for which
    // all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn getopt<T: Plain>(fd: RawFd, name: libc::c_int) -> io::Result<T> {
    let mut v: T = zeroed();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live and `len` is `v`'s size; the kernel writes at most that.
    let r =
        unsafe { libc::getsockopt(fd, libc::SOL_XDP, name, (&mut v as *mut T).cast(), &mut len) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

fn ctx(what: &str) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// An `AF_XDP` socket bound to one interface's queue [`QUEUE`], with its UMEM, its four rings
/// and the XDP program that feeds it. Dropping it detaches the program.
#[derive(Debug)]
pub struct Xsk {
    // drop order: the program (detached first), the socket, the rings, the UMEM
    prog: XdpProgram,
    fd: OwnedFd,
    rx: Ring,
    tx: Ring,
    fill: Ring,
    comp: Ring,
    umem: Mapping,
    /// Free transmit chunks (their UMEM offsets).
    free: Vec<u64>,
    /// Frames taken since the receive and fill indices were last published.
    unpublished: u32,
    counts: XskStats,
    kernel_prev: libc::xdp_statistics,
    /// The NAPI instance [`Xsk::busy_poll`] drives (`SO_INCOMING_NAPI_ID` after
    /// [`Xsk::set_busy_poll`]); 0: none, busy polling off.
    busy_napi: u32,
}

// SAFETY: the mappings are owned by this value alone (no pointer into them escapes), so moving
// it to another thread moves sole access with it.
unsafe impl Send for Xsk {}

impl Xsk {
    /// Opens the socket on interface `ifindex`, queue [`QUEUE`], in copy mode, loads the XDP
    /// program, registers the socket in its map and attaches it in native mode: from then on
    /// every frame of that queue comes here and the kernel's stack sees none of them.
    ///
    /// # Errors
    /// The kernel's refusal of any step, named (no `AF_XDP`, no BPF, no native XDP, the
    /// verifier's log for a refused program).
    pub fn open(ifindex: u32) -> io::Result<Xsk> {
        let prog = XdpProgram::load()?;
        // SAFETY: no pointers; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(ctx("AF_XDP socket")(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Mapping::new(CHUNK * CHUNKS, -1, 0).map_err(ctx("UMEM"))?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr as u64,
            len: umem.len as u64,
            chunk_size: CHUNK as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setopt(raw, libc::XDP_UMEM_REG, &reg).map_err(ctx("XDP_UMEM_REG"))?;
        for (opt, n) in [
            (libc::XDP_UMEM_FILL_RING, RX_CHUNKS),
            (libc::XDP_UMEM_COMPLETION_RING, TX_CHUNKS),
            (libc::XDP_RX_RING, RX_CHUNKS),
            (libc::XDP_TX_RING, TX_CHUNKS),
        ] {
            setopt(raw, opt, &(n as u32)).map_err(ctx("XSK ring size"))?;
        }
        let off: libc::xdp_mmap_offsets =
            getopt(raw, libc::XDP_MMAP_OFFSETS).map_err(ctx("XDP_MMAP_OFFSETS"))?;
        let rx = Ring::open(raw, &off.rx, libc::XDP_PGOFF_RX_RING, DESC, RX_CHUNKS)
            .map_err(ctx("rx ring"))?;
        let tx = Ring::open(raw, &off.tx, libc::XDP_PGOFF_TX_RING, DESC, TX_CHUNKS)
            .map_err(ctx("tx ring"))?;
        let fill = Ring::open(
            raw,
            &off.fr,
            libc::XDP_UMEM_PGOFF_FILL_RING as i64,
            8,
            RX_CHUNKS,
        )
        .map_err(ctx("fill ring"))?;
        let comp = Ring::open(
            raw,
            &off.cr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as i64,
            8,
            TX_CHUNKS,
        )
        .map_err(ctx("completion ring"))?;
        let mut x = Xsk {
            prog,
            fd,
            rx,
            tx,
            fill,
            comp,
            umem,
            free: (RX_CHUNKS..CHUNKS)
                .rev()
                .map(|c| (c * CHUNK) as u64)
                .collect(),
            unpublished: 0,
            counts: XskStats::default(),
            kernel_prev: zeroed(),
            busy_napi: 0,
        };
        // lend the receive chunks to the kernel
        for c in 0..RX_CHUNKS {
            x.fill.write_u64(x.fill.local, 8, 0, (c * CHUNK) as u64);
            x.fill.local = x.fill.local.wrapping_add(1);
        }
        x.fill.producer().store(x.fill.local, Ordering::Release);
        let mut sa: libc::sockaddr_xdp = zeroed();
        sa.sxdp_family = libc::AF_XDP as u16;
        sa.sxdp_flags = libc::XDP_COPY | libc::XDP_USE_NEED_WAKEUP;
        sa.sxdp_ifindex = ifindex;
        sa.sxdp_queue_id = QUEUE;
        // SAFETY: `sa` is a live sockaddr_xdp and the length passed is its size.
        let r = unsafe {
            libc::bind(
                raw,
                (&sa as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(ctx("AF_XDP bind (copy mode)")(io::Error::last_os_error()));
        }
        x.prog.set_socket(QUEUE, raw)?;
        x.prog.attach(ifindex)?;
        Ok(x)
    }

    /// The socket, for `poll(2)`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the receive ring holds a frame (what [`Xsk::recv`] would take), without taking
    /// it.
    pub fn ready(&self) -> bool {
        self.rx.producer().load(Ordering::Acquire) != self.rx.local
    }

    /// Makes lvsd's receive consumer and fill producer indices visible to the kernel.
    fn publish(&mut self) {
        if self.unpublished > 0 {
            self.rx.consumer().store(self.rx.local, Ordering::Release);
            self.fill
                .producer()
                .store(self.fill.local, Ordering::Release);
            self.unpublished = 0;
        }
    }

    /// Takes the next received frame: copies it to `buf` after a zeroed virtio header and gives
    /// its chunk back to the kernel (published in batches). Never [`Rx::Big`]: a frame longer
    /// than a chunk never reaches the ring.
    pub fn recv(&mut self, buf: &mut [u8]) -> Rx {
        if self.rx.local == self.rx.seen {
            self.rx.seen = self.rx.producer().load(Ordering::Acquire);
            if self.rx.local == self.rx.seen {
                self.publish();
                return Rx::Empty;
            }
        }
        let i = self.rx.local;
        let addr = self.rx.read_u64(i, DESC);
        let len = self.rx.read_u32(i, DESC, 8) as usize;
        self.rx.local = i.wrapping_add(1);
        let start = addr as usize;
        let r = if start.checked_add(len).is_none_or(|e| e > self.umem.len)
            || len + VNET_HDR_LEN > buf.len()
        {
            Rx::Lost
        } else {
            buf[..VNET_HDR_LEN].fill(0);
            // SAFETY: `start..start + len` is inside the UMEM (checked above), a chunk the
            // kernel handed over on the receive ring and does not touch until it is back on
            // the fill ring; `buf` holds `len` bytes after the header and does not overlap the
            // UMEM.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.umem.ptr.add(start),
                    buf.as_mut_ptr().add(VNET_HDR_LEN),
                    len,
                )
            };
            Rx::Frame(len + VNET_HDR_LEN)
        };
        let chunk = addr & !(CHUNK as u64 - 1);
        self.fill.write_u64(self.fill.local, 8, 0, chunk);
        self.fill.local = self.fill.local.wrapping_add(1);
        self.counts.rx_frames += 1;
        self.unpublished += 1;
        if self.unpublished >= PUBLISH_EVERY {
            self.publish();
        }
        r
    }

    /// Takes the transmit chunks the kernel has finished with back onto the free list.
    fn reclaim(&mut self) {
        let prod = self.comp.producer().load(Ordering::Acquire);
        let mut i = self.comp.local;
        if i == prod {
            return;
        }
        while i != prod {
            self.free
                .push(self.comp.read_u64(i, 8) & !(CHUNK as u64 - 1));
            i = i.wrapping_add(1);
        }
        self.comp.local = i;
        self.comp.consumer().store(i, Ordering::Release);
    }

    /// Queues `frame` (virtio header first) for the next [`Xsk::kick`]: copies it into a free
    /// chunk and posts a descriptor.
    pub fn push(&mut self, frame: &[u8]) -> Push {
        let h = VnetHdr::read(frame).unwrap_or_default();
        let Some(f) = frame.get(VNET_HDR_LEN..) else {
            return Push::Offload;
        };
        if h.flags != 0 || h.gso_type != 0 || f.len() > CHUNK {
            return Push::Offload;
        }
        if self.free.is_empty() {
            self.reclaim();
            if self.free.is_empty() {
                let _ = self.kick();
            }
        }
        let Some(addr) = self.free.pop() else {
            self.counts.tx_no_chunk += 1;
            return Push::NoChunk;
        };
        // SAFETY: `addr` is a transmit chunk on lvsd's free list (the kernel neither reads
        // nor writes it), `f.len() <= CHUNK` so the copy stays inside it, and `f` does not
        // overlap the UMEM.
        unsafe {
            std::ptr::copy_nonoverlapping(f.as_ptr(), self.umem.ptr.add(addr as usize), f.len())
        };
        // a free chunk means a free transmit slot: chunks and slots are as many
        let i = self.tx.local;
        self.tx.write_u64(i, DESC, 0, addr);
        self.tx.write_u32(i, DESC, 8, f.len() as u32);
        self.tx.write_u32(i, DESC, 12, 0);
        self.tx.local = i.wrapping_add(1);
        self.counts.tx_frames += 1;
        Push::Queued
    }

    /// Publishes the receive side's indices and sends what the transmit ring holds: `sendto`
    /// while descriptors remain, at most [`KICK_ROUNDS`] calls; then reclaims completed
    /// chunks.
    ///
    /// # Errors
    /// The kernel's refusal other than "try again" (`EAGAIN`, `EBUSY`, `ENOBUFS`, `EINTR`).
    pub fn kick(&mut self) -> io::Result<()> {
        self.publish();
        let mut r = Ok(());
        if self.tx.local != self.tx.seen {
            self.tx.producer().store(self.tx.local, Ordering::Release);
            self.tx.seen = self.tx.local;
        }
        for _ in 0..KICK_ROUNDS {
            if self.tx.consumer().load(Ordering::Acquire) == self.tx.local {
                break;
            }
            if self.tx.flags() & libc::XDP_RING_NEED_WAKEUP == 0 {
                break;
            }
            // SAFETY: no buffer (NULL, length 0): a wakeup of the socket's transmit path.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR) => {}
                    _ => {
                        r = Err(e);
                        break;
                    }
                }
            }
        }
        self.reclaim();
        r
    }

    /// `--xdp-busy-poll`: asks the kernel for preferred busy polling on this socket
    /// (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL` of `usec`, `SO_BUSY_POLL_BUDGET` of `budget`
    /// frames), so that [`Xsk::busy_poll`] and every transmit kick run the interface's NAPI
    /// poll in lvsd's own context. Returns the NAPI instance the socket was tied to at bind
    /// time (`SO_INCOMING_NAPI_ID`); 0 means the driver named none for queue [`QUEUE`] (veth
    /// names none): the kernel's busy polling then does nothing, and [`Xsk::busy_poll`] makes
    /// no system call.
    ///
    /// # Errors
    /// The kernel's refusal of an option (no `CONFIG_NET_RX_BUSY_POLL`, a kernel before 5.11,
    /// a budget over the sysctl's without `CAP_NET_ADMIN`).
    pub fn set_busy_poll(&mut self, usec: u32, budget: u16) -> io::Result<u32> {
        let fd = self.fd();
        sol_socket_set(fd, libc::SO_PREFER_BUSY_POLL, 1).map_err(ctx("SO_PREFER_BUSY_POLL"))?;
        sol_socket_set(fd, libc::SO_BUSY_POLL, usec as libc::c_int).map_err(ctx("SO_BUSY_POLL"))?;
        sol_socket_set(fd, libc::SO_BUSY_POLL_BUDGET, libc::c_int::from(budget))
            .map_err(ctx("SO_BUSY_POLL_BUDGET"))?;
        let mut id: libc::c_uint = 0;
        let mut len = std::mem::size_of::<libc::c_uint>() as libc::socklen_t;
        // SAFETY: `id` and `len` are live and `len` is `id`'s size; the kernel writes at most
        // that.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_INCOMING_NAPI_ID,
                (&mut id as *mut libc::c_uint).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(ctx("SO_INCOMING_NAPI_ID")(io::Error::last_os_error()));
        }
        self.busy_napi = id;
        Ok(id)
    }

    /// One busy poll of the interface's NAPI (with [`Xsk::set_busy_poll`] done): a
    /// non-blocking `recvfrom(2)` without a buffer, which runs the driver's receive (the XDP
    /// program, the copies into the UMEM) here, up to the budget twice over, and leaves the
    /// NAPI to the next busy poll (the kernel defers its own polling while the device's
    /// `napi_defer_hard_irqs` and `gro_flush_timeout` allow). Publishes the receive side's
    /// indices first, so that the kernel has every free chunk.
    pub fn busy_poll(&mut self) {
        self.publish();
        if self.busy_napi == 0 {
            return;
        }
        // SAFETY: no buffer (NULL, length 0) and no address: only the socket's busy poll runs.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// lvsd's counters and the kernel's (`XDP_STATISTICS`) since the last call.
    pub fn stats(&mut self) -> XskStats {
        let mut s = std::mem::take(&mut self.counts);
        if let Ok(k) = getopt::<libc::xdp_statistics>(self.fd(), libc::XDP_STATISTICS) {
            let p = &self.kernel_prev;
            s.rx_dropped = k.rx_dropped.saturating_sub(p.rx_dropped);
            s.rx_ring_full = k.rx_ring_full.saturating_sub(p.rx_ring_full);
            s.rx_fill_ring_empty = k
                .rx_fill_ring_empty_descs
                .saturating_sub(p.rx_fill_ring_empty_descs);
            s.tx_invalid = k.tx_invalid_descs.saturating_sub(p.tx_invalid_descs);
            self.kernel_prev = k;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smoke test for a scratch network namespace: with `LVSD_XSK_SMOKE` naming a veth
    /// (whose peer sends a frame within 5 s), one frame comes in through the socket and goes
    /// back out, its MACs swapped. Without the variable it does nothing.
    #[test]
    fn smoke_one_frame_each_way() {
        let Ok(name) = std::env::var("LVSD_XSK_SMOKE") else {
            return;
        };
        let c = std::ffi::CString::new(name).expect("name");
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert!(ifindex > 0, "no such interface");
        let mut x = Xsk::open(ifindex).expect("open");
        let mut buf = vec![0u8; 4096];
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let n = loop {
            if let Rx::Frame(n) = x.recv(&mut buf) {
                break n;
            }
            assert!(std::time::Instant::now() < until, "no frame in 5 s");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        eprintln!(
            "received {} bytes: {:02x?}",
            n - VNET_HDR_LEN,
            &buf[..n.min(40)]
        );
        let mut f = buf[..n].to_vec();
        let (dst, src) = (f[10..16].to_vec(), f[16..22].to_vec());
        f[10..16].copy_from_slice(&src);
        f[16..22].copy_from_slice(&dst);
        assert_eq!(x.push(&f), Push::Queued);
        x.kick().expect("kick");
        std::thread::sleep(std::time::Duration::from_millis(100));
        x.kick().expect("kick");
        eprintln!("stats {:?} free {}", x.stats(), x.free.len());
        assert_eq!(x.free.len(), TX_CHUNKS, "the transmit chunk came back");
    }
}
