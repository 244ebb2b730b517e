//! Error handlers and their selection (SPEC §4.7–4.9, §5.4) through `/decisions` and the proxy:
//! Appendix B cases 6, 7 and 8, `when` on Content-Type, `request.cidr` and
//! `request.remote_ip.match` (+ `X-Forwarded-For`), redirect `code: 301`, and forwarded-header
//! spoofing kept out of `return_to`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Gate, Resp};

const CONFIG: &str = r#"
access_rules:
  repositories: [ "file://{dir}/rules.yaml" ]
authenticators:
  anonymous: { enabled: true }
  unauthorized: { enabled: true }
authorizers:
  allow: { enabled: true }
  deny: { enabled: true }
mutators:
  noop: { enabled: true }
errors:
  fallback: [json]
  handlers:
    json: { enabled: true }
    www_authenticate: { enabled: true }
    redirect: { enabled: true, config: { to: 'https://login' } }
log: { level: warn }
"#;

/// A rule for `http://h/<path>` with the given authenticator, authorizer and `errors` list.
fn rule(id: &str, path: &str, authn: &str, authz: &str, errors: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: 'http://h{path}', methods: [GET, POST] }}\n  upstream: {{ url: 'http://127.0.0.1:1' }}\n  authenticators: [{{ handler: {authn} }}]\n  authorizer: {{ handler: {authz} }}\n  mutators: [{{ handler: noop }}]\n  errors: {errors}\n"
    )
}

fn rules() -> String {
    [
        rule("deny-plain", "/deny", "anonymous", "deny", "[]"),
        // Case 6.
        rule(
            "deny-www",
            "/deny-www",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate }]",
        ),
        // Case 7.
        rule(
            "login",
            "/private",
            "unauthorized",
            "allow",
            "[{ handler: redirect, config: { when: [{ error: [unauthorized], request: { header: { accept: ['text/*'] } } }] } }]",
        ),
        rule(
            "login-return",
            "/private-rt",
            "unauthorized",
            "allow",
            "[{ handler: redirect, config: { return_to_query_param: return_to, when: [{ error: [unauthorized], request: { header: { accept: ['text/*'] } } }] } }]",
        ),
        rule(
            "moved",
            "/moved",
            "unauthorized",
            "allow",
            "[{ handler: redirect, config: { code: 301, to: 'https://elsewhere/x' } }]",
        ),
        rule(
            "by-content-type",
            "/ct",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate, config: { when: [{ request: { header: { content_type: [application/x-www-form-urlencoded] } } }] } }]",
        ),
        rule(
            "by-cidr-local",
            "/cidr-local",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate, config: { when: [{ error: [forbidden], request: { cidr: [127.0.0.0/8] } }] } }]",
        ),
        rule(
            "by-cidr-other",
            "/cidr-other",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate, config: { when: [{ request: { cidr: [10.0.0.0/8] } }] } }]",
        ),
        rule(
            "by-xff",
            "/xff",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate, config: { when: [{ request: { remote_ip: { match: [10.0.0.0/8], respect_forwarded_for_header: true } } }] } }]",
        ),
        rule(
            "by-ip-no-xff",
            "/ip-no-xff",
            "anonymous",
            "deny",
            "[{ handler: www_authenticate, config: { when: [{ request: { remote_ip: { match: [10.0.0.0/8] } } }] } }]",
        ),
    ]
    .concat()
}

async fn gate(config: &str) -> Gate {
    Gate::start(config, &[("rules.yaml", &rules())]).await
}

async fn decide(g: &Gate, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("Host", "h")];
    h.extend_from_slice(headers);
    g.req("GET", &format!("/decisions{path}"), &h).await
}

fn assert_json(r: &Resp, code: u16, status: &str, message: &str) {
    assert_eq!(r.status, code, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // SPEC §4.9: herodot's `Ory-Error-Id`, empty.
    assert_eq!(r.header("ory-error-id"), Some(""));
    assert_eq!(
        r.json(),
        serde_json::json!({"error": {"code": code, "status": status, "message": message}})
    );
}

fn assert_www(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=Please authenticate.")
    );
    assert_eq!(r.body, "Unauthorized\n");
}

