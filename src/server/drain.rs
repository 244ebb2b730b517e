//! Graceful shutdown of served connections, cheap on every poll of a connection.
//!
//! hyper-util's `GracefulShutdown` polls a `watch` channel's `changed()` future on every poll
//! of every connection, which locks the channel's list of waiters each time (~360 instructions
//! per proxied request, callgrind). Here a connection hands its task's waker over once (again
//! only if the task's waker changes) and otherwise reads a flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{watch, Notify};

/// Starts the drain and waits for the connections it watches.
pub struct Drain {
    draining: Arc<AtomicBool>,
    notify: Arc<Notify>,
    /// Every [`Watcher`] holds a receiver: the connections still open.
    open: watch::Sender<()>,
}

/// One connection's part in the drain, taken when it is accepted.
pub struct Watcher {
    draining: Arc<AtomicBool>,
    notify: Arc<Notify>,
    open: watch::Receiver<()>,
}

impl Drain {
    pub fn new() -> Drain {
        Drain {
            draining: Arc::new(AtomicBool::new(false)),
            notify: Arc::new(Notify::new()),
            open: watch::channel(()).0,
        }
    }

    pub fn watcher(&self) -> Watcher {
        Watcher {
            draining: self.draining.clone(),
            notify: self.notify.clone(),
            open: self.open.subscribe(),
        }
    }

    /// Tell every watched connection to finish its request in flight and close, then wait until
    /// all of them (and the watchers not yet serving one) are gone.
    pub async fn shutdown(self) {
        self.draining.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        self.open.closed().await;
    }
}

impl Watcher {
    /// Serve `conn` until it ends; once the drain starts, it ends after the request in flight.
    pub fn watch<C: GracefulConnection>(self, conn: C) -> Watched<C> {
        Watched {
            conn,
            // Created before the flag is first read: a drain started after this point wakes it
            // even before it is polled.
            notified: self.notify.notified_owned(),
            draining: self.draining,
            registered: None,
            started: false,
            _open: self.open,
        }
    }
}

pin_project_lite::pin_project! {
    /// A connection under the drain (its future). `registered`: the waker the drain will wake
    /// (the connection task's); `started`: the connection was told to close after its request
    /// in flight.
    pub struct Watched<C> {
        #[pin]
        conn: C,
        #[pin]
        notified: OwnedNotified,
        draining: Arc<AtomicBool>,
        registered: Option<Waker>,
        started: bool,
        _open: watch::Receiver<()>,
    }
}

impl<C: GracefulConnection> Watched<C> {
    /// Tell the connection to finish its requests in flight and close (as the drain does).
    pub fn close(self: Pin<&mut Self>) {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            this.conn.graceful_shutdown();
        }
    }
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        if !*this.started {
            let mut now = this.draining.load(Ordering::Acquire);
            let same = |w: &Waker| w.will_wake(cx.waker());
            if !now && !this.registered.as_ref().is_some_and(same) {
                now = this.notified.as_mut().poll(cx).is_ready();
                *this.registered = Some(cx.waker().clone());
            }
            if now {
                *this.started = true;
                this.conn.as_mut().graceful_shutdown();
            }
        }
        this.conn.poll(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A connection served by hyper's HTTP/1 server under `drain`, answering after `delay`.
    fn serve(
        drain: &Drain,
        stream: tokio::net::TcpStream,
        delay: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let watcher = drain.watcher();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"done"),
                )))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        })
    }

    async fn pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (client, listener.accept().await.unwrap().0)
    }

    async fn read_all(mut s: tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let read = s.read_to_end(&mut out);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the connection was not closed")
            .expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn in_flight_requests_finish_and_idle_connections_close() {
        let drain = Drain::new();
        let (mut busy, busy_server) = pair().await;
        let (mut idle, idle_server) = pair().await;
        let tasks = [
            serve(&drain, busy_server, Duration::from_millis(300)),
            serve(&drain, idle_server, Duration::ZERO),
        ];
        // The idle connection has answered one request and waits for the next.
        idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 256];
        let n = idle.read(&mut first).await.unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).ends_with("done"));
        busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let shutdown = tokio::spawn(drain.shutdown());
        // Idle: closed at once, without waiting for the busy one.
        assert_eq!(read_all(idle).await, "");
        // In flight: answered in full, then closed.
        let answer = read_all(busy).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .expect("shutdown did not return once the connections closed")
            .unwrap();
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test]
    async fn shutdown_waits_for_watchers_not_yet_serving() {
        let drain = Drain::new();
        let watcher = drain.watcher();
        let mut shutdown = tokio::spawn(drain.shutdown());
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut shutdown)
                .await
                .is_err(),
            "returned while a connection was still being set up"
        );
        // The connection it was taken for.
        let (mut client, server) = pair().await;
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from_static(b"late"),
                )))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server), service);
            let _ = watcher.watch(conn).await;
        });
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        // Accepted while draining: closed before it is served.
        assert_eq!(read_all(client).await, "");
        task.await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), shutdown)
            .await
            .expect("shutdown")
            .unwrap();
    }
}
