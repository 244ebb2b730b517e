//! Invariant: parsing and rendering any template text never panics and stays within the
//! engine's output and step limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gatehouse::pipeline::template::fuzz_parse_render(data));
