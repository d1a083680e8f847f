#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| callside_fuzz::screen(data));
