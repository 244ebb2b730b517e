//! JWKS cache policy (SPEC §5.5, §9 item 7) under paused tokio time.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

const TTL: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(1);

fn doc(kid: &str) -> Vec<u8> {
    serde_json::json!({"keys": [{"kty": "oct", "use": "sig", "kid": kid, "k": "c2VjcmV0"}]})
        .to_string()
        .into_bytes()
}

/// A mock JWKS endpoint: answers with the current kid after `delay`, or fails.
struct Endpoint {
    kid: Mutex<Option<String>>,
    delay: Mutex<Duration>,
    calls: AtomicU64,
}

fn endpoint(kid: &str) -> Arc<Endpoint> {
    Arc::new(Endpoint {
        kid: Mutex::new(Some(kid.to_owned())),
        delay: Mutex::new(Duration::from_millis(10)),
        calls: AtomicU64::new(0),
    })
}

fn source(cache: &JwksCache, ep: &Arc<Endpoint>) -> Arc<JwksSource> {
    let ep = Arc::clone(ep);
    cache.mock("mock://jwks", move || {
        let ep = Arc::clone(&ep);
        Box::pin(async move {
            ep.calls.fetch_add(1, Ordering::SeqCst);
            let delay = *ep.delay.lock().expect("lock");
            tokio::time::sleep(delay).await;
            match ep.kid.lock().expect("lock").clone() {
                Some(kid) => Ok(doc(&kid)),
                None => Err("down".to_owned()),
            }
        })
    })
}

fn kids(f: &Fetched) -> Vec<String> {
    f.keys
        .as_ref()
        .map(|k| k.keys().iter().filter_map(|k| k.kid.clone()).collect())
        .unwrap_or_default()
}

fn deadline() -> Instant {
    Instant::now() + WAIT
}

#[tokio::test(start_paused = true)]
async fn cached_for_ttl_then_refetched() {
    let cache = JwksCache::new(KID_REFETCH_INTERVAL);
    let ep = endpoint("a");
    let src = source(&cache, &ep);
    let f = src.get(TTL, deadline()).await;
    assert_eq!(kids(&f), ["a"]);
    assert!(f.refreshed);
    for _ in 0..10 {
        assert!(!src.get(TTL, deadline()).await.refreshed);
    }
    assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
    *ep.kid.lock().expect("lock") = Some("b".to_owned());
    tokio::time::advance(TTL).await;
    assert_eq!(kids(&src.get(TTL, deadline()).await), ["b"]);
    assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
}

// Concurrent misses share one fetch.
#[tokio::test(start_paused = true)]
async fn single_flight() {
    let cache = JwksCache::new(KID_REFETCH_INTERVAL);
    let ep = endpoint("a");
    let src = source(&cache, &ep);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let src = Arc::clone(&src);
        tasks.push(tokio::spawn(async move { src.get(TTL, deadline()).await }));
    }
    for t in tasks {
        assert_eq!(kids(&t.await.expect("task")), ["a"]);
    }
    assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
}

// An expired entry is refetched; a caller waits at most max_wait and then uses the stale keys
// while the fetch finishes in the background.
#[tokio::test(start_paused = true)]
async fn stale_keys_after_max_wait() {
    let cache = JwksCache::new(KID_REFETCH_INTERVAL);
    let ep = endpoint("a");
    let src = source(&cache, &ep);
    src.get(TTL, deadline()).await;
    tokio::time::advance(TTL).await;
    *ep.kid.lock().expect("lock") = Some("b".to_owned());
    *ep.delay.lock().expect("lock") = Duration::from_secs(3);
    let f = src.get(TTL, deadline()).await;
    assert_eq!(kids(&f), ["a"], "stale keys after max_wait");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(kids(&src.get(TTL, deadline()).await), ["b"]);
    assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
}

// A failed fetch keeps the last good keys and backs off.
#[tokio::test(start_paused = true)]
async fn failure_keeps_last_good_keys() {
    let cache = JwksCache::new(KID_REFETCH_INTERVAL);
    let ep = endpoint("a");
    let src = source(&cache, &ep);
    src.get(TTL, deadline()).await;
    *ep.kid.lock().expect("lock") = None;
    tokio::time::advance(TTL).await;
    let f = src.get(TTL, deadline()).await;
    assert_eq!(kids(&f), ["a"]);
    assert_eq!(f.error.as_deref(), Some("down"));
    // Within the backoff no new attempt is made.
    for _ in 0..10 {
        src.get(TTL, deadline()).await;
    }
    assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(FAILURE_BACKOFF).await;
    src.get(TTL, deadline()).await;
    assert_eq!(ep.calls.load(Ordering::SeqCst), 3);
}

// SPEC §9 item 7: an unknown kid refetches at most once per interval.
#[tokio::test(start_paused = true)]
async fn unknown_kid_refetch_is_rate_limited() {
    let cache = JwksCache::new(Duration::from_secs(5));
    let ep = endpoint("a");
    let src = source(&cache, &ep);
    src.get(TTL, deadline()).await;
    *ep.kid.lock().expect("lock") = Some("b".to_owned());
    let f = src
        .refetch_for_unknown_kid(deadline())
        .await
        .expect("allowed");
    assert_eq!(kids(&f), ["b"]);
    for _ in 0..1000 {
        assert!(src.refetch_for_unknown_kid(deadline()).await.is_none());
    }
    assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(src.refetch_for_unknown_kid(deadline()).await.is_some());
    assert_eq!(src.fetch_count(), 3);
}

#[test]
fn locations() {
    let cache = JwksCache::new(KID_REFETCH_INTERVAL);
    assert!(cache.source("https://idp.example/jwks.json").is_ok());
    assert!(cache.source("file:///etc/jwks.json").is_ok());
    assert!(cache.source("/etc/jwks.json").is_ok());
    assert!(cache.source("s3://bucket/jwks.json").is_err());
    assert!(cache.source("").is_err());
    // One source per URL.
    let a = cache.source("https://idp.example/jwks.json").expect("a");
    let b = cache.source("https://idp.example/jwks.json").expect("b");
    assert!(Arc::ptr_eq(&a, &b));
}
