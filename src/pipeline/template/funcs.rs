//! The function table (resolved at parse time, like Go's) and text/template's built-ins plus
//! Oathkeeper's `print`/`printIndex` overrides. Sprig functions live in `sprig.rs`.

use std::fmt;

use super::context::{missing_key, query_escape};
use super::format::{eval_args, sprint, sprint_v, sprintln};
use super::printf::sprintf;
use super::sprig;
use super::value::{basic_eq, Value};

pub(crate) type NativeFn = for<'a> fn(Vec<Value<'a>>) -> Result<Value<'a>, String>;

#[derive(Clone, Copy)]
pub(crate) enum Imp {
    /// Short-circuit, evaluated by the executor.
    And,
    Or,
    Native(NativeFn),
}

#[derive(Clone, Copy)]
pub(crate) struct Func {
    pub(crate) name: &'static str,
    pub(crate) min: usize,
    /// `None` = variadic.
    pub(crate) max: Option<usize>,
    pub(crate) imp: Imp,
}

impl fmt::Debug for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Func({})", self.name)
    }
}

impl Func {
    pub(crate) fn check_arity(&self, got: usize) -> Result<(), String> {
        match self.max {
            Some(max) if got < self.min || got > max => {
                let want = if max == self.min {
                    max.to_string()
                } else {
                    format!("{}-{max}", self.min)
                };
                Err(format!(
                    "wrong number of args for {}: want {want} got {got}",
                    self.name
                ))
            }
            None if got < self.min => Err(format!(
                "wrong number of args for {}: want at least {} got {got}",
                self.name, self.min
            )),
            _ => Ok(()),
        }
    }
}

/// A native function taking `min..=max` arguments.
pub(super) const fn f(name: &'static str, min: usize, max: usize, imp: NativeFn) -> Func {
    Func {
        name,
        min,
        max: Some(max),
        imp: Imp::Native(imp),
    }
}

/// A variadic native function taking at least `min` arguments.
pub(super) const fn v(name: &'static str, min: usize, imp: NativeFn) -> Func {
    Func {
        name,
        min,
        max: None,
        imp: Imp::Native(imp),
    }
}

static BUILTINS: &[Func] = &[
    Func {
        name: "and",
        min: 1,
        max: None,
        imp: Imp::And,
    },
    Func {
        name: "or",
        min: 1,
        max: None,
        imp: Imp::Or,
    },
    f("not", 1, 1, not),
    v("eq", 1, eq),
    f("ne", 2, 2, ne),
    f("lt", 2, 2, |a| cmp(a, |o| o.is_lt())),
    f("le", 2, 2, |a| cmp(a, |o| o.is_le())),
    f("gt", 2, 2, |a| cmp(a, |o| o.is_gt())),
    f("ge", 2, 2, |a| cmp(a, |o| o.is_ge())),
    f("len", 1, 1, len),
    v("index", 1, index),
    v("print", 0, print),
    f("printIndex", 2, 2, print_index),
    v("printf", 1, printf),
    v("println", 0, |a| Ok(Value::string(sprintln(&a)?))),
    v("html", 0, |a| {
        Ok(Value::string(html_escape(&eval_args(&a)?)))
    }),
    v("js", 0, |a| Ok(Value::string(js_escape(&eval_args(&a)?)))),
    v("urlquery", 0, |a| {
        Ok(Value::string(query_escape(&eval_args(&a)?)))
    }),
];

/// Resolve a function name at parse time.
pub(crate) fn lookup(name: &str) -> Option<Func> {
    BUILTINS
        .iter()
        .chain(sprig::SPRIG.iter())
        .find(|f| f.name == name)
        .copied()
}

/// Why a Sprig 3 function is not available (README "Templates"), for the parse error of a
/// template that calls it; `None` for a name Sprig does not have either.
pub(crate) fn left_out(name: &str) -> Option<&'static str> {
    const TIME: &[&str] = &[
        "now",
        "date",
        "dateInZone",
        "date_in_zone",
        "dateModify",
        "date_modify",
        "mustDateModify",
        "must_date_modify",
        "ago",
        "duration",
        "durationRound",
        "htmlDate",
        "htmlDateInZone",
        "toDate",
        "mustToDate",
        "unixEpoch",
    ];
    const OTHER: &[&str] = &[
        "bcrypt",
        "htpasswd",
        "derivePassword",
        "genPrivateKey",
        "buildCustomCert",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "encryptAES",
        "decryptAES",
        "randBytes",
        "semver",
        "semverCompare",
        "getHostByName",
        "urlParse",
        "urlJoin",
    ];
    match name {
        "env" | "expandenv" => {
            Some("Sprig's env and expandenv are left out: a template must not read the process's secrets")
        }
        _ if TIME.contains(&name) => Some("Sprig's date and time functions are not available"),
        _ if OTHER.contains(&name) => {
            Some("Sprig's crypto, semver, network and URL helpers are not available")
        }
        _ => None,
    }
}

