//! Environment overrides (SPEC §2.1).

use super::write;
use crate::config::handlers::TokenFrom;
use crate::config::*;
use serde_json::json;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_with_env(&[], env(pairs))
}

#[test]
fn env_overrides() {
    let cfg = load_env(&[
        ("SERVE_PROXY_PORT", "5555"),
        ("SERVE_PROXY_TRUST_FORWARDED_HEADERS", "true"),
        ("SERVE_WORKERS", "3"),
        ("SERVE_API_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
        ("ACCESS_RULES_REPOSITORIES", "inline://abc,file:///x"),
        ("AUTHENTICATORS_NOOP_ENABLED", "true"),
        ("AUTHENTICATORS_ANONYMOUS_ENABLED", "1"),
        ("AUTHENTICATORS_JWT_ENABLED", "TRUE"),
        ("AUTHENTICATORS_JWT_CONFIG_JWKS_URLS", "file:///k.json"),
        ("AUTHENTICATORS_JWT_CONFIG_JWKS_TTL", "1h30m"),
        (
            "AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_INTROSPECTION_URL",
            "http://hydra/introspect",
        ),
        (
            "AUTHENTICATORS_BEARER_TOKEN_CONFIG_TOKEN_FROM_QUERY_PARAMETER",
            "token",
        ),
        (
            "AUTHENTICATORS_COOKIE_SESSION_CONFIG_ADDITIONAL_HEADERS_X_TENANT",
            "acme",
        ),
        ("MUTATORS_HEADER_ENABLED", "true"),
        (
            "MUTATORS_HEADER_CONFIG_HEADERS",
            r#"{"X-User":"{{ print .Subject }}"}"#,
        ),
        ("MUTATORS_ID_TOKEN_CONFIG_TTL", "1h"),
        ("ERRORS_FALLBACK_0", "www_authenticate"),
        ("ERRORS_HANDLERS_WWW_AUTHENTICATE_ENABLED", "1"),
        ("ERRORS_HANDLERS_JSON_CONFIG_WHEN_0_ERROR_0", "not_found"),
        (
            "ERRORS_HANDLERS_JSON_CONFIG_WHEN_0_REQUEST_REMOTE_IP_MATCH",
            "10.0.0.0/8",
        ),
        ("LOG_LEVEL", "debug"),
        ("TRACING_PROVIDERS_JAEGER_SAMPLING_TRACE_ID_RATIO", "0.5"),
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/root"),
        ("SERVE_PROXY_NOT_A_KEY", "x"),
    ])
    .expect("valid");
    assert_eq!(cfg.serve.proxy.port, 5555);
    assert!(cfg.serve.proxy.trust_forwarded_headers);
    assert_eq!(cfg.serve.workers, 3);
    assert_eq!(cfg.serve.api.trusted_proxies.len(), 2);
    assert_eq!(
        cfg.access_rules.repositories,
        vec!["inline://abc", "file:///x"]
    );
    assert!(cfg.authenticators.noop.enabled && cfg.authenticators.anonymous.enabled);
    let jwt = &cfg.authenticators.jwt;
    assert!(jwt.enabled);
    let urls: Vec<&str> = jwt
        .config
        .jwks_urls
        .iter()
        .flatten()
        .map(|u| u.as_str())
        .collect();
    assert_eq!(urls, ["file:///k.json"]);
    assert_eq!(jwt.config.jwks_ttl.get().as_secs(), 5400);
    let introspection_url = cfg
        .authenticators
        .oauth2_introspection
        .config
        .introspection_url
        .as_ref();
    assert_eq!(
        introspection_url.map(|u| u.as_str()),
        Some("http://hydra/introspect")
    );
    assert_eq!(
        cfg.authenticators.bearer_token.config.token_from,
        Some(TokenFrom::QueryParameter("token".into()))
    );
    assert_eq!(
        cfg.authenticators.cookie_session.config.additional_headers["x_tenant"],
        "acme"
    );
    let headers = cfg.mutators.header.config.headers.as_ref().expect("set");
    assert_eq!(headers["X-User"], "{{ print .Subject }}");
    assert_eq!(cfg.mutators.id_token.config.ttl.get().as_secs(), 3600);
    assert_eq!(cfg.errors.fallback, vec!["www_authenticate"]);
    let when = &cfg.errors.handlers.json.config.when;
    assert_eq!(when[0].error, vec![handlers::ErrorKind::NotFound]);
    assert_eq!(when[0].request.remote_ip.r#match.len(), 1);
    assert_eq!(cfg.log.level, log::LogLevel::Debug);
    assert_eq!(
        cfg.tracing.providers.jaeger.sampling.trace_id_ratio,
        Some(0.5)
    );
    assert_eq!(cfg.raw()["serve"]["proxy"]["port"], json!(5555));
}

// The jwt token cache (gatehouse extension) is reachable like every other key.
#[test]
fn env_overrides_jwt_cache() {
    let cfg = load_env(&[
        ("AUTHENTICATORS_JWT_CONFIG_CACHE_ENABLED", "false"),
        ("AUTHENTICATORS_JWT_CONFIG_CACHE_TTL", "5s"),
        ("AUTHENTICATORS_JWT_CONFIG_CACHE_MAX_ENTRIES", "42"),
    ])
    .expect("valid");
    let cache = &cfg.authenticators.jwt.config.cache;
    assert!(!cache.enabled);
    assert_eq!(cache.ttl.get().as_secs(), 5);
    assert_eq!(cache.max_entries, 42);
    let bad = load_env(&[("AUTHENTICATORS_JWT_CONFIG_CACHE_MAX_ENTRIES", "many")]);
    let msg = bad.expect_err("not a number").to_string();
    assert!(
        msg.contains("AUTHENTICATORS_JWT_CONFIG_CACHE_MAX_ENTRIES"),
        "{msg}"
    );
}

#[test]
fn env_arrays() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "ACCESS_RULES_REPOSITORIES",
            "inline://abc,file:///x",
            &["inline://abc", "file:///x"],
        ),
        (
            "ACCESS_RULES_REPOSITORIES",
            r#"["inline://abc","file:///x"]"#,
            &["inline://abc", "file:///x"],
        ),
        (
            "ACCESS_RULES_REPOSITORIES",
            "file:///only",
            &["file:///only"],
        ),
        ("ACCESS_RULES_REPOSITORIES", "", &[]),
        (
            "ACCESS_RULES_REPOSITORIES_0",
            "file:///zero",
            &["file:///zero"],
        ),
    ];
    for (name, value, want) in cases {
        let cfg = load_env(&[(name, value)]).unwrap_or_else(|e| panic!("{name}={value}: {e}"));
        assert_eq!(cfg.access_rules.repositories, *want, "{name}={value}");
    }
    // An index past the end of the default appends: fallback defaults to ["json"].
    let cfg = load_env(&[
        ("ERRORS_FALLBACK_1", "redirect"),
        ("ERRORS_HANDLERS_REDIRECT_ENABLED", "true"),
        ("ERRORS_HANDLERS_REDIRECT_CONFIG_TO", "/login"),
    ])
    .expect("valid");
    assert_eq!(cfg.errors.fallback, vec!["json", "redirect"]);
    let cfg = load_env(&[("ERRORS_FALLBACK_0", "json")]).expect("valid");
    assert_eq!(cfg.errors.fallback, vec!["json"]);
    let cfg = load_env(&[(
        "AUTHENTICATORS_JWT_CONFIG_JWKS_URLS_0",
        "https://a/jwks.json",
    )])
    .expect("valid");
    assert_eq!(
        cfg.authenticators.jwt.config.jwks_urls.map(|v| v.len()),
        Some(1)
    );
}

