//! Parser, renderer, SPEC examples, limits and a no-panic property test.
//! The sample session (see `sample_session`): subject `alice`; extra
//! `{"a":1,"f":1.5,"s":"str","t":true,"n":null,"groups":["admin","dev"],"nested":{"k":"v","list":[1,2]}}`;
//! header `X-User: alice`; capture groups `["42","abc"]`; URL
//! `https://example.com:8443/users/42/abc?k=v1&k=v2&q=a+b`; method GET; request headers
//! `X-Foo: foo1, foo2` and `Accept: */*`.

use super::*;

pub(super) fn render(src: &str) -> Result<String, TemplateError> {
    Template::parse(src)?.render(&sample_session())
}

pub(super) fn ok(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        match render(src) {
            Ok(got) => assert_eq!(got, *want, "template {src:?}"),
            Err(e) => panic!("template {src:?} failed: {e}"),
        }
    }
}

pub(super) fn parse_err(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        match Template::parse(src) {
            Err(e @ TemplateError::Parse { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(want),
                    "template {src:?}: {msg:?} lacks {want:?}"
                );
            }
            other => panic!("template {src:?}: expected parse error, got {other:?}"),
        }
    }
}

pub(super) fn exec_err(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        let t = Template::parse(src).unwrap_or_else(|e| panic!("template {src:?}: {e}"));
        match t.render(&sample_session()) {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(want),
                    "template {src:?}: {msg:?} lacks {want:?}"
                );
            }
            Ok(out) => panic!("template {src:?}: expected error, got {out:?}"),
        }
    }
}

