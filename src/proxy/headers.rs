//! Header hygiene for forwarded requests (SPEC §4.6, §6.1; DESIGN §6): hop-by-hop removal,
//! forwarded-header policy, and removal of client-sent copies of mutator headers.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection and never cross a proxy (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including every header named in `Connection`. When `upgrade` is
/// set (a WebSocket or other `Upgrade` request that passed the pipeline), `Upgrade` is kept and
/// `Connection: upgrade` restored.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // One pass over the names first: most requests and responses carry none of these, and a
    // removal by name that is absent still parses and hashes the name.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(&k.as_str())) {
        return;
    }
    let upgrade_value = if upgrade {
        headers.get(UPGRADE).cloned()
    } else {
        None
    };
    let mut doomed = connection_named(headers);
    doomed.extend(
        headers
            .keys()
            .filter(|k| HOP_BY_HOP.contains(&k.as_str()))
            .cloned(),
    );
    for n in doomed {
        headers.remove(n);
    }
    if let Some(v) = upgrade_value {
        headers.insert(UPGRADE, v);
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// An upstream answer's hop-by-hop headers removed. With `Transfer-Encoding` the length is
/// unknown to the client (the coding is undone here), so a `Content-Length` sent beside it
/// (an ambiguous answer, RFC 9112 §6.3) goes too, as Go's client drops it. A `204` (or `1xx`) carries no body, so no `Content-Length` either (RFC 9110 §8.6): relayed
/// from an upstream that sends one anyway, h2 clients reset the stream (Go drops it too).
pub fn strip_response_hop_by_hop(status: http::StatusCode, headers: &mut HeaderMap) {
    if headers.contains_key(http::header::TRANSFER_ENCODING)
        || status == http::StatusCode::NO_CONTENT
        || status.is_informational()
    {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    strip_hop_by_hop(headers, false);
}

/// Whether the client's `TE` accepts trailers (`te: trailers`, which gRPC servers require, is
/// sent on upstream although `TE` is hop-by-hop, as Go's reverse proxy does).
pub fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("trailers")
        })
}

/// Several `Cookie` fields (h2 clients send one per cookie) joined with `"; "` into one when the
/// request arrives, as Go's h2 server does: RFC 9113 §8.2.3 requires it before they go to an
/// HTTP/1.1 server (many read only the first), and the handlers and the noop mutator's copy of
/// the request headers then see every cookie.
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    let (Some(_), Some(_)) = (values.next(), values.next()) else {
        return;
    };
    let mut joined = Vec::new();
    for v in headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, v);
    }
}

/// Whether a request asks for a protocol upgrade (WebSocket, h2c...).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// SPEC §6.1: untrusted -> every `X-Forwarded-*` and `Forwarded` removed; trusted -> only
/// `Forwarded` removed.
pub fn apply_forwarded_policy(headers: &mut HeaderMap, trusted: bool) {
    if trusted {
        headers.remove("forwarded");
    } else {
        crate::decisions::strip_forwarded(headers);
    }
}

/// Whether `host` may stand as a request's host: the bytes Go's `httpguts.ValidHostHeader`
/// allows (letters, digits, `!$%&'()*+,-.:;=[]_~`). It is concatenated with the path into the URL
/// rules match, so a `/`, `?`, `#`, `@` or space in it would move the match elsewhere (a `Host:
/// api.example.com/public/x` on `/admin` must not match the `/public/<**>` rule).
pub fn valid_host(host: &str) -> bool {
    host.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'-'
                    | b'.'
                    | b':'
                    | b';'
                    | b'='
                    | b'['
                    | b']'
                    | b'_'
                    | b'~'
            )
    })
}

/// The host a request is for, checked as Go's server checks it before any handler runs (SPEC
/// §3.4: the host is matched verbatim, so it must be one): the request target's authority when
/// it has one (absolute form, or h2 `:authority`; RFC 9112 §3.2.2 says it wins over `Host`),
/// else the one `Host` header. HTTP/1.1 without `Host`, two `Host` headers, or a host with a byte
/// no host has are refused (400) with Go's words.
pub fn request_host<'a>(
    version: http::Version,
    uri: &'a http::Uri,
    headers: &'a HeaderMap,
) -> Result<&'a str, &'static str> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err("too many Host headers");
    }
    let header = match header {
        None => None,
        Some(v) => match v.to_str() {
            Ok(h) if valid_host(h) => Some(h),
            _ => return Err("malformed Host header"),
        },
    };
    if let Some(authority) = uri.authority() {
        let a = authority.as_str();
        return if valid_host(a) {
            Ok(a)
        } else {
            Err("malformed Host header")
        };
    }
    match header {
        Some(h) => Ok(h),
        None if version == http::Version::HTTP_11 => Err("missing required Host header"),
        None => Ok(""),
    }
}

/// Whether a session header (set by a mutator or a hydrator, or echoed by `noop`) may be written
/// onto the upstream request: never one that describes the connection or the message framing
/// (a `Content-Length` of a handler's choosing would cut or pad the body the upstream reads, and
/// desynchronise a pooled connection), nor `Host` (the upstream's, or the client's with
/// `preserve_host`).
pub fn settable(name: &HeaderName) -> bool {
    let n = name.as_str();
    !(n == "content-length" || n == "host" || HOP_BY_HOP.contains(&n))
}

/// The header names this rule's handlers set on this request: the rule's own
/// ([`crate::rules::Rule::mutator_headers`]) and those a handler chose at run time
/// ([`crate::pipeline::session::Session::set_headers`]).
pub fn protected<'a>(
    rule: &'a [HeaderName],
    session: &[HeaderName],
) -> std::borrow::Cow<'a, [HeaderName]> {
    if session.is_empty() {
        return std::borrow::Cow::Borrowed(rule);
    }
    let mut all = rule.to_vec();
    all.extend(session.iter().filter(|n| !rule.contains(n)).cloned());
    std::borrow::Cow::Owned(all)
}

