//! Access rules: raw spec types (`spec`), sources (`repository`), compilation into the runtime
//! rule set (`compile`) and URL matching (`matcher`).
//!
//! A rule set is compiled whole — every pattern, handler and template — and handed to requests as
//! one immutable value; nothing about a rule is parsed or merged per request.

pub mod compile;
pub mod matcher;
mod memo;
pub mod migrate;
pub mod remote;
pub mod repository;
pub mod spec;
pub mod watch;

pub use compile::{Rule, RuleSet};

/// A rule source, file or rule that could not be loaded. Display form:
/// `rules/api.yaml: rule "api-users": authenticators[0].handler: unknown handler ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// File path or source name.
    pub origin: String,
    /// Rule id (or `#index` when the rule has none).
    pub rule_id: Option<String>,
    /// Key path inside the rule, e.g. `authenticators[0].handler`.
    pub path: Option<String>,
    pub message: String,
}

impl LoadError {
    pub fn source(origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_string(),
            rule_id: None,
            path: None,
            message: message.into(),
        }
    }

    pub fn rule(
        origin: &str,
        rule_id: &str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let path: String = path.into();
        Self {
            origin: origin.to_string(),
            rule_id: Some(rule_id.to_string()),
            path: (!path.is_empty()).then_some(path),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(id) = &self.rule_id {
            write!(f, ": rule \"{id}\"")?;
        }
        if let Some(p) = &self.path {
            write!(f, ": {}", p.trim_start_matches('.'))?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}
