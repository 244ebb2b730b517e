//! The `jwt` verified-token cache (gatehouse extension `cache`, on by default; DESIGN §4 "caches
//! that are correct") seen through `/decisions`: a cached token is still judged by each rule's
//! own algorithm list and claims checks (SPEC §5.1), and by the keys the JWKS serves now
//! (SPEC §5.5). Hits themselves are counted in the unit tests (`jwt_cache_tests.rs`); here every
//! request must answer exactly as without the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/jwks.rs"]
mod jwks;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use common::Gate;
use jsonwebtoken::Algorithm;
use jwks::JwksServer;
use keys::{claims, TestKey};
use serde_json::{json, Value};

const H: (&str, &str) = ("X-Forwarded-Host", "h");

/// jwt (global `jwks_urls` and `extra` merged into its config) with verbose JSON errors.
fn config(jwks_url: &str, extra: &str) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  jwt: {{ enabled: true, config: {{ jwks_urls: [ "{jwks_url}" ]{extra} }} }}
authorizers:
  allow: {{ enabled: true }}
mutators:
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log:
  level: error
"#
    )
}

/// A rule on `http://h/<id>` running `jwt(config)` and `X-User: {{ print .Subject }}`.
fn rule(id: &str, jwt_config: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: 'http://h/{id}', methods: [GET] }}\n  authenticators: [{{ handler: jwt, config: {jwt_config} }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-User: '{{{{ print .Subject }}}}' }} }} }}]\n"
    )
}

