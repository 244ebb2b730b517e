//! `anonymous` (SPEC §5.1): not responsible when the request carries a non-empty
//! `Authorization` header; otherwise the subject is `config.subject` ("anonymous" when empty).

use crate::config::handlers::authn::AnonymousConfig;
use crate::pipeline::session::Session;
use crate::pipeline::RequestInfo;

use super::AuthnOutcome;

#[derive(Debug)]
pub struct Anonymous {
    subject: String,
}

impl Anonymous {
    pub fn new(config: AnonymousConfig) -> Self {
        let subject = if config.subject.is_empty() {
            "anonymous".to_string()
        } else {
            config.subject
        };
        Self { subject }
    }

    pub(super) fn authenticate(&self, req: &RequestInfo, session: &mut Session) -> AuthnOutcome {
        let has_auth = req
            .headers
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .any(|v| !v.as_bytes().is_empty());
        if has_auth {
            return AuthnOutcome::NotResponsible;
        }
        session.subject.clone_from(&self.subject);
        AuthnOutcome::Authenticated
    }
}
