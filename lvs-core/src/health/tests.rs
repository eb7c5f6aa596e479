//! Unit tests and properties of the health-check machine.

use super::*;
use crate::addr::{Endpoint, Protocol, ServiceKey};
use crate::dest::{DestConfig, FwdMethod};
use crate::time::{Duration, Instant};
use proptest::prelude::*;
use std::string::ToString;
use std::vec::Vec;

type Hc<'a> = HealthChecker<'a, 4, 8>;

fn svc() -> ServiceKey {
    ServiceKey::Addr {
        proto: Protocol::Tcp,
        vip: Endpoint::v4([198, 18, 0, 1], 80),
    }
}

fn rs(n: u8) -> Endpoint {
    Endpoint::v4([198, 18, 1, n], 80)
}

fn last(e: Endpoint) -> u8 {
    match e.addr {
        crate::addr::IpAddr::V4(a) => a.octets()[3],
        crate::addr::IpAddr::V6(a) => a.octets()[15],
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn timing(interval: u64, timeout: u64, rise: u32, fall: u32) -> Timing {
    Timing {
        interval: Duration::from_millis(interval),
        timeout: Duration::from_millis(timeout),
        rise,
        fall,
        jitter: Duration::ZERO,
    }
}

fn check(n: u8, weight: u32, t: Timing, on_failure: OnFailure) -> ServerCheck<'static> {
    ServerCheck {
        service: svc(),
        dest: DestConfig::new(rs(n), FwdMethod::Masq, weight),
        target: rs(n),
        probe: ProbeKind::Tcp,
        timing: t,
        on_failure,
        initially_up: true,
    }
}

/// [`check`] of a server that is quiesced when it fails.
fn quiesced(n: u8, weight: u32, t: Timing) -> ServerCheck<'static> {
    check(n, weight, t, OnFailure::Quiesce)
}

fn outputs(hc: &mut Hc<'_>) -> Vec<Output> {
    core::iter::from_fn(|| hc.poll_output()).collect()
}

/// Runs one round at `now`: every due probe gets `ok(server)`.
fn round(hc: &mut Hc<'_>, now: Instant, ok: impl Fn(Endpoint) -> bool) {
    let due: Vec<_> = hc.handle_timeout(now, 7).collect();
    for p in due {
        let r = if ok(p.server) {
            Ok(())
        } else {
            Err(ProbeError::Connect)
        };
        assert!(hc.probe_result(now, p.id, r));
    }
}

fn one(on_failure: OnFailure) -> Hc<'static> {
    let mut hc = Hc::new();
    hc.add_service(ServiceHealth::new(svc())).unwrap();
    hc.add_server(check(1, 5, timing(1000, 500, 2, 3), on_failure), ms(0))
        .unwrap();
    hc
}

/// The operation that sets the weight of `addr` in `service`.
fn set_weight(service: ServiceKey, addr: Endpoint, weight: u32) -> Output {
    Output::Op(DirectorOp::SetWeight {
        service,
        addr,
        weight,
    })
}

/// Asserts the next outputs: the weight of `addr` in [`svc`] set to `weight` and the server
/// reported down (weight 0) or up, then `then`.
fn expect_change<const N: usize>(hc: &mut Hc<'_>, addr: Endpoint, weight: u32, then: [Output; N]) {
    let service = svc();
    let event = if weight == 0 {
        HealthEvent::ServerDown { service, addr }
    } else {
        HealthEvent::ServerUp { service, addr }
    };
    let mut want = std::vec![set_weight(service, addr, weight), Output::Event(event)];
    want.extend(then);
    assert_eq!(outputs(hc), want);
}

#[test]
fn quiesce_after_fall_failures_and_restore_after_rise_successes() {
    let mut hc = one(OnFailure::Quiesce);
    round(&mut hc, ms(0), |_| false);
    round(&mut hc, ms(1000), |_| false);
    assert_eq!(outputs(&mut hc), []);
    round(&mut hc, ms(2000), |_| false);
    let (service, addr) = (svc(), rs(1));
    expect_change(
        &mut hc,
        addr,
        0,
        [Output::Event(HealthEvent::QuorumLost { service })],
    );
    assert_eq!(hc.is_up(&service, &addr), Some(false));
    round(&mut hc, ms(3000), |_| true);
    assert_eq!(outputs(&mut hc), []);
    round(&mut hc, ms(4000), |_| true);
    expect_change(
        &mut hc,
        addr,
        5,
        [Output::Event(HealthEvent::QuorumGained { service })],
    );
}

