//! Unit tests of the verified-token cache of the `jwt` authenticator (DESIGN §4 "caches that
//! are correct", SPEC §5.1 checks re-run on hits). Hits are observed through the cache's store
//! counter (one store per signature verification), never through timing; time moves through
//! `authenticate_at`. End-to-end cases are in `tests/authn_jwt_cache.rs`.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::super::cache::{lifetime, TokenCache};
use super::*;
use crate::config::duration::GoDuration;

/// Signature verifications stored so far by `h`'s cache.
fn stores(h: &Jwt) -> usize {
    h.cache
        .as_ref()
        .expect("cache on")
        .stores
        .load(Ordering::SeqCst)
}

fn build(url: &str, extra: Value, global: &JwtConfig, jwks: &JwksCache) -> Jwt {
    Jwt::with_cache(config(url, extra), global, jwks).expect("build")
}

/// A global config whose `jwks_ttl` is zero: every lookup refetches (a new key set object).
fn always_refetch() -> JwtConfig {
    JwtConfig {
        jwks_ttl: GoDuration::from_secs(0),
        ..JwtConfig::default()
    }
}

async fn run_at(h: &Jwt, token: &str, now: SystemTime) -> Result<Session, PipelineError> {
    let mut s = Session::default();
    h.authenticate_at(&request(token), &mut s, now)
        .await
        .map(|_| s)
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn write_jwks(dir: &tempfile::TempDir, keys: Value) {
    let path = dir.path().join("jwks.json");
    std::fs::write(path, json!({ "keys": keys }).to_string()).expect("write");
}

// Lifetime = min(ttl, exp - now); no exp -> ttl; past or malformed exp -> not stored.
#[test]
fn lifetime_is_capped_by_exp() {
    let ttl = Duration::from_secs(60);
    let now = at(1_000_000);
    let claims = |v: Value| v.as_object().cloned().expect("object");
    let cases = [
        (json!({}), Some(60_000)),
        (json!({"exp": null}), Some(60_000)),
        (json!({"exp": 1_000_010}), Some(10_000)),
        (json!({"exp": 1_000_000.5}), Some(500)),
        (json!({"exp": 1_000_600}), Some(60_000)),
        (json!({"exp": 1_000_000}), None),
        (json!({"exp": 999_000}), None),
        (json!({"exp": "soon"}), None),
    ];
    for (c, want) in cases {
        let got = lifetime(ttl, &claims(c.clone()), now).map(|d| d.as_millis() as u64);
        assert_eq!(got, want, "{c}");
    }
}

// A repeated token is verified once; the claims are re-normalised on every hit.
#[tokio::test]
async fn second_request_is_a_hit() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({}));
    let token = hs_token(Some("h"), json!({"sub": "alice", "scope": "a b"}));
    for i in 1..=3 {
        let (o, s) = run(&h, &token).await.expect("valid");
        assert_eq!(o, AuthnOutcome::Authenticated);
        assert_eq!(s.subject, "alice");
        assert_eq!(s.extra.get("scp"), Some(&json!(["a", "b"])), "request {i}");
        assert!(s.extra.get("scope").is_none());
        assert_eq!(stores(&h), 1, "request {i}");
    }
    // Failures are never stored.
    let bad = hs_token(Some("unknown"), json!({"sub": "x"}));
    for _ in 0..2 {
        assert!(run(&h, &bad).await.is_err());
    }
    assert_eq!(stores(&h), 1);
    // The cache prints neither tokens nor claims.
    let debug = format!("{h:?}");
    assert!(
        !debug.contains(&token) && !debug.contains("alice"),
        "{debug}"
    );
}

