//! `oauth2_introspection` and `oauth2_client_credentials` through `/decisions`: SPEC Appendix B
//! cases 18 and 19, SPEC §5.1, §5.5, §5.6 and the caches of DESIGN §4, against the stand-in
//! OAuth2 server of `fixtures/oauth2.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/oauth2.rs"]
mod oauth2;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{Gate, Resp};
use oauth2::{Answer, OAuth2Server, TokenMode};
use serde_json::json;

const H: (&str, &str) = ("X-Forwarded-Host", "h");

fn config(s: &OAuth2Server) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  anonymous: {{ enabled: true }}
  oauth2_introspection:
    enabled: true
    config:
      introspection_url: {introspect}
  oauth2_client_credentials:
    enabled: true
    config:
      token_url: {token}
authorizers:
  allow: {{ enabled: true }}
mutators:
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log:
  level: warn
"#,
        introspect = s.introspect_url(),
        token = s.token_url(),
    )
}

/// A GET rule for `http://h/<path>` with `authenticators` (YAML flow list) and a header mutator
/// exposing the subject and `Extra.scope`.
fn rule(id: &str, path: &str, authenticators: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: 'http://h/{path}', methods: [GET] }}\n  authenticators: {authenticators}\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-User: '{{{{ print .Subject }}}}', X-Scope: '{{{{ print .Extra.scope }}}}' }} }} }}]\n"
    )
}

async fn bearer(g: &Gate, path: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    g.req(
        "GET",
        &format!("/decisions/{path}"),
        &[H, ("Authorization", &auth)],
    )
    .await
}

async fn basic(g: &Gate, path: &str, id: &str, secret: &str) -> Resp {
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let auth = format!("Basic {enc}");
    g.req(
        "GET",
        &format!("/decisions/{path}"),
        &[H, ("Authorization", &auth)],
    )
    .await
}

