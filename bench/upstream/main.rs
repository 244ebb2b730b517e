//! `bench-upstream`: the benchmark's tiny upstream and its token helper (bench/README.md).
//! Never part of the product; built only by `bench/run` (`--bin bench-upstream`).
//!
//! - `bench-upstream serve <port>`: HTTP/1.1 on 127.0.0.1:<port>. `/auth` answers 200 with an
//!   empty body (the "trivial auth endpoint" of D1/N2); `/sessions/whoami` answers like Ory
//!   Kratos (a session object; 401 without a `Cookie`); anything else 200 `ok`.
//! - `bench-upstream proxy <port> <upstream-port>`: the cheapest HTTP/1.1 reverse proxy hyper
//!   makes (scenario H1, the library floor): no rules, no pipeline, no header handling, no pool
//!   (every client connection gets its own upstream connection); one thread per core with a
//!   single-threaded runtime and its own `SO_REUSEPORT` listener, as gatehouse's workers.
//! - `bench-upstream mint <private-jwks>`: a JWT signed by the set's private key (the same signer
//!   the id_token mutator uses), `sub=bench-user`, valid for a day.
//! - `bench-upstream public <private-jwks>`: the public JWKS of that key (for Envoy and the jwt
//!   authenticator).

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gatehouse::credentials::jwk::KeySet;
use gatehouse::credentials::signer::SigningKey;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};

const WHOAMI: &str = r#"{"id":"bench-session","active":true,"identity":{"id":"bench-user","schema_id":"default","state":"active","traits":{"email":"bench@example.com"}}}"#;

fn respond(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, ctype, body): (StatusCode, Option<&str>, &'static str) = match req.uri().path() {
        "/auth" => (StatusCode::OK, None, ""),
        "/sessions/whoami" if req.headers().contains_key(header::COOKIE) => {
            (StatusCode::OK, Some("application/json"), WHOAMI)
        }
        "/sessions/whoami" => (
            StatusCode::UNAUTHORIZED,
            Some("application/json"),
            r#"{"error":{"code":401,"status":"Unauthorized"}}"#,
        ),
        _ => (StatusCode::OK, Some("text/plain"), "ok"),
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    if let Some(ct) = ctype {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    }
    resp
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc =
                service_fn(
                    |req: Request<Incoming>| async move { Ok::<_, Infallible>(respond(&req)) },
                );
            // Errors are clients going away mid-request: nothing to report in a benchmark.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// `bench-upstream proxy`: one worker thread per core, each accepting on its own listener.
fn bare_proxy(port: u16, upstream: u16) -> Result<(), String> {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut workers = Vec::with_capacity(n);
    for _ in 0..n {
        let listener = reuse_port_listener(port).map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        workers.push(std::thread::spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    tokio::spawn(relay(stream, upstream));
                }
            })
        }));
    }
    for w in workers {
        let out: std::io::Result<()> = w.join().map_err(|_| "worker panicked".to_string())?;
        out.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn reuse_port_listener(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    sock.listen(1024)?;
    Ok(sock.into())
}

/// One client connection: its own upstream connection, every request sent on it as received.
/// Errors (either side going away) end both connections: nothing to report in a benchmark.
async fn relay(client: tokio::net::TcpStream, upstream: u16) {
    let _ = client.set_nodelay(true);
    let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = up.set_nodelay(true);
    let Ok((sender, conn)) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(up)).await
    else {
        return;
    };
    tokio::spawn(conn);
    // HTTP/1.1 serves one request at a time per connection: the lock is never contended.
    let sender = std::sync::Arc::new(tokio::sync::Mutex::new(sender));
    let svc = service_fn(move |req: Request<Incoming>| {
        let sender = sender.clone();
        async move { sender.lock().await.send_request(req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(client), svc)
        .await;
}

fn key_set(path: &str) -> Result<KeySet, String> {
    let body = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    KeySet::parse(&body).map_err(|e| format!("{path}: {e}"))
}

fn mint(path: &str) -> Result<String, String> {
    let key = SigningKey::select(&key_set(path)?).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = json!({
        "sub": "bench-user",
        "iss": "https://issuer.bench.local/",
        "aud": ["bench"],
        "iat": now,
        "nbf": now,
        "exp": now + 86_400,
        "scope": "read write",
    });
    let Value::Object(claims) = claims else {
        return Err("claims".into());
    };
    key.sign(&claims).map_err(|e| e.to_string())
}

fn public(path: &str) -> Result<String, String> {
    let set = key_set(path)?;
    let mut doc = Map::new();
    doc.insert("keys".into(), Value::Array(set.public_jwks()));
    Ok(Value::Object(doc).to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", port] => {
            let Ok(port) = port.parse::<u16>() else {
                eprintln!("bench-upstream: bad port {port}");
                return ExitCode::FAILURE;
            };
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("bench-upstream: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(serve(port))
                .map(|()| String::new())
                .map_err(|e| e.to_string())
        }
        ["proxy", port, upstream] => match (port.parse::<u16>(), upstream.parse::<u16>()) {
            (Ok(port), Ok(upstream)) => bare_proxy(port, upstream).map(|()| String::new()),
            _ => Err(format!("bad port {port} or {upstream}")),
        },
        ["mint", path] => mint(path),
        ["public", path] => public(path),
        _ => Err("usage: bench-upstream serve <port> | proxy <port> <upstream-port> | mint <jwks> | public <jwks>".into()),
    };
    match out {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-upstream: {e}");
            ExitCode::FAILURE
        }
    }
}
