//! lvsd as an AgentX sub-agent (`--snmp-agentx unix:PATH` or `tcp:ADDR:PORT`): net-snmp's
//! `snmpd` (`master agentx`) serves the director's virtual services and real servers, so
//! `snmpwalk` and SNMP monitoring see what `ipvsadm -L` shows. The tables carry the columns of
//! the LVS-MIB that net-snmp's LVS module defined (service address/port/protocol/scheduler, real
//! server address/port/weight/active/inactive connections, packet and byte counters) under
//! `enterprises.8225.4711`; the arc and the column numbers below are lvsd's own layout, not
//! checked against the original MIB file.
//!
//! | OID (under 1.3.6.1.4.1.8225.4711) | object |
//! |---|---|
//! | `2.0` | lvsNumServices (Gauge32) |
//! | `17.1.C.S` | lvsServiceEntry, service S (1-based, listing order), column C: 1 number, 2 proto (tcp 1, udp 2, sctp 3, fwmark 4), 3 addr (IpAddress; IPv6 as a 16-byte string), 4 port, 5 fwmark, 6 scheduler, 10 number of real servers, 11-15 conns, in/out packets (Counter32), in/out bytes (Counter64), 16-20 rates (cps, in/out pps, in/out bps) |
//! | `18.1.C.S.R` | lvsRealEntry, real server R of service S, column C: 1 number, 2 addr, 3 port, 4 forwarding (masq 1, route 2, tunnel 3), 5 weight, 6 active conns, 7 inactive conns, 8 persistent, 9-13 conns, in/out packets, in/out bytes, 14-18 rates |
//!
//! Read-only: a TestSet is answered notWritable. The session is re-opened every 2 s while
//! snmpd is away. Values come from one [`Snapshot`] per second, so a walk sees one instant.

use crate::agentx::{self, Header, Oid, Pdu, Range, Value};
use crate::mgmt::{Client, RealServer, Snapshot, Traffic, VirtualService};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The LVS-MIB's root, `enterprises.8225.4711`.
pub const BASE: [u32; 8] = [1, 3, 6, 1, 4, 1, 8225, 4711];
/// Most varbinds in one answer.
const MAX_VARS: usize = 1024;

fn oid(tail: &[u32]) -> Oid {
    BASE.iter().chain(tail).copied().collect()
}

fn addr_value(a: &str) -> Value {
    match a.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => Value::IpAddress(v4.octets()),
        Ok(std::net::IpAddr::V6(v6)) => Value::OctetString(v6.octets().to_vec()),
        Err(_) => Value::OctetString(Vec::new()),
    }
}

fn traffic_values(t: &Traffic) -> [Value; 10] {
    [
        Value::Counter32(t.conns as u32),
        Value::Counter32(t.inpkts as u32),
        Value::Counter32(t.outpkts as u32),
        Value::Counter64(t.inbytes),
        Value::Counter64(t.outbytes),
        Value::Gauge32(t.cps as u32),
        Value::Gauge32(t.inpps as u32),
        Value::Gauge32(t.outpps as u32),
        Value::Gauge32(t.inbps as u32),
        Value::Gauge32(t.outbps as u32),
    ]
}

fn service_columns(n: u32, s: &VirtualService) -> Vec<(u32, Value)> {
    let proto = match s.protocol {
        "tcp" => 1,
        "udp" => 2,
        "sctp" => 3,
        _ => 4,
    };
    let mut c = vec![
        (1, Value::Integer(n as i32)),
        (2, Value::Integer(proto)),
        (3, addr_value(&s.address)),
        (4, Value::Integer(i32::from(s.port))),
        (5, Value::Gauge32(s.fwmark)),
        (6, Value::OctetString(s.scheduler.as_bytes().to_vec())),
        (10, Value::Gauge32(s.real_servers.len() as u32)),
    ];
    c.extend((11..).zip(traffic_values(&s.traffic)));
    c
}

fn real_columns(n: u32, r: &RealServer) -> Vec<(u32, Value)> {
    let fwd = match r.forward {
        "masq" => 1,
        "route" => 2,
        _ => 3,
    };
    let mut c = vec![
        (1, Value::Integer(n as i32)),
        (2, addr_value(&r.address)),
        (3, Value::Integer(i32::from(r.port))),
        (4, Value::Integer(fwd)),
        (5, Value::Integer(r.weight.min(i32::MAX as u32) as i32)),
        (6, Value::Gauge32(r.active)),
        (7, Value::Gauge32(r.inactive)),
        (8, Value::Gauge32(r.persistent)),
    ];
    c.extend((9..).zip(traffic_values(&r.traffic)));
    c
}