// SPEC §5.1 claims checks on hits: rules sharing the cache (same JWKS and algorithms) still
// apply their own audience and scope checks, whichever rule saw the token first.
#[tokio::test]
async fn claims_checks_run_on_every_hit() {
    let dir = tempfile::tempdir().expect("dir");
    let url = jwks_file(&dir);
    let jwks = JwksCache::new(Duration::from_secs(5));
    let global = JwtConfig::default();
    let a = build(&url, json!({"target_audience": ["a"]}), &global, &jwks);
    let b = build(
        &url,
        json!({"required_scope": ["write"], "scope_strategy": "exact"}),
        &global,
        &jwks,
    );
    let (ca, cb) = (a.cache.as_ref().expect("a"), b.cache.as_ref().expect("b"));
    assert!(Arc::ptr_eq(ca, cb), "same identity, one cache");
    let first = hs_token(Some("h"), json!({"sub": "1", "aud": "a", "scope": "read"}));
    let second = hs_token(Some("h"), json!({"sub": "2", "aud": "a", "scope": "read"}));
    assert!(run(&a, &first).await.is_ok());
    let e = run(&b, &first).await.expect_err("scope");
    assert!(e.reason.clone().unwrap_or_default().contains("scope"));
    // The details carry the claims as decoded, not as normalised by an earlier check.
    assert_eq!(
        e.details.clone().expect("details")["jwt_claims"]["scope"],
        "read"
    );
    assert!(run(&b, &second).await.is_err());
    assert!(run(&a, &second).await.is_ok());
    assert!(run(&b, &second).await.is_err());
    assert_eq!(stores(&a), 2, "each token verified once");
}

// Expiry: an entry lives until min(now + ttl, exp); past exp the token is rejected, cached or
// not. The clock is injected.
#[tokio::test]
async fn expired_tokens_stop_being_accepted() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({"cache": {"ttl": "60s"}}));
    let t0 = 1_000_000;
    let token = hs_token(Some("h"), json!({"sub": "e", "exp": t0 + 100}));
    assert!(run_at(&h, &token, at(t0)).await.is_ok());
    assert!(run_at(&h, &token, at(t0 + 30)).await.is_ok());
    assert_eq!(stores(&h), 1, "hit within ttl");
    // Past the ttl: verified again, now kept until exp (30 s left).
    assert!(run_at(&h, &token, at(t0 + 70)).await.is_ok());
    assert_eq!(stores(&h), 2);
    assert!(run_at(&h, &token, at(t0 + 99)).await.is_ok());
    assert_eq!(stores(&h), 2, "hit until exp");
    let e = run_at(&h, &token, at(t0 + 101)).await.expect_err("expired");
    assert!(e.reason.clone().unwrap_or_default().contains("expired"));
    assert_eq!(stores(&h), 2, "an expired token is not stored");

    // With leeway the token still passes after exp, but is verified every time.
    let lenient = handler(&dir, json!({"leeway": "30s"}));
    let before = stores(&lenient);
    for _ in 0..2 {
        assert!(run_at(&lenient, &token, at(t0 + 110)).await.is_ok());
    }
    assert_eq!(stores(&lenient), before);
}

// Key identity: a refetched set with the same key costs one verification, then hits again; a
// changed secret under the same kid or a removed key is a 401 even for a cached token.
#[tokio::test]
async fn key_changes_take_effect_on_hits() {
    let dir = tempfile::tempdir().expect("dir");
    let url = jwks_file(&dir);
    let jwks = JwksCache::new(Duration::from_secs(5));
    let cached = build(&url, json!({}), &JwtConfig::default(), &jwks);
    let refetching = build(&url, json!({}), &always_refetch(), &jwks);
    let token = hs_token(Some("h"), json!({"sub": "k"}));
    assert!(run(&cached, &token).await.is_ok());
    assert!(run(&cached, &token).await.is_ok());
    assert_eq!(stores(&cached), 1);
    // A new key set object with the same key: verified once more, then cached again.
    assert!(run(&refetching, &token).await.is_ok());
    assert_eq!(stores(&cached), 2);
    assert!(run(&cached, &token).await.is_ok());
    assert_eq!(stores(&cached), 2);

    // Another secret under the same kid: the cached proof no longer counts.
    let other = b64(b"another secret, another secret!!");
    write_jwks(
        &dir,
        json!([{"kty": "oct", "use": "sig", "kid": "h", "k": other}]),
    );
    for h in [&refetching, &cached] {
        let e = run(h, &token).await.expect_err("rotated");
        let reason = e.reason.clone().unwrap_or_default();
        assert!(reason.contains("signature is invalid"), "{reason}");
    }
    // The key removed altogether.
    write_jwks(&dir, json!([]));
    for h in [&refetching, &cached] {
        let e = run(h, &token).await.expect_err("removed");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        let reason = e.reason.clone().unwrap_or_default();
        assert!(reason.contains("no signing key"), "{reason}");
    }
    assert_eq!(stores(&cached), 2);
}

