//! Building and sending the upstream request (SPEC §4.6) and relaying the answer.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::client::Upstream as UpstreamClient;
use super::headers::{
    connection_named, is_spoof_variant, is_upgrade, protected, settable, strip_hop_by_hop,
    strip_response_hop_by_hop, strip_spoofed, wants_trailers,
};
use crate::pipeline::session::Session;
use crate::pipeline::RequestInfo;
use crate::rules::compile::Upstream;
use crate::rules::matcher::{clean_path, encode_path};
use crate::rules::Rule;
use crate::server::{self, Body};

/// Why forwarding failed; decides 502 / 504 (SPEC §4.1 step 7, empty bodies).
#[derive(Debug)]
pub enum ForwardError {
    Timeout,
    Failed(String),
}

impl ForwardError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Failed(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The upstream path: POSIX join of the upstream URL's path and the normalized request path,
/// cleaned, then `strip_path` removed once (SPEC §4.6). The removal only happens at a segment
/// boundary (`/api` is stripped from `/api/x`, never from `/apiary/x`).
pub fn upstream_path<'a>(upstream: &Upstream, request_path: &'a str) -> Cow<'a, str> {
    // Decoded as the request path is (Go's `url.Parse` of the upstream URL): the joined path is
    // encoded once, so `/ba%20se` goes as `/ba%20se`, not `/ba%2520se`.
    let base = percent_encoding::percent_decode_str(upstream.url.path()).decode_utf8_lossy();
    let base = base.as_ref();
    // The request path is already normalized (clean, rooted): joined to a root upstream path it
    // stays as it is, the common case, without a second cleaning pass or a copy.
    let joined = if (base.is_empty() || base == "/") && request_path.starts_with('/') {
        Cow::Borrowed(request_path)
    } else {
        Cow::Owned(clean_path(&format!("{base}/{request_path}")))
    };
    let Some(strip) = &upstream.strip_path else {
        return joined;
    };
    let mut from = 0;
    while let Some(i) = joined[from..].find(strip.as_str()) {
        let at = from + i;
        let end = at + strip.len();
        if end == joined.len() || joined.as_bytes()[end] == b'/' || strip == "/" {
            let rest = format!("{}{}", &joined[..at], &joined[end..]);
            return Cow::Owned(if rest.is_empty() {
                "/".to_string()
            } else {
                rest
            });
        }
        from = at + 1;
    }
    joined
}

/// The upstream request target: origin-form (`/path?query`) for the pooled plain-http client,
/// absolute-form for hyper-util's client, which takes the connection's address from it.
fn upstream_uri(
    upstream: &Upstream,
    authority: &str,
    info: &RequestInfo,
    absolute: bool,
) -> Result<Uri, ForwardError> {
    let invalid =
        |e: &dyn std::fmt::Display| ForwardError::Failed(format!("invalid upstream URI: {e}"));
    let path = upstream_path(upstream, &info.url.path);
    let path = encode_path(&path);
    if !absolute && info.url.raw_query.is_empty() {
        // The common case: the path is the whole target, parsed where it lies (no string built
        // around it).
        return http::uri::PathAndQuery::try_from(&*path)
            .map(Uri::from)
            .map_err(|e| invalid(&e));
    }
    let scheme = upstream.url.scheme();
    let mut s = String::with_capacity(
        scheme.len() + 3 + authority.len() + path.len() + 1 + info.url.raw_query.len(),
    );
    if absolute {
        s.push_str(scheme);
        s.push_str("://");
        s.push_str(authority);
    }
    s.push_str(&path);
    if !info.url.raw_query.is_empty() {
        s.push('?');
        s.push_str(&info.url.raw_query);
    }
    Uri::try_from(s).map_err(|e| invalid(&e))
}

/// `host[:port]` of an upstream URL (default ports omitted, as clients send them): a slice of
/// the URL parsed at rule load, no per-request formatting.
pub(super) fn authority(url: &url::Url) -> &str {
    &url[url::Position::BeforeHost..url::Position::AfterPort]
}

