//! `/decisions` black-box tests: SPEC Appendix B cases 3, 4, 6, 9, 10, 11 and 15, run against a
//! real listener on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gate, BASE_CONFIG};

const H: (&str, &str) = ("X-Forwarded-Host", "h");

fn rule(id: &str, url: &str, authn: &str, authz: &str, mutators: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: '{url}', methods: [GET] }}\n  authenticators: [{{ handler: {authn} }}]\n  authorizer: {{ handler: {authz} }}\n  mutators: {mutators}\n"
    )
}

// SPEC Appendix B case 3: two rules matching the same URL -> 500 JSON.
#[tokio::test]
async fn case3_two_matching_rules_is_500() {
    let rules = rule("a", "http://h/<.*>", "noop", "allow", "[{handler: noop}]")
        + &rule("b", "http://h/x<.*>", "noop", "allow", "[{handler: noop}]");
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/xyz", &[H]).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "Expected exactly one rule but found multiple rules"
    );
    // Only one matches here.
    assert_eq!(g.req("GET", "/decisions/abc", &[H]).await.status, 200);
}

// SPEC Appendix B case 4 and §5.1 anonymous.
#[tokio::test]
async fn case4_anonymous() {
    let rules = rule(
        "anon",
        "http://h/a",
        "anonymous",
        "allow",
        "[{handler: header, config: {headers: {X-User: '{{ print .Subject }}'}}}]",
    ) + &rule(
        "anon-custom",
        "http://h/b",
        "anonymous, config: { subject: guest }",
        "allow",
        "[{handler: header, config: {headers: {X-User: '{{ print .Subject }}'}}}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/a", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-user"), Some("anonymous"));
    let r = g.req("GET", "/decisions/b", &[H]).await;
    assert_eq!(r.header("x-user"), Some("guest"));
    let r = g
        .req("GET", "/decisions/a", &[H, ("Authorization", "Bearer x")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["error"]["message"],
        "Access credentials are invalid"
    );
}

// SPEC Appendix B case 6 (json part) and §4.9: deny -> 403 JSON; a rule-level
// www_authenticate handler turns it into a 401 challenge.
#[tokio::test]
async fn case6_deny_and_www_authenticate() {
    let rules = rule("deny", "http://h/deny", "noop", "deny", "[{handler: noop}]")
        + &rule(
            "deny-www",
            "http://h/www",
            "noop",
            "deny",
            "[{handler: noop}]",
        )
        + "  errors: [{ handler: www_authenticate }]\n";
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/deny", &[H]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["error"]["code"], 403);
    assert_eq!(body["error"]["status"], "Forbidden");
    assert_eq!(
        body["error"]["message"],
        "Access credentials are not sufficient to access this resource"
    );
    let r = g.req("GET", "/decisions/www", &[H]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=Please authenticate.")
    );
    assert_eq!(r.body, "Unauthorized\n");
}

// SPEC §4.9: non-verbose JSON replaces messages with herodot's generic text.
#[tokio::test]
async fn non_verbose_json_is_generic() {
    let config = BASE_CONFIG.replace("verbose: true", "verbose: false");
    let rules = rule("deny", "http://h/deny", "noop", "deny", "[{handler: noop}]");
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/deny", &[H]).await;
    assert_eq!(
        r.body,
        r#"{"error":{"code":403,"status":"Forbidden","message":"The requested action was forbidden"}}"#
    );
    let r = g.req("GET", "/decisions/none", &[H]).await;
    assert_eq!(
        r.body,
        r#"{"error":{"code":404,"status":"Not Found","message":"The requested resource could not be found"}}"#
    );
}

// SPEC Appendix B case 9: capture groups reach templates; out-of-range index is empty.
#[tokio::test]
async fn case9_capture_groups() {
    let rules = rule(
        "cg",
        "http://h/users/<[0-9]+>/<[a-z]+>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Id: '{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}', X-Name: '{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}', X-None: '{{ printIndex .MatchContext.RegexpCaptureGroups 5 }}'}}}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/users/42/abc", &[H]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-id"), Some("42"));
    assert_eq!(r.header("x-name"), Some("abc"));
    assert_eq!(r.header("x-none"), Some(""));
    assert_eq!(
        g.req("GET", "/decisions/users/x/abc", &[H]).await.status,
        404
    );
}

// Capture groups are only extracted for rules with a handler that may read them (DESIGN §4); every
// mutator kind that can read them still sees them, including through the whole session (`.`).
#[tokio::test]
async fn capture_groups_reach_every_reader() {
    let rules = rule(
        "cookie",
        "http://h/c/<[0-9]+>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Plain: '{{ print .Subject }}'}}}, {handler: cookie, config: {cookies: {id: '{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}'}}}]",
    ) + &rule(
        "whole",
        "http://h/w/<[a-z]+>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Session: '{{ toJson . }}'}}}]",
    ) + &rule(
        "none",
        "http://h/n/<[a-z]+>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Url: '{{ print .MatchContext }}'}}}]",
    );
    let config = BASE_CONFIG.replace(
        "mutators:\n",
        "mutators:\n  cookie: { enabled: true, config: { cookies: {} } }\n",
    );
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/c/42", &[H]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cookie"), Some("id=42"));
    let r = g.req("GET", "/decisions/w/abc", &[H]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let session: serde_json::Value =
        serde_json::from_str(r.header("x-session").unwrap_or("")).expect("json");
    assert_eq!(
        session["match_context"]["regexp_capture_groups"],
        serde_json::json!(["abc"]),
        "{session}"
    );
    let r = g.req("GET", "/decisions/n/xyz", &[H]).await;
    assert!(
        r.header("x-url").unwrap_or("").contains("[xyz]"),
        "{:?}",
        r.header("x-url")
    );
}

// SPEC Appendix B case 10: glob strategy, `*` stops at separators, `**` does not; no groups.
#[tokio::test]
async fn case10_glob() {
    let config = BASE_CONFIG.replace("access_rules:", "access_rules:\n  matching_strategy: glob");
    let rules = rule(
        "one",
        "http://h/<*>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Groups: '{{ len .MatchContext.RegexpCaptureGroups }}'}}}]",
    ) + &rule("two", "http://h/deep/<**>", "noop", "allow", "[{handler: noop}]");
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/foo", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-groups"), Some("0"));
    assert_eq!(g.req("GET", "/decisions/foo/bar", &[H]).await.status, 404);
    assert_eq!(
        g.req("GET", "/decisions/deep/foo/bar.baz", &[H])
            .await
            .status,
        200
    );
    assert_eq!(g.req("GET", "/decisions/deep/foo", &[H]).await.status, 200);
}

