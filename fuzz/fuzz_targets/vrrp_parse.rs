#![no_main]

mod target {
    include!("../targets/vrrp_parse.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
