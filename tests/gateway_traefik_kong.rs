//! Traefik and Kong cannot run here, so gatehouse gets exactly the requests they send, built
//! from the shipped recipes (`deploy/traefik/dynamic.yml`, the Traefik compose labels,
//! `deploy/kong/kong.yml`, `deploy/kong/kong-decisions.yml`) and the gateways' documented
//! behaviour (SPEC §6.1, §6.2; DESIGN §1):
//! - Traefik `forwardAuth`: `GET <address>` with the client's headers plus X-Forwarded-Method,
//!   -Proto, -Host, -Uri, -For; `authResponseHeaders` are deleted from the request and copied
//!   from gatehouse's answer.
//! - Kong routing to the proxy port: X-Forwarded-For, -Proto, -Host, -Port, -Path, X-Real-IP,
//!   and X-Forwarded-Prefix when a route strips its path.
//! - Kong `pre-function` calling `/decisions`: the request its Lua code builds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/gateway.rs"]
mod gateway;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use common::{repo_root, Gate, Resp};
use gateway::{login_location, seen_values, Stack, HOST};
use serde_yaml::Value;

fn yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

const JSON: (&str, &str) = ("Accept", "application/json");
const HTML: (&str, &str) = ("Accept", "text/html,*/*;q=0.8");
const CLIENT_IP: &str = "203.0.113.7";

