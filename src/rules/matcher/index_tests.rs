//! Index tests (DESIGN §4, SPEC §9.1): `find` must equal testing every pattern one by one.

use std::time::{Duration, Instant};

use super::*;

/// xorshift: deterministic inputs without a property-testing dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn string(&mut self, alphabet: &[&str], max_len: u64) -> String {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| self.pick(alphabet)).collect()
    }
}

/// The full regex of each pattern on a plain engine: the reference for the split matching.
fn reference(patterns: &[Pattern]) -> Vec<fancy_regex::Regex> {
    let compile = |p: &Pattern| fancy_regex::Regex::new(p.regex_str()).ok();
    patterns.iter().filter_map(compile).collect()
}

fn brute_force(reference: &[fancy_regex::Regex], url: &str) -> Vec<usize> {
    let matching = |(i, re): (usize, &fancy_regex::Regex)| re.is_match(url).ok()?.then_some(i);
    reference.iter().enumerate().filter_map(matching).collect()
}

fn compile_all(specs: &[(Strategy, String)]) -> Vec<Pattern> {
    let compile = |(s, p): &(Strategy, String)| {
        Pattern::compile(*s, p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
    };
    specs.iter().map(compile).collect()
}

// DESIGN §4: keys that nest, overlap and repeat in the URL — the same literal as a prefix key
// of one pattern and an anywhere key of another, keys that are substrings of other keys, URLs
// holding a key several times — against brute force. Fixed seed.
#[test]
fn overlapping_keys_equal_brute_force() {
    const ALPHABET: &[&str] = &["a", "b", "/", "ab"];
    let mut rng = Rng(7);
    let mut specs = Vec::new();
    for _ in 0..600 {
        let lit = loop {
            let lit = rng.string(ALPHABET, 5);
            if lit.len() >= 4 {
                break lit;
            }
        };
        let (strategy, pattern) = match rng.next() % 6 {
            0 => (Strategy::Regexp, format!("{lit}<.*>")),
            1 => (Strategy::Regexp, format!("<.*>{lit}<.*>")),
            2 => (Strategy::Regexp, format!("<[ab]*>{lit}<[ab/]*>")),
            3 => (Strategy::Regexp, format!("<https?>://{lit}")),
            4 => (Strategy::Glob, format!("<**>{lit}<*>")),
            _ => (Strategy::Glob, format!("{lit}<**>")),
        };
        specs.push((strategy, pattern));
    }
    let patterns = compile_all(&specs);
    let brute = reference(&patterns);
    assert_eq!(brute.len(), patterns.len());
    let index = MatchIndex::build(patterns);
    let (prefix, anywhere, _) = index.stats();
    assert!(prefix > 100 && anywhere > 300, "{:?}", index.stats());
    let mut matched = 0;
    for _ in 0..4_000 {
        let scheme = rng.pick(&["http://", "https://", ""]);
        let url = format!("{scheme}{}", rng.string(ALPHABET, 12));
        let want = brute_force(&brute, &url);
        matched += usize::from(want.len() > 1);
        assert_eq!(
            index.find(&url).ok().map(|f| f.to_vec()),
            Some(want),
            "{url:?}"
        );
    }
    assert!(
        matched > 1_000,
        "too few URLs matched several patterns: {matched}"
    );
}

// DESIGN §4: random mixes of regexp and glob patterns with every kind of key, against
// random URLs built from the same fragments.
#[test]
fn find_equals_brute_force() {
    const HEADS: &[&str] = &["http://", "https://", "<https|http>://", "<[a-z]+>://", ""];
    const HOSTS: &[&str] = &["a.io", "b.io", "a.io:8080", "<[^/]+>", "<.*>", ""];
    const PATHS: &[&str] = &[
        "/api",
        "/v1",
        "/users",
        "/<[0-9]+>",
        "/<.*>",
        "/x.css",
        "/api/v1",
    ];
    const GLOB_PATHS: &[&str] = &[
        "/api",
        "/v1",
        "/<*>",
        "/<**>",
        "/<{a,b*}>",
        "/x.css",
        "/<?>",
    ];
    let mut rng = Rng(42);
    let mut specs = Vec::new();
    for _ in 0..400 {
        let glob = rng.next() % 3 == 0;
        let (strategy, paths) = if glob {
            (Strategy::Glob, GLOB_PATHS)
        } else {
            (Strategy::Regexp, PATHS)
        };
        let head = rng.pick(HEADS);
        let head = if glob {
            head.replace("[a-z]+", "[a-z]*")
        } else {
            head.to_owned()
        };
        let pattern = format!("{head}{}{}", rng.pick(HOSTS), rng.string(paths, 3));
        specs.push((strategy, pattern));
    }
    specs.push((Strategy::Regexp, "http://a.io/<(?!api).*>".to_owned()));
    specs.push((Strategy::Regexp, "<.*>/<(?!x)[a-z]+>".to_owned()));
    let patterns = compile_all(&specs);
    let brute = reference(&patterns);
    assert_eq!(brute.len(), patterns.len());
    let index = MatchIndex::build(patterns);
    let (prefix, anywhere, fallback) = index.stats();
    assert!(
        prefix > 0 && anywhere > 0 && fallback > 0,
        "{:?}",
        index.stats()
    );
    let mut matched = 0;
    for _ in 0..3_000 {
        let url = format!(
            "{}{}{}",
            rng.pick(&["http://", "https://", "ftp://", ""]),
            rng.pick(&["a.io", "b.io", "a.io:8080", "c.d.io", ""]),
            rng.string(
                &["/api", "/v1", "/users", "/42", "/x.css", "/a", "/b1", "/", "a.io"],
                5
            )
        );
        let want = brute_force(&brute, &url);
        matched += usize::from(!want.is_empty());
        assert_eq!(
            index.find(&url).ok().map(|f| f.to_vec()),
            Some(want),
            "{url:?}"
        );
    }
    assert!(matched > 300, "too few URLs matched anything: {matched}");
}

// SPEC §3.4: piecewise (split) matching gives the same matches and captures as the full
// regex, including when the key literal occurs several times.
#[test]
fn split_patterns_agree_with_full_regex() {
    let patterns = [
        "<.*>/users/<.*>",
        "<.*?>/users/<.*>",
        "<[a-z]+://[^/]+>/users/<(x)|(.*)>",
        "<https|http>://<[^/]+>/api/<[0-9]+>/api<.*>",
        "http://h/<.*>/a/<.*>",
        "http://h/<(?P<n>[a-z]*)>/a/<(b)?.*>",
        "<.*>/é/<.*>",
    ];
    let urls = [
        "http://h/users/x",
        "http://h/users/users/users",
        "http://h/a/users/b/users/c",
        "https://h/api/12/api/api",
        "https://h/api/api/12/api",
        "http://h/a/a/b/a/",
        "http://h/xa/a/a",
        "http://h/ééé/é/é/é/",
        "http://h/users",
    ];
    for pattern in patterns {
        let p = Pattern::compile(Strategy::Regexp, pattern).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(p.key(), Key::Anywhere(_) | Key::Prefix(_)),
            "{pattern}"
        );
        let full = regex::Regex::new(p.regex_str()).unwrap_or_else(|e| panic!("{e}"));
        for url in urls {
            assert_eq!(
                p.is_match(url).ok(),
                Some(full.is_match(url)),
                "{pattern} {url}"
            );
            let want: Vec<String> = full.captures(url).map_or_else(Vec::new, |c| {
                c.iter()
                    .skip(1)
                    .map(|m| m.map_or("", |m| m.as_str()).to_owned())
                    .collect()
            });
            let mut got = p.captures(url).unwrap_or_default();
            if pattern.contains("?P<n>") && !got.is_empty() {
                // reported .NET-style: the named group comes last
                let named = got.remove(got.len() - 1);
                got.insert(1, named);
            }
            assert_eq!(got, want, "{pattern} {url}");
        }
    }
}

