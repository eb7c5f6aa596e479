//! Steering frames to workers: the classic-BPF program of a `PACKET_FANOUT_CBPF` group.
//!
//! With `--workers N`, each worker has its own packet socket (and rings) on every interface, and
//! the sockets of one interface form a fanout group: the kernel runs the group's program on each
//! received frame and hands the frame to member `result % N` (members in the order they joined,
//! which is the workers' order). Each worker owns its director shard, so the two directions of
//! a NAT flow must reach the same worker. The kernel's own flow hash (`PACKET_FANOUT_HASH`)
//! cannot promise that: after NAT the addresses differ (client → VIP on the way in, real server
//! → client on the way back), so the hashes of the two directions differ.
//!
//! What is identical in both directions is the client's endpoint: address and port are the
//! source of a frame to a VIP and the destination of a real server's reply. So the program
//! hashes the client endpoint — its address and port (`--steer flow`), or its address alone,
//! masked to a prefix (`--steer addr`, so that all of a client's connections meet in one
//! shard: [`crate::steering`]) — and decides which side it is on from the destination address:
//!
//! - not IPv4/IPv6, a non-first IPv4 fragment, a destination that is one of lvsd's own
//!   addresses (load agents, pings, errors about health checks), not TCP/UDP/ICMP (ARP, VRRP),
//!   or an IPv6 packet with extension headers: worker 0, which runs the control plane and the
//!   neighbour cache;
//! - a TCP/UDP destination that is a VIP: the hash of the source address and port (a client's
//!   frame);
//! - any other TCP/UDP destination: the hash of the destination address and port (a reply on
//!   its way to a client);
//! - an ICMP error (ICMPv4 types 3, 4, 11, 12; ICMPv6 types 1–4) quoting a TCP or UDP packet:
//!   the hash of the client endpoint of the quoted packet, which is one the flow sent, so the
//!   roles swap: when the quoted source is a VIP (a reply to a client, e.g. "fragmentation
//!   needed" from a router toward the client, sent to the VIP) the client is the quoted
//!   destination, otherwise (a client's packet sent on to a real server, the error coming
//!   from the server's side and sent to the client) the quoted source. So the error reaches
//!   the worker whose shard holds the flow, which relates it to the connection and passes it
//!   on, as the kernel's IPVS does (`fwd.icmp_errors` in `status`). The quoted IPv4 header's
//!   length is read from it (options allowed); an IPv6 error must have no extension headers
//!   before its ICMPv6 header, and the quoted IPv6 packet none before its TCP/UDP header (its
//!   next header is read at the fixed offset 40 + 8 + 6), or it goes to worker 0. A quote
//!   too short for the fields the hash needs, or of a non-first fragment, or of anything
//!   but TCP/UDP: worker 0 (a load past the packet's end makes the kernel return 0);
//! - any other ICMP (echo, NDP, MLD, redirects): worker 0.
//!
//! Direct routing and tunnels see one direction only, and take the TCP/UDP rules. What this
//! does not cover: a VIP that is also a client of another VIP is steered as a VIP. The VIP
//! list is one chain of compares in the program for both the outer and the quoted address
//! (a flag in scratch memory says which path continues), so each IPv4 VIP costs two
//! instructions. //! The program follows the VIPs: [`program`] is rebuilt and set again when the rules change.
//!
//! The hash (`hash(addr words, port)`: multiply-xor rounds, then the upper half folded into the
//! lower; under `addr` the words masked and the port 0) is `steer` in Rust as well, and the
//! tests run the program in a small interpreter against it over many NAT flows in both
//! directions and ICMP errors quoting either direction's packet (also cut short).

use crate::steering::Steering;
use lvs_core::IpAddr;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

// <linux/filter.h>, <linux/bpf_common.h>: fixed ABI values.
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const ALU: u16 = 0x04;
const IMM: u16 = 0x00;
const AND: u16 = 0x50;
const ADD: u16 = 0x00;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const MSH: u16 = 0xa0;
const MUL: u16 = 0x20;
const RSH: u16 = 0x70;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JSET: u16 = 0x40;
const K: u16 = 0x00;
const X: u16 = 0x08;
const RET_A: u16 = 0x10;
const TAX: u16 = 0x00;
/// Loads relative to the network header (`SKF_NET_OFF`).
const NET: i32 = -0x10_0000;
/// `skb->protocol` (`SKF_AD_OFF + SKF_AD_PROTOCOL`).
const AD_PROTOCOL: i32 = -0x1000;
/// The kernel's instruction limit (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

