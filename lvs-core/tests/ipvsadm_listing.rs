//! Golden listings: the text ipvsadm 1.31 prints for one configuration, character for
//! character, in every listing mode, for `-c` and for `-S -n`.
//!
//! The configuration: a TCP VIP with three real servers (Masq on another port, Route, Tunnel with
//! GUE), a one-packet UDP VIP, an IPv6 VIP with persistence, and an sh-scheduled firewall-mark
//! service with flags, persistence and a /24 netmask. Services and real servers are given in
//! ipvsadm's sorted order (address services by family, protocol, address, port; then marks).
//!
//! How the expected text follows from ipvsadm.c (1.31):
//! - `list_all` prints `"IP Virtual Server version %d.%d.%d (size=%d)\n"`.
//! - `print_title` prints fixed titles for plain and `--tun-info`, and
//!   `"%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n"` for `--stats`/`--rate` (so each
//!   title is right-aligned in 9 columns after the 33-column "Prot LocalAddress:Port"),
//!   `"%-33s %-10s %-10s %-10s %-10s\n"` for `--thresholds`, `"%-33s %-9s %-11s %-10s %-10s\n"`
//!   for `--persistent-conn` (both with a trailing blank after `InActConn`).
//! - `print_service_entry` names services `"%-4s %s"` (`TCP ` + blank + address, hence two
//!   blanks) or `"FWM  %u"`. Plain lines are `"%s %s"` (name, scheduler), then
//!   `" (flags)"`, `" persistent %u"`, `" mask %s"` (IPv4 only when not /32, IPv6 only when not
//!   /128), `" ops"`. `--stats`/`--rate` lines are `"%-33s"` and five `print_largenum`s.
//! - Real servers start `"  -> %-28s"`; plain continues `" %-7s %-6d %-10u %-10u\n"` (forward,
//!   weight, active, inactive: left-aligned, so lines end in blanks); `--stats` five
//!   `print_largenum`s; `--rate` `" %8llu %8llu %8llu"` (cps, inpps, outpps unscaled!) and two
//!   `print_largenum`s.
//! - `print_largenum`: `"%9llu"` below 10^8, else `"%8lluK"` (/10^3) below 10^9, `"%8lluM"`
//!   (/10^6) below 10^11, `"%8lluG"` (/10^9) below 10^14, `"%8lluT"` (/10^12); with `--exact`
//!   the full number in `max(9, digits + 1)` columns.
//! - `list_conn`/`print_conn`: `"pro expire %-11s %-18s %-18s %s\n"` and
//!   `"%-3s %-6s %-11s %-18s %-18s %s\n"` with the expiry as `"%02d:%02d"` (minutes may exceed
//!   two digits); an address wider than its column pushes the rest right.
//!
//! Each constant below is a line-by-line literal; `\n` ends a line, and any blanks before it are
//! part of ipvsadm's output.

use lvs_core::ipvsadm::{
    fwmark_template_vaddr, write_conns, write_list, write_save, ConnRow, DestRow, ListHeader,
    ListMode, SchedFlags, ServiceRow,
};
use lvs_core::stats::{Counters, Rates};
use lvs_core::{
    AddrFamily, Duration, Endpoint, FwdMethod, Persistence, Protocol, ServiceConfig, ServiceKey,
    TunnelKind,
};

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn counters(c: [u64; 5]) -> Counters {
    Counters {
        conns: c[0],
        inpkts: c[1],
        outpkts: c[2],
        inbytes: c[3],
        outbytes: c[4],
    }
}

fn rates(r: [u64; 5]) -> Rates {
    Rates {
        cps: r[0],
        inpps: r[1],
        outpps: r[2],
        inbps: r[3],
        outbps: r[4],
    }
}

/// A real server: address, method, weight, active, inactive, counters, rates.
fn dest(
    addr: &str,
    fwd: FwdMethod,
    weight: u32,
    conns: (u32, u32),
    c: [u64; 5],
    r: [u64; 5],
) -> DestRow {
    let mut d = DestRow::new(ep(addr), fwd, weight);
    d.active = conns.0;
    d.inactive = conns.1;
    d.counters = counters(c);
    d.rates = rates(r);
    d
}

struct Svc {
    config: ServiceConfig,
    scheduler: &'static str,
    flags: SchedFlags,
    counters: Counters,
    rates: Rates,
    dests: Vec<DestRow>,
}

