//! `bench-upstream`: the benchmark's tiny upstream and its token helper (bench/README.md).
//! Never part of the product; built only by `bench/run` (`--bin bench-upstream`).
//!
//! - `bench-upstream serve <port>`: HTTP/1.1 on 127.0.0.1:<port>. `/auth` answers 200 with an
//!   empty body (the "trivial auth endpoint" of D1/N2); `/sessions/whoami` answers like Ory
//!   Kratos (a session object; 401 without a `Cookie`); anything else 200 `ok`.
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
        ["mint", path] => mint(path),
        ["public", path] => public(path),
        _ => Err("usage: bench-upstream serve <port> | mint <jwks> | public <jwks>".into()),
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