pub(crate) fn wrong_type(want: &str, got: &Value<'_>) -> String {
    if got.is_nil() {
        format!("invalid value; expected {want}")
    } else {
        format!(
            "wrong type for value; expected {want}; got {}",
            got.type_name()
        )
    }
}

/// A `string` parameter: only strings are accepted, as in Go.
pub(crate) fn want_str<'x>(v: &'x Value<'_>) -> Result<&'x str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(wrong_type("string", other)),
    }
}

/// An `int` parameter; integral floats (JSON numbers) are accepted too.
pub(crate) fn want_int(v: &Value<'_>) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(*f as i64),
        other => Err(wrong_type("int", other)),
    }
}

pub(crate) fn arg<'a>(args: &mut std::vec::IntoIter<Value<'a>>) -> Value<'a> {
    args.next().unwrap_or_default()
}

fn not<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(!a.first().is_some_and(Value::truth)))
}

fn eq<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (first, rest) = a.split_first().ok_or("missing argument for comparison")?;
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    for other in rest {
        if basic_eq(first, other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ne<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match a.as_slice() {
        [x, y] => Ok(Value::Bool(!basic_eq(x, y)?)),
        _ => Err("missing argument for comparison".into()),
    }
}

fn cmp<'a>(a: Vec<Value<'a>>, pick: fn(std::cmp::Ordering) -> bool) -> Result<Value<'a>, String> {
    use std::cmp::Ordering;
    let ord = match a.as_slice() {
        [Value::Int(x), Value::Int(y)] => x.cmp(y),
        [Value::Int(x), Value::Float(y)] => (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal),
        [Value::Float(x), Value::Int(y)] => x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal),
        [Value::Float(x), Value::Float(y)] => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        [Value::Str(x), Value::Str(y)] => (**x).cmp(&**y),
        [x, y] if std::mem::discriminant(x) == std::mem::discriminant(y) && !x.is_nil() => {
            return Err(format!("invalid type for comparison: {}", x.type_name()))
        }
        [x, y] => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                x.type_name(),
                y.type_name()
            ))
        }
        _ => return Err("missing argument for comparison".into()),
    };
    Ok(Value::Bool(pick(ord)))
}

fn len<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match a.first() {
        Some(Value::Nil) | None => Err("len of nil pointer".into()),
        Some(x) => x
            .len()
            .map(|n| Value::Int(n as i64))
            .ok_or_else(|| format!("len of type {}", x.type_name())),
    }
}

/// Go's `index`: a missing map key is the map's zero value; indexing nil is an error
/// ("untyped nil" for the first operand, "nil pointer" for a nil reached through a key).
fn index<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let mut it = a.into_iter();
    let mut item = arg(&mut it);
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    for key in it {
        item = match (&item, &key) {
            (Value::Nil, _) => return Err("index of nil pointer".into()),
            (Value::Str(s), k) => {
                let i = want_int(k)?;
                let b = usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i));
                Value::Int(i64::from(
                    *b.ok_or_else(|| format!("index out of range: {i}"))?,
                ))
            }
            (l, k) if l.is_list() => {
                let i = want_int(k)?;
                let got = usize::try_from(i)
                    .ok()
                    .and_then(|i| l.list_get(i).flatten());
                got.ok_or_else(|| format!("index out of range: {i}"))?
            }
            (m, Value::Str(k)) => match m.map_get(k) {
                Some(Some(v)) => v,
                Some(None) => missing_key(m),
                None => return Err(format!("can't index item of type {}", m.type_name())),
            },
            (m, k) if m.map_get("").is_some() => {
                return Err(format!(
                    "value has type {}; should be string",
                    k.type_name()
                ))
            }
            (m, _) => return Err(format!("can't index item of type {}", m.type_name())),
        };
    }
    Ok(item)
}

/// Oathkeeper's `print`: `""` for a single nil, otherwise `fmt.Sprint`.
fn print<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    if let [Value::Nil] = a.as_slice() {
        return Ok(Value::str(""));
    }
    Ok(Value::string(sprint(&a)?))
}

/// Oathkeeper's `printIndex list i`: `""` unless `list` is a list and `i` is in range.
fn print_index<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let mut it = a.into_iter();
    let (list, i) = (arg(&mut it), want_int(&arg(&mut it))?);
    let elem = usize::try_from(i)
        .ok()
        .and_then(|i| list.list_get(i).flatten());
    match elem {
        Some(e) => Ok(Value::string(sprint_v(&e)?)),
        None => Ok(Value::str("")),
    }
}

fn printf<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (format, rest) = a.split_first().ok_or("missing format")?;
    Ok(Value::string(sprintf(want_str(format)?, rest)?))
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            // Go's `JSEscape`: ASCII controls as `\u00XX` (DEL is left as it is), and runes
            // beyond ASCII that are not printable (U+00A0, U+2028, U+200B...) as `\uXXXX`.
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && !super::sprig_case::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}
