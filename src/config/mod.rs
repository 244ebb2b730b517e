//! Configuration: typed, defaulted, merged from files and env vars, validated once at start-up.
//!
//! Loads Oathkeeper config files unchanged (SPEC §2). Every section is a raw serde struct with
//! `deny_unknown_fields` and the schema's defaults; [`load`] applies SPEC §2.1:
//!
//! 1. each file (YAML; TOML by extension; JSON by extension or content) is parsed to a JSON
//!    tree and checked alone against the types, so an error names that file;
//! 2. the files are deep-merged in order (later wins; objects merge, arrays replace);
//! 3. environment variables override keys (`SERVE_PROXY_PORT=4455`, see `env.rs`);
//! 4. the result is decoded into [`Config`] and every *enabled* handler's global config must have
//!    its required keys (SPEC §2.6).
//!
//! Per-rule handler configs are merged over the global ones with [`Handler::merged`] (SPEC §2.7).
//!
//! # Layout
//! - `serve.rs`, `access_rules.rs`, `log.rs` (log, tracing, profiling, version): sections.
//! - `handlers/`: [`Handler`] sections and one typed config per handler (`authn`, `authz`,
//!   `mutate`, `errors`), `merged`.
//! - `duration.rs`: schema durations; `types.rs`: URIs, secrets.
//! - `merge.rs`: deep merge; `env.rs`: env overrides; `error.rs`: [`ConfigError`].

#[macro_use]
mod macros;

pub mod access_rules;
pub mod duration;
mod env;
pub mod error;
pub mod handlers;
pub mod log;
mod merge;
pub mod serve;
pub mod types;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use access_rules::{AccessRules, MatchingStrategy};
pub use duration::{Duration, GoDuration};
pub use error::{ConfigError, Origin};
pub use handlers::{Handler, HandlerConfig, HandlerStatus};
pub use log::{Log, Profiling, Tracing, Version};
pub use serve::Serve;
pub use types::{Secret, Uri};

use handlers::{Authenticators, Authorizers, Errors, Mutators};
use merge::{deep_merge, strip_nulls};

config_struct! {
    /// The whole configuration (SPEC §2.3). Nothing is required; `Config::default()` is valid.
    pub struct Config {
        pub serve: Serve = Serve::default(),
        pub access_rules: AccessRules = AccessRules::default(),
        pub authenticators: Authenticators = Authenticators::default(),
        pub authorizers: Authorizers = Authorizers::default(),
        pub mutators: Mutators = Mutators::default(),
        pub errors: Errors = Errors::default(),
        pub log: Log = Log::default(),
        pub tracing: Tracing = Tracing::default(),
        pub profiling: Profiling = Profiling::Off,
        pub version: Option<Version> = None,
        /// The merged files + env tree as written (no defaults); see [`Config::raw`].
        #[serde(skip)]
        pub(crate) raw: RawTree = RawTree::default(),
        /// The files this config was loaded from, in order.
        #[serde(skip)]
        pub(crate) sources: Vec<PathBuf> = Vec::new(),
    }
}

/// The merged source tree; `Debug` hides it because it holds secrets.
#[derive(Clone, PartialEq)]
pub(crate) struct RawTree(Value);

impl Default for RawTree {
    fn default() -> Self {
        Self(Value::Object(Map::new()))
    }
}

impl std::fmt::Debug for RawTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawTree(..)")
    }
}

/// Loads `files` in order, then applies overrides from the process environment.
pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
    load_with_env(files, std::env::vars())
}

