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
    let r = regex::RegexBuilder::new(&go_syntax(pattern))
        .size_limit(1 << 20)
        .nest_limit(1000)
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

/// A Go (RE2) pattern in the `regex` crate's syntax, where the two read the same text
/// differently:
/// - `\d \w \s \b` and their negations are ASCII in Go, Unicode in Rust (`\d` would take `١٢`);
/// - `\<` and `\>` are escaped punctuation in Go, word boundaries in Rust;
/// - `\Q...\E` quotes literally in Go only; octal escapes (`\0`, `\101`) are Go's only;
/// - a `{` that does not start a repetition (`{`, `a{`, `a{,3}`, `{"a":1}`) is a literal in
///   Go and an error in Rust;
/// - in a class, `[` is a literal in Go (Rust nests classes) and `&&` / `~~` are literals (Rust
///   intersects and subtracts).
fn go_syntax(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, next)) = chars.next() else {
                    out.push(c);
                    break;
                };
                match next {
                    'Q' => {
                        let rest = &pattern[i + 2..];
                        let end = rest.find("\\E").unwrap_or(rest.len());
                        out.push_str(&regex::escape(&rest[..end]));
                        let skip =
                            rest[..end].chars().count() + if end < rest.len() { 2 } else { 0 };
                        for _ in 0..skip {
                            chars.next();
                        }
                    }
                    '<' | '>' => out.push(next),
                    'b' | 'B' if !in_class => {
                        out.push_str(if next == 'b' {
                            "(?-u:\\b)"
                        } else {
                            "(?-u:\\B)"
                        });
                    }
                    '0'..='7'
                        if next == '0'
                            || chars.peek().is_some_and(|(_, d)| ('0'..='7').contains(d)) =>
                    {
                        let mut code = next as u32 - '0' as u32;
                        for _ in 0..2 {
                            match chars.peek() {
                                Some(&(_, d)) if ('0'..='7').contains(&d) => {
                                    code = code * 8 + (d as u32 - '0' as u32);
                                    chars.next();
                                }
                                _ => break,
                            }
                        }
                        out.push_str(&format!("\\x{{{code:X}}}"));
                    }
                    _ => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' if in_class => {
                if chars.peek().is_some_and(|&(_, n)| n == ':') {
                    // A POSIX class, `[:alpha:]`: copied whole.
                    out.push(c);
                    for (_, n) in chars.by_ref() {
                        out.push(n);
                        if n == ']' {
                            break;
                        }
                    }
                } else {
                    out.push_str("\\[");
                }
            }
            '[' => {
                in_class = true;
                out.push(c);
                if chars.peek().is_some_and(|&(_, n)| n == '^') {
                    out.push('^');
                    chars.next();
                }
                // `]` first in a class is a literal.
                if chars.peek().is_some_and(|&(_, n)| n == ']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '{' if !in_class => match repetition(&pattern[i + 1..]) {
                // A repetition is copied whole, so a `}` met later is a literal.
                Some(len) => {
                    out.push_str(&pattern[i..i + 1 + len]);
                    for _ in 0..len {
                        chars.next();
                    }
                }
                None => out.push_str("\\{"),
            },
            '}' if !in_class => out.push_str("\\}"),
            _ => out.push(c),
        }
    }
    crate::rules::matcher::ascii_classes(&out).into_owned()
}

/// The length of a Go repetition's text after its `{` (`n}`, `n,}` or `n,m}`), if it is one.
fn repetition(after: &str) -> Option<usize> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(after);
    if n == 0 {
        return None;
    }
    let rest = &after[n..];
    if rest.starts_with('}') {
        return Some(n + 1);
    }
    let rest = rest.strip_prefix(',')?;
    let m = digits(rest);
    rest[m..].starts_with('}').then_some(n + 1 + m + 1)
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
    strings(go_split(&r, s, want_int(&a[2])?).into_iter())
}

/// Go's `Regexp.Split`: the text between matches, an empty match at the very start or right
/// after another match not counted (`regexSplit "" "abc" -1` is `[a b c]`, not `[ a b c ]`), at
/// most `n` parts when `n > 0`.
fn go_split<'s>(r: &regex::Regex, s: &'s str, n: i64) -> Vec<&'s str> {
    if n == 0 {
        return Vec::new();
    }
    if !r.as_str().is_empty() && s.is_empty() {
        return vec![""];
    }
    // Go's FindAllStringIndex: an empty match where the previous match ended is skipped.
    let mut matches = Vec::new();
    let mut prev_end = None;
    for m in r.find_iter(s) {
        let skip = m.is_empty() && prev_end == Some(m.start());
        prev_end = Some(m.end());
        if !skip {
            matches.push((m.start(), m.end()));
            if n > 0 && matches.len() as i64 == n {
                break;
            }
        }
    }
    let mut out = Vec::with_capacity(matches.len() + 1);
    let (mut beg, mut end) = (0, 0);
    for (start, stop) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = start;
        if stop != 0 {
            out.push(&s[beg..end]);
        }
        beg = stop;
    }
    if end != s.len() {
        out.push(&s[beg..]);
    }
    out
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

/// `sha512sum S`: lowercase hex (Sprig 3.3).
pub(super) fn sha512sum(a: Vec<Value<'_>>) -> R<'static> {
    Ok(Value::string(hex::encode(sha2::Sha512::digest(
        want_str(&a[0])?.as_bytes(),
    ))))
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
