//! [`MatchIndex`]: finds every pattern matching a URL without testing them all (design in the
//! module doc of `matcher`).

use super::{Key, MatchError, Pattern};

/// Below this many linear fallback patterns a `RegexSet` is not worth building.
const MIN_FALLBACK_SET: usize = 4;

/// Index over many patterns.
#[derive(Debug)]
pub struct MatchIndex {
    patterns: Vec<Pattern>,
    prefix: KeySet,
    anywhere: KeySet,
    /// `anywhere_start[b]`: some anywhere-key starts with byte `b`.
    anywhere_start: [bool; 256],
    fallback_set: Option<regex::RegexSet>,
    /// Pattern ids behind `fallback_set`, by set position.
    fallback_set_ids: Vec<usize>,
    /// Fallback patterns tested one by one.
    fallback_each: Vec<usize>,
}

impl MatchIndex {
    pub fn build(patterns: Vec<Pattern>) -> MatchIndex {
        let (mut prefix, mut anywhere) = (Vec::new(), Vec::new());
        let mut anywhere_start = [false; 256];
        let (mut set_ids, mut fallback_each) = (Vec::new(), Vec::new());
        for (id, pattern) in patterns.iter().enumerate() {
            match pattern.key() {
                Key::Prefix(key) => prefix.push((key.as_bytes(), id)),
                Key::Anywhere(key) => {
                    anywhere_start[usize::from(key.as_bytes()[0])] = true;
                    anywhere.push((key.as_bytes(), id));
                }
                Key::None if !pattern.is_backtracking() => set_ids.push(id),
                Key::None => fallback_each.push(id),
            }
        }
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
            prefix: KeySet::build(prefix),
            anywhere: KeySet::build(anywhere),
            anywhere_start,
            fallback_set,
            fallback_set_ids: set_ids,
            fallback_each,
            patterns,
        }
    }

    /// Indices of every pattern that matches `url`, ascending. An error from any candidate
    /// (backtracking budget) fails the whole lookup: the caller must not pick a rule.
    pub fn find(&self, url: &str) -> Result<Vec<usize>, MatchError> {
        let bytes = url.as_bytes();
        let mut candidates = Vec::new();
        self.prefix.prefixes_of(bytes, |id| candidates.push(id));
        if !self.anywhere.is_empty() {
            for (offset, &b) in bytes.iter().enumerate() {
                if self.anywhere_start[usize::from(b)] {
                    self.anywhere
                        .prefixes_of(&bytes[offset..], |id| candidates.push(id));
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut found = Vec::new();
        for id in candidates
            .into_iter()
            .chain(self.fallback_each.iter().copied())
        {
            if self.patterns[id].is_match(url)? {
                found.push(id);
            }
        }
        if let Some(set) = &self.fallback_set {
            found.extend(set.matches(url).iter().map(|i| self.fallback_set_ids[i]));
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
        (self.prefix.ids_len(), self.anywhere.ids_len(), fallback)
    }
}

/// Sorted byte keys, each knowing its longest proper prefix among the keys (`parent`), so
/// that all keys which are prefixes of a string form one parent chain.
#[derive(Debug, Default)]
pub(super) struct KeySet {
    keys: Vec<Box<[u8]>>,
    parent: Vec<Option<u32>>,
    ids: Vec<Box<[u32]>>,
}

impl KeySet {
    pub(super) fn build(mut entries: Vec<(&[u8], usize)>) -> KeySet {
        entries.sort_unstable();
        let mut set = KeySet::default();
        let mut ids: Vec<u32> = Vec::new();
        for (i, (key, id)) in entries.iter().enumerate() {
            // Pattern ids fit u32: a rule set of 4 billion rules is not loadable anyway.
            ids.push(*id as u32);
            if entries.get(i + 1).is_some_and(|(next, _)| next == key) {
                continue;
            }
            set.keys.push((*key).into());
            set.ids.push(std::mem::take(&mut ids).into());
        }
        // In sorted order the keys having `k` as prefix directly follow `k`: a stack of the
        // current ancestors yields every key's parent in one pass.
        let mut stack: Vec<u32> = Vec::new();
        for (i, key) in set.keys.iter().enumerate() {
            while let Some(&top) = stack.last() {
                if key.starts_with(&set.keys[top as usize]) {
                    break;
                }
                stack.pop();
            }
            set.parent.push(stack.last().copied());
            stack.push(i as u32);
        }
        set
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn ids_len(&self) -> usize {
        self.ids.iter().map(|ids| ids.len()).sum()
    }

    /// Calls `f` with the ids of every key that is a prefix of `hay`.
    pub(super) fn prefixes_of(&self, hay: &[u8], mut f: impl FnMut(usize)) {
        // The greatest key <= hay is hay's longest prefix among the keys if it is a prefix at
        // all; otherwise that longest prefix is the first ancestor no longer than the common
        // prefix of the two.
        let below = self.keys.partition_point(|k| k.as_ref() <= hay);
        let Some(mut i) = below.checked_sub(1) else {
            return;
        };
        let common = self.keys[i]
            .iter()
            .zip(hay)
            .take_while(|(a, b)| a == b)
            .count();
        while self.keys[i].len() > common {
            match self.parent[i] {
                Some(p) => i = p as usize,
                None => return,
            }
        }
        loop {
            self.ids[i].iter().for_each(|&id| f(id as usize));
            match self.parent[i] {
                Some(p) => i = p as usize,
                None => return,
            }
        }
    }
}