#[test]
fn a_success_resets_the_failure_count() {
    let mut hc = one(OnFailure::Quiesce);
    for (i, ok) in [false, false, true, false, false, true]
        .into_iter()
        .enumerate()
    {
        round(&mut hc, ms(i as u64 * 1000), |_| ok);
    }
    assert_eq!(outputs(&mut hc), []);
    assert_eq!(hc.counters().failures, 4);
}

#[test]
fn remove_on_failure_and_add_back_on_rise() {
    let mut hc = one(OnFailure::Remove);
    for i in 0..3 {
        round(&mut hc, ms(i * 1000), |_| false);
    }
    let out = outputs(&mut hc);
    assert_eq!(
        out[0],
        Output::Op(DirectorOp::RemoveDest {
            service: svc(),
            addr: rs(1)
        })
    );
    for i in 3..5 {
        round(&mut hc, ms(i * 1000), |_| true);
    }
    assert_eq!(
        outputs(&mut hc)[0],
        Output::Op(DirectorOp::AddDest {
            service: svc(),
            dest: DestConfig::new(rs(1), FwdMethod::Masq, 5)
        })
    );
}

#[test]
fn a_probe_without_a_result_fails_at_its_deadline() {
    let mut hc = one(OnFailure::Quiesce);
    let p = hc.handle_timeout(ms(0), 1).next().unwrap();
    assert_eq!(p.timeout, Duration::from_millis(500));
    assert_eq!(hc.poll_timeout(), Some(ms(500)));
    assert_eq!(hc.handle_timeout(ms(499), 1).count(), 0);
    assert_eq!(hc.handle_timeout(ms(500), 1).count(), 0);
    assert_eq!(hc.counters().timeouts, 1);
    assert_eq!(hc.counters().failures, 1);
    // the late answer is ignored, and so is an unknown id
    assert!(!hc.probe_result(ms(600), p.id, Ok(())));
    assert!(!hc.probe_result(ms(600), ProbeId::from_bits(0xffff_0000), Ok(())));
    assert_eq!(hc.counters().stale_results, 2);
    assert_eq!(hc.poll_timeout(), Some(ms(1000)));
}

#[test]
fn sorry_server_while_the_pool_is_empty() {
    let mut hc = Hc::new();
    let sorry = DestConfig::new(rs(99), FwdMethod::Masq, 1);
    hc.add_service(ServiceHealth {
        sorry: Some(sorry),
        ..ServiceHealth::new(svc())
    })
    .unwrap();
    let t = timing(1000, 500, 1, 1);
    hc.add_server(quiesced(1, 1, t), ms(0)).unwrap();
    hc.add_server(quiesced(2, 1, t), ms(0)).unwrap();
    assert_eq!(outputs(&mut hc), []);
    round(&mut hc, ms(0), |a| a != rs(1));
    assert_eq!(outputs(&mut hc).len(), 2, "rs1 down, no sorry yet");
    round(&mut hc, ms(1000), |_| false);
    let (service, addr) = (svc(), rs(2));
    expect_change(
        &mut hc,
        addr,
        0,
        [
            Output::Op(DirectorOp::AddDest {
                service,
                dest: sorry,
            }),
            Output::Event(HealthEvent::QuorumLost { service }),
        ],
    );
    round(&mut hc, ms(2000), |a| a == rs(2));
    expect_change(
        &mut hc,
        addr,
        1,
        [
            Output::Op(DirectorOp::RemoveDest {
                service,
                addr: rs(99),
            }),
            Output::Event(HealthEvent::QuorumGained { service }),
        ],
    );
}

