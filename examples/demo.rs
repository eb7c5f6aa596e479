//! The main demo: a director with three virtual services and a handful of real servers, fed a
//! deterministic synthetic mix of TCP and UDP flows over four minutes of virtual time, then the
//! listings an operator would look at: `ipvsadm -L -n`, `--stats`, `--rate` and a few `-c` lines.
//!
//! Run: `cargo run -p lvs-examples --example demo`

use lvs_core::director::{Director, DirectorConfig, OwnedMemory, PacketMeta, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::ListMode;
use lvs_core::{
    DestConfig, Duration, Endpoint, FlowKey, FwdMethod, Instant, Persistence, Protocol,
    ServiceConfig, ServiceKey, TcpFlags,
};
use lvs_sched::{AnyScheduler, SchedOptions};

/// A small deterministic generator (xorshift64*), so every run prints the same numbers.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A TCP connection in flight in the synthetic workload.
struct Flow {
    client: Endpoint,
    vip: Endpoint,
    server: Option<Endpoint>,
    packets_left: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mem = OwnedMemory::new(1 << 16, 8, 64);
    let seed = SipKey(0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
    let mut dir = Director::new(DirectorConfig::new(seed), mem.borrow(), Instant::ZERO)?;
    let opts = SchedOptions::default();

    // -A -t 198.18.0.1:80 -s wlc ; three NAT real servers with weights 3, 2, 1
    let web = Endpoint::v4([198, 18, 0, 1], 80);
    let s_web = dir.add_service(
        ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: web,
        }),
        AnyScheduler::from_name("wlc", &opts)?,
    )?;
    for (i, w) in [(1u8, 3u32), (2, 2), (3, 1)] {
        dir.add_dest(
            s_web,
            DestConfig::new(Endpoint::v4([198, 18, 1, i], 8080), FwdMethod::Masq, w),
        )?;
    }
    // -A -u 198.18.0.1:53 -s rr ; two direct-routing resolvers
    let dns = Endpoint::v4([198, 18, 0, 1], 53);
    let s_dns = dir.add_service(
        ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Udp,
            vip: dns,
        }),
        AnyScheduler::from_name("rr", &opts)?,
    )?;
    for i in [4u8, 5] {
        dir.add_dest(
            s_dns,
            DestConfig::new(Endpoint::v4([198, 18, 1, i], 53), FwdMethod::DirectRoute, 1),
        )?;
    }
    // -A -t 198.18.0.2:443 -s wrr -p 300 -M 255.255.255.0 ; two tunnelled servers
    let tls = Endpoint::v4([198, 18, 0, 2], 443);
    let s_tls = dir.add_service(
        ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: tls,
        })
        .with_persistence(Persistence::new(Duration::from_secs(300)).with_prefix(24)),
        AnyScheduler::from_name("wrr", &opts)?,
    )?;
    for (i, w) in [(6u8, 2u32), (7, 1)] {
        dir.add_dest(
            s_tls,
            DestConfig::new(Endpoint::v4([198, 18, 1, i], 443), FwdMethod::Tunnel, w),
        )?;
    }

    let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);
    let mut flows: Vec<Flow> = Vec::new();
    let mut sent = [0u64; 3]; // client packets: web, dns, tls
    let mut verdicts = [0u64; 4]; // forward, reply, deliver, drop
    let step = Duration::from_millis(50);
    let mut now = Instant::ZERO;
    let end = Instant::from_secs(240);
    let mut next_port: u16 = 20000;
    while now < end {
        // arrivals: about 12 web, 1 TLS and 6 DNS per 50 ms step
        for _ in 0..(8 + rng.below(9)) {
            let net = rng.below(40) as u8;
            let client = Endpoint::v4([198, 19, net, 1 + rng.below(250) as u8], next_port);
            next_port = next_port.wrapping_add(1).max(1024);
            let tls_flow = rng.below(12) == 0;
            flows.push(Flow {
                client,
                vip: if tls_flow { tls } else { web },
                server: None,
                packets_left: 2 + rng.below(30) as u32,
            });
        }
        for _ in 0..6 {
            let c = Endpoint::v4([198, 19, 200, 1 + rng.below(200) as u8], 5353);
            let v = dir.handle_inbound(
                now,
                &PacketMeta::new(FlowKey::new(Protocol::Udp, c, dns), TcpFlags::NONE, 72),
            );
            sent[1] += 1;
            tally(&mut verdicts, &v);
        }
        // advance each TCP flow by one exchange
        flows.retain_mut(|f| {
            let idx = if f.vip == web { 0 } else { 2 };
            let flags = match (f.server, f.packets_left) {
                (None, _) => TcpFlags::SYN,
                (Some(_), 1) => TcpFlags(0x11), // FIN+ACK closes
                _ => TcpFlags::ACK,
            };
            let len = if flags == TcpFlags::ACK {
                40 + rng.below(1400) as u32
            } else {
                60
            };
            let v = dir.handle_inbound(
                now,
                &PacketMeta::new(FlowKey::new(Protocol::Tcp, f.client, f.vip), flags, len),
            );
            sent[idx] += 1;
            tally(&mut verdicts, &v);
            if let Verdict::Forward(fw) = v {
                f.server = Some(fw.daddr);
                if fw.method == FwdMethod::Masq {
                    // the real server answers through the director: a NAT reply
                    let rflags = if flags == TcpFlags::SYN {
                        TcpFlags(0x12)
                    } else {
                        flags
                    };
                    let r = dir.handle_outbound(
                        now,
                        &PacketMeta::new(
                            FlowKey::new(Protocol::Tcp, fw.daddr, f.client),
                            rflags,
                            40 + rng.below(1460) as u32,
                        ),
                    );
                    tally(&mut verdicts, &r);
                }
            }
            f.packets_left = f.packets_left.saturating_sub(1);
            f.packets_left > 0 && f.server.is_some()
        });
        now += step;
        if dir.poll_timeout().is_some_and(|t| t <= now) {
            let _ = dir.handle_timeout(now);
        }
    }

    let mut out = String::new();
    dir.write_list(&mut out, ListMode::Plain)?;
    out.push('\n');
    dir.write_list(&mut out, ListMode::Stats { exact: false })?;
    out.push('\n');
    dir.write_list(&mut out, ListMode::Rate { exact: false })?;
    out.push('\n');
    let mut conns = String::new();
    dir.write_conns(&mut conns, now)?;
    let mut lines = conns.lines();
    for l in lines.by_ref().take(8) {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&format!("... {} more entries\n", lines.count()));
    print!("{out}");

    let c = dir.counters();
    println!(
        "\nclient packets: web {} dns {} tls {}; verdicts: forward {} reply {} deliver {} drop {}",
        sent[0], sent[1], sent[2], verdicts[0], verdicts[1], verdicts[2], verdicts[3]
    );
    println!(
        "table: {} live of {}; expired {}; refused (full) {}; no destination {}",
        dir.table().len(),
        dir.table().capacity(),
        c.expired,
        c.refused_full,
        c.no_destination
    );
    Ok(())
}

fn tally(v: &mut [u64; 4], verdict: &Verdict) {
    let i = match verdict {
        Verdict::Forward(_) => 0,
        Verdict::Reply(_) => 1,
        Verdict::Deliver => 2,
        Verdict::Drop(_) => 3,
    };
    v[i] += 1;
}
