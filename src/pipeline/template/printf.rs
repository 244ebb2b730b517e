//! `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %t %f %F %e %E %g %G %x %X %o %b %c
//! %%`, flags `+ - # 0 space`, width and precision (`*` from an operand), operand indexes
//! (`%[2]s`). Mismatched verbs print Go's
//! `%!d(string=x)` markers; missing and extra operands print `%!d(MISSING)` / `%!(EXTRA …)`.
//! Deliberately lenient where Go is strict only because JSON numbers are typed differently here:
//! float verbs accept integers and `%d` accepts integral floats.

use super::format::{go_float, go_quote, write_v, Buf};
use super::value::{Obj, Value};

#[derive(Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go rejects widths and precisions above 1e6.
const MAX_WIDTH: usize = 1_000_000;

pub(crate) fn sprintf(format: &str, args: &[Value<'_>]) -> Result<String, String> {
    let mut b = Buf::default();
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    // An explicit index (`%[2]d`) was used: unused operands are not reported as extra.
    let mut reordered = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            b.push_char(c)?;
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => sp.plus = true,
                '-' => sp.minus = true,
                '#' => sp.sharp = true,
                '0' => sp.zero = true,
                ' ' => sp.space = true,
                _ => break,
            }
            chars.next();
        }
        // Go's `fmt`: `[n]` picks operand n (1-based) for what follows; `*` takes a width or
        // precision from the next operand (an int; a negative width means `-`).
        let mut good_index = true;
        let mut after_index = arg_index(
            &mut chars,
            &mut argi,
            args.len(),
            &mut good_index,
            &mut reordered,
        );
        let mut bad_width = false;
        if chars.peek() == Some(&'*') {
            chars.next();
            match int_arg(args, &mut argi) {
                Some(w) => {
                    if w < 0 {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    sp.width = Some(w.unsigned_abs().min(MAX_WIDTH as u64 + 1) as usize);
                    bad_width |= w.unsigned_abs() > MAX_WIDTH as u64;
                }
                None => b.push("%!(BADWIDTH)")?,
            }
            after_index = false;
        } else {
            sp.width = number(&mut chars, &mut bad_width);
            if after_index && sp.width.is_some() {
                good_index = false;
            }
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if after_index {
                good_index = false;
            }
            after_index = arg_index(
                &mut chars,
                &mut argi,
                args.len(),
                &mut good_index,
                &mut reordered,
            );
            if chars.peek() == Some(&'*') {
                chars.next();
                match int_arg(args, &mut argi) {
                    Some(p) if p >= 0 => {
                        sp.prec = Some(p.min(MAX_WIDTH as i64 + 1) as usize);
                        bad_width |= p > MAX_WIDTH as i64;
                    }
                    Some(_) | None => b.push("%!(BADPREC)")?,
                }
                after_index = false;
            } else {
                sp.prec = Some(number(&mut chars, &mut bad_width).unwrap_or(0));
            }
        }
        if !after_index {
            arg_index(
                &mut chars,
                &mut argi,
                args.len(),
                &mut good_index,
                &mut reordered,
            );
        }
        let Some(verb) = chars.next() else {
            b.push("%!(NOVERB)")?;
            break;
        };
        if bad_width {
            b.push("%!(BADWIDTH)")?;
            sp.width = None;
            sp.prec = None;
        }
        if verb == '%' {
            b.push("%")?;
            continue;
        }
        if !good_index {
            b.push(&format!("%!{verb}(BADINDEX)"))?;
            continue;
        }
        match args.get(argi) {
            None => b.push(&format!("%!{verb}(MISSING)"))?,
            Some(a) if verb == 'T' => pad(&mut b, a.type_name(), sp, false)?,
            Some(a) => fmt_arg(&mut b, a, verb, sp)?,
        }
        argi += 1;
    }
    if !reordered && argi < args.len() {
        b.push("%!(EXTRA ")?;
        for (i, a) in args.iter().enumerate().skip(argi) {
            if i > argi {
                b.push(", ")?;
            }
            b.push(a.type_name())?;
            b.push("=")?;
            write_v(&mut b, a, 0)?;
        }
        b.push(")")?;
    }
    Ok(b.s)
}

/// Go's `argNumber`: an explicit `[n]` (1-based) makes operand n the next one; true when one
/// was read. A bad index (not a number, out of range) is remembered as such.
fn arg_index(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    argi: &mut usize,
    count: usize,
    good: &mut bool,
    reordered: &mut bool,
) -> bool {
    if chars.peek() != Some(&'[') {
        return false;
    }
    *reordered = true;
    let rest: String = chars.clone().collect();
    let Some(close) = rest.find(']') else {
        *good = false;
        // Go consumes nothing more: the verb is read after the `[`.
        chars.next();
        return false;
    };
    let inner = &rest[1..close];
    for _ in 0..=rest[..close].chars().count() {
        chars.next();
    }
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        *good = false;
        return false;
    }
    match inner.parse::<usize>() {
        Ok(n) if (1..=count).contains(&n) => {
            *argi = n - 1;
            true
        }
        // A number, but no such operand.
        _ => {
            *good = false;
            true
        }
    }
}