#[test]
fn quorum_with_hysteresis() {
    let mut hc = Hc::new();
    hc.add_service(ServiceHealth {
        quorum: 5,
        hysteresis: 2,
        ..ServiceHealth::new(svc())
    })
    .unwrap();
    let t = timing(1000, 500, 1, 1);
    hc.add_server(quiesced(1, 4, t), ms(0)).unwrap();
    hc.add_server(quiesced(2, 4, t), ms(0)).unwrap();
    let q = |hc: &Hc<'_>| hc.has_quorum(&svc()).unwrap();
    assert!(q(&hc));
    round(&mut hc, ms(0), |a| a == rs(2)); // 4 up: not below 5 - 2
    assert!(q(&hc));
    round(&mut hc, ms(1000), |_| false); // 0 up
    assert!(!q(&hc));
    round(&mut hc, ms(2000), |a| a == rs(2)); // 4 up: below 5 + 2
    assert!(!q(&hc));
    round(&mut hc, ms(3000), |_| true); // 8 up
    assert!(q(&hc));
}

#[test]
fn alpha_mode_starts_down() {
    let mut hc = Hc::new();
    hc.add_service(ServiceHealth::new(svc())).unwrap();
    let mut c = check(1, 3, timing(1000, 500, 2, 1), OnFailure::Quiesce);
    c.initially_up = false;
    hc.add_server(c, ms(0)).unwrap();
    assert_eq!(outputs(&mut hc)[0], set_weight(svc(), rs(1), 0));
}

#[test]
fn a_flap_between_polls_yields_nothing() {
    let mut hc = Hc::new();
    hc.add_service(ServiceHealth::new(svc())).unwrap();
    hc.add_server(
        check(1, 3, timing(1000, 500, 1, 1), OnFailure::Remove),
        ms(0),
    )
    .unwrap();
    round(&mut hc, ms(0), |_| false);
    round(&mut hc, ms(1000), |_| true);
    assert_eq!(outputs(&mut hc), []);
}

#[test]
fn jitter_only_shortens_intervals() {
    let mut hc = Hc::new();
    hc.add_service(ServiceHealth::new(svc())).unwrap();
    let mut t = timing(2000, 500, 1, 1);
    t.jitter = Duration::from_millis(500);
    hc.add_server(quiesced(1, 1, t), ms(0)).unwrap();
    let mut seen = Vec::new();
    let mut now = ms(0);
    for r in 1..50u64 {
        let p = hc
            .handle_timeout(now, r.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .next()
            .unwrap();
        hc.probe_result(now, p.id, Ok(()));
        let next = hc.poll_timeout().unwrap();
        let gap = next.saturating_since(now).total_millis();
        assert!((1500..=2000).contains(&gap), "{gap}");
        seen.push(gap);
        now = next;
    }
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.len() > 10, "jitter varies: {seen:?}");
}

#[test]
fn configurations_that_make_no_sense_are_refused() {
    use HealthConfigError as E;
    let mut hc = Hc::new();
    assert_eq!(
        hc.add_server(quiesced(1, 1, Timing::DEFAULT), ms(0)),
        Err(E::UnknownService)
    );
    assert_eq!(
        hc.add_service(ServiceHealth {
            quorum: 1,
            hysteresis: 2,
            ..ServiceHealth::new(svc())
        }),
        Err(E::HysteresisOverQuorum)
    );
    hc.add_service(ServiceHealth {
        sorry: Some(DestConfig::new(rs(9), FwdMethod::Masq, 1)),
        ..ServiceHealth::new(svc())
    })
    .unwrap();
    assert_eq!(
        hc.add_service(ServiceHealth::new(svc())),
        Err(E::DuplicateService)
    );
    let bad = |t: Timing| quiesced(1, 1, t);
    for (t, e) in [
        (timing(1000, 500, 0, 1), E::ZeroRise),
        (timing(1000, 500, 1, 0), E::ZeroFall),
        (timing(0, 0, 1, 1), E::ZeroInterval),
        (timing(1000, 0, 1, 1), E::ZeroTimeout),
        (timing(1000, 1001, 1, 1), E::TimeoutOverInterval),
        (
            Timing {
                jitter: Duration::from_millis(1000),
                ..timing(1000, 500, 1, 1)
            },
            E::JitterNotBelowInterval,
        ),
    ] {
        assert_eq!(hc.add_server(bad(t), ms(0)), Err(e));
    }
    let mut c = quiesced(1, 1, Timing::DEFAULT);
    c.probe = ProbeKind::Http {
        path: "/",
        host: None,
        status: 700,
        digest: None,
        tls: false,
    };
    assert_eq!(hc.add_server(c, ms(0)), Err(E::BadStatus));
    c.probe = ProbeKind::Command { command: " " };
    assert_eq!(hc.add_server(c, ms(0)), Err(E::EmptyProbeArgument));
    c.probe = ProbeKind::Tls {
        server_name: Some(""),
    };
    assert_eq!(hc.add_server(c, ms(0)), Err(E::EmptyProbeArgument));
    assert_eq!(
        hc.add_server(quiesced(9, 1, Timing::DEFAULT), ms(0)),
        Err(E::SorryIsRealServer)
    );
    hc.add_server(quiesced(1, 1, Timing::DEFAULT), ms(0))
        .unwrap();
    assert_eq!(
        hc.add_server(quiesced(1, 1, Timing::DEFAULT), ms(0)),
        Err(E::DuplicateServer)
    );
    for n in 2..9 {
        hc.add_server(quiesced(n, 1, Timing::DEFAULT), ms(0))
            .unwrap();
    }
    assert_eq!(
        hc.add_server(quiesced(10, 1, Timing::DEFAULT), ms(0)),
        Err(E::Full)
    );
    assert_eq!(
        E::TimeoutOverInterval.to_string(),
        "the timeout is longer than the interval"
    );
}

