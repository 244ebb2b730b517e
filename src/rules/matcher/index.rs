//! [`MatchIndex`]: finds every pattern matching a URL without testing them all (design in the
//! module doc of `matcher`).

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use smallvec::SmallVec;

use super::{Key, MatchError, Pattern};

/// The patterns a URL matched, ascending; inline (no allocation) up to 8.
pub type Found = SmallVec<[usize; 8]>;

/// Below this many linear fallback patterns a `RegexSet` is not worth building.
const MIN_FALLBACK_SET: usize = 4;

/// Index over many patterns.
#[derive(Debug)]
pub struct MatchIndex {
    patterns: Vec<Pattern>,
    /// Every distinct prefix and anywhere key; `None` when no pattern has one.
    keys: Option<KeyAutomaton>,
    fallback_set: Option<regex::RegexSet>,
    /// Pattern ids behind `fallback_set`, by set position.
    fallback_set_ids: Vec<usize>,
    /// Fallback patterns tested one by one.
    fallback_each: Vec<usize>,
}

impl MatchIndex {
    pub fn build(patterns: Vec<Pattern>) -> MatchIndex {
        let mut keyed = Vec::new();
        let (mut set_ids, mut fallback_each) = (Vec::new(), Vec::new());
        for (id, pattern) in patterns.iter().enumerate() {
            match pattern.key() {
                Key::Prefix(key) if !key.is_empty() => keyed.push((&**key, true, id)),
                Key::Anywhere(key) if !key.is_empty() => keyed.push((&**key, false, id)),
                _ if !pattern.is_backtracking() => set_ids.push(id),
                _ => fallback_each.push(id),
            }
        }
        let keys = match KeyAutomaton::build(&keyed) {
            Ok(keys) => keys,
            // Too many states for the automaton: still correct, just every pattern tested.
            Err(_) => {
                fallback_each.extend(keyed.iter().map(|&(_, _, id)| id));
                None
            }
        };
        let mut fallback_set = None;
        if set_ids.len() >= MIN_FALLBACK_SET {
            let regexes = set_ids.iter().map(|&id| patterns[id].regex_str());
            match regex::RegexSet::new(regexes) {
                Ok(set) => fallback_set = Some(set),
                // Too big for the set's size limit: still correct, just one by one.
                Err(_) => fallback_each.append(&mut set_ids),
            }
        } else {
            fallback_each.append(&mut set_ids);
        }
        fallback_each.sort_unstable();
        MatchIndex {
            keys,
            fallback_set,
            fallback_set_ids: set_ids,
            fallback_each,
            patterns,
        }
    }

    /// Indices of every pattern that matches `url`, ascending. An error from any candidate
    /// (backtracking budget) fails the whole lookup: the caller must not pick a rule.
    pub fn find(&self, url: &str) -> Result<Found, MatchError> {
        self.find_where(url, |_| true)
    }

    /// As [`Self::find`], but a pattern for which `eligible` is false is never run and never
    /// returned: its rule cannot match for other reasons (its methods), so its regex must not
    /// fail the lookup (Oathkeeper checks the method before the URL).
    pub fn find_where(
        &self,
        url: &str,
        eligible: impl Fn(usize) -> bool,
    ) -> Result<Found, MatchError> {
        // One vector (inline up to its capacity): the candidates, then the ones that match kept
        // in place.
        let mut found = Found::new();
        if let Some(keys) = &self.keys {
            keys.candidates(url.as_bytes(), &mut found);
        }
        found.sort_unstable();
        found.dedup();
        found.extend_from_slice(&self.fallback_each);
        let mut kept = 0;
        for i in 0..found.len() {
            let id = found[i];
            if eligible(id) && self.patterns[id].is_match(url)? {
                found[kept] = id;
                kept += 1;
            }
        }
        found.truncate(kept);
        if let Some(set) = &self.fallback_set {
            let ids = set
                .matches(url)
                .into_iter()
                .map(|i| self.fallback_set_ids[i]);
            found.extend(ids.filter(|&id| eligible(id)));
        }
        found.sort_unstable();
        Ok(found)
    }

