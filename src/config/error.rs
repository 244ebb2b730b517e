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

/// A configuration that cannot be used. Loading reports every error of the first file that has
/// any ([`ConfigError::Several`]), then stops.
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
    /// Several errors, each on its own line (all a file's mistakes at once).
    #[error("{} errors:\n{}", .0.len(), lines(.0))]
    Several(Vec<ConfigError>),
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

fn lines(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
    lines.join("\n")
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
    decode(&v).map_err(|e| (e.key, e.message))
}

/// At most this many errors are reported for one document.
const MAX_REPORTED: usize = 20;

/// Deserializes `v` into `T`, or reports every `(key path, message)` a reader of the file needs
/// (up to [`MAX_REPORTED`]), so one run names all the mistakes in a file instead of one per
/// start. After each error the value at fault is taken out and decoding runs again: an unknown
/// key, a wrong type or value. An error inside a list takes out the whole list, so a later error
/// in it is not reported under a shifted index.
pub(crate) fn all_errors<T: DeserializeOwned>(v: &Value) -> Result<T, Vec<(String, String)>> {
    let mut found = Vec::new();
    let mut rest = std::borrow::Cow::Borrowed(v);
    loop {
        match decode::<T>(&rest) {
            Ok(t) if found.is_empty() => return Ok(t),
            Ok(_) => return Err(found),
            Err(e) => {
                let removed = remove(rest.to_mut(), &e.at);
                found.push((e.key, e.message));
                if !removed || found.len() == MAX_REPORTED {
                    return Err(found);
                }
            }
        }
    }
}

/// One step of a key path.
enum Step {
    Key(String),
    /// An item of a list.
    Item,
}

struct Decoded {
    key: String,
    message: String,
    /// Where the value at fault is, as far as serde could say.
    at: Vec<Step>,
}

fn decode<T: DeserializeOwned>(v: &Value) -> Result<T, Decoded> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let mut key = e.path().to_string();
        if key == "." {
            key.clear();
        }
        let mut at = Vec::new();
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Map { key } => at.push(Step::Key(key.clone())),
                serde_path_to_error::Segment::Seq { .. } => at.push(Step::Item),
                _ => break,
            }
        }
        let message = plain(&e.inner().to_string());
        if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            if !matches!(at.last(), Some(Step::Key(k)) if k == field) {
                at.push(Step::Key(field.to_owned()));
            }
            let last = key.rsplit('.').next().unwrap_or_default();
            if last != field {
                key = if key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
            }
        }
        Decoded { key, message, at }
    })
}

/// Takes the value at `at` (or the list holding it) out of `v`; false when there is nothing to
/// take (the error is about the whole document).
fn remove(v: &mut Value, at: &[Step]) -> bool {
    let end = at
        .iter()
        .position(|s| matches!(s, Step::Item))
        .unwrap_or(at.len());
    let Some((Step::Key(last), parents)) = at[..end].split_last() else {
        return false;
    };
    let mut node = v;
    for step in parents {
        let Step::Key(k) = step else { return false };
        match node.get_mut(k.as_str()) {
            Some(next) => node = next,
            None => return false,
        }
    }
    node.as_object_mut()
        .is_some_and(|o| o.shift_remove(last.as_str()).is_some())
}
