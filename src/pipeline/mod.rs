//! The request pipeline (SPEC §4): authenticators -> authorizer -> mutators, and the error
//! handlers that render a failure. Handlers are built once per rule set (`build`) from the
//! merged global + rule config; a request only runs them.
//!
//! # Layout
//! - `session` — the authentication session and match context templates see.
//! - `error` — the one error type and the JSON error envelope.
//! - `authn/`, `authz/`, `mutate/`, `errors/` — one file per handler, one closed enum per stage.
//! - `template/` — Go text/template-compatible templates.

pub mod authn;
pub mod authz;
pub mod error;
pub mod errors;
pub mod gjson_path;
pub mod mutate;
pub mod rate_limit;
pub mod session;
pub mod template;

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

pub use error::PipelineError;
use session::{MatchContext, RequestUrl, Session};

use crate::rules::Rule;

/// Hash state of the in-memory caches whose keys are SHA-256 digests (token, session and
/// introspection caches): the key is already uniformly distributed and cannot be steered, so a
/// seeded fast hash replaces SipHash (four SipHash rounds over 32 bytes per lookup).
pub type DigestKeyed = foldhash::fast::RandomState;

/// The weight in a cache of an entry holding about `bytes`: one per started 4 KiB. A cache of
/// `n` entries holds `n` ordinary answers (sessions, hydrated identities: a few KB each), and
/// never much more than `n` x 4 KiB, however large the answers an auth service (or a client,
/// through what it sends) makes them: 10,000 answers of 900 KB held 9 GB.
pub(crate) fn cache_units(bytes: usize) -> u32 {
    u32::try_from(1 + bytes / 4096).unwrap_or(u32::MAX)
}

/// About how many bytes a JSON object takes in memory (its encoded length).
pub(crate) fn json_len(m: &serde_json::Map<String, serde_json::Value>) -> usize {
    serde_json::to_vec(m).map_or(0, |v| v.len())
}

/// `s` without an allocation when it is a standard method or `http`/`https` (exact spelling):
/// the method and scheme of nearly every request.
pub fn known(s: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 11] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE", "http",
        "https",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_owned()),
    }
}

/// What the pipeline knows about the request being decided.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// Effective method (for `/decisions`: after `X-Forwarded-Method`), upper case as sent.
    pub method: Cow<'static, str>,
    /// Scheme, host, normalized path and raw query: what is matched and what is forwarded.
    pub url: RequestUrl,
    /// The incoming request headers.
    pub headers: HeaderMap,
    /// The TCP peer.
    pub remote_addr: Option<IpAddr>,
    /// Whether `X-Forwarded-*` headers on this request may be believed (trusted peer).
    pub forwarded_trusted: bool,
    /// The request target the client asked for (raw path and query, as sent; for `/decisions`
    /// the gateway's `X-Forwarded-Uri`). Used to rebuild the URL for `return_to`.
    pub original_uri: String,
    /// The request body, buffered only when the matched rule has a handler that reads it
    /// (`Rule::needs_body`); `None` otherwise.
    pub body: Option<Bytes>,
}

impl RequestInfo {
    /// The string rules are matched against: `scheme://host/path` (SPEC §3.4).
    pub fn match_string(&self) -> String {
        let (scheme, host, path) = (&self.url.scheme, &self.url.host, &self.url.path);
        // Pushed, not `format!`ed: this runs on every request, and the formatting machinery
        // cost ten times the copies.
        let mut s = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
        s.push_str(scheme);
        s.push_str("://");
        s.push_str(host);
        s.push_str(path);
        s
    }

