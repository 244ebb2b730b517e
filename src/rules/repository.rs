//! Rule sources (SPEC §2.5, §3.1): `file://` (relative or absolute), plain paths, directories
//! (every `*.json|*.yaml|*.yml`), `inline://<base64>`; `http(s)://` and `s3://` sources are
//! fetched by `remote.rs`. Each source yields its rules decoded and
//! checked for shape; semantic checks happen in `compile`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use super::spec::RuleSpec;
use super::LoadError;

/// Where rules come from, as named in `access_rules.repositories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file or a directory on disk.
    Path(PathBuf),
    /// `inline://<standard base64 of a JSON or YAML array>`.
    Inline(String),
    /// Fetched over the network (`remote.rs`): `http://`, `https://`, or an object in S3
    /// (`s3://bucket/key`, see `blob`).
    Remote(String),
}

impl Source {
    /// Parse one repository entry.
    pub fn parse(repo: &str) -> Result<Source, LoadError> {
        let repo = repo.trim();
        if let Some(rest) = repo.strip_prefix("inline://") {
            return Ok(Source::Inline(rest.to_string()));
        }
        if repo.starts_with("http://") || repo.starts_with("https://") {
            return Ok(Source::Remote(repo.to_string()));
        }
        if let Some(rest) = repo.strip_prefix("file://") {
            // `file:///abs` is absolute; `file://rel/x.json` is relative to the working
            // directory (the host part is the first path segment), as in Oathkeeper.
            let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
            return Ok(Source::Path(PathBuf::from(decoded.as_ref())));
        }
        match crate::blob::Object::parse(repo) {
            Some(Ok(_)) => return Ok(Source::Remote(repo.to_string())),
            Some(Err(e)) => return Err(LoadError::source(repo, e)),
            None => {}
        }
        if let Some((scheme, _)) = repo.split_once("://") {
            return Err(LoadError::source(
                repo,
                format!(
                    "unsupported repository scheme `{scheme}`, expected one of file://, inline://, http://, https://, s3:// or a plain path"
                ),
            ));
        }
        if repo.is_empty() {
            return Err(LoadError::source(repo, "empty repository entry"));
        }
        Ok(Source::Path(PathBuf::from(repo)))
    }

    /// The name used in messages and in `/rules` provenance.
    pub fn display(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Inline(_) => "inline://".to_string(),
            Source::Remote(u) => u.clone(),
        }
    }
}

/// The rules of one document (a file, or an inline source).
#[derive(Debug, Clone)]
pub struct RuleDocument {
    /// File path or source name, for messages.
    pub origin: String,
    pub rules: Vec<RuleSpec>,
    /// The document was empty or only whitespace (not `[]`): a file truncated by a writer
    /// that is not done, or emptied by mistake.
    pub blank: bool,
}

/// Read every document a source holds. A directory yields one document per rule file in it
/// (sorted by name; hidden entries such as Kubernetes' `..data` are skipped, their symlinked
/// files are read through the visible names).
pub fn read_source(source: &Source) -> Result<Vec<RuleDocument>, Vec<LoadError>> {
    let (docs, errors) = read_source_all(source);
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Like [`read_source`], but keeps the documents that did decode next to the errors of those
/// that did not (so `rules validate` can report everything in one run).
pub fn read_source_all(source: &Source) -> (Vec<RuleDocument>, Vec<LoadError>) {
    let split = |r: Result<Vec<RuleDocument>, Vec<LoadError>>| match r {
        Ok(d) => (d, Vec::new()),
        Err(e) => (Vec::new(), e),
    };
    match source {
        Source::Inline(b64) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => split(decode_document("inline://", &bytes).map(|d| vec![d])),
            Err(e) => (
                Vec::new(),
                vec![LoadError::source(
                    "inline://",
                    format!("invalid base64: {e}"),
                )],
            ),
        },
        Source::Remote(url) => (
            Vec::new(),
            vec![LoadError::source(
                url,
                "a remote repository is fetched (RemoteStore), not read from disk",
            )],
        ),
        Source::Path(p) => read_path(p),
    }
}

