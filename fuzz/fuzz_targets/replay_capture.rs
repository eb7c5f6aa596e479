#![no_main]

#[path = "../../examples/replay/capture.rs"]
#[allow(dead_code)]
mod capture;
#[path = "../../examples/replay/engine.rs"]
#[allow(dead_code)]
mod engine;
#[path = "../../examples/replay/flows.rs"]
#[allow(dead_code)]
mod flows;

mod target {
    include!("../targets/replay_capture.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
