//! Every function: Go built-ins, Oathkeeper overrides, Sprig (SPEC §4.2: "all Sprig (text)
//! functions" — the commonly used subset), printf verbs and toJson exactness.

use super::tests::{exec_err, ok, parse_err};

// SPEC §4.2: Oathkeeper's `print` / `printIndex` overrides.
#[test]
fn print_overrides() {
    ok(&[
        ("{{ print .Extra.groups }}", "[admin dev]"),
        ("{{ print .Extra.f }}", "1.5"),
        ("{{ print .Extra.nested }}", "map[k:v list:[1 2]]"),
        ("{{ print nil }}", ""),
        ("{{ print }}", ""),
        ("{{ print 1 2 \"a\" \"b\" 3 }}", "1 2ab3"),
        ("{{ print .Extra.n }}", ""),
        ("{{ printIndex .Extra.groups 1 }}", "dev"),
        ("{{ printIndex .Extra.groups -1 }}", ""),
        ("{{ printIndex .Extra.missing 0 }}", ""),
        ("{{ printIndex .Subject 0 }}", ""),
        ("{{ printIndex .Extra.nested.list 0 }}", "1"),
        ("{{ println 1 \"a\" }}", "1 a\n"),
    ]);
    exec_err(&[("{{ printIndex .Extra.groups \"x\" }}", "expected int")]);
}

// Go text/template built-ins: index, slice, len, html, js, urlquery.
#[test]
fn go_builtins() {
    ok(&[
        ("{{ index \"abc\" 1 }}", "98"),
        ("{{ index .Extra.nested.list 1 }}", "2"),
        ("{{ slice \"abcdef\" 1 3 }}", "bc"),
        ("{{ slice .Extra.groups 1 }}", "[dev]"),
        ("{{ slice (list 1 2 3) }}", "[1 2 3]"),
        (
            "{{ html \"<a href='x'>&\\\"\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;",
        ),
        ("{{ html .Extra.missing }}", "&lt;no value&gt;"),
        (
            "{{ js \"it's <b>\\\"=\\n\" }}",
            "it\\'s \\u003Cb\\u003E\\\"\\u003D\\u000A",
        ),
        ("{{ urlquery \"a b&c=d/é\" }}", "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ .Subject | urlquery }}", "alice"),
        ("{{ urlquery 1 2 }}", "1+2"),
    ]);
    exec_err(&[
        ("{{ slice \"abc\" 2 1 }}", "slice index out of range"),
        ("{{ slice 1 }}", "can't slice item of type int"),
        ("{{ index .Extra 1 }}", "should be string"),
        ("{{ index 1 1 }}", "can't index item of type int"),
    ]);
}

// Go fmt via printf.
#[test]
fn printf_verbs() {
    ok(&[
        (
            "{{ printf \"%s|%d|%v|%t\" \"a\" 42 .Extra.groups true }}",
            "a|42|[admin dev]|true",
        ),
        ("{{ printf \"%q\" \"a\\\"b\\n\" }}", "\"a\\\"b\\n\""),
        (
            "{{ printf \"%f|%.2f|%e|%g\" 1.5 3.14159 123456.0 0.0001 }}",
            "1.500000|3.14|1.234560e+05|0.0001",
        ),
        (
            "{{ printf \"%x|%X|%x|%o|%b|%c\" 255 255 \"hi\" 8 5 65 }}",
            "ff|FF|6869|10|101|A",
        ),
        (
            "{{ printf \"%5d|%-5d|%05d|%+d|%.3d\" 42 42 -42 42 7 }}",
            "   42|42   |-0042|+42|007",
        ),
        (
            "{{ printf \"%6.2f|%-8s|%8s|%.2s\" 3.14159 \"ab\" \"ab\" \"abc\" }}",
            "  3.14|ab      |      ab|ab",
        ),
        ("{{ printf \"%d%%\" 50 }}", "50%"),
        (
            "{{ printf \"%d\" .Extra.a }} {{ printf \"%.1f\" .Extra.a }}",
            "1 1.0",
        ),
        ("{{ printf \"%d %d\" 1 }}", "1 %!d(MISSING)"),
        ("{{ printf \"%d\" 1 2 }}", "1%!(EXTRA int=2)"),
        ("{{ printf \"%d\" \"x\" }}", "%!d(string=x)"),
        ("{{ printf \"%s\" 5 }}", "%!s(int=5)"),
        (
            "{{ printf \"%v\" nil }}|{{ printf \"%s\" nil }}",
            "<nil>|%!s(<nil>)",
        ),
        ("{{ printf \"%s\" .Extra.groups }}", "[admin dev]"),
        (
            "{{ printf \"%v\" .MatchContext.URL }}",
            "https://example.com:8443/users/42/abc?k=v1&k=v2&q=a+b",
        ),
        (
            "{{ printf \"%T %T %T\" 1 \"s\" .Extra }}",
            "int string map[string]interface {}",
        ),
        ("{{ printf \"abc%\" }}", "abc%!(NOVERB)"),
        ("{{ printf \"%1000001d\" 1 }}", "%!(BADWIDTH)1"),
        (
            "{{ printf \"%v %v %v %v\" 1e6 1e21 1e-5 123456.0 }}",
            "1e+06 1e+21 1e-05 123456",
        ),
        ("{{ printf \"%v %v\" 100000.0 0.000012 }}", "100000 1.2e-05"),
        (
            "{{ printf \"%.3g %g %G\" 3.14159 1e100 1e-10 }}",
            "3.14 1e+100 1E-10",
        ),
    ]);
}

// Sprig: defaults and flow.
#[test]
fn sprig_defaults() {
    ok(&[
        ("{{ default \"x\" .Extra.y }}", "x"),
        ("{{ .Extra.y | default \"x\" }}", "x"),
        ("{{ default \"x\" .Extra.s }}", "str"),
        ("{{ default \"x\" \"\" }} {{ default \"x\" 0 }} {{ default \"x\" false }} {{ default \"x\" list }}", "x x x x"),
        ("{{ default \"x\" }}", "x"),
        ("{{ empty .Extra.y }} {{ empty .Extra.s }} {{ empty 0 }} {{ empty .Extra.groups }} {{ empty .MatchContext.URL }}", "true false true false false"),
        ("{{ coalesce .Extra.y \"\" .Extra.s \"z\" }}", "str"),
        ("{{ coalesce .Extra.y \"\" }}", "<no value>"),
        ("{{ ternary \"yes\" \"no\" true }} {{ true | ternary 1 2 }} {{ ternary 1 2 false }}", "yes 1 2"),
    ]);
    exec_err(&[
        ("{{ ternary 1 2 \"x\" }}", "expected bool"),
        ("{{ fail \"boom\" }}", "error calling fail: boom"),
    ]);
}

