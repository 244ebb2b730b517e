//! Pooled HTTP/1.1 connections to plain-`http` upstreams, driven inside the request's own task.
//!
//! hyper-util's pooled client runs every connection in a task of its own and hands each request
//! and response across channels, so a proxied request wakes two tasks per exchange. Here a
//! request checks a connection out, polls it together with the response future, and hands it to
//! the response body, which keeps polling it while the answer streams to the client. When the
//! body has been read to its end on a connection that can carry another request, the connection
//! goes back to the pool; a connection whose body was dropped half-read, that failed, or that the
//! upstream closed is dropped (closed). TLS upstreams (h2 by ALPN) and protocol upgrades use the
//! spawned-task client (`super::client`).
//!
//! Idle connections are reused most recent first, never after `pool_idle_timeout`, at most
//! `max_idle_per_host` per upstream `host:port` and serving worker: a connection is only reused
//! by the worker thread that opened it (`crate::server::Workers`), whose reactor drives its
//! socket, so that no request waits on another thread's event loop. Each thread's idle lists are
//! its own (a [`Shard`]): checking a connection out and in touches no lock or reference count
//! another worker writes to. A sweeper closes expired and upstream-closed ones in the
//! background. A request that could not be written on a pooled connection (the upstream closed
//! it meanwhile) is retried once on a new connection, as hyper-util does.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use thread_local::ThreadLocal;
use tokio::net::TcpStream;
use url::Url;

use crate::server::{Body, BoxError};

/// How often at most the sweeper runs.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Pool settings (`serve.proxy.upstream`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_idle_per_host: usize,
    pub keepalive: Duration,
}

/// The pool; cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

struct Shared {
    settings: Settings,
    /// The idle lists of each thread that sent a request.
    shards: ThreadLocal<Arc<Shard>>,
}

impl Shared {
    /// This thread's idle lists.
    fn shard(&self) -> &Arc<Shard> {
        self.shards.get_or(|| {
            Arc::new(Shard {
                idle: Mutex::new(Some(Idle::default())),
                max_idle: self.settings.max_idle_per_host,
            })
        })
    }
}

impl Drop for Shared {
    /// Close every idle connection, also those of shards a response body still holds (which
    /// then keep no connection: see [`Relay::check_in`]).
    fn drop(&mut self) {
        for shard in self.shards.iter_mut() {
            shard.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }
}

/// One thread's idle connections by upstream. Its lock is only taken by that thread and, now and
/// then, by the sweeper. Response bodies hold it (not the pool) to check their connection in.
struct Shard {
    /// `None` once the pool is gone.
    idle: Mutex<Option<Idle>>,
    max_idle: usize,
}

/// Keys are upstream authorities from the rules, not client input: a fast hasher.
type Idle = HashMap<Arc<str>, Vec<IdleConn>, foldhash::fast::RandomState>;

struct IdleConn {
    conn: Box<Conn>,
    since: Instant,
}

/// A connection (boxed wherever it is held: it is ~700 bytes, and every future holding it would
/// otherwise carry and copy that much).
struct Conn {
    send: SendRequest<Body>,
    driver: Connection<TokioIo<TcpStream>, Body>,
    /// The waker of the driver, the response future and the body (see [`InTask`]).
    in_task: Arc<InTask>,
}

impl Conn {
    /// Poll `f` (the driver and what it feeds) on behalf of the task `cx` belongs to; a wake
    /// that one part gives another while `f` runs re-runs `f` here instead of re-polling the
    /// whole task (see [`InTask`]).
    fn poll_in_task<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Self, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.in_task.set_task(cx.waker());
        let waker = Waker::from(Arc::clone(&self.in_task));
        let mut inner = Context::from_waker(&waker);
        for _ in 0..MAX_IN_TASK_ROUNDS {
            self.in_task.state.store(POLLING, Ordering::SeqCst);
            let result = f(self, &mut inner);
            let woken = self.in_task.state.swap(IDLE, Ordering::SeqCst) & WOKEN != 0;
            // Ready: the caller polls again for what follows (next frame, the body) or is done
            // with the connection, which then goes back to the pool and is polled there.
            if result.is_ready() || !woken {
                return result;
            }
        }
        // Something keeps waking itself: let the runtime schedule the task again.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Poll the connection once without a task to wake: true while it can carry a request.
    fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.driver).poll(&mut cx) {
            Poll::Ready(_) => false,
            Poll::Pending => self.send.is_ready(),
        }
    }
}

