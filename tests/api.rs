//! API routes (SPEC §6.2) and SPEC Appendix B cases 1 and 26.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::{Gate, Setup, BASE_CONFIG};

const RULES: &str = r#"[
 {"id":"r1","match":{"url":"http://h/1","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},
 {"id":"r2","match":{"url":"http://h/2","methods":["GET"]},"authenticators":[{"handler":"noop"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}],"upstream":{"url":"http://up:8080/base","strip_path":"/api"}}
]"#;

// SPEC Appendix B case 1: no config file, no rules.
#[tokio::test]
async fn case1_no_rules() {
    let setup = Setup::new();
    let g = Gate::start_files(setup, &[], &[])
        .await
        .expect("start without config");
    let r = g.get("/health/alive").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
    let r = g.get("/health/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json()["error"]["message"],
        "The requested resource could not be found"
    );
    let r = g.get("/decisions/anything").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], 404);
    assert_eq!(g.get("/rules").await.body, "[]");
}

// SPEC Appendix B case 26: ACCESS_RULES_REPOSITORIES=inline://... loads rules; /rules and
// /rules/{id} serve them; an unknown id is 404.
#[tokio::test]
async fn case26_env_inline_repository_and_rules_api() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(RULES);
    let repo = format!("inline://{b64}");
    let g = Gate::try_start(BASE_CONFIG, &[], &[("ACCESS_RULES_REPOSITORIES", &repo)])
        .await
        .expect("start");
    let r = g.get("/rules").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], "r1");
    assert_eq!(
        list[0]["upstream"],
        serde_json::json!({"preserve_host": false, "strip_path": "", "url": ""})
    );
    assert_eq!(list[0]["errors"], serde_json::Value::Null);
    assert_eq!(
        list[0]["authenticators"][0],
        serde_json::json!({"handler": "noop", "config": null})
    );
    let r = g.get("/rules/r2").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["upstream"]["url"], "http://up:8080/base");
    let r = g.get("/rules/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        r#"{"error":{"code":404,"status":"Not Found","message":"The requested resource could not be found"}}"#
    );
    // limit / offset
    assert_eq!(
        g.get("/rules?limit=1")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(g.get("/rules?limit=1&offset=1").await.json()[0]["id"], "r2");
    assert_eq!(g.get("/rules?limit=-1").await.body, "[]");
    assert_eq!(g.get("/health/ready").await.status, 200);
}

// SPEC §6.2: unknown routes and wrong methods -> 404 with content negotiation; /version served.
#[tokio::test]
async fn unknown_routes_and_version() {
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", "[]")]).await;
    let r = g
        .req("GET", "/nope", &[("Accept", "application/json")])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "Not Found");
    let r = g.req("POST", "/rules", &[("Accept", "text/plain")]).await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let r = g.get("/version").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    // HEAD works on GET routes.
    let r = g.req("HEAD", "/health/alive", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
}

// Graceful shutdown: stop() returns and the port stops accepting.
#[tokio::test]
async fn graceful_stop_closes_listener() {
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", "[]")]).await;
    let addr = g.api;
    g.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

// SPEC §2.4: Oathkeeper hands `timeout.*` to Go's `http.Server`, where `0s` is no limit and a
// zero `idle` takes `read`. `idle: 0s` (seen in deployed configs) once closed every connection
// at once: a client that took 300 ms to send its request got no answer.
#[tokio::test]
async fn zero_timeouts_mean_no_limit_as_in_go() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for timeouts in [
        "{ idle: 0s }",
        "{ read: 0s, idle: 0s }",
        "{ read: 2s, idle: 0s }",
    ] {
        let config = format!("{BASE_CONFIG}serve:\n  api:\n    timeout: {timeouts}\n");
        let g = Gate::start(&config, &[("rules.yaml", RULES)]).await;
        let mut s = tokio::net::TcpStream::connect(g.api).await.unwrap();
        let mut answer = [0u8; 512];
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .unwrap();
            let n = s.read(&mut answer).await.unwrap();
            assert!(
                answer[..n].starts_with(b"HTTP/1.1 200"),
                "{timeouts}: {n} bytes"
            );
        }
        g.stop().await;
    }
}

// Slow-loris protection: a client that sends nothing, sends its request head too slowly, or keeps
// a connection idle, is closed after the longer of `serve.api.timeout.read` and `.idle`; one that
// completes its request in time is served.
#[tokio::test]
async fn header_read_timeout_closes_slow_and_idle_connections() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config =
        format!("{BASE_CONFIG}serve:\n  api:\n    timeout: {{ read: 300ms, idle: 400ms }}\n");
    let g = Gate::start(&config, &[("rules.yaml", RULES)]).await;
    // Closed within 5 s, not before `at_least`: the time it took.
    async fn closed(s: &mut tokio::net::TcpStream, at_least: Duration) -> Duration {
        let start = Instant::now();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
            .await
            .expect("the connection was not closed")
            .expect("read");
        let took = start.elapsed();
        assert!(took >= at_least, "closed after {took:?}");
        took
    }

    // Connected, then not a byte: hyper's own timer is not armed before the protocol is known.
    let mut silent = tokio::net::TcpStream::connect(g.api).await.unwrap();
    closed(&mut silent, Duration::from_millis(200)).await;

    // Half a request head, then nothing.
    let mut slow = tokio::net::TcpStream::connect(g.api).await.unwrap();
    slow.write_all(b"GET /health/alive HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    closed(&mut slow, Duration::from_millis(200)).await;

    // One request answered, then idle.
    let mut idle = tokio::net::TcpStream::connect(g.api).await.unwrap();
    idle.write_all(b"GET /health/alive HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    closed(&mut idle, Duration::from_millis(200)).await;

    // Requests that keep coming in time keep the connection.
    let mut busy = tokio::net::TcpStream::connect(g.api).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        busy.write_all(b"GET /health/alive HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let n = busy.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{n} bytes");
    }
}
