//! Go `fmt` behaviour for the values templates print: `%v`, float formatting (`strconv`),
//! `strconv.Quote`, `fmt.Sprint`. Everything writes into a size-capped [`Buf`].

use super::value::{Obj, Value};

/// Largest string any single function may produce; the rendered output has the same cap.
pub(crate) const MAX_STRING: usize = 1 << 20;
/// Recursion guard for printing nested values (borrowed JSON may be deeper than built lists).
const MAX_PRINT_DEPTH: usize = 256;

/// A string builder that refuses to grow past [`MAX_STRING`].
#[derive(Default)]
pub(crate) struct Buf {
    pub(crate) s: String,
}

impl Buf {
    pub(crate) fn push(&mut self, s: &str) -> Result<(), String> {
        if self.s.len() + s.len() > MAX_STRING {
            return Err(format!("result exceeds {MAX_STRING} bytes"));
        }
        self.s.push_str(s);
        Ok(())
    }

    pub(crate) fn push_char(&mut self, c: char) -> Result<(), String> {
        self.push(c.encode_utf8(&mut [0; 4]))
    }
}

/// `fmt.Sprintf("%v", v)`.
pub(crate) fn sprint_v(v: &Value<'_>) -> Result<String, String> {
    let mut b = Buf::default();
    write_v(&mut b, v, 0)?;
    Ok(b.s)
}

/// Sprig's `strval`: strings as they are, Stringers via `String()`, anything else `%v`.
pub(crate) fn strval(v: &Value<'_>) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        _ => sprint_v(v),
    }
}

/// Write `v` formatted with Go's `%v`.
pub(crate) fn write_v(b: &mut Buf, v: &Value<'_>, depth: usize) -> Result<(), String> {
    if depth > MAX_PRINT_DEPTH {
        return Err("value nested too deeply".into());
    }
    match v {
        Value::Nil => b.push("<nil>"),
        Value::Bool(x) => b.push(if *x { "true" } else { "false" }),
        Value::Int(i) => b.push(&i.to_string()),
        Value::Float(f) => b.push(&go_float(*f, b'g', None)),
        Value::Str(s) => b.push(s),
        Value::JsonArr(a) => write_list(b, a.iter().map(Value::from_json), depth),
        Value::List(l, _) => write_list(b, l.iter().cloned(), depth),
        Value::Strings(s) => write_list(b, s.iter().map(|x| Value::str(x)), depth),
        Value::Obj(Obj::Url(u)) => b.push(&u.to_string()),
        Value::Obj(Obj::Session(s)) => {
            b.push("&{")?;
            b.push(&s.subject)?;
            b.push(" ")?;
            write_v(b, &Value::JsonObj(&s.extra), depth + 1)?;
            b.push(" ")?;
            write_v(b, &Value::Obj(Obj::Header(&s.header)), depth + 1)?;
            b.push(" ")?;
            write_v(
                b,
                &Value::Obj(Obj::MatchContext(&s.match_context)),
                depth + 1,
            )?;
            b.push("}")
        }
        Value::Obj(Obj::MatchContext(m)) => {
            b.push("{")?;
            write_v(b, &Value::Strings(&m.regexp_capture_groups), depth + 1)?;
            b.push(" ")?;
            b.push(&m.url.to_string())?;
            b.push(" ")?;
            b.push(&m.method)?;
            b.push(" ")?;
            write_v(b, &Value::Obj(Obj::Header(&m.header)), depth + 1)?;
            b.push("}")
        }
        Value::Dict(..) | Value::JsonObj(_) | Value::Obj(Obj::Header(_) | Obj::Query(_)) => {
            b.push("map[")?;
            for (i, (k, v)) in v.map_entries().unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    b.push(" ")?;
                }
                b.push(k)?;
                b.push(":")?;
                write_v(b, v, depth + 1)?;
            }
            b.push("]")
        }
    }
}

fn write_list<'a>(
    b: &mut Buf,
    items: impl Iterator<Item = Value<'a>>,
    depth: usize,
) -> Result<(), String> {
    b.push("[")?;
    for (i, v) in items.enumerate() {
        if i > 0 {
            b.push(" ")?;
        }
        write_v(b, &v, depth + 1)?;
    }
    b.push("]")
}

/// `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value<'_>]) -> Result<String, String> {
    let mut b = Buf::default();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::Str(_));
        if i > 0 && !is_str && !matches!(args.get(i - 1), Some(Value::Str(_))) {
            b.push(" ")?;
        }
        write_v(&mut b, a, 0)?;
    }
    Ok(b.s)
}

