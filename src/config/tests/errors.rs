//! Invalid configs: every error names the source, key path, bad value and what is allowed.

use tempfile::TempDir;

use super::{err_yaml, load_yaml, no_env, write};
use crate::config::*;

#[test]
fn invalid_values_are_reported_with_file_key_and_allowed_values() {
    let cases: &[(&str, &[&str])] = &[
        ("foo: 1\n", &["config.yaml: foo: unknown field `foo`", "`serve`"]),
        (
            "authenticators:\n  jwtt: { enabled: true }\n",
            &["config.yaml: authenticators.jwtt: unknown field `jwtt`, expected one of `anonymous`, `noop`"],
        ),
        (
            "authenticators:\n  jwt: { config: { jwks_url: [] } }\n",
            &["authenticators.jwt.config.jwks_url: unknown field `jwks_url`", "`jwks_urls`"],
        ),
        (
            "serve:\n  proxy:\n    timeout: { read: 1.5s }\n",
            &["serve.proxy.timeout.read", "\"1.5s\"", "^[0-9]+(ns|us|ms|s|m|h)$"],
        ),
        ("serve: { proxy: { port: 70000 } }\n", &["serve.proxy.port", "70000", "expected an integer from 0 to 65535"]),
        ("serve: { proxy: { port: http } }\n", &["serve.proxy.port", "invalid type: string \"http\"", "from 0 to 65535"]),
        (
            "serve: { api: { cors: { allowed_methods: [GET, OPTIONS] } } }\n",
            &["serve.api.cors.allowed_methods[1]", "unknown variant `OPTIONS`", "`CONNECT`"],
        ),
        ("serve: { api: { trusted_proxies: [nope] } }\n", &["serve.api.trusted_proxies", "\"nope\"", "a CIDR range"]),
        (
            "access_rules: { matching_strategy: regex }\n",
            &["access_rules.matching_strategy", "unknown variant `regex`", "`glob`"],
        ),
        ("access_rules: { repositories: file:///x }\n", &["access_rules.repositories", "expected a sequence"]),
        ("log: { level: loud }\n", &["log.level", "`warn`"]),
        ("log: { format: xml }\n", &["log.format", "`json_pretty`"]),
        ("tracing: { provider: datadog }\n", &["tracing.provider", "`jaeger`"]),
        ("tracing: { providers: { otlp: { sampling: { ratio: 1 } } } }\n", &["tracing.providers.otlp.sampling.ratio"]),
        ("profiling: heap\n", &["profiling", "`cpu`"]),
        ("version: 0.40.9\n", &["version", "\"0.40.9\"", "semantic version"]),
        (
            "errors: { handlers: { redirect: { config: { to: /x, code: 303 } } } }\n",
            &["errors.handlers.redirect.config.code", "303", "one of 301, 302"],
        ),
        (
            "errors: { handlers: { redirect: { config: { to: /x, return_to_query_param: 'a b' } } } }\n",
            &["return_to_query_param", "^[A-Za-z0-9,._~-]*$"],
        ),
        (
            "errors: { handlers: { json: { config: { when: [ { error: [teapot] } ] } } } }\n",
            &["errors.handlers.json.config.when[0].error[0]", "unknown variant `teapot`", "`not_found`"],
        ),
        (
            "authenticators: { jwt: { config: { jwks_urls: [not a uri] } } }\n",
            &["authenticators.jwt.config.jwks_urls[0]", "absolute URI"],
        ),
        (
            "authenticators: { jwt: { config: { jwks_ttl: 1 fortnight } } }\n",
            &["authenticators.jwt.config.jwks_ttl", "Go duration"],
        ),
        (
            "authenticators: { bearer_token: { config: { token_from: { header: A, cookie: b } } } }\n",
            &["authenticators.bearer_token.config.token_from: several token locations, expected exactly one of `header`, `query_parameter`, `cookie`"],
        ),
        (
            "authenticators: { jwt: { config: { token_from: {} } } }\n",
            &["authenticators.jwt.config.token_from: empty token_from"],
        ),
        (
            "authenticators: { bearer_token: { config: { token_from: { auth_scheme: x } } } }\n",
            &["token_from", "unknown variant `auth_scheme`", "`query_parameter`"],
        ),
        (
            "mutators: { hydrator: { config: { api: { auth: { basic: { username: u } } } } } }\n",
            &["mutators.hydrator.config.api.auth.basic", "missing field `password`"],
        ),
        ("authenticators: { noop: { enabled: maybe } }\n", &["authenticators.noop.enabled", "invalid value: string \"maybe\", expected a boolean"]),
        ("authenticators: { noop: { enabled: 1 } }\n", &["authenticators.noop.enabled", "expected a boolean"]),
    ];
    for (yaml, wants) in cases {
        let err = err_yaml(yaml);
        for want in *wants {
            assert!(
                err.contains(want),
                "{yaml}\n  error: {err}\n  missing: {want}"
            );
        }
    }
}

