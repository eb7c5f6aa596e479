//! Many workers (`--workers N`): N threads, each a [`Daemon`] with its own director shard (its
//! own connection table, schedulers and counters), its own packet socket and rings on every
//! interface, and its own neighbour cache. Nothing on the packet path is shared, so nothing there
//! takes a lock.
//!
//! The sockets of one interface form a `PACKET_FANOUT_CBPF` group whose program
//! ([`crate::fanout`]) sends both directions of a NAT flow to the same worker (the hash of the
//! client's address and port, or of its address alone: `--steer`, [`crate::steering`]), ICMP
//! errors quoting a flow's packet to that flow's worker too, and everything else that is not
//! TCP or UDP (ARP, NDP, pings, VRRP), and what is addressed to lvsd's own addresses, to
//! worker 0.
//!
//! Worker 0 (the lead) runs on the main thread and owns the control plane: the control socket,
//! signals, the HTTP management plane, health verdicts (which arrive as ipvsadm commands), load
//! agents. Control operations reach every shard by a mirror: after a control command or a
//! reload at once, otherwise every [`MIRROR_MS`], the lead compares its rules and tunables
//! (`RuleSet::snapshot`, `DirectorConfig`) with what it last sent and, when they differ, sends
//! them to every other worker, which reconciles its shard to them (the same `rules::sync` a
//! reload uses, so flows and counters of unchanged services stay). The lead sets the fanout
//! program again when the VIPs change. Neighbours the lead learns (ARP and NDP come to it) are
//! passed on too; another worker that needs a MAC it does not know asks for it (the answer
//! comes to the lead, which passes it on).
//!
//! The lead's `status` sums every shard's counters (the lines that are not additive, states
//! and configuration, are the lead's) and lists each shard's own as `worker<k>.<name>`, worker
//! 0's included, asked for at the time ([`Msg::View`], [`crate::status_merge`]). The ipvsadm
//! listings (`-L`, `--stats`, `--rate`, `-c`), the stats listing and the management plane's
//! snapshot cover every shard: the lead asks the others for their part ([`Msg::View`], answered
//! between two bursts) and merges them ([`crate::views`]); `-Z` zeroes every shard
//! ([`Msg::Zero`]).
//!
//! VRRP (`--vrrp`): adverts are not TCP or UDP, so they reach the lead, which alone runs the
//! virtual router, sends adverts and announces the addresses on becoming master. On every loop
//! pass it compares its state (master or not: [`Daemon::vrrp_silent`]) with what it last sent
//! and sends a change to every other worker at once ([`Msg::Master`]). Another worker starts
//! standby and, while the lead is not master, drops every frame it receives (counted as
//! `vrrp.silenced_frames`) as the lead does; its `status` shows `vrrp.mirrored_master 0/1`.
//! Between the lead's change and a shard's applying it there is one wake-up of that shard.
//!
//! Connection sync (`--sync`): a master shard's connections are its own, so every worker that
//! sends opens its own sending socket and sends its shard's messages (the backups apply them
//! all, whichever sender). Only the lead receives (one socket bound to the group): it splits
//! each message by the shard each connection's client is steered to ([`crate::sync_split`],
//! the fanout program's hash), applies its part and passes the others' on ([`Msg::Sync`]);
//! each shard's `director.sync.*` counters are its own part's. Together with VRRP a backup's
//! shards hold the master's connections where the fanout program will send their frames.
//!
//! The L7 splicer (`--l7-rules`) runs in every shard: each worker loads its own from the rules
//! file with the lead's random words (the same SYN-cookie secret, hash keys and scheduler seed,
//! so an `mh key=url` pool picks the same server in every shard). A spliced connection stays in
//! one shard: the client's frames to the VIP are steered by the client's address and port, and
//! the splicer's connection to the real server uses the client's address and port as its
//! source (NAT-style), so the server's frames, addressed to them, are steered by the same hash.
//! Each shard's `l7.*` counters are its own (`worker<k>.l7.*` in the lead's `status`, whose
//! unprefixed `l7.*` are their sums).
//!
//! Persistence (`-p`) and other per-client state: a shard's persistence templates are its own,
//! so all of a client's connections must reach one shard. `--steer addr` ([`crate::steering`],
//! the default when the starting rules have a persistent service) makes the fanout program
//! hash the client's address alone (masked to the rules' shortest `-M`), and a persistent
//! service then behaves as in the kernel's single table; under `--steer flow` (address and
//! port) a persistent service is refused, at start and at run time.
//!
//! The TLS splicer (`--tls-rules`) runs in every shard too, each worker loading its own (rules
//! file and the lead's random words, as the L7 splicer), but only under `--steer addr` (which
//! `auto` picks with `--tls-rules`; `--steer flow` with it is refused at start). Its
//! connections stay in one shard as the L7 splicer's do, and its persistence engine
//! ([`lvs_core::tls_persist`]) learns which server holds each TLS session ID from the server's
//! ServerHello in the shard that carried that connection: a client resuming the session on a
//! new connection (a new source port) must reach that shard again, which steering by client
//! address guarantees and steering by address and port does not. Ticket key names come from
//! the rules file, so every shard knows them. Each shard's `tls.*` counters are its own
//! (`worker<k>.tls.*`; the unprefixed `tls.*` are their sums), and `-L -n -c --persistent-conn` lists every shard's engine entries.

