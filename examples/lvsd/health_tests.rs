//! Tests of the health file, the ipvsadm lines of its changes, the probes against local
//! servers and the quorum hooks.

use super::*;
use std::io::{Read, Write};

const RULES: &str = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 3
-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m
";

fn rules() -> RuleSet {
    RuleSet::from_text(RULES).unwrap()
}

#[test]
fn a_health_file_parses() {
    let text = "\
# web
service -t 198.18.0.10:80 quorum 2 hysteresis 1 sorry 198.18.1.99:80
check -t 198.18.0.10:80 -r 198.18.1.11:80 interval 1s timeout 300ms rise 2 fall 3 http /health status 200 digest 0123456789abcdef0123456789abcdef
check -t 198.18.0.10:80 -r 198.18.1.12 on-failure remove alpha port 8080 command test -e /tmp/x
quorum-down -t 198.18.0.10:80   logger -t lvs  \"quorum  lost\"   # a comment
quorum-up -t 198.18.0.10:80 touch /tmp/up
";
    let cfg = HealthConfig::parse(text, &rules()).unwrap();
    assert_eq!(cfg.services[0].1.quorum, 2);
    assert_eq!(cfg.checks.len(), 2);
    let c = &cfg.checks[0];
    assert_eq!(c.dest.weight, 3);
    assert_eq!(c.timing.timeout, Duration::from_millis(300));
    assert!(matches!(
        c.probe,
        Probe::Http {
            status: 200,
            digest: Some(_),
            ..
        }
    ));
    let c = &cfg.checks[1];
    assert_eq!(c.target.port, 8080);
    assert_eq!(c.on_failure, OnFailure::Remove);
    assert!(!c.initially_up);
    assert_eq!(c.probe, Probe::Command("test -e /tmp/x".into()));
    assert_eq!(cfg.hooks.len(), 2);
    assert!(!cfg.hooks[0].up);
    assert_eq!(cfg.hooks[0].line, 5);
    assert_eq!(cfg.hooks[0].command, "logger -t lvs  \"quorum  lost\"");
    assert!(cfg.hooks[1].up);
    assert_eq!(cfg.hooks[1].service, cfg.checks[0].service);
}

#[test]
fn tls_probes_parse() {
    let text = "\
check -t 198.18.0.10:80 -r 198.18.1.11:80 https /health status 204 host www.example digest 0123456789abcdef0123456789abcdef
check -t 198.18.0.10:80 -r 198.18.1.12:80 port 443 tls sni rs2.example
";
    let cfg = HealthConfig::parse(text, &rules()).unwrap();
    match &cfg.checks[0].probe {
        Probe::Http {
            status: 204,
            host: Some(h),
            tls: Some(t),
            ..
        } => {
            assert_eq!(h, "www.example");
            // SNI from the Host name, certificates not verified
            assert_eq!(t.sni.as_deref(), Some("www.example"));
            assert_eq!(t.ca, None);
        }
        p => panic!("{p:?}"),
    }
    assert!(matches!(
        cfg.checks[0].probe.kind(),
        ProbeKind::Http { tls: true, .. }
    ));
    let c = &cfg.checks[1];
    assert_eq!(c.target.port, 443);
    assert_eq!(
        c.probe.kind(),
        ProbeKind::Tls {
            server_name: Some("rs2.example")
        }
    );
}

#[test]
fn bad_lines_are_numbered() {
    let text = "\
check -t 198.18.0.10:80 -r 198.18.1.11:80 rise 0 tcp

check -t 198.18.0.10:80 -r 198.18.1.11:80 interval 1s timeout 2s tcp
check -t 198.18.0.10:80 -r 198.18.1.13:80 tcp
check -t 198.18.0.300:80 -r 198.18.1.11:80 tcp
check -t 198.18.0.10:80 -r 198.18.1.11:80 tls sni bad..name
frobnicate
check -t 198.18.0.10:80 -r 198.18.1.11:80 http / status 700
check -t 198.18.0.10:80 -r 198.18.1.11:80 https / ca /nonexistent/ca.pem
check -t 198.18.0.10:80 -r 198.18.1.11:80 http / ca /etc/ssl/ca.pem
quorum-up -t 198.18.0.99:80 true
quorum-down -t 198.18.0.10:80
";
    let errs = HealthConfig::parse(text, &rules()).unwrap_err();
    assert_eq!(
        errs,
        [
            "line 1: rise must be at least 1",
            "line 3: the timeout is longer than the interval",
            "line 4: real server 198.18.1.13:80 is not in service -t 198.18.0.10:80 of the rules",
            "line 5: illegal virtual server address[:port] specified: \"198.18.0.300:80\" (-t/--tcp-service)",
            "line 6: sni: bad name \"bad..name\"",
            "line 7: unknown directive \"frobnicate\": expected service, check, quorum-up or quorum-down",
            "line 8: the expected HTTP status must be 100..=599",
            "line 9: ca /nonexistent/ca.pem: No such file or directory (os error 2)",
            "line 10: unexpected \"ca\" after the probe",
            "line 11: service -t 198.18.0.99:80 is not in the rules",
            "line 12: no command after the service",
        ]
    );
    let dup = "check -t 198.18.0.10:80 -r 198.18.1.11:80 tcp\ncheck -t 198.18.0.10:80 -r 198.18.1.11:80 tcp\n";
    assert_eq!(
        HealthConfig::parse(dup, &rules()).unwrap_err(),
        ["line 2: the server is already checked in this service"]
    );
}

