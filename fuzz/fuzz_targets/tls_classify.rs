#![no_main]

mod target {
    include!("../targets/tls_classify.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
