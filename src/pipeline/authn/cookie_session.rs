//! `cookie_session` (SPEC §5.1): responsible when the request carries a cookie (any cookie, or
//! one named in `only`); asks `check_session_url` with the request's cookies whether they belong
//! to a session, and takes subject and extra from its answer.

use crate::config::handlers::authn::CookieSessionConfig;
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, PipelineError, RequestInfo};

use super::session_check::{CheckConfig, SessionCheck};
use super::{token, AuthnOutcome};

#[derive(Debug)]
pub struct CookieSession {
    only: Vec<String>,
    check: SessionCheck,
}

impl CookieSession {
    pub fn new(c: CookieSessionConfig) -> Result<Self, BuildError> {
        let config_json = serde_json::to_string(&c).map_err(BuildError::config)?;
        let mut forward = c.forward_http_headers;
        // SPEC §5.1: `Cookie` is always forwarded, in addition to the listed headers.
        forward.push("Cookie".to_owned());
        let check = SessionCheck::new(CheckConfig {
            handler: "cookie_session",
            check_session_url: c.check_session_url,
            preserve_query: c.preserve_query,
            preserve_path: c.preserve_path,
            preserve_host: c.preserve_host,
            force_method: c.force_method,
            forward_http_headers: forward,
            additional_headers: c.additional_headers,
            subject_from: c.subject_from,
            extra_from: c.extra_from,
            cache: c.cache,
            timeout: c.timeout.get(),
            config_json,
        })?;
        Ok(Self {
            only: c.only,
            check,
        })
    }

    pub(super) async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        if !self.responsible(req) {
            return Ok(AuthnOutcome::NotResponsible);
        }
        self.check.authenticate(req, session).await
    }

    /// `only` empty: any cookie; otherwise one of the named cookies (even with an empty value).
    fn responsible(&self, req: &RequestInfo) -> bool {
        if self.only.is_empty() {
            return token::has_any_cookie(&req.headers);
        }
        self.only
            .iter()
            .any(|name| token::cookie(&req.headers, name).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(only: &[&str]) -> CookieSession {
        let c = CookieSessionConfig {
            check_session_url: Some(
                crate::config::types::Uri::parse("http://127.0.0.1:1/s").expect("url"),
            ),
            only: only.iter().map(|s| s.to_string()).collect(),
            ..CookieSessionConfig::default()
        };
        CookieSession::new(c).expect("build")
    }

    fn req(cookie: Option<&str>) -> RequestInfo {
        let mut r = RequestInfo::default();
        if let Some(c) = cookie {
            r.headers
                .insert(http::header::COOKIE, c.parse().expect("value"));
        }
        r
    }

    // SPEC §5.1 cookie_session responsibility and Appendix B case 16 ("no cookies").
    #[test]
    fn responsibility() {
        let any = handler(&[]);
        assert!(!any.responsible(&req(None)));
        assert!(!any.responsible(&req(Some(""))));
        assert!(any.responsible(&req(Some("a=1"))));
        let only = handler(&["ory_kratos_session", "other"]);
        assert!(!only.responsible(&req(None)));
        assert!(!only.responsible(&req(Some("a=1; b=2"))));
        assert!(only.responsible(&req(Some("a=1; other=x"))));
        assert!(only.responsible(&req(Some("ory_kratos_session="))));
    }
}
