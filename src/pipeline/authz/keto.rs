//! `keto_engine_acp_ory` (SPEC §5.2): the legacy Keto (≤ v0.5) ACP engine. Subject, action and
//! resource are templates; `POST {base_url}/engines/acp/ory/{flavor}/allowed` decides.
//!
//! Oathkeeper answers 500 at request time when the matching strategy is not `regexp`. The
//! strategy is known when the rule set is built, so the check happens there; the rule still
//! loads (SPEC-compatible) and answers every request with that 500 (Appendix A message), and a
//! warning is logged at load so the mistake is visible before traffic arrives.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use crate::config::access_rules::MatchingStrategy;
use crate::config::handlers::KetoConfig;
use crate::outbound::{self, CallPolicy, OutboundError, DEFAULT_RETRIES};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::{BuildError, RequestInfo};

/// Appendix A: keto under the glob strategy.
pub const NON_REGEXP: &str =
    "The matched handler uses Regexp MatchingStrategy which is not selected in the configuration";

/// Oathkeeper waits at most 100 ms between keto retries.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Largest answer read (`{"allowed": bool}` is tiny).
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug)]
pub struct Keto {
    url: url::Url,
    /// `None`: the session subject.
    subject: Option<Template>,
    action: Template,
    resource: Template,
    policy: CallPolicy,
    regexp: bool,
}

impl Keto {
    /// Whether a subject, action or resource template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.subject
            .iter()
            .chain([&self.action, &self.resource])
            .any(Template::reads_match_context)
    }

    pub fn new(c: KetoConfig, strategy: MatchingStrategy) -> Result<Self, BuildError> {
        let base = c
            .base_url
            .ok_or_else(|| BuildError::new("config.base_url", "required key is missing"))?;
        let flavor = if c.flavor.is_empty() {
            "regex"
        } else {
            c.flavor.trim_matches('/')
        };
        // urlx.AppendPaths: the base path, then the segments, joined by single slashes.
        let mut url = base.url().clone();
        let path = format!(
            "{}/engines/acp/ory/{flavor}/allowed",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let parse = |key: &str, source: &str| {
            Template::parse(source).map_err(|e| {
                BuildError::new(format!("config.{key}"), format!("invalid template: {e}"))
            })
        };
        // Oathkeeper's Config(): an empty action/resource becomes the literal "unset".
        let or_unset = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or("unset".into());
        let regexp = strategy == MatchingStrategy::Regexp;
        if !regexp {
            tracing::warn!("keto_engine_acp_ory needs access_rules.matching_strategy: regexp; rules using it answer 500");
        }
        Ok(Self {
            url,
            subject: match c.subject.as_str() {
                "" => None,
                s => Some(parse("subject", s)?),
            },
            action: parse("required_action", &or_unset(c.required_action))?,
            resource: parse("required_resource", &or_unset(c.required_resource))?,
            policy: CallPolicy {
                timeout: c.timeout.get(),
                max_retries: DEFAULT_RETRIES,
                max_backoff: MAX_BACKOFF,
            },
            regexp,
        })
    }

    pub async fn authorize(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        if !self.regexp {
            return Err(PipelineError::internal(NON_REGEXP));
        }
        let body = self.body(req, session, SystemTime::now())?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let started = std::time::Instant::now();
        let resp = outbound::send(self.policy, || {
            outbound::client()
                .post(self.url.clone())
                .headers(headers.clone())
                .body(body.clone())
        })
        .await
        .map_err(unavailable)?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::FORBIDDEN => {
                return Err(PipelineError::forbidden().with_reason("keto denied the request"))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(PipelineError::too_many_requests(resp.headers())
                    .with_reason("the keto rate limit was exceeded"))
            }
            s if s.is_server_error() => return Err(unavailable(OutboundError::Status(s))),
            s => {
                return Err(internal(format!(
                    "expected status code 200 but got {}",
                    s.as_u16()
                )))
            }
        }
        let left = self.policy.timeout.saturating_sub(started.elapsed());
        let answer =
            match tokio::time::timeout(left, crate::outbound::read_limited(resp, MAX_ANSWER)).await
            {
                Err(_) => return Err(unavailable(OutboundError::Timeout(self.policy.timeout))),
                Ok(r) => r.map_err(unavailable)?,
            };
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            allowed: bool,
        }
        let a: Answer = serde_json::from_slice(&answer)
            .map_err(|e| internal(format!("decoding the keto answer: {e}")))?;
        if a.allowed {
            Ok(())
        } else {
            Err(PipelineError::forbidden().with_reason("keto denied the request"))
        }
    }

    /// The request body (SPEC §5.2), fields in Oathkeeper's order.
    fn body(
        &self,
        req: &RequestInfo,
        session: &Session,
        now: SystemTime,
    ) -> Result<Bytes, PipelineError> {
        let render = |t: &Template, what: &str| {
            t.render(session)
                .map_err(|e| internal(format!("rendering {what}: {e}")))
        };
        let subject = match &self.subject {
            Some(t) => render(t, "subject")?,
            None => session.subject.clone(),
        };
        let body = json!({
            "action": render(&self.action, "required_action")?,
            "context": {
                "remoteIpAddress": client_ip(req),
                "requestedAt": crate::datetime::rfc3339(now),
            },
            "resource": render(&self.resource, "required_resource")?,
            "subject": subject,
        });
        Ok(Bytes::from(body.to_string()))
    }
}