    pub fn pattern(&self, i: usize) -> &Pattern {
        &self.patterns[i]
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// How many patterns went to each part of the index: (prefix, anywhere, fallback).
    pub fn stats(&self) -> (usize, usize, usize) {
        let fallback = self.fallback_each.len() + self.fallback_set_ids.len();
        let count = |f: fn(&Owners) -> usize| {
            let owners = self.keys.iter().flat_map(|k| k.owners.iter());
            owners.map(f).sum::<usize>()
        };
        (
            count(|o| o.prefix.len()),
            count(|o| o.anywhere.len()),
            fallback,
        )
    }

    /// Heap bytes of the key automaton (reported by the scale test).
    pub fn key_memory(&self) -> usize {
        self.keys.as_ref().map_or(0, |k| k.automaton.memory_usage())
    }
}

/// The distinct key literals in one Aho-Corasick automaton: one pass over the URL reports every
/// key occurring in it, so a lookup costs O(|url| + occurrences) whatever the rule count. A
/// sorted array probed at each offset (the former design) paid a binary search of cache-missing
/// string compares per `/` of the URL when the keys sit after a host wildcard.
#[derive(Debug)]
struct KeyAutomaton {
    automaton: AhoCorasick,
    /// By automaton pattern id: the patterns keyed by that literal.
    owners: Vec<Owners>,
}

#[derive(Debug, Default)]
struct Owners {
    /// Patterns whose URL must start with the key.
    prefix: Box<[u32]>,
    /// Patterns whose URL must contain the key somewhere.
    anywhere: Box<[u32]>,
}

impl KeyAutomaton {
    /// `keyed`: (key, is a prefix key, pattern id), pattern ids ascending.
    fn build(
        keyed: &[(&str, bool, usize)],
    ) -> Result<Option<KeyAutomaton>, aho_corasick::BuildError> {
        if keyed.is_empty() {
            return Ok(None);
        }
        let mut slot: HashMap<&str, usize> = HashMap::with_capacity(keyed.len());
        let mut literals: Vec<&str> = Vec::new();
        let mut owners: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
        for &(key, prefix, id) in keyed {
            let at = *slot.entry(key).or_insert_with(|| {
                literals.push(key);
                owners.push(Default::default());
                literals.len() - 1
            });
            // Pattern ids fit u32: a rule set of 4 billion rules is not loadable anyway.
            let id = id as u32;
            if prefix {
                owners[at].0.push(id);
            } else {
                owners[at].1.push(id);
            }
        }
        // Standard semantics is the one that reports every (overlapping) occurrence of every
        // key; the kind (DFA or contiguous NFA) is left to the crate's size heuristics.
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&literals)?;
        let owners = owners
            .into_iter()
            .map(|(prefix, anywhere)| Owners {
                prefix: prefix.into(),
                anywhere: anywhere.into(),
            })
            .collect();
        Ok(Some(KeyAutomaton { automaton, owners }))
    }

    /// Appends the ids of the patterns whose key occurs in `hay` (at offset 0 for prefix keys);
    /// ids may repeat.
    fn candidates(&self, hay: &[u8], out: &mut Found) {
        let mut anywhere: SmallVec<[u32; 8]> = SmallVec::new();
        for m in self.automaton.find_overlapping_iter(hay) {
            let key = m.pattern().as_u32();
            if m.start() == 0 {
                let owners = &self.owners[key as usize];
                out.extend(owners.prefix.iter().map(|&id| id as usize));
            }
            anywhere.push(key);
        }
        // A key occurring several times adds its patterns once.
        anywhere.sort_unstable();
        anywhere.dedup();
        for key in anywhere {
            let owners = &self.owners[key as usize].anywhere;
            out.extend(owners.iter().map(|&id| id as usize));
        }
    }
}
