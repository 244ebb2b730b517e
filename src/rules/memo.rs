//! Each thread's memory of the rules its recent requests matched, in front of the match index.
//!
//! A match is a pure function of the request's method and match URL (`scheme://host/path`)
//! once a rule set is compiled, unless a rule also matches on headers: then the set keeps no
//! memory. A thread remembers, per (method, URL), the rule that matched when that rule does not
//! read the match context (its capture groups would have to be kept too). Lookups compare the
//! whole method and URL, never just their hash; a slot holds one entry (direct-mapped, a new
//! entry replaces the old), so a stream of distinct URLs costs one copy of each, bounded by the
//! slot count and [`MAX_URL`]. The memory lives in the rule set: a reload starts afresh.
//!
//! What it saves: the candidate search (an automaton over the URL) and the regular expressions
//! that confirm the candidates, about 2,000 instructions per request for a small rule set.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};

use thread_local::ThreadLocal;

use crate::pipeline::RequestInfo;

/// Entries per thread.
const SLOTS: usize = 256;
/// Longer match URLs are not remembered (each entry keeps a copy).
pub const MAX_URL: usize = 512;

/// See the module docs.
pub struct Memo {
    /// False when a rule matches on headers.
    enabled: bool,
    hasher: foldhash::fast::RandomState,
    threads: ThreadLocal<RefCell<Box<[Option<Entry>]>>>,
}

struct Entry {
    hash: u64,
    method: Box<str>,
    url: Box<str>,
    rule: usize,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The pieces of a request's match URL (`RequestInfo::match_string`), without building it.
fn pieces(req: &RequestInfo) -> [&str; 4] {
    [&req.url.scheme, "://", &req.url.host, &req.url.path]
}

impl Memo {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            hasher: foldhash::fast::RandomState::default(),
            threads: ThreadLocal::new(),
        }
    }

    /// The key of `req`, when it may be remembered.
    pub fn key(&self, req: &RequestInfo) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        let pieces = pieces(req);
        if pieces.iter().map(|p| p.len()).sum::<usize>() > MAX_URL {
            return None;
        }
        let mut h = self.hasher.build_hasher();
        h.write(req.method.as_bytes());
        h.write_u8(0);
        for p in pieces {
            h.write(p.as_bytes());
        }
        Some(h.finish())
    }

    /// The rule this thread found for `req` (whose key is `key`), if it remembers it.
    pub fn get(&self, key: u64, req: &RequestInfo) -> Option<usize> {
        let slots = self.threads.get()?.borrow();
        let e = slots[slot(key)].as_ref()?;
        (e.hash == key && *e.method == *req.method && is_concat(&e.url, &pieces(req)))
            .then_some(e.rule)
    }

    /// Remember that `req` (key `key`) matched `rule`.
    pub fn put(&self, key: u64, req: &RequestInfo, rule: usize) {
        let mut slots = self
            .threads
            .get_or(|| RefCell::new((0..SLOTS).map(|_| None).collect()))
            .borrow_mut();
        slots[slot(key)] = Some(Entry {
            hash: key,
            method: req.method.as_ref().into(),
            url: pieces(req).concat().into_boxed_str(),
            rule,
        });
    }
}

fn slot(key: u64) -> usize {
    // The high bits: foldhash mixes them best.
    (key >> 56) as usize % SLOTS
}

/// Whether `s` is `parts` concatenated.
fn is_concat(s: &str, parts: &[&str]) -> bool {
    let mut rest = s;
    for p in parts {
        match rest.strip_prefix(p) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, host: &str, path: &str) -> RequestInfo {
        let mut r = RequestInfo {
            method: method.to_owned().into(),
            ..RequestInfo::default()
        };
        r.url.scheme = "http".into();
        r.url.host = host.to_owned();
        r.url.path = path.to_owned();
        r
    }

    #[test]
    fn remembers_exactly_the_request_it_saw() {
        let m = Memo::new(true);
        let a = req("GET", "h", "/a");
        let key = m.key(&a).expect("key");
        assert_eq!(m.get(key, &a), None, "nothing yet");
        m.put(key, &a, 7);
        assert_eq!(m.get(key, &a), Some(7));
        // Same key, other request (as after a hash collision): not this entry.
        for other in [
            req("POST", "h", "/a"),
            req("GET", "h", "/ab"),
            req("GET", "g", "/a"),
        ] {
            assert_eq!(m.get(key, &other), None);
        }
        // The URL is what matching sees, however it was split.
        assert_eq!(m.get(key, &req("GET", "h/", "a")), Some(7));
        // Another thread has its own memory.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(m.get(key, &a), None));
        });
    }

    #[test]
    fn off_and_long_urls_are_never_remembered() {
        assert_eq!(Memo::new(false).key(&req("GET", "h", "/a")), None);
        let m = Memo::new(true);
        let long = "/".to_owned() + &"x".repeat(MAX_URL);
        assert_eq!(m.key(&req("GET", "h", &long)), None);
    }

    #[test]
    fn pieces_compare_as_their_concatenation() {
        assert!(is_concat("http://h/a", &["http", "://", "h", "/a"]));
        assert!(!is_concat("http://h/a", &["http", "://", "h", "/"]));
        assert!(!is_concat("http://h/", &["http", "://", "h", "/a"]));
    }
}
