//! `/decisions` (SPEC §6.2): the second way into the pipeline. The gateway's auth sub-request is
//! turned back into the original request (method, scheme, host and path from
//! `X-Forwarded-Method/Proto/Host/Uri`), matched and decided; allowed -> 200 with the session
//! headers and an empty body, denied -> the error handler's answer.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName, Request, Response};
use hyper::body::Incoming;

use crate::app::{Current, Snapshot};
use crate::cors::Actual;
use crate::pipeline::errors::{handle, ErrorHandlerEntry};
use crate::pipeline::session::RequestUrl;
use crate::pipeline::{self, PipelineError, Reply, RequestInfo};
use crate::rules::matcher::{ambiguous_path, canonical_host, normalize_path};
use crate::server::{Body, BoxFuture};
use crate::telemetry::access::{log_decision, Matched, Observation, Outcome};

// Built at compile time: a `&str` name is parsed and validated on every lookup.
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// Decide one `/decisions` request. The synchronous part (the original request rebuilt, its
/// rule, a fresh session) runs now; the returned future runs the pipeline, applies `cors` and
/// records the answer with `observation`. One flat block, as the proxy's (see `Proxy::call`).
pub fn decide(
    snapshot: Current,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
    observation: Observation,
    cors: Actual,
) -> BoxFuture {
    let mut info = match request_info(&snapshot, &mut req, peer, tls) {
        Ok(i) => i,
        Err(failed) => {
            let (info, e) = *failed;
            let resp = render(snapshot.fallback_reply(&[], &e, &info));
            return answered(resp, observation, cors);
        }
    };
    let (index, captures) = match snapshot.rules.find(&info) {
        Ok(found) => found,
        Err(e) => {
            log_decision(&info, "", "", Some(&e));
            let resp = render(snapshot.fallback_reply(&[], &e, &info));
            return answered(resp, observation, cors);
        }
    };
    let mut session = info.new_session(captures);
    let body = req.into_body();
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
            // A handler reads the body (`remote`): the sub-request's body stands for the
            // original one, bounded like the proxy's.
            if rule.needs_body {
                let limit = snapshot.config.serve.proxy.max_buffered_body;
                match crate::proxy::buffer_body(body, limit).await {
                    Ok(bytes) => info.body = Some(bytes),
                    Err(e) => {
                        log_decision(&info, &rule.id, "", Some(&e));
                        break 'answer render(snapshot.fallback_reply(&rule.errors, &e, &info));
                    }
                }
            }
            outcome.rule = Some(rule);
            match pipeline::run(rule, &info, &mut session).await {
                Ok(()) => {
                    log_decision(&info, &rule.id, &session.subject, None);
                    let protected = crate::proxy::headers::protected(
                        &rule.mutator_headers,
                        &session.set_headers,
                    );
                    let headers = answer_headers(std::mem::take(&mut session.header), &protected);
                    let mut resp = Response::new(crate::server::empty());
                    *resp.headers_mut() = headers;
                    outcome.granted = true;
                    resp
                }
                Err(e) => {
                    log_decision(&info, &rule.id, &session.subject, Some(&e));
                    render(snapshot.fallback_reply(&rule.errors, &e, &info))
                }
            }
        };
        outcome.subject = std::mem::take(&mut session.subject);
        cors.apply(resp.headers_mut());
        match matched.observation.take() {
            Some(observation) => observation.finish(resp, &outcome),
            None => resp,
        }
    })
}

/// A request refused before its pipeline ran (bad path, no rule, several rules): `cors`
/// applied, recorded now, handed over as a ready future. Shared with the proxy.
pub(crate) fn answered(
    mut resp: Response<Body>,
    observation: Observation,
    cors: Actual,
) -> BoxFuture {
    cors.apply(resp.headers_mut());
    crate::server::ready(observation.finish(resp, &Outcome::default()))
}

