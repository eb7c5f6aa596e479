//! The ipvsadm rules parser: every accepted option with its defaults, and every rejection with
//! its line number.

use lvs_core::ipvsadm::{
    parse_rule, parse_rules, Rule, RuleError, RuleErrorKind as E, RuleOption as O, SchedFlags,
};
use lvs_core::{
    AddrFamily, DestConfig, Duration, Endpoint, FwdMethod, Persistence, Protocol, ServiceConfig,
    ServiceKey, TunnelKind,
};

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn tcp(s: &str) -> ServiceKey {
    ServiceKey::addr(Protocol::Tcp, ep(s))
}

fn udp(s: &str) -> ServiceKey {
    ServiceKey::addr(Protocol::Udp, ep(s))
}

fn fwm(mark: u32, af: AddrFamily) -> ServiceKey {
    ServiceKey::Fwmark { af, mark }
}

fn persist(secs: u64, prefix: u8) -> Persistence {
    Persistence::new(Duration::from_secs(secs)).with_prefix(prefix)
}

fn add_service(line: &str) -> (ServiceConfig, &str, SchedFlags) {
    match parse_rule(line) {
        Ok(Rule::AddService {
            config,
            scheduler,
            flags,
        }) => (config, scheduler, flags),
        other => panic!("{line}: {other:?}"),
    }
}

fn add_dest(line: &str) -> (ServiceKey, DestConfig) {
    match parse_rule(line) {
        Ok(Rule::AddDest { service, dest }) => (service, dest),
        other => panic!("{line}: {other:?}"),
    }
}

// ---- services -------------------------------------------------------------------------------

#[test]
fn add_service_defaults() {
    let (c, s, f) = add_service("-A -t 198.18.0.1:80");
    assert_eq!(c, ServiceConfig::new(tcp("198.18.0.1:80")));
    assert_eq!(s, "wlc", "ipvsadm's DEF_SCHED");
    assert_eq!(f, SchedFlags::NONE);
}

#[test]
fn service_protocols_and_long_spellings() {
    assert_eq!(
        add_service("--add-service --tcp-service 198.18.0.1:80")
            .0
            .key,
        tcp("198.18.0.1:80")
    );
    assert_eq!(
        add_service("-A -u 198.18.0.1:53").0.key,
        udp("198.18.0.1:53")
    );
    assert_eq!(
        add_service("-A --udp-service 198.18.0.1:53").0.key,
        udp("198.18.0.1:53")
    );
    assert_eq!(
        add_service("-A --sctp-service 198.18.0.1:9899").0.key,
        ServiceKey::Addr {
            proto: Protocol::Sctp,
            vip: ep("198.18.0.1:9899")
        }
    );
    assert_eq!(
        add_service("-A --tcp-service=198.18.0.1:80").0.key,
        tcp("198.18.0.1:80")
    );
}

#[test]
fn fwmark_services() {
    assert_eq!(add_service("-A -f 7").0.key, fwm(7, AddrFamily::Ipv4));
    assert_eq!(
        add_service("-A --fwmark-service 7 --ipv6").0.key,
        fwm(7, AddrFamily::Ipv6)
    );
    assert_eq!(add_service("-A -f 7 -6").0.key, fwm(7, AddrFamily::Ipv6));
    assert_eq!(
        add_service("-A -f 4294967295").0.key,
        fwm(u32::MAX, AddrFamily::Ipv4)
    );
    // -6 may be repeated (ipvsadm does not count it as an option)
    assert_eq!(add_service("-A -f 7 -6 -6").0.key, fwm(7, AddrFamily::Ipv6));
}

#[test]
fn ipv6_services() {
    assert_eq!(
        add_service("-A -t [2001:db8::1]:443").0.key,
        tcp("[2001:db8::1]:443")
    );
    // a bare IPv6 address is the address with port 0 (ipvsadm's parse_service)
    let (c, _, _) = add_service("-A -t 2001:db8::1 -p");
    assert_eq!(c.key, tcp("[2001:db8::1]:0"));
    assert_eq!(c.persistence, Some(persist(300, 128)));
}

