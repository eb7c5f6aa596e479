//! Connection synchronisation over UDP multicast, as the kernel's sync daemons
//! (`ipvsadm --start-daemon`): a master sends the director's version-1 messages
//! ([`Director::poll_sync`]) to the group (224.0.0.81:8848, TTL 1 by default) out of the sync
//! interface; a backup joins the group on that interface and hands every datagram to
//! [`Director::apply_sync`].
//!
//! Unlike the traffic lvsd forwards (raw frames on `AF_PACKET` sockets), the messages travel
//! through ordinary UDP sockets of the host's kernel, so the sync interface needs a kernel IPv4
//! address: both sockets are bound to it (the sender also names the interface with
//! `IP_MULTICAST_IF`, the receiver with `SO_BINDTODEVICE`). Best is a dedicated sync link that
//! lvsd does not serve with `--iface`; one of lvsd's interfaces works too if the kernel is given
//! lvsd's own `--addr` there as well.

use crate::config::{SyncMode, SyncOpts};
use crate::sys;
use lvs_core::director::Director;
use lvs_core::{Instant, Scheduler};
use std::fmt::Write;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

/// Datagrams read per wake-up before the loop looks at the interfaces again.
const BATCH: usize = 64;

/// lvsd's own counters of the sync sockets (the director counts records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Datagrams received.
    pub rx_datagrams: u64,
    /// Datagrams `apply_sync` refused as a whole or in part (malformed).
    pub rx_errors: u64,
    /// Datagrams from lvsd's own sync address (dropped).
    pub rx_own: u64,
    /// Messages sent.
    pub tx_messages: u64,
    /// Messages the kernel refused to send (lost).
    pub tx_errors: u64,
}

/// The sync sockets of a running lvsd.
#[derive(Debug)]
pub struct SyncLink {
    /// The settings.
    pub opts: SyncOpts,
    /// The kernel address on the sync interface both sockets are bound to.
    pub local: Ipv4Addr,
    /// Largest message a master builds (also set in the director's configuration).
    pub max_len: u16,
    /// Counters.
    pub counters: LinkCounters,
    tx: Option<UdpSocket>,
    rx: Option<UdpSocket>,
    buf: Vec<u8>,
}

/// A network interface's kernel index and MTU (any link type).
///
/// # Errors
/// An interface that does not exist.
pub fn iface_index_mtu(name: &str) -> Result<(u32, u32), String> {
    let read = |f: &str| -> Result<u32, String> {
        std::fs::read_to_string(format!("/sys/class/net/{name}/{f}"))
            .map_err(|e| format!("sync interface {name}: {f}: {e}"))?
            .trim()
            .parse()
            .map_err(|_| format!("sync interface {name}: bad {f}"))
    };
    Ok((read("ifindex")?, read("mtu")?))
}

/// The address the sync sockets use: of the kernel's addresses on the interface, one lvsd also
/// owns there (`--addr`), else the first.
pub fn pick_local(kernel: &[Ipv4Addr], own: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    kernel
        .iter()
        .find(|a| own.contains(a))
        .or_else(|| kernel.first())
        .copied()
}

fn ctx(what: &str, o: &SyncOpts) -> impl Fn(io::Error) -> String {
    let (what, iface) = (what.to_string(), o.iface.clone());
    move |e| format!("sync on {iface}: {what}: {e}")
}

