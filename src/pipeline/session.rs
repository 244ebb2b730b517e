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
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// First value of query parameter `key`, `""` when absent (Go `URL.Query().Get`).
    pub fn query_get(&self, key: &str) -> String {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }
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
        if !self.raw_query.is_empty() {
            write!(f, "?{}", self.raw_query)?;
        }
        Ok(())
    }
}
