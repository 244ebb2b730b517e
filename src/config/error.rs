//! `ConfigError`: every message names where the value came from, the key path, the bad value (when
//! serde reports one) and what is allowed.

use std::fmt;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where a config value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config file given with `--config`.
    File(PathBuf),
    /// An environment variable override.
    Env(String),
    /// The result of merging all files and env vars (a conflict no single source has).
    Merged,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Merged => f.write_str("merged configuration"),
        }
    }
}

/// A configuration that cannot be used. Loading stops at the first one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file could not be read.
    #[error("{}: cannot read config file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A config file is not valid YAML/JSON (or has an unsupported format).
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A value does not fit the schema: unknown key, wrong type, bad pattern or enum value.
    #[error("{origin}: {}", at(key, message))]
    Invalid {
        origin: Origin,
        key: String,
        message: String,
    },
    /// An enabled handler lacks a key its schema requires (SPEC §2.6); `sources` names the
    /// config files (none of them has the key).
    #[error("{sources}{key}: required when {handler}.enabled is true")]
    Required {
        sources: String,
        handler: String,
        key: String,
    },
    /// A setting that is valid alone but not together with the rest (e.g. a fallback error handler
    /// that is disabled).
    #[error("{key}: {message}")]
    Inconsistent { key: String, message: String },
    /// A rule's inline handler `config`, merged over the global one (SPEC §2.7), is invalid. The
    /// key is relative to the handler's `config`; the caller adds rule id and handler name.
    #[error("{}", at(key, message))]
    HandlerConfig { key: String, message: String },
}

fn at(key: &str, message: &str) -> String {
    if key.is_empty() {
        message.to_owned()
    } else {
        format!("{key}: {message}")
    }
}

/// A serde message in the config's terms: the Rust type it names (`expected u16`, `expected
/// struct HandlerRef`) becomes what a file may hold there.
pub(crate) fn plain(message: &str) -> String {
    const TYPES: &[(&str, &str)] = &[
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        (
            "struct HandlerRef",
            "a handler (a mapping: `{ handler: <name>, config: {...} }`)",
        ),
        (
            "struct RuleSpec",
            "a rule (a mapping with `id`, `match`, `authenticators`, `authorizer`, `mutators`)",
        ),
    ];
    let Some((head, tail)) = message.split_once("expected ") else {
        return message.to_owned();
    };
    let (name, rest) = match tail.find([',', ' ']).map(|i| tail.split_at(i)) {
        // `struct Name` is two words.
        Some(("struct", rest)) => {
            let rest = rest.trim_start();
            let end = rest.find([',', ' ']).unwrap_or(rest.len());
            (&tail[..tail.len() - rest.len() + end], &rest[end..])
        }
        Some((name, rest)) => (name, rest),
        None => (tail, ""),
    };
    let wanted = match TYPES.iter().find(|(t, _)| *t == name) {
        Some((_, text)) => (*text).to_owned(),
        None if name.starts_with("struct ") => "a mapping".to_owned(),
        None => return message.to_owned(),
    };
    format!("{head}expected {wanted}{rest}")
}

/// Deserializes `v` into `T`, returning `(key path, message)` on failure. For unknown fields the
/// offending key is appended to the path, so the path names the key that is wrong.
pub(crate) fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let mut key = e.path().to_string();
        if key == "." {
            key.clear();
        }
        let message = plain(&e.inner().to_string());
        if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            let last = key.rsplit('.').next().unwrap_or_default();
            if last != field {
                key = if key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
            }
        }
        (key, message)
    })
}