// SPEC §2.9, §3.2, §4.2, §5.2, Appendix B (5, 9, 16): every template example in the SPEC.
#[test]
fn spec_examples() {
    ok(&[
        ("{{ print .Subject }}", "alice"),
        ("{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}", "42"),
        ("{{ printIndex .MatchContext.RegexpCaptureGroups 5 }}", ""),
        (
            r#"{"subject":"{{ print .Subject }}","resource":"{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"}"#,
            r#"{"subject":"alice","resource":"42"}"#,
        ),
        (r#"{{ .MatchContext.Header.Get "X-Foo" }}"#, "foo1"),
        (r#"{{ .MatchContext.Header.Get "x-foo" }}"#, "foo1"),
        (r#"{{ .MatchContext.Header.Get "X-None" }}"#, ""),
        (r#"{{ .MatchContext.URL.Query.Get "k" }}"#, "v1"),
        (r#"{{ .MatchContext.URL.Query.Get "q" }}"#, "a b"),
        ("{{ print .Extra.a }}", "1"),
        ("{{ .Extra.missing }}", "<no value>"),
        ("{{ print .Extra.missing }}", ""),
        // SPEC §3.2 migration of keto `$N` placeholders.
        ("{{ printIndex .MatchContext.RegexpCaptureGroups (sub 1 1 | int) }}", "42"),
        ("{{ printIndex .MatchContext.RegexpCaptureGroups (sub 2 1 | int) }}", "abc"),
        // SPEC §4.2: URL fields and methods.
        ("{{ .MatchContext.URL.Scheme }}", "https"),
        ("{{ .MatchContext.URL.Host }}", "example.com:8443"),
        ("{{ .MatchContext.URL.Path }}", "/users/42/abc"),
        ("{{ .MatchContext.URL.RawQuery }}", "k=v1&k=v2&q=a+b"),
        ("{{ .MatchContext.URL.Hostname }}", "example.com"),
        ("{{ .MatchContext.URL.Port }}", "8443"),
        ("{{ .MatchContext.URL.String }}", "https://example.com:8443/users/42/abc?k=v1&k=v2&q=a+b"),
        ("{{ .MatchContext.URL }}", "https://example.com:8443/users/42/abc?k=v1&k=v2&q=a+b"),
        ("[{{ .MatchContext.URL.Fragment }}{{ .MatchContext.URL.RawPath }}{{ .MatchContext.URL.Opaque }}]", "[]"),
        ("{{ .MatchContext.URL.RequestURI }}", "/users/42/abc?k=v1&k=v2&q=a+b"),
        ("{{ .MatchContext.URL.Query }}", "map[k:[v1 v2] q:[a b]]"),
        ("{{ .MatchContext.URL.Query.Encode }}", "k=v1&k=v2&q=a+b"),
        ("{{ .MatchContext.Method }}", "GET"),
        ("{{ .MatchContext.RegexpCaptureGroups }}", "[42 abc]"),
        ("{{ index .MatchContext.Header \"X-Foo\" }}", "[foo1 foo2]"),
        ("{{ index .MatchContext.Header \"x-foo\" }}", "[]"),
        ("{{ .MatchContext.Header.Values \"X-Foo\" }}", "[foo1 foo2]"),
        ("{{ .MatchContext.Header }}", "map[Accept:[*/*] X-Foo:[foo1 foo2]]"),
        ("{{ .Header.Get \"X-User\" }}", "alice"),
        ("{{ .Header }}", "map[X-User:[alice]]"),
    ]);
    exec_err(&[
        ("{{ .UnknownField }}", "can't evaluate field UnknownField"),
        (
            "{{ .MatchContext.Nope }}",
            "can't evaluate field Nope in type authn.MatchContext",
        ),
        ("{{ .MatchContext.URL.Nope }}", "can't evaluate field Nope"),
        (
            "{{ .Subject.Foo }}",
            "can't evaluate field Foo in type string",
        ),
        (
            "{{ .MatchContext.Header.Get }}",
            "wrong number of args for Get: want 1 got 0",
        ),
    ]);
}

// SPEC §4.2: Extra is a JSON object with missingkey=zero semantics.
#[test]
fn extra_access() {
    ok(&[
        ("{{ .Extra.s }}", "str"),
        ("{{ .Extra.f }}", "1.5"),
        ("{{ .Extra.t }}", "true"),
        ("{{ .Extra.n }}", "<no value>"),
        ("{{ print .Extra.n }}", ""),
        ("{{ .Extra.groups }}", "[admin dev]"),
        ("{{ .Extra.nested }}", "map[k:v list:[1 2]]"),
        ("{{ .Extra.nested.k }}", "v"),
        ("{{ .Extra.nested.list }}", "[1 2]"),
        ("{{ index .Extra \"a\" }}", "1"),
        ("{{ index .Extra \"nested\" \"k\" }}", "v"),
        ("{{ index .Extra.groups 1 }}", "dev"),
        ("{{ index .Extra \"nope\" }}", "<no value>"),
        (
            "{{ .Extra }}",
            "map[a:1 f:1.5 groups:[admin dev] n:<nil> nested:map[k:v list:[1 2]] s:str t:true]",
        ),
        ("{{ len .Extra.groups }}", "2"),
        ("{{ len .Extra.s }}", "3"),
        ("{{ len .Extra }}", "7"),
    ]);
    exec_err(&[
        ("{{ index .Extra.groups 5 }}", "index out of range: 5"),
        ("{{ index .Extra.missing 0 }}", "index of untyped nil"),
        ("{{ len .Extra.missing }}", "len of nil pointer"),
        ("{{ len .Extra.a }}", "len of type int"),
        ("{{ .Extra.s.x }}", "can't evaluate field x in type string"),
    ]);
}

// SPEC §4.2 (`missingkey=zero`, Go's text/template): a missing key at the last step of a field
// chain is nil, but a field of a nil map element or range element is an execution error, so a
// template that reads a claim below a missing one fails the request (500) instead of rendering
// `<no value>`. Go turns a pipeline's nil result into an invalid value, whose fields are nil
// again: `(index .Extra "zz").b` and `$x.b` after `$x := .Extra.zz` render `<no value>` there
// too (checked against Go 1.19 text/template with Sprig 3.2.3).
#[test]
fn field_of_missing_value() {
    exec_err(&[
        (
            "{{ .Extra.identity.traits.email }}",
            "nil pointer evaluating interface {}.traits",
        ),
        (
            "{{ .Extra.missing.deeper }}",
            "nil pointer evaluating interface {}.deeper",
        ),
        (
            "{{ print .Extra.nope.key }}",
            "nil pointer evaluating interface {}.key",
        ),
        ("{{ .Extra.n.x }}", "nil pointer evaluating interface {}.x"),
        ("{{ .Extra.nested.missing.x }}", "nil pointer evaluating"),
        (
            "{{ $x := .Extra }}{{ $x.identity.traits }}",
            "nil pointer evaluating",
        ),
        ("{{ $.Extra.identity.traits }}", "nil pointer evaluating"),
        (
            "{{ if .Extra.identity.traits }}x{{ end }}",
            "nil pointer evaluating",
        ),
        (
            "{{ default \"d\" .Extra.identity.traits }}",
            "nil pointer evaluating",
        ),
        (
            "{{ .Extra.missing.deeper | print }}",
            "nil pointer evaluating",
        ),
        (
            "{{ range list nil }}{{ .x }}{{ end }}",
            "nil pointer evaluating interface {}.x",
        ),
        (
            "{{ range $e := list nil }}{{ $e.x }}{{ end }}",
            "nil pointer evaluating",
        ),
        (
            "{{ range $k, $v := dict \"a\" nil }}{{ $v.x }}{{ end }}",
            "nil pointer evaluating",
        ),
        // Fields of scalars.
        ("{{ .Extra.s.b }}", "can't evaluate field b"),
        ("{{ .Extra.f.b }}", "can't evaluate field b"),
        ("{{ .Extra.t.b }}", "can't evaluate field b"),
        ("{{ .Extra.a.b }}", "can't evaluate field b"),
        (
            "{{ $x := .Extra.s }}{{ $x.b }}",
            "can't evaluate field b in type string",
        ),
        (
            "{{ (index .Extra \"f\").b }}",
            "can't evaluate field b in type float64",
        ),
        (
            "{{ range .Extra.nested.list }}{{ .x }}{{ end }}",
            "can't evaluate field x",
        ),
        (
            "{{ .MatchContext.URL.User.Name }}",
            "can't evaluate field Name",
        ),
        // index: nil as the operand, nil reached through a key.
        ("{{ index .Extra.missing }}", "index of untyped nil"),
        ("{{ index .Extra \"zz\" \"b\" }}", "index of nil pointer"),
    ]);
    ok(&[
        // The last step stays `missingkey=zero`.
        ("{{ .Extra.missing }}", "<no value>"),
        ("{{ print .Extra.missing }}", ""),
        ("{{ .Extra.nested.missing }}", "<no value>"),
        ("{{ index .Extra \"zz\" }}", "<no value>"),
        ("{{ index .Extra \"nested\" \"zz\" }}", "<no value>"),
        // A pipeline's nil is an invalid value in Go: its fields are nil, not errors.
        ("{{ (index .Extra \"zz\").b }}", "<no value>"),
        ("{{ $x := .Extra.missing }}{{ $x.a.b }}", "<no value>"),
        ("{{ with .Extra.identity }}{{ .traits.email }}{{ end }}", ""),
        (
            "{{ and .Extra.identity .Extra.identity.traits }}",
            "<no value>",
        ),
        ("{{ if .Extra.nested }}{{ .Extra.nested.k }}{{ end }}", "v"),
        (
            "{{ .MatchContext.URL.User }}|{{ .MatchContext.URL.User.Username }}",
            "<no value>|",
        ),
    ]);
}

// SPEC §4.2 (Go text/template): text, trimming and comments.
#[test]
fn text_trim_comments() {
    ok(&[
        ("plain text", "plain text"),
        ("", ""),
        ("a {{- \" b \" -}} c", "a b c"),
        ("a  \n\t{{- .Subject }}  b", "aalice  b"),
        ("a {{ .Subject -}} \n  b", "a aliceb"),
        ("a {{/* comment */}} b", "a  b"),
        ("a {{- /* comment */ -}} b", "ab"),
        ("{{/* multi\nline */}}x", "x"),
        ("{{-3}}", "-3"),
        ("{{ 3 -}}\n x", "3x"),
        ("x{{\n.Subject\n}}y", "xalicey"),
        ("}} stray closer", "}} stray closer"),
    ]);
    parse_err(&[
        ("{{/* open", "unclosed comment"),
        ("{{/* c */ x}}", "comment ends before closing delimiter"),
        ("{{ .Subject", "unclosed action"),
        ("a\nb {{ .Subject ", "2:"),
    ]);
}

// Go text/template: literals and pipelines.
#[test]
fn literals_and_pipelines() {
    ok(&[
        ("{{ \"a\\tb\\n\" }}", "a\tb\n"),
        ("{{ \"\\u00e9\\x41\\101\" }}", "éAA"),
        ("{{ `raw \\n {{` }}", "raw \\n {{"),
        (
            "{{ 42 }} {{ -7 }} {{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }}",
            "42 -7 31 15 15 5 1000",
        ),
        ("{{ 1.5 }} {{ 1e3 }} {{ 2.0 }} {{ .5 }}", "1.5 1000 2 0.5"),
        ("{{ 'a' }}", "97"),
        ("{{ true }} {{ false }}", "true false"),
        ("{{ . | printf \"%T\" }}", "*authn.AuthenticationSession"),
        ("{{ .Subject | printf \"%s!\" }}", "alice!"),
        ("{{ \"b\" | printf \"%s-%s\" \"a\" }}", "a-b"),
        ("{{ .Subject | upper | printf \"<%s>\" }}", "<ALICE>"),
        ("{{ (print .Subject) }}", "alice"),
        ("{{ (.MatchContext.URL).Host }}", "example.com:8443"),
        ("{{ (index .Extra \"nested\").k }}", "v"),
        ("{{ print (print 1) (print 2) }}", "12"),
    ]);
    parse_err(&[
        ("{{ }}", "missing value for command"),
        ("{{ nil }}", "nil is not a command"),
        (
            "{{ .Subject | \"x\" }}",
            "non executable command in pipeline stage 2",
        ),
        ("{{ nosuchfunc 1 }}", "function \"nosuchfunc\" not defined"),
        ("{{ \"unterminated }}", "unterminated quoted string"),
        ("{{ `unterminated }}", "unterminated raw quoted string"),
        ("{{ ( print 1 }}", "unclosed left paren"),
        ("{{ print 1) }}", "unexpected right paren"),
        ("{{ 1x }}", "bad number syntax"),
        ("{{ # }}", "unrecognized character"),
        ("{{ \"\\q\" }}", "unknown escape"),
        ("{{ print\"a\" }}", "in operand"),
        ("{{ 1.Foo }}", "bad number syntax"),
        ("{{ \"x\".Foo }}", "unexpected . after term"),
        ("{{ template \"x\" }}", "no such template \"x\""),
        ("{{ : }}", "expected :="),
    ]);
    exec_err(&[
        ("{{ 1 2 }}", "can't give argument to non-function"),
        (
            "{{ .Subject 1 }}",
            "Subject is not a method but has arguments",
        ),
        (
            "{{ .Subject | .Subject }}",
            "not a method but has arguments",
        ),
    ]);
}

// Go text/template: variables, if/else, with, range, break/continue.
#[test]
fn control_flow() {
    ok(&[
        ("{{ $x := .Subject }}{{ $x }}", "alice"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ $.Subject }}", "alice"),
        ("{{ with .Extra }}{{ $.Subject }}-{{ .s }}{{ end }}", "alice-str"),
        ("{{ if .Subject }}yes{{ else }}no{{ end }}", "yes"),
        ("{{ if .Extra.missing }}yes{{ else }}no{{ end }}", "no"),
        ("{{ if eq .Subject \"bob\" }}b{{ else if eq .Subject \"alice\" }}a{{ else }}c{{ end }}", "a"),
        ("{{ if false }}1{{ else if false }}2{{ else }}3{{ end }}", "3"),
        ("{{ with .Extra.nested }}{{ .k }}{{ end }}", "v"),
        ("{{ with .Extra.missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ with $v := .Extra.s }}{{ $v }}{{ end }}", "str"),
        ("{{ with .Extra.missing }}x{{ else with .Extra.s }}{{ . }}{{ end }}", "str"),
        ("{{ range .Extra.groups }}[{{ . }}]{{ end }}", "[admin][dev]"),
        ("{{ range $i, $g := .Extra.groups }}{{ $i }}={{ $g }};{{ end }}", "0=admin;1=dev;"),
        ("{{ range $g := .MatchContext.RegexpCaptureGroups }}{{ $g }},{{ end }}", "42,abc,"),
        ("{{ range $k, $v := .Extra.nested }}{{ $k }}:{{ $v }};{{ end }}", "k:v;list:[1 2];"),
        ("{{ range $k, $v := .MatchContext.Header }}{{ $k }}={{ $v }};{{ end }}", "Accept=[*/*];X-Foo=[foo1 foo2];"),
        ("{{ range .Extra.missing }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range list }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range .Extra.groups }}{{ if eq . \"admin\" }}{{ continue }}{{ end }}{{ . }}{{ end }}", "dev"),
        ("{{ range .Extra.groups }}{{ . }}{{ break }}{{ end }}", "admin"),
        ("{{ $n := 0 }}{{ range .Extra.groups }}{{ $n = add1 $n }}{{ end }}{{ $n }}", "2"),
        ("{{ if and .Subject .Extra.a }}both{{ end }}", "both"),
        ("{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 3 4 }} {{ not 0 }}", "0 2  3 true"),
        ("{{ or .Extra.missing \"fallback\" }}", "fallback"),
        ("{{ and .Extra.missing (index .Extra.missing 0) }}", "<no value>"),
    ]);
    parse_err(&[
        ("{{ $x }}", "undefined variable \"$x\""),
        (
            "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
            "undefined variable",
        ),
        ("{{ $x = 1 }}", "undefined variable"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ if true }}x", "unexpected EOF"),
        ("{{ if true }}{{ else }}{{ else }}{{ end }}", "expected end"),
        ("{{ break }}", "outside {{range}}"),
        ("{{ if }}{{ end }}", "missing value for if"),
        ("{{ $a, $b := 1 }}", "only range may declare two variables"),
    ]);
    exec_err(&[(
        "{{ range .Subject }}{{ end }}",
        "range can't iterate over alice",
    )]);
}

// Go text/template: comparison built-ins.
#[test]
fn comparisons() {
    ok(&[
        (
            "{{ eq 1 1 }} {{ eq 1 2 }} {{ eq 1 2 3 1 }} {{ eq \"a\" \"a\" }}",
            "true false true true",
        ),
        (
            "{{ eq .Extra.a 1 }} {{ eq .Extra.f 1.5 }} {{ eq .Extra.a 1.0 }}",
            "true true true",
        ),
        (
            "{{ eq .Extra.missing nil }} {{ eq .Subject nil }}",
            "true false",
        ),
        ("{{ ne 1 2 }} {{ ne \"a\" \"a\" }}", "true false"),
        (
            "{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 1.5 }}",
            "true true false true",
        ),
        ("{{ lt \"a\" \"b\" }} {{ gt \"b\" \"a\" }}", "true true"),
    ]);
    exec_err(&[
        ("{{ eq 1 \"1\" }}", "incompatible types for comparison"),
        ("{{ lt true false }}", "invalid type for comparison"),
        ("{{ eq .Extra.groups 1 }}", "non-comparable type"),
        ("{{ eq 1 }}", "missing argument for comparison"),
    ]);
}

// Limits: output size, steps, range iterations, nesting, parse depth.
#[test]
fn limits() {
    exec_err(&[
        ("{{ repeat 2000000 \"x\" }}", "exceeds"),
        (
            "{{ $s := repeat 1000000 \"x\" }}{{ $s }}{{ $s }}",
            "output exceeds",
        ),
        (
            "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}",
            "limit",
        ),
        (
            "{{ $l := list }}{{ range until 100 }}{{ $l = list $l }}{{ end }}",
            "nested too deeply",
        ),
        (
            "{{ $s := repeat 500000 \"x\" }}{{ range until 1000 }}{{ $t := cat $s $s }}{{ end }}",
            "limit",
        ),
    ]);
    let deep = format!(
        "{}x{}",
        "{{ if true }}".repeat(500),
        "{{ end }}".repeat(500)
    );
    parse_err(&[(deep.as_str(), "nesting deeper than")]);
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    parse_err(&[(parens.as_str(), "nesting deeper than")]);
    let ok_deep = format!("{}x{}", "{{ if true }}".repeat(90), "{{ end }}".repeat(90));
    let ok_parens = format!("{{{{ {}1{} }}}}", "(print ".repeat(99), ")".repeat(99));
    ok(&[(ok_deep.as_str(), "x"), (ok_parens.as_str(), "1")]);
}

#[test]
fn error_positions_and_api() {
    let e = Template::parse("line1\n  {{ nosuch }}")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("template parse error at 2:6: function \"nosuch\" not defined")
    );
    let t = Template::parse("ab\n{{ .Nope }}").unwrap_or_else(|e| panic!("{e}"));
    let e = t.render(&sample_session()).err().map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("template execution error at 2:4: can't evaluate field Nope in type *authn.AuthenticationSession")
    );
    assert_eq!(t.source(), "ab\n{{ .Nope }}");
    let t2 = t.clone();
    fn assert_send_sync<T: Send + Sync + Clone>(_: &T) {}
    assert_send_sync(&t2);
    let empty = Session::default();
    let t = Template::parse("[{{ .Subject }}][{{ print .Extra.x }}][{{ .MatchContext.URL }}]")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.render(&empty).ok().as_deref(), Some("[][][]"));
}

