//! The one error type at the pipeline boundary. Every stage returns a [`PipelineError`]; its
//! status decides the response in one place (SPEC §4.8) and its fields become the JSON error
//! body (SPEC §4.9, Appendix A).

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::{Map, Value};

/// Messages of SPEC Appendix A, kept in one place so that tests and handlers agree.
pub mod msg {
    pub const NOT_FOUND: &str = "Requested url does not match any rules";
    pub const MULTIPLE_RULES: &str = "Expected exactly one rule but found multiple rules";
    pub const UNAUTHORIZED: &str = "Access credentials are invalid";
    pub const FORBIDDEN: &str = "Access credentials are not sufficient to access this resource";
    pub const TOO_MANY_REQUESTS: &str = "Too many requests";
    pub const NO_UPSTREAM: &str =
        "Unable to forward the request because matched rule does not define an upstream URL";
    pub const NO_MUTATORS: &str = "No mutation handler was set in the rule";
    pub const INTERNAL: &str =
        "An internal server error occurred, please contact the system administrator";
    pub const BAD_REQUEST: &str = "The request was malformed or contained invalid parameters";
    pub const SERVICE_UNAVAILABLE: &str = "The upstream service is not available";
}

/// Rate-limit headers copied from an auth backend's 429 answer to the client (SPEC §4.8).
pub const RATE_LIMIT_HEADERS: [&str; 5] = [
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-type",
];

/// A failed request, as the client will see it (modulo the error handler's format). Boxed: it
/// travels through every `Result` of the request path and must stay one pointer wide.
#[derive(Debug, Clone)]
pub struct PipelineError(Box<ErrorParts>);

/// The fields of a [`PipelineError`] (reached through `Deref`).
#[derive(Debug, Clone)]
pub struct ErrorParts {
    pub status: StatusCode,
    /// The verbose `message` (SPEC Appendix A).
    pub message: Cow<'static, str>,
    /// The verbose `reason`; never contains credentials.
    pub reason: Option<String>,
    /// The verbose `details` object (e.g. `jwt_claims`).
    pub details: Option<Map<String, Value>>,
    /// Headers copied to the client whatever the error handler (rate-limit headers).
    pub headers: HeaderMap,
    /// Answered as this JSON error whatever the error handlers (a rule's own `rate_limit`: a
    /// login redirect or a Basic challenge would misstate a 429).
    pub keeps_status: bool,
}

impl std::ops::Deref for PipelineError {
    type Target = ErrorParts;
    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for PipelineError {
    fn deref_mut(&mut self) -> &mut ErrorParts {
        &mut self.0
    }
}

impl PipelineError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(ErrorParts {
            status,
            message: message.into(),
            reason: None,
            details: None,
            headers: HeaderMap::new(),
            keeps_status: false,
        }))
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, msg::NOT_FOUND)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, msg::UNAUTHORIZED)
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, msg::FORBIDDEN)
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg::BAD_REQUEST).with_reason(reason)
    }

    /// 429 carrying the backend's rate-limit headers.
    pub fn too_many_requests(backend_headers: &HeaderMap) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, msg::TOO_MANY_REQUESTS);
        for name in RATE_LIMIT_HEADERS {
            for v in backend_headers.get_all(name) {
                e.headers.append(HeaderName::from_static(name), v.clone());
            }
        }
        e
    }

    /// The error kind used by `when.error` (SPEC §4.7): the status text in snake case.
    pub fn kind(&self) -> String {
        status_kind(self.status)
    }
}

/// `unauthorized`, `forbidden`, `not_found`, `internal_server_error`, `too_many_requests`, ...
pub fn status_kind(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("Internal Server Error")
        .chars()
        .filter(|c| *c != '\'')
        .map(|c| {
            if c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}

/// herodot's generic message for the statuses it knows (SPEC §4.9), used by non-verbose JSON.
pub fn generic_message(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 => msg::BAD_REQUEST,
        401 => "The request could not be authorized",
        403 => "The requested action was forbidden",
        404 => "The requested resource could not be found",
        409 => "The request could not be completed due to a conflict",
        415 => "The request's content type is not supported",
        429 => msg::TOO_MANY_REQUESTS,
        500 => msg::INTERNAL,
        _ => return None,
    })
}

