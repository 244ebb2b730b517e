//! Glob strategy (SPEC §3.4, gobwas/glob with separators `.` and `/`), translated by hand to
//! a regex for the `regex` crate: common glob crates know only `/` as a separator.
//!
//! | glob      | meaning                                   | regex       |
//! |-----------|-------------------------------------------|-------------|
//! | `*`       | any run without `.` or `/`                | `[^./]*`    |
//! | `**`      | any run                                   | `(?s:.*)`   |
//! | `?`       | one character that is not `.` or `/`      | `[^./]`     |
//! | `[a-z_]`  | one character of the list                 | `[a-z_]`    |
//! | `[!a-z]`  | one character not in the list (any other) | `[^a-z]`    |
//! | `{a,b*}`  | alternatives, which may hold globs        | `(?:a|b…)`  |
//! | `\x`      | the character `x`                         | escaped `x` |
//!
//! Each `<…>` part is translated on its own (gobwas sees the parts concatenated, so a `{` in one
//! part closed in another would compile there; here it is a "bad glob" error).

use super::{split_delimited, Literals, PatternError, Segment, Translated};

const ANY_RUN: &str = "[^./]*";
const SUPER_RUN: &str = "(?s:.*)";
const ONE_CHAR: &str = "[^./]";

/// Builds the anchored regex for a glob-strategy pattern.
pub(crate) fn translate(pattern: &str) -> Result<Translated, PatternError> {
    let mut regex = String::with_capacity(pattern.len() + 16);
    let mut literals = Literals::default();
    let mut segments = Vec::new();
    regex.push('^');
    for (i, (literal, part)) in split_delimited(pattern)?.into_iter().enumerate() {
        regex.push_str(&regex::escape(literal));
        if i == 0 {
            literal.clone_into(&mut literals.prefix);
        }
        if !literal.is_empty() {
            literals.runs.push(literal.to_owned());
        }
        let part = match part {
            Some(part) => {
                let mut out = String::new();
                let mut parser = Parser {
                    chars: part.chars().collect(),
                    pos: 0,
                };
                parser
                    .seq(&mut out, false)
                    .map_err(|problem| PatternError::BadGlob {
                        pattern: pattern.to_owned(),
                        part: part.to_owned(),
                        problem,
                    })?;
                regex.push_str(&out);
                Some(out)
            }
            None => None,
        };
        segments.push(Segment {
            literal: literal.to_owned(),
            part,
        });
    }
    regex.push('$');
    // Translations hold no assertions and no top-level `|`: always matchable piecewise.
    Ok(Translated {
        regex,
        segments,
        literals,
        splittable: true,
    })
}

/// Why a sequence stopped.
enum End {
    Input,
    Comma,
    Close,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        self.pos += usize::from(c.is_some());
        c
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Translates until the end of input, or (inside `{…}`) until `,` or `}`.
    fn seq(&mut self, out: &mut String, in_terms: bool) -> Result<End, &'static str> {
        loop {
            match self.next() {
                None if in_terms => return Err("unclosed '{'"),
                None => return Ok(End::Input),
                Some(',') if in_terms => return Ok(End::Comma),
                Some('}') if in_terms => return Ok(End::Close),
                Some('\\') => {
                    let c = self.next().ok_or("'\\' at end of glob")?;
                    push_literal(out, c);
                }
                Some('*') if self.peek(0) == Some('*') => {
                    self.pos += 1;
                    out.push_str(SUPER_RUN);
                }
                Some('*') => out.push_str(ANY_RUN),
                Some('?') => out.push_str(ONE_CHAR),
                Some('[') => self.class(out)?,
                Some('{') => {
                    out.push_str("(?:");
                    while let End::Comma = self.seq(out, true)? {
                        out.push('|');
                    }
                    out.push(')');
                }
                Some(c) => push_literal(out, c),
            }
        }
    }

    /// `[abc]`, `[a-z]`, `[!abc]` after the `[`.
    fn class(&mut self, out: &mut String) -> Result<(), &'static str> {
        out.push('[');
        if self.peek(0) == Some('!') {
            self.pos += 1;
            out.push('^');
        }
        let mut items = 0;
        loop {
            let c = match self.next().ok_or("unclosed '['")? {
                ']' if items == 0 => return Err("empty '[]'"),
                ']' => break,
                '\\' => self.next().ok_or("unclosed '['")?,
                c => c,
            };
            push_literal(out, c);
            if self.peek(0) == Some('-') && !matches!(self.peek(1), Some(']') | None) {
                self.pos += 1;
                let hi = match self.next().ok_or("unclosed '['")? {
                    '\\' => self.next().ok_or("unclosed '['")?,
                    hi => hi,
                };
                if hi < c {
                    return Err("range out of order in '[]'");
                }
                out.push('-');
                push_literal(out, hi);
            }
            items += 1;
        }
        out.push(']');
        Ok(())
    }
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}
