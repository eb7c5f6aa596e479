#![no_main]

mod target {
    include!("../targets/rewrite_tunnel.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
