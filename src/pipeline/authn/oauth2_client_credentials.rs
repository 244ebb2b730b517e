//! `oauth2_client_credentials` (SPEC §5.1): HTTP Basic credentials are a client id and secret;
//! the client is authenticated when `token_url` grants it a token (client-credentials grant).
//! Subject = client id. Status mapping of the token endpoint: SPEC §5.1 and Appendix A.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::StatusCode;

use crate::config::handlers::authn::ClientCredentialsConfig;
use crate::outbound::CallPolicy;
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, RequestInfo};

use super::oauth2::{self, Expiring, Grant, GrantError, TtlCache};
use super::AuthnOutcome;

/// Messages of SPEC Appendix A for the token endpoint's answers.
const UPSTREAM_ERROR: &str = "The upstream service encountered an unexpected error";
const UPSTREAM_TIMEOUT: &str = "The upstream service is timing out";
const UPSTREAM_NOT_FOUND: &str = "Upstream service not found";

#[derive(Debug)]
pub struct OAuth2ClientCredentials {
    token_url: url::Url,
    scope: Vec<String>,
    policy: CallPolicy,
    cache: Option<GrantCache>,
}

/// Successful grants by hash of (client id, secret, token URL, scopes). Only the fact that the
/// grant succeeded is kept: the token itself is never used again.
struct GrantCache {
    entries: Arc<TtlCache<()>>,
    ttl: Option<Duration>,
}

impl std::fmt::Debug for GrantCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantCache")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl OAuth2ClientCredentials {
    pub fn new(c: ClientCredentialsConfig) -> Result<Self, BuildError> {
        let token_url = c
            .token_url
            .ok_or_else(|| BuildError::new("config.token_url", "required key is missing"))?
            .url()
            .clone();
        let cache = c.cache.enabled.then(|| GrantCache {
            entries: oauth2::shared_cache("oauth2_client_credentials", c.cache.max_tokens, None),
            ttl: c.cache.ttl.map(|d| d.get()),
        });
        Ok(Self {
            token_url,
            scope: c.required_scope,
            policy: CallPolicy::from_legacy(
                c.timeout.get(),
                c.retry.give_up_after.if_written().map(|d| d.get()),
                c.retry.max_delay.get(),
            ),
            cache,
        })
    }

    pub(super) async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        let Some((raw_id, raw_secret)) = basic_auth(&req.headers) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        let (Some(id), Some(secret)) = (query_unescape(&raw_id), query_unescape(&raw_secret))
        else {
            return Err(PipelineError::unauthorized()
                .with_reason("client id or secret is not correctly URL-encoded"));
        };
        let grant = Grant {
            token_url: &self.token_url,
            client_id: &id,
            client_secret: &secret,
            scope: &self.scope,
            audience: None,
        };
        match &self.cache {
            None => self.grant(&grant).await.map(|_| ())?,
            Some(cache) => {
                let scope = self.scope.join(" ");
                // The TTL is part of the key: an entry keeps the TTL of the rule that stored it.
                let ttl = cache.ttl.map_or(u128::MAX, |t| t.as_nanos()).to_be_bytes();
                let k = oauth2::key([
                    id.as_bytes(),
                    secret.as_bytes(),
                    self.token_url.as_str().as_bytes(),
                    scope.as_bytes(),
                    ttl.as_slice(),
                ]);
                cache
                    .entries
                    .try_get_with(k, async {
                        let expires_in = self.grant(&grant).await?;
                        // Without an expiry or a configured TTL there is no safe lifetime.
                        let ttl = match (cache.ttl, expires_in) {
                            (Some(t), Some(e)) => t.min(e),
                            (t, e) => t.or(e).unwrap_or(Duration::ZERO),
                        };
                        Ok(Expiring {
                            value: (),
                            ttl: Some(ttl),
                        })
                    })
                    .await
                    .map_err(|e: Arc<PipelineError>| (*e).clone())?;
            }
        }
        session.subject = id;
        Ok(AuthnOutcome::Authenticated)
    }

    /// One grant; `Ok` carries the token's lifetime.
    async fn grant(&self, g: &Grant<'_>) -> Result<Option<Duration>, PipelineError> {
        let granted = oauth2::client_credentials(self.policy, g)
            .await
            .map_err(map_error)?;
        if granted.access_token.is_empty() {
            return Err(PipelineError::unauthorized().with_reason("Access token is empty"));
        }
        Ok(granted.expires_in)
    }
}

