//! Sprig functions over numbers, lists, dicts and JSON. Conversions follow `spf13/cast` as
//! Sprig uses it: unparsable input becomes 0 rather than an error.

use std::collections::BTreeMap;

use super::ast::Arg;
use super::format::{strval, Buf};
use super::funcs::{arg, want_int, want_str, wrong_type};
use super::json::{from_serde, write_json, JsonStyle};
use super::parser::parse_number;
use super::value::{basic_eq, Value};

type R<'a> = Result<Value<'a>, String>;

/// Sprig's `empty`, negated: nil, zero numbers, false and empty strings/collections are empty.
pub(crate) fn non_empty(v: &Value<'_>) -> bool {
    v.truth()
}

pub(crate) fn default<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut it = a.into_iter();
    let d = arg(&mut it);
    match it.next() {
        Some(given) if non_empty(&given) => Ok(given),
        _ => Ok(d),
    }
}

pub(crate) fn ternary<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut it = a.into_iter();
    let (t, f, c) = (arg(&mut it), arg(&mut it), arg(&mut it));
    match c {
        Value::Bool(true) => Ok(t),
        Value::Bool(false) => Ok(f),
        other => Err(wrong_type("bool", &other)),
    }
}

/// `cast.ToInt64`.
pub(crate) fn to_i64(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let t = s.trim_end_matches('0');
            let s: &str = if t.ends_with('.') && s.contains('.') {
                &t[..t.len() - 1]
            } else {
                s
            };
            match parse_number(s) {
                Some(Arg::Int(i)) => i,
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub(crate) fn to_f64(v: &Value<'_>) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(crate) fn divmod<'a>(a: Vec<Value<'a>>, op: fn(i64, i64) -> i64) -> R<'a> {
    let (x, y) = (to_i64(&a[0]), to_i64(&a[1]));
    if y == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::Int(op(x, y)))
}

pub(crate) fn until<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let n = want_int(&a[0])?;
    let step: i64 = if n < 0 { -1 } else { 1 };
    if n.unsigned_abs() > 100_000 {
        return Err("until count too large".into());
    }
    Value::list((0..n.abs()).map(|i| Value::Int(i * step)).collect())
}

fn split_parts(sep: &str, s: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

pub(crate) fn split<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let parts = split_parts(want_str(&a[0])?, want_str(&a[1])?);
    Value::dict(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::string(p)))
            .collect(),
    )
}

pub(crate) fn split_list<'a>(a: Vec<Value<'a>>) -> R<'a> {
    Ok(Value::str_list(split_parts(
        want_str(&a[0])?,
        want_str(&a[1])?,
    )))
}

pub(crate) fn splitn<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (sep, n, s) = (want_str(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
    let parts: Vec<String> = match usize::try_from(n) {
        Ok(0) => Vec::new(),
        Ok(n) if !sep.is_empty() => s.splitn(n, sep).map(String::from).collect(),
        // Go's `strings.SplitN(s, "", n)`: the first n-1 runes, then the rest.
        Ok(n) => {
            let mut parts: Vec<String> = s.chars().take(n - 1).map(String::from).collect();
            let taken: usize = parts.iter().map(String::len).sum();
            if taken < s.len() {
                parts.push(s[taken..].to_owned());
            }
            parts
        }
        Err(_) => split_parts(sep, s),
    };
    Value::dict(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::string(p)))
            .collect(),
    )
}

/// Sprig's `strslice`: lists become their non-nil elements' `strval`s, nil `[]`, else `[v]`.
fn strslice(v: &Value<'_>) -> Result<Vec<String>, String> {
    match v.list_items() {
        Some(items) => items.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        None if v.is_nil() => Ok(Vec::new()),
        None => Ok(vec![strval(v)?]),
    }
}

pub(crate) fn to_strings<'a>(a: Vec<Value<'a>>) -> R<'a> {
    Ok(Value::str_list(strslice(&a[0])?))
}

pub(crate) fn join<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let sep = want_str(&a[0])?;
    let mut b = Buf::default();
    for (i, s) in strslice(&a[1])?.iter().enumerate() {
        if i > 0 {
            b.push(sep)?;
        }
        b.push(s)?;
    }
    Ok(Value::string(b.s))
}

