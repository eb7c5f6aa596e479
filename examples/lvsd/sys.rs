//! The system calls lvsd needs that have no safe wrapper in std: an `AF_PACKET` socket bound to
//! one interface, and `poll(2)`. All of lvsd's `unsafe` code is in this file; every block is a
//! single FFI call whose pointer arguments come from live Rust references of the stated size.
//!
//! The socket is opened with `PACKET_VNET_HDR`, so every frame read or written is preceded by a
//! 10-byte `struct virtio_net_hdr` ([`VnetHdr`]): the kernel tells lvsd which received frames
//! still need their transport checksum (`CHECKSUM_PARTIAL`, normal for frames that crossed a
//! veth from a local TCP stack) and which are TSO/GRO super-frames with their segment size, so
//! that lvsd can finish them in software instead of forwarding broken or oversized frames.
//! `PACKET_IGNORE_OUTGOING` keeps lvsd from reading back its own transmissions.
//!
//! For connection sync it also reads the kernel's IPv4 addresses of an interface
//! (`getifaddrs(3)`) and sets the two socket options std has no setter for
//! (`IP_MULTICAST_IF` by interface index, `SO_BINDTODEVICE`).

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// <linux/if_packet.h>, <linux/if_ether.h>: fixed kernel ABI values.
const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_FANOUT_DATA: libc::c_int = 22;
const PACKET_FANOUT_CBPF: libc::c_int = 6;
const PACKET_FANOUT_FLAG_IGNORE_OUTGOING: libc::c_int = 0x4000;
const ETH_P_ALL: u16 = 0x0003;

/// Length of the `virtio_net_hdr` in front of every frame.
pub const VNET_HDR_LEN: usize = 10;

/// `virtio_net_hdr` flags and GSO types.
pub mod vnet {
    /// The transport checksum is not done: sum from `csum_start`, store at `+csum_offset`.
    pub const F_NEEDS_CSUM: u8 = 1;
    /// No segmentation.
    pub const GSO_NONE: u8 = 0;
    /// TCP over IPv4 segmentation.
    pub const GSO_TCPV4: u8 = 1;
    /// TCP over IPv6 segmentation.
    pub const GSO_TCPV6: u8 = 4;
    /// UDP segmentation (`UDP_SEGMENT`).
    pub const GSO_UDP_L4: u8 = 5;
    /// ECN bit on top of a GSO type.
    pub const GSO_ECN: u8 = 0x80;
}

/// A `struct virtio_net_hdr` (host byte order, as `PACKET_VNET_HDR` uses on little- and
/// big-endian hosts alike for legacy headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    /// [`vnet::F_NEEDS_CSUM`] and friends.
    pub flags: u8,
    /// [`vnet::GSO_TCPV4`] and friends.
    pub gso_type: u8,
    /// Length of the headers before the payload.
    pub hdr_len: u16,
    /// Segment size (MSS) of a GSO frame.
    pub gso_size: u16,
    /// Where the checksum starts, from the frame start.
    pub csum_start: u16,
    /// Where the checksum is stored, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Writes the header to the first 10 bytes of `b` (which must hold them).
    pub fn write(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }

    /// Reads the header from the first 10 bytes of `b`.
    pub fn read(b: &[u8]) -> Option<VnetHdr> {
        let b = b.get(..VNET_HDR_LEN)?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }
}

/// An `AF_PACKET`/`SOCK_RAW` socket bound to one interface, with `PACKET_VNET_HDR`.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

