//! lvsd: a userspace IPVS director on Linux interfaces.
//!
//! It reads the rules `ipvsadm-save -n` prints, opens an `AF_PACKET` socket on each interface
//! it is given, answers ARP and NDP for its virtual addresses and its own addresses, resolves
//! real servers and clients with ARP/NDP of its own, and forwards by NAT, IP tunnel (IPIP/GUE)
//! or direct routing as each real server is configured, with the `lvs-core` director deciding
//! and `lvs-forward` rewriting. Listings are ipvsadm's. See `examples/e2e/README.md`
//! ("Running a director") for a walk-through, and `lvsd --help` for the options.
//!
//! The host the director runs on must not route or answer for the VIPs itself: IP forwarding
//! off, VIPs not assigned to its kernel, and (best) no kernel addresses on lvsd's interfaces.

#[path = "lvsd/agents.rs"]
mod agents;
#[path = "lvsd/agentx.rs"]
/// AgentX (RFC 2741) PDUs, sans I/O: parsing into typed PDUs or errors, encoding in network
/// byte order (the wire half of [`snmp`]).
mod agentx;
#[path = "lvsd/auth.rs"]
mod auth;
#[path = "lvsd/burst.rs"]
mod burst;
#[path = "lvsd/busy_poll.rs"]
mod busy_poll;
#[path = "lvsd/config.rs"]
mod config;
#[path = "lvsd/control.rs"]
mod control;
#[path = "lvsd/counters.rs"]
mod counters;
#[path = "lvsd/ctl.rs"]
mod ctl;
#[path = "lvsd/daemon.rs"]
mod daemon;
#[path = "lvsd/datapath.rs"]
mod datapath;
#[path = "lvsd/events.rs"]
mod events;
#[path = "lvsd/fanout.rs"]
mod fanout;
#[path = "lvsd/frame_io.rs"]
mod frame_io;
#[path = "lvsd/gauges.rs"]
mod gauges;
#[path = "lvsd/health.rs"]
mod health;
#[path = "lvsd/http.rs"]
mod http;
#[path = "lvsd/http_tls.rs"]
mod http_tls;
#[path = "lvsd/l7.rs"]
mod l7;
#[path = "lvsd/ldap.rs"]
mod ldap;
#[path = "lvsd/metrics.rs"]
mod metrics;
#[path = "lvsd/mgmt.rs"]
mod mgmt;
#[path = "lvsd/neigh.rs"]
mod neigh;
#[path = "lvsd/offload.rs"]
mod offload;
#[path = "lvsd/openapi.rs"]
mod openapi;
#[path = "lvsd/probe.rs"]
mod probe;
#[path = "lvsd/registry.rs"]
mod registry;
#[path = "lvsd/registry_api.rs"]
mod registry_api;
#[path = "lvsd/registry_apply.rs"]
mod registry_apply;
#[path = "lvsd/ring.rs"]
mod ring;
#[path = "lvsd/rulefile.rs"]
mod rulefile;
#[path = "lvsd/rules.rs"]
mod rules;
#[path = "lvsd/sched.rs"]
mod sched;
#[path = "lvsd/snmp.rs"]
mod snmp;
#[path = "lvsd/splice_run.rs"]
mod splice_run;
#[path = "lvsd/status_merge.rs"]
mod status_merge;
#[path = "lvsd/steering.rs"]
mod steering;
#[path = "lvsd/sync_split.rs"]
mod sync_split;
#[path = "lvsd/syncd.rs"]
mod syncd;
#[path = "lvsd/sys.rs"]
mod sys;
#[path = "lvsd/tls.rs"]
mod tls;
#[path = "lvsd/tls_probe.rs"]
mod tls_probe;
#[path = "lvsd/users.rs"]
mod users;
#[path = "lvsd/views.rs"]
mod views;
#[path = "lvsd/vrrp.rs"]
mod vrrp;
#[path = "lvsd/workers.rs"]
mod workers;
#[path = "lvsd/xdp_prog.rs"]
mod xdp_prog;
#[path = "lvsd/xsk.rs"]
mod xsk;

use config::{apply_sysctl, iface_info, Options, Routes};
use daemon::{Daemon, Iface, SignalFlags};
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::Instant;
use rules::RuleSet;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;

fn random_words() -> [u64; 4] {
    let mut b = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // no urandom: time and pid are weak, but the hash seed only needs to be unguessable
        // for flooding attacks, which a test bed does not face
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&t.to_le_bytes());
        b[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    [w(0), w(1), w(2), w(3)]
}

fn load_rules(opts: &Options, director: Option<&str>) -> Result<RuleSet, String> {
    let reg = opts.registry.as_deref().zip(director);
    registry_apply::desired(&opts.rules, reg).map_err(|e| format!("{e}\nnothing started"))
}

