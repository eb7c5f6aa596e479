//! VIP failover: one VRRP version 3 virtual router (`lvs_forward::vrrp`) on one interface.
//!
//! Adverts come and go through the interface's `AF_PACKET` socket like every other frame (to
//! 224.0.0.18 or ff02::12, TTL 255, from the interface's own MAC, as keepalived sends them
//! without `use_vmac`). While lvsd is not the master it stays silent on every interface: it
//! answers no ARP/NDP, forwards nothing, and only listens to adverts (and, with `--sync`, keeps
//! applying the master's connection sync messages, so that the connections survive). On
//! becoming master it announces every VIP and own address (`ctl announce`, gratuitous ARP /
//! unsolicited NA), again one second later, and starts forwarding. On SIGTERM a master sends
//! a priority-0 advert so that a backup takes over after its skew time.

use crate::config::Prefix;
use crate::daemon::Daemon;
use lvs_core::{Instant, IpAddr};
use lvs_forward::vrrp::{Action, Config, DropReason, Received, Router, State};
use lvs_forward::wire::vrrp::{AddrList, PROTOCOL};

/// The `--vrrp*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpOpts {
    /// The interface.
    pub iface: String,
    /// Virtual router ID.
    pub vrid: u8,
    /// Priority.
    pub priority: u8,
    /// Advert interval in centiseconds.
    pub adver_int: u16,
    /// Preemption.
    pub preempt: bool,
    /// `--vrrp-src`.
    pub src: Option<IpAddr>,
    /// `--vrrp-vip`.
    pub vips: Vec<IpAddr>,
}

/// Takes the `--vrrp*` options out of `args`: (the options if `--vrrp` was given, the rest).
///
/// # Errors
/// A bad value, or a `--vrrp-*` option without `--vrrp`.
pub fn split_args(args: &[String]) -> Result<(Option<VrrpOpts>, Vec<String>), String> {
    let mut rest = Vec::new();
    let mut o = VrrpOpts {
        iface: String::new(),
        vrid: 51,
        priority: 100,
        adver_int: 100,
        preempt: true,
        src: None,
        vips: Vec::new(),
    };
    let mut any: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if !a.starts_with("--vrrp") {
            rest.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let num = |v: String, lo: u32, hi: u32| -> Result<u32, String> {
            v.parse::<u32>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| format!("{name} {v:?}: not a number in {lo}..={hi}"))
        };
        match name {
            "--vrrp" => o.iface = value()?,
            "--vrrp-vrid" => o.vrid = num(value()?, 1, 255)? as u8,
            "--vrrp-priority" => o.priority = num(value()?, 1, 255)? as u8,
            "--vrrp-advert-int" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("{name} {v:?}: not a number of seconds"))?;
                let cs = (secs * 100.0).round();
                if !(1.0..=4095.0).contains(&cs) {
                    return Err(format!("{name} {v:?}: out of 0.01..=40.95 seconds"));
                }
                o.adver_int = cs as u16;
            }
            "--vrrp-nopreempt" => o.preempt = false,
            "--vrrp-src" => {
                let v = value()?;
                o.src = Some(
                    v.parse()
                        .map_err(|_| format!("{name} {v:?}: not an address"))?,
                );
            }
            "--vrrp-vip" => {
                let v = value()?;
                o.vips.push(
                    v.parse()
                        .map_err(|_| format!("{name} {v:?}: not an address"))?,
                );
            }
            _ => return Err(format!("unknown option {name}")),
        }
        if name != "--vrrp" {
            any.get_or_insert(name.to_string());
        }
    }
    match (o.iface.is_empty(), any) {
        (true, Some(n)) => Err(format!("{n} needs --vrrp IFACE")),
        (true, None) => Ok((None, rest)),
        (false, _) => Ok((Some(o), rest)),
    }
}

