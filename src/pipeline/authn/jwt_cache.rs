//! Verified-token cache of the `jwt` authenticator (DESIGN §4 "caches that are correct"; config
//! `cache: {enabled, ttl, max_entries}`, on by default).
//!
//! An entry is a proof that one key signed one token, nothing more:
//! - Key: SHA-256 of the whole token string; the token itself is never stored.
//! - Value: the header `alg` and `kid`, the decoded claims (before any check), the same claims
//!   prepared for the checks (scope normalised; time claims, audiences and issuer read once: a
//!   hit re-runs the checks without touching the JSON), and the key that verified the signature
//!   (the fetched [`KeySet`] by identity, plus the index in it).
//! - Only tokens whose signature verified are stored; failures never are.
//! - Lifetime: `ttl`, capped by the token's `exp` (leeway ignored: a token past `exp` is never
//!   stored); a token without `exp` lives `ttl`.
//!
//! Everything that depends on the rule or on the time is the caller's to re-run on every hit
//! (see `Jwt::authenticate`): the `alg` allow-list, the key lookup — the hit counts only if it
//! returns the same key set object and index, so a refetched set costs one new verification and
//! a removed key is a 401 — and every claims check.
//!
//! In front of the shared entries, each thread keeps its most recent hits (a [`Hot`], in a
//! direct-mapped table of 64 slots, allocated on the thread's first hit): the proof's claims,
//! and the key set each JWKS source held when the hit was made. A front hit counts only while
//! every source still holds that very set and it is fresh ([`JwksSource::in_force`]), which is
//! exactly when the key lookup would return the key the proof was made with; so it skips the
//! shared cache and the key lookup (their locks and reference counts, written by every worker
//! on every request) and changes nothing else: expiry and the claims checks run on every hit.
//!
//! Scope: one cache per (JWKS URLs, allowed algorithms, `ttl`, `max_entries`), shared by every
//! rule with the same values and kept across rule reloads while some rule uses it (a registry of
//! weak references, as `session_cache`). Rules with other sources or algorithms never share an
//! entry, even though the key-identity check alone would already keep them apart. The entries
//! (moka) are allocated on the first verified token, so rules that never see a token cost a
//! small shell shared by all rules of the same identity.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moka::future::Cache;
use moka::Expiry;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thread_local::ThreadLocal;

use super::claims::Prepared;
use crate::config::handlers::authn::JwtCache;
use crate::config::types::Uri;
use crate::credentials::{Alg, JwksSource, KeySet};
use crate::pipeline::DigestKeyed;
use crate::registry::WeakRegistry;

/// SHA-256 of a token (entry key) or of a cache identity (registry key).
pub(super) type Key = [u8; 32];

/// What a successful signature verification proved.
pub(super) struct Proof {
    /// Header `alg`, as written in the token.
    pub alg: String,
    pub kid: String,
    /// The claims as decoded (what error reports show).
    pub claims: Arc<Map<String, Value>>,
    /// The same, prepared for the checks and the session (scope normalised).
    pub prepared: Arc<Prepared>,
    /// The key that verified the signature: `keys.keys()[index]`.
    pub keys: Arc<KeySet>,
    pub index: usize,
}

impl Proof {
    /// Whether `(keys, index)` is the very key this proof was made with.
    pub fn same_key(&self, keys: &Arc<KeySet>, index: usize) -> bool {
        Arc::ptr_eq(&self.keys, keys) && self.index == index
    }
}

// Hand-written: claims can carry personal data; print only what identifies the key.
impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proof")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A stored proof and until when it may be served.
pub(super) struct Entry {
    pub proof: Proof,
    /// Checked on every hit against the caller's clock (moka expires by its own monotonic
    /// clock; this keeps `exp` authoritative even if the two disagree).
    pub expires_at: SystemTime,
    lifetime: Duration,
}

/// Per-entry lifetime, also on replacement (moka's default keeps the old one).
struct EntryLifetime;

impl Expiry<Key, Arc<Entry>> for EntryLifetime {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _updated_at: std::time::Instant,
        _remaining: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// Each JWKS source's key set (in the authenticator's order) as a key lookup saw it.
pub(super) type KeySets = Vec<Option<Arc<KeySet>>>;

/// Slots of each thread's front table.
const FRONT_SLOTS: usize = 64;

/// A hit as one thread keeps it (see the module docs).
pub(super) struct Hot {
    key: Key,
    expires_at: SystemTime,
    /// The proof's claims, as decoded and prepared.
    pub claims: Arc<Map<String, Value>>,
    pub prepared: Arc<Prepared>,
    /// The key set of each JWKS source (in the authenticator's order) when the hit was made.
    sets: KeySets,
}

impl Hot {
    /// Whether the key lookup would still find the key the proof was made with: every source
    /// holds the same, fresh set (`ttl`: the keys' `jwks_ttl`).
    pub fn keys_in_force(
        &self,
        sources: &[Arc<JwksSource>],
        ttl: Duration,
        now: tokio::time::Instant,
    ) -> bool {
        self.sets.len() == sources.len()
            && sources.iter().zip(&self.sets).all(|(source, held)| {
                held.as_ref()
                    .is_some_and(|held| source.in_force(held, ttl, now))
            })
    }
}

/// The verified-token cache of one identity (see the module docs).
pub(super) struct TokenCache {
    ttl: Duration,
    max_entries: u64,
    /// Created by the first store.
    entries: OnceLock<Cache<Key, Arc<Entry>, DigestKeyed>>,
    /// Each thread's recent hits, `FRONT_SLOTS` slots indexed by the key's first byte.
    front: ThreadLocal<RefCell<Vec<Option<Hot>>>>,
    /// Stores so far (each follows one signature verification); tests observe hits with it.
    #[cfg(test)]
    pub stores: std::sync::atomic::AtomicUsize,
}

// Hand-written: no token material, only the size.
impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.get().map(Cache::entry_count))
            .finish()
    }
}

