//! `bearer_token` (SPEC §5.1): responsible when a token is found per `token_from` and starts
//! with `prefix`; asks `check_session_url` about it (forwarding `Authorization`) and takes
//! subject and extra from the answer.

use crate::config::handlers::authn::BearerTokenConfig;
use crate::config::handlers::TokenFrom;
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, PipelineError, RequestInfo};

use super::session_check::{CheckConfig, SessionCheck};
use super::{token, AuthnOutcome};

pub struct BearerToken {
    token_from: Option<TokenFrom>,
    prefix: String,
    check: SessionCheck,
}

// Hand-written: `prefix` is harmless but keep the shape of the other credential handlers.
impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("token_from", &self.token_from)
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    pub fn new(c: BearerTokenConfig) -> Result<Self, BuildError> {
        let config_json = serde_json::to_string(&c).map_err(BuildError::config)?;
        let mut forward = c.forward_http_headers;
        // SPEC §5.1: `Authorization` is always forwarded (when the request has one), also when
        // the token itself comes from a query parameter or a cookie.
        forward.push("Authorization".to_owned());
        let check = SessionCheck::new(CheckConfig {
            handler: "bearer_token",
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
            token_from: c.token_from,
            prefix: c.prefix,
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

    fn responsible(&self, req: &RequestInfo) -> bool {
        token::extract(req, self.token_from.as_ref()).is_some_and(|t| t.starts_with(&self.prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(token_from: Option<TokenFrom>, prefix: &str) -> BearerToken {
        let c = BearerTokenConfig {
            check_session_url: Some(
                crate::config::types::Uri::parse("http://127.0.0.1:1/s").expect("url"),
            ),
            token_from,
            prefix: prefix.to_owned(),
            ..BearerTokenConfig::default()
        };
        BearerToken::new(c).expect("build")
    }

    fn req(auth: Option<&str>, query: &str) -> RequestInfo {
        let mut r = RequestInfo::default();
        if let Some(a) = auth {
            r.headers
                .insert(http::header::AUTHORIZATION, a.parse().expect("value"));
        }
        r.url.raw_query = query.to_owned();
        r
    }

    // SPEC §5.1 bearer_token responsibility: a token per token_from that starts with prefix.
    #[test]
    fn responsibility() {
        let h = handler(None, "");
        assert!(!h.responsible(&req(None, "")));
        assert!(!h.responsible(&req(Some("Basic abc"), "")));
        assert!(h.responsible(&req(Some("Bearer abc"), "")));
        let p = handler(None, "ory_st_");
        assert!(!p.responsible(&req(Some("Bearer abc"), "")));
        assert!(p.responsible(&req(Some("Bearer ory_st_abc"), "")));
        let q = handler(Some(TokenFrom::QueryParameter("token".into())), "");
        assert!(!q.responsible(&req(Some("Bearer abc"), "")));
        assert!(q.responsible(&req(None, "token=abc")));
    }
}
