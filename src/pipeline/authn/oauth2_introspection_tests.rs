use serde_json::json;

use super::*;

fn handler(config: serde_json::Value) -> OAuth2Introspection {
    let c: IntrospectionConfig = serde_json::from_value(config).expect("config");
    OAuth2Introspection::new(c).expect("build")
}

fn result(v: serde_json::Value) -> Introspected {
    serde_json::from_value(v).expect("result")
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

// SPEC §5.1 oauth2_introspection checks, in order, with their statuses.
#[test]
fn checks() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "scope_strategy": "exact",
        "required_scope": ["read"],
        "target_audience": ["api"],
        "trusted_issuers": ["https://issuer"],
    }));
    let ok = json!({"active": true, "scope": "read write", "aud": ["api"],
                    "iss": "https://issuer", "exp": 2000});
    let with = |k: &str, v: serde_json::Value| {
        let mut r = ok.clone();
        r[k] = v;
        result(r)
    };
    assert!(h.check(&result(ok.clone()), at(1000)).is_ok());
    let cases = [
        (
            with("token_use", json!("refresh_token")),
            403,
            "not an access token",
        ),
        (
            with("active", json!(false)),
            401,
            "Access token is not active",
        ),
        (result(ok.clone()), 401, "Access token expired"), // checked at 3000 below
        (with("aud", json!("other")), 403, "target audience api"),
        (with("iss", json!("https://evil")), 403, "trusted issuer"),
        (
            with("scope", json!("write")),
            403,
            "Scope read was not granted",
        ),
    ];
    for (i, (r, status, reason)) in cases.into_iter().enumerate() {
        let now = if i == 2 { at(3000) } else { at(1000) };
        let e = h.check(&r, now).expect_err(reason);
        assert_eq!(e.status.as_u16(), status, "{reason}");
        assert!(e.reason.as_deref().unwrap_or("").contains(reason), "{e}");
    }
    // SPEC §5.1 "exp in the past" is Go's `time.Unix(exp, 0).Before(now)`: 0.3 s into the
    // second `exp` names, the token has expired; at that second's start it has not.
    let second = at(2000);
    assert!(h.check(&result(ok.clone()), second).is_ok());
    let e = h
        .check(&result(ok.clone()), second + Duration::from_millis(300))
        .expect_err("expired within its last second");
    assert_eq!(e.status.as_u16(), 401);
    // token_use access_token is fine; exp 0 means no expiry.
    assert!(h
        .check(&with("token_use", json!("access_token")), at(1000))
        .is_ok());
    assert!(h
        .check(&with("exp", json!(0)), at(u64::from(u32::MAX)))
        .is_ok());
}

// SPEC §5.7 `none`: no local scope check; the scopes go to the server instead.
#[test]
fn strategy_none_delegates_scope() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "required_scope": ["a", "b"],
    }));
    assert_eq!(h.scope_param.as_deref(), Some("a b"));
    assert!(h.check(&result(json!({"active": true})), at(0)).is_ok());
    // SPEC §5.1: the form always carries `scope` under `none`, empty when none is required.
    let h = handler(json!({"introspection_url": "http://127.0.0.1:1/introspect"}));
    assert_eq!(h.scope_param.as_deref(), Some(""));
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "scope_strategy": "exact",
        "required_scope": ["a"],
    }));
    assert_eq!(h.scope_param, None);
}

// DESIGN §4: TTL = min(cache.ttl, time to exp); inactive/rejected results only briefly.
#[test]
fn ttls() {
    let h = handler(json!({"introspection_url": "http://127.0.0.1:1/i"}));
    let hour = Some(Duration::from_secs(3600));
    let active = result(json!({"active": true, "exp": 1100}));
    assert_eq!(
        h.ttl(&active, hour, at(1000)),
        Some(Duration::from_secs(100))
    );
    assert_eq!(
        h.ttl(&active, Some(Duration::from_secs(5)), at(1000)),
        Some(Duration::from_secs(5))
    );
    let no_exp = result(json!({"active": true}));
    assert_eq!(h.ttl(&no_exp, None, at(1000)), None);
    let inactive = result(json!({"active": false}));
    assert_eq!(h.ttl(&inactive, hour, at(1000)), Some(NEGATIVE_TTL));
    assert_eq!(h.ttl(&inactive, None, at(1000)), Some(NEGATIVE_TTL));
}

