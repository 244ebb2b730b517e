//! Sprig's regular-expression, hash, UUID and random-string functions. Go's `regexp` is RE2, the
//! syntax of the `regex` crate (replacement `$1`/`${name}` expansion included). Patterns are
//! compiled once per thread and kept (templates repeat the same few), bounded in size.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use sha2::Digest as _;

use super::format::MAX_STRING;
use super::funcs::{want_int, want_str};
use super::value::Value;

type R<'a> = Result<Value<'a>, String>;

/// Compiled patterns this thread has seen (cleared when it holds too many).
const CACHED_PATTERNS: usize = 64;

thread_local! {
    static PATTERNS: RefCell<HashMap<String, Rc<regex::Regex>>> = RefCell::new(HashMap::new());
}

/// `pattern` compiled (Go `regexp.Compile`), from the thread's cache when it was seen before.
fn compiled(pattern: &str) -> Result<Rc<regex::Regex>, String> {
    if let Some(r) = PATTERNS.with(|p| p.borrow().get(pattern).cloned()) {
        return Ok(r);
    }
    let r = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map(Rc::new)
        .map_err(|e| format!("error parsing regexp: {e}"))?;
    PATTERNS.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= CACHED_PATTERNS {
            p.clear();
        }
        p.insert(pattern.to_string(), r.clone());
    });
    Ok(r)
}

fn bounded(s: String) -> R<'static> {
    if s.len() > MAX_STRING {
        return Err(format!("result longer than {MAX_STRING} bytes"));
    }
    Ok(Value::string(s))
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> R<'static> {
    Value::list(items.map(Value::string).collect())
}

/// `regexMatch REGEX S`: a bad pattern is `false` (Sprig); `mustRegexMatch`: an error.
pub(super) fn regex_match(a: Vec<Value<'_>>, must: bool) -> R<'static> {
    match compiled(want_str(&a[0])?) {
        Ok(r) => Ok(Value::Bool(r.is_match(want_str(&a[1])?))),
        Err(e) if must => Err(e),
        Err(_) => Ok(Value::Bool(false)),
    }
}

/// `regexFind REGEX S`: the leftmost match, `""` when none.
pub(super) fn regex_find(a: Vec<Value<'_>>) -> R<'static> {
    let r = compiled(want_str(&a[0])?)?;
    let s = want_str(&a[1])?;
    Ok(Value::string(r.find(s).map_or("", |m| m.as_str())))
}

/// `regexFindAll REGEX S N`: at most `N` matches (all when `N < 0`, none when 0).
pub(super) fn regex_find_all(a: Vec<Value<'_>>) -> R<'static> {
    let r = compiled(want_str(&a[0])?)?;
    let s = want_str(&a[1])?;
    let n = want_int(&a[2])?;
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    strings(r.find_iter(s).take(limit).map(|m| m.as_str()))
}

/// `regexReplaceAll REGEX S REPL` (`$1`, `${name}` expanded) and `regexReplaceAllLiteral`.
pub(super) fn regex_replace(a: Vec<Value<'_>>, literal: bool) -> R<'static> {
    let r = compiled(want_str(&a[0])?)?;
    let s = want_str(&a[1])?;
    let repl = want_str(&a[2])?;
    let out = if literal {
        r.replace_all(s, regex::NoExpand(repl))
    } else {
        r.replace_all(s, repl)
    };
    bounded(out.into_owned())
}

/// `regexSplit REGEX S N`: Go `Regexp.Split` (`N > 0`: at most `N` parts; 0: none; `< 0`: all).
pub(super) fn regex_split(a: Vec<Value<'_>>) -> R<'static> {
    let r = compiled(want_str(&a[0])?)?;
    let s = want_str(&a[1])?;
    match want_int(&a[2])? {
        0 => Value::list(Vec::new()),
        n if n < 0 => strings(r.split(s)),
        n => strings(r.splitn(s, usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

/// `regexQuoteMeta S`: Go `regexp.QuoteMeta` (a backslash before each of `\.+*?()|[]{}^$`).
pub(super) fn quote_meta(a: Vec<Value<'_>>) -> R<'static> {
    let s = want_str(&a[0])?;
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::string(out))
}

/// `sha256sum S`: lowercase hex.
pub(super) fn sha256sum(a: Vec<Value<'_>>) -> R<'static> {
    Ok(Value::string(hex::encode(sha2::Sha256::digest(
        want_str(&a[0])?.as_bytes(),
    ))))
}

/// `uuidv4`.
pub(super) fn uuidv4(_: Vec<Value<'_>>) -> R<'static> {
    Ok(Value::string(uuid::Uuid::new_v4().to_string()))
}

/// `randAlphaNum N` and friends: `N` characters drawn from `alphabet` (a CSPRNG is not promised
/// by Sprig either; these are not for secrets).
pub(super) fn random(a: Vec<Value<'_>>, alphabet: &[u8]) -> R<'static> {
    let n = want_int(&a[0])?;
    let n = usize::try_from(n).map_err(|_| format!("negative length {n}"))?;
    if n > MAX_STRING {
        return Err(format!("length {n} longer than {MAX_STRING}"));
    }
    let s: String = (0..n)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect();
    Ok(Value::string(s))
}

pub(super) const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub(super) const ALPHANUM: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub(super) const NUMERIC: &[u8] = b"0123456789";
pub(super) const ASCII: &[u8] =
    b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// `plural ONE MANY COUNT`.
pub(super) fn plural(a: Vec<Value<'_>>) -> R<'static> {
    let one = want_str(&a[0])?;
    let many = want_str(&a[1])?;
    Ok(Value::string(if want_int(&a[2])? == 1 {
        one
    } else {
        many
    }))
}

/// `sha1sum S`: hex SHA-1.
pub(super) fn sha1sum(a: Vec<Value<'_>>) -> R<'static> {
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        want_str(&a[0])?.as_bytes(),
    );
    Ok(Value::string(hex::encode(d.as_ref())))
}

/// `adler32sum S`: the Adler-32 checksum in decimal.
pub(super) fn adler32sum(a: Vec<Value<'_>>) -> R<'static> {
    const MOD: u32 = 65521;
    let (mut x, mut y) = (1u32, 0u32);
    for &b in want_str(&a[0])?.as_bytes() {
        x = (x + u32::from(b)) % MOD;
        y = (y + x) % MOD;
    }
    Ok(Value::string((y << 16 | x).to_string()))
}

/// `randBytes N`: `N` cryptographically random bytes, base64-encoded.
pub(super) fn rand_bytes(a: Vec<Value<'_>>) -> R<'static> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let n = usize::try_from(want_int(&a[0])?)
        .map_err(|_| "runtime error: makeslice: len out of range".to_string())?;
    if n > MAX_STRING / 4 * 3 {
        return Err(format!("result longer than {MAX_STRING} bytes"));
    }
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "crypto/rand: no randomness".to_string())?;
    Ok(Value::string(
        base64::engine::general_purpose::STANDARD.encode(buf),
    ))
}
