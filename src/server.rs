//! Listeners: hyper 1.x with hyper-util's auto builder (HTTP/1.1 and h2 prior knowledge), one
//! task per connection, and a graceful shutdown that stops accepting and drains in-flight
//! requests.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Response bodies: buffered (API answers) or streamed (proxied upstream responses).
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A buffered body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body (`Content-Length: 0`).
pub fn empty() -> Body {
    full(Bytes::new())
}
pub type BoxFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// A request handler for one listener.
pub trait Handler: Send + Sync + 'static {
    fn call(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> BoxFuture;
}

/// Listener limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed to read a request's headers.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

/// Accept connections until `shutdown` turns true, then drain.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024);
    let builder = Arc::new(builder);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |req| {
                    let h = handler.clone();
                    async move { Ok::<_, Infallible>(h.call(req, peer).await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "connection error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("drain timeout reached, closing remaining connections");
        }
    }
}

/// A response with a body and content type.
pub fn response(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// A JSON response (`application/json; charset=utf-8`, SPEC §6.2).
pub fn json(status: http::StatusCode, value: &serde_json::Value) -> Response<Body> {
    response(status, "application/json; charset=utf-8", value.to_string())
}
