//! Environment-variable overrides (SPEC §2.1).
//!
//! A variable's name, lowercased with every `_` turned into `.`, is compared with every known key
//! path with `_` turned into `.`: `SERVE_PROXY_TRUST_FORWARDED_HEADERS` sets
//! `serve.proxy.trust_forwarded_headers`. The known paths come from the types themselves: the
//! serialized `Config::default()`, in which every key is present (`null` for unset options).
//! The default's JSON type says how to read the string:
//!
//! - boolean: `true`/`false`/`1`/`0` (also `t`/`f`, any case);
//! - number: an integer (or float where the default is one);
//! - array: a JSON array, or comma-separated strings (`a,b`); items by index (`..._0`);
//! - object: a JSON object (`{"X-User":"{{ print .Subject }}"}`); keys under an object without
//!   declared keys (maps like `headers`) can also be set one by one, the rest of the name being
//!   the key (`_` kept);
//! - `null` (unset option): a JSON value if it is one and fits, else the string, else a
//!   comma-separated list — whichever the type accepts.
//!
//! Variables matching no key are ignored (the environment holds `PATH` and friends). A value that
//! does not parse or does not fit is an error naming the variable.

use serde_json::{Map, Value};

use super::error::{ConfigError, Origin};
use super::handlers::WhenClause;
use super::{typed, Config};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Applies every matching variable of `env` (in name order) to `tree`.
pub(crate) fn apply(
    mut tree: Value,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Value, ConfigError> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let schema = schema_tree(&defaults);
    // If the files alone conflict, that is reported for the merged config, not blamed on a var.
    let base_ok = typed(&tree).is_ok();
    let mut vars: Vec<(String, String)> = env.into_iter().collect();
    vars.sort();
    for (name, raw) in vars {
        let normalized = name.to_ascii_lowercase().replace('_', ".");
        let Some((segs, default)) = resolve(&schema, &normalized) else {
            continue;
        };
        let invalid = |key: String, message: String| ConfigError::Invalid {
            origin: Origin::Env(name.clone()),
            key,
            message,
        };
        if default.is_null() {
            let candidates = candidates(&raw);
            let fits = candidates.iter().find_map(|c| {
                let mut t = tree.clone();
                set(&mut t, Some(&defaults), &segs, c.clone());
                typed(&t).is_ok().then_some(t)
            });
            match fits {
                Some(t) => tree = t,
                None => set(&mut tree, Some(&defaults), &segs, candidates[0].clone()),
            }
        } else {
            let value = parse_typed(&raw, &default).map_err(|m| invalid(path_string(&segs), m))?;
            set(&mut tree, Some(&defaults), &segs, value);
        }
        if base_ok {
            typed(&tree).map_err(|(key, message)| invalid(key, message))?;
        }
    }
    Ok(tree)
}

/// The known-keys tree: the serialized defaults, with one template item in arrays of objects
/// whose default is empty (`when`), so that `..._WHEN_0_ERROR_0` resolves.
fn schema_tree(defaults: &Value) -> Value {
    let mut schema = defaults.clone();
    let when = Value::Array(vec![
        serde_json::to_value(WhenClause::default()).unwrap_or(Value::Null)
    ]);
    for h in ["json", "redirect", "www_authenticate"] {
        let segs = ["errors", "handlers", h, "config", "when"].map(|k| Seg::Key(k.to_owned()));
        set(&mut schema, None, &segs, when.clone());
    }
    schema
}

/// Finds the key a normalized variable name addresses: its path and its default value.
fn resolve(node: &Value, rest: &str) -> Option<(Vec<Seg>, Value)> {
    if rest.is_empty() {
        return Some((Vec::new(), node.clone()));
    }
    let index = |s: &str| -> Option<usize> {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    match node {
        Value::Object(m) if !m.is_empty() => m.iter().find_map(|(k, v)| {
            let nk = k.replace('_', ".");
            let sub = if rest == nk {
                ""
            } else {
                rest.strip_prefix(nk.as_str())?.strip_prefix('.')?
            };
            let (mut segs, d) = resolve(v, sub)?;
            segs.insert(0, Seg::Key(k.clone()));
            Some((segs, d))
        }),
        Value::Array(items) => {
            let (idx, sub) = rest.split_once('.').unwrap_or((rest, ""));
            let i = index(idx)?;
            let template = items.first().cloned().unwrap_or(Value::Null);
            let (mut segs, d) = resolve(&template, sub)?;
            segs.insert(0, Seg::Index(i));
            Some((segs, d))
        }
        // A key without declared sub-keys (map or unset option): the rest names one entry.
        Value::Null | Value::Object(_) => {
            let seg = match index(rest) {
                Some(i) => Seg::Index(i),
                None => Seg::Key(rest.replace('.', "_")),
            };
            Some((vec![seg], Value::Null))
        }
        _ => None,
    }
}

/// Sets `value` at `segs`, creating objects and arrays on the way. An array that does not exist
/// yet starts as its default (so `ERRORS_FALLBACK_1=redirect` appends to `["json"]`).
fn set(node: &mut Value, default: Option<&Value>, segs: &[Seg], value: Value) {
    let Some((first, rest)) = segs.split_first() else {
        *node = value;
        return;
    };
    match first {
        Seg::Key(k) => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let child_default = default.and_then(|d| d.get(k));
            if let Value::Object(m) = node {
                let child = m.entry(k.clone()).or_insert(Value::Null);
                set(child, child_default, rest, value);
            }
        }
        Seg::Index(i) => {
            if !node.is_array() {
                *node = match default {
                    Some(d @ Value::Array(_)) => d.clone(),
                    _ => Value::Array(Vec::new()),
                };
            }
            let child_default = default.and_then(|d| d.get(*i));
            if let Value::Array(a) = node {
                while a.len() <= *i {
                    a.push(Value::Null);
                }
                set(&mut a[*i], child_default, rest, value);
            }
        }
    }
}

/// Readings of a value for a key whose type the defaults do not show, most specific first.
fn candidates(raw: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        if !v.is_string() {
            out.push(v);
        }
    }
    out.push(Value::String(raw.to_owned()));
    out.push(split_list(raw));
    out
}

fn split_list(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Array(Vec::new());
    }
    Value::Array(
        raw.split(',')
            .map(|s| Value::String(s.trim().to_owned()))
            .collect(),
    )
}

/// Reads `raw` as the JSON type of `default`.
fn parse_typed(raw: &str, default: &Value) -> Result<Value, String> {
    match default {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(Value::Bool(true)),
            "0" | "f" | "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "invalid boolean `{raw}`, expected one of true, false, 1, 0"
            )),
        },
        Value::Number(n) => {
            let t = raw.trim();
            let parsed = if n.is_f64() {
                t.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
            } else {
                t.parse::<i64>().ok().map(serde_json::Number::from)
            };
            parsed
                .map(Value::Number)
                .ok_or_else(|| format!("invalid number `{raw}`, expected an integer"))
        }
        Value::Array(_) if raw.trim_start().starts_with('[') => match serde_json::from_str(raw) {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err(format!("invalid JSON array `{raw}`")),
        },
        Value::Array(_) => Ok(split_list(raw)),
        Value::Object(_) => match serde_json::from_str(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(format!("invalid value `{raw}`, expected a JSON object")),
        },
        Value::String(_) | Value::Null => Ok(Value::String(raw.to_owned())),
    }
}