/// Property: `fuzz_parse_render` never panics on random bytes, nor on random splices of
/// template fragments (which reach the executor far more often).
#[test]
fn fuzz_never_panics() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        " -}}",
        " ",
        ".",
        ".Extra",
        ".a",
        ".groups",
        ".MatchContext",
        ".URL",
        ".Query",
        ".Get",
        "\"k\"",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "range",
        "if",
        "else",
        "end",
        "with",
        "print",
        "printf",
        "\"%v %d %s %q\"",
        "index",
        "0",
        "1",
        "-1",
        "99999999999",
        "1.5",
        "nil",
        "true",
        "toJson",
        "split",
        "join",
        "list",
        "dict",
        "repeat",
        "until",
        "add",
        "div",
        "len",
        "slice",
        "substr",
        "trunc",
        "printIndex",
        "default",
        "`raw`",
        "'c'",
        "/*",
        "*/",
        "break",
        "continue",
        "eq",
        "lt",
        "and",
        "or",
        ",",
        "$i",
        "fromJson",
        "\"[1,[2]]\"",
        "b64dec",
        "\"\\u00e9\"",
        "é",
    ];
    for _ in 0..3000 {
        let n = (rnd() % 24) as usize;
        let mut src = String::new();
        for _ in 0..n {
            src.push_str(PIECES[(rnd() as usize) % PIECES.len()]);
            if rnd() % 2 == 0 {
                src.push(' ');
            }
        }
        fuzz_parse_render(src.as_bytes());
    }
    for _ in 0..3000 {
        let n = (rnd() % 64) as usize;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                let b = rnd() as u8;
                // Bias towards template syntax so the lexer sees interesting input.
                const SYNTAX: &[u8] = b"{}.|$()\" -:=`'";
                if b % 3 == 0 {
                    SYNTAX[(b as usize / 3) % SYNTAX.len()]
                } else {
                    b
                }
            })
            .collect();
        fuzz_parse_render(&bytes);
    }
}

