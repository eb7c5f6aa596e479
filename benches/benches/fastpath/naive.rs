//! The naive side of the fastpath bench: what one might write with std and a packet crate
//! (`etherparse` to parse, a `HashMap` keyed by the 5-tuple, the kernel's wlc scan for new
//! flows, both checksums recomputed in full).

use super::*;
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Tuple {
    pub(crate) proto: u8,
    pub(crate) src: [u8; 4],
    pub(crate) sport: u16,
    pub(crate) dst: [u8; 4],
    pub(crate) dport: u16,
}

#[derive(Clone, Copy)]
pub(crate) struct NaiveConn {
    pub(crate) dest: u16,
    pub(crate) state: u8,
    pub(crate) last_ms: u64,
    pub(crate) pkts: u64,
    pub(crate) bytes: u64,
}

#[derive(Clone, Copy, Default)]
pub(crate) struct NaiveDest {
    pub(crate) addr: [u8; 4],
    pub(crate) port: u16,
    pub(crate) weight: u32,
    pub(crate) active: u32,
    pub(crate) inactive: u32,
    pub(crate) inpkts: u64,
    pub(crate) inbytes: u64,
}

pub(crate) struct Naive {
    pub(crate) map: HashMap<Tuple, NaiveConn>,
    /// Servers in the kernel's list order (newest first).
    pub(crate) dests: Vec<NaiveDest>,
    pub(crate) pkts: u64,
    pub(crate) bytes: u64,
}

const ST_SYN_RECV: u8 = 3;
const ST_ESTABLISHED: u8 = 1;
const ST_FIN_WAIT: u8 = 4;
const ST_CLOSE: u8 = 8;

impl Naive {
    /// The kernel's wlc: the first usable server, then strict weighted replacement.
    fn wlc(&self) -> Option<usize> {
        let oh = |d: &NaiveDest| (d.active << 8) + d.inactive;
        let mut least = self.dests.iter().position(|d| d.weight > 0)?;
        for (i, d) in self.dests.iter().enumerate().skip(least + 1) {
            let l = &self.dests[least];
            if u64::from(oh(l)) * u64::from(d.weight) > u64::from(oh(d)) * u64::from(l.weight) {
                least = i;
            }
        }
        Some(least)
    }

    /// Parse, find or schedule, update, rewrite with full checksums. `false`: not forwarded.
    pub(crate) fn process(&mut self, now_ms: u64, buf: &mut [u8]) -> bool {
        let (ip_bytes, tcp_bytes, l3, l4) = {
            let Ok(s) = SlicedPacket::from_ethernet(buf) else {
                return false;
            };
            let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) = (s.net, s.transport)
            else {
                return false;
            };
            let mut iph = ip.header().to_header();
            let mut tcp = t.to_header();
            let key = Tuple {
                proto: 6,
                src: iph.source,
                sport: tcp.source_port,
                dst: iph.destination,
                dport: tcp.destination_port,
            };
            let len = u64::from(iph.total_len);
            let conn = match self.map.get_mut(&key) {
                Some(c) => {
                    c.state = if tcp.rst {
                        ST_CLOSE
                    } else if tcp.fin {
                        ST_FIN_WAIT
                    } else if tcp.ack && c.state == ST_SYN_RECV {
                        let d = &mut self.dests[c.dest as usize];
                        d.inactive -= 1;
                        d.active += 1;
                        ST_ESTABLISHED
                    } else {
                        c.state
                    };
                    c.last_ms = now_ms;
                    c.pkts += 1;
                    c.bytes += len;
                    *c
                }
                None => {
                    if !(tcp.syn && key.dst == VIP && key.dport == VPORT) {
                        return false;
                    }
                    let Some(d) = self.wlc() else { return false };
                    self.dests[d].inactive += 1;
                    let c = NaiveConn {
                        dest: d as u16,
                        state: ST_SYN_RECV,
                        last_ms: now_ms,
                        pkts: 1,
                        bytes: len,
                    };
                    self.map.insert(key, c);
                    c
                }
            };
            let d = &mut self.dests[conn.dest as usize];
            d.inpkts += 1;
            d.inbytes += len;
            self.pkts += 1;
            self.bytes += len;
            iph.time_to_live -= 1;
            iph.destination = d.addr;
            tcp.destination_port = d.port;
            iph.header_checksum = iph.calc_header_checksum();
            tcp.checksum = tcp.calc_checksum_ipv4(&iph, t.payload()).unwrap();
            let base = buf.as_ptr() as usize;
            let l3 = ip.header().slice().as_ptr() as usize - base;
            let l4 = t.slice().as_ptr() as usize - base;
            (iph.to_bytes(), tcp.to_bytes(), l3, l4)
        };
        buf[l3..l3 + ip_bytes.len()].copy_from_slice(&ip_bytes);
        buf[l4..l4 + tcp_bytes.len()].copy_from_slice(&tcp_bytes);
        true
    }

    pub(crate) fn remove(&mut self, c: ([u8; 4], u16)) {
        let key = Tuple {
            proto: 6,
            src: c.0,
            sport: c.1,
            dst: VIP,
            dport: VPORT,
        };
        if let Some(conn) = self.map.remove(&key) {
            let d = &mut self.dests[conn.dest as usize];
            if conn.state == ST_ESTABLISHED {
                d.active -= 1;
            } else {
                d.inactive -= 1;
            }
        }
    }
}

#[inline(never)]
pub(crate) fn naive_one(n: &mut Naive, now_ms: u64, f: &Frame) -> Frame {
    let mut buf = *f;
    let ok = n.process(now_ms, &mut buf.0[..FRAME_LEN]);
    debug_assert!(ok);
    black_box(ok);
    buf
}