// Sprig: string functions (subject last).
#[test]
fn sprig_strings() {
    ok(&[
        ("{{ lower \"HeLLo\" }} {{ upper \"héllo\" }}", "hello HÉLLO"),
        ("{{ title \"hello wide-world foo_bar\" }}", "Hello Wide-World Foo_bar"),
        ("{{ untitle \"Hello World\" }}", "hello world"),
        ("{{ trim \"  a b \\n\" }}|{{ nospace \" a b c \" }}", "a b|abc"),
        ("{{ trimAll \"$\" \"$$5.00$\" }} {{ trimall \"-\" \"-x-\" }}", "5.00 x"),
        ("{{ trimPrefix \"Bearer \" \"Bearer tok\" }} {{ \"a.b.c\" | trimSuffix \".c\" }}", "tok a.b"),
        ("{{ contains \"li\" .Subject }} {{ hasPrefix \"al\" .Subject }} {{ hasSuffix \"x\" .Subject }}", "true true false"),
        ("{{ replace \"a\" \"o\" \"banana\" }} {{ \"a-b\" | replace \"-\" \"_\" }} {{ replace \"\" \"-\" \"ab\" }}", "bonono a_b -a-b-"),
        ("{{ repeat 3 \"ab\" }}|{{ repeat 0 \"x\" }}", "ababab|"),
        ("{{ substr 1 3 \"hello\" }} {{ substr -1 2 \"hello\" }} {{ substr 2 99 \"hello\" }}", "el he llo"),
        ("{{ trunc 3 \"hello\" }} {{ trunc -2 \"hello\" }} {{ trunc 10 \"hi\" }}", "hel lo hi"),
        ("{{ quote \"a\" 1 nil \"b\\\"\" }}", "\"a\" \"1\" \"b\\\"\""),
        ("{{ squote \"a\" 2 }}", "'a' '2'"),
        ("{{ cat \"a\" 1 nil .Extra.groups }}", "a 1 [admin dev]"),
        ("{{ indent 2 \"a\\nb\" }}|{{ nindent 1 \"x\" }}", "  a\n  b|\n x"),
        ("{{ toString 1 }} {{ toString .Extra.f }} {{ toString nil }} {{ toString .Extra.groups }}", "1 1.5 <nil> [admin dev]"),
        ("{{ toStrings (list 1 nil \"a\") }} {{ toStrings \"x\" }} {{ len (toStrings nil) }}", "[1 a] [x] 0"),
        ("{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }}", "aGVsbG8= hello"),
        ("{{ b64dec \"!!\" }}", "illegal base64 data at input byte 0"),
        ("{{ split \"/\" \"a/b/c\" }} {{ (split \"/\" \"a/b\")._1 }}", "map[_0:a _1:b _2:c] b"),
        ("{{ splitList \",\" \"a,b,,c\" }} {{ len (splitList \"\" \"abc\") }}", "[a b  c] 3"),
        ("{{ splitn \"/\" 2 \"a/b/c\" }}", "map[_0:a _1:b/c]"),
        ("{{ join \",\" .Extra.groups }} {{ join \"-\" .MatchContext.RegexpCaptureGroups }}", "admin,dev 42-abc"),
        ("{{ join \",\" (list 1 nil \"x\" 2.5) }} {{ join \",\" \"solo\" }} [{{ join \",\" nil }}]", "1,x,2.5 solo []"),
        ("{{ .Extra.groups | join \" \" | upper }}", "ADMIN DEV"),
    ]);
    exec_err(&[
        (
            "{{ lower .Extra.a }}",
            "wrong type for value; expected string; got int",
        ),
        (
            "{{ lower .Extra.missing }}",
            "invalid value; expected string",
        ),
        ("{{ repeat -1 \"x\" }}", "negative Repeat count"),
        ("{{ substr 4 2 \"hello\" }}", "slice bounds out of range"),
        (
            "{{ upper }}",
            "wrong number of args for upper: want 1 got 0",
        ),
        (
            "{{ upper \"a\" \"b\" }}",
            "wrong number of args for upper: want 1 got 2",
        ),
    ]);
}

// Sprig: numbers (cast semantics: unparsable → 0).
#[test]
fn sprig_numbers() {
    ok(&[
        ("{{ int \"42\" }} {{ int \"4.0\" }} {{ int \"x\" }} {{ int 3.9 }} {{ int true }} {{ int nil }}", "42 4 0 3 1 0"),
        ("{{ int64 \"0x10\" }} {{ int .Extra.a }} {{ float64 \"1.5\" }} {{ float64 2 }} {{ float64 \"x\" }}", "16 1 1.5 2 0"),
        ("{{ atoi \"12\" }} {{ atoi \"1x\" }} {{ atoi \"-3\" }}", "12 0 -3"),
        ("{{ add 1 2 \"3\" }} {{ add }} {{ add1 .Extra.a }} {{ sub 5 7 }}", "6 0 2 -2"),
        ("{{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 3 }} {{ div -7 2 }}", "24 3 1 -3"),
        ("{{ max 1 5 3 }} {{ min 4 2 8 }} {{ biggest 1 9 }} {{ max 1.9 1 }}", "5 2 9 1"),
        ("{{ until 3 }} {{ until -2 }}", "[0 1 2] [0 -1]"),
    ]);
    exec_err(&[
        ("{{ div 1 0 }}", "integer divide by zero"),
        ("{{ mod 1 0 }}", "integer divide by zero"),
    ]);
}

