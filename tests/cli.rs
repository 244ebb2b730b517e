//! The command line (SPEC §6.5, DESIGN §4): `rules validate`, `rules list|get`, `health`,
//! `version`, and `serve` with environment overrides (SPEC Appendix B case 26).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo_root, run_bin, spawn_serve, Setup, BASE_CONFIG};

// `rules validate` on a typo prints the file, rule id, key path and allowed names; exit != 0.
#[test]
fn validate_reports_unknown_handler() {
    let setup = Setup::new();
    let f = setup.write(
        "bad.yaml",
        "- id: typo\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: jwtt }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n",
    );
    let (code, _, err) = run_bin(
        &["rules", "validate", f.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("rule \"typo\""), "{err}");
    assert!(err.contains("authenticators[0].handler"), "{err}");
    assert!(
        err.contains("jwt") && err.contains("cookie_session") && err.contains("anonymous"),
        "{err}"
    );
}

// Without `-c` handlers are not known to be enabled, but a template in a rule is checked all the
// same (README "rules validate"); a handler config that needs global keys is not an error then.
#[test]
fn validate_without_config_checks_templates() {
    let setup = Setup::new();
    let rule = |id: &str, mutator: &str| {
        format!("- id: {id}\n  match: {{ url: 'http://h/{id}', methods: [GET] }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{mutator}]\n")
    };
    let bad = setup.write(
        "bad.yaml",
        &rule(
            "h",
            "{ handler: header, config: { headers: { X-User: '{{ nosuch .Subject }}' } } }",
        ),
    );
    let (code, _, err) = run_bin(
        &["rules", "validate", bad.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("rule \"h\": mutators[0].config.headers.X-User: invalid template")
            && err.contains("nosuch"),
        "{err}"
    );
    let good = setup.write(
        "good.yaml",
        &format!(
            "{}{}",
            rule(
                "g",
                "{ handler: header, config: { headers: { X-User: '{{ print .Subject }}' } } }"
            ),
            rule(
                "t",
                "{ handler: id_token, config: { claims: '{\"a\": 1}' } }"
            )
        ),
    );
    let (code, out, err) = run_bin(
        &["rules", "validate", good.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
}

// SPEC §2.5/§3.4: patterns are compiled under `access_rules.matching_strategy` (regexp by
// default). Without `-c` a glob rule file fails under regexp; the note says which strategy was
// used, and `--matching-strategy glob` checks it as `serve` with a glob config would. A rule
// with an empty or old `version` is migrated, never refused (SPEC §3.2).
#[test]
fn validate_matching_strategy() {
    let setup = Setup::new();
    let f = setup.write(
        "glob.yaml",
        "- id: g\n  version: ''\n  match: { url: 'http://h/<**>', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n",
    );
    let path = f.to_str().unwrap();
    let (code, _, err) = run_bin(&["rules", "validate", path], &[], setup.path());
    assert_ne!(code, 0);
    assert!(
        err.contains("rule \"g\": match.url") && err.contains("`regexp` matching strategy"),
        "{err}"
    );
    let (code, out, err) = run_bin(
        &["rules", "validate", "--matching-strategy", "glob", path],
        &[],
        setup.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: 1 rules"), "{out}");
    let (code, _, err) = run_bin(
        &["rules", "validate", "--matching-strategy", "regexp", path],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        !err.contains("note:"),
        "an explicit strategy needs no note: {err}"
    );
    let bad_version = setup.write(
        "v.yaml",
        "- id: v\n  version: latest\n  match: { url: 'http://h/v', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n",
    );
    let (code, _, err) = run_bin(
        &["rules", "validate", bad_version.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("rule \"v\": version: `latest` is not a semantic version"),
        "{err}"
    );
}

// Every error is listed, not only the first.
#[test]
fn validate_lists_every_error() {
    let setup = Setup::new();
    setup.write("a.yaml", "- id: a\n  match: { url: 'http://h/<', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n");
    setup.write("b.json", r#"[{"id":"b","match":{"url":"http://h/","methods":["GET"]},"authenticators":[],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}],"typo":1}]"#);
    setup.write("c.yaml", "- id: a\n  match: { url: 'http://h/c', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: []\n");
    let (code, _, err) = run_bin(
        &["rules", "validate", setup.path().to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(err.contains("a.yaml: rule \"a\": match.url"), "{err}");
    assert!(
        err.contains("b.json: rule \"b\"") && err.contains("typo"),
        "{err}"
    );
    assert!(
        err.contains("c.yaml: rule \"a\": id: duplicate rule id"),
        "{err}"
    );
}

// The repository's own rules validate, with and without the default config.
#[test]
fn validate_repo_rules() {
    let root = repo_root();
    let (code, out, err) = run_bin(&["rules", "validate", "rules"], &[], &root);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_bin(
        &["-c", "config.yaml", "rules", "validate", "rules/"],
        &[],
        &root,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
}

// A directory holding no rule file validates nothing: an error, not `ok: 0 rules`; the
// messages name no Rust type.
#[test]
fn validate_refuses_nothing_to_validate() {
    let setup = Setup::new();
    setup.write("d/rules.YAML.txt", "[]");
    let (code, out, err) = run_bin(&["rules", "validate", "d"], &[], setup.path());
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("no rule files found"), "{err}");
    setup.write("r.yaml", "- id: a\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [noop]\n  authorizer: { handler: allow }\n");
    let (code, _, err) = run_bin(&["rules", "validate", "r.yaml"], &[], setup.path());
    assert_ne!(code, 0);
    assert!(
        err.contains("authenticators[0]: invalid type: string \"noop\", expected a handler"),
        "{err}"
    );
    assert!(!err.contains("HandlerRef"), "{err}");
}

// With -c, a rule using a handler the config disables is an error.
#[test]
fn validate_with_config_checks_enabled() {
    let setup = Setup::new();
    let cfg = setup.write("c.yaml", "authorizers:\n  allow: { enabled: true }\n");
    let f = setup.write("r.yaml", "- id: r\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n");
    let (code, _, err) = run_bin(
        &[
            "rules",
            "validate",
            "-c",
            cfg.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("authenticators[0].handler") && err.contains("disabled"),
        "{err}"
    );
    assert!(err.contains("mutators[0].handler"), "{err}");
}

/// `rules --endpoint <endpoint> list`, which must succeed: its output.
fn rules_list(endpoint: &str, cwd: &std::path::Path) -> String {
    let (code, out, err) = run_bin(&["rules", "--endpoint", endpoint, "list"], &[], cwd);
    assert_eq!(code, 0, "{err}");
    out
}

// SPEC Appendix B case 26 through the real binary; `rules list|get` and `health` commands.
#[test]
fn serve_with_env_and_remote_commands() {
    let setup = Setup::new();
    let cfg = setup.write("config.yaml", BASE_CONFIG);
    setup.write("rules.yaml", "- id: one\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n");
    let p = spawn_serve(
        &["-c", cfg.to_str().unwrap()],
        &[("LOG_LEVEL", "info")],
        setup.path(),
    )
    .expect("serve");
    let endpoint = format!("http://{}", p.api);
    assert!(rules_list(&endpoint, setup.path()).contains("\"one\""));
    let (code, out, _) = run_bin(
        &["rules", "get", "one", "--endpoint", &endpoint],
        &[],
        setup.path(),
    );
    assert_eq!(code, 0);
    assert!(out.contains("\"id\": \"one\""), "{out}");
    let (code, _, _) = run_bin(
        &["rules", "get", "missing", "--endpoint", &endpoint],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert_eq!(
        run_bin(
            &["health", "--endpoint", &endpoint, "alive"],
            &[],
            setup.path()
        )
        .0,
        0
    );
    assert_eq!(
        run_bin(
            &["health", "ready", "--endpoint", &endpoint],
            &[],
            setup.path()
        )
        .0,
        0
    );
    drop(p);
    // Nothing listens any more.
    assert_ne!(
        run_bin(
            &["health", "alive", "--endpoint", &endpoint],
            &[],
            setup.path()
        )
        .0,
        0
    );
}

// SPEC §6.5 and §2.1: Oathkeeper's `serve --disable-telemetry --sqa-opt-out -c a.yaml,b.yaml`
// starts, merging both files (b's repositories replace a's); a byte-order mark opening a YAML
// config or rule file is no part of it.
#[test]
fn oathkeeper_serve_command_line() {
    let setup = Setup::new();
    setup.write("a.yaml", &format!("\u{feff}{BASE_CONFIG}"));
    setup.write(
        "b.yaml",
        "\u{feff}access_rules:\n  repositories: [ \"file://{dir}/rules-b.yaml\" ]\nlog:\n  level: info\n",
    );
    setup.write("rules-b.yaml", "\u{feff}- id: from-b\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n");
    let p = spawn_serve(
        &[
            "--disable-telemetry",
            "--sqa-opt-out",
            "-c",
            "a.yaml,b.yaml",
        ],
        &[],
        setup.path(),
    )
    .expect("serve");
    let listed = rules_list(&format!("http://{}", p.api), setup.path());
    assert!(listed.contains("\"from-b\""), "{listed}");
}

// `health ready` fails without rules.
#[test]
fn health_ready_fails_without_rules() {
    let setup = Setup::new();
    let p = spawn_serve(&[], &[("LOG_LEVEL", "info")], setup.path()).expect("serve");
    let endpoint = format!("http://{}", p.api);
    assert_ne!(
        run_bin(
            &["health", "ready", "--endpoint", &endpoint],
            &[],
            setup.path()
        )
        .0,
        0
    );
    assert_eq!(
        run_bin(
            &["health", "alive", "--endpoint", &endpoint],
            &[],
            setup.path()
        )
        .0,
        0
    );
}

#[test]
fn version_command() {
    let (code, out, _) = run_bin(&["version"], &[], &repo_root());
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}

// `rules validate` fetches http(s) repositories as `serve` does, and reports their errors with
// the URL.
#[test]
fn validate_fetches_http_repositories() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if request.starts_with("GET /good.yaml") {
                "- id: remote\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n"
            } else {
                "- id: remote-bad\n  match: { url: 'http://h/', methods: [GET] }\n  authenticators: [{ handler: nope }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let setup = Setup::new();
    let (code, out, err) = run_bin(
        &["rules", "validate", &format!("http://{addr}/good.yaml")],
        &[],
        setup.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 rules"), "{out}");
    let bad = format!("http://{addr}/bad.yaml");
    let (code, _, err) = run_bin(&["rules", "validate", &bad], &[], setup.path());
    assert_ne!(code, 0);
    assert!(
        err.contains(&bad) && err.contains("remote-bad") && err.contains("nope"),
        "{err}"
    );
}

// A JSON rule file that repeats a key (two `authorizer`s) is refused, as YAML is: Go would
// silently take the last one.
#[test]
fn validate_refuses_repeated_json_keys() {
    let setup = Setup::new();
    let f = setup.write(
        "dup.json",
        r#"[{"id": "d", "match": {"url": "http://h/", "methods": ["GET"]}, "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "deny"}, "authorizer": {"handler": "allow"}, "mutators": [{"handler": "noop"}]}]"#,
    );
    let (code, _, err) = run_bin(
        &["rules", "validate", f.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("dup.json") && err.contains("authorizer"),
        "{err}"
    );
}

// SPEC §5.1: `subject_from` is a tidwall/gjson path. Syntax the gjson crate does not read as Go
// does (later modifiers, literals) would select nothing at request time (an empty subject), so
// the rule is refused with its id and key path.
#[test]
fn validate_refuses_unsupported_gjson_paths() {
    let setup = Setup::new();
    let config = setup.write("config.yaml", "authenticators:\n  bearer_token: { enabled: true, config: { check_session_url: 'http://127.0.0.1:1/s' } }\nauthorizers: { allow: { enabled: true } }\nmutators: { noop: { enabled: true } }\n");
    let rule = |path: &str| {
        format!("- id: keys\n  match: {{ url: 'http://h/<.*>', methods: [GET] }}\n  authenticators: [{{ handler: bearer_token, config: {{ subject_from: '{path}' }} }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n")
    };
    let bad = setup.write("bad.yaml", &rule("identity|@keys"));
    let good = setup.write("good.yaml", &rule("identity.id"));
    let cfg = config.to_str().unwrap();
    let (code, _, err) = run_bin(
        &["rules", "validate", "-c", cfg, bad.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("keys")
            && err.contains("subject_from")
            && err.contains("`@keys` is not supported"),
        "{err}"
    );
    let (code, out, err) = run_bin(
        &["rules", "validate", "-c", cfg, good.to_str().unwrap()],
        &[],
        setup.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    // Set in the config file, not the rule: the message says where.
    let global = setup.write("global.yaml", "authenticators:\n  bearer_token: { enabled: true, config: { check_session_url: 'http://127.0.0.1:1/s', subject_from: '@keys' } }\nauthorizers: { allow: { enabled: true } }\nmutators: { noop: { enabled: true } }\n");
    let plain = setup.write(
        "plain.yaml",
        &rule("sub").replace(", config: { subject_from: 'sub' }", ""),
    );
    let (code, _, err) = run_bin(
        &[
            "rules",
            "validate",
            "-c",
            global.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
        &[],
        setup.path(),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("(set in the config file at authenticators.bearer_token.config.subject_from)"),
        "{err}"
    );
}

// DESIGN §4 `rules test`: the demo's cases (the README's curl answers) pass against config.yaml
// and rules/; a wrong expectation fails with the explanation (rule, each handler's decision,
// answer) and exit 1; a malformed case names its file, index and key; `-c` is required.
#[test]
fn rules_test_decides_cases_in_process() {
    let root = repo_root();
    let (code, out, err) = run_bin(
        &["rules", "test", "-c", "config.yaml", "cases/demo.yaml"],
        &[],
        &root,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok   guests read public pages"), "{out}");
    assert!(out.ends_with("7 cases, 0 failed\n"), "{out}");

    let setup = Setup::new();
    let wrong = setup.write(
        "wrong.yaml",
        "- name: admin is open\n  request: { url: 'http://127.0.0.1:4456/admin/panel' }\n  expect: { status: 200, rule: public, headers: { X-User: guest } }\n- request: { url: 'http://127.0.0.1:4456/public/hello' }\n  expect: { status: 200 }\n",
    );
    let (code, out, _) = run_bin(
        &[
            "rules",
            "test",
            "-c",
            "config.yaml",
            wrong.to_str().unwrap(),
        ],
        &[],
        &root,
    );
    assert_eq!(code, 1, "{out}");
    for line in [
        "FAIL admin is open",
        "rule: admin (rules/admin.yaml)",
        "authenticator anonymous: authenticated",
        "authorizer deny: 403 Access credentials are not sufficient",
        "expected status 200, got 403",
        "expected rule \"public\", got \"admin\"",
        "expected X-User: \"guest\", got none",
        "ok   ",
        "2 cases, 1 failed",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    // Passing cases print one line unless --explain.
    assert!(!out.contains("mutator header: done"), "{out}");
    let (_, out, _) = run_bin(
        &[
            "rules",
            "test",
            "-c",
            "config.yaml",
            "--explain",
            wrong.to_str().unwrap(),
        ],
        &[],
        &root,
    );
    assert!(out.contains("mutator header: done"), "{out}");

    let bad = setup.write(
        "bad.yaml",
        "- name: typo\n  request: { url: 'http://h/' }\n  expect: { stauts: 200 }\n",
    );
    let (code, _, err) = run_bin(
        &["rules", "test", "-c", "config.yaml", bad.to_str().unwrap()],
        &[],
        &root,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("bad.yaml: case #1 (typo): expect.stauts: unknown field `stauts`, expected one of `status`"),
        "{err}"
    );
    let (code, _, err) = run_bin(&["rules", "test", "cases/demo.yaml"], &[], &root);
    assert_eq!(code, 1);
    assert!(err.contains("needs the config (-c FILE)"), "{err}");
    // A case that checks nothing, or a file without cases, is an error, never a pass.
    let vacuous = setup.write("vacuous.yaml", "- request: { url: 'http://h/' }\n");
    let empty = setup.write("empty.yaml", "[]\n");
    for (f, want) in [
        (&vacuous, "case #1 (): expect: nothing to check"),
        (&empty, "empty.yaml: no cases"),
    ] {
        let (code, _, err) = run_bin(
            &["rules", "test", "-c", "config.yaml", f.to_str().unwrap()],
            &[],
            &root,
        );
        assert_eq!(code, 1);
        assert!(err.contains(want), "{err}");
    }
}
