//! Sprig's path helpers: `base`, `dir`, `clean`, `ext`, `isAbs` (Go's `path`) and their `os*`
//! forms (`path/filepath`, the same on a `/`-separated system). Pure string functions: nothing
//! touches the file system.

use super::funcs::want_str;
use super::value::Value;

/// Go's `path.Clean`: lexical; repeated slashes, `.` and resolvable `..` removed; "" -> ".".
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`: the last element, trailing slashes ignored; "" -> ".", all slashes -> "/".
pub(crate) fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`: everything up to the last slash, cleaned.
pub(crate) fn dir(path: &str) -> String {
    let upto = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..upto])
}

/// Go's `path.Ext`: from the last dot of the last element, or "".
pub(crate) fn ext(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.rfind('.')
        .map_or(String::new(), |i| last[i..].to_string())
}

pub(crate) fn is_abs<'a>(a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    Ok(Value::Bool(want_str(&a[0])?.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Go's own path_test.go cases (cleantests, basetests, dirtests, exttests), a selection.
    #[test]
    fn go_path_semantics() {
        for (input, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/..", "a/b"),
            ("/../abc", "/abc"),
            ("../../abc", "../../abc"),
            ("abc/../..", ".."),
            ("//abc//def//", "/abc/def"),
            ("./", "."),
            ("/./", "/"),
            ("abc/./../def", "def"),
        ] {
            assert_eq!(clean(input), want, "clean {input:?}");
        }
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("/.", "."),
            ("/", "/"),
            ("////", "/"),
            ("x/", "x"),
            ("abc", "abc"),
            ("abc/def", "def"),
            ("a/b/.x", ".x"),
            ("a/b/c.", "c."),
            ("a/b/c.x", "c.x"),
        ] {
            assert_eq!(base(input), want, "base {input:?}");
        }
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("/.", "/"),
            ("/", "/"),
            ("////", "/"),
            ("/foo", "/"),
            ("x/", "x"),
            ("abc", "."),
            ("abc/def", "abc"),
            ("abc////def", "abc"),
            ("a/b/.x", "a/b"),
        ] {
            assert_eq!(dir(input), want, "dir {input:?}");
        }
        for (input, want) in [
            ("path.go", ".go"),
            ("path.pb.go", ".go"),
            ("a.dir/b", ""),
            ("a.dir/b.go", ".go"),
            ("a.dir/", ""),
        ] {
            assert_eq!(ext(input), want, "ext {input:?}");
        }
    }
}
