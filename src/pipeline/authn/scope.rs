//! Scope strategies (SPEC §5.7, from fosite): does a granted scope list satisfy a required scope?

use crate::config::handlers::ScopeStrategy;

/// Whether `granted` satisfies `required` under `strategy`. `None` never checks (callers decide
/// what "no strategy" means for them).
pub fn satisfies(strategy: ScopeStrategy, granted: &[String], required: &str) -> bool {
    match strategy {
        ScopeStrategy::Exact => granted.iter().any(|g| g == required),
        ScopeStrategy::Hierarchic => granted.iter().any(|g| hierarchic(g, required)),
        ScopeStrategy::Wildcard => granted.iter().any(|g| wildcard(g, required)),
        ScopeStrategy::None => true,
    }
}

/// Granted `foo` satisfies `foo`, `foo.bar`, `foo.bar.baz`; `foo.bar` does not satisfy `foo`.
fn hierarchic(granted: &str, required: &str) -> bool {
    required == granted
        || required
            .strip_prefix(granted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Granted `foo.*` satisfies `foo.bar` and `foo.bar.baz` but not `foo`; `*` matches one non-empty
/// segment, except in the last position where it also covers deeper segments.
fn wildcard(granted: &str, required: &str) -> bool {
    let g: Vec<&str> = granted.split('.').collect();
    let r: Vec<&str> = required.split('.').collect();
    for (i, gs) in g.iter().enumerate() {
        let Some(rs) = r.get(i) else { return false };
        let last = i == g.len() - 1;
        if *gs == "*" {
            if rs.is_empty() {
                return false;
            }
            if last {
                return true;
            }
        } else if gs != rs {
            return false;
        }
    }
    g.len() == r.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    // SPEC §5.7.
    #[test]
    fn strategies() {
        use ScopeStrategy::*;
        let cases = [
            (Exact, &["foo"][..], "foo", true),
            (Exact, &["foo"][..], "foo.bar", false),
            (Hierarchic, &["foo"][..], "foo.bar.baz", true),
            (Hierarchic, &["foo"][..], "foo", true),
            (Hierarchic, &["foo.bar"][..], "foo", false),
            (Hierarchic, &["foo"][..], "foobar", false),
            (Wildcard, &["foo.*"][..], "foo.bar", true),
            (Wildcard, &["foo.*"][..], "foo.bar.baz", true),
            (Wildcard, &["foo.*"][..], "foo", false),
            (Wildcard, &["foo"][..], "foo", true),
            (Wildcard, &["foo"][..], "foo.bar", false),
            (Wildcard, &["foo.*.baz"][..], "foo.bar.baz", true),
            (Wildcard, &["foo.*.baz"][..], "foo.bar.qux", false),
            (Wildcard, &["foo.*.baz"][..], "foo.bar.baz.x", false),
            (Wildcard, &["*"][..], "anything.at.all", true),
        ];
        for (strategy, granted, required, want) in cases {
            assert_eq!(
                satisfies(strategy, &s(granted), required),
                want,
                "{strategy:?} {granted:?} {required}"
            );
        }
    }
}
