//! `jwt` (SPEC §5.1, DESIGN §6): verifies a JSON Web Token against keys from `jwks_urls`.
//!
//! Not responsible when there is no token or it does not have exactly three dot-separated parts
//! (opaque tokens fall through, e.g. to introspection). Otherwise every failure is a 401 whose
//! `details.jwt_claims` carries the unverified claims (never the token).
//!
//! Hardening over a generic JWT library call: the header `alg` must be in the allow-list parsed
//! at load (`none` and unknown names are refused there); `kid` is required; the key is chosen by
//! `kid` among `use: sig` keys and must be of the type the `alg` needs (an RSA/EC key is never an
//! HMAC secret), and of the JWK's own `alg` when it names one.
//!
//! Verified tokens are cached (`cache`, on by default; see `jwt_cache.rs`): a hit skips decoding
//! and the signature check, never the allow-list, the key lookup or the claims checks (a hit in
//! the thread's own front skips the lookup only while it would find the very same key).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::StatusCode;
use serde_json::{Map, Value};

use super::{token, AuthnOutcome};
use crate::config::handlers::authn::JwtConfig;
use crate::config::handlers::TokenFrom;
use crate::credentials::{Alg, Fetched, JwksCache, JwksSource, KeySet};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::session::Session;
use crate::pipeline::{BuildError, RequestInfo};
use cache::{KeySets, Proof, TokenCache};
use claims::Prepared;

#[path = "jwt_cache.rs"]
mod cache;
#[path = "jwt_claims.rs"]
mod claims;

/// A built `jwt` authenticator.
#[derive(Debug)]
pub struct Jwt {
    token_from: Option<TokenFrom>,
    /// Allowed header `alg` values with their parsed algorithm.
    allowed: Vec<(String, Alg)>,
    sources: Vec<Arc<JwksSource>>,
    /// Global `jwks_ttl` / `jwks_max_wait` (SPEC §5.1: per-rule values are accepted but ignored).
    ttl: Duration,
    max_wait: Duration,
    checks: claims::Checks,
    /// `None` when `cache.enabled` is false.
    cache: Option<Arc<TokenCache>>,
}

/// The algorithm of an `allowed_algorithms` entry, or why it cannot be allowed.
fn parse_alg(name: &str) -> Result<Alg, String> {
    if let Some(alg) = Alg::parse(name) {
        return Ok(alg);
    }
    if name.eq_ignore_ascii_case("none") {
        return Err("unsigned tokens (`none`) are never accepted".to_owned());
    }
    Err(format!(
        "unknown algorithm `{name}`, expected one of {}",
        Alg::names()
    ))
}

impl Jwt {
    /// Build from the rule's merged config; `global` is the global `authenticators.jwt.config`
    /// (source of `jwks_ttl` / `jwks_max_wait`). Keys come from [`JwksCache::global`].
    pub fn new(config: JwtConfig, global: &JwtConfig) -> Result<Self, BuildError> {
        Self::with_cache(config, global, JwksCache::global())
    }

