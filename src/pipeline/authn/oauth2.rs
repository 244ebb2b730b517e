//! OAuth2 pieces shared by `oauth2_introspection` and `oauth2_client_credentials`: the RFC 6749
//! client-credentials grant and the credential caches (DESIGN §4, SPEC §5.5).
//!
//! # Cache scope
//! A cache is shared per process by every handler of the same kind *and capacity*, through a
//! registry of weak references: rules with the same handler share hits, a rule-set reload keeps
//! the entries (the new handlers find the cache the old snapshot still holds), and a capacity
//! nobody uses any more is freed with the last handler. Nothing is "last config wins": the
//! capacity picks the cache, each entry carries the TTL its own handler computed, and keys hash
//! the credential *and* the endpoint *and* every config value that can change the decision.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use moka::future::Cache;
use moka::Expiry;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::types::Secret;
use crate::outbound::{self, CallPolicy, OutboundError};
use crate::pipeline::error::{msg, PipelineError};
use crate::pipeline::DigestKeyed;

/// A cache key: a SHA-256 over length-prefixed parts, so no secret is kept in clear and no two
/// part lists collide.
pub type Key = [u8; 32];

/// Hashes `parts` into a [`Key`].
pub fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A cached value with the time to live its handler chose (`None`: until evicted).
#[derive(Debug, Clone)]
pub struct Expiring<V> {
    pub value: V,
    pub ttl: Option<Duration>,
}

/// The per-entry expiry policy: each entry lives as long as its own `ttl`.
struct PerEntry;

impl<K, V> Expiry<K, Expiring<V>> for PerEntry {
    fn expire_after_create(&self, _: &K, v: &Expiring<V>, _: Instant) -> Option<Duration> {
        v.ttl
    }
}

/// How a cache weighs an entry (see [`ttl_cache`]).
pub type Weigh<V> = fn(&Expiring<V>) -> u32;

/// A cache of `capacity` entries, each expiring after its own TTL; with `weigh`, `capacity` is
/// the sum of the entries' weights instead.
pub fn ttl_cache<K, V>(capacity: u64, weigh: Option<Weigh<V>>) -> Cache<K, Expiring<V>, DigestKeyed>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let builder = Cache::builder()
        .max_capacity(capacity)
        .expire_after(PerEntry);
    match weigh {
        Some(w) => builder
            .weigher(move |_, v: &Expiring<V>| w(v))
            .build_with_hasher(DigestKeyed::default()),
        None => builder.build_with_hasher(DigestKeyed::default()),
    }
}

/// A bounded cache whose entries expire after their own TTL; `try_get_with` gives single flight
/// on misses (concurrent callers for one key wait for one computation; errors are not stored).
pub type TtlCache<V> = Cache<Key, Expiring<V>, DigestKeyed>;

/// The process-wide cache for `kind` with `capacity` entries (see the module docs).
pub fn shared_cache<V>(
    kind: &'static str,
    capacity: u64,
    weigh: Option<Weigh<V>>,
) -> Arc<TtlCache<V>>
where
    V: Clone + Send + Sync + 'static,
{
    type Registry = Mutex<HashMap<(&'static str, u64), Weak<dyn Any + Send + Sync>>>;
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let mut map = REGISTRY
        .get_or_init(Registry::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(cache) = map
        .get(&(kind, capacity))
        .and_then(Weak::upgrade)
        .and_then(|c| c.downcast::<TtlCache<V>>().ok())
    {
        return cache;
    }
    let cache: Arc<TtlCache<V>> = Arc::new(ttl_cache(capacity, weigh));
    let erased: Arc<dyn Any + Send + Sync> = cache.clone();
    map.insert((kind, capacity), Arc::downgrade(&erased));
    cache
}

/// A client-credentials grant request (RFC 6749 §4.4).
pub struct Grant<'a> {
    pub token_url: &'a url::Url,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub scope: &'a [String],
    /// Extra `audience` form parameter (Auth0-style; introspection pre-authorization).
    pub audience: Option<&'a str>,
}

/// What a token endpoint granted.
#[derive(Clone)]
pub struct Granted {
    pub access_token: Arc<str>,
    pub expires_in: Option<Duration>,
}

// Hand-written: never print the token.
impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Granted")
            .field(
                "access_token",
                &format_args!("<{} bytes>", self.access_token.len()),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a grant produced no token.
#[derive(Debug)]
pub enum GrantError {
    /// The endpoint answered a non-2xx status; rate-limit headers are kept for 429.
    Status(StatusCode, HeaderMap),
    /// No usable answer (connection, deadline).
    Outbound(OutboundError),
    /// A 2xx answer that is not a token response.
    Invalid(&'static str),
}

impl GrantError {
    /// The first part of the client-visible message (SPEC Appendix A: `<token-endpoint error
    /// text>: ...`). Never includes the response body, which may echo credentials.
    pub fn text(&self) -> String {
        match self {
            Self::Status(s, _) => format!("oauth2: cannot fetch token: {s}"),
            Self::Outbound(e) => format!("oauth2: cannot fetch token: {e}"),
            Self::Invalid(why) => format!("oauth2: cannot fetch token: {why}"),
        }
    }
}

/// Runs the grant: `POST token_url` with HTTP Basic client authentication (id and secret
/// form-urlencoded first, RFC 6749 §2.3.1) and `grant_type=client_credentials`. The call is a
/// POST but repeating it only mints another token, so `policy` may retry it.
pub async fn client_credentials(policy: CallPolicy, g: &Grant<'_>) -> Result<Granted, GrantError> {
    let body = {
        // Scoped: the serializer is not `Send` and must not live across an await.
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !g.scope.is_empty() {
            form.append_pair("scope", &g.scope.join(" "));
        }
        if let Some(aud) = g.audience.filter(|a| !a.is_empty()) {
            form.append_pair("audience", aud);
        }
        form.finish()
    };
    let user: String = url::form_urlencoded::byte_serialize(g.client_id.as_bytes()).collect();
    let pass: String = url::form_urlencoded::byte_serialize(g.client_secret.as_bytes()).collect();
    let resp = outbound::send(policy, || {
        outbound::client()
            .post(g.token_url.clone())
            .basic_auth(&user, Some(&pass))
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone())
    })
    .await
    .map_err(GrantError::Outbound)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(GrantError::Status(status, resp.headers().clone()));
    }
    let bytes = crate::outbound::read_limited(resp, crate::outbound::MAX_ANSWER)
        .await
        .map_err(GrantError::Outbound)?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|_| GrantError::Invalid("response is not JSON"))?;
    let access_token = v
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // `expires_in` is a number by RFC 6749, but some servers send a string.
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .map(|s| Duration::from_secs_f64(s.min(1e9)));
    Ok(Granted {
        access_token: Arc::from(access_token),
        expires_in,
    })
}