fn read_path(p: &Path) -> (Vec<RuleDocument>, Vec<LoadError>) {
    let origin = p.display().to_string();
    let fail = |msg: String| (Vec::new(), vec![LoadError::source(&origin, msg)]);
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    if !meta.is_dir() {
        return match std::fs::read(p) {
            Ok(bytes) => match decode_document(&origin, &bytes) {
                Ok(d) => (vec![d], Vec::new()),
                Err(e) => (Vec::new(), e),
            },
            Err(e) => fail(format!("cannot read: {e}")),
        };
    }
    let mut files: Vec<PathBuf> = match std::fs::read_dir(p) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| is_rule_file(f))
            .collect(),
        Err(e) => return fail(format!("cannot list directory: {e}")),
    };
    files.sort();
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let (mut d, mut e) = read_path(&f);
        docs.append(&mut d);
        errors.append(&mut e);
    }
    (docs, errors)
}

/// `*.json`, `*.yaml`, `*.yml`, not hidden, and a file (following symlinks).
pub fn is_rule_file(f: &Path) -> bool {
    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext_ok = [".json", ".yaml", ".yml"].iter().any(|e| name.ends_with(e));
    ext_ok && !name.starts_with('.') && f.is_file()
}

/// Decode one document: a JSON or YAML array of rules. Every rule is checked for shape
/// (unknown keys, types); errors name the rule index, its id and the key path, and every bad
/// rule of the document is reported.
pub fn decode_document(origin: &str, bytes: &[u8]) -> Result<RuleDocument, Vec<LoadError>> {
    let blank = bytes
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(bytes)
        .iter()
        .all(u8::is_ascii_whitespace);
    decode_items(origin, bytes).map(|doc| RuleDocument { blank, ..doc })
}

fn decode_items(origin: &str, bytes: &[u8]) -> Result<RuleDocument, Vec<LoadError>> {
    if let Some(decoded) = decode_json_array(origin, bytes) {
        return decoded.finish();
    }
    let value = crate::format::parse_json_or_yaml(bytes)
        .map_err(|e| vec![LoadError::source(origin, format!("cannot decode: {e}"))])?;
    let items = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(vec![LoadError::source(
                origin,
                format!("expected an array of rules, found {}", json_type(&other)),
            )])
        }
    };
    let mut decoded = Decoded {
        origin,
        rules: Vec::with_capacity(items.len()),
        errors: Vec::new(),
    };
    items.into_iter().for_each(|item| decoded.push(item));
    decoded.finish()
}

/// A JSON array (or `null`) decoded one rule at a time: only one rule's `Value` tree exists at
/// once. The whole document as one `Value` took ~3.5 KB per rule, the load-time peak at
/// 10,000 rules. `None` when the bytes are not that (other JSON, or YAML): the caller decodes
/// them whole, which also yields the precise error.
fn decode_json_array<'a>(origin: &'a str, bytes: &[u8]) -> Option<Decoded<'a>> {
    let mut decoded = Decoded {
        origin,
        rules: Vec::new(),
        errors: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde::Deserializer::deserialize_any(&mut de, &mut decoded).ok()?;
    de.end().ok()?;
    // Grown by doubling; the rules live on through the compile, the spare capacity need not.
    decoded.rules.shrink_to_fit();
    Some(decoded)
}

/// The rules and shape errors of one document, filled rule by rule.
struct Decoded<'a> {
    origin: &'a str,
    rules: Vec<RuleSpec>,
    errors: Vec<LoadError>,
}

impl Decoded<'_> {
    fn push(&mut self, mut item: Value) {
        let i = self.rules.len() + self.errors.len();
        let id = |item: &Value| {
            let id = item.get("id").and_then(Value::as_str).map(str::to_string);
            id.or_else(|| Some(format!("#{i}")))
        };
        if let Err(message) = super::migrate::migrate(&mut item) {
            self.errors.push(LoadError {
                origin: self.origin.to_string(),
                rule_id: id(&item),
                path: Some("version".into()),
                message,
            });
            return;
        }
        if let Err(message) = oathkeeper_forms(&mut item, self.origin) {
            self.errors.push(LoadError {
                origin: self.origin.to_string(),
                rule_id: id(&item),
                path: Some("match".into()),
                message,
            });
            return;
        }
        match serde_path_to_error::deserialize::<_, RuleSpec>(&item) {
            Ok(rule) => self.rules.push(rule),
            Err(e) => {
                let path = e.path().to_string();
                self.errors.push(LoadError {
                    origin: self.origin.to_string(),
                    rule_id: id(&item),
                    path: (path != ".").then_some(path),
                    message: crate::config::error::plain(&e.into_inner().to_string()),
                });
            }
        }
    }

    fn finish(self) -> Result<RuleDocument, Vec<LoadError>> {
        if self.errors.is_empty() {
            Ok(RuleDocument {
                origin: self.origin.to_string(),
                rules: self.rules,
                blank: false,
            })
        } else {
            Err(self.errors)
        }
    }
}

