//! The `hydrator` mutator (SPEC §5.3, §5.5, §5.6, §4.2) against a hydrator API fixture, through
//! `/decisions` and the proxy: SPEC Appendix B case 23, the request sent, status mapping, cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/hydrator.rs"]
mod hydrator;

use common::upstream::Upstream;
use common::Gate;
use hydrator::{Hydrator, Mode};
use serde_json::json;

const INVALID_JSON: &str = "The call to an external API returned an invalid JSON object";

fn config(hydrator_url: &str) -> String {
    format!(
        r#"
access_rules:
  repositories: [ "file://{{dir}}/rules.yaml" ]
authenticators:
  anonymous: {{ enabled: true }}
authorizers:
  allow: {{ enabled: true }}
mutators:
  header: {{ enabled: true, config: {{ headers: {{}} }} }}
  hydrator:
    enabled: true
    config:
      api:
        url: {hydrator_url}
        retry: {{ give_up_after: 500ms, max_delay: 50ms }}
errors:
  handlers:
    json: {{ enabled: true, config: {{ verbose: true }} }}
log: {{ level: warn }}
"#
    )
}

/// A rule for `http://h/users/<id>` whose hydrator entry carries `hydrator_config`, followed by
/// a header mutator reading what the hydrator added.
fn rules(upstream: &str, subject: &str, hydrator_config: &str) -> String {
    format!(
        r#"
- id: hydrate
  match: {{ url: 'http://h/users/<[0-9]+>', methods: [GET, POST] }}
  upstream: {{ url: '{upstream}' }}
  authenticators: [{{ handler: anonymous, config: {{ subject: {subject} }} }}]
  authorizer: {{ handler: allow }}
  mutators:
    - {{ handler: hydrator, config: {hydrator_config} }}
    - handler: header
      config:
        headers:
          X-Group: '{{{{ print .Extra.group }}}}'
          X-User: '{{{{ print .Subject }}}}'
          X-Seen-Header: '{{{{ .MatchContext.Header.Get "X-Trace" }}}}'
"#
    )
}

async fn start(h: &Hydrator, subject: &str, hydrator_config: &str) -> (Gate, Upstream) {
    let up = Upstream::start().await;
    let g = Gate::start(
        &config(&h.url()),
        &[("rules.yaml", &rules(&up.url(), subject, hydrator_config))],
    )
    .await;
    (g, up)
}

