//! The JWKS fetcher and its process-wide cache (SPEC §5.1 "JWKS fetching/caching", §5.5, §9 item
//! 7; DESIGN §6), shared by the `jwt` authenticator and later the id_token mutator and
//! `/.well-known/jwks.json`.
//!
//! One [`JwksSource`] per URL lives in a [`JwksCache`]; handlers get theirs at rule-set load
//! ([`JwksCache::source`]) and keep the `Arc`, so every rule set and reload shares one cache
//! entry per URL. Production code uses [`JwksCache::global`]; tests can build their own.
//!
//! Policy:
//! - An entry is fresh for `ttl` after a successful fetch. A request that finds it missing or
//!   expired starts a refetch and waits at most `max_wait` for it; after that it uses the stale
//!   keys (if any) while the fetch finishes in a background task.
//! - Concurrent callers share one fetch (single flight).
//! - A fetch failure keeps the last good keys; after a failure the next attempt waits
//!   [`FAILURE_BACKOFF`], so a dead JWKS endpoint is not hammered by every request.
//! - An unknown `kid` may refetch at most once per `kid_refetch_interval` per URL (default
//!   [`KID_REFETCH_INTERVAL`]): Oathkeeper refetched on every such request (amplification).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::time::Instant;

use super::jwk::KeySet;
use crate::outbound::{self, CallPolicy};

/// Minimum time between two unknown-`kid` refetches of one URL.
pub const KID_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Minimum time between a failed fetch and the next attempt.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// Deadline of one fetch (all retries included); callers never wait longer than `max_wait`.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where a JWKS comes from.
#[derive(Clone)]
enum Location {
    Http(url::Url),
    /// An object in S3, read with a signed GET.
    Object(crate::blob::Object),
    File(PathBuf),
    #[cfg(test)]
    Mock(Arc<dyn Fn() -> MockFetch + Send + Sync>),
}

#[cfg(test)]
type MockFetch =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send>>;

/// Per-URL state, behind a short-lived std mutex (never held across `.await`).
#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// Completion time of the last successful fetch.
    fetched_at: Option<Instant>,
    /// Completion time and message of the last failed fetch (cleared by a success).
    failed: Option<(Instant, String)>,
    /// The fetch in flight: its receiver turns `true` (or errors if the task died) when done.
    inflight: Option<watch::Receiver<bool>>,
    last_kid_refetch: Option<Instant>,
    /// Fetches started (for tests and metrics).
    fetches: u64,
}

/// The cached JWKS of one URL.
pub struct JwksSource {
    url: String,
    location: Location,
    policy: CallPolicy,
    kid_refetch_interval: Duration,
    state: Mutex<State>,
    /// The last good keys and when they were fetched, as in `state`, readable without the
    /// lock (see [`JwksSource::in_force`]).
    published: ArcSwapOption<Published>,
}

struct Published {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A snapshot of a source's keys after [`JwksSource::get`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The last good keys, possibly stale; `None` if no fetch ever succeeded.
    pub keys: Option<Arc<KeySet>>,
    /// The last fetch failed (keys, if any, are older).
    pub error: Option<String>,
    /// This call started or joined a fetch.
    pub refreshed: bool,
}

/// Why a URL cannot be a JWKS source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported JWKS location `{url}`: {why}")]
pub struct UnsupportedLocation {
    pub url: String,
    pub why: String,
}

impl UnsupportedLocation {
    fn new(url: &str) -> Self {
        Self::because(
            url,
            "expected http(s)://, s3://, file:// or a path".to_owned(),
        )
    }

    fn because(url: &str, why: String) -> Self {
        Self {
            url: url.to_owned(),
            why,
        }
    }
}

/// The process-wide set of [`JwksSource`]s, one per URL.
pub struct JwksCache {
    sources: Mutex<HashMap<String, Arc<JwksSource>>>,
    kid_refetch_interval: Duration,
    policy: CallPolicy,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").finish_non_exhaustive()
    }
}

