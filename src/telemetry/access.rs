//! Per-request observation: the access log line and the request metrics, for both listeners.
//! Tokens and cookies are never logged (only method, host, path, rule, subject, outcome).

use std::time::Instant;

use http::{HeaderName, HeaderValue, Request, Response};

use crate::rules::Rule;
use crate::server::Body;

/// Header carrying the request id (honoured when the client or gateway sends one).
// A `HeaderName` built at compile time: a `&str` name is parsed and validated on every use.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the pipeline decided, filled in by the handler for the access log and the metrics
/// (a slot the handler writes, not a response extension: that cost a map and two allocations
/// per request).
#[derive(Debug, Clone, Default)]
pub struct Outcome<'a> {
    /// The matched rule.
    pub rule: Option<&'a Rule>,
    pub subject: String,
    pub granted: bool,
    /// The client went away while the request was forwarded (it broke off its body): recorded
    /// as 499 whatever the answer that nobody reads.
    pub abandoned: bool,
}

impl Outcome<'_> {
    /// The matched rule's id, or "" when no rule matched.
    pub fn rule_id(&self) -> &str {
        self.rule.map_or("", |r| r.id.as_str())
    }
}

/// One request being observed. Dropped without `finish` (the client went away), it is
/// recorded as 499.
#[derive(Debug)]
pub struct Observation {
    service: &'static str,
    method: http::Method,
    host: String,
    /// The request target as received (cheap to clone: shared bytes); its path is logged and,
    /// collapsed, a metrics label.
    uri: http::Uri,
    request_id: HeaderValue,
    start: Instant,
    quiet: bool,
    done: bool,
}

