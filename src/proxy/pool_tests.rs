//! The in-task upstream pool against a raw TCP upstream whose connection handling each test
//! scripts: reuse, what is never reused, stale connections, idle expiry, limits, errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::{Pool, Settings};
use crate::server;

/// What the upstream does after answering a request on a connection.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// Keep the connection for the next request.
    KeepAlive,
    /// Close it right after the answer, without saying so (a server-side idle close).
    SilentClose,
    /// Read the next request, then close without answering (the keep-alive race: the upstream
    /// closed the idle connection as the request was on its way).
    DropNext,
}

/// A scripted HTTP/1.1 upstream: answers every request with `answer`; counts connections.
struct Upstream {
    port: u16,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

async fn upstream(answer: &'static [u8], after: After) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (a, c) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                serve(stream, answer, after).await;
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Upstream {
        port,
        accepted,
        closed,
    }
}

/// Answer requests (headers only; test requests carry no body) until the peer closes.
async fn serve(mut stream: TcpStream, answer: &[u8], after: After) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut answered = false;
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
        buf.drain(..end);
        if after == After::DropNext && answered {
            return;
        }
        answered = true;
        if stream.write_all(answer).await.is_err() {
            return;
        }
        if after == After::SilentClose {
            return;
        }
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

fn settings() -> Settings {
    Settings {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        max_idle_per_host: 8,
        keepalive: Duration::from_secs(60),
    }
}

fn get(port: u16, method: &str) -> Request<server::Body> {
    Request::builder()
        .method(method)
        .uri("/x")
        .header("host", format!("127.0.0.1:{port}"))
        .body(server::empty())
        .expect("request")
}

/// The upstream's URL as a rule holds it.
fn url(port: u16) -> Url {
    Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url")
}

/// One exchange, the response's body left unread.
async fn open(pool: &Pool, port: u16) -> http::Response<server::Body> {
    pool.send(&url(port), get(port, "GET"))
        .await
        .expect("response")
}

/// One exchange, body read to its end.
async fn fetch(pool: &Pool, port: u16, method: &str) -> (StatusCode, Bytes) {
    let resp = pool
        .send(&url(port), get(port, method))
        .await
        .expect("response");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

/// Let the upstream's tasks see closes.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A connection is reused only by the serving worker that opened it (its reactor drives it).
#[tokio::test]
async fn connections_stay_with_the_worker_that_opened_them() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(settings());
    let workers = server::Workers::start(2).expect("workers");
    // Round-robin: workers 1, 2, 1, 2.
    for _ in 0..4 {
        let (pool, port) = (pool.clone(), up.port);
        let (status, body) = workers
            .spawn(async move { fetch(&pool, port, "GET").await })
            .await
            .expect("task");
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_carries_request_after_request() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(settings());
    for _ in 0..5 {
        assert_eq!(
            fetch(&pool, up.port, "GET").await,
            (StatusCode::OK, Bytes::from("hello"))
        );
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

/// A body many socket buffers long, sent chunked, read slowly: every part of it arrives (the
/// connection's driver and the body hand work to each other inside the reading task, and no
/// wake-up between them may be lost), then the connection carries the next request.
#[tokio::test]
async fn a_large_body_read_slowly_arrives_whole_and_the_connection_is_reused() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 64;
    let mut answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for i in 0..CHUNKS {
        answer.extend_from_slice(format!("{CHUNK:x}\r\n").as_bytes());
        answer.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, CHUNK));
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"0\r\n\r\n");
    let up = upstream(answer.leak(), After::KeepAlive).await;
    let pool = Pool::new(settings());
    for round in 0..2 {
        let resp = open(&pool, up.port).await;
        let mut body = resp.into_body();
        let read = async {
            let (mut total, mut frames) = (0, 0);
            while let Some(frame) = body.frame().await {
                let data = frame.expect("frame").into_data().unwrap_or_default();
                total += data.len();
                frames += 1;
                if frames % 16 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            total
        };
        // A lost wake-up stalls the body: fail, do not hang.
        let total = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the body stalled");
        assert_eq!(total, CHUNK * CHUNKS, "round {round}");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodiless_answers_return_the_connection_too() {
    // HEAD, and answers the server never polls for a body (the relay is dropped at its end).
    let up = upstream(b"HTTP/1.1 204 No Content\r\n\r\n", After::KeepAlive).await;
    let pool = Pool::new(settings());
    for method in ["GET", "HEAD", "GET"] {
        let resp = pool
            .send(&url(up.port), get(up.port, method))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        drop(resp);
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_get_their_own_connections() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(settings());
    // Both responses are held (bodies unread): neither connection is free for the other.
    let a = open(&pool, up.port).await;
    let b = open(&pool, up.port).await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
    for resp in [a, b] {
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "hello");
    }
    // Both went back: two more requests at once need no new connection.
    let (x, y) = tokio::join!(fetch(&pool, up.port, "GET"), fetch(&pool, up.port, "GET"));
    assert_eq!((x.0, y.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_dropped_half_read_closes_its_connection() {
    static BIG: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n";
    // The upstream announces a megabyte and sends only the head: the body is never complete.
    let up = upstream(BIG, After::KeepAlive).await;
    let pool = Pool::new(settings());
    let resp = open(&pool, up.port).await;
    assert_eq!(resp.status(), StatusCode::OK);
    drop(resp);
    settle().await;
    assert_eq!(up.closed.load(Ordering::SeqCst), 1, "connection closed");
    let resp = open(&pool, up.port).await;
    drop(resp);
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let up = upstream(
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello",
        After::KeepAlive,
    )
    .await;
    let pool = Pool::new(settings());
    for _ in 0..3 {
        assert_eq!(fetch(&pool, up.port, "GET").await.0, StatusCode::OK);
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_while_idle_is_not_used() {
    // The upstream closes every connection after one answer without announcing it; each
    // following request must still succeed, on a new connection.
    let up = upstream(OK, After::SilentClose).await;
    let pool = Pool::new(settings());
    for _ in 0..4 {
        assert_eq!(
            fetch(&pool, up.port, "GET").await,
            (StatusCode::OK, Bytes::from("hello"))
        );
        settle().await;
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 4);
}

// The keep-alive race (Go's `shouldRetryRequest`): a connection idle for a while is closed by
// the upstream just as a request is written on it. A GET without a body goes again on a new
// connection; a POST is not repeated (502 upstream of here).
#[tokio::test]
async fn an_idempotent_request_on_a_connection_closed_meanwhile_is_sent_again() {
    let up = upstream(OK, After::DropNext).await;
    let pool = Pool::new(settings());
    assert_eq!(fetch(&pool, up.port, "GET").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        fetch(&pool, up.port, "GET").await,
        (StatusCode::OK, Bytes::from("hello"))
    );
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        2,
        "retried on a new connection"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let post = pool.send(&url(up.port), get(up.port, "POST")).await;
    assert!(post.is_err(), "a POST is never sent twice");
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(Settings {
        idle_timeout: Duration::from_millis(200),
        ..settings()
    });
    fetch(&pool, up.port, "GET").await;
    settle().await;
    assert_eq!(up.closed.load(Ordering::SeqCst), 0, "still pooled");
    // The sweeper runs every 100 ms here.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(up.closed.load(Ordering::SeqCst), 1, "closed by the sweeper");
    fetch(&pool, up.port, "GET").await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_idle_connections_kept_with_a_zero_limit() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(Settings {
        max_idle_per_host: 0,
        ..settings()
    });
    for _ in 0..3 {
        fetch(&pool, up.port, "GET").await;
    }
    settle().await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
    assert_eq!(up.closed.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn dropping_the_pool_closes_its_idle_connections() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(settings());
    fetch(&pool, up.port, "GET").await;
    drop(pool);
    settle().await;
    assert_eq!(up.closed.load(Ordering::SeqCst), 1);
}

/// Bodies still being read when the pool goes (a reload replaced the client) close their
/// connections at their end instead of parking them in a pool nobody uses, even while another
/// body of the same worker is still open.
#[tokio::test]
async fn bodies_outliving_their_pool_close_their_connections() {
    let up = upstream(OK, After::KeepAlive).await;
    let pool = Pool::new(settings());
    let first = open(&pool, up.port).await;
    let second = open(&pool, up.port).await;
    drop(pool);
    let body = first.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"hello");
    settle().await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(up.closed.load(Ordering::SeqCst), 1, "closed after its body");
    drop(second);
    settle().await;
    assert_eq!(up.closed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_errors_name_the_address() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let pool = Pool::new(settings());
    let err = pool
        .send(&url(port), get(port, "GET"))
        .await
        .expect_err("nothing listens");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("tcp connect error: 127.0.0.1:{port}: ")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_garbled_answer_is_an_error_and_the_connection_is_dropped() {
    let up = upstream(b"NOT HTTP AT ALL\r\n\r\n", After::KeepAlive).await;
    let pool = Pool::new(settings());
    for _ in 0..2 {
        let err = pool
            .send(&url(up.port), get(up.port, "GET"))
            .await
            .expect_err("garbled");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}