/// The herodot error envelope `{"error":{...}}` with fields in herodot's order.
pub fn error_body(err: &PipelineError, verbose: bool, request_id: Option<&str>) -> Value {
    let status = err.status;
    let mut inner = Map::new();
    inner.insert("code".into(), Value::from(status.as_u16()));
    inner.insert(
        "status".into(),
        Value::from(status.canonical_reason().unwrap_or("")),
    );
    let generic = if verbose {
        None
    } else {
        generic_message(status)
    };
    match generic {
        Some(m) => {
            inner.insert("message".into(), Value::from(m));
        }
        None => {
            if let Some(rid) = request_id.filter(|r| !r.is_empty()) {
                inner.insert("request".into(), Value::from(rid));
            }
            // Not verbose, a status without a generic text (503, 504) keeps its message but
            // not its reason or details: they name internal services (a JWKS URL, a bucket,
            // an IdP's host), which Oathkeeper shows to any client.
            if let Some(r) = err.reason.as_ref().filter(|_| verbose) {
                inner.insert("reason".into(), Value::from(r.as_str()));
            }
            if let Some(d) = err.details.as_ref().filter(|d| verbose && !d.is_empty()) {
                inner.insert("details".into(), Value::Object(d.clone()));
            }
            inner.insert("message".into(), Value::from(err.message.as_ref()));
        }
    }
    let mut outer = Map::new();
    outer.insert("error".into(), Value::Object(inner));
    Value::Object(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC §4.7: kinds are the status text, lower case, spaces to `_`.
    #[test]
    fn kinds() {
        for (s, k) in [
            (401, "unauthorized"),
            (403, "forbidden"),
            (404, "not_found"),
            (500, "internal_server_error"),
            (429, "too_many_requests"),
            (503, "service_unavailable"),
            (400, "bad_request"),
        ] {
            assert_eq!(status_kind(StatusCode::from_u16(s).expect("status")), k);
        }
    }

    // SPEC §4.9 keeps a 503's whole body when not verbose; gatehouse keeps its message and
    // request id but not the reason, which names internal services.
    #[test]
    fn non_verbose_503_hides_its_reason() {
        let e = PipelineError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The upstream service is not available",
        )
        .with_reason("s3://internal-bucket/keys.json: fetch failed");
        let quiet = error_body(&e, false, Some("rid")).to_string();
        assert_eq!(
            quiet,
            r#"{"error":{"code":503,"status":"Service Unavailable","request":"rid","message":"The upstream service is not available"}}"#
        );
        let loud = error_body(&e, true, Some("rid")).to_string();
        assert!(loud.contains("internal-bucket"), "{loud}");
    }

    // SPEC §4.9: non-verbose bodies carry the generic message only.
    #[test]
    fn non_verbose_body() {
        let e = PipelineError::unauthorized().with_reason("secret detail");
        let body = error_body(&e, false, Some("rid"));
        assert_eq!(
            body.to_string(),
            r#"{"error":{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}}"#
        );
    }

    // SPEC §4.9: verbose bodies keep message, reason, details and the request id.
    #[test]
    fn verbose_body() {
        let e = PipelineError::not_found();
        let body = error_body(&e, true, Some("abc"));
        assert_eq!(
            body.to_string(),
            r#"{"error":{"code":404,"status":"Not Found","request":"abc","message":"Requested url does not match any rules"}}"#
        );
    }

    // SPEC §4.9: statuses herodot has no generic text for keep their body in non-verbose mode.
    #[test]
    fn unknown_status_keeps_body() {
        let e = PipelineError::new(StatusCode::SERVICE_UNAVAILABLE, msg::SERVICE_UNAVAILABLE);
        let body = error_body(&e, false, None);
        assert_eq!(body["error"]["message"], msg::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], 503);
    }
}
