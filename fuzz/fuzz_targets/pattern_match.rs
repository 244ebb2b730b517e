//! Invariant: compiling any pattern under either strategy and matching any URL never panics and
//! never runs unbounded (the backtracking engine has a step budget); a compiled pattern's index
//! lookup agrees with the pattern itself.
#![no_main]
use gatehouse::rules::matcher::{MatchIndex, Pattern, Strategy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, url) = text.split_once('\n').unwrap_or((&text, "http://h/x"));
    for strategy in [Strategy::Regexp, Strategy::Glob] {
        if let Ok(p) = Pattern::compile(strategy, pattern) {
            let direct = p.is_match(url);
            let _ = p.captures(url);
            if let (Ok(hit), Ok(found)) = (direct, MatchIndex::build(vec![p]).find(url)) {
                assert_eq!(hit, !found.is_empty());
            }
        }
    }
});
