//! The dynamic value a template computes with. Session data is borrowed (`'a` is the session's
//! lifetime), so a render copies only what it actually touches.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::rc::Rc;

use http::HeaderMap;
use serde_json::{Map, Value as Json};

use crate::pipeline::session::{MatchContext, RequestUrl, Session};

/// Nesting cap for containers built by templates (`list`, `dict`); also bounds the recursion of
/// printing and dropping them.
pub(crate) const MAX_VALUE_DEPTH: u32 = 64;

/// A string that is either borrowed from the session or produced by the template.
#[derive(Clone, Debug)]
pub(crate) enum Str<'a> {
    B(&'a str),
    O(Rc<str>),
}

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Str::B(s) => s,
            Str::O(s) => s,
        }
    }
}

/// A Go value as text/template sees it (`interface{}` holding one of these).
#[derive(Clone, Debug, Default)]
pub(crate) enum Value<'a> {
    /// Untyped nil: a missing map key, JSON null, the `nil` literal.
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str<'a>),
    /// `[]interface{}` built by the template (`list`, `splitList`, header values).
    List(Rc<Vec<Value<'a>>>, u32),
    /// `map[string]interface{}` built by the template (`dict`, `split`); Go prints maps sorted.
    Dict(Rc<BTreeMap<String, Value<'a>>>, u32),
    /// A JSON array from `Extra`.
    JsonArr(&'a Vec<Json>),
    /// A JSON object from `Extra` (also `Extra` itself).
    JsonObj(&'a Map<String, Json>),
    /// `[]string` borrowed from the session (capture groups).
    Strings(&'a [String]),
    Obj(Obj<'a>),
}

/// The session's Go structs and the library types with methods (`http.Header`, `url.Values`).
#[derive(Clone, Debug)]
pub(crate) enum Obj<'a> {
    Session(&'a Session),
    MatchContext(&'a MatchContext),
    Url(&'a RequestUrl),
    Header(&'a HeaderMap),
    /// `url.Values`: decoded query, keys sorted like Go's map order when printed.
    Query(Rc<BTreeMap<String, Vec<String>>>),
}

impl<'a> Value<'a> {
    pub(crate) fn str(s: &'a str) -> Self {
        Value::Str(Str::B(s))
    }

    pub(crate) fn string(s: impl Into<Rc<str>>) -> Self {
        Value::Str(Str::O(s.into()))
    }

    /// Map a JSON value to the Go value `encoding/json` would have produced, except that
    /// integral JSON numbers stay integers (so `{"a":1}` prints `1`, and big ids do not turn
    /// into `1.234567e+06` as they would in Go).
    pub(crate) fn from_json(j: &'a Json) -> Self {
        match j {
            Json::Null => Value::Nil,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::str(s),
            Json::Array(a) => Value::JsonArr(a),
            Json::Object(o) => Value::JsonObj(o),
        }
    }

    /// Build a list, refusing to nest deeper than [`MAX_VALUE_DEPTH`].
    pub(crate) fn list(items: Vec<Value<'a>>) -> Result<Self, String> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_VALUE_DEPTH {
            return Err("value nested too deeply".into());
        }
        Ok(Value::List(Rc::new(items), depth))
    }

    pub(crate) fn dict(items: BTreeMap<String, Value<'a>>) -> Result<Self, String> {
        let depth = 1 + items.values().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_VALUE_DEPTH {
            return Err("value nested too deeply".into());
        }
        Ok(Value::Dict(Rc::new(items), depth))
    }

    pub(crate) fn str_list(items: Vec<String>) -> Self {
        Value::List(Rc::new(items.into_iter().map(Value::string).collect()), 1)
    }

    /// Depth of template-built containers (borrowed JSON counts as 1: serde bounds its depth).
    fn depth(&self) -> u32 {
        match self {
            Value::List(_, d) | Value::Dict(_, d) => *d,
            _ => 0,
        }
    }

    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Go's truth: false, 0, nil and empty strings/collections are false; structs are true.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Obj(Obj::Session(_) | Obj::MatchContext(_) | Obj::Url(_)) => true,
            _ => self.len().unwrap_or(0) > 0,
        }
    }

    /// Length of strings (bytes, like Go), lists and maps.
    pub(crate) fn len(&self) -> Option<usize> {
        Some(match self {
            Value::Str(s) => s.len(),
            Value::List(l, _) => l.len(),
            Value::Dict(d, _) => d.len(),
            Value::JsonArr(a) => a.len(),
            Value::JsonObj(o) => o.len(),
            Value::Strings(s) => s.len(),
            Value::Obj(Obj::Header(h)) => h.keys_len(),
            Value::Obj(Obj::Query(q)) => q.len(),
            _ => return None,
        })
    }

    /// Elements of a list-like value, `None` for anything else.
    pub(crate) fn list_items(&self) -> Option<Vec<Value<'a>>> {
        Some(match self {
            Value::List(l, _) => l.as_ref().clone(),
            Value::JsonArr(a) => a.iter().map(Value::from_json).collect(),
            Value::Strings(s) => s.iter().map(|x| Value::str(x)).collect(),
            _ => return None,
        })
    }

    /// Element `i` of a list-like value without copying the list.
    pub(crate) fn list_get(&self, i: usize) -> Option<Option<Value<'a>>> {
        Some(match self {
            Value::List(l, _) => l.get(i).cloned(),
            Value::JsonArr(a) => a.get(i).map(Value::from_json),
            Value::Strings(s) => s.get(i).map(|x| Value::str(x)),
            _ => return None,
        })
    }

    pub(crate) fn is_list(&self) -> bool {
        matches!(
            self,
            Value::List(..) | Value::JsonArr(_) | Value::Strings(_)
        )
    }

    /// Entries of a `map[string]…` value in Go's printing/range order (sorted by key).
    pub(crate) fn map_entries(&self) -> Option<Vec<(String, Value<'a>)>> {
        let mut out: Vec<(String, Value<'a>)> = match self {
            Value::Dict(d, _) => {
                return Some(d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            Value::JsonObj(o) => o
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
            Value::Obj(Obj::Header(h)) => crate::pipeline::template::context::header_entries(h),
            Value::Obj(Obj::Query(q)) => q
                .iter()
                .map(|(k, v)| (k.clone(), Value::str_list(v.clone())))
                .collect(),
            _ => return None,
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Some(out)
    }

    /// Look a key up in a `map[string]…` value: `None` if not a map, `Some(None)` if missing.
    pub(crate) fn map_get(&self, key: &str) -> Option<Option<Value<'a>>> {
        Some(match self {
            Value::Dict(d, _) => d.get(key).cloned(),
            Value::JsonObj(o) => o.get(key).map(Value::from_json),
            Value::Obj(Obj::Header(h)) => crate::pipeline::template::context::header_index(h, key),
            Value::Obj(Obj::Query(q)) => q.get(key).map(|v| Value::str_list(v.clone())),
            _ => return None,
        })
    }

    /// The Go type name, for error messages and `%!verb(type=value)`.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(..) | Value::JsonArr(_) => "[]interface {}",
            Value::Strings(_) => "[]string",
            Value::Dict(..) | Value::JsonObj(_) => "map[string]interface {}",
            Value::Obj(Obj::Session(_)) => "*authn.AuthenticationSession",
            Value::Obj(Obj::MatchContext(_)) => "authn.MatchContext",
            Value::Obj(Obj::Url(_)) => "*url.URL",
            Value::Obj(Obj::Header(_)) => "http.Header",
            Value::Obj(Obj::Query(_)) => "url.Values",
        }
    }

    /// Shallow size, charged against the render's work budget for function results and
    /// arguments (functions may copy or scan what they are given).
    pub(crate) fn cost(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Obj(Obj::Session(_) | Obj::MatchContext(_) | Obj::Url(_)) => 1,
            other => other.len().unwrap_or(1),
        }
    }
}

/// Loose equality used by `eq`, `has`: numbers compare by value, containers are not compared.
pub(crate) fn basic_eq(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => **x == **y,
        (x, _) if x.len().is_some() && !matches!(x, Value::Str(_)) => {
            return Err(format!("non-comparable type {}", x.type_name()));
        }
        (x, y) => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                x.type_name(),
                y.type_name()
            ))
        }
    })
}
