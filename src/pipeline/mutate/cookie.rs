//! `cookie` mutator (SPEC §5.3): one `Cookie` header made of the rule's cookies (templates
//! rendered against the session) followed by every cookie of the original request whose name the
//! rule does not set. It replaces the request's `Cookie` header.
//!
//! The original cookies are read from `RequestInfo::headers` (the pipeline's copy of the client
//! request), so the proxy may strip the client's own `Cookie` header from the forwarded request
//! (it is in [`CookieMutator::names`]) without losing the cookies merged here.

use http::header::COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::handlers::mutate::CookieConfig;
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::{BuildError, RequestInfo};

#[derive(Debug)]
pub struct CookieMutator {
    /// Rule cookies in config order (sorted by name, as the config map is).
    cookies: Vec<(String, Template)>,
}

impl CookieMutator {
    /// Whether a cookie template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.cookies.iter().any(|(_, t)| t.reads_match_context())
    }

    pub fn new(config: CookieConfig) -> Result<Self, BuildError> {
        let mut cookies = Vec::new();
        for (name, source) in config.cookies.unwrap_or_default() {
            let path = format!("config.cookies.{name}");
            if !crate::pipeline::authn::token::is_cookie_name(name.as_bytes()) {
                return Err(BuildError::new(
                    &path,
                    format!("invalid cookie name `{name}`"),
                ));
            }
            let template = Template::parse(&source)
                .map_err(|e| BuildError::new(&path, format!("invalid template: {e}")))?;
            cookies.push((name, template));
        }
        Ok(Self { cookies })
    }

    /// The header this mutator sets: `Cookie` (client copies are replaced by the merged one).
    pub fn names(&self) -> Vec<HeaderName> {
        vec![COOKIE]
    }

    pub(super) fn mutate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let mut parts = Vec::with_capacity(self.cookies.len());
        for (name, template) in &self.cookies {
            let value = template.render(session).map_err(|e| {
                PipelineError::internal(msg::INTERNAL)
                    .with_reason(format!("cookie mutator: rendering cookie `{name}`: {e}"))
            })?;
            parts.push(format!("{name}={}", sanitize_value(&value)));
        }
        for (name, pair) in request_cookies(&req.headers) {
            if !self.cookies.iter().any(|(n, _)| *n == name) {
                parts.push(pair);
            }
        }
        let value = HeaderValue::from_str(&parts.join("; ")).map_err(|_| {
            // The reason names no value: cookies are credentials.
            PipelineError::internal(msg::INTERNAL)
                .with_reason("cookie mutator: a cookie rendered to an invalid header value")
        })?;
        session.header.insert(COOKIE, value);
        Ok(())
    }
}

/// `(name, "name=value")` of every cookie across all `Cookie` headers, in order, as Go's
/// `Request.Cookies` reads them (a part without a valid name or value is dropped; one without
/// `=` is a cookie with an empty value), each written back as `AddCookie` writes it (a quoted
/// value keeps its quotes).
fn request_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    crate::pipeline::authn::token::cookies(headers)
        .map(|c| {
            let value = match c.quoted || c.value.contains([' ', ',']) {
                true => format!("\"{}\"", c.value),
                false => c.value.to_string(),
            };
            (c.name.to_string(), format!("{}={value}", c.name))
        })
        .collect()
}

/// A rendered value as Go's `Request.AddCookie` writes it (SPEC §5.3: the mutator adds its cookies
/// that way): bytes that cannot be in a cookie value (controls, non-ASCII, `"`, `;`, `\\`)
/// dropped, and the rest double-quoted when it holds a space or a comma. A subject such as
/// `alice; admin=true` thus stays one cookie, never two.
fn sanitize_value(value: &str) -> std::borrow::Cow<'_, str> {
    let valid = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\';
    let quote = |v: &str| v.contains([' ', ',']);
    if value.bytes().all(valid) && !quote(value) {
        return std::borrow::Cow::Borrowed(value);
    }
    let kept: String = value
        .bytes()
        .filter(|&b| valid(b))
        .map(char::from)
        .collect();
    if quote(&kept) {
        std::borrow::Cow::Owned(format!("\"{kept}\""))
    } else {
        std::borrow::Cow::Owned(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutator(cookies: &[(&str, &str)]) -> CookieMutator {
        CookieMutator::new(CookieConfig {
            cookies: Some(
                cookies
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        })
        .expect("build")
    }

    fn run(m: &CookieMutator, cookie_headers: &[&str]) -> Option<String> {
        let mut req = RequestInfo::default();
        for c in cookie_headers {
            req.headers
                .append(COOKIE, HeaderValue::from_str(c).expect("value"));
        }
        let mut session = Session {
            subject: "alice".into(),
            ..Session::default()
        };
        m.mutate(&req, &mut session).expect("mutate");
        session
            .header
            .get(COOKIE)
            .map(|v| v.to_str().expect("ascii").to_string())
    }

    // SPEC §5.3 cookie: rule cookies first, then the request's cookies not set by the rule.
    #[test]
    fn merges_rule_and_request_cookies() {
        let m = mutator(&[("user", "{{ print .Subject }}"), ("fixed", "1")]);
        assert_eq!(
            run(&m, &["user=mallory; theme=dark", "lang=en"]).as_deref(),
            Some("fixed=1; user=alice; theme=dark; lang=en")
        );
        assert_eq!(run(&m, &[]).as_deref(), Some("fixed=1; user=alice"));
        // Malformed parts are dropped, bare names kept with an empty value.
        assert_eq!(
            run(&m, &["; =x; flag; a=b=c"]).as_deref(),
            Some("fixed=1; user=alice; flag=; a=b=c")
        );
    }

    #[test]
    fn empty_rule_keeps_request_cookies() {
        let m = mutator(&[]);
        assert_eq!(run(&m, &["a=1; b=2"]).as_deref(), Some("a=1; b=2"));
        assert_eq!(run(&m, &[]).as_deref(), Some(""));
    }

    #[test]
    fn invalid_name_or_value_fails() {
        let bad = CookieMutator::new(CookieConfig {
            cookies: Some([("a b".to_string(), "x".to_string())].into()),
        });
        assert_eq!(bad.expect_err("invalid").path, "config.cookies.a b");
    }

    // SPEC §5.3 cookie (Go `Request.AddCookie`): a rendered value cannot add a cookie or break
    // the header; what a cookie value cannot hold is dropped, a space or comma quotes it.
    #[test]
    fn values_are_sanitized_as_go_does() {
        let m = mutator(&[("user", "{{ print .Subject }}")]);
        let with_subject = |subject: &str| {
            let mut session = Session {
                subject: subject.into(),
                ..Session::default()
            };
            m.mutate(&RequestInfo::default(), &mut session)
                .expect("mutate");
            session.header[COOKIE].to_str().expect("ascii").to_string()
        };
        assert_eq!(
            with_subject("alice; admin=true"),
            "user=\"alice admin=true\""
        );
        assert_eq!(with_subject("a\"b\\c;d"), "user=abcd");
        assert_eq!(with_subject("a,b"), "user=\"a,b\"");
        assert_eq!(with_subject("a\nb\u{e9}"), "user=ab");
        assert_eq!(with_subject("plain-value_1"), "user=plain-value_1");
    }
}
