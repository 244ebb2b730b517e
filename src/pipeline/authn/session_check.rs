//! The session-store call shared by `cookie_session` and `bearer_token` (SPEC §5.1): build the
//! check request from the original one, read subject and extra from a 200 answer with GJSON
//! paths, map every other answer to a status (DESIGN §3: 5xx, unreachable, timeout -> 503).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::session_cache::{self, Key, Outcome, ResultCache, NEGATIVE_TTL};
use super::AuthnOutcome;
use crate::config::handlers::SessionCache;
use crate::config::types::Uri;
use crate::outbound::{self, CallPolicy, OutboundError};
use crate::pipeline::error::PipelineError;
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, RequestInfo};

/// Subject and extra read from a session-store answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub subject: String,
    pub extra: std::sync::Arc<Map<String, Value>>,
}

/// The config keys both handlers share, taken from their typed configs.
pub struct CheckConfig {
    pub handler: &'static str,
    pub check_session_url: Option<Uri>,
    pub preserve_query: bool,
    pub preserve_path: bool,
    pub preserve_host: bool,
    pub force_method: String,
    /// `forward_http_headers` plus the handler's credential header.
    pub forward_http_headers: Vec<String>,
    pub additional_headers: BTreeMap<String, String>,
    pub subject_from: String,
    pub extra_from: String,
    pub cache: SessionCache,
    pub timeout: Duration,
    /// The whole merged config, serialized: identifies the cache this handler may share.
    pub config_json: String,
}

/// A built session check.
pub struct SessionCheck {
    handler: &'static str,
    url: url::Url,
    preserve_query: bool,
    preserve_path: bool,
    preserve_host: bool,
    force_method: Option<Method>,
    forward: Vec<HeaderName>,
    additional: Vec<(HeaderName, HeaderValue)>,
    subject_from: String,
    extra_from: String,
    policy: CallPolicy,
    cache: Option<(Arc<ResultCache>, Duration, Key)>,
}

// Hand-written: `additional_headers` may carry API keys for the session store.
impl std::fmt::Debug for SessionCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCheck")
            .field("handler", &self.handler)
            .field("url", &self.url.as_str())
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// The request sent to the session store.
struct Call {
    method: Method,
    url: url::Url,
    headers: HeaderMap,
}

