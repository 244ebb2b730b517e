//! Token extraction shared by `bearer_token`, `jwt` and `oauth2_introspection` (SPEC §5.1
//! `token_from`).

use std::borrow::Cow;

use http::HeaderMap;

use crate::config::handlers::TokenFrom;
use crate::pipeline::RequestInfo;

/// The token a request carries at `from`, if any (empty values count as none); borrowed from the
/// request except for a percent-decoded query parameter.
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
            url::form_urlencoded::parse(req.url.raw_query.as_bytes())
                .find(|(k, _)| k == name.as_str())
                .map(|(_, v)| v)
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

/// The value of cookie `name` across all `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Whether the request carries at least one cookie (any name).
pub fn has_any_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|pair| {
            pair.trim()
                .split_once('=')
                .is_some_and(|(k, _)| !k.is_empty())
        })
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