/// The rule matcher skips capture extraction for rules whose templates never read
/// `MatchContext`: the judgement must be conservative.
#[test]
fn match_context_readers() {
    for src in [
        "{{ .MatchContext.RegexpCaptureGroups }}",
        "{{ index .MatchContext.RegexpCaptureGroups 0 }}",
        "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
        "{{ with .MatchContext }}{{ .RegexpCaptureGroups }}{{ end }}",
        "{{ range $i, $g := .MatchContext.RegexpCaptureGroups }}{{ $g }}{{ end }}",
        "{{ . }}",
        "{{ toJson . }}",
        "{{ $ }}",
        "{{ $s := . }}{{ $s.Subject }}",
        "{{ index . \"MatchContext\" }}",
        "{{ $.MatchContext.URL.Path }}",
        "{{ (print .Subject) }}{{ if .Extra.a }}{{ .MatchContext.Method }}{{ end }}",
        "{{ range .Extra.groups }}{{ . }}{{ end }}",
    ] {
        let t = Template::parse(src).expect(src);
        assert!(t.reads_match_context(), "{src}");
    }
    for src in [
        "plain",
        "{{ print .Subject }}",
        "{{ .Extra.groups }}",
        "{{ $.Subject }} {{ .Header }}",
        "{{ if .Extra.t }}{{ .Subject | upper }}{{ else }}x{{ end }}",
    ] {
        let t = Template::parse(src).expect(src);
        assert!(!t.reads_match_context(), "{src}");
    }
}

