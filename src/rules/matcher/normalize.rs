//! The one path normalizer (DESIGN §6, SPEC §3.4): the path that is matched is the path that
//! is forwarded (SPEC §4.6), so both come from here.
//!
//! Invariants (also the fuzz target's): for every `raw`, `normalize_path(raw)` is either an
//! error or a clean path (empty, or `/`-rooted without `.`/`..` segments, `//` or a trailing
//! `/`); and for every normalized `p`, `normalize_path(&encode_path(p)) == Ok(p)`.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// A request path that is refused (400) instead of being guessed at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    #[error("malformed percent escape in path")]
    MalformedEscape,
    #[error("path is not valid utf-8 after decoding")]
    InvalidUtf8,
    #[error("control character in path")]
    ControlCharacter,
    #[error("path does not start with '/'")]
    NotAbsolute,
}

/// Percent-decodes `raw` (strictly: every `%` must start a two-digit hex escape), then cleans
/// it with Go `path.Clean` semantics. `%2F` and `%2e` are decoded *before* cleaning, so
/// `/a%2F..%2Fadmin` is `/admin`, exactly what an upstream that decodes would see.
pub fn normalize_path(raw: &str) -> Result<String, NormalizeError> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    // Most paths have nothing to decode or clean: one scan and one copy.
    if already_clean(raw) {
        return Ok(raw.to_owned());
    }
    decode_and_clean(raw)
}

fn decode_and_clean(raw: &str) -> Result<String, NormalizeError> {
    let decoded = String::from_utf8(percent_decode_strict(raw.as_bytes())?)
        .map_err(|_| NormalizeError::InvalidUtf8)?;
    if decoded.bytes().any(|b| b.is_ascii_control()) {
        return Err(NormalizeError::ControlCharacter);
    }
    if !decoded.starts_with('/') {
        return Err(NormalizeError::NotAbsolute);
    }
    Ok(clean_rooted(&decoded))
}

/// Whether `raw` is its own normalization: rooted, no `%` escape, no control character, no
/// empty, `.` or `..` segment and no trailing `/` (other than the root itself).
fn already_clean(raw: &str) -> bool {
    let b = raw.as_bytes();
    let Some((&b'/', rest)) = b.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    !b.iter().any(|&c| c == b'%' || c.is_ascii_control())
        && rest
            .split(|&c| c == b'/')
            .all(|seg| !seg.is_empty() && seg != b"." && seg != b"..")
}

/// Characters that cannot appear raw in a request-line path (RFC 3986 path plus what
/// proxies mangle), and `%` itself so that decoding gives back the same path. A decoded `\`
/// goes back as `%5C`, as Go sends it: some upstreams (IIS, Express on Windows, Tomcat with
/// `ALLOW_BACKSLASH`) read a raw `\` as `/`, which would make `/admin%5Cx`, matched as the one
/// segment `admin\x`, reach them as `/admin/x`.
const PATH_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Whether `raw`, once percent-decoded, holds a segment that servers resolve in different ways:
/// `.` or `..` (segments also split at `\`, which IIS and others read as `/`), or an empty one
/// (`//`) other than a trailing slash's. `/decisions` refuses such a path: it does not forward
/// the request, the gateway does, with the path as it was sent, and a service that does not
/// resolve `/internal/x/../../public/a` as `/public/a` would serve what was never decided. A
/// path that cannot be decoded is not ambiguous here ([`normalize_path`] refuses it).
pub fn ambiguous_path(raw: &str) -> bool {
    // Most paths have no escape: their own bytes are checked, nothing is decoded or copied (this
    // runs for every `/decisions` request).
    if !raw.as_bytes().contains(&b'%') {
        return ambiguous_segments(raw.as_bytes());
    }
    percent_decode_strict(raw.as_bytes()).is_ok_and(|decoded| ambiguous_segments(&decoded))
}

fn ambiguous_segments(decoded: &[u8]) -> bool {
    let rest = decoded.strip_prefix(b"/").unwrap_or(decoded);
    let mut segments = rest.split(|&b| b == b'/' || b == b'\\').peekable();
    while let Some(seg) = segments.next() {
        // An empty segment is one only when another follows it (a trailing slash is not).
        if matches!(seg, b"." | b"..") || (seg.is_empty() && segments.peek().is_some()) {
            return true;
        }
    }
    false
}

/// Re-encodes a normalized path for the upstream request line (non-ASCII as UTF-8 `%XX`).
pub fn encode_path(normalized: &str) -> std::borrow::Cow<'_, str> {
    utf8_percent_encode(normalized, PATH_ENCODE).into()
}

