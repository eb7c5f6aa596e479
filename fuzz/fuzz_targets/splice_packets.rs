#![no_main]

mod target {
    include!("../targets/splice_packets.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
