//! [`Pattern`]: one compiled `match.url` pattern and how it runs (full regex on either
//! engine, or piecewise around its index key with shared regexes).

use std::sync::{Arc, LazyLock, OnceLock};

use crate::registry::WeakRegistry;

use super::{
    glob, regexp, Key, MatchError, PatternError, Segment, Strategy, Translated, BACKTRACK_LIMIT,
};

/// Lazy-DFA cache limit of every linear regex. 0 turns the lazy DFA off: URLs are short, the
/// one-pass DFA / bounded backtracker handle them in well under a microsecond, and each lazy
/// DFA would allocate ~20 KB per regex per thread on first use (200 MB at 10,000 rules).
const LAZY_DFA_LIMIT: usize = 0;

/// How a pattern is run.
enum Matcher {
    /// The full anchored regex on the linear engine.
    Linear(Arc<regex::Regex>),
    /// The full anchored regex on the backtracking engine: look-around, backreferences.
    Backtrack(fancy_regex::Regex),
    /// `^HEAD KEY TAIL$` where KEY is a top-level literal and HEAD/TAIL are context-free (no
    /// assertions or look-around): the URL matches iff for some occurrence of KEY, HEAD matches
    /// all before it and TAIL all after it. HEAD and TAIL are shared between every pattern
    /// with the same text (`^([0-9]+)$`), which is what keeps 10,000 rules small.
    Split {
        head: Option<Arc<regex::Regex>>,
        /// KEY, with its substring searcher prepared once (SIMD; a `str::find` set one up on
        /// every call).
        key: memchr::memmem::Finder<'static>,
        tail: Arc<regex::Regex>,
        /// Full regex, compiled on the first `captures` call when there is a HEAD: the
        /// leftmost-first choice of KEY occurrence needs it. It compiled at load already.
        full: OnceLock<Arc<regex::Regex>>,
    },
}

/// One compiled `match.url` pattern.
pub struct Pattern {
    source: Box<str>,
    strategy: Strategy,
    /// The full anchored regex (what the pattern means; also fed to the fallback `RegexSet`).
    regex: Box<str>,
    key: Key,
    matcher: Matcher,
    /// Capture-group numbers in the order they are reported (see [`Pattern::captures`]).
    group_order: Box<[usize]>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("strategy", &self.strategy)
            .field("key", &self.key)
            .finish()
    }
}

impl Pattern {
    /// Compiles a `match.url` pattern once, at rule-load time.
    pub fn compile(strategy: Strategy, pattern: &str) -> Result<Pattern, PatternError> {
        let translated = match strategy {
            Strategy::Regexp => regexp::translate(pattern)?,
            Strategy::Glob => glob::translate(pattern)?,
        };
        let (key, split_at) = choose_key(&translated);
        let split = split_at.and_then(|k| split(&translated, k, strategy));
        let matcher = match split {
            Some(matcher) => matcher,
            None => full_matcher(pattern, &translated.regex)?,
        };
        let group_order = match (&matcher, strategy) {
            (_, Strategy::Glob) => Box::default(),
            (Matcher::Linear(re), _) => regexp::group_order(re.capture_names()),
            (Matcher::Backtrack(re), _) => regexp::group_order(re.capture_names()),
            (Matcher::Split { head, tail, .. }, _) => {
                let head_names = head.iter().flat_map(|h| h.capture_names().skip(1));
                let names = std::iter::once(None)
                    .chain(head_names)
                    .chain(tail.capture_names().skip(1));
                regexp::group_order(names)
            }
        };
        Ok(Pattern {
            source: pattern.into(),
            strategy,
            regex: translated.regex.into(),
            key,
            matcher,
            group_order,
        })
    }