    pub fn with_cache(
        config: JwtConfig,
        global: &JwtConfig,
        cache: &JwksCache,
    ) -> Result<Self, BuildError> {
        let names = if config.allowed_algorithms.is_empty() {
            vec!["RS256".to_owned()]
        } else {
            config.allowed_algorithms
        };
        let mut allowed = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let alg = parse_alg(&name)
                .map_err(|m| BuildError::new(format!("config.allowed_algorithms[{i}]"), m))?;
            allowed.push((name, alg));
        }
        let urls = config.jwks_urls.unwrap_or_default();
        if urls.is_empty() {
            return Err(BuildError::new(
                "config.jwks_urls",
                "at least one JWKS URL is required",
            ));
        }
        let mut sources = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let source = cache
                .source(url.as_str())
                .map_err(|e| BuildError::new(format!("config.jwks_urls[{i}]"), e.to_string()))?;
            sources.push(source);
        }
        let tokens = TokenCache::shared(&config.cache, &urls, &allowed);
        Ok(Self {
            token_from: config.token_from,
            allowed,
            sources,
            ttl: global.jwks_ttl.get(),
            max_wait: global.jwks_max_wait.get(),
            checks: claims::Checks {
                required_scope: config.required_scope,
                scope_strategy: config.scope_strategy,
                target_audience: config.target_audience,
                trusted_issuers: config.trusted_issuers,
                leeway: config.leeway.get().as_secs_f64(),
            },
            cache: tokens,
        })
    }

    pub(super) async fn authenticate(
        &self,
        req: &RequestInfo,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        self.authenticate_at(req, session, SystemTime::now()).await
    }

    /// [`Jwt::authenticate`] with the clock as a parameter (tests move it).
    async fn authenticate_at(
        &self,
        req: &RequestInfo,
        session: &mut Session,
        now: SystemTime,
    ) -> Result<AuthnOutcome, PipelineError> {
        let Some(token) = token::extract(req, self.token_from.as_ref()) else {
            return Ok(AuthnOutcome::NotResponsible);
        };
        if split(&token).is_none() {
            return Ok(AuthnOutcome::NotResponsible);
        }
        let (claims, prepared) = match &self.cache {
            None => {
                let (proof, _) = self.verify(&token).await?;
                (proof.claims, proof.prepared)
            }
            Some(cache) => {
                let key = TokenCache::key(&token);
                let front = cache.front(&key, now, |hot| {
                    hot.keys_in_force(&self.sources, self.ttl, tokio::time::Instant::now())
                        .then(|| self.accept(&hot.claims, &hot.prepared, now, session))
                });
                if let Some(Some(accepted)) = front {
                    return accepted;
                }
                match cache.get(&key, now).await {
                    Some(hit) => match self.recheck(&token, &hit.proof).await? {
                        (None, sets) => {
                            cache.keep(key, &hit, sets);
                            (
                                Arc::clone(&hit.proof.claims),
                                Arc::clone(&hit.proof.prepared),
                            )
                        }
                        (Some(proof), sets) => cache.store(key, proof, now, sets).await,
                    },
                    None => {
                        let (proof, sets) = self.verify(&token).await?;
                        cache.store(key, proof, now, sets).await
                    }
                }
            }
        };
        self.accept(&claims, &prepared, now, session)
    }

    /// Run the claims checks on a verified token's claims and fill the session.
    fn accept(
        &self,
        claims: &Map<String, Value>,
        prepared: &Prepared,
        now: SystemTime,
        session: &mut Session,
    ) -> Result<AuthnOutcome, PipelineError> {
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // Errors report the claims as decoded; the session gets them with the scope normalised.
        self.checks
            .check(prepared, now_secs)
            .map_err(|reason| invalid(reason, Some(claims)))?;
        session.subject = prepared
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        session.extra = Arc::clone(&prepared.claims);
        Ok(AuthnOutcome::Authenticated)
    }

    /// Decode `token` and verify its signature from scratch (the claims checks are the
    /// caller's). With the proof, the key sets the key was looked up in.
    async fn verify(&self, token: &str) -> Result<(Proof, KeySets), PipelineError> {
        let Some((header_b64, claims_b64, _)) = split(token) else {
            return Err(invalid("the token is not a compact JWS".into(), None));
        };
        let unverified = decode_object(claims_b64);
        let reject = |reason: String| invalid(reason, unverified.as_ref());

        let header = decode_object(header_b64)
            .ok_or_else(|| reject("the token header is not a base64url JSON object".into()))?;
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| reject("the token header has no `alg`".into()))?;
        let Some((_, alg)) = self.allowed.iter().find(|(n, _)| n == alg_name) else {
            return Err(reject(format!("algorithm {alg_name:?} is not allowed")));
        };
        if header.contains_key("crit") {
            return Err(reject(
                "critical header extensions are not supported".into(),
            ));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| reject("the token header has no `kid`".into()))?;

        let (keys, index, sets) = self
            .find_key(kid, *alg, alg_name, unverified.as_ref())
            .await?;
        if !signed_by(token, &keys, index, *alg) {
            return Err(reject("the token signature is invalid".into()));
        }
        let Some(claims) = unverified else {
            return Err(invalid(
                "the token claims are not a JSON object".into(),
                None,
            ));
        };
        let proof = Proof {
            alg: alg_name.to_owned(),
            kid: kid.to_owned(),
            prepared: Arc::new(Prepared::new(claims.clone())),
            claims: Arc::new(claims),
            keys,
            index,
        };
        Ok((proof, sets))
    }

    /// On a cache hit, re-run what depends on this rule and on the current keys: the `alg`
    /// allow-list and the key lookup. `Ok(None)`: the key found is the very key that verified
    /// the token, the hit stands. `Ok(Some)`: another key object was found (a refetched or
    /// rotated key set) and it verified the token again. With either, the key sets the key was
    /// looked up in.
    async fn recheck(
        &self,
        token: &str,
        hit: &Proof,
    ) -> Result<(Option<Proof>, KeySets), PipelineError> {
        let claims = Some(&*hit.claims);
        let Some((_, alg)) = self.allowed.iter().find(|(n, _)| *n == hit.alg) else {
            return Err(invalid(
                format!("algorithm {:?} is not allowed", hit.alg),
                claims,
            ));
        };
        let (keys, index, sets) = self.find_key(&hit.kid, *alg, &hit.alg, claims).await?;
        if hit.same_key(&keys, index) {
            return Ok((None, sets));
        }
        if !signed_by(token, &keys, index, *alg) {
            return Err(invalid("the token signature is invalid".into(), claims));
        }
        let proof = Proof {
            alg: hit.alg.clone(),
            kid: hit.kid.clone(),
            claims: Arc::clone(&hit.claims),
            prepared: Arc::clone(&hit.prepared),
            keys,
            index,
        };
        Ok((Some(proof), sets))
    }

    /// The key for `kid` and `alg` across all sources: a refetch when the keys are stale, and one
    /// more (rate-limited) when no source knows the `kid`. With the key, every source's key set
    /// it was chosen from.
    async fn find_key(
        &self,
        kid: &str,
        alg: Alg,
        alg_name: &str,
        unverified: Option<&Map<String, Value>>,
    ) -> Result<(Arc<KeySet>, usize, KeySets), PipelineError> {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        let mut fetched = JwksSource::get_all(&self.sources, self.ttl, deadline).await;
        let mut found = select(&fetched, kid, alg, alg_name);
        if matches!(found, Selected::Unknown) {
            let (idx, retry): (Vec<usize>, Vec<&Arc<JwksSource>>) = self
                .sources
                .iter()
                .enumerate()
                .filter(|(i, _)| !fetched[*i].refreshed)
                .unzip();
            if !retry.is_empty() {
                let again = JwksSource::refetch_all_for_unknown_kid(&retry, deadline).await;
                for (i, f) in idx.into_iter().zip(again) {
                    if let Some(f) = f {
                        fetched[i] = f;
                    }
                }
                found = select(&fetched, kid, alg, alg_name);
            }
        }
        match found {
            Selected::Key(set, i) => Ok((set, i, fetched.into_iter().map(|f| f.keys).collect())),
            Selected::WrongType => Err(invalid(
                format!("the key with kid {kid:?} cannot verify {alg_name} signatures"),
                unverified,
            )),
            Selected::Unknown => {
                // Fail closed but honest: without keys from every source this is an outage.
                if let Some(f) = fetched.iter().find(|f| f.keys.is_none()) {
                    let why = f.error.as_deref().unwrap_or("not fetched in time");
                    return Err(PipelineError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        msg::SERVICE_UNAVAILABLE,
                    )
                    .with_reason(format!("no JSON Web Key Set available: {why}")));
                }
                Err(invalid(
                    format!("no signing key with kid {kid:?} was found"),
                    unverified,
                ))
            }
        }
    }
}

