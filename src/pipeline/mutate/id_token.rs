//! `id_token` (SPEC §5.3, §5.5): mints a signed JWT for the upstream and sets
//! `Authorization: Bearer <jwt>`.
//!
//! Claims: the `claims` template (compiled at load) rendered to a JSON object, then `exp`
//! (now + ttl), `iat` = `nbf` (now), `jti` (random UUID), `iss` (`issuer_url`) and `sub` (the
//! session subject) are overridden — a template cannot set them.
//!
//! Keys come from `jwks_url` through the process-wide JWKS cache (`file://`, `http(s)://`), with
//! the global `jwks_ttl` / `jwks_max_wait`. A fetched set is parsed into a [`SigningKey`] once
//! (a new set, e.g. after the key file rotated, is parsed once more). Every signature records
//! its public key in [`PublishedKeys`] for one token lifetime, so `/.well-known/jwks.json` keeps
//! publishing a rotated-out key while its tokens can still be presented.
//!
//! Tokens are cached process-wide (bounded): key = sha256(issuer, ttl, jwks_url, signing key,
//! rendered claims, subject); a token is reused until 90% of its lifetime has elapsed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::handlers::authn::JwtConfig;
use crate::config::handlers::mutate::IdTokenConfig;
use crate::credentials::signer::{SignerError, SigningKey};
use crate::credentials::{JwksCache, JwksSource, KeySet, PublishedKeys};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::template::Template;
use crate::pipeline::{BuildError, DigestKeyed};

/// Most tokens kept in the process-wide token cache.
pub const TOKEN_CACHE_ENTRIES: u64 = 10_000;

/// A built `id_token` mutator.
#[derive(Debug)]
pub struct IdToken {
    issuer: String,
    ttl: Duration,
    source: Arc<JwksSource>,
    /// `None`: no `claims` configured (an empty object).
    claims: Option<Template>,
    /// Global `authenticators.jwt.config.jwks_ttl` / `jwks_max_wait` (SPEC §5.5).
    jwks_ttl: Duration,
    jwks_max_wait: Duration,
    /// The key parsed from the last key set seen (compared by `Arc` identity).
    signer: Mutex<Option<ParsedSet>>,
    published: Arc<PublishedKeys>,
}

type ParsedSet = (Arc<KeySet>, Result<Arc<SigningKey>, String>);

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    reuse_for: Duration,
}

struct ReuseWindow;

impl moka::Expiry<[u8; 32], Cached> for ReuseWindow {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.reuse_for)
    }
}

fn tokens() -> &'static moka::future::Cache<[u8; 32], Cached, DigestKeyed> {
    static TOKENS: OnceLock<moka::future::Cache<[u8; 32], Cached, DigestKeyed>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        moka::future::Cache::builder()
            .max_capacity(TOKEN_CACHE_ENTRIES)
            .expire_after(ReuseWindow)
            .build_with_hasher(DigestKeyed::default())
    })
}

fn internal(reason: String) -> PipelineError {
    PipelineError::internal(msg::INTERNAL).with_reason(format!("id_token mutator: {reason}"))
}

impl IdToken {
    /// Whether the claims template may read the session's `MatchContext`.
    pub fn reads_match_context(&self) -> bool {
        self.claims
            .as_ref()
            .is_some_and(Template::reads_match_context)
    }

    /// Build from the rule's merged config; `jwt` is the global `authenticators.jwt.config`.
    pub fn new(config: IdTokenConfig, jwt: &JwtConfig) -> Result<Self, BuildError> {
        Self::with(config, jwt, JwksCache::global(), PublishedKeys::global())
    }

    pub fn with(
        config: IdTokenConfig,
        jwt: &JwtConfig,
        cache: &JwksCache,
        published: &Arc<PublishedKeys>,
    ) -> Result<Self, BuildError> {
        let issuer = config
            .issuer_url
            .ok_or_else(|| BuildError::new("config.issuer_url", "required key is missing"))?;
        let url = config
            .jwks_url
            .ok_or_else(|| BuildError::new("config.jwks_url", "required key is missing"))?;
        let source = cache
            .source(url.as_str())
            .map_err(|e| BuildError::new("config.jwks_url", e.to_string()))?;
        let ttl = config.ttl.get();
        if ttl.is_zero() {
            return Err(BuildError::new("config.ttl", "must be greater than zero"));
        }
        let claims =
            if config.claims.trim().is_empty() {
                None
            } else {
                Some(Template::parse(&config.claims).map_err(|e| {
                    BuildError::new("config.claims", format!("invalid template: {e}"))
                })?)
            };
        Ok(Self {
            issuer,
            ttl,
            source,
            claims,
            jwks_ttl: jwt.jwks_ttl.get(),
            jwks_max_wait: jwt.jwks_max_wait.get(),
            signer: Mutex::new(None),
            published: published.clone(),
        })
    }

