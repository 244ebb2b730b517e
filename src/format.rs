//! Document decoding shared by config and rule files. YAML parsing lives here and only here:
//! serde_yaml is published as deprecated, and swapping it must touch one function.

use serde_json::Value;

/// Parse YAML text into a JSON value (so numbers, booleans and keys behave as in JSON).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(yaml_to_json(v)?).map_err(|e| e.to_string())
}

fn yaml_to_json(v: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f).map(Value::Number).ok_or("non-finite number")?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// Decode bytes as JSON when they are valid JSON, otherwise as YAML (SPEC §3.1).
pub fn parse_json_or_yaml(bytes: &[u8]) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return Ok(v);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "document is not valid UTF-8".to_string())?;
    parse_yaml(text)
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

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(parse_json_or_yaml(b"- a: [1,\n").is_err());
    }
}