/// Loads `files` in order, then applies overrides from `env` (name, value) pairs. Pairs that name
/// no config key are ignored.
pub fn load_with_env(
    files: &[PathBuf],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut tree = Value::Object(Map::new());
    let mut errors = Vec::new();
    for path in files {
        let doc = match read_file(path) {
            Ok(doc) => doc,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Err(found) = checked(&doc, Origin::File(path.clone())) {
            errors.extend(found);
        }
        deep_merge(&mut tree, doc);
    }
    one_or_several(errors)?;
    let tree = env::apply(tree, env)?;
    let mut config = checked(&tree, Origin::Merged).map_err(several)?;
    config.sources = files.to_vec();
    config.validate()?;
    config.raw = RawTree(tree);
    Ok(config)
}

/// Decodes a tree, naming every error in it (see [`error::all_errors`]).
fn checked(tree: &Value, origin: Origin) -> Result<Config, Vec<ConfigError>> {
    error::all_errors(&strip_nulls(tree.clone())).map_err(|found| {
        found
            .into_iter()
            .map(|(key, message)| ConfigError::Invalid {
                origin: origin.clone(),
                key,
                message,
            })
            .collect()
    })
}

/// Nothing, or the errors as one [`ConfigError`] (see [`several`]).
fn one_or_several(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
    match errors.is_empty() {
        true => Ok(()),
        false => Err(several(errors)),
    }
}

/// One error as itself, more as [`ConfigError::Several`].
fn several(mut errors: Vec<ConfigError>) -> ConfigError {
    match errors.len() {
        1 => errors.remove(0),
        _ => ConfigError::Several(errors),
    }
}

impl Config {
    /// The merged tree of all files and env overrides, as written (schema defaults not filled in).
    /// Holds secrets: never log it.
    pub fn raw(&self) -> &Value {
        &self.raw.0
    }

    /// The files this config was loaded from, in order.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// The effective config with every default filled in (what `config show` would print). Holds
    /// secrets: never log it.
    pub fn effective(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Every handler section with its enabled flag and missing required keys.
    pub fn handlers(&self) -> Vec<HandlerStatus> {
        let (a, z, m, e) = (
            &self.authenticators,
            &self.authorizers,
            &self.mutators,
            &self.errors.handlers,
        );
        const AN: &str = "authenticators";
        const AZ: &str = "authorizers";
        const MU: &str = "mutators";
        const ER: &str = "errors";
        vec![
            HandlerStatus::new(AN, "anonymous", &a.anonymous),
            HandlerStatus::new(AN, "noop", &a.noop),
            HandlerStatus::new(AN, "unauthorized", &a.unauthorized),
            HandlerStatus::new(AN, "cookie_session", &a.cookie_session),
            HandlerStatus::new(AN, "bearer_token", &a.bearer_token),
            HandlerStatus::new(AN, "jwt", &a.jwt),
            HandlerStatus::new(
                AN,
                "oauth2_client_credentials",
                &a.oauth2_client_credentials,
            ),
            HandlerStatus::new(AN, "oauth2_introspection", &a.oauth2_introspection),
            HandlerStatus::new(AZ, "allow", &z.allow),
            HandlerStatus::new(AZ, "deny", &z.deny),
            HandlerStatus::new(AZ, "keto_engine_acp_ory", &z.keto_engine_acp_ory),
            HandlerStatus::new(AZ, "remote", &z.remote),
            HandlerStatus::new(AZ, "remote_json", &z.remote_json),
            HandlerStatus::new(MU, "noop", &m.noop),
            HandlerStatus::new(MU, "cookie", &m.cookie),
            HandlerStatus::new(MU, "header", &m.header),
            HandlerStatus::new(MU, "hydrator", &m.hydrator),
            HandlerStatus::new(MU, "id_token", &m.id_token),
            HandlerStatus::new(ER, "json", &e.json),
            HandlerStatus::new(ER, "redirect", &e.redirect),
            HandlerStatus::new(ER, "www_authenticate", &e.www_authenticate),
        ]
    }

    /// Whether handler `name` of `kind` (`authenticators`, `authorizers`, `mutators`, `errors`)
    /// is enabled; `None` if there is no such handler.
    pub fn handler_enabled(&self, kind: &str, name: &str) -> Option<bool> {
        self.handlers()
            .into_iter()
            .find(|h| h.kind == kind && h.name == name)
            .map(|h| h.enabled)
    }

    /// Cross-key checks that the types cannot express (SPEC §2.6, §4.7).
    fn validate(&self) -> Result<(), ConfigError> {
        let files: Vec<String> = self
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let sources = match files.is_empty() {
            true => String::new(),
            false => format!("{}: ", files.join(", ")),
        };
        let missing = self.handlers().into_iter().filter_map(|h| {
            let key = h.missing.as_ref().filter(|_| h.enabled)?;
            let handler = h.path();
            Some(ConfigError::Required {
                sources: sources.clone(),
                key: format!("{handler}.config.{key}"),
                handler,
            })
        });
        // A disabled fallback handler is not a start-up error: selecting it answers 500 at
        // request time (SPEC §4.7 step 2, Appendix B case 8).
        one_or_several(missing.collect())
    }
}

/// Decodes a (merged) tree into `Config`; `null` values mean "unset".
pub(crate) fn typed(tree: &Value) -> Result<Config, (String, String)> {
    error::from_value(strip_nulls(tree.clone()))
}

/// Reads one config file into a JSON tree. `.json` is JSON, `.yaml`/`.yml` YAML, `.toml` TOML,
/// anything else JSON if it parses as JSON, else YAML. An empty document is an empty config.
fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let syntax = |message: String| ConfigError::Syntax {
        path: path.to_owned(),
        message,
    };
    // A byte-order mark (Windows editors write one) is no part of the document.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let doc = match ext.as_deref() {
        Some("json") => {
            serde_json::from_str(text).map_err(|e| syntax(format!("invalid JSON: {e}")))?
        }
        Some("yaml" | "yml") => {
            parse_yaml(text).map_err(|e| syntax(format!("invalid YAML: {e}")))?
        }
        Some("toml") => {
            crate::format::parse_toml(text).map_err(|e| syntax(format!("invalid TOML: {e}")))?
        }
        _ => match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => parse_yaml(text).map_err(|e| syntax(format!("invalid YAML or JSON: {e}")))?,
        },
    };
    match doc {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(doc),
        _ => Err(syntax(
            "the document must be a mapping of config keys".to_owned(),
        )),
    }
}

/// The one place YAML is parsed (serde_yaml is deprecated; swapping it touches only this). The
/// result is a JSON tree, so numbers, booleans and keys behave as in a JSON file. Merge keys
/// (`<<: *anchor`) are applied.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    crate::format::parse_yaml(text)
}
