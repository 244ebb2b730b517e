//! The idle timeout of h2 connections. hyper's HTTP/1 header timer already closes a keep-alive
//! connection that waits too long for its next request, but its h2 server has no idle timer at
//! all: a client could open connections, or finish its streams and keep the connections, and
//! hold them (and a task each) forever. Go closes such a connection once no stream has been
//! active for `IdleTimeout`; so does [`Idle`], with a GOAWAY (graceful shutdown), and drops it
//! when the client has not let it close within [`CLOSE_GRACE`].
//!
//! A connection's [`Activity`] counts its h2 requests from the moment the service is called
//! until the response body is finished or dropped ([`Activity::request`] hands out the
//! [`Guard`]). The first HTTP/1 request turns the timer off for good: on HTTP/1 the header timer
//! is the idle timer, and a request that takes longer than `idle` (an upload, a WebSocket) must
//! not be cut. Until a connection's first request its protocol is not known and the timer runs
//! (a connection that sends nothing at all is already closed by [`super::first_byte`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Version;
use hyper_util::server::graceful::GracefulConnection;
use tokio::time::Sleep;

use super::drain::Watched;
use super::{Body, BoxError};

/// How long a connection told to close (GOAWAY) may take to do so before it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// One connection's requests in flight and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// h2 requests in flight (high half) and the millisecond (since `start`) the last one ended
    /// or the connection opened (low half): one word, so that a reader never sees one without
    /// the other.
    state: AtomicU64,
    http1: AtomicBool,
}

const ONE_REQUEST: u64 = 1 << 32;
const SINCE: u64 = ONE_REQUEST - 1;

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            state: AtomicU64::new(0),
            http1: AtomicBool::new(false),
        })
    }

    /// A request arrived: an h2 one is counted until its [`Guard`] is dropped; the first HTTP/1
    /// one turns the idle timer off.
    pub fn request(self: &Arc<Self>, version: Version) -> Option<Guard> {
        if version == Version::HTTP_2 {
            self.state.fetch_add(ONE_REQUEST, Ordering::AcqRel);
            return Some(Guard(self.clone()));
        }
        if !self.http1.load(Ordering::Relaxed) {
            self.http1.store(true, Ordering::Relaxed);
        }
        None
    }

    /// Milliseconds since the connection opened, modulo 2^32 (differences stay right for
    /// 49 days, far beyond any idle timeout).
    fn millis(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 & SINCE
    }

    /// How long the connection has had no request in flight (`None` while one is).
    fn idle_for(&self) -> Option<Duration> {
        let state = self.state.load(Ordering::Acquire);
        if state >= ONE_REQUEST {
            return None;
        }
        Some(Duration::from_millis(
            self.millis().wrapping_sub(state & SINCE) & SINCE,
        ))
    }
}

/// An h2 request in flight: held by the handler's future, then by the response body.
#[derive(Debug)]
pub struct Guard(Arc<Activity>);

impl Guard {
    /// `body`, which keeps the request in flight until it is finished or dropped.
    pub fn hold(self, body: Body) -> Body {
        use http_body_util::BodyExt;
        Held { body, _guard: self }.boxed_unsync()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let now = self.0.millis();
        let _ = self
            .0
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some(((s - ONE_REQUEST) & !SINCE) | now)
            });
    }
}

pin_project_lite::pin_project! {
    struct Held {
        #[pin]
        body: Body,
        _guard: Guard,
    }
}

impl hyper::body::Body for Held {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A served connection under the idle timer.
    pub struct Idle<C> {
        #[pin]
        conn: Watched<C>,
        activity: Arc<Activity>,
        idle: Duration,
        // The next time to look (`None` once the connection turned out to be HTTP/1).
        timer: Option<Pin<Box<Sleep>>>,
        closing: bool,
    }
}

impl<C> Idle<C> {
    pub fn new(conn: Watched<C>, activity: Arc<Activity>, idle: Duration) -> Self {
        Idle {
            conn,
            activity,
            idle,
            timer: Some(Box::pin(tokio::time::sleep(idle))),
            closing: false,
        }
    }
}

impl<C, E> Future for Idle<C>
where
    C: GracefulConnection<Error = E>,
    E: std::fmt::Display,
{
    type Output = Result<(), String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(r) = this.conn.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(|e| e.to_string()));
        }
        if this.activity.http1.load(Ordering::Relaxed) {
            // The header timer is the idle timer (and the drain still applies).
            *this.timer = None;
            return Poll::Pending;
        }
        while let Some(timer) = this.timer.as_mut() {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if *this.closing {
                return Poll::Ready(Err(
                    "told to close when idle, it had not within the grace period".to_owned(),
                ));
            }
            let next = match this.activity.idle_for() {
                Some(idle) if idle >= *this.idle => {
                    *this.closing = true;
                    this.conn.as_mut().close();
                    // The GOAWAY is written when the connection is next polled.
                    cx.waker().wake_by_ref();
                    CLOSE_GRACE
                }
                Some(idle) => *this.idle - idle,
                None => *this.idle,
            };
            timer.as_mut().reset(tokio::time::Instant::now() + next);
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn h2_requests_hold_the_connection_open_http1_turns_the_timer_off() {
        let a = Activity::new();
        assert_eq!(a.idle_for(), Some(Duration::ZERO));
        let first = a.request(Version::HTTP_2).unwrap();
        let second = a.request(Version::HTTP_2).unwrap();
        assert_eq!(a.idle_for(), None);
        drop(first);
        assert_eq!(a.idle_for(), None);
        drop(second);
        assert!(a.idle_for().is_some());
        assert!(!a.http1.load(Ordering::Relaxed));
        assert!(a.request(Version::HTTP_11).is_none());
        assert!(a.http1.load(Ordering::Relaxed));
    }
}