/// Status and reason of `GET /decisions/<id>` with `token`; the token never echoed.
async fn call(g: &Gate, id: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let r = g
        .req(
            "GET",
            &format!("/decisions/{id}"),
            &[H, ("Authorization", &auth)],
        )
        .await;
    assert!(!r.body.contains(token), "{id}: token echoed");
    let reason = if r.status == 200 {
        r.header("x-user").unwrap_or_default().to_owned()
    } else {
        r.json()["error"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    (r.status, reason)
}

fn jwks_of(keys: &[&TestKey]) -> Value {
    Value::Array(keys.iter().map(|k| k.jwk.clone()).collect())
}

fn token_with(key: &TestKey, sub: &str, extra: Value) -> String {
    let mut c = claims(sub);
    if let (Some(c), Value::Object(e)) = (c.as_object_mut(), extra) {
        c.extend(e);
    }
    key.sign(&c)
}

// SPEC §5.1: rules sharing one JWKS (and so one cache) each run their own claims checks on a
// cached token, whichever rule verified it first.
#[tokio::test]
async fn claims_checks_rerun_per_rule() {
    let key = keys::rsa(0, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let rules = rule("aud", "{ target_audience: [api] }")
        + &rule(
            "scope",
            "{ scope_strategy: exact, required_scope: [admin] }",
        )
        + &rule("plain", "{}");
    let g = Gate::start(&config(&server.url(), ""), &[("rules.yaml", &rules)]).await;
    let extra = json!({"aud": ["api"], "scope": "read"});
    let (first, second) = (
        token_with(&key, "one", extra.clone()),
        token_with(&key, "two", extra),
    );
    // Rule that accepts first, then the one that refuses; and the other way round.
    for _ in 0..2 {
        assert_eq!(call(&g, "aud", &first).await, (200, "one".into()));
        let (status, reason) = call(&g, "scope", &first).await;
        assert_eq!(status, 401);
        assert!(reason.contains("missing required scope"), "{reason}");
    }
    for _ in 0..2 {
        let (status, _) = call(&g, "scope", &second).await;
        assert_eq!(status, 401);
        assert_eq!(call(&g, "aud", &second).await, (200, "two".into()));
        assert_eq!(call(&g, "plain", &second).await, (200, "two".into()));
    }
    // An audience the token lacks, after the token was cached by other rules.
    let other = token_with(&key, "three", json!({"aud": ["web"]}));
    assert_eq!(call(&g, "plain", &other).await.0, 200);
    let (status, reason) = call(&g, "aud", &other).await;
    assert_eq!(status, 401);
    assert!(reason.contains("audience"), "{reason}");
    assert_eq!(server.fetches(), 1);
}

// SPEC §5.1: `allowed_algorithms` is per rule, also for a token another rule has verified.
#[tokio::test]
async fn allowed_algorithms_per_rule_on_hits() {
    let rs = keys::rsa(0, "rs");
    let es = keys::p256("es");
    let server = JwksServer::start(jwks_of(&[&rs, &es])).await;
    let rules = rule("rs", "{ allowed_algorithms: [RS256] }")
        + &rule("es", "{ allowed_algorithms: [ES256] }")
        + &rule("both", "{ allowed_algorithms: [ES256, RS256] }");
    let g = Gate::start(&config(&server.url(), ""), &[("rules.yaml", &rules)]).await;
    let rs_token = rs.sign(&claims("r"));
    let es_token = es.sign(&claims("e"));
    for _ in 0..2 {
        assert_eq!(call(&g, "rs", &rs_token).await.0, 200);
        assert_eq!(call(&g, "both", &rs_token).await.0, 200);
        let (status, reason) = call(&g, "es", &rs_token).await;
        assert_eq!(status, 401);
        assert!(reason.contains("not allowed"), "{reason}");
        assert_eq!(call(&g, "both", &es_token).await.0, 200);
        assert_eq!(call(&g, "es", &es_token).await.0, 200);
        assert_eq!(call(&g, "rs", &es_token).await.0, 401);
    }
    // An RSA key presented as PS256 is another token (another header): judged on its own.
    let ps_token = rs.sign_as(Algorithm::PS256, Some("rs"), &claims("p"));
    assert_eq!(call(&g, "both", &ps_token).await.0, 401);
}

// SPEC §5.5: a key the JWKS no longer serves rejects even a cached token once the set is
// refetched (here by a token with the new `kid`).
#[tokio::test]
async fn removed_key_rejects_cached_token() {
    let old = keys::rsa(0, "old");
    let new = keys::rsa(1, "new");
    let server = JwksServer::start(jwks_of(&[&old])).await;
    let g = Gate::start(
        &config(&server.url(), ""),
        &[("rules.yaml", &rule("r", "{}"))],
    )
    .await;
    let cached = old.sign(&claims("old"));
    for _ in 0..3 {
        assert_eq!(call(&g, "r", &cached).await, (200, "old".into()));
    }
    assert_eq!(server.fetches(), 1);

    server.set_keys(jwks_of(&[&new]));
    assert_eq!(
        call(&g, "r", &new.sign(&claims("new"))).await,
        (200, "new".into())
    );
    assert_eq!(server.fetches(), 2, "one refetch for the new kid");
    let (status, reason) = call(&g, "r", &cached).await;
    assert_eq!(status, 401);
    assert!(reason.contains("no signing key"), "{reason}");
}

// SPEC §5.5: the same `kid` served with other key material (a refetched set) makes the cached
// token verify again, and fail.
#[tokio::test]
async fn replaced_key_material_rejects_cached_token() {
    let key = keys::rsa(0, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let g = Gate::start(
        &config(&server.url(), ""),
        &[("rules.yaml", &rule("r", "{}"))],
    )
    .await;
    let cached = key.sign(&claims("k"));
    for _ in 0..2 {
        assert_eq!(call(&g, "r", &cached).await, (200, "k".into()));
    }
    server.set_keys(jwks_of(&[&keys::rsa(1, "k")]));
    // An unknown kid makes the one allowed refetch.
    let unknown = key.sign_as(Algorithm::RS256, Some("unknown"), &claims("u"));
    assert_eq!(call(&g, "r", &unknown).await.0, 401);
    assert_eq!(server.fetches(), 2);
    let (status, reason) = call(&g, "r", &cached).await;
    assert_eq!(status, 401);
    assert!(reason.contains("signature is invalid"), "{reason}");
}

// `cache.enabled: false` (globally, or for one rule) keeps every check working.
#[tokio::test]
async fn cache_disabled() {
    let key = keys::rsa(0, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let off = ", cache: { enabled: false }";
    let rules = rule("global", "{ target_audience: [api] }")
        + &rule(
            "on",
            "{ cache: { enabled: true, ttl: 5s, max_entries: 10 } }",
        );
    let g = Gate::start(&config(&server.url(), off), &[("rules.yaml", &rules)]).await;
    let good = token_with(&key, "g", json!({"aud": "api"}));
    let bad_aud = token_with(&key, "b", json!({"aud": "web"}));
    let mut expired = claims("x");
    expired["exp"] = json!(keys::now() - 5);
    let expired = key.sign(&expired);
    for _ in 0..2 {
        assert_eq!(call(&g, "global", &good).await, (200, "g".into()));
        assert_eq!(call(&g, "global", &bad_aud).await.0, 401);
        assert_eq!(call(&g, "global", &expired).await.0, 401);
        assert_eq!(call(&g, "on", &good).await, (200, "g".into()));
        assert_eq!(call(&g, "on", &expired).await.0, 401);
    }
}

// Config errors in the new keys fail loudly at load, naming the key.
#[tokio::test]
async fn bad_cache_config_is_rejected() {
    let server = JwksServer::start(json!([])).await;
    let rules = rule("r", "{ cache: { ttl: forever } }");
    let err = Gate::try_start(&config(&server.url(), ""), &[("rules.yaml", &rules)], &[])
        .await
        .err()
        .expect("rejected");
    assert!(err.contains("cache.ttl"), "{err}");
}
