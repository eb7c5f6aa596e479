#![no_main]

mod target {
    include!("../targets/agent_report.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
