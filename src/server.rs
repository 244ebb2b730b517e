//! Listeners: hyper 1.x with hyper-util's auto builder (HTTP/1.1 and h2 prior knowledge; over
//! TLS, h2 via ALPN), one task per connection, and a graceful shutdown that stops accepting and
//! drains in-flight requests.

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
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::tls::TlsSettings;

/// Time a client gets to complete the TLS handshake (slow-loris protection before hyper's own
/// header-read timeout applies).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A request handler for one listener. `tls` is true when the connection is TLS (the scheme
/// for matching is then `https`, SPEC §6.1).
pub trait Handler: Send + Sync + 'static {
    fn call(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr, tls: bool) -> BoxFuture;
}

/// Listener limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed to read a request's headers.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

/// Accept connections until `shutdown` turns true, then drain. With `tls`, every connection is
/// handshaked with the certificate in force when it was accepted, and the certificate files are
/// watched for rotation while the listener runs.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<TlsSettings>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _reloader = tls.as_ref().and_then(|t| t.spawn_watcher(shutdown.clone()));
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
                // Taken now so that shutdown also waits for connections still handshaking.
                let watcher = graceful.watcher();
                let handler = handler.clone();
                let builder = builder.clone();
                let acceptor = tls.as_ref().map(TlsSettings::acceptor);
                tokio::spawn(async move {
                    let Some(acceptor) = acceptor else {
                        return serve_conn(&builder, stream, handler, peer, false, watcher).await;
                    };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_conn(&builder, stream, handler, peer, true, watcher).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
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

/// Serve one connection (plain TCP or TLS) until it closes or shutdown drains it.
async fn serve_conn<H, I>(
    builder: &Builder<TokioExecutor>,
    io: I,
    handler: Arc<H>,
    peer: SocketAddr,
    tls: bool,
    watcher: hyper_util::server::graceful::Watcher,
) where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let h = handler.clone();
        async move { Ok::<_, Infallible>(h.call(req, peer, tls).await) }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(error = %e, %peer, "connection error");
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