/// Outcome of a key lookup by `kid` across fetched sets.
#[derive(Debug)]
enum Selected {
    Key(Arc<KeySet>, usize),
    /// Keys with this `kid` exist, but none may verify this `alg`.
    WrongType,
    Unknown,
}

/// The first `use: sig` key with `kid` that may verify `alg`.
fn select(fetched: &[Fetched], kid: &str, alg: Alg, alg_name: &str) -> Selected {
    let mut seen = false;
    for set in fetched.iter().filter_map(|f| f.keys.as_ref()) {
        for (i, key) in set.keys().iter().enumerate() {
            if key.kid.as_deref() != Some(kid) {
                continue;
            }
            if key.accepts(alg, alg_name) {
                return Selected::Key(Arc::clone(set), i);
            }
            seen = true;
        }
    }
    if seen {
        Selected::WrongType
    } else {
        Selected::Unknown
    }
}

/// The 401 of every verification failure (SPEC §5.1, Appendix A).
fn invalid(reason: String, unverified: Option<&Map<String, Value>>) -> PipelineError {
    let mut details = Map::new();
    if let Some(c) = unverified {
        details.insert("jwt_claims".into(), Value::Object(c.clone()));
    }
    PipelineError::unauthorized()
        .with_reason(reason)
        .with_details(details)
}

/// The three dot-separated parts of a compact JWS, or `None` (not a JWT: not responsible).
fn split(token: &str) -> Option<(&str, &str, &str)> {
    // Every request with a token scans it whole (the signature for a third dot): SIMD search.
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (first, second) = (dots.next()?, dots.next()?);
    if dots.next().is_some() {
        return None;
    }
    // The dots are ASCII: both offsets are character boundaries.
    Some((
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    ))
}

/// Whether key `index` of `keys` signed `token` (a compact JWS) with `alg`.
fn signed_by(token: &str, keys: &KeySet, index: usize, alg: Alg) -> bool {
    let (Some(dot), Some(key)) = (token.rfind('.'), keys.keys().get(index)) else {
        return false;
    };
    key.verify(alg, &token.as_bytes()[..dot], &token[dot + 1..])
}

/// A base64url-encoded JSON object (JWT header or claims).
fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
