//! Unit tests for `cors` (SPEC §2.4 CORS keys and origin matching).
#![allow(clippy::unwrap_used)]

use http::header::{HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::*;
use crate::config::serve::CorsMethod;

fn config(origins: &[&str]) -> CorsConfig {
    CorsConfig {
        enabled: true,
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        ..CorsConfig::default()
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn origin_matching_spec_examples() {
    // SPEC §2.4: `*` allows all; exact (lower-cased pattern); one wildcard label before a
    // registrable domain.
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*"], "https://anything.test", true),
        (&["https://Example.COM"], "https://example.com", true),
        (&["https://example.com"], "https://EXAMPLE.com", true),
        (&["https://example.com"], "http://example.com", false),
        (&["https://example.com"], "https://example.com:8443", false),
        (&["https://*.example.com"], "https://a.example.com", true),
        (&["https://*.example.com"], "https://a.b.example.com", true),
        (&["https://*.example.com"], "https://example.com", false),
        (&["https://*.example.com"], "https://.example.com", false),
        (&["https://*.example.com"], "http://a.example.com", false),
        (
            &["https://*.example.com"],
            "https://a.example.com.evil.com",
            false,
        ),
        (&["https://*.example.com"], "https://evil.com", false),
        (
            &["https://*.example.com:8443"],
            "https://a.example.com:8443",
            true,
        ),
        (
            &["https://*.example.co.uk"],
            "https://a.example.co.uk",
            true,
        ),
        // Ignored patterns match nothing.
        (&["https://*.com"], "https://evil.com", false),
        (&["https://*.co.uk"], "https://evil.co.uk", false),
        (&["https://*foo.com"], "https://barfoo.com", false),
        (&["https://www.ory.*"], "https://www.ory.sh", false),
        (
            &["https://*.*.example.com"],
            "https://a.b.example.com",
            false,
        ),
        (&["*.example.com"], "https://a.example.com", false),
    ];
    for (origins, origin, want) in cases {
        let cors = Cors::from_config(&config(origins));
        assert_eq!(
            cors.origin_allowed(origin),
            *want,
            "{origins:?} vs {origin}"
        );
    }
}

#[test]
fn ignored_patterns_are_reported() {
    let cors = Cors::from_config(&config(&[
        "https://*.com",
        "https://*foo.com",
        "https://www.ory.*",
        "https://*.example.com",
        "https://ok.example.org",
    ]));
    assert_eq!(
        cors.ignored(),
        ["https://*.com", "https://*foo.com", "https://www.ory.*"]
    );
}

#[test]
fn disabled_is_a_no_op() {
    let cors = Cors::from_config(&CorsConfig::default());
    assert!(!cors.is_enabled());
    let req = headers(&[
        ("origin", "https://a.example.com"),
        ("access-control-request-method", "GET"),
    ]);
    assert!(cors.preflight(&Method::OPTIONS, &req).is_none());
    let mut resp = HeaderMap::new();
    cors.apply(&Method::GET, &req, &mut resp);
    assert!(resp.is_empty());
}

#[test]
fn preflight_allowed() {
    let mut c = config(&["https://*.example.com"]);
    c.allow_credentials = true;
    c.max_age = 600;
    let cors = Cors::from_config(&c);
    let req = headers(&[
        ("origin", "https://a.example.com"),
        ("access-control-request-method", "put"),
        (
            "access-control-request-headers",
            "authorization, Content-Type",
        ),
    ]);
    let r = cors.preflight(&Method::OPTIONS, &req).unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(
        get(h, "access-control-allow-origin"),
        Some("https://a.example.com")
    );
    assert_eq!(get(h, "access-control-allow-methods"), Some("PUT"));
    assert_eq!(
        get(h, "access-control-allow-headers"),
        Some("authorization, Content-Type")
    );
    assert_eq!(get(h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(get(h, "access-control-max-age"), Some("600"));
    assert!(get(h, "vary").unwrap().contains("Origin"));
}

#[test]
fn preflight_denied_is_204_without_cors_headers() {
    let mut c = config(&["https://*.example.com"]);
    c.allowed_methods = vec![CorsMethod::Get];
    let cors = Cors::from_config(&c);
    let denied = [
        // Origin not allowed.
        headers(&[
            ("origin", "https://evil.com"),
            ("access-control-request-method", "GET"),
        ]),
        // Method not allowed.
        headers(&[
            ("origin", "https://a.example.com"),
            ("access-control-request-method", "DELETE"),
        ]),
        // Header not allowed.
        headers(&[
            ("origin", "https://a.example.com"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "X-Secret"),
        ]),
        // No origin.
        headers(&[("access-control-request-method", "GET")]),
    ];
    for req in denied {
        let r = cors.preflight(&Method::OPTIONS, &req).unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert!(
            get(r.headers(), "access-control-allow-origin").is_none(),
            "{req:?}"
        );
        assert!(get(r.headers(), "access-control-allow-methods").is_none());
    }
}

#[test]
fn not_a_preflight_goes_on() {
    let cors = Cors::from_config(&config(&["*"]));
    // OPTIONS without Access-Control-Request-Method, and a GET with one.
    let plain = headers(&[("origin", "https://a.test")]);
    assert!(cors.preflight(&Method::OPTIONS, &plain).is_none());
    let get_req = headers(&[
        ("origin", "https://a.test"),
        ("access-control-request-method", "GET"),
    ]);
    assert!(cors.preflight(&Method::GET, &get_req).is_none());
}

#[test]
fn actual_request_headers() {
    let mut c = config(&["https://app.example.com"]);
    c.allow_credentials = true;
    c.exposed_headers = vec!["Content-Type".into(), "X-Request-Id".into()];
    let cors = Cors::from_config(&c);

    let mut resp = HeaderMap::new();
    let req = headers(&[("origin", "https://app.example.com")]);
    cors.apply(&Method::GET, &req, &mut resp);
    assert_eq!(
        get(&resp, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(get(&resp, "vary"), Some("Origin"));
    assert_eq!(get(&resp, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        get(&resp, "access-control-expose-headers"),
        Some("Content-Type, X-Request-Id")
    );

    for (method, origin) in [
        (Method::GET, "https://evil.com"),
        // CONNECT is not in the default allowed methods.
        (Method::CONNECT, "https://app.example.com"),
    ] {
        let mut resp = HeaderMap::new();
        cors.apply(&method, &headers(&[("origin", origin)]), &mut resp);
        assert!(get(&resp, "access-control-allow-origin").is_none());
        assert_eq!(get(&resp, "vary"), Some("Origin"));
    }
}

#[test]
fn any_origin_answers_star() {
    let cors = Cors::from_config(&config(&["*"]));
    let mut resp = HeaderMap::new();
    cors.apply(
        &Method::POST,
        &headers(&[("origin", "https://x.test")]),
        &mut resp,
    );
    assert_eq!(get(&resp, "access-control-allow-origin"), Some("*"));
}

// SPEC §2.4 (rs/cors): an OPTIONS is a preflight only with a non-empty
// `Access-Control-Request-Method`; otherwise it goes on to the rules.
#[test]
fn empty_request_method_is_no_preflight() {
    let c = Cors::from_config(&config(&["https://a.example.com"]));
    let h = headers(&[
        ("Origin", "https://a.example.com"),
        ("Access-Control-Request-Method", ""),
    ]);
    assert!(c.preflight(&Method::OPTIONS, &h).is_none());
    let h = headers(&[
        ("Origin", "https://a.example.com"),
        ("Access-Control-Request-Method", "GET"),
    ]);
    let resp = c.preflight(&Method::OPTIONS, &h).expect("a preflight");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}