#[test]
fn scheduler_spellings() {
    assert_eq!(add_service("-A -t 198.18.0.1:80 -s rr").1, "rr");
    assert_eq!(add_service("-A -t 198.18.0.1:80 --scheduler wrr").1, "wrr");
    assert_eq!(
        add_service("-A -t 198.18.0.1:80 --scheduler=lblcr").1,
        "lblcr"
    );
    assert_eq!(add_service("-A -t 198.18.0.1:80 -ssh").1, "sh");
    assert_eq!(
        add_service("-A -t 198.18.0.1:80 -s abcdefghijklmno").1,
        "abcdefghijklmno"
    );
}

#[test]
fn persistence_forms() {
    let p = |l: &str| add_service(l).0.persistence;
    assert_eq!(
        p("-A -t 198.18.0.1:80 -p"),
        Some(persist(300, 32)),
        "-p alone is 300 s, /32"
    );
    assert_eq!(p("-A -t 198.18.0.1:80 -p -s rr"), Some(persist(300, 32)));
    assert_eq!(p("-A -t 198.18.0.1:80 -p 600"), Some(persist(600, 32)));
    assert_eq!(p("-A -t 198.18.0.1:80 -p600"), Some(persist(600, 32)));
    assert_eq!(
        p("-A -t 198.18.0.1:80 --persistent 1"),
        Some(persist(1, 32))
    );
    assert_eq!(
        p("-A -t 198.18.0.1:80 --persistent=2678400"),
        Some(persist(2678400, 32))
    );
    assert_eq!(
        p("-A -t 198.18.0.1:80 --persistent"),
        Some(persist(300, 32))
    );
    // port 0 is allowed with persistence
    assert_eq!(
        add_service("-A -t 198.18.0.1:0 -p").0.key,
        tcp("198.18.0.1:0")
    );
    assert_eq!(
        add_service("-A -t 198.18.0.1 -p").0.key,
        tcp("198.18.0.1:0")
    );
}

#[test]
fn netmask_forms() {
    let p = |l: &str| add_service(l).0.persistence.unwrap().prefix_len;
    assert_eq!(p("-A -t 198.18.0.1:80 -p -M 255.255.255.0"), 24);
    assert_eq!(p("-A -t 198.18.0.1:80 -p --netmask 255.255.0.0"), 16);
    assert_eq!(p("-A -t 198.18.0.1:80 -p -M 255.255.255.255"), 32);
    assert_eq!(p("-A -t 198.18.0.1:80 -p -M 0.0.0.0"), 0);
    assert_eq!(p("-A -f 3 -p 60 -M 255.255.255.128"), 25);
    // IPv6 takes a prefix length, whatever the option order
    assert_eq!(p("-A -t [2001:db8::1]:80 -p -M 64"), 64);
    assert_eq!(p("-A -f 3 -6 -M 48 -p"), 48);
    assert_eq!(p("-A -M 56 -f 3 -6 -p"), 56);
    // -M without -p is accepted and has no effect
    assert_eq!(
        add_service("-A -t 198.18.0.1:80 -M 255.255.255.0")
            .0
            .persistence,
        None
    );
}

#[test]
fn one_packet_and_sched_flags() {
    assert!(add_service("-A -u 198.18.0.1:53 -o").0.one_packet);
    assert!(add_service("-A -u 198.18.0.1:53 --ops").0.one_packet);
    assert!(
        add_service("-A -f 9 -o").0.one_packet,
        "fwmark services may use -o"
    );
    let f = |l: &str| add_service(l).2;
    assert_eq!(
        f("-A -t 198.18.0.1:80 -s sh -b sh-fallback,sh-port"),
        SchedFlags::SH_FALLBACK | SchedFlags::SH_PORT
    );
    assert_eq!(
        f("-A -t 198.18.0.1:80 -b sh-port -s sh"),
        SchedFlags::SH_PORT,
        "-b may precede -s"
    );
    assert_eq!(
        f("-A -t 198.18.0.1:80 -s mh --sched-flags mh-fallback"),
        SchedFlags::MH_FALLBACK
    );
    assert_eq!(
        f("-A -t 198.18.0.1:80 -s mh -b mh-port"),
        SchedFlags::MH_PORT
    );
    assert_eq!(
        f("-A -t 198.18.0.1:80 -b flag-1,flag-2,flag-3"),
        SchedFlags::from_bits_truncate(7)
    );
    assert_eq!(
        f("-A -t 198.18.0.1:80 -s sh -b flag-2"),
        SchedFlags::SH_PORT
    );
}

