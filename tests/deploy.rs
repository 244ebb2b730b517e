//! The deployment files under deploy/ say what the issue and DESIGN §1 promise: a Kubernetes
//! Deployment that scales, probes the health routes and mounts ConfigMaps as directories (so
//! the symlink swap hot-reloads them), ConfigMaps that carry exactly the shipped config and
//! rules, compose files whose mounts exist, and a Dockerfile with a non-root user and a
//! `gatehouse health alive` healthcheck.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo_root;
use serde::Deserialize;
use serde_yaml::Value;

fn read(file: &str) -> String {
    std::fs::read_to_string(repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn docs(file: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(&read(file))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn one(kind: &str) -> Value {
    let dir = repo_root().join("deploy/kubernetes");
    let mut found: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            docs(&format!(
                "deploy/kubernetes/{}",
                e.file_name().to_str().unwrap()
            ))
        })
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in deploy/kubernetes");
    found.remove(0)
}

#[test]
fn kubernetes_deployment() {
    let d = one("Deployment");
    let spec = &d["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    let c = &pod["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health/ready");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health/alive");
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    // ConfigMaps mounted as directories: a subPath mount never sees updates.
    let mounts = c["volumeMounts"].as_sequence().unwrap();
    assert!(
        mounts.iter().all(|m| m.get("subPath").is_none()),
        "{mounts:?}"
    );
    let mount_of = |cm: &str| {
        let vol = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["configMap"]["name"] == cm)
            .unwrap_or_else(|| panic!("volume for {cm}"));
        let m = mounts.iter().find(|m| m["name"] == vol["name"]).unwrap();
        m["mountPath"].as_str().unwrap().to_string()
    };
    // The config file the container is started with, and the rules directory it names.
    let config_dir = mount_of("gatehouse-config");
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["serve", "-c", &format!("{config_dir}/config.yaml")]);
    let cm = config_maps();
    let config: Value = serde_yaml::from_str(
        cm["gatehouse-config"]["data"]["config.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["access_rules"]["repositories"][0].as_str().unwrap(),
        format!("file://{}", mount_of("gatehouse-rules"))
    );
}

#[test]
fn kubernetes_service_pdb_hpa() {
    let svc = one("Service");
    let ports: Vec<u64> = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [4455, 4456]);
    let pdb = one("PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert!(pdb["spec"]["minAvailable"].as_u64().unwrap() >= 1);
    let hpa = one("HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "gatehouse");
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    let kustomize = docs("deploy/kubernetes/kustomization.yaml");
    let listed: Vec<&str> = kustomize[0]["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for e in std::fs::read_dir(repo_root().join("deploy/kubernetes"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_str().unwrap().to_string();
        if name != "kustomization.yaml" {
            assert!(
                listed.contains(&name.as_str()),
                "{name} not in kustomization.yaml"
            );
        }
    }
}

fn config_maps() -> std::collections::BTreeMap<String, Value> {
    docs("deploy/kubernetes/configmap.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .map(|d| (d["metadata"]["name"].as_str().unwrap().to_string(), d))
        .collect()
}

// The ConfigMaps carry the same config and rules as deploy/gatehouse/ (which the gateway tests
// run), so the Kubernetes recipe cannot drift from what is tested.
#[test]
fn kubernetes_config_maps_match_deploy_gatehouse() {
    let cm = config_maps();
    let parse = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
    assert_eq!(
        parse(
            cm["gatehouse-config"]["data"]["config.yaml"]
                .as_str()
                .unwrap()
        ),
        parse(&read("deploy/gatehouse/config.yaml"))
    );
    let rules = cm["gatehouse-rules"]["data"].as_mapping().unwrap();
    let dir = repo_root().join("deploy/gatehouse/rules");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_str().unwrap().to_string())
        .collect();
    assert_eq!(rules.len(), files.len(), "{files:?}");
    for f in files {
        let embedded = rules
            .get(f.as_str())
            .unwrap_or_else(|| panic!("{f} missing from ConfigMap gatehouse-rules"));
        assert_eq!(
            parse(embedded.as_str().unwrap()),
            parse(&read(&format!("deploy/gatehouse/rules/{f}"))),
            "{f}"
        );
    }
}

// Every bind mount of every compose file points at a file or directory of the repository.
#[test]
fn compose_files_mount_existing_files() {
    let mut checked = 0;
    for name in ["kong", "nginx", "traefik"] {
        let file = format!("deploy/compose/{name}/docker-compose.yml");
        let doc = &docs(&file)[0];
        let base = repo_root().join(format!("deploy/compose/{name}"));
        let services = doc["services"].as_mapping().unwrap();
        assert!(services.contains_key("gatehouse"), "{file}");
        for (svc, s) in services {
            if let Some(ctx) = s["build"]["context"].as_str() {
                assert!(
                    base.join(ctx)
                        .join(s["build"]["dockerfile"].as_str().unwrap())
                        .is_file(),
                    "{file}: {svc:?}"
                );
            }
            for v in s["volumes"].as_sequence().into_iter().flatten() {
                let src = v.as_str().unwrap().split(':').next().unwrap();
                if src.starts_with('.') {
                    assert!(
                        base.join(src).exists(),
                        "{file}: {svc:?} mounts missing {src}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 6);
}

#[test]
fn dockerfile_runtime_image() {
    let text = read("deploy/Dockerfile");
    assert!(
        text.matches("\nFROM ").count() >= 1
            && text.starts_with('#')
            && text.contains(" AS builder"),
        "multi-stage"
    );
    let runtime = &text[text.rfind("\nFROM ").unwrap()..];
    assert!(
        runtime.contains("\nUSER 10001"),
        "non-root user in the runtime stage"
    );
    assert!(runtime.contains(
        r#"CMD ["gatehouse", "health", "--endpoint", "http://127.0.0.1:4456", "alive"]"#
    ));
    for line in runtime
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).unwrap();
        assert!(repo_root().join(src).exists(), "{line}");
    }
}

// The Kong recipe's gatehouse config and rules, run: the public health route (anonymous) gets
// its X-User without tripping over the Kratos-only email template (a field below a missing
// value fails the request, SPEC §4.2), and a service route without a session is refused.
#[tokio::test]
async fn kong_recipe_config_serves_public_and_refuses_anonymous_routes() {
    use common::{Gate, Setup};
    let setup = Setup::new();
    let config = setup.write(
        "config.yaml",
        &read("deploy/compose/kong/gatehouse/config.yaml"),
    );
    setup.write(
        "rules/services.yaml",
        &read("deploy/compose/kong/gatehouse/rules/services.yaml"),
    );
    let g = Gate::start_files(
        setup,
        &[config],
        &[
            ("ACCESS_RULES_REPOSITORIES", "file://{dir}/rules"),
            ("LOG_LEVEL", "error"),
        ],
    )
    .await
    .unwrap();
    let r = g
        .req(
            "GET",
            "/decisions/healthz",
            &[("Host", "kong.example"), ("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-user"), Some("anonymous"));
    let r = g
        .req(
            "GET",
            "/decisions/api/a/orders",
            &[("Host", "kong.example"), ("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}
