//! The proxy port together with the other pieces: SPEC Appendix B case 27 on the proxy
//! listener, TLS + h2 on the proxy listener, and the proxy-side halves of cases 16 and 17
//! (the session check gets no body; the upstream still gets the original POST body).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/kratos.rs"]
mod kratos;

use std::sync::Arc;

use bytes::Bytes;
use common::upstream::Upstream;
use common::{send, Gate, BASE_CONFIG};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kratos::{Kratos, Mode};
use rustls_pki_types::ServerName;

fn rule(id: &str, path: &str, authn: &str, authz: &str, upstream: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: '<https|http>://<[^/]+>{path}', methods: [GET, POST, OPTIONS] }}\n  upstream: {{ url: '{upstream}' }}\n  authenticators: [{authn}]\n  authorizer: {{ handler: {authz} }}\n  mutators: [{{ handler: noop }}]\n"
    )
}

// SPEC Appendix B case 27 on the proxy listener.
#[tokio::test]
async fn case27_cors_on_proxy() {
    let up = Upstream::start().await;
    let config = format!(
        "serve:\n  proxy:\n    cors:\n      enabled: true\n      allowed_origins: ['https://*.example.com']\n{BASE_CONFIG}"
    );
    let rules = rule("deny", "/<.*>", "{ handler: noop }", "deny", &up.url());
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let pre = [
        ("Origin", "https://a.example.com"),
        ("Access-Control-Request-Method", "GET"),
    ];
    let r = g.proxy("OPTIONS", "/anything", &pre).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example.com")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    let r = g
        .proxy(
            "OPTIONS",
            "/anything",
            &[
                ("Origin", "https://evil.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
        )
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
    // Never reached the rules or the upstream.
    assert_eq!(up.count(), 0);
    // An actual (denied) request from an allowed origin still carries the CORS headers.
    let r = g
        .proxy("GET", "/anything", &[("Origin", "https://a.example.com")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example.com")
    );
}

// TLS on the proxy listener; an h2 client (ALPN) is proxied to an HTTP/1.1 upstream and the
// `https://` rule matches from the listener's TLS.
#[tokio::test]
async fn h2_client_on_tls_proxy() {
    let up = Upstream::start().await;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = format!(
        "serve:\n  proxy:\n    tls:\n      cert: {{ path: '{{dir}}/cert.pem' }}\n      key: {{ path: '{{dir}}/key.pem' }}\n{BASE_CONFIG}"
    );
    let rules = format!(
        "- id: s\n  match: {{ url: 'https://localhost/s', methods: [GET] }}\n  upstream: {{ url: '{}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n",
        up.url()
    );
    let g = Gate::start(
        &config,
        &[
            ("rules.yaml", &rules),
            ("cert.pem", &ck.cert.pem()),
            ("key.pem", &ck.signing_key.serialize_pem()),
        ],
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(g.proxy).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(
            Request::get("https://localhost/s")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["uri"], "/s");
    assert_eq!(body["headers"]["host"], up.addr().to_string());
}

// SPEC Appendix B cases 16 and 17, proxy side: the session endpoint gets no body, the upstream
// gets the original POST body (test/bearer-token).
#[tokio::test]
async fn cases16_17_body_reaches_upstream() {
    let up = Upstream::start().await;
    let k = Kratos::start().await;
    k.set_mode(Mode::Fixed(
        200,
        r#"{"subject":"u","sub":"u","extra":{"a":1}}"#.into(),
    ));
    let setup = common::Setup::new();
    let base = setup.write("base.yaml", BASE_CONFIG);
    let extra = setup.write(
        "extra.yaml",
        &format!(
            "authenticators:\n  cookie_session: {{ enabled: true, config: {{ check_session_url: '{0}' }} }}\n  bearer_token: {{ enabled: true, config: {{ check_session_url: '{0}', token_from: {{ query_parameter: token }}, preserve_query: false, force_method: GET }} }}\n",
            k.url("/session")
        ),
    );
    let rules = rule(
        "cookie",
        "/c",
        "{ handler: cookie_session }",
        "allow",
        &up.url(),
    ) + &rule(
        "bearer",
        "/b",
        "{ handler: bearer_token }",
        "allow",
        &up.url(),
    );
    setup.write("rules.yaml", &rules);
    let g = Gate::start_files(setup, &[base, extra], &[])
        .await
        .expect("start");

    let r = send(
        g.proxy,
        Method::POST,
        "/c",
        &[("Cookie", "sid=1"), ("Content-Type", "text/plain")],
        Bytes::from_static(b"cookie-body"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body_len"], 11);
    let seen = k.last_request().unwrap();
    assert_eq!(seen.method, "POST");
    assert!(
        seen.body.is_empty(),
        "the session check must not get the body"
    );

    let r = send(
        g.proxy,
        Method::POST,
        "/b?token=tok",
        &[("Content-Type", "text/plain")],
        Bytes::from_static(b"fk=fv"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let echoed = r.json();
    assert_eq!(echoed["body_len"], 5);
    assert_eq!(echoed["uri"], "/b?token=tok");
    let seen = k.last_request().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.query.as_deref(), Some("token=tok"));
    assert!(seen.body.is_empty());
}

// DESIGN §6: with `[noop, header]` mutators the noop mutator's echo of client headers cannot
// bring back a variant spelling of the header mutator's header.
#[tokio::test]
async fn noop_mutator_does_not_reintroduce_spoofed_variants() {
    let up = Upstream::start().await;
    let rules = format!(
        "- id: n\n  match: {{ url: 'http://<[^/]+>/n', methods: [GET] }}\n  upstream: {{ url: '{}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}, {{ handler: header, config: {{ headers: {{ X-User: real }} }} }}]\n",
        up.url()
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g
        .proxy(
            "GET",
            "/n",
            &[
                ("X_User", "admin"),
                ("x.user", "admin"),
                ("X-Other", "kept"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    let seen = up.last();
    assert_eq!(seen.headers.get("x-user").unwrap(), "real");
    assert!(seen.headers.get("x_user").is_none() && seen.headers.get("x.user").is_none());
    assert_eq!(seen.headers.get("x-other").unwrap(), "kept");
}

// SPEC §2 (`serve.proxy.timeout.idle`, Go's IdleTimeout): an h2 connection with no stream in
// flight for `idle` is closed (GOAWAY), one that never sends a request too; a request that takes
// longer than `idle` keeps its connection until it is answered. hyper's h2 server has no idle
// timer of its own.
#[tokio::test]
async fn h2_connections_close_when_idle_not_while_a_request_is_in_flight() {
    use std::time::{Duration, Instant};
    let up = Upstream::start().await;
    let config = format!("serve:\n  proxy:\n    timeout: {{ idle: 1s }}\n{BASE_CONFIG}");
    let rules = rule("all", "/<.*>", "{ handler: anonymous }", "allow", &up.url());
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let h2c = || async {
        let tcp = tokio::net::TcpStream::connect(g.proxy).await.unwrap();
        let (sender, conn) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .unwrap();
        (sender, tokio::spawn(conn))
    };
    let closed_within = |conn: tokio::task::JoinHandle<hyper::Result<()>>, limit| async move {
        tokio::time::timeout(limit, conn)
            .await
            .expect("the idle h2 connection was not closed")
            .unwrap()
            .expect("closed cleanly, with a GOAWAY");
    };

    // Opened, never used.
    let (_unused, conn) = h2c().await;
    closed_within(conn, Duration::from_secs(5)).await;

    // A request that outlasts `idle` twice over is answered; the connection closes once idle.
    let (mut sender, conn) = h2c().await;
    let get = |path: &str| {
        Request::get(format!("http://localhost{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let resp = sender.send_request(get("/slow/2200")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2);
    resp.into_body().collect().await.unwrap();
    let answered = Instant::now();
    // Still usable right after.
    let resp = sender.send_request(get("/after")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body().collect().await.unwrap();
    closed_within(conn, Duration::from_secs(5)).await;
    let took = answered.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "closed {took:?} after its last answer"
    );
    assert_eq!(up.count(), 2);
}