// Sprig: lists.
#[test]
fn sprig_lists() {
    ok(&[
        ("{{ list 1 \"a\" nil }} {{ tuple 1 2 }}", "[1 a <nil>] [1 2]"),
        ("{{ first .Extra.groups }} {{ last .Extra.groups }} {{ first list }}", "admin dev <no value>"),
        ("{{ rest .Extra.groups }} {{ initial (list 1 2 3) }} {{ reverse (list 1 2 3) }}", "[dev] [1 2] [3 2 1]"),
        ("{{ uniq (list 1 2 1 \"a\" \"a\") }} {{ compact (list 0 1 \"\" \"x\" nil) }}", "[1 2 a] [1 x]"),
        ("{{ sortAlpha (list \"b\" \"a\" 3) }}", "[3 a b]"),
        ("{{ append .Extra.groups \"ops\" }} {{ prepend (list 2) 1 }} {{ push list 1 }}", "[admin dev ops] [1 2] [1]"),
        ("{{ concat (list 1) .Extra.groups (list) }}", "[1 admin dev]"),
        ("{{ has \"dev\" .Extra.groups }} {{ has \"x\" .Extra.groups }} {{ has 1 .Extra.missing }} {{ .Extra.groups | has \"admin\" }}", "true false false true"),
        ("{{ has 2 .Extra.nested.list }}", "true"),
    ]);
    exec_err(&[
        ("{{ first \"abc\" }}", "cannot find first on type string"),
        ("{{ first nil }}", "cannot find first on type <nil>"),
        ("{{ has 1 \"abc\" }}", "cannot find has on type string"),
    ]);
}

// Sprig: dicts.
#[test]
fn sprig_dicts() {
    ok(&[
        ("{{ dict \"b\" 2 \"a\" 1 }} {{ dict \"k\" }} {{ dict }}", "map[a:1 b:2] map[k:] map[]"),
        ("{{ (dict \"a\" .Subject).a }} {{ index (dict 1 \"one\") \"1\" }}", "alice one"),
        ("{{ get .Extra \"s\" }} [{{ get .Extra \"nope\" }}] {{ get (dict \"x\" 1) \"x\" }}", "str [] 1"),
        ("{{ hasKey .Extra \"a\" }} {{ hasKey .Extra \"zz\" }} {{ hasKey (dict \"x\" nil) \"x\" }}", "true false true"),
        ("{{ keys .Extra.nested }} {{ keys (dict \"b\" 1 \"a\" 2) }} {{ keys .Extra.nested (dict \"z\" 1) }}", "[k list] [a b] [k list z]"),
        ("{{ values (dict \"b\" 1 \"a\" 2) }}", "[2 1]"),
        ("{{ pick .Extra \"a\" \"s\" }} {{ omit .Extra.nested \"list\" }}", "map[a:1 s:str] map[k:v]"),
        ("{{ range $k, $v := dict \"x\" 1 \"y\" 2 }}{{ $k }}{{ $v }}{{ end }}", "x1y2"),
    ]);
    exec_err(&[
        (
            "{{ get .Header \"X-User\" }}",
            "expected map[string]interface {}",
        ),
        ("{{ get .Extra 1 }}", "expected string"),
    ]);
}