const K1: u32 = 0x9e37_79b1;
const K2: u32 = 0x85eb_ca6b;

/// The hash the program computes for a client endpoint: `addr` as big-endian 32-bit words
/// (one for IPv4, four for IPv6) and the port. The kernel takes it modulo the number of
/// workers.
pub fn steer(addr: &[u32], port: u16) -> u32 {
    let mut a = addr[0];
    for w in &addr[1..] {
        a = a.wrapping_mul(K1) ^ w;
    }
    let h = a.wrapping_mul(K1) ^ u32::from(port);
    let h = h.wrapping_mul(K2);
    h ^ (h >> 16)
}

/// [`steer`] of a client address and port under `steering`: the worker index the fanout
/// program computes for that client (before the kernel's modulo by the group's size).
pub fn steer_client(addr: IpAddr, port: u16, steering: Steering) -> u32 {
    let mut w = words(&addr);
    let masks = masks(w.len(), steering.prefix(addr.is_ipv4()));
    for (x, m) in w.iter_mut().zip(masks) {
        *x &= m;
    }
    steer(&w, steering.port(port))
}

/// The masks of `n` 32-bit address words that keep the first `bits` bits.
fn masks(n: usize, bits: u8) -> Vec<u32> {
    (0..n)
        .map(|j| {
            let keep = u32::from(bits).saturating_sub(32 * j as u32).min(32);
            if keep == 0 {
                0
            } else {
                u32::MAX << (32 - keep)
            }
        })
        .collect()
}

/// Why no program could be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyAddrs;

impl std::fmt::Display for TooManyAddrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many VIPs and own addresses for the steering program ({MAX_INSNS} instructions)"
        )
    }
}

/// An assembler with labels; every conditional jump is a short skip over one `ja`, so no
/// distance limit applies.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    /// (instruction index, label) of each `ja` to patch.
    fixups: Vec<(usize, usize)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn place(&mut self, l: usize) {
        self.labels[l] = Some(self.insns.len());
    }
    fn op(&mut self, code: u16, k: u32) {
        self.insns.push(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        });
    }
    fn ld(&mut self, size: u16, off: i32) {
        self.op(LD | size | ABS, (NET + off) as u32);
    }
    fn goto(&mut self, l: usize) {
        self.fixups.push((self.insns.len(), l));
        self.op(JMP | JA, 0);
    }
    /// if A == k goto l
    fn if_eq(&mut self, k: u32, l: usize) {
        self.insns.push(Insn {
            code: JMP | JEQ | K,
            jt: 0,
            jf: 1,
            k,
        });
        self.goto(l);
    }
    /// if A != k goto l
    fn if_ne(&mut self, k: u32, l: usize) {
        self.insns.push(Insn {
            code: JMP | JEQ | K,
            jt: 1,
            jf: 0,
            k,
        });
        self.goto(l);
    }
    /// if A & k != 0 goto l
    fn if_set(&mut self, k: u32, l: usize) {
        self.insns.push(Insn {
            code: JMP | JSET | K,
            jt: 0,
            jf: 1,
            k,
        });
        self.goto(l);
    }
    /// A = the address word at network offset `off`, masked by `mask`.
    /// A = the word at network offset X + `off`, masked by `mask`.
    fn ld_masked_ind(&mut self, off: i32, mask: u32) {
        if mask == 0 {
            return self.op(LD | W | IMM, 0);
        }
        self.op(LD | W | IND, (NET + off) as u32);
        if mask != u32::MAX {
            self.op(ALU | AND | K, mask);
        }
    }
    fn ld_masked(&mut self, off: i32, mask: u32) {
        match mask {
            0 => self.op(LD | W | IMM, 0),
            u32::MAX => self.ld(W, off),
            m => {
                self.ld(W, off);
                self.op(ALU | AND | K, m);
            }
        }
    }
    /// M[0] = the address at network offset `off` folded (`masks.len()` 32-bit words, each
    /// masked).
    fn fold_addr(&mut self, off: i32, masks: &[u32]) {
        self.ld_masked(off, masks[0]);
        self.op(ST, 0);
        for (j, m) in masks.iter().enumerate().skip(1) {
            self.ld_masked(off + 4 * j as i32, *m);
            self.op(MISC | TAX, 0);
            self.op(LD | W | MEM, 0);
            self.op(ALU | MUL | K, K1);
            self.op(ALU | XOR | X, 0);
            self.op(ST, 0);
        }
    }
    fn finish(mut self) -> Result<Vec<Insn>, TooManyAddrs> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let to = self.labels[l].unwrap_or(self.insns.len());
            self.insns[at].k = (to - at - 1) as u32;
        }
        if self.insns.len() > MAX_INSNS {
            return Err(TooManyAddrs);
        }
        Ok(self.insns)
    }
}

