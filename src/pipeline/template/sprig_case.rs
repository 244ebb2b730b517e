//! Sprig's case conversions: `camelcase`, `snakecase`, `kebabcase` (huandu/xstrings 1.3, which
//! Sprig 3.2 pins) and `swapcase` (Masterminds/goutils), with Go's `unicode` classes
//! (`IsUpper` is `Lu`, `IsPunct` is `P`, ...) and Go's one-rune case mappings.

use std::sync::OnceLock;

use regex::Regex;

/// Go's `unicode` general-category tests, through the regex crate's Unicode tables.
struct Classes {
    upper: Regex,
    lower: Regex,
    title: Regex,
    letter: Regex,
    number: Regex,
    punct: Regex,
    /// Go's `unicode.IsPrint` outside ASCII: letters, marks, numbers, punctuation, symbols.
    print: Regex,
}

fn classes() -> &'static Classes {
    static C: OnceLock<Classes> = OnceLock::new();
    C.get_or_init(|| {
        // The patterns are constant and valid: `expect` cannot fire.
        let re = |p: &str| Regex::new(&format!(r"\A\p{{{p}}}\z")).expect("class pattern");
        Classes {
            upper: re("Lu"),
            lower: re("Ll"),
            title: re("Lt"),
            letter: re("L"),
            number: re("N"),
            punct: re("P"),
            print: Regex::new(r"\A[\p{L}\p{M}\p{N}\p{P}\p{S}]\z").expect("class pattern"),
        }
    })
}

fn in_class(c: char, re: &Regex) -> bool {
    re.is_match(c.encode_utf8(&mut [0; 4]))
}

/// Go's `unicode.IsPrint`: a graphic rune or the ASCII space (not U+00A0, U+2028, U+200B...).
pub(super) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    in_class(c, &classes().print)
}

fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    in_class(c, &classes().upper)
}

fn is_lower(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_lowercase();
    }
    in_class(c, &classes().lower)
}

fn is_title(c: char) -> bool {
    !c.is_ascii() && in_class(c, &classes().title)
}

fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_class(c, &classes().letter)
}

fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_class(c, &classes().number)
}

fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        // ASCII `P`; `$+<=>^`|~` are symbols (`S`) in Unicode.
        return b"!\"#%&'()*,-./:;?@[\\]_{}".contains(&(c as u8));
    }
    in_class(c, &classes().punct)
}

/// Go's `unicode.ToUpper`: Unicode's simple mapping, one rune to one rune. Rust's is the full
/// mapping (`ß` -> `SS`, `ﬃ` -> `FFI`); where that gives several runes, the simple mapping is
/// the rune itself, except for the Greek vowels with ypogegrammeni, which map to their
/// prosgegrammeni capitals (`ᾳ` -> `ᾼ`).
pub(super) fn upper_one(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => match c {
            '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
                char::from_u32(c as u32 + 8).unwrap_or(c)
            }
            '\u{1FB3}' | '\u{1FC3}' | '\u{1FF3}' => char::from_u32(c as u32 + 9).unwrap_or(c),
            _ => c,
        },
    }
}

/// Go's `unicode.ToLower` (simple mapping; `İ` -> `i`, where Rust's full mapping adds a combining
/// dot).
pub(super) fn lower_one(c: char) -> char {
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// Go's `strings.ToUpper`: every rune by the simple mapping (so `straße` stays `STRAßE`, and
/// `straße` and `strasse` stay two different values).
pub(super) fn upper(s: &str) -> String {
    s.chars().map(upper_one).collect()
}

/// Go's `strings.ToLower`: every rune by the simple mapping (`ΑΣ` -> `ασ`, no final sigma).
pub(super) fn lower(s: &str) -> String {
    s.chars().map(lower_one).collect()
}

/// Go's `unicode.ToTitle`: upper case but for the four Latin digraphs.
pub(super) fn title_one(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => upper_one(c),
    }
}

/// goutils `SwapCase`: upper and title case to lower; lower case to title case at the start of a
/// word (after whitespace), else to upper case.
pub(super) fn swapcase(s: &str) -> String {
    let mut at_start = true;
    s.chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                at_start = false;
                lower_one(c)
            } else if is_lower(c) {
                let out = if at_start { title_one(c) } else { upper_one(c) };
                at_start = false;
                out
            } else {
                at_start = c.is_whitespace();
                c
            }
        })
        .collect()
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// A letter that is not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    is_letter(c)
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

/// xstrings `ToCamelCase`: words separated by space, `_` or `-` joined, each capitalised and the
/// rest lowered; leading connectors stay (`"_complex__case_"` → `"_Complex_Case_"`).
pub(super) fn camelcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut r0 = '\0';
    let mut any = false;
    for c in chars.by_ref() {
        any = true;
        if !is_connector(c) {
            r0 = upper_one(c);
            break;
        }
        r0 = c;
        out.push(c);
    }
    let rest = chars.as_str();
    if rest.is_empty() {
        // xstrings writes the last rune again even when it was a connector already written.
        if any {
            out.push(r0);
        }
        return out;
    }
    for c in rest.chars() {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = upper_one(r0);
        } else {
            r0 = lower_one(r0);
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// The first rune of `s` that is not U+FFFD (Go's `utf8.RuneError`, which xstrings skips) and the
/// bytes up to its end; `prev` when there is none.
fn next_valid(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != '\u{FFFD}' {
            return (c, size);
        }
    }
    (prev, size)
}