/// The forwardAuth middleware of deploy/traefik/dynamic.yml: (address path, authResponseHeaders).
fn traefik_middleware() -> (String, Vec<String>) {
    let doc = yaml("deploy/traefik/dynamic.yml");
    let fa = &doc["http"]["middlewares"]["gatehouse"]["forwardAuth"];
    let address = url::Url::parse(fa["address"].as_str().unwrap()).unwrap();
    assert_eq!(
        address.port(),
        Some(4456),
        "forwardAuth goes to the API port"
    );
    let headers = fa["authResponseHeaders"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    (address.path().to_string(), headers)
}

/// What Traefik sends for a client request `method uri` carrying `client` headers.
async fn traefik(g: &Gate, path: &str, method: &str, uri: &str, client: &[(&str, &str)]) -> Resp {
    let mut h = vec![
        ("Host", "gatehouse:4456"),
        ("X-Forwarded-Method", method),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", HOST),
        ("X-Forwarded-Uri", uri),
        ("X-Forwarded-For", CLIENT_IP),
    ];
    h.extend_from_slice(client);
    g.req("GET", path, &h).await
}

// The compose file's Docker labels configure the same middleware as dynamic.yml.
#[test]
fn traefik_labels_match_dynamic_config() {
    let (path, headers) = traefik_middleware();
    let compose = yaml("deploy/compose/traefik/docker-compose.yml");
    let labels: Vec<&str> = compose["services"]["app"]["labels"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let address = format!(
        "traefik.http.middlewares.gatehouse.forwardauth.address=http://gatehouse:4456{path}"
    );
    assert!(labels.contains(&address.as_str()), "{labels:?}");
    let rh = format!(
        "traefik.http.middlewares.gatehouse.forwardauth.authResponseHeaders={}",
        headers.join(",")
    );
    assert!(labels.contains(&rh.as_str()), "{labels:?}");
}

// SPEC §6.2 Traefik recipe.
#[tokio::test]
async fn traefik_forward_auth_requests() {
    let (path, response_headers) = traefik_middleware();
    let stack = Stack::decisions().await;
    let g = &stack.gate;
    let alice = stack.bearer("alice");

    // Allowed: every identity header Traefik copies is in the answer; a client-sent X-User is
    // not echoed (Traefik deletes the client's copy and sets gatehouse's).
    let r = traefik(
        g,
        &path,
        "GET",
        "/api/profile?tab=1",
        &[("Authorization", &alice), ("X-User", "mallory"), JSON],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for h in &response_headers {
        assert!(r.header(h).is_some(), "{h} missing: {:?}", r.headers);
    }
    assert_eq!(r.header("x-user"), Some("alice"));
    let r = traefik(g, &path, "GET", "/healthz", &[("X-User", "mallory")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("anonymous"));

    // The method comes from X-Forwarded-Method (Traefik always sends GET).
    let r = traefik(
        g,
        &path,
        "POST",
        "/api/items",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = traefik(g, &path, "DELETE", "/healthz", &[JSON]).await;
    assert_eq!(r.status, 404, "{}", r.body);

    let r = traefik(g, &path, "GET", "/api/profile", &[JSON]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], 401);

    // return_to keeps the query of X-Forwarded-Uri (README: Differences from Oathkeeper).
    let r = traefik(g, &path, "GET", "/api/profile?tab=1", &[HTML]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(login_location(&format!("https://{HOST}/api/profile?tab=1")).as_str())
    );

    let r = traefik(
        g,
        &path,
        "GET",
        "/internal/x",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

/// A route of deploy/kong/kong.yml: (path prefix, strip_path, preserve_host).
fn kong_route(name: &str) -> (String, bool, bool) {
    let doc = yaml("deploy/kong/kong.yml");
    let service = doc["services"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "gatehouse")
        .expect("gatehouse service");
    assert_eq!(
        service["url"], "http://gatehouse:4455",
        "Kong routes to the proxy port"
    );
    let route = service["routes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("route {name}"));
    (
        route["paths"][0].as_str().unwrap().to_string(),
        route["strip_path"].as_bool().unwrap(),
        route["preserve_host"].as_bool().unwrap(),
    )
}

/// What Kong (TLS on 8443) sends gatehouse's proxy port for a client request on `route`.
async fn kong(g: &Gate, route: &str, proto: &str, path: &str, client: &[(&str, &str)]) -> Resp {
    let (prefix, strip, preserve_host) = kong_route(route);
    assert!(path.starts_with(&prefix), "{path} is not on route {route}");
    let (upstream_path, path_only) = (
        if strip {
            path[prefix.len()..].to_string()
        } else {
            path.to_string()
        },
        path.split('?').next().unwrap(),
    );
    let upstream_path = if upstream_path.starts_with('/') {
        upstream_path
    } else {
        format!("/{upstream_path}")
    };
    let mut h = vec![
        (
            "Host",
            if preserve_host {
                HOST
            } else {
                "gatehouse:4455"
            },
        ),
        ("X-Forwarded-For", CLIENT_IP),
        ("X-Forwarded-Proto", proto),
        ("X-Forwarded-Host", HOST),
        ("X-Forwarded-Port", "8443"),
        ("X-Forwarded-Path", path_only),
        ("X-Real-IP", CLIENT_IP),
    ];
    if strip {
        h.push(("X-Forwarded-Prefix", &prefix));
    }
    h.extend_from_slice(client);
    g.proxy("GET", &upstream_path, &h).await
}

// Kong in front of the proxy port (the Kong + Kratos + Oathkeeper layout), SPEC §6.1.
#[tokio::test]
async fn kong_to_proxy_port_requests() {
    let rules = r#"
- id: api
  match: { url: "https://app.example.com/api/<.*>", methods: [GET] }
  upstream: { url: "{upstream}", preserve_host: true }
  authenticators: [{ handler: jwt }]
  authorizer: { handler: allow }
  mutators: [{ handler: header }]
- id: internal
  match: { url: "https://app.example.com/api/internal/<.*>", methods: [GET] }
  priority: 10
  upstream: { url: "{upstream}" }
  authenticators: [{ handler: noop }]
  authorizer: { handler: deny }
  mutators: [{ handler: header }]
"#;
    let stack = Stack::proxy(rules).await;
    let (g, up) = (&stack.gate, &stack.up);
    let alice = stack.bearer("alice");

    let r = kong(
        g,
        "api",
        "https",
        "/api/profile?tab=1",
        &[("Authorization", &alice), ("X-User", "mallory"), JSON],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(up.last().uri, "/api/profile?tab=1");
    assert_eq!(seen_values(up, "x-user"), ["alice"]);
    assert_eq!(seen_values(up, "host"), [HOST]);
    // Trusted forwarded headers reach the service unchanged (SPEC §6.1).
    assert_eq!(seen_values(up, "x-forwarded-proto"), ["https"]);
    assert_eq!(seen_values(up, "x-forwarded-host"), [HOST]);
    assert_eq!(seen_values(up, "x-forwarded-for"), [CLIENT_IP]);
    assert_eq!(seen_values(up, "x-forwarded-path"), ["/api/profile"]);
    assert_eq!(seen_values(up, "x-forwarded-port"), ["8443"]);

    // The /v1 route strips its prefix and says so in X-Forwarded-Prefix.
    let r = kong(
        g,
        "api-v1",
        "https",
        "/v1/api/profile",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(up.last().uri, "/api/profile");
    assert_eq!(seen_values(up, "x-forwarded-prefix"), ["/v1"]);
    assert_eq!(seen_values(up, "x-forwarded-path"), ["/v1/api/profile"]);

    // The scheme Kong saw decides the rule: the https-only rule does not match plain http.
    let before = up.count();
    let r = kong(
        g,
        "api",
        "http",
        "/api/profile",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);

    let r = kong(g, "api", "https", "/api/profile", &[JSON]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], 401);
    let r = kong(g, "api", "https", "/api/profile?tab=1", &[HTML]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(login_location(&format!("https://{HOST}/api/profile?tab=1")).as_str())
    );
    let r = kong(
        g,
        "api",
        "https",
        "/api/internal/x",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(up.count(), before, "a denied request reached the service");
}

/// What deploy/kong/kong-decisions.yml's Lua sends for a client request `method uri`.
async fn kong_decision(g: &Gate, method: &str, uri: &str, client: &[(&str, &str)]) -> Resp {
    let mut h = vec![
        ("Host", HOST),
        ("X-Forwarded-Method", method),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", HOST),
        ("X-Forwarded-Uri", uri),
        ("X-Forwarded-For", CLIENT_IP),
    ];
    h.extend_from_slice(client);
    g.req(method, &format!("/decisions{uri}"), &h).await
}

// Kong's pre-function recipe calling /decisions (SPEC §6.2).
#[tokio::test]
async fn kong_pre_function_decision_requests() {
    let doc = yaml("deploy/kong/kong-decisions.yml");
    let lua = doc["services"][0]["plugins"][0]["config"]["access"][0]
        .as_str()
        .unwrap();
    for needle in [
        "\"http://gatehouse:4456/decisions\" .. path",
        "method = kong.request.get_method()",
        "[\"Host\"]",
        "[\"X-Forwarded-Method\"]",
        "[\"X-Forwarded-Proto\"]",
        "[\"X-Forwarded-Host\"]",
        "[\"X-Forwarded-Uri\"]",
        "[\"X-Forwarded-For\"]",
        "[\"Authorization\"]",
        "[\"Accept\"]",
        "clear_header(\"X-User\")",
    ] {
        assert!(
            lua.contains(needle),
            "kong-decisions.yml no longer sends {needle}"
        );
    }
    let stack = Stack::decisions().await;
    let g = &stack.gate;
    let alice = stack.bearer("alice");
    let r = kong_decision(
        g,
        "POST",
        "/api/items?x=1",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("alice"));
    let r = kong_decision(
        g,
        "OPTIONS",
        "/api/items",
        &[("Authorization", &alice), JSON],
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = kong_decision(g, "GET", "/api/items", &[JSON]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = kong_decision(g, "GET", "/api/items?tab=1", &[HTML]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(login_location(&format!("https://{HOST}/api/items?tab=1")).as_str())
    );
    let r = kong_decision(g, "GET", "/internal/x", &[("Authorization", &alice), JSON]).await;
    assert_eq!(r.status, 403, "{}", r.body);
}
