//! Tokeniser for Go text/template source (`{{` `}}` delimiters only), following `text/template/
//! parse/lex.go`: trim markers `{{- ` / ` -}}`, comments `{{/* */}}`, quoted and raw strings,
//! char constants, numbers, fields, variables.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    Left,
    Right,
    /// Function name or keyword (`if`, `range`, …).
    Ident(String),
    /// `.Name` (stored without the dot).
    Field(String),
    /// `$` or `$name` (stored with the `$`).
    Var(String),
    Dot,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
    Str(String),
    Number(String),
    Char(i64),
    Bool(bool),
    Nil,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset in the source.
    pub(crate) pos: usize,
    /// Whether whitespace separated this token from the previous one (`.A .B` vs `.A.B`).
    pub(crate) spaced: bool,
}

/// A lexing error: byte offset and message.
pub(crate) type LexError = (usize, String);

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let rest = src.get(pos..).unwrap_or("");
        let text_end = rest.find("{{").map(|i| pos + i).unwrap_or(src.len());
        let mut text = src.get(pos..text_end).unwrap_or("");
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        let after = src.get(text_end..).unwrap_or("");
        let trim_left = after.starts_with("{{-") && after[3..].starts_with(is_space);
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos,
                spaced: false,
            });
        }
        if text_end >= src.len() {
            break;
        }
        let start = text_end;
        pos = start + if trim_left { 3 } else { 2 };
        let inner = src.get(pos..).unwrap_or("");
        let skip = inner.len() - inner.trim_start_matches(is_space).len();
        if inner[skip..].starts_with("/*") && (trim_left || skip == 0) {
            pos = comment(src, pos + skip, &mut trim_next)?;
            continue;
        }
        out.push(Token {
            tok: Tok::Left,
            pos: start,
            spaced: false,
        });
        pos = action(src, pos, &mut out, &mut trim_next)?;
    }
    Ok(out)
}

/// Skip a comment starting at `pos` (at `/*`); return the offset after its closing delimiter.
fn comment(src: &str, pos: usize, trim_next: &mut bool) -> Result<usize, LexError> {
    let body = src.get(pos + 2..).unwrap_or("");
    let Some(end) = body.find("*/") else {
        return Err((pos, "unclosed comment".into()));
    };
    let after_pos = pos + 2 + end + 2;
    let after = src.get(after_pos..).unwrap_or("");
    if after.starts_with("}}") {
        return Ok(after_pos + 2);
    }
    if after.starts_with(is_space) && after[1..].starts_with("-}}") {
        *trim_next = true;
        return Ok(after_pos + 4);
    }
    Err((pos, "comment ends before closing delimiter".into()))
}

/// Lex the inside of an action from `pos` through its `}}`; return the offset after it.
fn action(
    src: &str,
    mut pos: usize,
    out: &mut Vec<Token>,
    trim_next: &mut bool,
) -> Result<usize, LexError> {
    let mut parens = 0usize;
    let mut spaced = true;
    loop {
        let rest = src.get(pos..).unwrap_or("");
        let Some(c) = rest.chars().next() else {
            return Err((pos, "unclosed action".into()));
        };
        let right_trim = is_space(c) && rest[1..].starts_with("-}}");
        if right_trim || rest.starts_with("}}") {
            if parens > 0 {
                return Err((pos, "unclosed left paren".into()));
            }
            out.push(Token {
                tok: Tok::Right,
                pos,
                spaced,
            });
            *trim_next = right_trim;
            return Ok(pos + if right_trim { 4 } else { 2 });
        }
        if is_space(c) {
            pos += 1;
            spaced = true;
            continue;
        }
        let start = pos;
        let next = rest[c.len_utf8()..].chars().next();
        let (tok, len) = match c {
            '|' => (Tok::Pipe, 1),
            '(' => {
                parens += 1;
                (Tok::LParen, 1)
            }
            ')' => {
                if parens == 0 {
                    return Err((pos, "unexpected right paren".into()));
                }
                parens -= 1;
                (Tok::RParen, 1)
            }
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Assign, 1),
            ':' if next == Some('=') => (Tok::Declare, 2),
            ':' => return Err((pos, "expected :=".into())),
            '"' => quoted(rest).map_err(|m| (pos, m))?,
            '`' => match rest[1..].find('`') {
                Some(end) => (Tok::Str(rest[1..1 + end].to_string()), end + 2),
                None => return Err((pos, "unterminated raw quoted string".into())),
            },
            '\'' => char_const(rest).map_err(|m| (pos, m))?,
            '$' => {
                let n = alnum_len(&rest[1..]);
                (Tok::Var(rest[..1 + n].to_string()), 1 + n)
            }
            '.' if next.is_some_and(|d| d.is_ascii_digit()) => {
                number(rest).map_err(|m| (pos, m))?
            }
            '.' if next.is_some_and(is_alnum) => {
                let n = alnum_len(&rest[1..]);
                (Tok::Field(rest[1..1 + n].to_string()), 1 + n)
            }
            '.' => (Tok::Dot, 1),
            '+' | '-' | '0'..='9' => number(rest).map_err(|m| (pos, m))?,
            c if is_alnum(c) => {
                let n = alnum_len(rest);
                let word = &rest[..n];
                let tok = match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    _ => Tok::Ident(word.to_string()),
                };
                (tok, n)
            }
            c => return Err((pos, format!("unrecognized character in action: {c:?}"))),
        };
        out.push(Token {
            tok,
            pos: start,
            spaced,
        });
        spaced = false;
        pos += len;
    }
}

