//! Every example file in the repository is parsed and compiled (STYLE: examples cannot rot).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{repo_root, run_bin};

/// `rules/` compiles against the default config exactly as `serve` would.
#[tokio::test]
async fn repo_rules_compile_with_default_config() {
    let root = repo_root();
    let config = gatehouse::config::load(&[root.join("config.yaml")]).expect("config.yaml loads");
    let remote = gatehouse::rules::remote::RemoteStore::default();
    let repo = "file://".to_string() + root.join("rules").to_str().unwrap();
    let docs = gatehouse::app::read_repositories(&[repo], &remote, false)
        .await
        .expect("rules/ reads");
    assert!(docs.len() >= 3);
    let snap = gatehouse::app::Snapshot::from_documents(
        std::sync::Arc::new(config),
        &docs,
        gatehouse::pipeline::DisabledHandlers::Reject,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(snap.rules.len() >= 4);
}

/// Every gatehouse config and rule file under deploy/ validates (files named `*config*.y*ml` are
/// configs; files under a `rules` directory are rules).
#[test]
fn deploy_files_validate() {
    let root = repo_root();
    let mut checked = 0;
    for entry in walk(&root.join("deploy")) {
        let name = entry.file_name().unwrap().to_str().unwrap().to_string();
        let in_rules = entry.components().any(|c| c.as_os_str() == "rules");
        if in_rules {
            let (code, out, err) =
                run_bin(&["rules", "validate", entry.to_str().unwrap()], &[], &root);
            assert_eq!(code, 0, "{}: {out}{err}", entry.display());
            checked += 1;
        } else if name.contains("config") && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            gatehouse::config::load(std::slice::from_ref(&entry)).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "deploy/ holds no config or rule file to check"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
