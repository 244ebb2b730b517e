//! `gatehouse rules test` (DESIGN §4): requests written down with the answer they must get, run
//! through the rule set of a config exactly as `/decisions` would decide them (matching, every
//! handler with its real outbound calls, error handlers), without listening on a port. With
//! `--explain`, or when a case fails, each case prints the rule that matched and what each
//! handler decided.
//!
//! A case file is a YAML or JSON array:
//!
//! ```yaml
//! - name: guests read public pages
//!   request:
//!     method: GET                                  # default GET
//!     url: http://api.example.com/public/hello     # scheme, host and path are matched
//!     headers: { Authorization: Bearer abc }       # a list gives several values
//!     body: "..."                                  # for handlers that read it (`remote`)
//!     remote_addr: 10.1.2.3                        # the client address (default 127.0.0.1)
//!   expect:
//!     status: 200
//!     rule: public                                 # the id of the rule that must match
//!     headers: { X-User: guest, X-Admin: null }    # exact values; null: must be absent
//!     body_contains: "..."
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;

use crate::app::Snapshot;
use crate::pipeline::session::RequestUrl;
use crate::pipeline::{self, PipelineError, RequestInfo, Stage};
use crate::rules::matcher::normalize_path;

/// One test case as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default)]
    pub name: String,
    pub request: CaseRequest,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub remote_addr: Option<IpAddr>,
}

fn get() -> String {
    "GET".into()
}

/// A header value (a string, number or boolean), or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(Scalar),
    Many(Vec<Scalar>),
}

/// A YAML/JSON scalar taken as its text (`X-Count: 5` means "5").
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub rule: Option<String>,
    /// Header name -> exact value, or `null` for "absent".
    #[serde(default)]
    pub headers: BTreeMap<String, Option<Scalar>>,
    #[serde(default)]
    pub body_contains: Option<String>,
}

impl Expect {
    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.rule.is_none()
            && self.headers.is_empty()
            && self.body_contains.is_none()
    }
}

/// Read a case file: every case, or every shape error (`file: case #i (name): path: message`).
pub fn read(path: &Path) -> Result<Vec<Case>, Vec<String>> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| vec![format!("{origin}: cannot read: {e}")])?;
    let doc = crate::format::parse_json_or_yaml(&bytes)
        .map_err(|e| vec![format!("{origin}: cannot decode: {e}")])?;
    let serde_json::Value::Array(items) = doc else {
        return Err(vec![format!("{origin}: expected an array of cases")]);
    };
    let mut cases = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    if items.is_empty() {
        return Err(vec![format!("{origin}: no cases")]);
    }
    for (i, item) in items.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, Case>(item) {
            Ok(c) if c.expect.is_empty() => {
                let name = item.get("name").and_then(|n| n.as_str()).unwrap_or("");
                errors.push(format!(
                    "{origin}: case #{} ({name}): expect: nothing to check (status, rule, headers or body_contains)",
                    i + 1
                ));
            }
            Ok(c) => cases.push(c),
            Err(e) => {
                let name = item.get("name").and_then(|n| n.as_str()).unwrap_or("");
                let at = e.path().to_string();
                let at = if at == "." {
                    String::new()
                } else {
                    format!("{at}: ")
                };
                errors.push(format!(
                    "{origin}: case #{} ({name}): {at}{}",
                    i + 1,
                    e.into_inner()
                ));
            }
        }
    }
    match errors.is_empty() {
        true => Ok(cases),
        false => Err(errors),
    }
}