/// `fmt.Sprintln(args...)`: always spaces, trailing newline.
pub(crate) fn sprintln(args: &[Value<'_>]) -> Result<String, String> {
    let mut b = Buf::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            b.push(" ")?;
        }
        write_v(&mut b, a, 0)?;
    }
    b.push("\n")?;
    Ok(b.s)
}

/// text/template's `evalArgs` for `html`, `js`, `urlquery`: one string is used as is, anything
/// else goes through `fmt.Sprint` with missing values shown as `<no value>`.
pub(crate) fn eval_args(args: &[Value<'_>]) -> Result<String, String> {
    if let [Value::Str(s)] = args {
        return Ok(s.to_string());
    }
    let shown: Vec<Value<'_>> = args
        .iter()
        .map(|a| {
            if a.is_nil() {
                Value::str("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    sprint(&shown)
}

/// Significant digits and decimal-point position of `|f|`: `0.0125` → (`"125"`, -1).
/// `sig` = number of significant digits (rounded), `None` = shortest round-trip.
fn digits(f: f64, sig: Option<usize>) -> (String, i32) {
    if f == 0.0 {
        return (
            match sig {
                Some(n) => "0".repeat(n.max(1)),
                None => "0".into(),
            },
            1,
        );
    }
    // A double has at most 767 significant decimal digits: past them the exact expansion only
    // goes on with zeros, which are added by hand (Rust's formatter takes precisions up to
    // 65,535 only, and panics beyond).
    let exact = sig.map(|n| n.min(MAX_EXACT_DIGITS));
    let s = match exact {
        Some(n) => format!("{:.*e}", n.saturating_sub(1), f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d = mant.replace('.', "");
    if let Some(n) = sig {
        d.extend(std::iter::repeat_n('0', n.saturating_sub(d.len())));
    }
    (d, exp + 1)
}

/// Digits a double's exact decimal expansion can need, before or after the point (1,074
/// after it for the smallest subnormal; 767 significant): more are zeros.
const MAX_EXACT_DIGITS: usize = 1100;

fn exp_form(d: &str, dp: i32, upper: bool) -> String {
    let mut out = String::new();
    out.push_str(d.get(..1).unwrap_or("0"));
    if d.len() > 1 {
        out.push('.');
        out.push_str(d.get(1..).unwrap_or(""));
    }
    let e = if d.trim_matches('0').is_empty() {
        0
    } else {
        dp - 1
    };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if e < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", e.unsigned_abs()));
    out
}

fn fixed_form(d: &str, dp: i32) -> String {
    let nd = d.len() as i32;
    if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), d)
    } else if dp >= nd {
        format!("{}{}", d, "0".repeat((dp - nd) as usize))
    } else {
        let (a, b) = d.split_at(dp as usize);
        format!("{a}.{b}")
    }
}

/// `strconv.FormatFloat(f, verb, prec, 64)` for verbs `e E f F g G`; `prec` `None` = shortest.
pub(crate) fn go_float(f: f64, verb: u8, prec: Option<usize>) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let body = match verb {
        b'e' | b'E' => {
            let (d, dp) = digits(f, prec.map(|p| p + 1));
            exp_form(&d, dp, verb == b'E')
        }
        b'f' | b'F' => match prec {
            Some(p) => {
                let mut s = format!("{:.*}", p.min(MAX_EXACT_DIGITS), f.abs());
                s.extend(std::iter::repeat_n('0', p.saturating_sub(MAX_EXACT_DIGITS)));
                s
            }
            None => format!("{}", f.abs()),
        },
        _ => {
            let (d, dp) = match prec {
                Some(p) => {
                    let (d, dp) = digits(f, Some(p.max(1)));
                    let t = d.trim_end_matches('0');
                    (
                        if t.is_empty() {
                            "0".to_string()
                        } else {
                            t.to_string()
                        },
                        dp,
                    )
                }
                None => digits(f, None),
            };
            let nd = d.len() as i32;
            let mut eprec = prec.map(|p| p.max(1) as i32).unwrap_or(6);
            if prec.is_some() && eprec > nd && nd >= dp {
                eprec = nd;
            }
            let exp = if f == 0.0 { 0 } else { dp - 1 };
            if exp < -4 || exp >= eprec {
                exp_form(&d, dp, verb == b'G')
            } else if f == 0.0 {
                "0".into()
            } else {
                fixed_form(&d, dp)
            }
        }
    };
    format!("{sign}{body}")
}

/// Approximates Go's `unicode.IsPrint`.
fn is_print(c: char) -> bool {
    !(c.is_control()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'))
}

/// `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_print(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}