// DESIGN §4: the checks re-run on every cache hit, so a cached token past its `exp` is refused
// without calling the (here unreachable) endpoint.
#[tokio::test]
async fn cache_hit_rechecks_expiry() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "cache": {"enabled": true, "ttl": "1h", "max_cost": 100000},
    }));
    let mut req = RequestInfo::default();
    req.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer tok"),
    );
    let cache = h.cache.as_ref().expect("cache");
    let r = Arc::new(result(json!({"active": true, "sub": "alice", "exp": 2000})));
    cache
        .entries
        .insert(
            h.cache_key(cache, "tok", &req),
            Expiring {
                value: r,
                ttl: None,
            },
        )
        .await;
    let mut s = Session::default();
    let out = h
        .authenticate_at(&req, &mut s, at(1000))
        .await
        .expect("hit");
    assert_eq!(out, AuthnOutcome::Authenticated);
    assert_eq!(s.subject, "alice");
    let e = h
        .authenticate_at(&req, &mut Session::default(), at(3000))
        .await
        .expect_err("expired");
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    // A different config never shares the entry.
    let other = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "required_scope": ["x"],
        "cache": {"enabled": true, "ttl": "1h", "max_cost": 17},
    }));
    let oc = other.cache.as_ref().expect("cache");
    assert_ne!(
        other.cache_key(oc, "tok", &req),
        h.cache_key(cache, "tok", &req)
    );
    // Nor does one with another TTL: an entry keeps the TTL of the rule that stored it.
    let shorter = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "cache": {"enabled": true, "ttl": "2s", "max_cost": 100000},
    }));
    let sc = shorter.cache.as_ref().expect("cache");
    assert_ne!(
        shorter.cache_key(sc, "tok", &req),
        h.cache_key(cache, "tok", &req)
    );
}

// `cache.max_cost` bounds the bytes the cached answers take (about), not their count: a
// count of 10^8 (the default) bounded nothing, at ~1 KB per answer.
#[tokio::test]
async fn max_cost_bounds_bytes() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/introspect",
        "cache": {"enabled": true, "ttl": "1h", "max_cost": 20000},
    }));
    let cache = h.cache.as_ref().expect("cache");
    let big = "x".repeat(1000);
    for i in 0..200u8 {
        let r = Arc::new(result(
            json!({"active": true, "sub": "s", "ext": {"pad": big}}),
        ));
        cache
            .entries
            .insert(
                [i; 32],
                Expiring {
                    value: r,
                    ttl: None,
                },
            )
            .await;
    }
    cache.entries.run_pending_tasks().await;
    assert!(
        cache.entries.weighted_size() <= 20000,
        "{}",
        cache.entries.weighted_size()
    );
    let kept = cache.entries.entry_count();
    assert!(
        (5..=20).contains(&kept),
        "{kept} entries of ~1.3 KB in 20,000 bytes"
    );
}

#[test]
fn debug_hides_headers() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/i",
        "introspection_request_headers": {"Authorization": "Basic c2VjcmV0"},
    }));
    assert!(!format!("{h:?}").contains("c2VjcmV0"));
}

// SPEC §5.1 (Go's client writes `Host` and the body's length itself): `Host`, `Content-Length`
// and hop-by-hop names among `introspection_request_headers` are dropped; the others stay.
#[test]
fn host_and_framing_headers_are_dropped() {
    let h = handler(json!({
        "introspection_url": "http://127.0.0.1:1/i",
        "introspection_request_headers": {
            "Content-Length": "3", "Host": "idp.internal", "Connection": "close", "X-Tenant": "t1",
        },
    }));
    let mut names: Vec<&str> = h.headers.keys().map(http::HeaderName::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["content-type", "x-tenant"]);
}
