//! Load-time check of GJSON paths (`subject_from`, `extra_from`, `response.allowed_path`).
//! The gjson crate reads the path syntax of Go's tidwall/gjson (which Oathkeeper uses) except
//! for some later additions; a path using one would silently select nothing at request time (an
//! empty subject), so it is refused when its rule loads instead.

/// The modifiers the gjson crate implements; Go's gjson also has `@keys`, `@values`, `@tostr`,
/// `@fromstr`, `@group` and `@dig`.
const MODIFIERS: [&str; 7] = [
    "this", "reverse", "ugly", "pretty", "valid", "flatten", "join",
];

/// `Err` with the reason when `path` uses GJSON syntax the gjson crate does not read as Go's
/// gjson does: a modifier other than [`MODIFIERS`] (Go reads an unknown `@name` as a key), or a
/// literal (`!true`, `!"text"`).
pub fn check(path: &str) -> Result<(), String> {
    let b = path.as_bytes();
    let (mut i, mut start, mut quoted) = (0, true, false);
    while i < b.len() {
        let c = b[i];
        if quoted {
            match c {
                b'\\' => i += 1,
                b'"' => quoted = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'\\' => {
                i += 2;
                start = false;
                continue;
            }
            b'"' => quoted = true,
            b'@' if start => {
                let name: String = path[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !MODIFIERS.contains(&name.as_str()) {
                    let list: Vec<String> = MODIFIERS.iter().map(|m| format!("@{m}")).collect();
                    return Err(format!(
                        "GJSON modifier `@{name}` is not supported (supported: {}); a key that \
                         starts with `@` is written `\\@{name}`",
                        list.join(", ")
                    ));
                }
            }
            b'!' if start => {
                return Err("GJSON literals (`!true`, `!\"text\"`) are not supported".into())
            }
            _ => {}
        }
        start = matches!(c, b'.' | b'|' | b'[' | b'{' | b',' | b'(' | b':');
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    // SPEC §5.1 (`subject_from` is a tidwall/gjson path): what the gjson crate reads as Go does
    // passes; the later modifiers and literals are refused, not read as an empty subject.
    #[test]
    fn unsupported_syntax_is_refused() {
        for ok in [
            "sub",
            "identity.id",
            "a.0.b",
            "a.#",
            "a|@reverse",
            "@this.sub",
            "a\\.b",
            "a*",
            "#(name==\"@x\").id",
            "children.#(age!=30)#.name",
            "a.\\@at",
            "[a,b]|@flatten",
            "@flatten:{\"deep\":true}",
            "",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, want) in [
            ("@keys", "`@keys` is not supported"),
            ("a|@values", "`@values`"),
            ("a.@tostr", "`@tostr`"),
            ("{a,b}|@group", "`@group`"),
            ("@at", "written `\\@at`"),
            ("!true", "literals"),
            ("{\"x\":!\"y\"}", "literals"),
        ] {
            let err = check(bad).expect_err(bad);
            assert!(err.contains(want), "{bad}: {err}");
        }
    }
}
