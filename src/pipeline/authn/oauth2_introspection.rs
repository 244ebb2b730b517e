//! `oauth2_introspection` (SPEC §5.1): an opaque token is sent to an RFC 7662 introspection
//! endpoint; the answer is checked (token use, active, expiry, audience, issuer, scopes) and
//! becomes the subject and `Extra`.
//!
//! Cache (`cache.enabled`, DESIGN §4): the raw introspection result is kept under a hash of the
//! token, the endpoint and every config value that can change the decision, in the shared cache
//! of [`super::oauth2`]. The checks re-run on every hit, so expiry is enforced whatever the TTL.
//! TTL = min(`cache.ttl`, time left until `exp`); inactive or rejected results only live a few
//! seconds; failed calls are never stored; concurrent misses share one call. A result without
//! `exp` under a config without `cache.ttl` is kept until evicted, as in Oathkeeper. Unlike
//! Oathkeeper, strategy `none` with `required_scope` is cached too: the scopes sent to the
//! server are part of the key.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::config::handlers::authn::{IntrospectionConfig, PreAuthorization};
use crate::config::handlers::{ScopeStrategy, TokenFrom};
use crate::config::types::Secret;
use crate::outbound::{self, CallPolicy, OutboundError};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, RequestInfo};

use super::oauth2::{self, Expiring, Key, TokenSource, TtlCache};
use super::{scope, token, AuthnOutcome};

#[path = "oauth2_introspection_result.rs"]
mod result;
use result::Introspected;

/// How long an inactive or rejected result may be reused: long enough to absorb a burst of
/// retries, short enough that a token activated a moment later is seen.
const NEGATIVE_TTL: Duration = Duration::from_secs(2);

pub struct OAuth2Introspection {
    url: url::Url,
    token_from: Option<TokenFrom>,
    prefix: String,
    strategy: ScopeStrategy,
    required_scope: Vec<String>,
    /// `scope` form parameter: the server checks scopes when the strategy is `none`.
    scope_param: Option<String>,
    target_audience: Vec<String>,
    trusted_issuers: Vec<String>,
    preserve_host: bool,
    /// `introspection_request_headers` then `Content-Type`, validated at load.
    headers: HeaderMap,
    policy: CallPolicy,
    /// `pre_authorization`: the bearer the introspection call is authorized with.
    pre_auth: Option<TokenSource>,
    cache: Option<ResultCache>,
}

// Hand-written: configured headers and the pre-authorization secret must not be printed.
impl std::fmt::Debug for OAuth2Introspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Introspection")
            .field("url", &self.url.as_str())
            .field("pre_authorization", &self.pre_auth.is_some())
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

struct ResultCache {
    entries: Arc<TtlCache<Arc<Introspected>>>,
    ttl: Option<Duration>,
    /// Hash of the endpoint and the checks' config, part of every key.
    config_key: Key,
}