// SPEC §5.2–5.3: toJson is how typed values get into JSON payloads and id_token claims.
#[test]
fn sprig_json() {
    ok(&[
        (
            r#"{"sub": {{ toJson .Subject }}, "groups": {{ .Extra.groups | toJson }}}"#,
            r#"{"sub": "alice", "groups": ["admin","dev"]}"#,
        ),
        ("{{ toJson .Extra }}", r#"{"a":1,"f":1.5,"groups":["admin","dev"],"n":null,"nested":{"k":"v","list":[1,2]},"s":"str","t":true}"#),
        ("{{ toJson \"<a&b>\\\"\\\\\\n\\u2028\\u0001\" }}", r#""\u003ca\u0026b\u003e\"\\\n\u2028\u0001""#),
        ("{{ toRawJson \"<a&b>\" }}", r#""<a&b>""#),
        ("{{ toJson 1.0 }} {{ toJson 1e21 }} {{ toJson 1e-7 }} {{ toJson 0.5 }} {{ toJson 100000000.0 }}", "1 1e+21 1e-7 0.5 100000000"),
        ("{{ toJson nil }} {{ toJson .Extra.missing }} {{ toJson true }} {{ toJson 42 }}", "null null true 42"),
        ("{{ toJson (dict \"b\" 1 \"a\" (list 1 \"x\")) }}", r#"{"a":[1,"x"],"b":1}"#),
        ("{{ toJson .MatchContext.RegexpCaptureGroups }}", r#"["42","abc"]"#),
        ("{{ toJson .MatchContext.Header }}", r#"{"Accept":["*/*"],"X-Foo":["foo1","foo2"]}"#),
        (
            "{{ toJson .MatchContext.URL }}",
            r#"{"Scheme":"https","Opaque":"","User":null,"Host":"example.com:8443","Path":"/users/42/abc","RawPath":"","OmitHost":false,"ForceQuery":false,"RawQuery":"k=v1\u0026k=v2\u0026q=a+b","Fragment":"","RawFragment":""}"#,
        ),
        ("{{ toPrettyJson (dict \"a\" (list 1 2) \"b\" (dict)) }}", "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}"),
        ("{{ (fromJson \"{\\\"a\\\":[1,{\\\"b\\\":2}]}\").a }} {{ fromJson \"bad\" }}", "[1 map[b:2]] <no value>"),
        ("{{ toJson (fromJson `{\"z\":1,\"a\":2.5}`) }}", r#"{"a":2.5,"z":1}"#),
        ("{{ toJson (float64 \"NaN\") }}|{{ toPrettyJson (float64 \"NaN\") }}", "|"),
    ]);
    exec_err(&[
        (
            "{{ toRawJson (float64 \"NaN\") }}",
            "json: unsupported value: NaN",
        ),
        (
            "{{ mustToJson (float64 \"NaN\") }}",
            "json: unsupported value: NaN",
        ),
        ("{{ mustFromJson \"bad\" }}", "error calling mustFromJson"),
    ]);
}

// SPEC §4.2 (Sprig's `toJson` is Go's `json.Marshal`): object keys are sorted at every level,
// whatever order the claims arrived in; `<`, `>`, `&` are escaped except by `toRawJson`.
#[test]
fn to_json_sorts_keys() {
    let mut session = super::sample_session();
    let extra = serde_json::json!({"z": {"y": 1, "b": [{"d": 1, "c": 2}]}, "a": "<&>"});
    if let serde_json::Value::Object(m) = extra {
        session.extra = std::sync::Arc::new(m);
    }
    let render = |src: &str| {
        super::Template::parse(src)
            .and_then(|t| t.render(&session))
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
    };
    assert_eq!(
        render("{{ toJson .Extra }}"),
        r#"{"a":"\u003c\u0026\u003e","z":{"b":[{"c":2,"d":1}],"y":1}}"#
    );
    assert_eq!(
        render("{{ mustToJson .Extra.z }}"),
        r#"{"b":[{"c":2,"d":1}],"y":1}"#
    );
    assert_eq!(
        render("{{ toRawJson .Extra }}"),
        r#"{"a":"<&>","z":{"b":[{"c":2,"d":1}],"y":1}}"#
    );
    assert_eq!(
        render("{{ toPrettyJson .Extra.z }}"),
        "{\n  \"b\": [\n    {\n      \"c\": 2,\n      \"d\": 1\n    }\n  ],\n  \"y\": 1\n}"
    );
    assert_eq!(
        render("{{ toJson (dict \"z\" 1 \"a\" 2) }}"),
        r#"{"a":2,"z":1}"#
    );
}

// Sprig: reflection helpers.
#[test]
fn sprig_reflection() {
    ok(&[
        ("{{ kindOf .Extra.groups }} {{ kindOf .Extra }} {{ kindOf 1 }} {{ kindOf .Subject }}", "slice map int string"),
        ("{{ typeOf .Extra.f }} {{ kindIs \"string\" .Subject }}", "float64 true"),
        ("{{ deepEqual (list 1 2) .Extra.nested.list }} {{ deepEqual (dict \"k\" \"v\") .Extra.nested }}", "true false"),
    ]);
}

#[test]
fn unknown_functions_are_parse_errors() {
    parse_err(&[
        ("{{ now }}", "function \"now\" not defined (Sprig's date and time functions are not available)"),
        ("{{ env \"HOME\" }}", "function \"env\" not defined (Sprig's env and expandenv are left out: a template must not read the process's secrets)"),
        ("{{ urlParse .Subject }}", "function \"urlParse\" not defined (Sprig's crypto"),
        ("{{ .Subject | nope }}", "function \"nope\" not defined"),
        ("{{ call .Subject }}", "function \"call\" not defined"),
    ]);
}

// SPEC §4.2 ("all Sprig (text) functions"): regular expressions (RE2, Go's engine; Sprig's
// argument order), hashes, ids and random strings.
#[test]
fn sprig_regex_hash_random() {
    ok(&[
        ("{{ regexMatch \"^[a-z]+$\" .Subject }}", "true"),
        ("{{ regexMatch \"^[0-9]+$\" .Subject }}", "false"),
        ("{{ regexMatch \"(\" .Subject }}", "false"),
        ("{{ regexFind \"[0-9]+\" \"ab12cd345\" }}", "12"),
        ("{{ regexFind \"[0-9]+\" \"abc\" }}", ""),
        (
            "{{ regexFindAll \"[0-9]+\" \"a1b22c333\" -1 }}",
            "[1 22 333]",
        ),
        ("{{ regexFindAll \"[0-9]+\" \"a1b22c333\" 2 }}", "[1 22]"),
        (
            "{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}",
            "-W-xxW-",
        ),
        (
            "{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"$1W\" }}",
            "---",
        ),
        (
            "{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-axxb-\" \"${1}\" }}",
            "-${1}-${1}-",
        ),
        ("{{ regexSplit \"z+\" \"pizza\" -1 }}", "[pi a]"),
        ("{{ regexSplit \"z+\" \"pizza\" 1 }}", "[pizza]"),
        ("{{ regexSplit \"z+\" \"pizza\" 0 }}", "[]"),
        ("{{ regexQuoteMeta \"1.2*[x]\" }}", "1\\.2\\*\\[x\\]"),
        (
            "{{ .Subject | sha256sum }}",
            "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90",
        ),
        ("{{ len uuidv4 }}", "36"),
        ("{{ len (randAlphaNum 12) }}", "12"),
        ("{{ regexMatch \"^[0-9]{5}$\" (randNumeric 5) }}", "true"),
        (
            "{{ plural \"one\" \"many\" 1 }}-{{ plural \"one\" \"many\" 2 }}",
            "one-many",
        ),
        // Path helpers (Go's `path`, and `path/filepath` for the `os*` forms).
        ("{{ base \"/files/report.pdf\" }}", "report.pdf"),
        ("{{ dir \"/files/report.pdf\" }}", "/files"),
        ("{{ ext \"/files/report.pdf\" }}", ".pdf"),
        ("{{ clean \"/a//b/../c/.\" }}", "/a/c"),
        ("{{ isAbs \"a/b\" }}-{{ osIsAbs \"/a\" }}", "false-true"),
        (
            "{{ osBase \"a/b/\" }}{{ osDir \"a/b\" }}{{ osExt \"x.tar.gz\" }}{{ osClean \"\" }}",
            "ba.gz.",
        ),
    ]);
    exec_err(&[
        (
            "{{ mustRegexMatch \"(\" .Subject }}",
            "error parsing regexp",
        ),
        ("{{ regexFind \"(\" .Subject }}", "error parsing regexp"),
        ("{{ randAlpha -1 }}", "negative length"),
    ]);
}

// SPEC §4.2 ("all Sprig (text) functions"): the rest of Sprig 3.2's `TxtFuncMap` (all but the
// date, env, crypto, semver, network and URL families). Every expected output here is
// what Go 1.19 text/template with Sprig 3.2.3 renders for the same template and Extra.
#[test]
fn sprig_complete() {
    ok(&[
        ("{{ abbrev 5 \"hello world\" }}|{{ abbrev 3 \"hello\" }}|{{ abbrev 20 \"hi\" }}", "he...|hello|hi"),
        ("{{ abbrevboth 5 10 \"1234 5678 9123\" }}|{{ abbrevboth 0 7 \"abcdefghijkl\" }}|{{ abbrevboth 10 7 \"abcdefghijklmnopqrstuvwxyz\" }}", "...5678...|abcd...|...k..."),
        ("{{ initials \"First Try\" }}|{{ initials \"  hello   big world \" }}", "FT|hbw"),
        ("{{ wrap 5 \"Hello World\" }}|{{ wrap 3 \"abcdefgh ij k\" }}|{{ wrap 10 \"Thequickbrownfoxjumps over\" }}", "Hello\nWorld|abcdefgh\nij\nk|Thequickbrownfoxjumps\nover"),
        ("{{ wrapWith 5 \"\\t\" \"Hello World\" }}|{{ wrapWith 3 \"<br>\" \"abcdefgh ij k\" }}", "Hello\tWorld|abc<br>def<br>gh<br>ij<br>k"),
        ("{{ swapcase \"Hello World\" }}|{{ swapcase \"hELLO wORLD\" }}|{{ swapcase \"ǆemal ǅ x\" }}", "hELLO wORLD|Hello World|ǅEMAL ǆ X"),
        ("{{ camelcase \"some_words\" }}|{{ camelcase \"http_server\" }}|{{ camelcase \"_complex__case_\" }}|{{ camelcase \"some words\" }}|{{ camelcase \"__\" }}", "SomeWords|HttpServer|_Complex_Case_|SomeWords|___"),
        ("{{ snakecase \"FirstName\" }}|{{ snakecase \"HTTPServer\" }}|{{ snakecase \"NoHTTPS\" }}|{{ snakecase \"GO PATH\" }}|{{ snakecase \"http2xx\" }}|{{ snakecase \"HTTP20xOK\" }}|{{ snakecase \"Duration2m3s\" }}|{{ snakecase \"Bld4Floor3rd\" }}", "first_name|http_server|no_https|go_path|http_2xx|http_20x_ok|duration_2m3s|bld4_floor_3rd"),
        ("{{ kebabcase \"FirstName\" }}|{{ kebabcase \"a.b.c\" }}|{{ kebabcase \"fooBar!Baz\" }}|{{ kebabcase \"x__y  z\" }}|{{ kebabcase \"ÀÉÎõü\" }}|{{ kebabcase \"中文Name\" }}|{{ kebabcase \"__init__\" }}|{{ kebabcase \"userID\" }}", "first-name|a.b.c|foo-bar!baz|x--y--z|àé-îõü|中文-name|--init--|user-id"),
        ("{{ len (shuffle \"héllo\") }}|{{ shuffle \"\" }}|{{ $s := shuffle \"abc\" }}{{ len $s }}{{ contains \"a\" $s }}{{ contains \"b\" $s }}{{ contains \"c\" $s }}", "6||3truetruetrue"),
        ("{{ b32enc \"hello\" }}|{{ b32enc \"\" }}|{{ b32enc \"abcdef\" }}|{{ b32dec \"NBSWY3DP\" }}|{{ b32dec \"MFRGGZA=\" }}|{{ b32dec \"NBSW\\nY3DP\" }}", "NBSWY3DP||MFRGGZDFMY======|hello|abcd|hello"),
        ("{{ b32dec \"bad!\" }}|{{ b32dec \"NBSWY3D\" }}|{{ b32dec \"M=======\" }}", "illegal base32 data at input byte 0|illegal base32 data at input byte 0|illegal base32 data at input byte 1"),
        ("{{ seq 5 }}|{{ seq -3 }}|{{ seq 2 5 }}|{{ seq 5 2 }}|{{ seq 0 2 10 }}|{{ seq 10 -3 1 }}|{{ seq 10 3 1 }}|{{ seq 0 }}|{{ seq }}", "1 2 3 4 5|1 0 -1 -2 -3|2 3 4 5|5 4 3 2|0 2 4 6 8 10|10 7 4 1||1 0|"),
        ("{{ untilStep 0 10 3 }}|{{ untilStep 10 0 -3 }}|{{ untilStep 0 10 0 }}|{{ untilStep 5 5 1 }}", "[0 3 6 9]|[10 7 4 1]|[]|[]"),
        ("{{ ceil 1.2 }}|{{ floor -1.2 }}|{{ ceil \"3.5\" }}|{{ floor 2 }}|{{ ceil .Extra.f }}", "2|-2|4|2|2"),
        ("{{ round 2.5 0 }}|{{ round 3.14159 2 }}|{{ round -2.5 0 }}|{{ round 1.25 1 0.6 }}|{{ round 123.456 -1 }}", "3|3.14|-3|1.2|120"),
        ("{{ addf 0.1 0.2 }}|{{ divf 1 3 }}|{{ divf 2 3 }}|{{ mulf 1.1 3 }}|{{ subf 1 0.9 }}|{{ add1f 0.1 }}|{{ addf }}|{{ divf 10 4 2 }}|{{ subf 0.3 0.1 }}|{{ divf 0.3 0.1 }}|{{ mulf 1e300 1e10 }}", "0.3|0.3333333333333333|0.6666666666666667|3.3|0.1|1.1|0|1.25|0.2|3|+Inf"),
        ("{{ maxf 1 2.5 \"3\" }}|{{ minf 1 -2.5 }}|{{ maxf 1 }}", "3|-2.5|1"),
        ("{{ toDecimal \"0777\" }}|{{ toDecimal 777 }}|{{ toDecimal \"8\" }}|{{ toDecimal \"-17\" }}", "511|511|0|-15"),
        ("{{ typeOf 1.0 }}|{{ typeOf .Extra }}|{{ typeOf .Extra.groups }}|{{ typeOf nil }}|{{ typeOf .Subject }}|{{ typeOf .Extra.f }}|{{ typeOf (ceil 1) }}", "float64|map[string]interface {}|[]interface {}|<nil>|string|float64|float64"),
        ("{{ typeIs \"float64\" 2.5 }}|{{ typeIs \"int\" 2.5 }}|{{ typeIsLike \"string\" \"x\" }}|{{ kindOf 2.5 }}|{{ kindIs \"map\" .Extra }}|{{ kindOf nil }}", "true|false|true|float64|true|invalid"),
        ("{{ all 1 \"a\" true }}|{{ all 1 \"\" }}|{{ any 0 \"\" nil }}|{{ any 0 \"x\" }}|{{ all }}|{{ any }}", "true|false|false|true|true|false"),
        ("{{ hello }}|{{ sha1sum \"hello\" }}|{{ adler32sum \"hello\" }}", "Hello!|aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d|103547413"),
        ("{{ $r := randInt 3 6 }}{{ and (ge $r 3) (lt $r 6) }}|{{ len (randBytes 12) }}", "true|16"),
        ("{{ merge (dict \"a\" \"\" \"b\" 0 \"c\" 1) (dict \"a\" \"y\" \"b\" 2 \"c\" 3 \"d\" 4) }}", "map[a:y b:2 c:1 d:4]"),
        ("{{ merge (dict \"a\" (dict \"x\" 1 \"y\" \"\")) (dict \"a\" (dict \"y\" 2 \"z\" 3)) }}", "map[a:map[x:1 y:2 z:3]]"),
        ("{{ merge (dict \"l\" (list 1)) (dict \"l\" (list 2) \"m\" (list 3)) }}", "map[l:[1] m:[3]]"),
        ("{{ mergeOverwrite (dict \"a\" \"x\" \"b\" 1) (dict \"a\" \"\" \"b\" 0) }}|{{ mergeOverwrite (dict \"a\" \"x\") (dict \"a\" (dict \"b\" 1)) }}", "map[a: b:0]|map[a:x]"),
        ("{{ mergeOverwrite (dict \"a\" (dict \"x\" 1 \"y\" \"\")) (dict \"a\" (dict \"x\" 9 \"z\" 3) \"n\" nil) }}", "map[a:map[x:9 y: z:3] n:<nil>]"),
        ("{{ merge (dict \"nested\" (dict \"k\" \"mine\")) .Extra | toJson }}", "{\"a\":1,\"f\":1.5,\"groups\":[\"admin\",\"dev\"],\"nested\":{\"k\":\"mine\",\"list\":[1,2]},\"s\":\"str\",\"t\":true}"),
        ("{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $_ := unset $d \"a\" }}{{ $d }}", "map[b:2]"),
        ("{{ $d := dict \"a\" 1 }}{{ $_ := merge $d (dict \"b\" 2) }}{{ $_ := mergeOverwrite $d (dict \"a\" 3) }}{{ $d }}", "map[a:3 b:2]"),
        ("{{ $d := dict }}{{ range .Extra.groups }}{{ $_ := set $d . true }}{{ end }}{{ $d }}", "map[admin:true dev:true]"),
        ("{{ set (dict) \"k\" \"v\" | toJson }}|{{ unset (dict \"a\" 1 \"b\" 2) \"a\" }}", "{\"k\":\"v\"}|map[b:2]"),
        ("{{ deepCopy .Extra.nested }}|{{ mustDeepCopy (list 1) }}", "map[k:v list:[1 2]]|[1]"),
        ("{{ dig \"nested\" \"k\" \"d\" .Extra }}|{{ dig \"nested\" \"zz\" \"d\" .Extra }}|{{ dig \"zz\" \"d\" .Extra }}|{{ .Extra | dig \"nested\" \"list\" \"d\" }}", "v|d|d|[1 2]"),
        ("{{ pluck \"a\" (dict \"a\" 1) (dict \"b\" 2) (dict \"a\" 3) }}|{{ pluck \"k\" .Extra.nested .Extra }}", "[1 3]|[v]"),
        ("{{ chunk 2 (list 1 2 3 4 5) }}|{{ chunk 3 list }}|{{ chunk 2 .Extra.groups }}|{{ chunk -1 (list 1 2) }}", "[[1 2] [3 4] [5]]|[]|[[admin dev]]|[]"),
        ("{{ without (list 1 2 3 1) 1 3 }}|{{ without .Extra.groups \"dev\" }}", "[2]|[admin]"),
        ("{{ mustFirst (list 1 2) }}|{{ mustLast (list 1 2) }}|{{ mustRest (list 1 2) }}|{{ mustInitial (list 1 2) }}|{{ mustReverse (list 1 2) }}|{{ mustUniq (list 1 1) }}|{{ mustCompact (list 0 1) }}|{{ mustAppend (list 1) 2 }}|{{ mustPush (list 1) 2 }}|{{ mustPrepend (list 1) 2 }}|{{ mustHas 1 (list 1) }}|{{ mustSlice (list 1 2 3) 1 }}|{{ mustWithout (list 1 2) 1 }}|{{ mustChunk 1 (list 1 2) }}", "1|2|[2]|[1]|[2 1]|[1]|[1]|[1 2]|[1 2]|[2 1]|true|[2 3]|[2]|[[1] [2]]"),
        ("{{ mustToJson .Extra.nested }}|{{ mustToRawJson \"<&>\" }}|{{ mustToPrettyJson (dict \"b\" 1 \"a\" (list)) }}|{{ mustFromJson \"[1]\" }}", "{\"k\":\"v\",\"list\":[1,2]}|\"<&>\"|{\n  \"a\": [],\n  \"b\": 1\n}|[1]"),
    ]);
    exec_err(&[
        ("{{ divf 1 0 }}", "decimal division by 0"),
        (
            "{{ addf (float64 \"NaN\") 1 }}",
            "Cannot create a Decimal from NaN",
        ),
        ("{{ randInt 5 5 }}", "invalid argument to Intn"),
        ("{{ randBytes -1 }}", "len out of range"),
        ("{{ deepCopy nil }}", "error calling deepCopy"),
        (
            "{{ dig \"s\" \"x\" \"d\" .Extra }}",
            "interface {} is string, not map",
        ),
        (
            "{{ dig \"a\" \"d\" .Extra.missing }}",
            "interface {} is nil, not map",
        ),
        ("{{ dig 1 \"d\" .Extra }}", "not string"),
        ("{{ chunk 0 (list 1) }}", "len out of range"),
        ("{{ chunk 2 \"abc\" }}", "Cannot chunk type string"),
        (
            "{{ without \"abc\" 1 }}",
            "Cannot find without on type string",
        ),
        ("{{ set nil \"a\" 1 }}", "assignment to entry in nil map"),
        (
            "{{ set .Header \"a\" 1 }}",
            "expected map[string]interface {}",
        ),
        ("{{ mustFirst \"x\" }}", "cannot find first on type string"),
        (
            "{{ pluck \"a\" \"x\" }}",
            "expected map[string]interface {}",
        ),
        ("{{ hello 1 }}", "wrong number of args for hello"),
    ]);
}

// Sprig's `set`/`unset`/`merge*` change their map in place in Go; here the variable holding it
// is rebound, and the session's Extra never changes.
#[test]
fn map_updates_rebind_variables() {
    ok(&[
        (
            "{{ $d := dict }}{{ if true }}{{ $_ := set $d \"x\" 1 }}{{ end }}{{ $d.x }}",
            "1",
        ),
        (
            "{{ $d := .Extra }}{{ $_ := set $d \"s\" \"new\" }}{{ $d.s }} {{ .Extra.s }}",
            "new str",
        ),
        ("{{ $_ := unset .Extra \"s\" }}{{ .Extra.s }}", "str"),
        (
            "{{ $d := dict \"a\" 1 }}{{ $e := $d }}{{ $_ := set $d \"a\" 2 }}{{ $d.a }}{{ $e.a }}",
            "21",
        ),
    ]);
}

// Request data reaches these arguments: extreme numbers, U+FFFD and broken padding render or
// fail, never panic (the engine's invariant, see `fuzz_parse_render`).
#[test]
fn sprig_extreme_arguments() {
    for src in [
        "{{ chunk -9223372036854775808 (list 1 2) }}",
        "{{ seq -9223372036854775808 }}",
        "{{ seq 9223372036854775807 }}",
        "{{ seq -9223372036854775808 9223372036854775807 }}",
        "{{ seq 0 -9223372036854775808 5 }}",
        "{{ untilStep -9223372036854775808 9223372036854775807 1 }}",
        "{{ untilStep 0 9223372036854775807 9223372036854775807 }}",
        "{{ untilStep 9223372036854775807 -9223372036854775808 -9223372036854775808 }}",
        "{{ untilStep -9223372036854775808 9223372036854775807 9223372036854775807 }}",
        "{{ printf \"%.65536f %.65536e %.65536g %65536d\" 1.5 1.5 1.5 1 }}",
        "{{ round 1 9223372036854775807 }}",
        "{{ round 1 -9223372036854775808 }}",
        "{{ abbrevboth 9223372036854775807 9223372036854775807 \"abcdefghijklmnop\" }}",
        "{{ abbrevboth 9223372036854775807 7 \"abcdefghijklmnop\" }}",
        "{{ abbrevboth -9223372036854775808 7 \"abcdefghijkl\" }}",
        "{{ abbrev 9223372036854775807 \"abcdefghijkl\" }}",
        "{{ wrap 9223372036854775807 \"a b\" }}",
        "{{ wrap -9223372036854775808 \"a b\" }}",
        "{{ wrapWith 1 \"\" \"é\" }}",
        "{{ mulf 1e-300 1e-300 1e-300 }}",
        "{{ divf 1e300 1e-300 }}",
        "{{ divf 1e-300 1e300 }}",
        "{{ addf 1.7976931348623157e308 1.7976931348623157e308 }}",
        "{{ subf -1.7976931348623157e308 1.7976931348623157e308 }}",
        "{{ toDecimal \"-9223372036854775808\" }}",
        "{{ randInt -9223372036854775808 9223372036854775807 }}",
        "{{ randBytes 9223372036854775807 }}",
        "{{ b32dec \"=\" }}{{ b32dec \"==\" }}{{ b32dec \"A=\" }}{{ b32dec \"AA=\" }}{{ b32dec \"AAAAAAA=\" }}{{ b32dec \"AA======\" }}{{ b32dec \"AA=======\" }}{{ b32dec \"A\" }}",
        "{{ snakecase \"\\ufffd\\ufffd\" }}{{ kebabcase \"A\\ufffd\" }}{{ camelcase \"\\ufffd\" }}{{ snakecase \"1\\ufffd\" }}{{ snakecase \"A\\ufffdB\\ufffdc\" }}",
        "{{ dig \"a\" \"b\" \"c\" \"d\" (dict) }}",
        "{{ merge (dict) }}{{ mergeOverwrite nil nil }}",
    ] {
        let _ = super::tests::render(src);
    }
}

// Go formats a float to any precision (its exact decimal expansion, then zeros); Rust's
// formatter stops at 65,535 and panicked the request here.
#[test]
fn printf_precision_beyond_rusts_formatter() {
    ok(&[
        ("{{ printf \"%.70000f\" 1.5 | len }}", "70002"),
        (
            "{{ printf \"%.65536f\" 0.1 | trunc 60 }}",
            "0.1000000000000000055511151231257827021181583404541015625000",
        ),
        ("{{ printf \"%.70000e\" 1.5 | len }}", "70006"),
        ("{{ printf \"%.70000e\" 1.5 | trunc 4 }}", "1.50"),
        (
            "{{ printf \"%.70000g\" 0.1 }}",
            "0.1000000000000000055511151231257827021181583404541015625",
        ),
        ("{{ printf \"%.70000g\" 1.5 }}", "1.5"),
    ]);
}

// Go's case functions map rune by rune (Unicode's simple mapping): no `ß` -> `SS`, no final
// sigma, so two different names never become one header value (checked against Go 1.19 with
// Sprig 3.2.3).
#[test]
fn case_functions_map_runes_as_go_does() {
    ok(&[
        ("{{ upper \"straße ﬃ ǆ\" }}", "STRAßE ﬃ Ǆ"),
        ("{{ upper \"ŉ\" }}|{{ upper \"ᾳ\" }}", "ŉ|ᾼ"),
        ("{{ lower \"İSTANBUL\" }}", "istanbul"),
        ("{{ lower \"ΑΣ\" }}", "ασ"),
        ("{{ title \"ǆungla\" }}", "ǅungla"),
        ("{{ swapcase \"İ\" }}", "i"),
        ("{{ untitle \"İSTANBUL\" }}", "iSTANBUL"),
        (
            "{{ upper \"strasse\" }}|{{ upper \"straße\" }}",
            "STRASSE|STRAßE",
        ),
    ]);
}

// Sprig's regex functions take Go (RE2) syntax: ASCII classes and boundaries, `\<` as `<`,
// literal braces, `\Q...\E`, octal escapes, and classes that do not nest (checked against Go
// 1.19 with Sprig 3.2.3).
#[test]
fn regex_functions_read_go_syntax() {
    ok(&[
        (r#"{{ regexMatch "^\\d+$" "١٢" }}"#, "false"),
        (r#"{{ regexFind "\\d" "٣4" }}"#, "4"),
        (r#"{{ regexFind "\\w+" "héllo" }}"#, "h"),
        (
            r#"{{ regexMatch "\\s" "\u00a0" }}|{{ regexMatch "\\s" "\t" }}"#,
            "false|true",
        ),
        (
            r#"{{ regexMatch "\\bé" "é" }}|{{ regexMatch "\\ba" "a" }}"#,
            "false|true",
        ),
        (
            r#"{{ regexMatch "\\<" "<" }}|{{ regexMatch "a\\>" "a>" }}"#,
            "true|true",
        ),
        (
            r#"{{ regexMatch "a{" "a{" }}|{{ regexMatch "^a{,3}$" "a{,3}" }}"#,
            "true|true",
        ),
        (
            r#"{{ regexFind "{\"a\":[0-9]}" "x{\"a\":7}" }}"#,
            r#"{"a":7}"#,
        ),
        (
            r#"{{ regexFind "a{2}" "aaa" }}|{{ regexFind "a{1,}" "aaa" }}"#,
            "aa|aaa",
        ),
        (
            r#"{{ regexMatch "^\\Q.*+\\E$" ".*+" }}|{{ regexMatch "^\\Q.*" "ab" }}"#,
            "true|false",
        ),
        (r#"{{ regexMatch "^[\\d-z]+$" "1-z" }}"#, "true"),
        (r#"{{ regexFind "\\101\\0" "xA\u0000" | len }}"#, "2"),
        (
            r#"{{ regexMatch "^[a[]$" "[" }}|{{ regexMatch "^[a&&b]$" "&" }}"#,
            "true|true",
        ),
        (r#"{{ regexReplaceAll "\\d" "a١1" "N" }}"#, "a١N"),
        (r#"{{ regexSplit "\\s+" "a b c" -1 }}"#, "[a b c]"),
    ]);
}

// Go's `Regexp.Split` and `strings.SplitN` around empty matches and separators.
#[test]
fn splits_around_empty_matches_as_go_does() {
    ok(&[
        (r#"{{ regexSplit "" "abc" -1 }}"#, "[a b c]"),
        (r#"{{ regexSplit "x*" "abc" -1 }}"#, "[a b c]"),
        (r#"{{ regexSplit "b*" "abc" -1 }}"#, "[a c]"),
        (r#"{{ regexSplit "" "abc" 2 }}"#, "[a bc]"),
        (r#"{{ regexSplit "," "a,b,c" 2 }}"#, "[a b,c]"),
        (
            r#"{{ regexSplit "," "" -1 }}|{{ regexSplit "," ",a," -1 }}"#,
            "[]|[ a ]",
        ),
        (r#"{{ regexSplit "," "a,b" 0 }}"#, "[]"),
        (r#"{{ splitn "" 2 "abc" }}"#, "map[_0:a _1:bc]"),
        (r#"{{ splitn "" 5 "ab" }}"#, "map[_0:a _1:b]"),
    ]);
}

// Sprig 3.3's `sha512sum` (current Oathkeeper ships Sprig 3.3.0).
#[test]
fn sha512sum() {
    ok(&[(
        "{{ sha512sum \"abc\" | trunc 32 }}",
        "ddaf35a193617abacc417349ae204131",
    )]);
}

// Go's `fmt` operand indexes and `*` widths and precisions (outputs from Go 1.19).
#[test]
fn printf_operand_indexes_and_star() {
    ok(&[
        (r#"{{ printf "%[2]s %[1]s" "a" "b" }}"#, "b a"),
        (r#"{{ printf "%*d|" 5 42 }}"#, "   42|"),
        (r#"{{ printf "%-*d|" 5 42 }}"#, "42   |"),
        (r#"{{ printf "%*d|" -5 42 }}"#, "42   |"),
        (r#"{{ printf "%.*f" 2 3.14159 }}"#, "3.14"),
        (r#"{{ printf "%[3]*.[2]*[1]f" 12.0 2 6 }}"#, " 12.00"),
        (r#"{{ printf "%[2]d %d" 1 2 3 }}"#, "2 3"),
        (r#"{{ printf "%[5]d" 1 }}"#, "%!d(BADINDEX)"),
        (r#"{{ printf "%[x]d" 1 }}"#, "%!d(BADINDEX)"),
        (r#"{{ printf "%[]d" 1 }}"#, "%!d(BADINDEX)"),
        (r#"{{ printf "%[1]d %[1]x" 255 }}"#, "255 ff"),
        (r#"{{ printf "%*d" "x" 1 }}"#, "%!(BADWIDTH)1"),
        (r#"{{ printf "%.*d" "x" 1 }}"#, "%!(BADPREC)1"),
        (r#"{{ printf "%[2]*d" 1 4 }}"#, "%!d(MISSING)"),
        (r#"{{ printf "%d %d %[1]d %d" 1 2 }}"#, "1 2 1 2"),
        (r#"{{ printf "%[1]" 1 }}"#, "%!(NOVERB)"),
        (r#"{{ printf "%[1" 1 }}"#, "%!(NOVERB)"),
        (r#"{{ printf "%.*d|" -1 5 }}"#, "%!(BADPREC)5|"),
        (r#"{{ printf "%[3]2d" 1 2 3 }}"#, "%!d(BADINDEX)"),
    ]);
}

// Go's `JSEscape`: non-printable runes beyond ASCII are escaped, DEL is not (Go 1.19).
#[test]
fn js_escapes_as_go_does() {
    ok(&[
        (
            r#"{{ js "a\u00a0b\u2028c\u200bd\u00ade\ufeff" }}"#,
            r"a\u00A0b\u2028c\u200Bd\u00ADe\uFEFF",
        ),
        (r#"{{ js "\u007f" | len }}|{{ js "é日" }}"#, "1|é日"),
    ]);
}

// Number literals as text/template reads them (Go 1.19): the int64 minimum is an int, an
// integer beyond int64 and a float beyond float64 are refused, underscores only between digits.
#[test]
fn number_literals_as_go_reads_them() {
    ok(&[
        ("{{ -9223372036854775808 }}", "-9223372036854775808"),
        ("{{ add -9223372036854775808 0 }}", "-9223372036854775808"),
        (
            "{{ 1_000 }}|{{ 0x_1F }}|{{ 0b1_0 }}|{{ 017 }}|{{ 0o17 }}",
            "1000|31|2|15|15",
        ),
        ("{{ 1.5e3 }}|{{ -2.5 }}", "1500|-2.5"),
    ]);
    for bad in [
        "{{ 9223372036854775808 }}",
        "{{ 18446744073709551616 }}",
        "{{ 1e400 }}",
        "{{ 1__0 }}",
        "{{ _1 }}",
        "{{ 1_ }}",
        "{{ 1_0.5 }}",
    ] {
        assert!(
            crate::pipeline::template::Template::parse(bad).is_err(),
            "{bad} should be refused"
        );
    }
}
