//! `cookie_session` and `bearer_token` through `/decisions` (SPEC §5.1, §4.8, Appendix B cases
//! 16 and 17; DESIGN §3 deviations), against the Kratos stand-in of `tests/fixtures/kratos.rs`.
//! The result cache is tested in `authn_session_cache.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/kratos.rs"]
mod kratos;
#[path = "fixtures/session_rules.rs"]
mod session_rules;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use kratos::{Kratos, Mode};
use serde_json::{json, Value};
use session_rules::*;

// SPEC Appendix B case 16: cookie_session responsibility, success with extra, 401, what the
// session endpoint receives.
#[tokio::test]
async fn case16_cookie_session() {
    let k = Kratos::start().await;
    k.set_mode(Mode::Fixed(
        200,
        r#"{"subject":"u","extra":{"a":1}}"#.into(),
    ));
    let cs = |extra: Value| {
        let mut c = json!({
            "check_session_url": k.url("/check?own=1"),
            "forward_http_headers": ["X-Trace"],
        });
        merge(&mut c, extra);
        json!([{"handler": "cookie_session", "config": c}, {"handler": "anonymous"}])
    };
    let headers = json!({"X-A": "{{ print .Extra.a }}", "X-User": "{{ print .Subject }}"});
    let g = gate(&[
        rule("keep-query", "/orders/<.*>", cs(json!({})), headers.clone()),
        rule(
            "own-query",
            "/q/<.*>",
            cs(json!({"preserve_query": false})),
            headers,
        ),
    ])
    .await;

    // No cookies: not responsible, the next authenticator (anonymous) decides.
    let r = g.req("GET", "/decisions/orders/1", &[H]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("anonymous"));
    assert_eq!(k.calls(), 0);

    // Cookie + 200 {"subject":"u","extra":{"a":1}} -> 200 and {{ print .Extra.a }} = 1. The
    // original POST body must not reach the session endpoint.
    let r = common::send(
        g.api,
        Method::POST,
        "/decisions/orders/42?x=1",
        &[
            H,
            ("Cookie", "sid=abc"),
            ("X-Trace", "t-1"),
            ("X-Other", "nope"),
            ("Authorization", "Bearer not-forwarded"),
            ("Content-Type", "text/plain"),
        ],
        Bytes::from_static(b"request body"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-a"), Some("1"));
    assert_eq!(r.header("x-user"), Some("u"));
    let seen = k.last_request().expect("session endpoint called");
    assert_eq!(seen.method, "POST");
    // preserve_path false (default): the original path; preserve_query true: the URL's own.
    assert_eq!(seen.path, "/orders/42");
    assert_eq!(seen.query.as_deref(), Some("own=1"));
    assert_eq!(seen.headers["cookie"], "sid=abc");
    assert_eq!(seen.headers["x-trace"], "t-1");
    for absent in [
        "x-other",
        "authorization",
        "content-type",
        "x-forwarded-host",
    ] {
        assert!(seen.headers.get(absent).is_none(), "{absent} forwarded");
    }
    assert!(seen.body.is_empty());

    // preserve_query false: the original query instead.
    let r = g
        .req("GET", "/decisions/q/7?x=1&y=2", &[H, ("Cookie", "sid=abc")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = k.last_request().unwrap();
    assert_eq!(
        (seen.path.as_str(), seen.query.as_deref()),
        ("/q/7", Some("x=1&y=2"))
    );

    // Session endpoint 401 -> 401.
    k.set_mode(Mode::Fixed(401, r#"{"error":{"code":401}}"#.into()));
    let r = g
        .req("GET", "/decisions/orders/1", &[H, ("Cookie", "sid=abc")])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Endpoint down -> 503. SPEC case 16 says 403 (Oathkeeper maps transport errors to 403);
    // gatehouse deliberately answers 503 (DESIGN §3: an IdP outage is neither a login failure
    // nor a permission problem).
    let mut k = k;
    k.refuse_connections().await;
    let r = g
        .req("GET", "/decisions/orders/1", &[H, ("Cookie", "sid=abc")])
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(!r.body.contains("abc"), "{}", r.body);
}

// SPEC Appendix B case 17 (decision half): token in a query parameter, preserve_query false ->
// the session endpoint sees the original query. (That the POST body still reaches the upstream
// is a proxy-side assertion.)
#[tokio::test]
async fn case17_bearer_token_from_query() {
    let k = Kratos::start().await;
    k.set_mode(Mode::Fixed(200, r#"{"sub":"alice","extra":{}}"#.into()));
    let bt = json!([{"handler": "bearer_token", "config": {
        "check_session_url": k.url("/check"),
        "token_from": {"query_parameter": "token"},
        "preserve_query": false,
        "force_method": "GET",
    }}]);
    let g = gate(&[rule(
        "bt",
        "/api",
        bt,
        json!({"X-User": "{{ print .Subject }}"}),
    )])
    .await;
    let r = common::send(
        g.api,
        Method::POST,
        "/decisions/api?token=abc&x=1",
        &[H],
        Bytes::from_static(b"payload"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("alice"));
    let seen = k.last_request().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.query.as_deref(), Some("token=abc&x=1"));
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.body.is_empty());
    // No token in the query: not responsible, nobody else -> 401 without a call.
    let calls = k.calls();
    let r = g
        .req(
            "GET",
            "/decisions/api",
            &[H, ("Authorization", "Bearer abc")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(k.calls(), calls);
}

// The Kratos setup (check_session_url whoami, subject_from identity.id, extra_from @this,
// preserve_path true) works unchanged, with cookies and with session tokens.
#[tokio::test]
async fn kratos_setup() {
    let k = Kratos::start().await;
    k.add_session("tok-1", "id-1", "a@example.com", Duration::from_secs(3600));
    let bt = json!([{"handler": "bearer_token", "config": {
        "check_session_url": k.whoami_url(),
        "preserve_path": true,
        "extra_from": "@this",
        "subject_from": "identity.id",
    }}]);
    let g = gate(&[
        rule(
            "c",
            "/app/<.*>",
            json!([kratos_cookie(&k, json!({}))]),
            identity_headers(),
        ),
        rule("b", "/api/<.*>", bt, identity_headers()),
    ])
    .await;
    let r = g
        .req(
            "GET",
            "/decisions/app/x?y=1",
            &[H, ("Cookie", &session_cookie("tok-1"))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("id-1"));
    assert_eq!(r.header("x-email"), Some("a@example.com"));
    let seen = k.last_request().unwrap();
    assert_eq!((seen.path.as_str(), seen.query), ("/sessions/whoami", None));

    let r = g
        .req(
            "PUT",
            "/decisions/api/x",
            &[H, ("Authorization", "Bearer tok-1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-email"), Some("a@example.com"));

    let r = g
        .req(
            "GET",
            "/decisions/app/x",
            &[H, ("Cookie", &session_cookie("wrong"))],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

// SPEC §5.6: Oathkeeper's outbound calls use Go's default client, which follows redirects (up to
// 10); a session store behind a redirect (an ingress adding a slash, http -> https) keeps
// working, and the cookie still reaches it on the same host.
#[tokio::test]
async fn session_check_follows_redirects() {
    let k = Kratos::start().await;
    k.add_session("tok-1", "id-1", "a@example.com", Duration::from_secs(3600));
    let moved = json!({"check_session_url": k.url("/moved/sessions/whoami")});
    let g = gate(&[rule(
        "c",
        "/app/<.*>",
        json!([kratos_cookie(&k, moved)]),
        identity_headers(),
    )])
    .await;
    let r = g
        .req(
            "GET",
            "/decisions/app/x",
            &[H, ("Cookie", &session_cookie("tok-1"))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("id-1"));
    assert_eq!(k.calls(), 2);
    let seen = k.last_request().unwrap();
    assert_eq!(seen.path, "/sessions/whoami");
    assert!(seen.headers.get("cookie").is_some());
}

// `only`: other cookies do not make cookie_session responsible.
#[tokio::test]
async fn only_names_the_cookies_that_count() {
    let k = Kratos::start().await;
    k.add_session("tok-1", "id-1", "a@example.com", Duration::from_secs(3600));
    let chain = json!([kratos_cookie(&k, json!({})), {"handler": "anonymous"}]);
    let subject = json!({"X-User": "{{ print .Subject }}"});
    let g = gate(&[
        rule("c", "/app", chain.clone(), subject),
        rule("e", "/email", chain, identity_headers()),
    ])
    .await;
    let r = g
        .req("GET", "/decisions/app", &[H, ("Cookie", "theme=dark")])
        .await;
    assert_eq!(r.header("x-user"), Some("anonymous"));
    assert_eq!(k.calls(), 0);
    // SPEC §4.2: for the anonymous session, `.Extra.identity.traits.email` is a field below a
    // missing value: Go's template fails, and so does the request (closed, 500).
    let r = g
        .req("GET", "/decisions/email", &[H, ("Cookie", "theme=dark")])
        .await;
    assert_eq!(r.status, 500, "{}", r.body);
    let cookie = format!("theme=dark; {}", session_cookie("tok-1"));
    let r = g
        .req("GET", "/decisions/app", &[H, ("Cookie", &cookie)])
        .await;
    assert_eq!(r.header("x-user"), Some("id-1"));
    assert_eq!(k.calls(), 1);
}

// SPEC §5.1: subject_from / extra_from pointing at the wrong JSON type -> 403.
#[tokio::test]
async fn gjson_wrong_type_is_403() {
    let k = Kratos::start().await;
    k.set_mode(Mode::Fixed(200, r#"{"subject":42,"extra":{}}"#.into()));
    let cs = json!([{"handler": "cookie_session", "config": {"check_session_url": k.url("/s")}}]);
    let g = gate(&[rule("c", "/app", cs, json!({}))]).await;
    let r = g
        .req("GET", "/decisions/app", &[H, ("Cookie", "a=1")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let reason = r.json()["error"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("subject_from GJSON path"), "{reason}");
}

// DESIGN §3: session store 5xx, unreachable, timeout -> 503; 429 -> 429 with its headers.
#[tokio::test]
async fn backend_failures() {
    let k = Kratos::start().await;
    let cs = |timeout: &str| {
        json!([kratos_cookie(
            &k,
            json!({"timeout": timeout, "cache": {"enabled": true}})
        )])
    };
    let g = gate(&[
        rule("c", "/app", cs("5s"), json!({})),
        rule("slow", "/slow", cs("300ms"), json!({})),
    ])
    .await;
    let cookie = session_cookie("secret-cookie-value");
    let ask = |path: &'static str| {
        let cookie = cookie.clone();
        let api = g.api;
        async move {
            common::send(
                api,
                Method::GET,
                path,
                &[H, ("Cookie", &cookie)],
                Bytes::new(),
            )
            .await
        }
    };

    k.set_mode(Mode::Fail500);
    let r = ask("/decisions/app").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(!r.body.contains("secret-cookie-value"), "{}", r.body);
    // Never cached: the next request asks again.
    let before = k.calls();
    assert_eq!(ask("/decisions/app").await.status, 503);
    assert_eq!(k.calls(), before + 1);

    // SPEC §4.8: 429 with the backend's rate-limit headers.
    k.set_mode(Mode::RateLimited);
    let r = ask("/decisions/app").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));

    // A whoami that never answers: the configured timeout, then 503.
    k.set_mode(Mode::Hang);
    let r = ask("/decisions/slow").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["error"]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("timed out"), "{reason}");

    // Unreachable -> 503.
    let mut k = k;
    k.refuse_connections().await;
    let r = ask("/decisions/app").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(!r.body.contains("secret-cookie-value"), "{}", r.body);
}