/// The configuration. With `thresholds`, two real servers get `-x`/`-y` settings (which
/// `ipvsadm-save` does not print, so the save golden uses the fixture without them).
fn fixture(thresholds: bool) -> Vec<Svc> {
    use FwdMethod::*;
    let tcp = ServiceKey::addr(Protocol::Tcp, ep("198.18.0.1:80"));
    let mut masq = dest(
        "198.18.1.1:8080",
        Masq,
        3,
        (12, 40),
        [
            600,
            50_000_000,
            60_000_000,
            6_000_000_000,
            120_000_000_000_000,
        ],
        [6, 123_456_789, 1500, 80_000_000, 100_000_000],
    );
    let mut route = dest(
        "198.18.1.2:80",
        DirectRoute,
        2,
        (7, 3),
        [400, 30_000_000, 0, 4_000_000_000, 0],
        [4, 1200, 0, 500_000, 0],
    );
    let mut tunnel = dest(
        "198.18.1.3:80",
        Tunnel,
        1,
        (0, 1),
        [234, 18_765_432, 0, 2_345_678_901, 0],
        [2, 800, 0, 300_000, 0],
    );
    tunnel.tunnel = TunnelKind::Gue {
        port: 6080,
        csum: false,
    };
    if thresholds {
        masq.u_threshold = 100;
        route.u_threshold = 50;
        route.l_threshold = 20;
    }
    let udp = ServiceKey::addr(Protocol::Udp, ep("198.18.0.2:53"));
    let v6 = ServiceKey::addr(Protocol::Tcp, ep("[2001:db8::1]:443"));
    let mut v6a = dest(
        "[2001:db8::10]:443",
        DirectRoute,
        1,
        (1, 0),
        [6, 120, 0, 18_000, 0],
        [0; 5],
    );
    let mut v6b = dest(
        "[2001:db8::11]:443",
        DirectRoute,
        1,
        (0, 2),
        [4, 80, 0, 12_000, 0],
        [0; 5],
    );
    v6a.persistent = 1;
    v6b.persistent = 1;
    let fwm = ServiceKey::Fwmark {
        af: AddrFamily::Ipv4,
        mark: 7,
    };
    let mut f1 = dest(
        "198.18.2.1:0",
        DirectRoute,
        1,
        (3, 0),
        [50, 600, 0, 60_000, 0],
        [1, 6, 0, 600, 0],
    );
    let mut f2 = dest(
        "198.18.2.2:0",
        DirectRoute,
        1,
        (2, 1),
        [27, 400, 0, 40_000, 0],
        [0, 4, 0, 400, 0],
    );
    f1.persistent = 2;
    f2.persistent = 1;
    let persist = |secs, prefix| Persistence::new(Duration::from_secs(secs)).with_prefix(prefix);
    vec![
        Svc {
            config: ServiceConfig::new(tcp),
            scheduler: "wlc",
            flags: SchedFlags::NONE,
            counters: counters([
                1234,
                98_765_432,
                123_456_789,
                12_345_678_901,
                234_567_890_123_456,
            ]),
            rates: rates([12, 3456, 3001, 123_456_789, 98_765]),
            dests: vec![masq, route, tunnel],
        },
        Svc {
            config: ServiceConfig::new(udp).with_one_packet(true),
            scheduler: "rr",
            flags: SchedFlags::NONE,
            counters: counters([5000, 5000, 5000, 400_000, 900_000]),
            rates: rates([3, 3, 3, 240, 540]),
            dests: vec![dest(
                "198.18.1.10:53",
                Masq,
                1,
                (0, 25),
                [5000, 5000, 5000, 400_000, 900_000],
                [3, 3, 3, 240, 540],
            )],
        },
        Svc {
            // the constructor's 128-bit prefix is the IPv6 default: no "mask" shown
            config: ServiceConfig::new(v6)
                .with_persistence(Persistence::new(Duration::from_secs(300))),
            scheduler: "wlc",
            flags: SchedFlags::NONE,
            counters: counters([10, 200, 0, 30_000, 0]),
            rates: rates([0; 5]),
            dests: vec![v6a, v6b],
        },
        Svc {
            config: ServiceConfig::new(fwm).with_persistence(persist(600, 24)),
            scheduler: "sh",
            flags: SchedFlags::SH_FALLBACK | SchedFlags::SH_PORT,
            counters: counters([77, 1000, 0, 100_000, 0]),
            rates: rates([1, 10, 0, 1000, 0]),
            dests: vec![f1, f2],
        },
    ]
}

