//! Compiled `match.url` patterns, the rule-matching index and the one path normalizer.
//!
//! # Patterns (SPEC §3.4)
//!
//! A pattern is split at top-level `<`…`>` delimiters (nesting counted, no escapes, exactly
//! like Oathkeeper's `delimiterIndices`). Text outside the delimiters is literal; text inside is
//! a regex ([`Strategy::Regexp`], [`regexp`]) or a gobwas-style glob with the separators `.` and
//! `/` ([`Strategy::Glob`], [`glob`]). Both strategies end up as one anchored regex:
//!
//! - patterns the linear `regex` crate accepts run on it (no budget needed, no backtracking);
//! - the rest (look-around, backreferences) run on `fancy_regex` with a backtrack budget, and
//!   exceeding it is a [`MatchError`] (the caller answers 500), never a hang. Oathkeeper uses a
//!   250 ms timeout instead; a step budget is deterministic and needs no clock.
//!
//! Everything is compiled when the rule set loads; matching never compiles or locks.
//!
//! # Index (DESIGN §4, SPEC §9.1)
//!
//! [`MatchIndex`] never tests every pattern. At build time each pattern gets at most one key,
//! taken from the literals its compiled regex is *proven* to require (for the regexp strategy
//! they are read from the parse tree of the full regex, so a delimited part that plays tricks
//! with groups or flags can only lose its key, never get a wrong one):
//!
//! 1. **prefix key** — the leading literal (`http://svc1.example.com/api/`), used when it says
//!    something beyond the scheme: the URL must start with it.
//! 2. **anywhere key** — otherwise the longest required literal of at least 4 bytes
//!    (`/api/v1/users/` in `<https|http>://<[^/]+>/api/v1/users/<.*>`): the URL must contain it.
//! 3. **fallback** — patterns with no usable literal (`<.*>`). The linear ones go into one
//!    `regex::RegexSet` (anchored, so the set answers exactly), the backtracking ones are
//!    tested one by one.
//!
//! The distinct keys of 1 and 2 form one Aho-Corasick automaton (standard semantics, which
//! reports every overlapping occurrence of every key): a lookup is one pass over the URL, and a
//! key yields its patterns when it occurs (prefix keys only at offset 0, each key once however
//! often it occurs). Candidates are confirmed with their own pattern, so a lookup costs
//! O(|url|) plus the candidates that really share a literal with the URL, whatever the rule
//! count: 10,000 rules `<http|https>://<[^/]+>/svc-{i}/v<[0-9]+>/<.*>` answer in the time of
//! 10 (~0.3 µs, criterion `match/`). The earlier sorted key array was probed with a binary
//! search at each `/` of the URL for such keys, 3x slower at 10,000 rules than at 10, and
//! all of that cache misses. The automaton of 10,000 keys takes about 2 MB.
//!
//! # Memory: matching piecewise around the key
//!
//! A `regex::Regex` costs 9–30 KB once built plus ~20 KB of lazy-DFA cache per thread after
//! first use: 10,000 rules measured 866 MB. So a pattern whose parts are context-free (no
//! assertions, look-around or backreferences — checked on the parse tree) is not compiled
//! whole: it is `^HEAD KEY TAIL$` with KEY its index key, and it matches iff, at some
//! occurrence of KEY, `^HEAD$` matches what precedes and `^TAIL$` what follows. HEAD and TAIL
//! are shared by text through a weak cache (only rule loading locks it), so the 6,000 rules
//! `http://svc{i}.example.com/api/<[0-9]+>` share one `^([0-9]+)$`; identical patterns (same
//! URL, other methods) share everything. The lazy DFA is off (URLs are short; the one-pass
//! DFA and bounded backtracker are fast on them). Measured, release, 10,000 generated rules
//! (`index_scale` test): ~90 ms to compile, ~0.3 µs per lookup, as at 10 rules.
//!
//! A single `RegexSet` over all rules was not used: its compile time and lazy-DFA state grow
//! with the rule count and it cannot run look-around.
//!
//! # Path normalizer (DESIGN §6)
//!
//! [`normalize_path`] is the only place a request path is decoded and cleaned; the result is
//! both what is matched and (re-encoded by [`encode_path`]) what is forwarded upstream.