/// A granted decision's headers: the session's (SPEC §6.2), one value per name (the first:
/// Oathkeeper sets `Header.Get(k)`), less what describes this connection or its framing, and
/// less variant spellings of a header a handler of the rule sets (the noop mutator echoes client
/// headers; DESIGN §6).
pub(crate) fn answer_headers(mut headers: HeaderMap, mutator_headers: &[HeaderName]) -> HeaderMap {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            !crate::proxy::headers::settable(name)
                || crate::proxy::headers::is_spoof_variant(name, mutator_headers)
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
    // `len` counts values: equal to the name count unless some name has more than one.
    if headers.len() != headers.keys_len() {
        let mut firsts = HeaderMap::with_capacity(headers.keys_len());
        for name in headers.keys() {
            if let Some(v) = headers.get(name) {
                firsts.insert(name.clone(), v.clone());
            }
        }
        headers = firsts;
    }
    headers
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
    crate::proxy::headers::join_cookies(&mut headers);
    if !trusted {
        strip_forwarded(&mut headers);
    }
    // One pass over the headers for the four this needs (a lookup by name hashes it).
    let (mut x_method, mut x_proto, mut x_host, mut x_uri) = (None, None, None, None);
    for (name, value) in &headers {
        let slot = if !name.as_str().starts_with("x-forwarded-") {
            continue;
        } else if *name == X_FORWARDED_METHOD {
            &mut x_method
        } else if *name == X_FORWARDED_PROTO {
            &mut x_proto
        } else if *name == X_FORWARDED_HOST {
            &mut x_host
        } else if *name == X_FORWARDED_URI {
            &mut x_uri
        } else {
            continue;
        };
        // The first value, as `HeaderMap::get` gives it. Go reads a header as bytes, so a
        // value with UTF-8 beyond ASCII (`/admin/ü`) is used as it is; one that is not UTF-8
        // fails the request below. Neither may be taken as absent: the sub-request's own path
        // or method would then be decided in its place.
        if slot.is_none() {
            *slot = Some(std::str::from_utf8(value.as_bytes()).ok());
        }
    }
    let malformed = [
        (x_method, "X-Forwarded-Method"),
        (x_proto, "X-Forwarded-Proto"),
        (x_uri, "X-Forwarded-Uri"),
    ]
    .into_iter()
    .find_map(|(v, name)| matches!(v, Some(None)).then_some(name));
    // An empty header counts as absent (Go's `OrDefaultString`).
    let (x_method, x_proto, x_uri) = (given(x_method), given(x_proto), given(x_uri));
    let method = pipeline::known(x_method.unwrap_or(req.method().as_str()));
    let scheme = pipeline::known(x_proto.unwrap_or(if tls { "https" } else { "http" }));
    // The sub-request's own host is checked as any request's is; `X-Forwarded-Host`, when set,
    // names the original request's and must be a host too (matched in its canonical form).
    let own_host = crate::proxy::headers::request_host(req.version(), req.uri(), &headers);
    let host = own_host
        .and_then(|own| match x_host {
            None | Some(Some("")) => Ok(own),
            Some(Some(h)) if crate::proxy::headers::valid_host(h) => Ok(h),
            Some(_) => Err("malformed X-Forwarded-Host header"),
        })
        .map(canonical_host);
    let own_path = req.uri().path();
    let own_rest = own_path.strip_prefix("/decisions").unwrap_or(own_path);
    let raw_query = req.uri().query().unwrap_or("");
    let (raw_path, original_uri) = match x_uri {
        // `?a=1`: no path, the sub-request's own is used (`OrDefaultString` again).
        Some(uri) if uri.starts_with('?') => (own_rest, format!("{own_rest}{uri}")),
        Some(uri) => (uri.split('?').next().unwrap_or(""), uri.to_string()),
        None if raw_query.is_empty() => (own_rest, own_rest.to_string()),
        None => (own_rest, format!("{own_rest}?{raw_query}")),
    };
    // The gateway forwards the path as it was sent: one a service may resolve otherwise than
    // it is matched (dot or empty segments) is refused, not decided cleaned (DESIGN §6).
    let path = if ambiguous_path(raw_path) {
        Err(AMBIGUOUS_PATH.to_string())
    } else {
        normalize_path(raw_path).map_err(|e| e.to_string())
    };
    let mut info = RequestInfo {
        method,
        url: RequestUrl {
            scheme,
            host: host.as_deref().unwrap_or("").to_string(),
            path: String::new(),
            raw_query: raw_query.to_string(),
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
    if let Some(name) = malformed {
        let e = PipelineError::bad_request(format!("malformed {name} header: not UTF-8"));
        return Err(Box::new((info, e)));
    }
    match path {
        Ok(p) => {
            info.url.path = p;
            Ok(info)
        }
        Err(e) => Err(Box::new((info, PipelineError::bad_request(e)))),
    }
}

/// Why `/decisions` refuses a path with dot or empty segments.
pub(crate) const AMBIGUOUS_PATH: &str = "the path has dot (`.`, `..`) or empty (`//`) segments, which the service behind the gateway may resolve otherwise than they would be matched";

/// A forwarded header's first value, if it is one (`Some(None)`: not UTF-8, refused before this
/// is used) and not empty: Go's `OrDefaultString` treats an empty header as absent.
fn given(h: Option<Option<&str>>) -> Option<&str> {
    h.flatten().filter(|v| !v.is_empty())
}

/// Remove every `X-Forwarded-*` and `Forwarded` header (untrusted peer), in any spelling an
/// upstream may read as one (`X_Forwarded_For`, `x.forwarded.host`: CGI, PHP and nginx with
/// `underscores_in_headers` map them to the same variable).
pub fn strip_forwarded(headers: &mut HeaderMap) {
    let forwarded = |n: &str| {
        let b = n.as_bytes();
        b.len() >= 11
            && b[..11]
                .iter()
                .zip(b"x-forwarded")
                .all(|(&c, &w)| c == w || (w == b'-' && (c == b'_' || c == b'.')))
    };
    let names: Vec<_> = headers
        .keys()
        .filter(|n| forwarded(n.as_str()) || n.as_str() == "forwarded")
        .cloned()
        .collect();
    for n in names {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // SPEC §6.2: the answer carries the session headers, the first value of each, never framing,
    // connection or Host headers, nor a variant spelling of a mutator's header.
    #[test]
    fn answer_headers_keep_first_values_and_drop_framing() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-user", "alice"),
            ("x-group", "a"),
            ("x-group", "b"),
            ("content-length", "12"),
            ("host", "example.com"),
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("x_user", "mallory"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = answer_headers(h, &[HeaderName::from_static("x-user")]);
        let mut got: Vec<_> = out
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("?")))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [("x-group", "a"), ("x-user", "alice")]);

        let mut single = HeaderMap::new();
        single.insert("x-user", HeaderValue::from_static("alice"));
        assert_eq!(answer_headers(single.clone(), &[]), single);
    }

    // SPEC §6.1 (untrusted peer: every X-Forwarded-* removed), in every spelling.
    #[test]
    fn strip_forwarded_takes_every_spelling() {
        let mut h = HeaderMap::new();
        for k in [
            "x-forwarded-for",
            "x_forwarded_for",
            "x.forwarded.host",
            "x_forwarded-proto",
            "forwarded",
            "x-forwardedness",
            "x-user",
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static("v"));
        }
        strip_forwarded(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-user"]);
    }
}
