//! The RFC 7662 introspection response, decoded as Oathkeeper does: unknown members ignored,
//! `null` read as the zero value, `aud` a string or an array.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(super) struct Introspected {
    #[serde(deserialize_with = "nullable")]
    pub active: bool,
    #[serde(deserialize_with = "nullable")]
    pub ext: Map<String, Value>,
    #[serde(deserialize_with = "nullable")]
    pub sub: String,
    #[serde(deserialize_with = "nullable")]
    pub username: String,
    #[serde(deserialize_with = "audience")]
    pub aud: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub iss: String,
    #[serde(deserialize_with = "nullable")]
    pub client_id: String,
    #[serde(deserialize_with = "nullable")]
    pub scope: String,
    #[serde(deserialize_with = "unix_time")]
    pub exp: i64,
    #[serde(deserialize_with = "nullable")]
    pub token_use: String,
}

impl Introspected {
    /// SPEC §5.1: `ext` plus `username`, `client_id`, `scope` and `aud` (when non-empty).
    pub fn extra(&self) -> Map<String, Value> {
        let mut extra = self.ext.clone();
        extra.insert("username".into(), Value::from(self.username.as_str()));
        extra.insert("client_id".into(), Value::from(self.client_id.as_str()));
        extra.insert("scope".into(), Value::from(self.scope.as_str()));
        if !self.aud.is_empty() {
            extra.insert("aud".into(), Value::from(self.aud.clone()));
        }
        extra
    }
}

fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Aud>::deserialize(d)? {
        None => Vec::new(),
        Some(Aud::One(s)) if s.is_empty() => Vec::new(),
        Some(Aud::One(s)) => vec![s],
        Some(Aud::Many(v)) => v,
    })
}

/// Seconds since the epoch; some servers send a fractional number.
fn unix_time<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map_or(0, |f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_oathkeeper() {
        let r: Introspected = serde_json::from_str(
            r#"{"active":true,"sub":"alice","aud":"api","exp":1.5e9,"ext":null,"iss":null,
                "scope":"a b","client_id":"c","username":"u","unknown":1}"#,
        )
        .expect("decode");
        assert!(r.active);
        assert_eq!(r.aud, vec!["api".to_string()]);
        assert_eq!(r.exp, 1_500_000_000);
        assert!(r.ext.is_empty());
        let extra = Value::Object(r.extra());
        assert_eq!(
            extra,
            serde_json::json!({"username":"u","client_id":"c","scope":"a b","aud":["api"]})
        );
        let r: Introspected = serde_json::from_str(r#"{"aud":["x","y"]}"#).expect("decode");
        assert!(!r.active);
        assert_eq!(r.aud.len(), 2);
        assert!(serde_json::from_str::<Introspected>(r#"{"active":"yes"}"#).is_err());
    }
}
