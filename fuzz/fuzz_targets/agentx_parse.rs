#![no_main]

mod target {
    include!("../targets/agentx_parse.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
