//! Per-rule handler config merging (SPEC §2.7).

use serde_json::json;

use super::{load_yaml, no_env};
use crate::config::handlers::TokenFrom;
use crate::config::*;

fn jwt_config() -> Config {
    load_yaml(
        r#"
authenticators:
  jwt:
    enabled: true
    config:
      jwks_urls: ["https://global/jwks.json", "https://other/jwks.json"]
      trusted_issuers: [global]
      token_from: { header: X-Token }
  oauth2_introspection:
    config:
      introspection_url: http://i/introspect
      retry: { give_up_after: 3s }
      pre_authorization: { enabled: false, client_id: id }
"#,
    )
    .expect("valid")
}

// SPEC §2.1: env var name lowercased, `_` → `.`, compared with key paths.
// SPEC §2.1: string arrays from env: comma-separated or a JSON array; items by index.
// SPEC §2.1: env wins over files.
// SPEC §2.1: a bad env value is an error naming the variable.
// SPEC §2.7: rule config is deep-merged over the global config.
#[test]
fn merged_rule_config() {
    let cfg = jwt_config();
    let jwt = &cfg.authenticators.jwt;

    let same = jwt.merged(None).expect("global alone");
    assert_eq!(same, jwt.config);
    assert_eq!(jwt.merged(Some(&json!(null))).expect("null"), jwt.config);
    assert_eq!(jwt.merged(Some(&json!({}))).expect("empty"), jwt.config);

    // Arrays replace.
    let m = jwt
        .merged(Some(
            &json!({"jwks_urls": ["http://foo"], "required_scope": ["a"]}),
        ))
        .expect("valid");
    let urls: Vec<&str> = m.jwks_urls.iter().flatten().map(|u| u.as_str()).collect();
    assert_eq!(urls, ["http://foo/"]);
    assert_eq!(m.required_scope, ["a"]);
    assert_eq!(
        m.trusted_issuers,
        ["global"],
        "untouched keys keep the global value"
    );

    // token_from replaces as a whole (exactly one location).
    let m = jwt
        .merged(Some(&json!({"token_from": {"cookie": "jwt"}})))
        .expect("valid");
    assert_eq!(m.token_from, Some(TokenFrom::Cookie("jwt".into())));

    // null restores the schema default.
    let m = jwt
        .merged(Some(&json!({"token_from": null, "trusted_issuers": null})))
        .expect("valid");
    assert_eq!(m.token_from, None);
    assert!(m.trusted_issuers.is_empty());

    // Nested objects merge key by key.
    let introspection = &cfg.authenticators.oauth2_introspection;
    let m = introspection
        .merged(Some(&json!({"retry": {"max_delay": "50ms"}, "pre_authorization": {"enabled": true, "client_secret": "s", "token_url": "http://t/token"}})))
        .expect("valid");
    assert_eq!(
        m.retry.give_up_after.value.get().as_secs(),
        3,
        "global nested key kept"
    );
    assert_eq!(m.retry.max_delay.get().as_millis(), 50);
    assert_eq!(m.pre_authorization.client_id.as_deref(), Some("id"));
    assert!(m.pre_authorization.enabled);
}

// SPEC §2.7 step 3: an invalid merged config is an error with the key path.
#[test]
fn merged_rule_config_errors() {
    let cfg = jwt_config();
    let jwt = &cfg.authenticators.jwt;
    let cases: &[(serde_json::Value, &str)] = &[
        (
            json!({"jwks_url": ["x"]}),
            "jwks_url: unknown field `jwks_url`, expected one of",
        ),
        (
            json!({"jwks_urls": ["x"]}),
            "jwks_urls[0]: invalid value: string \"x\", expected an absolute URI",
        ),
        (
            json!({"scope_strategy": "regex"}),
            "scope_strategy: unknown variant `regex`",
        ),
        (json!({"jwks_ttl": "soon"}), "jwks_ttl: invalid value"),
        (
            json!({"jwks_urls": null}),
            "jwks_urls: required key is missing",
        ),
        (
            json!(["x"]),
            "handler config must be an object, got an array",
        ),
    ];
    for (rule, want) in cases {
        let err = jwt.merged(Some(rule)).expect_err("invalid").to_string();
        assert!(err.contains(want), "{rule}\n  error: {err}\n  want: {want}");
    }
    let introspection = &cfg.authenticators.oauth2_introspection;
    let err = introspection
        .merged(Some(&json!({"pre_authorization": {"enabled": true}})))
        .expect_err("pre-authorization needs secret")
        .to_string();
    assert!(
        err.contains("pre_authorization.client_secret: required key is missing"),
        "{err}"
    );

    let redirect = &cfg.errors.handlers.redirect;
    let err = redirect
        .merged(Some(&json!({"to": "/x", "code": 303})))
        .expect_err("303")
        .to_string();
    assert!(
        err.contains("code: invalid value: integer `303`, expected one of 301, 302"),
        "{err}"
    );
    let m = redirect
        .merged(Some(&json!({"to": "/login", "code": 301, "when": [{"request": {"cidr": ["10.0.0.0/8"], "remote_ip": {"match": ["::1/128"]}}}]})))
        .expect("valid");
    assert_eq!(m.code.get(), 301);
    assert_eq!(m.when[0].request.ip_ranges().count(), 2);

    // Handlers without config accept and ignore anything (Oathkeeper never decodes them).
    assert!(cfg
        .authenticators
        .noop
        .merged(Some(&json!({"anything": 1})))
        .is_ok());
}

// SPEC §2.7: merging works from the defaults for handlers the user never configured.
#[test]
fn merged_from_defaults() {
    let cfg = load_with_env(&[], no_env()).expect("defaults");
    let m = cfg
        .authenticators
        .cookie_session
        .merged(Some(
            &json!({"check_session_url": "http://kratos/sessions/whoami", "only": ["ory_session"]}),
        ))
        .expect("valid");
    assert!(m.preserve_query);
    assert_eq!(m.subject_from, "subject");
    assert_eq!(m.only, ["ory_session"]);
    let err = cfg
        .mutators
        .header
        .merged(None)
        .expect_err("headers required")
        .to_string();
    assert_eq!(err, "headers: required key is missing");
    let m = cfg
        .mutators
        .header
        .merged(Some(
            &json!({"headers": {"X-User": "{{ print .Subject }}"}}),
        ))
        .expect("valid");
    assert_eq!(m.headers.map(|h| h.len()), Some(1));
    let m = cfg
        .mutators
        .id_token
        .merged(Some(
            &json!({"issuer_url": "https://gh", "jwks_url": "file:///k.json", "ttl": "1h"}),
        ))
        .expect("valid");
    assert_eq!(m.ttl.get().as_secs(), 3600);
}