impl SyncLink {
    /// Opens the sockets on the sync interface; `own` are lvsd's IPv4 addresses on it, if it is
    /// one of lvsd's interfaces.
    ///
    /// # Errors
    /// A missing interface, no kernel address on it, or a socket the kernel refuses (the
    /// message says which).
    pub fn open(o: &SyncOpts, own: &[Ipv4Addr]) -> Result<SyncLink, String> {
        let (ifindex, mtu) = iface_index_mtu(&o.iface)?;
        let kernel = sys::kernel_ipv4_addrs(&o.iface).map_err(|e| format!("getifaddrs: {e}"))?;
        let local = pick_local(&kernel, own).ok_or_else(|| {
            format!(
                "sync interface {0} has no IPv4 address in the kernel: sync messages go through \
                 the kernel's UDP stack, so give it one (`ip addr add ADDR/LEN dev {0}`), best \
                 on a dedicated sync link that lvsd does not serve with --iface; on one of \
                 lvsd's interfaces, give the kernel lvsd's own --addr there",
                o.iface
            )
        })?;
        let group = SocketAddrV4::new(o.group, o.port);
        let tx = if o.mode.sends() {
            let s = UdpSocket::bind(SocketAddrV4::new(local, 0))
                .map_err(ctx(&format!("bind {local}"), o))?;
            sys::set_multicast_if_v4(&s, ifindex, local).map_err(ctx("IP_MULTICAST_IF", o))?;
            s.set_multicast_ttl_v4(u32::from(o.ttl))
                .map_err(ctx("multicast TTL", o))?;
            // a backup on this host must not apply what this master sends
            s.set_multicast_loop_v4(false)
                .map_err(ctx("multicast loop", o))?;
            s.connect(group)
                .map_err(ctx(&format!("connect {group}"), o))?;
            s.set_nonblocking(true).map_err(ctx("non-blocking", o))?;
            Some(s)
        } else {
            None
        };
        let rx = if o.mode.receives() {
            // bound to the group: nothing but the group's datagrams arrive
            let s = UdpSocket::bind(group).map_err(ctx(
                &format!("bind {group} (is another sync daemon running here?)"),
                o,
            ))?;
            sys::bind_to_device(&s, &o.iface).map_err(ctx("SO_BINDTODEVICE", o))?;
            s.join_multicast_v4(&o.group, &local)
                .map_err(ctx(&format!("join {} on {local}", o.group), o))?;
            s.set_nonblocking(true).map_err(ctx("non-blocking", o))?;
            Some(s)
        } else {
            None
        };
        Ok(SyncLink {
            opts: o.clone(),
            local,
            max_len: o.max_len(mtu),
            counters: LinkCounters::default(),
            tx,
            rx,
            buf: vec![0; 65536],
        })
    }

    /// A worker's sending link (with more than one worker, [`crate::workers`]): each worker
    /// sends its own shard's messages; only the lead receives. `None` when `o` does not send.
    ///
    /// # Errors
    /// As [`SyncLink::open`].
    pub fn open_sender(o: &SyncOpts, own: &[Ipv4Addr]) -> Result<Option<SyncLink>, String> {
        if !o.mode.sends() {
            return Ok(None);
        }
        let mut o = o.clone();
        o.mode = crate::config::SyncMode::Master;
        SyncLink::open(&o, own).map(Some)
    }

    /// The receiving socket, to poll.
    pub fn rx_fd(&self) -> Option<RawFd> {
        self.rx.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Whether this lvsd sends (it then has a deadline: [`Director::sync_poll_at`]).
    pub fn sends(&self) -> bool {
        self.tx.is_some()
    }

    /// Applies the datagrams waiting on the receiving socket; `log` gets each error. With
    /// `shards.0` workers (steered by `shards.1`) each message is split by the clients' shard
    /// ([`crate::sync_split`]): `dir` (worker 0's) applies its part, `forward` gets the
    /// others'.
    pub fn receive<S: Scheduler>(
        &mut self,
        dir: &mut Director<'_, S>,
        now: Instant,
        mut log: impl FnMut(String),
        shards: (usize, crate::steering::Steering),
        mut forward: impl FnMut(usize, Vec<u8>),
    ) {
        let Some(rx) = &self.rx else { return };
        for _ in 0..BATCH {
            let (n, from) = match rx.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return
                }
                Err(e) => {
                    self.counters.rx_errors += 1;
                    return log(format!("sync receive: {e}"));
                }
            };
            self.counters.rx_datagrams += 1;
            if from.ip() == IpAddr::V4(self.local) {
                self.counters.rx_own += 1;
                continue;
            }
            let parts = (shards.0 > 1)
                .then(|| crate::sync_split::split(&self.buf[..n], shards.0, shards.1))
                .flatten();
            if let Some(parts) = parts {
                for (k, m) in parts {
                    if k == 0 {
                        let _ = dir.apply_sync(now, &m, self.opts.syncid);
                    } else {
                        forward(k, m);
                    }
                }
                continue;
            }
            if let Err(e) = dir.apply_sync(now, &self.buf[..n], self.opts.syncid) {
                self.counters.rx_errors += 1;
                log(format!("sync message from {from}: {e}"));
            }
        }
    }

    /// Sends the messages the director has due; `log` gets each error.
    pub fn send<S: Scheduler>(
        &mut self,
        dir: &mut Director<'_, S>,
        now: Instant,
        mut log: impl FnMut(String),
    ) {
        let Some(tx) = &self.tx else { return };
        while let Some(n) = dir.poll_sync(now, &mut self.buf, self.opts.syncid) {
            match tx.send(&self.buf[..n]) {
                Ok(_) => self.counters.tx_messages += 1,
                Err(e) => {
                    self.counters.tx_errors += 1;
                    log(format!(
                        "sync send to {}:{}: {e}",
                        self.opts.group, self.opts.port
                    ));
                }
            }
        }
    }

    /// `ipvsadm -L --daemon`.
    pub fn daemon_listing(&self) -> String {
        daemon_listing(&self.opts, self.max_len)
    }
}

