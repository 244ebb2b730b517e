//! Document decoding shared by config and rule files. YAML parsing lives here and only here:
//! serde_yaml is published as deprecated, and swapping it must touch one function.

use serde_json::Value;

/// Parse YAML text into a JSON value (so numbers, booleans and keys behave as in JSON). Merge
/// keys (`<<: *anchor`) are applied.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    // A byte-order mark (Windows editors write one) is no part of the document, as in Go's YAML.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    yaml.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_value(yaml).map_err(|e| e.to_string())
}

/// Parse a TOML document into a JSON value, as Oathkeeper's config loader (koanf) reads a
/// `.toml` config. Dates and times become their RFC 3339 text; a float that JSON cannot hold
/// (`nan`, `inf`) is an error, as no config key takes one.
pub fn parse_toml(text: &str) -> Result<Value, String> {
    fn json(v: toml::Value, path: &mut Vec<String>) -> Result<Value, String> {
        Ok(match v {
            toml::Value::String(s) => Value::String(s),
            toml::Value::Integer(i) => Value::from(i),
            toml::Value::Float(f) => match serde_json::Number::from_f64(f) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(format!(
                        "{}: {f} is not a number a config key takes",
                        path.join(".")
                    ))
                }
            },
            toml::Value::Boolean(b) => Value::Bool(b),
            toml::Value::Datetime(d) => Value::String(d.to_string()),
            toml::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    path.push(format!("[{i}]"));
                    out.push(json(item, path)?);
                    path.pop();
                }
                Value::Array(out)
            }
            toml::Value::Table(t) => {
                let mut out = serde_json::Map::with_capacity(t.len());
                for (k, item) in t {
                    path.push(k.clone());
                    out.insert(k, json(item, path)?);
                    path.pop();
                }
                Value::Object(out)
            }
        })
    }
    let table: toml::Table =
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    json(toml::Value::Table(table), &mut Vec::new())
}

/// YAML 1.1's other spellings of a boolean (`yes`/`no`, `on`/`off`, `y`/`n`, as Go's yaml.v2
/// resolves them, which Oathkeeper decodes rule files with). YAML 1.2 (serde_yaml) reads them as
/// strings; they are taken as booleans only where the key is a boolean (`coerce_bools`).
pub fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Deserializes a boolean key: `true`/`false`, or a YAML 1.1 spelling (`yaml11_bool`), so
/// `enabled: yes` and `preserve_host: on` mean what they say. Only boolean keys take these: a
/// string key keeps `yes` as its text. Used with `#[serde(deserialize_with)]` on every boolean
/// of config and rule files.
pub fn de_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a boolean")
        }

        fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            yaml11_bool(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(V)
}

/// Decode bytes as JSON when they are valid JSON, otherwise as YAML (SPEC §3.1). JSON with a
/// repeated object key is handed to the YAML parser, which refuses it with the key's name.
pub fn parse_json_or_yaml(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if let Ok(Strict(v)) = serde_json::from_slice::<Strict>(bytes) {
        return Ok(v);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "document is not valid UTF-8".to_string())?;
    parse_yaml(text)
}

/// A JSON value whose objects never repeat a key. `serde_json::Value` (like Go) keeps the last
/// of two, so a rule with two `authorizer`s would silently be the second one; YAML refuses
/// them, and so does this.
pub struct Strict(pub Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_agree() {
        let j = parse_json_or_yaml(br#"[{"a": 1, "b": [true, "x"]}]"#).expect("json");
        let y = parse_json_or_yaml(b"- a: 1\n  b: [true, x]\n").expect("yaml");
        assert_eq!(j, y);
    }

    // A repeated key is an error in JSON as in YAML (never the last one silently).
    #[test]
    fn repeated_keys_are_errors() {
        let err = parse_json_or_yaml(
            br#"[{"authorizer": {"handler": "deny"}, "authorizer": {"handler": "allow"}}]"#,
        )
        .expect_err("duplicate");
        assert!(err.contains("authorizer"), "{err}");
        assert!(parse_json_or_yaml(b"- a: 1\n  a: 2\n").is_err());
        let nested = serde_json::from_slice::<Strict>(br#"{"a": {"b": 1, "b": 2}}"#);
        assert!(nested.is_err());
        let Strict(ok) =
            serde_json::from_slice(br#"{"a": [1, 2.5, null, "x", {"b": true}]}"#).expect("ok");
        assert_eq!(ok["a"][4]["b"], true);
    }

    // Oathkeeper decodes rule files with yaml.v2 (YAML 1.1): `preserve_host: yes` is `true`
    // there. Only keys that are booleans take the other spellings; a string key keeps its text.
    #[test]
    fn yaml11_booleans_where_a_boolean_is_expected() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            #[serde(deserialize_with = "de_bool")]
            on: bool,
            name: String,
        }
        let v = parse_yaml("on: Off\nname: no\n").expect("yaml");
        let t: T = serde_json::from_value(v).expect("decodes");
        assert_eq!(
            t,
            T {
                on: false,
                name: "no".into()
            }
        );
        let err = serde_json::from_value::<T>(serde_json::json!({"on": "maybe", "name": ""}));
        assert!(err
            .expect_err("refused")
            .to_string()
            .contains("expected a boolean"));
        assert!(serde_json::from_value::<T>(serde_json::json!({"on": 1, "name": ""})).is_err());
        for (s, b) in [
            ("y", true),
            ("YES", true),
            ("On", true),
            ("N", false),
            ("no", false),
            ("OFF", false),
        ] {
            assert_eq!(yaml11_bool(s), Some(b), "{s}");
        }
        for s in ["true", "1", "yEs", "oN", "nope", ""] {
            assert_eq!(yaml11_bool(s), None, "{s}");
        }
    }

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(parse_json_or_yaml(b"- a: [1,\n").is_err());
    }
}