#[test]
fn edit_and_delete_service() {
    assert_eq!(
        parse_rule("-E -t 198.18.0.1:80 -s rr -p 60"),
        Ok(Rule::EditService {
            config: ServiceConfig::new(tcp("198.18.0.1:80")).with_persistence(persist(60, 32)),
            scheduler: "rr",
            flags: SchedFlags::NONE,
        })
    );
    // -E without -s resets the scheduler to wlc, as ipvsadm does
    assert!(matches!(
        parse_rule("--edit-service -u 198.18.0.1:53"),
        Ok(Rule::EditService {
            scheduler: "wlc",
            ..
        })
    ));
    assert_eq!(
        parse_rule("-D -t 198.18.0.1:80"),
        Ok(Rule::DelService {
            service: tcp("198.18.0.1:80")
        })
    );
    assert_eq!(
        parse_rule("--delete-service -f 3 -6"),
        Ok(Rule::DelService {
            service: fwm(3, AddrFamily::Ipv6)
        })
    );
    assert_eq!(parse_rule("-C"), Ok(Rule::Clear));
    assert_eq!(parse_rule("--clear"), Ok(Rule::Clear));
}

// ---- real servers ---------------------------------------------------------------------------

#[test]
fn add_dest_defaults() {
    let (s, d) = add_dest("-a -t 198.18.0.1:80 -r 198.18.1.1");
    assert_eq!(s, tcp("198.18.0.1:80"));
    // gatewaying, weight 1, the service port, no thresholds
    assert_eq!(
        d,
        DestConfig::new(ep("198.18.1.1:80"), FwdMethod::DirectRoute, 1)
    );
}

#[test]
fn forwarding_methods_and_ports() {
    let d = |l: &str| add_dest(l).1;
    // masquerading keeps the given port, or takes the service's
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1:8080 -m").addr,
        ep("198.18.1.1:8080")
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 --masquerading").addr,
        ep("198.18.1.1:80")
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -m").fwd,
        FwdMethod::Masq
    );
    // gatewaying and tunnelling always use the service port
    let g = d("-a -t 198.18.0.1:80 -r 198.18.1.1:8080 -g");
    assert_eq!(
        (g.fwd, g.addr),
        (FwdMethod::DirectRoute, ep("198.18.1.1:80"))
    );
    let i = d("-a -t 198.18.0.1:80 -r 198.18.1.1:8080 --ipip");
    assert_eq!(
        (i.fwd, i.addr, i.tunnel),
        (FwdMethod::Tunnel, ep("198.18.1.1:80"), TunnelKind::Ipip)
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 --gatewaying").fwd,
        FwdMethod::DirectRoute
    );
    // on a fwmark service the port is kept, and absent means 0
    assert_eq!(
        d("-a -f 3 -r 198.18.1.1:8080 -g").addr,
        ep("198.18.1.1:8080")
    );
    assert_eq!(d("-a -f 3 -r 198.18.1.1").addr, ep("198.18.1.1:0"));
    // IPv6 real servers, bracketed or bare
    assert_eq!(
        d("-a -t [2001:db8::1]:80 -r [2001:db8::2]:81 -m").addr,
        ep("[2001:db8::2]:81")
    );
    assert_eq!(
        d("-a -t [2001:db8::1]:80 -r 2001:db8::2 -m").addr,
        ep("[2001:db8::2]:80")
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 --real-server=198.18.1.1:8080 -m").addr,
        ep("198.18.1.1:8080")
    );
    // tunnelling may cross address families
    let x = d("-a -t 198.18.0.1:80 -r [2001:db8::2]:80 -i");
    assert_eq!(x.addr, ep("[2001:db8::2]:80"));
}

