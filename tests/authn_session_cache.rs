//! The session-check result cache (DESIGN §4 "caches that are correct"): single flight, TTL
//! capped by the session's `expires_at`, per-config keys, brief negative caching; through
//! `/decisions` against the Kratos stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/kratos.rs"]
mod kratos;
#[path = "fixtures/session_rules.rs"]
mod session_rules;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use kratos::Kratos;
use serde_json::{json, Value};
use session_rules::*;

// DESIGN §4: 100 concurrent requests with one cookie cause exactly one whoami call.
#[tokio::test]
async fn cache_single_flight() {
    let k = Kratos::start().await;
    k.add_session("tok-1", "id-1", "a@example.com", Duration::from_secs(3600));
    k.add_session("tok-2", "id-2", "b@example.com", Duration::from_secs(3600));
    let cs = json!([kratos_cookie(
        &k,
        json!({"cache": {"enabled": true, "ttl": "1h"}})
    )]);
    let g = gate(&[rule("c", "/app", cs, identity_headers())]).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let api = g.api;
        set.spawn(async move {
            let cookie = session_cookie("tok-1");
            common::send(
                api,
                Method::GET,
                "/decisions/app",
                &[H, ("Cookie", &cookie)],
                Bytes::new(),
            )
            .await
        });
    }
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-user"), Some("id-1"));
    }
    assert_eq!(k.calls(), 1);
    // Another credential is another entry.
    let r = g
        .req(
            "GET",
            "/decisions/app",
            &[H, ("Cookie", &session_cookie("tok-2"))],
        )
        .await;
    assert_eq!(r.header("x-user"), Some("id-2"));
    assert_eq!(k.calls(), 2);
}

// DESIGN §4: the TTL is capped by the session's expires_at: with `ttl: 1h` and a session
// expiring in 2 s, a request after expiry asks whoami again (and is refused).
#[tokio::test]
async fn cache_entry_ends_with_the_session() {
    let k = Kratos::start().await;
    let cs = json!([kratos_cookie(
        &k,
        json!({"cache": {"enabled": true, "ttl": "1h"}})
    )]);
    let g = gate(&[rule("c", "/app", cs, identity_headers())]).await;
    let cookie = session_cookie("short");
    let added = Instant::now();
    k.add_session("short", "id-s", "s@example.com", Duration::from_secs(2));
    let r = g
        .req("GET", "/decisions/app", &[H, ("Cookie", &cookie)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(k.calls(), 1);
    let r = g
        .req("GET", "/decisions/app", &[H, ("Cookie", &cookie)])
        .await;
    if added.elapsed() < Duration::from_millis(1500) {
        // Still valid: served from the cache.
        assert_eq!(r.status, 200);
        assert_eq!(k.calls(), 1);
    }
    // Poll until the entry is gone (bounded; no assertion on when exactly).
    let deadline = Instant::now() + Duration::from_secs(15);
    let last = loop {
        let r = g
            .req("GET", "/decisions/app", &[H, ("Cookie", &cookie)])
            .await;
        if k.calls() >= 2 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(k.calls(), 2, "whoami was not asked again after expiry");
    assert_eq!(last.status, 401, "{}", last.body);
}

// DESIGN §4: the key includes the handler config: rules with different configs never share an
// entry; rules with identical configs do.
#[tokio::test]
async fn cache_is_per_config() {
    let k = Kratos::start().await;
    k.add_session("tok-1", "id-1", "a@example.com", Duration::from_secs(3600));
    let cached = |extra: Value| {
        let mut c = json!({"cache": {"enabled": true}});
        merge(&mut c, extra);
        json!([kratos_cookie(&k, c)])
    };
    let g = gate(&[
        rule("a", "/a", cached(json!({})), identity_headers()),
        rule(
            "b",
            "/b",
            cached(json!({"subject_from": "identity.traits.email"})),
            identity_headers(),
        ),
        rule("same-as-a", "/c", cached(json!({})), identity_headers()),
    ])
    .await;
    let cookie = session_cookie("tok-1");
    let headers = [H, ("Cookie", cookie.as_str())];
    let ask = |p: &'static str| g.req("GET", p, &headers);
    assert_eq!(ask("/decisions/a").await.header("x-user"), Some("id-1"));
    assert_eq!(k.calls(), 1);
    // Different subject_from: its own entry, its own subject.
    assert_eq!(
        ask("/decisions/b").await.header("x-user"),
        Some("a@example.com")
    );
    assert_eq!(k.calls(), 2);
    // Same config as rule a: served from a's entry.
    assert_eq!(ask("/decisions/c").await.header("x-user"), Some("id-1"));
    assert_eq!(ask("/decisions/a").await.header("x-user"), Some("id-1"));
    assert_eq!(
        ask("/decisions/b").await.header("x-user"),
        Some("a@example.com")
    );
    assert_eq!(k.calls(), 2);
}

// DESIGN §4: a rejected credential is remembered briefly (at most 5 s), so a client retrying a
// stale cookie does not hammer the session store.
#[tokio::test]
async fn cache_remembers_rejections_briefly() {
    let k = Kratos::start().await;
    let cs = json!([kratos_cookie(&k, json!({"cache": {"enabled": true}}))]);
    let g = gate(&[rule("c", "/app", cs, json!({}))]).await;
    let cookie = session_cookie("stale");
    let start = Instant::now();
    for _ in 0..3 {
        let r = g
            .req("GET", "/decisions/app", &[H, ("Cookie", &cookie)])
            .await;
        assert_eq!(r.status, 401);
    }
    if start.elapsed() < Duration::from_secs(4) {
        assert_eq!(k.calls(), 1);
    }
}
