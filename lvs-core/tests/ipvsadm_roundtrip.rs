//! `parse(print(rule)) == rule` for every valid rule, and the printed form is a fixed point of
//! anything the parser accepts.

use lvs_core::ipvsadm::{parse_rule, parse_rules, Rule, SchedFlags};
use lvs_core::{
    AddrFamily, DestConfig, Duration, Endpoint, FwdMethod, IpAddr, Ipv4Addr, Ipv6Addr, Persistence,
    Protocol, ServiceConfig, ServiceKey, TunnelKind,
};
use proptest::prelude::*;

fn addr(af: AddrFamily) -> BoxedStrategy<IpAddr> {
    match af {
        AddrFamily::Ipv4 => any::<u32>()
            .prop_map(|b| IpAddr::V4(Ipv4Addr::from_bits(b)))
            .boxed(),
        // mix fully random addresses with ones that have long zero runs (compression paths)
        AddrFamily::Ipv6 => prop_oneof![
            any::<u128>(),
            (any::<u32>(), 0u32..128).prop_map(|(x, s)| (u128::from(x)) << s),
            any::<u32>().prop_map(|x| (0xffffu128 << 32) | u128::from(x)),
        ]
        .prop_map(|b| IpAddr::V6(Ipv6Addr::from_bits(b)))
        .boxed(),
    }
}

fn family() -> impl Strategy<Value = AddrFamily> {
    prop_oneof![Just(AddrFamily::Ipv4), Just(AddrFamily::Ipv6)]
}

fn service() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            family().prop_flat_map(addr),
            any::<u16>()
        )
            .prop_map(|(proto, a, port)| ServiceKey::Addr {
                proto,
                vip: Endpoint::new(a, port)
            }),
        (family(), 1..=u32::MAX).prop_map(|(af, mark)| ServiceKey::Fwmark { af, mark }),
    ]
}

const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

fn service_rule() -> impl Strategy<Value = Rule<'static>> {
    (
        service(),
        proptest::option::of((1u64..=2_678_400, any::<u8>())),
        any::<bool>(),
        proptest::sample::select(SCHEDULERS),
        0u8..8,
        any::<bool>(),
    )
        .prop_map(|(key, persist, ops, scheduler, flags, edit)| {
            let af = key.family();
            let mut persist = persist.map(|(secs, p)| {
                let prefix = match af {
                    AddrFamily::Ipv4 => p % 33,
                    AddrFamily::Ipv6 => 1 + p % 128,
                };
                Persistence::new(Duration::from_secs(secs)).with_prefix(prefix)
            });
            let mut one_packet = ops;
            if let ServiceKey::Addr { proto, vip } = key {
                if vip.port == 0 && persist.is_none() {
                    persist = Some(
                        Persistence::new(Duration::from_secs(300))
                            .with_prefix(if af == AddrFamily::Ipv4 { 32 } else { 128 }),
                    );
                }
                one_packet &= proto == Protocol::Udp;
            }
            let mut config = ServiceConfig::new(key).with_one_packet(one_packet);
            if let Some(p) = persist {
                config = config.with_persistence(p);
            }
            let flags = SchedFlags::from_bits_truncate(flags);
            if edit {
                Rule::EditService {
                    config,
                    scheduler,
                    flags,
                }
            } else {
                Rule::AddService {
                    config,
                    scheduler,
                    flags,
                }
            }
        })
}

