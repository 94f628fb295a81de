#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusebox_fuzz::breaker_failure_count(data));
