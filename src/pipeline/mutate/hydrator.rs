//! `hydrator` mutator (SPEC §5.3): POST the session to an external API and continue with the
//! session it answers (same subject required).
//!
//! - Request: `api.url` with its query replaced by the original request's query (Go
//!   `Query().Encode()`: sorted by key), the session as JSON ([`hydrator_json`]), every original
//!   request header except hop-by-hop ones, `Host` (the hydrator's own host is sent, as Go's
//!   client does), `Content-Length`/`Content-Type` (this body is a different one) and
//!   `Accept-Encoding` (the answer must stay plain JSON); `Authorization: Basic` from
//!   `api.auth.basic` replaces the client's.
//! - Deadline and retries: `crate::outbound` with the legacy `api.retry` mapped.
//! - Answers: 200 -> decoded session; 401 -> 500 (Oathkeeper's credential messages); 429 -> 429
//!   with the rate-limit headers; 5xx, unreachable, timeout -> 503 (DESIGN §3 deviation:
//!   Oathkeeper answers 500, but an outage of the hydrator is an outage); anything else -> 500.
//! - Cache ([`key`]): see the doc comment there for why the forwarded headers are not part of it.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, StatusCode};
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::hydrator_json::{self, WireSession};
use crate::config::handlers::mutate::HydratorConfig;
use crate::outbound::{self, CallPolicy, OutboundError};
use crate::pipeline::error::PipelineError;
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, DigestKeyed, RequestInfo};
use crate::registry::WeakRegistry;

pub const INVALID_JSON: &str = "The call to an external API returned an invalid JSON object";
pub const NON_200: &str = "The call to an external API returned a non-200 HTTP response";
pub const INVALID_CREDENTIALS: &str = "Invalid credentials were provided in mutator configuration";
pub const NO_CREDENTIALS: &str = "No credentials were provided in mutator configuration";

/// Entries per cache; sessions are small, and an evicted entry only costs one call.
const MAX_ENTRIES: u64 = 10_000;