fn percent_decode_strict(raw: &[u8]) -> Result<Vec<u8>, NormalizeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = |j: usize| raw.get(j).and_then(|&b| (b as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                // Two hex digits are < 256, so the cast cannot truncate.
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(NormalizeError::MalformedEscape),
            }
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Go `path.Clean` for an already-decoded path (callers joining decoded paths use this, never
/// [`normalize_path`] twice).
pub fn clean_path(path: &str) -> String {
    clean_rooted(path)
}

/// Go `path.Clean` for a path starting with `/`: drops empty and `.` segments, resolves `..`
/// (never above the root), no trailing slash; the root stays `/`.
fn clean_rooted(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The request host as it is matched and forwarded: ASCII lower case (DNS names are case
/// insensitive), without the trailing dots of a fully qualified name, an IPv6 literal in its
/// canonical form and the port as a plain number (`evil.example.:080` is `evil.example:80`, an
/// empty port is dropped), so that every spelling of a host selects the rules one does. Rule
/// patterns get the same treatment ([`canonical_host_pattern`]).
pub fn canonical_host(host: &str) -> String {
    let (name, port) = match host.strip_prefix('[').and_then(|r| r.find(']')) {
        Some(close) => host.split_at(close + 2),
        None => match host.rfind(':') {
            Some(i) => host.split_at(i),
            None => (host, ""),
        },
    };
    let mut out = String::with_capacity(host.len());
    match name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse::<std::net::Ipv6Addr>().ok())
    {
        Some(v6) => {
            out.push('[');
            out.push_str(&v6.to_string());
            out.push(']');
        }
        None => {
            let trimmed = name.trim_end_matches('.');
            out.push_str(if trimmed.is_empty() { name } else { trimmed });
            out.make_ascii_lowercase();
        }
    }
    let digits = port.strip_prefix(':').unwrap_or("");
    match digits.parse::<u16>() {
        Ok(n) if digits.starts_with('0') && digits.len() > 1 => {
            out.push(':');
            out.push_str(&n.to_string());
        }
        _ if digits.is_empty() => {}
        _ => out.push_str(port),
    }
    out
}

/// A rule's `match.url` with its host (after the first `://` outside `<...>`, up to the next
/// `/`) made to match canonical request hosts ([`canonical_host`]): literal text in lower case
/// and without a trailing dot; a `<...>` part case-insensitive (`(?i:...)` around a regexp,
/// lower case for a glob, whose only letters are literal ones). Only what is surely host is
/// touched, so that the path stays case-sensitive: a part holding a `/` may reach into the path
/// and is left as written, and when no `/` outside `<...>` ends the host, text from the first
/// part on may be path (`http://<.*>Admin`) and is left as written too.
pub fn canonical_host_pattern(pattern: &str, glob: bool) -> std::borrow::Cow<'_, str> {
    let Some((from, to)) = host_span(pattern) else {
        return std::borrow::Cow::Borrowed(pattern);
    };
    let host = &pattern[from..to];
    let needs = host.bytes().any(|b| b.is_ascii_uppercase() || b == b'<') || host.ends_with('.');
    if !needs {
        return std::borrow::Cow::Borrowed(pattern);
    }
    // Whether a `/` outside `<...>` follows: then everything before it is host.
    let bounded = to < pattern.len();
    let has_part = host.contains('<');
    let host = match bounded || !has_part {
        true => host.strip_suffix('.').unwrap_or(host),
        false => host,
    };
    // Unbalanced delimiters: left as written, for the compile to refuse with its message.
    let Ok(pieces) = super::split_delimited(host) else {
        return std::borrow::Cow::Borrowed(pattern);
    };
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str(&pattern[..from]);
    for (i, (literal, part)) in pieces.into_iter().enumerate() {
        // `i > 0`: a part came before this literal.
        if bounded || i == 0 {
            out.push_str(&literal.to_ascii_lowercase());
        } else {
            out.push_str(literal);
        }
        let Some(inner) = part else { continue };
        match (bounded && !inner.contains('/'), glob) {
            (true, false) => {
                out.push_str("<(?i:");
                out.push_str(inner);
                out.push_str(")>");
            }
            (true, true) => {
                out.push('<');
                out.push_str(&inner.to_ascii_lowercase());
                out.push('>');
            }
            (false, _) => {
                out.push('<');
                out.push_str(inner);
                out.push('>');
            }
        }
    }
    out.push_str(&pattern[to..]);
    std::borrow::Cow::Owned(out)
}

/// Whether a pattern that is one regex from the scheme on (no `://` outside `<...>`) spells
/// its host with upper-case letters: request hosts are matched in lower case, so such a rule
/// never matches ([`canonical_host_pattern`] leaves it alone; the loader warns).
pub fn host_case_unreachable(pattern: &str) -> bool {
    host_span(pattern).is_none()
        && pattern.match_indices("://").any(|(at, _)| {
            pattern[at + 3..]
                .split('/')
                .next()
                .is_some_and(|host| host.bytes().any(|b| b.is_ascii_uppercase()))
        })
}

/// Where a pattern's host is: after the first `://` outside `<...>`, up to the next `/` outside
/// `<...>` (or the end). `None` when the scheme separator is inside a regex or glob part.
fn host_span(pattern: &str) -> Option<(usize, usize)> {
    let bytes = pattern.as_bytes();
    let mut depth = 0usize;
    let mut host_from = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && host_from.is_none() && pattern[i..].starts_with("://") => {
                host_from = Some(i + 3);
                i += 3;
                continue;
            }
            b'/' if depth == 0 && host_from.is_some() => break,
            _ => {}
        }
        i += 1;
    }
    host_from.map(|from| (from, i.min(bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC §3.4 (path: decoded, then path.Clean) and DESIGN §6 (one normalizer, rejections).
    #[test]
    fn normalize_table() {
        use NormalizeError::*;
        let cases: &[(&str, Result<&str, NormalizeError>)] = &[
            ("/public/../admin/x", Ok("/admin/x")),
            ("/a/12/", Ok("/a/12")),
            ("//a//b", Ok("/a/b")),
            ("/..", Ok("/")),
            ("/../../..", Ok("/")),
            ("", Ok("")),
            ("/", Ok("/")),
            ("/./a/./b/.", Ok("/a/b")),
            ("/a/b/..", Ok("/a")),
            ("/a/...", Ok("/a/...")),
            ("/a/%2e%2e/admin", Ok("/admin")),
            ("/a/%2E%2E/admin", Ok("/admin")),
            ("/a/.%2e/admin", Ok("/admin")),
            ("/a%2F..%2Fadmin", Ok("/admin")),
            ("/a%2f%2fb", Ok("/a/b")),
            ("%2Fadmin", Ok("/admin")),
            ("/%C3%A9", Ok("/é")),
            ("/é", Ok("/é")),
            ("/a%20b", Ok("/a b")),
            ("/a%252e%252e/x", Ok("/a%2e%2e/x")),
            ("/a;b/..;/c", Ok("/a;b/..;/c")),
            ("/%00", Err(ControlCharacter)),
            ("/a%0d%0aX: y", Err(ControlCharacter)),
            ("/a%7F", Err(ControlCharacter)),
            ("/a\tb", Err(ControlCharacter)),
            ("/%zz", Err(MalformedEscape)),
            ("/%4", Err(MalformedEscape)),
            ("/%", Err(MalformedEscape)),
            ("/%%41", Err(MalformedEscape)),
            ("/%FF", Err(InvalidUtf8)),
            ("/%C3", Err(InvalidUtf8)),
            ("/%C0%AF", Err(InvalidUtf8)),
            ("a/b", Err(NotAbsolute)),
            ("%2e%2e/admin", Err(NotAbsolute)),
            ("*", Err(NotAbsolute)),
        ];
        for (raw, want) in cases {
            let got = normalize_path(raw);
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{raw:?}"
            );
        }
    }

    // The shortcut takes exactly the paths that decoding and cleaning give back unchanged:
    // every string up to 6 characters over an alphabet of the bytes that matter.
    #[test]
    fn shortcut_agrees_with_decode_and_clean() {
        let alphabet = ['/', '.', 'a', '%', '2', 'e', '\u{1}', 'é'];
        let mut taken = 0;
        let mut words = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for w in &words {
                for c in alphabet {
                    let mut x = w.clone();
                    x.push(c);
                    let unchanged = decode_and_clean(&x).as_deref() == Ok(x.as_str());
                    assert_eq!(already_clean(&x), unchanged, "{x:?}");
                    taken += usize::from(unchanged);
                    next.push(x);
                }
            }
            words = next;
        }
        assert!(taken > 1000, "{taken}");
    }

    // SPEC §4.6 (the cleaned path is forwarded): encoding for the request line.
    #[test]
    fn encode_table() {
        let cases = [
            ("/a/b", "/a/b"),
            ("/", "/"),
            ("", ""),
            ("/a b", "/a%20b"),
            ("/é", "/%C3%A9"),
            ("/100%", "/100%25"),
            ("/q?x#y", "/q%3Fx%23y"),
            ("/<{`\"}>", "/%3C%7B%60%22%7D%3E"),
            ("/a;b=c:d@e!$&'()*+,", "/a;b=c:d@e!$&'()*+,"),
            ("/admin\\x", "/admin%5Cx"),
            ("/[a]^|", "/%5Ba%5D%5E%7C"),
        ];
        for (path, want) in cases {
            assert_eq!(encode_path(path), want, "{path:?}");
        }
    }

    /// Deterministic generator (no property-testing dependency): xorshift over an alphabet
    /// biased towards the characters that matter.
    fn generated(count: usize) -> Vec<String> {
        const ALPHABET: &[&str] = &[
            "/", "/", ".", "..", "a", "b", "%2e", "%2F", "%25", "%", "%4", "%zz", "%C3%A9", "é",
            " ", "?", "#", "%3F", "%00", "\u{7f}", "~", "{", "`", "%FF", "\\", ";", "日本",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = next() % 12;
                let mut s = String::from(if next() % 8 == 0 { "" } else { "/" });
                for _ in 0..len {
                    s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
                }
                s
            })
            .collect()
    }

    fn is_clean(p: &str) -> bool {
        p.is_empty()
            || p == "/"
            || (p.starts_with('/')
                && !p.ends_with('/')
                && p[1..].split('/').all(|s| !matches!(s, "" | "." | "..")))
    }

    // DESIGN §6: output is always clean, and encode_path round-trips through the normalizer.
    #[test]
    fn round_trip_property() {
        let mut accepted = 0;
        for raw in generated(20_000) {
            let Ok(p) = normalize_path(&raw) else {
                continue;
            };
            accepted += 1;
            assert!(is_clean(&p), "{raw:?} -> {p:?} is not clean");
            let encoded = encode_path(&p);
            assert!(encoded.is_ascii(), "{encoded:?}");
            assert_eq!(
                normalize_path(&encoded).as_deref(),
                Ok(p.as_str()),
                "{raw:?}"
            );
        }
        assert!(accepted > 1_000, "generator too hostile: {accepted}");
    }

    // DESIGN §2: one canonical host for matching and forwarding.
    #[test]
    fn canonical_hosts() {
        for (input, want) in [
            ("evil.example", "evil.example"),
            ("EVIL.Example", "evil.example"),
            ("evil.example.", "evil.example"),
            ("evil.example..", "evil.example"),
            ("Evil.Example.:80", "evil.example:80"),
            ("evil.example:", "evil.example"),
            ("evil.example:080", "evil.example:80"),
            ("evil.example:8080", "evil.example:8080"),
            ("[::1]:8080", "[::1]:8080"),
            ("[0:0:0:0:0:0:0:1]:8080", "[::1]:8080"),
            ("[::0001]", "[::1]"),
            ("[::FFFF:1]", "[::ffff:1]"),
            ("", ""),
            (".", "."),
        ] {
            assert_eq!(canonical_host(input), want, "{input:?}");
        }
    }

    #[test]
    fn host_part_of_patterns() {
        for (input, glob, want) in [
            (
                "http://API.Example.com/Users/<.*>",
                false,
                "http://api.example.com/Users/<.*>",
            ),
            (
                "<https|http>://Api.<[A-Z]+>.COM/X",
                false,
                "<https|http>://api.<(?i:[A-Z]+)>.com/X",
            ),
            (
                "http://<ADMIN|OPS>.corp/<.*>",
                false,
                "http://<(?i:ADMIN|OPS)>.corp/<.*>",
            ),
            (
                "http://<{ADMIN,ops}>.corp/<**>",
                true,
                "http://<{admin,ops}>.corp/<**>",
            ),
            ("http://dot.example./<.*>", false, "http://dot.example/<.*>"),
            ("http://h/<.*>", false, "http://h/<.*>"),
            ("<.*>://Whatever", false, "<.*>://whatever"),
            ("<HTTP://X>/a", false, "<HTTP://X>/a"),
            // A part that may reach into the path, or text after a part when no `/` ends
            // the host, stays as written: the path is case-sensitive.
            ("http://<h/Admin>", false, "http://<h/Admin>"),
            ("http://<H/Admin>/x", false, "http://<H/Admin>/x"),
            ("http://H<(/Admin)?>", false, "http://h<(/Admin)?>"),
            ("http://<.*>Admin", false, "http://<.*>Admin"),
            (
                "http://<[^/]+/(?!Admin).*>",
                false,
                "http://<[^/]+/(?!Admin).*>",
            ),
            ("http://<h/Admin>", true, "http://<h/Admin>"),
            ("http://<**Admin>", true, "http://<**Admin>"),
            (
                "http://A.<[a-z]+>.B/<.*>",
                false,
                "http://a.<(?i:[a-z]+)>.b/<.*>",
            ),
            ("no scheme", false, "no scheme"),
        ] {
            assert_eq!(canonical_host_pattern(input, glob), want, "{input:?}");
        }
    }

    #[test]
    fn upper_case_hosts_inside_one_regex_are_found() {
        assert!(host_case_unreachable("<https?://API.example.com/.*>"));
        assert!(!host_case_unreachable("<https?://api.example.com/.*>"));
        assert!(!host_case_unreachable("http://API.example.com/<.*>"));
        assert!(!host_case_unreachable("<.*>/Path"));
    }
}
