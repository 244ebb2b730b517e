//! Loading, defaults and file merging (SPEC §2.1–2.9).

use serde_json::{json, Value};
use tempfile::TempDir;

use super::{load_yaml, no_env, write};
use crate::config::*;

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let pointer = format!("/{}", path.replace('.', "/"));
    v.pointer(&pointer)
        .unwrap_or_else(|| panic!("no key {path}"))
}

// SPEC §2.4, §2.5, §2.3 (log), §2.6, §2.8: every schema default, plus gatehouse extensions.
#[test]
fn defaults() {
    let cfg = load_with_env(&[], no_env()).expect("no files is a valid config");
    assert_eq!(cfg, Config::default());
    let v = cfg.effective();
    let cases: &[(&str, Value)] = &[
        ("serve.proxy.port", json!(4455)),
        ("serve.proxy.host", json!("")),
        ("serve.proxy.trust_forwarded_headers", json!(false)),
        ("serve.proxy.timeout.read", json!("5s")),
        ("serve.proxy.timeout.write", json!("2m")),
        ("serve.proxy.timeout.idle", json!("2m")),
        ("serve.proxy.cors.enabled", json!(false)),
        ("serve.proxy.cors.allowed_origins", json!(["*"])),
        (
            "serve.proxy.cors.allowed_methods",
            json!(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ),
        (
            "serve.proxy.cors.allowed_headers",
            json!(["Authorization", "Content-Type"]),
        ),
        ("serve.proxy.cors.exposed_headers", json!(["Content-Type"])),
        ("serve.proxy.cors.allow_credentials", json!(false)),
        ("serve.proxy.cors.max_age", json!(0)),
        ("serve.proxy.cors.debug", json!(false)),
        ("serve.proxy.tls.cert.path", Value::Null),
        ("serve.proxy.tls.key.base64", Value::Null),
        ("serve.api.port", json!(4456)),
        ("serve.api.host", json!("")),
        ("serve.api.timeout.read", json!("5s")),
        ("serve.api.cors.allowed_origins", json!(["*"])),
        ("serve.api.trusted_proxies", json!([])),
        ("serve.prometheus.port", json!(9000)),
        ("serve.prometheus.host", json!("")),
        ("serve.prometheus.metrics_path", json!("/metrics")),
        ("serve.prometheus.metric_name_prefix", json!("gatehouse_")),
        ("serve.prometheus.hide_request_paths", json!(false)),
        ("serve.prometheus.collapse_request_paths", json!(true)),
        ("access_rules.repositories", json!([])),
        ("access_rules.matching_strategy", json!("regexp")),
        ("log.level", json!("info")),
        ("log.format", json!("text")),
        ("log.leak_sensitive_values", json!(false)),
        ("profiling", json!("")),
        ("version", Value::Null),
        ("authenticators.anonymous.enabled", json!(false)),
        (
            "authenticators.anonymous.config.subject",
            json!("anonymous"),
        ),
        ("authenticators.noop.enabled", json!(false)),
        (
            "authenticators.cookie_session.config.check_session_url",
            Value::Null,
        ),
        ("authenticators.cookie_session.config.only", json!([])),
        (
            "authenticators.cookie_session.config.preserve_query",
            json!(true),
        ),
        (
            "authenticators.cookie_session.config.preserve_path",
            json!(false),
        ),
        (
            "authenticators.cookie_session.config.preserve_host",
            json!(false),
        ),
        (
            "authenticators.cookie_session.config.force_method",
            json!(""),
        ),
        (
            "authenticators.cookie_session.config.forward_http_headers",
            json!([]),
        ),
        (
            "authenticators.cookie_session.config.additional_headers",
            json!({}),
        ),
        (
            "authenticators.cookie_session.config.extra_from",
            json!("extra"),
        ),
        (
            "authenticators.cookie_session.config.subject_from",
            json!("subject"),
        ),
        (
            "authenticators.cookie_session.config.cache.enabled",
            json!(false),
        ),
        (
            "authenticators.cookie_session.config.cache.ttl",
            json!("1m"),
        ),
        (
            "authenticators.cookie_session.config.cache.max_entries",
            json!(10000),
        ),
        ("authenticators.cookie_session.config.timeout", json!("5s")),
        ("authenticators.bearer_token.config.token_from", Value::Null),
        ("authenticators.bearer_token.config.prefix", json!("")),
        (
            "authenticators.bearer_token.config.preserve_query",
            json!(true),
        ),
        (
            "authenticators.bearer_token.config.extra_from",
            json!("extra"),
        ),
        (
            "authenticators.bearer_token.config.subject_from",
            json!("sub"),
        ),
        ("authenticators.bearer_token.config.timeout", json!("5s")),
        ("authenticators.jwt.config.jwks_urls", Value::Null),
        (
            "authenticators.jwt.config.allowed_algorithms",
            json!(["RS256"]),
        ),
        ("authenticators.jwt.config.scope_strategy", json!("none")),
        ("authenticators.jwt.config.jwks_max_wait", json!("1s")),
        ("authenticators.jwt.config.jwks_ttl", json!("30s")),
        ("authenticators.jwt.config.leeway", json!("0s")),
        ("authenticators.jwt.config.cache.enabled", json!(true)),
        ("authenticators.jwt.config.cache.ttl", json!("1m")),
        ("authenticators.jwt.config.cache.max_entries", json!(10000)),
        (
            "authenticators.oauth2_client_credentials.config.retry.give_up_after",
            json!("1s"),
        ),
        (
            "authenticators.oauth2_client_credentials.config.retry.max_delay",
            json!("100ms"),
        ),
        (
            "authenticators.oauth2_client_credentials.config.cache.enabled",
            json!(false),
        ),
        (
            "authenticators.oauth2_client_credentials.config.cache.max_tokens",
            json!(1000),
        ),
        (
            "authenticators.oauth2_introspection.config.scope_strategy",
            json!("none"),
        ),
        (
            "authenticators.oauth2_introspection.config.pre_authorization.enabled",
            json!(false),
        ),
        (
            "authenticators.oauth2_introspection.config.preserve_host",
            json!(false),
        ),
        (
            "authenticators.oauth2_introspection.config.retry.max_delay",
            json!("100ms"),
        ),
        (
            "authenticators.oauth2_introspection.config.cache.max_cost",
            json!(100_000_000),
        ),
        (
            "authenticators.oauth2_introspection.config.cache.ttl",
            Value::Null,
        ),
        ("authorizers.allow.enabled", json!(false)),
        (
            "authorizers.keto_engine_acp_ory.config.flavor",
            json!("regex"),
        ),
        (
            "authorizers.remote.config.forward_response_headers_to_upstream",
            json!([]),
        ),
        ("authorizers.remote.config.retry.give_up_after", json!("1s")),
        (
            "authorizers.remote_json.config.retry.max_delay",
            json!("100ms"),
        ),
        (
            "authorizers.remote_json.config.response.allowed_path",
            Value::Null,
        ),
        ("mutators.header.config.headers", Value::Null),
        (
            "mutators.hydrator.config.api.retry.give_up_after",
            json!("1s"),
        ),
        ("mutators.hydrator.config.cache.enabled", json!(false)),
        ("mutators.hydrator.config.cache.ttl", json!("1m")),
        ("mutators.id_token.config.ttl", json!("15m")),
        ("errors.fallback", json!(["json"])),
        ("errors.handlers.json.enabled", json!(true)),
        ("errors.handlers.json.config.verbose", json!(false)),
        ("errors.handlers.redirect.enabled", json!(false)),
        ("errors.handlers.redirect.config.code", json!(302)),
        (
            "errors.handlers.redirect.config.return_to_query_param",
            json!(""),
        ),
        ("errors.handlers.www_authenticate.enabled", json!(false)),
        (
            "errors.handlers.www_authenticate.config.realm",
            json!("Please authenticate."),
        ),
    ];
    for (path, want) in cases {
        assert_eq!(at(&v, path), want, "{path}");
    }
    // Typed access, as the pipeline uses it.
    assert_eq!(
        cfg.serve.proxy.timeout.read.get(),
        std::time::Duration::from_secs(5)
    );
    assert_eq!(
        cfg.mutators.id_token.config.ttl.get(),
        std::time::Duration::from_secs(900)
    );
    assert!(cfg.authenticators.cookie_session.config.preserve_query);
    assert_eq!(cfg.handler_enabled("errors", "json"), Some(true));
    assert_eq!(cfg.handler_enabled("authenticators", "jwt"), Some(false));
    assert_eq!(cfg.handler_enabled("authenticators", "nope"), None);
    assert_eq!(cfg.handlers().len(), 21);
}

// SPEC §2.9: the minimal working example loads as written.
#[test]
fn spec_example_loads() {
    let cfg = load_yaml(
        r#"
serve:
  proxy: { port: 4455 }
  api: { port: 4456 }
access_rules:
  matching_strategy: regexp
  repositories: [ "file:///etc/oathkeeper/rules.yaml" ]
authenticators:
  anonymous: { enabled: true, config: { subject: guest } }
  jwt:
    enabled: true
    config:
      jwks_urls: [ "https://idp.example.com/.well-known/jwks.json" ]
      scope_strategy: exact
authorizers:
  allow: { enabled: true }
mutators:
  header:
    enabled: true
    config: { headers: { X-User: "{{ print .Subject }}" } }
errors:
  fallback: [ json ]
  handlers:
    json: { enabled: true, config: { verbose: false } }
    redirect:
      enabled: true
      config:
        to: https://login.example.com
        return_to_query_param: return_to
        when: [ { error: [ unauthorized ], request: { header: { accept: [ text/* ] } } } ]
"#,
    )
    .expect("SPEC §2.9 example is valid");
    assert_eq!(cfg.authenticators.anonymous.config.subject, "guest");
    assert_eq!(
        cfg.authenticators.jwt.config.scope_strategy,
        handlers::ScopeStrategy::Exact
    );
    let redirect = &cfg.errors.handlers.redirect.config;
    assert_eq!(redirect.return_to_query_param, "return_to");
    assert_eq!(
        redirect.when[0].error,
        vec![handlers::ErrorKind::Unauthorized]
    );
    assert_eq!(redirect.when[0].request.header.accept, vec!["text/*"]);
    assert_eq!(cfg.raw()["serve"]["proxy"]["port"], json!(4455));
    assert_eq!(cfg.sources().len(), 1);
}

// SPEC §2.1: later files override earlier ones; objects merge, arrays replace.
#[test]
fn files_merge_in_order() {
    let dir = TempDir::new().expect("tempdir");
    let a = write(
        &dir,
        "a.yaml",
        "serve:\n  proxy: { port: 1111, host: a.local }\n  api: { port: 2222 }\naccess_rules:\n  repositories: [file:///a.json, file:///b.json]\nlog: { level: debug }\n",
    );
    let b = write(
        &dir,
        "b.json",
        r#"{"serve":{"proxy":{"port":3333}},"access_rules":{"repositories":["file:///c.json"]}}"#,
    );
    let cfg = load_with_env(&[a, b], no_env()).expect("valid");
    assert_eq!(cfg.serve.proxy.port, 3333, "later file wins");
    assert_eq!(cfg.serve.proxy.host, "a.local", "objects merge");
    assert_eq!(cfg.serve.api.port, 2222);
    assert_eq!(
        cfg.access_rules.repositories,
        vec!["file:///c.json"],
        "arrays replace"
    );
    assert_eq!(cfg.log.level, log::LogLevel::Debug);
    assert_eq!(cfg.sources().len(), 2);
}

// SPEC §2.1: a handler's required keys may come from different files.
#[test]
fn required_keys_may_come_from_a_later_file() {
    let dir = TempDir::new().expect("tempdir");
    let a = write(
        &dir,
        "a.yaml",
        "authenticators: { jwt: { enabled: true } }\n",
    );
    let b = write(
        &dir,
        "b.yaml",
        "authenticators: { jwt: { config: { jwks_urls: [file:///k.json] } } }\n",
    );
    let cfg = load_with_env(&[a, b], no_env()).expect("valid once merged");
    assert!(cfg.authenticators.jwt.enabled);
}

// SPEC §2.1 (additionalProperties: false everywhere), STYLE (errors name file, key, allowed).
// SPEC §2.6: an enabled handler needs its required keys globally.
// SPEC §4.7: a fallback error handler must be usable.
// SPEC §4.7, DESIGN §3: both `cidr` (schema) and `remote_ip` (code, docs) are accepted.
#[test]
fn when_accepts_cidr_and_remote_ip() {
    let cfg = load_yaml(
        r#"
errors:
  handlers:
    json:
      config:
        when:
          - error: [unauthorized, forbidden]
            request:
              cidr: [10.0.0.0/8]
              remote_ip: { match: ["192.168.0.0/16", "::1"], respect_forwarded_for_header: true }
              header: { content_type: [application/json], accept: ["text/*"] }
          - request: { remote_ip: { match: [127.0.0.0/8] } }
"#,
    )
    .expect("valid");
    let when = &cfg.errors.handlers.json.config.when;
    assert_eq!(when.len(), 2);
    let ranges: Vec<String> = when[0].request.ip_ranges().map(|n| n.to_string()).collect();
    assert_eq!(ranges, ["10.0.0.0/8", "192.168.0.0/16", "::1/128"]);
    assert!(when[0].request.remote_ip.respect_forwarded_for_header);
    assert!(when[1].error.is_empty());
    let kinds: Vec<&str> = when[0].error.iter().map(|k| k.as_str()).collect();
    assert_eq!(kinds, ["unauthorized", "forbidden"]);
    assert_eq!(
        handlers::ErrorKind::from_status(404).map(|k| k.as_str()),
        Some("not_found")
    );
    assert!(!when[1].request.remote_ip.respect_forwarded_for_header);
}

// SPEC §3.1: Oathkeeper reads YAML with Go's yaml.v2 (YAML 1.1), where `yes`/`no`, `on`/`off`
// and `y`/`n` are booleans. Boolean keys take them; a string key keeps the text.
#[test]
fn yaml11_booleans_are_taken_by_boolean_keys() {
    let cfg = load_yaml(
        r#"
serve: { proxy: { trust_forwarded_headers: yes } }
authenticators:
  anonymous: { enabled: On, config: { subject: no } }
  cookie_session:
    enabled: Y
    config: { check_session_url: "http://k/sessions/whoami", preserve_path: on, preserve_query: off }
errors:
  handlers:
    json: { enabled: NO }
    redirect:
      enabled: yes
      config:
        to: http://login
        when: [{ request: { remote_ip: { match: [10.0.0.0/8], respect_forwarded_for_header: yes } } }]
"#,
    )
    .expect("valid");
    assert!(cfg.serve.proxy.trust_forwarded_headers);
    assert!(cfg.authenticators.anonymous.enabled);
    assert_eq!(cfg.authenticators.anonymous.config.subject, "no");
    let session = &cfg.authenticators.cookie_session;
    assert!(session.enabled && session.config.preserve_path && !session.config.preserve_query);
    assert!(!cfg.errors.handlers.json.enabled);
    let redirect = &cfg.errors.handlers.redirect;
    assert!(
        redirect.enabled
            && redirect.config.when[0]
                .request
                .remote_ip
                .respect_forwarded_for_header
    );
    // A rule's handler config is decoded the same way (SPEC §2.7).
    let merged = session
        .merged(Some(
            &serde_json::json!({"preserve_path": "off", "preserve_host": "yes"}),
        ))
        .expect("merged");
    assert!(!merged.preserve_path && merged.preserve_host);
}

// SPEC §2.1: file formats.
// SPEC §2.1: each file is validated alone, so an error names the file that has it.
// SPEC §2.1: YAML `key:` with no value (null) means the default.
#[test]
fn null_means_default() {
    let cfg = load_yaml("serve:\n  proxy:\n    port:\nauthenticators:\n  anonymous:\n    enabled: true\n    config:\n")
        .expect("valid");
    assert_eq!(cfg.serve.proxy.port, 4455);
    assert_eq!(cfg.authenticators.anonymous.config.subject, "anonymous");
    assert_eq!(
        load_yaml("access_rules: { matching_strategy: '' }")
            .expect("valid")
            .access_rules
            .matching_strategy,
        MatchingStrategy::Regexp
    );
    assert_eq!(
        load_yaml("log: { level: warning }")
            .expect("valid")
            .log
            .level,
        log::LogLevel::Warn
    );
}

// STYLE: secrets never show up in Debug output.
#[test]
fn secrets_are_redacted_in_debug() {
    let cfg = load_yaml(
        "authenticators: { oauth2_introspection: { config: { pre_authorization: { client_secret: hunter2 } } } }\nserve: { proxy: { tls: { key: { base64: c2VjcmV0 } } } }\n",
    )
    .expect("valid");
    let dbg = format!("{cfg:?}");
    assert!(
        !dbg.contains("hunter2") && !dbg.contains("c2VjcmV0"),
        "secret leaked"
    );
    let secret = cfg
        .authenticators
        .oauth2_introspection
        .config
        .pre_authorization
        .client_secret;
    assert_eq!(secret.as_ref().map(Secret::expose), Some("hunter2"));
}

// SPEC §2.2: Oathkeeper's kitchen-sink config (all handlers but two enabled) loads unchanged.
#[test]
fn oathkeeper_kitchen_sink_loads() {
    let cfg = load_yaml(include_str!("kitchen_sink.yaml")).expect("kitchen sink is valid");
    let disabled: Vec<_> = cfg
        .handlers()
        .into_iter()
        .filter(|h| !h.enabled)
        .map(|h| h.name)
        .collect();
    assert_eq!(disabled, ["bearer_token", "www_authenticate"]);
    assert_eq!(cfg.serve.proxy.timeout.write.get().as_secs(), 2);
    assert_eq!(cfg.access_rules.matching_strategy, MatchingStrategy::Glob);
    assert_eq!(cfg.profiling, Profiling::Cpu);
    assert_eq!(cfg.serve.prometheus.metric_name_prefix, "ory_oathkeeper_");
    let when = &cfg.errors.handlers.json.config.when[0];
    assert_eq!(when.request.cidr.len(), 1);
    assert_eq!(cfg.mutators.id_token.config.ttl.get().as_secs(), 3600);
    let pre = &cfg
        .authenticators
        .oauth2_introspection
        .config
        .pre_authorization;
    assert_eq!(pre.audience.as_deref(), Some("some_audience"));
}

/// SPEC §2.1: `--config` takes TOML files as well as YAML and JSON. The same config written both
/// ways loads to the same result (tables, dotted keys, inline tables, arrays of tables, a
/// datetime as its RFC 3339 text), and a TOML file merges with a YAML one like any other.
#[test]
fn toml_config_reads_like_yaml() {
    let dir = TempDir::new().expect("tempdir");
    let yaml = write(
        &dir,
        "c.yaml",
        r#"
serve:
  proxy:
    port: 4455
    timeout: { read: 5s, idle: 0s }
    cors: { enabled: true, allowed_origins: ["https://a.example"], max_age: 60 }
access_rules:
  repositories: ["file:///etc/rules/a.yaml", "inline://W10="]
  matching_strategy: glob
authenticators:
  anonymous: { enabled: true, config: { subject: guest } }
  jwt:
    enabled: true
    config:
      jwks_urls: ["http://127.0.0.1:1/.well-known/jwks.json"]
      required_scope: [read, write]
authorizers:
  allow: { enabled: true }
mutators:
  header:
    enabled: true
    config:
      headers: { X-User: "{{ print .Subject }}", X-Since: "1979-05-27T07:32:00Z" }
log: { level: debug, leak_sensitive_values: false }
"#,
    );
    let toml = write(
        &dir,
        "c.toml",
        r#"
# comments are fine
[serve.proxy]
port = 4455
timeout = { read = "5s", idle = "0s" }

[serve.proxy.cors]
enabled = true
allowed_origins = ["https://a.example"]
max_age = 60

[access_rules]
repositories = [
  "file:///etc/rules/a.yaml",
  "inline://W10=",
]
matching_strategy = 'glob'

[authenticators]
anonymous.enabled = true
anonymous.config.subject = "guest"

[authenticators.jwt]
enabled = true
config.jwks_urls = ["http://127.0.0.1:1/.well-known/jwks.json"]
config.required_scope = ["read", "write"]

[authorizers.allow]
enabled = true

[mutators.header]
enabled = true
[mutators.header.config.headers]
X-User = "{{ print .Subject }}"
X-Since = 1979-05-27T07:32:00Z

[log]
level = "debug"
leak_sensitive_values = false
"#,
    );
    let from_yaml = load_with_env(std::slice::from_ref(&yaml), no_env()).expect("yaml");
    let from_toml = load_with_env(std::slice::from_ref(&toml), no_env()).expect("toml");
    assert_eq!(from_toml.effective(), from_yaml.effective());
    assert_eq!(from_toml.raw(), from_yaml.raw());

    // Later files win whatever their format.
    let over = write(&dir, "over.toml", "[serve.proxy]\nport = 5555\n");
    let merged = load_with_env(&[yaml, over], no_env()).expect("merged");
    assert_eq!(at(&merged.effective(), "serve.proxy.port"), &json!(5555));
    assert_eq!(
        at(&merged.effective(), "serve.proxy.cors.max_age"),
        &json!(60)
    );

    // Arrays of tables are arrays of mappings (an error handler's `when`).
    let tables = write(
        &dir,
        "when.toml",
        r#"
[errors.handlers.redirect]
enabled = true
config.to = "https://login.example/"

[[errors.handlers.redirect.config.when]]
error = ["unauthorized", "forbidden"]
request.header.accept = ["text/html"]
"#,
    );
    let when = load_with_env(&[tables], no_env()).expect("when");
    assert_eq!(
        at(when.raw(), "errors.handlers.redirect.config.when"),
        &json!([{"error": ["unauthorized", "forbidden"], "request": {"header": {"accept": ["text/html"]}}}])
    );
}