/// A pre-authorization token is renewed this long before it expires (at most half its life).
const EARLY_RENEWAL: Duration = Duration::from_secs(10);
/// Lifetime of a token whose response carried no `expires_in`.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(60);

/// gatehouse's own client-credentials token (introspection `pre_authorization`), granted once
/// and reused until shortly before it expires, as Go's `oauth2.TokenSource` does.
pub struct TokenSource {
    token_url: url::Url,
    client_id: String,
    client_secret: Secret,
    scope: Vec<String>,
    audience: Option<String>,
    cached: Cache<(), Expiring<Arc<str>>, DigestKeyed>,
}

// Hand-written: neither the secret nor the token is printed.
impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(
        token_url: url::Url,
        client_id: String,
        client_secret: Secret,
        scope: Vec<String>,
        audience: Option<String>,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            scope,
            audience,
            cached: ttl_cache(1, None),
        }
    }

    /// The current token; concurrent callers share one grant.
    pub async fn token(&self, policy: CallPolicy) -> Result<Arc<str>, PipelineError> {
        let init = async {
            let g = Grant {
                token_url: &self.token_url,
                client_id: &self.client_id,
                client_secret: self.client_secret.expose(),
                scope: &self.scope,
                audience: self.audience.as_deref(),
            };
            let granted = client_credentials(policy, &g)
                .await
                .map_err(own_grant_error)?;
            if granted.access_token.is_empty() {
                return Err(own_grant_error(GrantError::Invalid("no access token")));
            }
            let life = granted.expires_in.unwrap_or(DEFAULT_TOKEN_LIFE);
            Ok(Expiring {
                value: granted.access_token,
                ttl: Some(life.saturating_sub(EARLY_RENEWAL.min(life / 2))),
            })
        };
        self.cached
            .try_get_with((), init)
            .await
            .map(|e| e.value)
            .map_err(|e: Arc<PipelineError>| (*e).clone())
    }

    /// Drops the current token (the resource server refused it).
    pub async fn forget(&self) {
        self.cached.invalidate(&()).await;
    }
}

/// A failed grant for gatehouse's own client: the token endpoint's 429 and outages keep their
/// meaning (429, 503); anything else means our client is misconfigured (500).
fn own_grant_error(e: GrantError) -> PipelineError {
    match e {
        GrantError::Status(StatusCode::TOO_MANY_REQUESTS, h) => {
            PipelineError::too_many_requests(&h)
        }
        GrantError::Status(s, _) if s.is_server_error() => {
            OutboundError::Status(s).into_pipeline("pre-authorization")
        }
        GrantError::Outbound(o) => o.into_pipeline("pre-authorization"),
        other => PipelineError::internal(msg::INTERNAL)
            .with_reason(format!("pre-authorization: {}", other.text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_length_prefixed() {
        let a = key([b"ab".as_slice(), b"c".as_slice()]);
        let b = key([b"a".as_slice(), b"bc".as_slice()]);
        assert_ne!(a, b);
        assert_eq!(a, key([b"ab".as_slice(), b"c".as_slice()]));
    }

    #[tokio::test]
    async fn registry_shares_by_kind_and_capacity() {
        let a = shared_cache::<u8>("test-kind", 7, None);
        let b = shared_cache::<u8>("test-kind", 7, None);
        let c = shared_cache::<u8>("test-kind", 8, None);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        a.insert(
            [0; 32],
            Expiring {
                value: 1,
                ttl: None,
            },
        )
        .await;
        assert_eq!(b.get(&[0; 32]).await.map(|e| e.value), Some(1));
        // Once every handler is gone the cache goes too.
        drop((a, b));
        let d = shared_cache::<u8>("test-kind", 7, None);
        assert!(d.get(&[0; 32]).await.is_none());
    }
}