/// Forward `req` (already decided) to the rule's upstream and relay the answer. The upstream
/// request is built here, synchronously (an invalid target fails at once); the returned future
/// only sends it and waits. It owns nothing but that request: the headers and parts it was
/// built from would otherwise stay in it for the whole exchange.
pub fn forward<'a>(
    client: &'a UpstreamClient,
    response_timeout: Duration,
    rule: &Rule,
    upstream: &'a Upstream,
    info: &RequestInfo,
    session: &Session,
    mut req: Request<Body>,
) -> Result<impl Future<Output = Result<Response<Body>, ForwardError>> + Send + 'a, ForwardError> {
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    // What the client named in `Connection` is hop-by-hop for this request: the noop mutator's
    // copy of it in the session must not bring it back (a handler's own header still goes).
    let client_hop_by_hop = if headers.contains_key(http::header::CONNECTION) {
        connection_named(&headers)
    } else {
        Vec::new()
    };
    let te_trailers = headers.contains_key(http::header::TE) && wants_trailers(&headers);
    strip_hop_by_hop(&mut headers, upgrade);
    if te_trailers {
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    let protected = protected(&rule.mutator_headers, &session.set_headers);
    strip_spoofed(&mut headers, &protected);
    for name in session.header.keys() {
        // The noop mutator copies client headers into the session: never let it bring back a
        // variant spelling of a header another handler of the rule sets.
        if !settable(name)
            || is_spoof_variant(name, &protected)
            || (client_hop_by_hop.contains(name) && !protected.contains(name))
        {
            continue;
        }
        if let Some(v) = session.header.get(name) {
            headers.insert(name.clone(), v.clone());
        }
    }
    // Plain-http upstreams go through the in-task pool (origin-form target); TLS upstreams and
    // protocol upgrades through hyper-util's clients (absolute form): upgrades and
    // `preserve_host` rules through the HTTP/1.1-only one (h2 has no `Upgrade`, and its
    // `:authority` is the address connected to), the rest through the one that negotiates h2.
    let pooled = !upgrade && upstream.url.scheme() == "http";
    let http1_only = upgrade || upstream.preserve_host;
    // SPEC §4.6: the upstream's host, or the client's when `preserve_host` (also when the
    // client spoke h2 and sent `:authority` rather than `Host`). To an upstream that may speak
    // h2 no `Host` is written: h2 carries it as `:authority` (from the target), and nginx
    // refuses a request with both; hyper-util adds `Host` itself when the connection is h1.
    let authority = authority(&upstream.url);
    if pooled || http1_only {
        let host = if upstream.preserve_host {
            &info.url.host
        } else {
            authority
        };
        headers.insert(
            HOST,
            HeaderValue::from_str(host).map_err(|e| ForwardError::Failed(e.to_string()))?,
        );
    } else {
        headers.remove(HOST);
    }
    let mut out = Request::new(body);
    if let Some(read) = parts.extensions.get::<super::pool::BodyRead>() {
        out.extensions_mut().insert(read.clone());
    }
    *out.method_mut() = parts.method;
    *out.headers_mut() = headers;
    // HTTP/1.1 upstream regardless of the client's version; the pool negotiates h2 over TLS.
    *out.version_mut() = http::Version::HTTP_11;
    *out.uri_mut() = upstream_uri(upstream, authority, info, !pooled)?;
    Ok(async move {
        if pooled {
            let mut resp = match server::within(
                response_timeout,
                client.pool.send(&upstream.url, out),
            )
            .await
            {
                None => return Err(ForwardError::Timeout),
                Some(Err(e)) => return Err(ForwardError::Failed(error_chain(&*e))),
                Some(Ok(r)) => r,
            };
            let status = resp.status();
            strip_response_hop_by_hop(status, resp.headers_mut());
            return Ok(resp);
        }
        let spawned = if http1_only {
            &client.http1
        } else {
            &client.spawned
        };
        match server::within(response_timeout, spawned.request(out)).await {
            None => Err(ForwardError::Timeout),
            Some(Err(e)) => Err(ForwardError::Failed(error_chain(&e))),
            Some(Ok(resp)) => Ok(relay_spawned(resp, client_upgrade)),
        }
    })
}

