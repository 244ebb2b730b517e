//! The session as the hydrator API sees it (SPEC §4.2 JSON names, §5.3 example): what is sent
//! and how the answer is read back.
//!
//! Header maps travel as Go's `http.Header` (`{"X-User": ["alice"]}`, canonical names) and the
//! URL as Go's `url.URL` struct object, not a string.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::pipeline::session::{MatchContext, RequestUrl, Session};

/// The request body: the JSON-serialised session.
pub fn to_json(s: &Session) -> Value {
    let mc = &s.match_context;
    json!({
        "subject": s.subject,
        "extra": Value::Object((*s.extra).clone()),
        "header": headers_json(&s.header),
        "match_context": {
            "regexp_capture_groups": mc.regexp_capture_groups,
            "url": url_json(&mc.url),
            "method": mc.method,
            "header": headers_json(&mc.header),
        },
    })
}

/// A Go `url.URL` as `encoding/json` writes it.
fn url_json(u: &RequestUrl) -> Value {
    json!({
        "Scheme": u.scheme,
        "Opaque": "",
        "User": null,
        "Host": u.host,
        "Path": u.path,
        "RawPath": "",
        "OmitHost": false,
        "ForceQuery": false,
        "RawQuery": u.raw_query,
        "Fragment": "",
        "RawFragment": "",
    })
}

/// `{"X-User": ["a", "b"]}` with Go's canonical header names.
pub fn headers_json(h: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in h.keys() {
        let values: Vec<Value> = h
            .get_all(name)
            .iter()
            .map(|v| Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        out.insert(canonical(name.as_str()), Value::Array(values));
    }
    Value::Object(out)
}

/// Go `textproto.CanonicalMIMEHeaderKey`: `x-user-id` -> `X-User-Id`.
pub fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The hydrator's answer (Go decodes into a fresh session: absent fields are empty).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireSession {
    pub subject: String,
    pub extra: Option<Map<String, Value>>,
    pub header: Option<BTreeMap<String, Vec<String>>>,
    pub match_context: Option<WireMatchContext>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMatchContext {
    pub regexp_capture_groups: Option<Vec<String>>,
    pub url: Option<WireUrl>,
    pub method: String,
    pub header: Option<BTreeMap<String, Vec<String>>>,
}

/// The parts of a Go `url.URL` object the pipeline keeps; the other fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireUrl {
    #[serde(rename = "Scheme")]
    pub scheme: String,
    #[serde(rename = "Host")]
    pub host: String,
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "RawQuery")]
    pub raw_query: String,
}

impl WireSession {
    /// The session this answer describes, or why it cannot be one (invalid header name/value).
    pub fn into_session(self) -> Result<Session, String> {
        let mc = self.match_context.unwrap_or_default();
        let url = mc.url.unwrap_or_default();
        Ok(Session {
            subject: self.subject,
            extra: std::sync::Arc::new(self.extra.unwrap_or_default()),
            header: header_map(self.header.unwrap_or_default())?,
            set_headers: Vec::new(),
            match_context: MatchContext {
                regexp_capture_groups: mc.regexp_capture_groups.unwrap_or_default(),
                url: RequestUrl {
                    scheme: url.scheme.into(),
                    host: url.host,
                    path: url.path,
                    raw_query: url.raw_query,
                },
                method: mc.method,
                header: header_map(mc.header.unwrap_or_default())?,
            },
        })
    }
}

fn header_map(h: BTreeMap<String, Vec<String>>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, values) in h {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        for v in values {
            let v = HeaderValue::from_str(&v)
                .map_err(|_| format!("invalid value for header `{name}`"))?;
            out.append(n.clone(), v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut header = HeaderMap::new();
        header.insert("x-user", HeaderValue::from_static("alice"));
        let mut req_header = HeaderMap::new();
        req_header.insert("accept", HeaderValue::from_static("*/*"));
        let mut extra = Map::new();
        extra.insert("foo".into(), json!("bar"));
        Session {
            subject: "alice".into(),
            extra: extra.into(),
            header,
            set_headers: Vec::new(),
            match_context: MatchContext {
                regexp_capture_groups: vec!["42".into()],
                url: RequestUrl {
                    scheme: "http".into(),
                    host: "h".into(),
                    path: "/users/42".into(),
                    raw_query: "x=1".into(),
                },
                method: "GET".into(),
                header: req_header,
            },
        }
    }

    // SPEC §5.3 hydrator: the example request body, byte for byte.
    #[test]
    fn body_matches_the_spec_example() {
        let want = r#"{"subject":"alice","extra":{"foo":"bar"},"header":{"X-User":["alice"]},"match_context":{"regexp_capture_groups":["42"],"url":{"Scheme":"http","Opaque":"","User":null,"Host":"h","Path":"/users/42","RawPath":"","OmitHost":false,"ForceQuery":false,"RawQuery":"x=1","Fragment":"","RawFragment":""},"method":"GET","header":{"Accept":["*/*"]}}}"#;
        assert_eq!(to_json(&session()).to_string(), want);
    }

    #[test]
    fn round_trip() {
        let s = session();
        let wire: WireSession = serde_json::from_value(to_json(&s)).expect("decode");
        let back = wire.into_session().expect("session");
        assert_eq!(back.subject, s.subject);
        assert_eq!(back.extra, s.extra);
        assert_eq!(back.header, s.header);
        assert_eq!(back.match_context.url, s.match_context.url);
        assert_eq!(back.match_context.header, s.match_context.header);
        assert_eq!(back.match_context.method, "GET");
    }

    #[test]
    fn absent_fields_are_empty_and_bad_headers_fail() {
        let wire: WireSession = serde_json::from_str(r#"{"subject":"a"}"#).expect("decode");
        let s = wire.into_session().expect("session");
        assert!(s.extra.is_empty() && s.header.is_empty());
        assert_eq!(s.match_context.url, RequestUrl::default());
        let wire: WireSession =
            serde_json::from_str(r#"{"header":{"bad name":["x"]}}"#).expect("decode");
        assert!(wire.into_session().is_err());
        assert_eq!(canonical("x-user-ID"), "X-User-Id");
    }
}
