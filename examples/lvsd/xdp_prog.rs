//! The eBPF side of `--xdp`: a five-instruction XDP program, hand-assembled here, that
//! redirects every frame of an interface's receive queue to the `AF_XDP` socket registered for
//! that queue in an `XSKMAP` (or lets it pass to the kernel when no socket is registered), the
//! map, and the attachment of the program to the interface by a BPF link.
//!
//! The program, in the kernel's eBPF assembler notation:
//!
//! ```text
//! r2 = *(u32 *)(r1 + 16)      ; xdp_md.rx_queue_index
//! r1 = map_fd(xskmap)         ; ld_imm64, BPF_PSEUDO_MAP_FD
//! r3 = XDP_PASS               ; what bpf_redirect_map returns when queue r2 has no socket
//! call bpf_redirect_map       ; helper 51
//! exit                        ; XDP_REDIRECT, or XDP_PASS
//! ```
//!
//! It is attached with `BPF_LINK_CREATE` (attach type `BPF_XDP`) in native (driver) mode, so
//! that a veth runs it in its own NAPI poll rather than in the generic `netif_receive_skb`
//! hook. The link's file descriptor holds the attachment: when lvsd exits (or the
//! [`XdpProgram`] is dropped) the kernel detaches the program and the interface's frames go to
//! the kernel again. Nothing is pinned.
//!
//! All system calls go through `bpf(2)` with `union bpf_attr` laid out by the `#[repr(C)]`
//! structures below (each padded with zeros to the size of the union the kernel's uapi header
//! defines, 144 bytes). Numbers are from the kernel's `include/uapi/linux/bpf.h` and
//! `if_link.h` (fixed ABI).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

// include/uapi/linux/bpf.h: enum bpf_cmd
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
// enum bpf_map_type, enum bpf_prog_type, enum bpf_attach_type
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
// include/uapi/linux/if_link.h
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
// instruction classes, sizes, modes and operations (include/uapi/linux/bpf_common.h, bpf.h)
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_MOV: u8 = 0xb0;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_FUNC_redirect_map`.
const HELPER_REDIRECT_MAP: i32 = 51;
/// `enum xdp_action`.
const XDP_PASS: i32 = 2;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE: i16 = 16;
/// `sizeof(union bpf_attr)` in the uapi header this was written against.
const ATTR_SIZE: usize = 144;
/// Entries of the map: receive queues a socket can be registered for.
pub const MAX_QUEUES: u32 = 64;
/// Bytes of verifier log kept for an error message.
const LOG_SIZE: usize = 64 * 1024;

/// One `struct bpf_insn`: opcode, destination and source registers (a nibble each, destination
/// in the low one), signed offset, signed immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | u64::from((dst & 0xf) | (src << 4)) << 8
        | u64::from(off as u16) << 16
        | u64::from(imm as u32) << 32
}

/// The program's instructions, with `map_fd` in its `ld_imm64`.
pub fn program(map_fd: RawFd) -> [u64; 6] {
    [
        // r2 = *(u32 *)(r1 + 16)
        insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, XDP_MD_RX_QUEUE, 0),
        // r1 = the map (two instruction slots: the second holds the upper 32 bits, zero)
        insn(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_PASS
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS),
        insn(BPF_JMP | BPF_CALL, 0, 0, 0, HELPER_REDIRECT_MAP),
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    ]
}

/// `BPF_MAP_CREATE`'s part of `union bpf_attr`.
#[repr(C)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    pad: [u8; ATTR_SIZE - 44],
}

/// `BPF_MAP_UPDATE_ELEM`'s part.
#[repr(C)]
struct MapElem {
    map_fd: u32,
    pad0: u32,
    key: u64,
    value: u64,
    flags: u64,
    pad: [u8; ATTR_SIZE - 32],
}

/// `BPF_PROG_LOAD`'s part, up to `expected_attach_type`.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u8; ATTR_SIZE - 72],
}

/// `BPF_LINK_CREATE`'s part, for an XDP link.
#[repr(C)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    pad: [u8; ATTR_SIZE - 16],
}

/// `bpf(cmd, attr, sizeof attr)`; a new file descriptor for the commands that return one.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    const { assert!(std::mem::size_of::<T>() == ATTR_SIZE) };
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` value of exactly the size passed, laid
    // out as the kernel's `union bpf_attr` member for `cmd`; pointers inside it (instructions,
    // license, log buffer, key, value) point at memory the caller keeps alive across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            ATTR_SIZE as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` is a file descriptor the kernel just returned to this process; nothing else
    // owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    let b = s.as_bytes();
    let k = b.len().min(15);
    n[..k].copy_from_slice(&b[..k]);
    n
}

