//! `redirect` error handler (SPEC §4.9): 301/302 to `to`, optionally adding the URL the client
//! wanted as `return_to_query_param`.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::config::handlers::errors::RedirectConfig;
use crate::pipeline::error::PipelineError;
use crate::pipeline::{BuildError, Reply, RequestInfo};

#[derive(Debug)]
pub struct Redirect {
    /// `to` as configured (absolute URL or relative reference), used verbatim when no
    /// `return_to` is added: Go keeps `https://login` as it is, where a parsed `url::Url` would
    /// print `https://login/`.
    to: String,
    code: StatusCode,
    return_to_query_param: Option<String>,
}

impl Redirect {
    pub fn new(config: &RedirectConfig) -> Result<Self, BuildError> {
        let raw = config.to.clone().unwrap_or_default();
        if raw.is_empty() {
            return Err(BuildError::new("config.to", "is required"));
        }
        // `to` is a uri-reference: an absolute URL or a path such as `/login`.
        let base = url::Url::parse("http://relative.invalid/")
            .map_err(|e| BuildError::new("config.to", e.to_string()))?;
        base.join(&raw)
            .map_err(|e| BuildError::new("config.to", format!("invalid URL `{raw}`: {e}")))?;
        let code = match config.code.get() {
            301 => StatusCode::MOVED_PERMANENTLY,
            _ => StatusCode::FOUND,
        };
        let return_to_query_param =
            Some(config.return_to_query_param.clone()).filter(|p| !p.is_empty());
        Ok(Self {
            to: raw,
            code,
            return_to_query_param,
        })
    }

    pub(super) fn render(&self, _err: &PipelineError, req: &RequestInfo) -> Reply {
        let location = self.location(req);
        let mut headers = HeaderMap::new();
        let mut body = Bytes::new();
        if let Ok(v) = HeaderValue::from_str(&hex_escape_non_ascii(&location)) {
            headers.insert(header::LOCATION, v);
        }
        // Go's http.Redirect labels GET and HEAD answers as HTML and writes a short body for GET
        // only (the method is the one decided: `X-Forwarded-Method` on `/decisions`).
        let get = req.method.eq_ignore_ascii_case("GET");
        if get || req.method.eq_ignore_ascii_case("HEAD") {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
        }
        if get {
            let reason = self.code.canonical_reason().unwrap_or("Found");
            body = Bytes::from(format!(
                "<a href=\"{}\">{reason}</a>.\n\n",
                html_escape(&location)
            ));
        }
        Reply {
            status: self.code,
            headers,
            body,
        }
    }

    /// `to`, plus `<param>=<original URL>` when configured. As Go's `q.Set(param, url);
    /// u.RawQuery = q.Encode()`: the parameter replaces any of the same name in `to`, the query
    /// is re-encoded sorted by key, the fragment is kept.
    fn location(&self, req: &RequestInfo) -> String {
        let Some(param) = &self.return_to_query_param else {
            return self.to.clone();
        };
        let (rest, fragment) = match self.to.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (self.to.as_str(), None),
        };
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut pairs: Vec<(String, String)> = crate::pipeline::session::parse_query(query)
            .filter(|(k, _)| k != param)
            .collect();
        pairs.push((param.clone(), req.original_url()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        let mut out = format!("{base}?{}", encoded.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }
}

/// Go `url.QueryEscape`: everything but `A-Za-z0-9-_.~` percent-encoded, space as `+`.
fn query_escape(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET)
        .to_string()
        .replace("%20", "+")
}

/// Go's `hexEscapeNonASCII` (what `http.Redirect` puts in `Location`): every byte beyond ASCII
/// percent-encoded, the rest as it is.
fn hex_escape_non_ascii(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for &b in s.as_bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::session::RequestUrl;

    fn redirect(to: &str, param: &str) -> Redirect {
        let config = RedirectConfig {
            to: Some(to.into()),
            return_to_query_param: param.into(),
            ..RedirectConfig::default()
        };
        Redirect::new(&config).expect("build")
    }

    fn req() -> RequestInfo {
        RequestInfo {
            method: "GET".into(),
            url: RequestUrl {
                scheme: "http".into(),
                host: "h".into(),
                path: "/test".into(),
                raw_query: "a=1 2".into(),
            },
            original_uri: "/test?a=1 2".into(),
            ..RequestInfo::default()
        }
    }

    // SPEC Appendix B case 7 / §4.9: `to` verbatim; return_to URL-encoded, `to`'s query kept.
    #[test]
    fn locations() {
        assert_eq!(
            redirect("https://login", "").location(&req()),
            "https://login"
        );
        assert_eq!(
            redirect("https://login", "return_to").location(&req()),
            "https://login?return_to=http%3A%2F%2Fh%2Ftest%3Fa%3D1+2"
        );
        assert_eq!(
            redirect("https://login/in?z=1&return_to=old&a=b~c#frag", "return_to").location(&req()),
            "https://login/in?a=b~c&return_to=http%3A%2F%2Fh%2Ftest%3Fa%3D1+2&z=1#frag"
        );
        assert_eq!(
            redirect("/signin", "rt").location(&req()),
            "/signin?rt=http%3A%2F%2Fh%2Ftest%3Fa%3D1+2"
        );
        // No usable host (a request refused for its `Host`): the path, not `http:///test`.
        let mut hostless = req();
        hostless.url.host.clear();
        assert_eq!(
            redirect("/signin", "rt").location(&hostless),
            "/signin?rt=%2Ftest%3Fa%3D1+2"
        );
    }

    // SPEC §4.9 (Go `http.Redirect`): `Location` has its bytes beyond ASCII percent-encoded; GET
    // and HEAD are labelled HTML, and only GET gets the body (with the URL as configured).
    #[test]
    fn location_escaped_and_body_for_get_only() {
        let r = redirect("https://login.example/ü?next=é", "");
        let e = PipelineError::new(StatusCode::UNAUTHORIZED, "no");
        let get = r.render(&e, &req());
        assert_eq!(
            get.headers[header::LOCATION],
            "https://login.example/%C3%BC?next=%C3%A9"
        );
        assert_eq!(
            get.body,
            "<a href=\"https://login.example/ü?next=é\">Found</a>.\n\n"
        );
        let head = r.render(
            &e,
            &RequestInfo {
                method: "HEAD".into(),
                ..req()
            },
        );
        assert_eq!(
            head.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(head.body.is_empty());
        let post = r.render(
            &e,
            &RequestInfo {
                method: "POST".into(),
                ..req()
            },
        );
        assert!(!post.headers.contains_key(header::CONTENT_TYPE));
        assert!(post.body.is_empty());
    }
}
