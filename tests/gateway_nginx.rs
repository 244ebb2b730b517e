//! nginx (Debian package) in front of gatehouse, with `deploy/nginx/*.conf` as shipped (SPEC
//! §6.2, DESIGN §1, §7): `auth_request` to the decisions API, and nginx as the ingress in front
//! of gatehouse's proxy port (`trust_forwarded_headers: true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/gateway.rs"]
mod gateway;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use std::path::Path;
use std::process::Command;

use gateway::{decision_cases, login_location, render, seen_values, Gateway, Stack, HOST};

/// nginx in the foreground as the current user, everything it writes inside `dir`, with the
/// recipe's server block included unchanged apart from its addresses.
async fn nginx(site: String) -> Gateway {
    let bin = gateway::binary("nginx", "apt-get install nginx");
    Gateway::spawn("nginx", move |dir: &Path, port| {
        let site = site.replace("{port}", &port.to_string());
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        // Started as root (CI), workers would switch to `nobody` and lose access to the temp
        // dir; as another user the directive is ignored.
        let user = if is_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"));
        cmd
    })
    .await
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

// SPEC §6.2: nginx `auth_request` recipe (deploy/nginx/gatehouse.conf).
#[tokio::test]
async fn nginx_auth_request_in_front_of_decisions() {
    let stack = Stack::decisions().await;
    let site = render(
        "deploy/nginx/gatehouse.conf",
        &[
            ("listen 8080;", "listen 127.0.0.1:{port};".into()),
            ("gatehouse:4456", stack.gate.api.to_string()),
            ("app:3000", stack.up.addr().to_string()),
        ],
    );
    let gw = nginx(site).await;
    decision_cases(&stack, &gw).await;

    // A raw `#` in the request line: nginx routes on the path before it and passes the whole
    // target on to the service, while hyper (gatehouse's parser) drops everything from `#` as a
    // fragment. Through `X-Forwarded-Uri` gatehouse sees the whole path, never decides it on
    // `/healthz` (public), and refuses it for its dot segments (DESIGN §6).
    let before = stack.up.count();
    let answer = common::raw(
        gw.addr,
        "GET /healthz#/../api/profile HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}\n{}", gw.log());
    assert_eq!(stack.up.count(), before, "the request reached the service");
}

// SPEC §6.1, §4.6: nginx as the ingress in front of gatehouse's proxy port
// (deploy/nginx/gatehouse-proxy.conf); gatehouse trusts the X-Forwarded-* nginx sets.
#[tokio::test]
async fn nginx_in_front_of_proxy_port() {
    let rules = r#"
- id: api
  match: { url: "http://app.example.com/api/<.*>", methods: [GET, POST] }
  upstream: { url: "{upstream}", preserve_host: true }
  authenticators: [{ handler: jwt }]
  authorizer: { handler: allow }
  mutators: [{ handler: header }]
- id: health
  match: { url: "http://app.example.com/healthz", methods: [GET] }
  upstream: { url: "{upstream}" }
  authenticators: [{ handler: anonymous }]
  authorizer: { handler: allow }
  mutators: [{ handler: header }]
- id: internal
  match: { url: "http://app.example.com/internal/<.*>", methods: [GET] }
  upstream: { url: "{upstream}" }
  authenticators: [{ handler: noop }]
  authorizer: { handler: deny }
  mutators: [{ handler: header }]
"#;
    let stack = Stack::proxy(rules).await;
    let site = render(
        "deploy/nginx/gatehouse-proxy.conf",
        &[
            ("listen 8081;", "listen 127.0.0.1:{port};".into()),
            ("gatehouse:4455", stack.gate.proxy.to_string()),
        ],
    );
    let gw = nginx(site).await;
    let up = &stack.up;
    let alice = stack.bearer("alice");
    let json = ("Accept", "application/json");

    // Allowed: gatehouse forwards with X-User; a client-sent copy is gone; the forwarded
    // headers nginx set (not the client's) reach the service.
    let r = gw
        .req(
            "GET",
            "/api/profile?tab=1",
            &[
                ("Authorization", &alice),
                ("X-User", "mallory"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.example.com"),
                json,
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}\n{}", r.body, gw.log());
    let seen = up.last();
    assert_eq!(seen.uri, "/api/profile?tab=1");
    assert_eq!(seen_values(up, "x-user"), ["alice"]);
    assert_eq!(seen_values(up, "host"), [HOST]);
    assert_eq!(seen_values(up, "x-forwarded-proto"), ["http"]);
    assert_eq!(seen_values(up, "x-forwarded-host"), [HOST]);
    assert_eq!(seen_values(up, "x-forwarded-for"), ["127.0.0.1"]);

    let before = up.count();
    let r = gw.req("GET", "/api/profile", &[json]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], 401);

    let html = ("Accept", "text/html");
    let r = gw.req("GET", "/api/profile?tab=1", &[html]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(login_location(&format!("http://{HOST}/api/profile?tab=1")).as_str())
    );

    let r = gw
        .req("GET", "/internal/x", &[("Authorization", &alice), json])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(up.count(), before, "a denied request reached the service");
}