/// Rows as a director would hand them over: borrowed, the real servers an iterator.
fn rows(
    svcs: &[Svc],
) -> impl Iterator<Item = ServiceRow<'_, core::iter::Copied<core::slice::Iter<'_, DestRow>>>> {
    svcs.iter().map(|s| {
        let mut row = ServiceRow::new(&s.config, s.scheduler, s.dests.iter().copied());
        row.flags = s.flags;
        row.counters = s.counters;
        row.rates = s.rates;
        row
    })
}

fn list(mode: ListMode, thresholds: bool) -> String {
    let svcs = fixture(thresholds);
    let mut out = String::new();
    write_list(&mut out, &ListHeader::new(4096), rows(&svcs), mode).unwrap();
    out
}

/// Compares line by line first, for a readable failure, then as a whole.
fn assert_text(got: &str, want: &str) {
    for (i, (g, w)) in got.split('\n').zip(want.split('\n')).enumerate() {
        assert_eq!(g, w, "line {} differs", i + 1);
    }
    assert_eq!(got, want);
}

/// `ipvsadm -L -n`. Real-server columns: 28 + 1 + 7 + 1 + 6 + 1 + 10 + 1 + 10.
const PLAIN: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    "TCP  198.18.0.1:80 wlc\n",
    "  -> 198.18.1.1:8080              Masq    3      12         40        \n",
    "  -> 198.18.1.2:80                Route   2      7          3         \n",
    "  -> 198.18.1.3:80                Tunnel  1      0          1         \n",
    "UDP  198.18.0.2:53 rr ops\n",
    "  -> 198.18.1.10:53               Masq    1      0          25        \n",
    "TCP  [2001:db8::1]:443 wlc persistent 300\n",
    "  -> [2001:db8::10]:443           Route   1      1          0         \n",
    "  -> [2001:db8::11]:443           Route   1      0          2         \n",
    "FWM  7 sh (sh-fallback,sh-port) persistent 600 mask 255.255.255.0\n",
    "  -> 198.18.2.1:0                 Route   1      3          0         \n",
    "  -> 198.18.2.2:0                 Route   1      2          1         \n",
);

/// `ipvsadm -L -n --stats`: 12345678901 bytes is `   12345M`, 234567890123456 is `     234T`,
/// 123456789 packets is `  123456K`; 98765432 (below 10^8) is printed whole.
const STATS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.1:80                    1234 98765432  123456K   12345M     234T\n",
    "  -> 198.18.1.1:8080                   600 50000000 60000000    6000M     120T\n",
    "  -> 198.18.1.2:80                     400 30000000        0    4000M        0\n",
    "  -> 198.18.1.3:80                     234 18765432        0    2345M        0\n",
    "UDP  198.18.0.2:53                    5000     5000     5000   400000   900000\n",
    "  -> 198.18.1.10:53                   5000     5000     5000   400000   900000\n",
    "TCP  [2001:db8::1]:443                  10      200        0    30000        0\n",
    "  -> [2001:db8::10]:443                  6      120        0    18000        0\n",
    "  -> [2001:db8::11]:443                  4       80        0    12000        0\n",
    "FWM  7                                  77     1000        0   100000        0\n",
    "  -> 198.18.2.1:0                       50      600        0    60000        0\n",
    "  -> 198.18.2.2:0                       27      400        0    40000        0\n",
);

/// `ipvsadm -L -n --stats --exact`: numbers of more than 8 digits take digits + 1 columns and
/// shift the rest of the line right.
const STATS_EXACT: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.1:80                    1234 98765432 123456789 12345678901 234567890123456\n",
    "  -> 198.18.1.1:8080                   600 50000000 60000000 6000000000 120000000000000\n",
    "  -> 198.18.1.2:80                     400 30000000        0 4000000000        0\n",
    "  -> 198.18.1.3:80                     234 18765432        0 2345678901        0\n",
    "UDP  198.18.0.2:53                    5000     5000     5000   400000   900000\n",
    "  -> 198.18.1.10:53                   5000     5000     5000   400000   900000\n",
    "TCP  [2001:db8::1]:443                  10      200        0    30000        0\n",
    "  -> [2001:db8::10]:443                  6      120        0    18000        0\n",
    "  -> [2001:db8::11]:443                  4       80        0    12000        0\n",
    "FWM  7                                  77     1000        0   100000        0\n",
    "  -> 198.18.2.1:0                       50      600        0    60000        0\n",
    "  -> 198.18.2.2:0                       27      400        0    40000        0\n",
);