/// What a case got.
#[derive(Debug)]
pub struct Outcome {
    /// The matched rule's id and origin; `None` when no rule (or several) matched.
    pub rule: Option<(String, String)>,
    /// One line per handler that ran: `authenticator jwt: not responsible`.
    pub steps: Vec<String>,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Decide `case.request` with `snapshot`, as `/decisions` would for a gateway that forwarded it.
pub async fn decide(snapshot: &Snapshot, req: &CaseRequest) -> Result<Outcome, String> {
    let (mut info, refused) = request_info(snapshot, req)?;
    let method = http::Method::from_bytes(req.method.as_bytes()).unwrap_or_default();
    let mut out = Outcome {
        rule: None,
        steps: Vec::new(),
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    };
    let found = match refused {
        Some(e) => Err(e),
        None => snapshot.rules.find(&info),
    };
    let reply = match found {
        Err(e) => {
            out.steps.push(format!("match: {}", describe(&e)));
            snapshot.fallback_reply(&[], &e, &info)
        }
        Ok((index, captures)) => {
            let rule = &snapshot.rules.rules()[index];
            out.rule = Some((rule.id.clone(), rule.origin.clone()));
            if rule.needs_body {
                info.body = Some(Bytes::from(req.body.clone().unwrap_or_default()));
            }
            let mut session = info.new_session(captures);
            let steps = &mut out.steps;
            let mut reported = false;
            let ran = pipeline::run_observed(rule, &info, &mut session, |stage, name, r| {
                reported |= r.is_err();
                let stage = match stage {
                    Stage::Authenticator => "authenticator ",
                    Stage::RateLimit => "",
                    Stage::Authorizer => "authorizer ",
                    Stage::Mutator => "mutator ",
                };
                let what = match r {
                    Ok(what) => what.to_string(),
                    Err(e) => describe(e),
                };
                steps.push(format!("{stage}{name}: {what}"));
            })
            .await;
            match ran {
                Ok(()) => {
                    let protected = crate::proxy::headers::protected(
                        &rule.mutator_headers,
                        &session.set_headers,
                    );
                    let headers = std::mem::take(&mut session.header);
                    if !session.subject.is_empty() {
                        out.steps.push(format!("subject: {:?}", session.subject));
                    }
                    crate::pipeline::Reply {
                        status: StatusCode::OK,
                        headers: crate::decisions::answer_headers(headers, &protected),
                        body: Bytes::new(),
                    }
                }
                Err(e) => {
                    // Failures of the chain as a whole (nobody responsible, no mutators).
                    if !reported {
                        out.steps.push(format!("result: {}", describe(&e)));
                    }
                    snapshot.fallback_reply(&rule.errors, &e, &info)
                }
            }
        }
    };
    out.status = reply.status;
    out.headers = reply.headers;
    out.body = reply.body;
    // The API port's CORS headers, as on every `/decisions` answer.
    snapshot
        .cors_api
        .apply(&method, &info.headers, &mut out.headers);
    Ok(out)
}

fn describe(e: &PipelineError) -> String {
    let mut s = format!("{} {}", e.status.as_u16(), e.message);
    if let Some(r) = &e.reason {
        let _ = write!(s, " ({r})");
    }
    s
}

/// The request as `/decisions` rebuilds it from a gateway at `remote_addr` (default 127.0.0.1):
/// the URL's scheme, canonical host (with its port, as a `Host` header carries it) and cleaned
/// path; the given headers, forwarded ones only when `serve.api.trusted_proxies` trusts that
/// address. `Err` is a case that cannot be a request (a harness error); a request `/decisions`
/// would refuse (an unclean path, user info in the host) comes with its 400.
fn request_info(
    snapshot: &Snapshot,
    req: &CaseRequest,
) -> Result<(RequestInfo, Option<PipelineError>), String> {
    let uri: http::Uri = req
        .url
        .parse()
        .map_err(|e| format!("request.url `{}`: {e}", req.url))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!(
            "request.url `{}`: an absolute URL is needed (scheme://host/path)",
            req.url
        ));
    };
    let method = http::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("request.method `{}` is not an HTTP method", req.method))?;
    let mut headers = HeaderMap::new();
    for (name, values) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("request.headers: `{name}` is not a header name"))?;
        let values = match values {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v.as_slice(),
        };
        for v in values.iter().map(Scalar::text) {
            let v = HeaderValue::from_str(&v)
                .map_err(|_| format!("request.headers.{name}: `{v}` is not a header value"))?;
            headers.append(name.clone(), v);
        }
    }
    let remote_addr = req.remote_addr.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let trusted = snapshot.api_peer_trusted(remote_addr);
    if !trusted {
        crate::decisions::strip_forwarded(&mut headers);
    }
    crate::proxy::headers::join_cookies(&mut headers);
    if !headers.contains_key(http::header::HOST) {
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("request.url: bad host `{authority}`"))?;
        headers.insert(http::header::HOST, host);
    }
    let mut refused = None;
    if authority.as_str().contains('@') {
        refused = Some(PipelineError::bad_request("malformed Host header"));
    }
    let path = match normalize_path(uri.path()) {
        Ok(_) if crate::rules::matcher::ambiguous_path(uri.path()) => {
            refused.get_or_insert(PipelineError::bad_request(crate::decisions::AMBIGUOUS_PATH));
            String::new()
        }
        Ok(p) => p,
        Err(e) => {
            refused.get_or_insert(PipelineError::bad_request(e.to_string()));
            String::new()
        }
    };
    let original_uri = match uri.query() {
        Some("") | None => uri.path().to_string(),
        Some(_) => uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string()),
    };
    let info = RequestInfo {
        method: pipeline::known(method.as_str()),
        url: RequestUrl {
            scheme: Cow::Owned(scheme.to_string()),
            host: crate::rules::matcher::canonical_host(authority.as_str()),
            path,
            raw_query: uri.query().unwrap_or("").to_string(),
        },
        headers,
        remote_addr: Some(remote_addr),
        forwarded_trusted: trusted,
        original_uri,
        body: None,
    };
    Ok((info, refused))
}

