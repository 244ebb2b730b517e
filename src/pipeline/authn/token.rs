//! Token extraction shared by `bearer_token`, `jwt` and `oauth2_introspection` (SPEC §5.1
//! `token_from`).

use std::borrow::Cow;

use http::HeaderMap;

use crate::config::handlers::TokenFrom;
use crate::pipeline::RequestInfo;

/// The token a request carries at `from`, if any (empty values count as none); borrowed from the
/// request except for a query parameter (decoded as Go's `url.ParseQuery` does).
///
/// - absent, or `header: Authorization` (exact spelling): `Authorization: Bearer <token>`, the
///   scheme compared case-insensitively;
/// - `header: <Name>`: the raw header value;
/// - `query_parameter: <name>`: the first value of that query parameter;
/// - `cookie: <name>`: that cookie's value.
pub fn extract<'r>(req: &'r RequestInfo, from: Option<&TokenFrom>) -> Option<Cow<'r, str>> {
    let token = match from {
        None => bearer(&req.headers).map(Cow::Borrowed),
        Some(TokenFrom::Header(name)) if name == "Authorization" => {
            bearer(&req.headers).map(Cow::Borrowed)
        }
        Some(TokenFrom::Header(name)) => req
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(Cow::Borrowed),
        Some(TokenFrom::QueryParameter(name)) => {
            crate::pipeline::session::parse_query(&req.url.raw_query)
                .find(|(k, _)| k == name.as_str())
                .map(|(_, v)| Cow::Owned(v))
        }
        Some(TokenFrom::Cookie(name)) => cookie(&req.headers, name).map(Cow::Borrowed),
    };
    token.filter(|t| !t.is_empty())
}

/// `Authorization: Bearer <token>`: split at the first space, scheme `bearer` in any case. A
/// value that is not visible ASCII carries no token.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest)
}

/// One cookie of a request as Go's `Request.Cookies` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookie<'h> {
    pub name: &'h str,
    /// Without the double quotes of a quoted value.
    pub value: &'h str,
    /// The value was double-quoted (`a="b"`).
    pub quoted: bool,
}

/// Every cookie across all `Cookie` fields, in order, as Go's `readCookies` parses them (SPEC
/// §5.1: responsibility and `token_from.cookie` are decided on what Go reads): `;`-separated
/// parts, each trimmed; a part without `=` is a cookie with an empty value; a name that is not
/// an HTTP token, or a value with a byte outside `0x20..0x7e` or a `"`, `;` or `\\` (after the
/// one pair of enclosing quotes is removed), drops that cookie only.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = Cookie<'_>> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .filter_map(parse_cookie)
}

fn parse_cookie(part: &[u8]) -> Option<Cookie<'_>> {
    let part = trim_go(part);
    if part.is_empty() {
        return None;
    }
    let (name, value) = match part.iter().position(|&b| b == b'=') {
        Some(i) => (trim_go(&part[..i]), &part[i + 1..]),
        None => (part, &b""[..]),
    };
    if !is_cookie_name(name) {
        return None;
    }
    let (value, quoted) = match value {
        [b'"', inner @ .., b'"'] => (inner, true),
        v => (v, false),
    };
    let valid = |b: &u8| (0x20..0x7f).contains(b) && !matches!(b, b'"' | b';' | b'\\');
    if !value.iter().all(valid) {
        return None;
    }
    // Both are ASCII by now.
    Some(Cookie {
        name: std::str::from_utf8(name).ok()?,
        value: std::str::from_utf8(value).ok()?,
        quoted,
    })
}

/// RFC 6265 cookie-name: an HTTP token.
pub fn is_cookie_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// Go's `textproto.TrimString`: ASCII space, tab, CR and LF off both ends.
fn trim_go(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// The value of the first cookie named `name` (Go's `Request.Cookie`).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookies(headers).find(|c| c.name == name).map(|c| c.value)
}