/// Apply `op` to a list argument; Sprig panics (here: errors) on non-lists.
pub(crate) fn list_op<'a>(a: Vec<Value<'a>>, name: &str, op: fn(&[Value<'a>]) -> R<'a>) -> R<'a> {
    match a[0].list_items() {
        Some(items) => op(&items),
        None => Err(format!("cannot find {name} on type {}", a[0].type_name())),
    }
}

pub(crate) fn initial<'a>(l: &[Value<'a>]) -> R<'a> {
    Value::list(l.iter().take(l.len().saturating_sub(1)).cloned().collect())
}

/// Sprig's `uniq`: the first of each group of equal items, in order. Strings (nearly every list
/// a template makes or reads) are checked in a hash set: comparing every pair took 108 s of CPU
/// for 100,000 items; other items are compared with those kept before them.
pub(crate) fn uniq<'a>(l: &[Value<'a>]) -> R<'a> {
    let mut out: Vec<Value<'a>> = Vec::new();
    let mut strings: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut others: Vec<&Value<'a>> = Vec::new();
    for x in l {
        let new = match x {
            Value::Str(s) => strings.insert(s),
            _ if others.iter().any(|y| deep_eq(x, y, 0)) => false,
            _ => {
                others.push(x);
                true
            }
        };
        if new {
            out.push(x.clone());
        }
    }
    Value::list(out)
}

pub(crate) fn sort_alpha<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut s = strslice(&a[0])?;
    s.sort();
    Ok(Value::str_list(s))
}

pub(crate) fn push<'a>(a: Vec<Value<'a>>, front: bool) -> R<'a> {
    let mut it = a.into_iter();
    let (list, x) = (arg(&mut it), arg(&mut it));
    let mut items = list
        .list_items()
        .ok_or_else(|| format!("cannot push on type {}", list.type_name()))?;
    if front {
        items.insert(0, x);
    } else {
        items.push(x);
    }
    Value::list(items)
}

pub(crate) fn concat<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut out = Vec::new();
    for l in &a {
        out.extend(
            l.list_items()
                .ok_or_else(|| format!("cannot concat type {} as list", l.type_name()))?,
        );
    }
    Value::list(out)
}

pub(crate) fn has<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (needle, hay) = (&a[0], &a[1]);
    if hay.is_nil() {
        return Ok(Value::Bool(false));
    }
    let items = hay
        .list_items()
        .ok_or_else(|| format!("cannot find has on type {}", hay.type_name()))?;
    Ok(Value::Bool(items.iter().any(|x| deep_eq(needle, x, 0))))
}

/// Go's `slice` for strings and lists (Sprig's version, extended to strings).
pub(crate) fn slice<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut it = a.into_iter();
    let item = arg(&mut it);
    let idx: Vec<i64> = it.map(|x| want_int(&x)).collect::<Result<_, _>>()?;
    let len = item
        .len()
        .filter(|_| item.is_list() || matches!(item, Value::Str(_)));
    let len = len.ok_or_else(|| format!("can't slice item of type {}", item.type_name()))? as i64;
    let start = idx.first().copied().unwrap_or(0);
    let end = idx.get(1).copied().unwrap_or(len);
    if idx.len() > 2 || start < 0 || end < start || end > len {
        return Err(format!(
            "slice index out of range: [{start}:{end}] with length {len}"
        ));
    }
    let (s, e) = (start as usize, end as usize);
    match &item {
        Value::Str(st) => Ok(Value::string(
            String::from_utf8_lossy(st.as_bytes().get(s..e).unwrap_or(&[])).into_owned(),
        )),
        _ => Value::list(
            item.list_items()
                .unwrap_or_default()
                .into_iter()
                .skip(s)
                .take(e - s)
                .collect(),
        ),
    }
}

pub(crate) fn dict<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut m = BTreeMap::new();
    let mut it = a.into_iter();
    while let Some(k) = it.next() {
        m.insert(strval(&k)?, it.next().unwrap_or(Value::str("")));
    }
    Value::dict(m)
}