/// Rounds [`Conn::poll_in_task`] runs before it yields to the runtime.
const MAX_IN_TASK_ROUNDS: usize = 8;
const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// The waker of one upstream connection's parts (hyper's client driver, the response future,
/// the response body), which all run inside one request's task. hyper hands work between them
/// with wake-ups (the body asking the driver for more data, the driver completing the response
/// future); with the task's own waker each of those, coming while the task is being polled,
/// made the runtime poll the whole server connection once more for nothing (a third poll per
/// proxied request). A wake-up that arrives while the parts are being polled only marks another
/// round; one that arrives at any other time (the socket became readable) wakes the task.
#[derive(Default)]
struct InTask {
    /// `IDLE`, `POLLING`, or `POLLING | WOKEN`: one word, so that a wake-up racing the end of
    /// a round is never lost.
    state: AtomicU8,
    task: Mutex<Option<Waker>>,
}

impl InTask {
    fn set_task(&self, waker: &Waker) {
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        match &*task {
            Some(current) if current.will_wake(waker) => {}
            _ => *task = Some(waker.clone()),
        }
    }

    /// Forget the task (the connection goes idle): an idle connection must not keep a finished
    /// task's memory alive.
    fn clear_task(&self) {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Wake for InTask {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.fetch_or(WOKEN, Ordering::SeqCst) & POLLING != 0 {
            return;
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl Pool {
    /// A new pool; its sweeper runs on the current tokio runtime, if any, until the pool is
    /// dropped.
    pub fn new(settings: Settings) -> Self {
        let shared = Arc::new(Shared {
            settings,
            shards: ThreadLocal::new(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let every =
                (settings.idle_timeout / 2).clamp(Duration::from_millis(50), MAX_SWEEP_INTERVAL);
            let weak = Arc::downgrade(&shared);
            rt.spawn(sweep(weak, every));
        }
        Self { shared }
    }

    /// Send `req` (origin-form URI, `Host` set) to the `http://` upstream `url` (its
    /// `host:port` is the pool key) and return the response with a body that relays the
    /// connection back when read to its end.
    ///
    /// A block rather than an `async fn`: an `async fn` keeps a second copy of the request in
    /// its future (the argument and the local it is moved into).
    #[allow(clippy::manual_async_fn)]
    pub fn send<'a>(
        &'a self,
        url: &'a Url,
        mut req: Request<Body>,
    ) -> impl Future<Output = Result<Response<Body>, BoxError>> + Send + 'a {
        async move {
            let authority = super::forward::authority(url);
            let shard = self.shared.shard();
            let body_read = req.extensions().get::<BodyRead>().cloned();
            let mut pooled_failed = false;
            loop {
                let checked_out = if pooled_failed {
                    None
                } else {
                    self.checkout(shard, authority)
                };
                let (key, mut conn, pooled, idle_for) = match checked_out {
                    Some((key, conn, idle_for)) => (key, conn, true, idle_for),
                    None => (
                        Arc::from(authority),
                        Box::pin(self.connect(url)).await?,
                        false,
                        Duration::ZERO,
                    ),
                };
                // A connection idle for a while may be closed by the upstream (its keep-alive
                // timeout) just as the request goes out: an idempotent request without a body
                // is then sent again on a new connection, as Go's client does. The copy of its
                // head is only made then: under load connections are idle for microseconds.
                let replay = (pooled && idle_for >= REPLAY_AFTER_IDLE)
                    .then(|| replayable(&req))
                    .flatten();
                let sent = conn.send.try_send_request(req);
                match drive(&mut conn, sent).await {
                    Ok((resp, alive)) => {
                        return Ok(resp.map(|body| {
                            Relay {
                                body,
                                conn: alive.then_some(conn),
                                body_read: body_read.clone(),
                                shard: Arc::clone(shard),
                                key,
                            }
                            .into_body()
                        }));
                    }
                    Err(mut e) => match (e.take_message(), replay) {
                        // Never written: the pooled connection was closed meanwhile. Once more on
                        // a new connection (never a pooled one: this loop runs at most twice).
                        (Some(again), _) if pooled => {
                            req = again;
                            pooled_failed = true;
                        }
                        // Written, and the connection closed before any answer.
                        (None, Some(again)) if e.error().is_incomplete_message() => {
                            req = again;
                            pooled_failed = true;
                        }
                        _ => return Err(BoxError::from(e.into_error())),
                    },
                }
            }
        }
    }

    /// The most recently used idle connection of `shard` to `authority` that can carry a
    /// request.
    fn checkout(&self, shard: &Shard, authority: &str) -> Option<(Arc<str>, Box<Conn>, Duration)> {
        let timeout = self.shared.settings.idle_timeout;
        let mut idle = shard.idle.lock().unwrap_or_else(|p| p.into_inner());
        let idle = idle.as_mut()?;
        let key = idle.get_key_value(authority)?.0.clone();
        let list = idle.get_mut(authority)?;
        while let Some(mut entry) = list.pop() {
            if entry.since.elapsed() >= timeout {
                // The rest is older still.
                list.clear();
                break;
            }
            if entry.conn.usable() {
                return Some((key, entry.conn, entry.since.elapsed()));
            }
        }
        None
    }

    async fn connect(&self, url: &Url) -> Result<Box<Conn>, BoxError> {
        // `Url::host_str` keeps an IPv6 literal's brackets; the resolver takes it bare.
        let host = url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(80);
        let settings = self.shared.settings;
        let stream = tokio::time::timeout(settings.connect_timeout, connect_tcp(host, port))
            .await
            .map_err(|_| {
                format!(
                    "tcp connect error: {host}:{port}: timed out after {:?}",
                    settings.connect_timeout
                )
            })??;
        let _ = stream.set_nodelay(true);
        let keepalive = socket2::TcpKeepalive::new().with_time(settings.keepalive);
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
        let (send, driver) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await?;
        Ok(Box::new(Conn {
            send,
            driver,
            in_task: Arc::default(),
        }))
    }
}

/// Every address `host` resolves to, in order, until one connects.
async fn connect_tcp(host: &str, port: u16) -> Result<TcpStream, BoxError> {
    let mut last = None;
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("dns error: {host}: {e}"))?;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(format!("tcp connect error: {addr}: {e}")),
        }
    }
    Err(last
        .unwrap_or_else(|| format!("dns error: {host}: no addresses"))
        .into())
}

/// Poll the connection and the response future together until the response head arrives.
/// Also says whether the connection is still running (it may have closed after answering).
// The error is hyper's, carrying the request back when it was never written.
#[allow(clippy::result_large_err)]
async fn drive<F>(
    conn: &mut Conn,
    sent: F,
) -> Result<(Response<Incoming>, bool), hyper::client::conn::TrySendError<Request<Body>>>
where
    F: Future<
        Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<Body>>>,
    >,
{
    let mut sent = pin!(sent);
    let mut running = true;
    std::future::poll_fn(|cx| {
        conn.poll_in_task(cx, |conn, cx| {
            if running && drive_once(conn, cx) {
                running = false;
            }
            sent.as_mut()
                .poll(cx)
                .map(|r| r.map(|resp| (resp, running)))
        })
    })
    .await
}

/// How long a pooled connection must have been idle before an idempotent request sent on it is
/// kept for a second attempt.
const REPLAY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A copy of `req` to send again if the connection closes before answering: only for methods
/// without side effects (GET, HEAD, OPTIONS, TRACE) and an empty body.
fn replayable(req: &Request<Body>) -> Option<Request<Body>> {
    use http::Method;
    let idempotent = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !idempotent || !req.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(crate::server::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

/// Poll the connection's driver once; true when it has stopped (closed or failed).
fn drive_once(conn: &mut Conn, cx: &mut Context<'_>) -> bool {
    match Pin::new(&mut conn.driver).poll(cx) {
        Poll::Pending => false,
        Poll::Ready(result) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "upstream connection failed");
            }
            true
        }
    }
}

