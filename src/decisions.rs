//! `/decisions` (SPEC §6.2): the second way into the pipeline. The gateway's auth sub-request is
//! turned back into the original request (method, scheme, host and path from
//! `X-Forwarded-Method/Proto/Host/Uri`), matched and decided; allowed -> 200 with the session
//! headers and an empty body, denied -> the error handler's answer.

use std::net::{IpAddr, SocketAddr};

use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderName, Request, Response};

use crate::app::Snapshot;
use crate::pipeline::errors::{handle, ErrorHandlerEntry};
use crate::pipeline::session::RequestUrl;
use crate::pipeline::{self, PipelineError, Reply, RequestInfo};
use crate::proxy::headers::HOP_BY_HOP;
use crate::rules::matcher::normalize_path;
use crate::server::Body;
use crate::telemetry::access::Outcome;

// Built at compile time: a `&str` name is parsed and validated on every lookup.
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// Decide one `/decisions` request; what was decided goes to `outcome`.
pub async fn decide<B>(
    snapshot: &Snapshot,
    mut req: Request<B>,
    peer: SocketAddr,
    tls: bool,
    outcome: &mut Outcome,
) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut info = match request_info(snapshot, &mut req, peer, tls) {
        Ok(i) => i,
        Err(failed) => {
            let (info, e) = *failed;
            return render(snapshot.fallback_reply(&[], &e, &info));
        }
    };
    let (rule, captures) = match snapshot.rules.find(&info) {
        Ok(found) => found,
        Err(e) => {
            log_decision(&info, None, "", &e);
            return render(snapshot.fallback_reply(&[], &e, &info));
        }
    };
    // A handler reads the body (`remote`): the sub-request's body stands for the original
    // one, bounded like the proxy's.
    if rule.needs_body {
        let limit = snapshot.config.serve.proxy.max_buffered_body;
        match crate::proxy::buffer_body(req.into_body(), limit).await {
            Ok(bytes) => info.body = Some(bytes),
            Err(e) => {
                log_decision(&info, Some(&rule.id), "", &e);
                return render(snapshot.fallback_reply(&rule.errors, &e, &info));
            }
        }
    }
    let mut session = info.new_session(captures);
    outcome.rule = Some(rule.clone());
    match pipeline::run(&rule, &info, &mut session).await {
        Ok(()) => {
            tracing::debug!(rule_id = %rule.id, subject = %session.subject, method = %info.method, url = %info.url, granted = true, "access request granted");
            let mut resp = Response::new(crate::server::empty());
            let headers = resp.headers_mut();
            for name in session.header.keys() {
                let n = name.as_str();
                if n == CONTENT_LENGTH.as_str() || n == HOST.as_str() || HOP_BY_HOP.contains(&n) {
                    // Never describe this connection or its framing in a decision answer.
                    continue;
                }
                // The noop mutator echoes client headers: never a variant spelling of a
                // header another handler of the rule sets (DESIGN §6).
                if crate::proxy::headers::is_spoof_variant(name, &rule.mutator_headers) {
                    continue;
                }
                if let Some(v) = session.header.get(name) {
                    headers.insert(name.clone(), v.clone());
                }
            }
            outcome.subject = session.subject;
            outcome.granted = true;
            resp
        }
        Err(e) => {
            log_decision(&info, Some(&rule.id), &session.subject, &e);
            outcome.subject = session.subject;
            render(snapshot.fallback_reply(&rule.errors, &e, &info))
        }
    }
}

fn log_decision(info: &RequestInfo, rule_id: Option<&str>, subject: &str, e: &PipelineError) {
    tracing::debug!(
        rule_id = rule_id.unwrap_or(""),
        subject,
        method = %info.method,
        url = %info.url,
        status = e.status.as_u16(),
        reason = e.reason.as_deref().unwrap_or(""),
        granted = false,
        "access request denied"
    );
}

impl Snapshot {
    /// Render an error with the rule's error handlers, then the global fallbacks (SPEC §4.7).
    pub fn fallback_reply(
        &self,
        rule_errors: &[ErrorHandlerEntry],
        e: &PipelineError,
        info: &RequestInfo,
    ) -> Reply {
        handle(rule_errors, &self.fallback, e, info)
    }

    /// Whether `peer` may set `X-Forwarded-*` on the API port (`serve.api.trusted_proxies`;
    /// empty list = everyone, as in Oathkeeper).
    pub fn api_peer_trusted(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.is_empty() || self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

/// Convert a pipeline reply into a response.
pub fn render(reply: Reply) -> Response<Body> {
    let mut resp = Response::new(crate::server::full(reply.body));
    *resp.status_mut() = reply.status;
    *resp.headers_mut() = reply.headers;
    resp
}

/// Rebuild the original request from the sub-request (SPEC §6.2).
fn request_info<B>(
    snapshot: &Snapshot,
    req: &mut Request<B>,
    peer: SocketAddr,
    tls: bool,
) -> Result<RequestInfo, Box<(RequestInfo, PipelineError)>> {
    let trusted = snapshot.api_peer_trusted(peer.ip());
    // Moved, not copied: the sub-request itself is answered, never forwarded.
    let mut headers = std::mem::take(req.headers_mut());
    if !trusted {
        strip_forwarded(&mut headers);
    }
    let fwd = |name: &HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let method = fwd(&X_FORWARDED_METHOD).unwrap_or_else(|| req.method().as_str().to_string());
    let scheme =
        fwd(&X_FORWARDED_PROTO).unwrap_or_else(|| if tls { "https" } else { "http" }.into());
    let host = fwd(&X_FORWARDED_HOST)
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let own_path = req.uri().path();
    let own_rest = own_path.strip_prefix("/decisions").unwrap_or(own_path);
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let (raw_path, original_uri) = match fwd(&X_FORWARDED_URI) {
        Some(uri) => (uri.split('?').next().unwrap_or("").to_string(), uri),
        None => {
            let mut o = own_rest.to_string();
            if !raw_query.is_empty() {
                o.push('?');
                o.push_str(&raw_query);
            }
            (own_rest.to_string(), o)
        }
    };
    let mut info = RequestInfo {
        method,
        url: RequestUrl {
            scheme,
            host,
            path: String::new(),
            raw_query,
        },
        headers,
        remote_addr: Some(peer.ip()),
        forwarded_trusted: trusted,
        original_uri,
        body: None,
    };
    match normalize_path(&raw_path) {
        Ok(p) => {
            info.url.path = p;
            Ok(info)
        }
        Err(e) => Err(Box::new((info, PipelineError::bad_request(e.to_string())))),
    }
}

/// Remove every `X-Forwarded-*` and `Forwarded` header (untrusted peer).
pub fn strip_forwarded(headers: &mut HeaderMap) {
    let names: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("x-forwarded") || n.as_str() == "forwarded")
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}
