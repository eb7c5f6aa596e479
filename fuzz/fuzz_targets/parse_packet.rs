#![no_main]

mod target {
    include!("../targets/parse_packet.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