const FORBIDDEN: &str = "The requested action was forbidden";
const UNAUTHORIZED: &str = "The request could not be authorized";

// SPEC Appendix B case 6: deny -> 403; with a rule-level www_authenticate -> 401 + challenge.
#[tokio::test]
async fn case6_www_authenticate() {
    let g = gate(CONFIG).await;
    assert_json(&decide(&g, "/deny", &[]).await, 403, "Forbidden", FORBIDDEN);
    assert_www(&decide(&g, "/deny-www", &[]).await);
    // The same on the proxy port.
    assert_www(&g.proxy("GET", "/deny-www", &[("Host", "h")]).await);
}

// SPEC Appendix B case 7: redirect for browsers, JSON fallback otherwise, return_to.
#[tokio::test]
async fn case7_redirect_when_accept_text() {
    let g = gate(CONFIG).await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = decide(&g, "/private", &[("Accept", browser)]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.header("location"), Some("https://login"));
    let r = decide(&g, "/private", &[("Accept", "application/json")]).await;
    assert_json(&r, 401, "Unauthorized", UNAUTHORIZED);
    // `Accept: */*` only matches a listed `*/*` (SPEC §4.7).
    let r = decide(&g, "/private", &[("Accept", "*/*")]).await;
    assert_eq!(r.status, 401);

    let r = decide(&g, "/private-rt?a=1&b=x%20y", &[("Accept", "text/html")]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("https://login?return_to=http%3A%2F%2Fh%2Fprivate-rt%3Fa%3D1%26b%3Dx%2520y")
    );
    // Through a gateway: the forwarded URL is the one to return to.
    let r = decide(
        &g,
        "/",
        &[
            ("Accept", "text/html"),
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/private-rt?next=1"),
        ],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("https://login?return_to=http%3A%2F%2Fh%2Fprivate-rt%3Fnext%3D1")
    );
    // The proxy port answers the same redirect.
    let r = g
        .proxy(
            "GET",
            "/private-rt",
            &[("Host", "h"), ("Accept", "text/html")],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://login?return_to=http%3A%2F%2Fh%2Fprivate-rt")
    );
    // Untrusted (the default), the proxy port ignores a client's forwarded URL.
    let spoofed = [
        ("Host", "h"),
        ("Accept", "text/html"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "public.example"),
        ("X-Forwarded-Uri", "/app/private-rt?k=v"),
    ];
    let r = g.proxy("GET", "/private-rt", &spoofed).await;
    assert_eq!(
        r.header("location"),
        Some("https://login?return_to=http%3A%2F%2Fh%2Fprivate-rt")
    );
}

// SPEC §4.9, §6.1: with `trust_forwarded_headers`, the proxy port's return_to is the URL the
// front proxy names (X-Forwarded-Proto/-Host/-Uri), as Oathkeeper's redirect handler builds it;
// matching still uses the request's own host.
#[tokio::test]
async fn proxy_return_to_from_trusted_forwarded_headers() {
    let trusted = CONFIG.replace(
        "log: { level: warn }",
        "log: { level: warn }\nserve: { proxy: { trust_forwarded_headers: true } }",
    );
    let g = gate(&trusted).await;
    let r = g
        .proxy(
            "GET",
            "/private-rt",
            &[
                ("Host", "h"),
                ("Accept", "text/html"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "public.example"),
                ("X-Forwarded-Uri", "/app/private-rt?k=v"),
            ],
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("https://login?return_to=http%3A%2F%2Fpublic.example%2Fapp%2Fprivate-rt%3Fk%3Dv")
    );
}

// SPEC §5.4: redirect `code: 301`.
#[tokio::test]
async fn redirect_code_301() {
    let g = gate(CONFIG).await;
    let r = decide(&g, "/moved", &[]).await;
    assert_eq!(r.status, 301, "{}", r.body);
    assert_eq!(r.header("location"), Some("https://elsewhere/x"));
}