// SPEC Appendix B case 23: the hydrator adds extra and the next header mutator sees it, on
// /decisions and on the proxy; SPEC §5.3: what the hydrator API receives.
#[tokio::test]
async fn case23_extra_reaches_the_next_mutator() {
    let h = Hydrator::start().await;
    let (g, up) = start(&h, "alice", "{}").await;
    let r = g
        .req(
            "GET",
            "/decisions/users/42?b=2&a=1",
            &[("Host", "h"), ("X-Trace", "t1"), ("Accept", "*/*")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-group"), Some("admins"));
    assert_eq!(r.header("x-user"), Some("alice"));
    assert_eq!(r.header("x-seen-header"), Some("t1"));

    let sent = h.last();
    assert_eq!(sent.method, "POST");
    // The original query replaces the API URL's (sorted as Go's Values.Encode does).
    assert_eq!(sent.uri, "/hydrate?a=1&b=2");
    assert_eq!(sent.headers["content-type"], "application/json");
    // Original headers forwarded; Host is the hydrator's own.
    assert_eq!(sent.headers["x-trace"], "t1");
    assert_eq!(sent.headers["host"], h.addr.to_string());
    assert!(sent.headers.get("authorization").is_none());
    let b = &sent.body;
    assert_eq!(b["subject"], "alice");
    assert_eq!(b["extra"], json!({}));
    assert_eq!(b["header"], json!({}));
    let mc = &b["match_context"];
    assert_eq!(mc["regexp_capture_groups"], json!(["42"]));
    assert_eq!(mc["method"], "GET");
    assert_eq!(mc["header"]["X-Trace"], json!(["t1"]));
    // Go's `Request.Header` never holds `Host`.
    assert!(mc["header"].get("Host").is_none(), "{mc}");
    assert_eq!(
        mc["url"],
        json!({"Scheme":"http","Opaque":"","User":null,"Host":"h","Path":"/users/42","RawPath":"",
               "OmitHost":false,"ForceQuery":false,"RawQuery":"b=2&a=1","Fragment":"","RawFragment":""})
    );

    // Proxy: the upstream sees the header built from the hydrated session.
    let r = g
        .proxy("GET", "/users/7", &[("Host", "h"), ("X-Group", "spoofed")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.headers["x-group"], "admins");
    assert_eq!(seen.headers.get_all("x-group").iter().count(), 1);
    assert_eq!(
        h.last().body["match_context"]["regexp_capture_groups"],
        json!(["7"])
    );
    assert_eq!(h.calls(), 2);
}

// SPEC Appendix B case 23 / §5.3: an answer for another subject is refused with 500.
#[tokio::test]
async fn case23_other_subject_is_500() {
    let h = Hydrator::start().await;
    h.set_mode(Mode::OtherSubject);
    let (g, up) = start(&h, "alice", "{}").await;
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["message"], INVALID_JSON);
    let r = g.proxy("GET", "/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(up.count(), 0);
}

// SPEC §5.3: 401 -> 500 with the credential messages; Basic auth from api.auth.basic is sent
// in place of the client's Authorization.
#[tokio::test]
async fn unauthorized_and_basic_auth() {
    let h = Hydrator::start().await;
    let (g, _up) = start(
        &h,
        "alice",
        "{ api: { auth: { basic: { username: hyd, password: s3cret } } } }",
    )
    .await;
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // base64("hyd:s3cret")
    assert_eq!(h.last().headers["authorization"], "Basic aHlkOnMzY3JldA==");

    h.set_mode(Mode::Unauthorized);
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "Invalid credentials were provided in mutator configuration"
    );
    assert!(!r.body.contains("s3cret"));

    let (g, _up) = start(&h, "alice", "{}").await;
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "No credentials were provided in mutator configuration"
    );
}

// DESIGN §3 deviation: hydrator 5xx, timeout or unreachable -> 503 (Oathkeeper: 500).
#[tokio::test]
async fn outage_is_503() {
    let h = Hydrator::start().await;
    let (g, up) = start(&h, "alice", "{}").await;
    h.set_mode(Mode::Fail500);
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    h.set_mode(Mode::Hang);
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let r = g.proxy("GET", "/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(up.count(), 0);

    // Nobody listening.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/hydrate", l.local_addr().unwrap());
    drop(l);
    let (g, _up) = start(&h, "alice", &format!("{{ api: {{ url: '{dead}' }} }}")).await;
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 503, "{}", r.body);
}

// DESIGN §3: an answer larger than the 1 MiB a hydrator reads is an invalid answer (500, the
// hydrator is up), not an outage (503).
#[tokio::test]
async fn oversized_answer_is_500() {
    let h = Hydrator::start().await;
    let (g, up) = start(&h, "alice", "{}").await;
    h.set_mode(Mode::Huge);
    let r = g.req("GET", "/decisions/users/1", &[("Host", "h")]).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("larger than 1048576 bytes"), "{}", r.body);
    assert_eq!(up.count(), 0);
}