/// SPEC §5.1: 429 -> 429 (+ rate-limit headers); 503, 500, 504, 404 keep their status; other
/// HTTP errors -> 401; no answer -> 503. Messages are `<error text>: <Appendix A message>`.
fn map_error(e: GrantError) -> PipelineError {
    let text = e.text();
    let (status, message) = match &e {
        GrantError::Status(StatusCode::TOO_MANY_REQUESTS, headers) => {
            return PipelineError::too_many_requests(headers)
        }
        GrantError::Status(s, _) => match s.as_u16() {
            503 => (*s, msg::SERVICE_UNAVAILABLE),
            500 => (*s, UPSTREAM_ERROR),
            504 => (*s, UPSTREAM_TIMEOUT),
            404 => (*s, UPSTREAM_NOT_FOUND),
            _ => (StatusCode::UNAUTHORIZED, msg::UNAUTHORIZED),
        },
        GrantError::Outbound(_) | GrantError::Invalid(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, msg::SERVICE_UNAVAILABLE)
        }
    };
    PipelineError::new(status, format!("{text}: {message}"))
}

/// HTTP Basic credentials as Go's `Request.BasicAuth` reads them: scheme `Basic` in any case,
/// standard base64, split at the first `:`.
fn basic_auth(headers: &http::HeaderMap) -> Option<(String, String)> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Go's `url.QueryUnescape`; `None` on a malformed escape or a result that is not UTF-8.
fn query_unescape(s: &str) -> Option<String> {
    String::from_utf8(crate::pipeline::session::query_unescape(s)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape() {
        assert_eq!(query_unescape("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(query_unescape("plain").as_deref(), Some("plain"));
        assert_eq!(query_unescape("bad%2"), None);
        assert_eq!(query_unescape("bad%zz"), None);
    }

    #[test]
    fn basic() {
        let mut h = http::HeaderMap::new();
        let enc = base64::engine::general_purpose::STANDARD.encode("id:se:cret");
        h.insert(
            http::header::AUTHORIZATION,
            format!("bAsIc {enc}").parse().expect("value"),
        );
        assert_eq!(
            basic_auth(&h),
            Some(("id".to_string(), "se:cret".to_string()))
        );
        h.insert(
            http::header::AUTHORIZATION,
            "Bearer abc".parse().expect("value"),
        );
        assert_eq!(basic_auth(&h), None);
    }

    // SPEC §5.1 / Appendix A: token endpoint status mapping.
    #[test]
    fn status_mapping() {
        let cases = [
            (503, 503, msg::SERVICE_UNAVAILABLE),
            (500, 500, UPSTREAM_ERROR),
            (504, 504, UPSTREAM_TIMEOUT),
            (404, 404, UPSTREAM_NOT_FOUND),
            (401, 401, msg::UNAUTHORIZED),
            (400, 401, msg::UNAUTHORIZED),
            (502, 401, msg::UNAUTHORIZED),
            (429, 429, msg::TOO_MANY_REQUESTS),
        ];
        for (from, to, message) in cases {
            let s = StatusCode::from_u16(from).expect("status");
            let e = map_error(GrantError::Status(s, http::HeaderMap::new()));
            assert_eq!(e.status.as_u16(), to, "{from}");
            assert!(e.message.ends_with(message), "{from}: {}", e.message);
        }
        let e = map_error(GrantError::Outbound(
            crate::outbound::OutboundError::Timeout(Duration::from_secs(1)),
        ));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
