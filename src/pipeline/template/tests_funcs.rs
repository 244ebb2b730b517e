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
        ("{{ toJson .Extra }}", r#"{"a":1,"f":1.5,"s":"str","t":true,"n":null,"groups":["admin","dev"],"nested":{"k":"v","list":[1,2]}}"#),
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
        ("{{ (fromJson \"{\\\"a\\\":[1,{\\\"b\\\":2}]}\").a }} {{ fromJson \"bad\" }}", "[1 map[b:2]] map[]"),
        ("{{ toJson (fromJson `{\"z\":1,\"a\":2.5}`) }}", r#"{"a":2.5,"z":1}"#),
        ("{{ toJson (float64 \"NaN\") }}", ""),
    ]);
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
        ("{{ now }}", "function \"now\" not defined"),
        ("{{ env \"HOME\" }}", "function \"env\" not defined"),
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