#[test]
fn env_overrides_files() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let f = write(
        &dir,
        "c.yaml",
        "serve: { proxy: { port: 1, host: h } }\nauthenticators: { jwt: { enabled: true } }\n",
    );
    let cfg = load_with_env(
        &[f],
        env(&[
            ("SERVE_PROXY_PORT", "2"),
            (
                "AUTHENTICATORS_JWT_CONFIG_JWKS_URLS",
                r#"["file:///a.json","file:///b.json"]"#,
            ),
        ]),
    )
    .expect("env supplies the required key");
    assert_eq!(
        (cfg.serve.proxy.port, cfg.serve.proxy.host.as_str()),
        (2, "h")
    );
    assert_eq!(
        cfg.authenticators.jwt.config.jwks_urls.map(|v| v.len()),
        Some(2)
    );
}

#[test]
fn env_errors_name_the_variable() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "SERVE_PROXY_PORT",
            "http",
            &["environment variable SERVE_PROXY_PORT: serve.proxy.port: invalid number `http`"],
        ),
        (
            "SERVE_PROXY_PORT",
            "70000",
            &[
                "environment variable SERVE_PROXY_PORT: serve.proxy.port",
                "70000",
            ],
        ),
        (
            "AUTHENTICATORS_NOOP_ENABLED",
            "yes",
            &["AUTHENTICATORS_NOOP_ENABLED", "invalid boolean `yes`"],
        ),
        (
            "SERVE_PROXY_TIMEOUT_READ",
            "1.5s",
            &[
                "SERVE_PROXY_TIMEOUT_READ: serve.proxy.timeout.read",
                "^[0-9]+(ns|us|ms|s|m|h)$",
            ],
        ),
        (
            "LOG_LEVEL",
            "loud",
            &["LOG_LEVEL: log.level: unknown variant `loud`"],
        ),
        (
            "MUTATORS_HEADER_CONFIG_HEADERS",
            "X-User=alice",
            &[
                "MUTATORS_HEADER_CONFIG_HEADERS",
                "mutators.header.config.headers",
            ],
        ),
        (
            "AUTHENTICATORS_COOKIE_SESSION_CONFIG_ADDITIONAL_HEADERS",
            "nope",
            &["expected a JSON object"],
        ),
        (
            "ACCESS_RULES_REPOSITORIES",
            "[broken",
            &["ACCESS_RULES_REPOSITORIES", "invalid JSON array"],
        ),
        (
            "ERRORS_FALLBACK_0",
            "html",
            &["ERRORS_FALLBACK_0: errors.fallback: unknown error handler `html` at index 0"],
        ),
        (
            "AUTHENTICATORS_JWT_CONFIG_JWKS_URLS",
            "not a uri",
            &[
                "AUTHENTICATORS_JWT_CONFIG_JWKS_URLS",
                "authenticators.jwt.config.jwks_urls",
            ],
        ),
    ];
    for (name, value, wants) in cases {
        let err = load_env(&[(name, value)]).expect_err(name).to_string();
        for want in *wants {
            assert!(
                err.contains(want),
                "{name}={value}\n  error: {err}\n  missing: {want}"
            );
        }
    }
    let err = load_env(&[("AUTHENTICATORS_JWT_ENABLED", "1")])
        .expect_err("required")
        .to_string();
    assert!(
        err.contains("authenticators.jwt.config.jwks_urls: required"),
        "{err}"
    );
}