fn dest_rule() -> impl Strategy<Value = Rule<'static>> {
    (
        service(),
        prop_oneof![
            Just(FwdMethod::Masq),
            Just(FwdMethod::Tunnel),
            Just(FwdMethod::DirectRoute)
        ],
        family().prop_flat_map(addr),
        any::<u16>(),
        0u32..=65535,
        (0u32..=i32::MAX as u32).prop_flat_map(|u| (Just(u), 0..=u)),
        proptest::option::of((1u16..=65535, any::<bool>())),
        0u8..3,
    )
        .prop_map(|(service, fwd, raddr, rport, weight, (u, l), gue, kind)| {
            let af = service.family();
            // only tunnelled servers may be of another family
            let raddr = if fwd == FwdMethod::Tunnel || AddrFamily::of(&raddr) == af {
                raddr
            } else {
                match af {
                    AddrFamily::Ipv4 => IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
                    AddrFamily::Ipv6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
                }
            };
            let port = match service {
                ServiceKey::Addr { vip, .. } if fwd != FwdMethod::Masq => vip.port,
                _ => rport,
            };
            let mut dest =
                DestConfig::new(Endpoint::new(raddr, port), fwd, weight).with_thresholds(u, l);
            if fwd == FwdMethod::Tunnel {
                if let Some((port, csum)) = gue {
                    dest.tunnel = TunnelKind::Gue { port, csum };
                }
            }
            match kind {
                0 => Rule::AddDest { service, dest },
                1 => Rule::EditDest { service, dest },
                _ => Rule::DelDest {
                    service,
                    addr: Endpoint::new(raddr, rport),
                },
            }
        })
}

fn rule() -> impl Strategy<Value = Rule<'static>> {
    prop_oneof![
        4 => service_rule(),
        4 => dest_rule(),
        1 => service().prop_map(|service| Rule::DelService { service }),
        1 => Just(Rule::Clear),
    ]
}

