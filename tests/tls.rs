//! TLS on the API listener (SPEC §2.4 `serve.api.tls`, DESIGN §4 certificate hot reload): HTTP/1.1
//! and h2 (ALPN) over TLS, the `https` matching scheme, certificate rotation, a bad certificate
//! keeping the old one, and start-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::upstream::Upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{Gate, BASE_CONFIG};
use http::{Request, StatusCode, Version};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost`: (DER, cert PEM, key PEM).
fn cert() -> (CertificateDer<'static>, String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        ck.cert.der().clone(),
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
    )
}

fn config() -> String {
    format!(
        "serve:\n  api:\n    tls:\n      cert: {{ path: '{{dir}}/tls/cert.pem' }}\n      key: {{ path: '{{dir}}/tls/key.pem' }}\n{BASE_CONFIG}"
    )
}

/// An instance with TLS on its API port from this certificate and key.
async fn start_tls(cert_pem: &str, key_pem: &str) -> Gate {
    Gate::start(
        &config(),
        &[
            ("rules.yaml", RULES),
            ("tls/cert.pem", cert_pem),
            ("tls/key.pem", key_pem),
        ],
    )
    .await
}

const RULES: &str = "- id: secure\n  match: { url: 'https://localhost/<.*>', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n";

/// Open a TLS connection trusting `roots`, offering `alpn`; returns the stream and the
/// certificate the server presented.
async fn connect(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> (TlsStream<TcpStream>, CertificateDer<'static>) {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let peer = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    (stream, peer)
}

type H1 = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn h1(stream: TlsStream<TcpStream>) -> H1 {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn h1_get(sender: &mut H1, path: &str) -> (StatusCode, Version) {
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    (resp.status(), resp.version())
}

/// Poll until a new connection presents `want` (the watcher reacts to a file-system event or,
/// at worst, its 5 s poll).
async fn wait_for_cert(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    want: &CertificateDer<'_>,
) {
    for _ in 0..300 {
        let (_, peer) = connect(addr, roots, &[b"http/1.1"]).await;
        if peer == *want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the new certificate was never served");
}

// (a) HTTP/1.1 over TLS, and the matching scheme is https (SPEC §6.2: https if TLS).
#[tokio::test]
async fn http1_over_tls() {
    let (der, cert_pem, key_pem) = cert();
    let g = start_tls(&cert_pem, &key_pem).await;
    let (stream, peer) = connect(g.api, std::slice::from_ref(&der), &[b"http/1.1"]).await;
    assert_eq!(peer, der);
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut s = h1(stream).await;
    assert_eq!(
        h1_get(&mut s, "/health/alive").await,
        (StatusCode::OK, Version::HTTP_11)
    );
    // The rule only matches https URLs: no X-Forwarded-Proto, so the scheme comes from TLS.
    assert_eq!(h1_get(&mut s, "/decisions/x").await.0, StatusCode::OK);
    g.stop().await;
}

// (b) h2 negotiated by ALPN.
#[tokio::test]
async fn h2_over_tls_via_alpn() {
    let (der, cert_pem, key_pem) = cert();
    let g = start_tls(&cert_pem, &key_pem).await;
    let (stream, _) = connect(g.api, &[der], &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://localhost/health/alive")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), Version::HTTP_2);
    g.stop().await;
}

// (c) rotation and (d) a bad certificate keeps the old one (DESIGN §4).
#[tokio::test]
async fn certificate_rotation_and_bad_certificate() {
    let (der1, cert1, key1) = cert();
    let (der2, cert2, key2) = cert();
    let (der3, cert3, key3) = cert();
    let roots = [der1.clone(), der2.clone(), der3.clone()];
    let g = start_tls(&cert1, &key1).await;
    let dir = g.setup.path().join("tls");
    let write = |cert: &str, key: &str| {
        std::fs::write(dir.join("key.pem"), key).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
    };

    // A keep-alive connection made with the first certificate.
    let (old, peer) = connect(g.api, &roots, &[b"http/1.1"]).await;
    assert_eq!(peer, der1);
    let mut old = h1(old).await;
    assert_eq!(h1_get(&mut old, "/health/alive").await.0, StatusCode::OK);

    write(&cert2, &key2);
    wait_for_cert(g.api, &roots, &der2).await;
    // The established connection keeps working.
    assert_eq!(h1_get(&mut old, "/health/alive").await.0, StatusCode::OK);

    // A broken certificate: nothing observable changes, so give the watcher time to see it
    // (well past its settle delay), then check the previous certificate is still served.
    std::fs::write(
        dir.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..3 {
        let (s, peer) = connect(g.api, &roots, &[b"http/1.1"]).await;
        assert_eq!(peer, der2, "bad certificate must not replace the good one");
        assert_eq!(
            h1_get(&mut h1(s).await, "/health/alive").await.0,
            StatusCode::OK
        );
    }

    // The watcher survived the bad certificate: a later good one is picked up.
    write(&cert3, &key3);
    wait_for_cert(g.api, &roots, &der3).await;
    g.stop().await;
}

// SPEC §2.4: partially configured TLS is a start-up error naming the missing key; a certificate
// file that does not exist is one too.
#[tokio::test]
async fn startup_errors() {
    let partial = format!(
        "serve:\n  api:\n    tls:\n      cert: {{ path: '{{dir}}/tls/cert.pem' }}\n{BASE_CONFIG}"
    );
    let err = Gate::try_start(&partial, &[("rules.yaml", RULES)], &[])
        .await
        .err()
        .expect("partial TLS must not start");
    assert!(err.contains("serve.api.tls.key.path is not set"), "{err}");

    let err = Gate::try_start(&config(), &[("rules.yaml", RULES)], &[])
        .await
        .err()
        .expect("missing certificate file must not start");
    assert!(
        err.contains("serve.api.tls.cert.path: cannot read"),
        "{err}"
    );

    // Through the binary: a configuration error, exit status 255 (SPEC §2.1).
    let setup = common::Setup::new();
    let cfg = setup.write("config.yaml", &partial);
    setup.write("rules.yaml", RULES);
    let ports = common::base_env();
    let env: Vec<(&str, &str)> = ports
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (code, _, err) =
        common::run_bin(&["serve", "-c", cfg.to_str().unwrap()], &env, setup.path());
    assert_eq!(code, 255, "{err}");
    assert!(err.contains("serve.api.tls.key.path is not set"), "{err}");
}

// The base64 pair (SPEC §2.4) serves too, and wins over a path pair pointing nowhere.
#[tokio::test]
async fn base64_certificate() {
    use base64::Engine as _;
    let (der, cert_pem, key_pem) = cert();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let cfg = format!(
        "serve:\n  api:\n    tls:\n      cert: {{ path: /nonexistent/c.pem, base64: '{}' }}\n      key: {{ path: /nonexistent/k.pem, base64: '{}' }}\n{BASE_CONFIG}",
        b64(&cert_pem),
        b64(&key_pem)
    );
    let g = Gate::start(&cfg, &[("rules.yaml", RULES)]).await;
    let (s, peer) = connect(g.api, std::slice::from_ref(&der), &[b"http/1.1"]).await;
    assert_eq!(peer, der);
    assert_eq!(
        h1_get(&mut h1(s).await, "/health/alive").await.0,
        StatusCode::OK
    );
    g.stop().await;
}

// The CLI reaches a TLS API port (a container HEALTHCHECK with `serve.api.tls` on): verified
// against the system roots plus `SSL_CERT_FILE`, and refused when the certificate is not trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_health_over_tls() {
    let (_, cert_pem, key_pem) = cert();
    let g = start_tls(&cert_pem, &key_pem).await;
    let endpoint = format!("https://localhost:{}", g.api.port());
    let cert_file = g.setup.path().join("tls/cert.pem");
    let dir = g.setup.path().to_path_buf();
    let run = move |trust: bool| {
        let (endpoint, cert_file, dir) = (endpoint.clone(), cert_file.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            let env = if trust {
                vec![("SSL_CERT_FILE", cert_file.to_str().unwrap().to_owned())]
            } else {
                vec![("SSL_CERT_FILE", "/nonexistent".to_owned())]
            };
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            common::run_bin(&["health", "alive", "--endpoint", &endpoint], &env, &dir)
        })
    };
    let (code, out, err) = run(true).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok"), "{out}");
    let (code, _, err) = run(false).await.unwrap();
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("https://localhost:{}", g.api.port())),
        "{err}"
    );
    g.stop().await;
}

// SPEC §4.6 with an https upstream speaking h2 (ALPN) and HTTP/1.1: h2 carries the upstream's
// host as `:authority` only (a `host` field beside it makes nginx answer 400 to every request);
// a `preserve_host` rule and protocol upgrades go over HTTP/1.1 with `Host` = the client's host.
// Cookies from several `Cookie` fields arrive joined (RFC 9113 §8.2.3), `TE: trailers` is kept.
#[tokio::test]
async fn https_upstream_h2_without_host_field() {
    let (_, cert_pem, key_pem) = cert();
    let up = Upstream::start_tls(&cert_pem, &key_pem).await;
    let port = up.addr().port();
    let rules = format!(
        "- id: h2\n  match: {{ url: 'http://<[^/]+>/h2/<.*>', methods: [GET] }}\n  upstream: {{ url: 'https://localhost:{port}' }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n- id: keep\n  match: {{ url: 'http://<[^/]+>/keep/<.*>', methods: [GET] }}\n  upstream: {{ url: 'https://localhost:{port}', preserve_host: true }}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n"
    );
    let config =
        format!("serve:\n  proxy:\n    upstream:\n      ca_file: '{{dir}}/ca.pem'\n{BASE_CONFIG}");
    let g = Gate::start(&config, &[("rules.yaml", &rules), ("ca.pem", &cert_pem)]).await;
    let r = g
        .proxy(
            "GET",
            "/h2/x",
            &[("Cookie", "a=1"), ("Cookie", "b=2"), ("TE", "trailers")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.version, Version::HTTP_2);
    assert!(seen.headers.get("host").is_none(), "{:?}", seen.headers);
    assert_eq!(seen.uri, format!("https://localhost:{port}/h2/x"));
    assert_eq!(seen.headers["cookie"], "a=1; b=2");
    assert_eq!(seen.headers["te"], "trailers");

    let r = g.proxy("GET", "/keep/y", &[("Host", "app.example")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.headers["host"], "app.example");
    g.stop().await;
}