/// Property: a template judged not to read `MatchContext` renders the same with and without
/// capture groups (random templates biased to field syntax, fixed seed).
#[test]
fn templates_that_do_not_read_match_context_ignore_captures() {
    let with = sample_session();
    let mut without = sample_session();
    without.match_context.regexp_capture_groups.clear();
    let mut seed: u64 = 0x5eed_cafe;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const PARTS: &[&str] = &[
        "{{ ",
        " }}",
        ".",
        ".Subject",
        ".Extra",
        ".groups",
        ".MatchContext",
        ".RegexpCaptureGroups",
        "$",
        "$x := ",
        "$x",
        " | ",
        "print ",
        "toJson ",
        "index ",
        " 0",
        "(",
        ")",
        "range ",
        "with ",
        "end",
        "if ",
        "else",
        ".URL",
        "text",
    ];
    let (mut judged_free, mut rendered) = (0, 0);
    for _ in 0..20_000 {
        let n = 1 + (rnd() % 10) as usize;
        let src: String = (0..n)
            .map(|_| PARTS[(rnd() % PARTS.len() as u64) as usize])
            .collect();
        let Ok(t) = Template::parse(&src) else {
            continue;
        };
        if t.reads_match_context() {
            continue;
        }
        judged_free += 1;
        let a = t.render(&with).map_err(|e| e.to_string());
        let b = t.render(&without).map_err(|e| e.to_string());
        assert_eq!(a, b, "{src}");
        rendered += usize::from(a.is_ok());
    }
    assert!(
        judged_free > 100 && rendered > 50,
        "{judged_free} {rendered}"
    );
}