#[test]
fn weights_and_thresholds() {
    let d = |l: &str| add_dest(l).1;
    assert_eq!(d("-a -t 198.18.0.1:80 -r 198.18.1.1 -w 0").weight, 0);
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 --weight 65535").weight,
        65535
    );
    assert_eq!(d("-a -t 198.18.0.1:80 -r 198.18.1.1 -w7").weight, 7);
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -gw 3").weight,
        3,
        "bundled -g -w 3"
    );
    let t = d("-a -t 198.18.0.1:80 -r 198.18.1.1 -x 100 -y 50");
    assert_eq!((t.u_threshold, t.l_threshold), (100, 50));
    let t =
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 --u-threshold 2147483647 --l-threshold 2147483647");
    assert_eq!(
        (t.u_threshold, t.l_threshold),
        (i32::MAX as u32, i32::MAX as u32)
    );
    let t = d("-a -t 198.18.0.1:80 -r 198.18.1.1 -x 100");
    assert_eq!((t.u_threshold, t.l_threshold), (100, 0));
}

#[test]
fn tunnel_options() {
    let d = |l: &str| add_dest(l).1;
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type ipip").tunnel,
        TunnelKind::Ipip
    );
    // gue defaults to no checksum (tun_flags 0 is IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM)
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 6080").tunnel,
        TunnelKind::Gue {
            port: 6080,
            csum: false
        }
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type=gue --tun-port=6080 --tun-nocsum")
            .tunnel,
        TunnelKind::Gue {
            port: 6080,
            csum: false
        }
    );
    assert_eq!(
        d("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 65535 --tun-csum").tunnel,
        TunnelKind::Gue {
            port: 65535,
            csum: true
        }
    );
}

#[test]
fn edit_and_delete_dest() {
    assert_eq!(
        parse_rule("-e -t 198.18.0.1:80 -r 198.18.1.1:8080 -m -w 5"),
        Ok(Rule::EditDest {
            service: tcp("198.18.0.1:80"),
            dest: DestConfig::new(ep("198.18.1.1:8080"), FwdMethod::Masq, 5),
        })
    );
    assert_eq!(
        parse_rule("--edit-server -t 198.18.0.1:80 -r 198.18.1.1"),
        Ok(Rule::EditDest {
            service: tcp("198.18.0.1:80"),
            dest: DestConfig::new(ep("198.18.1.1:80"), FwdMethod::DirectRoute, 1),
        })
    );
    assert_eq!(
        parse_rule("-d -t 198.18.0.1:80 -r 198.18.1.1:8080"),
        Ok(Rule::DelDest {
            service: tcp("198.18.0.1:80"),
            addr: ep("198.18.1.1:8080")
        })
    );
    assert_eq!(
        parse_rule("--delete-server -u 198.18.0.1:53 -r 198.18.1.1"),
        Ok(Rule::DelDest {
            service: udp("198.18.0.1:53"),
            addr: ep("198.18.1.1:53")
        })
    );
}

// ---- lexical forms ----------------------------------------------------------------------------