/// The `XSKMAP`, the loaded program and (once [`XdpProgram::attach`] ran) its link to an
/// interface. Dropping it detaches the program (the link goes first).
#[derive(Debug)]
pub struct XdpProgram {
    // fields drop in this order: the link first, so the program stops running before its
    // program and map descriptors close
    link: Option<OwnedFd>,
    prog: OwnedFd,
    map: OwnedFd,
}

impl XdpProgram {
    /// Creates the map and loads the program (not attached yet).
    ///
    /// # Errors
    /// The kernel's refusal (no `CAP_BPF`/`CAP_NET_ADMIN`, no BPF); a refused program's error
    /// carries the verifier's log.
    pub fn load() -> io::Result<XdpProgram> {
        let mut mc = MapCreate {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: MAX_QUEUES,
            map_flags: 0,
            inner_map_fd: 0,
            numa_node: 0,
            map_name: name16("lvsd_xsks"),
            pad: [0; ATTR_SIZE - 44],
        };
        let map = owned(
            bpf(BPF_MAP_CREATE, &mut mc)
                .map_err(|e| io::Error::new(e.kind(), format!("XSKMAP: {e}")))?,
        );
        let insns = program(map.as_raw_fd());
        let license = b"Dual MIT/GPL\0";
        let mut log = vec![0u8; LOG_SIZE];
        let mut pl = ProgLoad {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: LOG_SIZE as u32,
            log_buf: log.as_mut_ptr() as u64,
            kern_version: 0,
            prog_flags: 0,
            prog_name: name16("lvsd_xsk"),
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
            pad: [0; ATTR_SIZE - 72],
        };
        let prog = match bpf(BPF_PROG_LOAD, &mut pl) {
            Ok(fd) => owned(fd),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                return Err(io::Error::new(
                    e.kind(),
                    format!("XDP program load: {e}; verifier log:\n{}", text.trim_end()),
                ));
            }
        };
        Ok(XdpProgram {
            link: None,
            prog,
            map,
        })
    }

    /// Registers socket `xsk_fd` (bound to the interface and `queue`) in the map: the program
    /// redirects that queue's frames to it.
    ///
    /// # Errors
    /// The kernel's refusal (the socket not bound, the queue beyond the map).
    pub fn set_socket(&self, queue: u32, xsk_fd: RawFd) -> io::Result<()> {
        let key = queue;
        let value = xsk_fd as u32;
        let mut me = MapElem {
            map_fd: self.map.as_raw_fd() as u32,
            pad0: 0,
            key: (&key as *const u32) as u64,
            value: (&value as *const u32) as u64,
            flags: 0,
            pad: [0; ATTR_SIZE - 32],
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut me)
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), format!("XSKMAP update: {e}")))
    }

    /// Attaches the program to interface `ifindex` in native (driver) mode by a BPF link.
    ///
    /// # Errors
    /// The kernel's refusal: no native XDP in the driver, another program attached, an MTU too
    /// large for XDP.
    pub fn attach(&mut self, ifindex: u32) -> io::Result<()> {
        let mut lc = LinkCreate {
            prog_fd: self.prog.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: BPF_XDP,
            flags: XDP_FLAGS_DRV_MODE,
            pad: [0; ATTR_SIZE - 16],
        };
        let fd = bpf(BPF_LINK_CREATE, &mut lc)
            .map_err(|e| io::Error::new(e.kind(), format!("XDP attach (native mode): {e}")))?;
        self.link = Some(owned(fd));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_instructions() {
        let p = program(7);
        // ldxw r2, [r1 + 16]
        assert_eq!(p[0], 0x0000_0000_0010_1261);
        // lddw r1 (pseudo map fd 7)
        assert_eq!(p[1], 0x0000_0007_0000_1118);
        assert_eq!(p[2], 0);
        // mov64 r3, 2; call 51; exit
        assert_eq!(p[3], 0x0000_0002_0000_03b7);
        assert_eq!(p[4], 0x0000_0033_0000_0085);
        assert_eq!(p[5], 0x0000_0000_0000_0095);
    }
}