/// `ipvsadm -L -n --rate`: a service's five rates go through `print_largenum`, but a real
/// server's CPS, InPPS and OutPPS are `%8llu` (123456789 pps is printed whole, 9 wide) and only
/// its byte rates are scaled (100000000 B/s is `  100000K`).
const RATE: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.1:80                      12     3456     3001  123456K    98765\n",
    "  -> 198.18.1.1:8080                     6 123456789     1500 80000000  100000K\n",
    "  -> 198.18.1.2:80                       4     1200        0   500000        0\n",
    "  -> 198.18.1.3:80                       2      800        0   300000        0\n",
    "UDP  198.18.0.2:53                       3        3        3      240      540\n",
    "  -> 198.18.1.10:53                      3        3        3      240      540\n",
    "TCP  [2001:db8::1]:443                   0        0        0        0        0\n",
    "  -> [2001:db8::10]:443                  0        0        0        0        0\n",
    "  -> [2001:db8::11]:443                  0        0        0        0        0\n",
    "FWM  7                                   1       10        0     1000        0\n",
    "  -> 198.18.2.1:0                        1        6        0      600        0\n",
    "  -> 198.18.2.2:0                        0        4        0      400        0\n",
);

/// `ipvsadm -L -n --thresholds`: the configured thresholds (a lower threshold of 0 is shown as
/// 0, not as the derived 3/4 of the upper).
const THRESHOLDS: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.1:80 wlc\n",
    "  -> 198.18.1.1:8080              100        0          12         40        \n",
    "  -> 198.18.1.2:80                50         20         7          3         \n",
    "  -> 198.18.1.3:80                0          0          0          1         \n",
    "UDP  198.18.0.2:53 rr ops\n",
    "  -> 198.18.1.10:53               0          0          0          25        \n",
    "TCP  [2001:db8::1]:443 wlc persistent 300\n",
    "  -> [2001:db8::10]:443           0          0          1          0         \n",
    "  -> [2001:db8::11]:443           0          0          0          2         \n",
    "FWM  7 sh (sh-fallback,sh-port) persistent 600 mask 255.255.255.0\n",
    "  -> 198.18.2.1:0                 0          0          3          0         \n",
    "  -> 198.18.2.2:0                 0          0          2          1         \n",
);

/// `ipvsadm -L -n --persistent-conn`: weight, persistence templates, active, inactive.
const PERSISTENT_CONN: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n",
    "  -> RemoteAddress:Port\n",
    "TCP  198.18.0.1:80 wlc\n",
    "  -> 198.18.1.1:8080              3         0           12         40        \n",
    "  -> 198.18.1.2:80                2         0           7          3         \n",
    "  -> 198.18.1.3:80                1         0           0          1         \n",
    "UDP  198.18.0.2:53 rr ops\n",
    "  -> 198.18.1.10:53               1         0           0          25        \n",
    "TCP  [2001:db8::1]:443 wlc persistent 300\n",
    "  -> [2001:db8::10]:443           1         1           1          0         \n",
    "  -> [2001:db8::11]:443           1         1           0          2         \n",
    "FWM  7 sh (sh-fallback,sh-port) persistent 600 mask 255.255.255.0\n",
    "  -> 198.18.2.1:0                 1         2           3          0         \n",
    "  -> 198.18.2.2:0                 1         1           2          1         \n",
);

/// `ipvsadm -L -n --tun-info`: `fwd_tun_info` gives `gue:PORT:-c` (no checksum) or `n/a`.
const TUN_INFO: &str = concat!(
    "IP Virtual Server version 1.2.1 (size=4096)\n",
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n",
    "TCP  198.18.0.1:80 wlc\n",
    "  -> 198.18.1.1:8080              Masq    n/a           3      12         40        \n",
    "  -> 198.18.1.2:80                Route   n/a           2      7          3         \n",
    "  -> 198.18.1.3:80                Tunnel  gue:6080:-c   1      0          1         \n",
    "UDP  198.18.0.2:53 rr ops\n",
    "  -> 198.18.1.10:53               Masq    n/a           1      0          25        \n",
    "TCP  [2001:db8::1]:443 wlc persistent 300\n",
    "  -> [2001:db8::10]:443           Route   n/a           1      1          0         \n",
    "  -> [2001:db8::11]:443           Route   n/a           1      0          2         \n",
    "FWM  7 sh (sh-fallback,sh-port) persistent 600 mask 255.255.255.0\n",
    "  -> 198.18.2.1:0                 Route   n/a           1      3          0         \n",
    "  -> 198.18.2.2:0                 Route   n/a           1      2          1         \n",
);