/// The MIB view of a snapshot, in OID order.
pub fn mib(s: &Snapshot) -> BTreeMap<Oid, Value> {
    let mut m = BTreeMap::new();
    m.insert(oid(&[2, 0]), Value::Gauge32(s.services.len() as u32));
    for (si, svc) in (1u32..).zip(&s.services) {
        for (col, v) in service_columns(si, svc) {
            m.insert(oid(&[17, 1, col, si]), v);
        }
        for (ri, rs) in (1u32..).zip(&svc.real_servers) {
            for (col, v) in real_columns(ri, rs) {
                m.insert(oid(&[18, 1, col, si, ri]), v);
            }
        }
    }
    m
}

fn next(m: &BTreeMap<Oid, Value>, r: &Range) -> (Oid, Value) {
    let found = m
        .range(r.start.clone()..)
        .find(|(k, _)| r.include || **k != r.start);
    match found {
        Some((k, v)) if r.end.is_empty() || *k < r.end => (k.clone(), v.clone()),
        _ => (r.start.clone(), Value::EndOfMibView),
    }
}

/// The varbinds answering a Get, GetNext or GetBulk (RFC 2741 §7.2.3).
pub fn answer(m: &BTreeMap<Oid, Value>, pdu: &Pdu) -> Vec<(Oid, Value)> {
    match pdu {
        Pdu::Get(ranges) => ranges
            .iter()
            .take(MAX_VARS)
            .map(|r| {
                // an instance of a column that exists is noSuchInstance, else noSuchObject
                let column = &r.start[..r.start.len().min(BASE.len() + 3)];
                let known = r.start.len() > column.len()
                    && m.range(column.to_vec()..)
                        .next()
                        .is_some_and(|(k, _)| k.starts_with(column));
                let absent = if known {
                    Value::NoSuchInstance
                } else {
                    Value::NoSuchObject
                };
                (r.start.clone(), m.get(&r.start).cloned().unwrap_or(absent))
            })
            .collect(),
        Pdu::GetNext(ranges) => ranges.iter().take(MAX_VARS).map(|r| next(m, r)).collect(),
        Pdu::GetBulk(non_rep, max_rep, ranges) => {
            let split = usize::from(*non_rep).min(ranges.len());
            let mut out: Vec<(Oid, Value)> = ranges[..split].iter().map(|r| next(m, r)).collect();
            let mut cursors: Vec<Range> = ranges[split..].to_vec();
            for _ in 0..*max_rep {
                if cursors.is_empty() || out.len() + cursors.len() > MAX_VARS {
                    break;
                }
                let mut all_done = true;
                for c in &mut cursors {
                    let (k, v) = next(m, c);
                    all_done &= v == Value::EndOfMibView;
                    c.start = k.clone();
                    c.include = false;
                    out.push((k, v));
                }
                if all_done {
                    break;
                }
            }
            out
        }
        Pdu::Response(..) | Pdu::Other => Vec::new(),
    }
}