    /// The absolute URL the client was trying to reach (redirect `return_to`, SPEC §4.9). A
    /// trusted `X-Forwarded-Host` / `-Uri` names it, as in Oathkeeper's redirect handler, also on
    /// the proxy port, where neither changes what is matched (on `/decisions` they already
    /// are the matched host and the original URI).
    pub fn original_url(&self) -> String {
        let forwarded = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| self.forwarded_trusted && !v.is_empty())
        };
        let host = forwarded("x-forwarded-host")
            .filter(|h| crate::proxy::headers::valid_host(h))
            .unwrap_or(&self.url.host);
        let uri = forwarded("x-forwarded-uri")
            .filter(|u| !u.starts_with('?'))
            .unwrap_or(&self.original_uri);
        if host.is_empty() {
            // No usable host (a request refused for its `Host`): the path alone, not `http:///x`.
            return uri.to_string();
        }
        format!("{}://{host}{uri}", self.url.scheme)
    }

    /// `X-Request-Id` sent by the client or a gateway, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get(&crate::telemetry::access::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
    }

    /// A new session for a matched rule (SPEC §4.2). Without `captures` (no handler of the rule
    /// reads `MatchContext`), the match context stays empty and the request's URL and headers
    /// are not copied.
    pub fn new_session(&self, captures: Option<Vec<String>>) -> Session {
        let Some(captures) = captures else {
            return Session::default();
        };
        // Go keeps `Host` out of `Request.Header` (it is `Request.Host`): templates and the
        // hydrator's `match_context.header` never see it there.
        let mut header = self.headers.clone();
        header.remove(http::header::HOST);
        Session {
            match_context: MatchContext {
                regexp_capture_groups: captures,
                url: self.url.clone(),
                method: self.method.to_string(),
                header,
            },
            ..Session::default()
        }
    }
}

/// An HTTP answer produced by the pipeline (error handlers) independent of the server types.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a handler could not be built from a rule: a key path relative to the handler entry
/// (`handler`, `config.headers.X-User`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    pub path: String,
    pub message: String,
}

impl BuildError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// `handler: unknown handler "jwtt", expected one of ...`
    pub fn unknown(kind: &str, name: &str, allowed: &[&str]) -> Self {
        Self::new(
            "handler",
            format!(
                "unknown {kind} \"{name}\", expected one of: {}",
                allowed.join(", ")
            ),
        )
    }

    /// The handler exists in Oathkeeper but this build cannot run it yet: refuse rather than
    /// pass silently.
    pub fn unsupported(kind: &str, name: &str) -> Self {
        Self::new(
            "handler",
            format!("{kind} \"{name}\" is not supported by this build of gatehouse"),
        )
    }

    pub fn disabled(kind: &str, name: &str, section: &str) -> Self {
        Self::new(
            "handler",
            format!("{kind} \"{name}\" is disabled per configuration (set {section}.{name}.enabled: true)"),
        )
    }

    /// A config error from merging/decoding a handler config, path already relative to `config`.
    pub fn config(err: impl std::fmt::Display) -> Self {
        Self::new("config", err.to_string())
    }
}

/// How to treat a rule that names a disabled handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledHandlers {
    /// Reject the rule (start-up, rule-file reload, `rules validate`).
    Reject,
    /// Keep the rule; requests using the handler fail with 500 as in Oathkeeper (after a config
    /// reload disabled a handler that loaded rules use; SPEC §7, Appendix B case 24).
    FailAtRequest,
    /// Keep the rule, but build a disabled handler from the rule's own config to report its
    /// template errors (`rules validate` without `-c`: whether a handler is enabled, and its
    /// global config, are unknown; a template in a rule is checkable all the same).
    CheckTemplates,
}