    /// The key set this mutator signs with (published by `/.well-known/jwks.json`).
    pub fn source(&self) -> &Arc<JwksSource> {
        &self.source
    }

    pub(super) async fn mutate(&self, session: &mut Session) -> Result<(), PipelineError> {
        let rendered = match &self.claims {
            None => String::new(),
            Some(t) => t
                .render(session)
                .map_err(|e| internal(format!("rendering claims: {e}")))?,
        };
        let mut claims = if rendered.trim().is_empty() {
            Map::new()
        } else {
            // Go's `json.NewDecoder(..).Decode`: the first JSON value, whatever follows it.
            match serde_json::Deserializer::from_str(&rendered)
                .into_iter::<Value>()
                .next()
            {
                Some(Ok(Value::Object(mut m))) => {
                    m.values_mut().for_each(go_numbers);
                    m
                }
                Some(Ok(_)) => return Err(internal("claims are not a JSON object".into())),
                Some(Err(e)) => return Err(internal(format!("claims are not valid JSON: {e}"))),
                None => Map::new(),
            }
        };
        let key = self.signing_key().await?;
        let cache_key = self.cache_key(&key, &rendered, &session.subject);
        let cached = tokens()
            .try_get_with(cache_key, async {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let iat = now.as_secs();
                claims.insert("exp".into(), Value::from((now + self.ttl).as_secs()));
                claims.insert("iat".into(), Value::from(iat));
                claims.insert("nbf".into(), Value::from(iat));
                claims.insert("jti".into(), Value::from(uuid::Uuid::new_v4().to_string()));
                claims.insert("iss".into(), Value::from(self.issuer.as_str()));
                claims.insert("sub".into(), Value::from(session.subject.as_str()));
                // Signing is CPU-bound (RSA ~2 ms): done on the blocking pool, so that the other
                // connections of this worker thread are not held up meanwhile.
                let signer = Arc::clone(&key);
                let claims = std::mem::take(&mut claims);
                let token = tokio::task::spawn_blocking(move || signer.sign(&claims))
                    .await
                    .map_err(|e| SignerError::Sign(format!("signing task failed: {e}")))??;
                if let Some(jwk) = key.public_jwk() {
                    self.published
                        .record(jwk, tokio::time::Instant::now() + self.ttl);
                }
                Ok::<_, SignerError>(Cached {
                    token: token.into(),
                    reuse_for: self.ttl.mul_f64(0.9),
                })
            })
            .await
            .map_err(|e| internal(e.to_string()))?;
        let value = HeaderValue::try_from(format!("Bearer {}", cached.token))
            .map_err(|_| internal("the token is not a valid header value".into()))?;
        session.header.insert(http::header::AUTHORIZATION, value);
        Ok(())
    }

    /// The signing key of the current key set, parsed once per fetched set.
    async fn signing_key(&self) -> Result<Arc<SigningKey>, PipelineError> {
        let deadline = tokio::time::Instant::now() + self.jwks_max_wait;
        let fetched = self.source.get(self.jwks_ttl, deadline).await;
        let Some(set) = fetched.keys else {
            let why = fetched
                .error
                .unwrap_or_else(|| "not fetched in time".into());
            return Err(internal(format!(
                "no JSON Web Key Set from `{}`: {why}",
                self.source.url()
            )));
        };
        let mut current = self.signer.lock().unwrap_or_else(|p| p.into_inner());
        let parsed = match current.as_ref() {
            Some((s, parsed)) if Arc::ptr_eq(s, &set) => parsed.clone(),
            _ => {
                let parsed = SigningKey::select(&set)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                *current = Some((set, parsed.clone()));
                parsed
            }
        };
        parsed.map_err(|e| internal(format!("`{}`: {e}", self.source.url())))
    }

    fn cache_key(&self, key: &SigningKey, rendered: &str, subject: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        // Length-prefixed so that no two field lists hash alike.
        for part in [
            self.issuer.as_bytes(),
            &self.ttl.as_nanos().to_be_bytes(),
            self.source.url().as_bytes(),
            key.kid().as_bytes(),
            key.fingerprint(),
            rendered.as_bytes(),
            subject.as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }
}

/// Numbers as Oathkeeper's claims carry them: decoded into Go `float64`s and encoded again, so
/// a whole number written `1.0` or `1e3` goes out as `1` / `1000` (a Go service decoding the
/// claim into an integer refuses `1.0`).
fn go_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exactly representable: below 2^63 every whole f64 is an i64 (and 2^64 a u64).
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *n = whole.into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(go_numbers),
        Value::Object(m) => m.values_mut().for_each(go_numbers),
        _ => {}
    }
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