/// Forms Oathkeeper reads that the typed rule does not spell, brought to the typed form:
/// - `null` for a rule key, or a key of `match` or `upstream`, is the key left out (Go's
///   `encoding/json` leaves the zero value): `strip_path:` with nothing after it;
/// - `configMapName` next to the rule's keys, which ory/oathkeeper-maester writes into every
///   rule it generates from a Rule resource that names its ConfigMap, is dropped;
/// - the gRPC match form `{authority, full_method, allow_http_get}` (SPEC §3.2) is the match
///   Oathkeeper makes of it, `rpc://<authority>/<full_method>` for POST (and GET): it loads,
///   and never matches an HTTP request, as in `oathkeeper serve` (a warning says so).
fn oathkeeper_forms(item: &mut Value, origin: &str) -> Result<(), String> {
    let Value::Object(rule) = item else {
        return Ok(());
    };
    go_key_case(rule)?;
    rule.retain(|k, v| !v.is_null() && k != "configMapName");
    for key in ["match", "upstream"] {
        if let Some(Value::Object(m)) = rule.get_mut(key) {
            m.retain(|_, v| !v.is_null());
        }
    }
    let Some(Value::Object(m)) = rule.get_mut("match") else {
        return Ok(());
    };
    if !m.contains_key("full_method") {
        return Ok(());
    }
    let text = |m: &serde_json::Map<String, Value>, key: &str| match m.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("gRPC match: `{key}` must be a string")),
    };
    let (authority, method) = (text(m, "authority")?, text(m, "full_method")?);
    let get = match m.get("allow_http_get") {
        None => false,
        Some(v) => {
            crate::format::de_bool(v).map_err(|e| format!("gRPC match: `allow_http_get`: {e}"))?
        }
    };
    if let Some(other) = m
        .keys()
        .find(|k| !["authority", "full_method", "allow_http_get"].contains(&k.as_str()))
    {
        return Err(format!(
            "gRPC match: unknown field `{other}`, expected one of `authority`, `full_method`, `allow_http_get`"
        ));
    }
    let methods: &[&str] = if get { &["POST", "GET"] } else { &["POST"] };
    *m = serde_json::Map::from_iter([
        (
            "url".to_string(),
            Value::from(format!("rpc://{authority}/{method}")),
        ),
        ("methods".to_string(), Value::from(methods.to_vec())),
    ]);
    let id = rule.get("id").and_then(Value::as_str).unwrap_or("");
    tracing::warn!(rule_id = id, origin, "rule uses the gRPC match form (match.full_method) of Oathkeeper's gRPC middleware; gatehouse serves HTTP only, so it never matches, as under `oathkeeper serve`");
    Ok(())
}