fn alnum_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !is_alnum(*c))
        .map(|(i, _)| i)
        .unwrap_or(s.len())
}

fn number(s: &str) -> Result<(Tok, usize), String> {
    let mut end = 0;
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        let sign_ok = (i == 0) || (matches!(prev, 'e' | 'E' | 'p' | 'P') && !s.starts_with("0x"));
        let ok = c.is_ascii_alphanumeric()
            || c == '_'
            || c == '.'
            || (matches!(c, '+' | '-') && sign_ok);
        if !ok {
            break;
        }
        prev = c;
        end = i + c.len_utf8();
    }
    let text = &s[..end];
    if super::parser::parse_number(text).is_none() {
        return Err(format!("bad number syntax: {text:?}"));
    }
    Ok((Tok::Number(text.to_string()), end))
}

/// A Go double-quoted string literal at the start of `s`; returns the decoded text and length.
fn quoted(s: &str) -> Result<(Tok, usize), String> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((Tok::Str(out), i + 1)),
            '\n' => break,
            '\\' => {
                let Some((j, e)) = it.next() else { break };
                let (ch, used) = escape(e, &s[j + e.len_utf8()..], '"')?;
                for _ in 0..used {
                    it.next();
                }
                if let Some(ch) = ch {
                    out.push(ch);
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

/// Decode one escape (after the backslash): returns the char and how many more chars it used.
fn escape(e: char, rest: &str, quote: char) -> Result<(Option<char>, usize), String> {
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        c if c == quote => Some(c),
        _ => None,
    };
    if simple.is_some() {
        return Ok((simple, 0));
    }
    let (digits, radix) = match e {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (2, 8),
        _ => return Err(format!("invalid syntax: unknown escape \\{e}")),
    };
    let hex: String = rest.chars().take(digits).collect();
    let text = if radix == 8 {
        format!("{e}{hex}")
    } else {
        hex.clone()
    };
    let v =
        u32::from_str_radix(&text, radix).map_err(|_| "invalid syntax: bad escape".to_string())?;
    if hex.chars().count() != digits {
        return Err("invalid syntax: bad escape".into());
    }
    // \x and octal escapes are bytes in Go; non-ASCII bytes cannot live in a Rust string.
    let ch = char::from_u32(v).ok_or_else(|| "invalid syntax: bad escape".to_string())?;
    Ok((Some(ch), digits))
}

fn char_const(s: &str) -> Result<(Tok, usize), String> {
    let mut it = s.char_indices().skip(1);
    let (ch, _) = match it.next() {
        Some((j, '\\')) => {
            let e = s[j + 1..]
                .chars()
                .next()
                .ok_or("unterminated character constant")?;
            let (ch, used) = escape(e, &s[j + 1 + e.len_utf8()..], '\'')?;
            for _ in 0..=used {
                it.next();
            }
            (ch.ok_or("malformed character constant")?, 0)
        }
        Some((_, '\'')) | Some((_, '\n')) | None => {
            return Err("malformed character constant".into())
        }
        Some((_, c)) => (c, 0),
    };
    match it.next() {
        Some((i, '\'')) => Ok((Tok::Char(ch as i64), i + 1)),
        _ => Err("unterminated character constant".into()),
    }
}
