#![no_main]

mod target {
    include!("../targets/sync_decode.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
