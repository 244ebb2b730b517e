//! Table-driven tests of pattern compilation and matching (SPEC §3.4).

use super::*;

fn compile(strategy: Strategy, pattern: &str) -> Pattern {
    Pattern::compile(strategy, pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
}

/// (pattern, url, should match)
fn check_matches(strategy: Strategy, cases: &[(&str, &str, bool)]) {
    for &(pattern, url, want) in cases {
        let got = compile(strategy, pattern).is_match(url);
        assert_eq!(got.ok(), Some(want), "{strategy:?} {pattern:?} on {url:?}");
    }
}

// SPEC §3.4 regexp strategy: literal escaping, anchoring, delimiters, look-around, POSIX.
#[test]
fn regexp_matching() {
    check_matches(
        Strategy::Regexp,
        &[
            ("http://mydomain.com/<.*>", "http://mydomain.com/foo", true),
            // `.` outside delimiters is literal
            ("http://mydomain.com/<.*>", "http://mydomainXcom/foo", false),
            ("http://h/a+b?<.*>", "http://h/a+b?", true),
            ("http://h/a+b?<.*>", "http://h/aab", false),
            ("http://h/(x)[y]{1}|z$^", "http://h/(x)[y]{1}|z$^", true),
            // anchored at both ends
            ("http://mydomain.com/foo", "http://mydomain.com/foo", true),
            (
                "http://mydomain.com/foo",
                "http://mydomain.com/foo/bar",
                false,
            ),
            ("http://mydomain.com/foo", "xhttp://mydomain.com/foo", false),
            ("http://h/<a|b>", "http://h/ab", false),
            ("http://h/<a|b>", "http://h/b", true),
            ("http://h", "http://h", true),
            ("http://h", "http://h/", false),
            (
                "<https|http>://mydomain.com/<.*>",
                "https://mydomain.com/x",
                true,
            ),
            (
                "<https|http>://mydomain.com/<.*>",
                "ftp://mydomain.com/x",
                false,
            ),
            // look-ahead (the documented example) goes to the backtracking engine
            (
                "http://mydomain.com/<(?!protected).*>",
                "http://mydomain.com/foo",
                true,
            ),
            (
                "http://mydomain.com/<(?!protected).*>",
                "http://mydomain.com/protected",
                false,
            ),
            // backreference: numbers count the wrapping groups too (as in Oathkeeper)
            ("http://h/<(a+)-\\2>", "http://h/aa-aa", true),
            ("http://h/<(a+)-\\2>", "http://h/aa-a", false),
            // POSIX classes (RE2 syntax)
            ("http://h/<[[:digit:]]+>", "http://h/123", true),
            ("http://h/<[[:digit:]]+>", "http://h/12a", false),
            ("http://h/<[[:alpha:]-]+>", "http://h/ab-c", true),
            // nesting: `<`/`>` pairs inside a delimiter are counted
            ("http://h/<[^<>]+>", "http://h/abc", true),
            ("http://h/<[^<>]+>", "http://h/a<b", false),
            ("http://h/<(?P<id>[0-9]+)>", "http://h/42", true),
            // flags stay inside their group
            ("http://h/<(?i)abc>/x", "http://h/ABC/x", true),
            ("http://h/<(?i)abc>/x", "http://h/ABC/X", false),
            // empty part
            ("http://h/<>", "http://h/", true),
            ("http://h/<>", "http://h/x", false),
        ],
    );
}

// SPEC §3.4, §11; README "Differences": `\d`, `\w` and `\s` are ASCII classes (as in the RE2
// mode of later regexp2 releases; Oathkeeper's v1.2.0 reads them as Unicode), or a numeric-id
// rule lets Unicode digits through to an upstream that may parse them as a number. Also inside
// classes, negated, next to look-around (the backtracking engine) and not when the backslash
// itself is escaped.
#[test]
fn shorthand_classes_are_ascii() {
    check_matches(
        Strategy::Regexp,
        &[
            ("http://h/<\\d+>", "http://h/123", true),
            ("http://h/<\\d+>", "http://h/\u{663}\u{664}", false),
            ("http://h/<\\d+>", "http://h/\u{ff11}", false),
            ("http://h/<\\w+>", "http://h/a_Z9", true),
            ("http://h/<\\w+>", "http://h/\u{e9}", false),
            ("http://h/<\\s>", "http://h/ ", true),
            ("http://h/<\\s>", "http://h/\u{a0}", false),
            ("http://h/<\\S>", "http://h/\u{a0}", true),
            ("http://h/<\\D>", "http://h/\u{663}", true),
            ("http://h/<\\D>", "http://h/7", false),
            ("http://h/<\\W>", "http://h/\u{e9}", true),
            ("http://h/<[\\d.]+>", "http://h/1.2", true),
            ("http://h/<[\\d.]+>", "http://h/\u{663}", false),
            ("http://h/<[x\\D]>", "http://h/\u{663}", true),
            ("http://h/<[x\\D]>", "http://h/7", false),
            ("http://h/<[^\\w]>", "http://h/\u{e9}", true),
            ("http://h/<[^\\w]>", "http://h/a", false),
            ("http://h/<[]\\d]+>", "http://h/]1", true),
            ("http://h/<[[:alpha:]\\d]+>", "http://h/a1", true),
            ("http://h/<[[:alpha:]\\d]+>", "http://h/\u{663}", false),
            ("http://h/<(?!x)\\d+>", "http://h/\u{663}", false),
            ("http://h/<(?!x)\\d+>", "http://h/12", true),
            // A negated class nested in a class, on the backtracking engine too.
            ("http://h/<(?!x)[a\\D]+>", "http://h/a\u{663}", true),
            ("http://h/<(?!x)[a\\D]+>", "http://h/a1", false),
            ("http://h/<a\\\\d>", "http://h/a\\d", true),
        ],
    );
    assert_eq!(regexp::ascii_classes("[a\\D]"), "[a[^0-9]]");
    // .NET class subtraction would read as a union in Rust: refused, not widened.
    for bad in ["http://h/<[a-z-[aeiou]]+>", "http://h/<[^a-[b]]>"] {
        let err = Pattern::compile(Strategy::Regexp, bad).expect_err(bad);
        assert!(err.to_string().contains("class subtraction"), "{err}");
    }
    for ok in [
        "http://h/<[a\\-\\[]+>",
        "http://h/<[-\\[]>",
        "http://h/<[a-z][b]>",
    ] {
        assert!(Pattern::compile(Strategy::Regexp, ok).is_ok(), "{ok}");
    }
    // `-` after a shorthand in a class is a literal (regexp2, .NET), never a range.
    assert_eq!(regexp::ascii_classes("[\\w-.]"), "[0-9A-Za-z_\\-.]");
    check_matches(
        Strategy::Regexp,
        &[
            ("http://h/<[\\w-.]+>", "http://h/a-b.c", true),
            ("http://h/<[\\w-.]+>", "http://h/a,b", false),
            ("http://h/<[\\s-/]+>", "http://h/-/", true),
            ("http://h/<[\\s-/]+>", "http://h/!", false),
            ("http://h/<[\\w-z]+>", "http://h/a-b", true),
            ("http://h/<[\\w-z]+>", "http://h/a`b", false),
            ("http://h/<[^\\w-.]+>", "http://h/!", true),
            ("http://h/<[^\\w-.]+>", "http://h/-", false),
            ("http://h/<[\\D-x]>", "http://h/-", true),
            ("http://h/<[\\D-x]>", "http://h/5", false),
            ("http://h/<[\\w-]+>", "http://h/a-", true),
            ("http://h/<(?!z)[\\w-.]+>", "http://h/a-.", true),
        ],
    );
    assert_eq!(regexp::ascii_classes("\\\\s"), "\\\\s");
}

// SPEC §3.4: only look-around/backreference patterns use the backtracking engine.
#[test]
fn regexp_engine_choice() {
    for (pattern, backtracking) in [
        ("http://h/<.*>", false),
        ("http://h/<[[:digit:]]+>", false),
        ("<https|http>://<[^/]+>/api/<(a+)+>", false),
        ("http://h/<(?!protected).*>", true),
        ("http://h/<(a)\\1>", true),
    ] {
        let p = compile(Strategy::Regexp, pattern);
        assert_eq!(p.is_backtracking(), backtracking, "{pattern:?}");
    }
}

// SPEC §3.4: capture groups, one per `<…>` plus inner groups, "" for non-participating.
#[test]
fn regexp_captures() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "<https|http>://mydomain.com/<.*>",
            "http://mydomain.com/foo",
            &["http", "foo"],
        ),
        (
            "http://h/<(a)|(b)>/<c>",
            "http://h/b/c",
            &["b", "", "b", "c"],
        ),
        ("http://h/<[0-9]+>", "http://h/12", &["12"]),
        ("http://h/x", "http://h/x", &[]),
        ("http://h/<[0-9]+>", "http://h/nope", &[]),
        // .NET numbering: unnamed groups first, then named ones
        ("http://h/<(?P<x>a)(b)>", "http://h/ab", &["ab", "b", "a"]),
        // backtracking engine
        (
            "http://h/<(?!p)([a-z]+)>/<.*>",
            "http://h/ab/c",
            &["ab", "ab", "c"],
        ),
    ];
    for &(pattern, url, want) in cases {
        let got = compile(Strategy::Regexp, pattern).captures(url);
        assert_eq!(
            got.ok(),
            Some(want.iter().map(|s| s.to_string()).collect()),
            "{pattern:?} on {url:?}"
        );
    }
}

