//! Outbound HTTP to auth services (session checks, introspection, token endpoints, JWKS, remote
//! authorizers, hydrators): one pooled client per process, a deadline per call, bounded retries
//! (DESIGN §3: a slow IdP must not hang the edge).
//!
//! Policy: a call has one overall deadline (`timeout`). Connection failures and 502/503/504
//! answers are retried with exponential backoff while the deadline allows, at most
//! `max_retries` times; `Retry-After` is honoured only when it fits in what is left of the
//! deadline. 429 is never retried: it is handed back so the handler can answer 429 with the
//! backend's rate-limit headers. Whatever fails after that is a [`OutboundError`], which handlers
//! turn into 503 (never 200, never 401).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::pipeline::error::{msg, PipelineError};

/// Default deadline of an outbound call when the handler config has none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to establish a TCP (and TLS) connection, within the deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer body a handler reads from an auth service (sessions, introspection and
/// token answers, policy decisions, hydrated sessions): past it, 500.
pub const MAX_ANSWER: usize = 1 << 20;
/// Default number of retries after the first attempt.
pub const DEFAULT_RETRIES: u32 = 2;

/// Install the process-wide rustls crypto provider (ring). Idempotent.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The shared, pooled client. Per-call deadlines are applied by [`send`], not here.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        init_crypto();
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            // Go's default client, which Oathkeeper's calls use: up to 10 redirects, and
            // `Authorization`/`Cookie` are dropped when one leads to another host.
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Whether a header named in a handler's config (`forward_http_headers`, `additional_headers`,
/// `introspection_request_headers`, a remote authorizer's `headers`) may go on its outbound
/// call. Go's client keeps `Host` out of the header map and writes its own framing, so in
/// Oathkeeper such a `Host`, `Content-Length`, `Transfer-Encoding` or hop-by-hop header never
/// reaches the wire; here it is dropped when the handler is built, with a warning naming `key`.
/// Sent, a forwarded `Host` would let a client pick the virtual host that answers, and a
/// `Content-Length` would desynchronise the request.
pub fn settable(name: &http::HeaderName, key: &str) -> bool {
    if crate::proxy::headers::settable(name) {
        return true;
    }
    tracing::warn!(
        key,
        header = %name,
        "the HTTP client sets this header itself; the configured one is ignored"
    );
    false
}

/// Deadline and retry bounds of one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Overall deadline, all attempts and waits included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Upper bound of one backoff wait.
    pub max_backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_RETRIES,
            max_backoff: Duration::from_millis(500),
        }
    }
}

impl CallPolicy {
    /// Map Oathkeeper's legacy `retry {give_up_after, max_delay}` onto sane bounds:
    /// `give_up_after`, when a config wrote it, caps the whole call (never above `timeout`);
    /// `max_delay` caps one wait. Its schema default does not cap: a `timeout: 2s` is not cut
    /// to a 1s default nobody wrote.
    pub fn from_legacy(
        timeout: Duration,
        give_up_after: Option<Duration>,
        max_delay: Duration,
    ) -> Self {
        let deadline = match give_up_after {
            Some(g) if !g.is_zero() => timeout.min(g.max(Duration::from_millis(100))),
            _ => timeout,
        };
        Self {
            timeout: deadline,
            max_retries: DEFAULT_RETRIES,
            max_backoff: max_delay.clamp(Duration::from_millis(10), Duration::from_secs(1)),
        }
    }

    /// No retries: for calls that are not idempotent.
    pub fn once(timeout: Duration) -> Self {
        Self {
            timeout,
            max_retries: 0,
            max_backoff: Duration::ZERO,
        }
    }
}

/// Why an outbound call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Request(String),
    /// The backend kept answering 5xx.
    #[error("backend answered {0}")]
    Status(StatusCode),
    /// The answer's body was larger than its handler reads.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

impl OutboundError {
    /// The error the client sees, with the cause as the (verbose) reason: 503 for an outage, 500
    /// for an answer too large to read (the backend is up; what it said cannot be used).
    pub fn into_pipeline(self, service: &str) -> PipelineError {
        let e = match self {
            Self::TooLarge(_) => PipelineError::internal(msg::INTERNAL),
            _ => PipelineError::new(StatusCode::SERVICE_UNAVAILABLE, msg::SERVICE_UNAVAILABLE),
        };
        e.with_reason(format!("{service}: {self}"))
    }
}