/// `ipvsadm -L -n -c`: an IPv6 source wider than 18 columns pushes the line right; the
/// firewall-mark template shows protocol `IP` and the mark as its virtual address; 7200 s is
/// `120:00`, filling the six-column expiry.
const CONNS: &str = concat!(
    "IPVS connection entries\n",
    "pro expire state       source             virtual            destination\n",
    "TCP 14:59  ESTABLISHED 198.19.0.7:40000   198.18.0.1:80      198.18.1.1:8080\n",
    "TCP 01:57  FIN_WAIT    198.19.0.8:40001   198.18.0.1:80      198.18.1.2:80\n",
    "UDP 04:59  UDP         198.19.0.9:5353    198.18.0.2:53      198.18.1.10:53\n",
    "TCP 00:59  SYN_RECV    [2001:db8:1::5]:51000 [2001:db8::1]:443  [2001:db8::10]:443\n",
    "TCP 05:00  NONE        [2001:db8:1::5]:0  [2001:db8::1]:443  [2001:db8::10]:443\n",
    "IP  09:59  NONE        198.19.0.0:0       0.0.0.7:0          198.18.2.1:0\n",
    "TCP 15:00  ESTABLISHED 198.19.0.77:33000  198.18.0.7:443     198.18.2.1:443\n",
    "TCP 120:00 CLOSE_WAIT  198.19.0.78:33001  198.18.0.7:443     198.18.2.2:443\n",
);

/// `ipvsadm -S -n`: `-A` lines with `-s`, `-p`, `-M`, `-o`, `-b`; `-a` lines with the
/// forwarding switch and `-w`, tunnelled servers with `print_tunnel_rule`'s `--tun-*` options.
const SAVE: &str = concat!(
    "-A -t 198.18.0.1:80 -s wlc\n",
    "-a -t 198.18.0.1:80 -r 198.18.1.1:8080 -m -w 3\n",
    "-a -t 198.18.0.1:80 -r 198.18.1.2:80 -g -w 2\n",
    "-a -t 198.18.0.1:80 -r 198.18.1.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum\n",
    "-A -u 198.18.0.2:53 -s rr -o\n",
    "-a -u 198.18.0.2:53 -r 198.18.1.10:53 -m -w 1\n",
    "-A -t [2001:db8::1]:443 -s wlc -p 300\n",
    "-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 1\n",
    "-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -g -w 1\n",
    "-A -f 7 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port\n",
    "-a -f 7 -r 198.18.2.1:0 -g -w 1\n",
    "-a -f 7 -r 198.18.2.2:0 -g -w 1\n",
);

#[test]
fn plain_listing() {
    assert_text(&list(ListMode::Plain, false), PLAIN);
    // thresholds do not show in the plain listing
    assert_text(&list(ListMode::Plain, true), PLAIN);
}

#[test]
fn stats_listing() {
    assert_text(&list(ListMode::Stats { exact: false }, false), STATS);
}

#[test]
fn stats_exact_listing() {
    assert_text(&list(ListMode::Stats { exact: true }, false), STATS_EXACT);
}

#[test]
fn rate_listing() {
    assert_text(&list(ListMode::Rate { exact: false }, false), RATE);
}

#[test]
fn thresholds_listing() {
    assert_text(&list(ListMode::Thresholds, true), THRESHOLDS);
}

#[test]
fn persistent_conn_listing() {
    assert_text(&list(ListMode::PersistentConn, false), PERSISTENT_CONN);
}

#[test]
fn tun_info_listing() {
    assert_text(&list(ListMode::TunInfo, false), TUN_INFO);
}