fn words(a: &IpAddr) -> Vec<u32> {
    let b: Vec<u8> = match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    b.chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The steering program for these VIPs and lvsd's own addresses, hashing what `steering`
/// says (see the module doc).
///
/// # Errors
/// More addresses than the kernel's instruction limit allows (about 1,800 IPv4 ones).
pub fn program(
    vips: &[IpAddr],
    own: &[IpAddr],
    steering: Steering,
) -> Result<Vec<Insn>, TooManyAddrs> {
    let mut a = Asm::default();
    let (ret0, v4, v6, hash) = (a.label(), a.label(), a.label(), a.label());
    a.op(LD | W | ABS, AD_PROTOCOL as u32);
    a.if_eq(0x0800, v4);
    a.if_eq(0x86dd, v6);
    a.goto(ret0);
    for fam in [Fam::V4, Fam::V6] {
        let (start, nw) = match fam {
            Fam::V4 => (v4, 1),
            Fam::V6 => (v6, 4),
        };
        let (src_at, dst_at) = (fam.src_at(), fam.src_at() + 4 * nw as i32);
        let (l4, icmp, err) = (a.label(), a.label(), a.label());
        let (is_vip, not_vip, chain) = (a.label(), a.label(), a.label());
        // the client's endpoint: outer source, outer destination, quoted source, quoted
        // destination
        let ends = [a.label(), a.label(), a.label(), a.label()];
        a.place(start);
        if fam == Fam::V4 {
            // a non-first fragment has no ports (nor an ICMP header)
            a.ld(H, 6);
            a.if_set(0x1fff, ret0);
        }
        let pick = |addrs: &[IpAddr]| -> Vec<Vec<u32>> {
            addrs
                .iter()
                .filter(|x| x.is_ipv4() == (fam == Fam::V4))
                .map(words)
                .collect()
        };
        // lvsd's own addresses: worker 0, whatever the protocol
        for w in pick(own) {
            let next = a.label();
            for (j, word) in w.iter().enumerate() {
                a.ld(W, dst_at + 4 * j as i32);
                a.if_ne(*word, next);
            }
            a.goto(ret0);
            a.place(next);
        }
        a.ld(B, fam.proto_at());
        a.if_eq(6, l4);
        a.if_eq(17, l4);
        a.if_eq(fam.icmp(), icmp);
        a.goto(ret0);
        // TCP, UDP: is the destination a VIP? (M[2] = 0: the outer packet)
        a.place(l4);
        for j in 0..nw {
            a.ld(W, dst_at + 4 * j as i32);
            a.op(ST, 3 + j as u32);
        }
        a.op(LD | W | IMM, 0);
        a.op(ST, 2);
        a.goto(chain);
        // ICMP: an error quoting a TCP or UDP packet that has ports; is the quoted packet's
        // source a VIP? (M[2] = 1: the quoted packet). A quote too short to read: a load past
        // the end, where the kernel returns 0.
        a.place(icmp);
        match fam {
            Fam::V4 => {
                a.op(LDX | B | MSH, NET as u32);
                a.op(LD | B | IND, NET as u32);
                for t in [3, 4, 11, 12] {
                    a.if_eq(t, err);
                }
            }
            Fam::V6 => {
                a.ld(B, 40);
                for t in 1..=4 {
                    a.if_eq(t, err);
                }
            }
        }
        a.goto(ret0);
        a.place(err);
        let (ok, q) = (a.label(), QUOTE + fam.src_at());
        fam.ld_quoted(&mut a, B, QUOTE + fam.proto_at());
        a.if_eq(6, ok);
        a.if_eq(17, ok);
        a.goto(ret0);
        a.place(ok);
        if fam == Fam::V4 {
            fam.ld_quoted(&mut a, H, QUOTE + 6);
            a.if_set(0x1fff, ret0);
        }
        for j in 0..nw {
            fam.ld_quoted(&mut a, W, q + 4 * j as i32);
            a.op(ST, 3 + j as u32);
        }
        a.op(LD | W | IMM, 1);
        a.op(ST, 2);
        // M[3..] == a VIP? One list for both packets.
        a.place(chain);
        let vipw = pick(vips);
        if fam == Fam::V4 {
            a.op(LD | W | MEM, 3);
            for w in &vipw {
                a.if_eq(w[0], is_vip);
            }
        } else {
            for w in &vipw {
                let next = a.label();
                for (j, word) in w.iter().enumerate() {
                    a.op(LD | W | MEM, 3 + j as u32);
                    a.if_ne(*word, next);
                }
                a.goto(is_vip);
                a.place(next);
            }
        }
        a.goto(not_vip);
        // a VIP: the client is the outer source (a frame to a VIP), or the quoted
        // destination (an error about a VIP's reply)
        a.place(is_vip);
        a.op(LD | W | MEM, 2);
        a.if_eq(0, ends[0]);
        a.goto(ends[3]);
        // not a VIP: the client is the outer destination (a reply), or the quoted source (an
        // error about a frame sent on to a real server)
        a.place(not_vip);
        a.op(LD | W | MEM, 2);
        a.if_eq(0, ends[1]);
        a.goto(ends[2]);
        let m = masks(nw, steering.prefix(fam == Fam::V4));
        for (end, quoted, at) in [(0, false, 0), (1, false, 2), (2, true, 0), (3, true, 2)] {
            a.place(ends[end]);
            let addr = if at == 0 { src_at } else { dst_at };
            if quoted {
                match fam {
                    Fam::V4 => {
                        a.op(LDX | B | MSH, NET as u32);
                        a.ld_masked_ind(QUOTE + addr, m[0]);
                        a.op(ST, 0);
                    }
                    Fam::V6 => a.fold_addr(40 + QUOTE + addr, &m),
                }
            } else {
                a.fold_addr(addr, &m);
            }
            port(&mut a, fam, quoted, at, steering);
            a.goto(hash);
        }
    }
    // A = port, M[0] = folded address
    a.place(hash);
    a.op(MISC | TAX, 0);
    a.op(LD | W | MEM, 0);
    a.op(ALU | MUL | K, K1);
    a.op(ALU | XOR | X, 0);
    a.op(ALU | MUL | K, K2);
    a.op(ST, 1);
    a.op(ALU | RSH | K, 16);
    a.op(MISC | TAX, 0);
    a.op(LD | W | MEM, 1);
    a.op(ALU | XOR | X, 0);
    a.op(RET | RET_A, 0);
    a.place(ret0);
    a.op(RET | K, 0);
    a.finish()
}

/// Where an ICMP error's quoted packet starts, after the ICMP header: from the end of the
/// IPv4 header (X holds its length), at 48 in IPv6 (no extension headers).
const QUOTE: i32 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn proto_at(self) -> i32 {
        match self {
            Fam::V4 => 9,
            Fam::V6 => 6,
        }
    }
    fn src_at(self) -> i32 {
        match self {
            Fam::V4 => 12,
            Fam::V6 => 8,
        }
    }
    fn icmp(self) -> u32 {
        match self {
            Fam::V4 => 1,
            Fam::V6 => 58,
        }
    }
    /// A = the quoted packet's field at `off` (QUOTE included): IPv4 relative to the end of
    /// the outer header (X = its length), IPv6 after the fixed 40 bytes.
    fn ld_quoted(self, a: &mut Asm, size: u16, off: i32) {
        match self {
            Fam::V4 => {
                a.op(LDX | B | MSH, NET as u32);
                a.op(LD | size | IND, (NET + off) as u32);
            }
            Fam::V6 => a.ld(size, 40 + off),
        }
    }
}

