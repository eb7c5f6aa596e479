//! The master's send rules (`ip_vs_sync_conn_needed` and its callers), replayed on hand-traced
//! packet sequences.

use lvs_core::addr::{AddrFamily, Protocol};
use lvs_core::sync::{
    conn_flags, sctp_state, tcp_state, SyncFacts, SyncPolicy, SyncPolicyError, SyncTrack,
    SyncVersion,
};
use lvs_core::time::{Duration, Instant};

fn facts(protocol: Protocol, state: u16, flags: u32, pkts: u32, timeout_s: u64) -> SyncFacts {
    SyncFacts {
        family: AddrFamily::Ipv4,
        protocol,
        state,
        flags,
        pkts,
        timeout: Duration::from_secs(timeout_s),
        in_persistence: false,
    }
}

/// A connection as the director would keep it for sync purposes.
struct Conn {
    facts: SyncFacts,
    in_pkts: u32,
    track: SyncTrack,
}

impl Conn {
    fn new(protocol: Protocol, state: u16, flags: u32, timeout_s: u64, created: Instant) -> Self {
        Conn {
            facts: facts(protocol, state, flags, 0, timeout_s),
            in_pkts: 0,
            track: SyncTrack::new(created),
        }
    }

    /// One input packet in `state` at `now`: returns whether the master sends the connection.
    fn packet(&mut self, policy: &SyncPolicy, state: u16, now: Instant) -> bool {
        self.facts.state = state;
        self.in_pkts += 1;
        self.facts.pkts = policy.pkts_for_packet(self.facts.flags, self.in_pkts);
        let d = policy.decide(&self.facts, self.track, now);
        self.track = d.track;
        d.send
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn defaults_match_the_kernel() {
    let p = SyncPolicy::default();
    assert_eq!(p, SyncPolicy::DEFAULT);
    assert_eq!((p.threshold(), p.period()), (3, 50));
    assert_eq!(p.refresh_period(), Duration::ZERO);
    assert_eq!((p.retries(), p.persist_mode()), (0, false));
    assert_eq!(p.version(), SyncVersion::V1);
}

#[test]
fn sysctl_validation() {
    assert!(SyncPolicy::new(3, 0).is_ok());
    assert!(SyncPolicy::new(0, 50).is_ok());
    assert!(SyncPolicy::new(49, 50).is_ok());
    assert_eq!(
        SyncPolicy::new(50, 50),
        Err(SyncPolicyError::Threshold {
            threshold: 50,
            period: 50
        })
    );
    assert!(SyncPolicy::new(u32::MAX, 0).is_err());
    assert_eq!(
        SyncPolicy::DEFAULT.with_retries(4),
        Err(SyncPolicyError::Retries(4))
    );
    assert_eq!(SyncPolicy::DEFAULT.with_retries(3).unwrap().retries(), 3);
}

#[test]
fn tcp_syncs_on_threshold_period_and_on_closing_state_changes() {
    let p = SyncPolicy::DEFAULT;
    let t = at(5_000);
    let mut c = Conn::new(Protocol::Tcp, tcp_state::NONE, 0, 60, t);
    let mut log = Vec::new();
    let states = [
        tcp_state::SYN_RECV,    // 1: not a synced state
        tcp_state::ESTABLISHED, // 2: changed, but ESTABLISHED waits for the threshold
        tcp_state::ESTABLISHED, // 3: pkts == 3 -> send
        tcp_state::ESTABLISHED, // 4
        tcp_state::FIN_WAIT,    // 5: forced
        tcp_state::FIN_WAIT,    // 6: no change, 6 % 50 != 3
        tcp_state::TIME_WAIT,   // 7: forced
        tcp_state::CLOSE,       // 8: forced
        tcp_state::LAST_ACK,    // 9: not a synced state
        tcp_state::CLOSE_WAIT,  // 10: forced (changed since CLOSE was sent)
        tcp_state::CLOSE_WAIT,  // 11
    ];
    for s in states {
        log.push(c.packet(&p, s, t));
    }
    assert_eq!(
        log,
        [false, false, true, false, true, false, true, true, false, true, false]
    );
    assert_eq!(c.track.old_state(), tcp_state::CLOSE_WAIT);
}

/// Which of the first `n` packets of a connection staying in `state` the master sends.
fn synced(p: &SyncPolicy, protocol: Protocol, state: u16, timeout_s: u64, n: u32) -> Vec<u32> {
    let t = at(0);
    let mut c = Conn::new(protocol, state, 0, timeout_s, t);
    (1..=n).filter(|_| c.packet(p, state, t)).collect()
}

#[test]
fn established_tcp_follows_pkts_mod_period() {
    let sent = synced(
        &SyncPolicy::DEFAULT,
        Protocol::Tcp,
        tcp_state::ESTABLISHED,
        900,
        160,
    );
    assert_eq!(sent, [3, 53, 103, 153]);
}

#[test]
fn udp_has_one_state_and_is_never_forced() {
    let p = SyncPolicy::new(2, 10).unwrap();
    assert_eq!(synced(&p, Protocol::Udp, 0, 300, 35), [2, 12, 22, 32]);
}

#[test]
fn sctp_rules() {
    let p = SyncPolicy::DEFAULT;
    let t = at(0);
    let mut c = Conn::new(Protocol::Sctp, sctp_state::NONE, 0, 900, t);
    let seq = [
        (sctp_state::COOKIE_ECHOED, false), // 1: not synced
        (sctp_state::ESTABLISHED, false),   // 2
        (sctp_state::ESTABLISHED, true),    // 3: threshold
        (sctp_state::SHUTDOWN_SENT, true),  // 4: forced
        (sctp_state::SHUTDOWN_ACK_SENT, true),
        (sctp_state::CLOSED, true),
        (sctp_state::CLOSED, false),
    ];
    for (i, (s, want)) in seq.into_iter().enumerate() {
        assert_eq!(c.packet(&p, s, t), want, "packet {}", i + 1);
    }
}

#[test]
fn without_periods_only_the_threshold_packet_is_sent() {
    let p = SyncPolicy::new(3, 0).unwrap();
    let t = at(0);
    assert_eq!(synced(&p, Protocol::Udp, 0, 300, 200), [3]);
    // Templates too.
    let tpl = facts(Protocol::Tcp, 0, conn_flags::TEMPLATE, 4, 300);
    assert!(!p.conn_needed(&tpl, SyncTrack::new(t), t).send);
    let tpl3 = SyncFacts { pkts: 3, ..tpl };
    assert!(p.conn_needed(&tpl3, SyncTrack::new(t), t).send);
}

#[test]
fn templates_pass_the_period_check_every_time() {
    let p = SyncPolicy::DEFAULT;
    let t = at(0);
    let tpl = facts(Protocol::Tcp, 0, conn_flags::TEMPLATE, 17, 300);
    let d = p.conn_needed(&tpl, SyncTrack::new(t), t);
    assert!(d.send);
    assert_eq!(d.track.announced_expiry(), at(300_000));
    // A template's state change is never forced, and TCP states do not gate it.
    let tpl = facts(Protocol::Tcp, 1, conn_flags::TEMPLATE, 18, 300);
    assert!(p.conn_needed(&tpl, d.track, t).send);
}

#[test]
fn refresh_period_limits_resends_and_counts_retries() {
    // period 0, refresh 10 s, 2 retries; UDP with a 300 s timeout.
    let p = SyncPolicy::new(3, 0)
        .unwrap()
        .with_refresh_period(Duration::from_secs(10))
        .with_retries(2)
        .unwrap();
    let mut c = Conn::new(Protocol::Udp, 0, 0, 300, at(0));
    let mut send = |ms: u64| c.packet(&p, 0, at(ms));
    // First packet: the announced expiry (0) is far from now + timeout -> send.
    assert!(send(1_000));
    // Within the window: a retry is allowed only refresh/8 = 1.25 s after the last send.
    assert!(!send(1_100));
    assert!(send(2_300)); // retry 1
    assert!(!send(2_400));
    assert!(send(3_600)); // retry 2
    assert!(!send(4_900)); // retries exhausted
    assert!(!send(12_400)); // expiry moved by 8.8 s < 10 s: still recent
    assert!(send(13_700)); // moved by 10.1 s: full refresh
    assert!(!send(13_800));
    assert_eq!(c.track.retries(), 0);
    assert_eq!(c.track.announced_expiry(), at(313_700));
}

#[test]
fn refresh_window_is_capped_by_half_the_timeout_but_at_least_10s() {
    let p = SyncPolicy::new(3, 0)
        .unwrap()
        .with_refresh_period(Duration::from_secs(60));
    // timeout 900 s: window min(60 s, 450 s) = 60 s.
    let mut c = Conn::new(Protocol::Udp, 0, 0, 900, at(0));
    assert!(c.packet(&p, 0, at(0)));
    assert!(!c.packet(&p, 0, at(59_996)));
    assert!(c.packet(&p, 0, at(60_000)));
    // timeout 4 s: window min(60 s, max(2 s, 10 s)) = 10 s. A new connection announced its
    // creation time, so it is first sent when now + 4 s is 10 s past creation.
    let mut c = Conn::new(Protocol::Udp, 0, 0, 4, at(0));
    assert!(!c.packet(&p, 0, at(0)));
    assert!(!c.packet(&p, 0, at(5_996)));
    assert!(c.packet(&p, 0, at(6_000)));
    assert!(!c.packet(&p, 0, at(15_996)));
    assert!(c.packet(&p, 0, at(16_000)));
}

#[test]
fn forced_tcp_changes_bypass_the_refresh_period() {
    let p = SyncPolicy::DEFAULT.with_refresh_period(Duration::from_secs(30));
    let t = at(1_000);
    let mut c = Conn::new(Protocol::Tcp, tcp_state::ESTABLISHED, 0, 900, t);
    let sent: Vec<u32> = (1..=60)
        .filter(|_| c.packet(&p, tcp_state::ESTABLISHED, t))
        .collect();
    // pkts 3 sends; pkts 53 is inside the refresh window with no retries allowed.
    assert_eq!(sent, [3]);
    assert!(c.packet(&p, tcp_state::FIN_WAIT, t));
}

#[test]
fn refresh_arithmetic_wraps_like_jiffies() {
    let p = SyncPolicy::new(3, 0)
        .unwrap()
        .with_refresh_period(Duration::from_secs(10));
    // Announced expiry just below the wrap point, now just after it: 104 ms apart.
    let track = SyncTrack::from_parts(0, !3);
    let f = facts(Protocol::Udp, 0, 0, 5, 0);
    assert!(!p.conn_needed(&f, track, at(100)).send);
    // Far away across the wrap: a full refresh.
    assert!(p.conn_needed(&f, track, at(20_000)).send);
}

#[test]
fn one_packet_connections_are_not_sent_but_their_template_is() {
    let p = SyncPolicy::DEFAULT;
    let t = at(0);
    let f = facts(Protocol::Udp, 0, conn_flags::ONE_PACKET, 0, 300);
    let pkts = p.pkts_for_packet(f.flags, 1);
    assert_eq!(pkts, 3, "one-packet connections pass the threshold");
    let d = p.decide(&SyncFacts { pkts, ..f }, SyncTrack::new(t), t);
    assert!(!d.send);
    assert!(p.sync_controller(d.send));
    // Without the one-packet flag the same facts would be sent.
    assert!(
        p.decide(
            &SyncFacts {
                pkts,
                flags: 0,
                ..f
            },
            SyncTrack::new(t),
            t
        )
        .send
    );
}

#[test]
fn version_0_sends_only_ipv4_and_walks_only_after_a_send() {
    let p = SyncPolicy::DEFAULT.with_version(SyncVersion::V0);
    let t = at(0);
    let mut f = facts(Protocol::Udp, 0, 0, 3, 300);
    assert!(p.decide(&f, SyncTrack::new(t), t).send);
    f.family = AddrFamily::Ipv6;
    assert!(!p.decide(&f, SyncTrack::new(t), t).send);
    assert!(!p.sync_controller(false));
    assert!(p.sync_controller(true));
}

#[test]
fn persist_mode_sends_templates_not_the_connections_they_control() {
    let p = SyncPolicy::DEFAULT.with_persist_mode(true);
    let t = at(0);
    let mut f = facts(Protocol::Udp, 0, 0, 3, 300);
    f.in_persistence = true;
    assert!(!p.decide(&f, SyncTrack::new(t), t).send);
    f.in_persistence = false;
    assert!(p.decide(&f, SyncTrack::new(t), t).send);
    let tpl = facts(Protocol::Udp, 0, conn_flags::TEMPLATE, 9, 300);
    assert!(p.decide(&tpl, SyncTrack::new(t), t).send);
}

/// The kernel's walk: the connection, then its controller (a persistence template) with the
/// template's own packet count.
fn walk(p: &SyncPolicy, packets: u32) -> (u32, u32) {
    let t = at(0);
    let mut conn = Conn::new(Protocol::Tcp, tcp_state::ESTABLISHED, 0, 900, t);
    let mut tpl_facts = facts(Protocol::Tcp, 0, conn_flags::TEMPLATE, 0, 360);
    let mut tpl_in_pkts = 0;
    let mut tpl_track = SyncTrack::new(t);
    let (mut conn_sent, mut tpl_sent) = (0, 0);
    for _ in 0..packets {
        let sent = conn.packet(p, tcp_state::ESTABLISHED, t);
        conn_sent += u32::from(sent);
        if p.sync_controller(sent) {
            tpl_in_pkts += 1;
            tpl_facts.pkts = p.pkts_for_controller(tpl_facts.flags, tpl_in_pkts);
            let d = p.decide_controller(&tpl_facts, tpl_track, t);
            tpl_track = d.track;
            tpl_sent += u32::from(d.send);
        }
    }
    (conn_sent, tpl_sent)
}

#[test]
fn templates_are_synced_through_the_controller_walk() {
    // Version 1 visits the template on every packet and the period does not apply to it.
    assert_eq!(walk(&SyncPolicy::DEFAULT, 10), (1, 10));
    // Version 0 visits it only after sending the connection.
    assert_eq!(
        walk(&SyncPolicy::DEFAULT.with_version(SyncVersion::V0), 10),
        (1, 1)
    );
    // A refresh period throttles the template too.
    let p = SyncPolicy::DEFAULT.with_refresh_period(Duration::from_secs(60));
    assert_eq!(walk(&p, 10), (1, 1));
    // A non-template controller gets the threshold as its count.
    assert_eq!(p.pkts_for_controller(0, 77), 3);
    assert_eq!(p.pkts_for_expire_later(), 3);
}

#[test]
fn a_backup_that_stored_a_state_does_not_resend_it() {
    let p = SyncPolicy::DEFAULT;
    let t = at(0);
    let track = SyncTrack::new(t).received(tcp_state::FIN_WAIT);
    let f = facts(Protocol::Tcp, tcp_state::FIN_WAIT, 0, 7, 120);
    assert!(!p.decide(&f, track, t).send);
    let f = facts(Protocol::Tcp, tcp_state::TIME_WAIT, 0, 8, 120);
    let d = p.decide(&f, track, t);
    assert!(d.send);
    assert_eq!(d.track.old_state(), tcp_state::TIME_WAIT);
    assert_eq!(d.track.sync_endtime(), 120_000);
}