// SPEC §4.2 (Go text/template): `{{define}}`, `{{template}}` and `{{block}}`, with the outputs
// and errors Go 1.19's text/template gives for the same sources (checked there). A call to a
// name nothing defines is refused at load, where Go fails when the call runs.
#[test]
fn define_template_and_block() {
    ok(&[
        (
            r#"{{define "u"}}user={{.}}{{end}}{{template "u" .Subject}}"#,
            "user=alice",
        ),
        (
            r#"{{define "g"}}[{{range .}}{{.}};{{end}}]{{end}}{{template "g" .Extra.groups}}|{{template "g" .Extra.groups}}"#,
            "[admin;dev;]|[admin;dev;]",
        ),
        (
            r#"{{template "x"}}{{define "x"}}nil={{.}}{{end}}"#,
            "nil=<no value>",
        ),
        (
            r#"{{block "b" .Subject}}default {{.}}{{end}}"#,
            "default alice",
        ),
        (
            r#"{{$x := 1}}{{define "v"}}{{$}}{{end}}{{template "v" .Subject}}{{$x}}"#,
            "alice1",
        ),
        (
            r#"{{define "a"}}A{{end}}{{define "a"}} {{end}}{{template "a"}}"#,
            "A",
        ),
        (
            r#"{{range .Extra.groups}}{{block "r" .}}<{{.}}>{{end}}{{end}}"#,
            "<admin><dev>",
        ),
        (
            r#"{{define "rec"}}{{if .}}x{{template "rec" slice . 1}}{{end}}{{end}}{{template "rec" "abc"}}"#,
            "xxx",
        ),
    ]);
    parse_err(&[
        (
            r#"{{block "b" .Subject}}d{{end}}{{define "b"}}o{{end}}"#,
            "multiple definition of template \"b\"",
        ),
        (
            r#"{{define "a"}}A{{end}}{{define "a"}}B{{end}}"#,
            "multiple definition",
        ),
        (r#"{{template "nope"}}"#, "no such template \"nope\""),
        (
            r#"{{if true}}{{define "a"}}A{{end}}{{end}}"#,
            "only allowed at the top level",
        ),
        (
            r#"{{define "a"}}{{$x}}{{end}}{{$x := 1}}"#,
            "undefined variable \"$x\"",
        ),
        (
            r#"{{range .Extra.groups}}{{block "a" .}}{{break}}{{end}}{{end}}"#,
            "{{break}} outside",
        ),
        (r#"{{template .Subject}}"#, "in template clause"),
    ]);
    // Unbounded recursion stops at the call depth limit, as an error (the request fails closed).
    let t = Template::parse(r#"{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}"#)
        .expect("parses");
    assert!(t.render(&sample_session()).is_err());
}

// The deepest render the limits allow (100 nested calls of a body nested 99 deep) fits in a
// worker thread's 2 MiB stack: an error, not a stack overflow.
#[test]
fn deepest_render_fits_a_worker_stack() {
    let open = "{{if true}}".repeat(98);
    let close = "{{end}}".repeat(98);
    let src = format!(
        r#"{{{{define "r"}}}}{open}{{{{template "r" .}}}}{close}{{{{end}}}}{{{{template "r" .}}}}"#
    );
    let t = Template::parse(&src).expect("parses");
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || t.render(&sample_session()).is_err())
        .expect("thread");
    assert!(worker.join().expect("no stack overflow"));
    // Calls as deep as allowed, each ending in a pipeline nested 97 deep.
    let parens = format!("{}.{}", "(print ".repeat(97), ")".repeat(97));
    let src = format!(
        r#"{{{{define "r"}}}}{{{{if .}}}}{{{{template "r" slice . 1}}}}{{{{end}}}}{{{{print {parens}}}}}{{{{end}}}}{{{{template "r" "{}"}}}}"#,
        "x".repeat(98)
    );
    let t = Template::parse(&src).expect("parses");
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || t.render(&sample_session()).map(|s| s.len()))
        .expect("thread");
    let rendered = worker.join().expect("no stack overflow");
    assert!(rendered.is_ok(), "{rendered:?}");
}
