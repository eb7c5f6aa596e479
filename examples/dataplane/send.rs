//! The bounded UDP sender (`dataplane udp-send`): connected UDP sockets, or prebuilt Ethernet
//! frames on an `AF_PACKET` socket past the qdisc (`--raw`), paced to a rate by `sendmmsg(2)`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Datagrams per `sendmmsg` call.
const SEND_BURST: usize = 64;

/// `SOL_PACKET` option: hand frames straight to the driver, past the qdisc layer.
const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// The sender's options.
struct SendOpts {
    dst: SocketAddr,
    flows: usize,
    payload: usize,
    secs: f64,
    rate: f64,
    /// Raw mode: the interface, our IPv4 source and the next hop's MAC.
    raw: Option<(String, std::net::Ipv4Addr, [u8; 6])>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for (i, p) in s.trim().split(':').enumerate() {
        *m.get_mut(i)? = u8::from_str_radix(p, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(m)
}

/// The Internet checksum of `data` folded onto `sum`.
fn csum(mut sum: u32, data: &[u8]) -> u16 {
    for c in data.chunks(2) {
        sum += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One complete Ethernet + IPv4 + UDP frame from `src:sport` to `dst` (checksums filled).
fn udp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: std::net::Ipv4Addr,
    sport: u16,
    dst: std::net::SocketAddrV4,
    payload: usize,
) -> Vec<u8> {
    let ulen = 8 + payload;
    let ilen = 20 + ulen;
    let mut f = Vec::with_capacity(14 + ilen);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip = f.len();
    f.extend_from_slice(&[
        0x45,
        0,
        (ilen >> 8) as u8,
        ilen as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.ip().octets());
    let c = csum(0, &f[ip..ip + 20]);
    f[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
    let udp = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&[(ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.resize(udp + ulen, 0x5a);
    // pseudo-header: addresses, protocol, UDP length
    let mut ph = Vec::with_capacity(12);
    ph.extend_from_slice(&f[ip + 12..ip + 20]);
    ph.extend_from_slice(&[0, 17, (ulen >> 8) as u8, ulen as u8]);
    let sum: u32 = ph
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
        .sum();
    let c = match csum(sum, &f[udp..]) {
        0 => 0xffff,
        c => c,
    };
    f[udp + 6..udp + 8].copy_from_slice(&c.to_be_bytes());
    f
}

/// What a send run did: datagrams the kernel accepted, and datagrams presented to it
/// (`SEND_BURST` per `sendmmsg` call, accepted or not: a full veth ring refuses the rest of a
/// burst with `ENOBUFS`, as a full NIC receive ring drops on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Accepted by the kernel.
    pub accepted: u64,
    /// Presented: accepted plus refused.
    pub tried: u64,
}

/// `dataplane udp-send ARGS`: parses the options and sends; what was accepted and tried.
pub fn udp_send(args: &[String]) -> Result<Sent, String> {
    let mut dst: Option<SocketAddr> = None;
    let (mut flows, mut payload, mut secs, mut rate) = (64usize, 18usize, 2.0f64, 0.0f64);
    let (mut iface, mut src, mut dst_mac) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a}: value missing"))?;
        let bad = || format!("{a} {v:?}: not a number");
        match a.as_str() {
            "--dst" => dst = Some(v.parse().map_err(|_| format!("--dst {v:?}"))?),
            "--flows" => flows = v.parse().map_err(|_| bad())?,
            "--payload" => payload = v.parse().map_err(|_| bad())?,
            "--secs" => secs = v.parse().map_err(|_| bad())?,
            "--rate" => rate = v.parse().map_err(|_| bad())?,
            "--raw" => iface = Some(v.clone()),
            "--src" => src = Some(v.parse().map_err(|_| format!("--src {v:?}"))?),
            "--dst-mac" => dst_mac = Some(parse_mac(v).ok_or_else(|| format!("--dst-mac {v:?}"))?),
            _ => return Err(format!("unknown option {a}")),
        }
    }
    let raw = match (iface, src, dst_mac) {
        (Some(i), Some(s), Some(m)) => Some((i, s, m)),
        (None, None, None) => None,
        _ => return Err("--raw needs --src and --dst-mac".into()),
    };
    let o = SendOpts {
        dst: dst.ok_or("--dst is required")?,
        flows: flows.clamp(1, 4096),
        payload,
        secs,
        rate,
        raw,
    };
    if o.raw.is_some() {
        raw_send(&o)
    } else {
        socket_send(&o)
    }
}

/// Sends bursts of `SEND_BURST` by `send(k)` (returns frames accepted, or <= 0) for `o.secs`,
/// presenting frames at `o.rate` (accepted or refused: a refused frame is not sent again).
fn paced(o: &SendOpts, mut send: impl FnMut(usize) -> isize) -> Sent {
    let start = Instant::now();
    let end = Duration::from_secs_f64(o.secs);
    let mut sent = 0u64;
    let mut tried = 0u64;
    let mut k = 0usize;
    loop {
        let t = start.elapsed();
        if t >= end {
            break;
        }
        if o.rate > 0.0 {
            // pacing: frame number `tried` is due at tried/rate seconds
            let due = Duration::from_secs_f64(tried as f64 / o.rate);
            if due > t {
                let ahead = due - t;
                if ahead > Duration::from_micros(200) {
                    std::thread::sleep(ahead - Duration::from_micros(100));
                }
                continue;
            }
        }
        let n = send(k);
        k += 1;
        tried += SEND_BURST as u64;
        if n > 0 {
            sent += n as u64;
        } else {
            // ENOBUFS and friends: the path is full; the burst is refused, the next one is due
            std::thread::yield_now();
        }
    }
    Sent {
        accepted: sent,
        tried,
    }
}

/// `o.flows` connected UDP sockets, a burst of `SEND_BURST` datagrams on one socket per call.
fn socket_send(o: &SendOpts) -> Result<Sent, String> {
    let socks: Vec<UdpSocket> = (0..o.flows)
        .map(|_| {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(o.dst)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("socket: {e}"))?;
    let buf = vec![0x5au8; o.payload];
    let mut iov = [libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value (no name, no control).
    let mut msgs: [libc::mmsghdr; SEND_BURST] = unsafe { std::mem::zeroed() };
    for m in msgs.iter_mut() {
        m.msg_hdr.msg_iov = iov.as_mut_ptr();
        m.msg_hdr.msg_iovlen = 1;
    }
    Ok(paced(o, |k| {
        let fd = socks[k % socks.len()].as_raw_fd();
        // SAFETY: `msgs` holds SEND_BURST headers, each pointing at `iov`, which points at
        // `buf`; all live across the call, and the kernel only reads them.
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), SEND_BURST as u32, 0) as isize }
    }))
}

/// Prebuilt Ethernet frames (one per flow: source ports 10000..) written by `sendmmsg` on an
/// `AF_PACKET` socket bound to the interface, past the qdisc (`PACKET_QDISC_BYPASS`): no UDP
/// socket, route or neighbour lookup per datagram, the flows interleaved within each burst.
fn raw_send(o: &SendOpts) -> Result<Sent, String> {
    let (iface, src, dst_mac) = o.raw.as_ref().ok_or("not raw")?;
    let SocketAddr::V4(dst) = o.dst else {
        return Err("--raw: IPv4 only".into());
    };
    let mac_txt = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))
        .map_err(|e| format!("{iface}: {e}"))?;
    let src_mac = parse_mac(&mac_txt).ok_or_else(|| format!("{iface}: MAC {mac_txt:?}"))?;
    let cname = std::ffi::CString::new(iface.as_str()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated name; the call only reads it.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("{iface}: no such interface"));
    }
    let frames: Vec<Vec<u8>> = (0..o.flows)
        .map(|i| udp_frame(src_mac, *dst_mac, *src, 10000 + i as u16, dst, o.payload))
        .collect();
    // protocol 0: the socket receives nothing
    // SAFETY: plain system call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` is ours and closed only by this owner.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: a c_int option of the given size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!(
            "PACKET_QDISC_BYPASS: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: sockaddr_ll is plain old data.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!("bind {iface}: {}", std::io::Error::last_os_error()));
    }
    let mut iovs: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain old data; all-zero is a valid value (no name, no control).
    let mut msgs: [libc::mmsghdr; SEND_BURST] = unsafe { std::mem::zeroed() };
    let mut next = 0usize;
    Ok(paced(o, |_| {
        for m in msgs.iter_mut() {
            m.msg_hdr.msg_iov = &mut iovs[next];
            m.msg_hdr.msg_iovlen = 1;
            next = (next + 1) % iovs.len();
        }
        // SAFETY: `msgs` holds SEND_BURST headers, each pointing at one iovec of `iovs`, which
        // point at `frames`; all live across the call, and the kernel only reads them.
        unsafe {
            libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), SEND_BURST as u32, 0) as isize
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_are_64_bytes_on_the_wire_with_valid_checksums() {
        let dst: std::net::SocketAddrV4 = "198.18.2.10:5001".parse().unwrap();
        let src = "198.18.0.2".parse().unwrap();
        let f = udp_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], src, 10007, dst, 18);
        assert_eq!(f.len() + 4, 64, "60 bytes + the FCS");
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(csum(0, &f[14..34]), 0, "IPv4 header checksum");
        let ph: u32 = [&f[26..34], &[0, 17, 0, 26][..]]
            .concat()
            .chunks(2)
            .map(|c| u32::from(c[0]) << 8 | u32::from(c[1]))
            .sum();
        assert_eq!(csum(ph, &f[34..]), 0, "UDP checksum");
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 10007);
        assert_eq!(
            parse_mac("0a:1b:2c:3d:4e:5f\n"),
            Some([10, 27, 44, 61, 78, 95])
        );
        assert_eq!(parse_mac("0a:1b"), None);
    }
}
