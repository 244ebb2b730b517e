//! The reverse proxy on `serve.proxy` (SPEC §4.1, §4.6, §6.1): normalize, match, run the
//! pipeline, forward to the rule's upstream with identity headers, stream the answer back.

mod client;
pub mod forward;
pub mod headers;
mod pool;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::app::State;
use crate::decisions::{answered, render};
use crate::pipeline::error::msg;
use crate::pipeline::session::RequestUrl;
use crate::pipeline::{self, PipelineError, RequestInfo};
use crate::rules::matcher::{canonical_host, normalize_path};
use crate::server::{self, Body, BoxFuture, Handler};
use crate::telemetry::access::{log_decision, Matched, Observation, Outcome};

/// Failed upstream requests are logged ten a second at most (the rest counted in the next).
static UPSTREAM_WARNINGS: crate::telemetry::WarnBudget = crate::telemetry::WarnBudget::new();

pub use client::Upstream;

/// The proxy listener's request handler.
#[derive(Clone)]
pub struct Proxy {
    pub state: Arc<State>,
    client: Upstream,
    response_timeout: Duration,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// Build the handler; the upstream client follows `serve.proxy.upstream` of the config in
    /// force at start-up (listener settings need a restart, SPEC §7).
    pub fn new(state: Arc<State>) -> Result<Self, String> {
        let snapshot = state.snapshot();
        let cfg = &snapshot.config.serve.proxy.upstream;
        // Oathkeeper's only bound on a slow upstream is the server's write timeout
        // (`serve.proxy.timeout.write`, 0 = none): it caps the wait for the answer here.
        let write = snapshot.config.serve.proxy.timeout.write.0;
        let response_timeout = match write.is_zero() {
            true => cfg.response_timeout.0,
            false => cfg.response_timeout.0.min(write),
        };
        Ok(Self {
            client: client::build(cfg)?,
            response_timeout,
            state,
        })
    }
}

impl Handler for Proxy {
    /// What can be decided without waiting (CORS preflight, path, rule) is decided before the
    /// request's future is built, and that future is one flat block: every nested `async fn`
    /// would keep its own copy of the request and its arguments, and the whole future is copied
    /// into its box for every request.
    fn call(self: Arc<Self>, mut req: Request<Incoming>, peer: SocketAddr, tls: bool) -> BoxFuture {
        let observation = Observation::begin("gatehouse-proxy", &mut req);
        // A transfer coding other than `chunked` alone (`gzip, chunked`): hyper undoes only the
        // chunking, so the body would go upstream still coded and unlabelled. 501, as Go does.
        if req.headers().contains_key(http::header::TRANSFER_ENCODING)
            && !only_chunked(req.headers())
        {
            let mut resp = http::Response::new(server::full(bytes::Bytes::from_static(
                b"Unsupported transfer encoding",
            )));
            *resp.status_mut() = http::StatusCode::NOT_IMPLEMENTED;
            return server::ready(observation.finish(resp, &Outcome::default()));
        }
        let snapshot = self.state.current();
        // CORS first: preflights are answered here and never reach rules (SPEC §2.4).
        if let Some(preflight) = snapshot.cors_proxy.preflight(req.method(), req.headers()) {
            return server::ready(observation.finish(preflight, &Outcome::default()));
        }
        let cors = snapshot.cors_proxy.actual(req.method(), req.headers());
        let trusted = snapshot.config.serve.proxy.trust_forwarded_headers;
        headers::apply_forwarded_policy(req.headers_mut(), trusted);
        let mut info = match request_info(&mut req, peer, tls, trusted) {
            Ok(info) => info,
            Err(failed) => {
                let (info, e) = *failed;
                let resp = render(snapshot.fallback_reply(&[], &e, &info));
                return answered(resp, observation, cors);
            }
        };
        let (index, captures) = match snapshot.rules.find(&info) {
            Ok(found) => found,
            Err(e) => {
                let resp = render(snapshot.fallback_reply(&[], &e, &info));
                return answered(resp, observation, cors);
            }
        };
        let mut session = info.new_session(captures);
        let (mut parts, body) = req.into_parts();
        Box::pin(async move {
            // Owns the rule set and the observation: dropped unanswered (the client went away),
            // it records 499 under the matched rule.
            let mut matched = Matched {
                snapshot,
                index,
                observation: Some(observation),
            };
            let snapshot = &matched.snapshot;
            let rule = &snapshot.rules.rules()[index];
            let mut outcome = Outcome::default();
            let mut resp = 'answer: {
                // Handlers that read the body get a bounded, buffered copy; the upstream then
                // receives that copy. Every other request streams.
                // Set when the client's body has been read to its end; an answer that comes
                // before (an upstream's early 413) closes the connection, as Go's server does,
                // instead of leaving the client writing a body nobody reads.
                let mut body_read: Option<pool::BodyRead> = None;
                let body: Body = if rule.needs_body {
                    let limit = snapshot.config.serve.proxy.max_buffered_body;
                    match buffer_body(body, limit).await {
                        Ok(bytes) => {
                            info.body = Some(bytes.clone());
                            server::full(bytes)
                        }
                        Err(e) => {
                            break 'answer render(snapshot.fallback_reply(&rule.errors, &e, &info))
                        }
                    }
                } else if hyper::body::Body::is_end_stream(&body) {
                    body.map_err(Into::into).boxed_unsync()
                } else {
                    let read = Arc::new(std::sync::atomic::AtomicU8::new(pool::BodyRead::READING));
                    let flag = pool::BodyRead(Arc::clone(&read));
                    parts.extensions.insert(flag.clone());
                    body_read = Some(flag);
                    Tracked { inner: body, read }
                        .map_err(Into::into)
                        .boxed_unsync()
                };
                outcome.rule = Some(rule);
                if let Err(e) = pipeline::run(rule, &info, &mut session).await {
                    log_decision(&info, &rule.id, &session.subject, Some(&e));
                    break 'answer render(snapshot.fallback_reply(&rule.errors, &e, &info));
                }
                log_decision(&info, &rule.id, &session.subject, None);
                outcome.granted = true;
                let Some(upstream) = &rule.upstream else {
                    let e = PipelineError::internal(msg::NO_UPSTREAM);
                    break 'answer render(snapshot.fallback_reply(&rule.errors, &e, &info));
                };
                // The headers the pipeline saw are the ones forwarded (then cleaned by `forward`).
                parts.headers = std::mem::take(&mut info.headers);
                // Built now; boxed: its future is the largest part of this one.
                let forwarding = forward::forward(
                    &self.client,
                    self.response_timeout,
                    rule,
                    upstream,
                    &info,
                    &session,
                    Request::from_parts(parts, body),
                )
                .map(Box::pin);
                let forwarded = match forwarding {
                    Ok(sending) => sending.await,
                    Err(e) => Err(e),
                };
                let mut resp = match forwarded {
                    Ok(resp) => resp,
                    // The client broke off its own body: it is gone (SPEC §4.1: 499), and the
                    // upstream is not at fault.
                    Err(e) if body_read.as_ref().is_some_and(pool::BodyRead::broken) => {
                        tracing::debug!(rule_id = %rule.id, error = ?e, "client abandoned its request body");
                        outcome.abandoned = true;
                        forward::failure(e.status())
                    }
                    Err(e) => {
                        if let Some(suppressed) = crate::telemetry::warn_budget(&UPSTREAM_WARNINGS)
                        {
                            tracing::warn!(rule_id = %rule.id, upstream = %upstream.url, error = ?e, suppressed, "upstream request failed");
                        }
                        forward::failure(e.status())
                    }
                };
                // An intermediary answers in its own HTTP version (RFC 9110 §2.5): relayed as
                // `HTTP/1.0`, an HTTP/1.0 upstream's answer ended the client's keep-alive.
                // hyper writes 1.0 to a 1.0 client itself, and h2 has no version line.
                *resp.version_mut() = http::Version::HTTP_11;
                if body_read.is_some_and(|r| !r.done()) {
                    resp.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                resp
            };
            outcome.subject = std::mem::take(&mut session.subject);
            cors.apply(resp.headers_mut());
            match matched.observation.take() {
                Some(observation) => observation.finish(resp, &outcome),
                None => resp,
            }
        })
    }
}

