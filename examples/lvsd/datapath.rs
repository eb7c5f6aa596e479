//! The packet path: frames read from the interfaces, ARP/NDP for lvsd's addresses and VIPs,
//! the library's verdicts, rewritten frames out through the neighbour cache.

use crate::daemon::{ms_instant, Daemon, HEADROOM};
use crate::l7::L7;
use crate::neigh::{self, Resolved};
use crate::offload;
use crate::sys::{vnet, VnetHdr, VNET_HDR_LEN};
use crate::tls::Tls;
use lvs_core::director::DropReason;
use lvs_core::{AddrFamily, FwdMethod, IpAddr, Ipv4Addr, Protocol};
use lvs_forward::dr;
use lvs_forward::parse::parse_ethernet;
use lvs_forward::process::{process_frame, Action, DropCause, Peer};
use lvs_forward::wire::{self, arp, icmpv6::ndp, EtherType, EthernetRepr, MacAddr};

impl Daemon<'_> {
    // ----- transmit --------------------------------------------------------------------------

    /// Sends the frame at `buf[start..start + len]`, writing a zero virtio header in front.
    fn send_at(&mut self, ifc: usize, buf: &mut [u8], start: usize, len: usize) {
        if start < VNET_HDR_LEN {
            let f = buf[start..start + len].to_vec();
            return self.send_copy(ifc, &f);
        }
        self.tx_vnet.write(&mut buf[start - VNET_HDR_LEN..start]);
        let r = self.send_raw(ifc, &buf[start - VNET_HDR_LEN..start + len]);
        self.sent(r);
    }

    pub(crate) fn send_copy(&mut self, ifc: usize, frame: &[u8]) {
        let mut b = vec![0u8; VNET_HDR_LEN + frame.len()];
        b[VNET_HDR_LEN..].copy_from_slice(frame);
        let r = self.send_raw(ifc, &b);
        self.sent(r);
    }

    /// Sends `b` (virtio header first) out of `ifc` by its frame path
    /// ([`crate::frame_io::FrameIo::send`]: queued for the next [`Daemon::kick_all`] as a rule);
    /// without one, by one `send(2)`.
    fn send_raw(&mut self, ifc: usize, b: &[u8]) -> std::io::Result<()> {
        let i = &mut self.ifaces[ifc];
        match i.io.as_mut() {
            Some(f) => f.send(&i.sock, b),
            None => i.sock.send(b),
        }
    }

    /// Transmits what every interface's frame path holds.
    pub(crate) fn kick_all(&mut self) {
        for i in 0..self.ifaces.len() {
            let f = &mut self.ifaces[i];
            if let Some(r) = f.io.as_mut() {
                if let Err(e) = r.kick(&f.sock) {
                    self.count("tx.errors");
                    if self.opts.verbose {
                        self.log(&format!("send {}: {e}", self.ifaces[i].info.name));
                    }
                }
            }
        }
    }

    /// Adds the kernel's receive-ring counters to lvsd's: frames the kernel dropped because
    /// the ring was full (`rx.ring_drops`), and with `--xdp` the `xdp.*` counters
    /// ([`crate::frame_io::FrameIo::stats`]).
    pub(crate) fn ring_stats(&mut self) {
        for i in &mut self.ifaces {
            if let Some(f) = i.io.as_mut() {
                f.stats(&i.sock, &mut self.counters);
            }
        }
    }

    fn sent(&mut self, r: std::io::Result<()>) {
        match r {
            Ok(()) => self.hot.tx_frames += 1,
            Err(e) => {
                self.count("tx.errors");
                if self.opts.verbose {
                    self.log(&format!("send: {e}"));
                }
            }
        }
    }

    /// Asks for `ip`'s MAC on `ifc`.
    pub(crate) fn solicit(&mut self, ifc: usize, ip: IpAddr) {
        let mac = self.ifaces[ifc].info.mac;
        match ip {
            IpAddr::V4(t) => {
                let src = match self.own_addr(ifc, &ip) {
                    Some(IpAddr::V4(a)) => a,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let mut f = [0u8; neigh::ARP_FRAME_LEN];
                neigh::arp_request(mac, src, t, &mut f);
                self.send_copy(ifc, &f);
            }
            IpAddr::V6(t) => {
                let src = match self.own_addr(ifc, &ip) {
                    Some(IpAddr::V6(a)) => a,
                    _ => lvs_core::Ipv6Addr::UNSPECIFIED,
                };
                let mut f = [0u8; neigh::NS_FRAME_LEN];
                neigh::neighbour_solicit(mac, src, t, &mut f);
                self.send_copy(ifc, &f);
            }
        }
        self.count("neigh.requests");
    }

    /// Sends the IP packet framed at `buf[start..start + len]` (Ethernet header present) to
    /// next hop `nh` out of `ifc`: fills in the MACs, or queues it while the neighbour is
    /// resolved.
    fn transmit(&mut self, ifc: usize, nh: IpAddr, buf: &mut [u8], start: usize, len: usize) {
        let now = self.batch_now.unwrap_or_else(|| self.now_ms());
        let src = self.ifaces[ifc].info.mac;
        match self.neigh.resolve(ifc, nh, now) {
            Resolved::Known { mac, probe } => {
                let _ = dr::dr_rewrite(&mut buf[start..start + len], mac, src);
                self.send_at(ifc, buf, start, len);
                if probe {
                    self.solicit(ifc, nh);
                }
            }
            Resolved::Pending { probe } => {
                let _ = dr::dr_rewrite(&mut buf[start..start + len], MacAddr([0; 6]), src);
                self.neigh
                    .enqueue(ifc, nh, buf[start..start + len].to_vec());
                self.count("neigh.queued");
                if probe {
                    self.solicit(ifc, nh);
                }
            }
            Resolved::Failed => self.count("drop.neigh_failed"),
        }
    }

    pub(crate) fn flush(&mut self, ifc: usize, mac: MacAddr, frames: Vec<Vec<u8>>) {
        for mut f in frames {
            f[..6].copy_from_slice(&mac.0);
            self.send_copy(ifc, &f);
        }
    }

    // ----- receive ---------------------------------------------------------------------------

    /// Handles one received frame at `buf[head..head + len]`, its virtio header just before.
    pub fn on_frame(&mut self, ifc: usize, buf: &mut [u8], head: usize, len: usize) {
        self.hot.rx_frames += 1;
        let h = VnetHdr::read(&buf[head - VNET_HDR_LEN..head]).unwrap_or_default();
        if len < 14 {
            return self.count("drop.runt");
        }
        let frame = &buf[head..head + len];
        let dst = MacAddr([frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]]);
        if dst != self.ifaces[ifc].info.mac && !dst.is_multicast() {
            return self.count("drop.other_mac");
        }
        if self.vrrp_gate(ifc, frame) {
            return;
        }
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => self.on_arp(ifc, frame),
            0x0800 | 0x86dd => {
                if frame.len() > 54
                    && frame[12] == 0x86
                    && frame[20] == 58
                    && (frame[54] == 135 || frame[54] == 136)
                {
                    let f = frame.to_vec();
                    return self.on_ndp(ifc, &f);
                }
                self.on_ip_offloaded(ifc, buf, head, len, &h)
            }
            0x8100 | 0x88a8 => self.count("drop.vlan"),
            _ => self.count("drop.ethertype"),
        }
    }

    fn on_ip_offloaded(
        &mut self,
        ifc: usize,
        buf: &mut [u8],
        head: usize,
        len: usize,
        h: &VnetHdr,
    ) {
        if h.flags & vnet::F_NEEDS_CSUM == 0 && !offload::needs_segmentation(h) {
            return self.on_ip(ifc, buf, head, len);
        }
        // a spliced connection's super-frame (or segment) goes through whole, still partial
        if self.splice_partial::<L7>(buf, head, len, h)
            || self.splice_partial::<Tls>(buf, head, len, h)
        {
            return;
        }
        let p = match parse_ethernet(&buf[head..head + len]) {
            Ok(p) => p,
            Err(_) => return self.count("drop.parse"),
        };
        if offload::needs_segmentation(h) {
            self.count("rx.gso_frames");
            if self.gso_whole(buf, head, len, h, &p) {
                return;
            }
            let mut seg = std::mem::take(&mut self.seg);
            let frame = buf[head..head + len].to_vec();
            let r = offload::segment(&frame, &p, h, &mut seg, HEADROOM, |b, hd, l| {
                self.on_ip(ifc, b, hd, l)
            });
            self.seg = seg;
            if r.is_err() {
                self.count("drop.gso");
            }
            return;
        }
        let udp = p.flow.proto == Protocol::Udp;
        match offload::complete_csum(
            &mut buf[head..head + len],
            usize::from(h.csum_start),
            usize::from(h.csum_offset),
            p.end(),
            udp,
        ) {
            Ok(()) => self.on_ip(ifc, buf, head, len),
            Err(_) => self.count("drop.csum_offsets"),
        }
    }

    /// Forwards the TCP super-frame at `buf[head..head + len]` whole: one pass through the
    /// library (no MTU check: its segments fit), its headers rewritten once, then sent with a
    /// virtio header that lets the kernel segment it on transmit (or hand it on whole, as a
    /// veth does). `false` (nothing done) where that cannot work: a tunnel real server is
    /// configured (its outer headers would need encapsulation offloads), a splicer (L7, TLS) runs
    /// (its own super-frames went whole before this, [`crate::splice_run`]; the rest are cut),
    /// or the frame is not TCP.
    fn gso_whole(
        &mut self,
        buf: &mut [u8],
        head: usize,
        len: usize,
        h: &VnetHdr,
        p: &lvs_forward::parse::Parsed,
    ) -> bool {
        let kind = h.gso_type & !vnet::GSO_ECN;
        if self.has_tunnels
            || self.l7.is_some()
            || self.tls.is_some()
            || p.flow.proto != Protocol::Tcp
            || !matches!(kind, vnet::GSO_TCPV4 | vnet::GSO_TCPV6)
        {
            return false;
        }
        let now = ms_instant(self.now_ms());
        let mut cfg = self.pcfg;
        cfg.mtu = 0;
        if self.out.len() < HEADROOM + 1280 {
            self.out.resize(HEADROOM + 1280, 0);
        }
        let a = process_frame(
            &mut self.dir,
            now,
            buf,
            head,
            len,
            0,
            &cfg,
            &mut self.out[HEADROOM..],
        );
        if let Action::Transmit { start, len: n, .. } = a {
            match offload::whole_gso_header(&mut buf[start..start + n], h) {
                Some(v) => {
                    self.count("tx.gso_whole");
                    self.tx_vnet = v;
                    self.act(a, buf, head, len, HEADROOM);
                    self.tx_vnet = VnetHdr::default();
                }
                None => self.count("drop.gso"),
            }
        } else {
            self.act(a, buf, head, len, HEADROOM);
        }
        true
    }

    fn on_arp(&mut self, ifc: usize, frame: &[u8]) {
        let Ok(m) = arp::parse(&frame[14..]) else {
            return self.count("drop.arp");
        };
        self.count("rx.arp");
        let now = self.now_ms();
        let sender = IpAddr::V4(m.sender_ip);
        let target = IpAddr::V4(m.target_ip);
        let for_us = self.answers_for(ifc, &target);
        if !m.sender_ip.is_unspecified() && self.on_link(ifc, &sender) {
            let create = (for_us && m.operation == 1) || m.operation == 2;
            let q = self.neigh.learn(ifc, sender, m.sender_mac, now, create);
            self.flush(ifc, m.sender_mac, q);
            self.workers_neigh(ifc, sender, m.sender_mac, create);
        }
        if m.operation == 1 && for_us {
            let mut out = [0u8; arp::REPLY_FRAME_LEN];
            if let Ok(Some(n)) =
                arp::reply_for(frame, m.target_ip, self.ifaces[ifc].info.mac, &mut out)
            {
                self.send_copy(ifc, &out[..n]);
                self.count("tx.arp_replies");
            }
        }
    }

    fn on_ndp(&mut self, ifc: usize, frame: &[u8]) {
        let now = self.now_ms();
        if frame[54] == 136 {
            if let Some((target, mac)) = neigh::parse_advert(frame) {
                let q = self.neigh.learn(ifc, IpAddr::V6(target), mac, now, false);
                self.flush(ifc, mac, q);
                self.workers_neigh(ifc, IpAddr::V6(target), mac, false);
            }
            return;
        }
        let Ok(Some(ns)) = ndp::parse_solicitation(frame) else {
            return self.count("drop.ndp");
        };
        self.count("rx.ndp");
        let target = IpAddr::V6(ns.target);
        let for_us = self.answers_for(ifc, &target);
        if !ns.src.is_unspecified() {
            if let Some(mac) = ns.src_mac {
                let q = self.neigh.learn(ifc, IpAddr::V6(ns.src), mac, now, for_us);
                self.flush(ifc, mac, q);
                self.workers_neigh(ifc, IpAddr::V6(ns.src), mac, for_us);
            }
        }
        if for_us {
            let mut out = [0u8; ndp::ADVERT_FRAME_LEN];
            if let Ok(Some(n)) =
                ndp::advert_for(frame, ns.target, self.ifaces[ifc].info.mac, &mut out)
            {
                self.send_copy(ifc, &out[..n]);
                self.count("tx.ndp_adverts");
            }
        }
    }

    /// An IPv4/IPv6 frame with complete checksums, at most one MTU long: the library's
    /// per-packet path (`lvs_forward::process::process_frame`), then routing and the link.
    fn on_ip(&mut self, ifc: usize, buf: &mut [u8], head: usize, len: usize) {
        let _ = ifc;
        if self.splice_take::<L7>(buf, head, len) || self.splice_take::<Tls>(buf, head, len) {
            return;
        }
        let now = ms_instant(self.now_ms());
        let cfg = self.pcfg;
        if self.out.len() < HEADROOM + 1280 {
            self.out.resize(HEADROOM + 1280, 0);
        }
        let a = process_frame(
            &mut self.dir,
            now,
            buf,
            head,
            len,
            0,
            &cfg,
            &mut self.out[HEADROOM..],
        );
        self.act(a, buf, head, len, HEADROOM);
    }

    /// Carries out the library's verdict `a` on the frame at `buf[head..head + len]`; an ICMP
    /// error it answers with is at `self.out[resp_at..]`.
    pub(crate) fn act(
        &mut self,
        a: Action,
        buf: &mut [u8],
        head: usize,
        len: usize,
        resp_at: usize,
    ) {
        match a {
            Action::Transmit {
                start,
                len,
                next_hop,
                to,
            } => {
                let Some((oif, nh)) = self.routes.lookup(&next_hop) else {
                    return self.count("drop.no_route");
                };
                let h = &mut self.hot;
                *match to {
                    Peer::Client => &mut h.fwd_reply,
                    Peer::RealServer { method, .. } => match method {
                        FwdMethod::Masq => &mut h.fwd_masq,
                        FwdMethod::DirectRoute => &mut h.fwd_route,
                        FwdMethod::Tunnel => &mut h.fwd_tunnel,
                    },
                } += 1;
                if matches!(
                    to,
                    Peer::RealServer {
                        method: FwdMethod::DirectRoute,
                        ..
                    }
                ) && nh != next_hop
                {
                    // direct routing only reaches servers on a connected network
                    return self.count("drop.dr_not_on_link");
                }
                if is_icmp(&buf[start..start + len]) {
                    // an ICMP error the director related to a connection (pings are answered
                    // by `deliver`, not forwarded)
                    self.count("fwd.icmp_errors");
                }
                self.send_ip(oif, nh, buf, start, len);
            }
            Action::Respond { len, dst } => {
                self.count("icmp.sent");
                let Some((oif, nh)) = self.routes.lookup(&dst) else {
                    return self.count("drop.no_route");
                };
                let mut out = std::mem::take(&mut self.out);
                self.send_ip(oif, nh, &mut out, resp_at, len);
                self.out = out;
            }
            Action::Deliver => self.deliver(buf, head, len),
            Action::Drop(cause) => self.count(match cause {
                DropCause::Parse(wire::Error::NonFirstFragment) => "drop.fragment",
                DropCause::Parse(_) => "drop.parse",
                DropCause::Director(r) => match r {
                    DropReason::TableFull => "drop.table_full",
                    DropReason::NoDestination => "drop.no_destination",
                    DropReason::DestUnavailable => "drop.dest_unavailable",
                    DropReason::Fragment => "drop.fragment",
                    _ => "drop.malformed",
                },
                DropCause::Forward(_) => "drop.rewrite",
            }),
        }
    }

    /// Frames the IP packet at `buf[start..start + len]` (Ethernet header written into the
    /// headroom) and sends it to `nh` out of `oif`.
    pub(crate) fn send_ip(
        &mut self,
        oif: usize,
        nh: IpAddr,
        buf: &mut [u8],
        start: usize,
        len: usize,
    ) {
        let repr = EthernetRepr {
            src_addr: self.ifaces[oif].info.mac,
            dst_addr: MacAddr([0; 6]),
            ethertype: EtherType::Unknown(0),
        };
        match dr::push_ethernet(buf, start, &repr) {
            Ok(f) => self.transmit(oif, nh, buf, f, len + 14),
            Err(_) => self.count("drop.headroom"),
        }
    }

    /// Not for a service: answer pings to lvsd's addresses and VIPs, drop the rest.
    fn deliver(&mut self, buf: &mut [u8], head: usize, len: usize) {
        let Ok(p) = parse_ethernet(&buf[head..head + len]) else {
            return self.count("drop.parse");
        };
        let len = p.end();
        let dst = p.flow.dst.addr;
        let local = self.is_own(&dst) || self.is_vip(&dst);
        if local && self.agent_datagram(&buf[head..head + len], &p) {
            return;
        }
        let echo = match p.family {
            AddrFamily::Ipv4 => p.flow.proto.number() == 1 && buf[head + p.l4] == 8,
            AddrFamily::Ipv6 => p.flow.proto.number() == 58 && buf[head + p.l4] == 128,
        };
        if !(local && echo) {
            return self.count(if local {
                "drop.local"
            } else {
                "drop.not_for_service"
            });
        }
        let Some((oif, nh)) = self.routes.lookup(&p.flow.src.addr) else {
            return self.count("drop.no_route");
        };
        let f = &mut buf[head..head + len];
        let (l3, l4, end) = (p.l3, p.l4, p.end());
        match p.family {
            AddrFamily::Ipv4 => {
                let (s, d) = (f[l3 + 12..l3 + 16].to_vec(), f[l3 + 16..l3 + 20].to_vec());
                f[l3 + 12..l3 + 16].copy_from_slice(&d);
                f[l3 + 16..l3 + 20].copy_from_slice(&s);
                f[l3 + 8] = 64;
                f[l3 + 10..l3 + 12].fill(0);
                let c = lvs_forward::checksum::checksum(&f[l3..l4]);
                f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
                f[l4] = 0;
                f[l4 + 2..l4 + 4].fill(0);
                let c = lvs_forward::checksum::checksum(&f[l4..end]);
                f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
            }
            AddrFamily::Ipv6 => {
                let (s, d) = (f[l3 + 8..l3 + 24].to_vec(), f[l3 + 24..l3 + 40].to_vec());
                f[l3 + 8..l3 + 24].copy_from_slice(&d);
                f[l3 + 24..l3 + 40].copy_from_slice(&s);
                f[l3 + 7] = 64;
                f[l4] = 129;
                f[l4 + 2..l4 + 4].fill(0);
                let mut src = [0u8; 16];
                let mut dst6 = [0u8; 16];
                src.copy_from_slice(&d);
                dst6.copy_from_slice(&s);
                let ph =
                    lvs_forward::checksum::pseudo_header_v6(&src, &dst6, 58, (end - l4) as u32);
                let c = lvs_forward::checksum::finish(lvs_forward::checksum::add(ph, &f[l4..end]));
                f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
            }
        }
        self.count("tx.echo_replies");
        self.transmit(oif, nh, buf, head, len);
    }
}

/// Whether the IP packet `p` carries ICMP (IPv4) or ICMPv6 (in its first header).
fn is_icmp(p: &[u8]) -> bool {
    match p.first().map(|b| b >> 4) {
        Some(4) => p.get(9) == Some(&1),
        Some(6) => p.get(6) == Some(&58),
        _ => false,
    }
}
