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

/// Accept connections until `shutdown` turns true, then drain. Each connection is served on one
/// of `workers`. With `tls`, every connection is handshaked with the certificate in force when it
/// was accepted, and the certificate files are watched for rotation while the listener runs.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<TlsSettings>,
    workers: Arc<Workers>,
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
                // Registered again with the serving worker's reactor.
                let stream = match stream.into_std() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, %peer, "cannot hand connection to a worker");
                        continue;
                    }
                };
                // Taken now so that shutdown also waits for connections still handshaking.
                let watcher = graceful.watcher();
                let handler = handler.clone();
                let builder = builder.clone();
                let acceptor = tls.as_ref().map(TlsSettings::acceptor);
                workers.spawn(async move {
                    let stream = match tokio::net::TcpStream::from_std(stream) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(error = %e, %peer, "cannot register connection");
                            return;
                        }
                    };
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

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The serving worker this thread is (`1..=n`), or 0 on any other thread (the main runtime,
/// tests). Per-worker state (the upstream pool's idle lists) is indexed by it.
pub fn worker_id() -> usize {
    WORKER.with(std::cell::Cell::get)
}

/// The threads that serve accepted connections: each runs a single-threaded tokio runtime, and
/// every connection (with the requests on it and the upstream connections they open) lives on
/// one of them, assigned round-robin when accepted. Unlike one work-stealing runtime, a request's
/// I/O readiness, wake-ups and timers stay on one thread: no cross-thread wake-ups or stealing
/// per request. Background work (reloads, key refreshes, the listeners' accept loops) stays on
/// the main runtime. The threads stop when the last handle is dropped; connections still open on
/// them are then closed.
pub struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: std::sync::atomic::AtomicUsize,
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.handles.len())
            .finish_non_exhaustive()
    }
}

impl Workers {
    /// `n` worker threads (at least one); 0 means one per available CPU.
    pub fn start(n: usize) -> std::io::Result<Arc<Self>> {
        let n = if n == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        } else {
            n
        };
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        let failed = |i: usize, e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("serve.workers: cannot start worker thread {i} of {n}: {e}"),
            )
        };
        for i in 1..=n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| failed(i, e))?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            handles.push(rt.handle().clone());
            stops.push(stop);
            std::thread::Builder::new()
                .name(format!("gatehouse-worker-{i}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(i));
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                    // Do not wait for blocking tasks a connection may have started.
                    rt.shutdown_background();
                })
                .map_err(|e| failed(i, e))?;
        }
        Ok(Arc::new(Self {
            handles,
            next: std::sync::atomic::AtomicUsize::new(0),
            _stop: stops,
        }))
    }

    /// How many worker threads there are.
    pub fn threads(&self) -> usize {
        self.handles.len()
    }

    /// Run `task` on the next worker (round-robin).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(task)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workers_take_tasks_in_turn_each_on_its_own_thread() {
        let workers = Workers::start(2).expect("workers");
        assert_eq!(workers.threads(), 2);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let ran_on = workers
                .spawn(async { (worker_id(), std::thread::current().id()) })
                .await
                .expect("task");
            seen.push(ran_on);
        }
        let ids: Vec<usize> = seen.iter().map(|s| s.0).collect();
        assert_eq!(ids, [1, 2, 1, 2]);
        assert_eq!(seen[0].1, seen[2].1);
        assert_ne!(seen[0].1, seen[1].1);
        assert_ne!(seen[0].1, std::thread::current().id());
        assert_eq!(worker_id(), 0, "not a worker thread");
    }

    #[tokio::test]
    async fn zero_workers_means_one_per_cpu() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(Workers::start(0).expect("workers").threads(), cpus);
    }

    #[tokio::test]
    async fn dropping_the_workers_ends_their_tasks() {
        let workers = Workers::start(1).expect("workers");
        let (held, released) = tokio::sync::oneshot::channel::<()>();
        workers.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(workers);
        let ended = tokio::time::timeout(Duration::from_secs(5), released).await;
        assert!(matches!(ended, Ok(Err(_))), "the task was not dropped");
    }
}