/// Set on a request (as an extension) whose body streams from the client: true once that body
/// has been read to its end. A connection answered before it was (an upstream's early 413) is
/// still writing that body: it is not pooled but closed, which also lets the client's
/// connection close.
#[derive(Debug, Clone)]
pub(crate) struct BodyRead(pub Arc<std::sync::atomic::AtomicU8>);

impl BodyRead {
    /// Still being read.
    pub(crate) const READING: u8 = 0;
    /// Read to its end.
    pub(crate) const READ: u8 = 1;
    /// The client's stream broke (it went away, or reset an h2 stream) before the end.
    pub(crate) const BROKEN: u8 = 2;

    pub(crate) fn done(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) == Self::READ
    }

    pub(crate) fn broken(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) == Self::BROKEN
    }
}

/// The response body: relays the upstream's body while driving its connection, and returns the
/// connection to the pool when the body has been read to its end.
struct Relay {
    body: Incoming,
    conn: Option<Box<Conn>>,
    /// The request body's progress, when it streamed (see [`BodyRead`]).
    body_read: Option<BodyRead>,
    /// The idle lists of the worker whose reactor drives the connection.
    shard: Arc<Shard>,
    key: Arc<str>,
}

impl Relay {
    fn into_body(self) -> Body {
        http_body_util::BodyExt::boxed_unsync(self)
    }