/// The virtual router of a running lvsd.
#[derive(Debug)]
pub struct Vrrp {
    /// The library's state machine.
    pub router: Router,
    /// Index of its interface in the daemon's interfaces.
    pub ifc: usize,
    /// When to announce the addresses once more after becoming master (ms since start).
    announce_again: Option<u64>,
    /// Adverts on other interfaces (ignored).
    other_iface: u64,
    /// Frames dropped because lvsd is not master.
    silenced: u64,
}

impl Vrrp {
    /// The virtual router `o` describes for daemon `d` (after its rules are loaded).
    ///
    /// # Errors
    /// An unknown interface, no usable source address, no or too many VIPs, a bad setting.
    pub fn new(o: &VrrpOpts, d: &Daemon<'_>) -> Result<Vrrp, String> {
        let ifc = d
            .ifaces
            .iter()
            .position(|i| i.info.name == o.iface)
            .ok_or_else(|| format!("--vrrp {}: not an --iface", o.iface))?;
        let v4 = match (o.src, o.vips.first()) {
            (Some(s), _) => s.is_ipv4(),
            (None, Some(v)) => v.is_ipv4(),
            (None, None) => true,
        };
        let src = o
            .src
            .or_else(|| {
                d.own
                    .iter()
                    .find(|(i, p): &&(usize, Prefix)| *i == ifc && p.addr.is_ipv4() == v4)
                    .map(|(_, p)| p.addr)
            })
            .ok_or_else(|| {
                format!(
                    "--vrrp {}: no --addr of that family on it: give --vrrp-src",
                    o.iface
                )
            })?;
        let mut vips = o.vips.clone();
        if vips.is_empty() {
            vips = d
                .vips
                .iter()
                .map(|(v, _)| *v)
                .filter(|v| v.is_ipv4() == v4)
                .collect();
            vips.sort();
            vips.dedup();
        }
        let addrs = AddrList::new(&vips).ok_or_else(|| {
            format!(
                "--vrrp: {} virtual addresses: at most 20, all of the --vrrp-src family",
                vips.len()
            )
        })?;
        let cfg = Config {
            vrid: o.vrid,
            priority: o.priority,
            adver_int: o.adver_int,
            preempt: o.preempt,
            accept_mode: true,
            addrs,
            primary: src,
        };
        let router = Router::new(cfg).map_err(|e| format!("--vrrp: {e}"))?;
        Ok(Vrrp {
            router,
            ifc,
            announce_again: None,
            other_iface: 0,
            silenced: 0,
        })
    }

    /// A one-line description for the start message.
    pub fn describe(&self, iface: &str) -> String {
        let c = self.router.config();
        let vips: Vec<String> = c.addrs.as_slice().iter().map(|a| a.to_string()).collect();
        format!(
            "vrrp on {iface}: vrid {} priority {} advert_int {}cs {}from {}, vips {}",
            c.vrid,
            c.priority,
            c.adver_int,
            if c.preempt { "" } else { "nopreempt " },
            c.primary,
            vips.join(" ")
        )
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "init",
        State::Backup => "backup",
        State::Master => "master",
    }
}

/// Whether the Ethernet frame carries VRRP (no IPv6 extension headers).
fn is_vrrp(frame: &[u8]) -> bool {
    match (frame.get(12..14), frame.get(14)) {
        (Some([0x08, 0x00]), Some(v)) if v >> 4 == 4 => frame.get(23) == Some(&PROTOCOL),
        (Some([0x86, 0xdd]), _) => frame.get(20) == Some(&PROTOCOL),
        _ => false,
    }
}

