//! Authenticators (SPEC §4.3, §5.1). Each one either authenticates (sets the subject), says it is
//! not responsible (the next one is tried), or fails (the chain stops with that error).

mod anonymous;
mod bearer_token;
mod cookie_session;
mod jwt;
mod noop;
mod oauth2;
mod oauth2_client_credentials;
mod oauth2_introspection;
pub mod scope;
mod session_cache;
mod session_check;
pub mod token;
mod unauthorized;

pub use anonymous::Anonymous;
pub use bearer_token::BearerToken;
pub use cookie_session::CookieSession;
pub use jwt::Jwt;
pub use oauth2_client_credentials::OAuth2ClientCredentials;
pub use oauth2_introspection::OAuth2Introspection;

use serde_json::Value;

use super::error::PipelineError;
use super::session::Session;
use super::{disabled_error, resolve, BuildError, DisabledHandlers, RequestInfo, Resolved};
use crate::config::Config;

/// Every authenticator name Oathkeeper knows, in its order.
pub const NAMES: &[&str] = &[
    "noop",
    "anonymous",
    "unauthorized",
    "cookie_session",
    "bearer_token",
    "jwt",
    "oauth2_client_credentials",
    "oauth2_introspection",
];

/// The result of an authenticator that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthnOutcome {
    Authenticated,
    /// The request carries no credential this authenticator handles; try the next one.
    NotResponsible,
}

/// A built authenticator. Variants larger than a few words are boxed: every rule holds its
/// chain, and at 10,000 rules a 384-byte enum cost 15 MB (`rules::compile` tests the size).
#[derive(Debug)]
pub enum Authenticator {
    Noop,
    Anonymous(Anonymous),
    Unauthorized,
    CookieSession(Box<CookieSession>),
    BearerToken(Box<BearerToken>),
    OAuth2ClientCredentials(Box<OAuth2ClientCredentials>),
    OAuth2Introspection(Box<OAuth2Introspection>),
    Jwt(Box<Jwt>),
    /// Named a handler that a config reload disabled after the rule loaded.
    Disabled(&'static str),
}

impl Authenticator {
    pub fn build(
        name: &str,
        rule_config: Option<&Value>,
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<Self, BuildError> {
        let static_name = match resolve(
            "authenticator",
            "authenticators",
            name,
            NAMES,
            config,
            disabled,
        )? {
            Resolved::Enabled(n) => n,
            // No authenticator config holds a template.
            Resolved::Disabled(n) | Resolved::Probe(n) => return Ok(Self::Disabled(n)),
        };
        let a = &config.authenticators;
        Ok(match static_name {
            "noop" => Self::Noop,
            "unauthorized" => Self::Unauthorized,
            "anonymous" => {
                let c = a
                    .anonymous
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::Anonymous(Anonymous::new(c))
            }
            "cookie_session" => {
                let c = a
                    .cookie_session
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::CookieSession(Box::new(CookieSession::new(c)?))
            }
            "bearer_token" => {
                let c = a
                    .bearer_token
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::BearerToken(Box::new(BearerToken::new(c)?))
            }
            "oauth2_client_credentials" => {
                let c = a
                    .oauth2_client_credentials
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::OAuth2ClientCredentials(Box::new(OAuth2ClientCredentials::new(c)?))
            }
            "oauth2_introspection" => {
                let c = a
                    .oauth2_introspection
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::OAuth2Introspection(Box::new(OAuth2Introspection::new(c)?))
            }
            "jwt" => {
                let c = a.jwt.merged(rule_config).map_err(BuildError::config)?;
                Self::Jwt(Box::new(Jwt::new(c, &a.jwt.config)?))
            }
            other => return Err(BuildError::unsupported("authenticator", other)),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::Anonymous(_) => "anonymous",
            Self::Unauthorized => "unauthorized",
            Self::CookieSession(_) => "cookie_session",
            Self::BearerToken(_) => "bearer_token",
            Self::OAuth2ClientCredentials(_) => "oauth2_client_credentials",
            Self::OAuth2Introspection(_) => "oauth2_introspection",
            Self::Jwt(_) => "jwt",
            Self::Disabled(n) => n,
        }
    }

    pub async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        match self {
            Self::Noop => Ok(noop::authenticate()),
            Self::Anonymous(h) => Ok(h.authenticate(req, session)),
            Self::Unauthorized => unauthorized::authenticate(),
            // Handlers that may wait on the network have large futures (HTTP client state):
            // boxed, so the chain's own future (allocated for every request of every rule) stays
            // small and only the rules that use them pay for the allocation.
            Self::CookieSession(h) => Box::pin(h.authenticate(req, session)).await,
            Self::BearerToken(h) => Box::pin(h.authenticate(req, session)).await,
            Self::OAuth2ClientCredentials(h) => Box::pin(h.authenticate(req, session)).await,
            Self::OAuth2Introspection(h) => Box::pin(h.authenticate(req, session)).await,
            Self::Jwt(h) => Box::pin(h.authenticate(req, session)).await,
            Self::Disabled(n) => Err(disabled_error("authenticator", n)),
        }
    }
}