#[test]
fn connection_listing() {
    let c = |proto, secs, state, client: &str, virt: Endpoint, dest: &str| ConnRow {
        proto,
        expire: Duration::from_secs(secs),
        state,
        client: ep(client),
        virt,
        dest: ep(dest),
    };
    let template_vip = Endpoint::new(fwmark_template_vaddr(AddrFamily::Ipv4, 7), 0);
    let rows = [
        c(
            Protocol::Tcp,
            899,
            "ESTABLISHED",
            "198.19.0.7:40000",
            ep("198.18.0.1:80"),
            "198.18.1.1:8080",
        ),
        c(
            Protocol::Tcp,
            117,
            "FIN_WAIT",
            "198.19.0.8:40001",
            ep("198.18.0.1:80"),
            "198.18.1.2:80",
        ),
        c(
            Protocol::Udp,
            299,
            "UDP",
            "198.19.0.9:5353",
            ep("198.18.0.2:53"),
            "198.18.1.10:53",
        ),
        c(
            Protocol::Tcp,
            59,
            "SYN_RECV",
            "[2001:db8:1::5]:51000",
            ep("[2001:db8::1]:443"),
            "[2001:db8::10]:443",
        ),
        c(
            Protocol::Tcp,
            300,
            "NONE",
            "[2001:db8:1::5]:0",
            ep("[2001:db8::1]:443"),
            "[2001:db8::10]:443",
        ),
        c(
            Protocol::Unknown(0),
            599,
            "NONE",
            "198.19.0.0:0",
            template_vip,
            "198.18.2.1:0",
        ),
        c(
            Protocol::Tcp,
            900,
            "ESTABLISHED",
            "198.19.0.77:33000",
            ep("198.18.0.7:443"),
            "198.18.2.1:443",
        ),
        // partial seconds are dropped, as the kernel's jiffies / HZ
        ConnRow {
            expire: Duration::from_millis(7_200_999),
            ..c(
                Protocol::Tcp,
                0,
                "CLOSE_WAIT",
                "198.19.0.78:33001",
                ep("198.18.0.7:443"),
                "198.18.2.2:443",
            )
        },
    ];
    let mut out = String::new();
    write_conns(&mut out, rows).unwrap();
    assert_text(&out, CONNS);
}

#[test]
fn save_listing() {
    let svcs = fixture(false);
    let mut out = String::new();
    write_save(&mut out, rows(&svcs)).unwrap();
    assert_text(&out, SAVE);
    // and it reads back as the same configuration
    let rules: Vec<_> = lvs_core::ipvsadm::parse_rules(&out)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rules.len(), 12);
    // with thresholds the dump keeps them (ipvsadm-save would drop them)
    let svcs = fixture(true);
    let mut out = String::new();
    write_save(&mut out, rows(&svcs)).unwrap();
    assert!(out.contains("-a -t 198.18.0.1:80 -r 198.18.1.1:8080 -m -w 3 -x 100\n"));
    assert!(out.contains("-a -t 198.18.0.1:80 -r 198.18.1.2:80 -g -w 2 -x 50 -y 20\n"));
}

#[test]
fn single_service_and_empty_table() {
    // no services: the version line and titles only
    let mut out = String::new();
    write_list(
        &mut out,
        &ListHeader::new(65536),
        core::iter::empty::<ServiceRow<'_, Vec<DestRow>>>(),
        ListMode::Plain,
    )
    .unwrap();
    assert_text(
        &out,
        concat!(
            "IP Virtual Server version 1.2.1 (size=65536)\n",
            "Prot LocalAddress:Port Scheduler Flags\n",
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        ),
    );
    // an IPv6 fwmark service is "FWM  %u IPv6"; its -M is a prefix length
    let cfg = ServiceConfig::new(ServiceKey::Fwmark {
        af: AddrFamily::Ipv6,
        mark: 9,
    })
    .with_persistence(Persistence::new(Duration::from_secs(120)).with_prefix(64));
    let mut row = ServiceRow::new(
        &cfg,
        "mh",
        vec![DestRow::new(
            ep("[2001:db8::20]:0"),
            FwdMethod::DirectRoute,
            5,
        )],
    );
    row.flags = SchedFlags::MH_PORT;
    let mut out = String::new();
    lvs_core::ipvsadm::write_service(&mut out, row, ListMode::Plain).unwrap();
    assert_text(
        &out,
        concat!(
            "FWM  9 IPv6 mh (mh-port) persistent 120 mask 64\n",
            // 16 characters of address, padded to 28, then the separating blank
            "  -> [2001:db8::20]:0             Route   5      0          0         \n",
        ),
    );
}