/// Rule `i` of a generated rule set and a URL that only it matches.
fn generated_rule(i: usize) -> ((Strategy, String), String) {
    match i % 10 {
        0..=5 => (
            (
                Strategy::Regexp,
                format!("http://svc{i}.example.com/api/<[0-9]+>"),
            ),
            format!("http://svc{i}.example.com/api/{}", i * 7),
        ),
        6..=8 => (
            (
                Strategy::Glob,
                format!("<{{http,https}}>://svc{i}.example.com/static/<**>"),
            ),
            format!("https://svc{i}.example.com/static/css/site.css"),
        ),
        _ => (
            (
                Strategy::Regexp,
                format!("<https|http>://<[^/]+>/v{i}/users/<.*>"),
            ),
            format!("https://any.example.org/v{i}/users/42"),
        ),
    }
}

fn generated_index(n: usize) -> (MatchIndex, Duration) {
    let specs: Vec<(Strategy, String)> = (0..n).map(|i| generated_rule(i).0).collect();
    let started = Instant::now();
    let index = MatchIndex::build(compile_all(&specs));
    (index, started.elapsed())
}

// SPEC §9.1: exact answers at 10,000 rules; timings printed (never asserted) to show the
// lookup cost is flat. `cargo test index_scale -- --nocapture`.
#[test]
fn index_scale() {
    for n in [10, 1_000, 10_000] {
        let (index, build) = generated_index(n);
        let probes: Vec<usize> = (0..n).step_by((n / 50).max(1)).chain([n - 1]).collect();
        for &i in &probes {
            let url = generated_rule(i).1;
            assert_eq!(
                index.find(&url).ok().map(|f| f.to_vec()),
                Some(vec![i]),
                "{url:?}"
            );
        }
        for url in [
            "http://svc1.example.com/api/x",
            "http://nope.example.com/",
            "",
        ] {
            assert_eq!(
                index.find(url).ok().map(|f| f.to_vec()),
                Some(vec![]),
                "{url:?}"
            );
        }
        let rounds = 2_000;
        let started = Instant::now();
        for r in 0..rounds {
            let url = generated_rule(probes[r % probes.len()]).1;
            std::hint::black_box(index.find(&url).ok());
        }
        let per_lookup = started.elapsed() / rounds as u32;
        println!(
            "index_scale: {n:>6} rules: build {build:>10.2?}, lookup {per_lookup:>8.2?} \
             (keys prefix/anywhere/fallback = {:?}, automaton {} KB)",
            index.stats(),
            index.key_memory() / 1024
        );
    }
}