use crate::config::{IfaceInfo, Options, Prefix, Routes};
use crate::daemon::{ms_instant, Daemon, Iface, SignalFlags};
use crate::rules::{self, RuleSet};
use crate::steering::Steering;
use crate::views::{Ask, ShardView, VIEW_TIMEOUT};
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::{Instant, IpAddr};
use lvs_forward::wire::MacAddr;
use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// How often the lead compares its rules with the ones it last sent, in milliseconds.
pub const MIRROR_MS: u64 = 20;
/// The most workers `--workers` accepts.
pub const MAX_WORKERS: usize = 64;

/// Takes `--workers N` out of `args`; 1 when absent.
///
/// # Errors
/// A missing or bad value.
pub fn take_args(args: &mut Vec<String>) -> Result<usize, String> {
    let mut n = 1;
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let v = match a.strip_prefix("--workers=") {
            Some(v) => v.to_string(),
            None if a == "--workers" => it.next().ok_or("--workers needs a value")?,
            None => {
                rest.push(a);
                continue;
            }
        };
        n = v
            .parse()
            .ok()
            .filter(|n| (1..=MAX_WORKERS).contains(n))
            .ok_or_else(|| format!("--workers {v:?}: expected 1 to {MAX_WORKERS}"))?;
    }
    *args = rest;
    Ok(n)
}

/// A message from the lead to another worker.
#[derive(Debug)]
pub enum Msg {
    /// The rules and tunables the lead runs now.
    Rules(Box<RuleSet>, DirectorConfig),
    /// A neighbour the lead learnt: interface, address, MAC, whether to create the entry.
    Neigh(usize, IpAddr, MacAddr, bool),
    /// Whether the lead's VRRP virtual router is master (`--vrrp`): the shard forwards only
    /// while it is.
    Master(bool),
    /// The part of a received sync message for this worker's shard.
    Sync(Vec<u8>),
    /// Send this shard's view ([`crate::views`]) back, with the worker's number.
    View(Ask, Sender<(usize, ShardView)>),
    /// Zero the shard's counters (`-Z`).
    Zero,
}

