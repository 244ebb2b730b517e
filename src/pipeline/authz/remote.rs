//! `remote` (SPEC §5.2): POST the original request body to a policy endpoint; 200 allows.
//!
//! Also home of [`Endpoint`], the call and answer mapping `remote_json` shares. Status mapping
//! (SPEC §4.8, DESIGN §3): 200 -> allowed (listed response headers copied into the session),
//! 403 -> 403, 429 -> 429 with the endpoint's rate-limit headers, any other 4xx/3xx -> 500.
//! Deviation: 5xx, unreachable and timeout -> 503 (Oathkeeper: 500), because an outage of the
//! policy service is not a gatehouse fault and must stay distinguishable from one; it still
//! denies.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::config::handlers::{RemoteConfig, Retry};
use crate::config::types::Uri;
use crate::outbound::{self, CallPolicy, OutboundError};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::{BuildError, RequestInfo};

/// The built `remote` authorizer.
#[derive(Debug)]
pub struct Remote {
    endpoint: Endpoint,
}

impl Remote {
    /// Whether a header template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.endpoint.reads_match_context()
    }

    pub fn new(c: RemoteConfig) -> Result<Self, BuildError> {
        Ok(Self {
            endpoint: Endpoint::new(
                "remote",
                c.remote,
                &c.headers,
                &c.forward_response_headers_to_upstream,
                &c.retry,
                c.timeout.get(),
            )?,
        })
    }

    pub(super) fn header_names(&self) -> Vec<HeaderName> {
        self.endpoint.forwarded_names().to_vec()
    }

    pub async fn authorize(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        // Go's `r.Header.Get("Content-Type")`: the first value, sent even when empty.
        let content_type = req
            .headers
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(""));
        let headers = self.endpoint.headers(req, session, content_type)?;
        let body = req.body.clone().unwrap_or_default();
        let resp = self.endpoint.call(headers, body).await?;
        self.endpoint.forward_headers(resp.headers(), session);
        Ok(())
    }
}

/// A policy endpoint as `remote` and `remote_json` call it, built once per rule.
pub(super) struct Endpoint {
    handler: &'static str,
    url: url::Url,
    headers: Vec<(HeaderName, Template)>,
    forward: Vec<HeaderName>,
    pub(super) policy: CallPolicy,
}

// Hand-written: header templates may hold API keys for the policy service.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("handler", &self.handler)
            .field("url", &self.url.as_str())
            .field("forward", &self.forward)
            .finish_non_exhaustive()
    }
}

/// A 200 answer of the policy endpoint.
pub(super) struct Allowed {
    headers: HeaderMap,
    body: Option<reqwest::Response>,
    started: Instant,
}

