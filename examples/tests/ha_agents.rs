//! Load agents end to end: builds lvsd and lvs_agent and runs `examples/e2e/agents.sh`
//! (network namespaces, two real servers with memory cgroups and agents, a memory hog on one:
//! its weight must drop within three report periods and new connections shift away).
//!
//! Needs root, `ip netns`, curl, python3 and a memory cgroup. Without them it prints a
//! `SKIPPED:` line and passes, except under CI (`CI=true`), where it fails instead.

mod common;

use common::{prepare, run_script, skipped, BASE_TOOLS};
use std::time::Duration;

/// The script takes about 30 s and stops itself after 120 s.
const TIMEOUT: Duration = Duration::from_secs(200);

#[test]
fn ha_agents_weight_follows_memory_load() {
    let Some(bin) = prepare("load agents", BASE_TOOLS, &["lvsd", "lvs_agent"]) else {
        return;
    };
    let output = run_script(
        "agents.sh",
        &[&bin.join("lvsd"), &bin.join("lvs_agent")],
        TIMEOUT,
        "AGENTS PASSED",
    );
    if skipped(&output) {
        return;
    }
    let line = output
        .lines()
        .find(|l| l.starts_with("AGENT weight_before="))
        .expect("the AGENT line");
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    assert!(nums[1] < nums[0], "{line}");
}