/// A = the port at `at` (0: source, 2: destination) of the transport header of the packet
/// (`quoted`: of the one an ICMP error quotes); 0 when `steering` hashes addresses only.
fn port(a: &mut Asm, fam: Fam, quoted: bool, at: i32, steering: Steering) {
    if steering.port(1) == 0 {
        a.op(LD | W | IMM, 0);
        return;
    }
    match (fam, quoted) {
        (Fam::V4, false) => {
            // X = the IPv4 header's length
            a.op(LDX | B | MSH, NET as u32);
            a.op(LD | H | IND, (NET + at) as u32);
        }
        (Fam::V4, true) => {
            // X = the outer header's length + the quoted header's length
            a.op(LDX | B | MSH, NET as u32);
            a.op(LD | B | IND, (NET + QUOTE) as u32);
            a.op(ALU | AND | K, 0xf);
            a.op(ALU | MUL | K, 4);
            a.op(ALU | ADD | X, 0);
            a.op(MISC | TAX, 0);
            a.op(LD | H | IND, (NET + QUOTE + at) as u32);
        }
        (Fam::V6, false) => a.ld(H, 40 + at),
        (Fam::V6, true) => a.ld(H, 40 + QUOTE + 40 + at),
    }
}

/// Runs `prog` on an IP packet (`l3`, from its network header) of EtherType `proto`, as the
/// kernel would for the loads the program uses: a load past the end returns 0, as the kernel
/// does; `None` for an instruction it does not know.
#[cfg(test)]
pub fn run(prog: &[Insn], proto: u16, l3: &[u8]) -> Option<u32> {
    let (mut a, mut x, mut m) = (0u32, 0u32, [0u32; 16]);
    let load = |off: i64, size: u16| -> Option<u32> {
        if off == i64::from(AD_PROTOCOL) {
            return Some(u32::from(proto));
        }
        let o = usize::try_from(off - i64::from(NET)).ok()?;
        let n = match size {
            W => 4,
            H => 2,
            _ => 1,
        };
        let b = l3.get(o..o + n)?;
        Some(b.iter().fold(0u32, |v, x| (v << 8) | u32::from(*x)))
    };
    let mut pc = 0;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let k = i.k;
        match i.code {
            c if c & 0x07 == LD && c & 0xe0 == ABS => {
                let Some(v) = load(i64::from(k as i32), c & 0x18) else {
                    return Some(0);
                };
                a = v;
            }
            c if c & 0x07 == LD && c & 0xe0 == IND => {
                let Some(v) = load(i64::from(k as i32) + i64::from(x), c & 0x18) else {
                    return Some(0);
                };
                a = v;
            }
            c if c == LD | W | MEM => a = m[k as usize],
            c if c == LD | W | IMM => a = k,
            c if c == LDX | B | MSH => {
                let Some(v) = load(i64::from(k as i32), B) else {
                    return Some(0);
                };
                x = 4 * (v & 0xf);
            }
            ST => m[k as usize] = a,
            c if c == ALU | MUL | K => a = a.wrapping_mul(k),
            c if c == ALU | AND | K => a &= k,
            c if c == ALU | XOR | X => a ^= x,
            c if c == ALU | ADD | X => a = a.wrapping_add(x),
            c if c == ALU | RSH | K => a >>= k,
            c if c == MISC | TAX => x = a,
            c if c == JMP | JA => pc += k as usize,
            c if c == JMP | JEQ | K => pc += usize::from(if a == k { i.jt } else { i.jf }),
            c if c == JMP | JSET | K => pc += usize::from(if a & k != 0 { i.jt } else { i.jf }),
            c if c == RET | RET_A => return Some(a),
            c if c == RET | K => return Some(k),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
