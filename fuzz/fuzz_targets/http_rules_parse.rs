#![no_main]

mod target {
    include!("../targets/http_rules_parse.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