/// A streamed request body that records when it has been read to its end.
struct Tracked {
    inner: Incoming,
    read: Arc<std::sync::atomic::AtomicU8>,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        let state = match &frame {
            std::task::Poll::Ready(None) => pool::BodyRead::READ,
            std::task::Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => {
                pool::BodyRead::READ
            }
            std::task::Poll::Ready(Some(Err(_))) => pool::BodyRead::BROKEN,
            _ => return frame,
        };
        this.read.store(state, std::sync::atomic::Ordering::Release);
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `Transfer-Encoding` is exactly one `chunked`.
fn only_chunked(headers: &http::HeaderMap) -> bool {
    let mut all = headers.get_all(http::header::TRANSFER_ENCODING).iter();
    matches!(
        (all.next(), all.next()),
        (Some(v), None) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked")
    )
}

/// Read a body up to `limit` bytes; larger -> 413, a broken stream -> 400. Shared with
/// `/decisions`, whose sub-request body is read the same way.
pub(crate) async fn buffer_body<B>(body: B, limit: u64) -> Result<bytes::Bytes, PipelineError>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(PipelineError::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large",
        )
        .with_reason(format!(
            "bodies read by this rule's handlers are limited to {limit} bytes"
        ))),
        Err(e) => Err(PipelineError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

/// The request as the pipeline sees it (SPEC §3.4): scheme from the listener (or a trusted
/// `X-Forwarded-Proto: http|https`), the checked host verbatim, the one normalized path. The request's
/// headers move into it (no copy); they go back to the request when it is forwarded.
fn request_info<B>(
    req: &mut Request<B>,
    peer: SocketAddr,
    tls: bool,
    trusted: bool,
) -> Result<RequestInfo, Box<(RequestInfo, PipelineError)>> {
    let mut headers = std::mem::take(req.headers_mut());
    headers::join_cookies(&mut headers);
    let mut scheme = Cow::Borrowed(if tls { "https" } else { "http" });
    if trusted {
        if let Some(p) = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            if p.eq_ignore_ascii_case("https") {
                scheme = Cow::Borrowed("https");
            } else if p.eq_ignore_ascii_case("http") {
                scheme = Cow::Borrowed("http");
            }
        }
    }
    let host = headers::request_host(req.version(), req.uri(), &headers).map(canonical_host);
    let original_uri = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut info = RequestInfo {
        method: pipeline::known(req.method().as_str()),
        url: RequestUrl {
            scheme,
            host: host.as_deref().unwrap_or("").to_string(),
            path: String::new(),
            raw_query: req.uri().query().unwrap_or("").to_string(),
        },
        headers,
        remote_addr: Some(peer.ip()),
        forwarded_trusted: trusted,
        original_uri,
        body: None,
    };
    if let Err(e) = host {
        return Err(Box::new((info, PipelineError::bad_request(e))));
    }
    match normalize_path(req.uri().path()) {
        Ok(p) => {
            info.url.path = p;
            Ok(info)
        }
        Err(e) => Err(Box::new((info, PipelineError::bad_request(e.to_string())))),
    }
}