    /// Whether `url` (`scheme://host/path`, no query) matches the whole pattern.
    pub fn is_match(&self, url: &str) -> Result<bool, MatchError> {
        match &self.matcher {
            Matcher::Linear(re) => Ok(re.is_match(url)),
            Matcher::Backtrack(re) => re.is_match(url).map_err(|e| self.match_error(e)),
            Matcher::Split {
                head: None,
                key,
                tail,
                ..
            } => Ok(strip_key(url, key).is_some_and(|rest| tail.is_match(rest))),
            Matcher::Split {
                head: Some(head),
                key,
                tail,
                ..
            } => {
                let len = key.needle().len();
                Ok(occurrences(url, key)
                    .any(|j| head.is_match(&url[..j]) && tail.is_match(&url[j + len..])))
            }
        }
    }

    /// Capture groups for the regexp strategy: group 1 onward, unnamed groups first and then
    /// named ones (.NET/regexp2 numbering), "" for a group that did not participate. Empty for
    /// glob patterns and when `url` does not match.
    pub fn captures(&self, url: &str) -> Result<Vec<String>, MatchError> {
        if self.group_order.is_empty() {
            return Ok(Vec::new());
        }
        let collect = |get: &dyn Fn(usize) -> Option<String>| {
            let text = |i: usize| get(i).unwrap_or_default();
            self.group_order.iter().map(|&i| text(i)).collect()
        };
        let linear = |re: &regex::Regex, hay: &str| -> Vec<String> {
            re.captures(hay).map_or_else(Vec::new, |c| {
                collect(&|i| c.get(i).map(|m| m.as_str().to_owned()))
            })
        };
        match &self.matcher {
            Matcher::Linear(re) => Ok(linear(re, url)),
            Matcher::Backtrack(re) => {
                let caps = re.captures(url).map_err(|e| self.match_error(e))?;
                Ok(caps.map_or_else(Vec::new, |c| {
                    collect(&|i| c.get(i).map(|m| m.as_str().to_owned()))
                }))
            }
            Matcher::Split {
                head: None,
                key,
                tail,
                ..
            } => Ok(strip_key(url, key).map_or_else(Vec::new, |rest| linear(tail, rest))),
            Matcher::Split { full, .. } => {
                if full.get().is_none() {
                    let re = shared_linear(&self.regex).map_err(|e| MatchError::Engine {
                        pattern: self.source.to_string(),
                        message: e.to_string(),
                    })?;
                    // Another thread may have won the race; either value is the same regex.
                    let _ = full.set(re);
                }
                Ok(full.get().map_or_else(Vec::new, |re| linear(re, url)))
            }
        }
    }

    /// The pattern as written in the rule.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// True when the pattern needs the backtracking engine (look-around, backreferences).
    pub fn is_backtracking(&self) -> bool {
        matches!(self.matcher, Matcher::Backtrack(_))
    }

    /// The anchored regex the pattern was translated to.
    pub fn regex_str(&self) -> &str {
        &self.regex
    }

    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    fn match_error(&self, err: fancy_regex::Error) -> MatchError {
        let pattern = self.source.to_string();
        match err {
            fancy_regex::Error::RuntimeError(fancy_regex::RuntimeError::BacktrackLimitExceeded) => {
                MatchError::BudgetExceeded { pattern }
            }
            other => MatchError::Engine {
                pattern,
                message: other.to_string(),
            },
        }
    }
}

/// What follows `key` when `url` starts with it (a character boundary: `key` is valid UTF-8).
fn strip_key<'a>(url: &'a str, key: &memchr::memmem::Finder<'_>) -> Option<&'a str> {
    let needle = key.needle();
    if url.as_bytes().starts_with(needle) {
        url.get(needle.len()..)
    } else {
        None
    }
}

/// Byte offsets of every (also overlapping) occurrence of the non-empty `key` in `url`. Each is
/// a character boundary: `key` is valid UTF-8, so it cannot start on a continuation byte.
fn occurrences<'a>(
    url: &'a str,
    key: &'a memchr::memmem::Finder<'static>,
) -> impl Iterator<Item = usize> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || loop {
        let at = from + key.find(url.as_bytes().get(from..)?)?;
        from = at + 1;
        // Always true for a non-empty key; never slice a URL inside a character.
        if url.is_char_boundary(at) {
            return Some(at);
        }
    })
}

