//! Result cache of session checks (`cookie_session` / `bearer_token`, DESIGN §4 "caches that are
//! correct"; opt-in with `cache.enabled`).
//!
//! - Key: SHA-256 of the handler config and of every part of the client's request that the
//!   call to the session store is built from (method unless forced, path and query unless
//!   preserved, every forwarded header value, the host when forwarded): equal keys mean equal
//!   calls. Two rules whose merged configs differ never share an entry; a credential never
//!   reaches another credential's entry.
//! - Lifetime: success for `cache.ttl`, capped by the session's `expires_at`; a session reported
//!   `active: false` or already expired is not cached; a rejection (401) for at most
//!   [`NEGATIVE_TTL`]; 429, 5xx, timeouts and malformed answers are never cached.
//! - Single flight: concurrent misses on one key share one upstream call (moka `try_get_with`).
//! - Scope: one cache per distinct handler config, shared by every rule with that config and
//!   kept across rule reloads while some rule still uses it (a registry of weak references).
//!   Sharing is safe because the config is part of the identity of the cache, and it keeps the
//!   hit ratio of the common "cookie_session on every rule" setup; a config edit starts cold.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use moka::future::Cache;
use moka::Expiry;

use super::session_check::Identity;
use crate::pipeline::error::PipelineError;
use crate::pipeline::DigestKeyed;
use crate::registry::WeakRegistry;

/// Longest time a rejected credential is remembered: long enough to absorb a client retrying a
/// stale cookie in a loop, short enough that a fresh login is never held back for long.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// A cache key: SHA-256 over config hash and the outgoing request.
pub type Key = [u8; 32];

/// What one session check produced.
pub type Outcome = Result<Identity, PipelineError>;

/// A cached outcome and how long it may be served.
#[derive(Debug)]
struct Entry {
    outcome: Outcome,
    ttl: Duration,
}

/// Per-entry lifetime: each entry carries its own TTL.
struct EntryTtl;

impl Expiry<Key, Arc<Entry>> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The result cache of one handler config.
pub struct ResultCache {
    entries: Cache<Key, Arc<Entry>, DigestKeyed>,
}

// Hand-written: entries hold identities; print the size only.
impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl ResultCache {
    fn new(max_entries: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .weigher(|_, e: &Arc<Entry>| {
                    crate::pipeline::cache_units(match &e.outcome {
                        Ok(id) => id.subject.len() + crate::pipeline::json_len(&id.extra),
                        Err(_) => 0,
                    })
                })
                .expire_after(EntryTtl)
                .build_with_hasher(DigestKeyed::default()),
        }
    }

    /// The cache shared by every handler built from the config hashed as `config_hash`.
    pub fn shared(config_hash: Key, max_entries: u64) -> Arc<Self> {
        static REGISTRY: LazyLock<WeakRegistry<Key, ResultCache>> = LazyLock::new(Default::default);
        REGISTRY.get_or_insert(&config_hash, || Self::new(max_entries))
    }

    /// The cached outcome for `key`, or the outcome of `check()` (run once for all concurrent
    /// callers of the same key). `check` returns the outcome and how long it may be cached
    /// (`None`: not at all).
    pub async fn get_or_check<C, F>(&self, key: Key, check: C) -> Outcome
    where
        C: FnOnce() -> F,
        F: Future<Output = (Outcome, Option<Duration>)>,
    {
        if let Some(entry) = self.entries.get(&key).await {
            return entry.outcome.clone();
        }
        // A miss calls the session store: that future (HTTP client state) is large, so it is
        // only built here and boxed, and a hit never allocates or moves it.
        let init = async move {
            match check().await {
                (outcome, Some(ttl)) if !ttl.is_zero() => Ok(Arc::new(Entry { outcome, ttl })),
                (outcome, _) => Err(outcome),
            }
        };
        // An uncacheable outcome travels as the "error" of try_get_with: moka then inserts
        // nothing but still hands it to every caller waiting on this key.
        match Box::pin(self.entries.try_get_with(key, init)).await {
            Ok(entry) => entry.outcome.clone(),
            Err(uncached) => (*uncached).clone(),
        }
    }
}