mod glob;
pub(crate) mod index;
mod normalize;
mod pattern;
mod regexp;

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;

pub use index::MatchIndex;
pub use normalize::{
    ambiguous_path, canonical_host, canonical_host_pattern, clean_path, encode_path,
    host_case_unreachable, normalize_path, NormalizeError,
};
pub use pattern::Pattern;
pub(crate) use regexp::ascii_classes;

/// Backtrack budget of the `fancy_regex` engine per match attempt. Large enough for any sane
/// look-around pattern on a URL, small enough to bound a catastrophic one to milliseconds.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// `access_rules.matching_strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    Regexp,
    Glob,
}

/// A `match.url` pattern that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("pattern {pattern:?}: unbalanced delimiters '<' '>'")]
    Unbalanced { pattern: String },
    #[error("pattern {pattern:?}: bad regex in <{part}>: {message}")]
    BadPart {
        pattern: String,
        part: String,
        message: String,
    },
    #[error("pattern {pattern:?}: bad regex: {message}")]
    BadRegex { pattern: String, message: String },
    #[error("pattern {pattern:?}: bad glob in <{part}>: {problem}")]
    BadGlob {
        pattern: String,
        part: String,
        problem: &'static str,
    },
}

/// A compiled pattern failed at match time; the request must fail (500), never pass.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("pattern {pattern:?}: backtracking budget exceeded")]
    BudgetExceeded { pattern: String },
    #[error("pattern {pattern:?}: match failed: {message}")]
    Engine { pattern: String, message: String },
}

/// Index key of a pattern: a literal every matching URL contains (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    /// The URL starts with it.
    Prefix(Box<str>),
    /// The URL contains it somewhere.
    Anywhere(Box<str>),
    /// No usable literal.
    None,
}

/// Literals every matching URL is proven to contain; feeds the [`MatchIndex`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Literals {
    /// Literal the URL must start with ("" when none).
    pub(crate) prefix: String,
    /// Literal runs the URL must contain somewhere (includes the prefix when non-empty).
    pub(crate) runs: Vec<String>,
}

/// A pattern translated to one anchored regex, plus what the index and the split need.
pub(crate) struct Translated {
    /// `^` + for each segment: escaped literal, part + `$`.
    pub(crate) regex: String,
    pub(crate) segments: Vec<Segment>,
    /// Literals proven to be required (for the key when the pattern is not splittable).
    pub(crate) literals: Literals,
    /// Segments describe the regex exactly and every part is context-free.
    pub(crate) splittable: bool,
}

/// Literal text followed by a translated `<…>` part (regex text, already wrapped in a group
/// when the strategy captures); the last segment has no part.
pub(crate) struct Segment {
    pub(crate) literal: String,
    pub(crate) part: Option<String>,
}

/// Splits at top-level `<`…`>` like Oathkeeper's `delimiterIndices`: nesting is counted, there
/// are no escapes. Yields `(literal_before, Some(inner))` per delimited part, then
/// `(tail, None)`.
pub(crate) fn split_delimited(pattern: &str) -> Result<Vec<(&str, Option<&str>)>, PatternError> {
    let unbalanced = || PatternError::Unbalanced {
        pattern: pattern.to_owned(),
    };
    let mut parts = Vec::new();
    let (mut level, mut open, mut end) = (0usize, 0usize, 0usize);
    for (i, b) in pattern.bytes().enumerate() {
        match b {
            b'<' => {
                level += 1;
                if level == 1 {
                    open = i;
                }
            }
            b'>' => {
                level = level.checked_sub(1).ok_or_else(unbalanced)?;
                if level == 0 {
                    parts.push((&pattern[end..open], Some(&pattern[open + 1..i])));
                    end = i + 1;
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(unbalanced());
    }
    parts.push((&pattern[end..], None));
    Ok(parts)
}