#[test]
fn enabled_handlers_need_required_keys() {
    let cases: &[(&str, &str)] = &[
        ("authenticators: { jwt: { enabled: true } }", "config.yaml: authenticators.jwt.config.jwks_urls: required when authenticators.jwt.enabled is true"),
        ("authenticators: { cookie_session: { enabled: true } }", "authenticators.cookie_session.config.check_session_url"),
        ("authenticators: { bearer_token: { enabled: true, config: {} } }", "authenticators.bearer_token.config.check_session_url"),
        ("authenticators: { oauth2_client_credentials: { enabled: true } }", "authenticators.oauth2_client_credentials.config.token_url"),
        ("authenticators: { oauth2_introspection: { enabled: true } }", "authenticators.oauth2_introspection.config.introspection_url"),
        (
            "authenticators: { oauth2_introspection: { enabled: true, config: { introspection_url: 'http://i', pre_authorization: { enabled: true, client_id: c } } } }",
            "authenticators.oauth2_introspection.config.pre_authorization.client_secret",
        ),
        ("authorizers: { keto_engine_acp_ory: { enabled: true, config: { base_url: 'http://k', required_action: a } } }", "authorizers.keto_engine_acp_ory.config.required_resource"),
        ("authorizers: { remote: { enabled: true } }", "authorizers.remote.config.remote"),
        ("authorizers: { remote_json: { enabled: true, config: { remote: 'http://r' } } }", "authorizers.remote_json.config.payload"),
        ("mutators: { header: { enabled: true, config: {} } }", "mutators.header.config.headers"),
        ("mutators: { cookie: { enabled: true } }", "mutators.cookie.config.cookies"),
        ("mutators: { hydrator: { enabled: true } }", "mutators.hydrator.config.api.url"),
        ("mutators: { id_token: { enabled: true, config: { issuer_url: 'http://i' } } }", "mutators.id_token.config.jwks_url"),
        ("errors: { handlers: { redirect: { enabled: true } } }", "errors.handlers.redirect.config.to: required when errors.handlers.redirect.enabled is true"),
    ];
    for (yaml, want) in cases {
        let err = err_yaml(yaml);
        assert!(err.contains(want), "{yaml}\n  error: {err}\n  want: {want}");
    }
    // Handlers without required keys, and disabled handlers, need nothing.
    for ok in [
        "authenticators: { anonymous: { enabled: true }, noop: { enabled: true }, unauthorized: { enabled: true } }",
        "authorizers: { allow: { enabled: true }, deny: { enabled: true } }",
        "mutators: { noop: { enabled: true }, header: { enabled: true, config: { headers: {} } } }",
        "errors: { handlers: { www_authenticate: { enabled: true } } }",
        "authenticators: { jwt: { enabled: false, config: { scope_strategy: exact } } }",
        "authenticators: { jwt: { enabled: true, config: { jwks_urls: [] } } }",
    ] {
        load_yaml(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn fallback_names_are_checked() {
    // SPEC §4.7: a disabled fallback loads (it answers 500 when selected, Appendix B case 8).
    load_yaml("errors: { fallback: [json, redirect] }").expect("disabled fallback loads");
    let err = err_yaml("errors: { fallback: [html] }");
    assert!(
        err.contains("errors.fallback: unknown error handler `html` at index 0, expected one of `json`, `redirect`, `www_authenticate`"),
        "{err}"
    );
    let cfg = load_yaml("errors: { fallback: [www_authenticate], handlers: { json: { enabled: false }, www_authenticate: { enabled: true } } }")
        .expect("valid");
    assert_eq!(cfg.errors.fallback, vec!["www_authenticate"]);
}

#[test]
fn file_formats() {
    let dir = TempDir::new().expect("tempdir");
    let json_no_ext = write(&dir, "config", r#"{"serve":{"proxy":{"port":1}}}"#);
    let yaml_no_ext = write(&dir, "config.conf", "serve:\n  proxy:\n    port: 2\n");
    let empty = write(&dir, "empty.yaml", "");
    let anchors = write(
        &dir,
        "anchors.yml",
        "x-retry: &retry { give_up_after: 3s }\nauthorizers:\n  remote:\n    config:\n      retry: *retry\n",
    );
    assert_eq!(
        load_with_env(&[json_no_ext], no_env())
            .expect("json")
            .serve
            .proxy
            .port,
        1
    );
    assert_eq!(
        load_with_env(&[yaml_no_ext], no_env())
            .expect("yaml")
            .serve
            .proxy
            .port,
        2
    );
    assert_eq!(
        load_with_env(&[empty], no_env())
            .expect("empty")
            .effective(),
        Config::default().effective()
    );
    // Unknown top-level keys are rejected even when used only as YAML anchors.
    let err = load_with_env(&[anchors], no_env())
        .expect_err("x-retry is unknown")
        .to_string();
    assert!(err.contains("anchors.yml: x-retry: unknown field"), "{err}");

    let cases: &[(&str, &str, &str)] = &[
        (
            "c.toml",
            "[serve\n",
            "c.toml: invalid TOML: TOML parse error at line 1",
        ),
        (
            "c.toml",
            "a = nan\n",
            "c.toml: invalid TOML: a: NaN is not a number",
        ),
        ("c.toml", "x = 1\n", "c.toml: x: unknown field"),
        ("c.json", "serve: {}\n", "c.json: invalid JSON"),
        ("c.yaml", "serve: [\n", "c.yaml: invalid YAML"),
        ("c.yaml", "- 1\n", "c.yaml: the document must be a mapping"),
        ("c.txt", "{{{", "c.txt: invalid YAML or JSON"),
    ];
    for (name, text, want) in cases {
        let p = write(&dir, name, text);
        let err = load_with_env(&[p], no_env()).expect_err(name).to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
    let missing = dir.path().join("missing.yaml");
    let err = load_with_env(&[missing], no_env()).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }) && err.to_string().contains("missing.yaml"));
}

#[test]
fn error_names_the_file_that_has_it() {
    let dir = TempDir::new().expect("tempdir");
    let good = write(&dir, "good.yaml", "log: { level: debug }\n");
    let bad = write(&dir, "bad.yaml", "log: { levle: debug }\n");
    let err = load_with_env(&[good, bad], no_env())
        .expect_err("bad")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}: log.levle: unknown field",
            dir.path().join("bad.yaml").display()
        )),
        "{err}"
    );
}

