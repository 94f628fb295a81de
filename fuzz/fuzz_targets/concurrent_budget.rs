#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusebox_fuzz::concurrent_budget(data));
