#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusebox_fuzz::token_bucket(data));