/// The answer of hyper-util's client: a `101` joins both upgraded connections (a task copies
/// between them), anything else is relayed with its hop-by-hop headers removed.
fn relay_spawned(
    mut resp: Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<Body> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                match tokio::try_join!(client_upgrade, upstream_upgrade) {
                    Ok((c, u)) => {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(c),
                            &mut TokioIo::new(u),
                        )
                        .await;
                    }
                    Err(e) => tracing::debug!(error = %e, "upgrade failed"),
                }
            });
        }
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, server::empty());
    }
    let (mut parts, body) = resp.into_parts();
    strip_response_hop_by_hop(parts.status, &mut parts.headers);
    Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
}

/// An empty-bodied error answer for a failed forward.
pub fn failure(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(server::full(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(url: &str, strip: Option<&str>) -> Upstream {
        Upstream {
            url: url::Url::parse(url).expect("url"),
            preserve_host: false,
            strip_path: strip.map(|s| format!("/{}", s.trim_matches('/'))),
        }
    }

    // SPEC §4.6: the request line sent upstream is the normalized path re-encoded, the raw
    // query after it; origin form (parsed from the path alone when there is no query) and
    // absolute form agree.
    #[test]
    fn upstream_request_lines() {
        let info = |path: &str, query: &str| {
            let mut i = RequestInfo::default();
            i.url.path = path.into();
            i.url.raw_query = query.into();
            i
        };
        for (base, strip, path, query, want) in [
            ("http://u:1", None, "/a/b", "", "/a/b"),
            ("http://u:1/", None, "/a b/é", "", "/a%20b/%C3%A9"),
            ("http://u:1", None, "/100%/q?x#y", "", "/100%25/q%3Fx%23y"),
            ("http://u:1", None, "/a", "k=v&x", "/a?k=v&x"),
            ("http://u:1/base", None, "/a", "", "/base/a"),
            ("http://u:1/", Some("api"), "/api/a", "q=1", "/a?q=1"),
            ("http://u:1", None, "/", "", "/"),
            // The upstream URL's path is decoded before it is joined: encoded once, not twice.
            ("http://u:1/ba%20se", None, "/eb/x", "", "/ba%20se/eb/x"),
            (
                "http://u:1/svc%7Ename/",
                Some("v1"),
                "/v1/x",
                "",
                "/svc~name/x",
            ),
        ] {
            let u = up(base, strip);
            let got =
                upstream_uri(&u, authority(&u.url), &info(path, query), false).expect("valid");
            assert_eq!(got.to_string(), want, "{base} {path}");
            let abs = upstream_uri(&u, authority(&u.url), &info(path, query), true).expect("valid");
            assert_eq!(
                abs.to_string(),
                format!("http://u:1{want}"),
                "{base} {path}"
            );
        }
    }

    #[test]
    fn authorities() {
        for (url, want) in [
            ("http://localhost:4000/x", "localhost:4000"),
            ("http://user:pw@Example.COM:80/", "example.com"),
            ("https://[::1]:8443", "[::1]:8443"),
            ("https://10.0.0.1", "10.0.0.1"),
        ] {
            assert_eq!(authority(&up(url, None).url), want, "{url}");
        }
    }

    // SPEC §4.6 examples (proxy/proxy_test.go).
    #[test]
    fn paths() {
        for strip in ["/api/", "api/", "/api", "api"] {
            assert_eq!(
                upstream_path(
                    &up("http://localhost:4000/", Some(strip)),
                    "/api/users/1234"
                ),
                "/users/1234"
            );
        }
        assert_eq!(
            upstream_path(
                &up("http://localhost:4000/foo/", Some("api")),
                "/api/users/1234"
            ),
            "/foo/users/1234"
        );
        assert_eq!(
            upstream_path(&up("http://localhost:4000", None), "/users/1234"),
            "/users/1234"
        );
        assert_eq!(upstream_path(&up("http://localhost:4000/", None), ""), "/");
        assert_eq!(
            upstream_path(&up("http://localhost:4000/base", None), "/a/12"),
            "/base/a/12"
        );
        // Segment boundary: /apiary is not /api.
        assert_eq!(
            upstream_path(&up("http://localhost:4000/", Some("api")), "/apiary/api/x"),
            "/apiary/x"
        );
        assert_eq!(
            upstream_path(&up("http://localhost:4000/", Some("api")), "/api"),
            "/"
        );
    }
}
