//! The `cookie` mutator (SPEC §5.3) through the proxy's echo upstream and `/decisions`: rule
//! cookies first, the request's other cookies kept, a rule cookie overriding a same-named one.
//! The proxy strips the client's `Cookie` header (DESIGN §6, the mutator sets it) but the
//! mutator merges from the pipeline's copy of the request, so no cookie is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::upstream::Upstream;
use common::Gate;

const CONFIG: &str = r#"
access_rules:
  repositories: [ "file://{dir}/rules.yaml" ]
authenticators:
  anonymous: { enabled: true }
authorizers:
  allow: { enabled: true }
mutators:
  cookie: { enabled: true, config: { cookies: {} } }
errors:
  handlers:
    json: { enabled: true, config: { verbose: true } }
log: { level: warn }
"#;

async fn start() -> (Gate, Upstream) {
    let up = Upstream::start().await;
    let rules = format!(
        r#"
- id: c
  match: {{ url: 'http://h/<.*>', methods: [GET] }}
  upstream: {{ url: '{}' }}
  authenticators: [{{ handler: anonymous, config: {{ subject: alice }} }}]
  authorizer: {{ handler: allow }}
  mutators:
    - handler: cookie
      config:
        cookies:
          user: '{{{{ print .Subject }}}}'
          path: '{{{{ .MatchContext.URL.Path }}}}'
"#,
        up.url()
    );
    let g = Gate::start(CONFIG, &[("rules.yaml", &rules)]).await;
    (g, up)
}

// SPEC §5.3 cookie: merged Cookie header seen by the upstream.
#[tokio::test]
async fn proxy_upstream_sees_merged_cookies() {
    let (g, up) = start().await;
    let r = g
        .proxy(
            "GET",
            "/x",
            &[
                ("Host", "h"),
                ("Cookie", "user=mallory; theme=dark"),
                ("Cookie", "lang=en"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.last();
    let cookies: Vec<_> = seen.headers.get_all("cookie").iter().collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0], "path=/x; user=alice; theme=dark; lang=en");

    // No client cookies: only the rule's.
    g.proxy("GET", "/y", &[("Host", "h")]).await;
    assert_eq!(up.last().headers["cookie"], "path=/y; user=alice");
}

// DESIGN §6: the client's Cookie header is stripped from the forwarded request (the mutator
// sets Cookie) and replaced by the merged one, never sent twice; a `Connection: Cookie` cannot
// remove it either.
#[tokio::test]
async fn client_cookie_replaced_not_duplicated() {
    let (g, up) = start().await;
    let r = g
        .proxy(
            "GET",
            "/x",
            &[
                ("Host", "h"),
                ("Cookie", "sid=abc"),
                ("Connection", "Cookie"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = up.last().headers;
    assert_eq!(h.get_all("cookie").iter().count(), 1);
    assert_eq!(h["cookie"], "path=/x; user=alice; sid=abc");
}

// SPEC §6.2: on /decisions the merged Cookie is returned to the gateway.
#[tokio::test]
async fn decisions_returns_merged_cookie() {
    let (g, _up) = start().await;
    let r = g
        .req(
            "GET",
            "/decisions/z",
            &[("Host", "h"), ("Cookie", "user=x; a=1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cookie"), Some("path=/z; user=alice; a=1"));
}
