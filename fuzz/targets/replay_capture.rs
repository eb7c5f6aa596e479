// replay_capture: the replay tool on arbitrary capture bytes: the capture reader
// (`examples/replay/capture.rs`: pcap-file underneath, link types turned into Ethernet) and the
// director loop (`examples/replay/engine.rs`: MAC filter, neighbour learning, checksum
// completion, MTU check, `process_frame`, framing of what it sends).
//
// The input is the capture file. Nothing may panic; every frame read is counted; every frame
// sent has at least an Ethernet header; the counters add up.

use crate::capture::Capture;
use crate::engine::{Replay, Sched, Settings};
use lvs_core::director::{Director, DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::reconcile::{reconcile, RuleSet};
use lvs_core::Instant;
use lvs_forward::process::ProcessConfig;

const RULES: &str = "\
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:8080 -m -w 2
-A -u 198.18.0.10:53 -s sh
-a -u 198.18.0.10:53 -r 198.18.1.13:53 -g -w 1
-A -t [2001:db8::10]:443 -s wlc
-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -i -w 1
";

/// Frames replayed at most per input.
const MAX_FRAMES: u64 = 512;

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let Ok(mut cap) = Capture::from_reader(data) else {
        return;
    };
    let set = RuleSet::from_text(RULES).expect("the rules parse");
    let mut mem = OwnedMemory::new(256, 4, 8);
    let mut dir = Director::new(DirectorConfig::new(SipKey(1, 2)), mem.borrow(), Instant::ZERO)
        .expect("director");
    reconcile(&mut dir, &set, |spec, _| {
        Sched::from_name(&spec.scheduler, spec.flags, 1).expect("known scheduler")
    })
    .expect("the rules apply");
    let mut process = ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().expect("literal"),
        SipKey(3, 4),
    );
    process.mtu = 1500;
    let mut replay = Replay::new(
        dir,
        Settings {
            mac: data.len().is_multiple_of(3).then_some(lvs_forward::wire::MacAddr([2, 0, 0, 0, 0, 1])),
            neigh: Vec::new(),
            mtu: 1500,
            fix_checksums: data.len().is_multiple_of(2),
            process,
        },
    );
    let mut frame = Vec::new();
    let mut read = 0u64;
    while let Some(r) = cap.next_frame(&mut frame) {
        let Ok(info) = r else { break };
        let snapped = info.caplen < info.orig_len;
        replay.frame(info.ts, &frame, snapped, info.bad_link_header, &mut |_, f| {
            assert!(f.len() >= 14, "a frame sent without an Ethernet header");
        });
        read += 1;
        if read == MAX_FRAMES {
            break;
        }
    }
    let c = &replay.counts;
    assert_eq!(c.frames, read);
    assert_eq!(c.written, c.to_real + c.to_client + c.icmp_errors);
    assert!(c.to_real + c.to_client + c.icmp_errors + c.arp + c.local + c.dropped() <= read);
}
