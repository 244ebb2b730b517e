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
    let docs = gatehouse::app::read_repositories(&[repo], &remote, false, &[])
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

/// Every YAML file under deploy/ parses (every document of a multi-document file: Kubernetes
/// manifests, compose files, gateway configs), and every gatehouse config and rule file in it,
/// including those embedded in Kubernetes ConfigMaps, validates with the real binary:
/// `gatehouse rules validate -c <config> <rules>` where a config has a sibling `rules/`
/// directory (or sits in the same set of ConfigMaps), `gatehouse rules validate <file>` for
/// rule files without one (STYLE: examples cannot rot).
#[test]
fn deploy_files_validate() {
    let root = repo_root();
    let scratch = tempfile::tempdir().unwrap();
    let mut yaml_files = 0;
    let mut validated = Vec::new();
    let mut configs = Vec::new();
    let mut rule_files = Vec::new();
    let mut embedded = 0;
    for entry in walk(&root.join("deploy")) {
        let name = entry.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap();
        let docs = yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
        assert!(!docs.is_empty(), "{}: no YAML document", entry.display());
        yaml_files += 1;
        // Config and rules embedded in one file's ConfigMaps are validated together.
        let dir = scratch.path().join(format!("cm{yaml_files}"));
        let mut extracted = 0;
        for doc in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
            let n = extract_config_map(doc, &dir);
            assert!(
                n > 0,
                "{}: ConfigMap without gatehouse files",
                entry.display()
            );
            extracted += n;
        }
        if extracted > 0 {
            embedded += extracted;
            let (cfg, rules) = (dir.join("config.yaml"), dir.join("rules"));
            let mut args = vec!["rules", "validate"];
            if cfg.exists() {
                args.extend(["-c", cfg.to_str().unwrap()]);
            }
            assert!(
                rules.exists(),
                "{}: a config without rules",
                entry.display()
            );
            args.push(rules.to_str().unwrap());
            validate(&args, &format!("{} (ConfigMaps)", entry.display()));
            validated.push(entry.clone());
        }
        match classify(&docs) {
            Some(Kind::Config) => configs.push(entry),
            Some(Kind::Rules) => rule_files.push(entry),
            None => {}
        }
    }
    for cfg in &configs {
        let rules = cfg.parent().unwrap().join("rules");
        assert!(
            rules.is_dir(),
            "{}: no sibling rules/ directory to validate it with",
            cfg.display()
        );
        validate(
            &[
                "rules",
                "validate",
                "-c",
                cfg.to_str().unwrap(),
                rules.to_str().unwrap(),
            ],
            &cfg.display().to_string(),
        );
        validated.push(cfg.clone());
    }
    for file in &rule_files {
        let covered = configs
            .iter()
            .any(|c| file.starts_with(c.parent().unwrap().join("rules")));
        if !covered {
            validate(
                &["rules", "validate", file.to_str().unwrap()],
                &file.display().to_string(),
            );
        }
        validated.push(file.clone());
    }
    assert!(
        yaml_files >= 15,
        "only {yaml_files} YAML files under deploy/"
    );
    assert!(
        configs.len() >= 2 && rule_files.len() >= 3 && embedded >= 2,
        "{configs:?} {rule_files:?}"
    );
    assert!(validated.len() >= 6);
}

fn validate(args: &[&str], what: &str) {
    let (code, out, err) = run_bin(args, &[], &repo_root());
    assert_eq!(code, 0, "{what}: {out}{err}");
}

/// Every document of a (possibly multi-document) YAML text.
fn yaml_documents(text: &str) -> Result<Vec<serde_yaml::Value>, serde_yaml::Error> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(text) {
        let v = serde_yaml::Value::deserialize(d)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

enum Kind {
    Config,
    Rules,
}

/// A gatehouse config is a mapping with `access_rules`; a rule file is a list of mappings with
/// `id` and `match`.
fn classify(docs: &[serde_yaml::Value]) -> Option<Kind> {
    let [doc] = docs else { return None };
    if doc.get("access_rules").is_some() {
        return Some(Kind::Config);
    }
    let rules = doc.as_sequence()?;
    (!rules.is_empty()
        && rules
            .iter()
            .all(|r| r.get("id").is_some() && r.get("match").is_some()))
    .then_some(Kind::Rules)
}

/// Write a ConfigMap's gatehouse config to `dir/config.yaml` and its rule files to
/// `dir/rules/`; returns how many files it wrote.
fn extract_config_map(doc: &serde_yaml::Value, dir: &std::path::Path) -> usize {
    let mut n = 0;
    let Some(data) = doc["data"].as_mapping() else {
        return 0;
    };
    for (k, v) in data {
        let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap());
        let docs = yaml_documents(v).unwrap_or_else(|e| panic!("ConfigMap key {k}: {e}"));
        let target = match classify(&docs) {
            Some(Kind::Config) => dir.join("config.yaml"),
            Some(Kind::Rules) => dir.join("rules").join(k),
            None => continue,
        };
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, v).unwrap();
        n += 1;
    }
    n
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