    /// Back to the pool, if the exchange is complete and the connection can carry another.
    fn check_in(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.body_read.as_ref().is_some_and(|r| !r.done()) {
            return;
        }
        // The driver was polled in the same round that saw the body end (a connection the
        // upstream said it would close has stopped by then); whether it can carry another
        // request is checked when it is checked out.
        if conn.send.is_closed() {
            return;
        }
        conn.in_task.clear_task();
        let max = self.shard.max_idle;
        let mut idle = self.shard.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The pool is gone: the connection closes.
        let Some(idle) = idle.as_mut() else {
            return;
        };
        let list = idle.entry(Arc::clone(&self.key)).or_default();
        if list.len() < max {
            list.push(IdleConn {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Upstream bodies that broke off are logged ten a second at most.
static BODY_WARNINGS: crate::telemetry::WarnBudget = crate::telemetry::WarnBudget::new();

impl HttpBody for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let body = &mut this.body;
        let frame = match &mut this.conn {
            None => Pin::new(body).poll_frame(cx),
            Some(conn) => {
                let mut stopped = false;
                let frame = conn.poll_in_task(cx, |conn, cx| {
                    if !stopped && drive_once(conn, cx) {
                        stopped = true;
                    }
                    Pin::new(&mut *body).poll_frame(cx)
                });
                if stopped {
                    this.conn = None;
                }
                frame
            }
        };
        match &frame {
            Poll::Ready(None) => this.check_in(),
            Poll::Ready(Some(Err(e))) => {
                this.conn = None;
                // The status was sent (and logged) already; the client sees its connection
                // cut, and this says why.
                if let Some(suppressed) = crate::telemetry::warn_budget(&BODY_WARNINGS) {
                    tracing::warn!(error = %e, suppressed, "upstream response body failed; the client's answer is cut short");
                }
            }
            _ => {}
        }
        frame.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The server stops polling a body whose announced length has been sent.
        if self.body.is_end_stream() {
            self.check_in();
        }
    }
}

/// Close expired and upstream-closed idle connections until the pool is gone.
async fn sweep(pool: Weak<Shared>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        let timeout = shared.settings.idle_timeout;
        for shard in shared.shards.iter() {
            let mut idle = shard.idle.lock().unwrap_or_else(|p| p.into_inner());
            let Some(idle) = idle.as_mut() else {
                continue;
            };
            idle.retain(|_, list| {
                list.retain_mut(|entry| entry.since.elapsed() < timeout && entry.conn.usable());
                !list.is_empty()
            });
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