#[test]
fn bundles_comments_and_the_ipvsadm_token() {
    assert_eq!(
        parse_rule("-At 198.18.0.1:80"),
        parse_rule("-A -t 198.18.0.1:80")
    );
    assert_eq!(parse_rule("ipvsadm -C"), Ok(Rule::Clear));
    assert_eq!(parse_rule("  -C   # flush everything"), Ok(Rule::Clear));
    assert_eq!(
        parse_rule("\t-D\t-t\t198.18.0.1:80\r"),
        Ok(Rule::DelService {
            service: tcp("198.18.0.1:80")
        })
    );
    assert_eq!(parse_rule(""), Err(E::MissingCommand));
    assert_eq!(parse_rule("# nothing"), Err(E::MissingCommand));
    assert_eq!(
        parse_rule("-w+3 -a -t 198.18.0.1:80 -r 198.18.1.1"),
        Err(E::MissingCommand)
    );
    assert_eq!(
        add_dest("-a -t 198.18.0.1:80 -r 198.18.1.1 -w +3").1.weight,
        3,
        "strtol's sign"
    );
}

#[test]
fn rules_iterator_numbers_lines_and_skips_blanks() {
    let text =
        "# saved\n\n-A -t 198.18.0.1:80 -s rr\n   \n-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n-C";
    let got: Vec<_> = parse_rules(text).map(|r| r.map(|(n, _)| n)).collect();
    assert_eq!(got, vec![Ok(3), Ok(5), Ok(6)]);
    // CRLF files
    let got: Vec<_> = parse_rules("-C\r\n-C\r\n").map(|r| r.unwrap().0).collect();
    assert_eq!(got, vec![1, 2]);
}

// ---- rejections -------------------------------------------------------------------------------