/// Go's `intFromArg`: the next operand as a width or precision, when it is an integer.
fn int_arg(args: &[Value<'_>], argi: &mut usize) -> Option<i64> {
    let v = match args.get(*argi)? {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    *argi += 1;
    v
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, bad: &mut bool) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let v = n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize);
        if v > MAX_WIDTH {
            *bad = true;
        }
        n = Some(v.min(MAX_WIDTH + 1));
    }
    n
}

fn bad_verb(b: &mut Buf, a: &Value<'_>, verb: char) -> Result<(), String> {
    b.push("%!")?;
    b.push_char(verb)?;
    b.push("(")?;
    if a.is_nil() {
        b.push("<nil>")?;
    } else {
        b.push(a.type_name())?;
        b.push("=")?;
        write_v(b, a, 0)?;
    }
    b.push(")")
}

fn fmt_arg(b: &mut Buf, a: &Value<'_>, verb: char, sp: Spec) -> Result<(), String> {
    let s = match (a, verb) {
        (Value::Nil, 'v') => "<nil>".to_string(),
        (Value::Bool(x), 't' | 'v') => x.to_string(),
        (Value::Int(i), _) if "vdboOxXcqU".contains(verb) => int_verb(*i, verb, sp),
        (Value::Int(i), 'e' | 'E' | 'f' | 'F' | 'g' | 'G') => float_verb(*i as f64, verb, sp),
        (Value::Float(f), 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G') => float_verb(*f, verb, sp),
        (Value::Float(f), 'd') if f.fract() == 0.0 && f.abs() < 9.0e18 => {
            int_verb(*f as i64, verb, sp)
        }
        (Value::Str(s), 'v' | 's') => truncate(s, sp.prec),
        (Value::Str(s), 'q') => go_quote(&truncate(s, sp.prec)),
        (Value::Str(s), 'x') => hex(s.as_bytes(), false),
        (Value::Str(s), 'X') => hex(s.as_bytes(), true),
        (Value::Obj(Obj::Url(u)), 'v' | 's') => u.to_string(),
        (Value::Obj(Obj::Url(u)), 'q') => go_quote(&u.to_string()),
        (v, 'v') => {
            let mut inner = Buf::default();
            write_v(&mut inner, v, 0)?;
            inner.s
        }
        (v, _) if v.is_list() => {
            let mut inner = Buf::default();
            inner.push("[")?;
            for (i, e) in v.list_items().unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    inner.push(" ")?;
                }
                fmt_arg(&mut inner, e, verb, Spec { width: None, ..sp })?;
            }
            inner.push("]")?;
            inner.s
        }
        (v, _) => return bad_verb(b, v, verb),
    };
    let numeric = matches!(a, Value::Int(_) | Value::Float(_));
    pad(b, &s, sp, numeric)
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|x| {
            if upper {
                format!("{x:02X}")
            } else {
                format!("{x:02x}")
            }
        })
        .collect()
}

fn sign(neg: bool, sp: Spec) -> &'static str {
    if neg {
        "-"
    } else if sp.plus {
        "+"
    } else if sp.space {
        " "
    } else {
        ""
    }
}

fn int_verb(i: i64, verb: char, sp: Spec) -> String {
    let u = i.unsigned_abs();
    let (mut digits, prefix) = match verb {
        'b' => (format!("{u:b}"), if sp.sharp { "0b" } else { "" }),
        'o' => (format!("{u:o}"), if sp.sharp { "0" } else { "" }),
        'O' => (format!("{u:o}"), "0o"),
        'x' => (format!("{u:x}"), if sp.sharp { "0x" } else { "" }),
        'X' => (format!("{u:X}"), if sp.sharp { "0X" } else { "" }),
        'c' => return char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string(),
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            let q = go_quote(&c.to_string());
            let inner = q.get(1..q.len() - 1).unwrap_or("").replace("\\\"", "\"");
            return format!("'{}'", if c == '\'' { "\\'".to_string() } else { inner });
        }
        'U' => return format!("U+{u:04X}"),
        _ => (u.to_string(), ""),
    };
    if let Some(p) = sp.prec {
        if digits.len() < p {
            digits = format!("{}{}", "0".repeat(p - digits.len()), digits);
        } else if p == 0 && i == 0 {
            digits.clear();
        }
    }
    format!("{}{}{}", sign(i < 0, sp), prefix, digits)
}

fn float_verb(f: f64, verb: char, sp: Spec) -> String {
    let (v, prec) = match verb {
        'v' | 'g' | 'G' => (if verb == 'G' { b'G' } else { b'g' }, sp.prec),
        _ => (verb as u8, Some(sp.prec.unwrap_or(6))),
    };
    let s = go_float(f, v, prec);
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, s),
    };
    format!("{}{}", sign(neg, sp), body)
}

fn pad(b: &mut Buf, s: &str, sp: Spec, numeric: bool) -> Result<(), String> {
    let n = s.chars().count();
    let width = sp.width.unwrap_or(0);
    if width <= n {
        return b.push(s);
    }
    let fill = width - n;
    if sp.minus {
        b.push(s)?;
        return b.push(&" ".repeat(fill));
    }
    if sp.zero && !(numeric && sp.prec.is_some() && !s.contains(['.', 'e'])) {
        let (sign, rest) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) if numeric => (c.to_string(), s.get(1..).unwrap_or("")),
            _ => (String::new(), s),
        };
        b.push(&sign)?;
        b.push(&"0".repeat(fill))?;
        return b.push(rest);
    }
    b.push(&" ".repeat(fill))?;
    b.push(s)
}