/// How `got` differs from `want`: one line per broken expectation, none when it passed.
pub fn check(want: &Expect, got: &Outcome) -> Vec<String> {
    let mut broken = Vec::new();
    if let Some(status) = want.status {
        if got.status.as_u16() != status {
            broken.push(format!(
                "expected status {status}, got {}",
                got.status.as_u16()
            ));
        }
    }
    if let Some(rule) = &want.rule {
        let matched = got.rule.as_ref().map(|(id, _)| id.as_str());
        if matched != Some(rule.as_str()) {
            broken.push(format!(
                "expected rule \"{rule}\", got {}",
                matched.map_or("none".to_string(), |m| format!("\"{m}\""))
            ));
        }
    }
    for (name, value) in &want.headers {
        let actual = got
            .headers
            .get(name.as_str())
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        let value = value.as_ref().map(Scalar::text);
        match (value, actual) {
            (None, Some(a)) => broken.push(format!("expected no {name} header, got \"{a}\"")),
            (Some(v), None) => broken.push(format!("expected {name}: \"{v}\", got none")),
            (Some(v), Some(a)) if v != a => {
                broken.push(format!("expected {name}: \"{v}\", got \"{a}\""))
            }
            _ => {}
        }
    }
    if let Some(part) = &want.body_contains {
        if !String::from_utf8_lossy(&got.body).contains(part.as_str()) {
            broken.push(format!("expected the body to contain \"{part}\""));
        }
    }
    broken
}