impl JwksCache {
    /// The cache every rule set of this process shares.
    pub fn global() -> &'static Arc<JwksCache> {
        static GLOBAL: OnceLock<Arc<JwksCache>> = OnceLock::new();
        GLOBAL.get_or_init(|| JwksCache::new(KID_REFETCH_INTERVAL))
    }

    pub fn new(kid_refetch_interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            sources: Mutex::new(HashMap::new()),
            kid_refetch_interval,
            policy: CallPolicy {
                timeout: FETCH_TIMEOUT,
                ..CallPolicy::default()
            },
        })
    }

    /// The source for `url` (`http(s)://`, `s3://`, `file://` or a plain path), created on first
    /// use.
    pub fn source(&self, url: &str) -> Result<Arc<JwksSource>, UnsupportedLocation> {
        if let Some(rest) = url.strip_prefix("file://") {
            // `file:///abs` is absolute; `file://rel/x.json` is relative to the working
            // directory (as for rule repositories and in Oathkeeper).
            let path = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
            if path.is_empty() {
                return Err(UnsupportedLocation::new(url));
            }
            return Ok(self.insert(url, Location::File(PathBuf::from(path.as_ref()))));
        }
        match crate::blob::Object::parse(url) {
            Some(Ok(object)) => return Ok(self.insert(url, Location::Object(object))),
            Some(Err(why)) => return Err(UnsupportedLocation::because(url, why)),
            None => {}
        }
        let location = match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Location::Http(u),
            Ok(_) => return Err(UnsupportedLocation::new(url)),
            Err(_) if !url.is_empty() => Location::File(PathBuf::from(url)),
            Err(_) => return Err(UnsupportedLocation::new(url)),
        };
        Ok(self.insert(url, location))
    }

    fn insert(&self, url: &str, location: Location) -> Arc<JwksSource> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        sources
            .entry(url.to_owned())
            .or_insert_with(|| {
                Arc::new(JwksSource {
                    url: url.to_owned(),
                    location,
                    policy: self.policy,
                    kid_refetch_interval: self.kid_refetch_interval,
                    state: Mutex::new(State::default()),
                    published: ArcSwapOption::empty(),
                })
            })
            .clone()
    }

    #[cfg(test)]
    fn mock(
        &self,
        url: &str,
        f: impl Fn() -> MockFetch + Send + Sync + 'static,
    ) -> Arc<JwksSource> {
        self.insert(url, Location::Mock(Arc::new(f)))
    }
}