impl OAuth2Introspection {
    pub fn new(c: IntrospectionConfig) -> Result<Self, BuildError> {
        let missing =
            |key: &str| BuildError::new(format!("config.{key}"), "required key is missing");
        let url = c
            .introspection_url
            .as_ref()
            .ok_or_else(|| missing("introspection_url"))?
            .url()
            .clone();
        let mut headers = HeaderMap::new();
        for (name, value) in &c.introspection_request_headers {
            let path = format!("config.introspection_request_headers.{name}");
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| BuildError::new(&path, "invalid header name"))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| BuildError::new(&path, "invalid header value"))?;
            if crate::outbound::settable(&n, &path) {
                headers.insert(n, v);
            }
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let pre_auth = match &c.pre_authorization {
            PreAuthorization {
                enabled: true,
                client_id: Some(id),
                client_secret: Some(secret),
                token_url: Some(token_url),
                audience,
                scope,
            } => Some(TokenSource::new(
                token_url.url().clone(),
                id.clone(),
                secret.clone(),
                scope.clone(),
                audience.clone(),
            )),
            PreAuthorization { enabled: true, .. } => {
                return Err(missing("pre_authorization.client_id"))
            }
            _ => None,
        };
        // Oathkeeper sends `scope` with strategy `none` even when no scope is required (empty).
        let scope_param =
            (c.scope_strategy == ScopeStrategy::None).then(|| c.required_scope.join(" "));
        let cache = c.cache.enabled.then(|| ResultCache {
            // `max_cost` is the bytes the cached answers may take (about): as a count of
            // entries its default (10^8) bounded nothing.
            entries: oauth2::shared_cache(
                "oauth2_introspection",
                c.cache.max_cost,
                Some(|e: &Expiring<Arc<Introspected>>| {
                    let r = &e.value;
                    let strings = r.sub.len()
                        + r.username.len()
                        + r.iss.len()
                        + r.client_id.len()
                        + r.scope.len()
                        + r.token_use.len()
                        + r.aud.iter().map(String::len).sum::<usize>();
                    u32::try_from(256 + strings + crate::pipeline::json_len(&r.ext))
                        .unwrap_or(u32::MAX)
                }),
            ),
            ttl: c.cache.ttl.map(|d| d.get()),
            config_key: config_key(&c),
        });
        Ok(Self {
            url,
            policy: CallPolicy::from_legacy(
                c.timeout.get(),
                c.retry.give_up_after.if_written().map(|d| d.get()),
                c.retry.max_delay.get(),
            ),
            token_from: c.token_from,
            prefix: c.prefix,
            strategy: c.scope_strategy,
            required_scope: c.required_scope,
            scope_param,
            target_audience: c.target_audience,
            trusted_issuers: c.trusted_issuers,
            preserve_host: c.preserve_host,
            headers,
            pre_auth,
            cache,
        })
    }

    pub(super) async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        self.authenticate_at(req, session, SystemTime::now()).await
    }

    async fn authenticate_at(
        &self,
        req: &RequestInfo,
        session: &mut Session,
        now: SystemTime,
    ) -> Result<AuthnOutcome, PipelineError> {
        let Some(token) = token::extract(req, self.token_from.as_ref()) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        if !token.starts_with(&self.prefix) {
            return Ok(AuthnOutcome::NotResponsible);
        }
        let result = match &self.cache {
            None => self.introspect(&token, req).await?,
            Some(cache) => {
                let init = async {
                    let r = self.introspect(&token, req).await?;
                    let ttl = self.ttl(&r, cache.ttl, now);
                    Ok(Expiring { value: r, ttl })
                };
                cache
                    .entries
                    .try_get_with(self.cache_key(cache, &token, req), init)
                    .await
                    .map_err(|e: Arc<PipelineError>| (*e).clone())?
                    .value
            }
        };
        self.check(&result, now)?;
        session.subject.clone_from(&result.sub);
        session.extra = Arc::new(result.extra());
        Ok(AuthnOutcome::Authenticated)
    }

    fn cache_key(&self, cache: &ResultCache, token: &str, req: &RequestInfo) -> Key {
        // With preserve_host the endpoint sees the client's Host, which may change its answer.
        let host = if self.preserve_host {
            req.url.host.as_bytes()
        } else {
            b""
        };
        oauth2::key([token.as_bytes(), cache.config_key.as_slice(), host])
    }

    /// How long `r` may be reused (see the module docs).
    fn ttl(
        &self,
        r: &Introspected,
        configured: Option<Duration>,
        now: SystemTime,
    ) -> Option<Duration> {
        let until_exp = (r.exp > 0).then(|| {
            UNIX_EPOCH
                .checked_add(Duration::from_secs(r.exp.unsigned_abs()))
                .and_then(|exp| exp.duration_since(now).ok())
                .unwrap_or(Duration::ZERO)
        });
        let mut ttl = match (configured, until_exp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.check(r, now).is_err() {
            ttl = Some(ttl.map_or(NEGATIVE_TTL, |t| t.min(NEGATIVE_TTL)));
        }
        ttl
    }

    /// SPEC §5.1 checks, in SPEC order.
    fn check(&self, r: &Introspected, now: SystemTime) -> Result<(), PipelineError> {
        if !r.token_use.is_empty() && r.token_use != "access_token" {
            return Err(PipelineError::forbidden().with_reason(format!(
                "Use of introspected token is not an access token but \"{}\"",
                r.token_use
            )));
        }
        if !r.active {
            return Err(PipelineError::unauthorized().with_reason("Access token is not active"));
        }
        // Go's `time.Unix(exp, 0).Before(now)`: expired from the first instant after `exp`
        // (an `exp` of the current second is already past 0.3 s into it).
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        if r.exp > 0 && Duration::from_secs(r.exp.unsigned_abs()) < since_epoch {
            return Err(PipelineError::unauthorized().with_reason("Access token expired"));
        }
        for audience in &self.target_audience {
            if !r.aud.contains(audience) {
                return Err(PipelineError::forbidden().with_reason(format!(
                    "Token audience is not intended for target audience {audience}"
                )));
            }
        }
        if !self.trusted_issuers.is_empty() && !self.trusted_issuers.contains(&r.iss) {
            return Err(PipelineError::forbidden()
                .with_reason("Token issuer does not match any trusted issuer"));
        }
        if self.strategy != ScopeStrategy::None {
            let granted: Vec<String> = r.scope.split(' ').map(str::to_string).collect();
            for s in &self.required_scope {
                if !scope::satisfies(self.strategy, &granted, s) {
                    return Err(PipelineError::forbidden()
                        .with_reason(format!("Scope {s} was not granted")));
                }
            }
        }
        Ok(())
    }

    /// The RFC 7662 call. Retried by `outbound::send` on connection errors and 502–504:
    /// introspection is a POST but has no side effect.
    async fn introspect(
        &self,
        token: &str,
        req: &RequestInfo,
    ) -> Result<Arc<Introspected>, PipelineError> {
        let body = {
            // Scoped: the serializer is not `Send` and must not live across an await.
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token);
            if let Some(s) = &self.scope_param {
                form.append_pair("scope", s);
            }
            form.finish()
        };
        let mut headers = self.headers.clone();
        if self.preserve_host {
            if let Ok(v) = HeaderValue::from_str(&req.url.host) {
                headers.insert("x-forwarded-host", v);
            }
        }
        if let Some(p) = &self.pre_auth {
            let bearer = p.token(self.policy).await?;
            let v = HeaderValue::from_str(&format!("Bearer {bearer}")).map_err(|_| {
                PipelineError::internal(msg::INTERNAL)
                    .with_reason("pre-authorization token is not a valid header value")
            })?;
            headers.insert(http::header::AUTHORIZATION, v);
        }
        let resp = outbound::send(self.policy, || {
            outbound::client()
                .post(self.url.clone())
                .headers(headers.clone())
                .body(body.clone())
        })
        .await
        .map_err(|e| e.into_pipeline("introspection"))?;
        let status = resp.status();
        match status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(PipelineError::too_many_requests(resp.headers()))
            }
            // DESIGN §3 deviation: Oathkeeper answers 500 for a failing introspection endpoint;
            // gatehouse answers 503 so an IdP outage is a retryable outage, still closed.
            s if s.is_server_error() => {
                return Err(OutboundError::Status(s).into_pipeline("introspection"))
            }
            s => {
                if matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    // Our bearer was refused: fetch a fresh one next time.
                    if let Some(p) = &self.pre_auth {
                        p.forget().await;
                    }
                }
                return Err(PipelineError::internal(msg::INTERNAL)
                    .with_reason(format!("introspection endpoint answered {s}")));
            }
        }
        let bytes = crate::outbound::read_limited(resp, crate::outbound::MAX_ANSWER)
            .await
            .map_err(|e| e.into_pipeline("introspection"))?;
        serde_json::from_slice::<Introspected>(&bytes)
            .map(Arc::new)
            .map_err(|e| {
                PipelineError::internal(msg::INTERNAL)
                    .with_reason(format!("introspection response is not valid: {e}"))
            })
    }
}

