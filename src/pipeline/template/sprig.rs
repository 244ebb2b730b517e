//! Sprig (v3) functions that Oathkeeper configs use: the table, and the string functions.
//! Argument order is Sprig's: the subject string comes last so that `x | trimPrefix "p"` works.
//! Collections, numbers and JSON are in `sprig_data.rs`.

use base64::Engine as _;

use super::format::{go_quote, strval, Buf, MAX_STRING};
use super::funcs::{arg, f, v, want_int, want_str, Func};
use super::sprig_data as d;
use super::sprig_regex as re;
use super::value::Value;

pub(crate) static SPRIG: &[Func] = &[
    // Defaults and flow.
    v("default", 1, d::default),
    f("empty", 1, 1, |a| {
        Ok(Value::Bool(!a.first().is_some_and(d::non_empty)))
    }),
    v("coalesce", 0, |a| {
        Ok(a.into_iter().find(d::non_empty).unwrap_or_default())
    }),
    f("ternary", 3, 3, d::ternary),
    f("fail", 1, 1, |a| Err(want_str(&a[0])?.to_string())),
    // Strings.
    f("lower", 1, 1, |a| s1(a, |s| s.to_lowercase())),
    f("upper", 1, 1, |a| s1(a, |s| s.to_uppercase())),
    f("title", 1, 1, |a| s1(a, title)),
    f("untitle", 1, 1, |a| s1(a, untitle)),
    f("trim", 1, 1, |a| s1(a, |s| s.trim().to_string())),
    f("nospace", 1, 1, |a| {
        s1(a, |s| s.chars().filter(|c| !c.is_whitespace()).collect())
    }),
    f("trimAll", 2, 2, |a| {
        s2(a, |cut, s| s.trim_matches(|c| cut.contains(c)).to_string())
    }),
    f("trimall", 2, 2, |a| {
        s2(a, |cut, s| s.trim_matches(|c| cut.contains(c)).to_string())
    }),
    f("trimPrefix", 2, 2, |a| {
        s2(a, |p, s| s.strip_prefix(p).unwrap_or(s).to_string())
    }),
    f("trimSuffix", 2, 2, |a| {
        s2(a, |p, s| s.strip_suffix(p).unwrap_or(s).to_string())
    }),
    f("contains", 2, 2, |a| b2(a, |sub, s| s.contains(sub))),
    f("hasPrefix", 2, 2, |a| b2(a, |p, s| s.starts_with(p))),
    f("hasSuffix", 2, 2, |a| b2(a, |p, s| s.ends_with(p))),
    f("replace", 3, 3, replace),
    f("repeat", 2, 2, repeat),
    f("substr", 3, 3, substr),
    f("trunc", 2, 2, trunc),
    f("split", 2, 2, d::split),
    f("splitList", 2, 2, d::split_list),
    f("splitn", 3, 3, d::splitn),
    f("join", 2, 2, d::join),
    v("quote", 0, |a| join_each(a, |s| Ok(go_quote(&s)))),
    v("squote", 0, |a| join_each(a, |s| Ok(format!("'{s}'")))),
    v("cat", 0, |a| join_each(a, Ok)),
    f("indent", 2, 2, |a| indent(a, false)),
    f("nindent", 2, 2, |a| indent(a, true)),
    f("toString", 1, 1, |a| Ok(Value::string(strval(&a[0])?))),
    f("toStrings", 1, 1, d::to_strings),
    f("b64enc", 1, 1, |a| {
        s1(a, |s| base64::engine::general_purpose::STANDARD.encode(s))
    }),
    f("b64dec", 1, 1, |a| s1(a, b64dec)),
    // Numbers.
    f("atoi", 1, 1, |a| {
        Ok(Value::Int(want_str(&a[0])?.parse().unwrap_or(0)))
    }),
    f("int", 1, 1, |a| Ok(Value::Int(d::to_i64(&a[0])))),
    f("int64", 1, 1, |a| Ok(Value::Int(d::to_i64(&a[0])))),
    f("float64", 1, 1, |a| Ok(Value::Float(d::to_f64(&a[0])))),
    v("add", 0, |a| {
        Ok(Value::Int(
            a.iter().fold(0i64, |s, x| s.wrapping_add(d::to_i64(x))),
        ))
    }),
    f("add1", 1, 1, |a| {
        Ok(Value::Int(d::to_i64(&a[0]).wrapping_add(1)))
    }),
    f("sub", 2, 2, |a| {
        Ok(Value::Int(d::to_i64(&a[0]).wrapping_sub(d::to_i64(&a[1]))))
    }),
    v("mul", 1, |a| {
        Ok(Value::Int(
            a.iter().fold(1i64, |s, x| s.wrapping_mul(d::to_i64(x))),
        ))
    }),
    f("div", 2, 2, |a| d::divmod(a, i64::wrapping_div)),
    f("mod", 2, 2, |a| d::divmod(a, i64::wrapping_rem)),
    v("max", 1, |a| {
        Ok(Value::Int(a.iter().map(d::to_i64).max().unwrap_or(0)))
    }),
    v("biggest", 1, |a| {
        Ok(Value::Int(a.iter().map(d::to_i64).max().unwrap_or(0)))
    }),
    v("min", 1, |a| {
        Ok(Value::Int(a.iter().map(d::to_i64).min().unwrap_or(0)))
    }),
    f("until", 1, 1, d::until),
    // Lists.
    v("list", 0, |a| Value::list(a)),
    v("tuple", 0, |a| Value::list(a)),
    f("first", 1, 1, |a| {
        d::list_op(a, "first", |l| Ok(l.first().cloned().unwrap_or_default()))
    }),
    f("last", 1, 1, |a| {
        d::list_op(a, "last", |l| Ok(l.last().cloned().unwrap_or_default()))
    }),
    f("rest", 1, 1, |a| {
        d::list_op(a, "rest", |l| {
            Value::list(l.iter().skip(1).cloned().collect())
        })
    }),
    f("initial", 1, 1, |a| d::list_op(a, "initial", d::initial)),
    f("reverse", 1, 1, |a| {
        d::list_op(a, "reverse", |l| {
            Value::list(l.iter().rev().cloned().collect())
        })
    }),
    f("uniq", 1, 1, |a| d::list_op(a, "uniq", d::uniq)),
    f("compact", 1, 1, |a| {
        d::list_op(a, "compact", |l| {
            Value::list(l.iter().filter(|x| d::non_empty(x)).cloned().collect())
        })
    }),
    f("sortAlpha", 1, 1, d::sort_alpha),
    f("append", 2, 2, |a| d::push(a, false)),
    f("push", 2, 2, |a| d::push(a, false)),
    f("prepend", 2, 2, |a| d::push(a, true)),
    v("concat", 0, d::concat),
    f("has", 2, 2, d::has),
    v("slice", 1, d::slice),
    // Dicts.
    v("dict", 0, d::dict),
    f("get", 2, 2, d::get),
    f("hasKey", 2, 2, d::has_key),
    v("keys", 0, d::keys),
    f("values", 1, 1, d::values),
    v("pick", 1, |a| d::pick_omit(a, true)),
    v("omit", 1, |a| d::pick_omit(a, false)),
    // JSON and reflection.
    f("toJson", 1, 1, |a| d::to_json(a, true, false)),
    f("toRawJson", 1, 1, |a| d::to_json(a, false, false)),
    f("toPrettyJson", 1, 1, |a| d::to_json(a, true, true)),
    f("fromJson", 1, 1, d::from_json),
    f("deepEqual", 2, 2, |a| {
        Ok(Value::Bool(d::deep_eq(&a[0], &a[1], 0)))
    }),
    f("kindOf", 1, 1, |a| Ok(Value::str(d::kind_of(&a[0])))),
    f("typeOf", 1, 1, |a| Ok(Value::str(a[0].type_name()))),
    f("kindIs", 2, 2, |a| {
        Ok(Value::Bool(want_str(&a[0])? == d::kind_of(&a[1])))
    }),
    // Regular expressions (RE2, as Go's).
    f("regexMatch", 2, 2, |a| re::regex_match(a, false)),
    f("mustRegexMatch", 2, 2, |a| re::regex_match(a, true)),
    f("regexFind", 2, 2, re::regex_find),
    f("mustRegexFind", 2, 2, re::regex_find),
    f("regexFindAll", 3, 3, re::regex_find_all),
    f("mustRegexFindAll", 3, 3, re::regex_find_all),
    f("regexReplaceAll", 3, 3, |a| re::regex_replace(a, false)),
    f("mustRegexReplaceAll", 3, 3, |a| re::regex_replace(a, false)),
    f("regexReplaceAllLiteral", 3, 3, |a| {
        re::regex_replace(a, true)
    }),
    f("mustRegexReplaceAllLiteral", 3, 3, |a| {
        re::regex_replace(a, true)
    }),
    f("regexSplit", 3, 3, re::regex_split),
    f("mustRegexSplit", 3, 3, re::regex_split),
    f("regexQuoteMeta", 1, 1, re::quote_meta),
    // Hashes, ids, random strings.
    f("sha256sum", 1, 1, re::sha256sum),
    f("uuidv4", 0, 0, re::uuidv4),
    f("randAlpha", 1, 1, |a| re::random(a, re::ALPHA)),
    f("randAlphaNum", 1, 1, |a| re::random(a, re::ALPHANUM)),
    f("randNumeric", 1, 1, |a| re::random(a, re::NUMERIC)),
    f("randAscii", 1, 1, |a| re::random(a, re::ASCII)),
    f("plural", 3, 3, re::plural),
];

