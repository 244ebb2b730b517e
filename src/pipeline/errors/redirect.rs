//! `redirect` error handler (SPEC §4.9): 301/302 to `to`, optionally adding the URL the client
//! wanted as `return_to_query_param`.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::config::handlers::errors::RedirectConfig;
use crate::pipeline::error::PipelineError;
use crate::pipeline::{BuildError, Reply, RequestInfo};

#[derive(Debug)]
pub struct Redirect {
    to: url::Url,
    /// `to` was a relative reference: keep it relative in `Location`.
    relative_to: Option<String>,
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
        let (to, relative_to) = match url::Url::parse(&raw) {
            Ok(u) => (u, None),
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let base = url::Url::parse("http://relative.invalid/")
                    .map_err(|e| BuildError::new("config.to", e.to_string()))?;
                let u = base.join(&raw).map_err(|e| {
                    BuildError::new("config.to", format!("invalid URL `{raw}`: {e}"))
                })?;
                (u, Some(raw.clone()))
            }
            Err(e) => {
                return Err(BuildError::new(
                    "config.to",
                    format!("invalid URL `{raw}`: {e}"),
                ))
            }
        };
        let code = match config.code.get() {
            301 => StatusCode::MOVED_PERMANENTLY,
            _ => StatusCode::FOUND,
        };
        let return_to_query_param =
            Some(config.return_to_query_param.clone()).filter(|p| !p.is_empty());
        Ok(Self {
            to,
            relative_to,
            code,
            return_to_query_param,
        })
    }

    pub(super) fn render(&self, _err: &PipelineError, req: &RequestInfo) -> Reply {
        let location = self.location(req);
        let mut headers = HeaderMap::new();
        let mut body = Bytes::new();
        if let Ok(v) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, v);
        }
        // Go's http.Redirect writes a short HTML body for GET and HEAD.
        if req.method.eq_ignore_ascii_case("GET") || req.method.eq_ignore_ascii_case("HEAD") {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
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

    fn location(&self, req: &RequestInfo) -> String {
        let Some(param) = &self.return_to_query_param else {
            return self
                .relative_to
                .clone()
                .unwrap_or_else(|| self.to.to_string());
        };
        let mut u = self.to.clone();
        u.query_pairs_mut().append_pair(param, &req.original_url());
        match &self.relative_to {
            None => u.to_string(),
            Some(_) => {
                let mut s = u.path().to_string();
                if let Some(q) = u.query() {
                    s.push('?');
                    s.push_str(q);
                }
                s
            }
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
}