// SPEC Appendix B case 8: a disabled fallback answers 500 for every error.
#[tokio::test]
async fn case8_disabled_fallback_is_500() {
    let config = CONFIG
        .replace("fallback: [json]", "fallback: [redirect]")
        .replace(
            "redirect: { enabled: true, config: { to: 'https://login' } }",
            "redirect: { enabled: false }",
        );
    // Rules naming a disabled handler are rejected at load: keep those that do not use it.
    let rules: String = rules()
        .split("- id: ")
        .filter(|r| !r.is_empty() && !r.contains("handler: redirect"))
        .map(|r| format!("- id: {r}"))
        .collect();
    let g = Gate::start(&config, &[("rules.yaml", &rules)]).await;
    for path in ["/deny", "/nowhere"] {
        let r = decide(&g, path, &[]).await;
        assert_eq!(r.status, 500, "{path}: {}", r.body);
        let e = r.json();
        assert_eq!(e["error"]["code"], 500);
        assert!(
            e["error"]["reason"]
                .as_str()
                .unwrap()
                .contains("Fallback error handler \"redirect\" was requested but is disabled"),
            "{e}"
        );
    }
    // A responsible rule-level handler is still used.
    assert_www(&decide(&g, "/deny-www", &[]).await);
}

// SPEC §4.7: `when.request.header.content_type` (parameters stripped).
#[tokio::test]
async fn when_content_type() {
    let g = gate(CONFIG).await;
    let form = "application/x-www-form-urlencoded; charset=utf-8";
    assert_www(&decide(&g, "/ct", &[("Content-Type", form)]).await);
    let r = decide(&g, "/ct", &[("Content-Type", "application/json")]).await;
    assert_json(&r, 403, "Forbidden", FORBIDDEN);
    // No Content-Type counts as application/octet-stream.
    assert_eq!(decide(&g, "/ct", &[]).await.status, 403);
}

// SPEC §4.7, DESIGN §3: `request.cidr` is honoured (Oathkeeper ignores it).
#[tokio::test]
async fn when_cidr() {
    let g = gate(CONFIG).await;
    assert_www(&decide(&g, "/cidr-local", &[]).await);
    assert_json(
        &decide(&g, "/cidr-other", &[]).await,
        403,
        "Forbidden",
        FORBIDDEN,
    );
    // The peer address counts, not X-Forwarded-For (no respect_forwarded_for_header).
    let r = decide(&g, "/cidr-other", &[("X-Forwarded-For", "10.0.0.1")]).await;
    assert_eq!(r.status, 403);
}

// SPEC §4.7: `request.remote_ip.match` with and without `respect_forwarded_for_header`.
#[tokio::test]
async fn when_remote_ip_and_forwarded_for() {
    let g = gate(CONFIG).await;
    assert_eq!(decide(&g, "/xff", &[]).await.status, 403);
    let xff = [("X-Forwarded-For", "192.0.2.1, 10.1.2.3")];
    assert_www(&decide(&g, "/xff", &xff).await);
    assert_eq!(decide(&g, "/ip-no-xff", &xff).await.status, 403);

    // With `serve.api.trusted_proxies` not covering the peer, its X-Forwarded-For is ignored.
    let hardened = CONFIG.replace(
        "log: { level: warn }",
        "log: { level: warn }\nserve: { api: { trusted_proxies: [10.0.0.0/8] } }",
    );
    let g = gate(&hardened).await;
    assert_eq!(decide(&g, "/xff", &xff).await.status, 403);
}

// DESIGN §3 / §6: a spoofed X-Forwarded-Host from an untrusted peer on the API port does not end
// up in return_to when `serve.api.trusted_proxies` is set.
#[tokio::test]
async fn spoofed_forwarded_host_not_in_return_to() {
    let hardened = CONFIG.replace(
        "log: { level: warn }",
        "log: { level: warn }\nserve: { api: { trusted_proxies: [10.0.0.0/8] } }",
    );
    let g = gate(&hardened).await;
    let r = decide(
        &g,
        "/private-rt",
        &[
            ("Accept", "text/html"),
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.header("location").unwrap();
    assert_eq!(
        location,
        "https://login?return_to=http%3A%2F%2Fh%2Fprivate-rt"
    );
    assert!(!location.contains("evil"));

    // Without trusted_proxies (Oathkeeper's behaviour) the gateway's host is believed, and the
    // request is matched against it: evil.example has no rule.
    let g = gate(CONFIG).await;
    let r = decide(
        &g,
        "/private-rt",
        &[
            ("Accept", "text/html"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    )
    .await;
    assert_eq!(r.status, 404);
}
