//! Invariant: decoding any bytes as a rule document never panics; it yields rules or errors
//! that name the document.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(errors) = gatehouse::rules::repository::decode_document("fuzz.yaml", data) {
        assert!(errors.iter().all(|e| e.origin == "fuzz.yaml"));
    }
});