// Rules with other JWKS URLs or algorithms never share a cache; `enabled: false`, a zero ttl or
// capacity build none, and the handler still verifies.
#[tokio::test]
async fn cache_identity_and_off_switches() {
    let dir = tempfile::tempdir().expect("dir");
    let other = tempfile::tempdir().expect("dir");
    let url = jwks_file(&dir);
    let jwks = JwksCache::new(Duration::from_secs(5));
    let global = JwtConfig::default();
    let base = build(&url, json!({}), &global, &jwks);
    let shared = build(&url, json!({"leeway": "5s"}), &global, &jwks);
    let variants = [
        json!({"allowed_algorithms": ["HS256"]}),
        json!({"allowed_algorithms": ["RS256", "HS256"]}),
        json!({"cache": {"ttl": "10s"}}),
        json!({"cache": {"max_entries": 5}}),
    ];
    let cache = |h: &Jwt| Arc::clone(h.cache.as_ref().expect("cache"));
    assert!(Arc::ptr_eq(&cache(&base), &cache(&shared)));
    for extra in variants {
        let h = build(&url, extra.clone(), &global, &jwks);
        assert!(!Arc::ptr_eq(&cache(&base), &cache(&h)), "{extra}");
    }
    let elsewhere = build(&jwks_file(&other), json!({}), &global, &jwks);
    assert!(!Arc::ptr_eq(&cache(&base), &cache(&elsewhere)));
    // The allow-list of the rule applies to a token another rule verified.
    let token = hs_token(Some("h"), json!({"sub": "x"}));
    assert!(run(&base, &token).await.is_ok());
    let rs_only = build(
        &url,
        json!({"allowed_algorithms": ["RS256"]}),
        &global,
        &jwks,
    );
    let e = run(&rs_only, &token).await.expect_err("alg");
    assert!(e.reason.clone().unwrap_or_default().contains("not allowed"));

    for off in [
        json!({"cache": {"enabled": false}}),
        json!({"cache": {"ttl": "0s"}}),
        json!({"cache": {"max_entries": 0}}),
    ] {
        let h = build(&url, off.clone(), &global, &jwks);
        assert!(h.cache.is_none(), "{off}");
        for _ in 0..2 {
            let (_, s) = run(&h, &token).await.expect("valid");
            assert_eq!(s.subject, "x");
        }
        assert!(run(&h, &hs_token(Some("r"), json!({}))).await.is_err());
    }
}

// Nothing is allocated for the entries before a token verifies (10,000 rules, few tokens).
#[tokio::test]
async fn entries_are_created_lazily() {
    let dir = tempfile::tempdir().expect("dir");
    let h = handler(&dir, json!({}));
    let c = h.cache.as_ref().expect("cache");
    assert!(c
        .get(&TokenCache::key("a.b.c"), SystemTime::now())
        .await
        .is_none());
    assert!(run(&h, "a.b.c").await.is_err());
    assert!(format!("{c:?}").contains("entries: None"), "{c:?}");
    assert!(run(&h, &hs_token(Some("h"), json!({}))).await.is_ok());
    assert!(format!("{c:?}").contains("entries: Some"), "{c:?}");
}

// A thread's own hit counts only while the keys it was made with are fresh: once `jwks_ttl`
// has passed, the key lookup runs (and refetches), so a key removed meanwhile is a 401 for a
// token this thread has just accepted.
#[tokio::test]
async fn front_hits_end_when_the_keys_go_stale() {
    let dir = tempfile::tempdir().expect("dir");
    let url = jwks_file(&dir);
    let jwks = JwksCache::new(Duration::from_secs(5));
    let global = JwtConfig {
        jwks_ttl: GoDuration::from_secs(1),
        ..JwtConfig::default()
    };
    let h = build(&url, json!({}), &global, &jwks);
    let token = hs_token(Some("h"), json!({"sub": "f"}));
    for _ in 0..3 {
        assert!(run(&h, &token).await.is_ok());
    }
    assert_eq!(h.sources[0].fetch_count(), 1, "hits never fetch");
    assert_eq!(stores(&h), 1);
    write_jwks(&dir, json!([]));
    assert!(run(&h, &token).await.is_ok(), "keys still fresh");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let e = run(&h, &token).await.expect_err("key removed");
    let reason = e.reason.clone().unwrap_or_default();
    assert!(reason.contains("no signing key"), "{reason}");
    assert_eq!(h.sources[0].fetch_count(), 2);
}