/// Hash of everything besides the token that can change the decision for a token: the
/// endpoint, its request headers, the checks and the pre-authorization client. Secrets only
/// ever enter the hash.
fn config_key(c: &IntrospectionConfig) -> Key {
    let p = &c.pre_authorization;
    let parts = serde_json::json!([
        c.introspection_url.as_ref().map(|u| u.as_str()),
        c.introspection_request_headers,
        c.scope_strategy,
        c.required_scope,
        c.target_audience,
        c.trusted_issuers,
        c.prefix,
        c.preserve_host,
        // Entries keep the TTL of the rule that stored them: rules with other TTLs do not
        // share them (a revoked token stayed valid for a rule whose TTL had passed).
        c.cache.ttl.map(|d| d.get().as_nanos().to_string()),
        [
            serde_json::json!(p.enabled),
            serde_json::json!(p.client_id),
            serde_json::json!(p.client_secret.as_ref().map(Secret::expose)),
            serde_json::json!(p.token_url.as_ref().map(|u| u.as_str())),
            serde_json::json!(p.audience),
            serde_json::json!(p.scope),
        ],
    ]);
    oauth2::key([parts.to_string().as_bytes()])
}

#[cfg(test)]
#[path = "oauth2_introspection_tests.rs"]
mod tests;