/// `setsockopt(fd, level, name, v)` with `v`'s size: the one wrapper of lvsd's socket options
/// (packet sockets, their rings, the `AF_XDP` sockets). `T` is the plain C value the option
/// takes (an integer, a kernel ABI structure).
pub(crate) fn set_sockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
) -> io::Result<()> {
    // SAFETY: `v` is a live reference and the length passed is its size; the kernel only reads
    // it.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl PacketSocket {
    /// Opens a socket on interface `ifindex` that sees every frame (all EtherTypes), optionally
    /// putting the interface in promiscuous mode for as long as the socket lives.
    pub fn open(ifindex: u32, promisc: bool) -> io::Result<PacketSocket> {
        Self::open_with(ifindex, promisc, ETH_P_ALL)
    }

    /// Opens a socket on interface `ifindex` that only sends (bound with protocol 0, it
    /// receives nothing): the way out for frames a transmit ring cannot take, since every
    /// `send` on a socket with a transmit ring sends the ring instead.
    pub fn open_tx(ifindex: u32) -> io::Result<PacketSocket> {
        Self::open_with(ifindex, false, 0)
    }

    fn open_with(ifindex: u32, promisc: bool, protocol: u16) -> io::Result<PacketSocket> {
        // Protocol 0 receives nothing until bind() names the interface, so no frame of another
        // interface slips in between socket() and bind().
        // SAFETY: no pointers; the result is checked before use.
        let fd = check(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let s = PacketSocket { fd };
        s.set_int(SOL_PACKET, PACKET_VNET_HDR, 1)?;
        s.set_int(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
        // big buffers so that bursts survive a slow pass of the loop; FORCE needs CAP_NET_ADMIN
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if s.set_int(libc::SOL_SOCKET, force, 8 << 20).is_err() {
                let _ = s.set_int(libc::SOL_SOCKET, plain, 8 << 20);
            }
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
        check(unsafe {
            libc::bind(
                s.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        if promisc {
            // SAFETY: packet_mreq is plain old data; all-zero is a valid value.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = ifindex as i32;
            mr.mr_type = PACKET_MR_PROMISC;
            set_sockopt(s.fd.as_raw_fd(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr)?;
        }
        Ok(s)
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
        set_sockopt(self.fd.as_raw_fd(), level, name, &v)
    }

    /// Joins fanout group `group` of this socket's interface, steered by a classic BPF program
    /// ([`crate::fanout`]; until [`PacketSocket::set_fanout_program`] every frame goes to the
    /// first member). Members are numbered in the order they join.
    ///
    /// # Errors
    /// The kernel's refusal (the group exists with another type, or the socket is not bound).
    ///
    /// The group ignores outgoing frames, as `PACKET_IGNORE_OUTGOING` does for one socket (a
    /// group's hook has its own flag); kernels before 4.20 lack the flag, and there the group
    /// is joined without it (lvsd's own frames then come back and are dropped as not for its
    /// MACs).
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        let arg = i32::from(group) | (PACKET_FANOUT_CBPF << 16);
        let ignore = arg | (PACKET_FANOUT_FLAG_IGNORE_OUTGOING << 16);
        self.set_int(SOL_PACKET, PACKET_FANOUT, ignore)
            .or_else(|_| self.set_int(SOL_PACKET, PACKET_FANOUT, arg))
    }

    /// Sets the steering program of the fanout group this socket is in (for all members).
    ///
    /// # Errors
    /// The kernel's refusal (a program its checker rejects, or no group).
    pub fn set_fanout_program(&self, prog: &[crate::fanout::Insn]) -> io::Result<()> {
        let filter: Vec<libc::sock_filter> = prog
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: u16::try_from(filter.len()).map_err(|_| io::ErrorKind::InvalidInput)?,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: `fprog` points at `filter`, both live across the call, and the length passed
        // is `fprog`'s size; the kernel copies the program.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_FANOUT_DATA,
                (&fprog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// Reads one frame (virtio header first) into `buf` without blocking; `Ok(None)` when
    /// nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: the pointer and length describe `buf`, which is writable for the call.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(n as usize))
    }

    /// Sends one frame; `buf` starts with the virtio header. Blocks while the socket's send
    /// buffer is full.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        loop {
            // SAFETY: the pointer and length describe `buf`, readable for the call.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (`-1`: no limit); returns for
/// each descriptor whether it is readable (or in error, which a read then reports).
/// Interrupted by a signal, it returns with nothing readable.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32, ready: &mut Vec<bool>) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: the pointer and count describe `pfds`, writable for the call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    ready.clear();
    if r < 0 {
        let e = io::Error::last_os_error();
        ready.resize(fds.len(), false);
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(e)
        };
    }
    ready.extend(pfds.iter().map(|p| p.revents != 0));
    Ok(())
}

/// The IPv4 addresses the kernel has on interface `name`, in the kernel's order.
///
/// # Errors
/// `getifaddrs` failing.
pub fn kernel_ipv4_addrs(name: &str) -> io::Result<Vec<Ipv4Addr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; the list is freed below.
    check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a non-null node of the list getifaddrs returned, alive until
        // freeifaddrs; its name is a NUL-terminated string and a non-null `ifa_addr` points to
        // a sockaddr whose family says its type (sockaddr_in for AF_INET).
        unsafe {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(ifa.ifa_name).to_bytes() == name.as_bytes()
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            p = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// `IP_MULTICAST_IF`: multicast from `sock` leaves through interface `ifindex`, from `addr`.
///
/// # Errors
/// The kernel's refusal.
pub fn set_multicast_if_v4(sock: &impl AsRawFd, ifindex: u32, addr: Ipv4Addr) -> io::Result<()> {
    let mr = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        imr_ifindex: ifindex as libc::c_int,
    };
    set_sockopt(
        sock.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &mr,
    )
}

/// `SO_BINDTODEVICE`: `sock` receives only what arrives on interface `name` (needs
/// `CAP_NET_RAW`).
///
/// # Errors
/// The kernel's refusal.
pub fn bind_to_device(sock: &impl AsRawFd, name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, readable for the call (the
    // kernel takes the length, no NUL is needed).
    check(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `--sched-fifo PRIO`: the calling thread runs under `SCHED_FIFO` at priority `prio` (1–99);
/// threads it creates afterwards inherit the policy. Ahead of every normal thread of its CPU,
/// the kernel's NAPI threads that feed lvsd included: those then run only when lvsd has drained
/// its rings and sleeps, so under overload frames wait (and are dropped) in the interfaces'
/// queues before the kernel spends work on them, instead of lvsd losing its CPU to the receive
/// work of frames it then has no time for (receive livelock).
///
/// # Errors
/// The kernel's refusal (`EPERM` without `CAP_SYS_NICE`, `EINVAL` out of range).
pub fn sched_fifo(prio: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(prio),
    };
    // SAFETY: `param` is a live sched_param for the call; pid 0 is the calling thread.
    check(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) }).map(drop)
}