fn reason(r: &Resp) -> String {
    r.json()["error"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// SPEC Appendix B case 18 and §5.1 oauth2_introspection.
#[tokio::test]
async fn case18_introspection() {
    let s = OAuth2Server::start().await;
    s.answer(
        "good",
        Answer::Json(
            json!({"active": true, "sub": "alice", "scope": "read write",
                            "aud": ["api"], "client_id": "c1", "token_use": "access_token",
                            "exp": unix_now() + 3600}),
        ),
    );
    s.answer("inactive", Answer::Json(json!({"active": false})));
    s.answer(
        "refresh",
        Answer::Json(json!({"active": true, "sub": "a", "token_use": "refresh_token"})),
    );
    s.answer("noaud", Answer::Json(json!({"active": true, "sub": "a"})));
    s.answer("broken", Answer::Status(500));
    s.answer("limited", Answer::RateLimited(5));
    let rules = rule("plain", "plain", "[{handler: oauth2_introspection}]")
        + &rule(
            "aud",
            "aud",
            "[{handler: oauth2_introspection, config: {target_audience: [api]}}]",
        )
        + &rule(
            "scope",
            "scope",
            "[{handler: oauth2_introspection, config: {scope_strategy: exact, required_scope: [admin]}}]",
        );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;

    let r = bearer(&g, "plain", "good").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("alice"));
    assert_eq!(r.header("x-scope"), Some("read write"));
    // RFC 7662 request shape (SPEC §5.1).
    let req = s.last_introspect();
    assert_eq!(req.form.get("token").map(String::as_str), Some("good"));
    // Strategy `none` (the default) always sends `scope`, empty when none is required.
    assert_eq!(req.form.get("scope").map(String::as_str), Some(""));
    assert_eq!(
        req.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );

    let r = bearer(&g, "plain", "inactive").await;
    assert_eq!(r.status, 401);
    assert_eq!(reason(&r), "Access token is not active");
    assert_eq!(bearer(&g, "plain", "refresh").await.status, 403);
    assert_eq!(bearer(&g, "aud", "noaud").await.status, 403);
    assert_eq!(bearer(&g, "aud", "good").await.status, 200);
    let r = bearer(&g, "scope", "good").await;
    assert_eq!(r.status, 403);
    assert_eq!(reason(&r), "Scope admin was not granted");
    // DESIGN §3 deviation: Oathkeeper answers 500 when the endpoint fails; gatehouse 503.
    assert_eq!(bearer(&g, "plain", "broken").await.status, 503);
    let r = bearer(&g, "plain", "limited").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
    // No token: not responsible, and nothing else in the chain -> 401.
    let r = g.req("GET", "/decisions/plain", &[H]).await;
    assert_eq!(r.status, 401);
}

// SPEC §5.1: `prefix`, `scope` delegated to the server under strategy none, request headers and
// `preserve_host`.
#[tokio::test]
async fn introspection_request_options() {
    let s = OAuth2Server::start().await;
    s.answer(
        "ory_at_x",
        Answer::Json(json!({"active": true, "sub": "bob"})),
    );
    let rules = rule(
        "opts",
        "opts",
        "[{handler: oauth2_introspection, config: {prefix: ory_at_, required_scope: [a, b], preserve_host: true, introspection_request_headers: {X-Tenant: t1, Content-Type: text/plain}}}, {handler: anonymous}]",
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    let r = bearer(&g, "opts", "ory_at_x").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("bob"));
    let req = s.last_introspect();
    assert_eq!(req.form.get("scope").map(String::as_str), Some("a b"));
    assert_eq!(req.headers.get("x-tenant").unwrap(), "t1");
    assert_eq!(
        req.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(req.headers.get("x-forwarded-host").unwrap(), "h");
    // Without the prefix introspection is not responsible (no call); anonymous is not either
    // (Authorization is set), so the chain ends in 401.
    let calls = s.introspect_calls();
    assert_eq!(bearer(&g, "opts", "other").await.status, 401);
    assert_eq!(s.introspect_calls(), calls);
}

// DESIGN §4: one token under two rules whose checks differ gets two decisions, each cached
// under its own key; a hit does not call the endpoint again.
#[tokio::test]
async fn introspection_cache_keyed_by_checks() {
    let s = OAuth2Server::start().await;
    s.answer(
        "tok",
        Answer::Json(json!({"active": true, "sub": "a", "scope": "read"})),
    );
    let cached = "cache: {enabled: true, ttl: 1h}";
    let rules = rule(
        "read",
        "read",
        &format!("[{{handler: oauth2_introspection, config: {{scope_strategy: exact, required_scope: [read], {cached}}}}}]"),
    ) + &rule(
        "write",
        "write",
        &format!("[{{handler: oauth2_introspection, config: {{scope_strategy: exact, required_scope: [write], {cached}}}}}]"),
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    assert_eq!(bearer(&g, "read", "tok").await.status, 200);
    assert_eq!(bearer(&g, "write", "tok").await.status, 403);
    assert_eq!(bearer(&g, "read", "tok").await.status, 200);
    assert_eq!(bearer(&g, "write", "tok").await.status, 403);
    assert_eq!(s.introspect_calls(), 2);
}

// DESIGN §4: claims checks re-run on every hit and the TTL never outlives `exp`: a token whose
// `exp` passes is refused even though `cache.ttl` is an hour.
#[tokio::test]
async fn introspection_cache_respects_exp() {
    let s = OAuth2Server::start().await;
    s.answer(
        "short",
        Answer::Json(json!({"active": true, "sub": "a", "exp": unix_now() + 1})),
    );
    let rules = rule(
        "c",
        "c",
        "[{handler: oauth2_introspection, config: {cache: {enabled: true, ttl: 1h}}}]",
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    assert_eq!(bearer(&g, "c", "short").await.status, 200);
    // Poll until the token's second has passed (bounded; no assertion on timing).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = bearer(&g, "c", "short").await;
        if r.status == 401 {
            assert_eq!(reason(&r), "Access token expired");
            break;
        }
        assert_eq!(r.status, 200);
        assert!(std::time::Instant::now() < deadline, "token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// DESIGN §4: concurrent misses for one key make one introspection call.
#[tokio::test]
async fn introspection_single_flight() {
    let s = OAuth2Server::start().await;
    s.answer("tok", Answer::Json(json!({"active": true, "sub": "a"})));
    let rules = rule(
        "c",
        "c",
        "[{handler: oauth2_introspection, config: {cache: {enabled: true, ttl: 1h}}}]",
    );
    let g = std::sync::Arc::new(Gate::start(&config(&s), &[("rules.yaml", &rules)]).await);
    s.hold(true);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { bearer(&g, "c", "tok").await.status })
        })
        .collect();
    // Wait for the first call to reach the server, give the others time to queue behind it,
    // then let it answer.
    while s.introspect_calls() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.hold(false);
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(s.introspect_calls(), 1);
}

// SPEC §5.1 pre_authorization: the introspection call carries a client-credentials token,
// which is reused (cached) for later calls.
#[tokio::test]
async fn introspection_pre_authorization() {
    let s = OAuth2Server::start().await;
    s.add_client("gate", "s3cret");
    s.answer("tok", Answer::Json(json!({"active": true, "sub": "a"})));
    let rules = rule(
        "p",
        "p",
        &format!(
            "[{{handler: oauth2_introspection, config: {{pre_authorization: {{enabled: true, client_id: gate, client_secret: s3cret, token_url: '{}', scope: [introspect], audience: aud1}}}}}}]",
            s.token_url()
        ),
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    assert_eq!(bearer(&g, "p", "tok").await.status, 200);
    let issued = s.last_introspect().headers["authorization"].clone();
    assert!(issued.to_str().unwrap().starts_with("Bearer at-gate-"));
    let grant = s.last_token();
    assert_eq!(grant.form["grant_type"], "client_credentials");
    assert_eq!(grant.form["scope"], "introspect");
    assert_eq!(grant.form["audience"], "aud1");
    assert_eq!(bearer(&g, "p", "tok").await.status, 200);
    assert_eq!(s.last_introspect().headers["authorization"], issued);
    assert_eq!(s.token_calls(), 1);
    assert_eq!(s.introspect_calls(), 2);
}

// SPEC §5.6 / DESIGN §3: a hanging introspection endpoint is cut by the deadline -> 503.
#[tokio::test]
async fn introspection_timeout_is_503() {
    let s = OAuth2Server::start().await;
    s.answer("tok", Answer::Hang);
    let rules = rule(
        "t",
        "t",
        "[{handler: oauth2_introspection, config: {timeout: 300ms}}]",
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    assert_eq!(bearer(&g, "t", "tok").await.status, 503);
}

// SPEC Appendix B case 19 and §5.1 oauth2_client_credentials.
#[tokio::test]
async fn case19_client_credentials() {
    let s = OAuth2Server::start().await;
    s.add_client("my client", "pw");
    let rules = rule(
        "cc",
        "cc",
        "[{handler: oauth2_client_credentials, config: {required_scope: [a, b]}}, {handler: anonymous}]",
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    // No Basic auth: not responsible, anonymous takes over.
    let r = g.req("GET", "/decisions/cc", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-user"), Some("anonymous"));
    assert_eq!(s.token_calls(), 0);
    // Success: subject = client id (URL-query-unescaped).
    let r = basic(&g, "cc", "my+client", "pw").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("my client"));
    assert_eq!(s.last_token().form["scope"], "a b");
    // Token endpoint 401 -> 401.
    assert_eq!(basic(&g, "cc", "my+client", "wrong").await.status, 401);
    // Invalid escape -> 401 without a call.
    let calls = s.token_calls();
    assert_eq!(basic(&g, "cc", "bad%zz", "pw").await.status, 401);
    assert_eq!(s.token_calls(), calls);
    // Token endpoint 503 -> 503 with the Appendix A message.
    s.set_token_mode(TokenMode::Status(503));
    let r = basic(&g, "cc", "my+client", "pw").await;
    assert_eq!(r.status, 503);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.ends_with(": The upstream service is not available"),
        "{message}"
    );
    s.set_token_mode(TokenMode::Status(404));
    assert_eq!(basic(&g, "cc", "my+client", "pw").await.status, 404);
}

// DESIGN §4: client-credentials cache keyed by id + secret (+ endpoint, scopes).
#[tokio::test]
async fn client_credentials_cache() {
    let s = OAuth2Server::start().await;
    s.add_client("c1", "pw1");
    s.add_client("c2", "pw2");
    let rules = rule(
        "cc",
        "cc",
        "[{handler: oauth2_client_credentials, config: {cache: {enabled: true, ttl: 1h}}}]",
    );
    let g = Gate::start(&config(&s), &[("rules.yaml", &rules)]).await;
    assert_eq!(basic(&g, "cc", "c1", "pw1").await.status, 200);
    assert_eq!(basic(&g, "cc", "c1", "pw1").await.status, 200);
    assert_eq!(s.token_calls(), 1);
    // Same id, other secret: a new grant, refused.
    assert_eq!(basic(&g, "cc", "c1", "nope").await.status, 401);
    assert_eq!(s.token_calls(), 2);
    let r = basic(&g, "cc", "c2", "pw2").await;
    assert_eq!(r.header("x-user"), Some("c2"));
    assert_eq!(s.token_calls(), 3);
    // The cached grant still answers while the endpoint is down.
    s.set_token_mode(TokenMode::Status(503));
    assert_eq!(basic(&g, "cc", "c1", "pw1").await.status, 200);
}