// SPEC Appendix B case 11 and §3.4: the path is decoded and cleaned before matching.
#[tokio::test]
async fn case11_path_traversal_is_refused() {
    // SPEC Appendix B case 11 holds on the proxy port, which forwards the cleaned path. On
    // `/decisions` the gateway forwards the path as sent, so one with dot or empty segments is
    // refused (DESIGN §6: what is decided is what the service reads), from the `/decisions`
    // path and from `X-Forwarded-Uri` alike; Oathkeeper's mux answers 301 to the former.
    let rules = rule(
        "admin",
        "http://h/admin/<.*>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-Path: '{{ .MatchContext.URL.Path }}'}}}]",
    ) + &rule(
        "public",
        "http://h/public/<.*>",
        "noop",
        "allow",
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for path in [
        "/decisions/public/../admin/secrets",
        "/decisions/public/%2e%2e/admin/secrets",
        "/decisions/public/%2E./admin/secrets",
        "/decisions/admin//secrets",
        "/decisions/admin/./secrets",
        "/decisions/public/x%2F..%2F..%2Fadmin/secrets",
        "/decisions/public/x%5C..%5C..%5Cadmin%5Csecrets",
    ] {
        let r = g.req("GET", path, &[H]).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    for uri in ["/admin/x/../../public/a", "/public//a", "/public/%2e/a"] {
        let r = g
            .req("GET", "/decisions", &[H, ("X-Forwarded-Uri", uri)])
            .await;
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
    }
    // A trailing slash is cleaned as in Oathkeeper; escapes that are no separator are decoded.
    for path in ["/decisions/admin/secrets/", "/decisions/admin/%73ecrets"] {
        let r = g.req("GET", path, &[H]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("x-path"), Some("/admin/secrets"), "{path}");
    }
    // DESIGN §6: NUL after decoding is rejected.
    assert_eq!(g.req("GET", "/decisions/admin/%00", &[H]).await.status, 400);
}

// SPEC Appendix B case 15: decisions with header and noop mutators, forwarded-header
// reconstruction, query not taken from X-Forwarded-Uri.
#[tokio::test]
async fn case15_decisions() {
    let rules = rule(
        "hdr",
        "http://h/a/<[0-9]+>",
        "noop",
        "allow",
        "[{handler: header, config: {headers: {X-User: 'u-{{ print .Subject }}'}}}]",
    ) + &rule("echo", "http://h/echo", "noop", "allow", "[{handler: noop}]")
        + "- id: fwd\n  match: { url: 'https://foo/p', methods: [POST] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: header, config: { headers: { X-Url: '{{ .MatchContext.URL.String }}', X-Method: '{{ .MatchContext.Method }}', X-Query: '{{ .MatchContext.URL.RawQuery }}' } } }]\n";
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;

    let r = g.req("GET", "/decisions/a/12", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "");
    assert_eq!(r.header("x-user"), Some("u-"));
    assert_eq!(r.header("content-length"), Some("0"));

    // The noop mutator echoes request headers, never Content-Length.
    let r = g
        .req(
            "GET",
            "/decisions/echo",
            &[H, ("Authorization", "Bearer tok"), ("X-Custom", "1")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("authorization"), Some("Bearer tok"));
    assert_eq!(r.header("x-custom"), Some("1"));
    assert_eq!(r.header("content-length"), Some("0"));

    let r = g
        .req(
            "GET",
            "/decisions/ignored?own=1",
            &[
                ("X-Forwarded-Method", "POST"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "foo"),
                ("X-Forwarded-Uri", "/p?q=1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-method"), Some("POST"));
    assert_eq!(r.header("x-query"), Some("own=1"));
    assert_eq!(r.header("x-url"), Some("https://foo/p?own=1"));
    // Same request as GET: no rule for that method.
    let r = g
        .req(
            "GET",
            "/decisions/x",
            &[
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "foo"),
                ("X-Forwarded-Uri", "/p"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);

    // Empty forwarded headers count as absent (Go's `OrDefaultString`): the sub-request's own
    // method, scheme and path; an `X-Forwarded-Uri` that is only a query has no path.
    let r = g
        .req(
            "GET",
            "/decisions/echo",
            &[
                H,
                ("X-Forwarded-Method", ""),
                ("X-Forwarded-Proto", ""),
                ("X-Forwarded-Uri", "?a=1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = g
        .req(
            "GET",
            "/decisions/a/7",
            &[H, ("X-Forwarded-Uri", ""), ("X-Forwarded-Method", "")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("u-"));
}

// DESIGN §3: with trusted_proxies set, other peers' X-Forwarded-* headers are ignored.
#[tokio::test]
async fn trusted_proxies_ignore_untrusted_peers() {
    let rules = rule("h", "http://h/x", "noop", "allow", "[{handler: noop}]")
        + &rule(
            "local",
            "http://<127\\.0\\.0\\.1:[0-9]+>/x",
            "noop",
            "allow",
            "[{handler: header, config: {headers: {X-Local: yes}}}]",
        );
    let trusting = BASE_CONFIG.to_string() + "serve:\n  api:\n    trusted_proxies: [127.0.0.0/8]\n";
    let g = Gate::start(&trusting, &[("rules.yaml", &rules)]).await;
    assert_eq!(g.req("GET", "/decisions/x", &[H]).await.status, 200);
    assert_eq!(
        g.req("GET", "/decisions/x", &[H]).await.header("x-local"),
        None
    );
    g.stop().await;

    let distrusting =
        BASE_CONFIG.to_string() + "serve:\n  api:\n    trusted_proxies: [10.0.0.0/8]\n";
    let g = Gate::start(&distrusting, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/x", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-local"),
        Some("yes"),
        "forwarded host from an untrusted peer was used"
    );
}

// DESIGN §4 (gatehouse extension): a rule's `rate_limit`, here per client address: the
// right-most public `X-Forwarded-For` entry (the one the nearest proxy appended; what a client
// writes to its left is ignored, so rotating it does not buy a new budget). Over the limit ->
// 429 with `Retry-After` and `X-RateLimit-*`, also on a rule whose error handler would answer
// every error with a Basic challenge; other addresses keep their own budget; `GET /rules` shows
// the limit. An invalid limit fails the rule with its key path.
#[tokio::test]
async fn rate_limit_per_client_address() {
    let rules = "- id: limited\n  match: { url: 'http://h/api/<.*>', methods: [GET] }\n  rate_limit: { requests: 2, per: 1h, by: ip }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: allow }\n  mutators: [{ handler: noop }]\n  errors: [{ handler: www_authenticate }]\n";
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", rules)]).await;
    let spoofed = [
        "192.0.2.1, 203.0.113.1",
        "192.0.2.2, 203.0.113.1",
        "192.0.2.3, 203.0.113.1",
    ];
    for xff in &spoofed[..2] {
        let r = g
            .req("GET", "/decisions/api/x", &[H, ("X-Forwarded-For", xff)])
            .await;
        assert_eq!(r.status, 200, "{xff}");
    }
    let r = g
        .req(
            "GET",
            "/decisions/api/x",
            &[H, ("X-Forwarded-For", spoofed[2])],
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["message"], "Too many requests");
    assert!(r.header("www-authenticate").is_none());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1790..=1800).contains(&retry), "{retry}");
    assert_eq!(r.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let r = g
        .req(
            "GET",
            "/decisions/api/x",
            &[H, ("X-Forwarded-For", "203.0.113.2")],
        )
        .await;
    assert_eq!(r.status, 200, "another client has its own budget");
    let listed = g.get("/rules/limited").await.json();
    assert_eq!(listed["rate_limit"]["requests"], 2);
    assert_eq!(listed["rate_limit"]["per"], "1h");
    g.stop().await;

    let bad = rules.replace("requests: 2", "requests: 0");
    let err = Gate::try_start(BASE_CONFIG, &[("rules.yaml", &bad)], &[])
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("rule \"limited\": rate_limit.requests: must be at least 1"),
        "{err}"
    );
}

// DESIGN §2 (one canonical host for matching and forwarding): the host is matched in lower
// case and without a trailing dot, so a host-based deny rule holds for `EVIL.example` and
// `evil.example.` (Oathkeeper matches the raw value and lets both through to a catch-all rule);
// a pattern's host is made to match the same way (literal text lowered, trailing dot dropped,
// `<...>` parts case-insensitive).
#[tokio::test]
async fn host_case_and_trailing_dot_do_not_escape_a_rule() {
    let rules = rule(
        "evil",
        "http://Evil.Example/<.*>",
        "noop",
        "deny",
        "[{handler: noop}]",
    ) + "  priority: 10\n"
        + &rule(
            "ops",
            "http://<ADMIN|OPS>.corp./<.*>",
            "noop",
            "deny",
            "[{handler: noop}]",
        )
        + "  priority: 10\n"
        + &rule(
            "all",
            "http://<[^/]+>/<.*>",
            "noop",
            "allow",
            "[{handler: noop}]",
        );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for host in [
        "evil.example",
        "EVIL.example",
        "evil.example.",
        "Evil.Example..",
        "evil.example:",
        "admin.corp",
        "OPS.corp",
    ] {
        let r = g
            .req("GET", "/decisions/x", &[("X-Forwarded-Host", host)])
            .await;
        assert_eq!(r.status, 403, "{host}");
        let r = g.proxy("GET", "/x", &[("Host", host)]).await;
        assert_eq!(r.status, 403, "{host} (proxy)");
    }
    let r = g
        .req(
            "GET",
            "/decisions/x",
            &[("X-Forwarded-Host", "good.example")],
        )
        .await;
    assert_eq!(r.status, 200);
}

// SPEC §6.2: the path, method and scheme decided are the `X-Forwarded-*` values as sent. A value
// beyond ASCII is still that value (Go reads headers as bytes): `/admin/ü` is decided by the
// admin rule, and one that is not UTF-8 is refused (400), never replaced by the sub-request's
// own path or method, which a catch-all rule would then allow.
#[tokio::test]
async fn forwarded_values_beyond_ascii_are_used_or_refused() {
    let rules = rule(
        "pub",
        "<https|http>://<[^/]+>/public/<.*>",
        "anonymous",
        "allow",
        "[{handler: noop}]",
    ) + &rule(
        "adm",
        "<https|http>://<[^/]+>/admin/<.*>",
        "anonymous",
        "deny",
        "[{handler: noop}]",
    ) + &rule(
        "root",
        "<https|http>://<[^/]+>",
        "anonymous",
        "allow",
        "[{handler: noop}]",
    );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let status = |answer: &str| answer.split(' ').nth(1).unwrap_or("").to_string();
    let ask = |path: &str, header: &[u8]| {
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n").into_bytes();
        req.extend_from_slice(header);
        req.extend_from_slice(b"\r\n\r\n");
        req
    };
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions/public/x", b"X-Forwarded-Uri: /admin/\xfc"),
    )
    .await;
    assert_eq!(status(&a), "400", "{a}");
    assert!(a.contains("X-Forwarded-Uri"), "{a}");
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions", "X-Forwarded-Uri: /admin/ü".as_bytes()),
    )
    .await;
    assert_eq!(status(&a), "403", "{a}");
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions/public/x", b"X-Forwarded-Method: P\xd6ST"),
    )
    .await;
    assert_eq!(status(&a), "400", "{a}");
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions/public/x", b"X-Forwarded-Proto: htt\xf0"),
    )
    .await;
    assert_eq!(status(&a), "400", "{a}");
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions/public/x", "X-Forwarded-Method: PÖST".as_bytes()),
    )
    .await;
    assert_eq!(status(&a), "404", "{a}");
    let a = common::raw_bytes(
        g.api,
        &ask("/decisions/public/x", b"X-Forwarded-Uri: /public/y"),
    )
    .await;
    assert_eq!(status(&a), "200", "{a}");
}