// SPEC §3.4: unbalanced delimiters and bad regexes are compile errors naming the pattern.
#[test]
fn regexp_compile_errors() {
    let cases = [
        ("http://h/<.*", "unbalanced"),
        ("http://h/.*>", "unbalanced"),
        ("http://h/<<a>", "unbalanced"),
        ("http://h/<a>>", "unbalanced"),
        // Oathkeeper counts `>` inside a class too
        ("http://h/<[^>]+>", "unbalanced"),
        // ... and the `<` of a look-behind, so a lone `(?<=` cannot be written (as there)
        ("http://h/<(?<=h/)x>", "unbalanced"),
        ("http://h/<[a->", "bad regex"),
        ("http://h/<a{2,1}>", "bad regex"),
        // a part may not close its group and leak an alternation to the top level
        ("http://h/<a)|(.*>", "bad regex"),
        ("http://h/<(a>", "bad regex"),
        ("http://h/<*>", "bad regex"),
    ];
    for (pattern, want) in cases {
        match Pattern::compile(Strategy::Regexp, pattern) {
            Ok(p) => panic!("{pattern:?} compiled to {:?}", p.regex_str()),
            Err(err) => {
                let msg = err.to_string();
                assert!(msg.contains(want), "{pattern:?}: {msg}");
                assert!(msg.contains(&format!("{pattern:?}")), "{pattern:?}: {msg}");
            }
        }
    }
}