impl Observation {
    /// Start observing; a request without `X-Request-Id` gets a generated one (also sent
    /// upstream, so logs on both sides can be joined).
    pub fn begin<B>(service: &'static str, req: &mut Request<B>) -> Self {
        // One lookup (a lookup by name hashes it) for the read and the write.
        let request_id = match req.headers_mut().entry(REQUEST_ID) {
            http::header::Entry::Occupied(e) if !e.get().is_empty() && e.get().len() <= 200 => {
                e.get().clone()
            }
            http::header::Entry::Occupied(mut e) => {
                let v = new_request_id();
                e.insert(v.clone());
                v
            }
            http::header::Entry::Vacant(e) => e.insert(new_request_id()).clone(),
        };
        // The host only appears in the access log: not copied when that is off.
        let host = if tracing::enabled!(target: "gatehouse::access", tracing::Level::INFO) {
            req.headers()
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| req.uri().authority().map(|a| a.to_string()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        // Kubernetes probes and scrapes are not traffic.
        let quiet = req.uri().path().starts_with("/health/");
        Self {
            service,
            method: req.method().clone(),
            host,
            uri: req.uri().clone(),
            request_id,
            start: Instant::now(),
            quiet,
            done: false,
        }
    }

    /// Record the response and what was decided, and hand the response back (with
    /// `X-Request-Id` set).
    pub fn finish(mut self, mut resp: Response<Body>, outcome: &Outcome<'_>) -> Response<Body> {
        self.done = true;
        let status = match outcome.abandoned {
            true => 499,
            false => resp.status().as_u16(),
        };
        self.record(status, outcome);
        if let http::header::Entry::Vacant(e) = resp.headers_mut().entry(REQUEST_ID) {
            e.insert(self.request_id.clone());
        }
        resp
    }

    fn record(&self, status: u16, outcome: &Outcome<'_>) {
        self.record_as(status, outcome.rule_id(), &outcome.subject, outcome.granted);
    }

    fn record_as(&self, status: u16, rule_id: &str, subject: &str, granted: bool) {
        if self.quiet {
            return;
        }
        let took = self.start.elapsed();
        super::metrics::get().observe(
            self.service,
            self.method.as_str(),
            self.uri.path(),
            status,
            rule_id,
            took,
        );
        tracing::info!(
            target: "gatehouse::access",
            service = self.service,
            method = %self.method,
            host = %self.host,
            path = %self.uri.path(),
            rule_id,
            subject = %printable(subject),
            granted,
            status,
            duration_ms = took.as_secs_f64() * 1000.0,
            request_id = self.request_id.to_str().unwrap_or(""),
            "request"
        );
    }
}

/// The decision's debug line, on the proxy and `/decisions` alike, with Oathkeeper's message and
/// field names (SPEC §6.4: "Access request granted" / "Access request denied", `http_method`,
/// `http_url`, `http_host`, `http_user_agent`, `rule_id`, `subject`, `granted`), plus the
/// status and reason of a denial. The URL is written without its query, which may carry a
/// credential (`token_from.query_parameter`).
pub(crate) fn log_decision(
    info: &crate::pipeline::RequestInfo,
    rule_id: &str,
    subject: &str,
    denied: Option<&crate::pipeline::PipelineError>,
) {
    let message = match denied {
        None => "Access request granted",
        Some(_) => "Access request denied",
    };
    // `status` and `reason` are recorded for a denial only (a `None` field is left out).
    tracing::debug!(
        http_method = %info.method,
        http_url = format_args!("{:#}", info.url),
        http_host = %info.url.host,
        // Inside the event: read only when debug lines are written.
        http_user_agent = info
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        rule_id,
        subject = %printable(subject),
        granted = denied.is_none(),
        status = denied.map(|e| e.status.as_u16()),
        reason = denied.map(|e| e.reason.as_deref().unwrap_or("")),
        "{message}"
    );
}

/// A subject (from a token or a session store: client-controlled) as a log field. In the JSON
/// log it is a JSON string as it is. In the text log a subject holding anything but
/// letters, digits and `-_.@:/+` is written quoted and escaped (Rust string syntax), so that
/// neither a line break nor `alice granted=true rule_id="admin"` can forge a line or a field,
/// and invisible or bidirectional characters (U+2028, U+202E) show as escapes.
pub(crate) fn printable(s: &str) -> Printable<'_> {
    Printable(s)
}

pub(crate) struct Printable<'a>(&'a str);

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.@:/+".contains(c);
        if super::json_logs() || self.0.chars().all(plain) {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// A random UUID v4 for a request without an id. Request ids correlate log lines; they are not
/// secrets, so a per-thread generator (seeded from the OS once) is enough — `Uuid::new_v4` asks
/// the kernel (`getrandom(2)`) on every call, a system call per request.
fn new_request_id() -> HeaderValue {
    let bytes = fastrand::u128(..).to_le_bytes();
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The rule ids of a rule set, by index (the snapshot a request's future holds).
pub trait RuleIds {
    fn rule_id(&self, index: usize) -> &str;
}

/// The observation of a request whose rule matched, held by its future with the rule set: if
/// the client goes away before the answer, the 499 is recorded under that rule (metrics
/// `rule` label, access log `rule_id`), not under none.
pub struct Matched<S: RuleIds> {
    pub snapshot: S,
    pub index: usize,
    /// `None` once finished.
    pub observation: Option<Observation>,
}

impl<S: RuleIds> Drop for Matched<S> {
    fn drop(&mut self) {
        if let Some(mut o) = self.observation.take() {
            o.done = true;
            o.record_as(499, self.snapshot.rule_id(self.index), "", false);
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        if !self.done {
            // Client closed the connection before the answer (SPEC §4.1: 499).
            self.record(499, &Outcome::default());
        }
    }
}

#[cfg(test)]
mod tests {
    // A subject cannot start a new line, or add a field, in the text access log.
    #[test]
    fn printable_quotes_all_but_plain_subjects() {
        let p = |s: &str| super::printable(s).to_string();
        assert_eq!(p("alice"), "alice");
        assert_eq!(p("user:42@example.com"), "user:42@example.com");
        assert_eq!(p("ali\u{e7}e"), "\"ali\u{e7}e\"");
        assert_eq!(
            p("alice\r\nstatus=200 subject=admin\t"),
            "\"alice\\r\\nstatus=200 subject=admin\\t\""
        );
        assert_eq!(
            p("mallory granted=true rule_id=\"admin\""),
            "\"mallory granted=true rule_id=\\\"admin\\\"\""
        );
        assert_eq!(p("a\u{202e}b"), "\"a\\u{202e}b\"");
    }
}