/// `ipvsadm -L --daemon` for these settings: a `master` line, then a `backup` line.
pub fn daemon_listing(o: &SyncOpts, max_len: u16) -> String {
    let mut out = String::new();
    for (kind, on) in [("master", o.mode.sends()), ("backup", o.mode.receives())] {
        if on {
            let _ = writeln!(
                out,
                "{kind} sync daemon (mcast={}, syncid={}, maxlen={max_len}, group={}, port={}, \
                 ttl={})",
                o.iface, o.syncid, o.group, o.port, o.ttl
            );
        }
    }
    out
}

/// The role the director plays for these settings.
pub fn role(mode: SyncMode) -> lvs_core::director::SyncRole {
    use lvs_core::director::SyncRole;
    use lvs_core::sync::SyncPolicy;
    match mode {
        SyncMode::Master => SyncRole::Master(SyncPolicy::DEFAULT),
        SyncMode::Backup => SyncRole::Backup,
        SyncMode::Both => SyncRole::Both(SyncPolicy::DEFAULT),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn opts(mode: SyncMode) -> SyncOpts {
        SyncOpts {
            mode,
            iface: "y0".into(),
            syncid: 7,
            group: Ipv4Addr::new(224, 0, 0, 81),
            port: 8848,
            ttl: 1,
            maxlen: None,
        }
    }

    #[test]
    fn local_address_prefers_lvsds_own() {
        let a = Ipv4Addr::new(198, 18, 9, 1);
        let b = Ipv4Addr::new(198, 18, 9, 5);
        assert_eq!(pick_local(&[a, b], &[b]), Some(b));
        assert_eq!(pick_local(&[a, b], &[]), Some(a));
        assert_eq!(pick_local(&[a], &[Ipv4Addr::new(198, 18, 0, 1)]), Some(a));
        assert_eq!(pick_local(&[], &[a]), None);
    }

    #[test]
    fn daemon_listing_is_ipvsadms() {
        assert_eq!(
            daemon_listing(&opts(SyncMode::Both), 1472),
            "master sync daemon (mcast=y0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, \
             ttl=1)\nbackup sync daemon (mcast=y0, syncid=7, maxlen=1472, group=224.0.0.81, \
             port=8848, ttl=1)\n"
        );
        assert!(daemon_listing(&opts(SyncMode::Backup), 1472).starts_with("backup sync"));
        assert_eq!(
            daemon_listing(&opts(SyncMode::Master), 1472)
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn message_size_follows_the_mtu() {
        let mut o = opts(SyncMode::Master);
        assert_eq!(o.max_len(1500), 1472);
        assert_eq!(o.max_len(9000), 8972);
        assert_eq!(o.max_len(65535), 65507);
        o.maxlen = Some(600);
        assert_eq!(o.max_len(1500), 600);
        assert_eq!(o.max_len(500), 472);
        o.maxlen = Some(10);
        assert_eq!(o.max_len(1500), crate::config::SYNC_MIN_LEN);
    }

    #[test]
    fn roles() {
        use lvs_core::director::SyncRole;
        assert!(matches!(role(SyncMode::Master), SyncRole::Master(_)));
        assert_eq!(role(SyncMode::Backup), SyncRole::Backup);
        assert!(role(SyncMode::Both).is_backup() && role(SyncMode::Both).policy().is_some());
    }
}
