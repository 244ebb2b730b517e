//! `GET /rules` and `GET /rules/{id}` (SPEC §6.2).

use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::app::Snapshot;
use crate::pipeline::error::{error_body, PipelineError};
use crate::rules::spec::RuleSpec;
use crate::server::{self, Body};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

pub(super) fn list(snapshot: &Snapshot, query: Option<&str>) -> Response<Body> {
    let mut limit = DEFAULT_LIMIT;
    let mut offset = 0usize;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let n: Option<i64> = v.parse().ok();
        match (k.as_ref(), n) {
            ("limit", Some(n)) => limit = usize::try_from(n.max(0)).unwrap_or(0).min(MAX_LIMIT),
            ("offset", Some(n)) => offset = usize::try_from(n.max(0)).unwrap_or(0),
            _ => {}
        }
    }
    let items: Vec<Value> = snapshot
        .rules
        .rules()
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| rule_json(&r.spec))
        .collect();
    server::json(StatusCode::OK, &Value::Array(items))
}

pub(super) fn get(snapshot: &Snapshot, id: &str) -> Response<Body> {
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    match snapshot.rules.get(&id) {
        Some(r) => server::json(StatusCode::OK, &rule_json(&r.spec)),
        None => server::json_error(
            StatusCode::NOT_FOUND,
            &error_body(
                &PipelineError::new(
                    StatusCode::NOT_FOUND,
                    "The requested resource could not be found",
                ),
                false,
                None,
            ),
        ),
    }
}

/// A rule in Oathkeeper's JSON shape: absent configs are `null`, `upstream` always present.
pub fn rule_json(spec: &RuleSpec) -> Value {
    let handler =
        |h: &crate::rules::spec::HandlerRef| json!({"handler": h.handler, "config": h.config});
    let upstream = spec.upstream.clone().unwrap_or_default();
    let mut m = json!({
        "methods": spec.match_.as_ref().map(|m| m.methods.clone()).unwrap_or_default(),
        "url": spec.match_.as_ref().map(|m| m.url.clone()).unwrap_or_default(),
    });
    if let Some(h) = spec.match_.as_ref().and_then(|m| m.headers.clone()) {
        m["headers"] = json!(h);
    }
    let mut v = json!({
        "id": spec.id,
        "version": spec.version.clone().unwrap_or_default(),
        "description": spec.description.clone().unwrap_or_default(),
        "match": m,
        "authenticators": spec.authenticators.iter().map(handler).collect::<Vec<_>>(),
        "authorizer": spec.authorizer.as_ref().map(handler),
        "mutators": spec.mutators.iter().map(handler).collect::<Vec<_>>(),
        "errors": spec.errors.as_ref().map(|e| e.iter().map(handler).collect::<Vec<_>>()),
        "upstream": {"preserve_host": upstream.preserve_host, "strip_path": upstream.strip_path, "url": upstream.url},
    });
    if let Some(p) = spec.priority {
        v["priority"] = json!(p);
    }
    if let Some(r) = &spec.rate_limit {
        v["rate_limit"] = json!(r);
    }
    v
}