/// An answer's body, at most `max` bytes ([`OutboundError::TooLarge`] past that).
pub async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| OutboundError::Request(e.to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(OutboundError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a status is worth another attempt.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// Send a request built by `build` (called once per attempt) under `policy`. Returns the first
/// response that is not retryable (any 2xx/3xx/4xx, and 5xx other than 502–504); a retryable
/// answer that persists is returned as it is on the last attempt so the caller can map it.
pub async fn send<F>(policy: CallPolicy, build: F) -> Result<reqwest::Response, OutboundError>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        let remaining = policy.timeout.saturating_sub(start.elapsed());
        if remaining.is_zero() {
            return Err(OutboundError::Timeout(policy.timeout));
        }
        let result = tokio::time::timeout(remaining, build().timeout(remaining).send()).await;
        let last = attempt >= policy.max_retries;
        // What the caller gets if there is no time left to try again: this attempt's answer.
        let (wait, give_up) = match result {
            Err(_) => return Err(OutboundError::Timeout(policy.timeout)),
            Ok(Ok(resp)) => {
                if !retryable(resp.status()) || last {
                    return Ok(resp);
                }
                let wait = retry_after(&resp).unwrap_or_else(|| backoff(policy, attempt));
                (wait, Ok(resp))
            }
            Ok(Err(e)) => {
                if e.is_timeout() {
                    return Err(OutboundError::Timeout(policy.timeout));
                }
                let err = if e.is_connect() {
                    OutboundError::Connect(root_cause(&e))
                } else {
                    OutboundError::Request(root_cause(&e))
                };
                if last || !(e.is_connect() || e.is_request()) {
                    return Err(err);
                }
                (backoff(policy, attempt), Err(err))
            }
        };
        // Only wait when the wait leaves time for another attempt; otherwise the backend's own
        // answer (a 503 with a long `Retry-After`, a refused connection) says what went wrong,
        // not a timeout that never happened.
        if wait >= policy.timeout.saturating_sub(start.elapsed()) {
            return give_up;
        }
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn backoff(policy: CallPolicy, attempt: u32) -> Duration {
    let base = Duration::from_millis(50).saturating_mul(2u32.saturating_pow(attempt));
    base.min(policy.max_backoff)
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The innermost cause of a failed call (what a TLS or connection failure really was).
pub fn describe(e: &reqwest::Error) -> String {
    root_cause(e)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    // rustls's words for a TLS handshake answered in plain HTTP.
    if text.contains("InvalidContentType") {
        return format!("{text} (the server does not speak TLS: is its URL http://?)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_retry_maps_to_bounds() {
        let p = CallPolicy::from_legacy(
            Duration::from_secs(5),
            Some(Duration::from_secs(1)),
            Duration::from_millis(100),
        );
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert_eq!(p.max_backoff, Duration::from_millis(100));
        // Not written: the timeout is the deadline.
        let p = CallPolicy::from_legacy(Duration::from_secs(2), None, Duration::from_millis(100));
        assert_eq!(p.timeout, Duration::from_secs(2));
        // A huge give_up_after never exceeds the timeout.
        let p = CallPolicy::from_legacy(
            Duration::from_secs(5),
            Some(Duration::from_secs(3600)),
            Duration::from_secs(3600),
        );
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(p.max_backoff, Duration::from_secs(1));
    }

    // An https:// URL on a plain-HTTP server says so, instead of only rustls's
    // "received corrupt message of type InvalidContentType".
    #[tokio::test]
    async fn tls_to_plain_http_says_so() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let policy = CallPolicy {
            timeout: Duration::from_secs(2),
            max_retries: 0,
            max_backoff: Duration::from_millis(10),
        };
        let err = send(policy, || client().get(format!("https://{addr}/")))
            .await
            .expect_err("not TLS");
        assert!(err.to_string().contains("is its URL http://?"), "{err}");
    }

    #[tokio::test]
    async fn unreachable_is_a_connect_error() {
        // A port nobody listens on: bind, take the port, close.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let policy = CallPolicy {
            timeout: Duration::from_secs(2),
            max_retries: 1,
            max_backoff: Duration::from_millis(10),
        };
        let err = send(policy, || client().get(format!("http://{addr}/")))
            .await
            .expect_err("refused");
        assert!(matches!(err, OutboundError::Connect(_)), "{err}");
        assert_eq!(
            err.into_pipeline("test").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    // DESIGN §3 (bounded retries): a 503 whose `Retry-After` does not fit in the deadline is
    // handed back at once, as the backend's answer, not reported as a timeout.
    #[tokio::test]
    async fn a_retry_after_beyond_the_deadline_returns_the_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let policy = CallPolicy {
            timeout: Duration::from_secs(2),
            max_retries: 3,
            max_backoff: Duration::from_millis(10),
        };
        let resp = send(policy, || client().get(format!("http://{addr}/")))
            .await
            .expect("the backend's answer");
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
