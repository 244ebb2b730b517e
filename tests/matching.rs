//! Matching through `/decisions` (SPEC §3.4; DESIGN §3–4): priorities, look-around,
//! `match.headers`, and a 10,000-rule set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gate, BASE_CONFIG};

const H: (&str, &str) = ("X-Forwarded-Host", "h");

fn rule(id: &str, url: &str, extra: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: '{url}', methods: [GET] {extra}}}\n  authenticators: [{{ handler: noop }}]\n  authorizer: {{ handler: allow }}\n  mutators: [{{ handler: header, config: {{ headers: {{ X-Rule: {id} }} }} }}]\n"
    )
}

// DESIGN §4: the highest priority wins; a tie at the top is still a 500 (SPEC §3.4).
#[tokio::test]
async fn priority_tie_break_and_tie() {
    let rules = rule("low", "http://h/<.*>", "")
        + "  priority: 1\n"
        + &rule("high", "http://h/api/<.*>", "")
        + "  priority: 5\n"
        + &rule("tie-a", "http://h/tie/<.*>", "")
        + "  priority: 7\n"
        + &rule("tie-b", "http://h/tie/x<.*>", "")
        + "  priority: 7\n";
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g.req("GET", "/decisions/api/users", &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-rule"), Some("high"));
    assert_eq!(
        g.req("GET", "/decisions/other", &[H])
            .await
            .header("x-rule"),
        Some("low")
    );
    // Only tie-a (and low) match /tie/a: tie-a wins.
    assert_eq!(
        g.req("GET", "/decisions/tie/a", &[H])
            .await
            .header("x-rule"),
        Some("tie-a")
    );
    // tie-a and tie-b both match at priority 7.
    let r = g.req("GET", "/decisions/tie/xy", &[H]).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "Expected exactly one rule but found multiple rules"
    );
}

// SPEC §3.4: Oathkeeper's `Rule.IsMatching` checks the method before the URL, so the URL pattern
// of a rule for other methods never runs: its backtracking cannot fail a request it does not
// apply to (a POST-only rule with a runaway pattern turned every GET it was tried on into 500).
#[tokio::test]
async fn rules_for_other_methods_never_run_their_pattern() {
    let rules = rule("post-only", "http://h/<(?!x)(a+)+b>", "").replace("[GET]", "[POST]")
        + &rule("any", "http://h/<.*>", "");
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let path = format!("/decisions/{}", "a".repeat(30));
    let r = g.req("GET", &path, &[H]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-rule"), Some("any"));
    // For POST both are tried, and the runaway pattern still fails closed.
    assert_eq!(g.req("POST", &path, &[H]).await.status, 500);
}

// SPEC §3.4: the docs' negative look-ahead example works (backtracking engine).
#[tokio::test]
async fn look_around_pattern() {
    let rules = rule("open", "http://h/<(?!protected).*>", "");
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    assert_eq!(g.req("GET", "/decisions/public", &[H]).await.status, 200);
    assert_eq!(g.req("GET", "/decisions/protected", &[H]).await.status, 404);
    assert_eq!(
        g.req("GET", "/decisions/protected/x", &[H]).await.status,
        404
    );
}

// DESIGN §3: match.headers is honoured (exact value, or a pattern in `<...>`).
#[tokio::test]
async fn match_headers() {
    let rules = rule("acme", "http://h/t", ", headers: { X-Tenant: acme }")
        + &rule(
            "other",
            "http://h/t",
            ", headers: { X-Tenant: '<globex|initech>', X-Env: prod }",
        );
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    let r = g
        .req("GET", "/decisions/t", &[H, ("X-Tenant", "acme")])
        .await;
    assert_eq!(r.header("x-rule"), Some("acme"));
    let r = g
        .req(
            "GET",
            "/decisions/t",
            &[H, ("X-Tenant", "globex"), ("X-Env", "prod")],
        )
        .await;
    assert_eq!(r.header("x-rule"), Some("other"));
    // Missing X-Env: the second rule does not match.
    assert_eq!(
        g.req("GET", "/decisions/t", &[H, ("X-Tenant", "globex")])
            .await
            .status,
        404
    );
    assert_eq!(
        g.req("GET", "/decisions/t", &[H, ("X-Tenant", "acmex")])
            .await
            .status,
        404
    );
    assert_eq!(g.req("GET", "/decisions/t", &[H]).await.status, 404);
}

// DESIGN §4: each worker remembers its recent matches (by method and URL); repeated and
// distinct requests, more than it keeps, still find the rule matching finds (SPEC §3.4).
#[tokio::test]
async fn remembered_matches_stay_right() {
    let rules = rule("a-get", "http://h/a/<.*>", "")
        + &rule("b", "http://h/b/<[0-9]+>", "")
        + &rule("a-post", "http://h/a/<.*>", "").replace("[GET]", "[POST]");
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for round in 0..2 {
        for i in 0..300 {
            for (method, path, want) in [
                ("GET", format!("/decisions/a/{i}"), Some("a-get")),
                ("POST", format!("/decisions/a/{i}"), Some("a-post")),
                ("GET", format!("/decisions/b/{i}"), Some("b")),
                ("GET", format!("/decisions/b/{i}x"), None),
                ("POST", format!("/decisions/b/{i}"), None),
            ] {
                let r = g.req(method, &path, &[H]).await;
                match want {
                    Some(id) => assert_eq!(r.header("x-rule"), Some(id), "{method} {path} {round}"),
                    None => assert_eq!(r.status, 404, "{method} {path} {round}"),
                }
            }
        }
    }
}

// DESIGN §4: a 10,000-rule set loads and the right rule answers.
#[tokio::test]
async fn ten_thousand_rules() {
    let mut rules = String::with_capacity(10_000 * 200);
    for i in 0..10_000 {
        rules.push_str(&rule(
            &format!("r{i}"),
            &format!("http://svc{i}.example.com/api/<[0-9]+>"),
            "",
        ));
    }
    rules.push_str(&rule("lead", "<https|http>://<[^/]+>/lead/<.*>", ""));
    let g = Gate::start(BASE_CONFIG, &[("rules.yaml", &rules)]).await;
    for i in [0, 1, 4_999, 9_999] {
        let host = format!("svc{i}.example.com");
        let r = g
            .req("GET", "/decisions/api/17", &[("X-Forwarded-Host", &host)])
            .await;
        assert_eq!(r.status, 200, "{host}");
        assert_eq!(r.header("x-rule"), Some(format!("r{i}").as_str()));
        assert_eq!(
            g.req("GET", "/decisions/api/x", &[("X-Forwarded-Host", &host)])
                .await
                .status,
            404
        );
    }
    let r = g
        .req(
            "GET",
            "/decisions/lead/x",
            &[("X-Forwarded-Host", "anything")],
        )
        .await;
    assert_eq!(r.header("x-rule"), Some("lead"));
    assert_eq!(
        g.get("/rules?limit=500")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        500
    );
}