fn read_pdu<S: Read>(s: &mut S, buf: &mut Vec<u8>) -> Result<(Header, Pdu), String> {
    loop {
        if let Some((h, pdu, n)) = agentx::parse(buf).map_err(|e| format!("bad PDU: {e:?}"))? {
            buf.drain(..n);
            return Ok((h, pdu));
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => return Err("snmpd closed the session".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn expect_ok<S: Read>(s: &mut S, buf: &mut Vec<u8>, what: &str) -> Result<u32, String> {
    match read_pdu(s, buf)? {
        (h, Pdu::Response(0, _)) => Ok(h.session),
        (_, Pdu::Response(e, _)) => Err(format!("{what} refused: error {e}")),
        _ => Err(format!("{what}: expected a Response")),
    }
}

/// One session: open, register, then answer until snmpd goes away.
fn session<S: Read + Write>(mut s: S, client: &Client, first: &mut bool) -> Result<(), String> {
    let mut buf = Vec::new();
    s.write_all(&agentx::open(
        1,
        5,
        &BASE,
        "lvsd virtual services and real servers",
    ))
    .map_err(|e| e.to_string())?;
    let id = expect_ok(&mut s, &mut buf, "open")?;
    s.write_all(&agentx::register(id, 2, &BASE))
        .map_err(|e| e.to_string())?;
    expect_ok(&mut s, &mut buf, "register")?;
    if *first {
        eprintln!(
            "lvsd: agentx: session {id}, serving {}",
            BASE.map(|x| x.to_string()).join(".")
        );
        *first = false;
    }
    let mut cached: Option<(Instant, BTreeMap<Oid, Value>)> = None;
    loop {
        let (h, pdu) = read_pdu(&mut s, &mut buf)?;
        let reply = match (&pdu, h.ty) {
            (Pdu::Get(_) | Pdu::GetNext(_) | Pdu::GetBulk(..), _) => {
                if cached
                    .as_ref()
                    .is_none_or(|(t, _)| t.elapsed() > Duration::from_secs(1))
                {
                    let snap = client
                        .snapshot()
                        .map_err(|_| "the packet loop did not answer")?;
                    cached = Some((Instant::now(), mib(&snap)));
                }
                let m = cached.as_ref().map(|(_, m)| m);
                agentx::response(&h, 0, 0, &m.map(|m| answer(m, &pdu)).unwrap_or_default())
            }
            (_, agentx::ty::TEST_SET) => agentx::response(&h, 17, 1, &[]),
            (_, agentx::ty::CLOSE) => return Err("snmpd closed the session".into()),
            (Pdu::Response(..), _) => continue,
            // CommitSet/UndoSet/CleanupSet after a refused TestSet, and anything else
            _ => agentx::response(&h, 0, 0, &[]),
        };
        s.write_all(&reply).map_err(|e| e.to_string())?;
    }
}

/// Starts the sub-agent thread for `target` (`unix:PATH`, `tcp:ADDR:PORT`, or a path).
///
/// # Errors
/// The thread cannot be started.
pub fn spawn(target: String, client: Client) -> Result<(), String> {
    std::thread::Builder::new()
        .name("lvsd-agentx".into())
        .spawn(move || {
            let mut first = true;
            let mut last_err = String::new();
            loop {
                let r = if let Some(a) = target.strip_prefix("tcp:") {
                    std::net::TcpStream::connect(a)
                        .map_err(|e| e.to_string())
                        .and_then(|s| session(s, &client, &mut first))
                } else {
                    let p = target.strip_prefix("unix:").unwrap_or(&target);
                    std::os::unix::net::UnixStream::connect(p)
                        .map_err(|e| e.to_string())
                        .and_then(|s| session(s, &client, &mut first))
                };
                if let Err(e) = r {
                    if e != last_err {
                        eprintln!("lvsd: agentx {target}: {e}; retrying every 2 s");
                        last_err = e;
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod test {
    use super::*;

    fn snap() -> Snapshot {
        let rs = |a: &str, w| RealServer {
            address: a.into(),
            port: 8080,
            forward: "masq",
            weight: w,
            active: 3,
            inactive: 4,
            persistent: 0,
            health: None,
            traffic: Traffic {
                conns: 7,
                inbytes: 1 << 40,
                ..Traffic::default()
            },
        };
        Snapshot {
            uptime_ms: 1,
            sync_role: "none",
            table_entries: 0,
            table_capacity: 16,
            totals: Traffic::default(),
            services: vec![VirtualService {
                name: "TCP 198.18.0.10:80".into(),
                protocol: "tcp",
                address: "198.18.0.10".into(),
                port: 80,
                fwmark: 0,
                scheduler: "rr".into(),
                traffic: Traffic::default(),
                real_servers: vec![rs("198.18.1.11", 1), rs("198.18.1.12", 0)],
            }],
            counters: BTreeMap::new(),
            states: BTreeMap::new(),
        }
    }

    fn range(start: Oid, include: bool) -> Range {
        Range {
            start,
            include,
            end: Vec::new(),
        }
    }

    #[test]
    fn walks_in_order_and_ends() {
        let m = mib(&snap());
        // a walk by GetNext from the root visits every object once, in order, then ends
        let mut at = range(BASE.to_vec(), false);
        let mut seen = Vec::new();
        loop {
            let (k, v) = next(&m, &at);
            if v == Value::EndOfMibView {
                break;
            }
            seen.push(k.clone());
            at = range(k, false);
        }
        assert_eq!(seen.len(), m.len());
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            m[&oid(&[18, 1, 2, 1, 2])],
            Value::IpAddress([198, 18, 1, 12])
        );
        assert_eq!(m[&oid(&[18, 1, 5, 1, 2])], Value::Integer(0));
        assert_eq!(m[&oid(&[18, 1, 12, 1, 1])], Value::Counter64(1 << 40));
        assert_eq!(m[&oid(&[17, 1, 6, 1])], Value::OctetString(b"rr".to_vec()));
        // Get of an absent object; GetBulk's repetitions stop at the end of the view
        let g = answer(
            &m,
            &Pdu::Get(vec![
                range(oid(&[99]), false),
                range(oid(&[18, 1, 5, 1, 9]), false),
            ]),
        );
        assert_eq!(g[0].1, Value::NoSuchObject);
        assert_eq!(g[1].1, Value::NoSuchInstance);
        let b = answer(&m, &Pdu::GetBulk(0, 1000, vec![range(oid(&[18]), false)]));
        assert_eq!(b.len(), 2 * 18 + 1);
        assert_eq!(b.last().unwrap().1, Value::EndOfMibView);
        // the encoded answer parses back as a Response with our header
        let h = Header {
            ty: agentx::ty::GET_NEXT,
            flags: 0,
            session: 9,
            transaction: 8,
            packet: 7,
        };
        let bytes = agentx::response(&h, 0, 0, &b);
        let (h2, pdu, n) = agentx::parse(&bytes).unwrap().unwrap();
        assert_eq!(
            (h2.session, h2.transaction, h2.packet, n),
            (9, 8, 7, bytes.len())
        );
        assert_eq!(pdu, Pdu::Response(0, 0));
    }
}