/// Every rejection, each on its own line of one file between comments and blank lines, with the
/// line number the iterator must report.
#[test]
fn every_rejection_with_its_line_number() {
    let cases: &[(&str, E)] = &[
        ("-t 198.18.0.1:80 -A", E::MissingCommand),
        ("frobnicate", E::MissingCommand),
        ("-A -t 198.18.0.1:80 -A", E::MultipleCommands),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -D", E::MultipleCommands),
        ("-L -n", E::UnsupportedCommand(O::List)),
        ("-l", E::UnsupportedCommand(O::List)),
        ("-Z", E::UnsupportedCommand(O::Zero)),
        ("--set 900 120 300", E::UnsupportedCommand(O::Set)),
        ("-S -n", E::UnsupportedCommand(O::Save)),
        ("-R", E::UnsupportedCommand(O::Restore)),
        ("--start-daemon master", E::UnsupportedCommand(O::StartDaemon)),
        ("--stop-daemon backup", E::UnsupportedCommand(O::StopDaemon)),
        ("-h", E::UnsupportedCommand(O::Help)),
        ("--version", E::UnsupportedCommand(O::Version)),
        ("-A -t 198.18.0.1:80 -q", E::UnknownOption { column: 21 }),
        ("-A -t 198.18.0.1:80 --bogus", E::UnknownOption { column: 21 }),
        ("-A --xxx-service 198.18.0.1:80", E::UnknownProtocol { column: 4 }),
        ("-A --icmp-service 198.18.0.1", E::UnknownProtocol { column: 4 }),
        ("-A -t 198.18.0.1:80 extra", E::UnexpectedArgument { column: 21 }),
        ("-A -u 198.18.0.1:53 --ops=1", E::UnexpectedArgument { column: 21 }),
        ("-A -t 198.18.0.1:80 -- -s rr", E::UnexpectedArgument { column: 24 }),
        ("-A -t", E::MissingArgument(O::TcpService)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 --weight", E::MissingArgument(O::Weight)),
        ("-A -t 198.18.0.1:80 -s rr -s wlc", E::DuplicateOption(O::Scheduler)),
        ("-A -t 198.18.0.1:80 -u 198.18.0.1:53", E::DuplicateOption(O::UdpService)),
        ("-A -t 198.18.0.1:80 -p -p 60", E::DuplicateOption(O::Persistent)),
        ("-A -u 198.18.0.1:53 -o -o", E::DuplicateOption(O::Ops)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -w 1 -w 2", E::DuplicateOption(O::Weight)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -r 198.18.1.2", E::DuplicateOption(O::RealServer)),
        ("-A -t 198.18.0.1:80 -w 1", E::OptionNotAllowed { option: O::Weight, command: O::AddService }),
        ("-E -t 198.18.0.1:80 -r 198.18.1.1", E::OptionNotAllowed { option: O::RealServer, command: O::EditService }),
        ("-D -t 198.18.0.1:80 -s rr", E::OptionNotAllowed { option: O::Scheduler, command: O::DeleteService }),
        ("-C -t 198.18.0.1:80", E::OptionNotAllowed { option: O::TcpService, command: O::Clear }),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -p", E::OptionNotAllowed { option: O::Persistent, command: O::AddServer }),
        ("-d -t 198.18.0.1:80 -r 198.18.1.1 -m", E::OptionNotAllowed { option: O::Masquerading, command: O::DeleteServer }),
        ("-A -t 198.18.0.1:80 -n", E::OptionNotAllowed { option: O::Numeric, command: O::AddService }),
        ("-A -s rr", E::MissingService),
        ("-D", E::MissingService),
        ("-a -r 198.18.1.1", E::MissingService),
        ("-a -t 198.18.0.1:80 -m", E::MissingRealServer),
        ("-d -t 198.18.0.1:80", E::MissingRealServer),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -g -m", E::ConflictingForwarding),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i -i", E::ConflictingForwarding),
        ("-A -t 198.18.0.1:65536", E::BadAddress(O::TcpService)),
        ("-A -t 1234", E::BadAddress(O::TcpService)),
        ("-A -t www.example.com:80", E::BadAddress(O::TcpService)),
        ("-A -t 198.18.0.1:http", E::BadAddress(O::TcpService)),
        ("-A -t 198.18.0.1:", E::BadAddress(O::TcpService)),
        ("-A -t 10.1:80", E::BadAddress(O::TcpService)),
        ("-A -u [198.18.0.1]:53", E::BadAddress(O::UdpService)),
        ("-A --sctp-service [2001:db8::1]", E::BadAddress(O::SctpService)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.256", E::BadAddress(O::RealServer)),
        ("-A -f 0", E::BadFwmark),
        ("-A -f -1", E::BadFwmark),
        ("-A -f 4294967296", E::BadFwmark),
        ("-A -f 0x10", E::BadFwmark),
        ("-A -t 198.18.0.1:80 -s abcdefghijklmnop", E::BadScheduler),
        ("-A -t 198.18.0.1:80 -s r/r", E::BadScheduler),
        ("-A -t 198.18.0.1:80 -p 0", E::BadTimeout),
        ("-A -t 198.18.0.1:80 -p 2678401", E::BadTimeout),
        ("-A -t 198.18.0.1:80 --persistent=forever", E::BadTimeout),
        ("-A -t 198.18.0.1:80 -p -M 255.0.255.0", E::BadNetmask),
        ("-A -t 198.18.0.1:80 -p -M 24", E::BadNetmask),
        ("-A -t [2001:db8::1]:80 -p -M 0", E::BadNetmask),
        ("-A -f 1 -6 -p -M 129", E::BadNetmask),
        ("-A -f 1 -6 -p -M ffff:ffff::", E::BadNetmask),
        ("-A -t 198.18.0.1:80 -M 255.255.0.255", E::BadNetmask),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -w 65536", E::BadWeight),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -w -1", E::BadWeight),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -w heavy", E::BadWeight),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -x 2147483648", E::BadUpperThreshold),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -x -5", E::BadUpperThreshold),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -x 10 -y many", E::BadLowerThreshold),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -x 10 -y 20", E::ThresholdOrder),
        ("-e -t 198.18.0.1:80 -r 198.18.1.1 -y 5", E::ThresholdOrder),
        ("-A -t 198.18.0.1:80 -b sh-something", E::BadSchedFlag),
        ("-A -t 198.18.0.1:80 -b ,", E::BadSchedFlag),
        ("-A -t 198.18.0.1:80 -s rr -b sh-port", E::IncompatibleSchedFlag),
        ("-A -t 198.18.0.1:80 -b mh-fallback", E::IncompatibleSchedFlag),
        ("-A -t 198.18.0.1:80 -s sh -b mh-port", E::IncompatibleSchedFlag),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type vxlan", E::BadTunnelType),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 0", E::BadTunnelPort),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 65536", E::BadTunnelPort),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -m --tun-type gue --tun-port 6080", E::TunnelOptionWithoutTunnel(O::TunType)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 --tun-nocsum", E::TunnelOptionWithoutTunnel(O::TunNoCsum)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-port 6080", E::TunnelOptionNotAllowed(O::TunPort)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type ipip --tun-csum", E::TunnelOptionNotAllowed(O::TunCsum)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue", E::MissingTunnelPort),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum", E::ConflictingTunnelChecksum),
        ("-A -t 198.18.0.1:80 --pe sip", E::Unsupported(O::Pe)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gre", E::Unsupported(O::TunType)),
        ("-a -t 198.18.0.1:80 -r 198.18.1.1 -i --tun-type gue --tun-port 1 --tun-remcsum", E::Unsupported(O::TunRemCsum)),
        ("-A -6 -f 3", E::Ipv6WithoutFwmark),
        ("-A -t 198.18.0.1:80 -6", E::Ipv6WithoutFwmark),
        ("-C -6", E::Ipv6WithoutFwmark),
        ("-A -t 198.18.0.1:0", E::ZeroPortNotPersistent),
        ("-E -t [2001:db8::1]:0 -s rr", E::ZeroPortNotPersistent),
        ("-A -t 198.18.0.1:80 -o", E::OnePacketNotUdp),
        ("-A --sctp-service 198.18.0.1:80 --ops", E::OnePacketNotUdp),
        ("-a -t 198.18.0.1:80 -r [2001:db8::2]:80 -m", E::FamilyMismatch),
        ("-a -f 1 -6 -r 198.18.1.1", E::FamilyMismatch),
    ];
    // build a file: before case i, i % 3 filler lines (comments, blank lines)
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut line = 0;
    for (i, (rule, kind)) in cases.iter().enumerate() {
        for j in 0..i % 3 {
            text.push_str(if j == 0 { "# filler\n" } else { "\n" });
            line += 1;
        }
        text.push_str(rule);
        text.push('\n');
        line += 1;
        expected.push(RuleError { line, kind: *kind });
        // the same line alone gives the same kind
        assert_eq!(parse_rule(rule), Err(*kind), "{rule}");
    }
    // one valid rule at the end: iteration goes on past errors
    text.push_str("-C\n");
    let results: Vec<_> = parse_rules(&text).collect();
    let (errors, oks): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_err());
    let errors: Vec<RuleError> = errors.into_iter().map(|r| r.unwrap_err()).collect();
    assert_eq!(errors, expected);
    assert_eq!(oks.len(), 1);
    assert_eq!(oks[0].as_ref().unwrap(), &(line + 1, Rule::Clear));
}

#[test]
fn error_messages_name_the_line_and_reason() {
    let e = parse_rules("\n-A -t 198.18.0.1:80 -s rr -s wlc")
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: multiple -s/--scheduler options specified"
    );
    let e = parse_rules("-a -t 198.18.0.1:80 -r 198.18.1.1 -g -m")
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: multiple forwarding methods (-g, -i, -m)"
    );
    assert_eq!(
        E::OptionNotAllowed {
            option: O::SctpService,
            command: O::Clear
        }
        .to_string(),
        "illegal --sctp-service option with the -C/--clear command"
    );
    assert_eq!(
        E::UnknownOption { column: 7 }.to_string(),
        "unknown option at column 7"
    );
    assert_eq!(
        E::Unsupported(O::Pe).to_string(),
        "option --pe is not supported"
    );
    assert_eq!(O::Weight.long_name(), "weight");
    assert_eq!(O::Weight.short_name(), Some('w'));
    assert_eq!(O::TunPort.short_name(), None);
    // errors are usable as core::error::Error
    let boxed: Box<dyn core::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("line 1"));
}
