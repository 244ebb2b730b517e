//! Unit tests of the hydrator mutator: target URL, forwarded headers, cache key.

use super::*;
use crate::config::handlers::mutate::{BasicAuth, HydratorApi, HydratorAuth};
use crate::config::types::{Secret, Uri};

fn mutator(basic: bool, key_headers: &[&str]) -> HydratorMutator {
    let mut c = HydratorConfig {
        api: HydratorApi {
            url: Some(Uri::parse("http://hydrator.test/h?drop=me").expect("uri")),
            auth: HydratorAuth {
                basic: basic.then(|| BasicAuth {
                    username: "u".into(),
                    password: Secret::new("p"),
                }),
            },
            ..HydratorApi::default()
        },
        ..HydratorConfig::default()
    };
    c.cache.key_headers = key_headers.iter().map(|s| s.to_string()).collect();
    HydratorMutator::new(c).expect("build")
}

fn req(query: &str, headers: &[(&str, &str)]) -> RequestInfo {
    let mut r = RequestInfo::default();
    r.url.raw_query = query.into();
    for (k, v) in headers {
        r.headers.append(
            HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    r
}

// SPEC §5.3: the request's query replaces the API URL's query (sorted, re-encoded).
#[test]
fn query_replaced() {
    let m = mutator(false, &[]);
    assert_eq!(
        m.target(&req("b=2&a=1&a=0", &[])).as_str(),
        "http://hydrator.test/h?a=1&a=0&b=2"
    );
    assert_eq!(m.target(&req("", &[])).as_str(), "http://hydrator.test/h");
}

// SPEC §5.3: original headers forwarded, minus Host, hop-by-hop and body headers; Basic auth
// from the config replaces the client's Authorization.
#[test]
fn forwarded_headers() {
    let r = req(
        "",
        &[
            ("host", "client.example"),
            ("authorization", "Bearer t"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("content-length", "3"),
            ("content-type", "text/plain"),
            ("x-keep", "a"),
            ("x-keep", "b"),
        ],
    );
    let h = mutator(true, &[]).headers(&r);
    assert_eq!(h.get_all("x-keep").iter().count(), 2);
    for gone in ["host", "connection", "x-hop", "content-length"] {
        assert!(!h.contains_key(gone), "{gone}");
    }
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["authorization"], "Basic dTpw");
    let h = mutator(false, &[]).headers(&r);
    assert_eq!(h["authorization"], "Bearer t");
    assert!(!format!("{:?}", mutator(true, &[])).contains("dTpw"));
}

// DESIGN §6: by default the caller's credentials are in the key, so that behind `noop` or
// `anonymous` (one subject for everybody) a caller never gets another caller's hydrated session.
#[test]
fn key_holds_credentials_by_default() {
    let c = HydratorConfig {
        api: HydratorApi {
            url: Some(Uri::parse("http://hydrator.test/h").expect("uri")),
            ..HydratorApi::default()
        },
        ..HydratorConfig::default()
    };
    let m = HydratorMutator::new(c).expect("build");
    let s = Session::default();
    let alice = req("", &[("authorization", "Bearer a"), ("x-trace", "1")]);
    let url = m.target(&alice);
    for other in [
        req("", &[("authorization", "Bearer b")]),
        req("", &[("authorization", "Bearer a"), ("cookie", "sid=1")]),
    ] {
        assert_ne!(m.key(&url, &alice, &s), m.key(&url, &other, &s));
    }
    let same = req("", &[("authorization", "Bearer a"), ("x-trace", "2")]);
    assert_eq!(m.key(&url, &alice, &s), m.key(&url, &same, &s));
}

// SPEC §9 item 18: request headers are not in the key unless listed in key_headers.
#[test]
fn key_ignores_unlisted_headers() {
    let s = Session {
        subject: "alice".into(),
        ..Session::default()
    };
    let m = mutator(false, &[]);
    let (a, b) = (req("", &[("x-tenant", "1")]), req("", &[("x-tenant", "2")]));
    let url = m.target(&a);
    assert_eq!(m.key(&url, &a, &s), m.key(&url, &b, &s));
    let other = Session {
        subject: "bob".into(),
        ..Session::default()
    };
    assert_ne!(m.key(&url, &a, &s), m.key(&url, &a, &other));
    let m = mutator(false, &["X-Tenant"]);
    assert_ne!(m.key(&url, &a, &s), m.key(&url, &b, &s));
}