/// A handler name checked against the known names and the config's `enabled` flags.
pub(crate) enum Resolved {
    /// Known and enabled: build it.
    Enabled(&'static str),
    /// Known, disabled, and the caller keeps the rule (`DisabledHandlers::FailAtRequest`).
    Disabled(&'static str),
    /// Known, disabled: build it only for its template errors
    /// (`DisabledHandlers::CheckTemplates`); see [`Resolved::build`].
    Probe(&'static str),
}

impl Resolved {
    /// The handler this names: `enabled` builds an enabled one, `disabled` stands for a disabled
    /// one. Under [`Resolved::Probe`] it is built for its template errors only; any other error
    /// may be a global key the config would have supplied, and the handler stays disabled.
    pub(crate) fn build<T>(
        self,
        enabled: impl FnOnce(&'static str) -> Result<T, BuildError>,
        disabled: impl FnOnce(&'static str) -> T,
    ) -> Result<T, BuildError> {
        match self {
            Resolved::Enabled(n) => enabled(n),
            Resolved::Disabled(n) => Ok(disabled(n)),
            Resolved::Probe(n) => match enabled(n) {
                Err(e) if e.message.starts_with("invalid template") => Err(e),
                _ => Ok(disabled(n)),
            },
        }
    }
}

/// Resolve `name` for a stage: `kind` names it in messages (`authenticator`), `section` is its
/// config section (`authenticators`, `errors.handlers`). Unknown -> error listing `names`;
/// disabled -> error or [`Resolved::Disabled`] per `mode`.
pub(crate) fn resolve(
    kind: &str,
    section: &str,
    name: &str,
    names: &[&'static str],
    config: &crate::config::Config,
    mode: DisabledHandlers,
) -> Result<Resolved, BuildError> {
    let Some(&known) = names.iter().find(|n| **n == name) else {
        return Err(BuildError::unknown(kind, name, names));
    };
    let config_kind = section.strip_suffix(".handlers").unwrap_or(section);
    if config.handler_enabled(config_kind, known) == Some(true) {
        return Ok(Resolved::Enabled(known));
    }
    match mode {
        DisabledHandlers::Reject => Err(BuildError::disabled(kind, name, section)),
        DisabledHandlers::FailAtRequest => Ok(Resolved::Disabled(known)),
        DisabledHandlers::CheckTemplates => Ok(Resolved::Probe(known)),
    }
}

/// Run a matched rule's handlers (SPEC §4.3–4.5). On success the session carries the subject,
/// extra and the headers to set.
pub async fn run(
    rule: &Rule,
    req: &RequestInfo,
    session: &mut Session,
) -> Result<(), PipelineError> {
    run_observed(rule, req, session, |_, _, _| {}).await
}

/// A pipeline stage, as [`run_observed`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Authenticator,
    /// A rule's `rate_limit` (gatehouse extension), between authenticators and authorizer.
    RateLimit,
    Authorizer,
    Mutator,
}

/// [`run`], telling `seen` what each handler decided, in order: its stage, its name and its
/// result (`Ok("authenticated" | "not responsible" | "allowed" | "done")` or the error that
/// stopped the pipeline). `rules test --explain` prints these; [`run`] passes a closure that does
/// nothing, which compiles away.
pub async fn run_observed(
    rule: &Rule,
    req: &RequestInfo,
    session: &mut Session,
    mut seen: impl FnMut(Stage, &'static str, Result<&'static str, &PipelineError>),
) -> Result<(), PipelineError> {
    // The chain (SPEC §4.3): the first success wins; "not responsible" tries the next; any
    // other failure stops; nobody responsible -> 401.
    let mut authenticated = false;
    for a in &rule.authenticators {
        match a.authenticate(req, session).await {
            Ok(authn::AuthnOutcome::Authenticated) => {
                seen(Stage::Authenticator, a.name(), Ok("authenticated"));
                authenticated = true;
                break;
            }
            Ok(authn::AuthnOutcome::NotResponsible) => {
                seen(Stage::Authenticator, a.name(), Ok("not responsible"));
            }
            Err(e) => {
                seen(Stage::Authenticator, a.name(), Err(&e));
                return Err(e);
            }
        }
    }
    if !authenticated {
        return Err(PipelineError::unauthorized());
    }
    if let Some(limit) = &rule.rate_limit {
        if let Err(e) = limit.check(req, &session.subject) {
            seen(Stage::RateLimit, "rate_limit", Err(&e));
            return Err(e);
        }
        seen(Stage::RateLimit, "rate_limit", Ok("within the limit"));
    }
    let authz = &rule.authorizer;
    if let Err(e) = authz.authorize(req, session).await {
        seen(Stage::Authorizer, authz.name(), Err(&e));
        return Err(e);
    }
    seen(Stage::Authorizer, authz.name(), Ok("allowed"));
    if rule.mutators.is_empty() {
        return Err(PipelineError::internal(error::msg::NO_MUTATORS));
    }
    for m in &rule.mutators {
        if let Err(e) = m.mutate(req, session).await {
            seen(Stage::Mutator, m.name(), Err(&e));
            return Err(e);
        }
        seen(Stage::Mutator, m.name(), Ok("done"));
    }
    Ok(())
}

/// The 500 a handler disabled after load produces (SPEC §2.7).
pub(crate) fn disabled_error(kind: &str, name: &str) -> PipelineError {
    let title = {
        let mut c = kind.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    PipelineError::internal(format!(
        "{kind} matching this route is misconfigured or disabled"
    ))
    .with_reason(format!("{title} \"{name}\" is disabled per configuration."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_and_schemes_are_borrowed_anything_else_kept_as_sent() {
        for s in ["GET", "DELETE", "http", "https"] {
            assert!(matches!(known(s), Cow::Borrowed(b) if b == s), "{s}");
        }
        for s in ["get", "PROPFIND", "HTTPS", "ws", ""] {
            assert!(matches!(known(s), Cow::Owned(ref o) if o == s), "{s}");
        }
    }
}
