//! Sprig's string functions (goutils and Go `strings` semantics). Lengths and offsets are in
//! bytes, as in Go; a cut inside a UTF-8 sequence is repaired lossily.

use base64::Engine as _;

use super::format::{Buf, MAX_STRING};
use super::funcs::{arg, want_int, want_str};
use super::sprig_case::{lower_one, title_one};
use super::value::Value;

type R<'a> = Result<Value<'a>, String>;

/// Go's `strings.Title` (deprecated there, but it is what Sprig calls): `unicode.ToTitle` on
/// the first rune of each word (`ǆungla` -> `ǅungla`).
pub(super) fn title(s: &str) -> String {
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
            let out = if sep(prev) { title_one(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// Sprig's `untitle`: lowercase the first letter of each space-separated word.
pub(super) fn untitle(s: &str) -> String {
    let mut prev_space = true;
    s.chars()
        .map(|c| {
            let out = if prev_space { lower_one(c) } else { c };
            prev_space = c.is_whitespace();
            out
        })
        .collect()
}

pub(super) fn b64dec(s: &str) -> String {
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

pub(super) fn replace<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
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

pub(super) fn repeat<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
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

pub(super) fn substr<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
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

pub(super) fn trunc<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
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

pub(super) fn indent<'a>(mut a: Vec<Value<'a>>, newline: bool) -> Result<Value<'a>, String> {
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

/// Sprig's `abbrev WIDTH S`: `S` cut to `WIDTH` bytes with `...` (unchanged when `WIDTH < 4`).
pub(super) fn abbrev<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (width, s) = (want_int(&a[0])?, want_str(&a[1])?);
    if width < 4 {
        return Ok(Value::string(s));
    }
    Ok(Value::string(abbreviate(s.as_bytes(), 0, width)))
}

/// Sprig's `abbrevboth LEFT RIGHT S`: `...` on both sides around offset `LEFT`.
pub(super) fn abbrevboth<'a>(a: Vec<Value<'a>>) -> R<'a> {
    let (left, right, s) = (want_int(&a[0])?, want_int(&a[1])?, want_str(&a[2])?);
    if right < 4 || left > 0 && right < 7 {
        return Ok(Value::string(s));
    }
    Ok(Value::string(abbreviate(s.as_bytes(), left, right)))
}

/// goutils `AbbreviateFull` for `max >= 4` (and `max >= 7` when `offset > 4`, as Sprig calls it).
fn abbreviate(s: &[u8], offset: i64, max: i64) -> String {
    let len = s.len() as i64;
    if len <= max {
        return String::from_utf8_lossy(s).into_owned();
    }
    let keep = max - 3;
    let mut offset = offset.min(len);
    if len.saturating_sub(offset) < keep {
        offset = len - keep;
    }
    let cut = |from: i64, to: i64| {
        let (from, to) = (from.clamp(0, len) as usize, to.clamp(0, len) as usize);
        String::from_utf8_lossy(s.get(from..to).unwrap_or_default()).into_owned()
    };
    if offset <= 4 {
        return format!("{}...", cut(0, keep));
    }
    if max < 7 {
        return String::new();
    }
    if offset.saturating_add(keep) < len {
        let tail = &s[offset as usize..];
        // `Abbreviate(tail, max - 3)`, which is "" when that width is below 4.
        let inner = if keep < 4 {
            String::new()
        } else {
            abbreviate(tail, 0, keep)
        };
        return format!("...{inner}");
    }
    format!("...{}", cut(len - keep, len))
}

/// goutils `Initials`: the first byte of each whitespace-separated word. Bytes are read as
/// Latin-1 runes, as goutils does.
pub(super) fn initials(s: &str) -> String {
    let mut gap = true;
    let mut out = String::new();
    for c in s.bytes().map(char::from) {
        if c.is_whitespace() {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

/// Sprig's `wrap WIDTH S` and `wrapWith WIDTH SEP S` (goutils `WrapCustom`): break lines at
/// spaces so that they fit `WIDTH` bytes; `wrapWith` also cuts words longer than that.
pub(super) fn wrap<'a>(a: Vec<Value<'a>>, with_sep: bool) -> R<'a> {
    let mut it = a.into_iter();
    let width = want_int(&arg(&mut it))?;
    let sep = if with_sep {
        want_str(&arg(&mut it))?.to_string()
    } else {
        String::new()
    };
    let s = arg(&mut it);
    let s = want_str(&s)?.as_bytes();
    let nl = if sep.is_empty() { "\n" } else { sep.as_str() }.as_bytes();
    let width = usize::try_from(width.max(1)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let line = |out: &mut Vec<u8>, part: &[u8]| {
        if out.len() + part.len() + nl.len() > MAX_STRING {
            return Err(format!("result exceeds {MAX_STRING} bytes"));
        }
        out.extend_from_slice(part);
        out.extend_from_slice(nl);
        Ok(())
    };
    let mut offset = 0;
    while s.len() - offset > width {
        if s[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        if let Some(space) = s[offset..end].iter().rposition(|&b| b == b' ') {
            line(&mut out, &s[offset..offset + space])?;
            offset += space + 1;
        } else if with_sep {
            line(&mut out, &s[offset..offset + width])?;
            offset += width;
        } else {
            let end = width + offset;
            match s[end..].iter().position(|&b| b == b' ') {
                None => {
                    out.extend_from_slice(&s[offset..]);
                    offset = s.len();
                }
                Some(i) => {
                    line(&mut out, &s[offset..end + i])?;
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&s[offset..]);
    Ok(Value::string(String::from_utf8_lossy(&out).into_owned()))
}

/// xstrings `Shuffle`: the runes in random order.
pub(super) fn shuffle(s: &str) -> String {
    let mut runes: Vec<char> = s.chars().collect();
    fastrand::shuffle(&mut runes);
    runes.into_iter().collect()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding.EncodeToString`.
pub(super) fn b32enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len().div_ceil(5) * 8);
    for chunk in s.as_bytes().chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = [2, 4, 5, 7, 8][chunk.len() - 1];
        for i in 0..8 {
            out.push(if i < chars {
                char::from(B32[((n >> (35 - 5 * i)) & 31) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString` (newlines ignored); Sprig returns the error's text
/// in place of the result.
pub(super) fn b32dec(s: &str) -> String {
    let src: Vec<u8> = s.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    match b32decode(&src) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(at) => format!("illegal base32 data at input byte {at}"),
    }
}

fn b32decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let olen = src.len();
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut rest = src;
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut d = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, tail)) = rest.split_first() else {
                return Err(olen - j);
            };
            rest = tail;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                if rest.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if rest.get(k).is_some_and(|&b| b != b'=') {
                        return Err(olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            d[j] = match B32.iter().position(|&x| x == c) {
                Some(v) => v as u8,
                None => return Err(olen - rest.len() - 1),
            };
            j += 1;
        }
        let bytes = [
            d[0] << 3 | d[1] >> 2,
            d[1] << 6 | d[2] << 1 | d[3] >> 4,
            d[3] << 4 | d[4] >> 1,
            d[4] << 7 | d[5] << 2 | d[6] >> 3,
            d[6] << 5 | d[7],
        ];
        let n = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..n]);
    }
    Ok(out)
}