impl SessionCheck {
    pub fn new(c: CheckConfig) -> Result<Self, BuildError> {
        crate::pipeline::gjson_path::check(&c.subject_from)
            .map_err(|e| BuildError::new("config.subject_from", e))?;
        crate::pipeline::gjson_path::check(&c.extra_from)
            .map_err(|e| BuildError::new("config.extra_from", e))?;
        let url = c
            .check_session_url
            .ok_or_else(|| BuildError::new("config.check_session_url", "required key is missing"))?
            .url()
            .clone();
        let force_method = match c.force_method.as_str() {
            "" => None,
            m => Some(Method::from_bytes(m.as_bytes()).map_err(|_| {
                BuildError::new("config.force_method", format!("invalid method {m:?}"))
            })?),
        };
        let mut forward: Vec<HeaderName> = Vec::new();
        for (i, name) in c.forward_http_headers.iter().enumerate() {
            let h = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                BuildError::new(
                    format!("config.forward_http_headers[{i}]"),
                    format!("invalid header name {name:?}"),
                )
            })?;
            let key = format!("config.forward_http_headers[{i}]");
            if !forward.contains(&h) && crate::outbound::settable(&h, &key) {
                forward.push(h);
            }
        }
        let mut additional = Vec::new();
        for (name, value) in &c.additional_headers {
            let path = format!("config.additional_headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::new(&path, "invalid header name"))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| BuildError::new(&path, "invalid header value"))?;
            if crate::outbound::settable(&n, &path) {
                additional.push((n, v));
            }
        }
        let cache = c.cache.enabled.then(|| {
            let config_hash: Key = Sha256::new()
                .chain_update(c.handler)
                .chain_update([0])
                .chain_update(&c.config_json)
                .finalize()
                .into();
            let store = ResultCache::shared(config_hash, c.cache.max_entries);
            (store, c.cache.ttl.get(), config_hash)
        });
        Ok(Self {
            handler: c.handler,
            url,
            preserve_query: c.preserve_query,
            preserve_path: c.preserve_path,
            preserve_host: c.preserve_host,
            force_method,
            forward,
            additional,
            subject_from: c.subject_from,
            extra_from: c.extra_from,
            policy: CallPolicy {
                timeout: c.timeout,
                ..CallPolicy::default()
            },
            cache,
        })
    }

    /// Ask the session store about `req`'s credentials and fill `session` on success.
    pub async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        let identity = match &self.cache {
            None => self.check(&self.prepare(req)).await.0?,
            Some((store, ttl, config_hash)) => {
                // A hit reads the key from the request alone; the call is built on a miss.
                let key = self.cache_key(config_hash, req);
                store
                    .get_or_check(key, || async move {
                        self.check_for_cache(&self.prepare(req), *ttl).await
                    })
                    .await?
            }
        };
        session.subject = identity.subject;
        session.extra = identity.extra;
        Ok(AuthnOutcome::Authenticated)
    }

    /// The request to the session store (SPEC §5.1): method, path and query per config, no body,
    /// only the listed headers, then `additional_headers`, then `X-Forwarded-Host`.
    fn prepare(&self, req: &RequestInfo) -> Call {
        let mut url = self.url.clone();
        if !self.preserve_path {
            // The decoded path, re-encoded as it is forwarded (`100%` goes as `100%25`): `Url`
            // takes a `%` as the start of an escape, and the store would read another path.
            url.set_path(&crate::rules::matcher::encode_path(&req.url.path));
        }
        if !self.preserve_query {
            url.set_query((!req.url.raw_query.is_empty()).then_some(req.url.raw_query.as_str()));
        }
        let method = self
            .force_method
            .clone()
            .unwrap_or_else(|| Method::from_bytes(req.method.as_bytes()).unwrap_or(Method::GET));
        let mut headers = HeaderMap::new();
        for name in &self.forward {
            if *name == http::header::COOKIE {
                // HTTP/2 clients split cookies over several fields; HTTP/1.1 wants one.
                let joined = req
                    .headers
                    .get_all(name)
                    .iter()
                    .map(HeaderValue::as_bytes)
                    .collect::<Vec<_>>()
                    .join(&b"; "[..]);
                if let Ok(v) = HeaderValue::from_bytes(&joined) {
                    if !joined.is_empty() {
                        headers.insert(name.clone(), v);
                    }
                }
                continue;
            }
            for v in req.headers.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        for (n, v) in &self.additional {
            headers.insert(n.clone(), v.clone());
        }
        if self.preserve_host {
            if let Ok(v) = HeaderValue::from_str(&req.url.host) {
                headers.insert(HeaderName::from_static("x-forwarded-host"), v);
            }
        }
        Call {
            method,
            url,
            headers,
        }
    }

    /// The cache key of `req`: SHA-256 over the config hash and every part of the request that
    /// [`Self::prepare`] reads under this config (method unless forced, path unless preserved,
    /// query unless preserved, each value of each forwarded header, the host when forwarded),
    /// length-framed. Equal keys mean equal calls to the session store, without building the
    /// call; different requests may send the same call (cookies split over fields) and then
    /// merely miss.
    fn cache_key(&self, config_hash: &Key, req: &RequestInfo) -> Key {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        field(config_hash);
        if self.force_method.is_none() {
            field(req.method.as_bytes());
        }
        if !self.preserve_path {
            field(req.url.path.as_bytes());
        }
        if !self.preserve_query {
            field(req.url.raw_query.as_bytes());
        }
        for name in &self.forward {
            for v in req.headers.get_all(name) {
                field(name.as_str().as_bytes());
                field(v.as_bytes());
            }
        }
        if self.preserve_host {
            field(req.url.host.as_bytes());
        }
        h.finalize().into()
    }

    /// [`Self::check`] with the outcome's cache lifetime decided.
    async fn check_for_cache(&self, call: &Call, ttl: Duration) -> (Outcome, Option<Duration>) {
        let (outcome, meta) = self.check(call).await;
        let keep = match (&outcome, meta) {
            (Ok(_), Some(m)) => session_cache::success_ttl(
                ttl,
                m.active,
                m.expires_at.as_deref(),
                SystemTime::now(),
            ),
            (Err(e), _) if e.status == StatusCode::UNAUTHORIZED => Some(ttl.min(NEGATIVE_TTL)),
            _ => None,
        };
        (outcome, keep)
    }

    /// One call to the session store and the mapping of its answer.
    async fn check(&self, call: &Call) -> (Outcome, Option<SessionMeta>) {
        let started = Instant::now();
        let sent = outbound::send(self.policy, || {
            outbound::client()
                .request(call.method.clone(), call.url.clone())
                .headers(call.headers.clone())
        })
        .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return (Err(self.unavailable(e)), None),
        };
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let e = PipelineError::too_many_requests(resp.headers())
                .with_reason("the session store rate limit was exceeded");
            return (Err(e), None);
        }
        if status.is_server_error() {
            return (Err(self.unavailable(OutboundError::Status(status))), None);
        }
        if status != StatusCode::OK {
            let e = PipelineError::unauthorized()
                .with_reason(format!("the session store answered {status}"));
            return (Err(e), None);
        }
        let left = self.policy.timeout.saturating_sub(started.elapsed());
        let body = match tokio::time::timeout(
            left,
            crate::outbound::read_limited(resp, crate::outbound::MAX_ANSWER),
        )
        .await
        {
            Err(_) => {
                return (
                    Err(self.unavailable(OutboundError::Timeout(self.policy.timeout))),
                    None,
                )
            }
            Ok(Err(e)) => return (Err(self.unavailable(e)), None),
            Ok(Ok(b)) => b,
        };
        match parse(&body, &self.subject_from, &self.extra_from) {
            Ok((identity, meta)) => (Ok(identity), Some(meta)),
            Err(e) => (Err(e), None),
        }
    }

    fn unavailable(&self, e: OutboundError) -> PipelineError {
        e.into_pipeline(&format!("{} session check", self.handler))
    }
}