/// How long a successful check may be served from the cache: `ttl`, capped by the session's
/// `expires_at`; `None` for sessions reported inactive, already expired, or whose `expires_at`
/// cannot be read.
pub fn success_ttl(
    ttl: Duration,
    active: Option<bool>,
    expires_at: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    if active == Some(false) {
        return None;
    }
    let ttl = match expires_at {
        None => ttl,
        Some(s) => ttl.min(
            crate::datetime::parse_rfc3339(s)?
                .duration_since(now)
                .ok()?,
        ),
    };
    (!ttl.is_zero()).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    // DESIGN §4: TTL capped by the session's expires_at; inactive/expired never cached.
    #[test]
    fn ttl_is_capped_by_expiry() {
        let now = at(1_709_209_800);
        let hour = Duration::from_secs(3600);
        let exp = Some("2024-02-29T12:30:15Z"); // now + 15s
        assert_eq!(
            success_ttl(hour, None, exp, now),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            success_ttl(Duration::from_secs(5), Some(true), exp, now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(success_ttl(hour, None, None, now), Some(hour));
        assert_eq!(success_ttl(hour, Some(false), None, now), None);
        assert_eq!(success_ttl(hour, None, exp, at(1_709_209_815)), None);
        assert_eq!(success_ttl(hour, None, exp, at(1_709_300_000)), None);
        assert_eq!(success_ttl(hour, None, Some("tomorrow"), now), None);
    }

    #[tokio::test]
    async fn single_flight_and_uncached_outcomes() {
        let cache = Arc::new(ResultCache::new(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let check = |ttl: Option<Duration>, ok: bool| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let outcome = if ok {
                    Ok(Identity::default())
                } else {
                    Err(PipelineError::unauthorized())
                };
                (outcome, ttl)
            }
        };
        let hour = Some(Duration::from_secs(3600));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cache, check) = (cache.clone(), check(hour, true));
            set.spawn(async move { cache.get_or_check([1; 32], move || check).await });
        }
        while let Some(r) = set.join_next().await {
            assert!(r.expect("join").is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Not cacheable: every call goes upstream.
        for _ in 0..3 {
            let r = cache.get_or_check([2; 32], || check(None, false)).await;
            assert_eq!(r.expect_err("401").status.as_u16(), 401);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // A rejection with a TTL is served from the cache.
        for _ in 0..3 {
            let r = cache
                .get_or_check([3; 32], || check(Some(NEGATIVE_TTL), false))
                .await;
            assert!(r.is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    // An entry weighs one per started 4 KiB of identity: `max_entries` ordinary sessions fit,
    // and large answers (up to the 1 MiB an answer may be) cannot hold max_entries x 1 MiB.
    #[tokio::test]
    async fn large_identities_weigh_more() {
        let cache = ResultCache::new(100);
        let big: serde_json::Map<String, serde_json::Value> = [(
            "pad".to_string(),
            serde_json::Value::from("x".repeat(40_000)),
        )]
        .into_iter()
        .collect();
        for i in 0..50u8 {
            let id = Identity {
                subject: "s".into(),
                extra: Arc::new(big.clone()),
            };
            cache
                .get_or_check([i; 32], || async move {
                    (Ok(id), Some(Duration::from_secs(60)))
                })
                .await
                .expect("ok");
        }
        cache.entries.run_pending_tasks().await;
        let kept = cache.entries.entry_count();
        assert!(
            (1..=10).contains(&kept),
            "{kept} identities of 40 KB in 100 units"
        );
        let small = ResultCache::new(100);
        for i in 0..50u8 {
            small
                .get_or_check([i; 32], || async {
                    (Ok(Identity::default()), Some(Duration::from_secs(60)))
                })
                .await
                .expect("ok");
        }
        small.entries.run_pending_tasks().await;
        assert_eq!(small.entries.entry_count(), 50);
    }

    #[test]
    fn identical_configs_share_one_cache() {
        let a = ResultCache::shared([9; 32], 10);
        let b = ResultCache::shared([9; 32], 10);
        let c = ResultCache::shared([8; 32], 10);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        drop((a, b));
        // Once no handler uses it, a new one starts cold.
        let d = ResultCache::shared([9; 32], 10);
        assert_eq!(d.entries.entry_count(), 0);
    }
}
