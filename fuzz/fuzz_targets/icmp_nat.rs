#![no_main]

mod target {
    include!("../targets/icmp_nat.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::run(data));