// SPEC §3.4 (250 ms timeout -> 500; here a backtrack budget): never a hang.
#[test]
fn backtracking_budget_exceeded() {
    let p = compile(Strategy::Regexp, "http://h/<((?!x)a+)+b>");
    assert!(p.is_backtracking());
    let url = format!("http://h/{}c", "a".repeat(40));
    let started = std::time::Instant::now();
    assert!(matches!(
        p.is_match(&url),
        Err(MatchError::BudgetExceeded { .. })
    ));
    assert!(matches!(
        p.captures(&url),
        Err(MatchError::BudgetExceeded { .. })
    ));
    let index = MatchIndex::build(vec![p]);
    assert!(index.find(&url).is_err());
    eprintln!("budget exhausted three times in {:?}", started.elapsed());
    assert!(!compile(Strategy::Regexp, "http://h/<((?!x)a+)+b>")
        .is_match("http://h/aaac")
        .unwrap_or(true));
}

// SPEC §3.4 glob strategy (gobwas, separators `.` and `/`), cases from Oathkeeper's tests.
#[test]
fn glob_matching() {
    check_matches(
        Strategy::Glob,
        &[
            ("urn:foo:<?>", "urn:foo:u", true),
            ("urn:foo:<?>", "urn:foo:user", false),
            ("urn:foo:<?>", "urn:foo:.", false),
            ("http://example.com/<*>", "http://example.com/foo", true),
            ("http://example.com/<*>", "http://example.com/", true),
            (
                "http://example.com/<*>",
                "http://example.com/foo/bar",
                false,
            ),
            (
                "http://example.com/<*>",
                "http://example.com/foo.bar",
                false,
            ),
            (
                "http://example.com/<**>",
                "http://example.com/foo/bar",
                true,
            ),
            ("<**>", "http://example.com/foo/bar", true),
            ("<**>", "http://example.com/foo", true),
            ("<**>", "", true),
            ("http://h/<{foo*,bar*}>", "http://h/foo1", true),
            ("http://h/<{foo*,bar*}>", "http://h/bar", true),
            ("http://h/<{foo*,bar*}>", "http://h/baz", false),
            ("http://h/<{foo*,bar*}>", "http://h/foo/x", false),
            ("http://h/<{a,{b,c}d}>", "http://h/cd", true),
            ("http://h/<{a,{b,c}d}>", "http://h/c", false),
            ("http://h/<m[!a,o,u]n>", "http://h/min", true),
            ("http://h/<m[!a,o,u]n>", "http://h/man", false),
            ("http://h/<m[!a,o,u]n>", "http://h/m,n", false),
            ("http://h/<[a-c]x>", "http://h/bx", true),
            ("http://h/<[a-c]x>", "http://h/dx", false),
            ("http://h/<[a-]>", "http://h/-", true),
            ("http://h/<[^]>", "http://h/^", true),
            // literal text outside delimiters is escaped, including glob and regex metas
            ("http://h.com/<*>", "http://hXcom/x", false),
            ("http://h/*(x)<*>", "http://h/*(x)y", true),
            ("http://h/*(x)<*>", "http://h/a(x)y", false),
            ("http://h/<\\*>", "http://h/*", true),
            ("http://h/<\\*>", "http://h/a", false),
            ("http://h/<a,b}>", "http://h/a,b}", true),
            ("http://h/<*.css>", "http://h/site.css", true),
            ("http://h/<*.css>", "http://h/a/site.css", false),
            ("http://h/<**.css>", "http://h/a/site.css", true),
        ],
    );
}

