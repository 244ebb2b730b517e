//! Error handlers (SPEC §4.7–4.9): which handler renders a failed request (`when` clauses on the
//! rule's `errors`, then the global `errors.fallback` list) and how (`json`, `redirect`,
//! `www_authenticate`).

mod json;
mod redirect;
mod when;
mod www_authenticate;

pub use json::Json;
pub use redirect::Redirect;
pub use when::When;
pub use www_authenticate::WwwAuthenticate;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::Value;

use super::error::{error_body, msg, PipelineError};
use super::{resolve, BuildError, DisabledHandlers, Reply, RequestInfo, Resolved};
use crate::config::Config;

pub const NAMES: &[&str] = &["json", "redirect", "www_authenticate"];

#[derive(Debug)]
pub enum ErrorHandler {
    Json(Json),
    Redirect(Redirect),
    WwwAuthenticate(WwwAuthenticate),
    /// A rule-level handler disabled by a config reload after the rule loaded.
    Disabled(&'static str),
}

/// A handler plus the conditions under which it is responsible.
#[derive(Debug)]
pub struct ErrorHandlerEntry {
    pub handler: ErrorHandler,
    pub when: When,
}

/// One entry of `errors.fallback`, resolved against the global config.
#[derive(Debug)]
pub enum Fallback {
    Ready(ErrorHandlerEntry),
    /// Unknown or disabled: selecting it is a 500 (SPEC §4.7 step 2).
    Unavailable(String),
}

impl ErrorHandlerEntry {
    /// Build a rule-level entry: the rule's config merged over the global one (SPEC §2.7).
    pub fn build(
        name: &str,
        rule_config: Option<&Value>,
        config: &Config,
        disabled: DisabledHandlers,
    ) -> Result<Self, BuildError> {
        // A disabled handler's config is never validated (Oathkeeper; a disabled fallback
        // without `redirect.to` must load and answer 500, Appendix B case 8).
        let static_name = match resolve(
            "error handler",
            "errors.handlers",
            name,
            NAMES,
            config,
            disabled,
        )? {
            Resolved::Enabled(n) => n,
            // No error handler config holds a template.
            Resolved::Disabled(n) | Resolved::Probe(n) => {
                return Ok(Self {
                    handler: ErrorHandler::Disabled(n),
                    when: disabled_when(n, rule_config, config),
                })
            }
        };
        let h = &config.errors.handlers;
        let (handler, when) = match static_name {
            "json" => {
                let c = h.json.merged(rule_config).map_err(BuildError::config)?;
                (ErrorHandler::Json(Json::new(&c)), When::build(&c.when)?)
            }
            "redirect" => {
                let c = h.redirect.merged(rule_config).map_err(BuildError::config)?;
                (
                    ErrorHandler::Redirect(Redirect::new(&c)?),
                    When::build(&c.when)?,
                )
            }
            _ => {
                let c = h
                    .www_authenticate
                    .merged(rule_config)
                    .map_err(BuildError::config)?;
                (
                    ErrorHandler::WwwAuthenticate(WwwAuthenticate::new(&c)),
                    When::build(&c.when)?,
                )
            }
        };
        Ok(Self { handler, when })
    }
}

/// The `when` of a rule-level handler disabled after the rule loaded: its own clauses when its
/// config still merges, else always responsible (either way selecting it answers 500).
fn disabled_when(name: &str, rule_config: Option<&Value>, config: &Config) -> When {
    let h = &config.errors.handlers;
    let clauses = match name {
        "json" => h.json.merged(rule_config).map(|c| c.when).ok(),
        "redirect" => h.redirect.merged(rule_config).map(|c| c.when).ok(),
        _ => h.www_authenticate.merged(rule_config).map(|c| c.when).ok(),
    };
    clauses
        .and_then(|c| When::build(&c).ok())
        .unwrap_or_default()
}

/// Resolve `errors.fallback` against the global handler configs.
pub fn build_fallback(config: &Config) -> Result<Vec<Fallback>, String> {
    let mut out = Vec::new();
    for name in &config.errors.fallback {
        match ErrorHandlerEntry::build(name, None, config, DisabledHandlers::Reject) {
            Ok(entry) => out.push(Fallback::Ready(entry)),
            Err(e) if e.path == "handler" => out.push(Fallback::Unavailable(name.clone())),
            Err(e) => return Err(format!("errors.handlers.{name}.{}: {}", e.path, e.message)),
        }
    }
    Ok(out)
}

/// Choose and run the error handler for `err` (SPEC §4.7).
pub fn handle(
    rule_entries: &[ErrorHandlerEntry],
    fallback: &[Fallback],
    err: &PipelineError,
    req: &RequestInfo,
) -> Reply {
    if err.keeps_status {
        return json_reply(err, false, req.request_id());
    }
    let kind = err.kind();
    let mut responsible = rule_entries.iter().filter(|e| e.when.matches(&kind, req));
    if let Some(first) = responsible.next() {
        if responsible.next().is_some() {
            return selection_failure(
                "Found more than one error handlers to be responsible for this request. This indicates a misconfiguration of the error handlers of the matched rule.",
                req,
            );
        }
        return first.handler.render(err, req);
    }
    for f in fallback {
        match f {
            Fallback::Unavailable(name) => {
                return selection_failure(
                    &format!("Fallback error handler \"{name}\" was requested but is disabled or unknown. Please enable it or remove it from errors.fallback."),
                    req,
                );
            }
            Fallback::Ready(entry) if entry.when.matches(&kind, req) => {
                return entry.handler.render(err, req);
            }
            Fallback::Ready(_) => {}
        }
    }
    selection_failure(
        "Unable to handle HTTP request because no matching error handling strategy was found. This indicates a misconfiguration of the error handlers.",
        req,
    )
}

impl ErrorHandler {
    pub fn render(&self, err: &PipelineError, req: &RequestInfo) -> Reply {
        match self {
            Self::Json(j) => j.render(err, req),
            Self::Redirect(r) => r.render(err, req),
            Self::WwwAuthenticate(w) => w.render(),
            Self::Disabled(name) => selection_failure(
                &format!("Error handler \"{name}\" is disabled per configuration."),
                req,
            ),
        }
    }
}

/// Errors while selecting an error handler are verbose JSON 500s (SPEC §4.9).
fn selection_failure(reason: &str, req: &RequestInfo) -> Reply {
    let e =
        PipelineError::new(StatusCode::INTERNAL_SERVER_ERROR, msg::INTERNAL).with_reason(reason);
    json_reply(&e, true, req.request_id())
}

/// A JSON error reply: the herodot envelope plus the error's own headers (rate limits).
pub fn json_reply(err: &PipelineError, verbose: bool, request_id: Option<&str>) -> Reply {
    let body = error_body(err, verbose, request_id);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // herodot's error id header, which Oathkeeper leaves empty (SPEC §4.9).
    headers.insert(
        HeaderName::from_static("ory-error-id"),
        HeaderValue::from_static(""),
    );
    for (k, v) in err.headers.iter() {
        headers.append(k.clone(), v.clone());
    }
    Reply {
        status: err.status,
        headers,
        body: Bytes::from(body.to_string()),
    }
}