fn want_map<'a>(v: &Value<'a>) -> Result<(), String> {
    match v {
        Value::Dict(..) | Value::JsonObj(_) | Value::Nil => Ok(()),
        other => Err(wrong_type("map[string]interface {}", other)),
    }
}

pub(crate) fn get<'a>(a: Vec<Value<'a>>) -> R<'a> {
    want_map(&a[0])?;
    Ok(a[0]
        .map_get(want_str(&a[1])?)
        .flatten()
        .unwrap_or(Value::str("")))
}

pub(crate) fn has_key<'a>(a: Vec<Value<'a>>) -> R<'a> {
    want_map(&a[0])?;
    Ok(Value::Bool(
        a[0].map_get(want_str(&a[1])?).flatten().is_some(),
    ))
}

/// Keys in map order (Go's is random; sorted here for dicts, document order for JSON).
pub(crate) fn keys<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut out = Vec::new();
    for m in &a {
        want_map(m)?;
        match m {
            Value::JsonObj(o) => out.extend(o.keys().cloned()),
            Value::Dict(d, _) => out.extend(d.keys().cloned()),
            _ => {}
        }
    }
    Ok(Value::str_list(out))
}

pub(crate) fn values<'a>(a: Vec<Value<'a>>) -> R<'a> {
    want_map(&a[0])?;
    Value::list(
        a[0].map_entries()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
    )
}

pub(crate) fn pick_omit<'a>(a: Vec<Value<'a>>, keep: bool) -> R<'a> {
    want_map(&a[0])?;
    let names: Vec<&str> = a[1..].iter().map(want_str).collect::<Result<_, _>>()?;
    let entries = a[0].map_entries().unwrap_or_default();
    Value::dict(
        entries
            .into_iter()
            .filter(|(k, _)| names.contains(&k.as_str()) == keep)
            .collect(),
    )
}

/// `toJson` (`must`: `mustToJson`), `toPrettyJson`, `toRawJson` (`html: false`).
pub(crate) fn to_json<'a>(a: Vec<Value<'a>>, html: bool, pretty: bool, must: bool) -> R<'a> {
    let mut b = Buf::default();
    match write_json(&mut b, &a[0], JsonStyle { html, pretty }, 0) {
        Ok(()) => Ok(Value::string(b.s)),
        // `toJson`/`toPrettyJson` ignore marshalling errors (NaN, ±Inf) and return "";
        // `toRawJson` panics and the `must` forms return them: errors here.
        Err(e) if e.starts_with("json:") && html && !must => Ok(Value::str("")),
        Err(e) => Err(e),
    }
}

/// `fromJson`: nil when the text is not JSON; `mustFromJson` (`must`): an error.
pub(crate) fn from_json<'a>(a: Vec<Value<'a>>, must: bool) -> R<'a> {
    match serde_json::from_str::<serde_json::Value>(want_str(&a[0])?) {
        Ok(j) => from_serde(&j, 0),
        Err(e) if must => Err(e.to_string()),
        Err(_) => Ok(Value::Nil),
    }
}

/// `reflect.DeepEqual`, loosened so that `1` equals `1.0` (JSON numbers are typed here).
pub(crate) fn deep_eq(x: &Value<'_>, y: &Value<'_>, depth: usize) -> bool {
    if depth > 256 {
        return false;
    }
    if let (Some(a), Some(b)) = (x.list_items(), y.list_items()) {
        return a.len() == b.len() && a.iter().zip(&b).all(|(p, q)| deep_eq(p, q, depth + 1));
    }
    if let (Some(a), Some(b)) = (x.map_entries(), y.map_entries()) {
        return a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_eq(v1, v2, depth + 1));
    }
    basic_eq(x, y).unwrap_or(false)
}

pub(crate) fn kind_of(v: &Value<'_>) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        x if x.is_list() => "slice",
        Value::Obj(super::value::Obj::Url(_) | super::value::Obj::Session(_)) => "ptr",
        Value::Obj(super::value::Obj::MatchContext(_)) => "struct",
        _ => "map",
    }
}