/// Option-shaped tokens, to throw plausible garbage at the parser.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "-A",
                "-E",
                "-D",
                "-C",
                "-a",
                "-e",
                "-d",
                "-t",
                "-u",
                "--sctp-service",
                "-f",
                "-6",
                "-s",
                "-p",
                "-M",
                "-r",
                "-g",
                "-i",
                "-m",
                "-w",
                "-x",
                "-y",
                "-o",
                "-b",
                "--tun-type",
                "--tun-port",
                "--tun-nocsum",
                "--tun-csum",
                "-gw",
                "-At",
                "--weight=2",
                "-p60",
                "198.18.0.1:80",
                "198.18.0.1",
                "[2001:db8::1]:80",
                "2001:db8::2",
                "255.255.255.0",
                "64",
                "0",
                "1",
                "300",
                "65535",
                "sh",
                "mh",
                "wlc",
                "sh-port,sh-fallback",
                "mh-port",
                "gue",
                "ipip",
                "6080",
                "#",
                "ipvsadm",
                "--",
                "-",
                "-r 198.18.1.1",
                "-r 198.18.1.1:8080",
                "-r [2001:db8::2]:81",
                "-r 2001:db8::3",
                "-s sh",
                "-s mh",
                "-s rr",
                "-p 60",
                "-M 64",
                "-M 255.255.255.0",
                "-b sh-port",
                "-b mh-fallback,mh-port",
                "-w 5",
                "-x 10",
                "-y 5",
                "--tun-type gue",
                "--tun-port 6080",
                "--tun-type ipip",
            ][..]
        )
        .prop_map(str::to_owned),
        "[-:\\[\\]0-9a-z,.=]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_of_print_is_identity(r in rule()) {
        let line = r.to_string();
        prop_assert_eq!(parse_rule(&line), Ok(r), "{}", line);
    }

    #[test]
    fn a_save_file_reads_back(rules in proptest::collection::vec(rule(), 0..20)) {
        let mut text = String::from("# ipvsadm-save -n\n");
        for r in &rules {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        let back: Vec<_> = parse_rules(&text).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back.len(), rules.len());
        for (i, ((line, got), want)) in back.into_iter().zip(rules).enumerate() {
            prop_assert_eq!(line, i + 2);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn garbage_never_panics(toks in proptest::collection::vec(token(), 0..12)) {
        let _ = parse_rule(&toks.join(" "));
    }

    /// A command and a service, then option-shaped tokens: many of these lines are valid, in
    /// non-canonical spellings; whatever is accepted prints to a line that parses to the same
    /// rule and prints identically.
    #[test]
    fn accepted_lines_canonicalise(
        cmd in proptest::sample::select(&["-A", "-E", "-D", "-a", "-e", "-d", "-C"][..]),
        svc in proptest::sample::select(&[
            "-t 198.18.0.1:80", "-u 198.18.0.1:53", "-f 3", "-f 3 -6", "--sctp-service 198.18.0.1:0",
            "-t [2001:db8::1]:80", "-t 2001:db8::1", "",
        ][..]),
        rest in proptest::collection::vec(token(), 0..8),
    ) {
        let line = format!("{cmd} {svc} {}", rest.join(" "));
        if let Ok(r) = parse_rule(&line) {
            let canon = r.to_string();
            prop_assert_eq!(parse_rule(&canon), Ok(r), "{} -> {}", line, canon);
            prop_assert_eq!(parse_rule(&canon).unwrap().to_string(), canon);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        let _ = parse_rule(&s);
        let _ = parse_rules(&s).count();
    }
}

#[test]
fn printed_forms_match_ipvsadm_save() {
    // lines as ipvsadm-save -n (1.31) prints them
    for line in [
        "-A -t 198.18.0.1:80 -s wlc",
        "-A -t 198.18.0.1:80 -s rr -p 300",
        "-A -t 198.18.0.1:80 -s rr -p 600 -M 255.255.255.0",
        "-A -u 198.18.0.2:53 -s rr -o",
        "-A -t 198.18.0.1:80 -s sh -b sh-fallback,sh-port",
        "-A -f 7 -s wlc -p 300 -M 255.255.0.0",
        "-A -f 8 -6 -s mh -p 120 -M 64 -b mh-port",
        "-A -t [2001:db8::1]:443 -s wlc -p 300 -M 64",
        "-A --sctp-service 198.18.0.3:9899 -s rr",
        "-a -t 198.18.0.1:80 -r 198.18.1.1:8080 -m -w 1",
        "-a -t 198.18.0.1:80 -r 198.18.1.2:80 -g -w 0",
        "-a -t 198.18.0.1:80 -r 198.18.1.3:80 -i -w 2 --tun-type ipip",
        "-a -t 198.18.0.1:80 -r 198.18.1.4:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-nocsum",
        "-a -t 198.18.0.1:80 -r 198.18.1.5:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum",
        "-a -f 7 -r 198.18.1.1:0 -g -w 1",
        "-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -g -w 1",
        "-a -t 198.18.0.1:80 -r [2001:db8::10]:80 -i -w 1 --tun-type ipip",
    ] {
        let r = parse_rule(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(r.to_string(), line);
    }
    // non-canonical input prints canonically
    for (input, canonical) in [
        (
            "--add-service --udp-service=198.18.0.2:53 --ops --scheduler rr",
            "-A -u 198.18.0.2:53 -s rr -o",
        ),
        (
            "-A -t 198.18.0.1:80 -p -M 255.255.255.255",
            "-A -t 198.18.0.1:80 -s wlc -p 300",
        ),
        ("-A -f 1 -6 -p -M 128", "-A -f 1 -6 -s wlc -p 300"),
        (
            "-At 198.18.0.1:80 -s sh -b flag-1",
            "-A -t 198.18.0.1:80 -s sh -b sh-fallback",
        ),
        (
            "-a -t 198.18.0.1:80 -r 198.18.1.1",
            "-a -t 198.18.0.1:80 -r 198.18.1.1:80 -g -w 1",
        ),
        (
            "-a -t 198.18.0.1:80 -r 198.18.1.1:81 -gw3",
            "-a -t 198.18.0.1:80 -r 198.18.1.1:80 -g -w 3",
        ),
        (
            "-a -t 198.18.0.1:80 -r 198.18.1.1 -m -x 100 -y 50",
            "-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1 -x 100 -y 50",
        ),
        (
            "-e -u 198.18.0.2:53 -r 198.18.1.1 -i",
            "-e -u 198.18.0.2:53 -r 198.18.1.1:53 -i -w 1 --tun-type ipip",
        ),
        (
            "-d -t [2001:db8:0:0:0:0:0:1]:80 -r 2001:db8::2",
            "-d -t [2001:db8::1]:80 -r [2001:db8::2]:80",
        ),
        ("-D -f 3", "-D -f 3"),
        ("ipvsadm --clear", "-C"),
    ] {
        assert_eq!(parse_rule(input).unwrap().to_string(), canonical, "{input}");
    }
}