/// The lead's end of another worker.
#[derive(Debug)]
pub struct Peer {
    tx: Sender<Msg>,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

/// A worker's part in the group.
#[derive(Debug)]
pub enum Role {
    /// Worker 0: the control plane.
    Lead {
        /// The other workers.
        peers: Vec<Peer>,
        /// What was last sent to them.
        sent: Option<Box<(RuleSet, DirectorConfig)>>,
        /// The VIPs the fanout program was last built for.
        steered: Option<Vec<IpAddr>>,
        /// What the fanout program hashes (chosen at start).
        steering: Steering,
        /// The VRRP master state last sent.
        master: Option<bool>,
        /// When to compare again (ms since start).
        check_at: u64,
        /// Views a shard did not answer in time ([`crate::views::VIEW_TIMEOUT`]).
        view_timeouts: Cell<u64>,
    },
    /// Worker 1..N.
    Follower {
        /// Its number.
        index: usize,
        /// Messages from the lead.
        rx: Receiver<Msg>,
    },
}

/// What another worker is built from (its sockets opened and in the fanout groups).
pub struct Parts {
    /// Its number (1..N).
    pub index: usize,
    /// Its sockets and rings, one per interface, in `--iface` order.
    pub ifaces: Vec<Iface>,
    /// lvsd's addresses.
    pub own: Vec<(usize, Prefix)>,
    /// Routes.
    pub routes: Routes,
    /// Options.
    pub opts: Options,
    /// The director's tunables.
    pub cfg: DirectorConfig,
    /// The rules at start.
    pub set: RuleSet,
    /// Scheduler seed.
    pub seed: u64,
    /// Tunnel hash key.
    pub tun_key: SipKey,
    /// lvsd's start.
    pub start: std::time::Instant,
    /// `--l7-rules`: the worker loads its own splicer from them.
    pub l7: Option<crate::l7::L7Opts>,
    /// `--tls-rules` (with `--steer addr`): the worker loads its own TLS splicer from them.
    pub tls: Option<crate::tls::TlsOpts>,
    /// The random words the lead's splicer was loaded with (the same cookie secret, hash keys
    /// and scheduler seed in every shard).
    pub words: [u64; 4],
}

/// Opens worker `index`'s socket and rings on each interface (after the lead's, so that the
/// kernel numbers the fanout members in worker order) and joins the interfaces' fanout groups.
///
/// # Errors
/// A socket the kernel refused.
pub fn open_ifaces(infos: &[IfaceInfo], opts: &Options) -> Result<Vec<Iface>, String> {
    let mut out = Vec::new();
    for info in infos {
        let name = &info.name;
        let sock = crate::sys::PacketSocket::open(info.index, opts.promisc)
            .map_err(|e| format!("{name}: AF_PACKET socket: {e}"))?;
        let rings = if opts.no_rings {
            None
        } else {
            Some(crate::frame_io::FrameIo::Packet(
                crate::ring::Rings::setup(&sock, info.index)
                    .map_err(|e| format!("{name}: packet rings: {e}"))?,
            ))
        };
        join(&sock, info)?;
        out.push(Iface {
            info: info.clone(),
            sock,
            io: rings,
        });
    }
    Ok(out)
}

/// Joins the fanout group of `info`'s interface: group id from lvsd's pid and the interface
/// index (one lvsd per network namespace is the usual case; a clash with another group is a
/// refusal at start).
///
/// # Errors
/// The kernel's refusal.
pub fn join(sock: &crate::sys::PacketSocket, info: &IfaceInfo) -> Result<(), String> {
    let id = (std::process::id() ^ (info.index << 7)) as u16;
    sock.join_fanout(id)
        .map_err(|e| format!("{}: PACKET_FANOUT group {id}: {e}", info.name))
}

/// Refuses what does not run with more than one worker under `steering`: the TLS splicer
/// under `--steer flow` (see the module's documentation).
///
/// # Errors
/// `--tls-rules` with more than one worker steered by address and port.
pub fn check_alone(n: usize, tls: bool, steering: Steering) -> Result<(), String> {
    if n > 1 && tls && steering == Steering::Flow {
        return Err(
            "--tls-rules with more than one worker needs --steer addr (or auto): the session \
             IDs a worker's persistence engine learns stay in its shard, and under --steer \
             flow a client resuming from a new port reaches any worker"
                .into(),
        );
    }
    Ok(())
}

/// Starts worker `p.index` on a thread of its own; returns the lead's end.
///
/// # Errors
/// No socket pair or thread.
pub fn spawn(p: Parts) -> Result<Peer, String> {
    let (tx, rx) = channel();
    let (wake_r, wake) = UnixStream::pair().map_err(|e| e.to_string())?;
    wake_r.set_nonblocking(true).map_err(|e| e.to_string())?;
    wake.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let signals = SignalFlags {
        term: stop.clone(),
        ..SignalFlags::default()
    };
    let thread = std::thread::Builder::new()
        .name(format!("lvsd-worker{}", p.index))
        .spawn(move || follow(p, rx, &wake_r, &signals))
        .map_err(|e| e.to_string())?;
    Ok(Peer {
        tx,
        wake,
        stop,
        thread: Some(thread),
    })
}

fn follow(
    p: Parts,
    rx: Receiver<Msg>,
    wake: &UnixStream,
    signals: &SignalFlags,
) -> Result<(), String> {
    let mut mem = OwnedMemory::new(p.opts.conns, p.opts.services, p.opts.dests);
    let dir = Director::new(p.cfg, mem.borrow(), Instant::ZERO)
        .map_err(|e| format!("worker {}: director: {e}", p.index))?;
    let l7 = match &p.l7 {
        Some(o) => Some(Box::new(
            crate::l7::L7::load(o, p.words).map_err(|e| format!("worker {}: {e}", p.index))?,
        )),
        None => None,
    };
    let tls = match &p.tls {
        Some(o) => Some(Box::new(
            crate::tls::Tls::load(o, p.words).map_err(|e| format!("worker {}: {e}", p.index))?,
        )),
        None => None,
    };
    let mut d = Daemon::new(
        dir, p.ifaces, p.own, p.routes, p.opts, p.seed, p.tun_key, p.start,
    );
    // its own splicer; the fanout program steers a client's frames, and the real server's
    // frames to that client (addressed to the client's address and port), to this shard
    d.l7 = l7;
    // its own TLS splicer and persistence engine: under --steer addr every connection of a
    // client, a resumption from a new port too, reaches this shard
    d.tls = tls;
    // with --vrrp a shard forwards nothing until the lead says its router is master
    d.vrrp_standby = d.opts.vrrp.is_some();
    // with --sync (master) each shard sends its own connections' messages
    if let Some(s) = d.opts.sync.clone() {
        let mine: Vec<lvs_core::Ipv4Addr> = d
            .opts
            .addrs
            .iter()
            .filter(|(i, _)| *i == s.iface)
            .filter_map(|(_, p)| match p.addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect();
        d.sync = crate::syncd::SyncLink::open_sender(&s, &mine)
            .map_err(|e| format!("worker {}: {e}", p.index))?;
    }
    d.workers = Some(Role::Follower { index: p.index, rx });
    d.mirror(&p.set, p.cfg);
    d.run(None, wake, signals).map_err(|e| e.to_string())
}

impl Daemon<'_> {
    /// Whether this daemon is a worker other than the lead (it stays silent: no announcements).
    pub(crate) fn is_follower(&self) -> bool {
        matches!(self.workers, Some(Role::Follower { .. }))
    }

    /// Makes this shard run `set` and `cfg`.
    fn mirror(&mut self, set: &RuleSet, cfg: DirectorConfig) {
        let now = ms_instant(self.now_ms());
        self.dir.set_config(cfg);
        if let Err(e) = rules::sync(&mut self.dir, set, self.seed, now) {
            self.log(&format!("worker: rules from worker 0 not applied: {e}"));
            self.count("workers.mirror_errors");
        }
        self.refresh_vips();
    }

    /// Once per loop pass: the lead sends changed rules (at once when `force`) and sets the
    /// fanout program again for changed VIPs; another worker applies what the lead sent and
    /// answers its questions.
    pub(crate) fn workers_poll(&mut self, force: bool) {
        let now = self.now_ms();
        match self.workers.take() {
            None => {}
            Some(Role::Lead {
                peers,
                mut sent,
                mut steered,
                steering,
                mut master,
                mut check_at,
                view_timeouts,
            }) => {
                // the VRRP state on every pass: a change reaches the shards at once
                if let Some(m) = master_change(&mut master, !self.vrrp_silent()) {
                    for p in &peers {
                        if p.tx.send(Msg::Master(m)).is_ok() {
                            let _ = (&p.wake).write(&[1]);
                        }
                    }
                }
                if force || now >= check_at {
                    check_at = now + MIRROR_MS;
                    let want = Box::new((RuleSet::snapshot(&self.dir), *self.dir.config()));
                    if sent.as_ref() != Some(&want) {
                        for p in &peers {
                            let m = Msg::Rules(Box::new(want.0.clone()), want.1);
                            if p.tx.send(m).is_ok() {
                                let _ = (&p.wake).write(&[1]);
                            }
                        }
                        sent = Some(want);
                    }
                    let vips: Vec<IpAddr> = self.vips.iter().map(|(v, _)| *v).collect();
                    if steered.as_ref() != Some(&vips) {
                        self.steer(&vips, steering);
                        steered = Some(vips);
                    }
                }
                self.workers = Some(Role::Lead {
                    peers,
                    sent,
                    steered,
                    steering,
                    master,
                    check_at,
                    view_timeouts,
                });
            }
            Some(Role::Follower { index, rx }) => {
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Msg::Rules(set, cfg) => self.mirror(&set, cfg),
                        Msg::Neigh(ifc, ip, mac, create) => {
                            let q = self.neigh.learn(ifc, ip, mac, now, create);
                            self.flush(ifc, mac, q);
                        }
                        Msg::Master(m) => self.vrrp_standby = !m,
                        Msg::Sync(m) => {
                            let id = self.opts.sync.as_ref().map_or(0, |s| s.syncid);
                            let _ = self.dir.apply_sync(ms_instant(now), &m, id);
                        }
                        Msg::View(ask, tx) => {
                            let o = crate::control::ListOpts {
                                nosort: true,
                                ..Default::default()
                            };
                            let _ = tx.send((index, self.own_view(ask, &o)));
                        }
                        Msg::Zero => self.dir.zero_stats(ms_instant(self.now_ms())),
                    }
                }
                self.workers = Some(Role::Follower { index, rx });
            }
        }
    }

    /// Sets the fanout program for `vips` on every interface's group.
    fn steer(&mut self, vips: &[IpAddr], steering: Steering) {
        let own: Vec<IpAddr> = self.own.iter().map(|(_, p)| p.addr).collect();
        let prog = match crate::fanout::program(vips, &own, steering) {
            Ok(p) => p,
            Err(e) => return self.log(&format!("workers: {e}; frames stay on worker 0")),
        };
        for i in 0..self.ifaces.len() {
            if let Err(e) = self.ifaces[i].sock.set_fanout_program(&prog) {
                let name = self.ifaces[i].info.name.clone();
                self.log(&format!("{name}: fanout program refused: {e}"));
                self.count("workers.steer_errors");
            }
        }
    }

    /// How many workers there are (1 without `--workers`).
    pub(crate) fn workers_count(&self) -> usize {
        match &self.workers {
            Some(Role::Lead { peers, .. }) => peers.len() + 1,
            _ => 1,
        }
    }

    /// What the fanout program hashes (`flow` with one worker, where it does not matter).
    pub(crate) fn workers_steering(&self) -> Steering {
        match &self.workers {
            Some(Role::Lead { steering, .. }) => *steering,
            _ => Steering::Flow,
        }
    }

    /// The lead asks every other worker for its shard's view and waits for the answers, at most
    /// [`VIEW_TIMEOUT`] in all; they come back in worker order with the worker's number (none
    /// without other workers).
    pub(crate) fn workers_ask(&self, ask: Ask) -> Vec<(usize, ShardView)> {
        let Some(Role::Lead {
            peers,
            view_timeouts,
            ..
        }) = &self.workers
        else {
            return Vec::new();
        };
        let (tx, rx) = channel();
        let mut asked = 0;
        for p in peers {
            if p.tx.send(Msg::View(ask, tx.clone())).is_ok() {
                let _ = (&p.wake).write(&[1]);
                asked += 1;
            }
        }
        drop(tx);
        let until = std::time::Instant::now() + VIEW_TIMEOUT;
        let mut got = Vec::with_capacity(asked);
        while got.len() < asked {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => got.push(v),
                Err(_) => break,
            }
        }
        if got.len() < asked {
            let missed = (asked - got.len()) as u64;
            view_timeouts.set(view_timeouts.get() + missed);
            self.log(&format!(
                "workers: {missed} shard(s) did not answer within {VIEW_TIMEOUT:?}; left out of this view"
            ));
        }
        got.sort_by_key(|(k, _)| *k);
        got
    }

    /// The lead tells every other worker to zero its shard's counters.
    pub(crate) fn workers_zero(&self) {
        if let Some(Role::Lead { peers, .. }) = &self.workers {
            for p in peers {
                if p.tx.send(Msg::Zero).is_ok() {
                    let _ = (&p.wake).write(&[1]);
                }
            }
        }
    }

    /// The lead passes worker `k`'s part of a received sync message on.
    pub(crate) fn workers_sync(&mut self, k: usize, m: Vec<u8>) {
        if let Some(Role::Lead { peers, .. }) = &self.workers {
            if let Some(p) = peers.get(k.wrapping_sub(1)) {
                if p.tx.send(Msg::Sync(m)).is_ok() {
                    let _ = (&p.wake).write(&[1]);
                }
            }
        }
    }

    /// The lead passes a neighbour it learnt on to the other workers.
    pub(crate) fn workers_neigh(&mut self, ifc: usize, ip: IpAddr, mac: MacAddr, create: bool) {
        if let Some(Role::Lead { peers, .. }) = &self.workers {
            for p in peers {
                if p.tx.send(Msg::Neigh(ifc, ip, mac, create)).is_ok() {
                    let _ = (&p.wake).write(&[1]);
                }
            }
        }
    }

    /// `status` over every shard: with other workers, `own` (this shard's lines) merged with
    /// theirs, asked for now ([`crate::status_merge`]: counters summed, each shard's as
    /// `worker<k>.<name>`, `workers N`); otherwise `own` as it is.
    pub(crate) fn workers_status(&self, own: String) -> String {
        let Some(Role::Lead { peers, .. }) = &self.workers else {
            return own;
        };
        let n = peers.len() + 1;
        let views = self.workers_ask(Ask::Status);
        let Some(Role::Lead { view_timeouts, .. }) = &self.workers else {
            return own;
        };
        let mut process = String::new();
        crate::control::kv(&mut process, "workers", n);
        crate::control::kv(&mut process, "workers.view_timeouts", view_timeouts.get());
        let mut shards = vec![(0, own.as_str())];
        shards.extend(views.iter().map(|(k, v)| (*k, v.status.as_str())));
        crate::status_merge::merge(&shards, &process)
    }

    /// The lead stops the other workers and waits for them.
    pub(crate) fn workers_stop(&mut self) {
        let Some(Role::Lead { peers, .. }) = &mut self.workers else {
            return;
        };
        for p in peers.iter() {
            p.stop.store(true, Ordering::SeqCst);
            let _ = (&p.wake).write(&[1]);
        }
        for (k, p) in peers.iter_mut().enumerate() {
            if let Some(t) = p.thread.take() {
                match t.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("lvsd: worker {}: {e}", k + 1),
                    Err(_) => eprintln!("lvsd: worker {} panicked", k + 1),
                }
            }
        }
    }
}

