//! Invariant: a normalized path is clean (absolute or empty, no `.`/`..`/empty segments, no
//! trailing slash but the root) and survives encode -> normalize unchanged, so the path that is
//! matched is the path that is forwarded.
#![no_main]
use gatehouse::rules::matcher::{encode_path, normalize_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(p) = normalize_path(&raw) {
        assert!(p.is_empty() || p.starts_with('/'));
        assert!(p.len() <= 1 || !p.ends_with('/'));
        assert!(!p.split('/').skip(1).any(|s| s.is_empty() || s == "." || s == ".."));
        assert_eq!(normalize_path(&encode_path(&p)).as_deref(), Ok(p.as_str()));
    }
});
