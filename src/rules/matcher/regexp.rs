//! Regexp strategy (SPEC §3.4): `<…>` parts are regexes, wrapped in capturing groups; text
//! outside is escaped; the whole is anchored `^…$` (Oathkeeper/ladon `CompileRegex`).

use fancy_regex::{Assertion, Expr};

use super::{split_delimited, Literals, PatternError, Segment, Translated};

/// Builds the anchored regex for a regexp-strategy pattern.
pub(crate) fn translate(pattern: &str) -> Result<Translated, PatternError> {
    let mut regex = String::with_capacity(pattern.len() + 16);
    let mut segments = Vec::new();
    regex.push('^');
    for (literal, part) in split_delimited(pattern)? {
        regex.push_str(&regex::escape(literal));
        let part = match part {
            Some(part) => {
                // ladon compiles every part on its own first; that rejects parts which would
                // close the wrapping group and leak an alternation to the top level (`a)|(b`).
                if let Err(err) = Expr::parse_tree(part) {
                    return Err(PatternError::BadPart {
                        pattern: pattern.to_owned(),
                        part: part.to_owned(),
                        message: err.to_string(),
                    });
                }
                if class_subtraction(part) {
                    return Err(PatternError::BadPart {
                        pattern: pattern.to_owned(),
                        part: part.to_owned(),
                        message: "character class subtraction (`[a-z-[aeiou]]`, .NET syntax) is \
                                  not supported: list the characters the class keeps"
                            .to_owned(),
                    });
                }
                let wrapped = format!("({})", ascii_classes(part));
                regex.push_str(&wrapped);
                Some(wrapped)
            }
            None => None,
        };
        segments.push(Segment {
            literal: literal.to_owned(),
            part,
        });
    }
    regex.push('$');
    // Read the structure back from the parse tree of the full regex rather than trusting the
    // split: whatever a part does with flags, the tree says what really is literal.
    let (literals, splittable) = match Expr::parse_tree(&regex) {
        Ok(tree) => (
            required_literals(&tree.expr),
            is_exactly(&tree.expr, &segments),
        ),
        Err(_) => (Literals::default(), false),
    };
    Ok(Translated {
        regex,
        segments,
        literals,
        splittable,
    })
}

/// `part` with the shorthand classes as the RE2 mode of later regexp2 releases reads them: `\d`
/// `[0-9]`, `\w` `[0-9A-Za-z_]`, `\s` `[\t\n\f\r ]` and their negations, ASCII only. Both Rust
/// engines (and the regexp2 v1.2.0 Oathkeeper ships) read them as Unicode classes, so `<\d+>`
/// would let `١٢` (Arabic-Indic digits) or `１` through, and an upstream may read those as a
/// number (a deliberate difference, README "Differences from Oathkeeper"). Inside a
/// class the positive ones become ranges and the negated ones nested classes (`[a\D]` ->
/// `[a[^0-9]]`, a union in both engines).
pub(crate) fn ascii_classes(part: &str) -> std::borrow::Cow<'_, str> {
    const CLASSES: [(char, &str, bool); 6] = [
        ('d', "0-9", false),
        ('D', "0-9", true),
        ('w', "0-9A-Za-z_", false),
        ('W', "0-9A-Za-z_", true),
        ('s', "\\t\\n\\f\\r ", false),
        ('S', "\\t\\n\\f\\r ", true),
    ];
    if !part.contains('\\') {
        return part.into();
    }
    let mut out = String::with_capacity(part.len() + 16);
    // Depth of `[` classes (Rust's engines nest them); 0 outside.
    let mut depth = 0usize;
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                match CLASSES.iter().find(|(name, _, _)| *name == next) {
                    Some((_, set, negated)) => {
                        if depth > 0 && !negated {
                            out.push_str(set);
                        } else {
                            out.push_str(if *negated { "[^" } else { "[" });
                            out.push_str(set);
                            out.push(']');
                        }
                        // In a class, `-` after a shorthand is a literal in .NET (`[\w-.]`:
                        // word characters, `-` and `.`); after the expansion it would make a
                        // range (`_-.`), so it is escaped.
                        if depth > 0 && chars.peek() == Some(&'-') {
                            chars.next();
                            out.push_str("\\-");
                        }
                    }
                    None => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' => {
                out.push(c);
                if depth > 0 && chars.peek() == Some(&':') {
                    // A POSIX class `[:digit:]`: copied whole.
                    for c in chars.by_ref() {
                        out.push(c);
                        if c == ']' {
                            break;
                        }
                    }
                    continue;
                }
                depth += 1;
                // `]` first in a class (after an optional `^`) is a literal.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.into()
}