/// Request headers never forwarded to the hydrator (see the module doc).
const NOT_FORWARDED: [&str; 13] = [
    "host",
    "content-length",
    "content-type",
    "accept-encoding",
    "expect",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

type Key = [u8; 32];

pub struct HydratorMutator {
    url: url::Url,
    /// `Basic <base64>`, marked sensitive.
    basic: Option<HeaderValue>,
    policy: CallPolicy,
    cache: Option<Arc<HydrateCache>>,
    key_headers: Vec<HeaderName>,
}

// Hand-written: `basic` holds the API password.
impl std::fmt::Debug for HydratorMutator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HydratorMutator")
            .field("url", &self.url.as_str())
            .field("basic_auth", &self.basic.is_some())
            .field("policy", &self.policy)
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

/// What a successful call produced.
#[derive(Debug)]
struct Hydrated {
    session: Session,
    /// The answer's `match_context.header` is the one sent: on a cache hit the current
    /// request's headers are put back (they are not part of the key).
    echoed_request_headers: bool,
}

impl HydratorMutator {
    pub fn new(config: HydratorConfig) -> Result<Self, BuildError> {
        let url = config
            .api
            .url
            .as_ref()
            .map(|u| u.url().clone())
            .ok_or_else(|| BuildError::new("config.api.url", "required key is missing"))?;
        let basic = match &config.api.auth.basic {
            None => None,
            Some(b) => {
                let raw = format!("{}:{}", b.username, b.password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut v = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| BuildError::new("config.api.auth.basic", "invalid credentials"))?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let key_headers = config
            .cache
            .key_headers
            .iter()
            .map(|n| {
                HeaderName::from_bytes(n.as_bytes()).map_err(|_| {
                    BuildError::new("config.cache.key_headers", format!("invalid header `{n}`"))
                })
            })
            .collect::<Result<_, _>>()?;
        let cache = config.cache.enabled.then(|| {
            let ttl = match config.cache.ttl.get() {
                d if d.is_zero() => Duration::from_secs(60),
                d => d,
            };
            let config_hash: Key =
                Sha256::digest(serde_json::to_vec(&config).unwrap_or_default()).into();
            HydrateCache::shared(config_hash, ttl)
        });
        Ok(Self {
            url,
            basic,
            policy: CallPolicy::from_legacy(
                config.timeout.get(),
                config.api.retry.give_up_after.if_written().map(|d| d.get()),
                config.api.retry.max_delay.get(),
            ),
            cache,
            key_headers,
        })
    }

    pub(super) async fn mutate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<(), PipelineError> {
        let url = self.target(req);
        let hydrated = match &self.cache {
            None => self.call(&url, req, session).await?,
            Some(cache) => {
                let key = self.key(&url, req, session);
                cache
                    .entries
                    .try_get_with(key, self.call(&url, req, session))
                    .await
                    .map_err(|e| (*e).clone())?
            }
        };
        let mut next = hydrated.session.clone();
        if hydrated.echoed_request_headers {
            next.match_context.header = std::mem::take(&mut session.match_context.header);
        }
        // The headers the answer added or changed are this handler's: protected like a header
        // mutator's (their client-sent variants never reach the upstream).
        next.set_headers = std::mem::take(&mut session.set_headers);
        for name in next.header.keys() {
            let changed = !next
                .header
                .get_all(name)
                .iter()
                .eq(session.header.get_all(name).iter());
            if changed && !next.set_headers.contains(name) {
                next.set_headers.push(name.clone());
            }
        }
        *session = next;
        Ok(())
    }

    /// `api.url` with the original request's query (Go `url.Values.Encode`: sorted by key).
    fn target(&self, req: &RequestInfo) -> url::Url {
        let mut pairs = req.url.query_pairs();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut url = self.url.clone();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url
    }

    fn headers(&self, req: &RequestInfo) -> HeaderMap {
        let named_in_connection: Vec<String> = req
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        let mut out = HeaderMap::with_capacity(req.headers.len() + 2);
        for (name, value) in &req.headers {
            let n = name.as_str();
            if NOT_FORWARDED.contains(&n) || named_in_connection.iter().any(|c| c == n) {
                continue;
            }
            if self.basic.is_some() && name == header::AUTHORIZATION {
                continue;
            }
            out.append(name.clone(), value.clone());
        }
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(b) = &self.basic {
            out.insert(header::AUTHORIZATION, b.clone());
        }
        out
    }

    /// The cache key: SHA-256, length-framed, over everything the answer may depend on except
    /// the forwarded request headers — the target URL (with the request's query), subject,
    /// extra, the headers earlier mutators set, and the match context's URL, method and
    /// capture groups — plus the values of `cache.key_headers`. The cache itself is per handler
    /// config (URL, credentials, TTL...).
    ///
    /// Oathkeeper keys on the whole serialized session, every request header included, so
    /// browser traffic almost never hits (SPEC §9 item 18). Leaving the headers out is safe for
    /// the usual hydrator, which enriches an identity: the identity is the subject an
    /// authenticator verified from those very headers, and it is in the key. A hydrator that
    /// answers differently per header (tenant, locale, or credentials it checks itself behind
    /// `noop`/`anonymous`) must list those headers in `cache.key_headers`.
    fn key(&self, url: &url::Url, req: &RequestInfo, s: &Session) -> Key {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        field(url.as_str().as_bytes());
        field(s.subject.as_bytes());
        field(
            serde_json::Value::Object((*s.extra).clone())
                .to_string()
                .as_bytes(),
        );
        let mut names: Vec<&HeaderName> = s.header.keys().collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        for n in names {
            field(n.as_str().as_bytes());
            for v in s.header.get_all(n) {
                field(v.as_bytes());
            }
        }
        let mc = &s.match_context;
        field(mc.url.to_string().as_bytes());
        field(mc.method.as_bytes());
        field(&(mc.regexp_capture_groups.len() as u64).to_be_bytes());
        for g in &mc.regexp_capture_groups {
            field(g.as_bytes());
        }
        for n in &self.key_headers {
            field(n.as_str().as_bytes());
            for v in req.headers.get_all(n) {
                field(v.as_bytes());
            }
        }
        h.finalize().into()
    }

    /// One call to the hydrator and the mapping of its answer.
    async fn call(
        &self,
        url: &url::Url,
        req: &RequestInfo,
        session: &Session,
    ) -> Result<Arc<Hydrated>, PipelineError> {
        let started = Instant::now();
        let body = hydrator_json::to_json(session).to_string();
        let headers = self.headers(req);
        let resp = outbound::send(self.policy, || {
            outbound::client()
                .post(url.clone())
                .headers(headers.clone())
                .body(body.clone())
        })
        .await
        .map_err(unavailable)?;
        let status = resp.status();
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                let m = if self.basic.is_some() {
                    INVALID_CREDENTIALS
                } else {
                    NO_CREDENTIALS
                };
                return Err(PipelineError::internal(m).with_reason("the hydrator answered 401"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(PipelineError::too_many_requests(resp.headers())
                    .with_reason("the hydrator rate limit was exceeded"))
            }
            s if s.is_server_error() => return Err(unavailable(OutboundError::Status(s))),
            s => {
                return Err(PipelineError::internal(NON_200)
                    .with_reason(format!("the hydrator answered {s}")))
            }
        }
        let left = self.policy.timeout.saturating_sub(started.elapsed());
        let bytes = match tokio::time::timeout(
            left,
            crate::outbound::read_limited(resp, crate::outbound::MAX_ANSWER),
        )
        .await
        {
            Err(_) => return Err(unavailable(OutboundError::Timeout(self.policy.timeout))),
            Ok(r) => r.map_err(unavailable)?,
        };
        let invalid = |why: String| PipelineError::internal(INVALID_JSON).with_reason(why);
        let wire: WireSession = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("the hydrator answer is not a session: {e}")))?;
        let next = wire.into_session().map_err(invalid)?;
        if next.subject != session.subject {
            return Err(invalid(
                "the hydrator answered a session with another subject".into(),
            ));
        }
        let echoed_request_headers = next.match_context.header == session.match_context.header;
        Ok(Arc::new(Hydrated {
            session: next,
            echoed_request_headers,
        }))
    }
}

fn unavailable(e: OutboundError) -> PipelineError {
    e.into_pipeline("hydrator")
}

/// Successful answers of one handler config; errors are never cached. Concurrent misses on
/// one key make one call (moka `try_get_with`).
struct HydrateCache {
    entries: Cache<Key, Arc<Hydrated>, DigestKeyed>,
}

impl HydrateCache {
    /// The cache shared by every rule whose hydrator config hashes to `config_hash`, kept across
    /// rule reloads while some rule uses it (as the session-check cache does).
    fn shared(config_hash: Key, ttl: Duration) -> Arc<Self> {
        static REGISTRY: LazyLock<WeakRegistry<Key, HydrateCache>> =
            LazyLock::new(Default::default);
        REGISTRY.get_or_insert(&config_hash, || Self {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .weigher(|_, h: &Arc<Hydrated>| {
                    let s = &h.session;
                    let headers: usize = s
                        .header
                        .iter()
                        .map(|(k, v)| k.as_str().len() + v.len())
                        .sum();
                    crate::pipeline::cache_units(
                        s.subject.len() + crate::pipeline::json_len(&s.extra) + headers,
                    )
                })
                .time_to_live(ttl)
                .build_with_hasher(DigestKeyed::default()),
        })
    }
}

#[cfg(test)]
#[path = "hydrator_tests.rs"]
mod tests;
