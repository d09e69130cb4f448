//! Canonicalization never panics and is idempotent.
#![no_main]
use fspiop::json::canonicalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = canonicalize(data) {
        assert_eq!(canonicalize(&c).expect("canonical output parses"), c);
    }
});