impl Daemon<'_> {
    fn vrrp_now(&self) -> Instant {
        Instant::from_millis(self.now_ms())
    }

    /// Whether lvsd must keep quiet about its addresses: VRRP is configured and lvsd is not
    /// (yet) the master.
    pub fn vrrp_silent(&self) -> bool {
        self.opts.vrrp.is_some()
            && self
                .vrrp
                .as_ref()
                .is_none_or(|v| v.router.state() != State::Master)
    }

    /// Starts the virtual router (backup, or master at once as address owner).
    pub fn vrrp_start(&mut self) {
        let now = self.vrrp_now();
        if let Some(v) = self.vrrp.as_mut() {
            v.router.start(now);
        }
        self.vrrp_actions();
    }

    /// Takes a received frame first: adverts go to the virtual router, and while lvsd is not
    /// master every other frame is dropped. Returns whether the frame was consumed.
    pub fn vrrp_gate(&mut self, ifc: usize, frame: &[u8]) -> bool {
        let Some(v) = self.vrrp.as_mut() else {
            if self.vrrp_standby {
                self.hot.vrrp_silenced += 1;
            }
            return self.vrrp_standby;
        };
        if is_vrrp(frame) {
            if ifc != v.ifc {
                v.other_iface += 1;
                return true;
            }
            let now = Instant::from_millis(self.now_ms());
            let v = self.vrrp.as_mut().expect("checked above");
            let r = Received::from_ip_packet(&frame[14..])
                .and_then(|rx| v.router.handle_packet(now, &rx));
            if let Err(e) = r {
                if matches!(e, DropReason::BadIp | DropReason::NotVrrp) {
                    // dropped before the router saw it: counted here
                    *self.counters.entry("vrrp.drop.bad_ip").or_insert(0) += 1;
                }
                if self.opts.verbose {
                    eprintln!("lvsd: vrrp: dropped an advert: {e}");
                }
            }
            self.vrrp_actions();
            return true;
        }
        if v.router.state() != State::Master {
            v.silenced += 1;
            return true;
        }
        false
    }

    /// When [`Daemon::vrrp_poll`] is due (ms since start).
    pub fn vrrp_deadline(&self) -> Option<u64> {
        let v = self.vrrp.as_ref()?;
        let t = v.router.poll_timeout().map(|t| t.total_millis());
        match (t, v.announce_again) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the virtual router's timers and acts on what it says.
    pub fn vrrp_poll(&mut self) {
        let now = self.vrrp_now();
        let Some(v) = self.vrrp.as_mut() else {
            return;
        };
        if v.router.poll_timeout().is_some_and(|t| t <= now) {
            v.router.handle_timeout(now);
        }
        let again = v
            .announce_again
            .is_some_and(|t| t <= now.total_millis() && v.router.state() == State::Master);
        if v.announce_again.is_some_and(|t| t <= now.total_millis()) {
            v.announce_again = None;
        }
        self.vrrp_actions();
        if again {
            self.announce();
        }
    }

    /// Steps down on SIGTERM: a master sends its priority-0 advert.
    pub fn vrrp_shutdown(&mut self) {
        let now = self.vrrp_now();
        if let Some(v) = self.vrrp.as_mut() {
            v.router.shutdown(now);
        }
        self.vrrp_actions();
    }

    fn vrrp_actions(&mut self) {
        loop {
            let Some(v) = self.vrrp.as_mut() else {
                return;
            };
            let Some(a) = v.router.poll_action() else {
                return;
            };
            let (ifc, vrid, prio) = (v.ifc, v.router.config().vrid, v.router.config().priority);
            match a {
                Action::Send(adv) => {
                    let mut f = [0u8; 14 + 40 + lvs_forward::wire::vrrp::MAX_LEN];
                    let (dst_mac, ethertype) = match adv.dst {
                        IpAddr::V4(_) => ([0x01, 0x00, 0x5e, 0, 0, 0x12], [0x08, 0x00]),
                        IpAddr::V6(_) => ([0x33, 0x33, 0, 0, 0, 0x12], [0x86, 0xdd]),
                    };
                    f[..6].copy_from_slice(&dst_mac);
                    f[6..12].copy_from_slice(&self.ifaces[ifc].info.mac.0);
                    f[12..14].copy_from_slice(&ethertype);
                    if let Some(n) = adv.write_ip(&mut f[14..]) {
                        self.send_copy(ifc, &f[..14 + n]);
                    }
                }
                Action::EnterMaster => {
                    eprintln!("lvsd: vrrp vrid {vrid}: entering MASTER state (priority {prio})");
                    self.announce();
                    let t = self.now_ms() + 1000;
                    if let Some(v) = self.vrrp.as_mut() {
                        v.announce_again = Some(t);
                    }
                }
                Action::EnterBackup => {
                    eprintln!("lvsd: vrrp vrid {vrid}: entering BACKUP state (priority {prio})");
                }
                Action::EnterInitialize => {
                    eprintln!("lvsd: vrrp vrid {vrid}: stopped");
                }
            }
        }
    }

    /// The `vrrp.*` lines of `status`.
    pub fn vrrp_status(&self, out: &mut String) {
        let Some(v) = self.vrrp.as_ref() else {
            if self.opts.vrrp.is_some() {
                // another worker: the state the lead mirrors (its silenced frames are counted)
                let master = u8::from(!self.vrrp_standby);
                out.push_str(&format!("vrrp.mirrored_master {master}\n"));
            }
            return;
        };
        let r = &v.router;
        let c = r.counters();
        let mut kv = |k: &str, val: String| out.push_str(&format!("vrrp.{k} {val}\n"));
        kv("state", state_name(r.state()).to_string());
        kv("priority", r.config().priority.to_string());
        kv("master_adver_int_cs", r.master_adver_int().to_string());
        kv(
            "master_down_ms",
            r.master_down_interval().total_millis().to_string(),
        );
        kv("rx_adverts", c.rx_adverts.to_string());
        kv("rx_priority_zero", c.rx_priority_zero.to_string());
        kv("rx_lower_ignored", c.rx_lower_ignored.to_string());
        kv("tx_adverts", c.tx_adverts.to_string());
        kv("became_master", c.became_master.to_string());
        kv("became_backup", c.became_backup.to_string());
        kv("other_iface", v.other_iface.to_string());
        kv("silenced_frames", v.silenced.to_string());
        for why in DropReason::ALL {
            if !matches!(why, DropReason::BadIp | DropReason::NotVrrp) {
                kv(&format!("drop.{}", why.name()), c.dropped(why).to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let (o, rest) = split_args(&args(
            "--rules r --vrrp d0 --iface d0 --vrrp-priority=150 \
             --vrrp-advert-int 0.3 --vrrp-src 198.18.0.101 --vrrp-vip 198.18.0.10 --vrrp-nopreempt",
        ))
        .unwrap();
        assert_eq!(rest, args("--rules r --iface d0"));
        let o = o.unwrap();
        assert_eq!(
            (o.iface.as_str(), o.vrid, o.priority, o.adver_int),
            ("d0", 51, 150, 30)
        );
        assert!(!o.preempt);
        assert_eq!(o.src, Some("198.18.0.101".parse().unwrap()));
        assert_eq!(
            split_args(&args("--iface d0")).unwrap(),
            (None, args("--iface d0"))
        );
        for bad in [
            "--vrrp-priority 100",
            "--vrrp d0 --vrrp-priority 0",
            "--vrrp d0 --vrrp-priority 256",
            "--vrrp d0 --vrrp-vrid 0",
            "--vrrp d0 --vrrp-advert-int 0",
            "--vrrp d0 --vrrp-advert-int 41",
            "--vrrp d0 --vrrp-src nope",
            "--vrrp d0 --vrrp-bogus",
            "--vrrp",
        ] {
            assert!(split_args(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn recognises_vrrp_frames() {
        let mut f = [0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 112;
        assert!(is_vrrp(&f));
        f[23] = 17;
        assert!(!is_vrrp(&f));
        f[12] = 0x86;
        f[13] = 0xdd;
        f[20] = 112;
        assert!(is_vrrp(&f));
        assert!(!is_vrrp(&f[..13]));
    }
}