/// The explanation of one case: request, rule, handler steps, answer.
pub fn explain(req: &CaseRequest, got: &Outcome) -> Vec<String> {
    let mut lines = vec![format!("request: {} {}", req.method, req.url)];
    match &got.rule {
        Some((id, origin)) => lines.push(format!("rule: {id} ({origin})")),
        None => lines.push("rule: none".into()),
    }
    lines.extend(got.steps.iter().cloned());
    let mut answer = format!("answer: {}", got.status.as_u16());
    for (name, value) in &got.headers {
        let _ = write!(
            answer,
            "; {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    lines.push(answer);
    if !got.body.is_empty() {
        let body = String::from_utf8_lossy(&got.body);
        let cut: String = body.chars().take(300).collect();
        let more = if cut.len() < body.len() { "..." } else { "" };
        lines.push(format!("body: {}{more}", cut.trim_end()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(yaml: &str) -> Case {
        let v = crate::format::parse_json_or_yaml(yaml.as_bytes()).expect("yaml");
        serde_json::from_value(v).expect("case")
    }

    fn snapshot(trusted: &str) -> Snapshot {
        let env = [("SERVE_API_TRUSTED_PROXIES".to_string(), trusted.to_string())];
        let config =
            crate::config::load_with_env(&[], env.into_iter().filter(|_| !trusted.is_empty()))
                .expect("config");
        Snapshot::from_documents(
            std::sync::Arc::new(config),
            &[],
            crate::pipeline::DisabledHandlers::Reject,
        )
        .expect("snapshot")
    }

    // What `/decisions` rebuilds (SPEC §6.2, DESIGN §2): canonical host, decoded path, forwarded
    // headers only from a trusted gateway address; what it refuses (user info, a NUL, dot or
    // empty segments) comes with its 400.
    #[test]
    fn request_info_is_what_decisions_rebuilds() {
        let all = snapshot("");
        let c = case("request: { url: 'http://API.example.com.:8080/b/%7Ex/?q=1', headers: { X-A: [one, 2], X-Forwarded-For: 198.51.100.1 } }\nexpect: { status: 200 }");
        let (info, refused) = request_info(&all, &c.request).expect("info");
        assert!(refused.is_none());
        assert_eq!(info.method, "GET");
        assert_eq!(info.match_string(), "http://api.example.com:8080/b/~x");
        assert_eq!(info.url.raw_query, "q=1");
        let values: Vec<_> = info.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["one", "2"]);
        assert_eq!(info.headers["host"], "API.example.com.:8080");
        assert!(info.forwarded_trusted && info.headers.contains_key("x-forwarded-for"));
        // A gateway outside `trusted_proxies`: its forwarded headers are dropped.
        let some = snapshot("10.0.0.0/8");
        let (info, _) = request_info(&some, &c.request).expect("info");
        assert!(!info.forwarded_trusted && !info.headers.contains_key("x-forwarded-for"));
        for refused in [
            "request: { url: 'http://user@h/' }",
            "request: { url: 'http://h/a%00b' }",
            "request: { url: 'http://h/a/../b' }",
            "request: { url: 'http://h/a//b' }",
            "request: { url: 'http://h/a/%2e/b' }",
        ] {
            let (_, e) = request_info(&all, &case(refused).request).expect("a request");
            assert_eq!(e.expect(refused).status, 400);
        }
        for bad in [
            "request: { url: '/relative' }",
            "request: { url: 'http://h/', method: 'G T' }",
            "request: { url: 'http://h/', headers: { 'X A': v } }",
        ] {
            assert!(request_info(&all, &case(bad).request).is_err(), "{bad}");
        }
    }

    #[test]
    fn check_reports_every_broken_expectation() {
        let mut headers = HeaderMap::new();
        headers.insert("x-user", HeaderValue::from_static("guest"));
        headers.insert("x-admin", HeaderValue::from_static("yes"));
        let got = Outcome {
            rule: Some(("public".into(), "rules/a.yaml".into())),
            steps: Vec::new(),
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"{}"),
        };
        let ok = case("request: { url: 'http://h/' }\nexpect: { status: 200, rule: public, headers: { X-User: guest, X-None: null } }");
        assert!(check(&ok.expect, &got).is_empty());
        let bad = case("request: { url: 'http://h/' }\nexpect: { status: 401, rule: other, headers: { X-User: alice, X-Admin: null, X-Missing: v }, body_contains: nope }");
        assert_eq!(
            check(&bad.expect, &got),
            vec![
                "expected status 401, got 200",
                "expected rule \"other\", got \"public\"",
                "expected no X-Admin header, got \"yes\"",
                "expected X-Missing: \"v\", got none",
                "expected X-User: \"alice\", got \"guest\"",
                "expected the body to contain \"nope\"",
            ]
        );
    }
}
