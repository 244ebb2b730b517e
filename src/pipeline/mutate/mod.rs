//! Mutators (SPEC §4.5, §5.3): turn the session into what the upstream (or the gateway) receives.

mod cookie;
mod header;
mod hydrator;
mod hydrator_json;
mod id_token;
mod noop;

pub use cookie::CookieMutator;
pub use header::HeaderMutator;
pub use hydrator::HydratorMutator;
pub use id_token::IdToken;

use serde_json::Value;

use super::error::PipelineError;
use super::session::Session;
use super::{disabled_error, resolve, BuildError, DisabledHandlers, RequestInfo};
use crate::config::Config;

pub const NAMES: &[&str] = &["noop", "cookie", "header", "hydrator", "id_token"];

/// Large variants are boxed: every rule holds its mutators (see
/// [`crate::pipeline::authn::Authenticator`]).
#[derive(Debug)]
pub enum Mutator {
    Noop,
    Header(HeaderMutator),
    Cookie(CookieMutator),
    Hydrator(Box<HydratorMutator>),
    IdToken(Box<IdToken>),
    Disabled(&'static str),
}

impl Mutator {
    pub fn build(
        name: &str,
        rule_config: Option<&Value>,
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<Self, BuildError> {
        resolve("mutator", "mutators", name, NAMES, config, disabled)?.build(
            |n| Self::build_enabled(n, rule_config, config),
            Self::Disabled,
        )
    }

    fn build_enabled(
        static_name: &'static str,
        rule_config: Option<&Value>,
        config: &Config,
    ) -> Result<Self, BuildError> {
        let m = &config.mutators;
        Ok(match static_name {
            "noop" => Self::Noop,
            "header" => {
                let c = m.header.merged(rule_config).map_err(BuildError::config)?;
                Self::Header(HeaderMutator::new(c)?)
            }
            "cookie" => {
                let c = m.cookie.merged(rule_config).map_err(BuildError::config)?;
                Self::Cookie(CookieMutator::new(c)?)
            }
            "hydrator" => {
                let c = m.hydrator.merged(rule_config).map_err(BuildError::config)?;
                Self::Hydrator(Box::new(HydratorMutator::new(c)?))
            }
            "id_token" => {
                let c = m.id_token.merged(rule_config).map_err(BuildError::config)?;
                Self::IdToken(Box::new(IdToken::new(
                    c,
                    &config.authenticators.jwt.config,
                )?))
            }
            other => return Err(BuildError::unsupported("mutator", other)),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::Header(_) => "header",
            Self::Cookie(_) => "cookie",
            Self::Hydrator(_) => "hydrator",
            Self::IdToken(_) => "id_token",
            Self::Disabled(n) => n,
        }
    }

    /// Whether this mutator may read the session's `MatchContext` (the matcher then extracts the
    /// rule's capture groups). The hydrator sends the whole session.
    pub fn reads_match_context(&self) -> bool {
        match self {
            Self::Header(h) => h.reads_match_context(),
            Self::Cookie(c) => c.reads_match_context(),
            Self::IdToken(t) => t.reads_match_context(),
            Self::Hydrator(_) => true,
            Self::Noop | Self::Disabled(_) => false,
        }
    }

    /// Header names this mutator sets, known at load time; the proxy strips client-sent copies.
    pub fn header_names(&self) -> Vec<http::HeaderName> {
        match self {
            Self::Header(h) => h.names(),
            Self::Cookie(c) => c.names(),
            // The hydrator's headers are only known from its answer.
            Self::IdToken(_) => vec![http::header::AUTHORIZATION],
            _ => Vec::new(),
        }
    }

    /// The key set an id_token mutator signs with (`/.well-known/jwks.json` publishes it).
    pub fn signing_jwks(&self) -> Option<&std::sync::Arc<crate::credentials::JwksSource>> {
        match self {
            Self::IdToken(t) => Some(t.source()),
            _ => None,
        }
    }

    pub async fn mutate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        match self {
            Self::Noop => {
                noop::mutate(req, session);
                Ok(())
            }
            Self::Header(h) => h.mutate(session),
            Self::Cookie(c) => c.mutate(req, session),
            // Boxed for the reason given in `Authenticator::authenticate`.
            Self::Hydrator(h) => Box::pin(h.mutate(req, session)).await,
            Self::IdToken(t) => Box::pin(t.mutate(session)).await,
            Self::Disabled(n) => Err(disabled_error("mutator", n)),
        }
    }
}
