// agent_report: the load agents' report decoder (`lvs_sched::agent::Report::decode`) and the
// replay window on arbitrary bytes.
//
// The input is decoded as it is under a fixed key: a refused datagram is refused for the first
// failed check in order (length, magic, version, tag). Its first 48 bytes are then read as
// fields and tagged under the key (the fuzzer cannot forge a tag): they decode back to the same
// report, and the input's own header bytes spliced over that tag are accepted only when they
// are the bytes tagged. The replay window accepts a sequence number only above the last one
// accepted and within its window, and a refusal leaves it as it was.

use lvs_sched::agent::{AgentError, ReplayWindow, Report, LEN, MAGIC, TAG_OFFSET, VERSION};

const KEY: &[u8] = b"fuzzing key, 16+ bytes";

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    check(data);
    let Some(head) = data.get(..TAG_OFFSET) else {
        return;
    };
    // the input's fields, tagged under KEY (the fuzzer cannot forge a tag)
    let r = fields(head);
    let wire = r.encode(KEY);
    assert_eq!(Report::decode(&wire, KEY), Ok(r));
    let _ = r.to_load_report();
    // the input's own header bytes over that tag: accepted only if they are what was tagged
    let mut spliced = wire;
    spliced[..TAG_OFFSET].copy_from_slice(head);
    match Report::decode(&spliced, KEY) {
        Ok(back) => {
            assert_eq!(spliced, wire);
            assert_eq!(back, r);
        }
        Err(e) => {
            assert_ne!(spliced, wire);
            assert!(matches!(
                e,
                AgentError::BadMagic | AgentError::BadVersion | AgentError::BadKey
            ));
        }
    }
    window(&r, data);
}

/// The fields of the first 48 bytes, as `decode` would read them.
fn fields(b: &[u8]) -> Report {
    let u64_at = |o: usize| u64::from_be_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let u32_at = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    Report {
        seq: u64_at(8),
        cpu_idle_permille: u16::from_be_bytes([b[16], b[17]]),
        mem_available_kb: u64_at(20),
        mem_total_kb: u64_at(28),
        swap_pages_per_s: u32_at(36),
        load1_milli: u32_at(40),
        conns: u32_at(44),
    }
}

/// The input as it comes off the wire.
fn check(data: &[u8]) {
    let r = Report::decode(data, KEY);
    let want = if data.len() < LEN {
        Some(AgentError::Short)
    } else if data.len() > LEN {
        Some(AgentError::Oversized)
    } else if data[0..4] != MAGIC || data[6..8] != (LEN as u16).to_be_bytes() {
        Some(AgentError::BadMagic)
    } else if data[4] != VERSION {
        Some(AgentError::BadVersion)
    } else {
        None
    };
    match (want, r) {
        (Some(e), got) => assert_eq!(got, Err(e)),
        (None, Ok(rep)) => assert_eq!(Report::decode(&rep.encode(KEY), KEY), Ok(rep)),
        (None, Err(e)) => assert_eq!(e, AgentError::BadKey),
    }
}

/// The replay window against the report's sequence number and a clock from the input.
fn window(r: &Report, data: &[u8]) {
    let now = data
        .get(LEN - 8..LEN)
        .map_or(r.seq, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
    let mut w = ReplayWindow::new();
    let win = 30_000;
    let first = w.check(r.seq, now, win);
    if r.seq.abs_diff(now) > win {
        assert_eq!(first, Err(AgentError::Stale));
        assert_eq!(w.last(), None);
        return;
    }
    assert_eq!(first, Ok(()));
    assert_eq!(w.last(), Some(r.seq));
    // the same again, and anything older: replays, nothing remembered
    assert_eq!(w.check(r.seq, now, win), Err(AgentError::Replayed));
    assert_eq!(
        w.check(r.seq.saturating_sub(1), now, win),
        Err(AgentError::Replayed)
    );
    assert_eq!(w.last(), Some(r.seq));
}
