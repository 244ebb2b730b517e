//! CORS on the API port (SPEC §2.4 CORS keys; Appendix B case 27, run here against the API
//! listener — the proxy listener's half of case 27 comes with the reverse proxy).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gate, BASE_CONFIG};

/// Every GET under http://h/ is denied (403): a request that reached rules would show it.
const RULES: &str = "- id: deny\n  match: { url: 'http://h/<.*>', methods: [GET, OPTIONS] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: deny }\n  mutators: [{ handler: noop }]\n";

fn config(enabled: bool) -> String {
    format!(
        "serve:\n  api:\n    cors:\n      enabled: {enabled}\n      allowed_origins: ['https://*.example.com', 'https://*.com']\n      allowed_headers: [Authorization, Content-Type]\n      allow_credentials: true\n      max_age: 300\n{BASE_CONFIG}"
    )
}

fn preflight(origin: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "Authorization"),
        ("X-Forwarded-Host", "h"),
    ]
}

// SPEC Appendix B case 27: preflight from an allowed origin -> 204 with allow headers, never
// reaching rules (the route would be 403, an unmatched one 404).
#[tokio::test]
async fn case27_preflight_from_allowed_origin() {
    let g = Gate::start(&config(true), &[("rules.yaml", RULES)]).await;
    // A denied route, a route of the API itself, and an unknown route.
    for path in ["/decisions/anything", "/health/alive", "/nope"] {
        let r = g
            .req("OPTIONS", path, &preflight("https://a.example.com"))
            .await;
        assert_eq!(r.status, 204, "{path}: {}", r.body);
        assert_eq!(r.body, "");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example.com")
        );
        assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Authorization")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-max-age"), Some("300"));
    }
    g.stop().await;
}

// Case 27: origin https://evil.com gets no CORS headers — and the `https://*.com` pattern is
// ignored (SPEC §2.4: `*.com` is not a registrable domain), so it does not let evil.com in.
#[tokio::test]
async fn case27_disallowed_origin_gets_no_cors_headers() {
    let g = Gate::start(&config(true), &[("rules.yaml", RULES)]).await;
    let r = g
        .req(
            "OPTIONS",
            "/decisions/anything",
            &preflight("https://evil.com"),
        )
        .await;
    assert_eq!(r.status, 204, "preflights never reach rules: {}", r.body);
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-allow-methods").is_none());

    let r = g
        .req(
            "GET",
            "/decisions/anything",
            &[("Origin", "https://evil.com"), ("X-Forwarded-Host", "h")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    g.stop().await;
}

// Normal responses to an allowed origin carry Access-Control-Allow-Origin, whatever the
// pipeline decided.
#[tokio::test]
async fn actual_requests_from_allowed_origin() {
    let g = Gate::start(&config(true), &[("rules.yaml", RULES)]).await;
    let origin = ("Origin", "https://app.example.com");
    let r = g
        .req("GET", "/decisions/x", &[origin, ("X-Forwarded-Host", "h")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("Content-Type")
    );
    assert!(r.header("vary").unwrap().contains("Origin"));

    let r = g.req("GET", "/health/alive", &[origin]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    g.stop().await;
}

// CORS disabled (the default): a preflight is an ordinary OPTIONS request and reaches rules.
#[tokio::test]
async fn disabled_cors_lets_preflight_reach_rules() {
    let g = Gate::start(&config(false), &[("rules.yaml", RULES)]).await;
    let r = g
        .req(
            "OPTIONS",
            "/decisions/anything",
            &preflight("https://a.example.com"),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.header("access-control-allow-origin").is_none());
    g.stop().await;
}
