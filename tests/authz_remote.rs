//! Remote authorizers (SPEC §5.2, §5.6, §4.8; DESIGN §3): `remote`, `remote_json` and
//! `keto_engine_acp_ory` against a programmable policy server, through the proxy (so the echo
//! upstream shows what it received) and through `/decisions`. Appendix B cases 20 and 21.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "fixtures/authz.rs"]
mod authz;
mod common;

use authz::{Answer, PolicyServer};
use bytes::Bytes;
use common::upstream::Upstream;
use common::{Gate, Resp};
use http::Method;

const KETO_PATH: &str = "/keto/engines/acp/ory/regex/allowed";

fn config(p: &PolicyServer, max_body: u64) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
serve:
  proxy:
    max_buffered_body: {max_body}
authenticators:
  noop: {{ enabled: true }}
  anonymous: {{ enabled: true }}
authorizers:
  remote:
    enabled: true
    config:
      remote: {remote}
      retry: {{ give_up_after: 500ms, max_delay: 10ms }}
  remote_json:
    enabled: true
    config:
      remote: {json}
      payload: "{{}}"
      retry: {{ give_up_after: 500ms, max_delay: 10ms }}
  keto_engine_acp_ory:
    enabled: true
    config:
      base_url: {keto}
      required_action: read
      required_resource: "doc:{{{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}}}"
mutators:
  noop: {{ enabled: true }}
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log:
  level: warn
"#,
        remote = p.url("/remote"),
        json = p.url("/json"),
        keto = p.url("/keto"),
    )
}

fn rules(p: &PolicyServer, up: &Upstream) -> String {
    let up = up.url();
    format!(
        r#"
- id: remote
  match: {{ url: 'http://h/remote/<.*>', methods: [GET, POST] }}
  upstream: {{ url: '{up}' }}
  authenticators: [{{ handler: noop }}]
  authorizer:
    handler: remote
    config:
      forward_response_headers_to_upstream: [X-Foo, X-Missing]
      headers: {{ X-Path: '{{{{ .MatchContext.URL.Path }}}}', X-Empty: '{{{{ print .Extra.nope }}}}' }}
  # Not noop: noop copies every request header (spoofed variants included) into the session.
  mutators: [{{ handler: header }}]
- id: json
  match: {{ url: 'http://h/users/<[0-9]+>/<[a-z]+>', methods: [GET] }}
  upstream: {{ url: '{up}' }}
  authenticators: [{{ handler: anonymous }}]
  authorizer:
    handler: remote_json
    config:
      payload: '{{"subject":"{{{{ print .Subject }}}}","resource":"{{{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}}}"}}'
      forward_response_headers_to_upstream: [X-Decision]
  mutators: [{{ handler: noop }}]
- id: bad-json
  match: {{ url: 'http://h/bad', methods: [GET] }}
  upstream: {{ url: '{up}' }}
  authenticators: [{{ handler: anonymous }}]
  authorizer:
    handler: remote_json
    config: {{ payload: '{{"subject": {{{{ print .Subject }}}}}}' }}
  mutators: [{{ handler: noop }}]
- id: opa
  match: {{ url: 'http://h/opa', methods: [GET] }}
  upstream: {{ url: '{up}' }}
  authenticators: [{{ handler: anonymous }}]
  authorizer:
    handler: remote_json
    config: {{ remote: '{opa}', response: {{ allowed_path: result.allow }} }}
  mutators: [{{ handler: noop }}]
- id: keto
  match: {{ url: 'http://h/docs/<[a-z]+>', methods: [GET] }}
  upstream: {{ url: '{up}' }}
  authenticators: [{{ handler: anonymous }}]
  authorizer: {{ handler: keto_engine_acp_ory }}
  mutators: [{{ handler: noop }}]
# SPEC §3.2 migration: a rule written for Oathkeeper 0.33 uses keto's `$N` placeholders.
- id: keto-v0.33
  version: v0.33.0-beta.1
  match: {{ url: 'http://h/old/<[0-9]+>/<[a-z]+>', methods: [GET] }}
  authenticators: [{{ handler: anonymous }}]
  authorizer:
    handler: keto_engine_acp_ory
    config: {{ required_action: 'my:action:$1', required_resource: 'my:resource:$2:foo:$1' }}
  mutators: [{{ handler: noop }}]
# An empty version (as rule generators write it) is the current version.
- id: keto-empty-version
  version: ""
  match: {{ url: 'http://h/new/<[0-9]+>', methods: [GET] }}
  authenticators: [{{ handler: anonymous }}]
  authorizer:
    handler: keto_engine_acp_ory
    config: {{ required_action: 'act:$1' }}
  mutators: [{{ handler: noop }}]
"#,
        opa = p.url("/opa"),
    )
}