#[test]
fn ops_become_ipvsadm_lines() {
    let cfg =
        HealthConfig::parse("check -t 198.18.0.10:80 -r 198.18.1.11:80 tcp\n", &rules()).unwrap();
    let service = cfg.checks[0].service;
    let addr = cfg.checks[0].dest.addr;
    use lvs_core::health::DirectorOp as Op;
    assert_eq!(
        op_line(
            &Op::SetWeight {
                service,
                addr,
                weight: 0
            },
            &cfg
        ),
        "-e -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 0"
    );
    assert_eq!(
        op_line(&Op::RemoveDest { service, addr }, &cfg),
        "-d -t 198.18.0.10:80 -r 198.18.1.11:80"
    );
}

#[test]
fn probes_against_local_servers() {
    use std::net::TcpListener;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let target = Endpoint::v4([127, 0, 0, 1], port);
    // generous: on a loaded machine a shell or a loopback answer can take seconds
    let t = Duration::from_millis(10_000);
    let srv = std::thread::spawn(move || {
        for body in ["hello", "hello"] {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n{body}");
        }
    });
    let md5_hello = [
        0x5d, 0x41, 0x40, 0x2a, 0xbc, 0x4b, 0x2a, 0x76, 0xb9, 0x71, 0x9d, 0x91, 0x10, 0x17, 0xc5,
        0x92,
    ];
    let http = |status, digest| Probe::Http {
        path: "/".into(),
        host: None,
        status,
        digest,
        tls: None,
    };
    let k = http(200, Some(md5_hello));
    assert_eq!(run_probe(&k, target, ProbeId::from_bits(1), t), Ok(()));
    let k = http(204, None);
    assert_eq!(
        run_probe(&k, target, ProbeId::from_bits(1), t),
        Err(ProbeError::Status(200))
    );
    srv.join().unwrap();
    // a port nothing listens on: a freed ephemeral port (another test of this process may
    // take one again between the drop and the probe, so up to three fresh ports)
    let mut refused = Vec::new();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = run_probe(
            &Probe::Tcp,
            Endpoint::v4([127, 0, 0, 1], port),
            ProbeId::from_bits(1),
            t,
        );
        refused.push(r);
        if r == Err(ProbeError::Connect) {
            break;
        }
    }
    assert_eq!(
        refused.last(),
        Some(&Err(ProbeError::Connect)),
        "{refused:?}"
    );
    let ok = Probe::Command("exit 0".into());
    assert_eq!(run_probe(&ok, target, ProbeId::from_bits(1), t), Ok(()));
    let bad = Probe::Command("exit 3".into());
    assert_eq!(
        run_probe(&bad, target, ProbeId::from_bits(1), t),
        Err(ProbeError::Exit(3))
    );
    let slow = Probe::Command("sleep 5".into());
    assert_eq!(
        run_probe(
            &slow,
            target,
            ProbeId::from_bits(1),
            Duration::from_millis(100)
        ),
        Err(ProbeError::Timeout)
    );
}

#[test]
fn quorum_hooks_run_with_their_environment() {
    let dir = std::env::temp_dir().join(format!("lvsd-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let text = format!(
        "quorum-down -t 198.18.0.10:80 echo \"$LVS_EVENT $LVS_SERVICE\" >> {0}\n\
         quorum-up -t 198.18.0.10:80 echo \"$LVS_EVENT $LVS_SERVICE\" >> {0}; exit 3\n",
        out.display()
    );
    let cfg = HealthConfig::parse(&text, &rules()).unwrap();
    run_hook(&cfg.hooks[0]);
    // run_hook does not wait: poll for the line, bounded
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let wait_lines = |n: usize| {
        for _ in 0..200 {
            if read().lines().count() >= n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    wait_lines(1);
    run_hook(&cfg.hooks[1]);
    wait_lines(2);
    assert_eq!(
        read(),
        "quorum-down -t 198.18.0.10:80\nquorum-up -t 198.18.0.10:80\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