fn s1<'a>(a: Vec<Value<'a>>, op: fn(&str) -> String) -> Result<Value<'a>, String> {
    Ok(Value::string(op(want_str(&a[0])?)))
}

fn s2<'a>(a: Vec<Value<'a>>, op: fn(&str, &str) -> String) -> Result<Value<'a>, String> {
    Ok(Value::string(op(want_str(&a[0])?, want_str(&a[1])?)))
}

fn b2<'a>(a: Vec<Value<'a>>, op: fn(&str, &str) -> bool) -> Result<Value<'a>, String> {
    Ok(Value::Bool(op(want_str(&a[0])?, want_str(&a[1])?)))
}

/// Join the non-nil arguments' `strval`s with spaces after mapping each (`cat`, `quote`).
fn join_each<'a>(
    a: Vec<Value<'a>>,
    each: fn(String) -> Result<String, String>,
) -> Result<Value<'a>, String> {
    let mut b = Buf::default();
    for (i, x) in a.iter().filter(|x| !x.is_nil()).enumerate() {
        if i > 0 {
            b.push(" ")?;
        }
        b.push(&each(strval(x)?)?)?;
    }
    Ok(Value::string(b.s))
}

/// Go's `strings.Title` (deprecated there, but it is what Sprig calls).
fn title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if sep(prev) { upper_one(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

fn upper_one(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Sprig's `untitle`: lowercase the first letter of each space-separated word.
fn untitle(s: &str) -> String {
    let mut prev_space = true;
    s.chars()
        .map(|c| {
            let out = if prev_space {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c
            };
            prev_space = c.is_whitespace();
            out
        })
        .collect()
}

fn b64dec(s: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            let at = match e {
                base64::DecodeError::InvalidByte(i, _)
                | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                _ => s.len().saturating_sub(s.len() % 4),
            };
            format!("illegal base64 data at input byte {at}")
        }
    }
}

fn replace<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (old, new, src) = (want_str(&a[0])?, want_str(&a[1])?, want_str(&a[2])?);
    let count = if old.is_empty() {
        src.chars().count() + 1
    } else {
        src.matches(old).count()
    };
    let size = src.len().saturating_add(count.saturating_mul(new.len()));
    if size > MAX_STRING {
        return Err(format!("result exceeds {MAX_STRING} bytes"));
    }
    Ok(Value::string(src.replace(old, new)))
}