/// The rule's keys as Go's `encoding/json` reads them (Oathkeeper decodes rule files with it,
/// YAML ones after turning them into JSON): a key matches a field whatever its case (`ID`,
/// `Match`, `preserve_Host`). Keys of handler `config`s are the handlers' and are left as
/// written. Two spellings of one field are refused (Go would keep the last one silently).
fn go_key_case(rule: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    const RULE: &[&str] = &[
        "id",
        "version",
        "description",
        "match",
        "authenticators",
        "authorizer",
        "mutators",
        "errors",
        "upstream",
        "configMapName",
    ];
    const MATCH: &[&str] = &[
        "url",
        "methods",
        "authority",
        "full_method",
        "allow_http_get",
    ];
    const UPSTREAM: &[&str] = &["url", "preserve_host", "strip_path"];
    const HANDLER: &[&str] = &["handler", "config"];
    fn fold(map: &mut serde_json::Map<String, Value>, fields: &[&str]) -> Result<(), String> {
        let renames: Vec<(String, &str)> = map
            .keys()
            .filter(|k| !fields.contains(&k.as_str()))
            .filter_map(|k| {
                let field = fields.iter().find(|f| f.eq_ignore_ascii_case(k))?;
                Some((k.clone(), *field))
            })
            .collect();
        for (key, field) in renames {
            if map.contains_key(field) {
                return Err(format!(
                    "`{key}` and `{field}` are one field (keys match whatever their case)"
                ));
            }
            if let Some(v) = map.shift_remove(&key) {
                map.insert(field.to_owned(), v);
            }
        }
        Ok(())
    }
    fold(rule, RULE)?;
    for (key, fields) in [
        ("match", MATCH),
        ("upstream", UPSTREAM),
        ("authorizer", HANDLER),
    ] {
        if let Some(Value::Object(m)) = rule.get_mut(key) {
            fold(m, fields)?;
        }
    }
    for key in ["authenticators", "mutators", "errors"] {
        if let Some(Value::Array(list)) = rule.get_mut(key) {
            for h in list.iter_mut() {
                if let Value::Object(h) = h {
                    fold(h, HANDLER)?;
                }
            }
        }
    }
    Ok(())
}

