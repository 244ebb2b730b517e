//! The reverse proxy (SPEC §4.1, §4.6, §6.1): Appendix B cases 2, 12, 13, 14 and 28, header
//! spoofing, WebSocket upgrades and streamed uploads, against a real echo upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use common::upstream::Upstream;
use common::{Gate, Resp, BASE_CONFIG};
use http_body::Frame;

fn rule(id: &str, url: &str, methods: &str, upstream: &str, mutators: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: '{url}', methods: {methods} }}\n  upstream: {upstream}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: {mutators}\n"
    )
}

fn echoed(r: &Resp) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

// SPEC Appendix B case 2.
#[tokio::test]
async fn case2_forwarding() {
    let up = Upstream::start().await;
    let rules = rule(
        "a",
        "http://h/a/<[0-9]+>",
        "[GET]",
        &format!("{{ url: '{}' }}", up.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g
        .proxy(
            "GET",
            "/a/12",
            &[("Host", "h"), ("Authorization", "Bearer abc")],
        )
        .await;
    let e = echoed(&r);
    assert_eq!(e["uri"], "/a/12");
    assert_eq!(e["headers"]["host"], up.addr().to_string());
    assert_eq!(e["headers"]["authorization"], "Bearer abc");
    assert_eq!(r.header("x-upstream"), Some("echo"));
    assert_eq!(g.proxy("GET", "/a/x", &[("Host", "h")]).await.status, 404);
    assert_eq!(g.proxy("POST", "/a/12", &[("Host", "h")]).await.status, 404);
    assert_eq!(
        echoed(&g.proxy("GET", "/a/12?x=1", &[("Host", "h")]).await)["uri"],
        "/a/12?x=1"
    );
    assert_eq!(
        echoed(&g.proxy("GET", "/a/12/", &[("Host", "h")]).await)["uri"],
        "/a/12"
    );
    // SPEC Appendix B case 11 on the proxy: the cleaned path is matched AND forwarded.
    assert_eq!(
        echoed(&g.proxy("GET", "/b/../a/7", &[("Host", "h")]).await)["uri"],
        "/a/7"
    );
    // The 404 never reached the upstream.
    assert_eq!(up.count(), 4);
}

// SPEC §4.6 / README "Proxy": plain-http upstream connections are pooled: sequential requests
// (each on a new client connection) share one upstream connection per serving worker, including
// bodiless answers.
#[tokio::test]
async fn upstream_connections_are_reused() {
    for workers in [1_usize, 2] {
        let up = Upstream::start().await;
        let rules = rule(
            "a",
            "http://h/<.*>",
            "[GET, HEAD]",
            &format!("{{ url: '{}' }}", up.url()),
            "[{handler: noop}]",
        );
        let env = [("SERVE_WORKERS", workers.to_string())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let g = Gate::try_start(BASE_CONFIG, &[("rules.yaml", &rules)], &env)
            .await
            .expect("start");
        for (method, path, status) in [
            ("GET", "/a", 200),
            ("HEAD", "/a", 200),
            ("GET", "/status/204", 204),
            ("GET", "/status/404", 404),
            ("GET", "/b?x=1", 200),
            ("GET", "/c", 200),
        ] {
            let r = g.proxy(method, path, &[("Host", "h")]).await;
            assert_eq!(r.status, status, "{method} {path}");
        }
        assert_eq!(up.count(), 6);
        // Each worker accepts client connections on its own and reuses its own upstream
        // connections: at most one each here, whichever worker took which request.
        let opened = up.connections();
        assert!(
            (1..=workers).contains(&opened),
            "{opened} with {workers} worker(s)"
        );
    }
}

// SPEC Appendix B case 12 and §4.6: strip_path.
#[tokio::test]
async fn case12_strip_path() {
    let up = Upstream::start().await;
    let rules = rule(
        "s",
        "http://h/api/<.*>",
        "[GET]",
        &format!("{{ url: '{}/', strip_path: /api }}", up.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    assert_eq!(
        echoed(&g.proxy("GET", "/api/users/1", &[("Host", "h")]).await)["uri"],
        "/users/1"
    );
}

// SPEC Appendix B case 13: preserve_host.
#[tokio::test]
async fn case13_preserve_host() {
    let up = Upstream::start().await;
    let rules = rule(
        "p",
        "http://h/p",
        "[GET]",
        &format!("{{ url: '{}', preserve_host: true }}", up.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    assert_eq!(
        echoed(&g.proxy("GET", "/p", &[("Host", "h")]).await)["headers"]["host"],
        "h"
    );
}

// SPEC Appendix B case 14 and §6.1 (test/forwarded-header rewritten for a local upstream).
#[tokio::test]
async fn case14_forwarded_headers() {
    let up = Upstream::start().await;
    let u = format!("{{ url: '{}' }}", up.url());
    let rules = rule("http", "http://h/http", "[GET]", &u, "[{handler: noop}]")
        + &rule("https", "https://h/https", "[GET]", &u, "[{handler: noop}]");
    let spoof = [
        ("Host", "h"),
        ("X-Forwarded-Host", "evil"),
        ("X-Forwarded-Uri", "/x"),
        ("Forwarded", "for=1.2.3.4"),
        ("X-Forwarded-Proto", "http"),
    ];

    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let e = echoed(&g.proxy("GET", "/http", &spoof).await);
    for h in [
        "x-forwarded-host",
        "x-forwarded-uri",
        "forwarded",
        "x-forwarded-proto",
    ] {
        assert!(
            e["headers"].get(h).is_none(),
            "{h} forwarded from an untrusted client"
        );
    }
    // Untrusted X-Forwarded-Proto does not pick the scheme.
    assert_eq!(
        g.proxy(
            "GET",
            "/https",
            &[("Host", "h"), ("X-Forwarded-Proto", "https")]
        )
        .await
        .status,
        404
    );
    g.stop().await;

    let trusting =
        BASE_CONFIG.to_string() + "serve:\n  proxy:\n    trust_forwarded_headers: true\n";
    let g = Gate::start(&trusting, &[("rules.yaml", &rules)]).await;
    let e = echoed(&g.proxy("GET", "/http", &spoof).await);
    assert_eq!(e["headers"]["x-forwarded-host"], "evil");
    assert_eq!(e["headers"]["x-forwarded-uri"], "/x");
    assert!(e["headers"].get("forwarded").is_none());
    let status = |r: Resp| r.status;
    assert_eq!(status(g.proxy("GET", "/http", &[("Host", "h")]).await), 200);
    assert_eq!(
        status(
            g.proxy(
                "GET",
                "/http",
                &[("Host", "h"), ("X-Forwarded-Proto", "http")]
            )
            .await
        ),
        200
    );
    assert_eq!(
        status(
            g.proxy(
                "GET",
                "/http",
                &[("Host", "h"), ("X-Forwarded-Proto", "https")]
            )
            .await
        ),
        404
    );
    assert_eq!(
        status(g.proxy("GET", "/https", &[("Host", "h")]).await),
        404
    );
    assert_eq!(
        status(
            g.proxy(
                "GET",
                "/https",
                &[("Host", "h"), ("X-Forwarded-Proto", "http")]
            )
            .await
        ),
        404
    );
    assert_eq!(
        status(
            g.proxy(
                "GET",
                "/https",
                &[("Host", "h"), ("X-Forwarded-Proto", "HTTPS")]
            )
            .await
        ),
        200
    );
}

// SPEC Appendix B case 28 and §4.1 step 7: upstream down -> 502, too slow -> 504, empty bodies;
// a rule without upstream -> 500 (Appendix A).
#[tokio::test]
async fn case28_upstream_failures() {
    let up = Upstream::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rules = rule("down", "http://h/down", "[GET]", &format!("{{ url: 'http://{dead}' }}"), "[{handler: noop}]")
        + &rule("slow", "http://h/slow/<.*>", "[GET]", &format!("{{ url: '{}' }}", up.url()), "[{handler: noop}]")
        + "- id: none\n  match: { url: 'http://h/none', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n";
    let config = BASE_CONFIG.to_string()
        + "serve:\n  proxy:\n    upstream:\n      response_timeout: 300ms\n";
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let r = g.proxy("GET", "/down", &[("Host", "h")]).await;
    assert_eq!((r.status, r.body.as_str()), (502, ""));
    let r = g.proxy("GET", "/slow/3000", &[("Host", "h")]).await;
    assert_eq!((r.status, r.body.as_str()), (504, ""));
    assert_eq!(
        g.proxy("GET", "/slow/1", &[("Host", "h")]).await.status,
        200
    );
    let r = g.proxy("GET", "/none", &[("Host", "h")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "Unable to forward the request because matched rule does not define an upstream URL"
    );
    // SPEC Appendix B case 1 on the proxy port: no match -> 404 JSON.
    assert_eq!(
        g.proxy("GET", "/anything", &[("Host", "h")]).await.json()["error"]["code"],
        404
    );
    g.stop().await;

    // SPEC §2.4 / case 28: `serve.proxy.timeout.write` bounds a slow upstream too (Oathkeeper's
    // server write timeout closes the connection; gatehouse answers 504 at the same point).
    let config = BASE_CONFIG.to_string() + "serve:\n  proxy:\n    timeout:\n      write: 300ms\n";
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let r = g.proxy("GET", "/slow/3000", &[("Host", "h")]).await;
    assert_eq!((r.status, r.body.as_str()), (504, ""));
    assert_eq!(
        g.proxy("GET", "/slow/1", &[("Host", "h")]).await.status,
        200
    );
}

// DESIGN §6 / issue: client copies of mutator headers never reach the upstream, whatever their
// spelling, and `Connection:` cannot remove the mutator's value.
#[tokio::test]
async fn header_spoofing() {
    let up = Upstream::start().await;
    let rules = rule(
        "m",
        "http://h/m",
        "[GET]",
        &format!("{{ url: '{}' }}", up.url()),
        "[{handler: header, config: {headers: {X-User: '{{ print .Subject }}-ok'}}}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g
        .proxy(
            "GET",
            "/m",
            &[
                ("Host", "h"),
                ("X-User", "admin"),
                ("X_User", "admin"),
                ("x.user", "admin"),
                ("Connection", "X-User"),
            ],
        )
        .await;
    let e = echoed(&r);
    assert_eq!(e["headers"]["x-user"], "-ok");
    for h in ["x_user", "x.user"] {
        assert!(e["headers"].get(h).is_none(), "{h} reached the upstream");
    }
    let seen = up.last();
    assert_eq!(seen.headers.get_all("x-user").iter().count(), 1);
}

// WebSocket and other Upgrade requests go through the pipeline and are relayed.
#[tokio::test]
async fn websocket_echo() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let up = Upstream::start().await;
    let rules = rule("ws", "http://<[^/]+>/ws", "[GET]", &format!("{{ url: '{}' }}", up.url()), "[{handler: header, config: {headers: {X-User: ws}}}]")
        + "- id: ws-denied\n  match: { url: 'http://<[^/]+>/ws-denied', methods: [GET] }\n  upstream: { url: 'http://127.0.0.1:9' }\n  authenticators: [{ handler: unauthorized }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n";
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/ws", g.proxy))
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello");
    ws.close(None).await.ok();
    // The handshake carried the mutator header.
    assert_eq!(
        up.last().headers.get("x-user").map(|v| v.to_str().unwrap()),
        Some("ws")
    );
    // A denied upgrade gets the pipeline's answer.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws-denied", g.proxy))
        .await
        .expect_err("denied");
    assert!(err.to_string().contains("401"), "{err}");
}

/// A body of `total` bytes produced in 64 KiB chunks, never held whole.
struct Generated {
    left: usize,
    chunk: Bytes,
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len());
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left as u64)
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// Bodies are streamed: a 100 MB upload arrives intact and the process RSS stays flat (generous
// bound: growth well under the body size).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_upload_is_streamed() {
    use http_body_util::BodyExt;
    let up = Upstream::start().await;
    let rules = rule(
        "u",
        "http://<[^/]+>/upload",
        "[POST]",
        &format!("{{ url: '{}' }}", up.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let total = 100 * 1024 * 1024;
    let chunk = Bytes::from((0..64 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Generated>();
    let before = rss_kib();
    let req = http::Request::post(format!("http://{}/upload", g.proxy))
        .body(Generated { left: total, chunk })
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["body_len"], total);
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 50,
        "RSS grew by {grown_mib} MiB while streaming 100 MiB"
    );
}

// SPEC §3.4: the host is matched verbatim, joined to the path, so it must be a host. A `Host`
// carrying a path, query or fragment (or two `Host` headers, or none on HTTP/1.1) is refused
// with 400 on the proxy and on /decisions, never matched against a more permissive rule.
#[tokio::test]
async fn host_header_cannot_move_the_match() {
    let up = Upstream::start().await;
    let u = format!("{{ url: '{}' }}", up.url());
    let rules = format!(
        "{}- id: admin\n  match: {{ url: 'http://<[^/]+>/admin/<.*>', methods: [GET] }}\n  upstream: {u}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: deny }}\n  mutators: [{{ handler: noop }}]\n",
        rule("public", "http://<[^/]+>/public/<.*>", "[GET]", &u, "[{handler: noop}]")
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let status = |answer: &str| -> u16 {
        answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {answer:?}"))
    };
    let head = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n")
    };
    for port in [g.proxy, g.api] {
        let target = if port == g.proxy {
            "/admin/secret"
        } else {
            "/decisions/admin/secret"
        };
        for hosts in [
            "Host: api.example.com/public/x\r\n",
            "Host: api.example.com/public/x?\r\n",
            "Host: api.example.com/public/x#\r\n",
            "Host: api.example.com\r\nHost: other\r\n",
            "",
        ] {
            let answer = common::raw(port, &head(target, hosts)).await;
            assert_eq!(status(&answer), 400, "{hosts:?} on {port}: {answer}");
        }
        // The same request with a real host is the admin rule's: denied.
        let answer = common::raw(port, &head(target, "Host: api.example.com\r\n")).await;
        assert_eq!(status(&answer), 403, "{answer}");
    }
    // On /decisions, `X-Forwarded-Host` names the original host and is checked the same way.
    let answer = common::raw(
        g.api,
        &head(
            "/decisions/admin/secret",
            "Host: gatehouse\r\nX-Forwarded-Host: api.example.com/public/x\r\n",
        ),
    )
    .await;
    assert_eq!(status(&answer), 400, "{answer}");
    // HTTP/1.0 may omit `Host`: matched with an empty host (no rule here takes it).
    let answer = common::raw(g.proxy, "GET /public/x HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&answer), 404, "{answer}");
    assert_eq!(up.count(), 0);
}

// SPEC §4.6 / DESIGN §6: the path matched is the path forwarded. A `%5C` is matched as the one
// segment `admin\x` and must reach the upstream as `%5C`, never as a raw `\` that some upstreams
// read as `/`.
#[tokio::test]
async fn backslash_is_forwarded_encoded() {
    let up = Upstream::start().await;
    let rules = rule(
        "any",
        "http://h/<.*>",
        "[GET]",
        &format!("{{ url: '{}' }}", up.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for (sent, forwarded) in [("/admin%5Cx", "/admin%5Cx"), ("/a%7Cb%5E", "/a%7Cb%5E")] {
        let r = g.proxy("GET", sent, &[("Host", "h")]).await;
        assert_eq!(echoed(&r)["uri"], forwarded);
    }
}

// SPEC §4.6 (hop-by-hop headers are removed before forwarding): also on a rule whose `noop`
// mutator copies the client's headers into the session, which must not bring them back. A header
// mutator's own value still goes even when the client names it in `Connection`.
#[tokio::test]
async fn hop_by_hop_headers_stay_behind_with_noop() {
    let up = Upstream::start().await;
    let u = format!("{{ url: '{}' }}", up.url());
    let rules = format!(
        "{}{}",
        rule("noop", "http://h/noop", "[GET]", &u, "[{handler: noop}]"),
        rule(
            "hdr",
            "http://h/hdr",
            "[GET]",
            &u,
            "[{handler: noop}, {handler: header, config: {headers: {X-User: bob}}}]"
        )
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let sent = [
        ("Host", "h"),
        ("Proxy-Authorization", "Basic c2VjcmV0"),
        ("Connection", "keep-alive, X-Secret, X-User"),
        ("X-Secret", "s"),
        ("X-User", "mallory"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-T"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Kept", "k"),
    ];
    let e = echoed(&g.proxy("GET", "/noop", &sent).await);
    for gone in [
        "proxy-authorization",
        "x-secret",
        "x-user",
        "keep-alive",
        "trailer",
        "proxy-connection",
    ] {
        assert!(
            e["headers"].get(gone).is_none(),
            "{gone} was forwarded: {e}"
        );
    }
    // `TE: trailers` alone goes on (gRPC servers require it), as Go's reverse proxy sends it.
    assert_eq!(e["headers"]["te"], "trailers", "{e}");
    assert_eq!(e["headers"]["x-kept"], "k");
    let e = echoed(&g.proxy("GET", "/hdr", &sent).await);
    assert_eq!(e["headers"]["x-user"], "bob");
    assert!(e["headers"].get("x-secret").is_none(), "{e}");
}

// Framing the proxy must not pass on as it came (DESIGN §6 "no request smuggling"):
// - an upstream answer with both `Content-Length` and `Transfer-Encoding: chunked` is relayed
//   by its chunks, without the contradicting length (before: the client got an empty reply);
// - a request coded `gzip, chunked` is refused with 501, as Go does (hyper undoes only the
//   chunking, so the upstream would get gzip bytes without a label);
// - more than 100 header fields in an upstream answer: a clean 502;
// - an HTTP/1.0 upstream's answer is relayed as HTTP/1.1, keeping the client's connection.
#[tokio::test]
async fn framing_edge_cases() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).to_string();
                let answer = if head.starts_with("GET /old") {
                    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string()
                } else if head.starts_with("GET /both") {
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_string()
                } else {
                    let many: String = (0..150).map(|i| format!("X-H{i}: {i}\r\n")).collect();
                    format!("HTTP/1.1 200 OK\r\n{many}Content-Length: 2\r\n\r\nok")
                };
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    let rules = rule(
        "raw",
        "http://h/<.*>",
        "[GET, POST]",
        &format!("{{ url: 'http://{addr}' }}"),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.proxy("GET", "/both", &[("Host", "h")]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "abc"));
    assert!(r.header("content-length").is_none());
    // More than 100 header fields in an answer: a clean 502 (hyper's limit; raising it cost
    // 2-3 % of the proxy's CPU per request, see README "Differences from Oathkeeper").
    let r = g.proxy("GET", "/many", &[("Host", "h")]).await;
    assert_eq!((r.status, r.body.as_str()), (502, ""));
    // An HTTP/1.0 upstream's answer goes out in gatehouse's own version (RFC 9110 §2.5), so
    // the client's connection stays kept alive.
    use tokio::io::AsyncBufReadExt;
    let mut client =
        tokio::io::BufReader::new(tokio::net::TcpStream::connect(g.proxy).await.unwrap());
    for _ in 0..2 {
        client
            .get_mut()
            .write_all(b"GET /old HTTP/1.1\r\nHost: h\r\n\r\n")
            .await
            .unwrap();
        let mut status = String::new();
        client.read_line(&mut status).await.unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK\r\n");
        let mut line = String::new();
        while line != "\r\n" {
            line.clear();
            client.read_line(&mut line).await.unwrap();
            assert!(
                !line.to_ascii_lowercase().starts_with("connection: close"),
                "{line}"
            );
        }
        let mut body = [0u8; 2];
        client.read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b"ok");
    }
    let answer = common::raw(
        g.proxy,
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert!(
        answer.ends_with("Unsupported transfer encoding"),
        "{answer}"
    );
    g.stop().await;
}

// SPEC §4.6 (Go's server behind Oathkeeper): an upstream that answers before reading the
// request body (an early 413) gets its answer relayed with `Connection: close` and the client
// connection closed, not left open while the client writes a body nobody reads.
#[tokio::test]
async fn early_answer_closes_an_unread_upload() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = s.read(&mut head).await;
                let _ = s
                    .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let echo = Upstream::start().await;
    let rules = rule(
        "up",
        "http://h/up",
        "[POST]",
        &format!("{{ url: '{upstream}' }}"),
        "[{handler: noop}]",
    ) + &rule(
        "echo",
        "http://h/echo",
        "[POST]",
        &format!("{{ url: '{}' }}", echo.url()),
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let mut c = tokio::net::TcpStream::connect(g.proxy).await.unwrap();
    c.write_all(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    c.write_all(&[b'x'; 4096]).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    assert!(closed, "the connection was left open");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // A body read to its end keeps the connection reusable (no `Connection: close`).
    let r = common::send(
        g.proxy,
        http::Method::POST,
        "/echo",
        &[("Host", "h")],
        Bytes::from_static(b"hello"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.get("connection").is_none(), "{:?}", r.headers);
}