/// Anywhere-keys shorter than this are not selective enough to be worth a key (`://`).
const MIN_ANYWHERE_KEY: usize = 4;

/// Picks the index key, and the segment to split at when the pattern is splittable:
/// the leading literal if it names more than the scheme, else the longest literal of at least
/// [`MIN_ANYWHERE_KEY`] bytes, else a scheme-only prefix, else none.
fn choose_key(t: &Translated) -> (Key, Option<usize>) {
    let lits = &t.literals;
    let prefix = lits.prefix.as_str();
    let after_scheme = prefix.find("://").map_or(prefix, |i| &prefix[i + 3..]);
    let segment_of = |lit: &str| {
        let found = t.segments.iter().position(|s| s.literal == lit);
        found.filter(|_| t.splittable)
    };
    if !after_scheme.is_empty() {
        return (
            Key::Prefix(prefix.into()),
            segment_of(prefix).filter(|&k| k == 0),
        );
    }
    match lits.runs.iter().max_by_key(|r| r.len()) {
        Some(run) if run.len() >= MIN_ANYWHERE_KEY && run.len() > prefix.len() => {
            (Key::Anywhere(run.as_str().into()), segment_of(run))
        }
        _ if !prefix.is_empty() => (Key::Prefix(prefix.into()), segment_of(prefix)),
        _ => (Key::None, None),
    }
}

/// Builds [`Matcher::Split`] at segment `k`, or `None` when the linear engine refuses a piece.
fn split(t: &Translated, k: usize, strategy: Strategy) -> Option<Matcher> {
    let body = |segments: &[Segment], skip_first_literal: bool| {
        let mut re = String::from("^");
        for (i, s) in segments.iter().enumerate() {
            if i > 0 || !skip_first_literal {
                re.push_str(&regex::escape(&s.literal));
            }
            re.push_str(s.part.as_deref().unwrap_or_default());
        }
        re.push('$');
        re
    };
    let tail = shared_linear(&body(&t.segments[k..], true)).ok()?;
    let head = match k {
        0 => None,
        _ => Some(shared_linear(&body(&t.segments[..k], false)).ok()?),
    };
    // Pieces that compile alone can still fail together (duplicate group names, size limit):
    // check the full regex once; it is compiled again only if captures are asked for.
    if head.is_some() && strategy == Strategy::Regexp {
        shared_linear(&t.regex).ok()?;
    }
    Some(Matcher::Split {
        head,
        key: memchr::memmem::Finder::new(t.segments[k].literal.as_bytes()).into_owned(),
        tail,
        full: OnceLock::new(),
    })
}

fn full_matcher(pattern: &str, regex: &str) -> Result<Matcher, PatternError> {
    let linear_err = match shared_linear(regex) {
        Ok(re) => return Ok(Matcher::Linear(re)),
        Err(err) => err,
    };
    match fancy_regex::RegexBuilder::new(regex)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
    {
        Ok(re) => Ok(Matcher::Backtrack(re)),
        Err(fancy_err) => Err(PatternError::BadRegex {
            pattern: pattern.to_owned(),
            message: match fancy_err {
                // The linear engine's message is the precise one for plain syntax errors.
                fancy_regex::Error::CompileError(_) => linear_err.to_string(),
                other => other.to_string(),
            },
        }),
    }
}

/// Compiled linear regexes shared by text. Only rule loading takes the lock; entries die with
/// the last pattern using them (weak references, swept as the map grows).
fn shared_linear(regex: &str) -> Result<Arc<regex::Regex>, regex::Error> {
    static CACHE: LazyLock<WeakRegistry<String, regex::Regex>> = LazyLock::new(Default::default);
    CACHE.get_or_try_insert(regex, || {
        regex::RegexBuilder::new(regex)
            .dfa_size_limit(LAZY_DFA_LIMIT)
            .build()
    })
}