impl Allowed {
    pub(super) fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl Endpoint {
    /// Whether a header template may read the session's `MatchContext`.
    pub(super) fn reads_match_context(&self) -> bool {
        self.headers.iter().any(|(_, t)| t.reads_match_context())
    }

    pub(super) fn new(
        handler: &'static str,
        url: Option<Uri>,
        headers: &BTreeMap<String, String>,
        forward: &[String],
        retry: &Retry,
        timeout: std::time::Duration,
    ) -> Result<Self, BuildError> {
        let url = url
            .ok_or_else(|| BuildError::new("config.remote", "required key is missing"))?
            .url()
            .clone();
        let mut templates = Vec::new();
        for (name, source) in headers {
            let path = format!("config.headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::new(&path, format!("invalid header name `{name}`")))?;
            let t = Template::parse(source)
                .map_err(|e| BuildError::new(&path, format!("invalid template: {e}")))?;
            if crate::outbound::settable(&n, &path) {
                templates.push((n, t));
            }
        }
        let mut names = Vec::new();
        for (i, name) in forward.iter().enumerate() {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::new(
                    format!("config.forward_response_headers_to_upstream[{i}]"),
                    format!("invalid header name `{name}`"),
                )
            })?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        Ok(Self {
            handler,
            url,
            headers: templates,
            forward: names,
            policy: CallPolicy::from_legacy(
                timeout,
                retry.give_up_after.if_written().map(|d| d.get()),
                retry.max_delay.get(),
            ),
        })
    }

    /// Header names this authorizer puts into the session (copied to the upstream).
    pub(super) fn forwarded_names(&self) -> &[HeaderName] {
        &self.forward
    }

    /// Request headers (SPEC §5.2): `Content-Type`, the original `Authorization` when present,
    /// then each templated header; a template rendering to `""` sends nothing.
    pub(super) fn headers(
        &self,
        req: &RequestInfo,
        session: &Session,
        content_type: HeaderValue,
    ) -> Result<HeaderMap, PipelineError> {
        let mut out = HeaderMap::new();
        out.insert(CONTENT_TYPE, content_type);
        if let Some(v) = req.headers.get(AUTHORIZATION).filter(|v| !v.is_empty()) {
            out.insert(AUTHORIZATION, v.clone());
        }
        for (name, template) in &self.headers {
            let value = template
                .render(session)
                .map_err(|e| self.internal(format!("rendering header template `{name}`: {e}")))?;
            if value.is_empty() {
                continue;
            }
            let value = HeaderValue::from_str(&value).map_err(|_| {
                self.internal(format!(
                    "header `{name}` rendered to an invalid header value"
                ))
            })?;
            out.insert(name.clone(), value);
        }
        Ok(out)
    }

    /// POST `body` and map the answer; `Ok` only for 200.
    pub(super) async fn call(
        &self,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Allowed, PipelineError> {
        let started = Instant::now();
        let resp = outbound::send(self.policy, || {
            outbound::client()
                .post(self.url.clone())
                .headers(headers.clone())
                .body(body.clone())
        })
        .await
        .map_err(|e| self.unavailable(e))?;
        let status = resp.status();
        match status {
            StatusCode::OK => Ok(Allowed {
                headers: resp.headers().clone(),
                body: Some(resp),
                started,
            }),
            StatusCode::FORBIDDEN => Err(PipelineError::forbidden().with_reason(format!(
                "the {} authorizer denied the request",
                self.handler
            ))),
            StatusCode::TOO_MANY_REQUESTS => Err(PipelineError::too_many_requests(resp.headers())
                .with_reason(format!(
                    "the {} authorizer rate limit was exceeded",
                    self.handler
                ))),
            s if s.is_server_error() => Err(self.unavailable(OutboundError::Status(s))),
            s => Err(self.internal(format!("expected status code 200 but got {}", s.as_u16()))),
        }
    }

    /// Read the 200 answer's body (bounded in size and by what is left of the deadline).
    pub(super) async fn read_body(&self, allowed: &mut Allowed) -> Result<Vec<u8>, PipelineError> {
        let Some(resp) = allowed.body.take() else {
            return Ok(Vec::new());
        };
        let left = self
            .policy
            .timeout
            .saturating_sub(allowed.started.elapsed());
        match tokio::time::timeout(
            left,
            crate::outbound::read_limited(resp, crate::outbound::MAX_ANSWER),
        )
        .await
        {
            Err(_) => Err(self.unavailable(OutboundError::Timeout(self.policy.timeout))),
            Ok(r) => r.map_err(|e| self.unavailable(e)),
        }
    }

    /// Copy each listed response header into the session, `""` when the answer lacks it
    /// (Go `res.Header.Get` + `session.SetHeader`).
    pub(super) fn forward_headers(&self, answer: &HeaderMap, session: &mut Session) {
        for name in &self.forward {
            let v = answer
                .get(name)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(""));
            session.header.insert(name.clone(), v);
        }
    }

    pub(super) fn internal(&self, reason: String) -> PipelineError {
        PipelineError::internal(msg::INTERNAL).with_reason(format!("{}: {reason}", self.handler))
    }

    fn unavailable(&self, e: OutboundError) -> PipelineError {
        e.into_pipeline(&format!("{} authorizer", self.handler))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(headers: &[(&str, &str)], forward: &[&str]) -> Endpoint {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let forward: Vec<String> = forward.iter().map(|s| s.to_string()).collect();
        Endpoint::new(
            "remote",
            Some(Uri::parse("http://policy.local/check").expect("uri")),
            &headers,
            &forward,
            &Retry::default(),
            std::time::Duration::from_secs(5),
        )
        .expect("build")
    }

    fn request(headers: &[(&str, &str)]) -> RequestInfo {
        let mut info = RequestInfo::default();
        for (k, v) in headers {
            info.headers.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        info
    }

    // SPEC §5.2 remote: Content-Type (even empty), Authorization copied, templated headers,
    // empty renders not sent.
    #[test]
    fn request_headers() {
        let e = endpoint(
            &[
                ("X-Subject", "{{ print .Subject }}"),
                ("X-Empty", "{{ print .Extra.missing }}"),
                ("Authorization", "{{ if .Subject }}{{ end }}"),
            ],
            &[],
        );
        let req = request(&[("authorization", "Bearer t"), ("cookie", "c=1")]);
        let session = Session {
            subject: "alice".into(),
            ..Session::default()
        };
        let h = e
            .headers(&req, &session, HeaderValue::from_static(""))
            .expect("headers");
        assert_eq!(h.get("content-type").map(|v| v.as_bytes()), Some(&b""[..]));
        assert_eq!(h.get("authorization").expect("authz"), "Bearer t");
        assert_eq!(h.get("x-subject").expect("subject"), "alice");
        assert!(h.get("x-empty").is_none());
        assert!(h.get("cookie").is_none(), "only listed headers are sent");
    }

    // SPEC §5.2 (Go's client writes `Host` and the body's length itself): a templated `Host`,
    // `Content-Length` or hop-by-hop header is not sent to the policy server.
    #[test]
    fn host_and_framing_headers_are_not_sent() {
        let e = endpoint(
            &[
                ("Host", "policy.internal"),
                ("Content-Length", "3"),
                ("Transfer-Encoding", "chunked"),
                ("X-Subject", "{{ print .Subject }}"),
            ],
            &[],
        );
        let h = e
            .headers(
                &request(&[]),
                &Session::default(),
                HeaderValue::from_static(""),
            )
            .expect("headers");
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type"]);
    }

    #[test]
    fn no_authorization_when_absent() {
        let e = endpoint(&[], &[]);
        let h = e
            .headers(
                &request(&[]),
                &Session::default(),
                HeaderValue::from_static("text/plain"),
            )
            .expect("headers");
        assert_eq!(h.len(), 1);
        assert_eq!(h.get("content-type").expect("ct"), "text/plain");
    }

    #[test]
    fn template_errors_are_500() {
        let e = endpoint(&[("X-Bad", "{{ .Nope }}")], &[]);
        let err = e
            .headers(
                &request(&[]),
                &Session::default(),
                HeaderValue::from_static(""),
            )
            .expect_err("unknown field");
        assert_eq!(err.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn build_errors_name_the_key() {
        let bad = BTreeMap::from([("X-A".to_string(), "{{ .Subject".to_string())]);
        let err = Endpoint::new(
            "remote",
            Some(Uri::parse("http://p/").expect("uri")),
            &bad,
            &[],
            &Retry::default(),
            std::time::Duration::from_secs(1),
        )
        .expect_err("parse error");
        assert_eq!(err.path, "config.headers.X-A");
        let err = Endpoint::new(
            "remote",
            Some(Uri::parse("http://p/").expect("uri")),
            &BTreeMap::new(),
            &["bad header".to_string()],
            &Retry::default(),
            std::time::Duration::from_secs(1),
        )
        .expect_err("bad name");
        assert_eq!(err.path, "config.forward_response_headers_to_upstream[0]");
    }

    // SPEC §5.2: a forwarded header missing from the answer is set to "".
    #[test]
    fn forwarded_headers_default_to_empty() {
        let e = endpoint(&[], &["X-Foo", "X-Bar"]);
        let mut answer = HeaderMap::new();
        answer.insert("x-foo", HeaderValue::from_static("1"));
        let mut session = Session::default();
        e.forward_headers(&answer, &mut session);
        assert_eq!(session.header.get("x-foo").expect("foo"), "1");
        assert_eq!(session.header.get("x-bar").expect("bar"), "");
    }
}