fn run(args: &[String]) -> Result<(), String> {
    let (vrrp_opts, args) = vrrp::split_args(args)?;
    let (agent_opts, args) = agents::split_args(args)?;
    let mut args = args.to_vec();
    let n_workers = workers::take_args(&mut args)?;
    let steer_arg = steering::take_args(&mut args)?;
    let l7_opts = l7::take_args(&mut args)?;
    let tls_opts = tls::take_args(&mut args)?;
    let registry_director = registry_apply::take_args(&mut args)?;
    let http_tls = http_tls::take_args(&mut args)?
        .map(|o| http_tls::load(&o))
        .transpose()?;
    let mut opts = Options::parse(&args)?;
    opts.vrrp = vrrp_opts;
    if http_tls.is_some() && opts.http.is_none() {
        return Err("--http-cert and --http-key need --http ADDR".into());
    }
    if registry_director.is_some() && opts.registry.is_none() {
        return Err("--registry-director needs --registry FILE".into());
    }
    let set = load_rules(&opts, registry_director.as_deref())?;
    let health_cfg = match &opts.health {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let cfg = health::HealthConfig::parse(&text, &set).map_err(|errs| {
                let mut s = format!(
                    "{}: {} rejected line(s), nothing started:",
                    p.display(),
                    errs.len()
                );
                for e in errs {
                    s.push_str(&format!("\n  {}: {e}", p.display()));
                }
                s
            })?;
            Some(cfg)
        }
        None => None,
    };
    let words = random_words();
    let l7 = match &l7_opts {
        Some(o) => Some(Box::new(l7::L7::load(o, words)?)),
        None => None,
    };
    let tls = match &tls_opts {
        Some(o) => Some(Box::new(tls::Tls::load(o, words)?)),
        None => None,
    };
    let steering = steering::resolve(steer_arg, &set, tls.is_some());
    workers::check_alone(n_workers, tls.is_some(), steering)?;
    if opts.xdp && n_workers > 1 {
        return Err(
            "--xdp takes one worker: one AF_XDP socket per interface, on receive queue 0 \
                    (more workers would need a UMEM shared per queue)\nnothing started"
                .into(),
        );
    }
    steering::check_set(n_workers, steering, &set).map_err(|e| format!("{e}\nnothing started"))?;
    let mut cfg = DirectorConfig::new(SipKey(words[0], words[1]));
    for (n, v) in &opts.sysctls {
        apply_sysctl(&mut cfg, n, *v);
    }
    if let Some(s) = &opts.sync {
        cfg.sync = syncd::role(s.mode);
        // --check may run where the interface is not: size for a 1500-byte MTU then
        let mtu = syncd::iface_index_mtu(&s.iface).map_or(1500, |(_, m)| m);
        cfg.sync_max_len = s.max_len(mtu);
    }
    let mut mem = OwnedMemory::new(opts.conns, opts.services, opts.dests);
    let start = std::time::Instant::now();
    let mut dir =
        Director::new(cfg, mem.borrow(), Instant::ZERO).map_err(|e| format!("director: {e}"))?;
    rules::sync(&mut dir, &set, words[2], Instant::ZERO).map_err(|e| e.to_string())?;
    if opts.check {
        print!("{}", control::save(&dir));
        if let Some(l) = &l7 {
            eprintln!("lvsd: {}", l.describe());
        }
        if let Some(t) = &tls {
            eprintln!("lvsd: {}", t.describe());
        }
        return Ok(());
    }
    let mut ifaces = Vec::new();
    for name in &opts.ifaces {
        let info = iface_info(name)?;
        let sock = sys::PacketSocket::open(info.index, opts.promisc)
            .map_err(|e| format!("{name}: AF_PACKET socket: {e} (lvsd needs CAP_NET_RAW)"))?;
        let io = if opts.xdp {
            let mut x = xsk::Xsk::open(info.index).map_err(|e| {
                format!("{name}: --xdp: {e}\n(AF_XDP needs CAP_NET_ADMIN and CAP_BPF or root, and a driver with native XDP)")
            })?;
            if let Some(bp) = opts.xdp_busy_poll {
                let id = x
                    .set_busy_poll(bp.usec, bp.budget)
                    .map_err(|e| format!("{name}: --xdp-busy-poll: {e}"))?;
                if id == 0 {
                    eprintln!(
                        "lvsd: {name}: --xdp-busy-poll: the driver ties no NAPI instance to \
                         receive queue 0 (SO_INCOMING_NAPI_ID 0): no NAPI to busy poll, lvsd only looks \
                         at the ring for the time given"
                    );
                } else {
                    eprintln!(
                        "lvsd: {name}: busy polling NAPI {id} (up to {} frames a poll, {} us \
                         before sleeping)",
                        bp.budget, bp.usec
                    );
                }
            }
            Some(frame_io::FrameIo::Xdp(Box::new(x)))
        } else if opts.no_rings {
            None
        } else {
            match ring::Rings::setup(&sock, info.index) {
                Ok(r) => Some(frame_io::FrameIo::Packet(r)),
                Err(e) => {
                    eprintln!("lvsd: {name}: no packet rings ({e}): one system call per frame");
                    None
                }
            }
        };
        ifaces.push(Iface { info, sock, io });
    }
    // --xdp-busy-poll: the interfaces' NAPI deferral while lvsd runs (put back on exit)
    let _napi_defer = match opts.xdp_busy_poll {
        Some(bp) => Some(
            busy_poll::NapiDefer::set(&opts.ifaces, bp.usec)
                .map_err(|e| format!("--xdp-busy-poll: {e}"))?,
        ),
        None => None,
    };
    let own: Vec<_> = opts
        .addrs
        .iter()
        .map(|(i, p)| (opts.ifaces.iter().position(|x| x == i).unwrap_or(0), *p))
        .collect();
    let routes = Routes::new(&own, &opts.routes)?;
    // more workers: the lead's sockets join each interface's fanout group first (member 0),
    // then each other worker's, in order
    let mut parts = Vec::new();
    if n_workers > 1 {
        for i in &ifaces {
            workers::join(&i.sock, &i.info)?;
        }
        let infos: Vec<_> = ifaces.iter().map(|i| i.info.clone()).collect();
        for index in 1..n_workers {
            parts.push(workers::Parts {
                index,
                ifaces: workers::open_ifaces(&infos, &opts)?,
                own: own.clone(),
                routes: routes.clone(),
                opts: opts.clone(),
                cfg,
                set: set.clone(),
                seed: words[2],
                tun_key: SipKey(words[3], words[0] ^ words[3]),
                start,
                l7: l7_opts.clone(),
                tls: tls_opts.clone(),
                words,
            });
        }
    }
    let sync = match &opts.sync {
        Some(s) => {
            let mine: Vec<lvs_core::Ipv4Addr> = opts
                .addrs
                .iter()
                .filter(|(i, _)| *i == s.iface)
                .filter_map(|(_, p)| match p.addr {
                    lvs_core::IpAddr::V4(a) => Some(a),
                    lvs_core::IpAddr::V6(_) => None,
                })
                .collect();
            Some(syncd::SyncLink::open(s, &mine)?)
        }
        None => None,
    };
    let signals = SignalFlags::default();
    let (wake_r, wake_w) = UnixStream::pair().map_err(|e| e.to_string())?;
    wake_r.set_nonblocking(true).map_err(|e| e.to_string())?;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    for (sig, flag) in [
        (SIGUSR1, &signals.usr1),
        (SIGHUP, &signals.hup),
        (SIGTERM, &signals.term),
        (SIGINT, &signals.term),
    ] {
        signal_hook::flag::register(sig, flag.clone()).map_err(|e| e.to_string())?;
        let w = wake_w.try_clone().map_err(|e| e.to_string())?;
        signal_hook::low_level::pipe::register(sig, w).map_err(|e| e.to_string())?;
    }
    let mut d = Daemon::new(
        dir,
        ifaces,
        own,
        routes,
        opts,
        words[2],
        SipKey(words[3], words[0] ^ words[3]),
        start,
    );
    d.registry_director = registry_director.clone();
    if let Some(l) = l7 {
        eprintln!("lvsd: {}", l.describe());
        d.l7 = Some(l);
        d.refresh_vips();
    }
    if let Some(t) = tls {
        eprintln!("lvsd: {}", t.describe());
        d.tls = Some(t);
        d.refresh_vips();
    }
    let mut link = None;
    if d.opts.http.is_some() || health_cfg.is_some() || d.opts.agentx.is_some() {
        let (client, rx) = mgmt::link(&wake_w).map_err(|e| e.to_string())?;
        d.mgmt = Some(rx);
        link = Some(client);
    }
    if let (Some(cfg), Some(client)) = (health_cfg, &link) {
        let n = cfg.checks.len();
        let client = client.try_clone().map_err(|e| e.to_string())?;
        health::spawn(cfg, client, start)?;
        eprintln!("lvsd: health checks of {n} real server(s)");
    }
    if let (Some(target), Some(client)) = (&d.opts.agentx, &link) {
        let client = client.try_clone().map_err(|e| e.to_string())?;
        snmp::spawn(target.clone(), client)?;
        eprintln!("lvsd: AgentX sub-agent of {target}");
    }
    if let (Some(addr), Some(client)) = (d.opts.http, link) {
        let tokens = match &d.opts.http_tokens {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                auth::Tokens::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => auth::Tokens::default(),
        };
        let reg = match &d.opts.registry {
            Some(p) => {
                Some(registry::Registry::open(p).map_err(|e| format!("{}: {e:?}", p.display()))?)
            }
            None => None,
        };
        let ldap = match (&d.opts.ldap, &d.opts.ldap_user_dn, &d.opts.ldap_ca) {
            (Some(url), Some(dn), Some(ca)) => Some(ldap::Ldap::new(url, dn, ca)?),
            (None, None, None) => None,
            _ => return Err("--ldap needs --ldap-user-dn and --ldap-ca".into()),
        };
        if let Some(l) = &ldap {
            eprintln!("lvsd: {}", l.describe());
        }
        let scheme = if http_tls.is_some() { "https" } else { "http" };
        let apply = registry_director.is_some();
        http::spawn(addr, http_tls.clone(), client, tokens, reg, ldap, apply)?;
        eprintln!("lvsd: status page, API and /metrics on {scheme}://{addr}/");
    }
    if let Some(l) = sync {
        eprintln!(
            "lvsd: sync {} on {} from {}, group {}:{} ttl {}, syncid {}, maxlen {}",
            match l.opts.mode {
                config::SyncMode::Master => "master",
                config::SyncMode::Backup => "backup",
                config::SyncMode::Both => "master and backup",
            },
            l.opts.iface,
            l.local,
            l.opts.group,
            l.opts.port,
            l.opts.ttl,
            l.opts.syncid,
            l.max_len
        );
        d.sync = Some(l);
    }
    if let Some(o) = agent_opts {
        eprintln!(
            "lvsd: load agents on udp port {}, period {} ms",
            o.port, o.period_ms
        );
        d.agents = Some(agents::Agents::new(o));
    }
    if let Some(o) = d.opts.vrrp.clone() {
        let v = vrrp::Vrrp::new(&o, &d)?;
        eprintln!("lvsd: {}", v.describe(&o.iface));
        d.vrrp = Some(v);
    }
    eprintln!(
        "lvsd: {} service(s) on {}; pid {}",
        d.dir.services().count(),
        d.ifaces
            .iter()
            .map(|i| format!(
                "{} ({}, mtu {})",
                i.info.name,
                config::mac_str(&i.info.mac),
                i.info.mtu
            ))
            .collect::<Vec<_>>()
            .join(", "),
        std::process::id()
    );
    // after the management threads (health checks, the status page, SNMP), before the workers,
    // which inherit it
    if let Some(prio) = d.opts.sched_fifo {
        sys::sched_fifo(prio).map_err(|e| format!("--sched-fifo {prio}: {e}"))?;
        eprintln!("lvsd: frame path under SCHED_FIFO priority {prio}");
    }
    if !parts.is_empty() {
        let peers = parts
            .into_iter()
            .map(workers::spawn)
            .collect::<Result<Vec<_>, _>>()?;
        d.workers = Some(workers::lead(peers, steering));
        d.workers_poll(true);
        eprintln!(
            "lvsd: {n_workers} workers, steered by PACKET_FANOUT_CBPF ({})",
            steering.describe()
        );
    }
    // the control socket last: scripts take its appearance to mean lvsd is up and has said so
    let control = match &d.opts.control {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            let l = UnixListener::bind(p).map_err(|e| format!("{}: {e}", p.display()))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Some(l)
        }
        None => None,
    };
    let r = d.run(control.as_ref(), &wake_r, &signals);
    // every shard's counters, so before the other workers stop
    let l = d.stats_listing();
    d.workers_stop();
    if d.l7.is_some() || d.tls.is_some() {
        let mut s = String::new();
        d.l7_status(&mut s);
        d.tls_status(&mut s);
        eprint!("{s}");
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(l.as_bytes());
    let _ = out.flush();
    if let Some(p) = &d.opts.control {
        let _ = std::fs::remove_file(p);
    }
    r.map_err(|e| format!("poll: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help")
        && args.first().map(String::as_str) != Some("ctl")
    {
        println!("{}", config::USAGE);
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("ldap-check") {
        return match ldap::cli(&args[1..]) {
            Ok(true) => {
                println!("accepted");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("refused");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("lvsd ldap-check: {e}");
                ExitCode::from(2)
            }
        };
    }
    if args.first().map(String::as_str) == Some("user") {
        return match users::cli(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lvsd user: {e}");
                ExitCode::from(2)
            }
        };
    }
    if args.first().map(String::as_str) == Some("ctl") {
        if args.len() < 3 {
            eprintln!("usage: lvsd ctl SOCKET COMMAND...");
            return ExitCode::from(2);
        }
        let code = ctl::ctl(&args[1], &args[2..].join(" "));
        return ExitCode::from(code);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lvsd: {e}");
            ExitCode::FAILURE
        }
    }
}