// DESIGN §3 (what is allowed, in the file's terms): no Rust type name reaches a message.
#[test]
fn messages_name_no_rust_types() {
    use crate::config::error::plain;
    assert_eq!(
        plain("invalid value: integer `70000`, expected u16"),
        "invalid value: integer `70000`, expected an integer from 0 to 65535"
    );
    assert_eq!(
        plain("invalid type: string \"noop\", expected struct HandlerRef"),
        "invalid type: string \"noop\", expected a handler (a mapping: `{ handler: <name>, config: {...} }`)"
    );
    assert!(plain("invalid type: integer `5`, expected struct RuleSpec").ends_with("`mutators`)"));
    assert_eq!(
        plain("invalid type: map, expected struct Other"),
        "invalid type: map, expected a mapping"
    );
    assert_eq!(
        plain("invalid type: string \"x\", expected i64"),
        "invalid type: string \"x\", expected a whole number"
    );
    assert_eq!(plain("expected a boolean"), "expected a boolean");
    assert_eq!(plain("missing field `id`"), "missing field `id`");
}

/// SPEC §2.1 (Oathkeeper's schema validation lists every violation): one run names every mistake
/// of every file, one per line, instead of one per start.
#[test]
fn every_error_is_reported_at_once() {
    let dir = TempDir::new().expect("tempdir");
    let a = write(
        &dir,
        "a.yaml",
        r#"
serve:
  proxy: { port: "x", bogus: 1 }
access_rules:
  repositories: [1, "file:///x", 2]
  matching_strategy: fuzzy
"#,
    );
    let b = write(&dir, "b.json", r#"{"log": {"level": "loud"}}"#);
    let err = load_with_env(&[a, b], no_env())
        .expect_err("invalid")
        .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "5 errors:", "{err}");
    let want = [
        "a.yaml: serve.proxy.port: invalid type: string \"x\"",
        "a.yaml: serve.proxy.bogus: unknown field `bogus`",
        // The first bad item only: a second would be reported under a shifted index.
        "a.yaml: access_rules.repositories[0]: invalid type: integer `1`",
        "a.yaml: access_rules.matching_strategy: unknown variant `fuzzy`",
        "b.json: log.level: unknown variant `loud`",
    ];
    for (line, want) in lines[1..].iter().zip(want) {
        assert!(
            line.starts_with("  - ") && line.contains(want),
            "{want}\n{err}"
        );
    }
    assert_eq!(lines.len(), 6, "{err}");

    // One error stays one line.
    let one = err_yaml("serve: { proxy: { port: -1 } }\n");
    assert!(
        !one.contains('\n') && one.contains("serve.proxy.port"),
        "{one}"
    );

    // Every enabled handler missing a required key.
    let err = err_yaml(
        "authenticators:\n  jwt: { enabled: true }\n  oauth2_introspection: { enabled: true }\n",
    );
    assert!(err.starts_with("2 errors:"), "{err}");
    assert!(
        err.contains("authenticators.jwt.config.jwks_urls: required"),
        "{err}"
    );
    assert!(
        err.contains("authenticators.oauth2_introspection.config.introspection_url: required"),
        "{err}"
    );

    // A file with a great many mistakes is reported up to a bound.
    let many: String = (0..50).map(|i| format!("k{i}: 1\n")).collect();
    let err = err_yaml(&many);
    assert!(err.starts_with("20 errors:"), "{err}");
}
