//! `encoding/json` output for template values (Sprig's `toJson`): Go's string escaping
//! (including `<`, `>`, `&` as `\u003c`… unless raw), Go's float format, integers as integers.
//! Every map's keys are sorted, at every level, as `encoding/json` sorts them (`Extra` keeps its
//! document order in memory, so its objects are sorted here); struct fields keep Go's order.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::context::header_entries;
use super::format::{go_float, Buf};
use super::value::{Obj, Value, MAX_VALUE_DEPTH};

#[derive(Clone, Copy)]
pub(crate) struct JsonStyle {
    /// Escape `<`, `>`, `&` (json.Marshal) rather than not (`toRawJson`).
    pub(crate) html: bool,
    /// Two-space indentation (`toPrettyJson`).
    pub(crate) pretty: bool,
}

const MAX_JSON_DEPTH: usize = 256;

pub(crate) fn write_str(b: &mut Buf, s: &str, html: bool) -> Result<(), String> {
    b.push("\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<String> = match c {
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            '\x08' => Some("\\b".into()),
            '\x0c' => Some("\\f".into()),
            '<' | '>' | '&' if html => Some(format!("\\u00{:02x}", c as u32)),
            '\u{2028}' | '\u{2029}' => Some(format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => Some(format!("\\u00{:02x}", c as u32)),
            _ => None,
        };
        if let Some(e) = esc {
            b.push(&s[start..i])?;
            b.push(&e)?;
            start = i + c.len_utf8();
        }
    }
    b.push(&s[start..])?;
    b.push("\"")
}

/// Go's float encoding: `%f` shortest, `%e` for very small/large magnitudes, `e-07` → `e-7`.
fn float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            go_float(f, b'g', None)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = go_float(f, b'e', None);
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 2] == "e-" && &s[n - 2..n - 1] == "0" {
            return Ok(format!("{}{}", &s[..n - 2], &s[n - 1..]));
        }
        return Ok(s);
    }
    Ok(go_float(f, b'f', None))
}

fn newline(b: &mut Buf, st: JsonStyle, depth: usize) -> Result<(), String> {
    if st.pretty {
        b.push("\n")?;
        b.push(&"  ".repeat(depth))?;
    }
    Ok(())
}

fn seq<T>(
    b: &mut Buf,
    items: impl Iterator<Item = T>,
    st: JsonStyle,
    depth: usize,
    (open, close): (&str, &str),
    mut each: impl FnMut(&mut Buf, T) -> Result<(), String>,
) -> Result<(), String> {
    b.push(open)?;
    let mut any = false;
    for item in items {
        if any {
            b.push(",")?;
        }
        any = true;
        newline(b, st, depth + 1)?;
        each(b, item)?;
    }
    if any {
        newline(b, st, depth)?;
    }
    b.push(close)
}

fn object<'a>(
    b: &mut Buf,
    entries: impl Iterator<Item = (String, Value<'a>)>,
    st: JsonStyle,
    depth: usize,
) -> Result<(), String> {
    seq(b, entries, st, depth, ("{", "}"), |b, (k, v)| {
        write_str(b, &k, st.html)?;
        b.push(if st.pretty { ": " } else { ":" })?;
        write_json(b, &v, st, depth + 1)
    })
}

pub(crate) fn write_json(
    b: &mut Buf,
    v: &Value<'_>,
    st: JsonStyle,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_JSON_DEPTH {
        return Err("value nested too deeply".into());
    }
    match v {
        Value::Nil => b.push("null"),
        Value::Bool(x) => b.push(if *x { "true" } else { "false" }),
        Value::Int(i) => b.push(&i.to_string()),
        Value::Float(f) => b.push(&float(*f)?),
        Value::Str(s) => write_str(b, s, st.html),
        Value::Obj(Obj::Url(u)) => {
            let f = |s: &str| Value::string(s);
            let fields = [
                ("Scheme", f(&u.scheme)),
                ("Opaque", f("")),
                ("User", Value::Nil),
                ("Host", f(&u.host)),
                ("Path", f(&u.path)),
                ("RawPath", f("")),
                ("OmitHost", Value::Bool(false)),
                ("ForceQuery", Value::Bool(false)),
                ("RawQuery", f(&u.raw_query)),
                ("Fragment", f("")),
                ("RawFragment", f("")),
            ];
            object(
                b,
                fields.into_iter().map(|(k, v)| (k.to_string(), v)),
                st,
                depth,
            )
        }
        Value::Obj(Obj::MatchContext(m)) => {
            let fields = [
                (
                    "regexp_capture_groups",
                    Value::Strings(&m.regexp_capture_groups),
                ),
                ("url", Value::Obj(Obj::Url(&m.url))),
                ("method", Value::str(&m.method)),
                ("header", Value::Obj(Obj::Header(&m.header))),
            ];
            object(
                b,
                fields.into_iter().map(|(k, v)| (k.to_string(), v)),
                st,
                depth,
            )
        }
        Value::Obj(Obj::Session(s)) => {
            let fields = [
                ("subject", Value::str(&s.subject)),
                ("extra", Value::JsonObj(&s.extra)),
                ("header", Value::Obj(Obj::Header(&s.header))),
                (
                    "match_context",
                    Value::Obj(Obj::MatchContext(&s.match_context)),
                ),
            ];
            object(
                b,
                fields.into_iter().map(|(k, v)| (k.to_string(), v)),
                st,
                depth,
            )
        }
        Value::Obj(Obj::Header(h)) => {
            let mut e = header_entries(h);
            e.sort_by(|x, y| x.0.cmp(&y.0));
            object(b, e.into_iter(), st, depth)
        }
        Value::Dict(..) | Value::JsonObj(_) | Value::Obj(Obj::Query(_)) => object(
            b,
            v.map_entries().unwrap_or_default().into_iter(),
            st,
            depth,
        ),
        Value::JsonArr(a) => seq(b, a.iter(), st, depth, ("[", "]"), |b, x| {
            write_json(b, &Value::from_json(x), st, depth + 1)
        }),
        Value::Strings(s) => seq(b, s.iter(), st, depth, ("[", "]"), |b, x| {
            write_str(b, x, st.html)
        }),
        Value::List(l, _) => seq(b, l.iter(), st, depth, ("[", "]"), |b, x| {
            write_json(b, x, st, depth + 1)
        }),
    }
}

/// Convert parsed JSON (`fromJson`) into owned template values.
pub(crate) fn from_serde<'a>(j: &Json, depth: u32) -> Result<Value<'a>, String> {
    if depth > MAX_VALUE_DEPTH {
        return Err("value nested too deeply".into());
    }
    Ok(match j {
        Json::Array(a) => Value::list(
            a.iter()
                .map(|x| from_serde(x, depth + 1))
                .collect::<Result<_, _>>()?,
        )?,
        Json::Object(o) => {
            let m: BTreeMap<String, Value<'a>> = o
                .iter()
                .map(|(k, v)| Ok((k.clone(), from_serde(v, depth + 1)?)))
                .collect::<Result<_, String>>()?;
            Value::dict(m)?
        }
        Json::String(s) => Value::string(s.as_str()),
        Json::Null => Value::Nil,
        Json::Bool(x) => Value::Bool(*x),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
    })
}
