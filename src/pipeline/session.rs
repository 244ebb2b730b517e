//! The authentication session (SPEC §4.2): what authenticators fill in, what mutators read and
//! write, and what templates see.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};

/// State carried through one request's pipeline.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Set by the winning authenticator; `""` initially.
    pub subject: String,
    /// Authenticator-specific data (JWT claims, introspection `ext`, session-store `extra`).
    /// Shared: a cached verification or session check hands out the same claims to every
    /// request; handlers replace it, never edit it in place.
    pub extra: Arc<Map<String, Value>>,
    /// Headers to set upstream / return from `/decisions`; written by mutators and by remote
    /// authorizers' forwarded response headers.
    pub header: HeaderMap,
    /// Names of `header` entries a handler chose at run time (the hydrator's answer), beyond the
    /// rule's own [`crate::rules::Rule::mutator_headers`]: their client-sent variant spellings
    /// are removed as those are (DESIGN §6).
    pub set_headers: Vec<http::HeaderName>,
    pub match_context: MatchContext,
}

/// What the matcher knew about the request (SPEC §4.2 `MatchContext`).
#[derive(Debug, Clone, Default)]
pub struct MatchContext {
    /// One entry per capture group of the matched regexp (group 1 onward); `""` for groups that
    /// did not participate. Always empty under the glob strategy.
    pub regexp_capture_groups: Vec<String>,
    /// The request URL as matched: scheme/host enriched, path decoded and cleaned.
    pub url: RequestUrl,
    /// Request method (for `/decisions`: after `X-Forwarded-Method`).
    pub method: String,
    /// The incoming request headers.
    pub header: HeaderMap,
}

/// A request URL as the pipeline sees it. Mirrors the parts of Go's `url.URL` that templates and
/// the hydrator use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestUrl {
    pub scheme: std::borrow::Cow<'static, str>,
    /// Host as sent by the client, including `:port` when present.
    pub host: String,
    /// Decoded and cleaned path (what was matched and what is forwarded).
    pub path: String,
    /// Raw query string without the leading `?`.
    pub raw_query: String,
}

impl RequestUrl {
    /// Host without the port (Go `URL.Hostname()`), brackets of IPv6 literals removed.
    pub fn hostname(&self) -> &str {
        let h = &self.host;
        if let Some(rest) = h.strip_prefix('[') {
            return rest.split(']').next().unwrap_or("");
        }
        match h.rfind(':') {
            Some(i) => &h[..i],
            None => h,
        }
    }

    /// Port part of the host, `""` when none (Go `URL.Port()`).
    pub fn port(&self) -> &str {
        let h = &self.host;
        let after_bracket = match h.rfind(']') {
            Some(i) => &h[i + 1..],
            None => h.as_str(),
        };
        match after_bracket.rfind(':') {
            Some(i) => &after_bracket[i + 1..],
            None => "",
        }
    }

    /// Decoded query pairs in order (Go `URL.Query()`; `+` decodes to a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.raw_query).collect()
    }

    /// First value of query parameter `key`, `""` when absent (Go `URL.Query().Get`).
    pub fn query_get(&self, key: &str) -> String {
        parse_query(&self.raw_query)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

/// The pairs of a raw query as Go's `url.ParseQuery` keeps them: `&`-separated, `+` a space; a
/// pair holding a `;` or a malformed `%` escape is dropped (Go reports it and goes on), so that
/// `?tok=%zz` carries no `tok`, as in Oathkeeper. Bytes that are not UTF-8 are replaced.
pub(crate) fn parse_query(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
            Some((text(query_unescape(k)?), text(query_unescape(v)?)))
        })
}

/// Go's `url.QueryUnescape`, as bytes: `+` is a space, `%XX` (two hex digits) a byte; `None` on
/// a malformed escape.
pub(crate) fn query_unescape(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
                let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

impl std::fmt::Display for RequestUrl {
    /// `scheme://host/path?query`, path percent-encoded where needed (Go `URL.String()`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.scheme.is_empty() {
            write!(f, "{}:", self.scheme)?;
        }
        if !self.scheme.is_empty() || !self.host.is_empty() {
            write!(f, "//{}", self.host)?;
        }
        const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'#')
            .add(b'%')
            .add(b'<')
            .add(b'>')
            .add(b'?')
            .add(b'`')
            .add(b'{')
            .add(b'}');
        write!(
            f,
            "{}",
            percent_encoding::utf8_percent_encode(&self.path, PATH)
        )?;
        // `{:#}`: for logs, without the query (a `token_from.query_parameter` credential).
        if !self.raw_query.is_empty() && !f.alternate() {
            write!(f, "?{}", self.raw_query)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RequestUrl;

    // SPEC §6.4 logs, DESIGN §6: `{:#}` (what the decision log lines write) leaves out the query,
    // which may carry a credential (`token_from.query_parameter`).
    #[test]
    fn logged_url_has_no_query() {
        let u = RequestUrl {
            scheme: "http".into(),
            host: "h".into(),
            path: "/b/x".into(),
            raw_query: "access_token=SECRET".into(),
        };
        assert_eq!(u.to_string(), "http://h/b/x?access_token=SECRET");
        assert_eq!(format!("{u:#}"), "http://h/b/x");
    }
}