// SPEC §5.5 hydrator cache; SPEC §9 item 18: unrelated request headers do not miss.
#[tokio::test]
async fn cache_hits_and_misses() {
    let h = Hydrator::start().await;
    let (g, _up) = start(&h, "alice", "{ cache: { enabled: true, ttl: 1m } }").await;
    let get = |path: &'static str, trace: &'static str| {
        let g = &g;
        async move {
            let r = g
                .req("GET", path, &[("Host", "h"), ("X-Trace", trace)])
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r
        }
    };
    let first = get("/decisions/users/1", "a").await;
    assert_eq!(first.header("x-group"), Some("admins"));
    assert_eq!(h.calls(), 1);
    // Same session, other request header: a hit, and the template sees this request's header.
    let hit = get("/decisions/users/1", "b").await;
    assert_eq!(hit.header("x-group"), Some("admins"));
    assert_eq!(hit.header("x-seen-header"), Some("b"));
    assert_eq!(h.calls(), 1);
    // Another URL (capture group) or query: a miss.
    get("/decisions/users/2", "a").await;
    assert_eq!(h.calls(), 2);
    get("/decisions/users/2?x=1", "a").await;
    assert_eq!(h.calls(), 3);
    // Errors are not cached.
    h.set_mode(Mode::Fail500);
    let r = g.req("GET", "/decisions/users/3", &[("Host", "h")]).await;
    assert_eq!(r.status, 503);
    h.set_mode(Mode::AddExtra);
    get("/decisions/users/3", "a").await;
    assert_eq!(h.calls(), 5);

    // Single flight: concurrent misses on one key make one call.
    let mut set = tokio::task::JoinSet::new();
    let api = g.api;
    for _ in 0..8 {
        set.spawn(async move {
            common::send(
                api,
                http::Method::GET,
                "/decisions/users/9",
                &[("Host", "h")],
                bytes::Bytes::new(),
            )
            .await
            .status
        });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.unwrap(), 200);
    }
    assert_eq!(h.calls(), 6);
}

// Extension `cache.key_headers`: listed request headers are part of the key.
#[tokio::test]
async fn cache_key_headers() {
    let h = Hydrator::start().await;
    let (g, _up) = start(
        &h,
        "alice",
        "{ cache: { enabled: true, key_headers: [X-Tenant] } }",
    )
    .await;
    for (tenant, calls) in [("a", 1), ("a", 1), ("b", 2), ("a", 2)] {
        let r = g
            .req(
                "GET",
                "/decisions/users/1",
                &[("Host", "h"), ("X-Tenant", tenant)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(h.calls(), calls, "tenant {tenant}");
    }
}

// DESIGN §6 for headers a hydrator sets (SPEC §5.3: its answer's `header` replaces the
// session's): their client-sent variant spellings (`X_Tenant`, `x.tenant`) never reach the
// upstream or the gateway, even echoed by `noop`; a `Content-Length` in the answer never
// replaces the body's real one.
#[tokio::test]
async fn hydrator_headers_are_protected_and_framing_is_not_theirs() {
    let h = Hydrator::start().await;
    h.set_mode(Mode::SetsHeaders);
    let up = Upstream::start().await;
    let rules = format!(
        r#"
- id: hydrate
  match: {{ url: 'http://h/t', methods: [GET, POST] }}
  upstream: {{ url: '{}' }}
  authenticators: [{{ handler: anonymous }}]
  authorizer: {{ handler: allow }}
  mutators: [{{ handler: noop }}, {{ handler: hydrator }}]
"#,
        up.url()
    );
    let config = config(&h.url()).replace("mutators:\n", "mutators:\n  noop: { enabled: true }\n");
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let spoofed = [("Host", "h"), ("X_Tenant", "evil"), ("x.tenant", "evil")];
    for _ in 0..2 {
        // Twice: the second request goes over the pooled upstream connection, which a wrong
        // Content-Length would have left mid-body.
        let r = common::send(
            g.proxy,
            http::Method::POST,
            "/t",
            &spoofed,
            bytes::Bytes::from_static(b"hello"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let seen = up.last();
        assert_eq!(seen.headers["x-tenant"], "acme");
        assert_eq!(seen.headers["content-length"], "5");
        assert_eq!(seen.body_len, 5);
        for variant in ["x_tenant", "x.tenant"] {
            assert!(
                seen.headers.get(variant).is_none(),
                "{variant} reached the upstream"
            );
        }
    }
    let r = g.req("GET", "/decisions/t", &spoofed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-tenant"), Some("acme"));
    assert_eq!(r.header("content-length"), Some("0"));
    for variant in ["x_tenant", "x.tenant"] {
        assert!(r.header(variant).is_none(), "{variant} reached the gateway");
    }
}
