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
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::tls::TlsSettings;

mod drain;
mod first_byte;
mod idle;
mod timer;

pub use timer::within;

use drain::{Drain, Watcher};

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

/// A response known before anything had to wait, as a handler's future.
pub fn ready(resp: Response<Body>) -> BoxFuture {
    Box::pin(std::future::ready(resp))
}

/// A request handler for one listener. `tls` is true when the connection is TLS (the scheme
/// for matching is then `https`, SPEC §6.1). Every worker serves with its own clone, so that
/// the `Arc` each request takes is one only that worker counts (see [`serve`]).
pub trait Handler: Clone + Send + Sync + 'static {
    fn call(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr, tls: bool) -> BoxFuture;
}

/// Listener limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed to read a request's headers.
    pub header_read_timeout: Duration,
    /// How long an h2 connection may have no request in flight before it is closed (HTTP/1
    /// connections: `header_read_timeout`, see [`idle`]).
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

/// One listening socket per worker: `listener` taken off the current runtime and duplicated, so
/// that every worker accepts on its own registration of the same socket.
pub fn per_worker(listener: TcpListener, workers: &Workers) -> std::io::Result<Vec<StdListener>> {
    let first = listener.into_std()?;
    let mut all = Vec::with_capacity(workers.threads());
    for _ in 1..workers.threads() {
        all.push(first.try_clone()?);
    }
    all.push(first);
    Ok(all)
}

type StdListener = std::net::TcpListener;

/// What every accept loop of one listener shares.
struct Listening<H> {
    handler: Arc<H>,
    builder: Builder<TokioExecutor>,
    tls: Option<TlsSettings>,
    /// Time a new connection gets to send its first byte (see [`first_byte`]).
    first_byte: Duration,
    /// See [`Limits::idle_timeout`].
    idle: Duration,
}

/// Accept connections until `shutdown` turns true, then drain. Each worker accepts on its own
/// copy of the listening socket (from [`per_worker`]) and serves the connections it accepted:
/// an idle worker takes the next connection, as nginx's workers do, and no connection crosses
/// threads. With `tls`, every connection is handshaked with the certificate in force when it was
/// accepted, and the certificate files are watched for rotation while the listener runs.
/// Each worker serves with its own clone of `handler`: one shared `Arc` would have every
/// request, on every worker, write to the same reference count.
pub async fn serve<H: Handler>(
    listeners: Vec<StdListener>,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<TlsSettings>,
    workers: Arc<Workers>,
    shutdown: watch::Receiver<bool>,
) {
    let _reloader = tls.as_ref().and_then(|t| t.spawn_watcher(shutdown.clone()));
    let graceful = Arc::new(Drain::new());
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(timer::DeadlineTimer)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(64 * 1024);
    let shared = Arc::new(Listening {
        handler,
        builder,
        tls,
        first_byte: limits.header_read_timeout,
        idle: limits.idle_timeout,
    });
    // One listener per worker: spawned round-robin, each loop lands on its own worker.
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            workers.spawn(accept_loop(
                listener,
                shared.clone(),
                graceful.clone(),
                workers.load.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    for l in loops {
        let _ = l.await;
    }
    // The accept loops are gone, and with them every other handle on `graceful`.
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
        tokio::time::sleep(limits.drain_timeout).await;
        return;
    };
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("drain timeout reached, closing remaining connections");
        }
    }
}