/// Whether the request carries at least one cookie (any name).
pub fn has_any_cookie(headers: &HeaderMap) -> bool {
    cookies(headers).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], query: &str) -> RequestInfo {
        let mut r = RequestInfo::default();
        for (k, v) in headers {
            r.headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        r.url.raw_query = query.to_string();
        r
    }

    // SPEC §5.1 token_from.
    #[test]
    fn extraction() {
        let r = req(
            &[
                ("Authorization", "bEaReR abc def"),
                ("X-Token", "raw"),
                ("Cookie", "a=1; tok=ck"),
            ],
            "token=q&x=1",
        );
        assert_eq!(extract(&r, None).as_deref(), Some("abc def"));
        assert_eq!(
            extract(&r, Some(&TokenFrom::Header("Authorization".into()))).as_deref(),
            Some("abc def")
        );
        assert_eq!(
            extract(&r, Some(&TokenFrom::Header("X-Token".into()))).as_deref(),
            Some("raw")
        );
        assert_eq!(
            extract(&r, Some(&TokenFrom::QueryParameter("token".into()))).as_deref(),
            Some("q")
        );
        assert_eq!(
            extract(&r, Some(&TokenFrom::QueryParameter("Token".into()))),
            None
        );
        assert_eq!(
            extract(&r, Some(&TokenFrom::Cookie("tok".into()))).as_deref(),
            Some("ck")
        );
        let basic = req(&[("Authorization", "Basic abc")], "");
        assert_eq!(extract(&basic, None), None);
        let empty = req(&[("Authorization", "Bearer ")], "");
        assert_eq!(extract(&empty, None), None);
        assert!(has_any_cookie(&r.headers));
        assert!(!has_any_cookie(&req(&[], "").headers));
    }

    // SPEC §5.1 (`only`, `token_from.cookie`): cookies as Go's `readCookies` reads them. A part
    // without `=` is a cookie; a bad name or value drops that cookie only; one pair of enclosing
    // quotes is removed; a value that is not ASCII does not hide the others in its field.
    #[test]
    fn cookies_as_go_reads_them() {
        let all = |raw: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::COOKIE,
                http::HeaderValue::from_bytes(raw).expect("value"),
            );
            cookies(&h)
                .map(|c| {
                    format!(
                        "{}={}{}",
                        c.name,
                        c.value,
                        if c.quoted { " (q)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(all(b"abc"), ["abc="]);
        assert_eq!(all(b" a = b ;; c=\"d\"; e=\"\"x\"\""), ["a= b", "c=d (q)"]);
        assert!(all(b"a=b\\c; a b=c; a=\"b; x=\xc3\xbc").is_empty());
        assert_eq!(all(b"x=\xc3\xbc; ok=1"), ["ok=1"]);
        assert_eq!(all(b"\tk=v\t"), ["k=v"]);
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_static("bad\\=1"),
        );
        assert!(!has_any_cookie(&h));
        h.append(http::header::COOKIE, http::HeaderValue::from_static("sid"));
        assert!(has_any_cookie(&h));
        assert_eq!(cookie(&h, "sid"), Some(""));
    }

    // SPEC §5.1 `token_from.query_parameter`: the query as Go's `url.ParseQuery` reads it; a pair
    // with a malformed escape or a `;` is not there.
    #[test]
    fn query_tokens_as_go_reads_them() {
        let from = TokenFrom::QueryParameter("tok".into());
        for (query, want) in [
            ("tok=pp_%zz", None),
            ("tok=a%2Bb+c", Some("a+b c")),
            ("x=%zz&tok=ok", Some("ok")),
            ("tok=a;b", None),
            ("tok=%+1", None),
            ("tok=%4", None),
        ] {
            assert_eq!(
                extract(&req(&[], query), Some(&from)).as_deref(),
                want,
                "{query}"
            );
        }
    }

    // A bearer token is read exactly when the whole value is visible ASCII (`to_str`), for
    // every byte a header value may hold.
    #[test]
    fn bearer_values_are_visible_ascii() {
        for b in 0..=255u8 {
            let raw = [b"Bearer a".as_slice(), &[b], b"c"].concat();
            let Ok(value) = http::HeaderValue::from_bytes(&raw) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value.clone());
            let want = value.to_str().ok().map(|v| &v["Bearer ".len()..]);
            assert_eq!(bearer(&headers), want, "byte {b:#x}");
        }
    }
}
