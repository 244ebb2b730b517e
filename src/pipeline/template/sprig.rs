//! Sprig (v3.2) functions: the table (every function of Sprig's `TxtFuncMap` except the date and
//! time, `env`/`expandenv`, crypto, semver, network and URL families) and small helpers.
//! Argument order is Sprig's: the subject comes last so that `x | trimPrefix "p"` works.
//! Strings are in `sprig_text.rs` and `sprig_case.rs`, collections, numbers and JSON in
//! `sprig_data.rs`, `sprig_dict.rs` and `sprig_num.rs`. Sprig's `must` forms are the plain ones
//! here: the plain ones already fail the render where Sprig panics.

use base64::Engine as _;

use super::format::{go_quote, strval, Buf};
use super::funcs::{f, v, want_str, Func};
use super::sprig_case as case;
use super::sprig_data as d;
use super::sprig_dict as dict;
use super::sprig_num as num;
use super::sprig_path as path;
use super::sprig_regex as re;
use super::sprig_text as t;
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
    v("all", 0, |a| Ok(Value::Bool(a.iter().all(d::non_empty)))),
    v("any", 0, |a| Ok(Value::Bool(a.iter().any(d::non_empty)))),
    f("ternary", 3, 3, d::ternary),
    f("hello", 0, 0, |_| Ok(Value::str("Hello!"))),
    f("fail", 1, 1, |a| Err(want_str(&a[0])?.to_string())),
    // Strings.
    f("lower", 1, 1, |a| s1(a, case::lower)),
    f("upper", 1, 1, |a| s1(a, case::upper)),
    f("title", 1, 1, |a| s1(a, t::title)),
    f("untitle", 1, 1, |a| s1(a, t::untitle)),
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
    f("replace", 3, 3, t::replace),
    f("repeat", 2, 2, t::repeat),
    f("substr", 3, 3, t::substr),
    f("trunc", 2, 2, t::trunc),
    f("split", 2, 2, d::split),
    f("splitList", 2, 2, d::split_list),
    f("splitn", 3, 3, d::splitn),
    f("join", 2, 2, d::join),
    v("quote", 0, |a| join_each(a, |s| Ok(go_quote(&s)))),
    v("squote", 0, |a| join_each(a, |s| Ok(format!("'{s}'")))),
    v("cat", 0, |a| join_each(a, Ok)),
    f("indent", 2, 2, |a| t::indent(a, false)),
    f("nindent", 2, 2, |a| t::indent(a, true)),
    f("toString", 1, 1, |a| Ok(Value::string(strval(&a[0])?))),
    f("toStrings", 1, 1, d::to_strings),
    f("b64enc", 1, 1, |a| {
        s1(a, |s| base64::engine::general_purpose::STANDARD.encode(s))
    }),
    f("b64dec", 1, 1, |a| s1(a, t::b64dec)),
    f("b32enc", 1, 1, |a| s1(a, t::b32enc)),
    f("b32dec", 1, 1, |a| s1(a, t::b32dec)),
    f("abbrev", 2, 2, t::abbrev),
    f("abbrevboth", 3, 3, t::abbrevboth),
    f("initials", 1, 1, |a| s1(a, t::initials)),
    f("wrap", 2, 2, |a| t::wrap(a, false)),
    f("wrapWith", 3, 3, |a| t::wrap(a, true)),
    f("shuffle", 1, 1, |a| s1(a, t::shuffle)),
    f("swapcase", 1, 1, |a| s1(a, case::swapcase)),
    f("camelcase", 1, 1, |a| s1(a, case::camelcase)),
    f("snakecase", 1, 1, |a| s1(a, |s| case::delimited(s, '_'))),
    f("kebabcase", 1, 1, |a| s1(a, |s| case::delimited(s, '-'))),
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
    f("untilStep", 3, 3, num::until_step_fn),
    v("seq", 0, num::seq),
    f("toDecimal", 1, 1, num::to_decimal),
    f("randInt", 2, 2, num::rand_int),
    v("addf", 0, |a| num::decimal_op(a, num::Op::Add)),
    f("add1f", 1, 1, |mut a| {
        a.push(Value::Int(1));
        num::decimal_op(a, num::Op::Add)
    }),
    v("subf", 1, |a| num::decimal_op(a, num::Op::Sub)),
    v("mulf", 1, |a| num::decimal_op(a, num::Op::Mul)),
    v("divf", 1, |a| num::decimal_op(a, num::Op::Div)),
    v("maxf", 1, |a| num::maxf_minf(a, true)),
    v("minf", 1, |a| num::maxf_minf(a, false)),
    f("ceil", 1, 1, |a| Ok(Value::Float(d::to_f64(&a[0]).ceil()))),
    f("floor", 1, 1, |a| {
        Ok(Value::Float(d::to_f64(&a[0]).floor()))
    }),
    f("round", 2, 3, num::round),
    // Lists (each with its `must` form).
    v("list", 0, |a| Value::list(a)),
    v("tuple", 0, |a| Value::list(a)),
    f("first", 1, 1, first),
    f("mustFirst", 1, 1, first),
    f("last", 1, 1, last),
    f("mustLast", 1, 1, last),
    f("rest", 1, 1, rest),
    f("mustRest", 1, 1, rest),
    f("initial", 1, 1, initial),
    f("mustInitial", 1, 1, initial),
    f("reverse", 1, 1, reverse),
    f("mustReverse", 1, 1, reverse),
    f("uniq", 1, 1, uniq),
    f("mustUniq", 1, 1, uniq),
    f("compact", 1, 1, compact),
    f("mustCompact", 1, 1, compact),
    f("sortAlpha", 1, 1, d::sort_alpha),
    f("append", 2, 2, |a| d::push(a, false)),
    f("mustAppend", 2, 2, |a| d::push(a, false)),
    f("push", 2, 2, |a| d::push(a, false)),
    f("mustPush", 2, 2, |a| d::push(a, false)),
    f("prepend", 2, 2, |a| d::push(a, true)),
    f("mustPrepend", 2, 2, |a| d::push(a, true)),
    v("concat", 0, d::concat),
    f("has", 2, 2, d::has),
    f("mustHas", 2, 2, d::has),
    v("slice", 1, d::slice),
    v("mustSlice", 1, d::slice),
    v("without", 1, dict::without),
    v("mustWithout", 1, dict::without),
    f("chunk", 2, 2, dict::chunk),
    f("mustChunk", 2, 2, dict::chunk),
    // Dicts.
    v("dict", 0, d::dict),
    f("get", 2, 2, d::get),
    f("set", 3, 3, dict::set),
    f("unset", 2, 2, dict::unset),
    f("hasKey", 2, 2, d::has_key),
    v("keys", 0, d::keys),
    f("values", 1, 1, d::values),
    v("pick", 1, |a| d::pick_omit(a, true)),
    v("omit", 1, |a| d::pick_omit(a, false)),
    v("pluck", 1, dict::pluck),
    v("dig", 3, dict::dig),
    v("merge", 1, |a| dict::merge(a, false)),
    v("mustMerge", 1, |a| dict::merge(a, false)),
    v("mergeOverwrite", 1, |a| dict::merge(a, true)),
    v("mustMergeOverwrite", 1, |a| dict::merge(a, true)),
    f("deepCopy", 1, 1, dict::deep_copy),
    f("mustDeepCopy", 1, 1, dict::deep_copy),
    // JSON (keys sorted, SPEC §4.2) and reflection.
    f("toJson", 1, 1, |a| d::to_json(a, true, false, false)),
    f("mustToJson", 1, 1, |a| d::to_json(a, true, false, true)),
    f("toRawJson", 1, 1, |a| d::to_json(a, false, false, true)),
    f("mustToRawJson", 1, 1, |a| d::to_json(a, false, false, true)),
    f("toPrettyJson", 1, 1, |a| d::to_json(a, true, true, false)),
    f("mustToPrettyJson", 1, 1, |a| {
        d::to_json(a, true, true, true)
    }),
    f("fromJson", 1, 1, |a| d::from_json(a, false)),
    f("mustFromJson", 1, 1, |a| d::from_json(a, true)),
    f("deepEqual", 2, 2, |a| {
        Ok(Value::Bool(d::deep_eq(&a[0], &a[1], 0)))
    }),
    f("kindOf", 1, 1, |a| Ok(Value::str(d::kind_of(&a[0])))),
    f("kindIs", 2, 2, |a| {
        Ok(Value::Bool(want_str(&a[0])? == d::kind_of(&a[1])))
    }),
    f("typeOf", 1, 1, |a| Ok(Value::str(a[0].type_name()))),
    f("typeIs", 2, 2, |a| {
        Ok(Value::Bool(want_str(&a[0])? == a[1].type_name()))
    }),
    f("typeIsLike", 2, 2, |a| {
        let (want, got) = (want_str(&a[0])?, a[1].type_name());
        Ok(Value::Bool(
            want == got || got.strip_prefix('*') == Some(want),
        ))
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
    // Sprig 3.3 (current Oathkeeper).
    f("sha512sum", 1, 1, re::sha512sum),
    f("sha1sum", 1, 1, re::sha1sum),
    f("adler32sum", 1, 1, re::adler32sum),
    f("randBytes", 1, 1, re::rand_bytes),
    f("uuidv4", 0, 0, re::uuidv4),
    f("randAlpha", 1, 1, |a| re::random(a, re::ALPHA)),
    f("randAlphaNum", 1, 1, |a| re::random(a, re::ALPHANUM)),
    f("randNumeric", 1, 1, |a| re::random(a, re::NUMERIC)),
    f("randAscii", 1, 1, |a| re::random(a, re::ASCII)),
    f("plural", 3, 3, re::plural),
    // Paths (Go's `path`; the `os*` forms are `path/filepath`, the same with `/` separators).
    f("base", 1, 1, |a| s1(a, path::base)),
    f("dir", 1, 1, |a| s1(a, path::dir)),
    f("clean", 1, 1, |a| s1(a, path::clean)),
    f("ext", 1, 1, |a| s1(a, path::ext)),
    f("isAbs", 1, 1, path::is_abs),
    f("osBase", 1, 1, |a| s1(a, path::base)),
    f("osDir", 1, 1, |a| s1(a, path::dir)),
    f("osClean", 1, 1, |a| s1(a, path::clean)),
    f("osExt", 1, 1, |a| s1(a, path::ext)),
    f("osIsAbs", 1, 1, path::is_abs),
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

fn first<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "first", |l| Ok(l.first().cloned().unwrap_or_default()))
}

fn last<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "last", |l| Ok(l.last().cloned().unwrap_or_default()))
}

fn rest<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "rest", |l| {
        Value::list(l.iter().skip(1).cloned().collect())
    })
}

fn initial<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "initial", d::initial)
}

fn reverse<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "reverse", |l| {
        Value::list(l.iter().rev().cloned().collect())
    })
}

fn uniq<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "uniq", d::uniq)
}

fn compact<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    d::list_op(a, "compact", |l| {
        Value::list(l.iter().filter(|x| d::non_empty(x)).cloned().collect())
    })
}