/// The headers named in `Connection` (they are hop-by-hop for this one request).
pub fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// `X_User`, `x.user`, `X-USER` all normalise to `x-user`: some upstream frameworks (CGI, PHP,
/// nginx with underscores_in_headers) treat them as the same header.
fn normalise(b: u8) -> u8 {
    if b == b'_' || b == b'.' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// Whether two header names normalise to the same name (no allocation: this runs for every
/// header of every request).
fn same_normalised(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| normalise(x) == normalise(y))
}

/// Whether `name` is a variant spelling (`X_User`, `x.user`) of one of `names` without being
/// one of them exactly.
pub fn is_spoof_variant(name: &HeaderName, names: &[HeaderName]) -> bool {
    if names.contains(name) {
        return false;
    }
    names
        .iter()
        .any(|m| same_normalised(m.as_str(), name.as_str()))
}

/// Remove every client header that could be read as one of `names` (DESIGN §6).
pub fn strip_spoofed(headers: &mut HeaderMap, names: &[HeaderName]) {
    if names.is_empty() {
        return;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            names
                .iter()
                .any(|n| same_normalised(n.as_str(), k.as_str()))
        })
        .cloned()
        .collect();
    for k in doomed {
        headers.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    // SPEC §4.6: headers named in Connection are removed before mutators run.
    #[test]
    fn connection_named_headers_go() {
        let mut h = map(&[
            ("connection", "X-User, keep-alive"),
            ("x-user", "admin"),
            ("te", "trailers"),
            ("x-keep", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(
            h.get("x-user").is_none() && h.get("te").is_none() && h.get("connection").is_none()
        );
        assert_eq!(h.get("x-keep").map(|v| v.as_bytes()), Some(&b"1"[..]));
    }

    // DESIGN §6: case, underscore and dot variants of a mutator header are removed.
    #[test]
    fn spoof_variants_go() {
        let mut h = map(&[
            ("x-user", "a"),
            ("x_user", "b"),
            ("x.user", "c"),
            ("x-username", "keep"),
        ]);
        strip_spoofed(&mut h, &[HeaderName::from_static("x-user")]);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-username"));
    }

    // SPEC §3.4 (host matched verbatim) and Go's server checks: a host that is not one is refused
    // before matching, whatever the rules.
    #[test]
    fn request_host_is_one_host() {
        use http::Version;
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        let with = |hosts: &[&str]| {
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(http::header::HOST, HeaderValue::from_str(v).expect("value"));
            }
            h
        };
        let origin = uri("/admin/secret");
        let ok = |v, u: &http::Uri, h: &[&str]| request_host(v, u, &with(h)).map(str::to_string);
        assert_eq!(
            ok(Version::HTTP_11, &origin, &["api.example.com:8080"]),
            Ok("api.example.com:8080".into())
        );
        assert_eq!(
            ok(Version::HTTP_11, &origin, &["[::1]:80"]),
            Ok("[::1]:80".into())
        );
        for bad in [
            "api.example.com/public/x",
            "api.example.com?x",
            "api.example.com#x",
            "user@api.example.com",
            "a b",
            "api.example.com\\x",
        ] {
            assert_eq!(
                ok(Version::HTTP_11, &origin, &[bad]),
                Err("malformed Host header"),
                "{bad}"
            );
        }
        assert_eq!(
            ok(Version::HTTP_11, &origin, &["a", "b"]),
            Err("too many Host headers")
        );
        assert_eq!(
            ok(Version::HTTP_11, &origin, &[]),
            Err("missing required Host header")
        );
        assert_eq!(ok(Version::HTTP_10, &origin, &[]), Ok(String::new()));
        // The target's authority wins over `Host` (absolute form; h2 `:authority`).
        let absolute = uri("http://real.example.com/admin");
        assert_eq!(
            ok(Version::HTTP_11, &absolute, &["other"]),
            Ok("real.example.com".into())
        );
        assert_eq!(
            ok(Version::HTTP_2, &absolute, &[]),
            Ok("real.example.com".into())
        );
        assert_eq!(
            ok(Version::HTTP_11, &uri("http://u@real.example.com/"), &["x"]),
            Err("malformed Host header")
        );
    }

    // RFC 9110 §8.6 (SPEC §4.6 response relay): no `Content-Length` on a 204, nor beside
    // `Transfer-Encoding`; other answers keep theirs.
    #[test]
    fn response_lengths() {
        use http::StatusCode;
        let strip = |status: StatusCode, pairs: &[(&str, &str)]| {
            let mut h = map(pairs);
            strip_response_hop_by_hop(status, &mut h);
            h.contains_key("content-length")
        };
        assert!(!strip(StatusCode::NO_CONTENT, &[("content-length", "5")]));
        assert!(!strip(
            StatusCode::OK,
            &[("content-length", "5"), ("transfer-encoding", "chunked")]
        ));
        assert!(strip(StatusCode::OK, &[("content-length", "5")]));
        assert!(strip(StatusCode::NOT_MODIFIED, &[("content-length", "5")]));
    }

    #[test]
    fn upgrade_kept_when_asked() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(
            h.get("upgrade").map(|v| v.as_bytes()),
            Some(&b"websocket"[..])
        );
        assert_eq!(
            h.get("connection").map(|v| v.as_bytes()),
            Some(&b"upgrade"[..])
        );
    }
}