fn internal(reason: String) -> PipelineError {
    PipelineError::internal(msg::INTERNAL).with_reason(format!("keto_engine_acp_ory: {reason}"))
}

fn unavailable(e: OutboundError) -> PipelineError {
    e.into_pipeline("keto_engine_acp_ory authorizer")
}

/// The client address as `realip.RealIP` finds it: the first public `X-Forwarded-For` entry,
/// else `X-Real-Ip`, else the peer. The headers are believed only from trusted peers (DESIGN
/// §6); Oathkeeper believes them from anyone.
fn client_ip(req: &RequestInfo) -> String {
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    if req.forwarded_trusted {
        if let Some(xff) = header("x-forwarded-for") {
            let public = xff
                .split(',')
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .find(|ip| !is_private(ip));
            if let Some(ip) = public {
                return ip.to_string();
            }
        }
        if let Some(real) = header("x-real-ip") {
            return real.to_string();
        }
    }
    req.remote_addr.map(|a| a.to_string()).unwrap_or_default()
}

/// The ranges `realip` treats as private: loopback, RFC 1918, link-local, CGNAT, ULA.
pub(crate) fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::Uri;
    use std::time::UNIX_EPOCH;

    fn keto(subject: &str, action: Option<&str>, strategy: MatchingStrategy) -> Keto {
        Keto::new(
            KetoConfig {
                base_url: Some(Uri::parse("http://keto.local/base/").expect("uri")),
                required_action: action.map(str::to_string),
                required_resource: Some(
                    "res:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}".into(),
                ),
                subject: subject.into(),
                ..KetoConfig::default()
            },
            strategy,
        )
        .expect("build")
    }

    #[test]
    fn url_joins_base_and_flavor() {
        let k = keto("", Some("get"), MatchingStrategy::Regexp);
        assert_eq!(
            k.url.as_str(),
            "http://keto.local/base/engines/acp/ory/regex/allowed"
        );
    }

    // SPEC §5.2: body fields, subject default, "unset" fallback, remote IP and time.
    #[test]
    fn request_body() {
        let k = keto("", Some(""), MatchingStrategy::Regexp);
        let mut session = Session {
            subject: "alice".into(),
            ..Session::default()
        };
        session.match_context.regexp_capture_groups = vec!["7".into()];
        let mut req = RequestInfo {
            remote_addr: Some("10.0.0.9".parse().expect("ip")),
            forwarded_trusted: true,
            ..RequestInfo::default()
        };
        req.headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("10.1.1.1, 203.0.113.5"),
        );
        let at = UNIX_EPOCH + Duration::new(1_709_209_815, 500_000_000);
        let body = k.body(&req, &session, at).expect("body");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf8"),
            r#"{"action":"unset","context":{"remoteIpAddress":"203.0.113.5","requestedAt":"2024-02-29T12:30:15.5Z"},"resource":"res:7","subject":"alice"}"#
        );
        let k = keto(
            "user:{{ print .Subject }}",
            Some("get"),
            MatchingStrategy::Regexp,
        );
        let body: serde_json::Value =
            serde_json::from_slice(&k.body(&req, &session, at).expect("body")).expect("json");
        assert_eq!(body["subject"], "user:alice");
        assert_eq!(body["action"], "get");
    }

    #[test]
    fn client_ip_sources() {
        let mut req = RequestInfo {
            remote_addr: Some("192.0.2.1".parse().expect("ip")),
            forwarded_trusted: true,
            ..RequestInfo::default()
        };
        assert_eq!(client_ip(&req), "192.0.2.1");
        req.headers
            .insert("x-real-ip", HeaderValue::from_static("198.51.100.7"));
        assert_eq!(client_ip(&req), "198.51.100.7");
        req.forwarded_trusted = false;
        assert_eq!(client_ip(&req), "192.0.2.1", "untrusted peer");
    }

    // SPEC §5.2, Appendix A: keto under glob answers 500 with the catalogue message.
    #[tokio::test]
    async fn glob_strategy_is_500() {
        let k = keto("", Some("get"), MatchingStrategy::Glob);
        let e = k
            .authorize(&RequestInfo::default(), &mut Session::default())
            .await
            .expect_err("glob");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, NON_REGEXP);
    }
}