/// The VRRP master state to send when `now` differs from what was last `sent` (recorded as
/// sent).
fn master_change(sent: &mut Option<bool>, now: bool) -> Option<bool> {
    if *sent == Some(now) {
        return None;
    }
    *sent = Some(now);
    Some(now)
}

/// The lead's role over the started workers, steering by `steering`.
pub fn lead(peers: Vec<Peer>, steering: Steering) -> Role {
    Role::Lead {
        peers,
        sent: None,
        steered: None,
        steering,
        master: None,
        check_at: 0,
        view_timeouts: Cell::new(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn workers_option() {
        let mut a = args("--iface d0 --workers 2 --rules r");
        assert_eq!(take_args(&mut a), Ok(2));
        assert_eq!(a, args("--iface d0 --rules r"));
        let mut a = args("--workers=3");
        assert_eq!(take_args(&mut a), Ok(3));
        let mut a = args("--iface d0");
        assert_eq!(take_args(&mut a), Ok(1));
        assert!(take_args(&mut args("--workers 0")).is_err());
        assert!(take_args(&mut args("--workers 65")).is_err());
        assert!(take_args(&mut args("--workers")).is_err());
    }

    #[test]
    fn tls_needs_addr_steering_with_workers() {
        assert!(check_alone(2, true, Steering::Flow)
            .unwrap_err()
            .contains("--steer addr"));
        assert_eq!(check_alone(2, true, Steering::ADDR), Ok(()));
        assert_eq!(check_alone(1, true, Steering::Flow), Ok(()));
        assert_eq!(check_alone(2, false, Steering::Flow), Ok(()));
    }

    #[test]
    fn master_state_is_sent_once_per_change() {
        let mut sent = None;
        // the first pass always sends (a shard starts as standby with --vrrp)
        assert_eq!(master_change(&mut sent, false), Some(false));
        assert_eq!(master_change(&mut sent, false), None);
        assert_eq!(master_change(&mut sent, true), Some(true));
        assert_eq!(master_change(&mut sent, true), None);
        assert_eq!(master_change(&mut sent, false), Some(false));
        assert_eq!(sent, Some(false));
    }
}