impl<'de> serde::de::Visitor<'de> for &mut Decoded<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rules")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(crate::format::Strict(item)) = seq.next_element()? {
            self.push(item);
        }
        Ok(())
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC §2.5: repository URL forms.
    #[test]
    fn parse_sources() {
        assert_eq!(
            Source::parse("file:///etc/r.json").ok(),
            Some(Source::Path("/etc/r.json".into()))
        );
        assert_eq!(
            Source::parse("file://rules/r.json").ok(),
            Some(Source::Path("rules/r.json".into()))
        );
        assert_eq!(
            Source::parse("rules/").ok(),
            Some(Source::Path("rules/".into()))
        );
        assert_eq!(
            Source::parse("inline://W10=").ok(),
            Some(Source::Inline("W10=".into()))
        );
        assert!(Source::parse("ftp://x/y").is_err());
    }

    // SPEC §3.1: JSON and YAML arrays; unknown keys rejected with the rule id and key path.
    #[test]
    fn decode_rejects_unknown_keys() {
        let doc = br#"[{"id":"a","match":{"url":"http://x/","methods":["GET"],"hedaers":{}}}]"#;
        let err = decode_document("r.json", doc).expect_err("unknown key");
        let s = err[0].to_string();
        assert!(
            s.contains("r.json") && s.contains("rule \"a\"") && s.contains("hedaers"),
            "{s}"
        );
    }

    // SPEC §3.1: the rule-by-rule JSON decoding gives what decoding the document whole does
    // (the YAML spelling goes the whole-document way): same rules, every bad rule reported with
    // its index or id, `null` is no rules, anything else is not an array.
    #[test]
    fn decode_json_rule_by_rule_like_whole() {
        let json = br#"[{"id":"a","match":{"url":"http://x/<.*>","methods":["GET"]},
            "authenticators":[{"handler":"jwt","config":{"k":[1,{"b":null}]}}]},
            {"id":"b","upstream":{"url":"http://u"}}]"#;
        let yaml = b"- id: a\n  match: {url: 'http://x/<.*>', methods: [GET]}\n  \
            authenticators: [{handler: jwt, config: {k: [1, {b: null}]}}]\n\
            - id: b\n  upstream: {url: 'http://u'}\n";
        let from_json = decode_document("r", json).expect("json");
        let from_yaml = decode_document("r", yaml).expect("yaml");
        assert_eq!(from_json.rules, from_yaml.rules);
        assert_eq!(from_json.rules.len(), 2);

        let bad = br#"[{"id":"a","x":1},{"match":{"url":2}},{"id":"c"}]"#;
        let errors = decode_document("r", bad).expect_err("two bad rules");
        let ids: Vec<_> = errors.iter().map(|e| e.rule_id.clone()).collect();
        assert_eq!(ids, [Some("a".to_string()), Some("#1".to_string())]);

        assert_eq!(
            decode_document("r", b"null").map(|d| d.rules.len()).ok(),
            Some(0)
        );
        let err = decode_document("r", br#"{"id":"a"}"#).expect_err("object");
        assert!(err[0].to_string().contains("found an object"), "{}", err[0]);
        assert!(decode_document("r", br#"[{"id":"a"}] x"#).is_err());
    }

    // SPEC §3.2: Oathkeeper decodes rules with Go's encoding/json, which matches keys whatever
    // their case; two spellings of one key are refused (Go would keep the last silently).
    #[test]
    fn decode_keys_in_any_case() {
        let yaml = b"- ID: a\n  Match: { URL: 'http://h/<.*>', Methods: [GET] }\n  Authenticators: [{ Handler: noop }]\n  Authorizer: { HANDLER: allow }\n  Mutators: [{ handler: header, Config: { headers: { X-A: b } } }]\n  Upstream: { Url: 'http://u', Preserve_Host: true, STRIP_PATH: /api }\n";
        let lower = b"- id: a\n  match: { url: 'http://h/<.*>', methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: header, config: { headers: { X-A: b } } }]\n  upstream: { url: 'http://u', preserve_host: true, strip_path: /api }\n";
        let any = decode_document("f.yaml", yaml).expect("any case");
        let plain = decode_document("f.yaml", lower).expect("lower case");
        assert_eq!(any.rules, plain.rules);
        let err = decode_document("f.json", br#"[{"id":"a","ID":"b"}]"#).expect_err("two ids");
        assert!(
            err[0].to_string().contains("`ID` and `id` are one field"),
            "{}",
            err[0]
        );
    }

    // SPEC §3.2: what Oathkeeper reads and the typed rule does not spell. `null` is the key
    // left out; maester's `configMapName` is dropped; the gRPC match form loads as
    // `rpc://authority/full_method`, which no HTTP request matches.
    #[test]
    fn decode_oathkeeper_forms() {
        let yaml = b"- id: n\n  description: null\n  upstream: { url: 'http://u', strip_path: , preserve_host: null }\n  match: { url: 'http://h/', methods: [GET] }\n- id: maester\n  configMapName: rules\n  match: { url: 'http://h/m', methods: [GET] }\n- id: grpc\n  match: { authority: example.com, full_method: grpc.health.v1.Health/Check, allow_http_get: true }\n";
        let doc = decode_document("f.yaml", yaml).expect("valid");
        let up = doc.rules[0].upstream.as_ref().expect("upstream");
        assert_eq!((up.strip_path.as_str(), up.preserve_host), ("", false));
        assert_eq!(doc.rules[1].id, "maester");
        let m = doc.rules[2].match_.as_ref().expect("match");
        assert_eq!(m.url, "rpc://example.com/grpc.health.v1.Health/Check");
        assert_eq!(m.methods, ["POST", "GET"]);
        let errs = decode_document(
            "f.yaml",
            b"- id: g\n  match: { full_method: a/b, url: 'http://h/' }\n",
        )
        .expect_err("mixed forms");
        assert!(
            errs[0].message.contains("unknown field `url`"),
            "{}",
            errs[0].message
        );
    }

    // SPEC §3.1: rule files are read as YAML 1.1 (yaml.v2) by Oathkeeper: `preserve_host: yes`.
    #[test]
    fn decode_yaml11_booleans() {
        let yaml = b"- id: r\n  upstream: { url: 'http://u', preserve_host: yes }\n- id: s\n  upstream: { url: 'http://u', preserve_host: Off }\n";
        let doc = decode_document("f.yaml", yaml).expect("valid");
        assert!(doc.rules[0]
            .upstream
            .as_ref()
            .is_some_and(|u| u.preserve_host));
        assert!(!doc.rules[1]
            .upstream
            .as_ref()
            .is_some_and(|u| u.preserve_host));
        let errs = decode_document("f.yaml", b"- id: r\n  upstream: { preserve_host: maybe }\n")
            .expect_err("refused");
        assert_eq!(errs[0].path.as_deref(), Some("upstream.preserve_host"));
        assert!(
            errs[0].message.contains("expected a boolean"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn decode_inline_yaml() {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode("- id: y\n  match: {url: 'http://h/', methods: [GET]}\n");
        let docs = read_source(&Source::Inline(b64)).expect("inline");
        assert_eq!(docs[0].rules[0].id, "y");
    }
}
