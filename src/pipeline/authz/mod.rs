//! Authorizers (SPEC §4.4, §5.2): decide whether the authenticated session may proceed.

mod allow;
mod deny;
mod keto;
pub(crate) use keto::is_private;
mod remote;
mod remote_json;

pub use keto::Keto;
pub use remote::Remote;
pub use remote_json::RemoteJson;

use serde_json::Value;

use super::error::PipelineError;
use super::session::Session;
use super::{disabled_error, resolve, BuildError, DisabledHandlers, RequestInfo};
use crate::config::Config;

pub const NAMES: &[&str] = &[
    "allow",
    "deny",
    "keto_engine_acp_ory",
    "remote",
    "remote_json",
];

/// Large variants are boxed: every rule holds one (see [`crate::pipeline::authn::Authenticator`]).
#[derive(Debug)]
pub enum Authorizer {
    Allow,
    Deny,
    Keto(Box<Keto>),
    Remote(Box<Remote>),
    RemoteJson(Box<RemoteJson>),
    Disabled(&'static str),
}

impl Authorizer {
    pub fn build(
        name: &str,
        rule_config: Option<&Value>,
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<Self, BuildError> {
        resolve("authorizer", "authorizers", name, NAMES, config, disabled)?.build(
            |n| Self::build_enabled(n, rule_config, config),
            Self::Disabled,
        )
    }

    fn build_enabled(
        static_name: &'static str,
        rule_config: Option<&Value>,
        config: &Config,
    ) -> Result<Self, BuildError> {
        let a = &config.authorizers;
        Ok(match static_name {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "keto_engine_acp_ory" => {
                let c = a
                    .keto_engine_acp_ory
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::Keto(Box::new(Keto::new(
                    c,
                    config.access_rules.matching_strategy,
                )?))
            }
            "remote" => {
                let c = a.remote.merged(rule_config).map_err(BuildError::config)?;
                Self::Remote(Box::new(Remote::new(c)?))
            }
            _ => {
                let c = a
                    .remote_json
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                Self::RemoteJson(Box::new(RemoteJson::new(c)?))
            }
        })
    }

    /// Whether this authorizer may read the session's `MatchContext` (the matcher then extracts
    /// the rule's capture groups).
    pub fn reads_match_context(&self) -> bool {
        match self {
            Self::Keto(k) => k.reads_match_context(),
            Self::Remote(r) => r.reads_match_context(),
            Self::RemoteJson(r) => r.reads_match_context(),
            Self::Allow | Self::Deny | Self::Disabled(_) => false,
        }
    }

    /// Whether this authorizer reads the request body (SPEC §5.2 `remote`).
    pub fn needs_body(&self) -> bool {
        matches!(self, Self::Remote(_))
    }

    /// Header names this authorizer puts into the session (`forward_response_headers_to_upstream`),
    /// known at load time; the proxy strips client-sent copies like it does for mutators'.
    pub fn header_names(&self) -> Vec<http::HeaderName> {
        match self {
            Self::Remote(r) => r.header_names(),
            Self::RemoteJson(r) => r.endpoint().forwarded_names().to_vec(),
            _ => Vec::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Keto(_) => "keto_engine_acp_ory",
            Self::Remote(_) => "remote",
            Self::RemoteJson(_) => "remote_json",
            Self::Disabled(n) => n,
        }
    }

    pub async fn authorize(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Allow => allow::authorize(),
            Self::Deny => deny::authorize(),
            // Boxed for the reason given in `Authenticator::authenticate`.
            Self::Keto(k) => Box::pin(k.authorize(req, session)).await,
            Self::Remote(r) => Box::pin(r.authorize(req, session)).await,
            Self::RemoteJson(r) => Box::pin(r.authorize(req, session)).await,
            Self::Disabled(n) => Err(disabled_error("authorizer", n)),
        }
    }
}