/// Whether `part` has a .NET class subtraction (`[a-z-[aeiou]]`: a-z without the vowels). The
/// Rust engines read `-[...]` in a class as a literal `-` and a nested class added to it, so the
/// class would match more than the rule says; such a pattern is refused.
fn class_subtraction(part: &str) -> bool {
    let mut depth = 0usize;
    let mut prev = '\0';
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                prev = '\0';
                continue;
            }
            '[' if depth > 0 && prev == '-' => return true,
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ => {}
        }
        prev = c;
    }
    false
}

/// Whether `expr` is `^`, then per segment its literal as plain literals and its part as one
/// context-free group, then `$` — i.e. the pattern may be matched piecewise.
fn is_exactly(expr: &Expr, segments: &[Segment]) -> bool {
    let Expr::Concat(items) = expr else {
        return false;
    };
    let mut items = items.iter();
    if !matches!(items.next(), Some(Expr::Assertion(Assertion::StartText))) {
        return false;
    }
    for segment in segments {
        let mut want = segment.literal.as_str();
        while !want.is_empty() {
            match items.next() {
                Some(Expr::Literal { val, casei: false })
                    if !val.is_empty() && want.starts_with(val.as_str()) =>
                {
                    want = &want[val.len()..];
                }
                _ => return false,
            }
        }
        if segment.part.is_some()
            && !matches!(items.next(), Some(Expr::Group(e)) if context_free(e))
        {
            return false;
        }
    }
    matches!(items.next(), Some(Expr::Assertion(Assertion::EndText))) && items.next().is_none()
}

/// Matches the same on a slice of the URL as in place: no assertions (`^`, `$`, `\b`, …),
/// look-around, backreferences or other backtracking-only constructs.
fn context_free(expr: &Expr) -> bool {
    match expr {
        Expr::Empty | Expr::Any { .. } | Expr::Literal { .. } | Expr::Delegate { .. } => true,
        Expr::Concat(items) | Expr::Alt(items) => items.iter().all(context_free),
        Expr::Group(inner) => context_free(inner),
        Expr::Repeat { child, .. } => context_free(child),
        _ => false,
    }
}

/// Literal runs of a top-level `^`-anchored concatenation; each must occur in every match, the
/// first one (when it directly follows `^`) at offset 0.
pub(crate) fn required_literals(expr: &Expr) -> Literals {
    let Expr::Concat(items) = expr else {
        return Literals::default();
    };
    let mut items = items.iter();
    if !matches!(items.next(), Some(Expr::Assertion(Assertion::StartText))) {
        return Literals::default();
    }
    let mut literals = Literals::default();
    let mut run = String::new();
    let mut at_start = true;
    for item in items {
        match item {
            Expr::Literal { val, casei: false } => run.push_str(val),
            _ => {
                if at_start {
                    literals.prefix.clone_from(&run);
                    at_start = false;
                }
                if !run.is_empty() {
                    literals.runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if at_start {
        literals.prefix.clone_from(&run);
    }
    if !run.is_empty() {
        literals.runs.push(run);
    }
    literals
}

/// Group numbers in reporting order: .NET (regexp2) numbers unnamed groups first, then named
/// ones, while both Rust engines number strictly left to right.
pub(crate) fn group_order<'a>(names: impl Iterator<Item = Option<&'a str>>) -> Box<[usize]> {
    let (unnamed, named): (Vec<_>, Vec<_>) = names
        .enumerate()
        .skip(1)
        .partition(|(_, name)| name.is_none());
    unnamed.into_iter().chain(named).map(|(i, _)| i).collect()
}
