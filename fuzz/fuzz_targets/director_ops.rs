#![no_main]

mod target {
    include!("../targets/director_ops.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
