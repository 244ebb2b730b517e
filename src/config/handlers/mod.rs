//! Handler sections: `authenticators.*`, `authorizers.*`, `mutators.*`, `errors.handlers.*`
//! (SPEC §2.6–2.8).
//!
//! Each section is a [`Handler<T>`]: `enabled` plus the typed global `config`. The pipeline gets a
//! rule's effective config with [`Handler::merged`], which applies SPEC §2.7 (deep merge of the
//! rule's inline `config` over the global one, then validation) once, when the rule set is built.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::duration::Duration;
use super::error::{from_value, ConfigError};
use super::merge::{deep_merge, strip_nulls};

pub mod authn;
pub mod authz;
pub mod errors;
pub mod mutate;

pub use authn::*;
pub use authz::*;
pub use errors::*;
pub use mutate::*;

/// A handler's typed `config`.
pub trait HandlerConfig: Serialize + DeserializeOwned + Default + Clone {
    /// Checks the keys the schema requires when the handler is enabled (SPEC §2.6). On failure
    /// returns the missing key's path relative to `config`, e.g. `jwks_urls` or `api.url`.
    fn check_required(&self) -> Result<(), String> {
        Ok(())
    }
}

/// One handler section: `{ enabled, config }`. `ON` is the schema default of `enabled` (only
/// `errors.handlers.json` defaults to `true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    bound(
        serialize = "T: Serialize",
        deserialize = "T: DeserializeOwned + Default"
    )
)]
pub struct Handler<T, const ON: bool = false> {
    #[serde(deserialize_with = "crate::format::de_bool")]
    pub enabled: bool,
    pub config: T,
}

impl<T: Default, const ON: bool> Default for Handler<T, ON> {
    fn default() -> Self {
        Self {
            enabled: ON,
            config: T::default(),
        }
    }
}

impl<T: HandlerConfig, const ON: bool> Handler<T, ON> {
    /// The effective config for a rule whose handler entry carries `rule_config` (SPEC §2.7): the
    /// global config (defaults materialised) with `rule_config` deep-merged over it — objects merge
    /// recursively; arrays, scalars and `null` replace (`null` restores the schema default) — then
    /// decoded with unknown keys rejected and required keys checked. Error keys are relative to
    /// the handler's `config` (e.g. `jwks_urls[0]`); the caller adds rule id and handler name.
    pub fn merged(&self, rule_config: Option<&Value>) -> Result<T, ConfigError> {
        let merged = match rule_config {
            None | Some(Value::Null) => self.config.clone(),
            Some(rule @ Value::Object(_)) => {
                let mut base =
                    serde_json::to_value(&self.config).map_err(|e| ConfigError::HandlerConfig {
                        key: String::new(),
                        message: e.to_string(),
                    })?;
                deep_merge(&mut base, rule.clone());
                from_value(strip_nulls(base))
                    .map_err(|(key, message)| ConfigError::HandlerConfig { key, message })?
            }
            Some(other) => {
                return Err(ConfigError::HandlerConfig {
                    key: String::new(),
                    message: format!("handler config must be an object, got {}", json_kind(other)),
                })
            }
        };
        merged
            .check_required()
            .map_err(|key| ConfigError::HandlerConfig {
                key,
                message: "required key is missing".to_owned(),
            })?;
        Ok(merged)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Config of handlers that have none (`noop`, `unauthorized`, `allow`, `deny`, noop mutator).
/// Any keys are accepted and ignored, as in Oathkeeper, which never decodes these configs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NoConfig {}

impl HandlerConfig for NoConfig {}

/// Where a token is read from (`token_from`): exactly one of the three; `None` (absent/null) means
/// `Authorization: Bearer <token>`. A rule's `token_from` replaces the global one as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFrom {
    /// Raw value of this header (for exactly `Authorization`: the bearer token).
    Header(String),
    /// Value of this query parameter (case-sensitive).
    QueryParameter(String),
    /// Value of this cookie.
    Cookie(String),
}

// Hand-written for a clear message when zero or several locations are given.
impl<'de> Deserialize<'de> for TokenFrom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const ONE_OF: &str = "exactly one of `header`, `query_parameter`, `cookie`";
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut entries = map.into_iter();
        match (entries.next(), entries.next()) {
            (Some((k, v)), None) => match k.as_str() {
                "header" => Ok(Self::Header(v)),
                "query_parameter" => Ok(Self::QueryParameter(v)),
                "cookie" => Ok(Self::Cookie(v)),
                _ => Err(D::Error::unknown_variant(
                    &k,
                    &["header", "query_parameter", "cookie"],
                )),
            },
            (None, _) => Err(D::Error::custom(format!(
                "empty token_from, expected {ONE_OF}"
            ))),
            (Some(_), Some(_)) => Err(D::Error::custom(format!(
                "several token locations, expected {ONE_OF}"
            ))),
        }
    }
}

/// Scope matching strategy (SPEC §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeStrategy {
    Hierarchic,
    Exact,
    Wildcard,
    #[default]
    None,
}

config_struct! {
    /// Legacy `retry` block (SPEC §5.6). gatehouse maps it onto a bounded policy: `give_up_after`,
    /// when written, bounds the whole call including retries (never beyond `timeout`), and
    /// `max_delay` caps the wait between attempts. Its schema default (1s) is shown but bounds
    /// nothing: a handler's `timeout` (default 5s) is the deadline unless `give_up_after` is set.
    pub struct Retry {
        pub give_up_after: Written<Duration> = Written::default_value(Duration::from_secs(1)),
        pub max_delay: Duration = Duration::from_millis(100),
    }
}

/// A value with a schema default that tells whether a config wrote it. Serialized as the bare
/// value (so the effective config shows the schema's default), decoded as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written<T> {
    pub value: T,
    /// A config file, env variable or rule set it (not the schema default).
    pub written: bool,
}

impl<T> Written<T> {
    pub const fn default_value(value: T) -> Self {
        Self {
            value,
            written: false,
        }
    }

    /// The value when written, `None` for the default.
    pub fn if_written(self) -> Option<T> {
        self.written.then_some(self.value)
    }
}

impl<T: serde::Serialize> serde::Serialize for Written<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Written<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|value| Self {
            value,
            written: true,
        })
    }
}

/// Default per-call timeout of outbound calls (gatehouse extension `timeout`, DESIGN §3).
pub(crate) const fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A handler as listed by [`super::Config::handlers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerStatus {
    /// `authenticators`, `authorizers`, `mutators` or `errors`.
    pub kind: &'static str,
    /// Handler id, e.g. `jwt`.
    pub name: &'static str,
    pub enabled: bool,
    /// Missing required key of the global config, relative to `config`.
    pub missing: Option<String>,
}

impl HandlerStatus {
    pub(crate) fn new<T: HandlerConfig, const ON: bool>(
        kind: &'static str,
        name: &'static str,
        h: &Handler<T, ON>,
    ) -> Self {
        Self {
            kind,
            name,
            enabled: h.enabled,
            missing: h.config.check_required().err(),
        }
    }

    /// Path of the section in the config tree, e.g. `errors.handlers.json`.
    pub fn path(&self) -> String {
        if self.kind == "errors" {
            format!("errors.handlers.{}", self.name)
        } else {
            format!("{}.{}", self.kind, self.name)
        }
    }
}
