//! `remote_json` (SPEC §5.2): render the `payload` template, POST it as JSON to a policy
//! endpoint; the answer is mapped like `remote`'s (see `remote.rs`).
//!
//! Extension (Oathkeeper issue #1125, opt-in): `response.allowed_path` is a GJSON path into the
//! 200 answer that must hold `true` for the request to be allowed; `false`, any other value or
//! a missing path -> 403. Unset: the status code alone decides, as in Oathkeeper.

use bytes::Bytes;
use http::HeaderValue;

use super::remote::Endpoint;
use crate::config::handlers::RemoteJsonConfig;
use crate::pipeline::error::PipelineError;
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::{BuildError, RequestInfo};

#[derive(Debug)]
pub struct RemoteJson {
    endpoint: Endpoint,
    payload: Template,
    allowed_path: Option<String>,
}

impl RemoteJson {
    /// Whether the payload or a header template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.payload.reads_match_context() || self.endpoint.reads_match_context()
    }

    pub fn new(c: RemoteJsonConfig) -> Result<Self, BuildError> {
        let source = c
            .payload
            .ok_or_else(|| BuildError::new("config.payload", "required key is missing"))?;
        let payload = Template::parse(&source)
            .map_err(|e| BuildError::new("config.payload", format!("invalid template: {e}")))?;
        let allowed_path = match c.response.allowed_path {
            Some(p) if p.trim().is_empty() => {
                return Err(BuildError::new(
                    "config.response.allowed_path",
                    "must be a non-empty GJSON path",
                ))
            }
            Some(p) => {
                crate::pipeline::gjson_path::check(&p)
                    .map_err(|e| BuildError::new("config.response.allowed_path", e))?;
                Some(p)
            }
            None => None,
        };
        Ok(Self {
            endpoint: Endpoint::new(
                "remote_json",
                c.remote,
                &c.headers,
                &c.forward_response_headers_to_upstream,
                &c.retry,
                c.timeout.get(),
            )?,
            payload,
            allowed_path,
        })
    }

    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub async fn authorize(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let body = self.render(session)?;
        let headers =
            self.endpoint
                .headers(req, session, HeaderValue::from_static("application/json"))?;
        let mut allowed = self.endpoint.call(headers, body).await?;
        if let Some(path) = &self.allowed_path {
            let answer = self.endpoint.read_body(&mut allowed).await?;
            decide(&answer, path)?;
        }
        self.endpoint.forward_headers(allowed.headers(), session);
        Ok(())
    }

    /// The payload; must be a JSON text (SPEC §5.2, Appendix B case 21).
    fn render(&self, session: &Session) -> Result<Bytes, PipelineError> {
        let text = self
            .payload
            .render(session)
            .map_err(|e| self.endpoint.internal(format!("rendering payload: {e}")))?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            return Err(self
                .endpoint
                .internal(format!("payload is not a JSON text: {e}")));
        }
        Ok(Bytes::from(text))
    }
}

/// `response.allowed_path`: only a JSON `true` at the path allows.
fn decide(answer: &[u8], path: &str) -> Result<(), PipelineError> {
    let text = std::str::from_utf8(answer).unwrap_or("");
    let v = gjson::get(text, path);
    if v.kind() == gjson::Kind::True {
        return Ok(());
    }
    let why = if v.exists() {
        format!("`{path}` in the remote_json answer is not true")
    } else {
        format!("`{path}` is missing from the remote_json answer")
    };
    Err(PipelineError::forbidden().with_reason(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::handlers::RemoteJsonResponse;
    use crate::config::types::Uri;

    fn build(payload: &str) -> RemoteJson {
        RemoteJson::new(RemoteJsonConfig {
            remote: Some(Uri::parse("http://policy.local/").expect("uri")),
            payload: Some(payload.into()),
            ..RemoteJsonConfig::default()
        })
        .expect("build")
    }

    // SPEC §5.2 example payload with capture groups.
    #[test]
    fn renders_the_spec_example() {
        let r = build(
            r#"{"subject":"{{ print .Subject }}","resource":"{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"}"#,
        );
        let mut s = Session {
            subject: "alice".into(),
            ..Session::default()
        };
        s.match_context.regexp_capture_groups = vec!["42".into()];
        let body = r.render(&s).expect("render");
        assert_eq!(&body[..], br#"{"subject":"alice","resource":"42"}"#);
    }

    // SPEC Appendix B case 21.
    #[test]
    fn invalid_json_is_500() {
        let r = build(r#"{"subject": {{ print .Subject }}}"#);
        let s = Session {
            subject: "alice".into(),
            ..Session::default()
        };
        let e = r.render(&s).expect_err("not JSON");
        assert_eq!(e.status, http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("payload is not a JSON text"));
    }

    #[test]
    fn allowed_path_decisions() {
        let answer = br#"{"result":{"allow":true,"flag":"true"}}"#;
        assert!(decide(answer, "result.allow").is_ok());
        for (body, path) in [
            (&br#"{"result":{"allow":false}}"#[..], "result.allow"),
            (&answer[..], "result.flag"),
            (&answer[..], "result.missing"),
            (&b"not json"[..], "result.allow"),
        ] {
            let e = decide(body, path).expect_err("deny");
            assert_eq!(e.status, http::StatusCode::FORBIDDEN, "{path}");
        }
    }

    #[test]
    fn empty_allowed_path_is_rejected() {
        let e = RemoteJson::new(RemoteJsonConfig {
            remote: Some(Uri::parse("http://policy.local/").expect("uri")),
            payload: Some("{}".into()),
            response: RemoteJsonResponse {
                allowed_path: Some(" ".into()),
            },
            ..RemoteJsonConfig::default()
        })
        .expect_err("empty path");
        assert_eq!(e.path, "config.response.allowed_path");
    }
}
