//! Authorizers (SPEC §4.4, §5.2): decide whether the authenticated session may proceed.

mod allow;
mod deny;

use serde_json::Value;

use super::error::PipelineError;
use super::session::Session;
use super::{disabled_error, BuildError, DisabledHandlers, RequestInfo};
use crate::config::Config;

pub const NAMES: &[&str] = &[
    "allow",
    "deny",
    "keto_engine_acp_ory",
    "remote",
    "remote_json",
];

#[derive(Debug)]
pub enum Authorizer {
    Allow,
    Deny,
    Disabled(&'static str),
}

impl Authorizer {
    pub fn build(
        name: &str,
        _rule_config: Option<&Value>,
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<Self, BuildError> {
        let Some(&static_name) = NAMES.iter().find(|n| **n == name) else {
            return Err(BuildError::unknown("authorizer", name, NAMES));
        };
        let a = &config.authorizers;
        let enabled = match static_name {
            "allow" => a.allow.enabled,
            "deny" => a.deny.enabled,
            "keto_engine_acp_ory" => a.keto_engine_acp_ory.enabled,
            "remote" => a.remote.enabled,
            _ => a.remote_json.enabled,
        };
        if !enabled {
            return match disabled {
                DisabledHandlers::Reject => {
                    Err(BuildError::disabled("authorizer", name, "authorizers"))
                }
                DisabledHandlers::FailAtRequest => Ok(Self::Disabled(static_name)),
            };
        }
        Ok(match static_name {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            other => return Err(BuildError::unsupported("authorizer", other)),
        })
    }

    /// Whether this authorizer reads the request body (SPEC §5.2 `remote`).
    pub fn needs_body(&self) -> bool {
        false
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Disabled(n) => n,
        }
    }

    pub async fn authorize(
        &self,
        _req: &RequestInfo,
        _session: &mut Session,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Allow => allow::authorize(),
            Self::Deny => deny::authorize(),
            Self::Disabled(n) => Err(disabled_error("authorizer", n)),
        }
    }
}