// SPEC §3.4: glob has no capture groups.
#[test]
fn glob_captures_are_empty() {
    let p = compile(Strategy::Glob, "<https|http>://h/<*>");
    assert!(p.captures("http://h/x").is_ok_and(|c| c.is_empty()));
}

// SPEC §3.4: delimiter and glob syntax errors.
#[test]
fn glob_compile_errors() {
    let cases = [
        ("http://h/<*", "unbalanced"),
        ("http://h/<[abc>", "bad glob"),
        ("http://h/<[]>", "bad glob"),
        ("http://h/<[z-a]>", "bad glob"),
        ("http://h/<{a,b>", "bad glob"),
        ("http://h/<a\\>", "bad glob"),
    ];
    for (pattern, want) in cases {
        match Pattern::compile(Strategy::Glob, pattern) {
            Ok(p) => panic!("{pattern:?} compiled to {:?}", p.regex_str()),
            Err(err) => assert!(err.to_string().contains(want), "{pattern:?}: {err}"),
        }
    }
}

// SPEC §3.4 + DESIGN §6: the matched path is the normalized one, so traversal cannot dodge
// a rule.
#[test]
fn path_traversal_is_matched_after_normalizing() {
    let admin = compile(Strategy::Regexp, "http://h/admin/<.*>");
    let public = compile(Strategy::Regexp, "http://h/public/<.*>");
    for raw in [
        "/public/../admin/secrets",
        "/public/%2e%2e/admin/secrets",
        "/public%2F..%2Fadmin/secrets",
        "//admin//secrets/",
    ] {
        let url = format!("http://h{}", normalize_path(raw).unwrap_or_default());
        assert_eq!(admin.is_match(&url).ok(), Some(true), "{raw:?}");
        assert_eq!(public.is_match(&url).ok(), Some(false), "{raw:?}");
    }
}

// Index keys come from literals that are proven to be required.
#[test]
fn index_keys() {
    let prefix = |s: &str| Key::Prefix(s.into());
    let anywhere = |s: &str| Key::Anywhere(s.into());
    let cases = [
        (
            Strategy::Regexp,
            "http://a.b/api/<.*>",
            prefix("http://a.b/api/"),
        ),
        (
            Strategy::Regexp,
            "<https|http>://<[^/]+>/v1/<.*>",
            anywhere("/v1/"),
        ),
        (Strategy::Regexp, "<https|http>://<[^/]+>/v/<.*>", Key::None),
        (Strategy::Regexp, "http://<[^/]+>/v/<.*>", prefix("http://")),
        (Strategy::Regexp, "http://h/x", prefix("http://h/x")),
        (Strategy::Regexp, "<.*>", Key::None),
        (Strategy::Regexp, "<.*>/health<(?!x)>", anywhere("/health")),
        (Strategy::Glob, "http://a.b/<*>/x", prefix("http://a.b/")),
        (
            Strategy::Glob,
            "<{http,https}>://a.b/<**>",
            anywhere("://a.b/"),
        ),
        (Strategy::Glob, "<**>", Key::None),
    ];
    for (strategy, pattern, want) in cases {
        assert_eq!(compile(strategy, pattern).key(), &want, "{pattern:?}");
    }
}

// DESIGN §4: one snapshot is shared by all request tasks.
#[test]
fn pattern_and_index_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pattern>();
    assert_send_sync::<MatchIndex>();
}