async fn start(max_body: u64) -> (Gate, PolicyServer, Upstream) {
    let p = PolicyServer::start().await;
    let up = Upstream::start().await;
    let g = Gate::start(&config(&p, max_body), &[("rules.yaml", &rules(&p, &up))]).await;
    (g, p, up)
}

async fn post(addr: std::net::SocketAddr, path: &str, ct: &str, body: &'static [u8]) -> Resp {
    common::send(
        addr,
        Method::POST,
        path,
        &[
            ("Host", "h"),
            ("Content-Type", ct),
            ("Authorization", "Bearer t"),
        ],
        Bytes::from_static(body),
    )
    .await
}

// SPEC Appendix B case 20 / §5.2 remote, via the proxy: allowed, forwarded response headers
// reach the upstream, the remote sees the original body and Content-Type, the upstream still
// gets the body.
#[tokio::test]
async fn case20_remote_allows_and_forwards_headers() {
    let (g, p, up) = start(1024).await;
    p.answer("/remote", Answer::status(200).header("X-Foo", "bar"));
    let r = common::send(
        g.proxy,
        Method::POST,
        "/remote/x",
        &[
            ("Host", "h"),
            ("Content-Type", "text/plain"),
            ("Authorization", "Bearer t"),
            ("X-Foo", "spoofed"),
            ("X_Foo", "spoofed"),
        ],
        Bytes::from_static(b"hello body"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let echoed = r.json();
    assert_eq!(echoed["headers"]["x-foo"], "bar");
    assert_eq!(echoed["headers"]["x-missing"], "");
    assert!(
        echoed["headers"].get("x_foo").is_none(),
        "client variants of forwarded headers are stripped: {echoed}"
    );
    assert_eq!(echoed["body_len"], 10);
    let seen = p.last("/remote");
    assert_eq!(seen.method, "POST");
    assert_eq!(&seen.body[..], b"hello body");
    assert_eq!(seen.header("content-type"), Some("text/plain"));
    assert_eq!(seen.header("authorization"), Some("Bearer t"));
    assert_eq!(seen.header("x-path"), Some("/remote/x"));
    assert!(seen.header("x-empty").is_none(), "empty template not sent");
    assert_eq!(up.count(), 1);
}

// SPEC Appendix B case 20: remote 403 -> 403, 400 -> 500; neither reaches the upstream.
#[tokio::test]
async fn case20_remote_denies() {
    let (g, p, up) = start(1024).await;
    p.answer("/remote", Answer::status(403));
    let r = post(g.proxy, "/remote/x", "text/plain", b"x").await;
    assert_eq!(r.status, 403, "{}", r.body);
    p.answer("/remote", Answer::status(400));
    let r = post(g.proxy, "/remote/x", "text/plain", b"x").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(up.count(), 0);
}

// SPEC §5.2: Content-Type is sent even when the original request has none.
#[tokio::test]
async fn remote_sends_empty_content_type() {
    let (g, p, _up) = start(1024).await;
    let r = g.proxy("GET", "/remote/x", &[("Host", "h")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = p.last("/remote");
    assert_eq!(seen.header("content-type"), Some(""));
    assert!(seen.header("authorization").is_none());
    assert!(seen.body.is_empty());
}

// `/decisions` buffers the sub-request body for `remote` (the gateway's copy of the body).
#[tokio::test]
async fn decisions_remote_receives_body() {
    let (g, p, _up) = start(1024).await;
    p.answer("/remote", Answer::status(200).header("X-Foo", "d"));
    let r = post(g.api, "/decisions/remote/y", "application/xml", b"<a/>").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-foo"), Some("d"));
    let seen = p.last("/remote");
    assert_eq!(&seen.body[..], b"<a/>");
    assert_eq!(seen.header("content-type"), Some("application/xml"));
}

// serve.proxy.max_buffered_body: a larger body -> 413, the remote is not asked.
#[tokio::test]
async fn body_over_limit_is_413() {
    let (g, p, up) = start(8).await;
    let r = post(g.proxy, "/remote/x", "text/plain", b"0123456789").await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = post(g.api, "/decisions/remote/x", "text/plain", b"0123456789").await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(p.calls("/remote"), 0);
    assert_eq!(up.count(), 0);
}

// DESIGN §3 deviation (SPEC §4.8 says 500): policy 5xx, timeout or unreachable -> 503, with
// bounded retries.
#[tokio::test]
async fn remote_outage_is_503() {
    let (g, p, up) = start(1024).await;
    p.answer("/remote", Answer::status(500));
    assert_eq!(post(g.proxy, "/remote/x", "t/p", b"x").await.status, 503);
    p.answer("/remote", Answer::status(503));
    let before = p.calls("/remote");
    assert_eq!(post(g.proxy, "/remote/x", "t/p", b"x").await.status, 503);
    let tries = p.calls("/remote") - before;
    assert!((1..=3).contains(&tries), "bounded retries, got {tries}");
    // give_up_after (500ms) bounds a hanging policy server.
    p.answer("/remote", Answer::hang());
    assert_eq!(post(g.proxy, "/remote/x", "t/p", b"x").await.status, 503);
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn remote_unreachable_is_503() {
    let (g, p, _up) = start(1024).await;
    drop(p);
    // The dropped server's listener is closed: connections are refused.
    let r = g.proxy("GET", "/remote/x", &[("Host", "h")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
}

// SPEC §4.8: 429 passes through with the backend's rate-limit headers.
#[tokio::test]
async fn remote_429_passes_rate_limit_headers() {
    let (g, p, _up) = start(1024).await;
    p.answer(
        "/remote",
        Answer::status(429)
            .header("Retry-After", "7")
            .header("X-RateLimit-Limit", "10"),
    );
    let r = post(g.proxy, "/remote/x", "t/p", b"x").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(p.calls("/remote"), 1, "429 is not retried");
}

// SPEC §5.2 remote_json example payload with capture groups; JSON content type; forwarded
// response headers.
#[tokio::test]
async fn remote_json_payload_and_headers() {
    let (g, p, up) = start(1024).await;
    p.answer("/json", Answer::status(200).header("X-Decision", "ok"));
    let r = g.proxy("GET", "/users/42/abc", &[("Host", "h")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"]["x-decision"], "ok");
    let seen = p.last("/json");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        r#"{"subject":"anonymous","resource":"42"}"#
    );
    p.answer("/json", Answer::status(403));
    assert_eq!(
        g.proxy("GET", "/users/42/abc", &[("Host", "h")])
            .await
            .status,
        403
    );
    assert_eq!(up.count(), 1);
}

// SPEC Appendix B case 21: a payload that renders to invalid JSON -> 500, nothing sent.
#[tokio::test]
async fn case21_remote_json_invalid_payload() {
    let (g, p, _up) = start(1024).await;
    let r = g.req("GET", "/decisions/bad", &[("Host", "h")]).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("payload is not a JSON text"), "{}", r.body);
    assert_eq!(p.calls("/json"), 0);
}

// Extension `response.allowed_path` (Oathkeeper issue #1125): only `true` allows.
#[tokio::test]
async fn remote_json_allowed_path() {
    let (g, p, _up) = start(1024).await;
    let decide = || g.req("GET", "/decisions/opa", &[("Host", "h")]);
    p.answer("/opa", Answer::json(200, r#"{"result":{"allow":true}}"#));
    assert_eq!(decide().await.status, 200);
    p.answer("/opa", Answer::json(200, r#"{"result":{"allow":false}}"#));
    assert_eq!(decide().await.status, 403);
    p.answer("/opa", Answer::json(200, r#"{"result":{}}"#));
    assert_eq!(decide().await.status, 403);
    p.answer("/opa", Answer::json(200, "not json"));
    assert_eq!(decide().await.status, 403);
}

// SPEC §5.2 keto_engine_acp_ory: request shape, allowed true/false, 403, 429, 5xx.
#[tokio::test]
async fn keto_decides() {
    let (g, p, _up) = start(1024).await;
    let decide = || {
        g.req(
            "GET",
            "/decisions/docs/abc",
            &[("Host", "h"), ("X-Forwarded-For", "203.0.113.9")],
        )
    };
    p.answer(KETO_PATH, Answer::json(200, r#"{"allowed":true}"#));
    assert_eq!(decide().await.status, 200);
    let seen = p.last(KETO_PATH);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body = seen.json();
    assert_eq!(body["action"], "read");
    assert_eq!(body["resource"], "doc:abc");
    assert_eq!(body["subject"], "anonymous");
    assert_eq!(body["context"]["remoteIpAddress"], "203.0.113.9");
    let at = body["context"]["requestedAt"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.contains('T'), "{at}");

    p.answer(KETO_PATH, Answer::json(200, r#"{"allowed":false}"#));
    assert_eq!(decide().await.status, 403);
    p.answer(KETO_PATH, Answer::status(403));
    assert_eq!(decide().await.status, 403);
    p.answer(KETO_PATH, Answer::status(429).header("Retry-After", "3"));
    let r = decide().await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    p.answer(KETO_PATH, Answer::status(500));
    assert_eq!(decide().await.status, 503);
    p.answer(KETO_PATH, Answer::status(404));
    assert_eq!(decide().await.status, 500);
}

// SPEC §3.2: rules of version <= 0.37.0 have keto's `$N` placeholders rewritten to capture-group
// templates when they load; a rule without (or with an empty) version keeps a literal `$1`.
#[tokio::test]
async fn keto_placeholders_of_old_rules_are_migrated() {
    let (g, p, _up) = start(1024).await;
    p.answer(KETO_PATH, Answer::json(200, r#"{"allowed":true}"#));
    let r = g
        .req("GET", "/decisions/old/1234/foobar", &[("Host", "h")])
        .await;
    assert_eq!(r.status, 200);
    let body = p.last(KETO_PATH).json();
    assert_eq!(body["action"], "my:action:1234");
    assert_eq!(body["resource"], "my:resource:foobar:foo:1234");
    let r = g.req("GET", "/decisions/new/7", &[("Host", "h")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(p.last(KETO_PATH).json()["action"], "act:$1");
}

// DESIGN §3: a handler's `timeout` is its deadline; the legacy `retry.give_up_after` caps it
// only when a config writes it (its schema default, 1s, cut a `timeout: 2s` to 1 s and made a
// policy server answering in 1.5 s an outage).
#[tokio::test]
async fn timeout_is_not_cut_by_the_default_give_up_after() {
    let p = PolicyServer::start().await;
    let config = format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  anonymous: {{ enabled: true }}
authorizers:
  remote_json:
    enabled: true
    config: {{ remote: "{slow}", payload: "{{}}", timeout: 2s }}
mutators:
  noop: {{ enabled: true }}
"#,
        slow = p.url("/slow"),
    );
    let rules = "- id: slow\n  match: { url: 'http://h/slow', methods: [GET] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: remote_json }\n  mutators: [{ handler: noop }]\n- id: capped\n  match: { url: 'http://h/capped', methods: [GET] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: remote_json, config: { retry: { give_up_after: 1s } } }\n  mutators: [{ handler: noop }]\n";
    let g = Gate::start(&config, &[("rules.yaml", rules)]).await;
    p.answer(
        "/slow",
        Answer::status(200).after(std::time::Duration::from_millis(1500)),
    );
    let r = g
        .req("GET", "/decisions/slow", &[("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Written, it caps.
    let start = std::time::Instant::now();
    let r = g
        .req("GET", "/decisions/capped", &[("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(start.elapsed() < std::time::Duration::from_millis(1450));
}