impl JwksSource {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many fetches this source started.
    pub fn fetch_count(&self) -> u64 {
        self.lock().fetches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keys, refetched first when missing or older than `ttl` (waiting until `deadline`
    /// at most; past it, the stale keys are returned and the fetch goes on in the background).
    pub async fn get(self: &Arc<Self>, ttl: Duration, deadline: Instant) -> Fetched {
        let rx = self.begin(ttl);
        self.finish(rx, deadline).await
    }

    /// Whether [`JwksSource::get`] with `ttl` would answer `held` at `now` without fetching:
    /// the keys are fresh and are the very set `held` is. Takes no lock and writes nothing
    /// shared (the per-thread front of the verified-token cache asks it on every hit).
    pub fn in_force(&self, held: &Arc<KeySet>, ttl: Duration, now: Instant) -> bool {
        self.published
            .load()
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(&p.keys, held) && now < p.fetched_at + ttl)
    }

    /// [`JwksSource::get`] for several sources, their fetches running in parallel.
    pub async fn get_all(sources: &[Arc<Self>], ttl: Duration, deadline: Instant) -> Vec<Fetched> {
        let pending: Vec<_> = sources.iter().map(|s| s.begin(ttl)).collect();
        let mut out = Vec::with_capacity(sources.len());
        for (s, rx) in sources.iter().zip(pending) {
            out.push(s.finish(rx, deadline).await);
        }
        out
    }

    /// Start (or join) a fetch if the keys are missing or older than `ttl`.
    fn begin(self: &Arc<Self>, ttl: Duration) -> Option<watch::Receiver<bool>> {
        let mut st = self.lock();
        let now = Instant::now();
        let fresh = st.fetched_at.is_some_and(|t| now < t + ttl);
        let backing_off = st
            .failed
            .as_ref()
            .is_some_and(|(t, _)| now < *t + FAILURE_BACKOFF);
        if fresh || (backing_off && !Self::in_flight(&st)) {
            None
        } else {
            Some(self.start_fetch(&mut st))
        }
    }

    /// Refetch because a token named a `kid` the current keys lack — at most once per
    /// `kid_refetch_interval` (joining a fetch already in flight is free). `None`: not allowed
    /// now; the caller keeps what it has.
    pub async fn refetch_for_unknown_kid(self: &Arc<Self>, deadline: Instant) -> Option<Fetched> {
        let rx = self.begin_kid_refetch()?;
        Some(self.finish(Some(rx), deadline).await)
    }

    /// [`JwksSource::refetch_for_unknown_kid`] for several sources in parallel; `None` entries
    /// were not allowed to refetch.
    pub async fn refetch_all_for_unknown_kid(
        sources: &[&Arc<Self>],
        deadline: Instant,
    ) -> Vec<Option<Fetched>> {
        let pending: Vec<_> = sources.iter().map(|s| s.begin_kid_refetch()).collect();
        let mut out = Vec::with_capacity(sources.len());
        for (s, rx) in sources.iter().zip(pending) {
            out.push(match rx {
                Some(rx) => Some(s.finish(Some(rx), deadline).await),
                None => None,
            });
        }
        out
    }

    fn begin_kid_refetch(self: &Arc<Self>) -> Option<watch::Receiver<bool>> {
        let mut st = self.lock();
        if !Self::in_flight(&st) {
            let now = Instant::now();
            if st
                .last_kid_refetch
                .is_some_and(|t| now < t + self.kid_refetch_interval)
            {
                return None;
            }
            st.last_kid_refetch = Some(now);
        }
        Some(self.start_fetch(&mut st))
    }

    fn in_flight(st: &State) -> bool {
        // A receiver whose sender is gone belongs to a task that died (e.g. its runtime ended).
        st.inflight
            .as_ref()
            .is_some_and(|rx| !*rx.borrow() && rx.has_changed().is_ok())
    }

    /// Join the fetch in flight or spawn one (single flight).
    fn start_fetch(self: &Arc<Self>, st: &mut State) -> watch::Receiver<bool> {
        if Self::in_flight(st) {
            if let Some(rx) = &st.inflight {
                return rx.clone();
            }
        }
        let (tx, rx) = watch::channel(false);
        st.inflight = Some(rx.clone());
        st.fetches += 1;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let result = this.fetch().await;
            {
                let mut st = this.lock();
                match result {
                    Ok(keys) => {
                        let keys = Arc::new(keys);
                        let fetched_at = Instant::now();
                        this.published.store(Some(Arc::new(Published {
                            keys: Arc::clone(&keys),
                            fetched_at,
                        })));
                        st.keys = Some(keys);
                        st.fetched_at = Some(fetched_at);
                        st.failed = None;
                    }
                    Err(e) => {
                        tracing::warn!(url = %this.url, "fetching JWKS failed: {e}");
                        st.failed = Some((Instant::now(), e));
                    }
                }
                st.inflight = None;
            }
            let _ = tx.send(true);
        });
        rx
    }

    async fn finish(&self, rx: Option<watch::Receiver<bool>>, deadline: Instant) -> Fetched {
        let refreshed = rx.is_some();
        if let Some(mut rx) = rx {
            // Timeout or a dead task: fall back to what is cached.
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|done| *done)).await;
        }
        let st = self.lock();
        Fetched {
            keys: st.keys.clone(),
            error: st.failed.as_ref().map(|(_, e)| e.clone()),
            refreshed,
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let body = match &self.location {
            Location::Http(url) => {
                self.download(|| outbound::client().get(url.clone()), false)
                    .await?
            }
            Location::Object(object) => {
                let signed = object.get(http::HeaderMap::new()).await?;
                self.download(|| signed.request(), true).await?
            }
            Location::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?,
            #[cfg(test)]
            Location::Mock(f) => f().await?,
        };
        if body.len() > MAX_JWKS_BYTES {
            return Err("document too large".to_owned());
        }
        KeySet::parse(&body).map_err(|e| e.to_string())
    }

    /// The body of a GET (`object`: an object store's, whose error answers say why).
    async fn download(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
        object: bool,
    ) -> Result<Vec<u8>, String> {
        let resp = outbound::send(self.policy, request)
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(match object {
                true => crate::blob::failure(resp).await,
                false => format!("answered {}", resp.status()),
            });
        }
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_JWKS_BYTES as u64)
        {
            return Err("document too large".to_owned());
        }
        // Read in pieces up to the limit: a body without `Content-Length` is otherwise held
        // whole before it can be refused (a 600 MB JWKS took 1.3 GB).
        crate::outbound::read_limited(resp, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                crate::outbound::OutboundError::TooLarge(_) => "document too large".to_owned(),
                other => other.to_string(),
            })
    }
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;
