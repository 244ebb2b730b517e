//! How the session's Go structs look to templates: fields and methods of
//! `AuthenticationSession`, `MatchContext`, `*url.URL`, `http.Header` and `url.Values`
//! (SPEC §4.2). Field names are Go's, so existing Oathkeeper templates keep working.

use std::collections::BTreeMap;
use std::rc::Rc;

use http::HeaderMap;

use super::value::{Obj, Value};
use crate::pipeline::session::RequestUrl;

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-foo-bar` → `X-Foo-Bar`; keys with characters
/// outside the token set are returned unchanged.
pub(crate) fn canonical_key(s: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !s.bytes().all(token) {
        return s.to_string();
    }
    let mut upper = true;
    s.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

fn header_values(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// All header entries as a Go `http.Header` map (canonical keys).
pub(crate) fn header_entries<'a>(h: &HeaderMap) -> Vec<(String, Value<'a>)> {
    h.keys()
        .map(|k| {
            (
                canonical_key(k.as_str()),
                Value::str_list(header_values(h, k.as_str())),
            )
        })
        .collect()
}

/// `index header "Key"` / `.Header.Key`: exact (canonical) key lookup, as on a Go map.
pub(crate) fn header_index<'a>(h: &HeaderMap, key: &str) -> Option<Value<'a>> {
    if canonical_key(key) != key || http::HeaderName::from_bytes(key.as_bytes()).is_err() {
        return None;
    }
    let vals = header_values(h, key);
    (!vals.is_empty()).then(|| Value::str_list(vals))
}

/// What a missing key yields: a nil `[]string` (prints `[]`) for header-like maps, nil otherwise.
pub(crate) fn missing_key<'a>(recv: &Value<'a>) -> Value<'a> {
    match recv {
        Value::Obj(Obj::Header(_) | Obj::Query(_)) => Value::str_list(Vec::new()),
        _ => Value::Nil,
    }
}

pub(crate) fn has_method(recv: &Value<'_>, name: &str) -> bool {
    match recv {
        Value::Obj(Obj::Header(_)) => matches!(name, "Get" | "Values"),
        Value::Obj(Obj::Query(_)) => matches!(name, "Get" | "Has" | "Encode"),
        Value::Obj(Obj::Url(_)) => matches!(
            name,
            "Hostname"
                | "Port"
                | "String"
                | "Query"
                | "EscapedPath"
                | "EscapedFragment"
                | "IsAbs"
                | "RequestURI"
                | "Redacted"
        ),
        _ => false,
    }
}

fn one_str(name: &str, args: &[Value<'_>]) -> Result<String, String> {
    match args {
        [Value::Str(s)] => Ok(s.to_string()),
        [other] => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
        _ => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        )),
    }
}

fn no_args(name: &str, args: &[Value<'_>]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want 0 got {}",
            args.len()
        ))
    }
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET)
        .to_string()
        .replace("%20", "+")
}

fn escaped_path(u: &RequestUrl) -> String {
    RequestUrl {
        path: u.path.clone(),
        ..RequestUrl::default()
    }
    .to_string()
}

pub(crate) fn query_values(u: &RequestUrl) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in u.query_pairs() {
        m.entry(k).or_default().push(v);
    }
    m
}

/// Call method `name` (which [`has_method`] confirmed) with evaluated arguments.
pub(crate) fn call_method<'a>(
    recv: &Value<'a>,
    name: &str,
    args: Vec<Value<'a>>,
) -> Result<Value<'a>, String> {
    match recv {
        Value::Obj(Obj::Header(h)) => {
            let key = one_str(name, &args)?;
            let vals = http::HeaderName::from_bytes(key.as_bytes())
                .map(|n| header_values(h, n.as_str()))
                .unwrap_or_default();
            Ok(match name {
                "Get" => Value::string(vals.into_iter().next().unwrap_or_default()),
                _ => Value::str_list(vals),
            })
        }
        Value::Obj(Obj::Query(q)) => match name {
            "Encode" => {
                no_args(name, &args)?;
                let parts: Vec<String> = q
                    .iter()
                    .flat_map(|(k, vs)| {
                        vs.iter()
                            .map(move |v| format!("{}={}", query_escape(k), query_escape(v)))
                    })
                    .collect();
                Ok(Value::string(parts.join("&")))
            }
            "Has" => Ok(Value::Bool(q.contains_key(&one_str(name, &args)?))),
            _ => {
                let key = one_str(name, &args)?;
                Ok(Value::string(
                    q.get(&key)
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default(),
                ))
            }
        },
        Value::Obj(Obj::Url(u)) => {
            no_args(name, &args)?;
            Ok(match name {
                "Hostname" => Value::str(u.hostname()),
                "Port" => Value::str(u.port()),
                "String" | "Redacted" => Value::string(u.to_string()),
                "Query" => Value::Obj(Obj::Query(Rc::new(query_values(u)))),
                "EscapedPath" => Value::string(escaped_path(u)),
                "EscapedFragment" => Value::str(""),
                "IsAbs" => Value::Bool(!u.scheme.is_empty()),
                _ => {
                    let mut p = escaped_path(u);
                    if p.is_empty() {
                        p.push('/');
                    }
                    if !u.raw_query.is_empty() {
                        p.push('?');
                        p.push_str(&u.raw_query);
                    }
                    Value::string(p)
                }
            })
        }
        other => Err(format!(
            "can't call method {name} on type {}",
            other.type_name()
        )),
    }
}

/// Field or map key `name` of `recv` (not a method).
pub(crate) fn field<'a>(recv: &Value<'a>, name: &str) -> Result<Value<'a>, String> {
    let found = match recv {
        Value::Obj(Obj::Session(s)) => match name {
            "Subject" => Some(Value::str(&s.subject)),
            "Extra" => Some(Value::JsonObj(&s.extra)),
            "Header" => Some(Value::Obj(Obj::Header(&s.header))),
            "MatchContext" => Some(Value::Obj(Obj::MatchContext(&s.match_context))),
            _ => None,
        },
        Value::Obj(Obj::MatchContext(m)) => match name {
            "RegexpCaptureGroups" => Some(Value::Strings(&m.regexp_capture_groups)),
            "URL" => Some(Value::Obj(Obj::Url(&m.url))),
            "Method" => Some(Value::str(&m.method)),
            "Header" => Some(Value::Obj(Obj::Header(&m.header))),
            _ => None,
        },
        Value::Obj(Obj::Url(u)) => match name {
            "Scheme" => Some(Value::str(&u.scheme)),
            "Host" => Some(Value::str(&u.host)),
            "Path" => Some(Value::str(&u.path)),
            "RawQuery" => Some(Value::str(&u.raw_query)),
            "Opaque" | "RawPath" | "Fragment" | "RawFragment" => Some(Value::str("")),
            "OmitHost" | "ForceQuery" => Some(Value::Bool(false)),
            "User" => Some(Value::Nil),
            _ => None,
        },
        _ => match recv.map_get(name) {
            Some(Some(v)) => Some(v),
            Some(None) => Some(missing_key(recv)),
            None => None,
        },
    };
    found.ok_or_else(|| format!("can't evaluate field {name} in type {}", recv.type_name()))
}
