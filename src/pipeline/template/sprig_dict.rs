//! Sprig's dict functions that build or change maps: `set`, `unset`, `merge`,
//! `mergeOverwrite` (imdario/mergo rules), `pluck`, `dig`, `deepCopy`; and the list functions
//! `chunk` and `without`.
//!
//! Values are immutable here: `set`, `unset` and `merge*` return a changed copy, and the executor
//! rebinds a variable given as their first argument (see `exec.rs`), which covers Go's
//! in-place idiom `{{ $_ := set $d "k" "v" }}`. `.Extra` itself never changes.

use std::collections::BTreeMap;

use super::funcs::{want_int, want_str, wrong_type};
use super::sprig_data::{deep_eq, non_empty};
use super::value::Value;

type R<'a> = Result<Value<'a>, String>;
type Map<'a> = BTreeMap<String, Value<'a>>;

const MAP: &str = "map[string]interface {}";

/// Nesting guard for `merge` (values are already bounded; this bounds the recursion itself).
const MAX_MERGE_DEPTH: usize = 256;

fn is_map(v: &Value<'_>) -> bool {
    matches!(v, Value::Dict(..) | Value::JsonObj(_))
}

/// A `map[string]interface{}` argument as an owned map; nil is Go's nil map (empty).
fn owned_map<'a>(v: &Value<'a>) -> Result<Map<'a>, String> {
    match v {
        Value::Nil => Ok(Map::new()),
        m if is_map(m) => Ok(m.map_entries().unwrap_or_default().into_iter().collect()),
        other => Err(wrong_type(MAP, other)),
    }
}

/// `set DICT KEY VALUE`.
pub(super) fn set<'a>(a: Vec<Value<'a>>) -> R<'a> {
    if a[0].is_nil() {
        return Err("assignment to entry in nil map".into());
    }
    let mut m = owned_map(&a[0])?;
    m.insert(want_str(&a[1])?.to_string(), a[2].clone());
    Value::dict(m)
}

/// `unset DICT KEY`.
pub(super) fn unset<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let mut m = owned_map(&a[0])?;
    m.remove(want_str(&a[1])?);
    Value::dict(m)
}

/// `pluck KEY DICT...`: the value of `KEY` in each dict that has it.
pub(super) fn pluck<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let key = want_str(&a[0])?;
    let mut out = Vec::new();
    for d in &a[1..] {
        if !d.is_nil() && !is_map(d) {
            return Err(wrong_type(MAP, d));
        }
        out.extend(d.map_get(key).flatten());
    }
    Value::list(out)
}

/// Go's panic text for a failed `x.(T)` on an `interface{}`.
fn conversion(v: &Value<'_>, want: &str) -> String {
    let got = match v {
        Value::Nil => "nil",
        other => other.type_name(),
    };
    format!("interface conversion: interface {{}} is {got}, not {want}")
}

/// `dig KEY... DEFAULT DICT`: walk nested dicts; `DEFAULT` when a key is missing. A value on
/// the way that is not a dict is an error, as in Sprig.
pub(super) fn dig<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (keys, rest) = a.split_at(a.len() - 2);
    let (default, mut cur) = (rest[0].clone(), rest[1].clone());
    for k in keys {
        let Value::Str(k) = k else {
            return Err(conversion(k, "string"));
        };
        if !is_map(&cur) {
            return Err(conversion(&cur, MAP));
        }
        match cur.map_get(k).flatten() {
            Some(v) => cur = v,
            None => return Ok(default),
        }
    }
    Ok(cur)
}

/// `deepCopy X` (and `mustDeepCopy`): values are immutable, so the copy is the value itself.
pub(super) fn deep_copy<'a>(a: Vec<Value<'a>>) -> R<'a> {
    match &a[0] {
        Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        v => Ok(v.clone()),
    }
}

/// `merge DST SRC...` and `mergeOverwrite DST SRC...`.
pub(super) fn merge<'a>(a: Vec<Value<'a>>, overwrite: bool) -> R<'a> {
    let mut dst = owned_map(&a[0])?;
    for src in &a[1..] {
        merge_into(&mut dst, &owned_map(src)?, overwrite, 0)?;
    }
    Value::dict(dst)
}

/// mergo's rules for `map[string]interface{}`: maps merge recursively; otherwise a key is taken
/// from `src` when `dst` lacks it or holds an empty value (nil, `""`, 0, false, empty list or
/// map) and, with `overwrite`, always, even with an empty value (nil included), except that a
/// map or list in `src` never replaces a non-empty non-map value.
fn merge_into<'a>(
    dst: &mut Map<'a>,
    src: &Map<'a>,
    overwrite: bool,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_MERGE_DEPTH {
        return Err("value nested too deeply".into());
    }
    for (k, sv) in src {
        let dv = dst.get(k);
        let filled = dv.is_some_and(non_empty);
        let take = if sv.is_nil() {
            overwrite
        } else if is_map(sv) {
            match dv {
                Some(d) if is_map(d) => {
                    let mut inner = owned_map(d)?;
                    merge_into(&mut inner, &owned_map(sv)?, overwrite, depth + 1)?;
                    dst.insert(k.clone(), Value::dict(inner)?);
                    false
                }
                _ => !filled,
            }
        } else {
            overwrite || !filled
        };
        if take {
            dst.insert(k.clone(), sv.clone());
        }
    }
    Ok(())
}

/// `chunk SIZE LIST`: consecutive lists of `SIZE` elements (the last may be shorter).
pub(super) fn chunk<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let size = want_int(&a[0])?;
    let items = a[1]
        .list_items()
        .ok_or_else(|| format!("Cannot chunk type {}", a[1].type_name()))?;
    // Sprig sizes the result as `floor((len-1)/size)+1` chunks: a negative size at least
    // `len-1` in magnitude gives none; any other size below 1 fails.
    let n = items.len() as i64;
    if size < 0 && n >= 2 && size.unsigned_abs() >= (n - 1).unsigned_abs() {
        return Value::list(Vec::new());
    }
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .ok_or("runtime error: makeslice: len out of range")?;
    Value::list(
        items
            .chunks(size)
            .map(|c| Value::list(c.to_vec()))
            .collect::<Result<_, _>>()?,
    )
}

/// `without LIST X...`: the elements not deeply equal to any `X`.
pub(super) fn without<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let items = a[0]
        .list_items()
        .ok_or_else(|| format!("Cannot find without on type {}", a[0].type_name()))?;
    let omit = &a[1..];
    Value::list(
        items
            .into_iter()
            .filter(|x| !omit.iter().any(|o| deep_eq(o, x, 0)))
            .collect(),
    )
}
