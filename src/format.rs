//! Document decoding shared by config and rule files. YAML parsing lives here and only here:
//! serde_yaml is published as deprecated, and swapping it must touch one function.

use serde_json::Value;

/// Parse YAML text into a JSON value (so numbers, booleans and keys behave as in JSON). Merge
/// keys (`<<: *anchor`) are applied.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    yaml.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_value(yaml).map_err(|e| e.to_string())
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