/// The director as the outputs leave it: per server its weight, `None` when removed.
#[derive(Default)]
struct Model {
    weights: Vec<(Endpoint, Option<u32>)>,
    sorry: bool,
}

impl Model {
    fn apply(&mut self, o: Output, sorry: Endpoint) {
        let set = |m: &mut Model, a: Endpoint, w: Option<u32>| {
            if let Some(e) = m.weights.iter_mut().find(|e| e.0 == a) {
                e.1 = w;
            }
        };
        match o {
            Output::Op(DirectorOp::SetWeight { addr, weight, .. }) => set(self, addr, Some(weight)),
            Output::Op(DirectorOp::AddDest { dest, .. }) if dest.addr == sorry => {
                assert!(!self.sorry, "sorry server added twice");
                self.sorry = true;
            }
            Output::Op(DirectorOp::RemoveDest { addr, .. }) if addr == sorry => {
                assert!(self.sorry, "sorry server removed twice");
                self.sorry = false;
            }
            Output::Op(DirectorOp::AddDest { dest, .. }) => set(self, dest.addr, Some(dest.weight)),
            Output::Op(DirectorOp::RemoveDest { addr, .. }) => set(self, addr, None),
            Output::Event(_) => {}
        }
    }
}

proptest! {
    /// After any sequence of results, polled at any points, the director holds exactly what
    /// the servers' states say: configured weight when up, 0 or absent when down, and the
    /// sorry server exactly while no server is up.
    #[test]
    fn outputs_track_the_state(
        results in proptest::collection::vec((0usize..3, any::<bool>(), any::<bool>()), 0..200),
        remove in any::<bool>(),
        rise in 1u32..4,
        fall in 1u32..4,
    ) {
        let on_failure = if remove { OnFailure::Remove } else { OnFailure::Quiesce };
        let sorry = rs(99);
        let mut hc = Hc::new();
        hc.add_service(ServiceHealth {
            sorry: Some(DestConfig::new(sorry, FwdMethod::Masq, 1)),
            ..ServiceHealth::new(svc())
        }).unwrap();
        let t = timing(1000, 1000, rise, fall);
        let mut m = Model::default();
        for n in 0..3u8 {
            hc.add_server(check(n + 1, u32::from(n) + 1, t, on_failure), ms(0)).unwrap();
            m.weights.push((rs(n + 1), Some(u32::from(n) + 1)));
        }
        // reference: per server up flag and streak
        let mut up = [true; 3];
        let mut streak = [0u32; 3];
        let mut now = 0u64;
        for (server, ok, poll) in results {
            // start every due probe, answer the chosen server's, let the others time out
            let due: Vec<_> = hc.handle_timeout(ms(now), now).collect();
            for p in due {
                let i = usize::from(last(p.server)) - 1;
                if i == server {
                    hc.probe_result(ms(now), p.id, if ok { Ok(()) } else { Err(ProbeError::Answer) });
                    let same = up[i] == ok;
                    streak[i] = if same { 0 } else { streak[i] + 1 };
                    if !same && streak[i] >= if ok { rise } else { fall } {
                        up[i] = ok;
                        streak[i] = 0;
                    }
                } else {
                    // no answer: a failure at the deadline
                    streak[i] = if !up[i] { 0 } else { streak[i] + 1 };
                    if up[i] && streak[i] >= fall {
                        up[i] = false;
                        streak[i] = 0;
                    }
                }
            }
            now += 1000;
            if poll {
                while let Some(o) = hc.poll_output() {
                    m.apply(o, sorry);
                }
            }
        }
        // the last round's unanswered probes fail at this call
        let _ = hc.handle_timeout(ms(now), 0).count();
        while let Some(o) = hc.poll_output() {
            m.apply(o, sorry);
        }
        for (i, &u) in up.iter().enumerate() {
            prop_assert_eq!(hc.is_up(&svc(), &rs(i as u8 + 1)), Some(u));
            let want = match (u, remove) {
                (true, _) => Some(i as u32 + 1),
                (false, false) => Some(0),
                (false, true) => None,
            };
            prop_assert_eq!(m.weights[i].1, want);
        }
        prop_assert_eq!(m.sorry, !up.iter().any(|&u| u));
    }

    /// A server that dies is down within `fall * interval + timeout`, whatever the timing and
    /// jitter; one that comes back is up within `rise * interval` plus its answer time.
    #[test]
    fn detection_and_recovery_bounds(
        interval in 100u64..5000,
        timeout_frac in 1u64..=100,
        jitter_frac in 0u64..100,
        rise in 1u32..5,
        fall in 1u32..5,
        death in 0u64..20_000,
        downtime in 0u64..20_000,
        answers_refused in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let timeout = (interval * timeout_frac / 100).max(1);
        let latency = timeout / 2;
        let t = Timing {
            interval: Duration::from_millis(interval),
            timeout: Duration::from_millis(timeout),
            rise,
            fall,
            jitter: Duration::from_millis(interval * jitter_frac / 100),
        };
        let mut hc = Hc::new();
        hc.add_service(ServiceHealth::new(svc())).unwrap();
        hc.add_server(quiesced(1, 1, t), ms(0)).unwrap();
        let revive = death + downtime;
        let alive = |at: u64| at < death || at >= revive;
        // pending answers: (due time, id, ok)
        let mut answers: Vec<(u64, ProbeId, bool)> = Vec::new();
        let (mut down_at, mut up_at) = (None, None);
        let mut rng = seed;
        let end = revive + u64::from(rise + 2) * interval + timeout;
        let mut now = 0u64;
        while now <= end {
            answers.sort_by_key(|a| a.0);
            let next_answer = answers.first().map(|a| a.0);
            let next_timer = hc.poll_timeout().map(|i| i.total_millis());
            now = match (next_answer, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if next_answer == Some(now) {
                let (_, id, ok) = answers.remove(0);
                hc.probe_result(ms(now), id, if ok { Ok(()) } else { Err(ProbeError::Connect) });
            } else {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                let due: Vec<_> = hc.handle_timeout(ms(now), rng).collect();
                for p in due {
                    if alive(now) {
                        answers.push((now + latency, p.id, true));
                    } else if answers_refused {
                        answers.push((now + latency, p.id, false));
                    } // else: silence, the deadline fails it
                }
            }
            while let Some(o) = hc.poll_output() {
                match o {
                    Output::Event(HealthEvent::ServerDown { .. }) if now >= death => {
                        down_at.get_or_insert(now);
                    }
                    Output::Event(HealthEvent::ServerDown { .. }) => {
                        prop_assert!(false, "down at {} before its death at {}", now, death);
                    }
                    Output::Event(HealthEvent::ServerUp { .. }) => {
                        up_at = Some(now);
                    }
                    _ => {}
                }
            }
        }
        // a death shorter than the detection window may go unnoticed; a long one may not
        let bound = u64::from(fall) * interval + timeout;
        if downtime > bound {
            let d = down_at.expect("a long death is detected");
            prop_assert!(d - death <= bound, "detected after {} ms > {}", d - death, bound);
        }
        if let Some(d) = down_at {
            prop_assert!(d < revive + timeout);
            let u = up_at.expect("recovered");
            prop_assert!(u >= revive);
            let rbound = u64::from(rise) * interval + latency;
            prop_assert!(u - revive <= rbound, "recovered after {} ms > {}", u - revive, rbound);
        }
    }
}