/// Kratos session fields that decide caching (at the root, or under `session`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionMeta {
    pub active: Option<bool>,
    pub expires_at: Option<String>,
}

/// Read subject and extra from a 200 answer (SPEC §5.1). The subject must be a JSON string or
/// absent/null (`""`), extra an object or absent/null (`{}`); anything else -> 403. An answer
/// that is not JSON at all is also 403 (Oathkeeper would accept it with an empty subject; an
/// identity proxy should not authenticate from garbage).
pub fn parse(
    body: &[u8],
    subject_from: &str,
    extra_from: &str,
) -> Result<(Identity, SessionMeta), PipelineError> {
    let text = std::str::from_utf8(body).ok();
    let root: Value = match text.and_then(|t| serde_json::from_str(t).ok()) {
        Some(v) => v,
        None => {
            return Err(PipelineError::forbidden()
                .with_reason("The session store answered with a body that is not JSON"))
        }
    };
    let text = text.unwrap_or_default();
    let subject = match lookup(text, subject_from, "subject_from")? {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => return Err(gjson_error("subject_from", "string", &other)),
    };
    let extra = match lookup(text, extra_from, "extra_from")? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => return Err(gjson_error("extra_from", "object", &other)),
    };
    let field = |name: &str| {
        root.get(name)
            .or_else(|| root.get("session").and_then(|s| s.get(name)))
    };
    let meta = SessionMeta {
        active: field("active").and_then(Value::as_bool),
        expires_at: field("expires_at")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok((
        Identity {
            subject,
            extra: std::sync::Arc::new(extra),
        },
        meta,
    ))
}

/// The JSON value at a GJSON path; `None` when the path matches nothing.
fn lookup(json: &str, path: &str, key: &str) -> Result<Option<Value>, PipelineError> {
    let v = gjson::get(json, path);
    if !v.exists() {
        return Ok(None);
    }
    // gjson hands back raw JSON; re-parse it so numbers and objects keep serde_json's types.
    serde_json::from_str(v.json()).map(Some).map_err(|_| {
        PipelineError::forbidden().with_reason(format!(
            "The configured {key} GJSON path returned an error on JSON output: not a JSON value"
        ))
    })
}

fn gjson_error(key: &str, want: &str, got: &Value) -> PipelineError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    PipelineError::forbidden().with_reason(format!(
        "The configured {key} GJSON path returned an error on JSON output: expected a {want}, got {kind}"
    ))
}

#[cfg(test)]
mod tests;