impl TokenCache {
    fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            ttl,
            max_entries,
            entries: OnceLock::new(),
            front: ThreadLocal::new(),
            #[cfg(test)]
            stores: Default::default(),
        }
    }

    /// The cache of rules verifying with keys from `urls` and the algorithms `allowed` (in
    /// config order), or `None` when caching is off (`enabled: false`, a zero `ttl` or
    /// `max_entries`).
    pub fn shared(config: &JwtCache, urls: &[Uri], allowed: &[(String, Alg)]) -> Option<Arc<Self>> {
        let (ttl, max_entries) = (config.ttl.get(), config.max_entries);
        if !config.enabled || ttl.is_zero() || max_entries == 0 {
            return None;
        }
        let urls: Vec<&str> = urls.iter().map(Uri::as_str).collect();
        let algorithms: Vec<&str> = allowed.iter().map(|(name, _)| name.as_str()).collect();
        let mut h = Sha256::new();
        h.update(b"gatehouse jwt token cache v1\0");
        for list in [&urls, &algorithms] {
            h.update((list.len() as u64).to_be_bytes());
            for part in list {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
        }
        h.update(ttl.as_nanos().to_be_bytes());
        h.update(max_entries.to_be_bytes());
        let identity: Key = h.finalize().into();

        static REGISTRY: LazyLock<WeakRegistry<Key, TokenCache>> = LazyLock::new(Default::default);
        Some(REGISTRY.get_or_insert(&identity, || Self::new(ttl, max_entries)))
    }

    /// The entry key of `token`.
    pub fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    /// `f` of this thread's hit for `key`, if it has one live at `now`.
    pub fn front<R>(&self, key: &Key, now: SystemTime, f: impl FnOnce(&Hot) -> R) -> Option<R> {
        let front = self.front.get()?.borrow();
        let hot = front.get(usize::from(key[0]) % FRONT_SLOTS)?.as_ref()?;
        (hot.key == *key && now < hot.expires_at).then(|| f(hot))
    }

    /// Keep `entry` (a hit or a store for `key`, made with the key sets `sets`) in this
    /// thread's front, replacing whatever shared its slot.
    pub fn keep(&self, key: Key, entry: &Entry, sets: KeySets) {
        let hot = Hot {
            key,
            expires_at: entry.expires_at,
            claims: Arc::clone(&entry.proof.claims),
            prepared: Arc::clone(&entry.proof.prepared),
            sets,
        };
        let mut front = self
            .front
            .get_or(|| RefCell::new((0..FRONT_SLOTS).map(|_| None).collect()))
            .borrow_mut();
        front[usize::from(key[0]) % FRONT_SLOTS] = Some(hot);
    }

    /// The live entry for `key` at `now`. Creates nothing.
    pub async fn get(&self, key: &Key, now: SystemTime) -> Option<Arc<Entry>> {
        let entry = self.entries.get()?.get(key).await?;
        (now < entry.expires_at).then_some(entry)
    }

    /// Store `proof` (verified at `now`, with a key from the sets `sets`) for its lifetime (a
    /// token already past `exp` is not stored), also in this thread's front; returns its claims,
    /// as decoded and prepared.
    pub async fn store(
        &self,
        key: Key,
        proof: Proof,
        now: SystemTime,
        sets: KeySets,
    ) -> (Arc<Map<String, Value>>, Arc<Prepared>) {
        let claims = (Arc::clone(&proof.claims), Arc::clone(&proof.prepared));
        let Some(lifetime) = lifetime(self.ttl, &claims.0, now) else {
            return claims;
        };
        let entries = self.entries.get_or_init(|| {
            Cache::builder()
                .max_capacity(self.max_entries)
                // Claims are as large as a token header allows (~64 KB, kept twice: claims and
                // their prepared form): one unit per started 4 KiB bounds the bytes too.
                .weigher(|_, e: &Arc<Entry>| {
                    crate::pipeline::cache_units(2 * crate::pipeline::json_len(&e.proof.claims))
                })
                .expire_after(EntryLifetime)
                .build_with_hasher(DigestKeyed::default())
        });
        #[cfg(test)]
        self.stores
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let entry = Entry {
            proof,
            expires_at: now + lifetime,
            lifetime,
        };
        self.keep(key, &entry, sets);
        entries.insert(key, Arc::new(entry)).await;
        claims
    }
}

/// How long a token verified at `now` may be served: `ttl`, capped by its `exp`. `None` when
/// `exp` is not in the future or not a number (the claims checks reject such a token anyway).
pub(super) fn lifetime(
    ttl: Duration,
    claims: &Map<String, Value>,
    now: SystemTime,
) -> Option<Duration> {
    let lifetime = match claims.get("exp") {
        None | Some(Value::Null) => ttl,
        Some(exp) => {
            let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
            let left = Duration::try_from_secs_f64(exp.as_f64()? - now).ok()?;
            ttl.min(left)
        }
    };
    (!lifetime.is_zero()).then_some(lifetime)
}