/// Consume runes from `rem` (advancing `offset`) while `keep` holds for the next valid one.
fn take_while<'s>(
    mut rem: &'s str,
    mut r: char,
    offset: &mut usize,
    keep: impl Fn(char) -> bool,
) -> (&'s str, char) {
    while !rem.is_empty() {
        let (c, size) = next_valid(rem, r);
        r = c;
        if !keep(r) {
            break;
        }
        *offset += size;
        rem = &rem[size..];
    }
    (rem, r)
}

/// xstrings `nextWord`: the kind and text of the first word of `s`, and what follows it.
fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (r, size) = next_valid(s, '\u{FFFD}');
    let mut offset = size;
    if r == '\u{FFFD}' {
        return (Word::Invalid, &s[..offset], &s[offset..]);
    }
    let rem = &s[size..];
    let wt = if is_connector(r) {
        take_while(rem, r, &mut offset, is_connector);
        Word::Connector
    } else if is_punct(r) {
        take_while(rem, r, &mut offset, is_punct);
        Word::Punct
    } else if is_upper(r) {
        if !rem.is_empty() {
            let (c, size) = next_valid(rem, r);
            if is_upper(c) {
                // "HTTPStatus" is "HTTP" then "Status": the last capital starts the next word.
                let mut prev_size = size;
                offset += size;
                let mut rem2 = &rem[size..];
                let mut c2 = c;
                while !rem2.is_empty() {
                    let (n, size) = next_valid(rem2, c2);
                    c2 = n;
                    if !is_upper(c2) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    rem2 = &rem2[size..];
                }
                if !rem2.is_empty() && is_alphabet(c2) {
                    offset -= prev_size;
                }
            } else if is_alphabet(c) {
                offset += size;
                take_while(&rem[size..], c, &mut offset, |x| {
                    is_alphabet(x) && !is_upper(x)
                });
            }
        }
        Word::Upper
    } else if is_alphabet(r) {
        take_while(rem, r, &mut offset, |x| is_alphabet(x) && !is_upper(x));
        Word::Alphabet
    } else if is_number(r) {
        take_while(rem, r, &mut offset, is_number);
        Word::Number
    } else {
        take_while(rem, r, &mut offset, |x| {
            !(is_connector(x) || is_alphabet(x) || is_number(x) || is_punct(x))
        });
        Word::Other
    };
    (wt, &s[..offset], &s[offset..])
}

/// xstrings `toLower`: capitals and connectors of upper-case and connector words are lowered
/// and replaced by `sep`; other words are written as they are.
fn to_lower(out: &mut String, wt: Word, word: &str, sep: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        out.push(if is_connector(c) {
            sep
        } else if is_upper(c) {
            lower_one(c)
        } else {
            c
        });
    }
}

/// xstrings `ToSnakeCase` (`sep` `_`) and `ToKebabCase` (`sep` `-`): `"HTTPServer"` →
/// `"http_server"`, `"http2xx"` → `"http_2xx"`, `"Bld4Floor3rd"` → `"bld4_floor_3rd"`.
pub(super) fn delimited(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    if s.is_empty() {
        return out;
    }
    let (mut wt, mut word, mut rem) = next_word(s);
    let plain = |w: Word| w != Word::Invalid && w != Word::Punct && w != Word::Connector;
    while !rem.is_empty() {
        if wt != Word::Connector {
            to_lower(&mut out, wt, word, sep);
        }
        let (prev, last) = (wt, word);
        (wt, word, rem) = next_word(rem);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower(&mut out, wt, word, sep);
                    (wt, word, rem) = next_word(rem);
                }
                if plain(wt) {
                    out.push(sep);
                }
            }
            Word::Connector => to_lower(&mut out, prev, last, sep),
            Word::Punct => {}
            _ if wt != Word::Number => {
                if wt != Word::Connector && wt != Word::Punct {
                    out.push(sep);
                }
            }
            _ if rem.is_empty() => {}
            _ => {
                let number = word;
                (wt, word, rem) = next_word(rem);
                if wt != Word::Alphabet {
                    // A number ends the word before it: "Bld4Floor" → "bld4_floor".
                    to_lower(&mut out, Word::Number, number, sep);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(sep);
                    }
                } else {
                    // Letters after a number start a new word: "HTTP2xx" → "http_2xx".
                    out.push(sep);
                    to_lower(&mut out, Word::Number, number, sep);
                    while wt == Word::Alphabet || wt == Word::Number {
                        to_lower(&mut out, wt, word, sep);
                        (wt, word, rem) = next_word(rem);
                    }
                    if plain(wt) {
                        out.push(sep);
                    }
                }
            }
        }
    }
    to_lower(&mut out, wt, word, sep);
    out
}