fn repeat<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (count, s) = (want_int(&a[0])?, want_str(&a[1])?);
    let count = usize::try_from(count).map_err(|_| "negative Repeat count".to_string())?;
    if count.saturating_mul(s.len()) > MAX_STRING {
        return Err(format!("result exceeds {MAX_STRING} bytes"));
    }
    Ok(Value::string(s.repeat(count)))
}

/// Byte slice of `s` like Go's `s[start:end]`; a cut inside a UTF-8 sequence is repaired lossily.
fn byte_slice(s: &str, start: usize, end: usize) -> Result<String, String> {
    match s.as_bytes().get(start..end) {
        Some(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        None => Err(format!(
            "slice bounds out of range [{start}:{end}] with length {}",
            s.len()
        )),
    }
}

fn substr<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (start, end, s) = (want_int(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
    let len = s.len() as i64;
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    let (from, to) = (usize::try_from(from), usize::try_from(to));
    match (from, to) {
        (Ok(f), Ok(t)) => Ok(Value::string(byte_slice(s, f, t)?)),
        _ => Err("slice bounds out of range".into()),
    }
}

fn trunc<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    let (c, s) = (want_int(&a[0])?, want_str(&a[1])?);
    let len = s.len() as i64;
    let out = if c < 0 && len + c > 0 {
        byte_slice(s, (len + c) as usize, s.len())?
    } else if c >= 0 && len > c {
        byte_slice(s, 0, c as usize)?
    } else {
        s.to_string()
    };
    Ok(Value::string(out))
}

fn indent<'a>(mut a: Vec<Value<'a>>, newline: bool) -> Result<Value<'a>, String> {
    let mut it = std::mem::take(&mut a).into_iter();
    let (n, s) = (want_int(&arg(&mut it))?, arg(&mut it));
    let s = want_str(&s)?;
    let pad = " ".repeat(usize::try_from(n).unwrap_or(0).min(MAX_STRING));
    let mut b = Buf::default();
    if newline {
        b.push("\n")?;
    }
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            b.push("\n")?;
        }
        b.push(&pad)?;
        b.push(line)?;
    }
    Ok(Value::string(b.s))
}