/// One worker's accept loop: serve what it accepts until `shutdown` turns true. Every worker is
/// woken by a new connection; one that holds more connections than another waits
/// [`ACCEPT_DEFER`] first, so that a burst of connections (a gateway opening its pool) spreads
/// over the workers instead of landing on whichever woke first.
async fn accept_loop<H: Handler>(
    listener: StdListener,
    shared: Arc<Listening<H>>,
    graceful: Arc<Drain>,
    load: Arc<Load>,
    mut shutdown: watch::Receiver<bool>,
) {
    let me = worker_id();
    let handler = Arc::new(H::clone(&shared.handler));
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, worker = me, "cannot register the listener");
            return;
        }
    };
    if *shutdown.borrow_and_update() {
        return;
    }
    loop {
        if load.ahead(me) {
            tokio::select! {
                _ = tokio::time::sleep(ACCEPT_DEFER) => {}
                _ = shutdown.changed() => break,
            }
        }
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
                let shared = shared.clone();
                let handler = handler.clone();
                let open = load.enter(me);
                tokio::spawn(async move {
                    let _open = open;
                    let within = shared.first_byte;
                    let Some(tls) = &shared.tls else {
                        let stream = first_byte::FirstByte::new(stream, within);
                        return serve_conn(&shared, stream, handler, peer, false, watcher).await;
                    };
                    let handshake = tls.acceptor().accept(stream);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => {
                            let stream = first_byte::FirstByte::new(stream, within);
                            serve_conn(&shared, stream, handler, peer, true, watcher).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            _ = shutdown.changed() => break,
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

/// The threads that accept and serve connections: each runs a single-threaded tokio runtime with
/// its own accept loop per listener, and every connection (with the requests on it and the
/// upstream connections they open) lives on the worker that accepted it. Unlike one
/// work-stealing runtime, a request's I/O readiness, wake-ups and timers stay on one thread: no
/// cross-thread wake-ups or stealing per request, no hand-over per connection. Background work
/// (reloads, key refreshes, certificate watching) stays on the main runtime. The threads stop
/// when the last handle is dropped; connections still open on them are then closed.
pub struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: std::sync::atomic::AtomicUsize,
    load: Arc<Load>,
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
            load: Arc::new(Load::new(n)),
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

/// Open connections per worker (all listeners), for balancing accepts.
#[derive(Debug)]
struct Load(Box<[std::sync::atomic::AtomicUsize]>);

impl Load {
    fn new(workers: usize) -> Self {
        Self((0..workers).map(|_| Default::default()).collect())
    }

    /// Whether worker `me` (1-based) holds more than one connection more than the least busy
    /// worker.
    fn ahead(&self, me: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(mine) = self.0.get(me.wrapping_sub(1)) else {
            return false;
        };
        let mine = mine.load(Relaxed);
        self.0.iter().any(|c| c.load(Relaxed) + 1 < mine)
    }

    /// Count a connection on worker `me` until the guard is dropped.
    fn enter(self: &Arc<Self>, me: usize) -> Open {
        if let Some(c) = self.0.get(me.wrapping_sub(1)) {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Open {
            load: Arc::clone(self),
            me,
        }
    }
}

/// One open connection in [`Load`].
struct Open {
    load: Arc<Load>,
    me: usize,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(c) = self.load.0.get(self.me.wrapping_sub(1)) {
            c.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// How long a worker that holds more connections than another leaves a new connection to the
/// others before accepting it itself (they may all be busy).
const ACCEPT_DEFER: Duration = Duration::from_millis(1);

/// Serve one connection (plain TCP or TLS) until it closes or shutdown drains it.
async fn serve_conn<H, I>(
    shared: &Listening<H>,
    io: I,
    handler: Arc<H>,
    peer: SocketAddr,
    tls: bool,
    watcher: Watcher,
) where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = idle::Activity::new();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let h = handler.clone();
        let in_flight = requests.request(req.version());
        async move {
            let resp = h.call(req, peer, tls).await;
            Ok::<_, Infallible>(match in_flight {
                None => resp,
                Some(guard) => resp.map(|body| guard.hold(body)),
            })
        }
    });
    let conn = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    let conn = idle::Idle::new(watcher.watch(conn.into_owned()), activity, shared.idle);
    if let Err(e) = conn.await {
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

/// A JSON error (herodot's `application/json`, without a charset, SPEC §6.2).
pub fn json_error(status: http::StatusCode, value: &serde_json::Value) -> Response<Body> {
    response(status, "application/json", value.to_string())
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

    /// Answers with the id of the worker that served it; `/block` first holds that worker's
    /// thread (a stand-in for a worker busy with other connections).
    #[derive(Clone)]
    struct WhoServes;

    /// Set when a `/block` request holds its worker.
    static BLOCKING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    impl Handler for WhoServes {
        fn call(self: Arc<Self>, req: Request<Incoming>, _: SocketAddr, _: bool) -> BoxFuture {
            let block = req.uri().path() == "/block";
            Box::pin(async move {
                if block {
                    BLOCKING.store(true, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(400));
                }
                response(http::StatusCode::OK, "text/plain", worker_id().to_string())
            })
        }
    }

    /// The body of `GET path` on a new connection.
    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.expect("read");
        answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }

    /// A [`WhoServes`] server on two workers: its address, its shutdown switch and its task.
    async fn who_serves() -> (SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let workers = Workers::start(2).expect("workers");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let listeners = per_worker(listener, &workers).expect("listeners");
        let limits = Limits {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
        };
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(serve(
            listeners,
            Arc::new(WhoServes),
            limits,
            None,
            workers,
            stopped,
        ));
        (addr, stop, server)
    }

    #[tokio::test]
    async fn an_idle_worker_accepts_while_another_is_busy_and_shutdown_closes_the_port() {
        let (addr, stop, server) = who_serves().await;
        let busy = tokio::spawn(get(addr, "/block"));
        // Wait until the blocking request holds its worker.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !BLOCKING.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the blocking request was not served");
        let other = get(addr, "/").await;
        let busy = busy.await.expect("task");
        let mut ids = [busy.clone(), other.clone()];
        ids.sort();
        assert_eq!(ids, ["1", "2"], "busy worker {busy}, other {other}");

        let _ = stop.send(true);
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("shutdown")
            .expect("task");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the port still accepts after shutdown"
        );
    }

    #[test]
    fn load_says_which_worker_is_ahead() {
        let load = Arc::new(Load::new(2));
        assert!(!load.ahead(1) && !load.ahead(2));
        let a = load.enter(1);
        assert!(!load.ahead(1), "one ahead is within the slack");
        let b = load.enter(1);
        assert!(load.ahead(1) && !load.ahead(2));
        let c = load.enter(2);
        assert!(!load.ahead(1));
        drop((a, b, c));
        assert!(!load.ahead(1) && !load.ahead(2));
        // Not a worker thread (0) or out of range: never ahead, never counted.
        let _none = load.enter(0);
        assert!(!load.ahead(0) && !load.ahead(7));
    }

    /// Sequential keep-alive connections (each answered before the next is opened, all kept
    /// open) spread over both workers even though an idle worker could take them all.
    #[tokio::test]
    async fn held_connections_spread_over_the_workers() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, stop, server) = who_serves().await;
        let mut held = Vec::new();
        let mut on = [0usize; 3];
        for _ in 0..20 {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .expect("write");
            let mut answer = Vec::new();
            let mut chunk = [0u8; 512];
            // Headers, then the one-digit body.
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") || answer.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.expect("read");
                assert!(n > 0, "closed early");
                answer.extend_from_slice(&chunk[..n]);
            }
            let id = usize::from(answer[answer.len() - 1] - b'0');
            on[id] += 1;
            held.push(s);
        }
        assert!(on[1] >= 8 && on[2] >= 8, "connections per worker: {on:?}");
        drop(held);
        let _ = stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
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
